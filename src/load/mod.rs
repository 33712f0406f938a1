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
//! * [`load_segment`] builds the fast engine's [`Segment`] straight from the
//!   text: plain JSON Lines records are scanned into record batches (`scan`),
//!   and every other line goes through the full parser, so both ways accept
//!   the same files and report the same errors (a property test holds them
//!   to it).
//!
//! Memory: JSON Lines are read in windows of a few megabytes parsed in
//! parallel; at most one window of raw text is held by the message path,
//! three by the segment path (one being read, one scanned, one stored). A
//! JSON array is parsed as a stream from the reader.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read};
use std::path::Path;

use rayon::prelude::*;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::model::{Channel, DateTime, DeliveryStatus, Direction, Field, FieldKind, Message};
use crate::output::quoted;
use crate::store::records::RecordBatch;
use crate::store::{Segment, SegmentBuilder};

mod scan;

/// Where a bad record sits in its file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordLocation {
    /// A JSON Lines file: the 1-based line number.
    Line(u64),
    /// A JSON array: the 0-based position in the array.
    Index(u64),
}

impl fmt::Display for RecordLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordLocation::Line(line) => write!(f, "line {line}"),
            RecordLocation::Index(index) => write!(f, "array index {index}"),
        }
    }
}

/// Why a load failed. Nothing of a failed load is kept.
#[derive(Debug)]
pub enum LoadError {
    /// The file could not be read.
    Io {
        /// What was being read.
        source_name: String,
        /// The operating system's error.
        error: io::Error,
    },
    /// The text is not JSON of the expected shape at this place.
    Syntax {
        /// The record, where one can be named.
        location: Option<RecordLocation>,
        /// The JSON parser's message, with its line and column.
        message: String,
    },
    /// The messages could not be stored (see [`crate::store::BuildError`]).
    Store(crate::store::BuildError),
    /// A record is well-formed JSON but not a valid message.
    Record {
        /// The record.
        location: RecordLocation,
        /// Its `_id`, where it has a usable one.
        id: Option<String>,
        /// The field at fault, if the problem is in one field.
        field: Option<String>,
        /// What is wrong and what is allowed.
        problem: String,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Io { source_name, error } => write!(f, "cannot read {source_name}: {error}"),
            LoadError::Syntax { location: Some(location), message } => write!(f, "{location}: invalid JSON: {message}"),
            LoadError::Syntax { location: None, message } => write!(f, "invalid JSON: {message}"),
            LoadError::Store(error) => write!(f, "{error}"),
            LoadError::Record { location, id, field, problem } => {
                write!(f, "{location}")?;
                if let Some(id) = id {
                    write!(f, " (_id {})", quoted(id))?;
                }
                if let Some(field) = field {
                    write!(f, ", field `{field}`")?;
                }
                write!(f, ": {problem}")
            }
        }
    }
}

impl std::error::Error for LoadError {}

/// Messages are handed to the sink in batches of about this many bytes of
/// JSON Lines text; the window of raw text held at once is this size.
const WINDOW_BYTES: usize = 8 << 20;

/// Loads every message of a JSON array or JSON Lines file.
pub fn load_path(path: impl AsRef<Path>) -> Result<Vec<Message>, LoadError> {
    let mut messages = Vec::new();
    for_each_batch_in_path(path, |batch| messages.extend(batch))?;
    Ok(messages)
}

/// Loads every message from a reader holding a JSON array or JSON Lines.
pub fn load_reader(reader: impl Read) -> Result<Vec<Message>, LoadError> {
    let mut messages = Vec::new();
    for_each_batch(reader, "input", |batch| messages.extend(batch))?;
    Ok(messages)
}

/// Loads every message from text holding a JSON array or JSON Lines.
pub fn load_str(text: &str) -> Result<Vec<Message>, LoadError> {
    load_reader(text.as_bytes())
}

/// Reads the file at `path` and hands its valid messages to `sink` in file
/// order, batch by batch; see [`for_each_batch`].
pub fn for_each_batch_in_path(path: impl AsRef<Path>, sink: impl FnMut(Vec<Message>) + Send) -> Result<(), LoadError> {
    let path = path.as_ref();
    let source_name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|error| LoadError::Io { source_name: source_name.clone(), error })?;
    for_each_batch(file, &source_name, sink)
}

/// Reads a JSON array or JSON Lines from `reader` and hands the messages to
/// `sink` in file order, batch by batch. Stops at the first invalid record;
/// batches already handed over must then be discarded by the caller (every
/// loader in msgdex builds into a fresh store, so nothing half-loaded is
/// ever published). `_id` uniqueness is checked across the whole input.
pub fn for_each_batch(
    reader: impl Read,
    source_name: &str,
    mut sink: impl FnMut(Vec<Message>) + Send,
) -> Result<(), LoadError> {
    let mut seen_ids = IdRegistry::default();
    let mut lines = match open_input(reader, source_name)? {
        Input::Empty => return Ok(()),
        Input::Array(reader) => return load_array(reader, &mut seen_ids, &mut sink),
        Input::Lines(lines) => lines,
    };
    let mut pending: Option<Vec<Message>> = None;
    loop {
        let complete = lines.fill()?;
        // The sink stores the previous batch while this window parses.
        let previous = pending.take();
        let (_, parsed) = rayon::join(
            || previous.map(&mut sink),
            || parse_lines(&lines.window[..complete], lines.first_line, &mut seen_ids),
        );
        let (batch, count) = parsed?;
        pending = Some(batch);
        lines.consume(complete, count);
        if lines.finished() {
            pending.map(&mut sink);
            return Ok(());
        }
    }
}

