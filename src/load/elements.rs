//! A JSON array's elements found in the text without parsing them, so that
//! a window of whole elements can be scanned in parallel as JSON Lines'
//! lines are.
//!
//! The framing follows only what decides where an element ends: brackets,
//! braces and strings (with their escapes). It accepts the array's own
//! syntax (`[`, elements that open with `{`, commas, `]`, then only white
//! space) and nothing else; every element it finds is then checked in full
//! by the scanner or the full parser. Anything it does not accept is an
//! error, upon which the loader reads the input again with the streaming
//! parser, which says exactly what is wrong, or loads an element too long
//! to frame (see `segment`).

use super::error::{LoadError, RecordLocation};
use super::windows::{Framing, RecordBounds};

/// How much of an element still cut short the framing holds: past it, the
/// element is left to the streaming parser, so that an element never
/// closed does not pull the rest of the input into one window. As windows
/// double, an element of up to this size is always framed, and one of
/// more than twice this size never.
pub(super) const LONGEST_ELEMENT: usize = 4 * super::windows::WINDOW_BYTES;

/// Where the array's text stands between elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Between {
    /// Before the opening `[`.
    BeforeOpen,
    /// After `[`: an element or `]`.
    AfterOpen,
    /// After an element: `,` or `]`.
    AfterElement,
    /// After `,`: an element.
    AfterComma,
    /// After `]`: only white space.
    Closed,
}

/// A JSON array's elements, numbered from 0.
///
/// Invariant: `state` is where the text stands at the position the last
/// [`frame`](Framing::frame) returned.
pub(super) struct ElementFraming {
    state: Between,
}

impl ElementFraming {
    /// The framing of an array's text from its start.
    pub(super) fn new() -> ElementFraming {
        ElementFraming { state: Between::BeforeOpen }
    }
}

impl Framing for ElementFraming {
    const FIRST_NUMBER: u64 = 0;

    fn location(number: u64) -> RecordLocation {
        RecordLocation::Index(number)
    }

    fn frame(
        &mut self,
        text: &[u8],
        from: usize,
        at_end: bool,
        records: &mut Vec<RecordBounds>,
    ) -> Result<usize, LoadError> {
        let mut at = from;
        loop {
            while at < text.len() && matches!(text[at], b' ' | b'\t' | b'\n' | b'\r') {
                at += 1;
            }
            let Some(&byte) = text.get(at) else {
                return match (at_end, self.state) {
                    (true, state) if state != Between::Closed => Err(malformed(at, "the array is not closed")),
                    _ => Ok(at),
                };
            };
            (self.state, at) = match (self.state, byte) {
                (Between::BeforeOpen, b'[') => (Between::AfterOpen, at + 1),
                (Between::AfterOpen | Between::AfterElement, b']') => (Between::Closed, at + 1),
                (Between::AfterElement, b',') => (Between::AfterComma, at + 1),
                (Between::AfterOpen | Between::AfterComma, b'{') => match object_end(text, at) {
                    Some(end) => {
                        records.push(RecordBounds { start: at, end });
                        (Between::AfterElement, end)
                    }
                    None if at_end => return Err(malformed(at, "an element is not closed")),
                    // An element this long is most likely not closed (a
                    // brace or a quote missing): the streaming parser finds
                    // out without holding the rest of the input.
                    None if text.len() - at > LONGEST_ELEMENT => {
                        return Err(malformed(at, "an element is longer than the windows hold"))
                    }
                    // Cut short by the window: framed again once more is read.
                    None => return Ok(at),
                },
                _ => return Err(malformed(at, "not an array of objects")),
            };
        }
    }

    fn complete(&self) -> bool {
        self.state == Between::Closed
    }
}

