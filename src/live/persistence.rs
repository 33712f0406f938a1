//! A live store on a data directory: opened from its base segment file
//! and its log, logging every batch before it is published, and writing a
//! checkpoint (a new base file and manifest) at every compaction.
//!
//! Replaying the log is idempotent: a record is applied without the
//! checks it passed when it was logged, so an insert or upsert makes "the
//! message with this `_id` is now this" and a delete "there is no message
//! with this `_id`" (removing nothing when it is absent). A base
//! that holds the store up to record T, less the messages its tail held
//! then, replayed from the first record any of those came from, therefore
//! ends exactly where the log ends, whatever writes raced the checkpoint.
//!
//! ```text
//!  compaction freeze (writer lock)   state at record T; tail written by records ≥ R
//!    └ log rotated                    new records go to log-(T+1).wal
//!  new base built from base + runs    = the store at T, less the tail's messages
//!    └ base-T.seg written, synced
//!    └ MANIFEST: base-T.seg, replay from min(R, T + 1)   (atomic)
//!    └ files no longer named removed
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::writer::{Checking, Recording};
use super::{lock, LiveEngine, Shared, State};
use crate::durable::directory::{base_file_name, remove_unnamed_files, sync_directory, DirectoryLock, Manifest};
use crate::durable::log::Log;
use crate::durable::record::{encode_record_payload, LoggedBatch};
use crate::durable::replay::{replay, OpenLog, ReplayMode};
use crate::durable::{Recovery, StoreError, StoreOptions};
use crate::store::Segment;
use crate::write::{Applied, Write, WriteError, WriteProblem};

/// What a live store on a data directory holds besides its state.
#[derive(Debug)]
pub(super) struct Durable {
    directory: PathBuf,
    pub(super) log: Arc<Log>,
    /// What opening found.
    recovery: Recovery,
    /// Why the last checkpoint failed, if it did (the log still holds
    /// everything, so the store stays correct; it only grows).
    checkpoint_failure: std::sync::Mutex<Option<String>>,
    _lock: DirectoryLock,
}

/// A checkpoint begun at a compaction's freeze.
#[derive(Clone, Debug)]
pub(super) struct Checkpoint {
    /// The last record the frozen state holds.
    sequence: u64,
    /// The frozen state's source position.
    position: Option<Arc<str>>,
    /// The first record the new base will need replayed.
    replay_from: u64,
}

impl LiveEngine {
    /// Opens the data directory at `directory` (made by
    /// [`import`](crate::import)) as a durable live store: its base is read
    /// from the segment file, not built, and the log written since is
    /// replayed. One process owns a directory: a second opener gets
    /// [`StoreError::Locked`] with the owner's pid.
    ///
    /// Every batch is acknowledged (its `Ok` returned) only once its log
    /// record is durable under [`StoreOptions::sync`]. A torn record at the
    /// end of the log (a write never acknowledged) is cut off and reported
    /// in [`LiveEngine::recovery`]; damage anywhere else refuses the open.
    /// If writing or syncing the log fails, the batch is refused with
    /// [`WriteProblem::Storage`], and after a failed sync every later
    /// write too, until the store is opened again.
    pub fn open(directory: impl AsRef<Path>, options: StoreOptions) -> Result<LiveEngine, StoreError> {
        let directory = directory.as_ref();
        let directory_lock = DirectoryLock::take(directory)?;
        let (engine, manifest) = LiveEngine::open_base(directory, options.policy)?;
        engine.shared.current.load().base.segment.prepare_for_writes();
        // No compaction starts (from a write replayed, or from the flusher
        // it wakes) until the store is on its directory: before, one would
        // write no checkpoint.
        let opening = engine.hold_compactions();
        let (open, replayed) = engine.replay_log(directory, manifest.replay_from, ReplayMode::Recover)?;
        let open = open.expect("recovery opens a log file");
        let recovery = Recovery { replayed, cut: open.cut };
        // What was read back may be only in the page cache (a killed
        // process under `never`, or a record whose sync had not finished):
        // made durable before anything is built on it.
        open.file.sync_all().map_err(|error| StoreError::io(&open.path, "syncing", error))?;
        sync_directory(directory).map_err(|error| StoreError::io(directory, "syncing", error))?;
        // Leftovers of an earlier process go before any checkpoint of this
        // one can run.
        remove_unnamed_files(directory, &manifest);
        let log = Log::new(directory, open.path, open.file, open.length, open.last, options.sync, options.faults);
        let durable = Durable {
            directory: directory.to_owned(),
            log,
            recovery,
            checkpoint_failure: std::sync::Mutex::new(None),
            _lock: directory_lock,
        };
        engine.shared.durable.set(durable).expect("a new engine has no data directory yet");
        drop(opening);
        // A store told to keep `content` another way, or whose base is of an
        // earlier format, starts writing it anew now, in the background,
        // without waiting for a write.
        let state = engine.shared.current.load_full();
        engine.shared.start_compaction_if_due(&state);
        Ok(engine)
    }

