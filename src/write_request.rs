//! Write requests as the transcript and the HTTP server receive them (SPEC
//! §8): a PUT or a DELETE of one message, or a batch of writes, checked as
//! the loader checks a record, applied all or nothing, and answered with
//! the transcript's statuses and bodies.
//!
//! A batch is a JSON array of writes, each an object with exactly one of
//! two keys:
//!
//! ```text
//! [{"put": {"_id": "a", "channel": "sms", …}}, {"delete": "b"}]
//! ```
//!
//! `put` inserts or replaces the whole message (its `_id` is required);
//! `delete` removes one, and refuses the whole batch when it is absent. The
//! answer is 200 with `{"applied": [{"_id": "a", "result": "created"}, …]}`
//! in the batch's order (`created`, `replaced` or `deleted`).

use crate::json::quoted;
use crate::load::{parse_message_for_id, BodyError};
use crate::output::{hint_body, Response};
use crate::request::{QueryLimits, Request};
use crate::write::{Applied, Writable, Write, WriteProblem};

// What only batches (`POST /v1/messages`, served by the `server` feature) use.
#[cfg(any(feature = "server", test))]
use {
    crate::json::write_json_string,
    crate::load::{parse_message, RecordLocation},
    serde::Deserialize,
    serde_json::value::RawValue,
};

/// The most writes one batch may hold.
#[cfg(any(feature = "server", test))]
pub const MAX_BATCH_WRITES: usize = 10_000;

/// The method of a write to one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteMethod {
    /// Insert or replace the message (the body is the message).
    Put,
    /// Delete the message (no body).
    Delete,
}

/// Answers a PUT or a DELETE of `target` (`/v1/messages/<id>`, percent
/// encoded, no query string) with `body`: 201 created or 200 replaced with
/// the stored message; 204 with `null` when deleted; 400, 404 or 503 with a
/// hint when refused, having changed nothing.
pub fn answer_write(writes: &dyn Writable, method: WriteMethod, target: &str, body: &str) -> Response {
    if target.contains('?') {
        return refuse(
            400,
            &format!("A write goes to /v1/messages/<message_id> with no query string, not {}.", quoted(target)),
        );
    }
    let id = match Request::parse(target, &QueryLimits::default()) {
        Request::Retrieve(id) => id,
        _ => return refuse(404, &format!("Writes go to /v1/messages/<message_id>, not {}.", quoted(target))),
    };
    let write = match method {
        WriteMethod::Delete if !body.trim().is_empty() => {
            return refuse(400, "A DELETE has no body: DELETE /v1/messages/<message_id>.")
        }
        WriteMethod::Delete => Write::Delete(id),
        WriteMethod::Put => match message_for_put(&id, body) {
            Ok(message) => Write::Upsert(message),
            Err(problem) => return refuse(400, &problem),
        },
    };
    let stored = match &write {
        Write::Upsert(message) => Some(message.to_json()),
        _ => None,
    };
    match writes.apply(vec![write]) {
        Ok(applied) => {
            Response { status: applied_status(applied[0]), body: stored.unwrap_or_else(|| "null".to_owned()) }
        }
        Err(error) => refuse(refusal_status(&error.problem), &sentence(&error.to_string())),
    }
}

/// One write of a batch, as sent.
#[cfg(any(feature = "server", test))]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchEntry<'a> {
    #[serde(borrow)]
    put: Option<&'a RawValue>,
    delete: Option<String>,
}

/// Answers a batch (the JSON array the module docs describe) sent to
/// `target` (`/v1/messages`): 200 with what each write did, or a refusal
/// naming the first bad write, having applied none.
#[cfg(any(feature = "server", test))]
pub fn answer_batch(writes: &dyn Writable, target: &str, body: &str) -> Response {
    if target != "/v1/messages" {
        return refuse(404, &format!("Batches go to POST /v1/messages, not {}.", quoted(target)));
    }
    let batch = match parse_batch(body) {
        Ok(batch) => batch,
        Err(problem) => return refuse(400, &problem),
    };
    let ids: Vec<String> = batch.iter().map(|write| write.id().to_owned()).collect();
    match writes.apply(batch) {
        Ok(applied) => {
            let mut out = Vec::with_capacity(32 + ids.len() * 40);
            out.extend_from_slice(b"{\"applied\":[");
            for (position, (id, outcome)) in ids.iter().zip(applied).enumerate() {
                if position > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(b"{\"_id\":");
                write_json_string(&mut out, id);
                out.extend_from_slice(b",\"result\":\"");
                out.extend_from_slice(outcome_word(outcome).as_bytes());
                out.extend_from_slice(b"\"}");
            }
            out.extend_from_slice(b"]}");
            Response::ok(crate::json::into_string(out))
        }
        Err(error) => refuse(refusal_status(&error.problem), &sentence(&error.to_string())),
    }
}

