//! How a live store keeps its parts few and small: [`LivePolicy`], its
//! constants, and what it makes due in a snapshot (a flush of a full tail,
//! a merge of runs, a compaction).

use super::{Part, Snapshot};

/// How a live store keeps its parts few and small.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LivePolicy {
    /// Written messages kept unindexed (scanned by every query) before they
    /// are indexed as a run.
    pub tail_limit: usize,
    /// Compact once the changed rows (run rows, tail, dead base rows) pass
    /// this fraction of the base…
    pub compact_fraction: f64,
    /// …and this many rows.
    pub compact_min_rows: u64,
    /// Whether flushes and compactions run on a background thread. When
    /// off, the writer flushes a full tail itself and compaction happens
    /// only on [`LiveEngine::compact`](super::LiveEngine::compact)
    /// (deterministic, for tests).
    pub background: bool,
    /// Pages at least this deep, with at least this many matches outside
    /// the base, are found by rank when the request filters only on a
    /// range of its primary date key (see the live store's page merge); shallower ones merge
    /// windows, which is cheaper there.
    pub rank_merge_depth: u64,
    /// How many runs of about one size are merged at once: each written
    /// row is rebuilt about log_F(changed / tail_limit) times, and up to
    /// F − 1 runs of each size are left for queries to read. 3 by default:
    /// at 1M messages it writes about 40% faster than 2, with reads under
    /// writes as fast (fewer merges compete with them); 4 leaves more runs.
    pub merge_fanout: usize,
    /// Most runs (outside a compaction in flight) left unmerged when their
    /// sizes do not pair (past it, the adjacent `merge_fanout` runs with
    /// the fewest rows are merged); 16 by
    /// default, above the two runs of each size that a steady stream of
    /// writes leaves at 1M messages (seven sizes), so that only uneven
    /// flushes make it merge runs of unlike sizes.
    pub max_runs: usize,
    /// Writes per second above which new runs leave their text index to
    /// be built later, by the first query that needs it or by the flusher
    /// once idle (see [`Segment::text`](crate::store::Segment::text)). 20,000 by default: below it the
    /// flusher builds them at little cost (a tenth of a core at 10,000
    /// writes a second) and no query waits for one; above it the index is
    /// about half of the flusher's work, and most runs of a burst are
    /// merged away before a query needs theirs. 0 always defers,
    /// infinity never does.
    pub defer_text_above: f64,
}

/// Rows by which the largest of runs merged together may exceed twice the
/// smallest (see [`Snapshot::merge_candidate`]).
const MERGE_SLACK_ROWS: u64 = 16;

/// How many times its limit the tail may grow while the background thread
/// catches up, before the writer flushes it itself.
pub const TAIL_BACKLOG: usize = 8;

impl Default for LivePolicy {
    fn default() -> Self {
        LivePolicy {
            tail_limit: 64,
            compact_fraction: 0.25,
            compact_min_rows: 4096,
            background: true,
            rank_merge_depth: 128,
            merge_fanout: 3,
            max_runs: 16,
            defer_text_above: 20_000.0,
        }
    }
}

impl Snapshot {
    /// Whether the tail is due to become a run.
    pub(super) fn tail_is_full(&self, policy: &LivePolicy) -> bool {
        self.tail.len() >= policy.tail_limit.max(1)
    }

    /// Whether the changes are due to be folded into a new base.
    pub(super) fn needs_compaction(&self, policy: &LivePolicy) -> bool {
        let threshold =
            ((self.base.segment.row_count() as f64 * policy.compact_fraction) as u64).max(policy.compact_min_rows);
        self.changed_rows() > threshold
    }

    /// The runs due to merge, none part of a compaction in flight:
    /// * the newest `fanout` adjacent runs of about one size (the largest
    ///   at most twice the smallest and a few rows: flushed tails differ by
    ///   a few rows, and runs of 66, 65 and 64 rows must not pile up, nor
    ///   runs of uneven flushes; a steady stream's levels are `fanout`
    ///   times apart), usually the last ones;
    /// * otherwise, when more than `max_runs` runs are left, the
    ///   `fanout` adjacent runs holding the fewest rows. Flushes of uneven
    ///   sizes (a writer flushing a backlog of hundreds of messages between
    ///   tails of sixty) can leave runs that never pair; this keeps their
    ///   number bounded at the least cost.
    pub(super) fn merge_candidate(&self, fanout: usize, max_runs: usize) -> Option<std::ops::Range<usize>> {
        let fanout = fanout.max(2);
        let length = self.runs.len();
        if length < self.frozen_runs + fanout {
            return None;
        }
        let balanced = |window: &[Part]| {
            let sizes = window.iter().map(Part::live_count);
            let (smallest, largest) = (sizes.clone().min().unwrap_or(0), sizes.max().unwrap_or(0));
            largest <= 2 * smallest + MERGE_SLACK_ROWS
        };
        if let Some(first) = self.runs[self.frozen_runs..].windows(fanout).rposition(balanced) {
            let first = self.frozen_runs + first;
            return Some(first..first + fanout);
        }
        if length - self.frozen_runs <= max_runs {
            return None;
        }
        let first = self.runs[self.frozen_runs..]
            .windows(fanout)
            .enumerate()
            .min_by_key(|(_, window)| window.iter().map(Part::live_count).sum::<u64>())
            .map(|(first, _)| self.frozen_runs + first)?;
        Some(first..first + fanout)
    }
}
