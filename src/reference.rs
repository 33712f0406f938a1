//! The reference engine: a deliberately naive reading of SPEC §2–§5 over a
//! `Vec<Message>` — filter every message, sort the matches, slice the page,
//! project the fields.
//!
//! It is the oracle of the property tests and the baseline of the
//! benchmarks, so it stays short and obviously right; it is never tuned.

use std::cmp::Ordering;

use crate::engine::Engine;
use crate::model::{Field, FieldValue, Message};
use crate::output::PageFrame;
use crate::request::{ListQuery, Presence, QueryLimits, SortField, SortKey};
use crate::write::{check_batch, Applied, Writable, Write, WriteError};

/// A naive engine over a vector of messages.
#[derive(Clone, Debug, Default)]
pub struct ReferenceEngine {
    messages: Vec<Message>,
    limits: QueryLimits,
}

impl ReferenceEngine {
    /// An engine over these messages (their `_id`s must be unique, as the
    /// loader guarantees).
    pub fn new(messages: Vec<Message>) -> ReferenceEngine {
        ReferenceEngine::with_limits(messages, QueryLimits::default())
    }

    /// An engine with non-default validation limits.
    pub fn with_limits(messages: Vec<Message>, limits: QueryLimits) -> ReferenceEngine {
        ReferenceEngine { messages, limits }
    }

    /// The messages held, in load order.
    pub fn messages(&self) -> &[Message] {
        &self.messages
    }

    /// Applies a batch of writes, all or nothing: a replaced message keeps
    /// its place, a new one goes last, a deleted one is removed.
    pub fn apply(&mut self, batch: Vec<Write>) -> Result<Vec<Applied>, WriteError> {
        let outcomes = check_batch(&batch, |id| self.messages.iter().any(|message| message.id == id))?;
        for write in batch {
            match write {
                Write::Insert(message) | Write::Upsert(message) => {
                    match self.messages.iter_mut().find(|existing| existing.id == message.id) {
                        Some(existing) => *existing = message,
                        None => self.messages.push(message),
                    }
                }
                Write::Delete(id) => self.messages.retain(|message| message.id != id),
            }
        }
        Ok(outcomes)
    }

    /// Every message matching the filters of `query`, in load order.
    pub fn matching<'a>(&'a self, query: &'a ListQuery) -> impl Iterator<Item = &'a Message> + 'a {
        self.messages.iter().filter(move |message| matches(message, query))
    }
}

/// Whether `message` passes every filter of `query` (SPEC §2). Public to
/// the crate for the unit tests that check other predicates against it.
pub(crate) fn matches(message: &Message, query: &ListQuery) -> bool {
    let presence_ok = |presence: Presence, value: Option<_>| match presence {
        Presence::Unset => true,
        Presence::Yes => value.is_some(),
        Presence::No => value.is_none(),
    };
    let date_time = message.date_time;
    let modified = message.modified;
    presence_ok(query.facets.anonymized, message.anonymized.map(|_| ()))
        && presence_ok(query.facets.read, message.read.map(|_| ()))
        && query.value_filters.iter().all(|filter| match message.get(filter.field) {
            FieldValue::Str(value) => filter.values.iter().any(|accepted| accepted == value),
            _ => false,
        })
        && in_set(&query.facets.channels, message.channel)
        && in_set(&query.facets.directions, message.direction)
        && in_set(&query.facets.delivery_statuses, message.delivery_status)
        && query.date_time_from.is_none_or(|from| date_time.is_some_and(|value| value >= from))
        && query.date_time_to.is_none_or(|to| date_time.is_some_and(|value| value <= to))
        && query.modified_after.is_none_or(|after| modified.is_some_and(|value| value > after))
        && query.modified_before.is_none_or(|before| modified.is_some_and(|value| value < before))
        && query.text.as_deref().is_none_or(|text| {
            TEXT_FIELDS.into_iter().any(|field| match message.get(field) {
                FieldValue::Str(value) => value.to_lowercase().contains(text),
                _ => false,
            })
        })
}

/// The fields `filters-q` searches (SPEC §2).
const TEXT_FIELDS: [Field; 3] = [Field::Correspondent, Field::Destination, Field::Origin];

/// Whether `value` is accepted by an enum filter (`None`: no filter); a
/// `null` value never matches a filter.
fn in_set<T: PartialEq>(accepted: &Option<Vec<T>>, value: Option<T>) -> bool {
    match (accepted, value) {
        (None, _) => true,
        (Some(accepted), Some(value)) => accepted.contains(&value),
        (Some(_), None) => false,
    }
}

/// Compares two messages by the sort keys (SPEC §3): `null` smallest, `_id`
/// byte-wise, `-` reverses a key.
fn compare(left: &Message, right: &Message, sort: &[SortKey]) -> Ordering {
    sort.iter()
        .map(|key| {
            let ordering = match key.field {
                SortField::Id => left.id.as_bytes().cmp(right.id.as_bytes()),
                other => left.date_time_of(other.field()).cmp(&right.date_time_of(other.field())),
            };
            if key.descending {
                ordering.reverse()
            } else {
                ordering
            }
        })
        .find(|ordering| ordering.is_ne())
        .unwrap_or(Ordering::Equal)
}

impl Engine for ReferenceEngine {
    fn message_count(&self) -> u64 {
        self.messages.len() as u64
    }

    fn limits(&self) -> QueryLimits {
        self.limits
    }

    fn list_into(&self, query: &ListQuery, out: &mut Vec<u8>) {
        let mut found: Vec<&Message> = self.matching(query).collect();
        found.sort_by(|left, right| compare(left, right, &query.sort));
        let frame = PageFrame { item_count: found.len() as u64, page: query.page, per_page: query.per_page };
        let offset = usize::try_from(query.offset()).unwrap_or(usize::MAX);
        frame.write_body(out, |out| {
            for (position, message) in found.iter().skip(offset).take(query.per_page as usize).enumerate() {
                if position > 0 {
                    out.push(b',');
                }
                message.write_json(out, &query.attributes);
            }
        });
    }

    fn retrieve_into(&self, id: &str, out: &mut Vec<u8>) -> bool {
        match self.messages.iter().find(|message| message.id == id) {
            Some(message) => {
                message.write_json(out, &Field::ALL);
                true
            }
            None => false,
        }
    }
}

/// The reference engine behind a lock, taking writes through [`Writable`]
/// as the fast live engine does: the oracle for tests of interleaved writes
/// and queries.
#[derive(Debug, Default)]
pub struct LiveReference {
    inner: std::sync::RwLock<ReferenceEngine>,
}

impl LiveReference {
    /// A writable reference engine.
    pub fn new(engine: ReferenceEngine) -> LiveReference {
        LiveReference { inner: std::sync::RwLock::new(engine) }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, ReferenceEngine> {
        self.inner.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Engine for LiveReference {
    fn message_count(&self) -> u64 {
        self.read().message_count()
    }

    fn limits(&self) -> QueryLimits {
        self.read().limits()
    }

    fn list_into(&self, query: &ListQuery, out: &mut Vec<u8>) {
        self.read().list_into(query, out)
    }

    fn retrieve_into(&self, id: &str, out: &mut Vec<u8>) -> bool {
        self.read().retrieve_into(id, out)
    }
}

impl Writable for LiveReference {
    fn apply(&self, batch: Vec<Write>) -> Result<Vec<Applied>, WriteError> {
        self.inner.write().unwrap_or_else(std::sync::PoisonError::into_inner).apply(batch)
    }
}
