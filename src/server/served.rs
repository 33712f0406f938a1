//! What a server answers from: an engine for reads, the same store for
//! writes when it takes them, whether it is ready, and the gauges it adds
//! to `/metrics`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::metrics::{gauge, ExtraGauges};
use crate::engine::Engine;
use crate::live::LiveEngine;
use crate::write::Writable;

/// The store behind a server.
#[derive(Clone)]
pub struct ServedStore {
    pub(crate) reads: Arc<dyn Engine>,
    pub(crate) writes: Option<Arc<dyn Writable>>,
    pub(crate) ready: Arc<AtomicBool>,
    pub(crate) gauges: Option<ExtraGauges>,
}

impl ServedStore {
    /// A store that answers reads only: every write gets 405.
    pub fn read_only(engine: Arc<dyn Engine>) -> ServedStore {
        ServedStore { reads: engine, writes: None, ready: Arc::new(AtomicBool::new(true)), gauges: None }
    }

    /// A store that takes writes from keys with the `write` scope (from
    /// anyone without authentication).
    pub fn writable(engine: Arc<dyn Writable>) -> ServedStore {
        let reads: Arc<dyn Engine> = engine.clone();
        ServedStore { reads, writes: Some(engine), ready: Arc::new(AtomicBool::new(true)), gauges: None }
    }

    /// A live store, writable, whose `/metrics` include its snapshot's
    /// sequence (the last write it holds) and version.
    pub fn live(engine: Arc<LiveEngine>) -> ServedStore {
        let watched = Arc::clone(&engine);
        let store = ServedStore::writable(engine);
        store.with_gauges(Arc::new(move |out: &mut String| {
            let snapshot = watched.snapshot();
            gauge(
                out,
                "msgdex_snapshot_sequence",
                "Sequence number of the last write batch in the snapshot queries see.",
                snapshot.sequence() as f64,
            );
            gauge(
                out,
                "msgdex_snapshot_version",
                "Publications (write batches, flushes, merges, compactions) that made the snapshot queries see.",
                snapshot.version() as f64,
            );
        }))
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
            Some(earlier) => Arc::new(move |out: &mut String| {
                earlier(out);
                more(out);
            }),
        });
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
