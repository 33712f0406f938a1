//! Fuzzes the two parsers with proptest: request targets and data files of
//! arbitrary bytes, and mutations of valid ones. Whatever the input, the
//! parsers return a value or an error — never a panic — and a failed load
//! reports where and what.

use msgdex::{load, Engine, FastEngine, ListQuery, QueryLimits, ReferenceEngine, Request};
use proptest::prelude::*;

const VALID_LINE: &str =
    r#"{"_id": "a", "channel": "sms", "tags": ["x"], "date_time": "2024-02-29 12:00:00", "correspondent": "Zoë"}"#;

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
            proptest::sample::select(msgdex::request::PARAMETERS.to_vec()),
            "[ -~\u{e4}\u{130}]{0,12}",
        ), 0..8)
    ) {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in &pairs {
            query.append_pair(name, value);
        }
        let query = query.finish();
        if let Err(errors) = ListQuery::parse(&query, &QueryLimits::default()) {
            prop_assert!(!errors.is_empty());
            for (parameter, messages) in &errors {
                prop_assert!(pairs.iter().any(|(name, _)| name == parameter), "{} was not sent", parameter);
                prop_assert!(messages.iter().all(|message| !message.is_empty()));
            }
        }
    }

    #[test]
    fn arbitrary_data_files_load_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        match load::load_reader(bytes.as_slice()) {
            Ok(messages) => {
                let engine = FastEngine::new(&messages);
                prop_assert!(engine.is_ok(), "loaded messages always build");
            }
            Err(error) => prop_assert!(!error.to_string().is_empty()),
        }
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
        match load::load_str(&text) {
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
