//! The live store: the fast engine taking inserts, upserts and deletes
//! while queries run, each query answered from one consistent snapshot.
//!
//! ```text
//!  ArcSwap<Snapshot> ──► base  Segment (large, immutable) + Deleted (tombstones)
//!   (readers load,        runs  [Segment + Deleted, …]   sizes halving, newest last
//!    writers publish)     tail  [Arc<Message>; ≤ tail_limit]   unindexed, newest writes
//! ```
//!
//! * A write copies the small snapshot header (part handles, the tail),
//!   marks the old version of the message dead where it lives (a tombstone
//!   in a segment's [`Deleted`], or removal from the tail), appends the new
//!   version to the tail, and publishes the copy with one atomic swap.
//!   Readers never wait for writers; a query holds one snapshot throughout.
//! * Restructuring happens off to the side, on a background thread (or, by
//!   policy, in the writer): a full tail becomes an indexed run (a small
//!   [`Segment`]) and runs merge pairwise while the older is no larger than
//!   the newer, so there are at most about log2(changed / tail_limit) of
//!   them; once the changes pass a fraction of the base, compaction folds
//!   runs, tail and tombstones into a new base. Each restructuring works
//!   from a snapshot while writes go on; they are logged and replayed onto
//!   the rebuilt state before it is published, so a writer never waits for
//!   an index build (unless the tail outgrows [`TAIL_BACKLOG`] times its
//!   limit: then the writer flushes it itself).
//! * A list request asks every part for the window of its matches that can
//!   reach the page and merges them ([`merge`]); with no writes it is the
//!   fast engine's own path.

pub mod merge;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use arc_swap::ArcSwap;

use crate::engine::Engine;
use crate::fast::FastEngine;
use crate::load::LoadError;
use crate::model::{Field, Message};
use crate::request::{ListQuery, QueryLimits};
use crate::store::deleted::Deleted;
use crate::store::{BuildError, Segment, SegmentBuilder};
use crate::write::{check_batch, Applied, Writable, Write, WriteError, WriteProblem};

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
    /// only on [`LiveEngine::compact`] (deterministic, for tests).
    pub background: bool,
}

/// How many times its limit the tail may grow while the background thread
/// catches up, before the writer flushes it itself.
pub const TAIL_BACKLOG: usize = 16;

impl Default for LivePolicy {
    fn default() -> Self {
        LivePolicy { tail_limit: 64, compact_fraction: 1.0 / 16.0, compact_min_rows: 4096, background: true }
    }
}

/// One immutable segment and the rows of it that later writes killed.
#[derive(Clone, Debug)]
pub struct Part {
    /// The rows.
    pub segment: Arc<Segment>,
    /// Its dead rows as of this snapshot.
    pub deleted: Arc<Deleted>,
}

impl Part {
    fn new(segment: Arc<Segment>) -> Part {
        let deleted = Arc::new(Deleted::none(segment.row_count()));
        Part { segment, deleted }
    }

    /// The live row holding this `_id`.
    fn live_row(&self, id: &str) -> Option<u32> {
        self.segment.row_of_id(id).filter(|&row| !self.deleted.contains(row))
    }

    fn kill(&mut self, row: u32) {
        self.deleted = Arc::new(self.deleted.with_row(row, self.segment.facet_cell(row)));
    }

    fn live_count(&self) -> u64 {
        self.deleted.live_count()
    }
}

/// Where the live version of a message is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Location {
    Base(u32),
    Run(usize, u32),
    Tail(usize),
}

/// One consistent state of a live store: what a query reads.
#[derive(Clone, Debug)]
pub struct Snapshot {
    base: Part,
    runs: Vec<Part>,
    tail: Vec<Arc<Message>>,
    count: u64,
    version: u64,
}

impl Snapshot {
    fn of(segment: Arc<Segment>, version: u64) -> Snapshot {
        let count = u64::from(segment.row_count());
        Snapshot { base: Part::new(segment), runs: Vec::new(), tail: Vec::new(), count, version }
    }

    /// The number of live messages.
    pub fn message_count(&self) -> u64 {
        self.count
    }