    /// The base of `directory` as a store without writes, at the record
    /// its manifest names (the directory's lock held by the caller).
    pub(crate) fn open_base(directory: &Path, policy: super::LivePolicy) -> Result<(LiveEngine, Manifest), StoreError> {
        let manifest = Manifest::read(directory)?;
        let segment = match &manifest.base {
            Some(name) => Segment::read_file(&directory.join(name))?,
            None => Segment::from_messages(&[]).expect("an empty segment builds"),
        };
        let engine = LiveEngine::with_policy(Arc::new(segment), policy);
        engine.start_at(manifest.replay_from - 1, manifest.position.as_deref());
        Ok((engine, manifest))
    }

    /// The directory's store folded into one segment, read only (a torn
    /// end of the log is left where it is, and not applied), its lock
    /// released again: for [`FastEngine::open`](crate::FastEngine::open).
    pub(crate) fn read_directory(directory: &Path) -> Result<(Arc<Segment>, Recovery), StoreError> {
        let _lock = DirectoryLock::take(directory)?;
        let policy = super::LivePolicy { background: false, ..super::LivePolicy::default() };
        let (engine, manifest) = LiveEngine::open_base(directory, policy)?;
        let (open, replayed) = engine.replay_log(directory, manifest.replay_from, ReplayMode::Verify)?;
        let recovery = Recovery { replayed, cut: open.and_then(|open| open.cut) };
        if !engine.shared.current.load().is_base_only() {
            engine
                .compact()
                .map_err(|error| StoreError::corrupt(directory, 0, format!("the log does not apply: {error}")))?;
        }
        Ok((Arc::clone(&engine.shared.current.load().base.segment), recovery))
    }

    /// Applies the log of `directory` from `replay_from` to this store;
    /// returns where the log ends (see [`replay`]) and how many records
    /// were applied.
    pub(crate) fn replay_log(
        &self,
        directory: &Path,
        replay_from: u64,
        mode: ReplayMode,
    ) -> Result<(Option<OpenLog>, u64), StoreError> {
        let mut replayed = 0;
        let open = replay(directory, replay_from, mode, |sequence, batch| {
            replayed += 1;
            self.replay(sequence, batch).map_err(|problem| StoreError::corrupt(directory, 0, problem))
        })?;
        Ok((open, replayed))
    }

    /// Sets the sequence of the store's state (the last record its base
    /// holds) and its source position, before any write.
    fn start_at(&self, sequence: u64, position: Option<&str>) {
        let writer = lock(&self.shared.writer);
        let mut next = (**self.shared.current.load()).clone();
        next.sequence = sequence;
        next.source_position = position.map(Arc::from);
        self.shared.publish(&writer, next);
    }

    /// Applies a batch read back from the log as record `sequence`, in
    /// the idempotent form the module docs describe.
    fn replay(&self, sequence: u64, batch: LoggedBatch) -> Result<(), String> {
        let applied = self
            .shared
            .apply_batch(batch.writes, batch.position.as_deref(), Recording::Replayed(sequence), Checking::AsItStands)
            .map_err(|error| format!("log record {sequence} does not apply: {error}"))?;
        let _ = self.shared.maintain(&applied.published);
        Ok(())
    }

    /// Waits for background flushes and compactions, then lets this handle
    /// go. On a data directory, the directory (and its lock) is released
    /// once every handle is closed or dropped and no background work holds
    /// the store: closing the last handle is how a program reopens a
    /// directory in the same process.
    pub fn close(self) {
        self.wait_for_compaction();
        // A background thread lets its handle go just after it says it is
        // done; other handles of the caller's are waited for only briefly.
        let waiting = std::time::Instant::now();
        while Arc::strong_count(&self.shared) > 1 && waiting.elapsed() < std::time::Duration::from_millis(200) {
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
    }

    /// How many times the log was synced (0 off a data directory): with
    /// group commit, fewer than the writes when writers overlap.
    pub fn log_syncs(&self) -> u64 {
        self.shared.durable.get().map_or(0, |durable| durable.log.syncs())
    }

    /// What opening the data directory found (`None` for a store that is
    /// not on one).
    pub fn recovery(&self) -> Option<&Recovery> {
        self.shared.durable.get().map(|durable| &durable.recovery)
    }

    /// The data directory the store is on, if it is on one.
    pub(crate) fn directory(&self) -> Option<&Path> {
        self.shared.durable.get().map(|durable| durable.directory.as_path())
    }

    /// Why the last checkpoint failed, if it did: the store stays correct
    /// (the log holds every write) but reopening replays more of it.
    pub fn checkpoint_failure(&self) -> Option<String> {
        self.shared.durable.get().and_then(|durable| lock(&durable.checkpoint_failure).clone())
    }

    /// Folds every change into a new base and, on a data directory, writes
    /// it as a checkpoint: a new base file and manifest, after which the
    /// log before it is removed.
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        if let Some(durable) = self.shared.durable.get() {
            *lock(&durable.checkpoint_failure) = None;
        }
        self.compact().map_err(|error| StoreError::Load(crate::load::LoadError::Store(error)))?;
        match self.checkpoint_failure() {
            Some(why) => Err(StoreError::io(
                self.shared.durable.get().map_or(Path::new("."), |durable| &durable.directory),
                "checkpointing",
                std::io::Error::other(why),
            )),
            None => Ok(()),
        }
    }

