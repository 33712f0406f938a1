//! Why a data directory could not be created, opened or written: the
//! durable store's error type and its words.
//!
//! Every message names the file, and for damage the byte offset, so that
//! an operator can look at exactly what was refused.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::load::LoadError;

/// Why a data directory could not be imported, opened or checked.
#[derive(Debug)]
pub enum StoreError {
    /// A file or the directory could not be read, written or synced.
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done (`"writing"`, `"syncing"`, …).
        action: &'static str,
        /// The operating system's error.
        error: io::Error,
    },
    /// A file's bytes are not what was written: a checksum, a length or a
    /// structure does not hold. Nothing is dropped silently; the store
    /// refuses to open.
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// Where in it the damage was found.
        offset: u64,
        /// What does not hold.
        problem: String,
    },
    /// A file was written by a format version this build does not read.
    Version {
        /// The file.
        path: PathBuf,
        /// Its format version.
        found: u32,
        /// The version this build reads and writes.
        supported: u32,
    },
    /// Another process owns the directory.
    Locked {
        /// The directory.
        path: PathBuf,
        /// The owner's process id, as it wrote it in the lock file.
        holder: Option<u32>,
    },
    /// The path is not a data directory (no manifest).
    NotADataDirectory {
        /// The path.
        path: PathBuf,
    },
    /// `import` would overwrite something that exists.
    AlreadyExists {
        /// The path.
        path: PathBuf,
    },
    /// The JSON file given to `import` could not be loaded.
    Load(LoadError),
}

impl StoreError {
    /// An I/O error while `action` on `path`.
    pub(crate) fn io(path: &Path, action: &'static str, error: io::Error) -> StoreError {
        StoreError::Io { path: path.to_owned(), action, error }
    }

    /// Damage found at `offset` of `path`.
    pub(crate) fn corrupt(path: &Path, offset: u64, problem: impl Into<String>) -> StoreError {
        StoreError::Corrupt { path: path.to_owned(), offset, problem: problem.into() }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Io { path, action, error } => write!(f, "{action} {}: {error}", path.display()),
            StoreError::Corrupt { path, offset, problem } => write!(
                f,
                "{} is damaged at byte {offset}: {problem}; the store refuses to open rather than drop data \
                 (restore the directory from a copy, or import the messages again)",
                path.display()
            ),
            StoreError::Version { path, found, supported } => write!(
                f,
                "{} has format version {found}, but this msgdex reads versions 1 to {supported}; \
                 import the messages again with `msgdex import`",
                path.display()
            ),
            StoreError::Locked { path, holder: Some(pid) } => {
                write!(f, "{} is in use by another msgdex process (pid {pid}); one process owns a data directory", path.display())
            }
            StoreError::Locked { path, holder: None } => {
                write!(f, "{} is in use by another msgdex process; one process owns a data directory", path.display())
            }
            StoreError::NotADataDirectory { path } => write!(
                f,
                "{} is not a msgdex data directory (it has no MANIFEST); make one with `msgdex import --data FILE --into DIR`",
                path.display()
            ),
            StoreError::AlreadyExists { path } => {
                write!(f, "{} already exists; import into a new directory", path.display())
            }
            StoreError::Load(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Io { error, .. } => Some(error),
            StoreError::Load(error) => Some(error),
            _ => None,
        }
    }
}

impl From<LoadError> for StoreError {
    fn from(error: LoadError) -> StoreError {
        StoreError::Load(error)
    }
}
