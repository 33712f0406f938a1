//! How a live store keeps its parts few and small: [`LivePolicy`], its
//! constants, and what it makes due in a snapshot (a flush of a full tail,
//! a merge of runs, a compaction).

use std::ops::Range;

use super::{Part, State};
use crate::store::ContentStorage;

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
    /// it writes faster than 2, with reads under writes as fast (fewer
    /// merges compete with them); 4 leaves more runs (docs/PERFORMANCE.md
    /// has the measurement).
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
    /// How compactions store `content` in the bases they build; `None`
    /// (the default) keeps the current base's way. Set to another way than
    /// the base's, it makes a compaction due at once, writes or not.
    pub content: Option<ContentStorage>,
}

/// Rows by which the largest of runs merged together may exceed twice the
/// smallest (see [`State::merge_candidate`]).
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
            content: None,
        }
    }
}

impl State {
    /// Whether the tail is due to become a run.
    pub(super) fn tail_is_full(&self, policy: &LivePolicy) -> bool {
        self.tail.len() >= policy.tail_limit.max(1)
    }

    /// Whether the changes are due to be folded into a new base.
    pub(super) fn needs_compaction(&self, policy: &LivePolicy) -> bool {
        let threshold =
            ((self.base.segment.row_count() as f64 * policy.compact_fraction) as u64).max(policy.compact_min_rows);
        self.changed_rows() > threshold || self.changes_the_base(policy)
    }

