//! Restructuring off to the side: the flusher (a full tail becomes a run,
//! runs of about one size merge) and the compactor (base and runs fold
//! into a new base), each building from a snapshot while writes go on and
//! splicing its result into the current state under the writer lock.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{lock, Part, Shared, State, TailMessage, WrittenIds, TAIL_BACKLOG};
use crate::index::ids::id_hash;
use crate::store::{BuildError, ContentStorage, Segment, SegmentBuilder};

/// A pause in the writes after which a burst is over (see
/// [`LivePolicy::defer_text_above`](super::LivePolicy::defer_text_above)).
const BURST_PAUSE: std::time::Duration = std::time::Duration::from_millis(5);

/// The nice value of the flusher: below queries and the writer (on a busy
/// processor it gets about a quarter of the time of a normal thread), so
/// that it takes the processor from neither in a burst. The writer goes
/// on meanwhile and flushes its backlog itself, in larger runs, which pass
/// fewer merge levels: on one processor (`taskset -c 0`), 1M messages,
/// 100,000 upserts, three interleaved runs each: 96–99k/s at nice 0,
/// 108–113k/s at 5, 103–109k/s at 10.
pub(super) const FLUSHER_NICE: i32 = 5;

/// The nice value of the compactor, which can wait longest.
const COMPACTOR_NICE: i32 = 10;

/// Makes the calling thread yield the processor to normal threads: `nice`
/// as its nice value (Linux; elsewhere nothing changes).
pub(super) fn lower_this_threads_priority(nice: i32) {
    crate::sys::lower_this_threads_priority(nice);
}

/// What a build of a live store's segment is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Build {
    /// A run: its text index waits until a query (or the idle flusher)
    /// asks for it; most runs are merged away before that.
    Run,
    /// A base: fully indexed, storing `content` as said.
    Base(ContentStorage),
}

