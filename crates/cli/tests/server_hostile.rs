//! `msgdex serve` against hostile and careless clients, over real sockets:
//! slow and silent connections, floods of connections and of signed
//! requests, clients that never read, a closed or stuck stderr, DNS
//! rebinding, ambiguous signatures. Each test bounds its connections and
//! its time, and checks what the attack would have cost: open files,
//! resident memory, or a stuck process.

use std::io::Write as _;
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use msgdex::server::auth::{canonical_parameters, sign};

mod server_support;
use server_support::*;

const MIB: u64 = 1 << 20;

/// Opens `count` connections that send nothing.
fn silent_connections(address: &str, count: usize) -> Vec<TcpStream> {
    (0..count).map(|_| TcpStream::connect(address).unwrap()).collect()
}

#[test]
fn a_head_sent_a_byte_at_a_time_is_cut_at_the_header_timeout() {
    let server = Server::start(&["--header-timeout", "1", "--idle-timeout", "5"]);
    let mut streams = silent_connections(&server.address, 50);
    for stream in &mut streams {
        stream.write_all(b"GET /v1/messages HTTP/1.1\r\n").unwrap();
    }
    // Every 100 ms one more byte on each: never idle, never finished.
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(2500) {
        for stream in &mut streams {
            let _ = stream.write_all(b"x");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let still_open = streams
        .iter_mut()
        .map(|stream| closed_within(stream, Duration::from_millis(300)))
        .filter(|closed| !closed)
        .count();
    assert_eq!(still_open, 0, "connections trickling a head stay open past --header-timeout 1");
}

/// What a client sees on a connection it never wrote to.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    /// Still open, nothing to read.
    Open,
    /// Closed by the server, after these bytes.
    Closed(Vec<u8>),
}

fn look(stream: &mut TcpStream) -> Seen {
    stream.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
    let mut text = Vec::new();
    let mut buffer = [0; 1024];
    loop {
        match std::io::Read::read(stream, &mut buffer) {
            Ok(0) => return Seen::Closed(text),
            Ok(read) => text.extend_from_slice(&buffer[..read]),
            Err(error) if matches!(error.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return if text.is_empty() { Seen::Open } else { Seen::Closed(text) }
            }
            Err(_) => return Seen::Closed(text),
        }
    }
}

#[test]
fn connections_past_the_cap_are_refused_at_once_and_silent_ones_time_out() {
    let server =
        Server::start(&["--max-connections", "40", "--max-connections-per-address", "40", "--idle-timeout", "6"]);
    let baseline = server.open_files();
    let mut streams = silent_connections(&server.address, 200);
    std::thread::sleep(Duration::from_millis(1000));
    let held = server.open_files().saturating_sub(baseline);
    assert!(held <= 40 + 4, "the server holds {held} descriptors for 200 silent connections with a cap of 40");
    // A signed request now is refused at once, not parked.
    let started = Instant::now();
    let busy = http(&server.address, "GET", "/v1/messages", &ours("/v1/messages"));
    // What the server held, should it have served the request (seen once
    // in CI, not reproduced): its descriptors then and now, and how the
    // silent connections stand.
    let explain = |streams: &mut Vec<TcpStream>| {
        let seen: Vec<Seen> = streams.iter_mut().map(look).collect();
        let open = seen.iter().filter(|seen| **seen == Seen::Open).count();
        format!(
            "{} (descriptors over the baseline: {held} after the silent connections, {} now; \
             {open} of the 200 still open)",
            busy.body,
            server.open_files().saturating_sub(baseline)
        )
    };
    assert_eq!(busy.status, 503, "{}", explain(&mut streams));
    assert!(busy.hint().contains("--max-connections"), "{}", busy.body);
    assert!(started.elapsed() < Duration::from_secs(2));
    // The connections past the cap were answered 503 (or, past the refusals
    // written at once, just closed); the others wait.
    let seen: Vec<Seen> = streams.iter_mut().map(look).collect();
    let open = seen.iter().filter(|seen| **seen == Seen::Open).count();
    let told_503 =
        seen.iter().filter(|seen| matches!(seen, Seen::Closed(text) if text.starts_with(b"HTTP/1.1 503"))).count();
    assert!(open <= 40, "{open} connections are open with a cap of 40");
    assert!(told_503 >= 40, "only {told_503} refused connections were told 503");
    // Once the silent connections time out, requests are served again.
    assert!(server.eventually(Duration::from_secs(10), |server| server.open_files() <= baseline + 2));
    assert_eq!(http(&server.address, "GET", "/v1/messages", &ours("/v1/messages")).status, 200);
}

#[test]
fn one_client_address_cannot_take_every_connection() {
    let server = Server::start(&["--max-connections-per-address", "4", "--idle-timeout", "10"]);
    // Let the start-up probe's connection close first.
    std::thread::sleep(Duration::from_millis(200));
    let mut held = silent_connections(&server.address, 4);
    std::thread::sleep(Duration::from_millis(200));
    assert!(held.iter_mut().all(|stream| look(stream) == Seen::Open), "four connections are allowed");
    let refused = http(&server.address, "GET", "/v1/messages", &ours("/v1/messages"));
    assert_eq!(refused.status, 503);
    assert!(refused.hint().contains("--max-connections-per-address"), "{}", refused.body);
    let mut other = KeepAlive::connect_from(&server.address, Some("127.0.0.2"));
    let answer = other.send("GET", "/v1/messages", &ours("/v1/messages")).expect("another address is served");
    assert_eq!(answer.status, 200, "{}", answer.body);
}

#[test]
fn unfinished_huge_heads_cost_at_most_one_read_buffer_each() {
    let server = Server::start(&[]);
    let before = server.resident_bytes();
    let pad = vec![b'a'; 300 * 1024];
    let mut streams = Vec::new();
    for _ in 0..200 {
        let mut stream = TcpStream::connect(&server.address).unwrap();
        stream.set_write_timeout(Some(Duration::from_millis(500))).unwrap();
        let _ = stream.write_all(b"GET /v1/messages HTTP/1.1\r\nHost: localhost\r\nX-Pad: ");
        let _ = stream.write_all(&pad);
        streams.push(stream);
    }
    let after = server.resident_bytes();
    let grown = after.saturating_sub(before);
    assert!(grown < 25 * MIB, "200 unfinished 300 KB heads grew the server by {} MiB", grown / MIB);
    let mut answered_431 = 0;
    for stream in &mut streams {
        stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        let mut head = [0; 12];
        if std::io::Read::read_exact(stream, &mut head).is_ok() && head.starts_with(b"HTTP/1.1 431") {
            answered_431 += 1;
        }
    }
    assert!(answered_431 > 0, "a head past the buffer is answered 431");
}

#[test]
fn sigterm_does_not_wait_on_a_half_sent_request() {
    let mut server = Server::start(&["--shutdown-timeout", "1", "--header-timeout", "60", "--idle-timeout", "60"]);
    let mut stream = TcpStream::connect(&server.address).unwrap();
    stream.write_all(b"GET /v1/messages HTTP/1.1\r\nHost: localhost\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    server.terminate();
    let exit = server.wait_exit(Duration::from_secs(5));
    assert!(exit.is_some_and(|status| status.success()), "the server is still up 5 s after SIGTERM: {exit:?}");
}

#[test]
fn a_client_that_never_reads_is_dropped_at_the_write_timeout() {
    let server =
        Server::start(&["--no-auth", "--write-timeout", "1", "--idle-timeout", "60", "--header-timeout", "60"]);
    let baseline = server.open_files();
    let before = server.resident_bytes();
    let mut stream = TcpStream::connect(&server.address).unwrap();
    stream.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    let request = request_text(
        &server.address,
        "GET",
        "/v1/messages?per_page=100",
        &[("Connection".to_owned(), "keep-alive".to_owned())],
    );
    // 4,000 pipelined requests for every message, none of the answers read.
    let mut sent = 0;
    for _ in 0..4000 {
        if stream.write_all(request.as_bytes()).is_err() {
            break;
        }
        sent += 1;
    }
    assert!(sent > 0);
    let grown = server.resident_bytes().saturating_sub(before);
    assert!(grown < 20 * MIB, "a client that reads nothing grew the server by {} MiB", grown / MIB);
    assert!(
        server.eventually(Duration::from_secs(6), |server| server.open_files() <= baseline),
        "the connection is still open {} s after its writes stalled",
        6
    );
}

#[test]
fn idle_keep_alive_connections_close_at_the_idle_timeout() {
    let server = Server::start(&["--no-auth", "--idle-timeout", "1", "--header-timeout", "5"]);
    let mut client = KeepAlive::connect(&server.address);
    assert_eq!(client.send("GET", "/v1/messages", &[]).unwrap().status, 200);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(client.send("GET", "/v1/messages", &[]).unwrap().status, 200, "kept alive within the timeout");
    let started = Instant::now();
    assert!(closed_within(client.stream(), Duration::from_secs(4)), "an idle connection stays open");
    assert!(started.elapsed() >= Duration::from_millis(700), "closed before the idle timeout");
    // A connection that never sends a byte is closed the same way.
    let mut silent = TcpStream::connect(&server.address).unwrap();
    assert!(closed_within(&mut silent, Duration::from_secs(4)));
}

/// Our key's headers for `target` with a chosen nonce and timestamp.
fn signed_with(target: &str, nonce: &str, timestamp: &str) -> Vec<(String, String)> {
    signed(KEY, SECRET, target, nonce, timestamp)
}

#[test]
fn a_request_refused_by_the_rate_limit_leaves_its_nonce_unused() {
    let server = Server::start(&["--rate-limit", "1"]);
    let target = "/v1/messages";
    let mut client = KeepAlive::connect(&server.address);
    // Requests in a burst until one is refused by the rate limit.
    let (refused_nonce, timestamp) = (0..50)
        .find_map(|attempt| {
            let nonce = nonce(&format!("burst{attempt}"));
            let timestamp = now();
            let answer = client.send("GET", target, &signed_with(target, &nonce, &timestamp)).unwrap();
            (answer.status == 429).then_some((nonce, timestamp))
        })
        .expect("a burst of requests at 1 per second meets a 429");
    std::thread::sleep(Duration::from_millis(1100));
    let again = client.send("GET", target, &signed_with(target, &refused_nonce, &timestamp)).unwrap();
    assert_eq!(again.status, 200, "the 429 stored its nonce: {}", again.body);
    std::thread::sleep(Duration::from_millis(1100));
    let replay = client.send("GET", target, &signed_with(target, &refused_nonce, &timestamp)).unwrap();
    assert_eq!(replay.status, 401, "an admitted nonce is stored");
}

#[test]
fn a_flood_of_signed_requests_keeps_memory_flat() {
    let server = Server::start(&["--rate-limit", "50", "--auth-failure-limit", "1000000"]);
    let target = "/v1/messages?per_page=1";
    let before = server.resident_bytes();
    let mut statuses = std::collections::BTreeMap::new();
    let long_nonce = "n".repeat(8 * 1024);
    let mut client = KeepAlive::connect(&server.address);
    for attempt in 0..6000 {
        // Half with nonces of 8 KiB (once stored twice each), half valid.
        let nonce = if attempt % 2 == 0 { format!("{long_nonce}{attempt}") } else { nonce(&format!("f{attempt}")) };
        let answer = client.send("GET", target, &signed_with(target, &nonce, &now())).unwrap();
        *statuses.entry(answer.status).or_insert(0) += 1;
    }
    let grown = server.resident_bytes().saturating_sub(before);
    assert!(grown < 10 * MIB, "6,000 requests grew the server by {} MiB: {statuses:?}", grown / MIB);
    assert_eq!(statuses.get(&401), Some(&3000), "every long nonce is refused: {statuses:?}");
    assert!(statuses.get(&429).copied().unwrap_or(0) > 0, "{statuses:?}");
    let long = client.send("GET", target, &signed_with(target, &long_nonce, &now())).unwrap();
    assert!(long.hint().contains("Nonce") && long.hint().contains("128"), "{}", long.body);
}

fn start_and_expect_refusal(keys_json: Option<&str>, environment: &[(&str, &str)]) -> String {
    let directory = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_msgdex"));
    command
        .current_dir(ROOT)
        .args(["serve", "--data", DATA, "--bind", &format!("127.0.0.1:{}", free_port())])
        .env_remove("MSGDEX_KEYS_FILE")
        .env_remove("MSGDEX_ACCOUNT_ID")
        .env_remove("MSGDEX_API_KEY")
        .env_remove("MSGDEX_API_SECRET")
        .envs(environment.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(json) = keys_json {
        let path = directory.path().join("keys.json");
        std::fs::write(&path, json).unwrap();
        command.arg("--keys").arg(path);
    }
    let mut child = command.spawn().unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("the server started with empty credentials");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn empty_credentials_are_refused_at_start_up() {
    let empty_secret = r#"{"account_id": "a", "keys": [{"account_id": "a", "api_key": "k", "api_secret": ""}]}"#;
    let refusal = start_and_expect_refusal(Some(empty_secret), &[]);
    assert!(refusal.contains("key 1 has an empty `api_secret`"), "{refusal}");
    let empty_account = r#"{"account_id": "", "keys": [{"account_id": "a", "api_key": "k", "api_secret": "s"}]}"#;
    assert!(start_and_expect_refusal(Some(empty_account), &[]).contains("account_id"));
    // An unset variable in an environment template arrives as "".
    let environment = [("MSGDEX_ACCOUNT_ID", "a"), ("MSGDEX_API_KEY", "k"), ("MSGDEX_API_SECRET", "")];
    let refusal = start_and_expect_refusal(None, &environment);
    assert!(refusal.contains("MSGDEX_API_SECRET is empty"), "{refusal}");
    let refusal = start_and_expect_refusal(None, &environment[..2]);
    assert!(refusal.contains("MSGDEX_API_SECRET is not set"), "{refusal}");
}

#[test]
fn a_closed_stderr_fails_no_request() {
    let server = Server::start_with(&["--no-auth"], Stderr::Closed);
    let mut client = KeepAlive::connect(&server.address);
    for _ in 0..20 {
        let answer = client.send("GET", "/v1/messages?per_page=1", &[]).expect("an answer, not a dropped connection");
        assert_eq!(answer.status, 200);
    }
    assert!(server.stop().success());
}

#[test]
fn a_stderr_pipe_nobody_drains_never_stalls_the_server() {
    let mut server = Server::start_with(&["--no-auth"], Stderr::Undrained);
    let mut client = KeepAlive::connect(&server.address);
    // About 45 bytes of log a request: 8,000 fill a 64 KiB pipe and the
    // log's queue of 4,096 lines.
    for number in 0..8000 {
        let answer =
            client.send("GET", "/v1/messages?per_page=1", &[]).unwrap_or_else(|| panic!("no answer to {number}"));
        assert_eq!(answer.status, 200);
    }
    server.terminate();
    let exit = server.wait_exit(Duration::from_secs(5));
    assert!(exit.is_some_and(|status| status.success()), "a stuck log stalls the shutdown: {exit:?}");
    assert!(server.stuck_stderr.is_some());
}

#[test]
fn without_auth_only_loopback_hosts_are_answered() {
    let server = Server::start(&["--no-auth"]);
    let port = server.address.rsplit(':').next().unwrap().to_owned();
    let with_host = |host: &str| http(&server.address, "GET", "/v1/messages", &[("Host".to_owned(), host.to_owned())]);
    for host in ["evil.example", &format!("evil.example:{port}"), "127.0.0.1.nip.io", "10.1.2.3"] {
        let answer = with_host(host);
        assert_eq!(answer.status, 403, "Host {host}");
        assert!(answer.hint().contains("Host"), "{}", answer.body);
    }
    for host in ["localhost", &format!("localhost:{port}"), &server.address, "[::1]:80", "127.0.0.1"] {
        assert_eq!(with_host(host).status, 200, "Host {host}");
    }
    let no_host = http_raw(&server.address, "GET /v1/messages HTTP/1.0\r\n\r\n");
    assert_eq!(no_host.status, 403, "a request without Host");
    let absolute = http_raw(&server.address, "GET http://evil.example/v1/messages HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(absolute.status, 403, "an absolute target naming another host");
}

#[test]
fn a_line_feed_cannot_move_a_boundary_of_the_signed_string() {
    let server = Server::start(&[]);
    let honest = "/v1/messages?filters-ids=ID&filters-q=ava";
    let (nonce_text, timestamp) = (nonce("lf"), now());
    let headers = signed_with(honest, &nonce_text, &timestamp);
    // The same signed string, with both parameters folded into one value.
    let smuggled = "/v1/messages?filters-ids=ID%0Afilters-q%3Dava";
    let answer = http(&server.address, "GET", smuggled, &headers);
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert!(answer.hint().contains("line feed"), "{}", answer.body);
    // A line feed in the path, correctly signed, is refused too.
    let path = "/v1/messages%0Afilters-q=ava";
    let answer = http(&server.address, "GET", path, &signed_with(path, &nonce("lf-path"), &now()));
    assert_eq!((answer.status, answer.hint().contains("path")), (400, true), "{}", answer.body);
    assert_eq!(http(&server.address, "GET", honest, &headers).status, 200, "the honest request is unharmed");
}

#[test]
fn timestamps_and_signatures_are_parsed_strictly() {
    let server = Server::start(&[]);
    let target = "/v1/messages";
    let (path, pairs) = signed_parts(target);
    let parameters = canonical_parameters(&pairs);
    // `i64::MIN + now` wrapped to "now" in `(now - sent).abs()`.
    let wrapped = (i64::MIN + now().parse::<i64>().unwrap()).to_string();
    let nonce_text = nonce("wrap");
    let signature = sign(SECRET, &wrapped, &nonce_text, "GET", &path, &parameters);
    let answer = http(&server.address, "GET", target, &headers_with(KEY, &nonce_text, &wrapped, signature));
    assert_eq!(answer.status, 401, "{}", answer.body);
    // A signature with a byte below 0x10 written "+x" instead of "0x".
    let (nonce_text, timestamp, signature, position) = (0..)
        .find_map(|attempt| {
            let (nonce_text, timestamp) = (nonce(&format!("plus{attempt}")), now());
            let signature = sign(SECRET, &timestamp, &nonce_text, "GET", &path, &parameters);
            let position = (0..32).find(|&byte| signature.as_bytes()[2 * byte] == b'0')?;
            Some((nonce_text, timestamp, signature, position))
        })
        .unwrap();
    let mut plus = signature.clone();
    plus.replace_range(2 * position..2 * position + 1, "+");
    let answer = http(&server.address, "GET", target, &headers_with(KEY, &nonce_text, &timestamp, plus));
    assert_eq!(answer.status, 401);
    assert!(answer.hint().contains("64 lower-case hex"), "{}", answer.body);
    let answer = http(&server.address, "GET", target, &headers_with(KEY, &nonce_text, &timestamp, signature));
    assert_eq!(answer.status, 200, "the same request, signed in lower-case hex: {}", answer.body);
}

#[test]
fn failed_authentications_are_limited_per_client_address() {
    let server = Server::start(&["--auth-failure-limit", "5"]);
    let target = "/v1/messages";
    for attempt in 0..5 {
        let wrong = signed("key-9", "guess", target, &nonce(&format!("guess{attempt}")), &now());
        assert_eq!(http(&server.address, "GET", target, &wrong).status, 401);
    }
    let limited = http(&server.address, "GET", target, &signed("key-9", "guess", target, &nonce("g"), &now()));
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert!(limited.hint().contains("failed authentications"), "{}", limited.body);
    assert_eq!(http(&server.address, "GET", target, &ours(target)).status, 429, "the address is held off");
    let mut elsewhere = KeepAlive::connect_from(&server.address, Some("127.0.0.3"));
    assert_eq!(elsewhere.send("GET", target, &ours(target)).unwrap().status, 200, "other addresses are not");
}

#[test]
fn no_auth_off_loopback_is_refused_before_the_data_loads() {
    let output = Command::new(env!("CARGO_BIN_EXE_msgdex"))
        .args(["serve", "--data", "/nonexistent/messages.jsonl", "--bind", "0.0.0.0:0", "--no-auth"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("loopback") && !stderr.contains("nonexistent"), "{stderr}");
}

#[test]
fn a_write_body_that_stalls_or_trickles_is_cut_at_the_request_timeout() {
    let server =
        Server::start(&["--no-auth", "--request-timeout", "1", "--idle-timeout", "30", "--header-timeout", "30"]);
    for trickle in [false, true] {
        let mut stream = TcpStream::connect(&server.address).unwrap();
        stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        let head = format!(
            "PUT /v1/messages/slow HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"subject\"",
            server.address
        );
        stream.write_all(head.as_bytes()).unwrap();
        let started = std::time::Instant::now();
        if trickle {
            for _ in 0..6 {
                std::thread::sleep(std::time::Duration::from_millis(300));
                if stream.write_all(b" ").is_err() {
                    break;
                }
            }
        }
        let mut answer = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stream, &mut answer);
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 408"), "trickle {trickle}: {answer}");
        assert!(answer.contains("did not arrive within 1 second"), "{answer}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "cut near the timeout: {:?}", started.elapsed());
    }
    let absent = http(&server.address, "GET", "/v1/messages/slow", &[]);
    assert_eq!(absent.status, 404, "nothing of a cut body was applied");
}

#[test]
fn a_stranger_makes_the_server_read_no_body_and_bodies_in_flight_are_bounded() {
    let server = Server::start(&[
        "--request-timeout",
        "1",
        "--max-body-bytes",
        "1000",
        "--max-body-bytes-in-flight",
        "1000",
        "--idle-timeout",
        "30",
    ]);
    // No signing headers, a body announced and never sent: refused at once.
    let mut stranger = TcpStream::connect(&server.address).unwrap();
    stranger.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let head = format!(
        "PUT /v1/messages/x HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n",
        server.address
    );
    stranger.write_all(head.as_bytes()).unwrap();
    let started = Instant::now();
    let mut answer = [0u8; 12];
    std::io::Read::read_exact(&mut stranger, &mut answer).unwrap();
    assert_eq!(&answer, b"HTTP/1.1 401", "refused before the body");
    assert!(started.elapsed() < Duration::from_millis(900), "without waiting for the body: {:?}", started.elapsed());
    // A signed write whose body never comes holds the whole budget; another
    // write meanwhile is refused at once.
    let signed_head = |id: &str| {
        let path = format!("/v1/messages/{id}");
        let parameters = [("sha256".to_owned(), "0".repeat(64))];
        let mut headers = signed_write(WRITE_KEY, WRITE_SECRET, "PUT", &path, &parameters);
        headers.push(("Content-Type".into(), "application/json".into()));
        headers.push(("Content-Length".into(), "1000".into()));
        headers.push(("Connection".into(), "close".into()));
        request_text(&server.address, "PUT", &path, &headers)
    };
    let mut holder = TcpStream::connect(&server.address).unwrap();
    holder.write_all(signed_head("held").as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let refused = http_raw(&server.address, &format!("{}{}", signed_head("refused"), "x".repeat(1000)));
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert!(refused.hint().contains("--max-body-bytes-in-flight"), "{}", refused.body);
    assert!(started.elapsed() < Duration::from_millis(500), "at once: {:?}", started.elapsed());
    // Once the held body times out, its share is free again.
    let mut answer = Vec::new();
    let _ = std::io::Read::read_to_end(&mut holder, &mut answer);
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 408"));
    let admitted = http_raw(&server.address, &format!("{}{}", signed_head("admitted"), "x".repeat(1000)));
    assert_eq!(admitted.status, 401, "read, then refused by its signature: {}", admitted.body);
}

#[test]
fn without_keys_a_web_page_of_another_origin_cannot_write() {
    let server = Server::start(&["--no-auth"]);
    let batch = r#"[{"delete": "6724fbcb4f73a2cebf638860"}]"#;
    let form = format!("writes={}", percent_encoding::utf8_percent_encode(batch, percent_encoding::NON_ALPHANUMERIC));
    let form_type = ("Content-Type".to_owned(), "application/x-www-form-urlencoded".to_owned());
    for foreign in [("Origin", "https://evil.example"), ("Sec-Fetch-Site", "cross-site"), ("Origin", "null")] {
        let headers = vec![form_type.clone(), (foreign.0.to_owned(), foreign.1.to_owned())];
        let answer = http_with_body(&server.address, "POST", "/v1/messages", &headers, &form);
        assert_eq!(answer.status, 403, "{foreign:?}: {}", answer.body);
    }
    assert_eq!(http(&server.address, "GET", "/v1/messages/6724fbcb4f73a2cebf638860", &[]).status, 200);
    // A local program, or a page served from this machine, may.
    let local = vec![form_type, ("Origin".to_owned(), "http://localhost:3000".to_owned())];
    let answer = http_with_body(&server.address, "POST", "/v1/messages", &local, &form);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(http(&server.address, "GET", "/v1/messages/6724fbcb4f73a2cebf638860", &[]).status, 404);
}
