//! A store's last checkpoint moved to another machine: the files that make
//! it (the manifest and the base segment it names), read from a running
//! store, and installed as a new data directory elsewhere. A new replica
//! starts from one instead of replaying a whole change stream.
//!
//! *Invariant:* the files read are immutable while compactions are held
//! (the manifest changes, and an old base is deleted, only at a
//! checkpoint); an installed directory appears whole or not at all, as an
//! import's does.

use std::path::{Path, PathBuf};

use super::directory::{base_file_name, sync_directory, Manifest, MANIFEST};
use super::error::StoreError;
use super::import::{parent_of, temporary_name};
use crate::live::LiveEngine;

/// The files of a store's last checkpoint.
#[derive(Clone, Debug)]
pub struct CheckpointFiles {
    /// The manifest, as it is on disk.
    pub manifest: CheckpointManifest,
    /// Where the base segment file it names is (none for an empty store).
    pub base_path: Option<PathBuf>,
}

/// A checkpoint's manifest, checked: its bytes, the base file it names and
/// the source position the base holds.
#[derive(Clone, Debug)]
pub struct CheckpointManifest {
    bytes: Vec<u8>,
    manifest: Manifest,
}

impl CheckpointManifest {
    /// Checks a manifest's bytes (from a file or a peer: its checksum, its
    /// format, and a base name that is a segment file's and nothing else).
    pub fn parse(bytes: Vec<u8>) -> Result<CheckpointManifest, StoreError> {
        let source = Path::new(MANIFEST);
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| StoreError::corrupt(source, 0, "the manifest is not UTF-8".to_owned()))?;
        let manifest = Manifest::parse(text, source)?;
        if let Some(base) = &manifest.base {
            let canonical = base
                .strip_prefix("base-")
                .and_then(|rest| rest.strip_suffix(".seg"))
                .and_then(|number| number.parse::<u64>().ok())
                .is_some_and(|sequence| base_file_name(sequence) == *base);
            if !canonical {
                return Err(StoreError::corrupt(source, 0, format!("the manifest names {base:?}, not a base file")));
            }
        }
        Ok(CheckpointManifest { bytes, manifest })
    }

    /// The manifest's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The base segment file's name, if the store has one.
    pub fn base_name(&self) -> Option<&str> {
        self.manifest.base.as_deref()
    }

    /// The source position the base holds (see [`LiveEngine::apply_at`]).
    pub fn position(&self) -> Option<&str> {
        self.manifest.position.as_deref()
    }
}

impl LiveEngine {
    /// The files of this store's last checkpoint; an error for a store
    /// that is not on a data directory. Hold compactions
    /// ([`LiveEngine::hold_compactions`]) while the files are read, so that
    /// no checkpoint replaces them meanwhile.
    pub fn checkpoint_files(&self) -> Result<CheckpointFiles, StoreError> {
        let directory = self.directory().ok_or_else(|| StoreError::NotADataDirectory { path: PathBuf::from(".") })?;
        let path = directory.join(MANIFEST);
        let bytes = std::fs::read(&path).map_err(|error| StoreError::io(&path, "reading", error))?;
        let manifest = CheckpointManifest::parse(bytes)?;
        let base_path = manifest.base_name().map(|name| directory.join(name));
        Ok(CheckpointFiles { manifest, base_path })
    }
}

/// Makes the data directory `into` (which must not exist) from a
/// checkpoint's manifest and its base file, already written at `base` (it
/// is moved, so it must be on the same file system as `into`; its bytes
/// are checked when the directory is opened). Whole or not at all.
pub fn install_checkpoint(
    into: impl AsRef<Path>,
    manifest: &CheckpointManifest,
    base: Option<&Path>,
) -> Result<(), StoreError> {
    let into = into.as_ref();
    if into.exists() {
        return Err(StoreError::AlreadyExists { path: into.to_owned() });
    }
    let temporary = temporary_name(into);
    let _ = std::fs::remove_dir_all(&temporary);
    let installed = (|| {
        std::fs::create_dir(&temporary).map_err(|error| StoreError::io(&temporary, "creating", error))?;
        match (manifest.base_name(), base) {
            (Some(name), Some(file)) => {
                let target = temporary.join(name);
                std::fs::rename(file, &target).map_err(|error| StoreError::io(&target, "moving the base to", error))?;
            }
            (None, None) => {}
            (Some(name), None) => {
                return Err(StoreError::corrupt(&temporary, 0, format!("the manifest names {name}, which is missing")))
            }
            (None, Some(_)) => {
                return Err(StoreError::corrupt(&temporary, 0, "the manifest names no base, but one was given"))
            }
        }
        manifest.manifest.write(&temporary)?;
        std::fs::rename(&temporary, into)
            .map_err(|error| StoreError::io(into, "renaming the new directory to", error))?;
        let parent = parent_of(into);
        sync_directory(&parent).map_err(|error| StoreError::io(&parent, "syncing", error))
    })();
    if installed.is_err() {
        let _ = std::fs::remove_dir_all(&temporary);
    }
    installed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::durable::StoreOptions;
    use crate::write::Write;
    use crate::{Engine, Message};

    #[test]
    fn a_checkpoint_installed_elsewhere_opens_as_the_same_store_at_the_same_position() {
        let directory = tempfile::tempdir().unwrap();
        let source = directory.path().join("source");
        crate::create(&source).unwrap();
        let engine = LiveEngine::open(&source, StoreOptions::default()).unwrap();
        let writes = (0..50).map(|n| Write::Upsert(Message::with_id(format!("m{n}")))).collect();
        engine.apply_at(writes, "stream 7").unwrap();
        engine.checkpoint().unwrap();
        // After the checkpoint: in the log only, not in the files.
        engine.apply_at(vec![Write::Delete("m0".into())], "stream 8").unwrap();
        let files = {
            let _hold = engine.hold_compactions();
            engine.checkpoint_files().unwrap()
        };
        assert_eq!(files.manifest.position(), Some("stream 7"));
        let received = CheckpointManifest::parse(files.manifest.bytes().to_vec()).unwrap();
        let copied = directory.path().join("copied.seg");
        std::fs::copy(files.base_path.as_ref().unwrap(), &copied).unwrap();
        let target = directory.path().join("replica");
        install_checkpoint(&target, &received, Some(&copied)).unwrap();
        let replica = LiveEngine::open(&target, StoreOptions::default()).unwrap();
        assert_eq!(replica.snapshot().source_position(), Some("stream 7"));
        assert_eq!(replica.message_count(), 50, "the checkpoint, without the later delete");
        assert!(replica.retrieve_into("m0", &mut Vec::new()));
        assert!(install_checkpoint(&target, &received, None).is_err(), "an existing directory is kept");
    }

    #[test]
    fn a_manifest_from_a_peer_names_a_base_file_and_nothing_else() {
        let manifest = |base: &str| {
            Manifest { base: Some(base.to_owned()), replay_from: 1, position: None }.to_text().into_bytes()
        };
        assert!(CheckpointManifest::parse(manifest(&base_file_name(3))).is_ok());
        for hostile in ["base-../../x.seg", "base-1.seg", "base-00000000000000000003.seg.seg"] {
            assert!(CheckpointManifest::parse(manifest(hostile)).is_err(), "{hostile}");
        }
        let mut flipped = manifest(&base_file_name(3));
        flipped[20] ^= 1;
        assert!(CheckpointManifest::parse(flipped).is_err(), "a damaged manifest");
        assert!(CheckpointManifest::parse(vec![0xff, 0xfe]).is_err());
    }
}
