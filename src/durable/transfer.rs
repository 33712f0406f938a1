//! A store moved to another machine: the files that make it (the manifest,
//! the base segment it names, and the log written since), read from a
//! running store, and installed as a new data directory elsewhere. A new
//! replica starts from one instead of replaying a whole change stream.
//!
//! The log travels with the base because a checkpoint's base need not hold
//! every batch before the manifest's position (writes racing the
//! compaction stay in the log): the store is the base and its log, as at
//! every opening.
//!
//! *Invariant:* while compactions are held, the manifest and the base do
//! not change and no log file is removed (that happens only at a
//! checkpoint); log files only grow. An installed directory appears whole
//! or not at all, as an import's does.

use std::path::{Path, PathBuf};

use super::directory::{base_file_name, log_file_name, log_files, sync_directory, Manifest, MANIFEST};
use super::error::StoreError;
use super::import::parent_of;
use crate::live::LiveEngine;

/// The files of a store's last checkpoint and the log written since: with
/// them another machine opens the same store, as a restart would.
#[derive(Clone, Debug)]
pub struct CheckpointFiles {
    /// The manifest, as it is on disk.
    pub manifest: CheckpointManifest,
    /// The base segment file it names and the log files, by name. The
    /// last log file may be growing: a copy of it ends in a torn record at
    /// worst, which the opening cuts off, as after a crash.
    pub files: Vec<(String, PathBuf)>,
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
    /// The files of this store's directory as they are now; an error for a
    /// store that is not on a data directory. Hold compactions
    /// ([`LiveEngine::hold_compactions`]) while the files are read, so that
    /// no checkpoint replaces them meanwhile.
    pub fn checkpoint_files(&self) -> Result<CheckpointFiles, StoreError> {
        let directory = self.directory().ok_or_else(|| StoreError::NotADataDirectory { path: PathBuf::from(".") })?;
        let path = directory.join(MANIFEST);
        let bytes = std::fs::read(&path).map_err(|error| StoreError::io(&path, "reading", error))?;
        let manifest = CheckpointManifest::parse(bytes)?;
        let mut files: Vec<(String, PathBuf)> =
            manifest.base_name().map(|name| (name.to_owned(), directory.join(name))).into_iter().collect();
        for (first, path) in log_files(directory)? {
            files.push((log_file_name(first), path));
        }
        Ok(CheckpointFiles { manifest, files })
    }
}

/// Whether `name` is a data file a transferred store may hold: a base
/// segment or a log file, by its canonical name (never a path).
pub fn is_transferable_file_name(name: &str) -> bool {
    let numbered = |prefix: &str, suffix: &str, canonical: fn(u64) -> String| {
        name.strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(suffix))
            .and_then(|number| number.parse::<u64>().ok())
            .is_some_and(|number| canonical(number) == name)
    };
    numbered("base-", ".seg", base_file_name) || numbered("log-", ".wal", log_file_name)
}

