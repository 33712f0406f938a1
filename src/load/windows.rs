//! Reading the input: telling a JSON array from JSON Lines, and reading it
//! a window of whole records at a time.
//!
//! A [`RecordWindows`] reads a few megabytes at a time and hands out the
//! whole records they hold, found by a [`Framing`]: JSON Lines' line feeds
//! ([`LineFraming`]), or a JSON array's elements
//! ([`ElementFraming`](super::elements::ElementFraming)). Records are then
//! parsed in parallel, a window at a time.

use std::fs::File;
use std::io::{self, Read, Seek};

use super::error::{LoadError, RecordLocation};

/// Messages are handed to the sink in batches of about this many bytes of
/// input text; the window of raw text held at once is this size.
pub(super) const WINDOW_BYTES: usize = 8 << 20;

/// What a reader holds, told by its first byte that is not white space.
pub(super) enum Input<R> {
    /// Nothing but white space.
    Empty,
    /// A JSON array.
    Array(StartedInput<R>),
    /// JSON Lines.
    Lines(StartedInput<R>),
}

/// An input whose start has been read to tell its format.
pub(super) struct StartedInput<R> {
    /// The bytes read so far (without a byte order mark).
    read: Vec<u8>,
    /// The rest of the input.
    rest: R,
    at_end: bool,
    source_name: String,
}

impl<R: Read> StartedInput<R> {
    /// The whole input as one reader again.
    pub(super) fn into_reader(self) -> io::Chain<io::Cursor<Vec<u8>>, R> {
        io::Cursor::new(self.read).chain(self.rest)
    }

    /// The input's records, a window at a time, found by `framing`.
    pub(super) fn into_windows<F: Framing>(self, framing: F) -> RecordWindows<R, F> {
        RecordWindows {
            reader: self.rest,
            window: self.read,
            at_end: self.at_end,
            source_name: self.source_name,
            framing,
            records: Vec::new(),
            framed_to: 0,
            first_number: F::FIRST_NUMBER,
        }
    }
}

/// Reads the start of the input (dropping a UTF-8 byte order mark) and
/// tells its format: reads on through leading white space, however long,
/// to the first byte that is not.
pub(super) fn open_input<R: Read>(mut reader: R, source_name: &str) -> Result<Input<R>, LoadError> {
    const START_BYTES: usize = 64 << 10;
    let io_error = |error| LoadError::Io { source_name: source_name.to_owned(), error };
    let mut window = Vec::with_capacity(START_BYTES);
    let mut at_end = fill_window(&mut reader, &mut window, START_BYTES).map_err(io_error)?;
    if window.starts_with(b"\xEF\xBB\xBF") {
        window.drain(..3);
    }
    let mut looked = 0;
    let first = loop {
        match window[looked..].iter().find(|byte| !byte.is_ascii_whitespace()) {
            Some(&byte) => break Some(byte),
            None if at_end => break None,
            None => {
                looked = window.len();
                at_end = fill_window(&mut reader, &mut window, looked + START_BYTES).map_err(io_error)?;
            }
        }
    };
    let started = StartedInput { read: window, rest: reader, at_end, source_name: source_name.to_owned() };
    Ok(match first {
        None if at_end => Input::Empty,
        Some(b'[') => Input::Array(started),
        _ => Input::Lines(started),
    })
}

/// An input that can be read again from its start: a JSON array its
/// windows refuse is read again by the streaming parser.
pub(super) enum ReadAgain<'a> {
    /// A regular file: the same open file, rewound (not its path, which
    /// may name another file by then).
    File(File),
    /// Bytes in memory.
    Bytes(&'a [u8]),
}

impl ReadAgain<'_> {
    /// `file` read again, if it is a regular file (a pipe or a device
    /// cannot be read twice).
    pub(super) fn file(file: &File) -> io::Result<Option<ReadAgain<'static>>> {
        Ok(match file.metadata()?.is_file() {
            true => Some(ReadAgain::File(file.try_clone()?)),
            false => None,
        })
    }

    /// The input from its start.
    fn reader(&self) -> io::Result<Box<dyn Read + Send + '_>> {
        Ok(match self {
            ReadAgain::File(file) => {
                let mut file = file.try_clone()?;
                file.rewind()?;
                Box::new(file)
            }
            ReadAgain::Bytes(bytes) => Box::new(*bytes),
        })
    }
}

/// A JSON array read again from its start, for the streaming parser.
pub(super) type StreamedAgain<'a> = io::Chain<io::Cursor<Vec<u8>>, Box<dyn Read + Send + 'a>>;

