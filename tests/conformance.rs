//! Replays the independent conformance sample (copied from
//! `shared/conformance/` into `tests/conformance/`) through every engine and
//! compares each response as its README says: 200 bodies equal as JSON with
//! keys in the same order; 400 with the same `arg_errors` keys, each a
//! non-empty list of strings, and a `hint`; 404 with a `hint`.

use std::path::Path;

use msgdex::{ContentStorage, Engine};

mod common;

fn replay(engine: &dyn Engine, requests: &str, expected: &str) {
    let requests: Vec<&str> = requests.lines().collect();
    let expected: Vec<&str> = expected.lines().collect();
    assert_eq!(requests.len(), expected.len(), "one expected line per request");
    let mut failures = Vec::new();
    for (number, (request, expected)) in requests.iter().zip(&expected).enumerate() {
        let actual = engine.respond(request).to_transcript_line();
        if let Err(why) = common::same_response(&actual, expected) {
            failures.push(format!("request {} `{request}`: {why}", number + 1));
        }
    }
    assert!(failures.is_empty(), "{} of {} responses differ:\n{}", failures.len(), requests.len(), failures.join("\n"));
}

fn sample(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
}

fn engines(data: &str) -> Vec<(&'static str, Box<dyn Engine>)> {
    let messages = msgdex::load_str(&sample(data)).expect("the conformance data loads");
    let mut engines = common::all_engines(messages.clone());
    engines.push(("imported", Box::new(common::imported(&messages, msgdex::StoreOptions::default()))));
    let plain = common::imported_storing(&messages, ContentStorage::Plain, msgdex::StoreOptions::default());
    engines.push(("imported, content plain", Box::new(plain)));
    for (storage, name) in ContentStorage::ALL.into_iter().zip(["written and reopened", "written and reopened, plain"])
    {
        engines.push((name, Box::new(common::written_and_reopened(&messages, storage))));
    }
    engines
}

#[test]
fn realistic_sample_matches() {
    for (name, engine) in engines("messages.jsonl") {
        eprintln!("engine {name}");
        replay(engine.as_ref(), &sample("requests.txt"), &sample("expected.txt"));
    }
}

#[test]
fn edge_sample_matches() {
    for (name, engine) in engines("edge.jsonl") {
        eprintln!("engine {name}");
        replay(engine.as_ref(), &sample("edge-requests.txt"), &sample("edge-expected.txt"));
    }
}

#[test]
fn comparison_detects_differences() {
    let expected = r#"{"status":200,"body":{"a":1,"b":[1,2]}}"#;
    assert!(common::same_response(r#"{"status":200,"body":{"a":1,"b":[1,2]}}"#, expected).is_ok());
    assert!(common::same_response(r#"{"status":200,"body":{"b":[1,2],"a":1}}"#, expected).is_err());
    assert!(common::same_response(r#"{"status":200,"body":{"a":1,"b":[2,1]}}"#, expected).is_err());
    let bad = r#"{"status":400,"body":{"hint":"x","arg_errors":{"page":["no"]}}}"#;
    assert!(common::same_response(r#"{"status":400,"body":{"hint":"y","arg_errors":{"page":["other words"]}}}"#, bad)
        .is_ok());
    assert!(
        common::same_response(r#"{"status":400,"body":{"hint":"y","arg_errors":{"per_page":["no"]}}}"#, bad).is_err()
    );
    assert!(common::same_response(r#"{"status":400,"body":{"hint":"y","arg_errors":{"page":[]}}}"#, bad).is_err());
    assert!(common::same_response(r#"{"status":404,"body":{"hint":"gone"}}"#, r#"{"status":404,"body":{"hint":"x"}}"#)
        .is_ok());
    assert!(common::same_response(r#"{"status":404,"body":{}}"#, r#"{"status":404,"body":{"hint":"x"}}"#).is_err());
}