/// The writes of a batch body, each message checked as the loader checks
/// a record, or what is wrong with the first bad one.
#[cfg(any(feature = "server", test))]
fn parse_batch(body: &str) -> Result<Vec<Write>, String> {
    const SHAPE: &str = "a batch is a JSON array of writes, each {\"put\": <message>} or {\"delete\": \"<_id>\"}";
    let entries: Vec<BatchEntry<'_>> =
        serde_json::from_str(body.trim()).map_err(|error| format!("The batch is not valid: {error}; {SHAPE}."))?;
    if entries.is_empty() || entries.len() > MAX_BATCH_WRITES {
        return Err(format!("The batch holds {} writes; a batch holds 1 to {MAX_BATCH_WRITES} writes.", entries.len()));
    }
    let count = entries.len();
    entries
        .into_iter()
        .enumerate()
        .map(|(position, entry)| {
            let place = || format!("Write {} of the batch of {count}", position + 1);
            match (entry.put, entry.delete) {
                (Some(message), None) => {
                    parse_message(message.get().as_bytes(), RecordLocation::Index(position as u64))
                        .map(Write::Upsert)
                        .map_err(|error| format!("{}: the message is invalid: {error}.", place()))
                }
                (None, Some(id)) => Ok(Write::Delete(id)),
                _ => Err(format!("{} must have exactly one of `put` and `delete`; {SHAPE}.", place())),
            }
        })
        .collect()
}

fn refuse(status: u16, hint: &str) -> Response {
    Response { status, body: hint_body(hint) }
}

/// What an accepted write did, as a batch's answer names it.
#[cfg(any(feature = "server", test))]
fn outcome_word(applied: Applied) -> &'static str {
    match applied {
        Applied::Created => "created",
        Applied::Replaced => "replaced",
        Applied::Deleted => "deleted",
    }
}

/// The status of an accepted write: 201 created, 200 replaced, 204 deleted
/// (the body is then `null`).
fn applied_status(applied: Applied) -> u16 {
    match applied {
        Applied::Created => 201,
        Applied::Replaced => 200,
        Applied::Deleted => 204,
    }
}

/// The status of a refused write: 404 for an unknown `_id`, 503 when a
/// durable store could not keep the write, 413 for a batch larger than its
/// change stream takes, 400 for every other refusal.
fn refusal_status(problem: &WriteProblem) -> u16 {
    match problem {
        WriteProblem::NotFound(_) => 404,
        WriteProblem::EmptyId | WriteProblem::AlreadyExists(_) | WriteProblem::TooManyMessages => 400,
        // The request was fine; the store could not keep it.
        WriteProblem::Storage(_) => 503,
        WriteProblem::TooLarge { .. } => 413,
    }
}

/// The message of a PUT: its JSON body, checked as the loader checks a
/// record, whose `_id` is the path's (filled in when absent, refused when
/// different).
fn message_for_put(id: &str, body: &str) -> Result<crate::model::Message, String> {
    let body = body.trim();
    if body.is_empty() {
        return Err("A PUT needs a JSON message as its body: PUT /v1/messages/<message_id> {…}.".into());
    }
    parse_message_for_id(body.as_bytes(), id).map_err(|error| match error {
        BodyError::IdDiffers(given) => format!(
            "The body's `_id` ({given}) differs from the Id in the path ({}); they must be the same.",
            quoted(id)
        ),
        BodyError::Invalid(error) => format!("The message is invalid: {error}."),
    })
}

