//! `msgdex serve` (cargo feature `server`): the engine behind the CareHQ
//! Messages API's HTTP interface, so that the official client libraries
//! work against it.
//!
//! The server assumes every client may be hostile. From the socket inward:
//!
//! ```text
//! accept ─▶ connection slot (max in all, max per client network; else 503 + close)
//!   └▶ watchdog: idle, header and write deadlines            (watchdog.rs)
//!      └▶ hyper HTTP/1.1, read buffer just above the head limits
//!         └▶ handler: bounds → Host (no auth) → failed-auth limit per address
//!               → signature → rate per key → nonce → query slot + time limit
//!                                                             (handler.rs, auth.rs)
//!            └▶ access log: a bounded queue to a writer thread  (access_log.rs)
//! ```
//!
//! Every answer's status and body come from [`Engine::respond`](crate::Engine::respond), the
//! function behind the transcript form. Memory is bounded per connection
//! (one read buffer, one response), per key (nonces of admitted requests
//! only) and per client network (the rate counters' tables are capped).

mod access_log;
mod accounts;
pub mod auth;
mod config;
mod connections;
mod handler;
mod keys;
mod metrics;
mod nonces;
mod rate;
mod served;
mod watchdog;
mod write_body;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use accounts::{NodeAddress, ServedAccounts};
pub use config::{ConfigError, ServerConfig};
pub use keys::{ApiKey, KeysError, KeysFile, KeysProblem, Scopes};
pub use metrics::{ExtraGauges, Gauges};
pub use served::{snapshot_gauges, AppliedSequence, ServedStore};
pub use write_body::sha256_hex;

use access_log::AccessLog;
use handler::App;

/// Why the server could not run.
#[derive(Debug)]
pub enum ServeError {
    /// The configuration was refused before anything was served.
    Config(ConfigError),
    /// The listener or the runtime failed.
    Io(std::io::Error),
}

impl fmt::Display for ServeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServeError::Config(error) => error.fmt(f),
            ServeError::Io(error) => write!(f, "the server failed: {error}"),
        }
    }
}

impl std::error::Error for ServeError {}

impl From<ConfigError> for ServeError {
    fn from(error: ConfigError) -> ServeError {
        ServeError::Config(error)
    }
}

/// How long the log writer may take to write its last lines at exit.
const LOG_DRAIN: Duration = Duration::from_secs(1);

/// Serves on `listener` until `shutdown` completes, then lets open
/// connections finish for up to the configured shutdown timeout.
///
/// The configuration is validated first, as the command line does (with
/// the listener's address as `bind`), and refused if `max_connections` does not fit this process's limit on open
/// files. The first log line names the address served.
pub async fn serve(
    store: impl Into<ServedAccounts>,
    mut config: ServerConfig,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    // The listener's own address is what `--no-auth` must be checked on.
    let store = store.into();
    let address = listener.local_addr().map_err(ServeError::Io)?;
    config.bind = address;
    config.validate()?;
    check_open_file_limit(&config)?;
    check_keys_cover(&store, &config)?;
    let log = AccessLog::start();
    let accounts: Vec<&str> = store.accounts().collect();
    let held = if accounts.is_empty() { String::new() } else { format!(" of accounts {}", accounts.join(", ")) };
    log.line(format!(
        "msgdex: serving {} messages{held} on http://{address} ({}; {})",
        store.message_count(),
        if config.keys.is_some() { "signed requests only" } else { "no authentication, loopback Host only" },
        if store.takes_writes() { "writes taken" } else { "read-only" },
    ));
    let app = Arc::new(App::new(store, config, log));
    connections::accept_until(Arc::clone(&app), listener, shutdown).await;
    let dropped = app.log.dropped();
    let note = if dropped > 0 {
        format!(" ({dropped} log lines were dropped: stderr was slow or closed)")
    } else {
        String::new()
    };
    app.log.line(format!("msgdex: stopped{note}"));
    // A connection's task may still hold the app (and the log) a moment
    // after the last request: the queued lines are written either way.
    app.log.drain(LOG_DRAIN);
    Ok(())
}

/// A server of one store answers for the keys file's account, which must
/// then be named; a server of several accounts checks each key against the
/// account its request names.
fn check_keys_cover(store: &ServedAccounts, config: &ServerConfig) -> Result<(), ConfigError> {
    match &config.keys {
        Some(keys) if store.is_single() && keys.account_id.is_empty() => Err(ConfigError(
            "the keys file names no `account_id`: a server of one store answers for one account; \
name it (only a node holding several accounts takes a keys file without one)"
                .into(),
        )),
        Some(keys) if !store.is_single() && !keys.account_id.is_empty() => Err(ConfigError(format!(
            "the keys file names one account ({}), but this node holds several: leave `account_id` out of the \
file, and each key is admitted for the account of its own `account_id`",
            keys.account_id
        ))),
        _ => Ok(()),
    }
}

fn check_open_file_limit(config: &ServerConfig) -> Result<(), ConfigError> {
    let Some(limit) = crate::sys::open_file_limit() else {
        return Ok(());
    };
    let needed = config.max_connections as u64 + config::RESERVED_FILE_DESCRIPTORS;
    if needed > limit {
        return Err(ConfigError(format!(
            "--max-connections {} needs {needed} open files, but this process may open {limit}; \
lower --max-connections or raise the limit (ulimit -n)",
            config.max_connections
        )));
    }
    Ok(())
}

/// Binds, serves and stops on Ctrl-C or SIGTERM (blocking the thread).
///
/// Raises this process's soft limit on open files to its hard limit first,
/// so that `max_connections` can be used.
pub fn run(store: impl Into<ServedAccounts>, config: ServerConfig) -> Result<(), ServeError> {
    let store = store.into();
    config.validate()?;
    crate::sys::raise_open_file_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(ServeError::Io)?;
    let shutdown_timeout = config.shutdown_timeout;
    let served = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.bind).await.map_err(|error| {
            ServeError::Io(std::io::Error::new(error.kind(), format!("cannot listen on {}: {error}", config.bind)))
        })?;
        serve(store, config, listener, shutdown_signal()).await
    });
    // Queries still running past the deadline are not waited for.
    runtime.shutdown_timeout(shutdown_timeout);
    served
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Engine;

    #[test]
    fn the_library_entry_point_validates_like_the_command_line() {
        let engine: Arc<dyn Engine> = Arc::new(crate::ReferenceEngine::new(vec![]));
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let refused = runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let keys = KeysFile {
                account_id: "acc".into(),
                keys: vec![ApiKey {
                    account_id: "acc".into(),
                    api_key: "k".into(),
                    api_secret: String::new(),
                    scopes: Scopes::READ,
                }],
            };
            let empty_secret = ServerConfig::new("127.0.0.1:0".parse().unwrap(), Some(keys));
            serve(engine, empty_secret, listener, std::future::ready(())).await
        });
        assert!(matches!(refused, Err(ServeError::Config(ConfigError(message))) if message.contains("api_secret")));
    }
}
