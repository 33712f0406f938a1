//! Snapshots of an account's store in the JetStream object store, so that
//! a new replica starts from a checkpoint at stream sequence S and
//! consumes the stream from S+1 instead of from the start.
//!
//! ```text
//! bucket <stream>_SNAPSHOTS
//!   <account>/base-at-<S>.seg   the base segment of a checkpoint holding
//!                               the account's stream up to sequence S
//!   <account>/MANIFEST          the checkpoint's manifest: written last
//! ```
//!
//! A base is named by the stream sequence it holds, not by the node's own
//! file name: every replica that applied the stream up to S holds the same
//! messages, so a base already published at S is not uploaded again.
//!
//! *Invariant:* a published `MANIFEST` names a base published whole before
//! it, and never moves back to an older sequence; a base is deleted only
//! after a `MANIFEST` at a later sequence is in. A reader that loses a race
//! (its base deleted while it reads) reads the manifest again. One node
//! per account should publish (`--snapshot-every`): two may, but then a
//! new replica can find a manifest whose base another just deleted, and
//! retries. The object store checks each object's SHA-256 as it is read,
//! and the data directory checks the base's own checksums when it opens.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_nats::jetstream::object_store::{ObjectMetadata, ObjectStore};
use futures_util::StreamExt as _;
use tokio::io::AsyncReadExt as _;

use super::{sequence_of, StreamConfig, StreamError};
use crate::durable::{install_checkpoint, CheckpointManifest};
use crate::live::LiveEngine;

/// The object store bucket of a stream's snapshots.
pub fn snapshot_bucket(config: &StreamConfig) -> String {
    format!("{}_SNAPSHOTS", config.stream)
}

/// Chunks of a snapshot's objects: large ones, far under NATS' 1 MiB
/// message limit, so that a base of a gigabyte is a few thousand messages.
const CHUNK_BYTES: usize = 512 * 1024;

/// The largest manifest read from the bucket (a real one is under 200 bytes).
const MAX_MANIFEST_BYTES: usize = 64 * 1024;

/// How many times a bootstrap reads the manifest again after its base was
/// replaced under it.
const BOOTSTRAP_ATTEMPTS: usize = 5;

fn manifest_object(account: &str) -> String {
    format!("{account}/MANIFEST")
}

fn base_object(account: &str, sequence: u64) -> String {
    format!("{account}/base-at-{sequence:020}.seg")
}

/// The stream sequence of a base object's name.
fn base_object_sequence(account: &str, name: &str) -> Option<u64> {
    name.strip_prefix(account)?.strip_prefix("/base-at-")?.strip_suffix(".seg")?.parse().ok()
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
            description: Some("msgdex snapshots: each account's last published checkpoint".into()),
            num_replicas: config.replicas.clamp(1, 5),
            ..Default::default()
        })
        .await
        .map_err(|error| nats(&format!("cannot open the bucket {name}"))(&error))
}

/// What a published snapshot holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishedSnapshot {
    /// The stream sequence the snapshot holds: a replica made from it
    /// consumes from the next one.
    pub sequence: u64,
    /// The base file's bytes (0 for an empty store).
    pub base_bytes: u64,
    /// Whether the base was uploaded (false: the bucket had it already).
    pub uploaded: bool,
    /// Whether the manifest was published (false: the bucket's was as new).
    pub published: bool,
}

/// Checkpoints `engine` (an account's store on a data directory, kept by
/// the stream) and publishes the checkpoint as `account`'s snapshot, then
/// deletes the account's older bases.
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
    // No checkpoint replaces the files while they are read.
    let hold = engine.hold_compactions();
    let files = engine.checkpoint_files().map_err(|error| StreamError::Store(error.to_string()))?;
    let sequence = sequence_of(files.manifest.position())?;
    let mut published = PublishedSnapshot { sequence, base_bytes: 0, uploaded: false, published: false };
    let manifest_name = manifest_object(account);
    let newest = match read_manifest(&bucket, &manifest_name).await? {
        Some(manifest) => sequence_of(manifest.position())?,
        None => 0,
    };
    if sequence == 0 || sequence <= newest {
        // Nothing applied yet, or a snapshot as new is published already.
        return Ok(published);
    }
    if let Some(path) = &files.base_path {
        let name = base_object(account, sequence);
        let present = bucket.info(&name).await.is_ok_and(|info| !info.deleted);
        let mut file = tokio::fs::File::open(path)
            .await
            .map_err(|error| StreamError::Store(format!("cannot open {}: {error}", path.display())))?;
        published.base_bytes = file.metadata().await.map_or(0, |metadata| metadata.len());
        if !present {
            let meta = ObjectMetadata { name: name.clone(), chunk_size: Some(CHUNK_BYTES), ..Default::default() };
            bucket.put(meta, &mut file).await.map_err(|error| nats(&format!("cannot upload {name}"))(&error))?;
            published.uploaded = true;
        }
    }
    bucket
        .put(manifest_name.as_str(), &mut files.manifest.bytes())
        .await
        .map_err(|error| nats(&format!("cannot upload {manifest_name}"))(&error))?;
    drop(hold);
    published.published = true;
    // Older bases, no longer named: deleted after the new manifest is in.
    let mut stale = Vec::new();
    let mut listing = bucket.list().await.map_err(|error| nats("cannot list the snapshots")(&error))?;
    while let Some(info) = listing.next().await {
        let info = info.map_err(|error| nats("cannot list the snapshots")(&error))?;
        if !info.deleted && base_object_sequence(account, &info.name).is_some_and(|older| older < sequence) {
            stale.push(info.name);
        }
    }
    for name in stale {
        bucket.delete(&name).await.map_err(|error| nats(&format!("cannot delete {name}"))(&error))?;
    }
    Ok(published)
}

