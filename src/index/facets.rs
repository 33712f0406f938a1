//! Row counts per combination of the closed-set filters — `channel` ×
//! `direction` × `delivery_status` × (`anonymized` set?) × (`read` set?),
//! 3 × 3 × 5 × 2 × 2 = 180 cells counting `null` as a value — so that a
//! request filtering only on these gets its `item_count` by adding a few
//! cells, whatever the size of the store, instead of intersecting bitmaps of
//! hundreds of thousands of rows.

use crate::model::{DateKey, PerDateKey};
use crate::packed_dates::PackedDates;

/// Codes per dimension, `null` included.
const SIZES: [usize; 5] = [3, 3, 5, 2, 2];

/// How many cells there are (the product of [`SIZES`]).
pub const CELL_COUNT: usize = SIZES[0] * SIZES[1] * SIZES[2] * SIZES[3] * SIZES[4];

/// The counts, one per cell.
#[derive(Clone, Debug, Default)]
pub struct FacetCounts {
    counts: Vec<u64>,
}

/// Which codes of each dimension a request accepts (`None`: all).
#[derive(Clone, Debug, Default)]
pub struct FacetSelection {
    /// Accepted codes of `channel`, `direction`, `delivery_status`,
    /// anonymized-is-set (0 no, 1 yes), read-is-set.
    pub accepted: [Option<Vec<u8>>; 5],
}

/// The cell of one combination of codes.
pub fn cell(codes: [usize; 5]) -> usize {
    codes.iter().zip(SIZES).fold(0, |index, (&code, size)| index * size + code)
}

impl FacetCounts {
    /// Counts with every cell zero (for the rows deleted from a segment).
    pub fn empty() -> FacetCounts {
        FacetCounts { counts: vec![0; CELL_COUNT] }
    }

    /// The count of every cell, in cell order (see docs/FORMAT.md).
    pub(crate) fn cells(&self) -> &[u64] {
        &self.counts
    }

    /// Counts read back from [`FacetCounts::cells`]; `None` unless there
    /// is one per cell.
    pub(crate) fn from_cells(counts: Vec<u64>) -> Option<FacetCounts> {
        (counts.len() == CELL_COUNT).then_some(FacetCounts { counts })
    }

    /// Counts one more row in `cell`.
    pub fn add_to_cell(&mut self, cell: usize) {
        self.counts[cell] += 1;
    }

    /// Counts the rows of each cell, given each row's cell.
    pub fn of_cells(cells: impl IntoIterator<Item = usize>) -> FacetCounts {
        let mut counts = vec![0u64; CELL_COUNT];
        for cell in cells {
            counts[cell] += 1;
        }
        FacetCounts { counts }
    }

    /// The number of rows accepted by the selection: the accepted cells
    /// added up.
    pub fn count(&self, selection: &FacetSelection) -> u64 {
        let mut total = 0;
        selection.for_each_cell(|cell| total += self.counts[cell]);
        total
    }
}

impl FacetSelection {
    /// Narrows the selection to rows whose code in `dimension` is one of
    /// `accepted` (two constraints on one dimension accept the codes both
    /// accept).
    pub fn narrow(&mut self, dimension: usize, accepted: &[u8]) {
        let narrowed = match self.accepted[dimension].take() {
            Some(earlier) => earlier.into_iter().filter(|code| accepted.contains(code)).collect(),
            None => accepted.to_vec(),
        };
        self.accepted[dimension] = Some(narrowed);
    }

    /// Whether the selection accepts each cell.
    pub fn cell_flags(&self) -> [bool; CELL_COUNT] {
        let mut flags = [false; CELL_COUNT];
        self.for_each_cell(|cell| flags[cell] = true);
        flags
    }

    /// The cells the selection accepts.
    pub fn cells(&self) -> Vec<usize> {
        let mut cells = Vec::new();
        self.for_each_cell(|cell| cells.push(cell));
        cells
    }

