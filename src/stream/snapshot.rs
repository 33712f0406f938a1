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
//! are deleted only after `CURRENT` names another. A reader that loses a
//! race (the files deleted while it reads) reads `CURRENT` again. One node
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
use crate::durable::{install_checkpoint, is_transferable_file_name, CheckpointManifest};
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

fn nats(what: &str) -> impl Fn(&dyn std::fmt::Display) -> StreamError + '_ {
    move |error| StreamError::Nats(format!("{what}: {error}"))
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
        .map_err(|error| nats(&format!("cannot open the bucket {name}"))(&error))
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
    {
        let engine = Arc::clone(&engine);
        tokio::task::spawn_blocking(move || engine.checkpoint())
            .await
            .map_err(|error| StreamError::Store(error.to_string()))?
            .map_err(|error| StreamError::Store(format!("checkpointing {account}: {error}")))?;
    }
    // No checkpoint replaces the files, nor removes a log file, meanwhile.
    let hold = engine.hold_compactions();
    let files = engine.checkpoint_files().map_err(|error| StreamError::Store(error.to_string()))?;
    let manifest = String::from_utf8_lossy(files.manifest.bytes()).into_owned();
    let sequence = sequence_of(files.manifest.position())?;
    let mut published = PublishedSnapshot { sequence, bytes: 0, published: false };
    let current_name = current_object(account);
    if let Some((current, _)) = read_current(&bucket, &current_name).await? {
        if current.manifest == manifest || current.sequence > sequence {
            // The same base is published already, or a later one.
            return Ok(published);
        }
    }
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
            bucket.put(meta, &mut file).await.map_err(|error| nats(&format!("cannot upload {object}"))(&error))?;
        published.bytes += info.size as u64;
        names.push(name.clone());
    }
    drop(hold);
    let current = Current { format: CURRENT_FORMAT, id: id.clone(), sequence, manifest, files: names };
    let text = serde_json::to_vec(&current).map_err(|error| StreamError::Store(error.to_string()))?;
    bucket
        .put(current_name.as_str(), &mut text.as_slice())
        .await
        .map_err(|error| nats(&format!("cannot upload {current_name}"))(&error))?;
    published.published = true;
    // Older snapshots, no longer current: deleted after CURRENT is in.
    let (prefix, keep) = (format!("{account}/"), format!("{account}/{id}/"));
    let mut stale = Vec::new();
    let mut listing = bucket.list().await.map_err(|error| nats("cannot list the snapshots")(&error))?;
    while let Some(info) = listing.next().await {
        let info = info.map_err(|error| nats("cannot list the snapshots")(&error))?;
        let older = info.name.starts_with(&prefix) && info.name != current_name && !info.name.starts_with(&keep);
        if !info.deleted && older {
            stale.push(info.name);
        }
    }
    for name in stale {
        bucket.delete(&name).await.map_err(|error| nats(&format!("cannot delete {name}"))(&error))?;
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
    let Ok(bucket) = context.get_object_store(snapshot_bucket(config)).await else {
        return Ok(None);
    };
    let current_name = current_object(account);
    let arrived = beside(directory, "snapshot");
    for _ in 0..BOOTSTRAP_ATTEMPTS {
        let Some((current, manifest)) = read_current(&bucket, &current_name).await? else {
            return Ok(None);
        };
        let _ = tokio::fs::remove_dir_all(&arrived).await;
        tokio::fs::create_dir(&arrived)
            .await
            .map_err(|error| StreamError::Store(format!("cannot make {}: {error}", arrived.display())))?;
        let mut whole = true;
        for name in &current.files {
            let object = file_object(account, &current.id, name);
            if !download(&bucket, &object, &arrived.join(name)).await? {
                whole = false;
                break;
            }
        }
        if !whole {
            // Replaced since CURRENT was read: read it again.
            continue;
        }
        let (directory, files) = (directory.to_owned(), arrived.clone());
        let installed = tokio::task::spawn_blocking(move || install_checkpoint(&directory, &manifest, &files))
            .await
            .map_err(|error| StreamError::Store(error.to_string()))?;
        if installed.is_err() {
            let _ = tokio::fs::remove_dir_all(&arrived).await;
        }
        installed.map_err(|error| StreamError::Store(format!("the snapshot of {account}: {error}")))?;
        return Ok(Some(current.sequence));
    }
    let _ = tokio::fs::remove_dir_all(&arrived).await;
    Err(StreamError::Nats(format!(
        "the snapshot of {account} was replaced under every one of {BOOTSTRAP_ATTEMPTS} reads; try again"
    )))
}

/// A hidden path beside `directory`, unique to this process.
fn beside(directory: &Path, what: &str) -> PathBuf {
    let name = directory.file_name().map_or_else(|| "store".into(), |name| name.to_string_lossy().into_owned());
    let parent = match directory.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    parent.join(format!(".{name}.{what}-{}", std::process::id()))
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
        Err(error) => return Err(nats(&format!("cannot read {name}"))(&error)),
    }
    let mut object = bucket.get(name).await.map_err(|error| nats(&format!("cannot read {name}"))(&error))?;
    let mut bytes = Vec::new();
    (&mut object)
        .take(MAX_CURRENT_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(|error| nats(&format!("cannot read {name}"))(&error))?;
    let current: Current = serde_json::from_slice(&bytes)
        .map_err(|error| StreamError::Store(format!("{name} is not a snapshot: {error}")))?;
    current.check().map(Some).map_err(|why| StreamError::Store(format!("{name} is refused: {why}")))
}

/// Downloads an object into the file `path`, synced; whether the object
/// was there.
async fn download(bucket: &ObjectStore, name: &str, path: &Path) -> Result<bool, StreamError> {
    use async_nats::jetstream::object_store::GetErrorKind;
    let mut object = match bucket.get(name).await {
        Ok(object) => object,
        Err(error) if error.kind() == GetErrorKind::NotFound => return Ok(false),
        Err(error) => return Err(nats(&format!("cannot read {name}"))(&error)),
    };
    let store_error = |error: std::io::Error| StreamError::Store(format!("cannot write {}: {error}", path.display()));
    let file = tokio::fs::File::create(path).await.map_err(store_error)?;
    let mut file = tokio::io::BufWriter::with_capacity(WRITE_BUFFER_BYTES, file);
    tokio::io::copy(&mut object, &mut file).await.map_err(|error| nats(&format!("cannot read {name}"))(&error))?;
    tokio::io::AsyncWriteExt::flush(&mut file).await.map_err(store_error)?;
    file.into_inner().sync_all().await.map_err(store_error)?;
    Ok(true)
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
