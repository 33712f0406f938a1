//! What a follower writes into: a store it applies pages to, with its
//! cursor as the store's source position. A live store is one; a change
//! stream is another (`msgdex sync --to-stream`, in `crate::stream`), whose
//! pages reach the store through the stream.

use std::collections::BTreeSet;

use crate::engine::Engine;
use crate::live::{CompactionHold, LiveEngine};
use crate::write::Write;

/// A store a follower keeps.
///
/// *Invariant:* once [`FollowTarget::apply_at`] returns, the writes are
/// durable and visible to [`FollowTarget::retrieve_into`] and
/// [`FollowTarget::live_ids`], and [`FollowTarget::cursor_position`]
/// returns `position`.
pub trait FollowTarget: Send + Sync {
    /// The follower's cursor as last applied (its text), if any.
    fn cursor_position(&self) -> Option<String>;

    /// Appends the message stored under `id`, as JSON, to `out`; whether
    /// there is one.
    fn retrieve_into(&self, id: &str, out: &mut Vec<u8>) -> bool;

    /// Every `_id` stored.
    fn live_ids(&self) -> BTreeSet<String>;

    /// Applies `writes` with the follower's cursor `position`, durably.
    fn apply_at(&self, writes: Vec<Write>, position: &str) -> Result<(), String>;

    /// Holds the store's compactions while a first copy grows it.
    fn hold_compactions(&self) -> CompactionHold<'_>;
}

impl FollowTarget for LiveEngine {
    fn cursor_position(&self) -> Option<String> {
        self.snapshot().source_position().map(str::to_owned)
    }

    fn retrieve_into(&self, id: &str, out: &mut Vec<u8>) -> bool {
        Engine::retrieve_into(self, id, out)
    }

    fn live_ids(&self) -> BTreeSet<String> {
        self.snapshot().state().live_ids().map(std::borrow::Cow::into_owned).collect()
    }

    fn apply_at(&self, writes: Vec<Write>, position: &str) -> Result<(), String> {
        LiveEngine::apply_at(self, writes, position).map(drop).map_err(|error| error.to_string())
    }

    fn hold_compactions(&self) -> CompactionHold<'_> {
        LiveEngine::hold_compactions(self)
    }
}
