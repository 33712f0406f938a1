//! How `msgdex serve` runs: the address, the keys, and every bound it puts
//! on a client. Each bound has a command-line flag of the same name.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use super::keys::KeysFile;

/// How the server runs, with every limit it enforces.
///
/// [`ServerConfig::new`] gives the defaults; [`ServerConfig::validate`]
/// refuses a configuration that would be unsafe or cannot work, and
/// [`serve`](super::serve) calls it before it accepts a connection.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Address to listen on.
    pub bind: SocketAddr,
    /// Keys; `None` turns authentication off (loopback addresses only, and
    /// only for requests whose `Host` is a loopback name).
    pub keys: Option<KeysFile>,
    /// Requests per second allowed per API key; more get 429.
    pub rate_limit: u32,
    /// Failed authentications allowed per client address in one minute;
    /// past it, every request from that address gets 429 until the minute
    /// ends (IPv6 clients are counted by their /64 network).
    pub auth_failure_limit: u32,
    /// Longest request target (path and query) accepted; longer is 414.
    pub max_target_bytes: usize,
    /// Most header bytes accepted; more is 431.
    pub max_header_bytes: usize,
    /// Largest request body accepted; larger is 413.
    pub max_body_bytes: u64,
    /// Connections served at once; past it, new ones get 503 and are closed.
    pub max_connections: usize,
    /// Connections served at once from one client address (IPv6: one /64).
    pub max_connections_per_address: usize,
    /// Queries evaluated at once; others wait, within `request_timeout`.
    pub max_concurrent_queries: usize,
    /// Longest a request's head may take to arrive, from its first byte.
    pub header_timeout: Duration,
    /// Longest a connection may sit without a byte while no request is
    /// being answered (before its first request, or between keep-alive
    /// requests).
    pub idle_timeout: Duration,
    /// Longest a response write may make no progress: a client that stops
    /// reading is dropped, and the one response it held is freed.
    pub write_timeout: Duration,
    /// Longest a request may take; past it the answer is 503.
    pub request_timeout: Duration,
    /// Longest Ctrl-C or SIGTERM waits for open connections to finish.
    pub shutdown_timeout: Duration,
    /// Whether `GET /metrics` answers, without authentication (bind to a
    /// network only operators reach); otherwise it is 404.
    pub metrics: bool,
    /// The bytes of write bodies held at once, across all connections; a
    /// write that finds no room gets 503 at once.
    pub max_body_bytes_in_flight: u64,
    /// Whether a PUT that creates a message answers 200 instead of SPEC
    /// §8's 201: the official clients treat every status but 200 and 204
    /// as an error.
    pub created_as_ok: bool,
}

/// A configuration [`ServerConfig::validate`] refused, with the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// File descriptors kept back from `max_connections` for the listener, the
/// data, the log and the runtime.
pub(crate) const RESERVED_FILE_DESCRIPTORS: u64 = 64;

impl ServerConfig {
    /// A configuration with the default bounds.
    pub fn new(bind: SocketAddr, keys: Option<KeysFile>) -> ServerConfig {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        ServerConfig {
            bind,
            keys,
            rate_limit: 100,
            auth_failure_limit: 30,
            max_target_bytes: 8 * 1024,
            max_header_bytes: 16 * 1024,
            max_body_bytes: 1 << 20,
            max_connections: 1024,
            max_connections_per_address: 256,
            max_concurrent_queries: 2 * cores,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(15),
            write_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(5),
            metrics: false,
            created_as_ok: false,
            max_body_bytes_in_flight: 64 << 20,
        }
    }

    /// Refuses a configuration without authentication on an address other
    /// machines can reach, keys with empty credentials, and bounds that
    /// would refuse everything.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let refuse = |message: String| Err(ConfigError(message));
        match &self.keys {
            None if !self.bind.ip().is_loopback() => {
                return refuse(format!(
                    "--no-auth is allowed only on a loopback address (127.0.0.1, ::1), not {}",
                    self.bind.ip()
                ))
            }
            None => {}
            Some(keys) => keys.validate().map_err(|error| ConfigError(error.to_string()))?,
        }
        let at_least_one = [
            (self.rate_limit as u64, "--rate-limit"),
            (self.auth_failure_limit as u64, "--auth-failure-limit"),
            (self.max_connections as u64, "--max-connections"),
            (self.max_connections_per_address as u64, "--max-connections-per-address"),
            (self.max_concurrent_queries as u64, "--max-concurrent-queries"),
        ];
        for (value, flag) in at_least_one {
            if value == 0 {
                return refuse(format!("{flag} must be at least 1"));
            }
        }
        let timeouts = [
            (self.header_timeout, "--header-timeout"),
            (self.idle_timeout, "--idle-timeout"),
            (self.write_timeout, "--write-timeout"),
            (self.request_timeout, "--request-timeout"),
        ];
        for (timeout, flag) in timeouts {
            if timeout.is_zero() {
                return refuse(format!("{flag} must be longer than 0 seconds"));
            }
        }
        if self.max_body_bytes_in_flight < self.max_body_bytes {
            return refuse(format!(
                "--max-body-bytes-in-flight ({}) must be at least --max-body-bytes ({}), or no largest body could ever be read",
                self.max_body_bytes_in_flight, self.max_body_bytes
            ));
        }
        if self.max_target_bytes < 64 || self.max_header_bytes < 256 {
            return refuse("the request target limit must be at least 64 bytes and the header limit 256".into());
        }
        Ok(())
    }

    /// The largest buffer a connection reads a request's head into: the
    /// target and header limits with room for the request line's framing,
    /// so that a head past the limits is answered 414 or 431 without the
    /// server buffering more of it.
    pub(crate) fn read_buffer_bytes(&self) -> usize {
        // hyper refuses a buffer smaller than 8 KiB.
        (self.max_target_bytes + self.max_header_bytes + 1024).max(8192)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::keys::{ApiKey, Scopes};

    fn keys(secret: &str) -> KeysFile {
        KeysFile {
            account_id: "acc".into(),
            keys: vec![ApiKey {
                account_id: "acc".into(),
                api_key: "k".into(),
                api_secret: secret.into(),
                scopes: Scopes::READ,
            }],
        }
    }

    #[test]
    fn no_auth_needs_a_loopback_address() {
        let loopback = ServerConfig::new("127.0.0.1:0".parse().unwrap(), None);
        assert!(loopback.validate().is_ok());
        let ipv6 = ServerConfig::new("[::1]:0".parse().unwrap(), None);
        assert!(ipv6.validate().is_ok());
        let open = ServerConfig::new("0.0.0.0:8080".parse().unwrap(), None);
        assert!(open.validate().unwrap_err().0.contains("loopback"));
    }

    #[test]
    fn empty_credentials_and_zero_bounds_are_refused() {
        let address = "0.0.0.0:8080".parse().unwrap();
        assert!(ServerConfig::new(address, Some(keys("s"))).validate().is_ok());
        let empty = ServerConfig::new(address, Some(keys(""))).validate().unwrap_err();
        assert!(empty.0.contains("api_secret"), "{empty}");
        let mut zero = ServerConfig::new(address, Some(keys("s")));
        zero.max_connections = 0;
        assert!(zero.validate().unwrap_err().0.contains("--max-connections"));
        let mut instant = ServerConfig::new(address, Some(keys("s")));
        instant.header_timeout = Duration::ZERO;
        assert!(instant.validate().unwrap_err().0.contains("--header-timeout"));
    }
}
