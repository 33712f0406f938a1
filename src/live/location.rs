//! Where the live version of a message is: the lookups of an `_id` in a
//! snapshot's tail, runs and base.

use super::{Part, State};
use crate::index::ids::id_hash;

/// Where the live version of a message is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Location {
    /// A row of the base.
    Base(u32),
    /// A row of the run at this index (oldest first).
    Run(usize, u32),
    /// The message at this index of the tail (in `_id` order).
    Tail(usize),
}

impl State {
    /// Whether a message with `_id` `id` is live here (found, not
    /// rendered).
    pub fn contains(&self, id: &str) -> bool {
        self.locate(id).is_some()
    }

    /// Where the live version of `id` is, if anywhere.
    pub(super) fn locate(&self, id: &str) -> Option<Location> {
        let fragment = crate::json::quoted(id);
        self.locate_filed(id, fragment.as_bytes(), id_hash(fragment.as_bytes()), true)
    }

    /// [`State::locate`] for an `_id` whose JSON text (`fragment`) and
    /// its [`id_hash`] are known, looking in the tail and the runs only if
    /// `maybe_written` (the writer knows which `_id`s were written since the
    /// base was built, the only ones they can hold: see [`WrittenIds`](super::WrittenIds)).
    pub(super) fn locate_filed(&self, id: &str, fragment: &[u8], hash: u64, maybe_written: bool) -> Option<Location> {
        if maybe_written {
            if let Some(index) = self.tail_index(id) {
                return Some(Location::Tail(index));
            }
        }
        let runs: &[Part] = if maybe_written { &self.runs } else { &[] };
        // Every part's first slot loads at once.
        for part in runs.iter().chain([&self.base]) {
            part.segment.prefetch_id(hash);
        }
        for (index, run) in runs.iter().enumerate().rev() {
            if let Some(row) = run.live_row(fragment, hash) {
                return Some(Location::Run(index, row));
            }
        }
        self.base.live_row(fragment, hash).map(Location::Base)
    }

    /// The position of `id` in the tail.
    fn tail_index(&self, id: &str) -> Option<usize> {
        self.tail.search(id).ok()
    }

    /// Where the live version of `id` is, given `hint`: where it was before
    /// the writes of the current batch (found once, while the batch was
    /// checked). A run or base row there that is still alive is it. If it
    /// died since, a write of this batch marked it dead and put the `_id`
    /// in the tail or deleted it; if it was nowhere or in the tail, it can
    /// only be in the tail now (runs and the base gain no rows during a
    /// batch).
    pub(super) fn locate_from(&self, id: &str, hint: Option<Location>) -> Option<Location> {
        match hint {
            Some(Location::Run(index, row)) if !self.runs[index].dead.contains(row) => hint,
            Some(Location::Base(row)) if !self.base.dead.contains(row) => hint,
            _ => self.tail_index(id).map(Location::Tail),
        }
    }
}
