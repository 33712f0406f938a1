//! The data directory's files: their names, the manifest that says which
//! are live, the lock that makes one process its owner, and the
//! atomic-replace and directory-sync steps every change goes through.
//!
//! ```text
//!  DIR/
//!    MANIFEST                         which base and which log record come first (replaced atomically)
//!    LOCK                             the owner's pid, under an advisory lock
//!    base-<sequence>.seg              a segment file: the store up to that record
//!    log-<first sequence>.wal         records, each file continuing the one before
//! ```
//!
//! *Invariant:* the manifest names only files that are complete and
//! durable; a file the manifest no longer names is deleted only after the
//! manifest that dropped it is durable.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::error::StoreError;

/// The manifest's file name.
pub(crate) const MANIFEST: &str = "MANIFEST";
const MANIFEST_TEMPORARY: &str = "MANIFEST.tmp";
const LOCK: &str = "LOCK";
const MANIFEST_FORMAT: u32 = 1;
/// The manifest format with a source position line.
const MANIFEST_FORMAT_WITH_POSITION: u32 = 2;

/// The name of the base segment file holding the store up to `sequence`.
pub(crate) fn base_file_name(sequence: u64) -> String {
    format!("base-{sequence:020}.seg")
}

/// The name of the log file whose first record is `sequence`.
pub(crate) fn log_file_name(first: u64) -> String {
    format!("log-{first:020}.wal")
}

/// The first sequence of a log file, from its name.
fn log_file_first(name: &str) -> Option<u64> {
    name.strip_prefix("log-")?.strip_suffix(".wal")?.parse().ok().filter(|&first| first >= 1)
}

/// Makes a directory's entries (created, renamed or removed files) durable.
pub(crate) fn sync_directory(path: &Path) -> std::io::Result<()> {
    File::open(path)?.sync_all()
}

/// What the manifest says: the live base and where the log starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Manifest {
    /// The base segment file, if the store has one.
    pub(crate) base: Option<String>,
    /// The first log record not in the base: replay starts here.
    pub(crate) replay_from: u64,
    /// The base's source position (see `LiveEngine::apply_at`); the log
    /// records replayed after it may move it on.
    pub(crate) position: Option<String>,
}

impl Manifest {
    pub(crate) fn to_text(&self) -> String {
        // Format 1 has no position line: a store that never had a position
        // stays readable by builds that know only format 1.
        let format = if self.position.is_some() { MANIFEST_FORMAT_WITH_POSITION } else { MANIFEST_FORMAT };
        let mut body = format!(
            "msgdex-manifest {format}\nbase {}\nreplay-from {}\n",
            self.base.as_deref().unwrap_or("none"),
            self.replay_from
        );
        if let Some(position) = &self.position {
            body.push_str(&format!("position {}\n", crate::json::quoted(position)));
        }
        format!("{body}crc32c {:08x}\n", crc32c::crc32c(body.as_bytes()))
    }

    pub(crate) fn parse(text: &str, path: &Path) -> Result<Manifest, StoreError> {
        let damaged = |problem: &str| StoreError::corrupt(path, 0, problem.to_owned());
        let (body, checksum_line) = text
            .trim_end_matches('\n')
            .rsplit_once('\n')
            .ok_or_else(|| damaged("the manifest has no checksum line"))?;
        let body = format!("{body}\n");
        let checksum = checksum_line.strip_prefix("crc32c ").and_then(|hex| u32::from_str_radix(hex, 16).ok());
        if checksum != Some(crc32c::crc32c(body.as_bytes())) {
            return Err(damaged("the manifest's checksum does not match"));
        }
        let lines: Vec<&str> = body.lines().collect();
        let version = lines.first().and_then(|line| line.strip_prefix("msgdex-manifest ")).map(str::parse::<u32>);
        let (base, replay_from, position) = match (version, &lines[..]) {
            (Some(Ok(MANIFEST_FORMAT)), &[_, base, replay_from]) => (base, replay_from, None),
            (Some(Ok(MANIFEST_FORMAT_WITH_POSITION)), &[_, base, replay_from, position]) => {
                let position = position
                    .strip_prefix("position ")
                    .and_then(|text| serde_json::from_str::<String>(text).ok())
                    .ok_or_else(|| damaged("the manifest's position line is not a JSON string"))?;
                (base, replay_from, Some(position))
            }
            (Some(Ok(MANIFEST_FORMAT | MANIFEST_FORMAT_WITH_POSITION)), _) => {
                return Err(damaged("the manifest does not have the lines of its format"))
            }
            (Some(Ok(found)), _) => {
                return Err(StoreError::Version {
                    path: path.to_owned(),
                    found,
                    supported: MANIFEST_FORMAT_WITH_POSITION,
                })
            }
            _ => return Err(damaged("the manifest's first line is not `msgdex-manifest <version>`")),
        };
        let base = match base.strip_prefix("base ") {
            Some("none") => None,
            Some(name) if name.starts_with("base-") && name.ends_with(".seg") && !name.contains('/') => {
                Some(name.to_owned())
            }
            _ => return Err(damaged("the manifest's base line does not name a segment file")),
        };
        let replay_from = replay_from
            .strip_prefix("replay-from ")
            .and_then(|number| number.parse().ok())
            .filter(|&number| (1..u64::MAX / 2).contains(&number))
            .ok_or_else(|| damaged("the manifest's replay-from line is not a sequence"))?;
        Ok(Manifest { base, replay_from, position })
    }

