//! What every engine offers, and the one function that turns a request
//! target into a [`Response`] for any of them (SPEC §4–§7).
//!
//! The reference engine and the fast engine implement [`Engine`]; the
//! command line, the transcript replayer and the property tests only speak
//! to this trait, so both engines are always exercised the same way.

use crate::model::Message;
use crate::output::Response;
use crate::page::Page;
use crate::request::{ListQuery, QueryLimits, Request};

/// An in-memory store of messages that answers the Messages API.
///
/// Answers come typed ([`Engine::list`], [`Engine::retrieve`]) or as the
/// API's JSON: implementations write bodies straight into a caller's
/// buffer ([`Engine::list_into`], [`Engine::retrieve_into`]), so that a hot
/// loop can reuse one allocation.
pub trait Engine: Send + Sync {
    /// The number of messages held.
    fn message_count(&self) -> u64;

    /// The validation limits of this store (largest `per_page`).
    fn limits(&self) -> QueryLimits;

    /// Appends the 200 body of a list request (SPEC §4) to `out`.
    fn list_into(&self, query: &ListQuery, out: &mut Vec<u8>);

    /// Appends the full message with this `_id` (SPEC §5) to `out`; returns
    /// `false`, writing nothing, when there is none.
    fn retrieve_into(&self, id: &str, out: &mut Vec<u8>) -> bool;

    /// Answers one request target (path and query), as the transcript form
    /// and the HTTP server do.
    fn respond(&self, target: &str) -> Response {
        let mut body = Vec::new();
        match Request::parse(target, &self.limits()) {
            Request::List(Ok(query)) => {
                self.list_into(&query, &mut body);
                Response::ok(crate::json::into_string(body))
            }
            Request::List(Err(error)) => Response::bad_request(error.arg_errors()),
            Request::Retrieve(id) => {
                if self.retrieve_into(&id, &mut body) {
                    Response::ok(crate::json::into_string(body))
                } else {
                    Response::not_found(&format!("No message has the Id {}.", crate::json::quoted(&id)))
                }
            }
            Request::UnknownPath(path) => Response::not_found(&format!(
                "Nothing is served at {}; the paths are /v1/messages and /v1/messages/<message_id>.",
                crate::json::quoted(&path)
            )),
        }
    }

    /// One page of a list request, typed.
    fn list(&self, query: &ListQuery) -> Page {
        let mut body = Vec::new();
        self.list_into(query, &mut body);
        Page::from_body(&body)
    }

    /// The first `count` messages in `_id` order, every field: to copy a
    /// store's messages into another engine, or to export them.
    fn first_messages(&self, count: usize) -> Vec<Message> {
        let mut messages = Vec::new();
        for page in 1.. {
            let query = ListQuery::builder()
                .per_page(self.limits().max_per_page)
                .page(page)
                .attributes(crate::model::Field::ALL)
                .build()
                .expect("a page of every field is a valid query");
            let items = self.list(&query).items;
            if items.is_empty() || messages.len() >= count {
                break;
            }
            messages.extend(items);
        }
        messages.truncate(count);
        messages
    }

    /// The message with this `_id`, if there is one.
    fn retrieve(&self, id: &str) -> Option<Message> {
        let mut body = Vec::new();
        self.retrieve_into(id, &mut body)
            .then(|| serde_json::from_slice(&body).expect("an engine writes valid messages"))
    }

    /// The body of a list request (SPEC §4) as a `String`.
    fn list_json(&self, query: &ListQuery) -> String {
        let mut body = Vec::new();
        self.list_into(query, &mut body);
        crate::json::into_string(body)
    }

    /// The full message with this `_id` as JSON (SPEC §5), if there is one.
    fn retrieve_json(&self, id: &str) -> Option<String> {
        let mut body = Vec::new();
        self.retrieve_into(id, &mut body).then(|| crate::json::into_string(body))
    }
}
