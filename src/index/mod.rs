//! Indexes over a segment's columns: what makes a filter a bitmap lookup and
//! a page a short walk instead of a scan.
//!
//! * [`ValueIndex`]: one roaring bitmap of rows per distinct value of a
//!   dictionary or enum column (the Id list filters, `channel`, …).
//! * [`order::SortedOrder`]: per date/time sort key, the presorted rows with
//!   block bitmaps, serving sort, range filters and counts.
//! * [`facets::FacetCounts`]: row counts per combination of the enum and
//!   presence filters, for counts without intersections.
//! * [`text::TextIndex`]: a suffix array over the distinct lower-cased values of
//!   the `filters-q` fields.

pub mod facets;
pub mod order;
pub mod text;

use roaring::RoaringBitmap;

/// A bitmap of rows for every code of a column (code 0 is `null`).
#[derive(Debug, Default)]
pub struct ValueIndex {
    bitmaps: Vec<RoaringBitmap>,
}

impl ValueIndex {
    /// Builds the bitmaps of a column with `code_count` codes.
    pub fn build<C: Copy + Into<u32>>(codes: &[C], code_count: usize) -> ValueIndex {
        let mut bitmaps = vec![RoaringBitmap::new(); code_count];
        for (row, &code) in codes.iter().enumerate() {
            bitmaps[code.into() as usize].try_push(row as u32).expect("rows ascend");
        }
        for bitmap in &mut bitmaps {
            bitmap.optimize();
        }
        ValueIndex { bitmaps }
    }

    /// The rows holding the value with this code.
    pub fn rows(&self, code: u32) -> &RoaringBitmap {
        &self.bitmaps[code as usize]
    }

    /// The rows whose value is not `null`.
    pub fn non_null(&self) -> RoaringBitmap {
        use roaring::MultiOps;
        self.bitmaps[1..].iter().union()
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.bitmaps.iter().map(RoaringBitmap::serialized_size).sum::<usize>() + self.bitmaps.capacity() * 32
    }
}
