//! Applying a batch of writes: each `_id` looked up once, the old versions
//! marked dead, the new ones added to the tail, the next snapshot
//! published under the writer lock.

use std::sync::{Arc, MutexGuard};

use super::{lock, Location, Shared, State, TailMessage};
use crate::durable::log::Log;
use crate::index::ids::id_hash;
use crate::write::{check_batch_at, Applied, Write, WriteError, WriteProblem};

impl State {
    /// Marks the live version of `id` dead, if any; returns whether there was
    /// one. `hint` is as for [`State::locate_from`].
    fn remove(&mut self, id: &str, hint: Option<Location>) -> bool {
        match self.locate_from(id, hint) {
            Some(Location::Tail(index)) => {
                self.tail.remove(index);
            }
            Some(Location::Run(index, row)) => Arc::make_mut(&mut self.runs)[index].mark_dead(row),
            Some(Location::Base(row)) => self.base.mark_dead(row),
            None => return false,
        }
        self.count -= 1;
        true
    }

    /// Applies a write of batch `sequence` already checked by
    /// [`check_batch_at`]; `hint` is as for [`State::locate_from`].
    fn apply_checked(&mut self, write: Write, hint: Option<Location>, sequence: u64) {
        match write {
            Write::Insert(message) | Write::Upsert(message) => {
                self.remove(&message.id, hint);
                self.tail.insert(TailMessage::written_by(message, sequence));
                self.count += 1;
            }
            Write::Delete(id) => {
                self.remove(&id, hint);
            }
        }
    }
}

/// What the writer lock guards besides the publication of snapshots.
#[derive(Debug, Default)]
pub(super) struct WriterState {
    /// The `_id`s written since a compaction in flight took its snapshot.
    pub(super) written_since_compaction: Option<Vec<String>>,
    /// Every `_id` put in the tail since the base was built: the only ones
    /// the tail and the runs can hold.
    pub(super) written: WrittenIds,
}

/// The [`id_hash`]es of the `_id`s written (inserted or upserted) since the
/// base was built. The tail and the runs hold written messages only, so an
/// `_id` whose hash is not here is in neither, and the writer looks it up
/// in the base alone: three cache misses where a binary search of the tail
/// and probes of a dozen runs' indexes cost as many more. A hash shared by
/// two `_id`s only makes the writer look in the tail and runs for nothing.
#[derive(Debug, Default)]
pub(super) struct WrittenIds {
    hashes: hashbrown::HashTable<u64>,
}

impl WrittenIds {
    /// Whether an `_id` with this hash may have been written.
    fn may_hold(&self, hash: u64) -> bool {
        self.hashes.find(hash, |&known| known == hash).is_some()
    }

    /// Notes a written `_id` by its hash.
    pub(super) fn add(&mut self, hash: u64) {
        if let hashbrown::hash_table::Entry::Vacant(vacant) =
            self.hashes.entry(hash, |&known| known == hash, |&known| known)
        {
            vacant.insert(hash);
        }
    }

    /// The `_id`s of `ids` only (when a compaction's new base takes the
    /// place of the runs it folded: those in the tail when it began, to
    /// which those written since are added).
    pub(super) fn only<'a>(ids: impl IntoIterator<Item = &'a str>) -> WrittenIds {
        let mut written = WrittenIds::default();
        for id in ids {
            written.add(id_hash(crate::json::quoted(id).as_bytes()));
        }
        written
    }
}

/// Whether a batch is checked against the store before it is applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Checking {
    /// Each write is checked (an insert of an `_id` that exists, a delete
    /// of one that does not, refuse the batch).
    Checked,
    /// Applied as it stands, which is idempotent: an insert over a message
    /// the store holds replaces it, a delete of an absent `_id` removes
    /// nothing. For a record read back from the log, and for a change
    /// stream's records, which every replica must apply alike.
    AsItStands,
}

