//! The tail: the newest written messages, not yet indexed, scanned by
//! every query. They are kept in `_id` order (a lookup is a binary search,
//! a page in `_id` order needs no sort) and, beside them, their positions
//! in each date order (`created`, `modified`, `date_time`, then `_id`),
//! sorted by the first query of a snapshot that asks for one: the other
//! queries of that snapshot take the tail's matches in order instead of
//! sorting them, and writes pay nothing for it.

use std::sync::{Arc, OnceLock};

use crate::model::{DateTime, Message};
use crate::request::ListQuery;
use crate::store::column::NULL_DATE;

/// The tail's messages with their date orders.
#[derive(Debug, Default)]
pub struct Tail {
    /// In `_id` order (byte-wise).
    messages: Vec<Arc<TailMessage>>,
    /// Per date key, in the segments' order numbering
    /// ([`crate::store::order_number`]): the positions of `messages` by
    /// that date (`null` first), then `_id`, ascending; sorted by the first
    /// query that asks, once per snapshot (a write, which makes a new
    /// snapshot, pays nothing for them).
    by_date: [OnceLock<Vec<u32>>; 3],
}

impl Clone for Tail {
    /// The messages; the date orders are made again when asked for (the
    /// clone is about to change: it is the next snapshot's).
    fn clone(&self) -> Tail {
        Tail { messages: self.messages.clone(), by_date: Default::default() }
    }
}

impl std::ops::Deref for Tail {
    type Target = [Arc<TailMessage>];

    fn deref(&self) -> &[Arc<TailMessage>] {
        &self.messages
    }
}

impl Tail {
    /// The positions of the messages ascending by date key `order`
    /// (`store::order_number`), ties by `_id`.
    pub fn by_date(&self, order: usize) -> &[u32] {
        self.by_date[order].get_or_init(|| {
            let messages = &self.messages;
            let mut keyed: Vec<(i64, u32)> = messages
                .iter()
                .enumerate()
                .map(|(position, written)| (written.dates[order], position as u32))
                .collect();
            // Positions are in `_id` order: ties on the date keep it.
            keyed.sort_unstable();
            keyed.into_iter().map(|(_, position)| position).collect()
        })
    }

    /// Adds a message whose `_id` the tail does not hold.
    pub(super) fn insert(&mut self, message: TailMessage) {
        let at = self.messages.partition_point(|written| written.message.id < message.message.id);
        self.messages.insert(at, Arc::new(message));
        self.by_date = Default::default();
    }

    /// Removes the message at `index` (in `_id` order).
    pub(super) fn remove(&mut self, index: usize) {
        self.messages.remove(index);
        self.by_date = Default::default();
    }

    /// Keeps only the messages `keep` accepts.
    pub(super) fn retain(&mut self, keep: impl FnMut(&Arc<TailMessage>) -> bool) {
        self.messages.retain(keep);
        self.by_date = Default::default();
    }
}

/// A written message not yet indexed, with its `filters-q` fields
/// lower-cased once when written rather than by every query that scans it.
#[derive(Debug)]
pub struct TailMessage {
    /// The message as written.
    pub message: Message,
    /// `correspondent`, `destination`, `origin` lower-cased (`None`: null).
    lowered: [Option<Box<str>>; 3],
    /// `created`, `modified`, `date_time` in seconds ([`NULL_DATE`] for
    /// `null`), in the segments' order numbering.
    pub(crate) dates: [i64; 3],
}

impl TailMessage {
    pub(super) fn new(message: Message) -> TailMessage {
        let lowered = crate::store::TEXT_FIELDS.map(|field| match message.get(field) {
            crate::model::FieldValue::Str(value) => Some(value.to_lowercase().into_boxed_str()),
            _ => None,
        });
        let seconds = |value: Option<DateTime>| value.map_or(NULL_DATE, DateTime::seconds);
        let dates = [seconds(message.created), seconds(message.modified), seconds(message.date_time)];
        TailMessage { message, lowered, dates }
    }

    /// Whether the message passes every filter of the query `filter` was
    /// prepared from.
    pub fn matches(&self, filter: &TailFilter<'_>) -> bool {
        crate::reference::matches_but_text_with(&self.message, filter.query, |number, value| {
            match &filter.value_sets[number] {
                Some(set) => set.contains(value),
                None => filter.query.value_filters[number].values.iter().any(|accepted| accepted == value),
            }
        }) && filter
            .needle
            .as_ref()
            .is_none_or(|needle| self.lowered.iter().flatten().any(|value| needle.find(value.as_bytes()).is_some()))
    }
}

/// A list request prepared once for testing every tail message: its
/// `filters-q` text as a substring finder, its long value lists as sets.
pub struct TailFilter<'a> {
    query: &'a ListQuery,
    needle: Option<memchr::memmem::Finder<'a>>,
    /// Per value filter, its values as a set when there are many of them
    /// (`filters-ids` with 50 Ids, say).
    value_sets: Vec<Option<hashbrown::HashSet<&'a str>>>,
}

impl<'a> TailFilter<'a> {
    /// Most values a filter's list may hold before it is tested as a set.
    const LIST_LIMIT: usize = 8;

    /// The request, prepared.
    pub fn new(query: &'a ListQuery) -> TailFilter<'a> {
        let value_sets = query
            .value_filters
            .iter()
            .map(|filter| {
                (filter.values.len() > Self::LIST_LIMIT).then(|| filter.values.iter().map(String::as_str).collect())
            })
            .collect();
        TailFilter { query, needle: query.text.as_deref().map(memchr::memmem::Finder::new), value_sets }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The positions of `tail`'s messages by date key `order` then `_id`,
    /// found by sorting them.
    fn sorted_positions(tail: &Tail, order: usize) -> Vec<u32> {
        let mut positions: Vec<u32> = (0..tail.len() as u32).collect();
        positions.sort_by_key(|&position| {
            let written = &tail[position as usize];
            (written.dates[order], written.message.id.clone())
        });
        positions
    }

    proptest::proptest! {
        /// Through inserts, removals and a flush's retain, and in clones
        /// (each a snapshot's), the tail stays in `_id` order and each date
        /// order is what a sort of the messages gives (ties, `null`s and all).
        #[test]
        fn date_orders_follow_every_change(
            steps in proptest::collection::vec((0u8..4, 0u32..40, proptest::option::of(0i64..4)), 0..80),
        ) {
            let mut tail = Tail::default();
            for (kind, number, date) in steps {
                let id = format!("m{number}");
                match (kind, tail.binary_search_by(|written| written.message.id.cmp(&id))) {
                    (0, Ok(index)) => tail.remove(index),
                    (1, _) => tail.retain(|written| !written.message.id.ends_with(&number.to_string())),
                    (_, Ok(_)) => {}
                    (_, Err(_)) => {
                        let date = date.and_then(DateTime::from_seconds);
                        let message = Message { created: date, date_time: date.and_then(|date| DateTime::from_seconds(4 - date.seconds())), ..Message::with_id(id) };
                        tail.insert(TailMessage::new(message));
                    }
                }
                proptest::prop_assert!(tail.windows(2).all(|pair| pair[0].message.id < pair[1].message.id));
                if number % 3 == 0 {
                    let _ = tail.by_date(number as usize % 3); // asked for before the next change
                    tail = tail.clone();
                }
                for order in 0..3 {
                    proptest::prop_assert_eq!(tail.by_date(order).to_vec(), sorted_positions(&tail, order));
                }
            }
        }
    }
}
