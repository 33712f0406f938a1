//! Writes to a live store: what a write is, what it did, why it was
//! refused, and the one trait both live engines implement.
//!
//! A batch applies its writes in order and all or nothing: a refused write
//! leaves the store exactly as it was, whichever write of the batch it was.
//! Messages are checked as the loader checks them (SPEC §1): a typed
//! [`Message`] is valid by construction except for an empty `_id`, and
//! JSON text goes through [`message_from_json`], the loader's own
//! validation.

use std::fmt;

use crate::engine::Engine;
use crate::load::LoadError;
use crate::model::Message;

/// One write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Write {
    /// Adds a message; refused if its `_id` exists.
    Insert(Message),
    /// Adds a message, or replaces the whole message with its `_id`.
    Upsert(Message),
    /// Removes the message with this `_id`; refused if there is none.
    Delete(String),
}

impl Write {
    /// The `_id` the write is about.
    pub fn id(&self) -> &str {
        match self {
            Write::Insert(message) | Write::Upsert(message) => &message.id,
            Write::Delete(id) => id,
        }
    }
}

/// What an accepted write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// A new message was added.
    Created,
    /// An existing message was replaced whole.
    Replaced,
    /// A message was removed.
    Deleted,
}

/// Why a batch was refused. Nothing of it was applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteError {
    /// Position of the refused write in its batch (0-based).
    pub position: usize,
    /// The batch's length.
    pub batch_len: usize,
    /// What was wrong.
    pub problem: WriteProblem,
}

/// What was wrong with a refused write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteProblem {
    /// The message's `_id` is empty.
    EmptyId,
    /// An insert named an `_id` that exists.
    AlreadyExists(String),
    /// A delete named an `_id` that does not exist.
    NotFound(String),
    /// The store would exceed the number of messages it can hold.
    TooManyMessages,
    /// A durable store could not log the batch, or could not make its log
    /// record durable: the words say which, and whether the batch was
    /// applied (see [`LiveEngine::open`](crate::LiveEngine::open)).
    Storage(String),
    /// The batch, as one record, is larger than the log that carries it
    /// takes (a change stream's message limit); nothing was applied.
    TooLarge {
        /// The record's bytes.
        bytes: usize,
        /// The most the log takes.
        limit: usize,
    },
}

impl fmt::Display for WriteProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::json::quoted;
        match self {
            WriteProblem::EmptyId => {
                f.write_str("the message has an empty `_id`; every `_id` must be a non-empty string")
            }
            WriteProblem::AlreadyExists(id) => write!(
                f,
                "a message with the `_id` {} exists; insert only adds new messages (upsert replaces)",
                quoted(id)
            ),
            WriteProblem::NotFound(id) => write!(f, "no message has the `_id` {}; nothing was deleted", quoted(id)),
            WriteProblem::TooManyMessages => f.write_str("a store holds at most 4294967294 messages"),
            WriteProblem::Storage(why) => f.write_str(why),
            WriteProblem::TooLarge { bytes, limit } => write!(
                f,
                "the batch is {bytes} bytes as one record, more than the change stream takes ({limit}); nothing \
                 was applied: send it in smaller batches"
            ),
        }
    }
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.batch_len > 1 && !matches!(self.problem, WriteProblem::Storage(_)) {
            write!(
                f,
                "write {} of the batch of {} was refused, so none was applied: ",
                self.position + 1,
                self.batch_len
            )?;
        }
        write!(f, "{}", self.problem)
    }
}

impl std::error::Error for WriteError {}

/// A store that takes writes while it answers queries. Every query sees the
/// store as it was before or after each batch, never in between.
pub trait Writable: Engine {
    /// Applies a batch of writes in order, all or nothing.
    fn apply(&self, batch: Vec<Write>) -> Result<Vec<Applied>, WriteError>;

    /// Adds a message; refused if its `_id` exists.
    fn insert(&self, message: Message) -> Result<(), WriteError> {
        self.apply(vec![Write::Insert(message)]).map(drop)
    }

    /// Adds or replaces a message.
    fn upsert(&self, message: Message) -> Result<Applied, WriteError> {
        self.apply(vec![Write::Upsert(message)]).map(|applied| applied[0])
    }

    /// Removes a message; refused if there is none with this `_id`.
    fn delete(&self, id: &str) -> Result<(), WriteError> {
        self.apply(vec![Write::Delete(id.to_owned())]).map(drop)
    }
}

/// The checks every engine makes before applying a batch: the same for all,
/// so that all refuse the same batches with the same words. `exists` says
/// whether an `_id` is in the store before the batch; the batch's own
/// earlier writes are accounted for here. Returns the outcome of each write.
pub fn check_batch(batch: &[Write], exists: impl Fn(&str) -> bool) -> Result<Vec<Applied>, WriteError> {
    check_batch_at(batch, |position| exists(batch[position].id()))
}

