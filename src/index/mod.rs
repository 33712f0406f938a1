//! Indexes over a segment's columns: what makes a filter a bitmap lookup and
//! a page a short walk instead of a scan.
//!
//! * [`ValueIndex`]: one roaring bitmap of rows per distinct value of a
//!   dictionary or enum column (the Id list filters, `channel`, …).
//! * [`order::SortedOrder`]: per date/time sort key, the presorted rows with
//!   block bitmaps, serving sort, range filters and counts.
//! * [`facets::FacetCounts`]: row counts per combination of the enum and
//!   presence filters, for counts without intersections.
//! * [`dense`]: bitsets of rows beside roaring bitmaps, and fast moves
//!   between the two, container by container.
//! * [`ids::IdIndex`]: `_id` → row, with batched lookups.
//! * [`text::TextIndex`]: a suffix array over the distinct lower-cased values of
//!   the `filters-q` fields.

pub mod dense;
pub mod facets;
pub mod ids;
pub mod order;
pub mod text;

use roaring::RoaringBitmap;

/// A bitmap of rows for every code of a column (code 0 is `null`), and
/// for Id-like columns each value's rows in `date_time` order.
#[derive(Debug, Default)]
pub struct ValueIndex {
    bitmaps: Vec<RoaringBitmap>,
    /// Rows of code `c`, ascending by `(date_time, row)`:
    /// `by_date[starts[c]..starts[c + 1]]` (empty for enum columns).
    by_date: Vec<u32>,
    starts: Vec<u32>,
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
        ValueIndex { bitmaps, by_date: Vec::new(), starts: Vec::new() }
    }

    /// Adds each value's rows in the order of `date_order` (the rows sorted
    /// by `date_time`), so that a value's rows within a date range are one
    /// binary search away.
    pub fn with_date_lists<C: Copy + Into<u32>>(mut self, codes: &[C], date_order: &[u32]) -> ValueIndex {
        let mut starts = vec![0u32; self.bitmaps.len() + 1];
        for bitmap in self.bitmaps.iter().enumerate().skip(1) {
            starts[bitmap.0 + 1] = bitmap.1.len() as u32;
        }
        for code in 0..self.bitmaps.len() {
            starts[code + 1] += starts[code];
        }
        let mut fill = starts.clone();
        let mut by_date = vec![0u32; starts[self.bitmaps.len()] as usize];
        for &row in date_order {
            let code = codes[row as usize].into() as usize;
            if code != 0 {
                by_date[fill[code] as usize] = row;
                fill[code] += 1;
            }
        }
        self.by_date = by_date;
        self.starts = starts;
        self
    }

    /// The rows of a code in `date_time` order (empty without date lists).
    pub fn rows_by_date(&self, code: u32) -> &[u32] {
        match self.starts.get(code as usize..code as usize + 2) {
            Some(&[start, end]) => &self.by_date[start as usize..end as usize],
            _ => &[],
        }
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
        self.bitmaps.iter().map(RoaringBitmap::serialized_size).sum::<usize>()
            + self.bitmaps.capacity() * 32
            + (self.by_date.capacity() + self.starts.capacity()) * 4
    }
}
