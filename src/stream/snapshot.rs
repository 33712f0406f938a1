//! Snapshots of an account's store in the JetStream object store, so that
//! a new replica starts from a recent copy of the store and consumes the
//! stream after it instead of from the start.
//!
//! ```text
//! bucket <stream>_SNAPSHOTS
//!   <account>/CURRENT        which snapshot is current: its id, the stream
//!                            sequence its base holds, its manifest (text)
//!                            and its files' names (JSON, written last)
//!   <account>/<id>/<file>    the snapshot's files: a base segment and the
//!                            log written after it, as the data directory
//!                            holds them
//! ```
//!
//! A snapshot is the store as a restart would open it: the checkpoint's
//! base and the log after it (a checkpoint's base need not hold every batch
//! before its manifest's position; see `durable/transfer.rs`). A new
//! replica opens it, replaying that log, and follows the stream from the
//! position the store then holds.
//!
//! *Invariant:* `CURRENT` names a snapshot whose files were published whole
//! before it, and never moves back to an older base; a snapshot's files
//! are deleted only once `CURRENT` has moved past it twice, so a reader
//! has a whole interval to read the one it found. A reader that still
//! loses a race (the files deleted while it reads) reads `CURRENT` again. One node
//! per account should publish (`--snapshot-every`): with two, a new replica
//! may find a snapshot the other just deleted, and retry. The object store
//! checks each object's SHA-256 as it is read, and the store checks its
//! files' own checksums when it opens.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_nats::jetstream::object_store::{ObjectMetadata, ObjectStore};
use futures_util::StreamExt as _;
use tokio::io::AsyncReadExt as _;

use super::{sequence_of, StreamConfig, StreamError};
use crate::durable::{install_checkpoint, is_transferable_file_name, parent_of, CheckpointManifest};
use crate::live::LiveEngine;

/// The object store bucket of a stream's snapshots.
pub fn snapshot_bucket(config: &StreamConfig) -> String {
    format!("{}_SNAPSHOTS", config.stream)
}

/// Chunks of a snapshot's objects: as large as NATS' default 1 MiB message
/// limit allows with room to spare, so that a base of a gigabyte is about
/// a thousand messages.
const CHUNK_BYTES: usize = 1_000_000;

/// The buffer a downloaded file is written through.
const WRITE_BUFFER_BYTES: usize = 4 << 20;

/// The largest `CURRENT` read from the bucket (a real one is under 1 KiB).
const MAX_CURRENT_BYTES: usize = 64 * 1024;

/// The most files a snapshot may name (a base and its log files).
const MAX_FILES: usize = 10_000;

/// How many times a bootstrap reads `CURRENT` again after the snapshot it
/// named was replaced under it.
const BOOTSTRAP_ATTEMPTS: usize = 5;

/// The format of `CURRENT` this build writes and reads.
const CURRENT_FORMAT: u32 = 1;

/// `<account>/CURRENT`: which snapshot is current.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Current {
    format: u32,
    /// The snapshot's id: its objects are `<account>/<id>/<file>`.
    id: String,
    /// The stream sequence the snapshot's base holds (its log may hold
    /// more).
    sequence: u64,
    /// The data directory's manifest.
    manifest: String,
    /// The base and log files, by name.
    files: Vec<String>,
}

impl Current {
    /// Checks what a peer wrote: the format, an id of digits and dashes,
    /// the manifest, and file names a store holds.
    fn check(self) -> Result<(Current, CheckpointManifest), String> {
        if self.format != CURRENT_FORMAT {
            return Err(format!("format {} (this build reads {CURRENT_FORMAT})", self.format));
        }
        if self.id.is_empty()
            || self.id.len() > 64
            || !self.id.bytes().all(|byte| byte.is_ascii_digit() || byte == b'-')
        {
            return Err(format!("the id {:?} is not a snapshot id", self.id));
        }
        if self.files.len() > MAX_FILES {
            return Err(format!("{} files; a snapshot names at most {MAX_FILES}", self.files.len()));
        }
        if let Some(name) = self.files.iter().find(|name| !is_transferable_file_name(name)) {
            return Err(format!("{name:?} is not a file a store holds"));
        }
        let manifest =
            CheckpointManifest::parse(self.manifest.clone().into_bytes()).map_err(|error| error.to_string())?;
        if manifest.base_name().is_some_and(|base| !self.files.iter().any(|name| name == base)) {
            return Err("the manifest's base is not among the files".into());
        }
        Ok((self, manifest))
    }
}

