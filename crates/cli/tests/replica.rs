//! A replica follows an upstream `msgdex serve` through a proxy that
//! injects faults (429s, 500s, garbage bodies, stalls, cut connections)
//! while a driver writes to the upstream over HTTP and the sync is
//! SIGKILLed at random moments and restarted. When the driver stops, the
//! replica (now `msgdex serve --follow`) converges: its answers equal the
//! upstream's, byte for byte, on the conformance sample and the BENCH mix.
//! The writes include a tie of 250 messages in one `modified` second,
//! deletes (seen only by reconciliation) and messages whose `modified` is
//! null.
//!
//! `MSGDEX_REPLICA_KILLS=N` sets the number of kills (CI: 12).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use msgdex::Message;
use msgdex_bench::workload::Rng;

mod server_support;
use server_support::*;

const UPSTREAM_DATA: &str = "tests/conformance/messages.jsonl";

/// What the fault proxy did, by kind.
#[derive(Default)]
struct FaultCounts {
    passed: AtomicU64,
    faults: [AtomicU64; 5],
}

const FAULT_NAMES: [&str; 5] = ["429", "500", "garbage", "stall", "cut"];

/// A proxy in front of `upstream` that answers a fraction of the requests
/// with a fault instead, while `faulty` is set.
fn start_proxy(upstream: String, faulty: Arc<AtomicBool>, counts: Arc<FaultCounts>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut rng = Rng::new(7);
        for stream in listener.incoming() {
            let Ok(client) = stream else { continue };
            let roll = rng.below(100);
            let (upstream, faulty, counts) = (upstream.clone(), Arc::clone(&faulty), Arc::clone(&counts));
            std::thread::spawn(move || {
                let fault = if faulty.load(Ordering::Relaxed) && roll < 30 { Some((roll % 5) as usize) } else { None };
                let _ = proxy_one(client, &upstream, fault, &counts);
            });
        }
    });
    address
}

/// Reads one request head from the client (GET requests have no body).
fn read_head(client: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte)? == 0 || head.len() > 64 * 1024 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
    }
    Ok(head)
}

/// The upstream's whole answer to `head`, asked on a connection of its own
/// that closes after it.
fn forward(upstream: &str, head: &[u8]) -> std::io::Result<Vec<u8>> {
    let text = String::from_utf8_lossy(head);
    let without_connection: String = text
        .split("\r\n")
        .filter(|line| !line.to_ascii_lowercase().starts_with("connection:"))
        .collect::<Vec<_>>()
        .join("\r\n");
    let request = without_connection.replacen("\r\n", "\r\nConnection: close\r\n", 1);
    let mut server = TcpStream::connect(upstream)?;
    server.write_all(request.as_bytes())?;
    let mut answer = Vec::new();
    server.read_to_end(&mut answer)?;
    Ok(answer)
}

