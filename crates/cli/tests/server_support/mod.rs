//! Starting `msgdex serve` as a child process and talking to it over real
//! sockets: one-shot and keep-alive HTTP/1.1 clients, CareHQ signing, and
//! the child's open files and resident memory as /proc shows them.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use msgdex::server::auth::{canonical_parameters, sign};

pub const ACCOUNT: &str = "acc-1";
pub const KEY: &str = "key-1";
pub const SECRET: &str = "secret-1";
pub const DATA: &str = "fixtures/messages.jsonl";
/// A key with the `write` scope (KEY reads only).
pub const WRITE_KEY: &str = "key-w";
pub const WRITE_SECRET: &str = "secret-w";

/// The workspace root, where `fixtures/` is.
pub const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// What happens to the server's stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stderr {
    /// Read continuously into [`Server::stderr`] until it closes.
    Drained,
    /// A pipe whose first line is read, then never again.
    Undrained,
    /// Closed before the server starts (`2>&-`).
    Closed,
}

/// A running `msgdex serve`, killed when dropped.
pub struct Server {
    pub child: Child,
    pub address: String,
    /// The undrained pipe, held open so that writes to it block.
    pub stuck_stderr: Option<BufReader<ChildStderr>>,
    /// What a drained stderr said so far (from its first line).
    pub stderr: std::sync::Arc<std::sync::Mutex<String>>,
    /// The thread draining stderr, which ends when the server's stderr closes.
    drainer: Option<std::thread::JoinHandle<()>>,
    _keys: tempfile::TempDir,
}

/// A keys file with our key, and a key of another account.
fn write_keys(directory: &std::path::Path) -> std::path::PathBuf {
    let path = directory.join("keys.json");
    std::fs::write(
        &path,
        format!(
            r#"{{"account_id": "{ACCOUNT}", "keys": [
                {{"account_id": "{ACCOUNT}", "api_key": "{KEY}", "api_secret": "{SECRET}"}},
                {{"account_id": "{ACCOUNT}", "api_key": "{WRITE_KEY}", "api_secret": "{WRITE_SECRET}",
                  "scopes": ["read", "write"]}},
                {{"account_id": "acc-2", "api_key": "key-2", "api_secret": "secret-2"}}]}}"#
        ),
    )
    .unwrap();
    path
}

