//! The `_id`s loaded so far, to refuse a repeated one by naming both
//! records.

use std::collections::HashMap;

use super::error::{LoadError, RecordLocation};
use crate::model::Message;

/// Remembers every `_id` loaded so far and where, to reject duplicates.
///
/// Invariant: each `_id` maps to the location of the first record that has
/// it, the one a repeat is reported against.
#[derive(Default)]
pub(super) struct IdRegistry {
    first_seen: HashMap<Box<str>, RecordLocation, hashbrown::DefaultHashBuilder>,
}

impl IdRegistry {
    /// The error of a record at `location` repeating the `_id` of the one
    /// at `earlier`.
    pub(super) fn repeated(id: String, location: RecordLocation, earlier: RecordLocation) -> LoadError {
        LoadError::Record {
            location,
            id: Some(id),
            field: Some("_id".into()),
            problem: format!("this `_id` is already used by the record at {earlier}; every `_id` must be unique"),
        }
    }

    /// Records the `_id` of the message at `location`, or refuses it when
    /// an earlier record has it.
    pub(super) fn register(&mut self, message: &Message, location: RecordLocation) -> Result<(), LoadError> {
        if let Some(&earlier) = self.first_seen.get(message.id.as_str()) {
            return Err(IdRegistry::repeated(message.id.clone(), location, earlier));
        }
        self.first_seen.insert(message.id.as_str().into(), location);
        Ok(())
    }
}