/// `text` with a capital first letter and a full stop: a hint's sentence.
fn sentence(text: &str) -> String {
    let mut characters = text.chars();
    characters.next().map_or_else(String::new, |first| first.to_uppercase().chain(characters).chain(['.']).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Message;
    use crate::reference::{LiveReference, ReferenceEngine};
    use crate::Engine;

    fn store() -> LiveReference {
        LiveReference::new(ReferenceEngine::new(vec![Message::with_id("a"), Message::with_id("b")]))
    }

    fn hint(response: &Response) -> String {
        serde_json::from_str::<serde_json::Value>(&response.body).unwrap()["hint"].as_str().unwrap().to_owned()
    }

    #[test]
    fn a_batch_applies_in_order_and_answers_what_each_write_did() {
        let store = store();
        let body = r#"[{"put": {"_id": "c", "channel": "sms"}}, {"put": {"_id": "a"}}, {"delete": "b"},
                      {"put": {"_id": "b", "tags": ["x"]}}]"#;
        let response = answer_batch(&store, "/v1/messages", body);
        assert_eq!(response.status, 200, "{}", response.body);
        assert_eq!(
            response.body,
            r#"{"applied":[{"_id":"c","result":"created"},{"_id":"a","result":"replaced"},{"_id":"b","result":"deleted"},{"_id":"b","result":"created"}]}"#
        );
        assert_eq!(store.message_count(), 3);
        assert!(store.respond("/v1/messages/b").body.contains("\"tags\":[\"x\"]"));
    }

    #[test]
    fn a_bad_batch_is_refused_whole_with_the_first_bad_write_named() {
        let store = store();
        let before = store.respond("/v1/messages?attributes=tags&per_page=100").body;
        let cases: [(&str, u16, &[&str]); 8] = [
            (r#"[{"put": {"_id": "c"}}, {"delete": "zz"}]"#, 404, &["Write 2 of the batch of 2", "\"zz\""]),
            (r#"[{"put": {"_id": "c"}}, {"put": {"_id": "d", "channel": "fax"}}]"#, 400, &["Write 2", "channel"]),
            (r#"[{"put": {"channel": "sms"}}]"#, 400, &["Write 1", "`_id` is required"]),
            (r#"[{"put": {"_id": "c"}, "delete": "a"}]"#, 400, &["exactly one of `put` and `delete`"]),
            (r#"[{"upsert": {"_id": "c"}}]"#, 400, &["unknown field `upsert`"]),
            (r#"[]"#, 400, &["holds 0 writes", "1 to 10000"]),
            (r#"{"put": {"_id": "c"}}"#, 400, &["JSON array"]),
            (r#"[{"put": {"_id": "c", "channel": "sms", "channel": "email"}}]"#, 400, &["Write 1", "channel"]),
        ];
        for (body, status, words) in cases {
            let response = answer_batch(&store, "/v1/messages", body);
            assert_eq!(response.status, status, "{body}: {}", response.body);
            let hint = hint(&response);
            for word in words {
                assert!(hint.contains(word), "{body}: {hint}");
            }
        }
        let too_many = format!("[{}]", vec![r#"{"delete": "a"}"#; MAX_BATCH_WRITES + 1].join(","));
        assert!(hint(&answer_batch(&store, "/v1/messages", &too_many)).contains("10001 writes"));
        assert_eq!(store.respond("/v1/messages?attributes=tags&per_page=100").body, before, "nothing was applied");
    }

    #[test]
    fn single_writes_answer_with_their_statuses() {
        let store = store();
        let put = answer_write(&store, WriteMethod::Put, "/v1/messages/c", r#"{"channel": "sms"}"#);
        assert_eq!((put.status, put.body.contains("\"_id\":\"c\"")), (201, true));
        assert_eq!(answer_write(&store, WriteMethod::Put, "/v1/messages/c", "{}").status, 200);
        assert_eq!(answer_write(&store, WriteMethod::Delete, "/v1/messages/c", "").status, 204);
        let again = answer_write(&store, WriteMethod::Delete, "/v1/messages/c", "");
        assert_eq!(again.status, 404);
        assert!(hint(&again).ends_with("nothing was deleted."), "{}", again.body);
        assert_eq!(answer_write(&store, WriteMethod::Delete, "/v1/messages/a", "{}").status, 400);
        assert_eq!(answer_write(&store, WriteMethod::Put, "/v1/messages?x=1", "{}").status, 400);
        assert_eq!(answer_write(&store, WriteMethod::Put, "/v1/elsewhere", "{}").status, 404);
    }

    #[test]
    fn write_outcomes_have_their_http_statuses() {
        assert_eq!([Applied::Created, Applied::Replaced, Applied::Deleted].map(applied_status), [201, 200, 204]);
        let refusals =
            [WriteProblem::NotFound("a".into()), WriteProblem::AlreadyExists("a".into()), WriteProblem::EmptyId];
        assert_eq!(refusals.each_ref().map(refusal_status), [404, 400, 400]);
        assert_eq!(refusal_status(&WriteProblem::TooManyMessages), 400);
        assert_eq!(refusal_status(&WriteProblem::Storage("disk full".into())), 503);
        assert_eq!(refusal_status(&WriteProblem::TooLarge { bytes: 2, limit: 1 }), 413);
    }
}
