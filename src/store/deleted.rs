//! Tombstones: the rows of an immutable [`Segment`](super::Segment) that a
//! later write deleted or replaced.
//!
//! A segment never changes, so a live store hides its dead rows instead:
//! every snapshot pairs a segment with a `Deleted`, and the executor
//! subtracts it from the matches, or, for a request without filters, tests
//! each row it walks and counts dead rows by bitmap intersections (never
//! building the set of live rows). Adding a tombstone makes a new `Deleted`
//! (the old one stays valid for the snapshots that hold it) at a cost that
//! does not grow with the segment:
//!
//! ```text
//!  frozen: Arc<RoaringBitmap>   shared by every version, folded rarely
//!  recent: [r7, r90, r4012]     sorted, copied on each write (≤ RECENT_LIMIT)
//!  facets: dead rows per facet cell, so facet counts stay exact
//! ```

use std::sync::Arc;

use roaring::RoaringBitmap;

use crate::index::facets::{FacetCounts, FacetSelection};

/// Most tombstones kept in the copied list before they are folded into a
/// new shared bitmap (one bitmap copy per this many deletions).
const RECENT_LIMIT: usize = 256;

/// The dead rows of one segment, as of one snapshot.
#[derive(Debug)]
pub struct Deleted {
    row_count: u32,
    frozen: Arc<RoaringBitmap>,
    /// Rows not in `frozen`, ascending.
    recent: Vec<u32>,
    /// Dead rows per facet cell.
    facets: FacetCounts,
}

impl Deleted {
    /// No dead rows in a segment of `row_count` rows.
    pub fn none(row_count: u32) -> Deleted {
        Deleted { row_count, frozen: Arc::new(RoaringBitmap::new()), recent: Vec::new(), facets: FacetCounts::empty() }
    }

    /// A new version with `row` (of facet cell `cell`) dead as well.
    pub fn with_row(&self, row: u32, cell: usize) -> Deleted {
        debug_assert!(row < self.row_count && !self.contains(row), "a row dies once");
        let mut facets = self.facets.clone();
        facets.add_to_cell(cell);
        let position = self.recent.partition_point(|&known| known < row);
        if self.recent.len() < RECENT_LIMIT {
            let mut recent = Vec::with_capacity(self.recent.len() + 1);
            recent.extend_from_slice(&self.recent[..position]);
            recent.push(row);
            recent.extend_from_slice(&self.recent[position..]);
            return Deleted { row_count: self.row_count, frozen: self.frozen.clone(), recent, facets };
        }
        let mut frozen = (*self.frozen).clone();
        frozen.extend(self.recent.iter().copied());
        frozen.insert(row);
        Deleted { row_count: self.row_count, frozen: Arc::new(frozen), recent: Vec::new(), facets }
    }

    /// The number of dead rows.
    pub fn len(&self) -> u64 {
        self.frozen.len() + self.recent.len() as u64
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
        self.frozen.contains(row) || self.recent.binary_search(&row).is_ok()
    }

    /// Removes the dead rows from `bitmap`.
    pub fn remove_from(&self, bitmap: &mut RoaringBitmap) {
        *bitmap -= self.frozen.as_ref();
        for &row in &self.recent {
            bitmap.remove(row);
        }
    }

    /// The dead rows, ascending.
    pub fn rows(&self) -> RoaringBitmap {
        let mut rows = (*self.frozen).clone();
        rows.extend(self.recent.iter().copied());
        rows
    }

    /// How many rows of `rows` are dead.
    pub fn count_in(&self, rows: &RoaringBitmap) -> u64 {
        rows.intersection_len(&self.frozen) + self.recent.iter().filter(|&&row| rows.contains(row)).count() as u64
    }

    /// How many dead rows lie at `positions` of a sorted order, whose
    /// values at those positions are exactly those `value_in` accepts (the
    /// positions of a value range).
    pub fn count_at(
        &self,
        order: &crate::index::order::SortedOrder,
        positions: std::ops::Range<usize>,
        value_in: impl Fn(u32) -> bool,
    ) -> u64 {
        // Intersecting every block of a long range costs more than testing
        // each dead row's value when the dead rows are few.
        let frozen = if self.frozen.len() < (positions.len() / 8) as u64 {
            self.frozen.iter().filter(|&row| value_in(row)).count() as u64
        } else {
            order.count_in(&self.frozen, positions)
        };
        frozen + self.recent.iter().filter(|&&row| value_in(row)).count() as u64
    }

    /// How many dead rows are below `row`.
    pub fn rank_below(&self, row: u32) -> u64 {
        let frozen = if row == 0 { 0 } else { self.frozen.rank(row - 1) };
        frozen + self.recent.partition_point(|&dead| dead < row) as u64
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_accumulate_and_old_ones_stay_valid() {
        let none = Deleted::none(1000);
        let mut current = none.with_row(5, 0);
        let first = current.with_row(2, 1);
        // Past the recent limit, rows fold into the shared bitmap.
        for row in 100..100 + RECENT_LIMIT as u32 + 10 {
            current = current.with_row(row, 0);
        }
        assert!(none.is_empty() && !none.contains(5));
        assert_eq!(first.len(), 2);
        assert!(first.contains(2) && first.contains(5) && !first.contains(100));
        assert_eq!(current.len(), 1 + RECENT_LIMIT as u64 + 10);
        assert!(current.contains(5) && current.contains(100) && current.contains(365) && !current.contains(366));
        assert_eq!(current.live_count(), 1000 - current.len());
        // Ranks and selection agree with a plain enumeration of live rows.
        let live: Vec<u32> = (0..1000).filter(|&row| !current.contains(row)).collect();
        for (rank, &row) in live.iter().enumerate() {
            assert_eq!(current.select_live(rank as u64), Some(row), "rank {rank}");
            assert_eq!(current.rank_below(row), u64::from(row) - rank as u64);
        }
        assert_eq!(current.select_live(live.len() as u64), None);
        let block: RoaringBitmap = (90..120).collect();
        assert_eq!(current.count_in(&block), 20);
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
}
