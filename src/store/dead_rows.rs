//! Dead rows: the rows of an immutable [`Segment`](super::Segment) that a
//! later write deleted or replaced.
//!
//! A segment never changes, so a live store hides its dead rows instead:
//! every snapshot pairs a segment with a `DeadRows`, and the executor
//! subtracts it from the matches, or, for a request without filters, tests
//! each row it walks and counts dead rows by bitmap intersections (never
//! building the set of live rows). Marking a row dead makes a new `DeadRows`
//! (the old one stays valid for the snapshots that hold it) at a cost that
//! does not grow with the segment:
//!
//! ```text
//!  frozen: Arc<rows bitmap,      shared by every version, folded rarely
//!              positions[order]  sorted positions of the dead rows in each
//!                                sorted order, old (shared from freeze to
//!                                freeze) and young (≤ YOUNG_LIMIT): dead
//!                                rows in any range of positions are a few
//!                                binary searches away>
//!  recent: [r7, …] and each order's [positions, …], sorted, copied on each
//!          write (≤ RECENT_LIMIT)
//!  facets: dead rows per facet cell, so facet counts stay exact
//! ```
//!
//! The frozen part also caches, the first time a text search needs it,
//! how many of its dead rows hold each text value, so that a count found
//! from the matched values' row counts stays exact ([`DeadRows::frozen_text_tally`]).

use std::sync::Arc;

use roaring::RoaringBitmap;

use crate::index::facets::{FacetCounts, FacetSelection};
use crate::index::order::BLOCK;
use crate::model::{DateKey, PerDateKey};

/// The sorted orders a segment has: one per [`DateKey`].
const ORDERS: usize = DateKey::ALL.len();

/// The dead rows folded into a shared bitmap, with their positions in each
/// sorted order (ascending) in two lists: the old ones, shared from freeze
/// to freeze, and the young ones, copied at each freeze. A freeze then
/// copies at most [`YOUNG_LIMIT`] positions per order rather than every
/// dead row's (at 100,000 dead rows, 1.2 MB per 256 deaths), and the old
/// lists are merged again once per `YOUNG_LIMIT` deaths.
#[derive(Debug)]
struct Frozen {
    rows: RoaringBitmap,
    /// `rows.len()`, kept: roaring sums its containers' lengths each time,
    /// and every query asks for a part's live count.
    row_total: u64,
    old_positions: Arc<PerDateKey<Vec<u32>>>,
    young_positions: PerDateKey<Vec<u32>>,
    /// Dead rows per value of the segment's text index, once asked for.
    text_tally: std::sync::OnceLock<Vec<u32>>,
    /// Dead rows per code of each value-indexed field, once asked for.
    value_tallies: [std::sync::OnceLock<Vec<u32>>; VALUE_FIELDS],
    /// `rows` as a bitset (one bit per row of the segment), made the first
    /// time a row is tested: a test is then one bit, not a search of a
    /// roaring array container.
    dense: std::sync::OnceLock<Vec<u64>>,
}

/// The value-indexed fields whose dead rows per code a [`DeadRows`] can tally
/// (`store::BITMAP_FIELDS`, by position).
pub const VALUE_FIELDS: usize = crate::store::BITMAP_FIELDS.len();

impl Frozen {
    fn new(
        rows: RoaringBitmap,
        old_positions: Arc<PerDateKey<Vec<u32>>>,
        young_positions: PerDateKey<Vec<u32>>,
    ) -> Frozen {
        Frozen {
            row_total: rows.len(),
            rows,
            old_positions,
            young_positions,
            text_tally: std::sync::OnceLock::new(),
            value_tallies: std::array::from_fn(|_| std::sync::OnceLock::new()),
            dense: std::sync::OnceLock::new(),
        }
    }
}

/// Most dead rows kept in the copied list before they are folded into a
/// new shared bitmap (one bitmap copy per this many deletions).
const RECENT_LIMIT: usize = 256;