    /// Calls `visit` with each cell the selection accepts, dimension by
    /// dimension.
    fn for_each_cell(&self, mut visit: impl FnMut(usize)) {
        let masks: [u8; 5] = std::array::from_fn(|dimension| match &self.accepted[dimension] {
            None => u8::MAX,
            Some(accepted) => accepted.iter().filter(|&&code| code < 8).fold(0, |mask, &code| mask | 1 << code),
        });
        let codes = |dimension: usize| (0..SIZES[dimension]).filter(move |&code| masks[dimension] >> code & 1 == 1);
        for channel in codes(0) {
            for direction in codes(1) {
                for status in codes(2) {
                    for anonymized in codes(3) {
                        for read in codes(4) {
                            visit(cell([channel, direction, status, anonymized, read]));
                        }
                    }
                }
            }
        }
    }
}

/// Row counts per facet cell for each value of one column (`location`):
/// the `item_count` of a request filtering on one such value and the
/// closed sets, whatever the size of the store, as [`FacetCounts`] gives it
/// without the value.
#[derive(Clone, Debug)]
pub struct CellCountsByValue {
    /// `counts[code * CELL_COUNT + cell]`.
    counts: Vec<u32>,
}

impl CellCountsByValue {
    /// Most values counted: past it the table (a count per cell per value)
    /// would outweigh what it saves.
    pub const MOST_VALUES: usize = 4096;

    /// Counts each row under its value's code (`codes`, below
    /// `code_count`) and its cell (`cell_of(row)`); `None` past
    /// [`CellCountsByValue::MOST_VALUES`] codes.
    pub fn build(
        codes: impl Iterator<Item = u32>,
        code_count: usize,
        cell_of: impl Fn(usize) -> usize,
    ) -> Option<CellCountsByValue> {
        if code_count > Self::MOST_VALUES {
            return None;
        }
        let mut counts = vec![0u32; code_count * CELL_COUNT];
        for (row, code) in codes.enumerate() {
            counts[code as usize * CELL_COUNT + cell_of(row)] += 1;
        }
        Some(CellCountsByValue { counts })
    }

    /// The rows holding the value `code` in any of `cells`.
    pub fn count(&self, code: u32, cells: &[usize]) -> u64 {
        let start = code as usize * CELL_COUNT;
        match self.counts.get(start..start + CELL_COUNT) {
            Some(counts) => cells.iter().map(|&cell| u64::from(counts[cell])).sum(),
            None => 0,
        }
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.counts.capacity() * 4
    }
}

/// The rows holding one value of a date order at an end of a cell: the
/// value, and the first and last of its rows (rows are in `_id` order, so
/// these hold the cell's smallest and largest `_id` with that value).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndRows {
    /// The value (`NULL_DATE` for `null`, the smallest).
    pub value: i64,
    /// Its first row (smallest `_id`).
    pub first: u32,
    /// Its last row (largest `_id`).
    pub last: u32,
}

/// Per sorted order and facet cell, the rows at both ends of the order: a
/// small segment (a live store's run) whose first match in a request's
/// order sorts after a page's last item is then known, from the cells the
/// request accepts, to contribute nothing to the page, without a plan or a
/// walk. Dead rows count too: an end is a bound on the live rows.
#[derive(Debug)]
pub struct CellEnds {
    /// `[key][cell]`: the lowest value's rows, then the highest's
    /// (`None` for a cell without rows).
    ends: PerDateKey<Vec<Option<(EndRows, EndRows)>>>,
}

impl CellEnds {
    /// The ends of each key's order (`orders[key][row]` its values) per
    /// cell (`cells[row]`).
    pub fn build(cells: &[usize], orders: PerDateKey<&PackedDates>) -> CellEnds {
        let ends = orders.map(|_, values| {
            let mut ends: Vec<Option<(EndRows, EndRows)>> = vec![None; CELL_COUNT];
            for (row, (&cell, value)) in cells.iter().zip(values.iter()).enumerate() {
                let row = row as u32;
                let here = EndRows { value, first: row, last: row };
                let Some((low, high)) = &mut ends[cell] else {
                    ends[cell] = Some((here, here));
                    continue;
                };
                // Rows ascend: a row of an end's value is its last so far.
                match value.cmp(&low.value) {
                    std::cmp::Ordering::Less => *low = here,
                    std::cmp::Ordering::Equal => low.last = row,
                    std::cmp::Ordering::Greater => {}
                }
                match value.cmp(&high.value) {
                    std::cmp::Ordering::Greater => *high = here,
                    std::cmp::Ordering::Equal => high.last = row,
                    std::cmp::Ordering::Less => {}
                }
            }
            ends
        });
        CellEnds { ends }
    }

