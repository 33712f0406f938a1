//! The message path: every record through the full parser into
//! [`Message`]s, handed to a sink batch by batch (the reference engine
//! loads this way).

use std::io::Read;
use std::path::Path;

use rayon::prelude::*;

use super::array::load_array;
use super::error::{LoadError, RecordLocation};
use super::ids::IdRegistry;
use super::record::parse_line;
use super::windows::{open_input, Input, LineFraming, RecordWindow};
use crate::model::Message;

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
        Input::Array(started) => return load_array(started.into_reader(), &mut seen_ids, &mut sink),
        Input::Lines(started) => started.into_windows(LineFraming),
    };
    let mut pending: Option<Vec<Message>> = None;
    let mut spare = Vec::new();
    loop {
        let window = lines.next_window(spare)?;
        // The sink stores the previous batch while this window parses.
        let previous = pending.take();
        let (_, parsed) = rayon::join(|| previous.map(&mut sink), || parse_lines(&window, &mut seen_ids));
        pending = Some(parsed?);
        spare = window.text;
        if lines.finished() {
            pending.map(&mut sink);
            return Ok(());
        }
    }
}

/// Parses the lines of `window` in parallel into its messages.
fn parse_lines(window: &RecordWindow, seen_ids: &mut IdRegistry) -> Result<Vec<Message>, LoadError> {
    let location = |offset: usize| RecordLocation::Line(window.first_number + offset as u64);
    let parsed: Vec<Option<Result<Message, LoadError>>> = window
        .records
        .par_iter()
        .with_min_len(64)
        .enumerate()
        .map(|(offset, bounds)| {
            let line = &window.text[bounds.start..bounds.end];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.iter().all(u8::is_ascii_whitespace) {
                return None;
            }
            Some(parse_line(line, location(offset)))
        })
        .collect();
    let mut messages = Vec::with_capacity(parsed.len());
    for (offset, result) in parsed.into_iter().enumerate() {
        if let Some(result) = result {
            let message = result?;
            seen_ids.register(&message, location(offset))?;
            messages.push(message);
        }
    }
    Ok(messages)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Channel;

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
    fn a_pretty_printed_object_is_named_as_such_and_how_to_fix_it_is_said() {
        let pretty = "{\n  \"_id\": \"a\",\n  \"channel\": \"sms\"\n}\n";
        let error = load_str(pretty).unwrap_err().to_string();
        assert!(error.starts_with("line 1: invalid JSON: EOF while parsing an object"), "{error}");
        assert!(error.contains("pretty-printed") && error.contains("[ ]"), "{error}");
        let segment = crate::load::load_segment(pretty.as_bytes(), "pretty").unwrap_err().to_string();
        assert_eq!(segment, error, "both ways in say the same");
        // A broken line elsewhere is not taken for pretty-printing.
        let broken = load_str("{\"_id\": \"a\"}\n{\"_id\": \n").unwrap_err().to_string();
        assert!(!broken.contains("pretty-printed"), "{broken}");
    }
}
