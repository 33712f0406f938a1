//! The durable store: a data directory of immutable segment files, a
//! manifest and a write-ahead log, so that a store keeps every
//! acknowledged write across restarts and crashes, and reopens without
//! parsing or indexing anything it can read (docs/FORMAT.md has the
//! bytes).
//!
//! ```text
//!  import:      JSON file ─load─▶ Segment ─▶ DIR.importing/base-0.seg + MANIFEST ─rename─▶ DIR
//!  open:        LOCK ─▶ MANIFEST ─▶ base-S.seg (read, not built) ─▶ replay log-*.wal from S+1
//!  write:       record appended to the log ─▶ batch published ─▶ synced (policy) ─▶ acknowledged
//!  checkpoint:  a compaction's new base ─▶ base-T.seg ─▶ MANIFEST (atomic) ─▶ old files removed
//! ```
//!
//! The files, one concept each:
//!
//! ```text
//!  arrays.rs     the segment file's container: typed arrays with checksums
//!  directory.rs  file names, the manifest, the lock, directory syncs
//!  record.rs     a log record: one write batch, self-contained
//!  log.rs        appending records, sync policies, group commit
//!  replay.rs     reading the log back, cutting a torn end
//!  import.rs     a data directory made from a JSON file
//!  check.rs      verifying every checksum and every index
//!  transfer.rs   a checkpoint's files, read here and installed elsewhere
//!  error.rs      StoreError
//! ```
//!
//! The store's segments write and read themselves
//! (`store/persist.rs`); the live store logs its batches and checkpoints
//! (`live/persistence.rs`).

pub(crate) mod arrays;
mod check;
pub(crate) mod directory;
mod error;
mod import;
pub(crate) mod log;
pub(crate) mod record;
pub(crate) mod replay;
mod transfer;

use std::sync::Arc;

pub use check::{check, CheckReport};
pub use error::StoreError;
#[cfg(feature = "stream")]
pub(crate) use import::parent_of;
pub use import::{create, import, ImportReport};
pub use log::{LogFaults, SyncPolicy};
pub use replay::CutTail;
#[cfg(feature = "stream")]
pub(crate) use transfer::is_transferable_file_name;
pub use transfer::{install_checkpoint, CheckpointFiles, CheckpointManifest};

use crate::live::LivePolicy;

/// How a data directory is opened as a live store.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// When a write's log record is made durable, relative to its
    /// acknowledgement ([`SyncPolicy::Always`] by default).
    pub sync: SyncPolicy,
    /// The live store's part sizes and compaction rule; every compaction
    /// is also a checkpoint.
    pub policy: LivePolicy,
    /// Faults to inject into the log (tests only).
    #[doc(hidden)]
    pub faults: Arc<LogFaults>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions { sync: SyncPolicy::Always, policy: LivePolicy::default(), faults: Arc::new(LogFaults::none()) }
    }
}

/// What opening a data directory found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Log records applied on top of the base.
    pub replayed: u64,
    /// A torn record cut off the end of the log, if there was one.
    pub cut: Option<CutTail>,
}