    /// How many writes and compactions made this state (0 when loaded).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The large immutable part.
    pub fn base(&self) -> &Part {
        &self.base
    }

    /// The indexed runs of recent writes, oldest first.
    pub fn runs(&self) -> &[Part] {
        &self.runs
    }

    /// The newest writes, not yet indexed.
    pub fn tail(&self) -> &[Arc<Message>] {
        &self.tail
    }

    /// Whether the store is exactly its base, untouched by writes.
    pub fn is_base_only(&self) -> bool {
        self.runs.is_empty() && self.tail.is_empty() && self.base.deleted.is_empty()
    }

    /// Rows that compaction would fold: run rows, the tail, dead base rows.
    pub fn changed_rows(&self) -> u64 {
        self.runs.iter().map(|run| u64::from(run.segment.row_count())).sum::<u64>()
            + self.tail.len() as u64
            + self.base.deleted.len()
    }

    fn locate(&self, id: &str) -> Option<Location> {
        if let Some(index) = self.tail.iter().position(|message| message.id == id) {
            return Some(Location::Tail(index));
        }
        for (index, run) in self.runs.iter().enumerate().rev() {
            if let Some(row) = run.live_row(id) {
                return Some(Location::Run(index, row));
            }
        }
        self.base.live_row(id).map(Location::Base)
    }

    /// Appends the full message with this `_id`; `false` if there is none.
    fn retrieve_into(&self, id: &str, out: &mut Vec<u8>) -> bool {
        match self.locate(id) {
            Some(Location::Tail(index)) => self.tail[index].write_json(out, &Field::ALL),
            Some(Location::Run(index, row)) => self.runs[index].segment.write_row(row, &Field::ALL, out),
            Some(Location::Base(row)) => self.base.segment.write_row(row, &Field::ALL, out),
            None => return false,
        }
        true
    }

    /// Kills the live version of `id`, if any; returns whether there was one.
    fn remove(&mut self, id: &str) -> bool {
        match self.locate(id) {
            Some(Location::Tail(index)) => {
                self.tail.remove(index);
            }
            Some(Location::Run(index, row)) => self.runs[index].kill(row),
            Some(Location::Base(row)) => self.base.kill(row),
            None => return false,
        }
        self.count -= 1;
        true
    }

    /// Applies a write already checked by [`check_batch`].
    fn apply_checked(&mut self, write: Write) {
        match write {
            Write::Insert(message) | Write::Upsert(message) => {
                self.remove(&message.id);
                self.tail.push(Arc::new(message));
                self.count += 1;
            }
            Write::Delete(id) => {
                self.remove(&id);
            }
        }
    }

    /// The restructuring this state needs under `policy`, if any.
    fn needed_work(&self, policy: &LivePolicy) -> Option<Work> {
        let threshold =
            ((self.base.segment.row_count() as f64 * policy.compact_fraction) as u64).max(policy.compact_min_rows);
        if policy.background && self.changed_rows() > threshold {
            Some(Work::Compact)
        } else if self.tail.len() >= policy.tail_limit.max(1) {
            Some(Work::FlushTail)
        } else {
            None
        }
    }

    /// Indexes the tail as a new run, then merges runs while the older of
    /// the last two is no larger than the newer.
    fn flush_tail(&mut self) -> Result<(), BuildError> {
        if self.tail.is_empty() {
            return Ok(());
        }
        let mut builder = SegmentBuilder::new();
        builder.push_checked_batch(&self.tail)?;
        self.runs.push(Part::new(Arc::new(builder.finish())));
        self.tail.clear();
        while let [.., older, newer] = self.runs.as_slice() {
            if older.live_count() > newer.live_count() {
                break;
            }
            let mut builder = SegmentBuilder::new();
            builder.push_live_rows(&older.segment, Some(&older.deleted))?;
            builder.push_live_rows(&newer.segment, Some(&newer.deleted))?;
            let merged = Part::new(Arc::new(builder.finish()));
            self.runs.truncate(self.runs.len() - 2);
            self.runs.push(merged);
        }
        Ok(())
    }