    /// Whether the base is due to be written anew, writes or not, by the
    /// next compaction, due at once: the policy asks for `content` kept
    /// another way than the base keeps it, or the base was read from a
    /// file of an earlier format (which this build reads, deriving what
    /// that format lacks at every opening until then).
    pub(super) fn changes_the_base(&self, policy: &LivePolicy) -> bool {
        policy.content.is_some_and(|content| content != self.base.segment.content_storage())
            || self.base.segment.is_of_an_older_format()
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
    pub(super) fn merge_candidate(&self, fanout: usize, max_runs: usize) -> Option<Range<usize>> {
        runs_due_to_merge(&self.runs, Part::live_count, self.frozen_runs, fanout, max_runs)
    }
}

/// [`State::merge_candidate`] over `runs` (oldest first) whose sizes
/// `live_count` gives, the first `frozen_runs` left alone.
fn runs_due_to_merge<R>(
    runs: &[R],
    live_count: impl Fn(&R) -> u64 + Copy,
    frozen_runs: usize,
    fanout: usize,
    max_runs: usize,
) -> Option<Range<usize>> {
    let fanout = fanout.max(2);
    let length = runs.len();
    if length < frozen_runs + fanout {
        return None;
    }
    let balanced = |window: &[R]| {
        let sizes = window.iter().map(live_count);
        let (smallest, largest) = (sizes.clone().min().unwrap_or(0), sizes.max().unwrap_or(0));
        largest <= 2 * smallest + MERGE_SLACK_ROWS
    };
    if let Some(first) = runs[frozen_runs..].windows(fanout).rposition(balanced) {
        let first = frozen_runs + first;
        return Some(first..first + fanout);
    }
    if length - frozen_runs <= max_runs {
        return None;
    }
    let first = runs[frozen_runs..]
        .windows(fanout)
        .enumerate()
        .min_by_key(|(_, window)| window.iter().map(live_count).sum::<u64>())
        .map(|(first, _)| frozen_runs + first)?;
    Some(first..first + fanout)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use proptest::prelude::*;

    use super::*;
    use crate::model::Message;
    use crate::store::Segment;

    /// [`runs_due_to_merge`] over runs of these sizes.
    fn due(sizes: &[u64], frozen: usize, fanout: usize, max_runs: usize) -> Option<Range<usize>> {
        runs_due_to_merge(sizes, |&size| size, frozen, fanout, max_runs)
    }

    #[test]
    fn the_newest_balanced_runs_merge() {
        assert_eq!(due(&[], 0, 3, 16), None);
        assert_eq!(due(&[64, 64], 0, 3, 16), None, "fewer runs than the fanout");
        assert_eq!(due(&[66, 65, 64], 0, 3, 16), Some(0..3), "flushed tails differ by a few rows");
        assert_eq!(due(&[200, 64, 64, 64], 0, 3, 16), Some(1..4));
        assert_eq!(due(&[64, 64, 64, 600, 70, 64], 0, 3, 16), Some(0..3), "the newest balanced window");
        assert_eq!(due(&[64, 64, 64, 70, 64, 64], 0, 3, 16), Some(3..6));
        // The largest may exceed twice the smallest by `MERGE_SLACK_ROWS`.
        assert_eq!(due(&[10, 36], 0, 2, 16), Some(0..2));
        assert_eq!(due(&[10, 37], 0, 2, 16), None);
        assert_eq!(due(&[0, 16], 0, 2, 16), Some(0..2), "runs left empty by deaths");
        // A fanout below 2 merges pairs.
        assert_eq!(due(&[5, 5], 0, 1, 16), Some(0..2));
        assert_eq!(due(&[5, 5], 0, 0, 16), Some(0..2));
    }

    #[test]
    fn frozen_runs_are_left_to_the_compaction() {
        assert_eq!(due(&[64, 64, 64], 1, 3, 16), None);
        assert_eq!(due(&[64, 64, 64, 64], 1, 3, 16), Some(1..4));
        assert_eq!(due(&[64, 64, 64, 1000, 64], 2, 3, 16), None);
        // Past `max_runs` of unfrozen runs only.
        let uneven = [1000, 10, 300, 10, 300, 10];
        assert_eq!(due(&uneven, 0, 3, 5), Some(1..4));
        assert_eq!(due(&uneven, 1, 3, 5), None, "five runs left");
        assert_eq!(due(&uneven, 3, 3, 2), Some(3..6));
    }

    #[test]
    fn past_max_runs_the_lightest_adjacent_runs_merge() {
        let uneven = [400, 20, 160, 20, 600, 30, 150, 50];
        assert_eq!(due(&uneven, 0, 2, 8), None, "no more than `max_runs`");
        assert_eq!(due(&uneven, 0, 2, 7), Some(1..3), "180 rows, the oldest lightest pair");
        assert_eq!(due(&uneven, 0, 3, 7), Some(1..4), "200 rows, the lightest three");
        assert_eq!(due(&[400, 20, 160, 20, 600, 30, 150, 10], 0, 2, 7), Some(6..8), "160 rows");
        // The oldest of equally light windows.
        assert_eq!(due(&[100, 5, 100, 5, 100], 0, 2, 4), Some(0..2));
    }

    #[test]
    fn a_snapshot_weighs_its_runs_by_live_rows() {
        let run = |first: usize, rows: usize| {
            let messages: Vec<Message> =
                (first..first + rows).map(|number| Message::with_id(format!("m{number:04}"))).collect();
            Part::run(Segment::from_messages(&messages).unwrap())
        };
        let base = Segment::from_messages(&[Message::with_id("base")]).unwrap();
        let mut snapshot = State::of(Arc::new(base));
        snapshot.runs = Arc::new(vec![run(0, 40), run(100, 40), run(200, 40)]);
        assert_eq!(snapshot.merge_candidate(3, 16), Some(0..3));
        // 35 of the middle run's rows die: 40 > 2 × 5 + 16.
        let middle = &mut Arc::make_mut(&mut snapshot.runs)[1];
        for row in 0..35 {
            middle.mark_dead(row);
        }
        assert_eq!(snapshot.merge_candidate(3, 16), None);
        assert_eq!(snapshot.merge_candidate(3, 2), Some(0..3), "past `max_runs`");
        snapshot.frozen_runs = 1;
        assert_eq!(snapshot.merge_candidate(2, 16), None, "40 and 5 are unlike");
    }

    /// The runs due to merge, found by trying every window.
    fn naive(sizes: &[u64], frozen: usize, fanout: usize, max_runs: usize) -> Option<Range<usize>> {
        let fanout = fanout.max(2);
        let windows: Vec<Range<usize>> = (frozen..sizes.len())
            .filter(|first| first + fanout <= sizes.len())
            .map(|first| first..first + fanout)
            .collect();
        let balanced = |window: &Range<usize>| {
            let sizes = &sizes[window.clone()];
            let (smallest, largest) = (*sizes.iter().min().unwrap(), *sizes.iter().max().unwrap());
            largest <= 2 * smallest + MERGE_SLACK_ROWS
        };
        if let Some(newest) = windows.iter().rev().find(|window| balanced(window)) {
            return Some(newest.clone());
        }
        if sizes.len().saturating_sub(frozen) <= max_runs {
            return None;
        }
        let weight = |window: &Range<usize>| sizes[window.clone()].iter().sum::<u64>();
        let lightest = windows.iter().map(weight).min()?;
        windows.into_iter().find(|window| weight(window) == lightest)
    }

    proptest! {
        /// Any runs, any policy: the window trying every one gives.
        #[test]
        fn agrees_with_trying_every_window(
            sizes in proptest::collection::vec(prop_oneof![0u64..80, 0u64..2000], 0..24),
            frozen in 0usize..6,
            fanout in 0usize..6,
            max_runs in 0usize..20,
        ) {
            let frozen = frozen.min(sizes.len());
            let found = due(&sizes, frozen, fanout, max_runs);
            prop_assert_eq!(found.clone(), naive(&sizes, frozen, fanout, max_runs));
            if let Some(runs) = found {
                prop_assert!(runs.start >= frozen && runs.len() == fanout.max(2) && runs.end <= sizes.len());
            }
        }
    }
}
