//! The segment path: JSON Lines scanned straight into the fast engine's
//! [`Segment`], window by window, with the message path's checks and
//! errors.
//!
//! A packed `content` column (the default) is compressed as it is
//! scanned: the first window holding enough `content` trains the codec,
//! and every later scanning task packs its rows' `content` with it, so
//! the column copies frames and the input's plain text is never held
//! whole. An input of one window, or whose windows each hold too little
//! `content` to train on, is packed when the builder finishes, from a
//! sample of all its values.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use rayon::prelude::*;

use super::array::load_array;
use super::error::{LoadError, RecordLocation};
use super::ids::IdRegistry;
use super::progress::{LoadProgress, ProgressReader};
use super::record::parse_line;
use super::scan;
use super::windows::{open_input, Input};
use crate::model::{Field, Message};
use crate::store::records::{RecordBatch, StoredValue};
use crate::store::{BuildError, ContentStorage, Segment, SegmentBuilder};
use crate::text_codec::TextCodec;

/// Loads a JSON array or JSON Lines file straight into a [`Segment`] (see
/// [`load_segment`]).
pub fn load_segment_from_path(path: impl AsRef<Path>) -> Result<Segment, LoadError> {
    load_segment_from_path_with(path, ContentStorage::default(), |_| {})
}

/// [`load_segment_from_path`], storing `content` as `storage` says and
/// reporting the bytes read as it goes.
pub fn load_segment_from_path_with(
    path: impl AsRef<Path>,
    storage: ContentStorage,
    progress: impl FnMut(LoadProgress) + Send,
) -> Result<Segment, LoadError> {
    let path = path.as_ref();
    let source_name = path.display().to_string();
    let io_error = |error| LoadError::Io { source_name: source_name.clone(), error };
    let file = std::fs::File::open(path).map_err(io_error)?;
    let size = file.metadata().map_err(io_error)?.len();
    load_segment_sized(ProgressReader::new(file, Some(size), progress), &source_name, Some(size), storage)
}

/// Loads a JSON array or JSON Lines straight into a [`Segment`], checking
/// every record as [`for_each_batch`](super::for_each_batch) does, with the same errors.
///
/// JSON Lines take the fast path: each window of lines is scanned in
/// parallel straight into record batches (no `Message`, no allocation per
/// value: see `scan`), declined lines go through the full parser, and
/// the batches of one window are stored column by column while the next
/// window is scanned. A repeated `_id` is found as the `_id` column interns
/// it. Errors are those of the first invalid record in file order.
pub fn load_segment(reader: impl Read + Send, source_name: &str) -> Result<Segment, LoadError> {
    load_segment_sized(reader, source_name, None, ContentStorage::default())
}

