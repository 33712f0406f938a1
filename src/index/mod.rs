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
//! * [`run_counts::RunCounts`]: the rows of any run of the text index's
//!   sorted suffixes, from prefix sums ([`prefix_sums::PrefixSums`], about
//!   a byte per suffix), for counts of broad needles.
//! * [`packed_suffixes::PackedSuffixes`]: the text index's sorted
//!   suffixes in as few bits as the text and its values need
//!   ([`bit_packed::BitPacked`]).
//! * [`suffix_sample::SuffixSample`]: the first bytes of every few sorted
//!   suffixes, so that finding a needle's run reads the text only at the
//!   end.
//! * [`needle::NeedleTest`]: a needle tested on a value's own text.
//! * [`row_sort`]: numbers gathered out of order (rows from several lists,
//!   values from several suffixes) made distinct and sorted, by radix.
//! * [`row_tags`]: each row's `location` and facet cell, kept beside the
//!   text index's row lists, for `filters-q` beside those filters.
//! * [`row_values::RowValues`]: each row's distinct text values in one
//!   place, for tests of rows met in another order.

pub mod bit_packed;
pub mod dense;
pub mod facets;
pub mod ids;
pub mod needle;
pub mod order;
pub mod packed_suffixes;
pub mod prefix_sums;
pub mod row_sort;
pub mod row_tags;
pub mod row_values;
pub mod run_counts;
pub mod suffix_sample;
pub mod text;

use rayon::prelude::*;
use roaring::RoaringBitmap;

use crate::durable::arrays::{ArrayFileWriter, ArrayReader};
use crate::durable::StoreError;

/// Sorted suffixes of `values` (each closed by 0xFF) as the text index
/// holds them, and the text: for the tests of what searches them.
#[cfg(test)]
pub(crate) fn suffixes_of(values: &[&str]) -> (Vec<u8>, Vec<(u32, u32)>) {
    let mut text = Vec::new();
    let mut suffixes = Vec::new();
    for (value, string) in values.iter().enumerate() {
        let start = text.len();
        text.extend_from_slice(string.as_bytes());
        text.push(0xFF);
        suffixes.extend((start..text.len() - 1).map(|at| (at as u32, value as u32)));
    }
    let through = |start: u32| {
        let rest = &text[start as usize..];
        rest[..=rest.iter().position(|&byte| byte == 0xFF).unwrap()].to_vec()
    };
    suffixes.sort_by_key(|&(start, _)| through(start));
    (text, suffixes)
}

/// Groups items by code: `(starts, items)` with the items of code `c` at
/// `items[starts[c]..starts[c + 1]]`, in their original order. Items are
/// `(code, item)` pairs, or bare codes whose item is their position.
fn group_by_code<I: Into<CodedItem>>(
    coded: impl Iterator<Item = I> + Clone,
    code_count: usize,
) -> (Vec<u32>, Vec<u32>) {
    let mut starts = vec![0u32; code_count + 1];
    for item in coded.clone() {
        starts[item.into().0 as usize + 1] += 1;
    }
    for code in 0..code_count {
        starts[code + 1] += starts[code];
    }
    let mut fill = starts.clone();
    let mut items = vec![0u32; starts[code_count] as usize];
    for (position, item) in coded.enumerate() {
        let CodedItem(code, value) = item.into();
        let slot = &mut fill[code as usize];
        items[*slot as usize] = value.unwrap_or(position as u32);
        *slot += 1;
    }
    (starts, items)
}

/// A code and, unless it is the item's position, the item.
struct CodedItem(u32, Option<u32>);

impl From<u32> for CodedItem {
    fn from(code: u32) -> CodedItem {
        CodedItem(code, None)
    }
}

impl From<(u32, u32)> for CodedItem {
    fn from((code, item): (u32, u32)) -> CodedItem {
        CodedItem(code, Some(item))
    }
}

/// A column's code of each row, however the column holds them: what a
/// [`ValueIndex`] is built from.
pub trait RowCodes {
    /// The number of rows.
    fn row_count(&self) -> usize;
    /// The code of `row` (below [`RowCodes::row_count`]).
    fn code(&self, row: usize) -> u32;
}