    /// Every live message folded into one new segment.
    fn compacted(&self) -> Result<Segment, BuildError> {
        let mut builder = SegmentBuilder::new();
        builder.push_live_rows(&self.base.segment, Some(&self.base.deleted))?;
        for run in &self.runs {
            builder.push_live_rows(&run.segment, Some(&run.deleted))?;
        }
        builder.push_checked_batch(&self.tail)?;
        Ok(builder.finish())
    }
}

/// A summary of a live store's shape, for benchmarks and tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveStats {
    /// The snapshot's version.
    pub version: u64,
    /// Live messages.
    pub messages: u64,
    /// Rows of the base segment, dead ones included.
    pub base_rows: u64,
    /// Dead rows of the base.
    pub base_dead: u64,
    /// Rows of each run, oldest first.
    pub run_rows: Vec<u64>,
    /// Messages in the tail.
    pub tail: u64,
    /// Compactions finished since the store was made.
    pub compactions: u64,
}

/// What the engine handles share.
#[derive(Debug)]
struct Shared {
    current: ArcSwap<Snapshot>,
    /// Serialises writers; holds the log of writes made while a
    /// restructuring runs.
    writer: Mutex<WriterState>,
    /// Serialises restructurings (flushes and compactions).
    maintenance: Mutex<()>,
    /// Whether the background thread is running.
    maintaining: AtomicBool,
    compactions: AtomicU64,
    policy: LivePolicy,
}

#[derive(Debug, Default)]
struct WriterState {
    log: Option<Vec<Write>>,
}

/// The fast engine with live writes: [`Engine`] for queries, [`Writable`]
/// for inserts, upserts and deletes. Cheap to clone (handles share one
/// store) and `Send + Sync`.
#[derive(Clone, Debug)]
pub struct LiveEngine {
    shared: Arc<Shared>,
    limits: QueryLimits,
}

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
            current: ArcSwap::from_pointee(Snapshot::of(segment, 0)),
            writer: Mutex::new(WriterState::default()),
            maintenance: Mutex::new(()),
            maintaining: AtomicBool::new(false),
            compactions: AtomicU64::new(0),
            policy,
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

    /// The current state; queries on it see no later write.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.shared.current.load_full()
    }

    /// The shape of the current state.
    pub fn stats(&self) -> LiveStats {
        let snapshot = self.shared.current.load();
        LiveStats {
            version: snapshot.version,
            messages: snapshot.count,
            base_rows: u64::from(snapshot.base.segment.row_count()),
            base_dead: snapshot.base.deleted.len(),
            run_rows: snapshot.runs.iter().map(|run| u64::from(run.segment.row_count())).collect(),
            tail: snapshot.tail.len() as u64,
            compactions: self.shared.compactions.load(Ordering::Relaxed),
        }
    }

    /// Folds every change into a new base now, on this thread (after any
    /// restructuring that is running). Writes made meanwhile are kept.
    pub fn compact(&self) -> Result<(), BuildError> {
        restructure(&self.shared, Work::Compact)
    }

    /// Waits until no background restructuring is running and none is due.
    pub fn wait_for_compaction(&self) {
        while self.shared.maintaining.load(Ordering::Acquire) {
            drop(lock(&self.shared.maintenance));
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    /// Starts (or, without a background thread, does) what `snapshot` needs.
    fn maintain(&self, snapshot: &Snapshot) -> Result<(), BuildError> {
        let policy = &self.shared.policy;
        if !policy.background {
            return match snapshot.needed_work(policy) {
                Some(work) => restructure(&self.shared, work),
                None => Ok(()),
            };
        }
        if snapshot.tail.len() >= policy.tail_limit.max(1) * TAIL_BACKLOG {
            restructure(&self.shared, Work::FlushTail)?;
        }
        if snapshot.needed_work(policy).is_some() && !self.shared.maintaining.swap(true, Ordering::AcqRel) {
            let shared = Arc::clone(&self.shared);
            let spawned = std::thread::Builder::new()
                .name("msgdex-maintenance".into())
                .spawn(move || maintain_in_background(&shared));
            if spawned.is_err() {
                self.shared.maintaining.store(false, Ordering::Release);
            }
        }
        Ok(())
    }
}

/// What a restructuring does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Work {
    /// Index the tail as a run and merge runs.
    FlushTail,
    /// Fold everything into a new base.
    Compact,
}