/// Loads a JSON array or JSON Lines file straight into a [`Segment`] (see
/// [`load_segment`]).
pub fn load_segment_from_path(path: impl AsRef<Path>) -> Result<Segment, LoadError> {
    let path = path.as_ref();
    let source_name = path.display().to_string();
    let io_error = |error| LoadError::Io { source_name: source_name.clone(), error };
    let file = std::fs::File::open(path).map_err(io_error)?;
    let size = file.metadata().map_err(io_error)?.len();
    load_segment_sized(file, &source_name, Some(size))
}

/// Loads a JSON array or JSON Lines straight into a [`Segment`], checking
/// every record as [`for_each_batch`] does, with the same errors.
///
/// JSON Lines take the fast path: each window of lines is scanned in
/// parallel straight into record batches (no `Message`, no allocation per
/// value: see `scan`), declined lines go through the full parser, and
/// the batches of one window are stored column by column while the next
/// window is scanned. A repeated `_id` is found as the `_id` column interns
/// it. Errors are those of the first invalid record in file order.
pub fn load_segment(reader: impl Read + Send, source_name: &str) -> Result<Segment, LoadError> {
    load_segment_sized(reader, source_name, None)
}

/// [`load_segment`] of an input of `size` bytes, when known: once the first
/// window is scanned, the builder makes room for the rows the whole input
/// likely holds.
fn load_segment_sized(reader: impl Read + Send, source_name: &str, size: Option<u64>) -> Result<Segment, LoadError> {
    let mut builder = SegmentBuilder::new();
    let mut lines = match open_input(reader, source_name)? {
        Input::Empty => return Ok(builder.finish()),
        Input::Array(reader) => {
            let mut failure = None;
            load_array(reader, &mut IdRegistry::default(), &mut |batch: Vec<Message>| {
                if failure.is_none() {
                    // The loader rejects empty and repeated Ids itself.
                    failure = builder.push_checked_batch(&batch).err();
                }
            })?;
            return match failure {
                Some(error) => Err(LoadError::Store(error)),
                None => Ok(builder.finish()),
            };
        }
        Input::Lines(lines) => lines,
    };
    // The line of every row stored, to name both records of a repeated `_id`.
    let mut row_lines: Vec<u64> = Vec::new();
    let mut pending: Option<ScannedWindow> = None;
    let mut spare = Vec::new();
    // The rows the input likely holds, until the text is reserved for them.
    let mut likely_rows: Option<usize> = None;
    loop {
        let complete = lines.fill()?;
        let text = lines.take(complete, std::mem::take(&mut spare));
        let first_line = lines.first_line;
        // Three things at once: the previous window is stored, this one is
        // scanned, and the next one is read.
        let previous = pending.take();
        let ((stored, (mut scanned, count)), read) = rayon::join(
            || {
                rayon::join(
                    || previous.map(|previous| previous.store(&mut builder, &mut row_lines)),
                    || ScannedWindow::scan(&text, first_line),
                )
            },
            || lines.read_ahead(),
        );
        if let Some(stored) = stored {
            spare = stored?;
            if let (Some(rows), false) = (likely_rows.take(), builder.is_empty()) {
                // Values' text per row of the first window, for the rows
                // likely to come: arenas that double copy every byte, and
                // an allocator without `mremap` (mimalloc) pays for it.
                builder.reserve_text_like_so_far(rows);
            }
        }
        scanned.text = text;
        if let Some(failure) = scanned.failure.take() {
            // The records before the invalid one may repeat an `_id`, which
            // comes first in the file.
            scanned.store(&mut builder, &mut row_lines)?;
            return Err(failure);
        }
        read?;
        if let (Some(size), true) = (size, builder.is_empty() && !scanned.lines.is_empty()) {
            // Rows per byte of the first window, a tenth more for safety.
            let likely = size as f64 * scanned.lines.len() as f64 / scanned.text.len().max(1) as f64 * 1.1;
            builder.reserve((likely as usize).min(u32::MAX as usize));
            likely_rows = Some((likely as usize).min(u32::MAX as usize));
        }
        lines.first_line += count;
        if lines.finished() {
            scanned.store(&mut builder, &mut row_lines)?;
            return Ok(builder.finish());
        }
        pending = Some(scanned);
    }
}

