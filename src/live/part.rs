//! A part of a snapshot: one immutable segment and its dead rows.

use std::sync::Arc;

use crate::store::dead_rows::DeadRows;
use crate::store::Segment;

/// One immutable segment and the rows of it that later writes marked dead.
#[derive(Clone, Debug)]
pub struct Part {
    /// The rows.
    pub segment: Arc<Segment>,
    /// Its dead rows as of this snapshot.
    pub dead: Arc<DeadRows>,
}

impl Part {
    /// A part with no dead rows, ready for writes to mark some dead: made
    /// where the segment is (loading, the flusher, the compactor), so that
    /// no writer waits for it.
    pub(super) fn new(segment: Arc<Segment>) -> Part {
        segment.prepare_for_writes();
        let dead = Arc::new(DeadRows::none(segment.row_count()));
        Part { segment, dead }
    }

    /// A new run: [`Part::new`], with the facet cells' ends that queries
    /// test runs by made here too (see [`Segment::cell_ends`]).
    pub(super) fn run(segment: Segment) -> Part {
        segment.cell_ends();
        Part::new(Arc::new(segment))
    }

    /// The live row holding the `_id` with this JSON text and
    /// [`id_hash`](crate::index::ids::id_hash).
    pub(super) fn live_row(&self, id_fragment: &[u8], hash: u64) -> Option<u32> {
        self.segment.row_of_id_to_mark_dead(id_fragment, hash).filter(|&row| !self.dead.contains(row))
    }

    /// Marks `row` dead (it is alive): a new [`DeadRows`] with it, shared
    /// by no earlier snapshot.
    pub(super) fn mark_dead(&mut self, row: u32) {
        let (cell, positions) = (self.segment.facet_cell(row), self.segment.positions_of(row));
        self.dead = Arc::new(self.dead.with_row(row, cell, positions));
    }

    /// The number of live rows.
    pub(super) fn live_count(&self) -> u64 {
        self.dead.live_count()
    }
}
