//! [`Page`]: one page of a list, typed — the counts and the messages on it —
//! beside the JSON bodies the engines write.

use crate::model::Message;

/// One page of a list request's answer (SPEC §4), typed.
///
/// Each item holds the request's `attributes` (by default `_id` alone);
/// its other fields are `None`, as they are absent from the JSON body.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
pub struct Page {
    /// Matching messages over all pages.
    pub item_count: u64,
    /// The messages of this page, in the request's order.
    pub items: Vec<Message>,
    /// The page number.
    pub page: u64,
    /// The number of pages (0 when nothing matches).
    pub page_count: u64,
    /// The page size asked for.
    pub per_page: u32,
}

impl Page {
    /// The page a list body (as [`crate::Engine::list_into`] writes it)
    /// holds.
    pub(crate) fn from_body(body: &[u8]) -> Page {
        serde_json::from_slice(body).expect("an engine writes list bodies of valid messages")
    }
}
