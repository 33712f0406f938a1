//! The strict loader of SPEC §1: a JSON array of message objects, or JSON
//! Lines (one object per line, blank lines allowed), told apart by the first
//! byte that is not white space.
//!
//! Every record is checked in full: unknown fields, wrong types, malformed
//! or impossible date/times, enum values outside their set, a missing or
//! empty `_id`, a duplicate `_id`. The first problem (in file order) stops
//! the load with a [`LoadError`] naming the record, its `_id` where known,
//! the field and the problem; the caller gets nothing half-loaded.
//!
//! Two ways in, one set of rules:
//! * [`for_each_batch`] (and [`load_path`], [`load_str`]) parse every record
//!   with the full parser into `Message`s, handed to a sink batch by batch;
//!   the reference engine loads this way.
//! * [`load_segment`] builds the fast engine's
//!   [`Segment`](crate::store::Segment) straight from the text: the input's
//!   records (lines, or a JSON array's elements) are scanned into record
//!   batches (`scan`) a window at a time, and every record the scanner
//!   declines goes through the full parser; an array refused so is read
//!   again by the streaming parser for its error. So both ways accept the
//!   same files and report the same errors (property tests hold them to
//!   it).
//!
//! ```text
//! reader ─▶ windows::open_input
//!   ├─ JSON array that can be read again (a file, bytes) ─▶ windows of whole elements ─┐
//!   │    refused? read again, streamed: messages hands over the rest,                  │
//!   │    segment loads the whole array so                                               │
//!   ├─ other JSON array (a pipe, any reader) ─▶ array, streamed ─▶ Message batches      │
//!   └─ JSON Lines ─▶ windows of whole lines ────────────────────────────────────────────┤
//!        ├─ messages: each record through record ─▶ Message batches ─▶ sink
//!        └─ segment: each record through scan, or record where scan declines
//!                    ─▶ RecordBatches (content packed, but in a one-window input)
//!                    ─▶ Segment
//! ```
//!
//! `record` is the full parser and its field checks, `error` the errors'
//! types and words, and `ids` the `_id`s seen so far (the segment path
//! finds a repeat as the store interns the `_id` column instead).
//!
//! Memory: the input is read in windows of a few megabytes parsed in
//! parallel; two windows of raw text are held by the message path (one
//! parsed, one read), three by the segment path (one being read, one
//! scanned, one stored), more only for a record longer than a window (an
//! array's element up to about 64 MB, see `elements`). A JSON array that
//! cannot be read twice is parsed as a stream from the reader. A packed
//! `content` column is filled with frames compressed as the windows are
//! scanned, so the whole input's plain text is never held at once (see
//! `segment`).

mod array;
mod elements;
mod error;
mod ids;
mod messages;
mod progress;
pub(crate) mod record;
mod scan;
mod segment;
mod windows;

pub use error::{BodyError, LoadError, RecordLocation};
pub use messages::{for_each_batch, for_each_batch_in_path, load_path, load_reader, load_str};
pub use progress::LoadProgress;
pub(crate) use record::parse_message;
pub use record::parse_message_for_id;
pub use segment::{load_segment, load_segment_from_path, load_segment_from_path_with};