fn current_object(account: &str) -> String {
    format!("{account}/CURRENT")
}

fn file_object(account: &str, id: &str, name: &str) -> String {
    format!("{account}/{id}/{name}")
}

/// A NATS failure, saying what was being done.
fn nats_error(what: impl std::fmt::Display, error: impl std::fmt::Display) -> StreamError {
    StreamError::Nats(format!("{what}: {error}"))
}

async fn open_bucket(
    context: &async_nats::jetstream::Context,
    config: &StreamConfig,
) -> Result<ObjectStore, StreamError> {
    let name = snapshot_bucket(config);
    if let Ok(bucket) = context.get_object_store(&name).await {
        return Ok(bucket);
    }
    context
        .create_object_store(async_nats::jetstream::object_store::Config {
            bucket: name.clone(),
            description: Some("msgdex snapshots: each account's last published store".into()),
            num_replicas: config.replicas.clamp(1, 5),
            ..Default::default()
        })
        .await
        .map_err(|error| nats_error(format!("cannot open the bucket {name}"), error))
}

/// What a published snapshot holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishedSnapshot {
    /// The stream sequence the snapshot's base holds: a replica made from
    /// it holds at least that.
    pub sequence: u64,
    /// The bytes of its files.
    pub bytes: u64,
    /// Whether it was published (false: the bucket's current snapshot has
    /// the same base, or a later one).
    pub published: bool,
}

/// Checkpoints `engine` (an account's store on a data directory, kept by
/// the stream) and publishes it as `account`'s snapshot, then deletes the
/// account's older snapshots.
pub async fn publish_snapshot(
    context: &async_nats::jetstream::Context,
    config: &StreamConfig,
    account: &str,
    engine: Arc<LiveEngine>,
) -> Result<PublishedSnapshot, StreamError> {
    let bucket = open_bucket(context, config).await?;
    // No background checkpoint replaces the files, nor removes a log file,
    // from here on; the checkpoint below waits for one under way.
    let hold = engine.hold_compactions();
    {
        let engine = Arc::clone(&engine);
        tokio::task::spawn_blocking(move || engine.checkpoint())
            .await
            .map_err(|error| StreamError::Store(error.to_string()))?
            .map_err(|error| StreamError::Store(format!("checkpointing {account}: {error}")))?;
    }
    let files = engine.checkpoint_files().map_err(|error| StreamError::Store(error.to_string()))?;
    let manifest = String::from_utf8_lossy(files.manifest.bytes()).into_owned();
    let sequence = sequence_of(files.manifest.position())?;
    let mut published = PublishedSnapshot { sequence, bytes: 0, published: false };
    let current_name = current_object(account);
    let previous = match read_current(&bucket, &current_name).await {
        Ok(Some((current, _))) if current.manifest == manifest || current.sequence > sequence => {
            // The same base is published already, or a later one.
            return Ok(published);
        }
        Ok(current) => current.map(|(current, _)| current.id),
        // A CURRENT this build refuses is replaced.
        Err(StreamError::Store(_)) => None,
        Err(error) => return Err(error),
    };
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |since| since.as_nanos());
    let id = format!("{sequence:020}-{nanos}-{}", std::process::id());
    let mut names = Vec::new();
    for (name, path) in &files.files {
        let object = file_object(account, &id, name);
        let mut file = tokio::fs::File::open(path)
            .await
            .map_err(|error| StreamError::Store(format!("cannot open {}: {error}", path.display())))?;
        let meta = ObjectMetadata { name: object.clone(), chunk_size: Some(CHUNK_BYTES), ..Default::default() };
        let info =
            bucket.put(meta, &mut file).await.map_err(|error| nats_error(format!("cannot upload {object}"), error))?;
        published.bytes += info.size as u64;
        names.push(name.clone());
    }
    drop(hold);
    let current = Current { format: CURRENT_FORMAT, id: id.clone(), sequence, manifest, files: names };
    let text = serde_json::to_vec(&current).map_err(|error| StreamError::Store(error.to_string()))?;
    bucket
        .put(current_name.as_str(), &mut text.as_slice())
        .await
        .map_err(|error| nats_error(format!("cannot upload {current_name}"), error))?;
    published.published = true;
    // Older snapshots: deleted after CURRENT is in, except the one just
    // replaced, which a node may still be reading (it goes at the next
    // publication).
    let prefix = format!("{account}/");
    let kept: Vec<String> =
        std::iter::once(&id).chain(previous.as_ref()).map(|id| format!("{account}/{id}/")).collect();
    let mut stale = Vec::new();
    let mut listing = bucket.list().await.map_err(|error| nats_error("cannot list the snapshots", error))?;
    while let Some(info) = listing.next().await {
        let info = info.map_err(|error| nats_error("cannot list the snapshots", error))?;
        let older = info.name.starts_with(&prefix)
            && info.name != current_name
            && !kept.iter().any(|kept| info.name.starts_with(kept));
        if !info.deleted && older {
            stale.push(info.name);
        }
    }
    for name in stale {
        bucket.delete(&name).await.map_err(|error| nats_error(format!("cannot delete {name}"), error))?;
    }
    Ok(published)
}

