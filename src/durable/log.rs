//! The write-ahead log's writer: records appended to the current log file
//! under the store's writer lock, made durable by the sync policy, with
//! group commit.
//!
//! ```text
//!  writer lock held:  check batch ─▶ append record n (write) ─▶ publish snapshot n
//!  lock released:     ask for n, wait until durable ≥ n ───────▶ acknowledge
//!  syncer thread:     woken ─▶ gather while records still arrive ─▶ fsync everything
//!                     written ─▶ durable = last record written before the fsync ─▶ wake waiters
//! ```
//!
//! One syncer thread per log (policies `always` and `interval`) does every
//! fsync, so writers never elect a leader: records written during one fsync
//! are made durable together by the next.
//!
//! *Invariants:*
//! - a record is appended before its batch is published, and a batch whose
//!   record could not be written is not published (the file is cut back to
//!   its last whole record);
//! - `durable` only grows, and only to a sequence whose record was written
//!   before the sync that covered it began;
//! - after a failed sync nothing more is acknowledged: the kernel may have
//!   dropped the unsynced pages, so a later sync could succeed over lost
//!   data. The store refuses writes until it is reopened and recovers from
//!   what is on disk.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use super::directory::{log_file_name, sync_directory};
use super::record::record_bytes;

/// When a log record becomes durable, relative to the acknowledgement of
/// its batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SyncPolicy {
    /// fsync before every acknowledgement; concurrent writers share one
    /// fsync (group commit). A power loss takes nothing acknowledged.
    #[default]
    Always,
    /// Acknowledge once the record is written to the operating system,
    /// and fsync every interval. A crash of the process takes nothing; a
    /// power loss takes at most the last interval's acknowledged writes.
    Interval(Duration),
    /// Acknowledge once the record is written to the operating system;
    /// the kernel writes it back when it chooses (within about 30 s on
    /// Linux by default). A crash of the process takes nothing; a power
    /// loss takes what the kernel had not written back.
    Never,
}

/// Faults to inject into the log's writes and syncs, for tests of full
/// disks and failing devices.
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct LogFaults {
    /// Fail writes that would take the current log file past this many
    /// bytes with ENOSPC, after writing what fits (a partial write, as a
    /// full disk leaves). `u64::MAX`: no limit.
    pub space_left: AtomicU64,
    /// Fail every fsync of the log with EIO.
    pub fail_syncs: AtomicBool,
}

impl LogFaults {
    /// No fault.
    pub fn none() -> LogFaults {
        LogFaults { space_left: AtomicU64::new(u64::MAX), fail_syncs: AtomicBool::new(false) }
    }
}

/// Why a write was not logged, or not made durable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum LogFailure {
    /// The record could not be written; the file was cut back and the
    /// batch was not applied.
    NotWritten(String),
    /// The store refuses writes: an earlier sync or write failed, and the
    /// batch was not applied.
    Refusing(String),
    /// The record was written but the sync failed: the batch is applied in
    /// memory but not acknowledged, and the store refuses writes from now.
    NotSynced(String),
}

impl std::fmt::Display for LogFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LogFailure::NotWritten(why) => {
                write!(f, "the write-ahead log could not be written ({why}); nothing was applied")
            }
            LogFailure::Refusing(why) => write!(
                f,
                "the store refuses writes since the write-ahead log failed ({why}); reopen it to recover \
                 from what is on disk; nothing was applied"
            ),
            LogFailure::NotSynced(why) => write!(
                f,
                "the write-ahead log could not be synced to disk ({why}); the batch may be lost, and the store \
                 refuses writes until it is reopened"
            ),
        }
    }
}

/// The file records are appended to.
#[derive(Debug)]
struct LogFile {
    file: Arc<File>,
    path: PathBuf,
    /// Bytes of whole records in the file.
    length: u64,
    /// The sequence of the last record written (to the OS) anywhere.
    written: u64,
}

/// What the syncer and the waiting writers share.
#[derive(Debug, Default)]
struct SyncState {
    /// Every record up to this sequence is durable.
    durable: u64,
    /// The highest sequence a writer waits for.
    requested: u64,
    /// Why the log refuses writes, once a sync or a cut-back failed.
    failure: Option<String>,
}

