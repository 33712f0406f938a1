//! `msgdex serve --stream`: two nodes share an account through a NATS
//! JetStream change stream (a `nats-server` on loopback, which `.ci/run`
//! installs). A driver writes to both over HTTP; one node is SIGKILLed and
//! restarted meanwhile. Every write is visible on the node that took it as
//! soon as it is answered, and in the end both nodes answer every target
//! like the reference engine that applied the same writes in the same order.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use msgdex::{Engine, LiveReference, Message, ReferenceEngine, Writable, Write};
use msgdex_bench::workload::Rng;

mod server_support;
use server_support::*;

/// Held shared by each test, and exclusively by the cluster test.
static MACHINE: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// A `nats-server` with JetStream on a free loopback port, killed when dropped.
struct Nats {
    child: Child,
    url: String,
    _store: tempfile::TempDir,
}

impl Nats {
    fn start() -> Nats {
        Nats::start_with_config("")
    }

    /// A server with `config` as its configuration file (`max_payload:
    /// 65536`, say).
    fn start_with_config(config: &str) -> Nats {
        let store = tempfile::tempdir().unwrap();
        let config_path = store.path().join("nats.conf");
        std::fs::write(&config_path, config).unwrap();
        let port = free_port();
        let child = Command::new("nats-server")
            .arg("-c")
            .arg(&config_path)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(store.path().join("jetstream"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server is needed for the stream tests: apt-get install nats-server (.ci/run does)");
        let url = format!("nats://127.0.0.1:{port}");
        let ready = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < ready, "nats-server did not listen on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Nats { child, url, _store: store }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn node(directory: &std::path::Path, nats: &Nats) -> Server {
    Server::start_serving(
        directory.to_str().unwrap(),
        &["--no-auth", "--stream", &nats.url, "--account", ACCOUNT],
        Stderr::Drained,
    )
}

/// Every target a node must answer like the reference.
fn targets() -> Vec<String> {
    let mut targets: Vec<String> = std::fs::read_to_string(format!("{ROOT}/tests/conformance/requests.txt"))
        .unwrap()
        .lines()
        .take(200)
        .map(str::to_owned)
        .collect();
    targets.extend(
        (1..=10).map(|page| format!("/v1/messages?per_page=100&page={page}&attributes=subject&attributes=tags")),
    );
    targets
}

fn mismatches(address: &str, reference: &dyn Engine, targets: &[String]) -> usize {
    let mut connection = KeepAlive::connect(address);
    targets
        .iter()
        .filter(|target| {
            let expected = reference.respond(target);
            let actual = connection.send("GET", target, &[]).expect("the node answers");
            (expected.status, expected.body) != (actual.status, actual.body)
        })
        .count()
}

/// A random PUT or DELETE (of one of 120 ids) sent to `address` and
/// applied to `reference`; the answer, the method and the target.
fn write_randomly(
    address: &str,
    reference: &LiveReference,
    rng: &mut Rng,
    messages: &[Message],
    present: &mut Vec<String>,
) -> (Answer, &'static str, String) {
    let (write, method, body) = if rng.chance(0.2) && !present.is_empty() {
        let id = present.swap_remove(rng.below(present.len() as u64) as usize);
        (Write::Delete(id), "DELETE", String::new())
    } else {
        let id = format!("m{}", rng.below(120));
        let message = Message { id: id.clone(), ..rng.pick(messages).clone() };
        let body = message.to_json();
        if !present.contains(&id) {
            present.push(id);
        }
        (Write::Upsert(message), "PUT", body)
    };
    let target = format!("/v1/messages/{}", write.id());
    let headers = [("Content-Type".to_owned(), "application/json".to_owned())];
    let answer = http_with_body(address, method, &target, &headers, &body);
    assert!(answer.status < 300, "{method} {target} on {address}: {} {}", answer.status, answer.body);
    reference.apply(vec![write]).unwrap();
    (answer, method, target)
}

/// Waits up to `limit` for every node to answer every target as
/// `reference` does; the mismatches of each node at the end.
fn converge(nodes: &[&Server], reference: &dyn Engine, limit: Duration) -> Vec<usize> {
    let targets = targets();
    let deadline = Instant::now() + limit;
    loop {
        let wrong: Vec<usize> = nodes.iter().map(|node| mismatches(&node.address, reference, &targets)).collect();
        if wrong.iter().all(|&count| count == 0) || Instant::now() > deadline {
            return wrong;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The number after `prefix` in a server's stderr (its last mention).
fn said_number(server: &Server, prefix: &str) -> u64 {
    let said = server.stderr.lock().unwrap().clone();
    let at = said.rfind(prefix).unwrap_or_else(|| panic!("{prefix:?} not said in\n{said}")) + prefix.len();
    said[at..].split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
}

/// A node at `data` publishing snapshots every 50 ms, the messages to
/// write to it, and an empty reference.
fn snapshotting_node(data: &std::path::Path, nats: &Nats) -> (Server, Vec<Message>, LiveReference) {
    let snapshotting = &["--no-auth", "--stream", &nats.url, "--account", ACCOUNT, "--snapshot-every", "0.05"];
    let node = Server::start_serving(data.to_str().unwrap(), snapshotting, Stderr::Drained);
    let messages: Vec<Message> = msgdex::load_path(format!("{ROOT}/tests/conformance/messages.jsonl")).unwrap();
    (node, messages, LiveReference::new(ReferenceEngine::new(vec![])))
}

#[test]
fn a_new_replica_starts_from_the_published_snapshot_and_the_stream_after_it() {
    let _machine = MACHINE.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    let nats = Nats::start();
    let directory = tempfile::tempdir().unwrap();
    let (node_a, messages, reference) = snapshotting_node(&directory.path().join("a.db"), &nats);
    let (mut rng, mut present) = (Rng::new(5), Vec::new());
    // Snapshots are taken while writes go on, so that their checkpoints
    // race writes (which then stay in the log the snapshot carries).
    let published = "published a snapshot at stream sequence ";
    let mut written = 0;
    while written < 150 || (node_a.stderr.lock().unwrap().matches(published).count() < 3 && written < 2000) {
        write_randomly(&node_a.address, &reference, &mut rng, &messages, &mut present);
        written += 1;
    }
    assert!(node_a.wait_for_stderr(published, Duration::from_secs(20)), "node a published no snapshot");
    let snapshot = said_number(&node_a, published);
    // The tail: written after the snapshot, to be read from the stream.
    for _ in 0..100 {
        write_randomly(&node_a.address, &reference, &mut rng, &messages, &mut present);
    }
    let node_b = node(&directory.path().join("b.db"), &nats);
    let made = "made from the snapshot at stream sequence ";
    assert!(node_b.wait_for_stderr(made, Duration::from_secs(5)), "{}", node_b.stderr.lock().unwrap());
    let started_at = said_number(&node_b, made);
    assert!(started_at >= snapshot && started_at <= written + 100, "b started at {started_at}; a published {snapshot}");
    assert_eq!(
        converge(&[&node_a, &node_b], &reference, Duration::from_secs(30)),
        [0, 0],
        "targets where a and b differ from the reference"
    );
}

/// Runs `msgdex sync --to-stream` from `upstream` into `directory` (one
/// pass); how many messages it read.
fn sync_to_stream(upstream: &Server, directory: &std::path::Path, keys: &std::path::Path, nats: &Nats) -> u64 {
    let output = Command::new(env!("CARGO_BIN_EXE_msgdex"))
        .args(["sync", "--from", &format!("http://{}", upstream.address), "--into"])
        .arg(directory)
        .arg("--upstream-keys")
        .arg(keys)
        .args(["--to-stream", &nats.url, "--account", ACCOUNT, "--settle", "1"])
        .current_dir(ROOT)
        .stdout(Stdio::null())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{said}");
    said.lines()
        .rev()
        .find_map(|line| line.strip_prefix("msgdex sync: ")?.split(" messages read").next()?.parse().ok())
        .unwrap_or_else(|| panic!("no count of messages read in\n{said}"))
}

#[test]
fn a_sync_publishes_an_account_to_the_stream_and_any_node_can_take_it_over() {
    let _machine = MACHINE.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    // Messages of 64 KiB at most: the sync's pages of 100 messages must be
    // split into several records, and a large HTTP batch is refused whole.
    let nats = Nats::start_with_config("max_payload: 65536\n");
    let directory = tempfile::tempdir().unwrap();
    let keys = directory.path().join("upstream-keys.json");
    write_upstream_keys(&keys);
    let data = "tests/conformance/messages.jsonl";
    let upstream = Server::start_serving(data, &["--rate-limit", "100000"], Stderr::Drained);
    let messages: Vec<Message> = msgdex::load_path(format!("{ROOT}/{data}")).unwrap();
    let reference = LiveReference::new(ReferenceEngine::new(messages.clone()));
    let first = sync_to_stream(&upstream, &directory.path().join("a.db"), &keys, &nats);
    assert!(first >= messages.len() as u64, "the first copy reads everything: {first}");
    // A replica that only follows the stream has what the sync published.
    let replica = node(&directory.path().join("b.db"), &nats);
    assert_eq!(converge(&[&replica], &reference, Duration::from_secs(30)), [0]);
    let batch: Vec<String> = messages[..200]
        .iter()
        .map(|message| {
            format!(r#"{{"put": {}}}"#, Message { id: format!("big-{}", message.id), ..message.clone() }.to_json())
        })
        .collect();
    let json = [("Content-Type".to_owned(), "application/json".to_owned())];
    let refused = http_with_body(&replica.address, "POST", "/v1/messages", &json, &format!("[{}]", batch.join(",")));
    assert_eq!(refused.status, 413, "{}", refused.body);
    assert!(refused.hint().contains("smaller batches"), "{}", refused.body);
    let id = format!("big-{}", messages[0].id);
    assert_eq!(http(&replica.address, "GET", &format!("/v1/messages/{id}"), &[]).status, 404, "nothing applied");
    // Changes upstream; the sync resumes from the cursor the stream holds,
    // first from its own directory, then from a new one (another machine).
    let mut rng = Rng::new(9);
    for (round, into) in ["a.db", "c.db"].into_iter().enumerate() {
        for number in 0..25 {
            let id = format!("upstream-{round}-{number}");
            let mut message = Message { id: id.clone(), ..rng.pick(&messages).clone() };
            message.modified = msgdex::DateTime::parse(&now_modified());
            let (path, body) = (format!("/v1/messages/{id}"), message.to_json());
            let answer =
                http_with_body(&upstream.address, "PUT", &path, &json_write_headers("PUT", &path, &body), &body);
            assert!(answer.status < 300, "{}", answer.body);
            reference.apply(vec![Write::Upsert(message)]).unwrap();
        }
        let read = sync_to_stream(&upstream, &directory.path().join(into), &keys, &nats);
        assert!(read < messages.len() as u64 / 2, "{into}: the sync resumed, reading {read}, not everything");
        assert_eq!(converge(&[&replica], &reference, Duration::from_secs(30)), [0], "after round {round}");
    }
}

/// Runs `msgdex serve --stream` on `data` expecting it to refuse to start
/// within 30 s; what it said.
fn refused_start(data: &std::path::Path, nats: &Nats) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_msgdex"))
        .args(["serve", "--no-auth", "--bind", &format!("127.0.0.1:{}", free_port()), "--data"])
        .arg(data)
        .args(["--stream", &nats.url, "--account", ACCOUNT])
        .current_dir(ROOT)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the node started on a damaged snapshot");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success());
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_damaged_snapshot_is_refused_and_not_left_behind() {
    let _machine = MACHINE.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    use msgdex::stream::async_nats;
    use tokio::io::AsyncReadExt as _;
    let nats = Nats::start();
    let directory = tempfile::tempdir().unwrap();
    let (node_a, messages, reference) = snapshotting_node(&directory.path().join("a.db"), &nats);
    let (mut rng, mut present) = (Rng::new(7), Vec::new());
    for _ in 0..60 {
        write_randomly(&node_a.address, &reference, &mut rng, &messages, &mut present);
    }
    assert!(node_a.wait_for_stderr("published a snapshot", Duration::from_secs(20)));
    drop(node_a);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let bucket = runtime.block_on(async {
        let client = async_nats::connect(nats.url.as_str()).await.unwrap();
        async_nats::jetstream::new(client).get_object_store("MSGDEX_SNAPSHOTS").await.unwrap()
    });
    let read = |name: String| {
        runtime.block_on(async {
            let mut bytes = Vec::new();
            bucket.get(&name).await.unwrap().read_to_end(&mut bytes).await.unwrap();
            bytes
        })
    };
    let put = |name: String, bytes: Vec<u8>| {
        runtime.block_on(async { bucket.put(name.as_str(), &mut bytes.as_slice()).await.unwrap() });
    };
    let current: serde_json::Value = serde_json::from_slice(&read(format!("{ACCOUNT}/CURRENT"))).unwrap();
    let base =
        current["files"].as_array().unwrap().iter().find_map(|name| name.as_str().filter(|n| n.starts_with("base-")));
    let base = format!("{ACCOUNT}/{}/{}", current["id"].as_str().unwrap(), base.unwrap());
    // One byte of the base flipped (the object store's own digest is
    // remade by the put: only the segment's checksums can tell).
    let mut bytes = read(base.clone());
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    put(base, bytes);
    let target = directory.path().join("b.db");
    let said = refused_start(&target, &nats);
    assert!(said.contains("does not open") && said.contains("was removed"), "{said}");
    assert!(!target.exists(), "a snapshot that does not open is not left to be opened again");
    // A CURRENT that is not one is refused, with what is wrong.
    put(format!("{ACCOUNT}/CURRENT"), br#"{"format": 1, "id": "../x"}"#.to_vec());
    let said = refused_start(&target, &nats);
    assert!(said.contains("is not a snapshot"), "{said}");
    assert!(!target.exists());
}

#[test]
fn a_node_whose_changes_the_stream_dropped_says_so_and_is_not_ready() {
    let _machine = MACHINE.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    use msgdex::stream::async_nats;
    let nats = Nats::start();
    let directory = tempfile::tempdir().unwrap();
    let (path_a, path_b) = (directory.path().join("a.db"), directory.path().join("b.db"));
    let node_a = node(&path_a, &nats);
    let messages: Vec<Message> = msgdex::load_path(format!("{ROOT}/tests/conformance/messages.jsonl")).unwrap();
    let reference = LiveReference::new(ReferenceEngine::new(vec![]));
    let (mut rng, mut present) = (Rng::new(13), Vec::new());
    let node_b = node(&path_b, &nats);
    for _ in 0..30 {
        write_randomly(&node_a.address, &reference, &mut rng, &messages, &mut present);
    }
    assert_eq!(converge(&[&node_b], &reference, Duration::from_secs(30)), [0]);
    drop(node_b);
    for _ in 0..30 {
        write_randomly(&node_a.address, &reference, &mut rng, &messages, &mut present);
    }
    // The stream drops all but its last 5 messages (as a retention limit
    // would): node b's next changes are gone.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let client = async_nats::connect(nats.url.as_str()).await.unwrap();
        let stream = async_nats::jetstream::new(client).get_stream("MSGDEX").await.unwrap();
        stream.purge().keep(5).await.unwrap();
    });
    let node_b = node(&path_b, &nats);
    assert!(
        node_b.wait_for_stderr("the changes between are gone", Duration::from_secs(20)),
        "{}",
        node_b.stderr.lock().unwrap()
    );
    assert_eq!(http(&node_b.address, "GET", "/healthz", &[]).status, 503);
    assert_eq!(http(&node_a.address, "GET", "/healthz", &[]).status, 200);
}

#[test]
fn two_nodes_share_an_account_through_the_stream_across_a_kill() {
    let _machine = MACHINE.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    let nats = Nats::start();
    let directory = tempfile::tempdir().unwrap();
    let (path_a, path_b) = (directory.path().join("a.db"), directory.path().join("b.db"));
    let node_a = node(&path_a, &nats);
    let mut node_b = Some(node(&path_b, &nats));
    let messages: Vec<Message> = msgdex::load_path(format!("{ROOT}/tests/conformance/messages.jsonl")).unwrap();
    let reference = LiveReference::new(ReferenceEngine::new(vec![]));
    let mut rng = Rng::new(3);
    let mut present: Vec<String> = Vec::new();
    for number in 0..400 {
        if number == 150 {
            // SIGKILL, writes go on through the other node, then a restart.
            node_b.take().unwrap().child.kill().unwrap();
        }
        if number == 250 {
            node_b = Some(node(&path_b, &nats));
        }
        let address = match &node_b {
            Some(b) if number % 2 == 1 => b.address.clone(),
            _ => node_a.address.clone(),
        };
        let (answer, method, target) = write_randomly(&address, &reference, &mut rng, &messages, &mut present);
        // Read-your-writes on the node that took it, at once; on the other,
        // when the read names the sequence of the write's answer.
        let wanted = if method == "PUT" { 200 } else { 404 };
        let read = http(&address, "GET", &target, &[]);
        assert_eq!(read.status, wanted, "{method} {target} then a read on {address}");
        let token = answer
            .headers
            .lines()
            .find_map(|line| line.strip_prefix("x-msgdex-sequence:"))
            .expect("a write's answer names its sequence")
            .trim()
            .to_owned();
        let other = match &node_b {
            Some(b) if address == node_a.address => b.address.clone(),
            _ => node_a.address.clone(),
        };
        let read = http(&other, "GET", &target, &[("X-Msgdex-Min-Sequence".into(), token.clone())]);
        assert_eq!(read.status, wanted, "{method} {target} on {address}, then a read at sequence {token} on {other}");
    }
    // A sequence that never comes is a clear refusal, within the bound.
    let started = Instant::now();
    let never = http(&node_a.address, "GET", "/v1/messages", &[("X-Msgdex-Min-Sequence".into(), "999999999".into())]);
    assert_eq!(never.status, 503, "{}", never.body);
    assert!(never.hint().contains("did not arrive within 5 seconds"), "{}", never.body);
    assert!(started.elapsed() < Duration::from_secs(8));
    let malformed = http(&node_a.address, "GET", "/v1/messages", &[("X-Msgdex-Min-Sequence".into(), "soon".into())]);
    assert_eq!(malformed.status, 400);
    let node_b = node_b.unwrap();
    assert_eq!(
        converge(&[&node_a, &node_b], &reference, Duration::from_secs(30)),
        [0, 0],
        "targets where a and b differ from the reference"
    );
    assert!(reference.message_count() > 50);
}

fn account_header(account: &str) -> Vec<(String, String)> {
    vec![("X-CareHQ-AccountId".to_owned(), account.to_owned())]
}

#[test]
fn a_fleet_routes_each_account_to_the_nodes_that_hold_it() {
    let _machine = MACHINE.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    let nats = Nats::start();
    let directory = tempfile::tempdir().unwrap();
    let binds = [format!("127.0.0.1:{}", free_port()), format!("127.0.0.1:{}", free_port())];
    let assignment = directory.path().join("assignment.json");
    std::fs::write(
        &assignment,
        format!(
            r#"{{"nodes": {{"n1": "http://{}", "n2": "http://{}"}},
                "accounts": {{"acme": ["n1", "n2"], "globex": ["n2"]}}}}"#,
            binds[0], binds[1]
        ),
    )
    .unwrap();
    let start = |name: &str, bind: &str| {
        let root = directory.path().join(name);
        Server::start_serving_at(
            root.to_str().unwrap(),
            bind,
            &["--no-auth", "--stream", &nats.url, "--assignment", assignment.to_str().unwrap(), "--node", name],
            Stderr::Drained,
        )
    };
    let (n1, n2) = (start("n1", &binds[0]), start("n2", &binds[1]));
    let messages: Vec<Message> = msgdex::load_path(format!("{ROOT}/tests/conformance/messages.jsonl")).unwrap();
    let json = [("Content-Type".to_owned(), "application/json".to_owned())];
    let write = |address: &str, account: &str, id: &str| {
        let message = Message { id: id.to_owned(), ..messages[0].clone() };
        let headers = [json.to_vec(), account_header(account)].concat();
        let answer = http_with_body(address, "PUT", &format!("/v1/messages/{id}"), &headers, &message.to_json());
        assert!(answer.status < 300, "PUT {id} for {account} on {address}: {}", answer.body);
        answer.headers.lines().find_map(|line| line.strip_prefix("x-msgdex-sequence:")).unwrap().trim().to_owned()
    };
    let read = |address: &str, account: &str, id: &str, sequence: &str| {
        let headers = [account_header(account), vec![("X-Msgdex-Min-Sequence".into(), sequence.into())]].concat();
        http(address, "GET", &format!("/v1/messages/{id}"), &headers).status
    };
    // acme is held by both nodes: a write on one is read on the other.
    let sequence = write(&n1.address, "acme", "a1");
    assert_eq!(read(&n2.address, "acme", "a1", &sequence), 200);
    // globex only by n2, and its messages stay in globex.
    let sequence = write(&n2.address, "globex", "g1");
    assert_eq!(read(&n2.address, "globex", "g1", &sequence), 200);
    // (A sequence is its account's: acme's reads wait for acme's writes.)
    assert_eq!(read(&n2.address, "acme", "g1", "0"), 404, "accounts do not see each other's messages");
    assert_eq!(read(&n2.address, "globex", "a1", "0"), 404);
    // n1 names the node that holds globex; unknown accounts and requests
    // naming none are refused, with what to do.
    let misdirected = http(&n1.address, "GET", "/v1/messages", &account_header("globex"));
    assert_eq!(misdirected.status, 421, "{}", misdirected.body);
    assert!(misdirected.hint().contains(&format!("n2 (http://{})", binds[1])), "{}", misdirected.body);
    let unknown = http(&n1.address, "GET", "/v1/messages", &account_header("initech"));
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    assert!(unknown.hint().contains("No node of this fleet holds account \"initech\""), "{}", unknown.body);
    let unnamed = http(&n2.address, "GET", "/v1/messages", &[]);
    assert_eq!(unnamed.status, 400, "{}", unnamed.body);
    // Each account has its own data directory on each node that holds it.
    let root = directory.path();
    assert!(root.join("n1/acme").is_dir() && root.join("n2/acme").is_dir() && root.join("n2/globex").is_dir());
    assert!(!root.join("n1/globex").exists(), "n1 keeps no directory for an account it does not hold");
}

/// Three `nats-server`s in one JetStream cluster on loopback.
struct Cluster {
    nodes: Vec<Option<Child>>,
    urls: Vec<String>,
    /// Each server's monitoring port.
    monitors: Vec<u16>,
    store: tempfile::TempDir,
}

/// The body of `GET path` from a server's monitoring port, if it answers.
fn monitor_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.split_once("\r\n\r\n").map(|(_, body)| body.to_owned())
}

impl Cluster {
    /// Three servers, once each of them is up and sees a JetStream leader;
    /// started again on other ports if one of them is not within the
    /// deadline (a port taken between `free_port` and the server's bind
    /// leaves two servers, on which a stream of three replicas is never
    /// placed), and a panic with their logs after three tries.
    fn start() -> Cluster {
        let mut reasons = Vec::new();
        for _ in 0..3 {
            let cluster = Cluster::spawn();
            match cluster.wait_until_formed(Duration::from_secs(20)) {
                Ok(()) => return cluster,
                Err(reason) => reasons.push(format!("{reason}\n{}", cluster.logs())),
            }
        }
        panic!("the nats-server cluster did not form:\n{}", reasons.join("\n---\n"));
    }

    fn spawn() -> Cluster {
        let store = tempfile::tempdir().unwrap();
        let ports: Vec<(u16, u16, u16)> = (0..3).map(|_| (free_port(), free_port(), free_port())).collect();
        let routes: Vec<String> = ports.iter().map(|(_, cluster, _)| format!("nats://127.0.0.1:{cluster}")).collect();
        let nodes = ports
            .iter()
            .enumerate()
            .map(|(index, (client, cluster, monitor))| {
                Some(
                    Command::new("nats-server")
                        .args(["-a", "127.0.0.1", "-p", &client.to_string(), "-n", &format!("n{index}"), "-js", "-sd"])
                        .arg(store.path().join(format!("n{index}")))
                        .args(["--cluster_name", "msgdex", "--cluster", &format!("nats://127.0.0.1:{cluster}")])
                        .args(["--routes", &routes.join(",")])
                        .args(["-m", &monitor.to_string(), "-l"])
                        .arg(store.path().join(format!("n{index}.log")))
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .spawn()
                        .expect("nats-server is needed for the stream tests: apt-get install nats-server"),
                )
            })
            .collect();
        let urls = ports.iter().map(|(client, _, _)| format!("nats://127.0.0.1:{client}")).collect();
        let monitors = ports.iter().map(|&(_, _, monitor)| monitor).collect();
        Cluster { nodes, urls, monitors, store }
    }

    /// Waits until every server runs and its JetStream status names a
    /// leader of the three; `Err` with what was missing at the deadline.
    fn wait_until_formed(&self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            let missing: Vec<String> = self
                .monitors
                .iter()
                .enumerate()
                .filter_map(|(index, &monitor)| {
                    let status: Option<serde_json::Value> =
                        monitor_get(monitor, "/jsz").and_then(|body| serde_json::from_str(&body).ok());
                    let meta = status.as_ref().map(|status| &status["meta_cluster"]);
                    let formed = meta.is_some_and(|meta| {
                        meta["leader"].as_str().is_some_and(|leader| !leader.is_empty()) && meta["cluster_size"] == 3
                    });
                    (!formed).then(|| format!("n{index}: {meta:?}"))
                })
                .collect();
            if missing.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!("not formed in {timeout:?}: {}", missing.join("; ")));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The servers' log files, for a failure's message.
    fn logs(&self) -> String {
        (0..self.nodes.len())
            .map(|index| {
                let log = std::fs::read_to_string(self.store.path().join(format!("n{index}.log"))).unwrap_or_default();
                let lines: Vec<&str> = log.lines().collect();
                format!("n{index}.log (last lines):\n{}", lines[lines.len().saturating_sub(15)..].join("\n"))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn kill(&mut self, index: usize) {
        if let Some(mut child) = self.nodes[index].take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for index in 0..self.nodes.len() {
            self.kill(index);
        }
    }
}

fn cluster_node(directory: &std::path::Path, cluster: &Cluster) -> Server {
    Server::start_serving(
        directory.to_str().unwrap(),
        &["--no-auth", "--stream", &cluster.urls.join(","), "--account", ACCOUNT, "--stream-replicas", "3"],
        Stderr::Drained,
    )
}

#[test]
fn nodes_converge_on_a_three_server_cluster_when_a_server_and_a_node_die() {
    // Alone on the machine: a cluster's elections time out when the other
    // tests' servers and nodes take the two cores.
    let _machine = MACHINE.write().unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut cluster = Cluster::start();
    let directory = tempfile::tempdir().unwrap();
    let paths: Vec<_> = ["a.db", "b.db", "c.db"].iter().map(|name| directory.path().join(name)).collect();
    let writer = cluster_node(&paths[0], &cluster);
    let mut replica_b = Some(cluster_node(&paths[1], &cluster));
    let replica_c = cluster_node(&paths[2], &cluster);
    let messages: Vec<Message> = msgdex::load_path(format!("{ROOT}/tests/conformance/messages.jsonl")).unwrap();
    let reference = LiveReference::new(ReferenceEngine::new(vec![]));
    let mut rng = Rng::new(9);
    let started = Instant::now();
    for number in 0..300 {
        if number % 50 == 0 {
            eprintln!("write {number} at {:?}", started.elapsed());
        }
        if number == 100 {
            cluster.kill(2);
            replica_b.take().unwrap().child.kill().unwrap();
        }
        if number == 200 {
            replica_b = Some(cluster_node(&paths[1], &cluster));
        }
        let id = format!("m{}", rng.below(150));
        let message = Message { id: id.clone(), ..rng.pick(&messages).clone() };
        let target = format!("/v1/messages/{id}");
        let headers = [("Content-Type".to_owned(), "application/json".to_owned())];
        // While the cluster elects new leaders a write may not be
        // acknowledged (503); an upsert is retried until it is.
        let mut tries = 0;
        loop {
            let answer = http_with_body(&writer.address, "PUT", &target, &headers, &message.to_json());
            if answer.status < 300 {
                break;
            }
            tries += 1;
            assert!(answer.status == 503 && tries < 60, "PUT {target}: {} {}", answer.status, answer.body);
            std::thread::sleep(Duration::from_millis(500));
        }
        reference.apply(vec![Write::Upsert(message)]).unwrap();
    }
    let replica_b = replica_b.unwrap();
    let wrong = converge(&[&writer, &replica_b, &replica_c], &reference, Duration::from_secs(60));
    eprintln!("converged at {:?}", started.elapsed());
    assert_eq!(wrong, [0, 0, 0], "targets where each node differs from the reference");
}

/// Measures how fast a new node applies the stream: `MSGDEX_STREAM_MESSAGES`
/// messages (200,000 by default) are written through one node in batches of
/// 100, then a second node starts empty and its catch-up is timed. A
/// measurement, not a check:
/// `cargo test --release -p msgdex-cli --test stream apply_rate -- --ignored --nocapture`.
/// Writes `total` messages through the node at `address` in batches of
/// 100; the stream sequence of the last.
fn write_in_batches(address: &str, total: usize) -> String {
    // MSGDEX_STREAM_DATA names other messages to cycle through (a BENCH
    // data set, say).
    let data =
        std::env::var("MSGDEX_STREAM_DATA").unwrap_or_else(|_| format!("{ROOT}/tests/conformance/messages.jsonl"));
    let messages: Vec<Message> = msgdex::load_path(data).unwrap();
    let headers = [("Content-Type".to_owned(), "application/json".to_owned())];
    let mut connection = KeepAlive::connect(address);
    let mut last = String::new();
    for first in (0..total).step_by(100) {
        let writes: Vec<String> = (first..(first + 100).min(total))
            .map(|number| {
                let message = Message { id: format!("r{number:07}"), ..messages[number % messages.len()].clone() };
                format!(r#"{{"put": {}}}"#, message.to_json())
            })
            .collect();
        let answer = connection.send_with_body("POST", "/v1/messages", &headers, &format!("[{}]", writes.join(",")));
        let answer = answer.expect("the writer answers");
        assert_eq!(answer.status, 200, "{}", answer.body);
        last =
            answer.headers.lines().find_map(|line| line.strip_prefix("x-msgdex-sequence:")).unwrap().trim().to_owned();
    }
    last
}

/// Measures how long a new node takes to start from a snapshot of
/// `MSGDEX_STREAM_MESSAGES` messages (1,000,000 by default; their contents
/// cycle through `MSGDEX_STREAM_DATA`, the conformance messages by default)
/// written through another node, which publishes it. A measurement, not a
/// check:
/// `cargo test --release -p msgdex-cli --test stream bootstrap_time -- --ignored --nocapture`.
#[test]
#[ignore]
fn bootstrap_time_from_a_snapshot() {
    let total: usize =
        std::env::var("MSGDEX_STREAM_MESSAGES").ok().and_then(|text| text.parse().ok()).unwrap_or(1_000_000);
    let nats = Nats::start();
    let directory = tempfile::tempdir().unwrap();
    let writer = Server::start_serving(
        directory.path().join("a.db").to_str().unwrap(),
        &[
            "--no-auth",
            "--stream",
            &nats.url,
            "--account",
            ACCOUNT,
            "--sync",
            "never",
            "--max-body-bytes",
            "4000000",
            "--snapshot-every",
            "5",
        ],
        Stderr::Drained,
    );
    let last: u64 = write_in_batches(&writer.address, total).parse().unwrap();
    let published = "published a snapshot at stream sequence ";
    let deadline = Instant::now() + Duration::from_secs(300);
    while !(writer.wait_for_stderr(published, Duration::from_secs(1)) && said_number(&writer, published) >= last) {
        assert!(Instant::now() < deadline, "no snapshot of the whole stream:\n{}", writer.stderr.lock().unwrap());
    }
    let started = Instant::now();
    let reader = node(&directory.path().join("b.db"), &nats);
    let listening = started.elapsed();
    let answer =
        http(&reader.address, "GET", "/v1/messages?per_page=1", &[("X-Msgdex-Min-Sequence".into(), last.to_string())]);
    let caught_up = started.elapsed();
    assert!(answer.body.contains(&format!("\"item_count\":{total}")), "{}", answer.body);
    let snapshot_bytes = std::fs::read_dir(directory.path().join("b.db"))
        .unwrap()
        .flatten()
        .map(|entry| entry.metadata().map_or(0, |metadata| metadata.len()))
        .sum::<u64>();
    eprintln!(
        "{total} messages: a new node answered from the snapshot ({:.0} MB) in {listening:?} after its start, and had the stream's last change in {caught_up:?}",
        snapshot_bytes as f64 / 1e6
    );
    eprintln!(
        "{}",
        reader.stderr.lock().unwrap().lines().filter(|line| line.contains("snapshot")).collect::<Vec<_>>().join("\n")
    );
}

#[test]
#[ignore]
fn apply_rate_of_a_node_catching_up() {
    let total: usize =
        std::env::var("MSGDEX_STREAM_MESSAGES").ok().and_then(|text| text.parse().ok()).unwrap_or(200_000);
    let nats = Nats::start();
    let directory = tempfile::tempdir().unwrap();
    let writer = Server::start_serving(
        directory.path().join("a.db").to_str().unwrap(),
        &["--no-auth", "--stream", &nats.url, "--account", ACCOUNT, "--sync", "never", "--max-body-bytes", "4000000"],
        Stderr::Drained,
    );
    let writing = Instant::now();
    let last = write_in_batches(&writer.address, total);
    let written = writing.elapsed();
    let started = Instant::now();
    let reader = Server::start_serving(
        directory.path().join("b.db").to_str().unwrap(),
        &["--no-auth", "--stream", &nats.url, "--account", ACCOUNT, "--sync", "never"],
        Stderr::Drained,
    );
    let caught_up =
        http(&reader.address, "GET", "/v1/messages?per_page=1", &[("X-Msgdex-Min-Sequence".into(), last.clone())]);
    let mut waited = 0;
    let mut answer = caught_up;
    while answer.status != 200 && waited < 120 {
        waited += 1;
        answer =
            http(&reader.address, "GET", "/v1/messages?per_page=1", &[("X-Msgdex-Min-Sequence".into(), last.clone())]);
    }
    let elapsed = started.elapsed();
    assert!(answer.body.contains(&format!("\"item_count\":{total}")), "{}", answer.body);
    eprintln!(
        "{total} messages in {} records: written through a node in {written:?} ({:.0}/s); a new node applied them in {elapsed:?} ({:.0} messages/s, its start included)",
        total.div_ceil(100),
        total as f64 / written.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
}

/// Measures how long a change takes from the stream to a second node's
/// snapshot at `MSGDEX_LAG_WRITES` single writes a second (1000 by
/// default) through one node for `MSGDEX_LAG_SECONDS` (20), from the
/// second node's `msgdex_stream_lag_seconds` histogram. A measurement, not
/// a check:
/// `cargo test --release -p msgdex-cli --test stream stream_lag -- --ignored --nocapture`.
#[test]
#[ignore]
fn stream_lag_at_a_steady_write_rate() {
    let setting =
        |name: &str, default: u64| std::env::var(name).ok().and_then(|text| text.parse().ok()).unwrap_or(default);
    let (rate, seconds) = (setting("MSGDEX_LAG_WRITES", 1000), setting("MSGDEX_LAG_SECONDS", 20));
    let nats = Nats::start();
    let directory = tempfile::tempdir().unwrap();
    let arguments = |name: &str| -> Vec<String> {
        let path = directory.path().join(name);
        ["--no-auth", "--stream", &nats.url, "--account", ACCOUNT, "--metrics", "--data"]
            .iter()
            .map(|text| text.to_string())
            .chain([path.to_str().unwrap().to_owned()])
            .collect()
    };
    let start = |name: &str| {
        let arguments = arguments(name);
        let data = arguments.last().unwrap().clone();
        let flags: Vec<&str> = arguments[..arguments.len() - 2].iter().map(String::as_str).collect();
        Server::start_serving(&data, &flags, Stderr::Drained)
    };
    let (writer, reader) = (start("a.db"), start("b.db"));
    let messages: Vec<Message> = msgdex::load_path(format!("{ROOT}/tests/conformance/messages.jsonl")).unwrap();
    const THREADS: u64 = 8;
    let until = Instant::now() + Duration::from_secs(seconds);
    let drivers: Vec<_> = (0..THREADS)
        .map(|thread| {
            let (address, messages) = (writer.address.clone(), messages.clone());
            std::thread::spawn(move || {
                let mut connection = KeepAlive::connect(&address);
                let headers = [("Content-Type".to_owned(), "application/json".to_owned())];
                let interval = Duration::from_secs_f64(THREADS as f64 / rate as f64);
                let mut next = Instant::now();
                let mut sent = 0u64;
                while Instant::now() < until {
                    let message = Message {
                        id: format!("lag-{thread}-{}", sent % 5000),
                        ..messages[(sent as usize) % messages.len()].clone()
                    };
                    let answer = connection.send_with_body(
                        "PUT",
                        &format!("/v1/messages/{}", message.id),
                        &headers,
                        &message.to_json(),
                    );
                    assert!(answer.is_some_and(|answer| answer.status < 300));
                    sent += 1;
                    next += interval;
                    if let Some(wait) = next.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                }
                sent
            })
        })
        .collect();
    let sent: u64 = drivers.into_iter().map(|driver| driver.join().unwrap()).sum();
    std::thread::sleep(Duration::from_millis(500));
    let metrics = http(&reader.address, "GET", "/metrics", &[]).body;
    let buckets: Vec<(String, u64)> = metrics
        .lines()
        .filter_map(|line| line.strip_prefix("msgdex_stream_lag_seconds_bucket{le=\""))
        .filter_map(|rest| {
            let (bound, count) = rest.split_once("\"} ")?;
            Some((bound.to_owned(), count.parse().ok()?))
        })
        .collect();
    let total = buckets.last().map_or(0, |(_, count)| *count);
    eprintln!("{sent} writes in {seconds} s ({:.0}/s) through one node; the other node's lag, from the stream's storing to visible:", sent as f64 / seconds as f64);
    for (bound, count) in &buckets {
        eprintln!("  <= {bound:>8} s: {:6.2}%", 100.0 * *count as f64 / total.max(1) as f64);
    }
    assert!(total >= sent * 9 / 10, "the reader saw {total} of {sent} changes");
}