    /// The first row, in the order of `key`'s values (`descending`: the
    /// largest first) then `_id` (`id_descending`), among the rows of
    /// `cells`, with its value; `None` when they hold no row.
    pub fn first(&self, key: DateKey, descending: bool, id_descending: bool, cells: &[usize]) -> Option<(i64, u32)> {
        let mut best: Option<(i64, u32)> = None;
        for &cell in cells {
            let Some((low, high)) = &self.ends[key][cell] else { continue };
            let end = if descending { high } else { low };
            let candidate = (end.value, if id_descending { end.last } else { end.first });
            let better = best.is_none_or(|(value, row)| {
                let by_value = if descending { candidate.0.cmp(&value).reverse() } else { candidate.0.cmp(&value) };
                let by_id = if id_descending { candidate.1.cmp(&row).reverse() } else { candidate.1.cmp(&row) };
                by_value.then(by_id).is_lt()
            });
            if better {
                best = Some(candidate);
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::column::NULL_DATE;

    #[test]
    fn counts_add_up_by_selection() {
        let channel = [1, 2, 2, 0];
        let direction = [1, 1, 2, 2];
        let status = [0, 1, 2, 0];
        let anonymized = [NULL_DATE, 5, NULL_DATE, NULL_DATE];
        let read = [7, NULL_DATE, NULL_DATE, 9];
        let facets = FacetCounts::of_cells((0..channel.len()).map(|row| {
            let set = |dates: &[i64]| usize::from(dates[row] != NULL_DATE);
            cell([channel[row], direction[row], status[row], set(&anonymized), set(&read)])
        }));
        assert_eq!(facets.count(&FacetSelection::default()), 4);
        let sms = FacetSelection { accepted: [Some(vec![2]), None, None, None, None] };
        assert_eq!(facets.count(&sms), 2);
        let sms_unread = FacetSelection { accepted: [Some(vec![2]), None, None, None, Some(vec![0])] };
        assert_eq!(facets.count(&sms_unread), 2);
        let anonymized_inbound = FacetSelection { accepted: [None, Some(vec![1]), None, Some(vec![1]), None] };
        assert_eq!(facets.count(&anonymized_inbound), 1);
        let nothing = FacetSelection { accepted: [Some(vec![]), None, None, None, None] };
        assert_eq!(facets.count(&nothing), 0);
    }

    proptest::proptest! {
        /// The first row among some cells, in each of the four orders,
        /// is the one a sort of those cells' rows puts first.
        #[test]
        fn cell_ends_give_each_orders_first_row(
            rows in proptest::collection::vec((0usize..6, proptest::prop_oneof![proptest::strategy::Just(NULL_DATE), 0i64..5]), 0..60),
            accepted in proptest::collection::vec(0usize..6, 0..4),
        ) {
            let cells: Vec<usize> = rows.iter().map(|&(cell, _)| cell).collect();
            let values: Vec<i64> = rows.iter().map(|&(_, value)| value).collect();
            let packed = PackedDates::of(&values);
            let ends = CellEnds::build(&cells, PerDateKey::from_fn(|_| &packed));
            for (descending, id_descending) in [(false, false), (false, true), (true, false), (true, true)] {
                let mut candidates: Vec<(i64, u32)> =
                    (0..rows.len()).filter(|&row| accepted.contains(&cells[row])).map(|row| (values[row], row as u32)).collect();
                candidates.sort_by(|left, right| {
                    let by_value = if descending { right.0.cmp(&left.0) } else { left.0.cmp(&right.0) };
                    by_value.then(if id_descending { right.1.cmp(&left.1) } else { left.1.cmp(&right.1) })
                });
                proptest::prop_assert_eq!(ends.first(DateKey::Modified, descending, id_descending, &accepted), candidates.first().copied());
            }
        }
    }
}
