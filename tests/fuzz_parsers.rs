//! Fuzzes the two parsers with proptest: request targets and data files of
//! arbitrary bytes, and mutations of valid ones. Whatever the input, the
//! parsers return a value or an error — never a panic — and a failed load
//! reports where and what. The two loaders (messages, and the fast path
//! straight into columns) must agree on every input: the same messages, or
//! the same error.

use msgdex::{Engine, FastEngine, ListQuery, QueryLimits, ReferenceEngine, Request};
use proptest::prelude::*;

const VALID_LINE: &str =
    r#"{"_id": "a", "channel": "sms", "tags": ["x"], "date_time": "2024-02-29 12:00:00", "correspondent": "Zoë"}"#;

/// Loads `bytes` both ways: into messages, and straight into a segment.
/// Both fail with the same error, or both give the same messages.
fn both_loaders_agree(bytes: &[u8]) -> Result<Option<Vec<msgdex::Message>>, TestCaseError> {
    let messages = msgdex::load_reader(bytes);
    let segment = msgdex::testing::load_segment(bytes, "input");
    match (messages, segment) {
        (Ok(messages), Ok(segment)) => {
            let engine = FastEngine::from_segment(segment);
            prop_assert_eq!(engine.message_count(), messages.len() as u64);
            for message in &messages {
                prop_assert_eq!(engine.retrieve_json(&message.id), Some(message.to_json()));
                prop_assert_eq!(engine.retrieve(&message.id), Some(message.clone()));
            }
            Ok(Some(messages))
        }
        (Err(expected), Err(actual)) => {
            prop_assert_eq!(actual.to_string(), expected.to_string());
            Ok(None)
        }
        (expected, actual) => {
            Err(TestCaseError::fail(format!("the loaders disagree: {:?} vs {:?}", expected.err(), actual.err())))
        }
    }
}

/// A record line: random fields with values of every shape (escapes,
/// spaces, non-ASCII, wrong kinds), keys sometimes repeated or unknown.
fn record_line() -> impl Strategy<Value = String> {
    let key = proptest::sample::select(vec![
        "_id",
        "_id",
        "_id",
        "channel",
        "tags",
        "created",
        "subject",
        "correspondent",
        "invoices",
        "delivery_status",
        "colour",
        "\\u005fid",
    ]);
    let value = proptest::sample::select(vec![
        r#""a""#,
        r#""b""#,
        r#""Zoë""#,
        r#""a\"b""#,
        r#""\u00e9\n""#,
        r#""\/x""#,
        r#""""#,
        "null",
        "1",
        "true",
        "{}",
        r#""sms""#,
        r#""fax""#,
        r#""2024-02-29 12:00:00""#,
        r#""2023-02-29 12:00:00""#,
        r#"["x","y"]"#,
        r#"[ "x" , "\t" ]"#,
        r#"["x", "y"]"#,
        r#"["x" ,"y"]"#,
        r#"["x"] "#,
        "[]",
        "[ ]",
        r#"["x",null]"#,
        r#""\ud83d\ude00""#,
        r#""\ud800""#,
    ]);
    let space = proptest::sample::select(vec!["", "", " ", "\t"]);
    proptest::collection::vec((key, value, space), 0..6).prop_map(|fields| {
        let body: Vec<String> =
            fields.iter().map(|(key, value, space)| format!("{space}\"{key}\"{space}:{space}{value}")).collect();
        format!("{{{}}}", body.join(","))
    })
}

/// Bytes that make parsers work: separators, escapes, digits, quotes.
fn target_bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![any::<u8>(), proptest::sample::select(b"?&=%+-_/vmesagpilrt0123456789ABCDEFabcdef".to_vec()),],
        0..120,
    )
}

proptest! {
    #[test]
    fn any_request_target_gets_an_answer(bytes in target_bytes()) {
        let target = String::from_utf8_lossy(&bytes);
        let limits = QueryLimits::default();
        let _ = Request::parse(&target, &limits);
        let _ = ListQuery::parse(&target, &limits);
        let engine = ReferenceEngine::new(Vec::new());
        let response = engine.respond(&target);
        prop_assert!([200, 400, 404].contains(&response.status));
        prop_assert!(serde_json::from_str::<serde_json::Value>(&response.body).is_ok());
    }

    #[test]
    fn list_queries_with_known_names_never_panic(
        pairs in proptest::collection::vec((
            proptest::sample::select(msgdex::PARAMETERS.to_vec()),
            "[ -~\u{e4}\u{130}]{0,12}",
        ), 0..8)
    ) {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in &pairs {
            query.append_pair(name, value);
        }
        let query = query.finish();
        if let Err(error) = ListQuery::parse(&query, &QueryLimits::default()) {
            prop_assert!(!error.arg_errors().is_empty());
            for (parameter, messages) in error.arg_errors() {
                prop_assert!(pairs.iter().any(|(name, _)| name == parameter), "{} was not sent", parameter);
                prop_assert!(messages.iter().all(|message| !message.is_empty()));
            }
        }
    }

    #[test]
    fn arbitrary_data_files_load_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        match both_loaders_agree(&bytes)? {
            Some(messages) => {
                let engine = FastEngine::new(&messages);
                prop_assert!(engine.is_ok(), "loaded messages always build");
            }
            None => prop_assert!(!msgdex::load_reader(bytes.as_slice()).unwrap_err().to_string().is_empty()),
        }
    }

    #[test]
    fn generated_records_load_the_same_both_ways(
        lines in proptest::collection::vec(record_line(), 0..12),
        ids in proptest::collection::vec(0u8..6, 12),
        crlf: bool,
        as_array: bool,
    ) {
        // Give most lines an `_id` of their own, some a repeated one.
        let lines: Vec<String> = lines
            .iter()
            .zip(&ids)
            .map(|(line, id)| match *id {
                0 => line.clone(),
                id => line.replacen('{', &format!("{{\"_id\":\"id{id}\","), 1).replacen(",}", "}", 1),
            })
            .collect();
        let text = match as_array {
            false => lines.join(if crlf { "\r\n" } else { "\n" }),
            true => format!("[{}]", lines.join(if crlf { ",\r\n" } else { "," })),
        };
        both_loaders_agree(text.as_bytes())?;
    }

    #[test]
    fn mutated_valid_lines_load_or_fail_with_a_location(
        position in 0usize..VALID_LINE.len(),
        replacement in proptest::sample::select(vec!["", "\"", "{", "}", "[", "]", ",", ":", "null", "1", "\\", "x", "\u{0}"]),
        copies in 1usize..4,
    ) {
        let mut line = VALID_LINE.to_owned();
        if line.is_char_boundary(position) {
            line.insert_str(position, replacement);
        }
        let text = std::iter::repeat_n(line.as_str(), copies).collect::<Vec<_>>().join("\n");
        both_loaders_agree(text.as_bytes())?;
        match msgdex::load_str(&text) {
            Ok(messages) => {
                let fast = FastEngine::new(&messages).unwrap();
                let reference = ReferenceEngine::new(messages);
                prop_assert_eq!(fast.respond("/v1/messages").body, reference.respond("/v1/messages").body);
            }
            Err(error) => {
                let message = error.to_string();
                let located = ["line ", "array index ", "invalid JSON"].iter().any(|start| message.starts_with(start));
                prop_assert!(located, "{}", message);
            }
        }
    }
}
