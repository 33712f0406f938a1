//! The tail: the newest written messages, not yet indexed, scanned by
//! every query. They are kept in `_id` order (a lookup is a binary search,
//! a page in `_id` order needs no sort) and, beside them, their positions
//! in each date order (`created`, `modified`, `date_time`, then `_id`),
//! sorted by the first query of a snapshot that asks for one: the other
//! queries of that snapshot take the tail's matches in order instead of
//! sorting them, and writes pay nothing for it. The messages are held once,
//! in a log shared by successive snapshots, which list positions in it.

use std::sync::{Arc, OnceLock};

use crate::column::NULL_DATE;
use crate::model::{DateKey, DateTime, Message, PerDateKey};

/// The tail's messages with their date orders.
///
/// The messages themselves live in a log that the snapshots of one
/// stretch of writes share; a snapshot's tail lists positions in it. A
/// write copies those positions (a few hundred bytes) rather than a handle
/// per message, whose reference counts it would raise and, when the old
/// snapshot goes, lower again (docs/PERFORMANCE.md has the cost this
/// saved).
#[derive(Debug, Default)]
pub struct Tail {
    log: Arc<Log>,
    /// Positions in `log`, in `_id` order (byte-wise).
    entries: Vec<u32>,
    /// Per date key: the indexes of the messages (in `_id` order) by that
    /// date (`null` first), then `_id`, ascending;
    /// sorted by the first query that asks, once per snapshot (a write,
    /// which makes a new snapshot, pays nothing for them).
    by_date: PerDateKey<OnceLock<Vec<u32>>>,
}

impl Clone for Tail {
    /// The messages; the date orders are made again when asked for (the
    /// clone is about to change: it is the next snapshot's).
    fn clone(&self) -> Tail {
        Tail { log: Arc::clone(&self.log), entries: self.entries.clone(), by_date: Default::default() }
    }
}

impl std::ops::Index<usize> for Tail {
    type Output = Arc<TailMessage>;

    /// The message at `index` in `_id` order.
    fn index(&self, index: usize) -> &Arc<TailMessage> {
        self.log.get(self.entries[index])
    }
}

impl Tail {
    /// The number of messages.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the tail holds no message.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The messages in `_id` order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Arc<TailMessage>> + ExactSizeIterator + '_ {
        self.entries.iter().map(|&entry| self.log.get(entry))
    }

    /// The index of the message with `_id` `id`, or where it would go.
    pub fn search(&self, id: &str) -> Result<usize, usize> {
        self.entries.binary_search_by(|&entry| self.log.get(entry).message.id.as_str().cmp(id))
    }

    /// The indexes of the messages ascending by date key `key`, ties by
    /// `_id`.
    pub fn by_date(&self, key: DateKey) -> &[u32] {
        self.by_date[key].get_or_init(|| {
            let mut keyed: Vec<(i64, u32)> =
                self.iter().enumerate().map(|(index, written)| (written.dates[key], index as u32)).collect();
            // Indexes are in `_id` order: ties on the date keep it.
            keyed.sort_unstable();
            keyed.into_iter().map(|(_, index)| index).collect()
        })
    }

    /// Adds a message whose `_id` the tail does not hold.
    pub(super) fn insert(&mut self, message: TailMessage) {
        let at = self.search(&message.message.id).unwrap_or_else(|at| at);
        let entry = self.log.push(Arc::new(message));
        self.entries.insert(at, entry);
        self.by_date = Default::default();
        if self.log.len() > 2 * self.entries.len() + Log::FIRST as usize {
            // Mostly messages replaced in the tail (a hot message written
            // again and again never fills it): move to a log of its own, so
            // that the log stays within a few times the tail.
            self.retain(|_| true);
        }
    }

    /// Removes the message at `index` (in `_id` order). It stays in the log
    /// (earlier snapshots may list it) until the tail moves to a new one.
    pub(super) fn remove(&mut self, index: usize) {
        self.entries.remove(index);
        self.by_date = Default::default();
    }

    /// Keeps only the messages `keep` accepts, in a log of their own: the
    /// old log, with the messages a flush took and those removed since,
    /// goes with the last snapshot that lists it.
    pub(super) fn retain(&mut self, mut keep: impl FnMut(&Arc<TailMessage>) -> bool) {
        let log = Arc::new(Log::default());
        let entries =
            self.iter().filter(|written| keep(written)).map(|written| log.push(Arc::clone(written))).collect();
        *self = Tail { log, entries, by_date: Default::default() };
    }
}

/// Messages appended by the writer and read by snapshots at the positions
/// they list: an append-only list in chunks that never move, each twice
/// the size of the one before, whose slots are each filled once (a
/// snapshot is published after its messages are in, so a reader finds
/// every slot it lists filled).
#[derive(Debug, Default)]
struct Log {
    chunks: [OnceLock<Chunk>; Log::CHUNKS],
    /// Slots handed out.
    len: std::sync::atomic::AtomicU32,
}

/// One chunk of a [`Log`]: slots filled once each.
type Chunk = Box<[OnceLock<Arc<TailMessage>>]>;

impl Log {
    /// Slots of the first chunk.
    const FIRST: u32 = 64;
    /// Chunks: enough for every `u32` position.
    const CHUNKS: usize = 27;

    /// The chunk of a position and the slot in it.
    fn place(position: u32) -> (usize, usize) {
        let scaled = u64::from(position) / u64::from(Log::FIRST) + 1;
        let chunk = scaled.ilog2();
        let start = (u64::from(Log::FIRST) << chunk) - u64::from(Log::FIRST);
        (chunk as usize, (u64::from(position) - start) as usize)
    }

