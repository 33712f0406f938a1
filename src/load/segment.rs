//! The segment path: JSON Lines, or a JSON array's elements, scanned
//! straight into the fast engine's [`Segment`], window by window, with the
//! message path's checks and errors.
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
use super::elements::ElementFraming;
use super::error::{LoadError, RecordLocation};
use super::ids::IdRegistry;
use super::progress::{LoadProgress, ProgressReader};
use super::record::parse_line;
use super::scan;
use super::windows::{
    open_input, windowed_or_streamed_again, Framing, Input, LineFraming, ReadAgain, RecordWindow, RecordWindows,
};
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
    let metadata = file.metadata().map_err(io_error)?;
    let read_again = ReadAgain::file(&file).map_err(io_error)?;
    let reader = ProgressReader::new(file, Some(metadata.len()), progress);
    load_segment_sized(reader, read_again.as_ref(), &source_name, Some(metadata.len()), storage)
}

/// Loads a JSON array or JSON Lines straight into a [`Segment`], checking
/// every record as [`for_each_batch`](super::for_each_batch) does, with the same errors.
///
/// The input is scanned a window at a time: each window's whole records
/// (lines, or a JSON array's elements) are scanned in parallel straight
/// into record batches (no `Message`, no allocation per value: see
/// `scan`), declined records go through the full parser, and the batches
/// of one window are stored column by column while the next window is
/// scanned. A repeated `_id` is found as the `_id` column interns it.
/// Errors are those of the first invalid record in file order.
pub fn load_segment(text: &[u8], source_name: &str) -> Result<Segment, LoadError> {
    load_segment_sized(text, Some(&ReadAgain::Bytes(text)), source_name, None, ContentStorage::default())
}

/// [`load_segment`] of an input of `size` bytes, when known (once the first
/// window is scanned, the builder makes room for the rows the whole input
/// likely holds), storing `content` as `storage` says.
///
/// A JSON array is loaded in windows when the input can be read again
/// (`read_again`), else streamed. An array its framing or its records
/// refuse is read again by the streaming parser, which stops at the first
/// problem in the words of [`for_each_batch`](super::for_each_batch): an
/// error's line and column in the file, which a window's parse cannot
/// know. An error reading the input is not read again.
fn load_segment_sized(
    reader: impl Read + Send,
    read_again: Option<&ReadAgain>,
    source_name: &str,
    size: Option<u64>,
    storage: ContentStorage,
) -> Result<Segment, LoadError> {
    match (open_input(reader, source_name)?, read_again) {
        (Input::Empty, _) => Ok(new_builder(storage).finish()),
        (Input::Lines(started), _) => load_windows(started.into_windows(LineFraming), size, storage),
        (Input::Array(started), None) => load_array_streamed(started.into_reader(), storage),
        (Input::Array(started), Some(read_again)) => {
            let windowed = load_windows(started.into_windows(ElementFraming::new()), size, storage);
            windowed_or_streamed_again(windowed, read_again, source_name, |again| load_array_streamed(again, storage))
        }
    }
}

/// A builder storing `content` as `storage` says.
fn new_builder(storage: ContentStorage) -> SegmentBuilder {
    let mut builder = SegmentBuilder::new();
    builder.store_content(storage);
    builder
}