/// The write-ahead log of one data directory.
#[derive(Debug)]
pub(crate) struct Log {
    directory: PathBuf,
    current: Mutex<LogFile>,
    sync: Mutex<SyncState>,
    /// Wakes the syncer: a writer waits for a sequence.
    work: Condvar,
    /// Wakes the waiting writers: a sync finished.
    synced: Condvar,
    policy: SyncPolicy,
    faults: Arc<LogFaults>,
    /// fsyncs of the log so far.
    syncs: AtomicU64,
    /// Records the last sync made durable.
    last_covered: AtomicU64,
}

/// Longest the syncer waits for concurrent writers to add their records.
const GATHER: Duration = Duration::from_micros(150);
/// A pause in arriving records after which the syncer stops waiting.
const SETTLE: Duration = Duration::from_micros(30);

/// How long the syncer waits for work before it checks that its log is
/// still in use.
const IDLE_CHECK: Duration = Duration::from_millis(50);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The syncer thread (policies `always` and `interval`): it fsyncs the log
/// whenever a writer waits (or every interval), covering every record
/// written by then, so that the records written during one fsync are made
/// durable together by the next (group commit, with no writer ever waiting
/// for others to arrive). It holds its log only while it works, and ends
/// once the log is dropped.
fn run_syncer(log: Weak<Log>) {
    loop {
        let Some(log) = log.upgrade() else { return };
        let mut state = lock(&log.sync);
        if state.failure.is_some() {
            // Nothing is synced again: the store refuses writes until it is
            // reopened.
            return;
        }
        let wait = match log.policy {
            SyncPolicy::Interval(every) => every,
            _ => IDLE_CHECK,
        };
        if state.requested <= state.durable && state.failure.is_none() {
            state = log.work.wait_timeout(state, wait).unwrap_or_else(PoisonError::into_inner).0;
        }
        let due = match log.policy {
            SyncPolicy::Always => state.requested > state.durable,
            SyncPolicy::Interval(_) => true,
            SyncPolicy::Never => false,
        };
        if due && state.failure.is_none() {
            drop(state);
            log.gather();
            log.sync_now();
        }
    }
}

impl Log {
    /// A log appending to `file` (whose whole records end at `length` and
    /// the last of which has sequence `written`, all durable).
    pub(crate) fn new(
        directory: &Path,
        path: PathBuf,
        file: File,
        length: u64,
        written: u64,
        policy: SyncPolicy,
        faults: Arc<LogFaults>,
    ) -> Arc<Log> {
        let log = Arc::new(Log {
            directory: directory.to_owned(),
            current: Mutex::new(LogFile { file: Arc::new(file), path, length, written }),
            sync: Mutex::new(SyncState { durable: written, requested: written, failure: None }),
            work: Condvar::new(),
            synced: Condvar::new(),
            policy,
            faults,
            syncs: AtomicU64::new(0),
            last_covered: AtomicU64::new(0),
        });
        if policy != SyncPolicy::Never {
            let weak = Arc::downgrade(&log);
            let spawned = std::thread::Builder::new().name("msgdex-log-sync".into()).spawn(move || run_syncer(weak));
            if let Err(error) = spawned {
                log.fail(format!("starting the log's sync thread: {error}"));
            }
        }
        log
    }

    /// Why the log refuses writes, if it does.
    pub(crate) fn refusal(&self) -> Option<String> {
        lock(&self.sync).failure.clone()
    }

    /// Appends the record of batch `sequence` (the next one). Called under
    /// the store's writer lock, before the batch is published.
    pub(crate) fn append(&self, sequence: u64, payload: &[u8]) -> Result<(), LogFailure> {
        if let Some(why) = self.refusal() {
            return Err(LogFailure::Refusing(why));
        }
        let bytes = record_bytes(sequence, payload);
        let mut current = lock(&self.current);
        debug_assert_eq!(sequence, current.written + 1, "records are appended in sequence");
        match self.write_at(&current, &bytes) {
            Ok(()) => {
                current.length += bytes.len() as u64;
                current.written = sequence;
                Ok(())
            }
            Err(error) => {
                // Cut back to the last whole record, so that the file holds
                // exactly the batches applied.
                let cut = current.file.set_len(current.length).and_then(|()| self.sync_file(&current.file));
                if let Err(cut_error) = cut {
                    self.fail(format!("{error}, then cutting the file back failed: {cut_error}"));
                }
                Err(LogFailure::NotWritten(format!("{}: {error}", current.path.display())))
            }
        }
    }

    fn write_at(&self, current: &LogFile, bytes: &[u8]) -> io::Result<()> {
        let room = self.faults.space_left.load(Ordering::Relaxed).saturating_sub(current.length);
        if (bytes.len() as u64) > room {
            current.file.write_all_at(&bytes[..room as usize], current.length)?;
            return Err(io::Error::from_raw_os_error(libc::ENOSPC));
        }
        current.file.write_all_at(bytes, current.length)
    }