/// A port free on loopback at the moment of asking.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Server {
    /// Serves the fixture with our keys, stderr drained.
    pub fn start(extra: &[&str]) -> Server {
        Server::start_with(extra, Stderr::Drained)
    }

    /// Serves the fixture with our keys and `extra` arguments (`--no-auth`
    /// among them drops the keys).
    pub fn start_with(extra: &[&str], stderr: Stderr) -> Server {
        Server::start_serving(DATA, extra, stderr)
    }

    /// Serves `data` (a path from the workspace root, or absolute) with our
    /// keys and `extra` arguments.
    pub fn start_serving(data: &str, extra: &[&str], stderr: Stderr) -> Server {
        Server::start_serving_at(data, &format!("127.0.0.1:{}", free_port()), extra, stderr)
    }

    /// Serves `data` on `bind` (a loopback address) with our keys and
    /// `extra` arguments.
    pub fn start_serving_at(data: &str, bind: &str, extra: &[&str], stderr: Stderr) -> Server {
        let keys = tempfile::tempdir().unwrap();
        let keys_path = write_keys(keys.path());
        let bind = bind.to_owned();
        let mut arguments: Vec<String> =
            vec!["serve".into(), "--data".into(), data.into(), "--bind".into(), bind.clone()];
        if !extra.contains(&"--no-auth") {
            arguments.extend(["--keys".into(), keys_path.to_str().unwrap().into()]);
        }
        arguments.extend(extra.iter().map(|argument| argument.to_string()));
        let mut command = if stderr == Stderr::Closed {
            let mut shell = Command::new("sh");
            shell.arg("-c").arg(r#"exec "$0" "$@" 2>&-"#).arg(env!("CARGO_BIN_EXE_msgdex")).args(&arguments);
            shell.stderr(Stdio::null());
            shell
        } else {
            let mut direct = Command::new(env!("CARGO_BIN_EXE_msgdex"));
            direct.args(&arguments).stderr(Stdio::piped());
            direct
        };
        let mut child = command.current_dir(ROOT).stdout(Stdio::null()).spawn().unwrap();
        let mut stuck_stderr = None;
        let mut drainer = None;
        let said = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        if stderr != Stderr::Closed {
            let mut pipe = BufReader::new(child.stderr.take().unwrap());
            // The first line names the address (a follower's lines may come
            // before it).
            let mut first = String::new();
            for _ in 0..100 {
                first.clear();
                pipe.read_line(&mut first).unwrap();
                said.lock().unwrap().push_str(&first);
                if first.contains(&format!("http://{bind}"))
                    || !["msgdex sync", "msgdex follow", "msgdex stream", "msgdex: warning"]
                        .iter()
                        .any(|news| first.starts_with(news))
                {
                    break;
                }
            }
            assert!(first.contains(&format!("http://{bind}")), "the first line names the address: {first:?}");
            if stderr == Stderr::Drained {
                let said = std::sync::Arc::clone(&said);
                drainer = Some(std::thread::spawn(move || {
                    let mut line = String::new();
                    while pipe.read_line(&mut line).is_ok_and(|read| read > 0) {
                        said.lock().unwrap().push_str(&line);
                        line.clear();
                    }
                }));
            } else {
                stuck_stderr = Some(pipe);
            }
        }
        let server = Server { child, address: bind, stuck_stderr, stderr: said, drainer, _keys: keys };
        server.wait_until_listening();
        server
    }

    /// Waits up to `limit` for a drained stderr to say `needle`.
    pub fn wait_for_stderr(&self, needle: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while !self.stderr.lock().unwrap().contains(needle) {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    /// Waits until the server accepts a connection, then until it has
    /// closed that probe (its slot is freed in the same poll), so that a
    /// test counting connections starts from none.
    fn wait_until_listening(&self) {
        let started = Instant::now();
        let probe = loop {
            match TcpStream::connect(&self.address) {
                Ok(probe) => break probe,
                Err(_) => {
                    assert!(
                        started.elapsed() < Duration::from_secs(20),
                        "the server never listened on {}",
                        self.address
                    );
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        };
        let _ = probe.shutdown(std::net::Shutdown::Write);
        let _ = probe.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = std::io::Read::read_to_end(&mut &probe, &mut Vec::new());
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's open file descriptors.
    pub fn open_files(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid())).map_or(0, |entries| entries.count())
    }

    /// The server's resident memory in bytes.
    pub fn resident_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find(|line| line.starts_with("VmRSS:"))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|kib| kib.parse::<u64>().ok())
            .map_or(0, |kib| kib * 1024)
    }

    /// Waits up to `limit` for `condition`; whether it came true.
    pub fn eventually(&self, limit: Duration, mut condition: impl FnMut(&Server) -> bool) -> bool {
        let started = Instant::now();
        loop {
            if condition(self) {
                return true;
            }
            if started.elapsed() > limit {
                return false;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    pub fn terminate(&self) {
        // SAFETY: sending SIGTERM to our own child process.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        self.terminate();
        self.child.wait().unwrap()
    }

    /// Sends SIGTERM, waits for the exit, and returns it with everything
    /// a drained stderr said (the access log among it), read to its end.
    pub fn stop_with_stderr(mut self) -> (std::process::ExitStatus, String) {
        self.terminate();
        let status = self.child.wait().unwrap();
        let drainer = self.drainer.take().expect("a server started with its stderr drained");
        drainer.join().unwrap();
        let said = self.stderr.lock().unwrap().clone();
        (status, said)
    }

    /// Waits up to `limit` for the process to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    /// The head, lower-cased.
    pub headers: String,
    pub body: String,
}

impl Answer {
    pub fn hint(&self) -> String {
        let body: serde_json::Value = serde_json::from_str(&self.body).unwrap();
        body["hint"].as_str().unwrap_or_else(|| panic!("no hint in {}", self.body)).to_owned()
    }
}

/// The text of a request with `Host` and `Connection: close` unless given.
pub fn request_text(address: &str, method: &str, target: &str, headers: &[(String, String)]) -> String {
    let mut request = format!("{method} {target} HTTP/1.1\r\n");
    if !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("host")) {
        request.push_str(&format!("Host: {address}\r\n"));
    }
    if !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("connection")) {
        request.push_str("Connection: close\r\n");
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request
}

/// One request on a new connection, read to the end.
pub fn http(address: &str, method: &str, target: &str, headers: &[(String, String)]) -> Answer {
    http_raw(address, &request_text(address, method, target, headers))
}

/// Raw request bytes on a new connection, the answer read to the end.
pub fn http_raw(address: &str, request: &str) -> Answer {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    parse_answer(&raw).unwrap_or_else(|| panic!("no HTTP answer: {:?}", String::from_utf8_lossy(&raw)))
}

fn parse_answer(raw: &[u8]) -> Option<Answer> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some(Answer { status, headers: head.to_ascii_lowercase(), body: body.to_owned() })
}

/// A keep-alive connection that sends requests one at a time.
pub struct KeepAlive {
    reader: BufReader<TcpStream>,
    address: String,
}

impl KeepAlive {
    pub fn connect(address: &str) -> KeepAlive {
        KeepAlive::connect_from(address, None)
    }

    /// Connects from a given local address (another loopback address, say).
    pub fn connect_from(address: &str, local: Option<&str>) -> KeepAlive {
        let stream = match local {
            None => TcpStream::connect(address).unwrap(),
            Some(local) => connect_from(address, local).unwrap(),
        };
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        KeepAlive { reader: BufReader::new(stream), address: address.to_owned() }
    }

    /// Sends one request and reads its answer; `None` if the connection
    /// closed instead.
    pub fn send(&mut self, method: &str, target: &str, headers: &[(String, String)]) -> Option<Answer> {
        let mut headers = headers.to_vec();
        headers.push(("Connection".into(), "keep-alive".into()));
        let text = request_text(&self.address, method, target, &headers);
        self.reader.get_mut().write_all(text.as_bytes()).ok()?;
        self.read_answer()
    }

    /// Sends one request with a body and reads its answer.
    pub fn send_with_body(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(String, String)],
        body: &str,
    ) -> Option<Answer> {
        let mut headers = headers.to_vec();
        headers.push(("Connection".into(), "keep-alive".into()));
        headers.push(("Content-Length".into(), body.len().to_string()));
        let mut text = request_text(&self.address, method, target, &headers);
        text.push_str(body);
        self.reader.get_mut().write_all(text.as_bytes()).ok()?;
        self.read_answer()
    }

    pub fn read_answer(&mut self) -> Option<Answer> {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line).ok()? == 0 {
                return None;
            }
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        let lower = head.to_ascii_lowercase();
        let length: usize = lower
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))
            .map_or(0, |value| value.trim().parse().unwrap());
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body).ok()?;
        let status = head.split_whitespace().nth(1)?.parse().ok()?;
        Some(Answer { status, headers: lower, body: String::from_utf8(body).unwrap() })
    }

    pub fn stream(&mut self) -> &mut TcpStream {
        self.reader.get_mut()
    }
}

