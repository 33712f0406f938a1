//! The request/response transcript of SPEC §7: one request per line in, one
//! `{"status":…,"body":…}` line out, in order.
//!
//! A line is a request target (a read), optionally after `GET `; a store
//! that takes writes also answers write lines in the same spirit:
//!
//! ```text
//! PUT /v1/messages/<id> {"_id": "<id>", …}   upsert: 201 created or 200 replaced, body the message
//! DELETE /v1/messages/<id>                    204 (body null), or 404
//! ```
//!
//! A refused write is a 400 (bad message) or 404 (unknown Id) line that
//! says why, and changes nothing.

use std::io::{self, BufRead, Write as _};

use crate::engine::Engine;
use crate::json::quoted;
use crate::output::{hint_body, Response};
use crate::write::Writable;
use crate::write_request::{answer_write, WriteMethod};

/// The longest line answered by default: a write line holds a whole
/// message, so this matches the server's body limit.
pub const DEFAULT_MAX_LINE_BYTES: usize = 1 << 20;

/// How a transcript is read and written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TranscriptOptions {
    /// The longest line answered; a longer one gets a 400 line, and is
    /// never held in memory whole.
    pub max_line_bytes: usize,
    /// Flush each response line as soon as it is written. Needed when a
    /// program writes a request and waits for its answer (a pipe or a
    /// terminal); a file of requests is answered faster in large writes.
    pub flush_each_line: bool,
}

impl Default for TranscriptOptions {
    fn default() -> Self {
        TranscriptOptions { max_line_bytes: DEFAULT_MAX_LINE_BYTES, flush_each_line: false }
    }
}

/// Answers every request line of `input` with one response line on
/// `output`, in order, and flushes at the end. Write lines are refused
/// (405): this engine is read-only.
///
/// A trailing `\r` is ignored; a line that is empty or only spaces and tabs
/// gets no response; in a read, bytes that are not UTF-8 become U+FFFD. A
/// bad request is a 400 or 404 line, never an error: only I/O fails this
/// function.
pub fn run_transcript(
    engine: &dyn Engine,
    input: impl BufRead,
    output: impl std::io::Write,
    options: TranscriptOptions,
) -> io::Result<u64> {
    replay(input, output, options, |line| answer_raw_line(engine, None, line))
}

/// Answers every line of `input`, reads and writes alike, in order: the
/// replay of a day of mixed traffic against a live store.
pub fn run_writable_transcript(
    engine: &dyn Writable,
    input: impl BufRead,
    output: impl std::io::Write,
    options: TranscriptOptions,
) -> io::Result<u64> {
    replay(input, output, options, |line| answer_raw_line(engine, Some(engine), line))
}

fn replay(
    mut input: impl BufRead,
    output: impl std::io::Write,
    options: TranscriptOptions,
    mut answer: impl FnMut(&[u8]) -> Response,
) -> io::Result<u64> {
    let mut output = io::BufWriter::with_capacity(1 << 16, output);
    let mut answered = 0;
    let mut line = Vec::new();
    while let Some(read) = next_line(&mut input, options.max_line_bytes, &mut line)? {
        let response = match read {
            LineRead::TooLong { bytes } => Response {
                status: 400,
                body: hint_body(&format!(
                    "The line holds {bytes} bytes; a line may hold at most {} (--max-line-bytes).",
                    options.max_line_bytes
                )),
            },
            LineRead::Complete => match request_target(&line) {
                Some(target) => answer(target),
                None => continue,
            },
        };
        output.write_all(response.to_transcript_line().as_bytes())?;
        output.write_all(b"\n")?;
        if options.flush_each_line {
            output.flush()?;
        }
        answered += 1;
    }
    output.flush()?;
    Ok(answered)
}

/// What [`next_line`] read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LineRead {
    /// The line is in the buffer, without its line feed.
    Complete,
    /// The line was longer than allowed: it was skipped, not kept.
    TooLong { bytes: u64 },
}