/// Most frozen positions per order kept apart from the old ones (see
/// [`Frozen`]); small in unit tests, so that they fold often.
const YOUNG_LIMIT: usize = if cfg!(test) { 600 } else { 16_384 };

/// The positions in `key`'s order among the recent lists (rows first,
/// then one list per key in [`DateKey::ALL`] order).
fn recent_positions<'a>(lists: &[&'a [u32]; ORDERS + 1], key: DateKey) -> &'a [u32] {
    let slot = DateKey::ALL.iter().position(|&known| known == key).expect("every key has a list");
    lists[slot + 1]
}

/// The dead rows of one segment, as of one snapshot.
#[derive(Debug)]
pub struct DeadRows {
    row_count: u32,
    frozen: Arc<Frozen>,
    /// The rows not in `frozen`, ascending, then their positions in each
    /// sorted order, ascending (so that the dead rows in a range of
    /// positions are binary searches away): `ORDERS + 1` lists of one
    /// length, back to back in one allocation, as each write copies them.
    recent: Vec<u32>,
    /// Dead rows per facet cell.
    facets: FacetCounts,
}

impl DeadRows {
    /// No dead rows in a segment of `row_count` rows.
    pub fn none(row_count: u32) -> DeadRows {
        let frozen = Frozen::new(RoaringBitmap::new(), Arc::default(), PerDateKey::default());
        DeadRows { row_count, frozen: Arc::new(frozen), recent: Vec::new(), facets: FacetCounts::empty() }
    }

    /// A new version with `row` dead as well: `cell` is its facet cell,
    /// `positions` its position in each sorted order.
    pub fn with_row(&self, row: u32, cell: usize, positions: PerDateKey<u32>) -> DeadRows {
        debug_assert!(row < self.row_count && !self.contains(row), "a row dies once");
        let mut facets = self.facets.clone();
        facets.add_to_cell(cell);
        let mut recent = Vec::with_capacity(self.recent.len() + ORDERS + 1);
        for (list, value) in
            self.recent_lists().into_iter().zip(std::iter::once(row).chain(positions.values().copied()))
        {
            let at = list.partition_point(|&known| known < value);
            recent.extend_from_slice(&list[..at]);
            recent.push(value);
            recent.extend_from_slice(&list[at..]);
        }
        let next = DeadRows { row_count: self.row_count, frozen: Arc::clone(&self.frozen), recent, facets };
        if next.recent_len() <= RECENT_LIMIT {
            return next;
        }
        // Past the limit, the recent rows fold into a new frozen part.
        let lists = next.recent_lists();
        let mut rows = self.frozen.rows.clone();
        rows.extend(lists[0].iter().copied());
        let young =
            PerDateKey::from_fn(|key| merge_sorted(&self.frozen.young_positions[key], recent_positions(&lists, key)));
        let frozen = if young[DateKey::Created].len() <= YOUNG_LIMIT {
            Frozen::new(rows, Arc::clone(&self.frozen.old_positions), young)
        } else {
            let old = PerDateKey::from_fn(|key| merge_sorted(&self.frozen.old_positions[key], &young[key]));
            Frozen::new(rows, Arc::new(old), PerDateKey::default())
        };
        if let Some(words) = self.frozen.dense.get() {
            // The old bitset with the newly frozen rows: a copy, where
            // building it again would set every dead row's bit.
            let mut words = words.clone();
            for &row in lists[0] {
                words[row as usize >> 6] |= 1 << (row & 63);
            }
            let _ = frozen.dense.set(words);
        }
        let frozen = Arc::new(frozen);
        DeadRows { row_count: self.row_count, frozen, recent: Vec::new(), facets: next.facets }
    }

    /// The number of rows in the recent list.
    fn recent_len(&self) -> usize {
        self.recent.len() / (ORDERS + 1)
    }

    /// The recent rows, then their positions in each sorted order.
    fn recent_lists(&self) -> [&[u32]; ORDERS + 1] {
        let length = self.recent_len();
        std::array::from_fn(|list| &self.recent[list * length..(list + 1) * length])
    }

