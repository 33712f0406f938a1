//! `msgdex serve` end to end (cargo feature `server`): every rejection path
//! over real HTTP, and the official CareHQ Python client against it.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use msgdex::{Engine, FastEngine};

mod server_support;
use server_support::*;

#[test]
fn signed_requests_get_the_engines_answers() {
    let server = Server::start(&[]);
    let engine = FastEngine::load_path(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/messages.jsonl")).unwrap();
    for target in [
        "/v1/messages?filters-channel=sms&sort_by=-date_time&attributes=correspondent",
        "/v1/messages?filters-q=zo%C3%AB&per_page=2&page=2",
        "/v1/messages/6724fbcb4f73a2cebf638860",
        "/v1/messages/%C3%84-pr%C3%A4fix-10",
        "/v1/messages?per_page=101&colour=red",
        "/v1/messages/no-such-id",
        "/v2/messages",
    ] {
        let answer = http(&server.address, "GET", target, &signed(KEY, SECRET, target, &nonce("ok"), &now()));
        let expected = engine.respond(target);
        assert_eq!(answer.status, expected.status, "{target}: {}", answer.body);
        assert_eq!(answer.body, expected.body, "{target}");
        assert!(answer.headers.contains("content-type: application/json"), "{}", answer.headers);
        assert!(answer.headers.contains("x-carehq-ratelimit-limit: 100"), "{}", answer.headers);
        assert!(answer.headers.contains("x-carehq-ratelimit-remaining:"));
        assert!(answer.headers.contains("x-carehq-ratelimit-reset:"));
    }
    assert!(server.stop().success(), "SIGTERM stops the server cleanly");
}

#[test]
fn every_rejection_has_its_status_and_a_hint() {
    let server = Server::start(&[]);
    let target = "/v1/messages?page=1";
    let time = now();
    let hint_of = |answer: &Answer| -> String {
        let body: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
        body["hint"].as_str().unwrap_or_else(|| panic!("no hint in {}", answer.body)).to_owned()
    };
    // Missing headers, one at a time.
    for missing in 0..6 {
        let mut headers = signed(KEY, SECRET, target, &nonce("missing"), &time);
        let (name, _) = headers.remove(missing);
        let answer = http(&server.address, "GET", target, &headers);
        assert_eq!(answer.status, 401, "without {name}");
        assert!(hint_of(&answer).contains(&name), "the hint names {name}: {}", answer.body);
    }
    let unknown = http(&server.address, "GET", target, &signed("key-9", "secret-9", target, &nonce("u"), &time));
    assert_eq!((unknown.status, hint_of(&unknown).contains("not valid")), (401, true));
    let wrong = http(&server.address, "GET", target, &signed(KEY, "wrong", target, &nonce("w"), &time));
    assert_eq!((wrong.status, hint_of(&wrong).contains("signature")), (401, true));
    let tampered_headers = signed(KEY, SECRET, target, &nonce("t"), &time);
    let tampered = http(&server.address, "GET", "/v1/messages?page=2", &tampered_headers);
    assert_eq!(tampered.status, 401, "a signature covers the parameters");
    let old = (SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() - 301).to_string();
    let stale = http(&server.address, "GET", target, &signed(KEY, SECRET, target, &nonce("o"), &old));
    assert_eq!((stale.status, hint_of(&stale).contains("timestamp")), (401, true));
    let reused = signed(KEY, SECRET, target, "nonce-used-twice", &time);
    assert_eq!(http(&server.address, "GET", target, &reused).status, 200);
    let replay = http(&server.address, "GET", target, &reused);
    assert_eq!((replay.status, hint_of(&replay).contains("nonce")), (401, true));
    let other = http(&server.address, "GET", target, &signed("key-2", "secret-2", target, &nonce("x"), &time));
    assert_eq!(other.status, 403, "a key of another account: {}", other.body);
    assert_eq!(unknown.body, wrong.body, "an unknown key and a bad signature cannot be told apart");
    for refused in [&unknown, &wrong, &stale, &replay, &other] {
        assert!(
            !refused.headers.contains("x-carehq-ratelimit-remaining:"),
            "a refusal does not show the claimed key's quota: {}",
            refused.headers
        );
    }
    let patch = http(&server.address, "PATCH", target, &signed(KEY, SECRET, target, &nonce("p"), &time));
    assert_eq!(patch.status, 405);
    assert!(patch.headers.contains("allow: get, put, delete, post"));
    let long_target = format!("/v1/messages?filters-q={}", "a".repeat(9000));
    assert_eq!(http(&server.address, "GET", &long_target, &[]).status, 414);
    let big_headers = vec![("X-Padding".to_owned(), "b".repeat(20_000))];
    assert_eq!(http(&server.address, "GET", target, &big_headers).status, 431);
    let (status, log) = server.stop_with_stderr();
    assert!(status.success());
    assert!(log.contains("stopped"), "the server said it stopped: {log}");
    assert!(log.contains("GET /v1/messages 401"), "the access log has a line per request: {log}");
    assert!(!log.contains(SECRET) && !log.contains("x-carehq"), "the access log never holds a secret or a header");
}

#[test]
fn the_rate_limit_answers_429_with_its_headers() {
    let server = Server::start(&["--rate-limit", "3"]);
    let target = "/v1/messages";
    let mut statuses = Vec::new();
    for attempt in 0..20 {
        let answer =
            http(&server.address, "GET", target, &signed(KEY, SECRET, target, &nonce(&format!("r{attempt}")), &now()));
        assert!(answer.headers.contains("x-carehq-ratelimit-limit: 3"));
        statuses.push(answer.status);
        if answer.status == 429 {
            assert!(answer.headers.contains("x-carehq-ratelimit-remaining: 0"), "{}", answer.headers);
            assert!(answer.body.contains("hint"));
            break;
        }
    }
    assert_eq!(statuses.last(), Some(&429), "20 requests in well under a second exceed 3 per second: {statuses:?}");
}

#[test]
fn no_auth_is_refused_off_loopback_and_keys_are_required() {
    let refused = Command::new(env!("CARGO_BIN_EXE_msgdex"))
        .current_dir(ROOT)
        .args(["serve", "--data", DATA, "--bind", "0.0.0.0:0", "--no-auth"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("loopback"));
    let keyless = Command::new(env!("CARGO_BIN_EXE_msgdex"))
        .current_dir(ROOT)
        .env_remove("MSGDEX_KEYS_FILE")
        .env_remove("MSGDEX_ACCOUNT_ID")
        .env_remove("MSGDEX_API_KEY")
        .env_remove("MSGDEX_API_SECRET")
        .args(["serve", "--data", DATA, "--bind", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(keyless.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&keyless.stderr).contains("no API keys"));
}

/// A Python with the official client from PyPI, in a virtual environment
/// made once under the target directory (`CARGO_TARGET_DIR` when set).
/// Python 3 and access to PyPI are needed; when either is missing the
/// failure says which.
fn python_with_carehq() -> std::path::PathBuf {
    // The tests that use it run at once: one makes the environment.
    static MAKING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _making = MAKING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let venv = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("carehq-venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .output()
            .expect("python3 is needed to run the official CareHQ client");
        assert!(made.status.success(), "python3 -m venv failed: {}", String::from_utf8_lossy(&made.stderr));
    }
    // Asked without importing, so that a missing package prints no traceback.
    let check = "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('carehq') else 1)";
    let installed = Command::new(&python).args(["-c", check]).status().unwrap().success();
    if !installed {
        let pip = Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "carehq==0.1.3"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&pip.stderr);
        let unreachable = [
            "Could not find a version",
            "NewConnectionError",
            "Temporary failure in name resolution",
            "Network is unreachable",
            "ConnectTimeout",
            "No matching distribution",
        ]
        .iter()
        .any(|sign| stderr.contains(sign));
        assert!(
            pip.status.success(),
            "{}\n{stderr}",
            if unreachable {
                "PyPI cannot be reached: this test installs the official client, carehq==0.1.3, from PyPI"
            } else {
                "pip install carehq==0.1.3 failed"
            }
        );
    }
    python
}

#[test]
fn the_official_python_client_works() {
    let python = python_with_carehq();
    let server = Server::start(&["--rate-limit", "1000"]);
    let output = Command::new(&python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/carehq_client.py"))
        .current_dir(ROOT)
        .env("MSGDEX_URL", format!("http://{}", server.address))
        .env("MSGDEX_BIN", env!("CARGO_BIN_EXE_msgdex"))
        .env("MSGDEX_DATA", DATA)
        .env("MSGDEX_ACCOUNT_ID", ACCOUNT)
        .env("MSGDEX_API_KEY", KEY)
        .env("MSGDEX_API_SECRET", SECRET)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{report}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(report.contains(" passed, 0 failed"), "{report}");
}

fn run_python_writes(created_as_ok: bool) {
    let python = python_with_carehq();
    let mut arguments = vec!["--rate-limit", "1000"];
    if created_as_ok {
        arguments.push("--created-as-ok");
    }
    let server = Server::start(&arguments);
    let output = Command::new(&python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/carehq_writes.py"))
        .current_dir(ROOT)
        .env("MSGDEX_URL", format!("http://{}", server.address))
        .env("MSGDEX_ACCOUNT_ID", ACCOUNT)
        .env("MSGDEX_API_KEY", KEY)
        .env("MSGDEX_API_SECRET", SECRET)
        .env("MSGDEX_WRITE_KEY", WRITE_KEY)
        .env("MSGDEX_WRITE_SECRET", WRITE_SECRET)
        .env("MSGDEX_CREATED", if created_as_ok { "200" } else { "201" })
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{report}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(report.contains(" passed, 0 failed"), "{report}");
}

#[test]
fn the_official_python_client_writes_replaces_and_deletes() {
    run_python_writes(true);
    run_python_writes(false);
}

#[test]
fn raw_json_writes_are_signed_by_their_hash_and_bounded() {
    let server = Server::start(&["--max-body-bytes", "2000"]);
    let address = &server.address;
    let json_write = |key: &str, secret: &str, method: &str, target: &str, body: &str, signed_body: &str| {
        let parameters = [("sha256".to_owned(), msgdex::server::sha256_hex(signed_body.as_bytes()))];
        let mut headers = signed_write(key, secret, method, target, &parameters);
        headers.push(("Content-Type".into(), "application/json".into()));
        http_with_body(address, method, target, &headers, body)
    };
    let message = r#"{"channel": "sms", "content": "raw"}"#;
    let created = json_write(WRITE_KEY, WRITE_SECRET, "PUT", "/v1/messages/raw-1", message, message);
    assert_eq!(created.status, 201, "{}", created.body);
    assert!(created.body.contains("\"content\":\"raw\""));
    let read = http(address, "GET", "/v1/messages/raw-1", &ours("/v1/messages/raw-1"));
    assert_eq!(read.status, 200, "the write is visible to the next read");
    // A body other than the one signed.
    let tampered = json_write(WRITE_KEY, WRITE_SECRET, "PUT", "/v1/messages/raw-1", r#"{"channel":"email"}"#, message);
    assert_eq!(tampered.status, 401, "{}", tampered.body);
    // The read-only key.
    let forbidden = json_write(KEY, SECRET, "PUT", "/v1/messages/raw-2", message, message);
    assert_eq!(forbidden.status, 403, "{}", forbidden.body);
    assert!(forbidden.hint().contains("scopes"), "{}", forbidden.body);
    // Past the body limit, declared or not.
    let large = format!(r#"{{"content": "{}"}}"#, "x".repeat(2100));
    let too_large = json_write(WRITE_KEY, WRITE_SECRET, "PUT", "/v1/messages/raw-3", &large, &large);
    assert_eq!(too_large.status, 413, "{}", too_large.body);
    let mut chunked = signed_write(WRITE_KEY, WRITE_SECRET, "PUT", "/v1/messages/raw-3", &[]);
    chunked.push(("Content-Type".into(), "application/json".into()));
    chunked.push(("Transfer-Encoding".into(), "chunked".into()));
    let mut request = request_text(address, "PUT", "/v1/messages/raw-3", &chunked);
    request.push_str(&format!("{:x}\r\n{large}\r\n0\r\n\r\n", large.len()));
    let answer = http_raw(address, &request);
    assert_eq!(answer.status, 413, "{}", answer.body);
    // A type that is neither a form nor JSON, and a form with another field.
    let mut text = signed_write(WRITE_KEY, WRITE_SECRET, "PUT", "/v1/messages/raw-4", &[]);
    text.push(("Content-Type".into(), "text/plain".into()));
    assert_eq!(http_with_body(address, "PUT", "/v1/messages/raw-4", &text, message).status, 415);
    let fields = [("body".to_owned(), message.to_owned())];
    let mut form = signed_write(WRITE_KEY, WRITE_SECRET, "PUT", "/v1/messages/raw-4", &fields);
    form.push(("Content-Type".into(), "application/x-www-form-urlencoded".into()));
    let encoded: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(&fields).finish();
    let wrong_field = http_with_body(address, "PUT", "/v1/messages/raw-4", &form, &encoded);
    assert_eq!(wrong_field.status, 400, "{}", wrong_field.body);
    assert!(wrong_field.hint().contains("`message`"), "{}", wrong_field.body);
    let absent = http(address, "GET", "/v1/messages/raw-4", &ours("/v1/messages/raw-4"));
    assert_eq!(absent.status, 404, "no refused write changed anything");
    // Another method, and a batch to a message's path.
    let patch = http(address, "PATCH", "/v1/messages/raw-1", &ours("/v1/messages/raw-1"));
    assert_eq!(patch.status, 405);
    assert!(patch.headers.contains("allow: get, put, delete, post"), "{}", patch.headers);
    let batch = "[{\"delete\": \"raw-1\"}]";
    let misplaced = json_write(WRITE_KEY, WRITE_SECRET, "POST", "/v1/messages/raw-1", batch, batch);
    assert_eq!(misplaced.status, 404, "{}", misplaced.body);
    let applied = json_write(WRITE_KEY, WRITE_SECRET, "POST", "/v1/messages", batch, batch);
    assert_eq!((applied.status, applied.body.as_str()), (200, r#"{"applied":[{"_id":"raw-1","result":"deleted"}]}"#));
}

#[test]
fn health_is_open_and_metrics_only_when_asked() {
    let server = Server::start(&["--metrics"]);
    let health = http(&server.address, "GET", "/healthz", &[]);
    assert_eq!((health.status, health.body.as_str()), (200, r#"{"ready":true}"#));
    let listed = http(&server.address, "GET", "/v1/messages", &ours("/v1/messages"));
    assert_eq!(listed.status, 200);
    let refused = http(&server.address, "GET", "/v1/messages", &[]);
    assert_eq!(refused.status, 401);
    // The connections of the requests before close on the server's side a
    // moment after the client's: asked again until only this one is open.
    let mut metrics = http(&server.address, "GET", "/metrics", &[]);
    for _ in 0..100 {
        if metrics.body.lines().any(|line| line == "msgdex_open_connections 1") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        metrics = http(&server.address, "GET", "/metrics", &[]);
    }
    assert_eq!(metrics.status, 200);
    assert!(metrics.headers.contains("content-type: text/plain; version=0.0.4"), "{}", metrics.headers);
    for line in [
        "msgdex_requests_total{route=\"list\",status=\"200\"} 1",
        "msgdex_requests_total{route=\"list\",status=\"401\"} 1",
        "msgdex_requests_total{route=\"healthz\",status=\"200\"} 1",
        "msgdex_messages 60",
        "msgdex_open_connections 1",
        "msgdex_snapshot_sequence 0",
        "msgdex_snapshot_version 0",
    ] {
        assert!(metrics.body.lines().any(|candidate| candidate == line), "{line} missing:\n{}", metrics.body);
    }
    let quiet = Server::start(&[]);
    let hidden = http(&quiet.address, "GET", "/metrics", &[]);
    assert_ne!(hidden.status, 200, "without --metrics the metrics are not served");
}

/// A server stopped while it changes how a data directory keeps `content`
/// (a background checkpoint it started when it opened the directory)
/// finishes that checkpoint before it exits, so the directory is left
/// converted rather than to be converted again.
#[test]
fn a_server_stopped_during_a_checkpoint_finishes_it() {
    let directory = tempfile::tempdir().unwrap();
    let data = directory.path().join("generated.jsonl");
    let store = directory.path().join("store");
    let run = |arguments: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_msgdex")).args(arguments).output().unwrap();
        assert!(output.status.success(), "{arguments:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    // Enough messages that converting them takes longer than starting and
    // stopping the server.
    run(&["gen", "--count", "30000", "--out", data.to_str().unwrap()]);
    run(&["import", "--data", data.to_str().unwrap(), "--into", store.to_str().unwrap()]);
    assert!(run(&["check", store.to_str().unwrap()]).contains("(`content` packed)"));
    let server = Server::start_serving(store.to_str().unwrap(), &["--no-auth", "--content", "plain"], Stderr::Drained);
    assert!(server.stop().success(), "SIGTERM stops the server cleanly");
    let checked = run(&["check", store.to_str().unwrap()]);
    assert!(checked.contains("(`content` plain)"), "the conversion was finished before the exit: {checked}");
}