/// A window of JSON Lines scanned into record batches, waiting to be
/// stored.
struct ScannedWindow {
    /// The window's text, which the batches' values point into.
    text: Vec<u8>,
    batches: Vec<RecordBatch>,
    /// The line of each row of the batches, in order.
    lines: Vec<u64>,
    /// The first invalid record, if any: the batches hold the rows before it.
    failure: Option<LoadError>,
}

impl ScannedWindow {
    /// Lines scanned per parallel task.
    const LINES_PER_TASK: usize = 256;

    /// Scans the complete lines of `text` (the first is line `first_line`)
    /// in parallel; returns them and the number of lines consumed.
    fn scan(text: &[u8], first_line: u64) -> (ScannedWindow, u64) {
        let mut bounds: Vec<(usize, usize)> = Vec::with_capacity(text.len() / 1024 + 1);
        let mut start = 0;
        for newline in memchr::memchr_iter(b'\n', text) {
            bounds.push((start, newline));
            start = newline + 1;
        }
        if start < text.len() {
            bounds.push((start, text.len()));
        }
        let tasks: Vec<(RecordBatch, Vec<u64>, Option<LoadError>)> = bounds
            .par_chunks(Self::LINES_PER_TASK)
            .enumerate()
            .map(|(task, chunk)| {
                let mut batch = RecordBatch::new();
                let mut lines = Vec::with_capacity(chunk.len());
                let mut items = Vec::new();
                for (index, &(start, end)) in chunk.iter().enumerate() {
                    let number = first_line + (task * Self::LINES_PER_TASK + index) as u64;
                    let end = if text[start..end].ends_with(b"\r") { end - 1 } else { end };
                    let line = &text[start..end];
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    if !scan::scan_record(text, start, end, &mut batch, &mut items) {
                        match parse_line(line, RecordLocation::Line(number)) {
                            Ok(message) => batch.push_message(&message),
                            Err(error) => return (batch, lines, Some(error)),
                        }
                    }
                    lines.push(number);
                }
                (batch, lines, None)
            })
            .collect();
        let mut window = ScannedWindow { text: Vec::new(), batches: Vec::new(), lines: Vec::new(), failure: None };
        for (batch, lines, failure) in tasks {
            window.batches.push(batch);
            window.lines.extend(lines);
            if failure.is_some() {
                window.failure = failure;
                break;
            }
        }
        (window, bounds.len() as u64)
    }

    /// Stores the batches; returns the window's text buffer for reuse.
    fn store(self, builder: &mut SegmentBuilder, row_lines: &mut Vec<u64>) -> Result<Vec<u8>, LoadError> {
        let first_row = row_lines.len() as u64;
        row_lines.extend_from_slice(&self.lines);
        match builder.push_records(&self.text, &self.batches) {
            Ok(()) => Ok(self.text),
            Err(crate::store::BuildError::RepeatedIdAt { first, repeated }) => {
                let mut offset = (repeated - first_row) as usize;
                let (batch, row) = self
                    .batches
                    .iter()
                    .find_map(|batch| match offset.checked_sub(batch.len()) {
                        Some(rest) => {
                            offset = rest;
                            None
                        }
                        None => Some((batch, offset)),
                    })
                    .expect("the repeated row is one of the batches'");
                let fragment = batch.text(&self.text, batch.value(row, Field::Id.index()));
                let id = crate::store::column::unescaped(fragment).into_owned();
                let location = RecordLocation::Line(row_lines[repeated as usize]);
                Err(IdRegistry::repeated(id, location, RecordLocation::Line(row_lines[first as usize])))
            }
            Err(error) => Err(LoadError::Store(error)),
        }
    }
}

/// What a reader holds, told by its first byte that is not white space.
enum Input<R> {
    /// Nothing but white space.
    Empty,
    /// A JSON array (the bytes read so far, then the rest).
    Array(io::Chain<io::Cursor<Vec<u8>>, R>),
    /// JSON Lines.
    Lines(LineWindows<R>),
}

/// Reads the start of the input (dropping a UTF-8 byte order mark) and
/// tells its format.
fn open_input<R: Read>(mut reader: R, source_name: &str) -> Result<Input<R>, LoadError> {
    let io_error = |error| LoadError::Io { source_name: source_name.to_owned(), error };
    let mut window = Vec::with_capacity(64 << 10);
    let at_end = fill_window(&mut reader, &mut window, 64 << 10).map_err(io_error)?;
    if window.starts_with(b"\xEF\xBB\xBF") {
        window.drain(..3);
    }
    Ok(match window.iter().find(|byte| !byte.is_ascii_whitespace()) {
        None if at_end => Input::Empty,
        Some(b'[') => Input::Array(io::Cursor::new(window).chain(reader)),
        _ => Input::Lines(LineWindows { reader, window, at_end, first_line: 1, source_name: source_name.to_owned() }),
    })
}

/// JSON Lines read a window of whole lines at a time; at most one window of
/// raw text (and a partial line) is held.
struct LineWindows<R> {
    reader: R,
    /// Text read and not yet consumed: whole lines, then maybe part of one.
    window: Vec<u8>,
    at_end: bool,
    /// The number of the window's first line.
    first_line: u64,
    source_name: String,
}

