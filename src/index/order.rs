//! Sort orders and range indexes of the date/time sort keys.
//!
//! ```text
//!  values (by row):   r0=T3  r1=null  r2=T1  r3=T3  r4=T2
//!  rows (by position): [r1, r2, r4, r0, r3]      sorted by (value, row)
//!  positions:            0   1   2   3   4
//!  blocks (BLOCK positions each, as bitmaps of rows):
//!    block 0 = {r1, r2, r4, …}  block 1 = {…}
//! ```
//!
//! One structure serves three purposes: the presorted permutation a page is
//! walked along; a range of values (`filters-start_date`, …) is a range of
//! positions found by binary search, never a scan; and the per-block bitmaps
//! turn a range into a bitmap (full blocks unioned, edges inserted) and count
//! a filter's hits in a range of positions without visiting them.

use std::ops::Range;

use rayon::prelude::*;
use roaring::{MultiOps, RoaringBitmap};

use crate::durable::arrays::{ArrayFileWriter, ArrayReader};
use crate::durable::StoreError;
use crate::packed_dates::PackedDates;

/// Positions per block.
pub const BLOCK: usize = 1024;

/// The rows of a segment sorted by one date/time key, with block bitmaps.
#[derive(Debug, Default)]
pub struct SortedOrder {
    /// Rows in ascending `(value, row)` order; `null` first.
    rows: Vec<u32>,
    /// The value at each position, so that searches and group boundaries
    /// read memory in order instead of jumping to each row's value.
    /// Held in four bytes each where the values' spread allows (stored in
    /// eight).
    sorted: PackedDates,
    /// `blocks[b]`: the rows at positions `b * BLOCK .. (b + 1) * BLOCK`.
    blocks: Vec<RoaringBitmap>,
    /// The value at every [`FENCE`]th position: a search reads this small
    /// array (which stays in cache), then one stretch of `sorted` a few
    /// cache lines long, instead of twenty scattered lines.
    fences: Vec<i64>,
    /// Each row's position (the inverse of `rows`), made the first time a
    /// position is asked for: only a store taking writes asks, to record
    /// where its dead rows sit, so a read-only store never holds it.
    positions: std::sync::OnceLock<Vec<u32>>,
}

/// Positions between two fences of a [`SortedOrder`].
const FENCE: usize = 64;

impl SortedOrder {
    /// Sorts the rows of a date column and builds the block bitmaps.
    pub fn build(values: &[i64]) -> SortedOrder {
        let mut rows: Vec<u32> = (0..values.len() as u32).collect();
        rows.par_sort_unstable_by_key(|&row| (values[row as usize], row));
        let sorted: Vec<i64> = rows.iter().map(|&row| values[row as usize]).collect();
        let fences = sorted.iter().step_by(FENCE).copied().collect();
        let sorted = PackedDates::of(&sorted);
        let blocks = rows
            .par_chunks(BLOCK)
            .map(|chunk| {
                let mut sorted = chunk.to_vec();
                sorted.sort_unstable();
                let mut bitmap = RoaringBitmap::from_sorted_iter(sorted).expect("sorted rows");
                bitmap.optimize();
                bitmap
            })
            .collect();
        SortedOrder { rows, sorted, blocks, fences, positions: std::sync::OnceLock::new() }
    }

    /// The number of positions (rows).
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Writes the order's arrays (see docs/FORMAT.md); the positions are
    /// made again when a store taking writes asks for them.
    pub(crate) fn write_arrays(&self, out: &mut ArrayFileWriter) -> Result<(), StoreError> {
        out.array(&self.rows)?;
        out.array(&self.sorted.to_vec())?;
        out.bitmaps(&self.blocks)?;
        out.array(&self.fences)
    }

    /// Reads what [`SortedOrder::write_arrays`] wrote for a segment of
    /// `row_count` rows, checking that every array fits it.
    pub(crate) fn read_arrays(input: &mut ArrayReader, row_count: u32) -> Result<SortedOrder, StoreError> {
        let rows = input.values::<u32>()?;
        let sorted = input.values::<i64>()?;
        let blocks = input.bitmaps()?;
        let fences = input.values::<i64>()?;
        let fits = rows.len() == row_count as usize
            && sorted.len() == rows.len()
            && blocks.len() == rows.len().div_ceil(BLOCK)
            && fences.len() == rows.len().div_ceil(FENCE)
            && rows.iter().all(|&row| row < row_count)
            && blocks.iter().all(|block| block.max().is_none_or(|row| row < row_count));
        if !fits {
            return Err(input.malformed("a sorted order does not fit its segment"));
        }
        let sorted = PackedDates::of(&sorted);
        Ok(SortedOrder { rows, sorted, blocks, fences, positions: std::sync::OnceLock::new() })
    }