    /// Appends a message; returns its position.
    fn push(&self, message: Arc<TailMessage>) -> u32 {
        let position = self.len.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (chunk, slot) = Log::place(position);
        let slots = self.chunks[chunk].get_or_init(|| {
            (0..(Log::FIRST as usize) << chunk).map(|_| OnceLock::new()).collect::<Vec<_>>().into_boxed_slice()
        });
        slots[slot].set(message).expect("each position is handed out once");
        position
    }

    /// Positions handed out.
    fn len(&self) -> usize {
        self.len.load(std::sync::atomic::Ordering::Relaxed) as usize
    }

    /// The message at a position pushed before.
    fn get(&self, position: u32) -> &Arc<TailMessage> {
        let (chunk, slot) = Log::place(position);
        self.chunks[chunk].get().and_then(|slots| slots[slot].get()).expect("a position pushed before")
    }
}

/// A written message not yet indexed, with its `filters-q` fields
/// lower-cased once, by the first query that searches the text (rather
/// than by every query that scans it, or by the write: most messages of a
/// burst are flushed before any text search reaches them).
#[derive(Debug)]
pub struct TailMessage {
    /// The message as written.
    pub message: Message,
    /// `correspondent`, `destination`, `origin` lower-cased (`None`: null),
    /// once asked for.
    lowered: OnceLock<[Option<Box<str>>; 3]>,
    /// Each date key's value in seconds ([`NULL_DATE`] for `null`).
    pub(crate) dates: PerDateKey<i64>,
    /// The sequence of the batch that wrote it (0 where unknown), so that
    /// a checkpoint knows from which log record the tail can be replayed.
    pub(crate) sequence: u64,
}

impl TailMessage {
    pub(super) fn new(message: Message) -> TailMessage {
        let dates = PerDateKey::from_fn(|key| message.date_time_of(key.field()).map_or(NULL_DATE, DateTime::seconds));
        TailMessage { message, lowered: OnceLock::new(), dates, sequence: 0 }
    }

    /// The message as written by batch `sequence`.
    pub(super) fn written_by(message: Message, sequence: u64) -> TailMessage {
        TailMessage { sequence, ..TailMessage::new(message) }
    }

    /// The `filters-q` fields lower-cased.
    pub(super) fn lowered(&self) -> &[Option<Box<str>>; 3] {
        self.lowered.get_or_init(|| {
            crate::store::TEXT_FIELDS.map(|field| match self.message.get(field) {
                crate::model::FieldValue::Str(value) => Some(value.to_lowercase().into_boxed_str()),
                _ => None,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The positions of `tail`'s messages by date key `order` then `_id`,
    /// found by sorting them.
    fn sorted_positions(tail: &Tail, order: DateKey) -> Vec<u32> {
        let mut positions: Vec<u32> = (0..tail.len() as u32).collect();
        assert_eq!(tail.iter().len(), tail.len());
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
                match (kind, tail.search(&id)) {
                    (0, Ok(index)) => tail.remove(index),
                    (1, _) => tail.retain(|written| !written.message.id.ends_with(&number.to_string())),
                    (_, Ok(_)) => {}
                    (_, Err(_)) => {
                        let date = date.and_then(DateTime::from_seconds);
                        let message = Message { created: date, date_time: date.and_then(|date| DateTime::from_seconds(4 - date.seconds())), ..Message::with_id(id) };
                        tail.insert(TailMessage::new(message));
                    }
                }
                let ids: Vec<&str> = tail.iter().map(|written| written.message.id.as_str()).collect();
                proptest::prop_assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));
                if number % 3 == 0 {
                    let _ = tail.by_date(DateKey::ALL[number as usize % 3]); // asked for before the next change
                    tail = tail.clone();
                }
                for order in DateKey::ALL {
                    proptest::prop_assert_eq!(tail.by_date(order).to_vec(), sorted_positions(&tail, order));
                }
            }
        }
    }

    #[test]
    fn log_positions_fill_chunks_in_order() {
        let mut expected = 0u32;
        for chunk in 0..Log::CHUNKS {
            let size = u64::from(Log::FIRST) << chunk;
            for position in [0, 1, size - 1] {
                let global = u64::from(expected) + position;
                if let Ok(global) = u32::try_from(global) {
                    assert_eq!(Log::place(global), (chunk, position as usize), "position {global}");
                }
            }
            expected = expected.saturating_add(u32::try_from(size).unwrap_or(u32::MAX));
        }
        assert_eq!(Log::place(u32::MAX).0, Log::CHUNKS - 1);
        let log = Log::default();
        let messages: Vec<Arc<TailMessage>> =
            (0..300).map(|number| Arc::new(TailMessage::new(Message::with_id(format!("m{number}"))))).collect();
        for (number, message) in messages.iter().enumerate() {
            assert_eq!(log.push(Arc::clone(message)), number as u32);
        }
        for (number, message) in messages.iter().enumerate() {
            assert!(Arc::ptr_eq(log.get(number as u32), message));
        }
    }

    #[test]
    fn a_message_written_again_and_again_keeps_the_log_small() {
        let mut tail = Tail::default();
        tail.insert(TailMessage::new(Message::with_id("steady")));
        for serial in 0..10_000 {
            let index = tail.search("hot").ok();
            if let Some(index) = index {
                tail.remove(index);
            }
            tail.insert(TailMessage::new(Message {
                subject: Some(format!("edit {serial}")),
                ..Message::with_id("hot")
            }));
            assert!(tail.log.len() <= 2 * tail.len() + Log::FIRST as usize + 1, "log of {}", tail.log.len());
        }
        let subjects: Vec<Option<&str>> = tail.iter().map(|written| written.message.subject.as_deref()).collect();
        assert_eq!(subjects, [Some("edit 9999"), None]);
    }
}