    /// Applies `batch` (with the source position it reaches, if any),
    /// logging it first on a data directory and returning once its record
    /// is durable under the sync policy.
    pub(super) fn apply_logged(
        &self,
        batch: Vec<Write>,
        position: Option<&str>,
        checking: Checking,
    ) -> Result<(Vec<Applied>, Arc<State>), WriteError> {
        let Some(durable) = self.shared.durable.get() else {
            let applied = self.shared.apply_batch(batch, position, Recording::Memory, checking)?;
            return Ok((applied.outcomes, applied.published));
        };
        let batch_len = batch.len();
        let payload = encode_record_payload(&batch, position).map_err(|why| WriteError {
            position: 0,
            batch_len,
            problem: WriteProblem::Storage(why),
        })?;
        let applied = self.shared.apply_batch(
            batch,
            position,
            Recording::Logged { log: &durable.log, payload: &payload },
            checking,
        )?;
        durable.log.wait_durable(applied.published.sequence).map_err(|failure| WriteError {
            position: 0,
            batch_len,
            problem: WriteProblem::Storage(failure.to_string()),
        })?;
        Ok((applied.outcomes, applied.published))
    }
}

impl Shared {
    /// At a compaction's freeze (the writer lock held, `state` the frozen
    /// state): on a data directory, where the checkpoint will start its
    /// replay, with the log rotated so that older files can go.
    pub(super) fn begin_checkpoint(&self, state: &State) -> Option<Checkpoint> {
        let durable = self.durable.get()?;
        let tail_from = state.tail.iter().map(|message| message.sequence).min();
        let replay_from = tail_from.map_or(state.sequence + 1, |first| first.min(state.sequence + 1)).max(1);
        // No checkpoint after the log failed (the batches it holds were
        // refused, and may be gone), nor without a new log file: a manifest
        // must never make the file being written look wholly old.
        match durable.log.rotate() {
            Ok(()) => {
                Some(Checkpoint { sequence: state.sequence, position: state.source_position.clone(), replay_from })
            }
            Err(failure) => {
                *lock(&durable.checkpoint_failure) = Some(format!("no checkpoint: {failure}"));
                None
            }
        }
    }

    /// After a compaction published `base`: writes it as the base file of
    /// `checkpoint`, then the manifest naming it, then removes what the
    /// manifest no longer names. A failure leaves the old manifest, whose
    /// files are all still there, and is kept for
    /// [`LiveEngine::checkpoint_failure`].
    pub(super) fn finish_checkpoint(&self, checkpoint: Checkpoint, base: &Segment) {
        let Some(durable) = self.durable.get() else { return };
        let result = write_checkpoint(&durable.directory, checkpoint, base);
        *lock(&durable.checkpoint_failure) = result.err().map(|error| error.to_string());
    }
}

fn write_checkpoint(directory: &Path, checkpoint: Checkpoint, base: &Segment) -> Result<(), StoreError> {
    let name = base_file_name(checkpoint.sequence);
    let path = directory.join(&name);
    let temporary = directory.join(format!("{name}.tmp"));
    let _ = std::fs::remove_file(&temporary);
    if let Err(error) = base.write_file(&temporary) {
        let _ = std::fs::remove_file(&temporary);
        return Err(error);
    }
    std::fs::rename(&temporary, &path).map_err(|error| StoreError::io(&path, "renaming", error))?;
    sync_directory(directory).map_err(|error| StoreError::io(directory, "syncing", error))?;
    let manifest = Manifest {
        base: Some(name),
        replay_from: checkpoint.replay_from,
        position: checkpoint.position.as_deref().map(str::to_owned),
    };
    manifest.write(directory)?;
    remove_unnamed_files(directory, &manifest);
    Ok(())
}