    /// Whether the order is what [`SortedOrder::build`] makes of `values`:
    /// rows by `(value, row)`, and blocks and fences that agree (for
    /// `msgdex check`).
    pub(crate) fn agrees_with(&self, values: &[i64]) -> bool {
        let mut seen = vec![false; values.len()];
        let permutation = self.rows.len() == values.len()
            && self.rows.iter().all(|&row| !std::mem::replace(&mut seen[row as usize], true));
        permutation
            && self
                .rows
                .windows(2)
                .all(|pair| (values[pair[0] as usize], pair[0]) < (values[pair[1] as usize], pair[1]))
            && self.rows.iter().enumerate().all(|(position, &row)| values[row as usize] == self.sorted.get(position))
            && self.fences.len() == self.rows.len().div_ceil(FENCE)
            && self.fences.iter().enumerate().all(|(fence, &value)| value == self.sorted.get(fence * FENCE))
            && self
                .rows
                .chunks(BLOCK)
                .zip(&self.blocks)
                .all(|(chunk, block)| block.len() == chunk.len() as u64 && chunk.iter().all(|&row| block.contains(row)))
    }

    /// Whether the order is empty.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The row at a position.
    #[inline]
    pub fn row_at(&self, position: usize) -> u32 {
        self.rows[position]
    }

    /// Every row, in order.
    pub fn rows(&self) -> &[u32] {
        &self.rows
    }

    /// The rows at a range of positions.
    pub fn rows_at(&self, positions: Range<usize>) -> &[u32] {
        &self.rows[positions]
    }

    /// The value at a position.
    #[inline]
    pub fn value_at(&self, position: usize) -> i64 {
        self.sorted.get(position)
    }

    /// The first position whose value is `>= value`.
    pub fn lower_bound(&self, value: i64) -> usize {
        // Fences before `fence` hold smaller values, so the bound lies after
        // the previous fence and at or before this one.
        let fence = self.fences.partition_point(|&held| held < value);
        let Some(previous) = fence.checked_sub(1) else { return 0 };
        let start = previous * FENCE + 1;
        let end = (fence * FENCE).min(self.sorted.len());
        self.sorted.partition_point(start..end, |held| held < value)
    }

    /// The first position whose value is `> value`.
    pub fn upper_bound(&self, value: i64) -> usize {
        value.checked_add(1).map_or(self.sorted.len(), |next| self.lower_bound(next))
    }

    /// The end of the run of equal values that contains `position`,
    /// searching forward up to `limit` (galloping, so a long run of ties
    /// costs its logarithm).
    #[inline]
    pub fn group_end(&self, position: usize, limit: usize) -> usize {
        self.sorted.tie_end(position, limit)
    }

    /// The start of the run of equal values that contains `position - 1`,
    /// searching backward down to `limit` (galloping).
    #[inline]
    pub fn group_start(&self, position: usize, limit: usize) -> usize {
        self.sorted.tie_start(position, limit)
    }

    /// The blocks lying wholly inside `positions`.
    pub fn full_blocks(&self, positions: &Range<usize>) -> Range<usize> {
        let first = positions.start.div_ceil(BLOCK);
        let last = positions.end / BLOCK;
        first..last.max(first)
    }

    /// The rows at `positions` as a bitmap: whole blocks are unioned, the
    /// edges (under two blocks of rows) are sorted and inserted.
    pub fn range_bitmap(&self, positions: Range<usize>) -> RoaringBitmap {
        let blocks = self.full_blocks(&positions);
        if blocks.is_empty() {
            return sorted_bitmap(&self.rows[positions]);
        }
        let mut edges: Vec<u32> = Vec::with_capacity(2 * BLOCK);
        edges.extend_from_slice(&self.rows[positions.start..blocks.start * BLOCK]);
        edges.extend_from_slice(&self.rows[(blocks.end * BLOCK).min(positions.end)..positions.end]);
        let edge_bitmap = sorted_bitmap(&edges);
        self.blocks[blocks].iter().chain(std::iter::once(&edge_bitmap)).union()
    }

    /// How many rows of `filter` lie at `positions`, without visiting the
    /// rows of whole blocks.
    pub fn count_in(&self, filter: &RoaringBitmap, positions: Range<usize>) -> u64 {
        let blocks = self.full_blocks(&positions);
        if blocks.is_empty() {
            return count_members(filter, &self.rows[positions]);
        }
        let whole: u64 = self.blocks[blocks.clone()].iter().map(|block| block.intersection_len(filter)).sum();
        whole
            + count_members(filter, &self.rows[positions.start..blocks.start * BLOCK])
            + count_members(filter, &self.rows[(blocks.end * BLOCK).min(positions.end)..positions.end])
    }

