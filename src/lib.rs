//! # msgdex
//!
//! An embedded, in-memory query engine that answers the CareHQ CRM's
//! Messages API — *list all messages* (filters, sort, pages, attribute
//! projection) and *retrieve a message* — with the API's exact semantics.
//!
//! How the pieces relate:
//!
//! * [`model`] defines the [`Message`] (31 typed fields) and [`Field`].
//! * [`load`] reads JSON Lines or a JSON array strictly into messages.
//! * [`request`] parses a request target into a [`Request`] / [`ListQuery`].
//! * [`Engine`] is what answers: [`FastEngine`] (columnar [`store`],
//!   bitmap [`index`]es, [`plan`] and [`exec`]) and [`ReferenceEngine`], the
//!   naive oracle every fast answer is tested against.
//! * [`output`] writes bodies; [`transcript`] replays request lines.
//!
//! ```
//! use msgdex::{load, Engine, FastEngine, ReferenceEngine};
//!
//! let messages = load::load_str(r#"
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
//! assert_eq!(engine.respond("/v1/messages?per_page=0").status, 400);
//! assert_eq!(engine.respond("/v1/messages/nope").status, 404);
//! assert_eq!(reference.respond("/v1/messages?sort_by=-_id").body, engine.respond("/v1/messages?sort_by=-_id").body);
//! ```
#![deny(missing_docs)]

pub mod bench;
pub mod engine;
pub mod exec;
pub mod fast;
pub mod index;
pub mod live;
pub mod load;
pub mod model;
pub mod output;
pub mod plan;
pub mod reference;
pub mod request;
#[cfg(feature = "server")]
pub mod server;
pub mod store;
pub mod transcript;
pub mod workload;
pub mod write;

pub use engine::Engine;
pub use fast::FastEngine;
pub use live::LiveEngine;
pub use model::{Field, Message};
pub use output::Response;
pub use reference::ReferenceEngine;
pub use request::{ListQuery, QueryLimits, Request};
pub use write::{Applied, Writable, Write, WriteError};

/// The README's Rust examples, compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
