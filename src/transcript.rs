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
use crate::output::{hint_body, Response};
use crate::request::{QueryLimits, Request};
use crate::write::{message_from_json, Writable, Write};

/// Answers every request line of `input` with one response line on
/// `output`, in order, and flushes at the end. Write lines are refused
/// (405): this engine is read-only.
///
/// A trailing `\r` is ignored; a line that is empty or only spaces and tabs
/// gets no response; bytes that are not UTF-8 become U+FFFD. A bad request
/// is a 400 or 404 line, never an error: only I/O fails this function.
pub fn run_transcript(engine: &dyn Engine, input: impl BufRead, output: impl std::io::Write) -> io::Result<u64> {
    replay(input, output, |line| answer_line(engine, None, line))
}

/// Answers every line of `input`, reads and writes alike, in order: the
/// replay of a day of mixed traffic against a live store.
pub fn run_writable_transcript(
    engine: &dyn Writable,
    input: impl BufRead,
    output: impl std::io::Write,
) -> io::Result<u64> {
    replay(input, output, |line| answer_line(engine, Some(engine), line))
}

fn replay(
    input: impl BufRead,
    output: impl std::io::Write,
    mut answer: impl FnMut(&str) -> Response,
) -> io::Result<u64> {
    let mut output = io::BufWriter::with_capacity(1 << 16, output);
    let mut answered = 0;
    for line in input.split(b'\n') {
        let line = line?;
        let Some(target) = request_target(&line) else {
            continue;
        };
        let response = answer(&String::from_utf8_lossy(target));
        output.write_all(response.to_transcript_line().as_bytes())?;
        output.write_all(b"\n")?;
        answered += 1;
    }
    output.flush()?;
    Ok(answered)
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
                    crate::output::quoted(other)
                ),
            )
        }
    }
    let Some(writes) = writes else {
        return refuse(405, "This store is read-only: it answers GET requests only.");
    };
    let id = match Request::parse(target, &QueryLimits::default()) {
        Request::Retrieve(id) => id,
        _ => {
            return refuse(
                404,
                &format!("Writes go to /v1/messages/<message_id>, not {}.", crate::output::quoted(target)),
            )
        }
    };
    let write = if method == "DELETE" {
        if !body.trim().is_empty() {
            return refuse(400, "A DELETE line has no body: DELETE /v1/messages/<message_id>.");
        }
        Write::Delete(id)
    } else {
        match message_for_put(&id, body) {
            Ok(message) => Write::Upsert(message),
            Err(problem) => return refuse(400, &problem),
        }
    };
    let stored = match &write {
        Write::Upsert(message) => Some(message.to_json()),
        _ => None,
    };
    match writes.apply(vec![write]) {
        Ok(applied) => Response { status: applied[0].status(), body: stored.unwrap_or_else(|| "null".to_owned()) },
        Err(error) => refuse(error.problem.status(), &format!("{}{}", capitalised(&error.to_string()), ".")),
    }
}

/// The message of a PUT line: its JSON body, whose `_id` is the path's
/// (filled in when absent, refused when different).
fn message_for_put(id: &str, body: &str) -> Result<crate::model::Message, String> {
    let mut value: serde_json::Value = serde_json::from_str(body.trim()).map_err(|error| {
        format!("A PUT line needs a JSON message after the target: PUT /v1/messages/<message_id> {{…}} ({error}).")
    })?;
    let Some(object) = value.as_object_mut() else {
        return Err("The body of a PUT line must be one JSON object (a message).".into());
    };
    match object.get("_id") {
        None => {
            object.insert("_id".into(), serde_json::Value::String(id.to_owned()));
        }
        Some(serde_json::Value::String(given)) if given == id => {}
        Some(given) => {
            return Err(format!(
                "The body's `_id` ({given}) differs from the Id in the path ({}); they must be the same.",
                crate::output::quoted(id)
            ))
        }
    }
    message_from_json(&value.to_string()).map_err(|problem| capitalised(&problem) + ".")
}

fn capitalised(text: &str) -> String {
    let mut characters = text.chars();
    characters.next().map_or_else(String::new, |first| first.to_uppercase().chain(characters).collect())
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
        let answered = run_transcript(&engine, &input[..], &mut output).unwrap();
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
            "POST /v1/messages {}\n",
            "/v1/messages\n",
        );
        let mut output = Vec::new();
        run_writable_transcript(&engine, input.as_bytes(), &mut output).unwrap();
        let lines: Vec<serde_json::Value> =
            String::from_utf8(output).unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect();
        let statuses: Vec<u64> = lines.iter().map(|line| line["status"].as_u64().unwrap()).collect();
        assert_eq!(statuses, [201, 200, 200, 204, 404, 400, 400, 400, 404, 405, 200]);
        assert_eq!(lines[0]["body"]["channel"], "sms");
        assert_eq!(lines[1]["body"]["channel"], "email");
        assert_eq!(lines[2]["body"]["items"][0]["_id"], "b");
        assert!(lines[3]["body"].is_null());
        assert!(lines[5]["body"]["hint"].as_str().unwrap().contains("differs"));
        assert!(lines[6]["body"]["hint"].as_str().unwrap().contains("channel"));
        assert_eq!(lines[10]["body"]["item_count"], 1, "only b is left: the refused writes changed nothing");
        // A read-only engine refuses writes.
        let read_only = ReferenceEngine::new(vec![Message::with_id("a")]);
        assert_eq!(answer_line(&read_only, None, "DELETE /v1/messages/a").status, 405);
        assert_eq!(answer_line(&read_only, None, "GET /v1/messages/a").status, 200);
        // A line whose first word is no method is a request target, as before.
        assert_eq!(answer_line(&read_only, None, "v1/messages x").status, 404);
        assert_eq!(answer_line(&read_only, None, "Get /v1/messages").status, 404);
    }
}