/// Reads the next line into `line` (cleared first); `None` at the end of
/// the input. A line longer than `max_bytes` is consumed without being
/// kept, so that its length costs no memory.
fn next_line(input: &mut impl BufRead, max_bytes: usize, line: &mut Vec<u8>) -> io::Result<Option<LineRead>> {
    line.clear();
    let mut bytes: u64 = 0;
    let mut too_long = false;
    let mut started = false;
    loop {
        let available = match input.fill_buf() {
            Ok(available) => available,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        if available.is_empty() {
            let read = if too_long { LineRead::TooLong { bytes } } else { LineRead::Complete };
            return Ok(started.then_some(read));
        }
        started = true;
        let (piece, consumed, ended) = match memchr::memchr(b'\n', available) {
            Some(end) => (&available[..end], end + 1, true),
            None => (available, available.len(), false),
        };
        bytes += piece.len() as u64;
        if !too_long && line.len() + piece.len() > max_bytes {
            too_long = true;
            line.clear();
            line.shrink_to(max_bytes.min(1 << 16));
        }
        if !too_long {
            line.extend_from_slice(piece);
        }
        input.consume(consumed);
        if ended {
            return Ok(Some(if too_long { LineRead::TooLong { bytes } } else { LineRead::Complete }));
        }
    }
}

/// Answers one transcript line given as bytes: a write must be UTF-8 (its
/// body is JSON text); a read's invalid bytes become U+FFFD.
fn answer_raw_line(engine: &dyn Engine, writes: Option<&dyn Writable>, line: &[u8]) -> Response {
    match std::str::from_utf8(line) {
        Ok(text) => answer_line(engine, writes, text),
        Err(error) if line.starts_with(b"PUT ") || line.starts_with(b"DELETE ") => Response {
            status: 400,
            body: hint_body(&format!(
                "The line is not valid UTF-8 (byte {} is not); a write line is text, its body JSON.",
                error.valid_up_to() + 1
            )),
        },
        Err(_) => answer_line(engine, writes, &String::from_utf8_lossy(line)),
    }
}

/// Answers one transcript line: a read (`/v1/…` or `GET /v1/…`) from
/// `engine`, a write (`PUT`, `DELETE`) through `writes` when given.
pub fn answer_line(engine: &dyn Engine, writes: Option<&dyn Writable>, line: &str) -> Response {
    // A method is an HTTP method token (upper-case letters); any other line
    // is a request target, answered as SPEC §7 says (a 404 if it is none).
    let is_method = |word: &str| !word.is_empty() && word.bytes().all(|byte| byte.is_ascii_uppercase());
    let Some((method, rest)) = line.split_once(' ').filter(|(method, _)| is_method(method)) else {
        return engine.respond(line);
    };
    let (target, body) = rest.split_once(' ').unwrap_or((rest, ""));
    let refuse = |status, hint: &str| Response { status, body: hint_body(hint) };
    match method {
        "GET" => return engine.respond(rest),
        "PUT" | "DELETE" => {}
        other => {
            return refuse(
                405,
                &format!(
                    "The method {} is not served; a line is a request target, or GET, PUT or DELETE and a target.",
                    quoted(other)
                ),
            )
        }
    }
    let Some(writes) = writes else {
        return refuse(405, "This store is read-only: it answers GET requests only.");
    };
    let method = if method == "PUT" { WriteMethod::Put } else { WriteMethod::Delete };
    answer_write(writes, method, target, body)
}

/// The request target of one line (without its line break), or `None` for
/// a line that gets no response.
pub fn request_target(line: &[u8]) -> Option<&[u8]> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    (!line.iter().all(|&byte| byte == b' ' || byte == b'\t')).then_some(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Message;
    use crate::reference::{LiveReference, ReferenceEngine};

    #[test]
    fn answers_each_line_in_order_and_skips_blank_ones() {
        let engine = ReferenceEngine::new(vec![Message::with_id("a"), Message::with_id("b")]);
        let input =
            b"/v1/messages?per_page=1\r\n\n \t \r\n/v1/messages/b\n/v1/messages/zz\n/nowhere\n/v1/messages?page=0";
        let mut output = Vec::new();
        let answered = run_transcript(&engine, &input[..], &mut output, TranscriptOptions::default()).unwrap();
        assert_eq!(answered, 5);
        let lines: Vec<serde_json::Value> =
            String::from_utf8(output).unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect();
        let statuses: Vec<u64> = lines.iter().map(|line| line["status"].as_u64().unwrap()).collect();
        assert_eq!(statuses, [200, 200, 404, 404, 400]);
        assert_eq!(lines[0]["body"]["items"][0]["_id"], "a");
        assert_eq!(lines[0]["body"]["page_count"], 2);
        assert_eq!(lines[1]["body"]["_id"], "b");
    }

    #[test]
    fn write_lines_upsert_and_delete_and_refuse_with_reasons() {
        let engine = LiveReference::new(ReferenceEngine::new(vec![Message::with_id("a")]));
        let input = concat!(
            "PUT /v1/messages/b {\"_id\": \"b\", \"channel\": \"sms\"}\n",
            "PUT /v1/messages/b {\"channel\": \"email\"}\n",
            "GET /v1/messages?filters-channel=email\n",
            "DELETE /v1/messages/a\n",
            "DELETE /v1/messages/a\n",
            "PUT /v1/messages/c {\"_id\": \"d\"}\n",
            "PUT /v1/messages/c {\"channel\": \"fax\"}\n",
            "PUT /v1/messages/c not json\n",
            "PUT /v1/messages?x=1 {}\n",
            "PUT /v1/messages/b?x=1 {}\n",
            "DELETE /v1/messages/b?x=1\n",
            "PUT /v1/messages/c {\"channel\": \"sms\", \"channel\": \"email\"}\n",
            "PUT /v1/messages/c {\"_id\": \"c\", \"_id\": \"d\"}\n",
            "POST /v1/messages {}\n",
            "/v1/messages\n",
        );
        let mut output = Vec::new();
        run_writable_transcript(&engine, input.as_bytes(), &mut output, TranscriptOptions::default()).unwrap();
        let lines: Vec<serde_json::Value> =
            String::from_utf8(output).unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect();
        let statuses: Vec<u64> = lines.iter().map(|line| line["status"].as_u64().unwrap()).collect();
        assert_eq!(statuses, [201, 200, 200, 204, 404, 400, 400, 400, 400, 400, 400, 400, 400, 405, 200]);
        assert_eq!(lines[0]["body"]["channel"], "sms");
        assert_eq!(lines[1]["body"]["channel"], "email");
        assert_eq!(lines[2]["body"]["items"][0]["_id"], "b");
        assert!(lines[3]["body"].is_null());
        assert!(lines[5]["body"]["hint"].as_str().unwrap().contains("differs"));
        assert!(lines[6]["body"]["hint"].as_str().unwrap().contains("channel"));
        for (line, words) in [
            (8, "no query string"),
            (9, "no query string"),
            (10, "no query string"),
            (11, "more than once"),
            (12, "more than once"),
        ] {
            let hint = lines[line]["body"]["hint"].as_str().unwrap();
            assert!(hint.contains(words), "line {line}: {hint}");
        }
        assert_eq!(lines[14]["body"]["item_count"], 1, "only b is left: the refused writes changed nothing");
        // A read-only engine refuses writes.
        let read_only = ReferenceEngine::new(vec![Message::with_id("a")]);
        assert_eq!(answer_line(&read_only, None, "DELETE /v1/messages/a").status, 405);
        assert_eq!(answer_line(&read_only, None, "GET /v1/messages/a").status, 200);
        // A line whose first word is no method is a request target, as before.
        assert_eq!(answer_line(&read_only, None, "v1/messages x").status, 404);
        assert_eq!(answer_line(&read_only, None, "Get /v1/messages").status, 404);
    }

    fn replay_lines(engine: &dyn Writable, input: &[u8], options: TranscriptOptions) -> Vec<serde_json::Value> {
        let mut output = Vec::new();
        run_writable_transcript(engine, input, &mut output, options).unwrap();
        String::from_utf8(output).unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect()
    }

    #[test]
    fn a_line_past_the_limit_gets_a_400_and_the_next_lines_are_answered() {
        let engine = LiveReference::new(ReferenceEngine::new(vec![Message::with_id("a")]));
        let long_put = format!("PUT /v1/messages/b {{\"content\": \"{}\"}}\n", "x".repeat(5000));
        let input = format!("/v1/messages/a\n{long_put}/v1/messages/b\n{}\n/v1/messages/a", "y".repeat(3000));
        let options = TranscriptOptions { max_line_bytes: 1000, ..TranscriptOptions::default() };
        // A reader that hands out small pieces, so the long lines span many buffers.
        let reader = io::BufReader::with_capacity(64, input.as_bytes());
        let mut output = Vec::new();
        run_writable_transcript(&engine, reader, &mut output, options).unwrap();
        let lines: Vec<serde_json::Value> =
            String::from_utf8(output).unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect();
        let statuses: Vec<u64> = lines.iter().map(|line| line["status"].as_u64().unwrap()).collect();
        assert_eq!(statuses, [200, 400, 404, 400, 200], "the long PUT was not applied");
        let hint = lines[1]["body"]["hint"].as_str().unwrap();
        assert!(hint.contains(&format!("{} bytes", long_put.len() - 1)) && hint.contains("at most 1000"), "{hint}");
        // At the limit exactly, a line is answered.
        let exact = format!("/v1/messages/a{}", " ".repeat(1000 - "/v1/messages/a".len()));
        assert_eq!(replay_lines(&engine, exact.as_bytes(), options)[0]["status"], 404);
    }

    #[test]
    fn a_write_that_is_not_utf8_is_refused_and_a_read_is_answered() {
        let engine = LiveReference::new(ReferenceEngine::new(vec![Message::with_id("a")]));
        let mut input = b"PUT /v1/messages/b {\"content\": \"caf\xe9\"}\n".to_vec();
        input.extend_from_slice(b"/v1/messages?filters-q=caf\xe9\n/v1/messages/b\n");
        let lines = replay_lines(&engine, &input, TranscriptOptions::default());
        let statuses: Vec<u64> = lines.iter().map(|line| line["status"].as_u64().unwrap()).collect();
        assert_eq!(statuses, [400, 200, 404], "nothing was stored, not even as U+FFFD");
        assert!(lines[0]["body"]["hint"].as_str().unwrap().contains("UTF-8"));
    }
}
