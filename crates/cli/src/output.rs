//! Writing to standard output, and how a command fails.
//!
//! A reader that goes away (`msgdex list … | head -1`) closes the pipe: the
//! command then stops quietly with status 0, as other Unix tools do, never
//! with a panic.

use std::io::{self, Write};

/// Why a command stopped early.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The reader of standard output has gone: stop quietly.
    OutputClosed,
    /// What went wrong, for stderr (exit status 1).
    Message(String),
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure::Message(message)
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Failure {
        Failure::Message(message.to_owned())
    }
}

impl Failure {
    /// The failure of a write to standard output.
    pub(crate) fn of_output(error: io::Error, what: &str) -> Failure {
        if error.kind() == io::ErrorKind::BrokenPipe {
            Failure::OutputClosed
        } else {
            Failure::Message(format!("cannot write {what}: {error}"))
        }
    }
}

/// Prints `text` and a line break on standard output.
pub(crate) fn print_line(text: &str) -> Result<(), Failure> {
    let mut stdout = io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.write_all(b"\n"))
        .and_then(|()| stdout.flush())
        .map_err(|error| Failure::of_output(error, "the answer"))
}

/// Prints a warning on stderr, ignoring a closed stderr.
pub(crate) fn warn(text: &str) {
    let _ = writeln!(io::stderr(), "msgdex: warning: {text}");
}