/// [`check_batch`] where `exists(position)` says whether the `_id` of the
/// write at `position` is in the store before the batch (asked only for
/// the first write of each `_id`), for a store that looks every write's
/// `_id` up once beforehand.
pub fn check_batch_at(batch: &[Write], exists: impl Fn(usize) -> bool) -> Result<Vec<Applied>, WriteError> {
    let mut changed: hashbrown::HashMap<&str, bool> = hashbrown::HashMap::new();
    let mut outcomes = Vec::with_capacity(batch.len());
    for (position, write) in batch.iter().enumerate() {
        let refuse = |problem| WriteError { position, batch_len: batch.len(), problem };
        let id = write.id();
        if id.is_empty() {
            return Err(refuse(WriteProblem::EmptyId));
        }
        let present = changed.get(id).copied().unwrap_or_else(|| exists(position));
        let outcome = match (write, present) {
            (Write::Insert(_), true) => return Err(refuse(WriteProblem::AlreadyExists(id.to_owned()))),
            (Write::Delete(_), false) => return Err(refuse(WriteProblem::NotFound(id.to_owned()))),
            (Write::Insert(_) | Write::Upsert(_), false) => Applied::Created,
            (Write::Upsert(_), true) => Applied::Replaced,
            (Write::Delete(_), true) => Applied::Deleted,
        };
        changed.insert(id, outcome != Applied::Deleted);
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// Why [`message_from_json`] refused its text.
#[derive(Debug)]
pub enum MessageError {
    /// The text is not a JSON object.
    NotAnObject,
    /// The text holds more than one record.
    SeveralRecords,
    /// The object is not a valid message, in the loader's words.
    Invalid(LoadError),
}

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MessageError::NotAnObject => f.write_str("the body must be one JSON object (a message)"),
            MessageError::SeveralRecords => f.write_str("the body must be one JSON object (a message) on one line"),
            MessageError::Invalid(error) => write!(f, "the message is invalid: {error}"),
        }
    }
}

impl std::error::Error for MessageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MessageError::Invalid(error) => Some(error),
            MessageError::NotAnObject | MessageError::SeveralRecords => None,
        }
    }
}

/// Parses one message from JSON text with the loader's validation (SPEC
/// §1): unknown fields, wrong types, bad date/times and enum values are
/// refused with the loader's words.
pub fn message_from_json(text: &str) -> Result<Message, MessageError> {
    let trimmed = text.trim();
    if !trimmed.starts_with('{') {
        return Err(MessageError::NotAnObject);
    }
    if !trimmed.contains('\n') {
        // One line: the loader's parser on it directly, as the JSON Lines
        // loader parses each line (without its parallel windows, whose
        // hand-offs between threads cost more than one message).
        return crate::load::parse_message(trimmed.as_bytes(), crate::load::RecordLocation::Line(1))
            .map_err(MessageError::Invalid);
    }
    let mut messages = crate::load::load_str(trimmed).map_err(MessageError::Invalid)?;
    match messages.len() {
        1 => Ok(messages.remove(0)),
        _ => Err(MessageError::SeveralRecords),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_checked_in_order_against_their_own_earlier_writes() {
        let exists = |id: &str| id == "old";
        let batch = [
            Write::Insert(Message::with_id("new")),
            Write::Upsert(Message::with_id("new")),
            Write::Delete("new".into()),
            Write::Upsert(Message::with_id("old")),
            Write::Delete("old".into()),
            Write::Insert(Message::with_id("old")),
        ];
        use Applied::*;
        assert_eq!(check_batch(&batch, exists).unwrap(), [Created, Replaced, Deleted, Replaced, Deleted, Created]);
        let refused = check_batch(&[Write::Delete("new".into()), Write::Insert(Message::with_id("old"))], exists);
        let error = refused.unwrap_err();
        assert_eq!((error.position, &error.problem), (0, &WriteProblem::NotFound("new".into())));
        assert!(error.to_string().starts_with("write 1 of the batch of 2 was refused"), "{error}");
        let error = check_batch(&[Write::Insert(Message::with_id("old"))], exists).unwrap_err();
        assert_eq!(error.problem, WriteProblem::AlreadyExists("old".into()));
        assert!(error.to_string().contains("upsert replaces"), "{error}");
        let error = check_batch(&[Write::Upsert(Message::with_id(""))], exists).unwrap_err();
        assert_eq!(error.problem, WriteProblem::EmptyId);
    }

    #[test]
    fn json_messages_are_validated_as_the_loader_does() {
        let message = message_from_json(r#"{"_id": "a", "channel": "sms", "tags": []}"#).unwrap();
        assert_eq!(message.id, "a");
        assert_eq!(message.tags, Some(vec![]));
        let error = message_from_json(r#"{"_id": "a", "channel": "fax"}"#).unwrap_err();
        assert!(
            matches!(&error, MessageError::Invalid(LoadError::Record { field: Some(field), .. }) if field == "channel"),
            "{error:?}"
        );
        let words = error.to_string();
        assert!(words.starts_with("the message is invalid: line 1 ") && words.contains("sms"), "{words}");
        let error = message_from_json(r#"{"_id": "a", "colour": 1}"#).unwrap_err();
        assert!(error.to_string().contains("colour"), "{error}");
        assert!(std::error::Error::source(&error).is_some_and(|source| source.is::<LoadError>()));
        assert!(matches!(message_from_json("[]"), Err(MessageError::NotAnObject)));
        assert!(matches!(message_from_json(""), Err(MessageError::NotAnObject)));
        let two = message_from_json("{\"_id\": \"a\"}\n{\"_id\": \"b\"}").unwrap_err();
        assert!(matches!(two, MessageError::SeveralRecords));
        assert_eq!(two.to_string(), "the body must be one JSON object (a message) on one line");
    }
}
