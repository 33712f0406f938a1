//! `msgdex check`: every checksum of a data directory verified, and every
//! index of its base compared with one rebuilt from the rows; the log read
//! through and applied in memory. Nothing on disk is changed.

use std::path::Path;
use std::sync::Arc;

use super::directory::{log_files, DirectoryLock};
use super::error::StoreError;
use super::replay::{CutTail, ReplayMode};
use crate::live::{LiveEngine, LivePolicy};
use crate::store::ContentStorage;

/// What a check found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Messages in the base segment.
    pub base_messages: u64,
    /// How the base keeps `content` (and its checkpoints will, unless
    /// told otherwise).
    pub content: ContentStorage,
    /// Log records after the base, every one verified and applied.
    pub log_records: u64,
    /// Log files read.
    pub log_files: usize,
    /// Messages after the log is applied.
    pub messages: u64,
    /// A torn record at the end of the log, which opening would cut.
    pub torn: Option<CutTail>,
    /// Indexes that do not agree with the rows (empty when all agree).
    pub problems: Vec<String>,
}

/// Checks the data directory at `directory` (taking its lock, so not
/// while another process owns it). Damage that would refuse an open is an
/// `Err`; indexes that disagree with their rows are listed in the report.
pub fn check(directory: impl AsRef<Path>) -> Result<CheckReport, StoreError> {
    let directory = directory.as_ref();
    let _lock = DirectoryLock::take(directory)?;
    let policy = LivePolicy { background: false, ..LivePolicy::default() };
    let (engine, manifest) = LiveEngine::open_base(directory, policy)?;
    let base = Arc::clone(&engine.snapshot().state().base().segment);
    let (open, log_records) = engine.replay_log(directory, manifest.replay_from, ReplayMode::Verify)?;
    Ok(CheckReport {
        base_messages: u64::from(base.row_count()),
        content: base.content_storage(),
        log_records,
        log_files: log_files(directory)?.len(),
        messages: crate::engine::Engine::message_count(&engine),
        torn: open.and_then(|open| open.cut),
        problems: base.disagreements(),
    })
}