    /// The position of `row`: one read of the inverse permutation, made
    /// on the first call (see [`SortedOrder::prepare_positions`]).
    pub fn position_of(&self, row: u32) -> usize {
        self.prepare_positions()[row as usize] as usize
    }

    /// Starts loading a row's entry of the inverse permutation behind
    /// [`SortedOrder::position_of`], if it is made.
    #[inline]
    pub fn prefetch_position(&self, row: u32) {
        if let Some(positions) = self.positions.get() {
            crate::sys::prefetch(positions.as_ptr().wrapping_add(row as usize));
        }
    }

    /// Makes the inverse permutation behind [`SortedOrder::position_of`] now
    /// (a store about to take writes makes it off the writer's path).
    pub fn prepare_positions(&self) -> &[u32] {
        self.positions.get_or_init(|| {
            let mut positions = vec![0u32; self.rows.len()];
            for (position, &row) in self.rows.iter().enumerate() {
                positions[row as usize] = position as u32;
            }
            positions
        })
    }

    /// The rows at the positions of block `block`.
    pub fn block(&self, block: usize) -> &RoaringBitmap {
        &self.blocks[block]
    }

    /// How many rows of `filter` (all rows when `None`) lie in block `block`.
    pub fn block_hits(&self, filter: Option<&RoaringBitmap>, block: usize) -> u64 {
        match filter {
            Some(filter) => self.blocks[block].intersection_len(filter),
            None => self.blocks[block].len(),
        }
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.rows.capacity() * 4
            + self.sorted.heap_bytes()
            + self.fences.capacity() * 8
            + self.positions.get().map_or(0, |positions| positions.capacity() * 4)
            + self.blocks.iter().map(RoaringBitmap::serialized_size).sum::<usize>()
    }
}

/// How many of `rows` are in `filter`.
pub fn count_members(filter: &RoaringBitmap, rows: &[u32]) -> u64 {
    rows.iter().filter(|&&row| filter.contains(row)).count() as u64
}

/// A bitmap of unsorted rows.
pub fn sorted_bitmap(rows: &[u32]) -> RoaringBitmap {
    let mut sorted = rows.to_vec();
    sorted.sort_unstable();
    RoaringBitmap::from_sorted_iter(sorted).expect("sorted rows")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn naive_rows(values: &[i64]) -> Vec<u32> {
        let mut rows: Vec<u32> = (0..values.len() as u32).collect();
        rows.sort_by_key(|&row| (values[row as usize], row));
        rows
    }

    proptest! {
        #[test]
        fn ranges_groups_and_counts_agree_with_a_scan(
            // Now and then a value far enough to hold the order wide.
            values in proptest::collection::vec(prop_oneof![200 => Just(i64::MIN), 1000 => 0i64..40, 1 => Just(1i64 << 40)], 0..3000),
            filter_rows in proptest::collection::vec(0u32..3000, 0..800),
            low in 0i64..40, width in 0i64..40,
        ) {
            let order = SortedOrder::build(&values);
            prop_assert_eq!(&order.rows, &naive_rows(&values));
            // Fenced searches agree with plain ones, at every value and past
            // both ends; every row is found at its own position.
            for probe in [i64::MIN, i64::MIN + 1, -1, i64::MAX].into_iter().chain(0..41) {
                let sorted = order.sorted.to_vec();
                prop_assert_eq!(order.lower_bound(probe), sorted.partition_point(|&held| held < probe), "{}", probe);
                prop_assert_eq!(order.upper_bound(probe), sorted.partition_point(|&held| held <= probe), "{}", probe);
            }
            for (position, &row) in order.rows.iter().enumerate() {
                prop_assert_eq!(order.position_of(row), position);
            }
            let start = order.lower_bound(low);
            let end = order.upper_bound(low + width).max(start);
            let expected: Vec<u32> = order.rows[start..end].to_vec();
            prop_assert!(expected.iter().all(|&row| (low..=low + width).contains(&values[row as usize])));
            let bitmap = order.range_bitmap(start..end);
            prop_assert_eq!(bitmap, sorted_bitmap(&expected));
            let filter = RoaringBitmap::from_iter(filter_rows);
            prop_assert_eq!(order.count_in(&filter, start..end), count_members(&filter, &expected));
            // Groups: every position's run of equal values.
            let mut position = 0;
            while position < values.len() {
                let end_of_group = order.group_end(position, values.len());
                prop_assert!(end_of_group > position);
                let value = values[order.rows[position] as usize];
                prop_assert!(order.rows[position..end_of_group].iter().all(|&row| values[row as usize] == value));
                prop_assert!(end_of_group == values.len() || values[order.rows[end_of_group] as usize] != value);
                prop_assert_eq!(order.group_start(end_of_group, 0), position);
                position = end_of_group;
            }
        }
    }
}
