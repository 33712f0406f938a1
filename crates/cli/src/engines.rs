//! Opening the data a command answers from, with the engine it asked for:
//! progress while a large file loads, and a warning when it holds nothing.

use std::path::Path;

use msgdex::{Engine, FastEngine, LiveEngine, LiveReference, QueryLimits, ReferenceEngine, Writable};

use crate::args::{DataOptions, EngineKind};
use crate::output::{warn, Failure};
use crate::progress;

/// The fast engine over the file at `path`, with a progress bar on a
/// terminal.
pub(crate) fn load_fast(path: &Path) -> Result<FastEngine, Failure> {
    let size = std::fs::metadata(path).map_or(0, |metadata| metadata.len());
    let bar = progress::loading(path, size);
    let loaded = FastEngine::load_path_with_progress(path, |progress| bar.set_position(progress.bytes_read));
    bar.finish_and_clear();
    let engine = loaded.map_err(|error| error.to_string())?;
    warn_if_empty(path, engine.message_count());
    Ok(engine)
}

fn load_messages(path: &Path) -> Result<Vec<msgdex::Message>, Failure> {
    let messages = msgdex::load_path(path).map_err(|error| error.to_string())?;
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
        EngineKind::Fast => Box::new(load_fast(&options.data)?.with_limits(limits)),
        EngineKind::Reference => Box::new(ReferenceEngine::with_limits(load_messages(&options.data)?, limits)),
    })
}

/// The engine of `msgdex run`: one that takes write lines too.
pub(crate) fn open_writable(options: &DataOptions, limits: QueryLimits) -> Result<Box<dyn Writable>, Failure> {
    Ok(match options.engine {
        EngineKind::Fast => Box::new(LiveEngine::from_fast(&load_fast(&options.data)?).with_limits(limits)),
        EngineKind::Reference => {
            Box::new(LiveReference::new(ReferenceEngine::with_limits(load_messages(&options.data)?, limits)))
        }
    })
}