/// Makes `directory` (which must not exist) from `account`'s published
/// snapshot; the stream sequence its base holds (the store opened from it
/// may hold more, from its log), or `None` when the account has no
/// snapshot (nothing is made then).
pub async fn bootstrap(
    context: &async_nats::jetstream::Context,
    config: &StreamConfig,
    account: &str,
    directory: &Path,
) -> Result<Option<u64>, StreamError> {
    let Some(bucket) = existing_bucket(context, config).await? else {
        return Ok(None);
    };
    let current_name = current_object(account);
    remove_stale_downloads(directory);
    let arrived = TemporaryDirectory(beside(directory, "snapshot", std::process::id()));
    let mut lost = String::new();
    for _ in 0..BOOTSTRAP_ATTEMPTS {
        let Some((current, manifest)) = read_current(&bucket, &current_name).await? else {
            return Ok(None);
        };
        let _ = tokio::fs::remove_dir_all(&arrived.0).await;
        tokio::fs::create_dir(&arrived.0)
            .await
            .map_err(|error| StreamError::Store(format!("cannot make {}: {error}", arrived.0.display())))?;
        check_room(&bucket, account, &current, directory).await?;
        let mut whole = true;
        for name in &current.files {
            let object = file_object(account, &current.id, name);
            match download(&bucket, &object, &arrived.0.join(name)).await {
                Ok(()) => {}
                // A snapshot replaced while it is read loses its files (or
                // their chunks) under the reader: read CURRENT again.
                Err(Download::Lost(why)) => {
                    lost = why;
                    whole = false;
                    break;
                }
                Err(Download::Failed(error)) => return Err(error),
            }
        }
        if !whole {
            continue;
        }
        let (target, files) = (directory.to_owned(), arrived.0.clone());
        tokio::task::spawn_blocking(move || install_checkpoint(&target, &manifest, &files))
            .await
            .map_err(|error| StreamError::Store(error.to_string()))?
            .map_err(|error| StreamError::Store(format!("the snapshot of {account}: {error}")))?;
        return Ok(Some(current.sequence));
    }
    Err(StreamError::Nats(format!(
        "the snapshot of {account} was replaced under every one of {BOOTSTRAP_ATTEMPTS} reads (the last: {lost}); \
         try again"
    )))
}

/// Bytes a bootstrap leaves free on the file system it writes to.
const FREE_SPACE_MARGIN: u64 = 256 << 20;