/// How a batch takes its place in the store's history.
#[derive(Clone, Copy)]
pub(super) enum Recording<'a> {
    /// In memory only: it takes the next sequence.
    Memory,
    /// Logged before it is published: it takes the next sequence, and the
    /// log record holding `payload` is appended first.
    Logged {
        /// The store's log.
        log: &'a Log,
        /// The batch's record payload.
        payload: &'a [u8],
    },
    /// Replayed from the log at open: it takes the record's sequence (and
    /// is applied as it stands: it was checked when it was logged).
    Replayed(u64),
}

impl Shared {
    /// Publishes `next` as the following version (the writer lock held).
    pub(super) fn publish(&self, _writer: &MutexGuard<'_, WriterState>, mut next: State) -> Arc<State> {
        next.version = self.current.load().version + 1;
        let next = Arc::new(next);
        self.current.store(Arc::clone(&next));
        next
    }

    /// Checks `batch` against the current snapshot and, if every write
    /// passes, publishes the snapshot with all of them applied: readers see
    /// the whole batch or none of it.
    ///
    /// A logged batch is published only once its record is written; a
    /// record that cannot be written leaves the store as it was.
    ///
    /// A `position` becomes the published state's source position.
    pub(super) fn apply_batch(
        &self,
        batch: Vec<Write>,
        position: Option<&str>,
        recording: Recording<'_>,
        checking: Checking,
    ) -> Result<AppliedBatch, WriteError> {
        let mut writer = lock(&self.writer);
        let current = self.current.load_full();
        // Each `_id` is looked up once: the check and the write share it.
        let filed_ids: Vec<(String, u64)> = batch
            .iter()
            .map(|write| {
                let fragment = crate::json::quoted(write.id());
                let hash = id_hash(fragment.as_bytes());
                (fragment, hash)
            })
            .collect();
        let found: Vec<Option<Location>> = batch
            .iter()
            .zip(&filed_ids)
            .map(|(write, (fragment, hash))| {
                current.locate_filed(write.id(), fragment.as_bytes(), *hash, writer.written.may_hold(*hash))
            })
            .collect();
        let outcomes = match checking {
            Checking::AsItStands => Vec::new(),
            Checking::Checked => check_batch_at(&batch, |position| found[position].is_some())?,
        };
        let created = outcomes.iter().filter(|&&outcome| outcome == Applied::Created).count() as u64;
        let refuse = |problem| WriteError { position: batch.len().saturating_sub(1), batch_len: batch.len(), problem };
        if current.count + created >= u64::from(u32::MAX) - 1 {
            return Err(refuse(WriteProblem::TooManyMessages));
        }
        let sequence = match recording {
            Recording::Memory => current.sequence + 1,
            Recording::Logged { log, payload } => {
                let sequence = current.sequence + 1;
                log.append(sequence, payload).map_err(|failure| refuse(WriteProblem::Storage(failure.to_string())))?;
                sequence
            }
            Recording::Replayed(sequence) => sequence,
        };
        let mut next = (*current).clone();
        next.sequence = sequence;
        if let Some(position) = position {
            next.source_position = Some(Arc::from(position));
        }
        if let Some(written) = writer.written_since_compaction.as_mut() {
            written.extend(batch.iter().map(|write| write.id().to_owned()));
        }
        for ((write, hint), (_, hash)) in batch.into_iter().zip(found).zip(filed_ids) {
            if matches!(write, Write::Insert(_) | Write::Upsert(_)) {
                writer.written.add(hash);
            }
            next.apply_checked(write, hint, sequence);
        }
        let published = self.publish(&writer, next);
        Ok(AppliedBatch { outcomes, published })
    }
}

/// A batch applied by [`Shared::apply_batch`].
pub(super) struct AppliedBatch {
    /// What each write did, in batch order.
    pub(super) outcomes: Vec<Applied>,
    /// The snapshot that holds the batch (the writer lock released since).
    pub(super) published: Arc<State>,
}
