//! `msgdex import`: a data directory made from a JSON array or JSON Lines
//! file, loaded with the loader's strict checks.
//!
//! *Invariant:* the directory appears whole or not at all. It is built
//! under a temporary name beside the target and renamed into place only
//! once its files and manifest are durable; a failed import removes the
//! temporary directory, and a crash leaves only a name no open accepts.

use std::path::{Path, PathBuf};

use super::directory::{base_file_name, sync_directory, Manifest, MANIFEST};
use super::error::StoreError;
use crate::fast::FastEngine;
use crate::load::LoadProgress;
use crate::store::{ContentStorage, SegmentBuilder};

/// What an import wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportReport {
    /// Messages in the new store.
    pub messages: u64,
    /// Bytes of the directory's files.
    pub bytes: u64,
}

/// Loads `data` (a JSON array or JSON Lines file, checked as every load
/// is) and writes it as a new data directory at `into`, which must not
/// exist, storing `content` as `storage` says (its checkpoints keep that
/// way unless [`LivePolicy::content`](crate::LivePolicy::content) changes
/// it). `progress` is called as the file is read.
pub fn import(
    data: impl AsRef<Path>,
    into: impl AsRef<Path>,
    storage: ContentStorage,
    progress: impl FnMut(LoadProgress) + Send,
) -> Result<ImportReport, StoreError> {
    let into = into.as_ref();
    if into.exists() {
        return Err(StoreError::AlreadyExists { path: into.to_owned() });
    }
    let engine = FastEngine::load_path_with(data, storage, progress)?;
    write_new_directory(&engine, into)
}

/// Makes a new, empty data directory at `into`, which must not exist,
/// keeping `content` as `storage` says: the start of a replica (`msgdex
/// sync`).
pub fn create(into: impl AsRef<Path>, storage: ContentStorage) -> Result<ImportReport, StoreError> {
    let into = into.as_ref();
    if into.exists() {
        return Err(StoreError::AlreadyExists { path: into.to_owned() });
    }
    let mut builder = SegmentBuilder::new();
    builder.store_content(storage);
    let engine = FastEngine::from_segment(builder.finish());
    write_new_directory(&engine, into)
}

/// Writes `engine` as the directory `into`, whole or not at all (see the
/// module's invariant).
fn write_new_directory(engine: &FastEngine, into: &Path) -> Result<ImportReport, StoreError> {
    let temporary = temporary_name(into);
    let _ = std::fs::remove_dir_all(&temporary);
    let written = write_directory(engine, &temporary).and_then(|bytes| {
        std::fs::rename(&temporary, into)
            .map_err(|error| StoreError::io(into, "renaming the new directory to", error))?;
        let parent = parent_of(into);
        sync_directory(&parent).map_err(|error| StoreError::io(&parent, "syncing", error))?;
        Ok(bytes)
    });
    match written {
        Ok(bytes) => Ok(ImportReport { messages: u64::from(engine.segment().row_count()), bytes }),
        Err(error) => {
            let _ = std::fs::remove_dir_all(&temporary);
            Err(error)
        }
    }
}

/// The directory holding `path` (`.` for a bare name).
pub(crate) fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// A hidden name beside `into`, unique to this process.
pub(super) fn temporary_name(into: &Path) -> PathBuf {
    let name = into.file_name().map_or_else(|| "store".into(), |name| name.to_string_lossy().into_owned());
    parent_of(into).join(format!(".{name}.importing-{}", std::process::id()))
}

/// Writes the directory's files; returns their size.
fn write_directory(engine: &FastEngine, directory: &Path) -> Result<u64, StoreError> {
    std::fs::create_dir(directory).map_err(|error| StoreError::io(directory, "creating", error))?;
    let base = base_file_name(0);
    engine.segment().write_file(&directory.join(&base))?;
    Manifest { base: Some(base.clone()), replay_from: 1, position: None }.write(directory)?;
    let size = |name: &str| std::fs::metadata(directory.join(name)).map_or(0, |metadata| metadata.len());
    Ok(size(&base) + size(MANIFEST))
}