/// Refuses a snapshot whose files, as the bucket declares them, would not
/// fit beside `directory` with [`FREE_SPACE_MARGIN`] to spare (a download
/// also stops at its declared size).
async fn check_room(
    bucket: &ObjectStore,
    account: &str,
    current: &Current,
    directory: &Path,
) -> Result<(), StreamError> {
    let mut needed = 0u64;
    for name in &current.files {
        let object = file_object(account, &current.id, name);
        if let Ok(info) = bucket.info(&object).await {
            needed = needed.saturating_add(info.size as u64);
        }
    }
    let parent = parent_of(directory);
    match crate::sys::free_bytes(&parent) {
        Some(free) if needed.saturating_add(FREE_SPACE_MARGIN) > free => Err(StreamError::Store(format!(
            "the snapshot of {account} is {needed} bytes, and {} has {free} bytes free (a bootstrap keeps {} MiB \
             free): make room, or start from the whole stream",
            parent.display(),
            FREE_SPACE_MARGIN >> 20
        ))),
        _ => Ok(()),
    }
}

/// The bucket, or `None` when the stream has none (no snapshot was ever
/// published); an error when NATS cannot say.
async fn existing_bucket(
    context: &async_nats::jetstream::Context,
    config: &StreamConfig,
) -> Result<Option<ObjectStore>, StreamError> {
    use async_nats::jetstream::context::GetStreamErrorKind;
    use async_nats::jetstream::ErrorCode;
    let name = snapshot_bucket(config);
    if let Err(error) = context.get_stream(format!("OBJ_{name}")).await {
        let missing = matches!(error.kind(), GetStreamErrorKind::JetStream(inner)
            if inner.error_code() == ErrorCode::STREAM_NOT_FOUND);
        return if missing { Ok(None) } else { Err(nats_error(format!("cannot look for the bucket {name}"), error)) };
    }
    context
        .get_object_store(&name)
        .await
        .map(Some)
        .map_err(|error| nats_error(format!("cannot open the bucket {name}"), error))
}

/// A directory removed when dropped, whatever path the bootstrap took
/// (one installed has been renamed away by then).
struct TemporaryDirectory(PathBuf);

