//! The message path: every record through the full parser into
//! [`Message`]s, handed to a sink batch by batch (the reference engine
//! loads this way).

use std::io::Read;
use std::path::Path;

use rayon::prelude::*;

use super::array::load_array;
use super::elements::ElementFraming;
use super::error::{LoadError, RecordLocation};
use super::ids::IdRegistry;
use super::record::parse_line;
use super::windows::{
    open_input, windowed_or_streamed_again, Framing, Input, LineFraming, ReadAgain, RecordWindow, RecordWindows,
};
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
/// order, batch by batch; see [`for_each_batch`]. A JSON array in a regular
/// file is parsed a window of elements at a time, in parallel, as JSON
/// Lines are.
pub fn for_each_batch_in_path(path: impl AsRef<Path>, sink: impl FnMut(Vec<Message>) + Send) -> Result<(), LoadError> {
    let path = path.as_ref();
    let source_name = path.display().to_string();
    let io_error = |error| LoadError::Io { source_name: source_name.clone(), error };
    let file = std::fs::File::open(path).map_err(io_error)?;
    let read_again = ReadAgain::file(&file).map_err(io_error)?;
    for_each_batch_reading(file, read_again.as_ref(), &source_name, sink)
}

/// Reads a JSON array or JSON Lines from `reader` and hands the messages to
/// `sink` in file order, batch by batch. Stops at the first invalid record;
/// batches already handed over must then be discarded by the caller (every
/// loader in msgdex builds into a fresh store, so nothing half-loaded is
/// ever published). `_id` uniqueness is checked across the whole input.
pub fn for_each_batch(
    reader: impl Read,
    source_name: &str,
    sink: impl FnMut(Vec<Message>) + Send,
) -> Result<(), LoadError> {
    for_each_batch_reading(reader, None, source_name, sink)
}

/// [`for_each_batch`]; a JSON array is parsed in windows when the input can
/// be read again (`read_again`), else streamed. An array its windows refuse
/// is read again by the streaming parser, for the words and the place of
/// its error (see `segment`), which hands over only the messages after
/// those the windows handed over.
fn for_each_batch_reading(
    reader: impl Read,
    read_again: Option<&ReadAgain>,
    source_name: &str,
    mut sink: impl FnMut(Vec<Message>) + Send,
) -> Result<(), LoadError> {
    let mut seen_ids = IdRegistry::default();
    match (open_input(reader, source_name)?, read_again) {
        (Input::Empty, _) => Ok(()),
        (Input::Lines(started), _) => parse_windows(started.into_windows(LineFraming), &mut seen_ids, sink),
        (Input::Array(started), None) => load_array(started.into_reader(), &mut seen_ids, &mut sink),
        (Input::Array(started), Some(read_again)) => {
            let mut handed = 0;
            let counting = |batch: Vec<Message>| {
                handed += batch.len();
                sink(batch)
            };
            let windowed = parse_windows(started.into_windows(ElementFraming::new()), &mut seen_ids, counting);
            windowed_or_streamed_again(windowed, read_again, source_name, |again| {
                // The streaming parser registers every `_id` anew.
                drop(seen_ids);
                load_array(again, &mut IdRegistry::default(), &mut |mut batch: Vec<Message>| {
                    let already = handed.min(batch.len());
                    handed -= already;
                    batch.drain(..already);
                    if !batch.is_empty() {
                        sink(batch);
                    }
                })
            })
        }
    }
}

/// Every message of `text`, a JSON array parsed in windows as from a file.
#[cfg(test)]
pub(super) fn load_bytes_in_windows(text: &[u8]) -> Result<Vec<Message>, LoadError> {
    let mut messages = Vec::new();
    for_each_batch_reading(text, Some(&ReadAgain::Bytes(text)), "input", |batch| messages.extend(batch))?;
    Ok(messages)
}

/// Parses the records of `windows` a window at a time, in parallel, and
/// hands each window's messages to `sink` while the next one is parsed.
fn parse_windows<F: Framing>(
    mut windows: RecordWindows<impl Read, F>,
    seen_ids: &mut IdRegistry,
    mut sink: impl FnMut(Vec<Message>) + Send,
) -> Result<(), LoadError> {
    let mut pending: Option<Vec<Message>> = None;
    let mut spare = Vec::new();
    loop {
        let window = windows.next_window(spare)?;
        // The sink stores the previous batch while this window parses.
        let previous = pending.take();
        let (_, parsed) = rayon::join(|| previous.map(&mut sink), || parse_records(&window, F::location, seen_ids));
        pending = Some(parsed?);
        spare = window.text;
        if windows.finished() {
            pending.map(&mut sink);
            return Ok(());
        }
    }
}

/// Parses the records of `window` in parallel into its messages.
fn parse_records(
    window: &RecordWindow,
    location: fn(u64) -> RecordLocation,
    seen_ids: &mut IdRegistry,
) -> Result<Vec<Message>, LoadError> {
    let location = |offset: usize| location(window.first_number + offset as u64);
    let parsed: Vec<Option<Result<Message, LoadError>>> = window
        .records
        .par_iter()
        .with_min_len(64)
        .enumerate()
        .map(|(offset, bounds)| {
            (!bounds.is_blank()).then(|| parse_line(&window.text[bounds.start..bounds.end], location(offset)))
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
    fn an_array_file_is_parsed_in_windows_and_read_again_only_for_what_they_refuse() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("messages.json");
        let element = |index: usize, content: &str| format!("{{\"_id\":\"m{index:05}\",\"content\":\"{content}\"}}");
        let filler = "word ".repeat(200);
        let small: Vec<String> = (0..20_000).map(|index| element(index, &filler)).collect();
        // An element the windows do not frame (still cut short when the
        // window, doubling, holds twice the longest they frame): the
        // windows hand over the messages before it, then the streaming
        // parser reads the file again and hands over only those after them.
        let large = element(20_000, &"x".repeat(2 * super::super::elements::LONGEST_ELEMENT + 1));
        for (text, label) in [
            (format!("[{}]", small.join(",\n")), "every element framed"),
            (format!("[{},\n{large},\n{}]", small.join(",\n"), element(20_001, "after")), "a large element"),
            (format!("[{},\n{{\"_id\":\"m00003\"}}]", small.join(",\n")), "a repeated `_id`"),
            (format!("[{},\n{{\"_id\":\"x\",}}]", small.join(",\n")), "broken JSON"),
        ] {
            std::fs::write(&path, &text).unwrap();
            let mut batches = 0;
            let from_file = for_each_batch_in_path(&path, |_| batches += 1).map(|()| load_path(&path).unwrap());
            let streamed = load_str(&text);
            match (from_file, streamed) {
                (Ok(from_file), Ok(streamed)) => {
                    assert!(from_file == streamed, "{label}: the same messages, each once");
                    assert!(batches > 1, "{label}");
                }
                (Err(from_file), Err(streamed)) => assert_eq!(from_file.to_string(), streamed.to_string(), "{label}"),
                (from_file, streamed) => {
                    panic!("{label}: {:?} against {:?}", from_file.map(|m| m.len()), streamed.map(|m| m.len()))
                }
            }
        }
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
