//! # msgdex
//!
//! An embedded, in-memory query engine that answers the CareHQ CRM's
//! Messages API — *list all messages* (filters, sort, pages, attribute
//! projection) and *retrieve a message* — with the API's exact semantics,
//! takes writes while it answers, and serves the API over HTTP.
//!
//! ## Reading
//!
//! [`FastEngine`] holds messages in columns with a bitmap index per
//! filterable value and answers through the [`Engine`] trait: typed
//! ([`Engine::list`] gives a [`Page`] of [`Message`]s, [`Engine::retrieve`]
//! a `Message`), or as the API's JSON ([`Engine::respond`] for a whole
//! request target, [`Engine::list_into`] into a reused buffer). A
//! [`ListQuery`] is parsed from a query string or built with
//! [`ListQuery::builder`]; either way it is checked as the API checks it,
//! and a [`QueryError`] names every invalid parameter.
//!
//! ```
//! use msgdex::{Engine, FastEngine, ListQuery, ReferenceEngine};
//!
//! let messages = msgdex::load_str(r#"
//! {"_id": "m1", "channel": "sms", "correspondent": "Zoë Quinn +447700900001"}
//! {"_id": "m2", "channel": "email", "correspondent": "Siân Jones sian@example.com"}
//! "#).unwrap();
//! let engine = FastEngine::new(&messages).unwrap();
//! let reference = ReferenceEngine::new(messages);
//!
//! let response = engine.respond("/v1/messages?filters-q=ZO%C3%8B&attributes=channel");
//! assert_eq!(response.status, 200);
//! assert_eq!(
//!     response.body,
//!     r#"{"item_count":1,"items":[{"_id":"m1","channel":"sms"}],"page":1,"page_count":1,"per_page":10}"#
//! );
//! let page = engine.list(&ListQuery::builder().text("zoë").build().unwrap());
//! assert_eq!(page.items[0].id, "m1");
//! assert_eq!(engine.respond("/v1/messages?per_page=0").status, 400);
//! assert_eq!(engine.respond("/v1/messages/nope").status, 404);
//! assert_eq!(reference.respond("/v1/messages?sort_by=-_id").body, engine.respond("/v1/messages?sort_by=-_id").body);
//! ```
//!
//! [`ReferenceEngine`] answers the same trait naively from a `Vec`: it is
//! the oracle every fast answer is tested against.
//!
//! ## Writing
//!
//! [`LiveEngine`] is the fast engine taking writes ([`Writable`]: insert,
//! upsert, delete, and batches applied all or nothing) while it answers.
//! Every query sees the store before or after each batch, never between;
//! [`LiveEngine::snapshot`] hands out a [`Snapshot`] that keeps one state
//! for as many reads as a caller needs (consistent paging).
//!
//! ```
//! use msgdex::{Engine, LiveEngine, Message, Writable};
//!
//! let engine = LiveEngine::load_path("fixtures/messages.jsonl").unwrap();
//! let before = engine.snapshot();
//! engine.upsert(Message { subject: Some("Hello".into()), ..Message::with_id("new") }).unwrap();
//! assert_eq!(engine.retrieve("new").unwrap().subject.as_deref(), Some("Hello"));
//! assert!(before.retrieve("new").is_none(), "a snapshot does not change");
//! ```
//!
//! ## Serving, and replaying
//!
//! `server` (feature `server`) serves the API over HTTP with CareHQ's
//! request signing, rate limits and bounds on every client, so that the
//! official client libraries work against an engine; [`transcript`]
//! replays request lines (reads and writes) as `msgdex run` does.
#![deny(missing_docs)]
#![deny(unsafe_code)]

mod arena;
mod column;
mod dict_codes;
mod durable;
mod engine;
mod exec;
mod explain;
mod fast;
#[cfg(feature = "follow")]
pub mod follow;
mod fragment_ends;
mod index;
mod json;
mod live;
mod load;
mod model;
mod monotone_search;
mod output;
mod packed_dates;
mod page;
mod parts;
mod plan;
mod reference;
mod request;
#[cfg(feature = "server")]
pub mod server;
mod store;
#[cfg(feature = "stream")]
pub mod stream;
#[allow(unsafe_code)]
mod sys;
mod text_codec;
pub mod transcript;
mod write;
mod write_request;

pub use durable::{
    check, create, import, install_checkpoint, CheckReport, CheckpointFiles, CheckpointManifest, CutTail, ImportReport,
    Recovery, StoreError, StoreOptions, SyncPolicy,
};
pub use engine::Engine;
pub use explain::Explanation;
pub use fast::FastEngine;
pub use live::{CompactionHold, LiveEngine, LivePolicy, LiveStats, Snapshot};
pub use load::{
    load_path, load_reader, load_str, parse_message_for_id, BodyError, LoadError, LoadProgress, RecordLocation,
};
pub use model::{Channel, DateKey, DateTime, DeliveryStatus, Direction, Field, FieldKind, FieldValue, Message};
pub use output::{ArgErrors, Response, Status};
pub use page::Page;
pub use reference::{LiveReference, ReferenceEngine};
pub use request::{
    FacetFilter, ListQuery, ListQueryBuilder, Presence, QueryError, QueryLimits, Request, SortField, SortKey,
    ValueFilter, DEFAULT_MAX_PER_PAGE, DEFAULT_PER_PAGE, MESSAGES_PATH, PARAMETERS,
};
pub use store::{BuildError, ContentStorage, UnknownContentStorage};
pub use write::{message_from_json, Applied, MessageError, Writable, Write, WriteError, WriteProblem};

/// Internals for msgdex's own tests, benchmarks and tools: not part of the
/// API, and may change in any release.
#[doc(hidden)]
pub mod testing {
    pub use crate::exec::{execute, execute_forcing, ExecStats, Execution, PageStrategy, PageWindow};

    /// The plan and the execution an explanation reports.
    pub fn explanation_parts(explanation: &crate::Explanation) -> (&Plan, &Execution) {
        (&explanation.plan, &explanation.execution)
    }
    pub use crate::durable::LogFaults;

    /// Every message of `engine`, every field, as the JSON bodies of its
    /// pages in `_id` order: two engines holding the same messages give
    /// the same pages.
    pub fn every_page(engine: &dyn crate::Engine) -> Vec<String> {
        let fields: Vec<&str> = crate::Field::ALL.iter().map(|field| field.name()).collect();
        let attributes = fields.join("&attributes=");
        (1..)
            .map(|page| engine.respond(&format!("/v1/messages?per_page=100&page={page}&attributes={attributes}")).body)
            .take_while(|body| !body.contains("\"items\":[]"))
            .collect()
    }
    pub use crate::json::{quoted, write_json_string};
    pub use crate::load::{for_each_batch, for_each_batch_in_path, load_segment, load_segment_from_path};
    pub use crate::output::{hint_body, PageFrame};
    pub use crate::plan::{plan, plan_window, Plan, Strategy};
    pub use crate::store::dead_rows::DeadRows;
    pub use crate::store::{Segment, SegmentBuilder, BITMAP_FIELDS};
    pub use crate::text_codec::TextCodec;
}

/// The README's Rust examples, compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