    /// The recent rows, ascending.
    fn recent_slice(&self) -> &[u32] {
        &self.recent[..self.recent_len()]
    }

    /// The number of dead rows.
    pub fn len(&self) -> u64 {
        self.frozen.row_total + self.recent_len() as u64
    }

    /// Whether no row is dead.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of rows of the segment that are alive.
    pub fn live_count(&self) -> u64 {
        u64::from(self.row_count) - self.len()
    }

    /// Whether `row` is dead.
    #[inline]
    pub fn contains(&self, row: u32) -> bool {
        self.frozen_contains(row) || (!self.recent.is_empty() && self.recent_slice().binary_search(&row).is_ok())
    }

    #[inline]
    fn frozen_contains(&self, row: u32) -> bool {
        if self.frozen.row_total == 0 {
            return false;
        }
        let words = self.frozen.dense.get_or_init(|| {
            let mut words = vec![0u64; (self.row_count as usize).div_ceil(64)];
            crate::index::dense::set_rows(&self.frozen.rows, &mut words);
            words
        });
        words[row as usize >> 6] >> (row & 63) & 1 == 1
    }

    /// Removes the dead rows from `bitmap`.
    pub fn remove_from(&self, bitmap: &mut RoaringBitmap) {
        *bitmap -= &self.frozen.rows;
        for &dead in self.recent_slice() {
            bitmap.remove(dead);
        }
    }

    /// The dead rows, ascending.
    pub fn rows(&self) -> RoaringBitmap {
        let mut rows = self.frozen.rows.clone();
        rows.extend(self.recent_slice().iter().copied());
        rows
    }