impl<R: Read> LineWindows<R> {
    /// Reads until the window holds about [`WINDOW_BYTES`] of whole lines
    /// (or the rest of the input); returns how many bytes are whole lines.
    fn fill(&mut self) -> Result<usize, LoadError> {
        let mut target = WINDOW_BYTES;
        loop {
            if !self.at_end && self.window.len() < target {
                self.read_to(target)?;
            }
            if self.at_end {
                return Ok(self.window.len());
            }
            match memchr::memrchr(b'\n', &self.window) {
                Some(newline) => return Ok(newline + 1),
                // A single line longer than the window: read on.
                None => target = self.window.len() + WINDOW_BYTES,
            }
        }
    }

    /// Drops the first `complete` bytes (`lines` lines), keeping the rest.
    fn consume(&mut self, complete: usize, lines: u64) {
        self.window.drain(..complete);
        self.first_line += lines;
    }

    /// Reads the next window's text (while the current one is processed).
    fn read_ahead(&mut self) -> Result<(), LoadError> {
        if self.at_end {
            return Ok(());
        }
        self.read_to(WINDOW_BYTES)
    }

    /// Reads until the window holds `target` bytes or the input ends.
    fn read_to(&mut self, target: usize) -> Result<(), LoadError> {
        let io_error = |error| LoadError::Io { source_name: self.source_name.clone(), error };
        self.at_end = fill_window(&mut self.reader, &mut self.window, target).map_err(io_error)?;
        Ok(())
    }

    /// Takes the first `complete` bytes (whole lines) out as their own
    /// buffer; the rest moves to `spare`, which becomes the window. The
    /// caller counts the lines taken into `first_line`.
    fn take(&mut self, complete: usize, mut spare: Vec<u8>) -> Vec<u8> {
        spare.clear();
        spare.reserve(WINDOW_BYTES);
        spare.extend_from_slice(&self.window[complete..]);
        self.window.truncate(complete);
        std::mem::replace(&mut self.window, spare)
    }

    /// Whether every line has been consumed.
    fn finished(&self) -> bool {
        self.at_end && self.window.is_empty()
    }
}

/// Reads until `window` holds `target` bytes or the reader ends; returns
/// whether it ended.
fn fill_window(reader: &mut impl Read, window: &mut Vec<u8>, target: usize) -> io::Result<bool> {
    let wanted = target.saturating_sub(window.len()) as u64;
    let read = reader.by_ref().take(wanted).read_to_end(window)?;
    Ok((read as u64) < wanted)
}

/// Remembers every `_id` loaded so far and where, to reject duplicates.
#[derive(Default)]
struct IdRegistry {
    first_seen: HashMap<Box<str>, RecordLocation, hashbrown::DefaultHashBuilder>,
}

impl IdRegistry {
    /// The error of a record at `location` repeating the `_id` of the one
    /// at `earlier`.
    fn repeated(id: String, location: RecordLocation, earlier: RecordLocation) -> LoadError {
        LoadError::Record {
            location,
            id: Some(id),
            field: Some("_id".into()),
            problem: format!("this `_id` is already used by the record at {earlier}; every `_id` must be unique"),
        }
    }

    fn register(&mut self, message: &Message, location: RecordLocation) -> Result<(), LoadError> {
        if let Some(&earlier) = self.first_seen.get(message.id.as_str()) {
            return Err(IdRegistry::repeated(message.id.clone(), location, earlier));
        }
        self.first_seen.insert(message.id.as_str().into(), location);
        Ok(())
    }
}

/// Parses the complete lines of `text` (the first is line `first_line`) in
/// parallel; returns the messages and the number of lines consumed.
fn parse_lines(text: &[u8], first_line: u64, seen_ids: &mut IdRegistry) -> Result<(Vec<Message>, u64), LoadError> {
    let mut lines: Vec<&[u8]> = text.split(|&byte| byte == b'\n').collect();
    if text.ends_with(b"\n") {
        lines.pop();
    }
    let parsed: Vec<Option<Result<Message, LoadError>>> = lines
        .par_iter()
        .with_min_len(64)
        .enumerate()
        .map(|(offset, line)| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.iter().all(u8::is_ascii_whitespace) {
                return None;
            }
            Some(parse_line(line, RecordLocation::Line(first_line + offset as u64)))
        })
        .collect();
    let mut messages = Vec::with_capacity(parsed.len());
    for (offset, result) in parsed.into_iter().enumerate() {
        if let Some(result) = result {
            let message = result?;
            seen_ids.register(&message, RecordLocation::Line(first_line + offset as u64))?;
            messages.push(message);
        }
    }
    Ok((messages, lines.len() as u64))
}

/// Why the body of a write to `/v1/messages/<id>` was refused.
#[derive(Debug)]
pub enum BodyError {
    /// The body is not one valid message, in the loader's words.
    Invalid(LoadError),
    /// The body's `_id` (as JSON text) is not the path's.
    IdDiffers(String),
}