/// Makes `directory` (which must not exist) from `account`'s published
/// snapshot; the stream sequence it holds, or `None` when the account has
/// no snapshot (nothing is made then).
pub async fn bootstrap(
    context: &async_nats::jetstream::Context,
    config: &StreamConfig,
    account: &str,
    directory: &Path,
) -> Result<Option<u64>, StreamError> {
    let Ok(bucket) = context.get_object_store(snapshot_bucket(config)).await else {
        return Ok(None);
    };
    let manifest_name = manifest_object(account);
    for _ in 0..BOOTSTRAP_ATTEMPTS {
        let Some(manifest) = read_manifest(&bucket, &manifest_name).await? else {
            return Ok(None);
        };
        let sequence = sequence_of(manifest.position())?;
        let base = match manifest.base_name() {
            None => None,
            Some(_) => match download(&bucket, &base_object(account, sequence), directory).await? {
                Some(path) => Some(path),
                // Replaced since the manifest was read: read it again.
                None => continue,
            },
        };
        let directory = directory.to_owned();
        tokio::task::spawn_blocking(move || {
            let installed = install_checkpoint(&directory, &manifest, base.as_deref());
            if let Some(base) = &base {
                let _ = std::fs::remove_file(base);
            }
            installed
        })
        .await
        .map_err(|error| StreamError::Store(error.to_string()))?
        .map_err(|error| StreamError::Store(format!("the snapshot of {account}: {error}")))?;
        return Ok(Some(sequence));
    }
    Err(StreamError::Nats(format!(
        "the snapshot of {account} was replaced under every one of {BOOTSTRAP_ATTEMPTS} reads; try again"
    )))
}

async fn read_manifest(bucket: &ObjectStore, name: &str) -> Result<Option<CheckpointManifest>, StreamError> {
    use async_nats::jetstream::object_store::InfoErrorKind;
    match bucket.info(name).await {
        Ok(info) if info.deleted => return Ok(None),
        Ok(info) if info.size > MAX_MANIFEST_BYTES => {
            return Err(StreamError::Store(format!(
                "{name} is {} bytes; a manifest is at most {MAX_MANIFEST_BYTES}",
                info.size
            )))
        }
        Ok(_) => {}
        Err(error) if error.kind() == InfoErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(nats(&format!("cannot read {name}"))(&error)),
    }
    let mut object = bucket.get(name).await.map_err(|error| nats(&format!("cannot read {name}"))(&error))?;
    let mut bytes = Vec::new();
    (&mut object)
        .take(MAX_MANIFEST_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(|error| nats(&format!("cannot read {name}"))(&error))?;
    CheckpointManifest::parse(bytes).map(Some).map_err(|error| StreamError::Store(format!("{name}: {error}")))
}

/// Downloads an object into a temporary file beside `directory`, synced;
/// `None` when the object is gone.
async fn download(bucket: &ObjectStore, name: &str, directory: &Path) -> Result<Option<PathBuf>, StreamError> {
    use async_nats::jetstream::object_store::GetErrorKind;
    let mut object = match bucket.get(name).await {
        Ok(object) => object,
        Err(error) if error.kind() == GetErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(nats(&format!("cannot read {name}"))(&error)),
    };
    let file_name = directory.file_name().map_or_else(|| "store".into(), |name| name.to_string_lossy().into_owned());
    let parent = match directory.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    let path = parent.join(format!(".{file_name}.snapshot-{}", std::process::id()));
    let store_error = |error: std::io::Error| StreamError::Store(format!("cannot write {}: {error}", path.display()));
    let mut file = tokio::fs::File::create(&path).await.map_err(store_error)?;
    let copied = tokio::io::copy(&mut object, &mut file).await;
    let synced = match copied {
        Ok(_) => file.sync_all().await.map_err(store_error),
        Err(error) => Err(nats(&format!("cannot read {name}"))(&error)),
    };
    if let Err(error) = synced {
        let _ = tokio::fs::remove_file(&path).await;
        return Err(error);
    }
    Ok(Some(path))
}
