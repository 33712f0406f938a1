//! The live store: the fast engine taking inserts, upserts and deletes
//! while queries run, each query answered from one consistent snapshot.
//!
//! ```text
//!  ArcSwap<State> ──► base  Segment (large, immutable) + DeadRows (rows marked dead)
//!   (readers load,        runs  [Segment + DeadRows, …]   sizes halving, newest last
//!    writers publish)     tail  positions in a shared log of messages
//!                               (≤ tail_limit), unindexed, newest writes
//! ```
//!
//! * A write copies the small snapshot header (part handles, the tail's
//!   positions: see [`Tail`]),
//!   marks the old version of the message dead where it lives (a row added
//!   to a segment's [`DeadRows`](crate::store::dead_rows::DeadRows), or removal from the tail), appends the new
//!   version to the tail, and publishes the copy with one atomic swap.
//!   Readers never wait for writers; a query holds one snapshot throughout.
//! * Restructuring happens off to the side, on background threads (or, by
//!   policy, in the writer). A flusher turns a full tail into an indexed run
//!   (a small [`Segment`]) and merges the newest `merge_fanout` (3)
//!   adjacent runs of about one size, so that there are about
//!   (F − 1) log_F(changed / tail_limit) of them, and never many more
//!   than `max_runs` (16);
//!   once the changes pass a fraction of
//!   the base, a low-priority compactor folds base and runs into a new base.
//!   Each builds from what it read while writes go on, then splices its
//!   result into the current state under the writer lock: a flushed run
//!   marks dead the messages replaced since it was taken, a merged run the
//!   rows marked dead since, and a new base the `_id`s written since the
//!   compaction froze the runs it folds. A writer never waits for an index
//!   build, unless the tail outgrows [`TAIL_BACKLOG`] times its limit: then
//!   the writer flushes it itself, while the flusher goes on merging (the
//!   two share the work, on both processors, instead of the writer idling
//!   until the flusher has caught up).
//! * A list request asks every part for the window of its matches that can
//!   reach the page and merges them, or finds a deep page by rank
//!   ([`merge`]); with no writes it is the fast engine's own path.
//!
//! The files, one concept each:
//!
//! ```text
//!  mod.rs          LiveEngine: its handles' shared state, Engine and Writable
//!  policy.rs       LivePolicy: when a flush, a merge of runs, a compaction is due
//!  persistence.rs  on a data directory: open and replay, log each batch, checkpoint
//!  snapshot.rs     State (base, runs, tail), LiveStats
//!  part.rs         Part: a segment and its dead rows
//!  location.rs     where an `_id`'s live version is (tail, a run, the base)
//!  writer.rs       a batch applied and published; the `_id`s written
//!  maintenance.rs  the flusher and the compactor: flush, merge runs, compact
//!  tail.rs         the tail's messages and date orders
//!  tail_filter.rs  a list request's filters tested on tail messages
//!  merge/          one page from the parts of a snapshot (see its files)
//! ```

mod location;
mod maintenance;
pub mod merge;
mod part;
mod persistence;
mod policy;
mod snapshot;
mod tail;
mod tail_filter;
mod writer;

pub use part::Part;
pub use policy::{LivePolicy, TAIL_BACKLOG};
pub use snapshot::{LiveStats, Snapshot, State};
pub use tail::{Tail, TailMessage};
pub use tail_filter::TailFilter;

use location::Location;
use maintenance::{lower_this_threads_priority, FLUSHER_NICE};
use writer::{Checking, WriterState, WrittenIds};

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use arc_swap::ArcSwap;

use crate::engine::Engine;
use crate::fast::FastEngine;
use crate::load::LoadError;
use crate::model::Message;
use crate::request::{ListQuery, QueryLimits};
use crate::store::{BuildError, Segment};
use crate::write::{Applied, Writable, Write, WriteError};

/// What the engine handles share.
#[derive(Debug)]
struct Shared {
    /// The current state: queries load it, every change publishes the next
    /// one here (under `writer`).
    current: ArcSwap<State>,
    /// Serialises writers and every publication of a new snapshot.
    writer: Mutex<WriterState>,
    /// Serialises tail flushes.
    flushing: Mutex<()>,
    /// Serialises run merges. A flush may run beside a merge: it only
    /// appends a run, and a merge publishes by finding its runs where they
    /// are then.
    merging: Mutex<()>,
    /// Serialises compactions.
    compacting: Mutex<()>,
    /// Whether the background flusher is running.
    flusher_running: AtomicBool,
    /// Whether the background compactor is running.
    compactor_running: AtomicBool,
    /// Live [`CompactionHold`]s: background compactions wait while any is.
    compaction_holds: AtomicUsize,
    /// Compactions finished (see [`LiveStats::compactions`]).
    compactions: AtomicU64,
    /// When the last flush took the tail.
    last_flush: Mutex<Option<std::time::Instant>>,
    /// Whether the tail filled faster than
    /// [`LivePolicy::defer_text_above`] before the last flush.
    bursting: AtomicBool,
    policy: LivePolicy,
    /// One thread for flushes and merges, at a lower priority
    /// ([`FLUSHER_NICE`]). Builds run inside it, so that a
    /// small build's parallel steps run inline instead of waking the
    /// global pool's threads (a round trip that cost more than building a
    /// 64-row run).
    maintenance: Option<rayon::ThreadPool>,
    /// One thread for the flushes a writer makes itself when the tail
    /// outgrows its backlog: the writer waits for it, so the flush runs on
    /// the writer's share of the processors while the maintenance thread
    /// goes on merging.
    backlog: Option<rayon::ThreadPool>,
    /// The data directory, its log and its lock, for a durable store (set
    /// once, after the log is replayed).
    durable: std::sync::OnceLock<persistence::Durable>,
}

