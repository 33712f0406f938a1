//! Reading the input: telling a JSON array from JSON Lines, and reading
//! JSON Lines a window of whole lines at a time.

use std::io::{self, Read};

use super::error::LoadError;

/// Messages are handed to the sink in batches of about this many bytes of
/// JSON Lines text; the window of raw text held at once is this size.
pub(super) const WINDOW_BYTES: usize = 8 << 20;

/// What a reader holds, told by its first byte that is not white space.
pub(super) enum Input<R> {
    /// Nothing but white space.
    Empty,
    /// A JSON array (the bytes read so far, then the rest).
    Array(io::Chain<io::Cursor<Vec<u8>>, R>),
    /// JSON Lines.
    Lines(LineWindows<R>),
}

/// Reads the start of the input (dropping a UTF-8 byte order mark) and
/// tells its format.
pub(super) fn open_input<R: Read>(mut reader: R, source_name: &str) -> Result<Input<R>, LoadError> {
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
///
/// Invariant: [`fill`](LineWindows::fill) hands out only whole lines (up to
/// the last line feed, or the rest of the input at its end), so no record
/// is ever split between two windows; once the caller has counted the lines
/// it took, `first_line` is the number of the window's first line.
pub(super) struct LineWindows<R> {
    reader: R,
    /// Text read and not yet consumed: whole lines, then maybe part of one.
    pub(super) window: Vec<u8>,
    at_end: bool,
    /// The number of the window's first line.
    pub(super) first_line: u64,
    source_name: String,
}

impl<R: Read> LineWindows<R> {
    /// Reads until the window holds about [`WINDOW_BYTES`] of whole lines
    /// (or the rest of the input); returns how many bytes are whole lines.
    pub(super) fn fill(&mut self) -> Result<usize, LoadError> {
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
    pub(super) fn consume(&mut self, complete: usize, lines: u64) {
        self.window.drain(..complete);
        self.first_line += lines;
    }

    /// Reads the next window's text (while the current one is processed).
    pub(super) fn read_ahead(&mut self) -> Result<(), LoadError> {
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
    pub(super) fn take(&mut self, complete: usize, mut spare: Vec<u8>) -> Vec<u8> {
        spare.clear();
        spare.reserve(WINDOW_BYTES);
        spare.extend_from_slice(&self.window[complete..]);
        self.window.truncate(complete);
        std::mem::replace(&mut self.window, spare)
    }

    /// Whether every line has been consumed.
    pub(super) fn finished(&self) -> bool {
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

#[cfg(test)]
mod tests {
    use crate::load::{load_segment, load_str};

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
