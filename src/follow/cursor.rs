//! Where a follower is in its upstream account: the source position it
//! stores with each batch it applies (see `LiveEngine::apply_at`).
//!
//! *Invariant:* every upstream message whose `modified` is before
//! `modified_from` was applied as it was when it was read; a message
//! modified since has a `modified` at or after `modified_from` (the
//! upstream stamps changes with its clock), so the next pull reads it.

use serde::{Deserialize, Serialize};

use crate::model::DateTime;

/// The follower's position in its upstream.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cursor {
    /// The format of this position.
    sync: u32,
    /// The next pull reads the messages modified at or after this second
    /// (`YYYY-MM-DD HH:MM:SS`); `None` before the first.
    pub(crate) modified_from: Option<String>,
    /// Whether the first copy is complete: a full pull, then the messages
    /// whose `modified` is null.
    pub(crate) copied: bool,
}

/// The format this build writes.
const CURSOR_FORMAT: u32 = 1;

impl Cursor {
    /// The cursor stored as a data directory's source position, a new one
    /// when there is none, or why the position is not a follower's.
    pub fn from_position(position: Option<&str>) -> Result<Cursor, String> {
        let Some(text) = position else {
            return Ok(Cursor { sync: CURSOR_FORMAT, modified_from: None, copied: false });
        };
        let cursor: Cursor = serde_json::from_str(text).map_err(|error| {
            format!(
                "the store's source position {text:?} is not a sync cursor ({error}); sync into a new data directory"
            )
        })?;
        if cursor.sync != CURSOR_FORMAT {
            return Err(format!(
                "the sync cursor has format {}; this msgdex reads format {CURSOR_FORMAT}",
                cursor.sync
            ));
        }
        if let Some(from) = &cursor.modified_from {
            if DateTime::parse(from).is_none() {
                return Err(format!("the sync cursor's modified_from {from:?} is not a date/time"));
            }
        }
        Ok(cursor)
    }

    /// The text stored as the source position.
    pub fn to_position(&self) -> String {
        serde_json::to_string(self).expect("a cursor serializes")
    }

    /// `modified_from` as a date/time.
    pub(crate) fn from(&self) -> Option<DateTime> {
        self.modified_from.as_deref().and_then(DateTime::parse)
    }

    /// The cursor moved to `from`.
    pub(crate) fn at(&self, from: DateTime) -> Cursor {
        Cursor { modified_from: Some(from.to_string()), ..self.clone() }
    }

    /// The cursor with the first copy marked complete.
    pub(crate) fn copied(&self) -> Cursor {
        Cursor { copied: true, ..self.clone() }
    }

    /// Whether the first copy is complete.
    pub fn is_copied(&self) -> bool {
        self.copied
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_foreign_positions_are_refused() {
        let fresh = Cursor::from_position(None).unwrap();
        assert_eq!((fresh.from(), fresh.is_copied()), (None, false));
        let moved = fresh.at(DateTime::parse("2024-05-01 10:00:00").unwrap());
        let text = moved.to_position();
        assert_eq!(Cursor::from_position(Some(&text)).unwrap(), moved);
        assert!(Cursor::from_position(Some("stream 42")).unwrap_err().contains("not a sync cursor"));
        let wrong_date = r#"{"sync":1,"modified_from":"2024-13-01 00:00:00","copied":false}"#;
        assert!(Cursor::from_position(Some(wrong_date)).unwrap_err().contains("not a date/time"));
        let later_format = r#"{"sync":2,"modified_from":null,"copied":false}"#;
        assert!(Cursor::from_position(Some(later_format)).unwrap_err().contains("format 2"));
    }
}