impl RowCodes for [u8] {
    fn row_count(&self) -> usize {
        self.len()
    }

    #[inline]
    fn code(&self, row: usize) -> u32 {
        u32::from(self[row])
    }
}

impl RowCodes for crate::dict_codes::DictCodes {
    fn row_count(&self) -> usize {
        self.len()
    }

    #[inline]
    fn code(&self, row: usize) -> u32 {
        self.get(row)
    }
}

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
    /// Builds the bitmaps of a column with `code_count` codes: the rows are
    /// first grouped by code (a counting sort, sequential passes), then each
    /// bitmap is built from its own run of ascending rows, so that building
    /// one never waits on memory for another.
    pub fn build<C: RowCodes + ?Sized>(codes: &C, code_count: usize) -> ValueIndex {
        let (starts, rows) = group_by_code((0..codes.row_count()).map(|row| codes.code(row)), code_count);
        let bitmaps = (0..code_count)
            .into_par_iter()
            .with_min_len(64)
            .map(|code| {
                let rows = &rows[starts[code] as usize..starts[code + 1] as usize];
                let mut bitmap = RoaringBitmap::from_sorted_iter(rows.iter().copied()).expect("rows ascend");
                bitmap.optimize();
                bitmap
            })
            .collect();
        ValueIndex { bitmaps, by_date: Vec::new(), starts: Vec::new() }
    }

    /// Adds each value's rows in the order of `date_order` (the rows sorted
    /// by `date_time`), so that a value's rows within a date range are one
    /// binary search away.
    pub fn with_date_lists<C: RowCodes + ?Sized>(mut self, codes: &C, date_order: &[u32]) -> ValueIndex {
        // Rows holding `null` (code 0) are not listed.
        let (starts, by_date) = group_by_code(
            date_order.iter().map(|&row| (codes.code(row as usize), row)).filter(|&(code, _)| code != 0),
            self.bitmaps.len(),
        );
        self.by_date = by_date;
        self.starts = starts;
        self
    }

    /// Writes the bitmaps and date lists (see docs/FORMAT.md).
    pub(crate) fn write_arrays(&self, out: &mut ArrayFileWriter) -> Result<(), StoreError> {
        out.bitmaps(&self.bitmaps)?;
        out.array(&self.by_date)?;
        out.array(&self.starts)
    }

    /// Reads what [`ValueIndex::write_arrays`] wrote for a column of
    /// `code_count` codes over `row_count` rows, checking that it fits.
    pub(crate) fn read_arrays(
        input: &mut ArrayReader,
        code_count: usize,
        row_count: u32,
    ) -> Result<ValueIndex, StoreError> {
        let bitmaps = input.bitmaps()?;
        let by_date = input.values::<u32>()?;
        let starts = input.values::<u32>()?;
        let lists_fit = (starts.is_empty() && by_date.is_empty())
            || (starts.len() == code_count + 1
                && starts.windows(2).all(|pair| pair[0] <= pair[1])
                && starts.last().is_some_and(|&end| end as usize == by_date.len())
                && by_date.iter().all(|&row| row < row_count));
        let bitmaps_fit =
            bitmaps.len() == code_count && bitmaps.iter().all(|bitmap| bitmap.max().is_none_or(|row| row < row_count));
        if !lists_fit || !bitmaps_fit {
            return Err(input.malformed("a value index does not fit its column"));
        }
        Ok(ValueIndex { bitmaps, by_date, starts })
    }

    /// Whether the index is what [`ValueIndex::build`] (and
    /// [`ValueIndex::with_date_lists`], when it has date lists) makes of
    /// `codes` (for `msgdex check`).
    pub(crate) fn agrees_with<C: RowCodes + ?Sized>(&self, codes: &C, date_order: &[u32]) -> bool {
        let mut built = ValueIndex::build(codes, self.bitmaps.len());
        if !self.starts.is_empty() {
            built = built.with_date_lists(codes, date_order);
        }
        built.bitmaps == self.bitmaps && built.by_date == self.by_date && built.starts == self.starts
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