/// Loads the records of `windows` (see [`load_segment`]).
fn load_windows<F: Framing + Send>(
    mut windows: RecordWindows<impl Read + Send, F>,
    size: Option<u64>,
    storage: ContentStorage,
) -> Result<Segment, LoadError> {
    let mut builder = new_builder(storage);
    // The codec `content` is packed with as it is scanned, trained on the
    // first window holding enough of it (see
    // `ScannedWindow::train_content_codec`).
    let mut content_codec: Option<Arc<TextCodec>> = None;
    // The number of every row's record, to name both records of a
    // repeated `_id`.
    let mut row_numbers: Vec<u64> = Vec::new();
    let mut pending: Option<ScannedWindow> = None;
    let mut spare = Vec::new();
    // The rows the input likely holds, until the text is reserved for them.
    let mut likely_rows: Option<usize> = None;
    loop {
        let window = windows.next_window(std::mem::take(&mut spare))?;
        // Three things at once: the previous window is stored, this one is
        // scanned, and the next one is read.
        let previous = pending.take();
        let ((stored, mut scanned), read) = rayon::join(
            || {
                rayon::join(
                    || previous.map(|previous| previous.store(&mut builder, &mut row_numbers)),
                    || ScannedWindow::scan(window, F::location, content_codec.as_ref()),
                )
            },
            || windows.read_ahead(),
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
        if let Some(failure) = scanned.failure.take() {
            // The records before the invalid one may repeat an `_id`, which
            // comes first in the file.
            scanned.store(&mut builder, &mut row_numbers)?;
            return Err(failure);
        }
        read?;
        if let (Some(size), true) = (size, builder.is_empty() && !scanned.numbers.is_empty()) {
            // Rows per byte of the first window, a tenth more for safety.
            let likely = size as f64 * scanned.numbers.len() as f64 / scanned.text.len().max(1) as f64 * 1.1;
            builder.reserve((likely as usize).min(u32::MAX as usize));
            likely_rows = Some((likely as usize).min(u32::MAX as usize));
        }
        if windows.finished() {
            scanned.store(&mut builder, &mut row_numbers)?;
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

/// Loads a JSON array by the streaming parser, one element after the
/// other, while the batches parsed so far are stored on another thread.
fn load_array_streamed(reader: impl Read, storage: ContentStorage) -> Result<Segment, LoadError> {
    let mut builder = new_builder(storage);
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
        // A send fails only if the storing thread has ended, which it does
        // only by panicking: its join says so below.
        let loaded = load_array(reader, &mut IdRegistry::default(), &mut |batch: Vec<Message>| {
            let _ = parsed.send(batch);
        });
        drop(parsed);
        (loaded, storing.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
    });
    loaded?;
    match failure {
        Some(error) => Err(LoadError::Store(error)),
        None => Ok(builder.finish()),
    }
}

/// Batches of a JSON array's messages parsed ahead of the one being stored.
const ARRAY_BATCHES_AHEAD: usize = 2;

/// The least `content` text a window trains a codec on: less makes a poor
/// dictionary or none (zstd declines), so the codec waits for a window
/// holding more.
const LEAST_TRAINING_BYTES: usize = 1 << 20;

/// A window of records scanned into record batches, waiting to be stored.
struct ScannedWindow {
    /// The window's text, which the batches' values point into.
    text: Vec<u8>,
    batches: Vec<RecordBatch>,
    /// The number of each row's record, in order.
    numbers: Vec<u64>,
    /// Where the record of a number sits, in an error.
    location: fn(u64) -> RecordLocation,
    /// The first invalid record, if any: the batches hold the rows before it.
    failure: Option<LoadError>,
}

impl ScannedWindow {
    /// Records scanned per parallel task.
    const RECORDS_PER_TASK: usize = 256;

    /// Scans the records of `window` in parallel, packing `content` with
    /// `codec` if given (but in the batch holding an invalid record, left
    /// plain).
    fn scan(
        window: RecordWindow,
        location: fn(u64) -> RecordLocation,
        codec: Option<&Arc<TextCodec>>,
    ) -> ScannedWindow {
        let text = &window.text;
        let tasks: Vec<(RecordBatch, Vec<u64>, Option<LoadError>)> = window
            .records
            .par_chunks(Self::RECORDS_PER_TASK)
            .enumerate()
            .map(|(task, chunk)| {
                let mut batch = RecordBatch::new();
                let mut numbers = Vec::with_capacity(chunk.len());
                let mut items = Vec::new();
                for (index, bounds) in chunk.iter().enumerate() {
                    let number = window.first_number + (task * Self::RECORDS_PER_TASK + index) as u64;
                    if bounds.is_blank() {
                        continue;
                    }
                    let record = &text[bounds.start..bounds.end];
                    if !scan::scan_record(text, bounds.start, bounds.end, &mut batch, &mut items) {
                        match parse_line(record, location(number)) {
                            Ok(message) => batch.push_message(&message),
                            Err(error) => return (batch, numbers, Some(error)),
                        }
                    }
                    numbers.push(number);
                }
                if let Some(codec) = codec {
                    batch.pack_content(text, codec);
                }
                (batch, numbers, None)
            })
            .collect();
        let mut scanned =
            ScannedWindow { text: Vec::new(), batches: Vec::new(), numbers: Vec::new(), location, failure: None };
        for (batch, numbers, failure) in tasks {
            scanned.batches.push(batch);
            scanned.numbers.extend(numbers);
            if failure.is_some() {
                scanned.failure = failure;
                break;
            }
        }
        scanned.text = window.text;
        scanned
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
    fn store(self, builder: &mut SegmentBuilder, row_numbers: &mut Vec<u64>) -> Result<Vec<u8>, LoadError> {
        let first_row = row_numbers.len() as u64;
        row_numbers.extend_from_slice(&self.numbers);
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
                let location = (self.location)(row_numbers[repeated as usize]);
                Err(IdRegistry::repeated(id, location, (self.location)(row_numbers[first as usize])))
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

    /// A JSON array's windows alone, without the streaming parser to fall
    /// back on.
    fn load_array_in_windows(text: &str) -> Result<Segment, LoadError> {
        match open_input(text.as_bytes(), "input").unwrap() {
            Input::Array(started) => {
                load_windows(started.into_windows(ElementFraming::new()), None, ContentStorage::default())
            }
            Input::Empty | Input::Lines(_) => panic!("not an array: {text:?}"),
        }
    }

    /// `lines` as a JSON array, an element per line.
    fn as_array(lines: &str) -> String {
        format!("[\n{}\n]\n", lines.trim_end().replace('\n', ",\n"))
    }

    #[test]
    fn an_array_over_several_windows_is_scanned_as_its_lines_are() {
        let lines = lines_over_two_windows();
        let array = as_array(&lines);
        let in_windows = load_array_in_windows(&array).expect("every element is framed and scanned");
        assert_rows_alike(&in_windows, &load_segment(lines.as_bytes(), "input").unwrap());
        // An element larger than a window is read whole.
        let large = format!("{{\"_id\":\"large\",\"content\":\"{}\"}}", "word ".repeat(2 * WINDOW_BYTES / 5));
        let lines = format!("{{\"_id\":\"small\"}}\n{large}\n{{\"_id\":\"last\"}}\n");
        let in_windows = load_array_in_windows(&as_array(&lines)).expect("a large element is framed");
        assert_rows_alike(&in_windows, &load_segment(lines.as_bytes(), "input").unwrap());
    }

    #[test]
    fn an_array_refused_by_its_windows_is_read_again_for_the_streaming_parsers_words() {
        let lines = lines_over_two_windows();
        let valid = as_array(&lines);
        let broken = [
            // A bad record, a repeated `_id`, and JSON broken in an element,
            // between elements and after the array, all in a later window.
            valid.replacen("\"_id\":\"m15002\",\"channel\":\"sms\"", "\"_id\":\"m15002\",\"channel\":\"fax\"", 1),
            valid.replacen("\"_id\":\"m15002\"", "\"_id\":\"m3\"", 1),
            valid.replacen("\"_id\":\"m15002\",", "\"_id\":\"m15002\",,", 1),
            valid.replacen("\"_id\":\"m15002\"", "\"_id\":\"m15002\"}{", 1),
            format!("{}x", valid.trim_end()),
            valid.trim_end().trim_end_matches(']').to_owned(),
        ];
        for text in broken {
            assert_ne!(text, valid);
            let Err(error) = load_segment(text.as_bytes(), "input").map(|segment| segment.row_count()) else {
                panic!("a broken array loaded");
            };
            let error = error.to_string();
            assert_eq!(error, load_str(&text).map(|messages| messages.len()).unwrap_err().to_string());
            assert!(load_array_in_windows(&text).is_err(), "refused by the windows too: {error}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// The windows accept exactly the arrays the streaming parser
        /// accepts, and store their records alike.
        #[test]
        fn the_windows_accept_what_the_streaming_parser_accepts(
            elements in proptest::collection::vec((0u8..8, 0usize..8), 0..8),
            ends in (0usize..4, 0usize..8),
            mutation in proptest::option::of((0usize..400, proptest::sample::select(vec![
                "", "\"", "{", "}", "[", "]", ",", ":", "\\", " ", "\n", "x", "null", "1",
            ]))),
        ) {
            let shapes = [
                "{\"_id\":\"ID\",\"channel\":\"sms\",\"tags\":[\"x\",\"y]\"]}",
                "{ \"_id\" : \"ID\" ,\n \"content\" : \"a \\\"}\\\" b\" }",
                "{\"_id\":\"ID\",\"tags\":[ \"x\" , \"\\u00e9\" ],\"correspondent\":\"Zoë\"}",
                "{\"_id\":\"ID\",\"date_time\":\"2024-02-29 12:00:00\",\"subject\":null}",
                "{\"_id\":\"ID\",\"channel\":\"fax\"}",
                "{\"_id\":\"ID\",\"colour\":\"red\"}",
                "{\"\\u005fid\":\"ID\"}",
                "{\"_id\":\"ID\",\"tags\":[[\"x\"]]}",
            ];
            // Mostly valid separators and ends, and some that are not.
            let separators = [",", ",", " , ", "\n,\r\n\t", ",,", "", " ", "]["];
            let openers = [" [", "[\n", "[,", "[["];
            let closers = ["]", "]\n", " ]\r\n ", "]", ",]", "]]", "] x", "] ,"];
            let mut text = String::from(openers[ends.0]);
            for (index, &(shape, separator)) in elements.iter().enumerate() {
                if index > 0 {
                    text.push_str(separators[separator]);
                }
                // Ids mostly distinct, sometimes repeated.
                text.push_str(&shapes[shape as usize].replace("ID", &format!("m{}", index % 5)));
            }
            text.push_str(closers[ends.1]);
            if let Some((position, inserted)) = mutation {
                let position = position % (text.len() + 1);
                if text.is_char_boundary(position) {
                    text.insert_str(position, inserted);
                }
            }
            if !text.trim_start().starts_with('[') {
                return Ok(());
            }
            let streamed = load_str(&text);
            match (load_array_in_windows(&text), &streamed) {
                (Ok(in_windows), Ok(messages)) => {
                    assert_rows_alike(&in_windows, &Segment::from_messages(messages).unwrap());
                }
                (Err(_), Err(_)) => {}
                (in_windows, _) => proptest::prop_assert!(
                    false,
                    "{text:?}: windows {:?}, streamed {:?}",
                    in_windows.err().map(|error| error.to_string()),
                    streamed.as_ref().err().map(|error| error.to_string())
                ),
            }
            // The message path's windows, with the streaming parser to fall
            // back on: the same messages, or the same error.
            let in_windows = super::super::messages::load_bytes_in_windows(text.as_bytes());
            match (&in_windows, &streamed) {
                (Ok(in_windows), Ok(streamed)) => proptest::prop_assert!(in_windows == streamed),
                (Err(in_windows), Err(streamed)) => {
                    proptest::prop_assert_eq!(in_windows.to_string(), streamed.to_string())
                }
                _ => proptest::prop_assert!(false, "{text:?}: the message path's windows disagree"),
            }
            // With the streaming parser to fall back on, the same answer.
            let loaded = load_segment(text.as_bytes(), "input");
            proptest::prop_assert_eq!(loaded.err().map(|e| e.to_string()), streamed.err().map(|e| e.to_string()));
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