/// A builder for a segment of `purpose`.
fn builder_for(purpose: Build) -> SegmentBuilder {
    let mut builder = SegmentBuilder::new();
    match purpose {
        Build::Run => {
            builder.defer_text_index();
            builder.store_unfiltered_values_plainly();
        }
        Build::Base(storage) => builder.store_content(storage),
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

impl Shared {
    /// Starts (or, without background threads, does) what `snapshot`
    /// needs after a write.
    pub(super) fn maintain(self: &Arc<Self>, snapshot: &State) -> Result<(), BuildError> {
        let policy = &self.policy;
        if !policy.background {
            return if snapshot.tail_is_full(policy) { self.flush_and_merge_now() } else { Ok(()) };
        }
        // Only a flush makes runs due to merge: a write that flushed its
        // backlog asks for merges too; any other write, only for a flush
        // of a full tail (the flusher checks for merges after each flush).
        let due = if snapshot.tail.len() >= policy.tail_limit.max(1) * TAIL_BACKLOG {
            // The flusher is behind: this writer flushes the tail itself,
            // while the flusher goes on merging.
            self.flush_backlog()?;
            self.needs_maintenance(&self.current.load())
        } else {
            snapshot.tail_is_full(policy)
        };
        if due && !self.flusher_running.swap(true, Ordering::AcqRel) {
            let shared = Arc::clone(self);
            match &self.maintenance {
                Some(pool) => pool.spawn(move || shared.run_flusher()),
                None => {
                    let spawned = std::thread::Builder::new().name("msgdex-flusher".into()).spawn(move || {
                        lower_this_threads_priority(FLUSHER_NICE);
                        shared.run_flusher()
                    });
                    if spawned.is_err() {
                        self.flusher_running.store(false, Ordering::Release);
                    }
                }
            }
        }
        self.start_compaction_if_due(snapshot);
        Ok(())
    }

    /// Starts a background compaction if one is due for `snapshot` and
    /// none runs.
    pub(super) fn start_compaction_if_due(self: &Arc<Self>, snapshot: &State) {
        if self.policy.background
            && self.compaction_due(snapshot)
            && !self.compactor_running.swap(true, Ordering::AcqRel)
        {
            let shared = Arc::clone(self);
            let spawned =
                std::thread::Builder::new().name("msgdex-compactor".into()).spawn(move || shared.run_compactor());
            if spawned.is_err() {
                self.compactor_running.store(false, Ordering::Release);
            }
        }
    }

    /// Whether a background compaction is due for `snapshot`: the policy
    /// asks for one and no [`CompactionHold`](super::CompactionHold) holds
    /// them.
    pub(super) fn compaction_due(&self, snapshot: &State) -> bool {
        self.compaction_holds.load(Ordering::Acquire) == 0 && snapshot.needs_compaction(&self.policy)
    }

    /// Flushes and merges on the maintenance thread, waiting for it (and
    /// so for any background flush it is busy with).
    pub(super) fn flush_and_merge_now(&self) -> Result<(), BuildError> {
        match &self.maintenance {
            Some(pool) => pool.install(|| self.flush_and_merge()),
            None => self.flush_and_merge(),
        }
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
    pub(super) fn needs_maintenance(&self, snapshot: &State) -> bool {
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

    /// Merges runs if due (see [`State::merge_candidate`]); returns
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
    pub(super) fn merge_runs(
        &self,
        snapshot: &State,
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
    pub(super) fn compact(&self, during: &mut dyn FnMut()) -> Result<(), BuildError> {
        let _compacting = lock(&self.compacting);
        let snapshot = {
            let mut writer = lock(&self.writer);
            let current = self.current.load_full();
            if current.runs.is_empty() && current.base.dead.is_empty() && !current.changes_the_base(&self.policy) {
                return Ok(());
            }
            writer.written_since_compaction = Some(Vec::new());
            let checkpoint = self.begin_checkpoint(&current);
            let mut next = (*current).clone();
            next.frozen_runs = next.runs.len();
            (self.publish(&writer, next), checkpoint)
        };
        let (snapshot, checkpoint) = snapshot;
        during();
        let folded = snapshot.frozen_runs;
        let storage = self.policy.content.unwrap_or(snapshot.base.segment.next_content_storage());
        let built =
            segment_of_parts(std::iter::once(&snapshot.base).chain(&snapshot.runs[..folded]), Build::Base(storage));
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
        let segment = Arc::new(segment);
        let mut base = Part::new(Arc::clone(&segment));
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
        let next = State {
            base,
            runs: Arc::new(current.runs[folded..].to_vec()),
            tail: current.tail.clone(),
            count: current.count,
            version: 0,
            sequence: current.sequence,
            frozen_runs: 0,
            source_position: current.source_position.clone(),
        };
        debug_assert_eq!(
            next.base.live_count() + next.runs.iter().map(Part::live_count).sum::<u64>() + next.tail.len() as u64,
            next.count,
            "the new base holds exactly the folded parts' live messages"
        );
        self.publish(&writer, next);
        drop(writer);
        if let Some(checkpoint) = checkpoint {
            self.finish_checkpoint(checkpoint, &segment);
        }
        self.compactions.fetch_add(1, Ordering::Relaxed);
        Ok(())
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
    /// [`LivePolicy::defer_text_above`](super::LivePolicy::defer_text_above)).
    /// Then it is left to the first query or the idle flusher
    /// ([`Shared::index_text_while_idle`]): in a burst most runs are merged
    /// away before either.
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
            while self.compaction_due(&self.current.load()) {
                let compacted = match &pool {
                    Ok(pool) => pool.install(|| self.compact(&mut || {})),
                    Err(_) => self.compact(&mut || {}),
                };
                if compacted.is_err() {
                    break;
                }
            }
            self.compactor_running.store(false, Ordering::Release);
            if !self.compaction_due(&self.current.load()) || self.compactor_running.swap(true, Ordering::AcqRel) {
                return;
            }
        }
    }
}