/// The fast engine with live writes: [`Engine`] for queries, [`Writable`]
/// for inserts, upserts and deletes. Cheap to clone (handles share one
/// store) and `Send + Sync`.
#[derive(Clone, Debug)]
pub struct LiveEngine {
    shared: Arc<Shared>,
    limits: QueryLimits,
}

/// Locks `mutex`, even if a thread panicked while holding it.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl LiveEngine {
    /// A live store over these messages; fails on an empty or repeated `_id`.
    pub fn new(messages: &[Message]) -> Result<LiveEngine, BuildError> {
        Ok(LiveEngine::from_segment(Segment::from_messages(messages)?))
    }

    /// A live store starting from a built segment.
    pub fn from_segment(segment: Segment) -> LiveEngine {
        LiveEngine::with_policy(Arc::new(segment), LivePolicy::default())
    }

    /// A live store whose base is a fast engine's segment (shared, not
    /// copied: the fast engine goes on answering from it unchanged).
    pub fn from_fast(engine: &FastEngine) -> LiveEngine {
        LiveEngine::with_policy(engine.shared_segment(), LivePolicy::default()).with_limits(engine.limits())
    }

    /// A live store with its own part sizes and compaction rule.
    pub fn with_policy(segment: Arc<Segment>, policy: LivePolicy) -> LiveEngine {
        let shared = Shared {
            current: ArcSwap::from_pointee(State::of(segment)),
            writer: Mutex::new(WriterState::default()),
            flushing: Mutex::new(()),
            merging: Mutex::new(()),
            compacting: Mutex::new(()),
            flusher_running: AtomicBool::new(false),
            compactor_running: AtomicBool::new(false),
            compaction_holds: AtomicUsize::new(0),
            compactions: AtomicU64::new(0),
            last_flush: Mutex::new(None),
            bursting: AtomicBool::new(policy.defer_text_above <= 0.0),
            policy,
            maintenance: rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .thread_name(|_| "msgdex-flusher".into())
                .start_handler(|_| lower_this_threads_priority(FLUSHER_NICE))
                .build()
                .ok(),
            backlog: rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .thread_name(|_| "msgdex-backlog".into())
                .build()
                .ok(),
            durable: std::sync::OnceLock::new(),
        };
        LiveEngine { shared: Arc::new(shared), limits: QueryLimits::default() }
    }

    /// Loads a JSON array or JSON Lines file as a live store.
    pub fn load_path(path: impl AsRef<Path>) -> Result<LiveEngine, LoadError> {
        Ok(LiveEngine::from_fast(&FastEngine::load_path(path)?))
    }

    /// The same store with other validation limits.
    pub fn with_limits(mut self, limits: QueryLimits) -> LiveEngine {
        self.limits = limits;
        self
    }

    /// The current state, held: queries on it see no later write.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot::new(self.shared.current.load_full(), self.limits, self.shared.policy.rank_merge_depth)
    }

    /// The shape of the current state.
    pub fn stats(&self) -> LiveStats {
        let snapshot = self.shared.current.load();
        LiveStats {
            version: snapshot.version,
            messages: snapshot.count,
            base_rows: u64::from(snapshot.base.segment.row_count()),
            base_dead: snapshot.base.dead.len(),
            run_rows: snapshot.runs.iter().map(|run| u64::from(run.segment.row_count())).collect(),
            runs_without_text_index: snapshot.runs.iter().filter(|run| run.segment.built_text().is_none()).count(),
            tail: snapshot.tail.len() as u64,
            compactions: self.shared.compactions.load(Ordering::Relaxed),
        }
    }

    /// Folds every change into a new base now, on this thread: the tail
    /// becomes a run, then base and runs become one segment. Writes made
    /// meanwhile are kept (in the tail and in later runs).
    pub fn compact(&self) -> Result<(), BuildError> {
        self.compact_racing(|| {})
    }

    /// [`LiveEngine::compact`], running `during` once the compaction has
    /// taken its snapshot and before it publishes the new base: the writes
    /// `during` makes race the compaction, deterministically (for tests).
    #[doc(hidden)]
    pub fn compact_racing(&self, mut during: impl FnMut()) -> Result<(), BuildError> {
        self.shared.flush_and_merge_now()?;
        self.shared.compact(&mut during)
    }

    /// [`LiveEngine::compact_racing`] without the flush first, as the
    /// background compactor folds: the tail stays the tail (for tests).
    #[doc(hidden)]
    pub fn compact_leaving_tail_racing(&self, mut during: impl FnMut()) -> Result<(), BuildError> {
        self.shared.compact(&mut during)
    }

    /// Merges the last `count` runs now, due or not, running `during` once
    /// the merged run is built and before it is published: the writes
    /// `during` makes race the merge, deterministically (for tests, with
    /// background work off; `during` must not fill the tail). Returns
    /// whether it merged.
    #[doc(hidden)]
    pub fn merge_last_runs_racing(&self, count: usize, mut during: impl FnMut()) -> Result<bool, BuildError> {
        let snapshot = self.shared.current.load_full();
        match snapshot.runs.len().checked_sub(count) {
            Some(first) if count >= 2 && first >= snapshot.frozen_runs => {
                self.shared.merge_runs(&snapshot, first..snapshot.runs.len(), &mut during)
            }
            _ => Ok(false),
        }
    }

    /// Waits until no background flush or compaction is running.
    pub fn wait_for_compaction(&self) {
        self.wait_for_compaction_for(std::time::Duration::MAX);
    }

    /// [`LiveEngine::wait_for_compaction`] for at most `limit` (a server
    /// shutting down gives a checkpoint in flight its shutdown timeout):
    /// whether the background work finished.
    pub fn wait_for_compaction_for(&self, limit: std::time::Duration) -> bool {
        let started = std::time::Instant::now();
        while self.background_work_running() {
            if started.elapsed() >= limit {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        true
    }

    /// Whether a background flush or compaction is running.
    fn background_work_running(&self) -> bool {
        self.shared.flusher_running.load(Ordering::Acquire) || self.shared.compactor_running.load(Ordering::Acquire)
    }
}

impl Engine for LiveEngine {
    fn message_count(&self) -> u64 {
        self.shared.current.load().count
    }

    fn limits(&self) -> QueryLimits {
        self.limits
    }

    fn list_into(&self, query: &ListQuery, out: &mut Vec<u8>) {
        merge::PageMerge::new(&self.shared.current.load(), query, self.shared.policy.rank_merge_depth).write(out);
    }

    fn retrieve_into(&self, id: &str, out: &mut Vec<u8>) -> bool {
        self.shared.current.load().retrieve_into(id, out)
    }
}

impl LiveEngine {
    /// Applies a batch, all or nothing, and records `position`, where the
    /// store now is in the source the batch came from (an upstream
    /// account's changes, a stream's sequence), in the same log record:
    /// after a crash the store holds both or neither, so a follower
    /// resumes from [`Snapshot::source_position`] and applies each pull
    /// exactly once. The batch may be empty, to move the position alone.
    pub fn apply_at(&self, batch: Vec<Write>, position: &str) -> Result<Vec<Applied>, WriteError> {
        let (outcomes, published) = self.apply_logged(batch, Some(position), Checking::Checked)?;
        let _ = self.shared.maintain(&published);
        Ok(outcomes)
    }

    /// [`LiveEngine::apply_at`] without the checks, as a record read back
    /// from the log is applied: an insert over a message the store holds
    /// replaces it, a delete of an absent `_id` removes nothing. For a
    /// change stream, whose records every replica must apply alike,
    /// whatever raced at the producers.
    pub fn apply_idempotent_at(&self, batch: Vec<Write>, position: &str) -> Result<(), WriteError> {
        let (_, published) = self.apply_logged(batch, Some(position), Checking::AsItStands)?;
        let _ = self.shared.maintain(&published);
        Ok(())
    }
}

/// Holds a live store's background compactions (and so, on a data
/// directory, its checkpoints) while it lives; see
/// [`LiveEngine::hold_compactions`].
#[must_use = "compactions resume when the hold is dropped"]
pub struct CompactionHold<'a> {
    engine: &'a LiveEngine,
}

impl Drop for CompactionHold<'_> {
    fn drop(&mut self) {
        self.engine.shared.compaction_holds.fetch_sub(1, Ordering::AcqRel);
        // A compaction that came due while held starts now.
        let _ = self.engine.shared.maintain(&self.engine.shared.current.load());
    }
}

impl LiveEngine {
    /// Holds background compactions until the returned guard drops: for a
    /// bulk load into a store small beside what it loads (a replica's first
    /// copy), where each compaction would rebuild the growing base again.
    /// Flushes and merges of runs go on; one compaction follows the hold,
    /// if due.
    pub fn hold_compactions(&self) -> CompactionHold<'_> {
        self.shared.compaction_holds.fetch_add(1, Ordering::AcqRel);
        CompactionHold { engine: self }
    }
}

impl Writable for LiveEngine {
    fn apply(&self, batch: Vec<Write>) -> Result<Vec<Applied>, WriteError> {
        let (outcomes, published) = self.apply_logged(batch, None, Checking::Checked)?;
        // The batch is in; a failed flush only leaves the tail longer.
        let _ = self.shared.maintain(&published);
        Ok(outcomes)
    }
}