/// A TCP connection to `address` from the local address `local`.
pub fn connect_from(address: &str, local: &str) -> std::io::Result<TcpStream> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
    runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(format!("{local}:0").parse::<SocketAddr>().unwrap())?;
        let stream = socket.connect(address.parse().unwrap()).await?;
        stream.into_std().and_then(|stream| stream.set_nonblocking(false).map(|()| stream))
    })
}

/// Whether the server closed `stream` (a read sees the end, or a reset),
/// waiting up to `limit`.
pub fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut buffer = [0; 4096];
    let started = Instant::now();
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(error) if matches!(error.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return false
            }
            Err(_) => return true,
        }
        if started.elapsed() > limit {
            return false;
        }
    }
}

pub fn now() -> String {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs().to_string()
}

pub fn nonce(label: &str) -> String {
    format!("{label}-{}", SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos())
}

/// The decoded path and parameters of a target, as the server signs them.
pub fn signed_parts(target: &str) -> (String, Vec<(String, String)>) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let path = percent_encoding::percent_decode_str(path).decode_utf8_lossy().into_owned();
    let pairs = form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    (path, pairs)
}

/// The signing headers with a given signature.
pub fn headers_with(key: &str, nonce: &str, timestamp: &str, signature: String) -> Vec<(String, String)> {
    let account = if key == "key-2" { "acc-2" } else { ACCOUNT };
    [
        ("X-CareHQ-AccountId", account.to_owned()),
        ("X-CareHQ-APIKey", key.to_owned()),
        ("X-CareHQ-Nonce", nonce.to_owned()),
        ("X-CareHQ-Timestamp", timestamp.to_owned()),
        ("X-CareHQ-Signature-Version", "2.0".to_owned()),
        ("X-CareHQ-Signature", signature),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect()
}

/// Headers of a request signed as the Python client signs it.
pub fn signed(key: &str, secret: &str, target: &str, nonce: &str, timestamp: &str) -> Vec<(String, String)> {
    let (path, pairs) = signed_parts(target);
    let signature = sign(secret, timestamp, nonce, "GET", &path, &canonical_parameters(&pairs));
    headers_with(key, nonce, timestamp, signature)
}

/// The headers of a write signed by `key` over `parameters` (a form's
/// fields, or `sha256=<hex>` of a JSON body), with a fresh nonce.
pub fn signed_write(
    key: &str,
    secret: &str,
    method: &str,
    path: &str,
    parameters: &[(String, String)],
) -> Vec<(String, String)> {
    let (nonce, timestamp) = (nonce("write"), now());
    let signature = sign(secret, &timestamp, &nonce, method, path, &canonical_parameters(parameters));
    headers_with(key, &nonce, &timestamp, signature)
}

/// One request with a body on a new connection, read to the end.
pub fn http_with_body(address: &str, method: &str, target: &str, headers: &[(String, String)], body: &str) -> Answer {
    let mut headers = headers.to_vec();
    headers.push(("Content-Length".into(), body.len().to_string()));
    let mut request = request_text(address, method, target, &headers);
    request.push_str(body);
    http_raw(address, &request)
}

/// Our key's signature for `target`, with a fresh nonce.
pub fn ours(target: &str) -> Vec<(String, String)> {
    signed(KEY, SECRET, target, &nonce("ours"), &now())
}

/// A follower's keys file: the upstream's (read-only) key.
pub fn write_upstream_keys(path: &std::path::Path) {
    std::fs::write(
        path,
        format!(r#"{{"account_id": "{ACCOUNT}", "keys": [{{"account_id": "{ACCOUNT}", "api_key": "{KEY}", "api_secret": "{SECRET}"}}]}}"#),
    )
    .unwrap();
}

/// Signed headers of a raw JSON write by the writing key.
pub fn json_write_headers(method: &str, path: &str, body: &str) -> Vec<(String, String)> {
    let parameters = [("sha256".to_owned(), msgdex::server::sha256_hex(body.as_bytes()))];
    let mut headers = signed_write(WRITE_KEY, WRITE_SECRET, method, path, &parameters);
    headers.push(("Content-Type".into(), "application/json".into()));
    headers
}

/// The upstream's clock as `modified` holds it.
pub fn now_modified() -> String {
    let seconds = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let epoch = msgdex::DateTime::from_parts(1970, 1, 1, 0, 0, 0).unwrap().seconds();
    msgdex::DateTime::from_seconds(epoch + seconds as i64).unwrap().to_string()
}
