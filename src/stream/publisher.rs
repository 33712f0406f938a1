//! A node's writes in stream mode: a batch is checked against this node's
//! store, published to the change stream as a log record, and answered
//! once the stream has acknowledged it (it is then durable, replicated as
//! the stream is) and this node has applied it, so that a read on this
//! node after the answer sees the write (SPEC §8); a write this node has
//! not applied within [`APPLY_WAIT`] is answered 503.

use std::sync::Arc;
use std::time::Duration;

use crate::durable::record::{encode_record_payload, record_bytes};
use crate::engine::Engine;
use crate::live::LiveEngine;
use crate::page::Page;
use crate::request::{ListQuery, QueryLimits};
use crate::server::AppliedSequence;
use crate::write::{check_batch, Applied, Writable, Write, WriteError, WriteProblem};

/// How long a writer waits for this node to apply its acknowledged batch
/// before answering 503 (the batch is durable in the stream by then, and
/// will be applied).
const APPLY_WAIT: Duration = Duration::from_secs(10);

/// Reads from this node's store; writes through the change stream.
pub struct StreamWriter {
    engine: Arc<LiveEngine>,
    context: async_nats::jetstream::Context,
    subject: String,
    applied: AppliedSequence,
    runtime: tokio::runtime::Handle,
}

impl StreamWriter {
    /// A writer publishing to `subject` through `context` (whose runtime is
    /// `runtime`), answering reads from `engine`, which the node's replica
    /// keeps up to date and reports in `applied`.
    pub fn new(
        engine: Arc<LiveEngine>,
        context: async_nats::jetstream::Context,
        subject: String,
        applied: AppliedSequence,
        runtime: tokio::runtime::Handle,
    ) -> StreamWriter {
        StreamWriter { engine, context, subject, applied, runtime }
    }

    /// Publishes a record and returns the stream sequence that holds it.
    fn publish(&self, record: Vec<u8>) -> Result<u64, String> {
        let (context, subject) = (self.context.clone(), self.subject.clone());
        self.runtime.block_on(async move {
            let acknowledgement = context.publish(subject, record.into()).await.map_err(|error| error.to_string())?;
            acknowledgement.await.map(|ack| ack.sequence).map_err(|error| error.to_string())
        })
    }
}

impl Engine for StreamWriter {
    fn message_count(&self) -> u64 {
        self.engine.message_count()
    }

    fn limits(&self) -> QueryLimits {
        self.engine.limits()
    }

    fn list_into(&self, query: &ListQuery, out: &mut Vec<u8>) {
        self.engine.list_into(query, out)
    }

    fn retrieve_into(&self, id: &str, out: &mut Vec<u8>) -> bool {
        self.engine.retrieve_into(id, out)
    }

    fn list(&self, query: &ListQuery) -> Page {
        self.engine.list(query)
    }
}

impl StreamWriter {
    /// The largest record the stream takes: the NATS server's message
    /// limit.
    fn max_record_bytes(&self) -> usize {
        match self.context.client().server_info().max_payload {
            0 => DEFAULT_MAX_PAYLOAD,
            limit => limit,
        }
    }

    /// Publishes `batch` as one record (with a producer's `position`), and
    /// waits up to [`APPLY_WAIT`] for this node to apply it; the stream
    /// sequence that holds it, and whether this node applied it in time.
    fn publish_batch(&self, batch: &[Write], position: Option<&str>) -> Result<(u64, bool), WriteProblem> {
        let payload = encode_record_payload(batch, position).map_err(WriteProblem::Storage)?;
        let record = record_bytes(0, &payload);
        let limit = self.max_record_bytes();
        if record.len() > limit {
            return Err(WriteProblem::TooLarge { bytes: record.len(), limit });
        }
        let sequence = self.publish(record).map_err(|why| {
            WriteProblem::Storage(format!(
                "the change stream did not acknowledge the batch ({why}); it may or may not be applied"
            ))
        })?;
        self.applied.note_published(sequence);
        let applied = self.applied.clone();
        let in_time = self.runtime.block_on(async move { applied.wait_for(sequence, APPLY_WAIT).await });
        Ok((sequence, in_time))
    }
}

/// NATS' message limit when the server does not say.
const DEFAULT_MAX_PAYLOAD: usize = 1 << 20;

impl Writable for StreamWriter {
    /// Checked against this node's store as a local write is (another node's
    /// write may race it; replicas apply the stream idempotently), then
    /// published as one record, all or nothing; `Ok` once the stream
    /// acknowledged it and this node applied it (503 otherwise, see
    /// `APPLY_WAIT`).
    fn apply(&self, batch: Vec<Write>) -> Result<Vec<Applied>, WriteError> {
        let snapshot = self.engine.snapshot();
        let outcomes = check_batch(&batch, |id| snapshot.state().contains(id))?;
        let refuse = |problem| WriteError { position: 0, batch_len: batch.len(), problem };
        match self.publish_batch(&batch, None).map_err(refuse)? {
            (_, true) => Ok(outcomes),
            // SPEC §8: every read after a write sees it. Not yet visible
            // here, the write is not answered as done (a retried PUT is
            // safe; a retried DELETE may find the message gone).
            (sequence, false) => Err(refuse(WriteProblem::Storage(format!(
                "the change stream holds the batch at sequence {sequence}, but this node has not applied it within \
                 {} s; it will be applied, and a read naming X-Msgdex-Min-Sequence: {sequence} waits for it",
                APPLY_WAIT.as_secs()
            )))),
        }
    }
}

/// `msgdex sync --to-stream`: a follower whose pages go through the stream,
/// each record carrying the follower's cursor, and whose local copy is this
/// node's store, kept by the stream. Every node of the account learns the
/// cursor with the records, so any of them can take the follower over.
#[cfg(feature = "follow")]
impl crate::follow::FollowTarget for StreamWriter {
    fn cursor_position(&self) -> Option<String> {
        let position = self.engine.snapshot().source_position().map(str::to_owned);
        super::producer_position_of(position.as_deref()).ok().flatten().map(str::to_owned)
    }

    fn retrieve_into(&self, id: &str, out: &mut Vec<u8>) -> bool {
        Engine::retrieve_into(self.engine.as_ref(), id, out)
    }

    fn live_ids(&self) -> std::collections::BTreeSet<String> {
        crate::follow::FollowTarget::live_ids(self.engine.as_ref())
    }

    /// `Ok` once the stream holds the writes and this node applied them, so
    /// that the follower's next comparison sees them. Writes too many for
    /// one record go as several, in order, the cursor in the last only: a
    /// follower stopped between them publishes the earlier ones again,
    /// which replicas apply idempotently to the same store.
    fn apply_at(&self, writes: Vec<Write>, position: &str) -> Result<(), String> {
        let mut pending = vec![writes];
        while let Some(writes) = pending.pop() {
            let last = pending.is_empty();
            match self.publish_batch(&writes, last.then_some(position)) {
                Ok((_, true)) => {}
                Ok((sequence, false)) => {
                    return Err(format!(
                        "the stream holds the batch at sequence {sequence}, but this node did not apply it within {} s",
                        APPLY_WAIT.as_secs()
                    ))
                }
                Err(WriteProblem::TooLarge { .. }) if writes.len() > 1 => {
                    // Halves, the first half published first.
                    let mut first = writes;
                    let second = first.split_off(first.len() / 2);
                    pending.push(second);
                    pending.push(first);
                }
                Err(problem) => return Err(problem.to_string()),
            }
        }
        Ok(())
    }

    fn hold_compactions(&self) -> crate::live::CompactionHold<'_> {
        self.engine.hold_compactions()
    }
}
