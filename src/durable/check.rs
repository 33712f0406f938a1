//! `msgdex check`: every checksum of a data directory verified, and every
//! index of its base compared with one rebuilt from the rows; the log read
//! through and applied in memory. Nothing on disk is changed.

use std::path::Path;
use std::sync::Arc;

use super::directory::{log_files, DirectoryLock, Manifest};
use super::error::StoreError;
use super::replay::{replay, CutTail, ReplayMode};
use crate::live::{LiveEngine, LivePolicy};
use crate::store::Segment;

/// What a check found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Messages in the base segment.
    pub base_messages: u64,
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
    let manifest = Manifest::read(directory)?;
    let segment = match &manifest.base {
        Some(name) => Segment::read_file(&directory.join(name))?,
        None => Segment::from_messages(&[]).expect("an empty segment builds"),
    };
    let mut report = CheckReport {
        base_messages: u64::from(segment.row_count()),
        problems: segment.disagreements(),
        log_files: log_files(directory)?.len(),
        ..CheckReport::default()
    };
    let policy = LivePolicy { background: false, ..LivePolicy::default() };
    let engine = LiveEngine::with_policy(Arc::new(segment), policy);
    engine.start_at_sequence(manifest.replay_from - 1);
    let open = replay(directory, manifest.replay_from, ReplayMode::Verify, |sequence, batch| {
        report.log_records += 1;
        engine.replay(sequence, batch).map_err(|problem| StoreError::corrupt(directory, 0, problem))
    })?;
    report.torn = open.and_then(|open| open.cut);
    report.messages = crate::engine::Engine::message_count(&engine);
    Ok(report)
}