/// The background thread: restructures until nothing is due.
fn maintain_in_background(shared: &Shared) {
    // Compaction gets one core at most: the other stays free for readers
    // and the writer.
    let compaction_pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().ok();
    loop {
        while let Some(work) = shared.current.load().needed_work(&shared.policy) {
            // A failed restructuring leaves the store as it was.
            let done = match (work, &compaction_pool) {
                (Work::Compact, Some(pool)) => pool.install(|| restructure(shared, work)),
                _ => restructure(shared, work),
            };
            if done.is_err() {
                break;
            }
        }
        shared.maintaining.store(false, Ordering::Release);
        // A write may have made work due after the last check.
        if shared.current.load().needed_work(&shared.policy).is_none()
            || shared.maintaining.swap(true, Ordering::AcqRel)
        {
            return;
        }
    }
}

/// Rebuilds from a snapshot without blocking writers, then replays the
/// writes made meanwhile onto the rebuilt state and publishes it.
fn restructure(shared: &Shared, work: Work) -> Result<(), BuildError> {
    let _maintenance = lock(&shared.maintenance);
    let snapshot = {
        let mut writer = lock(&shared.writer);
        let snapshot = shared.current.load_full();
        let idle = match work {
            Work::FlushTail => snapshot.tail.is_empty(),
            Work::Compact => snapshot.is_base_only(),
        };
        if idle {
            return Ok(());
        }
        writer.log = Some(Vec::new());
        snapshot
    };
    let rebuilt = match work {
        Work::FlushTail => {
            let mut rebuilt = (*snapshot).clone();
            rebuilt.flush_tail().map(|()| rebuilt)
        }
        Work::Compact => snapshot.compacted().map(|segment| Snapshot::of(Arc::new(segment), 0)),
    };
    let mut writer = lock(&shared.writer);
    let log = writer.log.take().unwrap_or_default();
    let mut next = rebuilt?;
    let current = shared.current.load_full();
    next.version = current.version + 1;
    for write in log {
        next.apply_checked(write);
    }
    debug_assert_eq!(next.count, current.count, "replayed writes reach the same state");
    shared.current.store(Arc::new(next));
    if work == Work::Compact {
        shared.compactions.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

impl Engine for LiveEngine {
    fn message_count(&self) -> usize {
        self.shared.current.load().count as usize
    }

    fn limits(&self) -> QueryLimits {
        self.limits
    }

    fn list_into(&self, query: &ListQuery, out: &mut Vec<u8>) {
        merge::list_into(&self.shared.current.load(), query, out);
    }

    fn retrieve_into(&self, id: &str, out: &mut Vec<u8>) -> bool {
        self.shared.current.load().retrieve_into(id, out)
    }
}

impl Writable for LiveEngine {
    fn apply(&self, batch: Vec<Write>) -> Result<Vec<Applied>, WriteError> {
        let mut writer = lock(&self.shared.writer);
        let current = self.shared.current.load_full();
        let outcomes = check_batch(&batch, |id| current.locate(id).is_some())?;
        let created = outcomes.iter().filter(|&&outcome| outcome == Applied::Created).count() as u64;
        let refuse = |problem| WriteError { position: batch.len().saturating_sub(1), batch_len: batch.len(), problem };
        if current.count + created >= u64::from(u32::MAX) - 1 {
            return Err(refuse(WriteProblem::TooManyMessages));
        }
        let mut next = (*current).clone();
        next.version += 1;
        if let Some(log) = writer.log.as_mut() {
            log.extend(batch.iter().cloned());
        }
        for write in batch {
            next.apply_checked(write);
        }
        let next = Arc::new(next);
        self.shared.current.store(Arc::clone(&next));
        drop(writer);
        // The batch is in; a failed flush only leaves the tail longer.
        let _ = self.maintain(&next);
        Ok(outcomes)
    }
}
