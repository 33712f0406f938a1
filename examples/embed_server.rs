//! Embedding the HTTP server in a program of your own: the Messages API
//! with CareHQ's request signing, served from a `FastEngine` on a listener
//! you bind, stopped when your program says so.
//!
//! `cargo run --example embed_server --features server`
//!
//! It serves the bundled fixture on a free loopback port, signs one request
//! as the official clients do, prints the answer, and shuts down.

use std::io::{Read, Write};
use std::sync::Arc;

use msgdex::server::auth::{canonical_parameters, sign};
use msgdex::server::{serve, ApiKey, KeysFile, Scopes, ServerConfig};
use msgdex::{Engine, FastEngine};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine: Arc<dyn Engine> = Arc::new(FastEngine::load_path("fixtures/messages.jsonl")?);
    let keys = KeysFile {
        account_id: "my-account".into(),
        keys: vec![ApiKey {
            account_id: "my-account".into(),
            api_key: "my-key".into(),
            api_secret: "my-secret".into(),
            scopes: Scopes::READ,
        }],
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let address = listener.local_addr()?;
    let config = ServerConfig::new(address, Some(keys));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = runtime.spawn(serve(engine, config, listener, async {
        let _ = stopped.await;
    }));

    // A client signing like the official ones (see `msgdex::server::auth`).
    let target = "/v1/messages?filters-channel=sms&per_page=2&attributes=channel";
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let parameters: Vec<(String, String)> =
        form_urlencoded::parse(query.as_bytes()).map(|(name, value)| (name.into_owned(), value.into_owned())).collect();
    let timestamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs().to_string();
    let nonce = format!("example-{timestamp}");
    let signature = sign("my-secret", &timestamp, &nonce, "GET", path, &canonical_parameters(&parameters));
    let mut stream = std::net::TcpStream::connect(address)?;
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nX-CareHQ-AccountId: my-account\r\n\
X-CareHQ-APIKey: my-key\r\nX-CareHQ-Nonce: {nonce}\r\nX-CareHQ-Timestamp: {timestamp}\r\n\
X-CareHQ-Signature-Version: 2.0\r\nX-CareHQ-Signature: {signature}\r\n\r\n"
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    println!("{}\n\n{body}", head.lines().next().unwrap_or(""));

    let _ = stop.send(());
    runtime.block_on(server)??;
    Ok(())
}