/// Makes the data directory `into` (which must not exist) from a store's
/// manifest and its files, already written under their names in the
/// directory `files` (moved, so on the same file system as `into`; their
/// bytes are checked when the store is opened). Whole or not at all.
pub fn install_checkpoint(
    into: impl AsRef<Path>,
    manifest: &CheckpointManifest,
    files: impl AsRef<Path>,
) -> Result<(), StoreError> {
    let (into, files) = (into.as_ref(), files.as_ref());
    if into.exists() {
        return Err(StoreError::AlreadyExists { path: into.to_owned() });
    }
    let entries = std::fs::read_dir(files).map_err(|error| StoreError::io(files, "listing", error))?;
    for entry in entries {
        let entry = entry.map_err(|error| StoreError::io(files, "listing", error))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !is_transferable_file_name(&name) {
            return Err(StoreError::corrupt(&entry.path(), 0, format!("{name:?} is not a file a store holds")));
        }
        std::fs::File::open(entry.path())
            .and_then(|file| file.sync_all())
            .map_err(|error| StoreError::io(&entry.path(), "syncing", error))?;
    }
    if let Some(base) = manifest.base_name() {
        if !files.join(base).is_file() {
            return Err(StoreError::corrupt(files, 0, format!("the manifest names {base}, which is missing")));
        }
    }
    manifest.manifest.write(files)?;
    std::fs::rename(files, into).map_err(|error| StoreError::io(into, "renaming the new directory to", error))?;
    let parent = parent_of(into);
    sync_directory(&parent).map_err(|error| StoreError::io(&parent, "syncing", error))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::durable::StoreOptions;
    use crate::write::Write;
    use crate::{Engine, Message};

    #[test]
    fn a_store_installed_elsewhere_opens_as_the_same_store_at_the_same_position() {
        let directory = tempfile::tempdir().unwrap();
        let source = directory.path().join("source");
        crate::create(&source, crate::ContentStorage::default()).unwrap();
        let engine = LiveEngine::open(&source, StoreOptions::default()).unwrap();
        let writes = (0..50).map(|n| Write::Upsert(Message::with_id(format!("m{n}")))).collect();
        engine.apply_at(writes, "stream 7").unwrap();
        engine.checkpoint().unwrap();
        // After the checkpoint: in the log only, which travels too.
        engine.apply_at(vec![Write::Delete("m0".into())], "stream 8").unwrap();
        let files = {
            let _hold = engine.hold_compactions();
            engine.checkpoint_files().unwrap()
        };
        assert_eq!(files.manifest.position(), Some("stream 7"));
        let received = CheckpointManifest::parse(files.manifest.bytes().to_vec()).unwrap();
        let arrived = directory.path().join("arrived");
        std::fs::create_dir(&arrived).unwrap();
        for (name, path) in &files.files {
            assert!(is_transferable_file_name(name), "{name}");
            std::fs::copy(path, arrived.join(name)).unwrap();
        }
        let target = directory.path().join("replica");
        install_checkpoint(&target, &received, &arrived).unwrap();
        let replica = LiveEngine::open(&target, StoreOptions::default()).unwrap();
        assert_eq!(replica.snapshot().source_position(), Some("stream 8"));
        assert_eq!(replica.message_count(), 49, "the checkpoint and the log after it");
        assert!(!replica.retrieve_into("m0", &mut Vec::new()));
        std::fs::create_dir(&arrived).unwrap();
        assert!(install_checkpoint(&target, &received, &arrived).is_err(), "an existing directory is kept");
        std::fs::write(arrived.join("notes.txt"), "x").unwrap();
        let stray = install_checkpoint(directory.path().join("other"), &received, &arrived).unwrap_err();
        assert!(stray.to_string().contains("notes.txt"), "{stray}");
    }

    #[test]
    fn a_manifest_from_a_peer_names_a_base_file_and_nothing_else() {
        let manifest = |base: &str| {
            Manifest { base: Some(base.to_owned()), replay_from: 1, position: None }.to_text().into_bytes()
        };
        assert!(CheckpointManifest::parse(manifest(&base_file_name(3))).is_ok());
        for hostile in ["base-../../x.seg", "base-1.seg", "base-00000000000000000003.seg.seg"] {
            assert!(CheckpointManifest::parse(manifest(hostile)).is_err(), "{hostile}");
            assert!(!is_transferable_file_name(hostile));
        }
        for name in ["../log-00000000000000000001.wal", "MANIFEST", "LOCK", "log-1.wal", ""] {
            assert!(!is_transferable_file_name(name), "{name}");
        }
        assert!(is_transferable_file_name(&log_file_name(1)) && is_transferable_file_name(&base_file_name(0)));
        let mut flipped = manifest(&base_file_name(3));
        flipped[20] ^= 1;
        assert!(CheckpointManifest::parse(flipped).is_err(), "a damaged manifest");
        assert!(CheckpointManifest::parse(vec![0xff, 0xfe]).is_err());
    }
}
