//! What a server answers from: an engine for reads, the same store for
//! writes when it takes them, whether it is ready, and the gauges it adds
//! to `/metrics`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::metrics::{ExtraGauges, Gauges, Histogram};
use crate::engine::Engine;
use crate::live::LiveEngine;
use crate::write::Writable;

/// The last change-stream sequence a node's store has applied, and the
/// last its writes were given: what a write's answer names
/// (`X-Msgdex-Sequence`) and a read may wait for (`X-Msgdex-Min-Sequence`).
#[derive(Clone, Debug)]
pub struct AppliedSequence {
    applied: Arc<tokio::sync::watch::Sender<u64>>,
    published: Arc<std::sync::atomic::AtomicU64>,
    /// From each message's storing in the stream to its being visible here.
    lag: Arc<Histogram>,
}

impl AppliedSequence {
    /// Starting at `sequence` (what the store holds when opened).
    pub fn new(sequence: u64) -> AppliedSequence {
        AppliedSequence {
            applied: Arc::new(tokio::sync::watch::Sender::new(sequence)),
            published: Arc::new(std::sync::atomic::AtomicU64::new(0)),
            lag: Arc::new(Histogram::default()),
        }
    }

    /// Counts how long a message took from the stream to this node's
    /// snapshot.
    pub fn record_lag(&self, lag: std::time::Duration) {
        self.lag.record(lag);
    }

    /// Sets the node's stream gauges: the sequence applied, and the lag
    /// histogram.
    pub fn set_gauges(&self, gauges: &mut Gauges) {
        gauges.set(
            "msgdex_stream_applied_sequence",
            "The last stream sequence this node applied.",
            self.current() as f64,
        );
        gauges.histogram(
            "msgdex_stream_lag_seconds",
            "From a change's storing in the stream to its being visible on this node.",
            Arc::clone(&self.lag),
        );
    }

    /// The last sequence applied.
    pub fn current(&self) -> u64 {
        *self.applied.borrow()
    }

    /// Records that `sequence` is applied.
    pub fn advance(&self, sequence: u64) {
        self.applied.send_if_modified(|applied| {
            let moved = sequence > *applied;
            *applied = (*applied).max(sequence);
            moved
        });
    }

    /// Records that a write of this node was given `sequence`.
    pub fn note_published(&self, sequence: u64) {
        self.published.fetch_max(sequence, Ordering::AcqRel);
    }

    /// A sequence that holds every write this node has answered: the
    /// largest applied or given to its writes.
    pub fn token(&self) -> u64 {
        self.current().max(self.published.load(Ordering::Acquire))
    }

    /// Waits until `sequence` is applied, up to `limit`; whether it was.
    pub async fn wait_for(&self, sequence: u64, limit: std::time::Duration) -> bool {
        let mut receiver = self.applied.subscribe();
        tokio::time::timeout(limit, receiver.wait_for(|&applied| applied >= sequence))
            .await
            .is_ok_and(|done| done.is_ok())
    }
}

/// The `/metrics` gauges of a live store's snapshot: its sequence (the last
/// write batch it holds) and its version.
pub fn snapshot_gauges(engine: Arc<LiveEngine>) -> ExtraGauges {
    Arc::new(move |gauges: &mut Gauges| {
        let snapshot = engine.snapshot();
        gauges.set(
            "msgdex_snapshot_sequence",
            "Sequence number of the last write batch in the snapshot queries see.",
            snapshot.sequence() as f64,
        );
        gauges.set(
            "msgdex_snapshot_version",
            "Publications (write batches, flushes, merges, compactions) that made the snapshot queries see.",
            snapshot.version() as f64,
        );
    })
}

/// The store behind a server.
#[derive(Clone)]
pub struct ServedStore {
    pub(crate) reads: Arc<dyn Engine>,
    pub(crate) writes: Option<Arc<dyn Writable>>,
    pub(crate) ready: Arc<AtomicBool>,
    pub(crate) gauges: Option<ExtraGauges>,
    pub(crate) sequence: Option<AppliedSequence>,
}

impl ServedStore {
    /// A store that answers reads only: every write gets 405.
    pub fn read_only(engine: Arc<dyn Engine>) -> ServedStore {
        ServedStore {
            reads: engine,
            writes: None,
            ready: Arc::new(AtomicBool::new(true)),
            gauges: None,
            sequence: None,
        }
    }

    /// A store that takes writes from keys with the `write` scope (from
    /// anyone without authentication).
    pub fn writable(engine: Arc<dyn Writable>) -> ServedStore {
        let reads: Arc<dyn Engine> = engine.clone();
        ServedStore {
            reads,
            writes: Some(engine),
            ready: Arc::new(AtomicBool::new(true)),
            gauges: None,
            sequence: None,
        }
    }

    /// A live store, writable, whose `/metrics` include its snapshot's
    /// sequence (the last write it holds) and version.
    pub fn live(engine: Arc<LiveEngine>) -> ServedStore {
        let gauges = snapshot_gauges(Arc::clone(&engine));
        ServedStore::writable(engine).with_gauges(gauges)
    }

    /// The same store with every write refused (405): a replica, whose only
    /// writer is its follower.
    pub fn without_writes(mut self) -> ServedStore {
        self.writes = None;
        self
    }

    /// Adds gauges to `/metrics` (after any already added).
    pub fn with_gauges(mut self, more: ExtraGauges) -> ServedStore {
        self.gauges = Some(match self.gauges.take() {
            None => more,
            Some(earlier) => Arc::new(move |gauges: &mut Gauges| {
                earlier(gauges);
                more(gauges);
            }),
        });
        self
    }

    /// A store kept by a change stream: writes' answers carry
    /// `X-Msgdex-Sequence`, and reads may wait for one with
    /// `X-Msgdex-Min-Sequence` (see docs/SERVE.md).
    pub fn with_sequence(mut self, sequence: AppliedSequence) -> ServedStore {
        self.sequence = Some(sequence);
        self
    }

    /// The same store, ready or not as `ready` says (a flag its keeper
    /// clears while it cannot keep the store current).
    pub fn with_readiness(mut self, ready: Arc<AtomicBool>) -> ServedStore {
        self.ready = ready;
        self
    }

    /// A flag the embedder clears while the store is not ready to serve (a
    /// replica's first copy): `/healthz` then answers 503. Set at first.
    pub fn readiness(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.ready)
    }

    pub(crate) fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
}

impl From<Arc<dyn Engine>> for ServedStore {
    fn from(engine: Arc<dyn Engine>) -> ServedStore {
        ServedStore::read_only(engine)
    }
}