impl Drop for TemporaryDirectory {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A hidden path beside `directory`, named for what it holds and for the
/// process that made it.
fn beside(directory: &Path, what: &str, process: u32) -> PathBuf {
    parent_of(directory).join(format!(".{}.{what}-{process}", name_of(directory)))
}

fn name_of(directory: &Path) -> String {
    directory.file_name().map_or_else(|| "store".into(), |name| name.to_string_lossy().into_owned())
}

/// Removes the downloads that earlier processes (killed while they
/// bootstrapped) left beside `directory`.
fn remove_stale_downloads(directory: &Path) {
    let prefix = format!(".{}.snapshot-", name_of(directory));
    let Ok(entries) = std::fs::read_dir(parent_of(directory)) else { return };
    for entry in entries.flatten() {
        let stale = entry
            .file_name()
            .to_str()
            .and_then(|file| file.strip_prefix(&prefix))
            .is_some_and(|process| process.parse::<u32>().is_ok_and(|process| process != std::process::id()));
        if stale {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// `CURRENT`, checked, or `None` when there is none.
async fn read_current(bucket: &ObjectStore, name: &str) -> Result<Option<(Current, CheckpointManifest)>, StreamError> {
    use async_nats::jetstream::object_store::InfoErrorKind;
    match bucket.info(name).await {
        Ok(info) if info.deleted => return Ok(None),
        Ok(info) if info.size > MAX_CURRENT_BYTES => {
            return Err(StreamError::Store(format!("{name} is {} bytes; it is at most {MAX_CURRENT_BYTES}", info.size)))
        }
        Ok(_) => {}
        Err(error) if error.kind() == InfoErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(nats_error(format!("cannot read {name}"), error)),
    }
    let mut object = bucket.get(name).await.map_err(|error| nats_error(format!("cannot read {name}"), error))?;
    let mut bytes = Vec::new();
    (&mut object)
        .take(MAX_CURRENT_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(|error| nats_error(format!("cannot read {name}"), error))?;
    let current: Current = serde_json::from_slice(&bytes)
        .map_err(|error| StreamError::Store(format!("{name} is not a snapshot: {error}")))?;
    current.check().map(Some).map_err(|why| StreamError::Store(format!("{name} is refused: {why}")))
}

/// Why a download stopped.
enum Download {
    /// The object, or a chunk of it, is gone, or its reading failed or
    /// stalled: the snapshot was replaced meanwhile, or the link failed.
    Lost(String),
    /// Writing it here failed.
    Failed(StreamError),
}

/// The least time a download is given, whatever its size.
const DOWNLOAD_TIME_FLOOR: std::time::Duration = std::time::Duration::from_secs(30);

/// The slowest transfer a download is given time for, in bytes a second.
const DOWNLOAD_SLOWEST_BYTES_PER_SECOND: u64 = 5_000_000;

/// Downloads an object into the file `path`, synced, within a time its
/// size allows.
async fn download(bucket: &ObjectStore, name: &str, path: &Path) -> Result<(), Download> {
    let mut object = bucket.get(name).await.map_err(|error| Download::Lost(format!("{name}: {error}")))?;
    let size = object.info().size as u64;
    let limit = DOWNLOAD_TIME_FLOOR + std::time::Duration::from_secs(size / DOWNLOAD_SLOWEST_BYTES_PER_SECOND);
    let store_error = |error: std::io::Error| {
        Download::Failed(StreamError::Store(format!("cannot write {}: {error}", path.display())))
    };
    let file = tokio::fs::File::create(path).await.map_err(store_error)?;
    let mut file = tokio::io::BufWriter::with_capacity(WRITE_BUFFER_BYTES, file);
    let mut reading = tokio::io::BufReader::with_capacity(WRITE_BUFFER_BYTES, &mut object);
    // Read and write apart, so that a failed write is told from a failed read.
    let copied = tokio::time::timeout(limit, async {
        let mut written = 0u64;
        loop {
            let chunk = tokio::io::AsyncBufReadExt::fill_buf(&mut reading)
                .await
                .map_err(|error| Download::Lost(format!("{name}: {error}")))?;
            if chunk.is_empty() {
                return Ok(());
            }
            let length = chunk.len();
            written += length as u64;
            if written > size {
                return Err(Download::Lost(format!("{name}: more bytes than its declared {size}")));
            }
            tokio::io::AsyncWriteExt::write_all(&mut file, chunk).await.map_err(store_error)?;
            tokio::io::AsyncBufReadExt::consume(&mut reading, length);
        }
    })
    .await;
    match copied {
        Err(_) => return Err(Download::Lost(format!("{name}: not read within {} s", limit.as_secs()))),
        Ok(result) => result?,
    }
    tokio::io::AsyncWriteExt::flush(&mut file).await.map_err(store_error)?;
    file.into_inner().sync_all().await.map_err(store_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn current(files: &[&str], id: &str) -> Current {
        let manifest = "msgdex-manifest 1\nbase base-00000000000000000000.seg\nreplay-from 1\n";
        let manifest = format!("{manifest}crc32c {:08x}\n", crc32c::crc32c(manifest.as_bytes()));
        Current {
            format: CURRENT_FORMAT,
            id: id.into(),
            sequence: 3,
            manifest,
            files: files.iter().map(|name| name.to_string()).collect(),
        }
    }

    #[test]
    fn a_peers_current_names_only_store_files_under_a_plain_id() {
        let base = "base-00000000000000000000.seg";
        let log = "log-00000000000000000001.wal";
        assert!(current(&[base, log], "00000000000000000003-17-5").check().is_ok());
        assert!(current(&[log], "1").check().unwrap_err().contains("base is not among"));
        assert!(current(&[base, "../x"], "1").check().unwrap_err().contains("not a file"));
        assert!(current(&[base], "../1").check().unwrap_err().contains("not a snapshot id"));
        assert!(current(&[base], "").check().is_err());
        let mut damaged = current(&[base], "1");
        damaged.manifest = damaged.manifest.replace("replay-from 1", "replay-from 2");
        assert!(damaged.check().is_err(), "the manifest's checksum");
        let mut future = current(&[base], "1");
        future.format = 2;
        assert!(future.check().unwrap_err().contains("format 2"));
    }
}
