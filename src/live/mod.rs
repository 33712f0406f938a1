//! The live store: the fast engine taking inserts, upserts and deletes
//! while queries run, each query answered from one consistent snapshot.
//!
//! ```text
//!  ArcSwap<Snapshot> ──► base  Segment (large, immutable) + DeadRows (rows marked dead)
//!   (readers load,        runs  [Segment + DeadRows, …]   sizes halving, newest last
//!    writers publish)     tail  positions in a shared log of messages
//!                               (≤ tail_limit), unindexed, newest writes
//! ```
//!
//! * A write copies the small snapshot header (part handles, the tail's
//!   positions: see [`Tail`]),
//!   marks the old version of the message dead where it lives (a row added
//!   to a segment's [`DeadRows`], or removal from the tail), appends the new
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

pub mod merge;
mod tail;

pub use tail::{Tail, TailFilter, TailMessage};

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use arc_swap::ArcSwap;

use crate::engine::Engine;
use crate::fast::FastEngine;
use crate::index::ids::id_hash;
use crate::load::LoadError;
use crate::model::{Field, Message};
use crate::request::{ListQuery, QueryLimits};
use crate::store::dead_rows::DeadRows;
use crate::store::{BuildError, Segment, SegmentBuilder};
use crate::write::{check_batch_at, Applied, Writable, Write, WriteError, WriteProblem};

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
    /// once idle (see [`Segment::text`]). 20,000 by default: below it the
    /// flusher builds them at little cost (a tenth of a core at 10,000
    /// writes a second) and no query waits for one; above it the index is
    /// about half of the flusher's work, and most runs of a burst are
    /// merged away before a query needs theirs. 0 always defers,
    /// infinity never does.
    pub defer_text_above: f64,
}

/// A pause in the writes after which a burst is over (see
/// [`LivePolicy::defer_text_above`]).
const BURST_PAUSE: std::time::Duration = std::time::Duration::from_millis(5);

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
    fn new(segment: Arc<Segment>) -> Part {
        segment.prepare_for_writes();
        let dead = Arc::new(DeadRows::none(segment.row_count()));
        Part { segment, dead }
    }

    /// A new run: [`Part::new`], with the facet cells' ends that queries
    /// test runs by made here too (see [`Segment::cell_ends`]).
    fn run(segment: Segment) -> Part {
        segment.cell_ends();
        Part::new(Arc::new(segment))
    }

    /// The live row holding the `_id` with this JSON text and
    /// [`id_hash`].
    fn live_row(&self, id_fragment: &[u8], hash: u64) -> Option<u32> {
        self.segment.row_of_id_to_mark_dead(id_fragment, hash).filter(|&row| !self.dead.contains(row))
    }

    /// Marks `row` dead (it is alive): a new [`DeadRows`] with it, shared
    /// by no earlier snapshot.
    fn mark_dead(&mut self, row: u32) {
        let (cell, positions) = (self.segment.facet_cell(row), self.segment.positions_of(row));
        self.dead = Arc::new(self.dead.with_row(row, cell, positions));
    }

    fn live_count(&self) -> u64 {
        self.dead.live_count()
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
    /// Shared by the snapshots until a flush, a merge or a row marked dead
    /// in a run changes them: most writes mark a base row dead or remove a
    /// tail entry, and a snapshot's copy then raises one reference count,
    /// not two per run.
    runs: Arc<Vec<Part>>,
    /// In `_id` order (byte-wise), so that a lookup is a binary search
    /// and a page in `_id` order needs no sort of the tail; with its date
    /// orders.
    tail: Tail,
    count: u64,
    version: u64,
    /// The first runs, which a compaction in flight is folding into a new
    /// base: merges leave them alone.
    frozen_runs: usize,
}