/// Parses the body of a write to `/v1/messages/<path_id>` with the loader's
/// own checks (SPEC §1), repeated fields included: the object's `_id` may
/// be left out, and `path_id` is used, but may not differ from it.
pub fn parse_message_for_id(body: &[u8], path_id: &str) -> Result<Message, BodyError> {
    let location = RecordLocation::Line(1);
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let mut raw = RawRecordSeed
        .deserialize(&mut deserializer)
        .and_then(|raw| deserializer.end().map(|()| raw))
        .map_err(|error| {
            BodyError::Invalid(LoadError::Syntax { location: None, message: describe_json_error(&error, false) })
        })?;
    let id_slot = &mut raw.slots[Field::Id.index()];
    match id_slot {
        None => *id_slot = Some(RawValue::Str(Cow::Owned(path_id.to_owned()))),
        Some(RawValue::Str(given)) if given != path_id && raw.problem.is_none() => {
            return Err(BodyError::IdDiffers(serde_json::to_string(given.as_ref()).expect("strings serialize")))
        }
        Some(_) => {}
    }
    raw.into_message(location).map_err(BodyError::Invalid)
}

/// Parses one JSON Lines record with the full parser.
pub(crate) fn parse_line(line: &[u8], location: RecordLocation) -> Result<Message, LoadError> {
    let mut deserializer = serde_json::Deserializer::from_slice(line);
    let raw = RawRecordSeed
        .deserialize(&mut deserializer)
        .and_then(|raw| deserializer.end().map(|()| raw))
        .map_err(|error| LoadError::Syntax { location: Some(location), message: describe_json_error(&error, false) })?;
    raw.into_message(location)
}

fn load_array(
    reader: impl Read,
    seen_ids: &mut IdRegistry,
    sink: &mut impl FnMut(Vec<Message>),
) -> Result<(), LoadError> {
    let mut deserializer = serde_json::Deserializer::from_reader(io::BufReader::with_capacity(1 << 20, reader));
    let mut visitor = ArrayVisitor { seen_ids, sink, outcome: Ok(()), next_index: 0 };
    let parsed = (&mut deserializer).deserialize_seq(&mut visitor).and_then(|()| deserializer.end());
    let location = Some(RecordLocation::Index(visitor.next_index));
    visitor.outcome?;
    parsed.map_err(|error| LoadError::Syntax { location, message: describe_json_error(&error, true) })
}

/// The JSON parser's message; for a single line, without the "line 1".
fn describe_json_error(error: &serde_json::Error, whole_file: bool) -> String {
    let message = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    match message.strip_suffix(&suffix) {
        Some(bare) if whole_file => format!("{bare} (file line {}, column {})", error.line(), error.column()),
        Some(bare) => format!("{bare} (column {})", error.column()),
        None => message,
    }
}

/// Streams the elements of a top-level JSON array into batches.
struct ArrayVisitor<'a, S> {
    seen_ids: &'a mut IdRegistry,
    sink: &'a mut S,
    /// The first invalid record, which stops the load.
    outcome: Result<(), LoadError>,
    next_index: u64,
}

impl<'de, S: FnMut(Vec<Message>)> Visitor<'de> for &mut ArrayVisitor<'_, S> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of message objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        const BATCH: usize = 4096;
        let mut batch = Vec::with_capacity(BATCH);
        while let Some(raw) = seq.next_element_seed(RawRecordSeed)? {
            let location = RecordLocation::Index(self.next_index);
            let checked = raw
                .into_message(location)
                .and_then(|message| self.seen_ids.register(&message, location).map(|()| message));
            match checked {
                Ok(message) => batch.push(message),
                Err(error) => {
                    self.outcome = Err(error);
                    return Err(de::Error::custom("invalid record"));
                }
            }
            self.next_index += 1;
            if batch.len() == BATCH {
                (self.sink)(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)));
            }
        }
        (self.sink)(batch);
        Ok(())
    }
}

/// A field's value as found in the JSON, before it is checked against the
/// field's kind. Wrong types are kept as a description, so that checking
/// can name the field and the record instead of failing inside the parser.
enum RawValue<'de> {
    Null,
    Str(Cow<'de, str>),
    List(Result<Vec<String>, &'static str>),
    Other(&'static str),
}

impl RawValue<'_> {
    fn describe(&self) -> &'static str {
        match self {
            RawValue::Null => "null",
            RawValue::Str(_) => "a string",
            RawValue::List(_) => "an array",
            RawValue::Other(kind) => kind,
        }
    }
}

/// One JSON object, its known fields in slots by canonical position.
struct RawRecord<'de> {
    slots: [Option<RawValue<'de>>; 31],
    /// The first structural problem: a value that is not an object, an
    /// unknown field or a repeated one.
    problem: Option<(Option<String>, String)>,
}

struct RawRecordSeed;

impl<'de> DeserializeSeed<'de> for RawRecordSeed {
    type Value = RawRecord<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(RawRecordVisitor)
    }
}