/// The end (one past the closing brace) of the object opening at
/// `text[start]`, or `None` when the text ends first. Brackets and braces
/// are counted alike: a mismatched one is found by the parser that checks
/// the element.
fn object_end(text: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut at = start;
    while at < text.len() {
        match text[at] {
            b'"' => at = string_end(text, at + 1)?,
            b'{' | b'[' => {
                depth += 1;
                at += 1;
            }
            b'}' | b']' => {
                depth -= 1;
                at += 1;
                if depth == 0 {
                    return Some(at);
                }
            }
            _ => at += 1,
        }
    }
    None
}

/// The position after the closing quote of the string whose text starts at
/// `from`, or `None` when the text ends first.
fn string_end(text: &[u8], mut from: usize) -> Option<usize> {
    loop {
        let found = from + memchr::memchr2(b'"', b'\\', text.get(from..)?)?;
        if text[found] == b'"' {
            return Some(found + 1);
        }
        from = found + 2; // an escape: its next byte cannot close the string
    }
}

/// The framing's error: the streaming parser, run on the input again, says
/// what is wrong in its words.
fn malformed(at: usize, problem: &str) -> LoadError {
    LoadError::Syntax { location: None, message: format!("{problem} (window byte {at})") }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The elements' text found in `text`, read in pieces of `piece` bytes
    /// and framed as `RecordWindows` frames them: each framed part taken
    /// out of the window, the rest carried into the next.
    fn framed(text: &str, piece: usize) -> Result<Vec<String>, LoadError> {
        let mut framing = ElementFraming::new();
        let (mut window, mut records, mut elements) = (Vec::new(), Vec::new(), Vec::new());
        let mut read = 0;
        while read < text.len() {
            let end = (read + piece).min(text.len());
            window.extend_from_slice(&text.as_bytes()[read..end]);
            read = end;
            records.clear();
            let framed_to = framing.frame(&window, 0, read == text.len(), &mut records)?;
            elements.extend(
                records.iter().map(|bounds| String::from_utf8_lossy(&window[bounds.start..bounds.end]).into_owned()),
            );
            window.drain(..framed_to);
        }
        assert!(framing.complete() || text.trim().is_empty());
        Ok(elements)
    }

    #[test]
    fn elements_are_found_whatever_the_strings_and_the_windows_hold() {
        let text =
            " [ {\"_id\":\"a\",\"tags\":[\"x]\",\"}{\"]} ,\n{\"_id\":\"b\\\"}\\\\\",\"content\":\"[{\"}\r\n,{}]\n ";
        let expected =
            ["{\"_id\":\"a\",\"tags\":[\"x]\",\"}{\"]}", "{\"_id\":\"b\\\"}\\\\\",\"content\":\"[{\"}", "{}"];
        for piece in [1, 2, 3, 7, 1000] {
            assert_eq!(framed(text, piece).unwrap(), expected, "pieces of {piece}");
        }
        assert!(framed("[]", 1).unwrap().is_empty());
    }

    #[test]
    fn an_element_never_closed_is_refused_before_the_input_ends() {
        let mut framing = ElementFraming::new();
        let unclosed = format!("[{{\"_id\":\"a\",\"content\":\"{}", "x".repeat(LONGEST_ELEMENT));
        let mut records = Vec::new();
        assert!(framing.frame(unclosed.as_bytes(), 0, false, &mut records).is_err());
        let mut framing = ElementFraming::new();
        let cut = &unclosed[..LONGEST_ELEMENT];
        assert_eq!(framing.frame(cut.as_bytes(), 0, false, &mut records).unwrap(), 1, "a shorter one waits");
    }

    #[test]
    fn anything_but_an_array_of_objects_is_refused() {
        for text in [
            "[{}",
            "[{}]x",
            "[{},]",
            "[,{}]",
            "[{}{}]",
            "[1]",
            "[\"a\"]",
            "[[{}]]",
            "{}",
            "[{\"a\":\"]",
            "[{}]]",
            "[{}],",
        ] {
            for piece in [1, 1000] {
                assert!(framed(text, piece).is_err(), "{text:?} in pieces of {piece}");
            }
        }
    }
}
