//! Why a load failed, and where: the loader's error types and their words.
//!
//! Every message names the record (a line of JSON Lines, an index of a JSON
//! array), its `_id` where known, the field at fault and the problem, so
//! that both ways in (`messages` and `segment`) report a bad record in the
//! same words.

use std::fmt;
use std::io;

use crate::json::quoted;
use crate::store::BuildError;

/// Where a bad record sits in its file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordLocation {
    /// A JSON Lines file: the 1-based line number.
    Line(u64),
    /// A JSON array: the 0-based position in the array.
    Index(u64),
}

impl fmt::Display for RecordLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordLocation::Line(line) => write!(f, "line {line}"),
            RecordLocation::Index(index) => write!(f, "array index {index}"),
        }
    }
}

/// Why a load failed. Nothing of a failed load is kept.
#[derive(Debug)]
pub enum LoadError {
    /// The file could not be read.
    Io {
        /// What was being read.
        source_name: String,
        /// The operating system's error.
        error: io::Error,
    },
    /// The text is not JSON of the expected shape at this place.
    Syntax {
        /// The record, where one can be named.
        location: Option<RecordLocation>,
        /// The JSON parser's message, with its line and column.
        message: String,
    },
    /// The messages could not be stored (see [`BuildError`]).
    Store(BuildError),
    /// A record is well-formed JSON but not a valid message.
    Record {
        /// The record.
        location: RecordLocation,
        /// Its `_id`, where it has a usable one.
        id: Option<String>,
        /// The field at fault, if the problem is in one field.
        field: Option<String>,
        /// What is wrong and what is allowed.
        problem: String,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Io { source_name, error } => write!(f, "cannot read {source_name}: {error}"),
            LoadError::Syntax { location: Some(location), message } => {
                write!(f, "{location}: invalid JSON: {message}")?;
                if *location == RecordLocation::Line(1) && message.starts_with("EOF while parsing") {
                    // The first line opens a value it does not close: most
                    // likely one pretty-printed object, or several.
                    f.write_str(
                        ". A JSON Lines file holds one whole message per line; this one looks pretty-printed. \
Put each message on a line of its own, or wrap the messages in [ ] to make a JSON array",
                    )?;
                }
                Ok(())
            }
            LoadError::Syntax { location: None, message } => write!(f, "invalid JSON: {message}"),
            LoadError::Store(error) => write!(f, "{error}"),
            LoadError::Record { location, id, field, problem } => {
                write!(f, "{location}")?;
                if let Some(id) = id {
                    write!(f, " (_id {})", quoted(id))?;
                }
                if let Some(field) = field {
                    write!(f, ", field `{field}`")?;
                }
                write!(f, ": {problem}")
            }
        }
    }
}

impl std::error::Error for LoadError {
    /// The operating system's error of [`LoadError::Io`] and the store's
    /// of [`LoadError::Store`]; the other variants are the loader's own.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LoadError::Io { error, .. } => Some(error),
            LoadError::Store(error) => Some(error),
            LoadError::Syntax { .. } | LoadError::Record { .. } => None,
        }
    }
}

/// Why the body of a write to `/v1/messages/<id>` was refused.
#[derive(Debug)]
pub enum BodyError {
    /// The body is not one valid message, in the loader's words.
    Invalid(LoadError),
    /// The body's `_id` (as JSON text) is not the path's.
    IdDiffers(String),
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::Invalid(error) => write!(f, "the message is invalid: {error}"),
            BodyError::IdDiffers(given) => write!(f, "the body's `_id` ({given}) differs from the Id in the path"),
        }
    }
}

impl std::error::Error for BodyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BodyError::Invalid(error) => Some(error),
            BodyError::IdDiffers(_) => None,
        }
    }
}

/// The JSON parser's message; for a single line, without the "line 1".
pub(super) fn describe_json_error(error: &serde_json::Error, whole_file: bool) -> String {
    let message = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    match message.strip_suffix(&suffix) {
        Some(bare) if whole_file => format!("{bare} (file line {}, column {})", error.line(), error.column()),
        Some(bare) => format!("{bare} (column {})", error.column()),
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn sources_are_the_io_and_store_errors() {
        let io = LoadError::Io { source_name: "x.jsonl".into(), error: io::Error::other("disk on fire") };
        assert_eq!(io.to_string(), "cannot read x.jsonl: disk on fire");
        assert_eq!(io.source().expect("an I/O error has a source").to_string(), "disk on fire");
        let store = LoadError::Store(BuildError::EmptyId);
        let source = store.source().expect("a store error has a source");
        assert_eq!(source.downcast_ref::<BuildError>(), Some(&BuildError::EmptyId));
        assert_eq!(store.to_string(), BuildError::EmptyId.to_string());
        let syntax = LoadError::Syntax { location: Some(RecordLocation::Line(3)), message: "oops".into() };
        assert_eq!(syntax.to_string(), "line 3: invalid JSON: oops");
        assert!(syntax.source().is_none());
        let body = BodyError::Invalid(syntax);
        assert_eq!(body.to_string(), "the message is invalid: line 3: invalid JSON: oops");
        assert!(body.source().is_some_and(|source| source.is::<LoadError>()));
    }
}