struct RawRecordVisitor;

impl RawRecordVisitor {
    fn not_an_object<'de>(kind: &str) -> RawRecord<'de> {
        RawRecord {
            slots: Default::default(),
            problem: Some((None, format!("the record is {kind}, not a JSON object holding a message"))),
        }
    }
}

impl<'de> Visitor<'de> for RawRecordVisitor {
    type Value = RawRecord<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a message object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut record = RawRecord { slots: Default::default(), problem: None };
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match Field::from_name(&key) {
                Some(field) if record.slots[field.index()].is_none() => {
                    record.slots[field.index()] = Some(map.next_value_seed(RawValueSeed)?);
                }
                Some(_) => {
                    map.next_value::<IgnoredAny>()?;
                    record.problem.get_or_insert_with(|| {
                        (Some(key.to_string()), "the field appears more than once in the object".to_owned())
                    });
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                    record.problem.get_or_insert_with(|| {
                        (
                            Some(key.to_string()),
                            "unknown field; a message has only the 31 fields of the Messages API".to_owned(),
                        )
                    });
                }
            }
        }
        Ok(record)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(RawRecordVisitor::not_an_object("an array"))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(RawRecordVisitor::not_an_object("a string"))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(RawRecordVisitor::not_an_object("a boolean"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(RawRecordVisitor::not_an_object("a number"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(RawRecordVisitor::not_an_object("a number"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(RawRecordVisitor::not_an_object("a number"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(RawRecordVisitor::not_an_object("null"))
    }
}

struct RawValueSeed;

impl<'de> DeserializeSeed<'de> for RawValueSeed {
    type Value = RawValue<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(RawValueVisitor)
    }
}

struct RawValueVisitor;

impl<'de> Visitor<'de> for RawValueVisitor {
    type Value = RawValue<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(RawValue::Null)
    }

    fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<Self::Value, E> {
        Ok(RawValue::Str(Cow::Borrowed(value)))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        Ok(RawValue::Str(Cow::Owned(value.to_owned())))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<Self::Value, E> {
        Ok(RawValue::Str(Cow::Owned(value)))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(RawValue::Other("a boolean"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(RawValue::Other("a number"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(RawValue::Other("a number"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(RawValue::Other("a number"))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(RawValue::Other("an object"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(2));
        let mut bad_item = None;
        while let Some(item) = seq.next_element_seed(RawValueSeed)? {
            match item {
                RawValue::Str(text) => items.push(text.into_owned()),
                other => {
                    bad_item.get_or_insert(match other {
                        RawValue::Null => "an array containing null",
                        RawValue::List(_) => "an array containing an array",
                        RawValue::Other("a number") => "an array containing a number",
                        RawValue::Other("a boolean") => "an array containing a boolean",
                        _ => "an array containing an object",
                    });
                }
            }
        }
        Ok(RawValue::List(bad_item.map_or(Ok(items), Err)))
    }
}

impl RawRecord<'_> {
    /// Checks every field against its kind and builds the message.
    fn into_message(mut self, location: RecordLocation) -> Result<Message, LoadError> {
        let id = match self.slots[Field::Id.index()].take() {
            Some(RawValue::Str(id)) if !id.is_empty() => Some(id.into_owned()),
            _ => None,
        };
        let fail =
            |field: Option<String>, problem: String| LoadError::Record { location, id: id.clone(), field, problem };
        if let Some((field, problem)) = self.problem.take() {
            return Err(fail(field, problem));
        }
        let Some(id_value) = id.clone() else {
            return Err(fail(Some("_id".into()), "`_id` is required and must be a non-empty string".into()));
        };
        let mut message = Message::with_id(id_value);
        for field in Field::ALL.into_iter().skip(1) {
            let Some(value) = self.slots[field.index()].take() else {
                continue;
            };
            set_field(&mut message, field, value).map_err(|problem| fail(Some(field.name().into()), problem))?;
        }
        Ok(message)
    }
}

/// Stores one checked value into `message`, or says what is wrong with it.
fn set_field(message: &mut Message, field: Field, value: RawValue<'_>) -> Result<(), String> {
    if matches!(value, RawValue::Null) {
        return Ok(()); // every field but `_id` is already null
    }
    let wrong_type = |expected: &str| format!("expected {expected}, found {}", value.describe());
    match field.kind() {
        FieldKind::Id => unreachable!("`_id` is checked before the other fields"),
        FieldKind::DateTime => {
            let RawValue::Str(text) = &value else {
                return Err(wrong_type("a date/time string \"YYYY-MM-DD HH:MM:SS\" or null"));
            };
            let parsed = DateTime::parse(text).ok_or_else(|| {
                format!(
                    "{} is not a date/time of the form \"YYYY-MM-DD HH:MM:SS\" naming a real calendar time",
                    quoted(text)
                )
            })?;
            let slot = match field {
                Field::Anonymized => &mut message.anonymized,
                Field::Created => &mut message.created,
                Field::DateTime => &mut message.date_time,
                Field::Modified => &mut message.modified,
                Field::Read => &mut message.read,
                Field::Resolved => &mut message.resolved,
                _ => unreachable!("only date/time fields have this kind"),
            };
            *slot = Some(parsed);
        }
        FieldKind::Channel => message.channel = Some(parse_enum(&value, Channel::parse, Channel::allowed)?),
        FieldKind::Direction => message.direction = Some(parse_enum(&value, Direction::parse, Direction::allowed)?),
        FieldKind::DeliveryStatus => {
            message.delivery_status = Some(parse_enum(&value, DeliveryStatus::parse, DeliveryStatus::allowed)?)
        }
        FieldKind::StringList => {
            let items = match value {
                RawValue::List(Ok(items)) => items,
                RawValue::List(Err(kind)) => return Err(format!("expected an array of strings or null, found {kind}")),
                _ => return Err(wrong_type("an array of strings or null")),
            };
            let slot = match field {
                Field::Invoices => &mut message.invoices,
                Field::LiteratureItems => &mut message.literature_items,
                Field::LiteratureItemsDownloaded => &mut message.literature_items_downloaded,
                Field::Tags => &mut message.tags,
                _ => unreachable!("only list fields have this kind"),
            };
            *slot = Some(items);
        }
        FieldKind::String => {
            let RawValue::Str(text) = value else {
                return Err(wrong_type("a string or null"));
            };
            *string_slot(message, field) = Some(text.into_owned());
        }
    }
    Ok(())
}

fn parse_enum<T>(value: &RawValue<'_>, parse: fn(&str) -> Option<T>, allowed: fn() -> String) -> Result<T, String> {
    match value {
        RawValue::Str(text) => {
            parse(text).ok_or_else(|| format!("{} is not allowed; use one of {} or null", quoted(text), allowed()))
        }
        other => Err(format!("expected one of {} or null, found {}", allowed(), other.describe())),
    }
}

/// The slot of a plain string field.
fn string_slot(message: &mut Message, field: Field) -> &mut Option<String> {
    match field {
        Field::CareEnquiry => &mut message.care_enquiry,
        Field::Content => &mut message.content,
        Field::Correspondent => &mut message.correspondent,
        Field::Destination => &mut message.destination,
        Field::DownloadId => &mut message.download_id,
        Field::ExternalService => &mut message.external_service,
        Field::Location => &mut message.location,
        Field::LocationContact => &mut message.location_contact,
        Field::Origin => &mut message.origin,
        Field::ReadBy => &mut message.read_by,
        Field::ReplyTo => &mut message.reply_to,
        Field::ResolvedBy => &mut message.resolved_by,
        Field::SentBy => &mut message.sent_by,
        Field::ServiceUser => &mut message.service_user,
        Field::ServiceUserContact => &mut message.service_user_contact,
        Field::Subject => &mut message.subject,
        Field::ThreadId => &mut message.thread_id,
        other => unreachable!("`{other}` is not a plain string field"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_error(text: &str) -> String {
        load_str(text).expect_err("the load should fail").to_string()
    }

    #[test]
    fn json_lines_and_arrays_give_the_same_messages() {
        let lines = "{\"_id\":\"a\",\"channel\":\"sms\",\"tags\":[]}\n\n  \r\n{\"_id\":\"b\",\"tags\":null}\r\n";
        let array = "  [{\"_id\":\"a\",\"channel\":\"sms\",\"tags\":[]}, {\"_id\":\"b\",\"tags\":null}]\n";
        let from_lines = load_str(lines).unwrap();
        assert_eq!(from_lines, load_str(array).unwrap());
        assert_eq!(from_lines.len(), 2);
        assert_eq!(from_lines[0].tags, Some(vec![]));
        assert_eq!(from_lines[1].tags, None);
        assert_eq!(from_lines[0].channel, Some(Channel::Sms));
    }

    #[test]
    fn empty_inputs_load_nothing() {
        assert!(load_str("").unwrap().is_empty());
        assert!(load_str(" \n\n").unwrap().is_empty());
        assert!(load_str("[]").unwrap().is_empty());
        assert!(load_str("\u{feff}[]").unwrap().is_empty());
    }

    #[test]
    fn errors_name_the_record_id_field_and_problem() {
        let cases: &[(&str, &[&str])] = &[
            (
                "{\"_id\":\"a\"}\n{\"_id\":\"b\",\"channel\":\"fax\"}",
                &["line 2", "\"b\"", "`channel`", "\"fax\"", "`email`, `sms`"],
            ),
            ("{\"_id\":\"a\",\"colour\":\"red\"}", &["line 1", "\"a\"", "`colour`", "unknown field"]),
            ("{\"colour\":\"red\",\"_id\":\"late\"}", &["\"late\"", "`colour`"]),
            ("{\"_id\":\"a\",\"created\":\"2023-02-29 10:00:00\"}", &["`created`", "real calendar time"]),
            ("{\"_id\":\"a\",\"created\":\"2023-02-01T10:00:00\"}", &["`created`", "YYYY-MM-DD HH:MM:SS"]),
            ("{\"_id\":\"a\",\"tags\":[\"x\",1]}", &["`tags`", "array containing a number"]),
            ("{\"_id\":\"a\",\"tags\":\"x\"}", &["`tags`", "found a string"]),
            ("{\"_id\":\"a\",\"content\":5}", &["`content`", "found a number"]),
            ("{\"_id\":\"a\",\"content\":{}}", &["`content`", "found an object"]),
            ("{\"_id\":\"a\",\"read\":true}", &["`read`", "found a boolean"]),
            ("{\"_id\":\"\"}", &["`_id`", "non-empty"]),
            ("{\"channel\":\"sms\"}", &["`_id`", "required"]),
            ("{\"_id\":null}", &["`_id`", "required"]),
            ("{\"_id\":7}", &["`_id`", "required"]),
            ("{\"_id\":\"a\",\"_id\":\"b\"}", &["`_id`", "more than once"]),
            ("{\"_id\":\"a\"}\n{\"_id\":\"a\"}", &["line 2", "already used", "line 1"]),
            ("[{\"_id\":\"a\"},{\"_id\":\"a\"}]", &["array index 1", "already used", "array index 0"]),
            ("[{\"_id\":\"a\"},{\"_id\":\"b\",\"direction\":\"up\"}]", &["array index 1", "`direction`"]),
            ("{\"_id\":\"a\"}\n[1]", &["line 2", "not a JSON object"]),
            ("{\"_id\":\"a\"}\n{\"_id\":", &["line 2", "invalid JSON"]),
            ("{\"_id\":\"a\"} x", &["line 1", "invalid JSON", "trailing"]),
            ("[{\"_id\":\"a\"},", &["invalid JSON"]),
            ("[{\"_id\":\"a\"}] []", &["invalid JSON"]),
        ];
        for (text, needles) in cases {
            let message = load_error(text);
            let from_segment = load_segment(text.as_bytes(), "input").unwrap_err().to_string();
            assert_eq!(from_segment, message, "the two loaders say the same of {text:?}");
            for needle in *needles {
                assert!(message.contains(needle), "error for {text:?} was {message:?}, which lacks {needle:?}");
            }
        }
    }

    #[test]
    fn a_missing_field_is_null_and_values_round_trip() {
        let line = r#"{"_id":"ä1","tags":["b","a","b"],"invoices":[],"subject":"Zoë \"quoted\"\n","date_time":"2024-02-29 23:59:59"}"#;
        let message = load_str(line).unwrap().remove(0);
        assert_eq!(message.id, "ä1");
        assert_eq!(message.tags, Some(vec!["b".into(), "a".into(), "b".into()]));
        assert_eq!(message.invoices, Some(vec![]));
        assert_eq!(message.literature_items, None);
        assert_eq!(message.subject.as_deref(), Some("Zoë \"quoted\"\n"));
        let json: serde_json::Value = serde_json::from_str(&message.to_json()).unwrap();
        assert_eq!(json["date_time"], "2024-02-29 23:59:59");
        assert_eq!(json["literature_items"], serde_json::Value::Null);
        assert_eq!(json.as_object().unwrap().len(), 31);
    }

    #[test]
    fn long_files_cross_windows_with_correct_line_numbers() {
        let filler = "x".repeat(1000);
        let mut text = String::new();
        for index in 0..20_000 {
            text.push_str(&format!("{{\"_id\":\"m{index}\",\"content\":\"{filler}\"}}\n"));
        }
        text.push_str("{\"_id\":\"bad\",\"channel\":\"fax\"}\n");
        let error = load_error(&text);
        assert!(error.starts_with("line 20001 "), "{error}");
        let segment_error = |text: &str| load_segment(text.as_bytes(), "input").unwrap_err().to_string();
        assert_eq!(segment_error(&text), error, "both loaders name the same record");
        text.truncate(text.len() - "{\"_id\":\"bad\",\"channel\":\"fax\"}\n".len());
        assert_eq!(load_str(&text).unwrap().len(), 20_000);
        assert_eq!(load_segment(text.as_bytes(), "input").unwrap().row_count(), 20_000);
        // An `_id` repeated two windows later, and one repeated before a
        // bad record: the first problem in the file is the one reported.
        let repeated = format!("{text}{{\"_id\":\"m3\"}}\n");
        let error = segment_error(&repeated);
        assert!(
            error.starts_with(
                "line 20001 (_id \"m3\"), field `_id`: this `_id` is already used by the record at line 4;"
            ),
            "{error}"
        );
        assert_eq!(error, load_error(&repeated));
        let both = format!("{text}{{\"_id\":\"m19999\"}}\n{{\"_id\":\"x\",\"channel\":\"fax\"}}\n");
        assert!(segment_error(&both).starts_with("line 20001 "), "{}", segment_error(&both));
        assert_eq!(segment_error(&both), load_error(&both));
    }
}