    /// The dead rows, in no particular order (nothing copied).
    pub fn each_row(&self) -> impl Iterator<Item = u32> + '_ {
        self.frozen.rows.iter().chain(self.recent_rows())
    }

    /// The rows recently marked dead (those not in the frozen bitmap), ascending.
    pub fn recent_rows(&self) -> impl Iterator<Item = u32> + '_ {
        self.recent_slice().iter().copied()
    }

    /// For each value of the segment's text index, how many frozen dead
    /// rows hold it: computed by `tally` from the frozen rows the first time
    /// it is asked for, then kept while these frozen rows are (they change
    /// once per 256 deaths). `tally` must always be the text
    /// index's own count (see `TextIndex::tally`).
    pub fn frozen_text_tally(&self, tally: impl FnOnce(&RoaringBitmap) -> Vec<u32>) -> &[u32] {
        self.frozen.text_tally.get_or_init(|| tally(&self.frozen.rows))
    }

    /// For each code of value-indexed field number `field` (a position in
    /// `store::BITMAP_FIELDS`), how many frozen dead rows hold it: computed
    /// by `tally` from the frozen rows the first time it is asked for, then
    /// kept while these frozen rows are, like [`DeadRows::frozen_text_tally`].
    pub fn frozen_value_tally(&self, field: usize, tally: impl FnOnce(&RoaringBitmap) -> Vec<u32>) -> &[u32] {
        self.frozen.value_tallies[field].get_or_init(|| tally(&self.frozen.rows))
    }

    /// How many dead rows lie in block `block` of sorted order number
    /// `key`.
    pub fn dead_in_block(&self, key: DateKey, block: usize) -> u64 {
        self.dead_at(key, block * BLOCK..(block + 1) * BLOCK)
    }

    /// The three disjoint ascending lists of the dead rows' positions in
    /// sorted order of `key`: old, young and recent.
    fn position_lists(&self, key: DateKey) -> [&[u32]; 3] {
        [
            &self.frozen.old_positions[key],
            &self.frozen.young_positions[key],
            recent_positions(&self.recent_lists(), key),
        ]
    }

    /// How many dead rows lie at `positions` of sorted order number
    /// `key`: binary searches in each list of dead positions.
    pub fn dead_at(&self, key: DateKey, positions: std::ops::Range<usize>) -> u64 {
        let within = |sorted: &[u32]| {
            // Walks ask from the order's start, and counts to its end: those
            // bounds need no search.
            let below = |position: usize| match sorted.last() {
                _ if position == 0 => 0,
                Some(&last) if (last as usize) < position => sorted.len(),
                _ => sorted.partition_point(|&dead| (dead as usize) < position),
            };
            below(positions.end).saturating_sub(below(positions.start))
        };
        self.position_lists(key).into_iter().map(within).sum::<usize>() as u64
    }

    /// The dead rows' positions in sorted order of `key` from
    /// `from` on, ascending: a walk of that order takes the positions
    /// between them without testing a row.
    pub fn dead_positions_from(&self, key: DateKey, from: usize) -> impl Iterator<Item = usize> + '_ {
        let lists = self.position_lists(key);
        merge_disjoint(lists.map(|sorted| &sorted[sorted.partition_point(|&dead| (dead as usize) < from)..]), false)
    }

    /// The dead rows' positions in sorted order of `key`
    /// below `end`, descending (see [`DeadRows::dead_positions_from`]).
    pub fn dead_positions_before(&self, key: DateKey, end: usize) -> impl Iterator<Item = usize> + '_ {
        let lists = self.position_lists(key);
        merge_disjoint(lists.map(|sorted| &sorted[..sorted.partition_point(|&dead| (dead as usize) < end)]), true)
    }

    /// How many dead rows are below `row`.
    pub fn rank_below(&self, row: u32) -> u64 {
        let frozen = if row == 0 { 0 } else { self.frozen.rows.rank(row - 1) };
        frozen + self.recent_slice().partition_point(|&dead| dead < row) as u64
    }

    /// The live row with `rank` live rows below it, if any.
    pub fn select_live(&self, rank: u64) -> Option<u32> {
        if rank >= self.live_count() {
            return None;
        }
        // The smallest row r with r - (dead rows below r) = rank that is
        // alive: iterate r = rank + dead below r up to its fixed point.
        let mut row = rank;
        loop {
            let next = rank + self.rank_below(row as u32);
            if next == row {
                let mut row = row as u32;
                while self.contains(row) {
                    row += 1;
                }
                return Some(row);
            }
            row = next;
        }
    }

    /// Dead rows accepted by a facet selection.
    pub fn facet_count(&self, selection: &FacetSelection) -> u64 {
        self.facets.count(selection)
    }
}

/// Disjoint ascending lists merged, ascending or (from their ends)
/// descending. The empty lists are set aside first (the old positions are
/// empty until the first fold, and the young ones right after it), so that
/// each step compares only the heads of lists that have one.
fn merge_disjoint<'a, const N: usize>(mut lists: [&'a [u32]; N], descending: bool) -> impl Iterator<Item = usize> + 'a {
    let mut open = 0;
    for index in 0..N {
        if !lists[index].is_empty() {
            lists.swap(open, index);
            open += 1;
        }
    }
    let head = move |list: &[u32]| if descending { list.last() } else { list.first() }.copied();
    std::iter::from_fn(move || {
        let (mut index, mut value) = (0, head(lists.get(..open)?.first()?)?);
        for (other, list) in lists[..open].iter().enumerate().skip(1) {
            let candidate = head(list)?;
            if (candidate < value) != descending {
                (index, value) = (other, candidate);
            }
        }
        let list = &mut lists[index];
        *list = if descending { &list[..list.len() - 1] } else { &list[1..] };
        if list.is_empty() {
            open -= 1;
            lists.swap(index, open);
        }
        Some(value as usize)
    })
}