/// [`load_segment`] of an input of `size` bytes, when known (once the first
/// window is scanned, the builder makes room for the rows the whole input
/// likely holds), storing `content` as `storage` says.
fn load_segment_sized(
    reader: impl Read + Send,
    source_name: &str,
    size: Option<u64>,
    storage: ContentStorage,
) -> Result<Segment, LoadError> {
    let mut builder = SegmentBuilder::new();
    builder.store_content(storage);
    // The codec `content` is packed with as it is scanned, trained on the
    // first window holding enough of it (see
    // `ScannedWindow::train_content_codec`).
    let mut content_codec: Option<Arc<TextCodec>> = None;
    let mut lines = match open_input(reader, source_name)? {
        Input::Empty => return Ok(builder.finish()),
        Input::Array(reader) => {
            // The array is parsed on this thread, one element after the
            // other, while the batches parsed so far are stored on another.
            let (parsed, to_store) = std::sync::mpsc::sync_channel::<Vec<Message>>(ARRAY_BATCHES_AHEAD);
            let (loaded, failure) = std::thread::scope(|scope| {
                let storing = scope.spawn(|| {
                    let mut failure = None;
                    for batch in to_store {
                        if failure.is_none() {
                            // The loader rejects empty and repeated Ids itself.
                            failure = builder.push_checked_batch(&batch).err();
                        }
                    }
                    failure
                });
                // A send fails only if the storing thread has ended, which
                // it does only by panicking: its join says so below.
                let loaded = load_array(reader, &mut IdRegistry::default(), &mut |batch: Vec<Message>| {
                    let _ = parsed.send(batch);
                });
                drop(parsed);
                (loaded, storing.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            });
            loaded?;
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
                    || ScannedWindow::scan(&text, first_line, content_codec.as_ref()),
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
        if storage == ContentStorage::Packed && content_codec.is_none() {
            // More windows follow: from the first holding enough `content`
            // on, each is packed in parallel as it is scanned, instead of
            // every value at the end (the values stored before it are
            // packed as the builder adopts the codec).
            content_codec = scanned.train_content_codec();
            if let Some(codec) = &content_codec {
                scanned.pack_content(codec);
                builder.adopt_content_codec(codec);
            }
        }
        pending = Some(scanned);
    }
}

/// Batches of a JSON array's messages parsed ahead of the one being stored.
const ARRAY_BATCHES_AHEAD: usize = 2;

/// The least `content` text a window trains a codec on: less makes a poor
/// dictionary or none (zstd declines), so the codec waits for a window
/// holding more.
const LEAST_TRAINING_BYTES: usize = 1 << 20;

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
    /// in parallel, packing `content` with `codec` if given (but in the
    /// batch holding an invalid record, left plain); returns them and the
    /// number of lines consumed.
    fn scan(text: &[u8], first_line: u64, codec: Option<&Arc<TextCodec>>) -> (ScannedWindow, u64) {
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
                if let Some(codec) = codec {
                    batch.pack_content(text, codec);
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

    /// A codec for `content` trained on this window's, or `None` when they
    /// hold less than [`LEAST_TRAINING_BYTES`] of text (the builder then
    /// trains one on a sample of every value when it finishes, unless a
    /// later window trains one first).
    ///
    /// A window holds several megabytes of text, about as much as the
    /// sample a codec trained at the end takes from the whole input (not
    /// spread across it); docs/PERFORMANCE.md compares the sizes both
    /// ways.
    fn train_content_codec(&self) -> Option<Arc<TextCodec>> {
        let values: Vec<&[u8]> = self
            .batches
            .iter()
            .flat_map(|batch| (0..batch.len()).map(move |row| (batch, batch.value(row, Field::Content.index()))))
            .filter(|(_, value)| !matches!(value, StoredValue::Null))
            .map(|(batch, value)| batch.text(&self.text, value))
            .collect();
        if values.iter().map(|value| value.len()).sum::<usize>() < LEAST_TRAINING_BYTES {
            return None;
        }
        let codec = TextCodec::train(&values);
        (!codec.dictionary().is_empty()).then(|| Arc::new(codec))
    }

    /// Packs `content` in every batch with `codec`, in parallel.
    fn pack_content(&mut self, codec: &Arc<TextCodec>) {
        let text = &self.text;
        self.batches.par_iter_mut().for_each(|batch| batch.pack_content(text, codec));
    }

    /// Stores the batches; returns the window's text buffer for reuse.
    fn store(self, builder: &mut SegmentBuilder, row_lines: &mut Vec<u64>) -> Result<Vec<u8>, LoadError> {
        let first_row = row_lines.len() as u64;
        row_lines.extend_from_slice(&self.lines);
        match builder.push_records(&self.text, &self.batches) {
            Ok(()) => Ok(self.text),
            Err(BuildError::RepeatedIdAt { first, repeated }) => {
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
                let id = crate::column::unescaped(fragment).into_owned();
                let location = RecordLocation::Line(row_lines[repeated as usize]);
                Err(IdRegistry::repeated(id, location, RecordLocation::Line(row_lines[first as usize])))
            }
            Err(error) => Err(LoadError::Store(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::windows::WINDOW_BYTES;
    use super::*;
    use crate::load::load_str;

    /// JSON Lines longer than a window, whose `content` the scanner keeps
    /// in the source (plain text), rewrites (escapes) or leaves to the full
    /// parser (a record it declines), with `null`s and non-ASCII text.
    fn lines_over_two_windows() -> String {
        let words = ["care", "visit", "Zoë", "naïve", "fees", "a\\/b", "quote\\\"d", "line\\nbreak", "日本"];
        let mut text = String::new();
        for index in 0..16_000usize {
            let content: Vec<&str> = (0..200).map(|at| words[(index * 7 + at * at) % words.len()]).collect();
            let content = content.join(" ");
            match index % 10 {
                0 => text.push_str(&format!("{{\"_id\":\"m{index}\",\"content\":null}}\n")),
                // An escape in a key: the scanner declines the record.
                1 => text.push_str(&format!("{{\"_id\":\"m{index}\",\"\\u0063ontent\":\"{content}\"}}\n")),
                _ => {
                    text.push_str(&format!("{{\"_id\":\"m{index}\",\"channel\":\"sms\",\"content\":\"{content}\"}}\n"))
                }
            }
        }
        assert!(text.len() > 2 * WINDOW_BYTES, "the input spans windows");
        text
    }

    /// Loads `text` both ways, and checks that the scanned segment's
    /// `content` was packed as it was scanned (its dictionary is not the
    /// one trained on a sample of every value) and that every row reads
    /// back alike.
    fn assert_packed_as_scanned_and_read_back_alike(text: &str) {
        let scanned = load_segment(text.as_bytes(), "input").unwrap();
        let whole = Segment::from_messages(&load_str(text).unwrap()).unwrap();
        assert_eq!(scanned.content_storage(), ContentStorage::Packed);
        let dictionary = |segment: &Segment| segment.dict(Field::Content).codec().unwrap().dictionary().to_vec();
        assert!(!dictionary(&scanned).is_empty(), "a dictionary was trained");
        assert_ne!(dictionary(&scanned), dictionary(&whole), "trained on a window, not at the end");
        assert_rows_alike(&scanned, &whole);
    }

    /// Every row of two segments, written out whole, alike.
    fn assert_rows_alike(mine: &Segment, theirs: &Segment) {
        assert_eq!(mine.row_count(), theirs.row_count());
        let (mut left, mut right) = (Vec::new(), Vec::new());
        for row in 0..mine.row_count() {
            left.clear();
            right.clear();
            mine.write_row(row, &Field::ALL, &mut left);
            theirs.write_row(row, &Field::ALL, &mut right);
            assert_eq!(String::from_utf8_lossy(&left), String::from_utf8_lossy(&right), "row {row}");
        }
    }

    #[test]
    fn an_array_of_many_batches_loads_as_its_lines_do() {
        // Stored on another thread as it is parsed, batch by batch: every
        // batch must arrive, in order.
        let lines: Vec<String> = (0..3 * 4096 + 17)
            .map(|index| format!("{{\"_id\":\"m{index:05}\",\"channel\":\"sms\",\"content\":\"visit {index}\"}}"))
            .collect();
        let array = format!("[{}]", lines.join(",\n"));
        let from_array = load_segment(array.as_bytes(), "input").unwrap();
        let from_lines = load_segment(lines.join("\n").as_bytes(), "input").unwrap();
        assert_eq!(from_array.row_count() as usize, lines.len());
        assert_rows_alike(&from_array, &from_lines);
    }

    #[test]
    fn content_packed_as_it_is_scanned_reads_back_as_loaded_whole() {
        let lines = lines_over_two_windows();
        assert_packed_as_scanned_and_read_back_alike(&lines);
        // A first window of blank lines, or of records with too little
        // `content` to train on: a later window trains the codec, and the
        // values stored before it are packed as the builder adopts it.
        let blank = format!("{}\n", " ".repeat(999)).repeat(9_000);
        assert_packed_as_scanned_and_read_back_alike(&format!("{blank}{lines}"));
        let without_content: String = (0..600_000).map(|index| format!("{{\"_id\":\"n{index}\"}}\n")).collect();
        assert!(without_content.len() > WINDOW_BYTES);
        let early = "{\"_id\":\"early\",\"content\":\"held plain, then packed\"}\n";
        assert_packed_as_scanned_and_read_back_alike(&format!("{early}{without_content}{lines}"));
    }

    #[test]
    fn packed_windows_report_the_errors_of_the_message_path() {
        let lines = lines_over_two_windows();
        // A repeated `_id` two windows on, and an invalid record in a later
        // window than the one that trained the codec.
        for tail in ["{\"_id\":\"m3\",\"content\":\"again\"}\n", "{\"_id\":\"bad\",\"channel\":\"fax\"}\n"] {
            let text = format!("{lines}{tail}");
            let scanned = load_segment(text.as_bytes(), "input").unwrap_err().to_string();
            assert_eq!(scanned, load_str(&text).unwrap_err().to_string());
            assert!(scanned.starts_with("line 16001 "), "{scanned}");
        }
    }
}