/// What loading a JSON array in windows gave (`windowed`), or, when they
/// refused it, what `stream` gives from `input` read again from its start:
/// the streaming parser's words and place for the array's first problem,
/// or an element too long to frame loaded. An error reading the input is
/// not read again.
pub(super) fn windowed_or_streamed_again<T>(
    windowed: Result<T, LoadError>,
    input: &ReadAgain,
    source_name: &str,
    stream: impl FnOnce(StreamedAgain) -> Result<T, LoadError>,
) -> Result<T, LoadError> {
    let io_error = |error| LoadError::Io { source_name: source_name.to_owned(), error };
    match windowed {
        Err(refused @ LoadError::Io { .. }) => Err(refused),
        Err(_refused) => match open_input(input.reader().map_err(io_error)?, source_name)? {
            Input::Array(started) => stream(started.into_reader()),
            Input::Empty | Input::Lines(_) => Err(io_error(io::Error::other("the input changed while it was read"))),
        },
        loaded => loaded,
    }
}

/// A record's bytes in its window: `start..end`; empty for a blank line,
/// which is numbered but holds no record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct RecordBounds {
    pub(super) start: usize,
    pub(super) end: usize,
}

impl RecordBounds {
    /// Whether this is a blank line.
    pub(super) fn is_blank(self) -> bool {
        self.start == self.end
    }
}

/// How records are told apart in the text.
pub(super) trait Framing {
    /// The number of the input's first record.
    const FIRST_NUMBER: u64;

    /// Where the record numbered `number` sits, in an error.
    fn location(number: u64) -> RecordLocation;

    /// Finds the whole records of `text[from..]`, appending their bounds
    /// to `records` (every record is numbered, blank lines included);
    /// returns how far the text is consumed: the records found and what
    /// separates them, not a record cut short by the window's end.
    /// `at_end` says no text follows. Errors when the text cannot be the
    /// input's format.
    fn frame(
        &mut self,
        text: &[u8],
        from: usize,
        at_end: bool,
        records: &mut Vec<RecordBounds>,
    ) -> Result<usize, LoadError>;

    /// Whether the text framed so far is a complete input (JSON Lines
    /// always; a JSON array once closed).
    fn complete(&self) -> bool;
}

/// JSON Lines: a record per line, without its carriage return; blank
/// lines counted, as empty records.
pub(super) struct LineFraming;

impl LineFraming {
    /// The record of the line at `start..end`.
    fn line(text: &[u8], start: usize, end: usize) -> RecordBounds {
        let end = if text[start..end].ends_with(b"\r") { end - 1 } else { end };
        match text[start..end].iter().all(u8::is_ascii_whitespace) {
            true => RecordBounds { start, end: start },
            false => RecordBounds { start, end },
        }
    }
}

impl Framing for LineFraming {
    const FIRST_NUMBER: u64 = 1;

    fn location(number: u64) -> RecordLocation {
        RecordLocation::Line(number)
    }

    fn frame(
        &mut self,
        text: &[u8],
        from: usize,
        at_end: bool,
        records: &mut Vec<RecordBounds>,
    ) -> Result<usize, LoadError> {
        let mut start = from;
        for newline in memchr::memchr_iter(b'\n', &text[from..]) {
            records.push(Self::line(text, start, from + newline));
            start = from + newline + 1;
        }
        if at_end && start < text.len() {
            records.push(Self::line(text, start, text.len()));
            start = text.len();
        }
        Ok(start)
    }

    fn complete(&self) -> bool {
        true
    }
}

/// A window of whole records taken out of the input.
pub(super) struct RecordWindow {
    /// The text: whole records and what separates them.
    pub(super) text: Vec<u8>,
    /// Every record's bounds in `text`, in order.
    pub(super) records: Vec<RecordBounds>,
    /// The number of the first record.
    pub(super) first_number: u64,
}

/// An input read a window of whole records at a time; about one window of
/// raw text is held, or a record longer than a window and what was read
/// with it (the window doubles until the record is whole, or an array's
/// framing refuses it, see `elements::LONGEST_ELEMENT`).
///
/// Invariant: `records` are the whole records of `window[..framed_to]`,
/// and `framing` is in the state the input is in at `framed_to`; so no
/// record is ever split between two windows, and `first_number` is the
/// number of the window's first record.
pub(super) struct RecordWindows<R, F> {
    reader: R,
    /// Text read and not yet taken: whole records, then maybe part of one.
    window: Vec<u8>,
    at_end: bool,
    source_name: String,
    framing: F,
    records: Vec<RecordBounds>,
    framed_to: usize,
    first_number: u64,
}

