//! One consistent state of a live store: [`State`], what queries read,
//! and [`Snapshot`], a state held by a caller and queried through
//! [`Engine`]; with a summary of its shape, [`LiveStats`].

use std::sync::Arc;

use super::{merge, Location, Part, Tail};
use crate::engine::Engine;
use crate::model::Field;
use crate::request::{ListQuery, QueryLimits};
use crate::store::Segment;

/// A consistent state of a live store, held: every read of it sees the
/// same messages, whatever is written meanwhile — for paging through a
/// list without gaps or repeats, say. It answers as any [`Engine`] does,
/// and costs nothing to hold but the memory of what it keeps alive.
///
/// ```
/// use msgdex::{Engine, ListQuery, LiveEngine, Message, Writable};
///
/// let engine = LiveEngine::load_path("fixtures/messages.jsonl").unwrap();
/// let snapshot = engine.snapshot();
/// engine.upsert(Message::with_id("written-later")).unwrap();
/// assert_eq!(snapshot.message_count() + 1, engine.message_count());
/// let query = ListQuery::builder().per_page(100).build().unwrap();
/// assert_eq!(snapshot.list(&query).item_count, snapshot.message_count());
/// ```
#[derive(Clone, Debug)]
pub struct Snapshot {
    state: Arc<State>,
    limits: QueryLimits,
    rank_merge_depth: u64,
}

impl Snapshot {
    pub(super) fn new(state: Arc<State>, limits: QueryLimits, rank_merge_depth: u64) -> Snapshot {
        Snapshot { state, limits, rank_merge_depth }
    }

    /// How many writes and compactions made this state (0 when loaded).
    pub fn version(&self) -> u64 {
        self.state.version
    }

    /// Where the store is in its source: the position given with the last
    /// batch applied by [`LiveEngine::apply_at`](super::LiveEngine::apply_at),
    /// or `None` if no batch carried one.
    pub fn source_position(&self) -> Option<&str> {
        self.state.source_position.as_deref()
    }

    /// The sequence of the last write batch this state holds: batches are
    /// numbered from 1 in the order they were applied (in a durable store,
    /// the log record that holds each).
    pub fn sequence(&self) -> u64 {
        self.state.sequence
    }

    /// The state read (for msgdex's own tests and tools).
    #[doc(hidden)]
    pub fn state(&self) -> &State {
        &self.state
    }
}

impl Engine for Snapshot {
    fn message_count(&self) -> u64 {
        self.state.count
    }

    fn limits(&self) -> QueryLimits {
        self.limits
    }

    fn list_into(&self, query: &ListQuery, out: &mut Vec<u8>) {
        merge::PageMerge::new(&self.state, query, self.rank_merge_depth).write(out);
    }

    fn retrieve_into(&self, id: &str, out: &mut Vec<u8>) -> bool {
        self.state.retrieve_into(id, out)
    }
}

/// One consistent state of a live store: what a query reads. Internal:
/// callers hold a [`Snapshot`].
#[doc(hidden)]
#[derive(Clone, Debug)]
pub struct State {
    /// The large part, built at load or by the last compaction.
    pub(super) base: Part,
    /// Shared by the snapshots until a flush, a merge or a row marked dead
    /// in a run changes them: most writes mark a base row dead or remove a
    /// tail entry, and a snapshot's copy then raises one reference count,
    /// not two per run.
    pub(super) runs: Arc<Vec<Part>>,
    /// In `_id` order (byte-wise), so that a lookup is a binary search
    /// and a page in `_id` order needs no sort of the tail; with its date
    /// orders.
    pub(super) tail: Tail,
    /// The number of live messages.
    pub(super) count: u64,
    /// How many publications made this state (see [`State::version`]).
    pub(super) version: u64,
    /// The sequence of the last write batch applied: the log record that
    /// holds it in a durable store (0 before any).
    pub(super) sequence: u64,
    /// The first runs, which a compaction in flight is folding into a new
    /// base: merges leave them alone.
    pub(super) frozen_runs: usize,
    /// Where the store is in its source (see [`LiveEngine::apply_at`]):
    /// set by the last batch that carried a position, with that batch.
    ///
    /// [`LiveEngine::apply_at`]: super::LiveEngine::apply_at
    pub(super) source_position: Option<Arc<str>>,
}

impl State {
    /// The state of a store loaded as `segment`: its base, nothing else.
    pub(super) fn of(segment: Arc<Segment>) -> State {
        let count = u64::from(segment.row_count());
        State {
            base: Part::new(segment),
            runs: Arc::default(),
            tail: Tail::default(),
            count,
            version: 0,
            sequence: 0,
            frozen_runs: 0,
            source_position: None,
        }
    }

    /// The number of live messages.
    pub fn message_count(&self) -> u64 {
        self.count
    }

    /// How many writes and compactions made this state (0 when loaded).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The sequence of the last write batch this state holds.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// The large immutable part.
    pub fn base(&self) -> &Part {
        &self.base
    }

    /// The indexed runs of recent writes, oldest first.
    pub fn runs(&self) -> &[Part] {
        &self.runs
    }

    /// The newest writes, not yet indexed, in `_id` order.
    pub fn tail(&self) -> &Tail {
        &self.tail
    }

    /// Whether the store is exactly its base, untouched by writes.
    pub fn is_base_only(&self) -> bool {
        self.runs.is_empty() && self.tail.is_empty() && self.base.dead.is_empty()
    }

    /// Rows that compaction would fold: run rows, the tail, dead base rows.
    pub fn changed_rows(&self) -> u64 {
        self.runs.iter().map(|run| u64::from(run.segment.row_count())).sum::<u64>()
            + self.tail.len() as u64
            + self.base.dead.len()
    }

    /// Every live message's `_id`, in no order: the base's and the runs'
    /// rows not marked dead, and the tail's.
    #[cfg(feature = "follow")]
    pub(crate) fn live_ids(&self) -> impl Iterator<Item = std::borrow::Cow<'_, str>> + '_ {
        let parts = std::iter::once(&self.base).chain(self.runs.iter());
        parts
            .flat_map(|part| {
                (0..part.segment.row_count()).filter(|&row| !part.dead.contains(row)).map(|row| part.segment.id_of(row))
            })
            .chain(self.tail.iter().map(|message| std::borrow::Cow::Borrowed(message.message.id.as_str())))
    }

    /// Appends the full message with this `_id`; `false` if there is none.
    pub(super) fn retrieve_into(&self, id: &str, out: &mut Vec<u8>) -> bool {
        match self.locate(id) {
            Some(Location::Tail(index)) => self.tail[index].message.write_json(out, &Field::ALL),
            Some(Location::Run(index, row)) => self.runs[index].segment.write_row(row, &Field::ALL, out),
            Some(Location::Base(row)) => self.base.segment.write_row(row, &Field::ALL, out),
            None => return false,
        }
        true
    }
}

/// A summary of a live store's shape, for benchmarks and tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveStats {
    /// The snapshot's version.
    pub version: u64,
    /// Live messages.
    pub messages: u64,
    /// Rows of the base segment, dead ones included.
    pub base_rows: u64,
    /// Dead rows of the base.
    pub base_dead: u64,
    /// Rows of each run, oldest first.
    pub run_rows: Vec<u64>,
    /// Runs whose text index is not built yet (see
    /// [`LivePolicy::defer_text_above`](super::LivePolicy::defer_text_above)).
    pub runs_without_text_index: usize,
    /// Messages in the tail.
    pub tail: u64,
    /// Compactions finished since the store was made.
    pub compactions: u64,
}