impl Snapshot {
    fn of(segment: Arc<Segment>) -> Snapshot {
        let count = u64::from(segment.row_count());
        Snapshot {
            base: Part::new(segment),
            runs: Arc::default(),
            tail: Tail::default(),
            count,
            version: 0,
            frozen_runs: 0,
        }
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

    /// The newest writes, not yet indexed, in `_id` order.
    pub fn tail(&self) -> &Tail {
        &self.tail
    }

    /// Whether the store is exactly its base, untouched by writes.
    pub fn is_base_only(&self) -> bool {
        self.runs.is_empty() && self.tail.is_empty() && self.base.dead.is_empty()
    }

    /// Rows that compaction would fold: run rows, the tail, dead base rows.
    pub fn changed_rows(&self) -> u64 {
        self.runs.iter().map(|run| u64::from(run.segment.row_count())).sum::<u64>()
            + self.tail.len() as u64
            + self.base.dead.len()
    }

    fn locate(&self, id: &str) -> Option<Location> {
        let fragment = crate::json::quoted(id);
        self.locate_filed(id, fragment.as_bytes(), id_hash(fragment.as_bytes()), true)
    }

    /// [`Snapshot::locate`] for an `_id` whose JSON text (`fragment`) and
    /// its [`id_hash`] are known, looking in the tail and the runs only if
    /// `maybe_written` (the writer knows which `_id`s were written since the
    /// base was built, the only ones they can hold: see [`WrittenIds`]).
    fn locate_filed(&self, id: &str, fragment: &[u8], hash: u64, maybe_written: bool) -> Option<Location> {
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
    fn locate_from(&self, id: &str, hint: Option<Location>) -> Option<Location> {
        match hint {
            Some(Location::Run(index, row)) if !self.runs[index].dead.contains(row) => hint,
            Some(Location::Base(row)) if !self.base.dead.contains(row) => hint,
            _ => self.tail_index(id).map(Location::Tail),
        }
    }

    /// Appends the full message with this `_id`; `false` if there is none.
    fn retrieve_into(&self, id: &str, out: &mut Vec<u8>) -> bool {
        match self.locate(id) {
            Some(Location::Tail(index)) => self.tail[index].message.write_json(out, &Field::ALL),
            Some(Location::Run(index, row)) => self.runs[index].segment.write_row(row, &Field::ALL, out),
            Some(Location::Base(row)) => self.base.segment.write_row(row, &Field::ALL, out),
            None => return false,
        }
        true
    }

    /// Marks the live version of `id` dead, if any; returns whether there was
    /// one. `hint` is as for [`Snapshot::locate_from`].
    fn remove(&mut self, id: &str, hint: Option<Location>) -> bool {
        match self.locate_from(id, hint) {
            Some(Location::Tail(index)) => {
                self.tail.remove(index);
            }
            Some(Location::Run(index, row)) => Arc::make_mut(&mut self.runs)[index].mark_dead(row),
            Some(Location::Base(row)) => self.base.mark_dead(row),
            None => return false,
        }
        self.count -= 1;
        true
    }

    /// Applies a write already checked by [`check_batch_at`]; `hint` is as
    /// for [`Snapshot::locate_from`].
    fn apply_checked(&mut self, write: Write, hint: Option<Location>) {
        match write {
            Write::Insert(message) | Write::Upsert(message) => {
                self.remove(&message.id, hint);
                self.tail.insert(TailMessage::new(message));
                self.count += 1;
            }
            Write::Delete(id) => {
                self.remove(&id, hint);
            }
        }
    }

    /// Whether the tail is due to become a run.
    fn tail_is_full(&self, policy: &LivePolicy) -> bool {
        self.tail.len() >= policy.tail_limit.max(1)
    }

    /// Whether the changes are due to be folded into a new base.
    fn needs_compaction(&self, policy: &LivePolicy) -> bool {
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
    fn merge_candidate(&self, fanout: usize, max_runs: usize) -> Option<std::ops::Range<usize>> {
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

/// What a build of a live store's segment is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Build {
    /// A run: its text index waits until a query (or the idle flusher)
    /// asks for it; most runs are merged away before that.
    Run,
    /// A base: fully indexed.
    Base,
}

/// A builder for a segment of `purpose`.
fn builder_for(purpose: Build) -> SegmentBuilder {
    let mut builder = SegmentBuilder::new();
    if purpose == Build::Run {
        builder.defer_text_index();
        builder.store_unfiltered_values_plainly();
    }
    builder
}

/// A segment of the live rows of some parts.
fn segment_of_parts<'a>(parts: impl IntoIterator<Item = &'a Part>, purpose: Build) -> Result<Segment, BuildError> {
    let parts: Vec<&Part> = parts.into_iter().collect();
    let mut builder = builder_for(purpose);
    let sizes: Vec<(&Segment, usize)> = parts.iter().map(|part| (&*part.segment, part.live_count() as usize)).collect();
    builder.reserve_for_copies(&sizes);
    for part in parts {
        builder.push_live_rows(&part.segment, Some(&part.dead))?;
    }
    Ok(builder.finish())
}

/// Marks dead, in `part`, the rows holding the `_id`s of rows that died in
/// `now` since `then` (two versions of one older part whose live rows
/// `part` holds).
fn carry_deaths(part: &mut Part, then: &Part, now: &Part) {
    let mut died = now.dead.rows();
    died -= then.dead.rows();
    for row in &died {
        if let Some(moved) = part.segment.row_of_id(&now.segment.id_of(row)) {
            part.mark_dead(moved);
        }
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
    /// Runs whose text index is not built yet (see
    /// [`LivePolicy::defer_text_above`]).
    pub runs_without_text_index: usize,
    /// Messages in the tail.
    pub tail: u64,
    /// Compactions finished since the store was made.
    pub compactions: u64,
}

/// What the engine handles share.
#[derive(Debug)]
struct Shared {
    current: ArcSwap<Snapshot>,
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
}

#[derive(Debug, Default)]
struct WriterState {
    /// The `_id`s written since a compaction in flight took its snapshot.
    written_since_compaction: Option<Vec<String>>,
    /// Every `_id` put in the tail since the base was built: the only ones
    /// the tail and the runs can hold.
    written: WrittenIds,
}

/// The [`id_hash`]es of the `_id`s written (inserted or upserted) since the
/// base was built. The tail and the runs hold written messages only, so an
/// `_id` whose hash is not here is in neither, and the writer looks it up
/// in the base alone: three cache misses where a binary search of the tail
/// and probes of a dozen runs' indexes cost as many more. A hash shared by
/// two `_id`s only makes the writer look in the tail and runs for nothing.
#[derive(Debug, Default)]
struct WrittenIds {
    hashes: hashbrown::HashTable<u64>,
}

impl WrittenIds {
    /// Whether an `_id` with this hash may have been written.
    fn may_hold(&self, hash: u64) -> bool {
        self.hashes.find(hash, |&known| known == hash).is_some()
    }

    /// Notes a written `_id` by its hash.
    fn add(&mut self, hash: u64) {
        if let hashbrown::hash_table::Entry::Vacant(vacant) =
            self.hashes.entry(hash, |&known| known == hash, |&known| known)
        {
            vacant.insert(hash);
        }
    }

    /// The `_id`s of `ids` only (when a compaction's new base takes the
    /// place of the runs it folded: those in the tail when it began, to
    /// which those written since are added).
    fn only<'a>(ids: impl IntoIterator<Item = &'a str>) -> WrittenIds {
        let mut written = WrittenIds::default();
        for id in ids {
            written.add(id_hash(crate::json::quoted(id).as_bytes()));
        }
        written
    }
}

impl Shared {
    /// Publishes `next` as the following version (the writer lock held).
    fn publish(&self, _writer: &MutexGuard<'_, WriterState>, mut next: Snapshot) -> Arc<Snapshot> {
        next.version = self.current.load().version + 1;
        let next = Arc::new(next);
        self.current.store(Arc::clone(&next));
        next
    }

    /// Indexes the current tail as a run, then merges runs while due. The
    /// builds run without the writer lock; each publication takes it
    /// briefly and accounts for the writes made meanwhile.
    fn flush_and_merge(&self) -> Result<(), BuildError> {
        self.flush_tail()?;
        let _merging = lock(&self.merging);
        while self.merge_last_runs()? {}
        Ok(())
    }

    /// Indexes the current tail as a run on the backlog thread, waiting
    /// for it (and for a flush in progress), not for merges.
    fn flush_backlog(&self) -> Result<(), BuildError> {
        match &self.backlog {
            Some(pool) => pool.install(|| self.flush_tail()),
            None => self.flush_tail(),
        }
    }

    /// Whether `snapshot` has a full tail to flush or runs due to merge.
    fn needs_maintenance(&self, snapshot: &Snapshot) -> bool {
        snapshot.tail_is_full(&self.policy)
            || snapshot.merge_candidate(self.policy.merge_fanout, self.policy.max_runs).is_some()
    }

    /// Indexes the current tail as a run (one flush at a time).
    fn flush_tail(&self) -> Result<(), BuildError> {
        let _flushing = lock(&self.flushing);
        let taken = self.current.load().tail.clone();
        if taken.is_empty() {
            return Ok(());
        }
        self.note_write_rate(taken.len());
        let mut builder = builder_for(Build::Run);
        builder.push_checked_batch(&taken.iter().map(|written| &written.message).collect::<Vec<_>>())?;
        let segment = builder.finish();
        self.index_text_unless_bursting(&segment);
        let mut run = Part::run(segment);
        let writer = lock(&self.writer);
        let current = self.current.load_full();
        // `taken` holds its messages, so their addresses stay unique.
        let still_in_tail: HashSet<*const TailMessage> = current.tail.iter().map(Arc::as_ptr).collect();
        let taken_set: HashSet<*const TailMessage> = taken.iter().map(Arc::as_ptr).collect();
        for message in taken.iter() {
            // Replaced or deleted since it was taken: dead in the run too.
            if !still_in_tail.contains(&Arc::as_ptr(message)) {
                let row = run.segment.row_of_id(&message.message.id).expect("the run holds every taken message");
                run.mark_dead(row);
            }
        }
        let mut next = (*current).clone();
        next.tail.retain(|message| !taken_set.contains(&Arc::as_ptr(message)));
        if run.live_count() > 0 {
            Arc::make_mut(&mut next.runs).push(run);
        }
        self.publish(&writer, next);
        Ok(())
    }

    /// Merges runs if due (see [`Snapshot::merge_candidate`]); returns
    /// whether it did.
    fn merge_last_runs(&self) -> Result<bool, BuildError> {
        let snapshot = self.current.load_full();
        let Some(runs) = snapshot.merge_candidate(self.policy.merge_fanout, self.policy.max_runs) else {
            return Ok(false);
        };
        self.merge_runs(&snapshot, runs, &mut || {})
    }

    /// Merges `snapshot`'s adjacent `runs` into one, running `during`
    /// between the build and its publication; returns whether it published
    /// (not when a compaction froze the runs meanwhile). Runs flushed
    /// meanwhile come after them and stay as they are.
    fn merge_runs(
        &self,
        snapshot: &Snapshot,
        runs: std::ops::Range<usize>,
        during: &mut dyn FnMut(),
    ) -> Result<bool, BuildError> {
        let merging = &snapshot.runs[runs];
        let segment = segment_of_parts(merging, Build::Run)?;
        self.index_text_unless_bursting(&segment);
        let mut merged = Part::run(segment);
        during();
        let writer = lock(&self.writer);
        let current = self.current.load_full();
        let position = current.runs.iter().position(|run| Arc::ptr_eq(&run.segment, &merging[0].segment));
        let Some(position) = position.filter(|&position| {
            position >= current.frozen_runs
                && current.runs.len() >= position + merging.len()
                && current.runs[position..position + merging.len()]
                    .iter()
                    .zip(merging)
                    .all(|(now, then)| Arc::ptr_eq(&now.segment, &then.segment))
        }) else {
            // A compaction froze them meanwhile: merge another time.
            return Ok(false);
        };
        // Rows marked dead since the build read them die in the merged run too.
        for (then, now) in merging.iter().zip(&current.runs[position..]) {
            carry_deaths(&mut merged, then, now);
        }
        let mut next = (*current).clone();
        // A run whose rows all died since is no part for queries to read.
        let kept = (merged.live_count() > 0).then_some(merged);
        Arc::make_mut(&mut next.runs).splice(position..position + merging.len(), kept);
        self.publish(&writer, next);
        Ok(true)
    }

    /// Folds the base and the runs into a new base. Writers and flushes go
    /// on meanwhile: the runs folded are frozen, the `_id`s written are
    /// logged, and at the end the new base takes the place of the folded
    /// parts with those `_id`s' rows dead in it.
    fn compact(&self, during: &mut dyn FnMut()) -> Result<(), BuildError> {
        let _compacting = lock(&self.compacting);
        let snapshot = {
            let mut writer = lock(&self.writer);
            let current = self.current.load_full();
            if current.runs.is_empty() && current.base.dead.is_empty() {
                return Ok(());
            }
            writer.written_since_compaction = Some(Vec::new());
            let mut next = (*current).clone();
            next.frozen_runs = next.runs.len();
            self.publish(&writer, next)
        };
        during();
        let folded = snapshot.frozen_runs;
        let built = segment_of_parts(std::iter::once(&snapshot.base).chain(&snapshot.runs[..folded]), Build::Base);
        // Made before the writer lock is taken (`Part::new` then finds it).
        if let Ok(segment) = &built {
            segment.prepare_for_writes();
        }
        let mut writer = lock(&self.writer);
        let written = writer.written_since_compaction.take().unwrap_or_default();
        let current = self.current.load_full();
        let segment = match built {
            Ok(segment) => segment,
            Err(error) => {
                let mut next = (*current).clone();
                next.frozen_runs = 0;
                self.publish(&writer, next);
                return Err(error);
            }
        };
        let mut base = Part::new(Arc::new(segment));
        // Runs now hold only what the tail held when the compaction began
        // and what was written since.
        let mut still_written = WrittenIds::only(snapshot.tail.iter().map(|written| written.message.id.as_str()));
        for id in &written {
            let fragment = crate::json::quoted(id);
            let hash = id_hash(fragment.as_bytes());
            still_written.add(hash);
            if let Some(row) = base.live_row(fragment.as_bytes(), hash) {
                base.mark_dead(row);
            }
        }
        writer.written = still_written;
        debug_assert!(current.runs[..folded]
            .iter()
            .zip(snapshot.runs.iter())
            .all(|(now, then)| Arc::ptr_eq(&now.segment, &then.segment)));
        let next = Snapshot {
            base,
            runs: Arc::new(current.runs[folded..].to_vec()),
            tail: current.tail.clone(),
            count: current.count,
            version: 0,
            frozen_runs: 0,
        };
        debug_assert_eq!(
            next.base.live_count() + next.runs.iter().map(Part::live_count).sum::<u64>() + next.tail.len() as u64,
            next.count,
            "the new base holds exactly the folded parts' live messages"
        );
        self.publish(&writer, next);
        self.compactions.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Flushes and merges on the maintenance thread, waiting for it (and
    /// so for any background flush it is busy with).
    fn flush_and_merge_now(&self) -> Result<(), BuildError> {
        match &self.maintenance {
            Some(pool) => pool.install(|| self.flush_and_merge()),
            None => self.flush_and_merge(),
        }
    }

    /// The background flusher: flushes and merges until nothing is due.
    fn run_flusher(&self) {
        loop {
            loop {
                let mut failed = false;
                while !failed && self.needs_maintenance(&self.current.load()) {
                    failed = self.flush_and_merge().is_err();
                }
                if failed {
                    break;
                }
                self.index_text_while_idle();
                if !self.needs_maintenance(&self.current.load()) {
                    break;
                }
            }
            self.flusher_running.store(false, Ordering::Release);
            // A write may have filled the tail after the last check.
            if !self.needs_maintenance(&self.current.load()) || self.flusher_running.swap(true, Ordering::AcqRel) {
                return;
            }
        }
    }

    /// Builds a new run's text index before it is published, so that no
    /// query has to, unless writes are arriving in a burst (see
    /// [`LivePolicy::defer_text_above`]). Then it is left to the first query or
    /// the idle flusher ([`Shared::index_text_while_idle`]): in a burst
    /// most runs are merged away before either.
    fn index_text_unless_bursting(&self, segment: &Segment) {
        if !self.bursting.load(Ordering::Relaxed) {
            segment.text();
        }
    }

    /// Notes, at a flush taking `taken` messages, the rate at which the
    /// tail filled since the previous flush.
    fn note_write_rate(&self, taken: usize) {
        let now = std::time::Instant::now();
        let mut previous = lock(&self.last_flush);
        if let Some(previous) = *previous {
            let seconds = now.duration_since(previous).as_secs_f64();
            self.bursting.store(taken as f64 > self.policy.defer_text_above * seconds, Ordering::Relaxed);
        }
        *previous = Some(now);
    }

    /// Builds the deferred text indexes of the current runs, oldest (and
    /// so longest-lived) first, until none is left or a flush or merge is
    /// due: queries then rarely find one to build. In a burst it first
    /// waits for a pause of [`BURST_PAUSE`] without writes (or a flush due),
    /// so that it does not take the processor from the writer to index
    /// runs about to be merged away.
    fn index_text_while_idle(&self) {
        loop {
            let snapshot = self.current.load_full();
            if self.needs_maintenance(&snapshot) {
                return;
            }
            let Some(run) = snapshot.runs.iter().find(|run| run.segment.built_text().is_none()) else {
                return;
            };
            if self.bursting.load(Ordering::Relaxed) && self.policy.defer_text_above > 0.0 {
                std::thread::sleep(BURST_PAUSE);
                if self.current.load().version != snapshot.version {
                    continue;
                }
                self.bursting.store(false, Ordering::Relaxed);
            }
            run.segment.text();
        }
    }

    /// The background compactor, on threads of low priority: queries,
    /// writes and flushes come first.
    fn run_compactor(&self) {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .thread_name(|index| format!("msgdex-compaction-{index}"))
            .start_handler(|_| lower_this_threads_priority(COMPACTOR_NICE))
            .build();
        loop {
            while self.current.load().needs_compaction(&self.policy) {
                let compacted = match &pool {
                    Ok(pool) => pool.install(|| self.compact(&mut || {})),
                    Err(_) => self.compact(&mut || {}),
                };
                if compacted.is_err() {
                    break;
                }
            }
            self.compactor_running.store(false, Ordering::Release);
            if !self.current.load().needs_compaction(&self.policy)
                || self.compactor_running.swap(true, Ordering::AcqRel)
            {
                return;
            }
        }
    }
}

/// The nice value of the flusher: below queries and the writer (on a busy
/// processor it gets about a quarter of the time of a normal thread), so
/// that it takes the processor from neither in a burst. The writer goes
/// on meanwhile and flushes its backlog itself, in larger runs, which pass
/// fewer merge levels: on one processor (`taskset -c 0`), 1M messages,
/// 100,000 upserts, three interleaved runs each: 96–99k/s at nice 0,
/// 108–113k/s at 5, 103–109k/s at 10.
const FLUSHER_NICE: i32 = 5;

/// The nice value of the compactor, which can wait longest.
const COMPACTOR_NICE: i32 = 10;

/// Makes the calling thread yield the processor to normal threads: `nice`
/// as its nice value (Linux; elsewhere nothing changes).
fn lower_this_threads_priority(nice: i32) {
    crate::sys::lower_this_threads_priority(nice);
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
            current: ArcSwap::from_pointee(Snapshot::of(segment)),
            writer: Mutex::new(WriterState::default()),
            flushing: Mutex::new(()),
            merging: Mutex::new(()),
            compacting: Mutex::new(()),
            flusher_running: AtomicBool::new(false),
            compactor_running: AtomicBool::new(false),
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
        while self.shared.flusher_running.load(Ordering::Acquire)
            || self.shared.compactor_running.load(Ordering::Acquire)
        {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    /// Starts (or, without background threads, does) what `snapshot`
    /// needs after a write.
    fn maintain(&self, snapshot: &Snapshot) -> Result<(), BuildError> {
        let policy = &self.shared.policy;
        if !policy.background {
            return if snapshot.tail_is_full(policy) { self.shared.flush_and_merge_now() } else { Ok(()) };
        }
        // Only a flush makes runs due to merge: a write that flushed its
        // backlog asks for merges too; any other write, only for a flush
        // of a full tail (the flusher checks for merges after each flush).
        let due = if snapshot.tail.len() >= policy.tail_limit.max(1) * TAIL_BACKLOG {
            // The flusher is behind: this writer flushes the tail itself,
            // while the flusher goes on merging.
            self.shared.flush_backlog()?;
            self.shared.needs_maintenance(&self.shared.current.load())
        } else {
            snapshot.tail_is_full(policy)
        };
        if due && !self.shared.flusher_running.swap(true, Ordering::AcqRel) {
            let shared = Arc::clone(&self.shared);
            match &self.shared.maintenance {
                Some(pool) => pool.spawn(move || shared.run_flusher()),
                None => {
                    let spawned = std::thread::Builder::new().name("msgdex-flusher".into()).spawn(move || {
                        lower_this_threads_priority(FLUSHER_NICE);
                        shared.run_flusher()
                    });
                    if spawned.is_err() {
                        self.shared.flusher_running.store(false, Ordering::Release);
                    }
                }
            }
        }
        if snapshot.needs_compaction(policy) && !self.shared.compactor_running.swap(true, Ordering::AcqRel) {
            let shared = Arc::clone(&self.shared);
            let spawned =
                std::thread::Builder::new().name("msgdex-compactor".into()).spawn(move || shared.run_compactor());
            if spawned.is_err() {
                self.shared.compactor_running.store(false, Ordering::Release);
            }
        }
        Ok(())
    }
}

impl Engine for LiveEngine {
    fn message_count(&self) -> usize {
        self.shared.current.load().count as usize
    }

    fn limits(&self) -> QueryLimits {
        self.limits
    }

    fn list_into(&self, query: &ListQuery, out: &mut Vec<u8>) {
        merge::list_into(&self.shared.current.load(), query, self.shared.policy.rank_merge_depth, out);
    }

    fn retrieve_into(&self, id: &str, out: &mut Vec<u8>) -> bool {
        self.shared.current.load().retrieve_into(id, out)
    }
}

impl Writable for LiveEngine {
    fn apply(&self, batch: Vec<Write>) -> Result<Vec<Applied>, WriteError> {
        let mut writer = lock(&self.shared.writer);
        let current = self.shared.current.load_full();
        // Each `_id` is looked up once: the check and the write share it.
        let filed_ids: Vec<(String, u64)> = batch
            .iter()
            .map(|write| {
                let fragment = crate::json::quoted(write.id());
                let hash = id_hash(fragment.as_bytes());
                (fragment, hash)
            })
            .collect();
        let found: Vec<Option<Location>> = batch
            .iter()
            .zip(&filed_ids)
            .map(|(write, (fragment, hash))| {
                current.locate_filed(write.id(), fragment.as_bytes(), *hash, writer.written.may_hold(*hash))
            })
            .collect();
        let outcomes = check_batch_at(&batch, |position| found[position].is_some())?;
        let created = outcomes.iter().filter(|&&outcome| outcome == Applied::Created).count() as u64;
        let refuse = |problem| WriteError { position: batch.len().saturating_sub(1), batch_len: batch.len(), problem };
        if current.count + created >= u64::from(u32::MAX) - 1 {
            return Err(refuse(WriteProblem::TooManyMessages));
        }
        let mut next = (*current).clone();
        if let Some(written) = writer.written_since_compaction.as_mut() {
            written.extend(batch.iter().map(|write| write.id().to_owned()));
        }
        for ((write, hint), (_, hash)) in batch.into_iter().zip(found).zip(filed_ids) {
            if matches!(write, Write::Insert(_) | Write::Upsert(_)) {
                writer.written.add(hash);
            }
            next.apply_checked(write, hint);
        }
        let next = self.shared.publish(&writer, next);
        drop(writer);
        // The batch is in; a failed flush only leaves the tail longer.
        let _ = self.maintain(&next);
        Ok(outcomes)
    }
}