impl<R: Read, F: Framing> RecordWindows<R, F> {
    /// Takes out the next window of about [`WINDOW_BYTES`] of whole
    /// records (or the rest of the input); `spare` becomes the buffer the
    /// input is read into next.
    pub(super) fn next_window(&mut self, mut spare: Vec<u8>) -> Result<RecordWindow, LoadError> {
        let mut target = WINDOW_BYTES;
        loop {
            if !self.at_end && self.window.len() < target {
                self.read_to(target)?;
            }
            self.frame()?;
            // Handed out: whole records, or text between them (white space
            // need not be held), or the rest of the input.
            if !self.records.is_empty() || self.framed_to > 0 || self.at_end {
                break;
            }
            // A single record longer than the window: read on (doubling,
            // so that its start is framed again only a few times).
            target = (self.window.len() * 2).max(WINDOW_BYTES);
        }
        spare.clear();
        spare.reserve(WINDOW_BYTES);
        spare.extend_from_slice(&self.window[self.framed_to..]);
        self.window.truncate(self.framed_to);
        let text = std::mem::replace(&mut self.window, spare);
        let records = std::mem::take(&mut self.records);
        let first_number = self.first_number;
        self.first_number += records.len() as u64;
        self.framed_to = 0;
        Ok(RecordWindow { text, records, first_number })
    }

    /// Reads and frames the next window's text (while the current one is
    /// processed).
    pub(super) fn read_ahead(&mut self) -> Result<(), LoadError> {
        if !self.at_end {
            self.read_to(WINDOW_BYTES)?;
        }
        self.frame()
    }

    /// Whether every record has been taken out of a complete input.
    pub(super) fn finished(&self) -> bool {
        self.at_end && self.window.is_empty() && self.framing.complete()
    }

    /// Frames the text read since the last call.
    fn frame(&mut self) -> Result<(), LoadError> {
        self.framed_to = self.framing.frame(&self.window, self.framed_to, self.at_end, &mut self.records)?;
        Ok(())
    }

    /// Reads until the window holds `target` bytes or the input ends.
    fn read_to(&mut self, target: usize) -> Result<(), LoadError> {
        let io_error = |error| LoadError::Io { source_name: self.source_name.clone(), error };
        self.at_end = fill_window(&mut self.reader, &mut self.window, target).map_err(io_error)?;
        Ok(())
    }
}

/// Reads until `window` holds `target` bytes or the reader ends; returns
/// whether it ended.
fn fill_window(reader: &mut impl Read, window: &mut Vec<u8>, target: usize) -> io::Result<bool> {
    let wanted = target.saturating_sub(window.len()) as u64;
    let read = reader.by_ref().take(wanted).read_to_end(window)?;
    Ok((read as u64) < wanted)
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::ReadAgain;
    use crate::load::{load_segment, load_str};

    #[test]
    fn white_space_longer_than_the_first_read_still_tells_the_format() {
        let padding = " \n".repeat(50_000);
        let array = format!("{padding}[{{\"_id\":\"a\"}}]");
        assert_eq!(load_str(&array).unwrap().len(), 1);
        assert_eq!(load_segment(array.as_bytes(), "input").unwrap().row_count(), 1);
        let lines = format!("{padding}{{\"_id\":\"a\"}}\n{{\"_id\":\"b\",\"channel\":\"fax\"}}\n");
        let error = load_str(&lines).unwrap_err().to_string();
        assert!(error.starts_with("line 50002 "), "{error}");
        assert!(load_str(&padding).unwrap().is_empty());
    }

    #[test]
    fn a_file_is_read_again_from_its_start_even_once_its_path_names_another() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("messages.json");
        std::fs::write(&path, "first").unwrap();
        let mut file = std::fs::File::open(&path).unwrap();
        let again = ReadAgain::file(&file).unwrap().expect("a regular file");
        file.read_exact(&mut [0; 3]).unwrap();
        let replacement = directory.path().join("replacement");
        std::fs::write(&replacement, "second").unwrap();
        std::fs::rename(&replacement, &path).unwrap();
        for _ in 0..2 {
            let mut text = String::new();
            again.reader().unwrap().read_to_string(&mut text).unwrap();
            assert_eq!(text, "first");
        }
    }

    fn load_error(text: &str) -> String {
        load_str(text).expect_err("the load should fail").to_string()
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