fn proxy_one(mut client: TcpStream, upstream: &str, fault: Option<usize>, counts: &FaultCounts) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(10)))?;
    let head = read_head(&mut client)?;
    let Some(kind) = fault else {
        counts.passed.fetch_add(1, Ordering::Relaxed);
        let answer = forward(upstream, &head)?;
        return client.write_all(&answer);
    };
    counts.faults[kind].fetch_add(1, Ordering::Relaxed);
    let reply = |status: &str, extra: &str, body: &str| {
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{body}",
            body.len()
        )
    };
    match kind {
        0 => {
            let reset = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64() + 0.2;
            let extra = format!("X-CareHQ-RateLimit-Limit: 10\r\nX-CareHQ-RateLimit-Remaining: 0\r\nX-CareHQ-RateLimit-Reset: {reset}\r\n");
            client.write_all(reply("429 Too Many Requests", &extra, r#"{"hint":"slow down"}"#).as_bytes())
        }
        1 => client.write_all(reply("500 Internal Server Error", "", r#"{"hint":"boom"}"#).as_bytes()),
        2 => {
            // A 200 whose body is the real answer's first half.
            let answer = forward(upstream, &head)?;
            let body_start =
                answer.windows(4).position(|window| window == b"\r\n\r\n").map_or(answer.len(), |at| at + 4);
            let half = &answer[body_start..body_start + (answer.len() - body_start) / 2];
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                half.len()
            );
            client.write_all(head.as_bytes())?;
            client.write_all(half)
        }
        3 => {
            // Longer than the follower's --upstream-timeout, then nothing.
            std::thread::sleep(Duration::from_millis(1500));
            Ok(())
        }
        _ => {
            // Half of the real answer, then the connection is cut.
            let answer = forward(upstream, &head)?;
            client.write_all(&answer[..answer.len() / 2])
        }
    }
}

/// The driver's writes to the upstream, over HTTP, signed by the writing
/// key: upserts of existing and new messages (modified now), deletes,
/// messages with a null `modified`, and one tie of 250 in one second.
fn drive(upstream: &str, messages: &[Message], until: Instant, written: &AtomicU64, deletes: bool) {
    let mut rng = Rng::new(11);
    let mut present: Vec<String> = messages.iter().map(|message| message.id.clone()).collect();
    let mut number = 0u64;
    let mut tie_done = false;
    let send = |method: &str, target: &str, body: &str| {
        let parameters = [("sha256".to_owned(), msgdex::server::sha256_hex(body.as_bytes()))];
        let parameters: &[(String, String)] = if body.is_empty() { &[] } else { &parameters };
        let path = percent_encoding::percent_decode_str(target).decode_utf8_lossy().into_owned();
        let mut headers = signed_write(WRITE_KEY, WRITE_SECRET, method, &path, parameters);
        if !body.is_empty() {
            headers.push(("Content-Type".into(), "application/json".into()));
        }
        let answer = http_with_body(upstream, method, target, &headers, body);
        assert!(answer.status < 300, "{method} {target}: {} {}", answer.status, answer.body);
    };
    while Instant::now() < until {
        number += 1;
        let roll = rng.below(100);
        if !tie_done && number > 50 {
            tie_done = true;
            let modified = now_modified();
            let writes: Vec<String> = (0..250)
                .map(|index| {
                    format!(r#"{{"put": {{"_id": "tie-{index:03}", "modified": "{modified}", "subject": "tie"}}}}"#)
                })
                .collect();
            send("POST", "/v1/messages", &format!("[{}]", writes.join(",")));
            written.fetch_add(250, Ordering::Relaxed);
            continue;
        }
        if roll < 15 && present.len() > 100 && deletes {
            let index = rng.below(present.len() as u64) as usize;
            let id = present.swap_remove(index);
            send("DELETE", &format!("/v1/messages/{id}"), "");
        } else if roll < 20 && deletes {
            let id = format!("null-{number}");
            send("PUT", &format!("/v1/messages/{id}"), r#"{"channel": "sms", "subject": "no modified"}"#);
            present.push(id);
        } else {
            let (id, base) = if roll < 60 {
                (format!("new-{number}"), rng.pick(messages).clone())
            } else {
                let id = rng.pick(&present).clone();
                (id, rng.pick(messages).clone())
            };
            let mut message = Message { id: id.clone(), ..base };
            message.subject = Some(format!("driven {number} Zoë"));
            message.modified = msgdex::DateTime::parse(&now_modified());
            let body = message.to_json();
            send(
                "PUT",
                &format!(
                    "/v1/messages/{}",
                    percent_encoding::utf8_percent_encode(&id, percent_encoding::NON_ALPHANUMERIC)
                ),
                &body,
            );
            if !present.contains(&id) {
                present.push(id);
            }
        }
        written.fetch_add(1, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn sync_process(proxy: &str, directory: &std::path::Path, keys: &std::path::Path, reconcile_every: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_msgdex"))
        .args(["sync", "--from", &format!("http://{proxy}"), "--into"])
        .arg(directory)
        .args(["--upstream-keys"])
        .arg(keys)
        .args(["--follow", "--interval", "0.1", "--reconcile-every", reconcile_every, "--settle", "1"])
        .args(["--upstream-timeout", "1"])
        .args(["--sync", "never"])
        .current_dir(ROOT)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The targets both servers answer: the conformance sample and the BENCH
/// mix drawn from the upstream's messages.
fn targets(messages: &[Message]) -> Vec<String> {
    let mut targets: Vec<String> = std::fs::read_to_string(format!("{ROOT}/tests/conformance/requests.txt"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    targets.extend(msgdex_bench::workload::mix::generate(messages, 3, 5).into_iter().map(|request| request.target));
    targets.push("/v1/messages?filters-ids=tie-000&filters-ids=tie-249&attributes=subject".into());
    targets.push("/v1/messages?per_page=100&sort_by=-modified&attributes=modified&attributes=subject".into());
    // Every message, by pages in `_id` order.
    targets.extend((1..=40).map(|page| {
        format!("/v1/messages?per_page=100&page={page}&attributes=modified&attributes=subject&attributes=content")
    }));
    targets
}

/// The targets whose answers differ between the two servers.
fn differences(upstream: &str, replica: &str, targets: &[String]) -> Vec<String> {
    let mut keep_alive_upstream = KeepAlive::connect(upstream);
    let mut keep_alive_replica = KeepAlive::connect(replica);
    let mut differing = Vec::new();
    for target in targets {
        let expected = keep_alive_upstream.send("GET", target, &ours(target)).expect("the upstream answers");
        let actual = keep_alive_replica.send("GET", target, &[("Connection".into(), "keep-alive".into())]);
        let actual = actual.expect("the replica answers");
        if (expected.status, &expected.body) != (actual.status, &actual.body) {
            differing.push(format!(
                "{target}: upstream {} {}, replica {} {}",
                expected.status, expected.body, actual.status, actual.body
            ));
        }
    }
    differing
}

#[test]
fn a_replica_converges_through_faults_kills_ties_deletes_and_null_modified() {
    converge(true, "1");
}

/// Without reconciliation, the pull alone must miss nothing (no deletes and
/// no null `modified` are written, which only reconciliation could see).
#[test]
fn a_replica_pulls_every_change_without_reconciliation() {
    converge(false, "86400");
}

fn converge(deletes_and_nulls: bool, reconcile_every: &str) {
    let kills: usize = std::env::var("MSGDEX_REPLICA_KILLS").ok().and_then(|text| text.parse().ok()).unwrap_or(12);
    let messages: Vec<Message> = msgdex::load_path(format!("{ROOT}/{UPSTREAM_DATA}")).unwrap();
    let upstream = Server::start_serving(UPSTREAM_DATA, &["--rate-limit", "100000"], Stderr::Drained);
    let keys_directory = tempfile::tempdir().unwrap();
    let keys = keys_directory.path().join("upstream-keys.json");
    write_upstream_keys(&keys);
    let faulty = Arc::new(AtomicBool::new(true));
    let counts = Arc::new(FaultCounts::default());
    let proxy = start_proxy(upstream.address.clone(), Arc::clone(&faulty), Arc::clone(&counts));
    let replica_directory = keys_directory.path().join("replica");

    // The driver writes for a while; the sync is killed and restarted.
    let written = Arc::new(AtomicU64::new(0));
    let driver = {
        let (address, messages, written) = (upstream.address.clone(), messages.clone(), Arc::clone(&written));
        let until = Instant::now() + Duration::from_millis(300 * kills as u64 + 1000);
        std::thread::spawn(move || drive(&address, &messages, until, &written, deletes_and_nulls))
    };
    let mut rng = Rng::new(5);
    for _ in 0..kills {
        let mut child = sync_process(&proxy, &replica_directory, &keys, reconcile_every);
        std::thread::sleep(Duration::from_millis(100 + rng.below(400)));
        child.kill().unwrap();
        child.wait().unwrap();
    }
    driver.join().unwrap();
    assert!(written.load(Ordering::Relaxed) > 300, "the driver wrote {}", written.load(Ordering::Relaxed));

    // The replica serves and follows, still through the faults.
    let data = replica_directory.to_str().unwrap().to_owned();
    let follow = format!("http://{proxy}");
    let keys_text = keys.to_str().unwrap().to_owned();
    let replica = Server::start_serving(
        &data,
        &[
            "--no-auth",
            "--follow",
            &follow,
            "--upstream-keys",
            &keys_text,
            "--interval",
            "0.1",
            "--reconcile-every",
            reconcile_every,
            "--settle",
            "1",
            "--upstream-timeout",
            "1",
            "--metrics",
        ],
        Stderr::Drained,
    );
    let targets = targets(&messages);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut differing = differences(&upstream.address, &replica.address, &targets);
    while !differing.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        differing = differences(&upstream.address, &replica.address, &targets);
    }
    let faults: Vec<String> = FAULT_NAMES
        .iter()
        .zip(&counts.faults)
        .map(|(name, count)| format!("{name}: {}", count.load(Ordering::Relaxed)))
        .collect();
    assert!(
        differing.is_empty(),
        "{} of {} targets differ after 60 s ({faults:?}); first: {}",
        differing.len(),
        targets.len(),
        differing[0]
    );
    assert!(
        counts.faults.iter().all(|count| count.load(Ordering::Relaxed) > 0),
        "every fault was injected: {faults:?}"
    );
    eprintln!(
        "converged: {} writes, {kills} kills, {} requests passed, faults {faults:?}, {} targets equal",
        written.load(Ordering::Relaxed),
        counts.passed.load(Ordering::Relaxed),
        targets.len()
    );
    let health = http(&replica.address, "GET", "/healthz", &[]);
    assert_eq!(health.status, 200, "{}", health.body);
    let metrics = http(&replica.address, "GET", "/metrics", &[]);
    assert!(metrics.body.contains("msgdex_follower_lag_seconds"), "{}", metrics.body);
    let write = http(&replica.address, "DELETE", "/v1/messages/tie-000", &[]);
    assert_eq!(write.status, 405, "a replica takes no writes but its follower's");
}

#[test]
fn a_sync_paced_by_the_rate_limit_gets_no_429() {
    let upstream = Server::start_serving(UPSTREAM_DATA, &["--rate-limit", "3"], Stderr::Drained);
    let directory = tempfile::tempdir().unwrap();
    let keys = directory.path().join("keys.json");
    write_upstream_keys(&keys);
    let replica = directory.path().join("replica");
    let status = Command::new(env!("CARGO_BIN_EXE_msgdex"))
        .args(["sync", "--from", &format!("http://{}", upstream.address), "--into"])
        .arg(&replica)
        .arg("--upstream-keys")
        .arg(&keys)
        .arg("--reconcile")
        .current_dir(ROOT)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let (status, log) = upstream.stop_with_stderr();
    assert!(status.success());
    let answered = log.lines().filter(|line| line.contains(" GET /v1/messages ")).count();
    let refused = log.lines().filter(|line| line.contains(" 429 ")).count();
    assert!(answered > 6, "the sync spans several rate windows: {answered} requests\n{log}");
    assert_eq!(refused, 0, "the sync waits for the reset instead of being refused:\n{log}");
    let copied = msgdex::FastEngine::open(&replica).unwrap();
    assert_eq!(msgdex::Engine::message_count(&copied), 800);
}

/// Measures how long a write to the upstream takes to be visible on a
/// replica that follows it, at `MSGDEX_LAG_WRITES` writes a second (1000
/// by default) for `MSGDEX_LAG_SECONDS` seconds. A measurement, not a
/// check: `cargo test --release -p msgdex-cli --test replica lag -- --ignored --nocapture`.
#[test]
#[ignore]
fn lag_behind_an_upstream_taking_writes() {
    let rate: u64 = std::env::var("MSGDEX_LAG_WRITES").ok().and_then(|text| text.parse().ok()).unwrap_or(1000);
    let seconds: u64 = std::env::var("MSGDEX_LAG_SECONDS").ok().and_then(|text| text.parse().ok()).unwrap_or(20);
    let data = std::env::var("MSGDEX_LAG_DATA").unwrap_or_else(|_| UPSTREAM_DATA.to_owned());
    let upstream = Server::start_serving(&data, &["--rate-limit", "100000", "--sync", "never"], Stderr::Drained);
    let directory = tempfile::tempdir().unwrap();
    let keys = directory.path().join("keys.json");
    write_upstream_keys(&keys);
    let replica_data = directory.path().join("replica");
    let follow = format!("http://{}", upstream.address);
    let replica = Server::start_serving(
        replica_data.to_str().unwrap(),
        &["--no-auth", "--follow", &follow, "--upstream-keys", keys.to_str().unwrap(), "--interval", "0.1"],
        Stderr::Drained,
    );
    // Wait for the first copy.
    let ready = Instant::now() + Duration::from_secs(600);
    while http(&replica.address, "GET", "/healthz", &[]).status != 200 && Instant::now() < ready {
        std::thread::sleep(Duration::from_millis(100));
    }
    let acknowledged: Arc<std::sync::Mutex<Vec<(String, Instant)>>> = Arc::default();
    let writer = {
        let (address, acknowledged) = (upstream.address.clone(), Arc::clone(&acknowledged));
        std::thread::spawn(move || {
            let mut connection = KeepAlive::connect(&address);
            let started = Instant::now();
            for number in 0..rate * seconds {
                let due = started + Duration::from_micros(number * 1_000_000 / rate);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                let id = format!("lag-{number}");
                let body = format!(r#"{{"subject": "lag {number}", "modified": "{}"}}"#, now_modified());
                let path = format!("/v1/messages/{id}");
                let answer = connection.send_with_body("PUT", &path, &json_write_headers("PUT", &path, &body), &body);
                assert_eq!(answer.map(|answer| answer.status), Some(201));
                if number % 50 == 0 {
                    acknowledged.lock().unwrap().push((id, Instant::now()));
                }
            }
        })
    };
    let mut lags = Vec::new();
    let mut checked = 0;
    let mut connection = KeepAlive::connect(&replica.address);
    loop {
        let pending: Vec<(String, Instant)> = acknowledged.lock().unwrap()[checked..].to_vec();
        if pending.is_empty() && writer.is_finished() {
            break;
        }
        for (id, at) in pending {
            let target = format!("/v1/messages/{id}");
            while connection.send("GET", &target, &[]).map(|answer| answer.status) != Some(200) {
                std::thread::sleep(Duration::from_millis(5));
                assert!(at.elapsed() < Duration::from_secs(60), "{id} never arrived");
            }
            lags.push(at.elapsed());
            checked += 1;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    writer.join().unwrap();
    lags.sort();
    let at = |fraction: f64| lags[((lags.len() - 1) as f64 * fraction) as usize];
    eprintln!(
        "lag at {rate} writes/s over {seconds} s ({} samples): p50 {:?}, p99 {:?}, max {:?}",
        lags.len(),
        at(0.5),
        at(0.99),
        lags.last().unwrap()
    );
}