/// Two ascending lists merged into one: `short`'s values placed by binary
/// searches in `long`, whose stretches between them are copied whole (a
/// few hundred recent rows into tens of thousands frozen ones).
fn merge_sorted(long: &[u32], short: &[u32]) -> Vec<u32> {
    let mut merged = Vec::with_capacity(long.len() + short.len());
    let mut rest = long;
    for &value in short {
        let before = rest.partition_point(|&known| known <= value);
        merged.extend_from_slice(&rest[..before]);
        merged.push(value);
        rest = &rest[before..];
    }
    merged.extend_from_slice(rest);
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::order::SortedOrder;

    /// Three orders over 3,000 rows (three blocks), and the positions of
    /// a row in each.
    fn orders() -> (Vec<SortedOrder>, impl Fn(u32) -> PerDateKey<u32>) {
        let values: Vec<Vec<i64>> =
            (0..ORDERS as i64).map(|key| (0..3000).map(|row| (row * (7 + key * 4)) % 101).collect()).collect();
        let orders: Vec<SortedOrder> = values.iter().map(|values| SortedOrder::build(values)).collect();
        let positions = {
            let orders: Vec<Vec<u32>> = orders
                .iter()
                .map(|order| {
                    let mut position_of_row = vec![0u32; 3000];
                    for (position, &row) in order.rows().iter().enumerate() {
                        position_of_row[row as usize] = position as u32;
                    }
                    position_of_row
                })
                .collect();
            move |row: u32| {
                let mut slot = 0;
                PerDateKey::from_fn(|_| {
                    slot += 1;
                    orders[slot - 1][row as usize]
                })
            }
        };
        (orders, positions)
    }

    #[test]
    fn versions_accumulate_and_old_ones_stay_valid() {
        let (orders, positions) = orders();
        for (order, values) in orders.iter().zip(0..) {
            // position_of finds every row where the order holds it.
            for (position, &row) in order.rows().iter().enumerate().step_by(97) {
                assert_eq!(order.position_of(row), position, "order {values}");
            }
        }
        let mark = |dead: &DeadRows, row: u32, cell: usize| dead.with_row(row, cell, positions(row));
        let none = DeadRows::none(3000);
        let mut current = mark(&none, 5, 0);
        let first = mark(&current, 2, 1);
        // Past the recent limit, rows fold into the shared bitmap.
        for row in (100..100 + RECENT_LIMIT as u32 + 10).map(|row| row * 7 % 3000) {
            current = mark(&current, row, 0);
        }
        assert!(none.is_empty() && !none.contains(5));
        assert_eq!(first.len(), 2);
        assert!(first.contains(2) && first.contains(5) && !first.contains(100));
        assert_eq!(current.len(), 1 + RECENT_LIMIT as u64 + 10);
        assert!(current.contains(5) && current.contains(700) && !current.contains(701));
        assert_eq!(current.live_count(), 3000 - current.len());
        // Ranks and selection agree with a plain enumeration of live rows.
        let live: Vec<u32> = (0..3000).filter(|&row| !current.contains(row)).collect();
        for (rank, &row) in live.iter().enumerate() {
            assert_eq!(current.select_live(rank as u64), Some(row), "rank {rank}");
            assert_eq!(current.rank_below(row), u64::from(row) - rank as u64);
        }
        assert_eq!(current.select_live(live.len() as u64), None);
        // Dead rows per block and per range agree with counting them.
        for dead in [&first, &current] {
            for (number, order) in DateKey::ALL.into_iter().zip(&orders) {
                let dead_at = |range: std::ops::Range<usize>| {
                    order.rows_at(range).iter().filter(|&&row| dead.contains(row)).count() as u64
                };
                for block in 0..3 {
                    let range = block * BLOCK..((block + 1) * BLOCK).min(3000);
                    assert_eq!(dead.dead_in_block(number, block), dead_at(range));
                }
                for range in [0..3000, 17..2900, 1000..1100, 1024..2048, 5..6, 2500..2500] {
                    assert_eq!(dead.dead_at(number, range.clone()), dead_at(range.clone()), "{range:?}");
                }
                // The dead positions from a point on, and below it, are those
                // whose rows are dead, in order.
                let dead_positions: Vec<usize> =
                    (0..3000).filter(|&position| dead.contains(order.row_at(position))).collect();
                for point in [0, 1, 700, 1500, 2999, 3000] {
                    let after: Vec<usize> =
                        dead_positions.iter().copied().filter(|&position| position >= point).collect();
                    let before: Vec<usize> =
                        dead_positions.iter().rev().copied().filter(|&position| position < point).collect();
                    assert_eq!(dead.dead_positions_from(number, point).collect::<Vec<_>>(), after);
                    assert_eq!(dead.dead_positions_before(number, point).collect::<Vec<_>>(), before);
                }
            }
        }
        let mut bitmap: RoaringBitmap = (0..10).collect();
        first.remove_from(&mut bitmap);
        assert_eq!(bitmap.iter().collect::<Vec<_>>(), [0, 1, 3, 4, 6, 7, 8, 9]);
        assert_eq!(first.rows().iter().collect::<Vec<_>>(), [2, 5]);
        let all = FacetSelection::default();
        assert_eq!(first.facet_count(&all), 2);
        let cell_one =
            FacetSelection { accepted: [Some(vec![0]), Some(vec![0]), Some(vec![0]), Some(vec![0]), Some(vec![1])] };
        assert_eq!(first.facet_count(&cell_one), 1);
    }

    #[test]
    fn dead_positions_stay_exact_as_young_positions_fold_into_old_ones() {
        let (orders, positions) = orders();
        let mut rows = DeadRows::none(3000);
        // 2,600 deaths: ten freezes, the young lists folded into the old
        // ones about every 600 (the unit tests' YOUNG_LIMIT).
        for (serial, row) in (0..2600u32).map(|serial| (serial, serial * 7 % 3000)).collect::<Vec<_>>() {
            rows = rows.with_row(row, 0, positions(row));
            if serial % 300 != 299 {
                continue;
            }
            for (number, order) in DateKey::ALL.into_iter().zip(&orders) {
                let dead: Vec<usize> = (0..3000).filter(|&position| rows.contains(order.row_at(position))).collect();
                assert_eq!(dead.len() as u64, rows.len());
                for range in [0..3000, 17..2900, 1000..1100, 2999..3000] {
                    let expected = dead.iter().filter(|&&position| range.contains(&position)).count() as u64;
                    assert_eq!(rows.dead_at(number, range.clone()), expected, "after {serial}: {range:?}");
                }
                for point in [0, 1500, 3000] {
                    let after: Vec<usize> = dead.iter().copied().filter(|&position| position >= point).collect();
                    let before: Vec<usize> = dead.iter().rev().copied().filter(|&position| position < point).collect();
                    assert_eq!(rows.dead_positions_from(number, point).collect::<Vec<_>>(), after);
                    assert_eq!(rows.dead_positions_before(number, point).collect::<Vec<_>>(), before);
                }
            }
        }
        assert!(!rows.frozen.old_positions[DateKey::Created].is_empty(), "young positions were folded");
        assert!(rows.frozen.young_positions[DateKey::Created].len() <= YOUNG_LIMIT);
    }

    #[test]
    fn frozen_bitsets_carry_over_to_the_next_freeze() {
        let (_, positions) = orders();
        let mut rows = DeadRows::none(3000);
        let mut dead = std::collections::BTreeSet::new();
        // Three freezes, the bitset asked for between them, so that each
        // freeze after the first copies the one before.
        for row in (0..3 * (RECENT_LIMIT as u32 + 1)).map(|serial| serial * 11 % 3000) {
            rows = rows.with_row(row, 0, positions(row));
            dead.insert(row);
            assert!(rows.contains(row));
            if row % 7 == 0 {
                for probe in (0..3000).step_by(13) {
                    assert_eq!(rows.contains(probe), dead.contains(&probe), "row {probe}");
                }
            }
        }
        assert_eq!(
            (0..3000).filter(|&row| rows.contains(row)).collect::<Vec<_>>(),
            dead.into_iter().collect::<Vec<_>>()
        );
    }
}
