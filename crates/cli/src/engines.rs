//! Opening the data a command answers from, with the engine it asked for:
//! a JSON file (progress while a large one loads, and a warning when it
//! holds nothing) or a data directory (read, not loaded; its writes kept).

use std::path::Path;

use msgdex::{Engine, FastEngine, LiveEngine, LiveReference, QueryLimits, ReferenceEngine, StoreOptions, Writable};

use crate::args::{ContentOption, DataOptions, EngineKind};
use crate::output::{warn, Failure};
use crate::progress;

/// Whether `--data` names a data directory rather than a file.
pub(crate) fn is_directory(path: &Path) -> bool {
    path.is_dir()
}

/// Warns that `--content` does nothing when `path` is a data directory
/// that the command only reads (it is read as it is stored).
pub(crate) fn warn_if_content_left_aside(path: &Path, storage: ContentOption) {
    if let (Some(content), true) = (storage.content, is_directory(path)) {
        warn(&format!(
            "--content {content} is left aside: {} is read as it is stored; `msgdex run`, `serve` or `sync` \
             with --content changes it",
            path.display()
        ));
    }
}

/// The fast engine over the file or data directory at `path`, with a
/// progress bar on a terminal while a file loads, keeping `content` as
/// `storage` says (a data directory is read as it is stored).
pub(crate) fn load_fast(path: &Path, storage: ContentOption) -> Result<FastEngine, Failure> {
    if is_directory(path) {
        warn_if_content_left_aside(path, storage);
        let (engine, recovery) = FastEngine::open_reporting(path).map_err(|error| error.to_string())?;
        if let Some(torn) = recovery.cut {
            warn(&format!(
                "{} ends with a torn write of {} bytes at byte {} ({}), never acknowledged: it is left out, \
                 and the next command that writes will cut it",
                torn.path.display(),
                torn.bytes,
                torn.offset,
                torn.why
            ));
        }
        warn_if_empty(path, engine.message_count());
        return Ok(engine);
    }
    let size = std::fs::metadata(path).map_or(0, |metadata| metadata.len());
    let bar = progress::loading(path, size);
    let loaded =
        FastEngine::load_path_with(path, storage.or_default(), |progress| bar.set_position(progress.bytes_read));
    bar.finish_and_clear();
    let engine = loaded.map_err(|error| error.to_string())?;
    warn_if_empty(path, engine.message_count());
    Ok(engine)
}

/// Every message of the file or data directory at `path`.
fn load_messages(path: &Path) -> Result<Vec<msgdex::Message>, Failure> {
    let messages = if is_directory(path) {
        FastEngine::open(path).map_err(|error| error.to_string())?.first_messages(usize::MAX)
    } else {
        msgdex::load_path(path).map_err(|error| error.to_string())?
    };
    warn_if_empty(path, messages.len() as u64);
    Ok(messages)
}

fn warn_if_empty(path: &Path, count: u64) {
    if count == 0 {
        warn(&format!("{} holds no messages: every list is empty and every Id unknown", path.display()));
    }
}

/// The engine a read-only command answers with.
pub(crate) fn open(options: &DataOptions, limits: QueryLimits) -> Result<Box<dyn Engine>, Failure> {
    Ok(match options.engine {
        EngineKind::Fast => Box::new(load_fast(&options.data, options.storage)?.with_limits(limits)),
        EngineKind::Reference => Box::new(ReferenceEngine::with_limits(load_messages(&options.data)?, limits)),
    })
}

/// The live store on a data directory, owned by this process until it
/// exits; what recovery cut off the log is said on stderr.
pub(crate) fn open_directory(path: &Path, options: StoreOptions) -> Result<LiveEngine, Failure> {
    let engine = LiveEngine::open(path, options).map_err(|error| error.to_string())?;
    if let Some(cut) = engine.recovery().and_then(|recovery| recovery.cut.as_ref()) {
        warn(&format!("recovery {cut}"));
    }
    Ok(engine)
}

/// The engine of `msgdex run`: one that takes write lines too, durably on
/// a data directory.
pub(crate) struct WritableStore {
    /// What answers the lines.
    pub(crate) engine: Box<dyn Writable>,
    /// The store on a data directory, whose background checkpoint in
    /// flight a clean exit finishes ([`WritableStore::finish`]).
    directory: Option<LiveEngine>,
}

impl WritableStore {
    /// Waits for the background work in flight on a data directory (a
    /// checkpoint, a change of the way `content` is kept), so that a clean
    /// exit leaves it done rather than to be done again.
    pub(crate) fn finish(self) {
        if let Some(directory) = self.directory {
            directory.wait_for_compaction();
        }
    }
}

/// Opens the store of `msgdex run` (see [`WritableStore`]).
pub(crate) fn open_writable(
    options: &DataOptions,
    limits: QueryLimits,
    store: StoreOptions,
) -> Result<WritableStore, Failure> {
    let engine: Box<dyn Writable> = match options.engine {
        EngineKind::Fast if is_directory(&options.data) => {
            let live = open_directory(&options.data, store)?.with_limits(limits);
            return Ok(WritableStore { engine: Box::new(live.clone()), directory: Some(live) });
        }
        EngineKind::Fast => {
            Box::new(LiveEngine::from_fast(&load_fast(&options.data, options.storage)?).with_limits(limits))
        }
        EngineKind::Reference => {
            Box::new(LiveReference::new(ReferenceEngine::with_limits(load_messages(&options.data)?, limits)))
        }
    };
    Ok(WritableStore { engine, directory: None })
}