    fn sync_file(&self, file: &File) -> io::Result<()> {
        self.syncs.fetch_add(1, Ordering::Relaxed);
        if self.faults.fail_syncs.load(Ordering::Relaxed) {
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        file.sync_data()
    }

    fn fail(&self, why: String) {
        let mut sync = lock(&self.sync);
        sync.failure.get_or_insert(why);
        self.synced.notify_all();
    }

    /// When the last sync covered several writers' records (they write
    /// concurrently), waits while more records keep arriving — until none
    /// has for [`SETTLE`], at most [`GATHER`] — so that writers woken by
    /// the last sync join this one rather than the next.
    fn gather(&self) {
        if self.last_covered.load(Ordering::Relaxed) <= 1 {
            return;
        }
        let started = std::time::Instant::now();
        let (mut written, mut since) = (lock(&self.current).written, started);
        while started.elapsed() < GATHER && since.elapsed() < SETTLE {
            std::thread::yield_now();
            let now = lock(&self.current).written;
            if now != written {
                (written, since) = (now, std::time::Instant::now());
            }
        }
    }

    /// Fsyncs the current file now, making every record written before it
    /// began durable, and wakes the writers waiting.
    fn sync_now(&self) {
        let (file, written, path) = {
            let current = lock(&self.current);
            (Arc::clone(&current.file), current.written, current.path.clone())
        };
        if written <= lock(&self.sync).durable {
            return;
        }
        let result = self.sync_file(&file);
        let mut state = lock(&self.sync);
        match result {
            Ok(()) => {
                self.last_covered.store(written.saturating_sub(state.durable), Ordering::Relaxed);
                state.durable = state.durable.max(written);
            }
            Err(error) => {
                state.failure.get_or_insert_with(|| format!("syncing {}: {error}", path.display()));
            }
        }
        self.synced.notify_all();
    }

    /// Waits until record `sequence` may be acknowledged under the sync
    /// policy.
    pub(crate) fn wait_durable(&self, sequence: u64) -> Result<(), LogFailure> {
        match self.policy {
            SyncPolicy::Always => self.sync_through(sequence),
            SyncPolicy::Interval(_) | SyncPolicy::Never => Ok(()),
        }
    }

    /// Waits until every record up to `sequence` is durable: the syncer
    /// covers it with its next fsync.
    fn sync_through(&self, sequence: u64) -> Result<(), LogFailure> {
        let mut state = lock(&self.sync);
        loop {
            if let Some(why) = &state.failure {
                return Err(LogFailure::NotSynced(why.clone()));
            }
            if state.durable >= sequence {
                return Ok(());
            }
            if state.requested < sequence {
                state.requested = sequence;
                self.work.notify_one();
            }
            state = self.synced.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// How many times the log was synced.
    pub(crate) fn syncs(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }

    /// Starts a new log file for the records after the last written one,
    /// once every record of the current file is durable (synced here, on
    /// the caller's thread, whatever the policy). Called under the store's
    /// writer lock. A file that cannot be made leaves the current one in
    /// use.
    pub(crate) fn rotate(&self) -> Result<(), LogFailure> {
        self.sync_now();
        if let Some(why) = self.refusal() {
            return Err(LogFailure::NotSynced(why));
        }
        let (written, length) = {
            let current = lock(&self.current);
            (current.written, current.length)
        };
        if length == 0 {
            // The current file holds no record yet: it already starts after
            // the last one written.
            return Ok(());
        }
        let path = self.directory.join(log_file_name(written + 1));
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|error| LogFailure::NotWritten(format!("creating {}: {error}", path.display())))?;
        if let Err(error) = sync_directory(&self.directory) {
            // An empty file left named would stand where the next records
            // belong: it goes, or the log stops.
            if let Err(removal) = std::fs::remove_file(&path) {
                self.fail(format!(
                    "{} could not be synced into the directory ({error}) nor removed ({removal})",
                    path.display()
                ));
            }
            return Err(LogFailure::NotWritten(format!("syncing the directory for {}: {error}", path.display())));
        }
        let mut current = lock(&self.current);
        *current = LogFile { file: Arc::new(file), path, length: 0, written };
        Ok(())
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        // What `never` and `interval` acknowledged is written to the OS; a
        // clean close makes it durable too.
        let current = lock(&self.current);
        let _ = current.file.sync_data();
    }
}
