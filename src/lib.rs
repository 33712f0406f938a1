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
#![deny(unsafe_code)]

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
#[allow(unsafe_code)]
mod sys;
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

/// The allocator msgdex's own programs install (the command line, its
/// examples and benchmarks; feature `mimalloc`, on by default). A live
/// store's writes and merges allocate and free many short-lived blocks:
/// with glibc's malloc, 100,000 upserts at 1M messages on one core faulted
/// in 12 times the pages and ran at 96–107k/s, against 112–127k/s. A program linking msgdex
/// chooses its own allocator; this is what its figures were measured with.
#[cfg(feature = "mimalloc")]
pub use mimalloc::MiMalloc as Allocator;

/// Prepares this process's memory for msgdex's programs; their `main`
/// calls it first. It turns transparent huge pages off: mimalloc asks the
/// kernel for them, and where the kernel grants them on request (the
/// `madvise` mode) it compacts memory to find 2 MB pages as they are first
/// touched. Loading 1M messages spent twice the system time (1 to 3 s
/// more, varying from run to run) and wrote no faster. Linux only;
/// elsewhere nothing happens.
pub fn prepare_process_memory() {
    sys::disable_transparent_huge_pages();
}
