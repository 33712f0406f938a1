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
    let post = http(&server.address, "POST", target, &signed(KEY, SECRET, target, &nonce("p"), &time));
    assert_eq!(post.status, 405);
    assert!(post.headers.contains("allow: get"));
    let long_target = format!("/v1/messages?filters-q={}", "a".repeat(9000));
    assert_eq!(http(&server.address, "GET", &long_target, &[]).status, 414);
    let big_headers = vec![("X-Padding".to_owned(), "b".repeat(20_000))];
    assert_eq!(http(&server.address, "GET", target, &big_headers).status, 431);
    let address = server.address.clone();
    assert!(server.stop().success());
    let log_path = access_log_path(&address);
    let mut log = String::new();
    for _ in 0..100 {
        log = std::fs::read_to_string(&log_path).unwrap_or_default();
        if log.contains("stopped") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
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