    /// Reads `DIR/MANIFEST`.
    pub(crate) fn read(directory: &Path) -> Result<Manifest, StoreError> {
        let path = directory.join(MANIFEST);
        let mut text = String::new();
        match File::open(&path) {
            Ok(mut file) => file.read_to_string(&mut text).map_err(|error| StoreError::io(&path, "reading", error))?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::NotADataDirectory { path: directory.to_owned() })
            }
            Err(error) => return Err(StoreError::io(&path, "opening", error)),
        };
        Manifest::parse(&text, &path)
    }

    /// Replaces `DIR/MANIFEST` atomically: a temporary file written and
    /// synced, renamed over the manifest, and the directory synced.
    pub(crate) fn write(&self, directory: &Path) -> Result<(), StoreError> {
        let temporary = directory.join(MANIFEST_TEMPORARY);
        let write = || -> std::io::Result<()> {
            let mut file = File::create(&temporary)?;
            file.write_all(self.to_text().as_bytes())?;
            file.sync_all()
        };
        write().map_err(|error| {
            let _ = std::fs::remove_file(&temporary);
            StoreError::io(&temporary, "writing", error)
        })?;
        let path = directory.join(MANIFEST);
        std::fs::rename(&temporary, &path).map_err(|error| StoreError::io(&path, "replacing", error))?;
        sync_directory(directory).map_err(|error| StoreError::io(directory, "syncing", error))
    }
}

/// The log files of a directory, by first sequence.
pub(crate) fn log_files(directory: &Path) -> Result<Vec<(u64, PathBuf)>, StoreError> {
    let mut files = Vec::new();
    let entries = std::fs::read_dir(directory).map_err(|error| StoreError::io(directory, "listing", error))?;
    for entry in entries {
        let entry = entry.map_err(|error| StoreError::io(directory, "listing", error))?;
        if let Some(first) = entry.file_name().to_str().and_then(log_file_first) {
            files.push((first, entry.path()));
        }
    }
    files.sort();
    Ok(files)
}

/// Deletes what no manifest names any more: base files other than `base`,
/// log files whose records all come before `replay_from` (given the files'
/// first sequences), and temporary files. Failures are left for the next
/// time: a leftover file is never read.
pub(crate) fn remove_unnamed_files(directory: &Path, manifest: &Manifest) {
    let Ok(logs) = log_files(directory) else { return };
    // A log file is still needed if the next one starts after replay_from.
    for pair in logs.windows(2) {
        if pair[1].0 <= manifest.replay_from {
            let _ = std::fs::remove_file(&pair[0].1);
        }
    }
    let Ok(entries) = std::fs::read_dir(directory) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let stale_base = name.starts_with("base-") && manifest.base.as_deref() != Some(name);
        if stale_base || name.ends_with(".tmp") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    let _ = sync_directory(directory);
}

/// The advisory lock that makes one process the owner of a directory:
/// held while this value lives (the kernel releases it if the process
/// dies).
#[derive(Debug)]
pub(crate) struct DirectoryLock {
    _file: File,
}

impl DirectoryLock {
    /// Takes the lock of `directory`, or says which process holds it.
    pub(crate) fn take(directory: &Path) -> Result<DirectoryLock, StoreError> {
        let path = directory.join(LOCK);
        let mut file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|error| StoreError::io(&path, "opening", error))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                return Err(StoreError::Locked { path: directory.to_owned(), holder: holder.trim().parse().ok() });
            }
            Err(std::fs::TryLockError::Error(error)) => return Err(StoreError::io(&path, "locking", error)),
        }
        let pid = format!("{}\n", std::process::id());
        file.set_len(0)
            .and_then(|()| file.write_all_at_start(pid.as_bytes()))
            .map_err(|error| StoreError::io(&path, "writing", error))?;
        Ok(DirectoryLock { _file: file })
    }
}

/// Writing at the start of a file whatever its cursor.
trait WriteAtStart {
    fn write_all_at_start(&mut self, bytes: &[u8]) -> std::io::Result<()>;
}

impl WriteAtStart for File {
    fn write_all_at_start(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        std::os::unix::fs::FileExt::write_all_at(self, bytes, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_reads_back_and_refuses_damage() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join(MANIFEST);
        let plain = Manifest { base: Some(base_file_name(42)), replay_from: 43, position: None };
        let positioned = Manifest { position: Some("at \"2024\"\nü".into()), ..plain.clone() };
        for manifest in [plain, positioned] {
            manifest.write(directory.path()).unwrap();
            assert_eq!(Manifest::read(directory.path()).unwrap(), manifest);
            let text = std::fs::read(&path).unwrap();
            let format = if manifest.position.is_some() { "msgdex-manifest 2\n" } else { "msgdex-manifest 1\n" };
            assert!(text.starts_with(format.as_bytes()), "{}", String::from_utf8_lossy(&text));
            for position in 0..text.len() {
                let mut damaged = text.clone();
                damaged[position] ^= 0x04;
                std::fs::write(&path, &damaged).unwrap();
                assert!(Manifest::read(directory.path()).is_err(), "byte {position}");
            }
        }
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(Manifest::read(directory.path()), Err(StoreError::NotADataDirectory { .. })));
    }

    #[test]
    fn a_second_owner_is_told_the_first_ones_pid() {
        let directory = tempfile::tempdir().unwrap();
        let held = DirectoryLock::take(directory.path()).unwrap();
        match DirectoryLock::take(directory.path()) {
            Err(StoreError::Locked { holder, .. }) => assert_eq!(holder, Some(std::process::id())),
            other => panic!("{other:?}"),
        }
        drop(held);
        DirectoryLock::take(directory.path()).unwrap();
    }
}
