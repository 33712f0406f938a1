//! `msgdex serve` (cargo feature `server`): the engine behind the CareHQ
//! Messages API's HTTP interface, so that the official client libraries
//! work against it.
//!
//! Every answer comes from [`Engine::respond`], the function behind the
//! transcript form, so the server and `msgdex run` cannot disagree. Around
//! it: CareHQ's request signing ([`auth`]), per-key rate limits with the
//! `X-CareHQ-RateLimit-*` headers, bounds on the request target, headers
//! and body, a time limit per request, 405 for other methods, graceful
//! shutdown, and one access-log line per request (method, path, status,
//! microseconds — never a header, so never a key, secret or signature).

pub mod auth;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response as HttpResponse;
use axum::Router;

use crate::engine::Engine;
use auth::{Authenticator, KeysFile, Refusal, SignedRequest};

/// How the server runs.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Address to listen on.
    pub bind: SocketAddr,
    /// Keys; `None` turns authentication off (loopback addresses only).
    pub keys: Option<KeysFile>,
    /// Requests per second allowed per API key.
    pub rate_limit: u32,
    /// Longest request target (path and query) accepted; longer is 414.
    pub max_target_bytes: usize,
    /// Most header bytes accepted; more is 431.
    pub max_header_bytes: usize,
    /// Largest request body accepted; larger is 413.
    pub max_body_bytes: u64,
    /// Longest time a request may take; past it the answer is 503.
    pub request_timeout: Duration,
}

impl ServerConfig {
    /// A configuration with the default bounds.
    pub fn new(bind: SocketAddr, keys: Option<KeysFile>) -> ServerConfig {
        ServerConfig {
            bind,
            keys,
            rate_limit: 100,
            max_target_bytes: 8 * 1024,
            max_header_bytes: 16 * 1024,
            max_body_bytes: 1 << 20,
            request_timeout: Duration::from_secs(10),
        }
    }

    /// Refuses a configuration without authentication on an address other
    /// machines can reach.
    pub fn validate(&self) -> Result<(), String> {
        if self.keys.is_none() && !self.bind.ip().is_loopback() {
            return Err(format!(
                "--no-auth is allowed only on a loopback address (127.0.0.1, ::1), not {}",
                self.bind.ip()
            ));
        }
        if self.rate_limit == 0 {
            return Err("--rate-limit must be at least 1 request per second".into());
        }
        Ok(())
    }
}

/// Per-key request counts in one-second windows.
#[derive(Debug, Default)]
struct RateLimiter {
    windows: Mutex<HashMap<String, (u64, u32)>>,
}

/// The rate-limit state reported on a response.
#[derive(Clone, Copy, Debug)]
struct RateState {
    limit: u32,
    remaining: u32,
    reset: u64,
    allowed: bool,
}

impl RateLimiter {
    fn admit(&self, key: &str, limit: u32, now: u64) -> RateState {
        let mut windows = self.windows.lock().expect("rate limiter is never poisoned");
        if windows.len() > 100_000 {
            windows.retain(|_, (second, _)| *second == now);
        }
        let (second, count) = windows.entry(key.to_owned()).or_insert((now, 0));
        if *second != now {
            *second = now;
            *count = 0;
        }
        let allowed = *count < limit;
        if allowed {
            *count += 1;
        }
        RateState { limit, remaining: limit - *count, reset: now + 1, allowed }
    }

    /// The state of a key's window without counting a request (for answers
    /// refused before a key is established, which must not spend its quota).
    fn peek(&self, key: &str, limit: u32, now: u64) -> RateState {
        let windows = self.windows.lock().expect("rate limiter is never poisoned");
        let used = windows.get(key).filter(|(second, _)| *second == now).map_or(0, |(_, count)| *count);
        RateState { limit, remaining: limit - used.min(limit), reset: now + 1, allowed: used < limit }
    }
}

/// What every request handler shares.
struct App {
    engine: Arc<dyn Engine>,
    config: ServerConfig,
    authenticator: Option<Authenticator>,
    limiter: RateLimiter,
}

/// Serves until `shutdown` completes, then finishes the requests in flight.
pub async fn serve(
    engine: Arc<dyn Engine>,
    config: ServerConfig,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let authenticator = config.keys.clone().map(Authenticator::new);
    let app = Arc::new(App { engine, config, authenticator, limiter: RateLimiter::default() });
    let router = Router::new().fallback(handle).with_state(app);
    axum::serve(listener, router).with_graceful_shutdown(shutdown).await
}

/// Binds, serves and stops on Ctrl-C or SIGTERM (blocking the thread).
pub fn run(engine: Arc<dyn Engine>, config: ServerConfig) -> Result<(), String> {
    config.validate()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| format!("cannot start the runtime: {error}"))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .map_err(|error| format!("cannot listen on {}: {error}", config.bind))?;
        let address = listener.local_addr().map_err(|error| error.to_string())?;
        eprintln!(
            "msgdex: serving {} messages on http://{address} ({})",
            engine.message_count(),
            if config.keys.is_some() { "signed requests only" } else { "no authentication" }
        );
        serve(engine, config, listener, shutdown_signal()).await.map_err(|error| format!("server failed: {error}"))?;
        eprintln!("msgdex: stopped");
        Ok(())
    })
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

fn unix_now() -> (i64, u64) {
    let seconds = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs());
    (seconds as i64, seconds)
}

async fn handle(State(app): State<Arc<App>>, request: axum::extract::Request) -> HttpResponse {
    let started = Instant::now();
    // The body is never read: GET requests have none, and others are refused.
    let (parts, _body) = request.into_parts();
    let method = parts.method.clone();
    let path = parts.uri.path().to_owned();
    let response = answer(&app, &method, &parts).await;
    eprintln!("{method} {path} {} {}µs", response.status().as_u16(), started.elapsed().as_micros());
    response
}

fn error(status: StatusCode, hint: &str) -> (StatusCode, String) {
    (status, crate::output::hint_body(hint))
}

async fn answer(app: &App, method: &Method, request: &axum::http::request::Parts) -> HttpResponse {
    let config = &app.config;
    let target = request.uri.path_and_query().map_or("/", |target| target.as_str()).to_owned();
    let headers = &request.headers;
    let header_bytes: usize = headers.iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum();
    let declared_body = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok())
        .unwrap_or(0);
    let early = if target.len() > config.max_target_bytes {
        Some(error(
            StatusCode::URI_TOO_LONG,
            &format!("The request target is longer than {} bytes.", config.max_target_bytes),
        ))
    } else if header_bytes > config.max_header_bytes {
        Some(error(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            &format!("The headers exceed {} bytes.", config.max_header_bytes),
        ))
    } else if declared_body > config.max_body_bytes {
        Some(error(StatusCode::PAYLOAD_TOO_LARGE, &format!("The body exceeds {} bytes.", config.max_body_bytes)))
    } else if method != Method::GET {
        Some(error(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!("{method} is not allowed here; the Messages API answers GET."),
        ))
    } else {
        None
    };
    let (now, now_unsigned) = unix_now();
    let claimed_key = headers.get("x-carehq-apikey").and_then(|value| value.to_str().ok()).unwrap_or("-");
    // Refusals carry the rate-limit headers of the key they claim, unspent.
    let refuse = |status: StatusCode, body: String| {
        let mut response = json_response(status, body);
        add_rate_headers(response.headers_mut(), app.limiter.peek(claimed_key, config.rate_limit, now_unsigned));
        response
    };
    if let Some((status, body)) = early {
        let mut response = refuse(status, body);
        if status == StatusCode::METHOD_NOT_ALLOWED {
            response.headers_mut().insert(axum::http::header::ALLOW, HeaderValue::from_static("GET"));
        }
        return response;
    }

    let caller = match &app.authenticator {
        None => "-".to_owned(),
        Some(authenticator) => {
            let decoded_path = percent_encoding::percent_decode_str(request.uri.path()).decode_utf8_lossy();
            let parameters: Vec<(String, String)> =
                form_urlencoded::parse(request.uri.query().unwrap_or("").as_bytes())
                    .map(|(key, value)| (key.into_owned(), value.into_owned()))
                    .collect();
            let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
            let signed = SignedRequest {
                account_id: header("x-carehq-accountid"),
                api_key: header("x-carehq-apikey"),
                nonce: header("x-carehq-nonce"),
                timestamp: header("x-carehq-timestamp"),
                version: header("x-carehq-signature-version"),
                signature: header("x-carehq-signature"),
                method: method.as_str(),
                path: &decoded_path,
                parameters: &parameters,
            };
            match authenticator.check(&signed, now) {
                Ok(key) => key,
                Err(Refusal::Unauthorized(hint)) => {
                    let (status, body) = error(StatusCode::UNAUTHORIZED, &hint);
                    return refuse(status, body);
                }
                Err(Refusal::Forbidden(hint)) => {
                    let (status, body) = error(StatusCode::FORBIDDEN, &hint);
                    return refuse(status, body);
                }
            }
        }
    };
    let rate = app.limiter.admit(&caller, config.rate_limit, now_unsigned);
    let mut response = if rate.allowed {
        let engine = Arc::clone(&app.engine);
        let work = tokio::task::spawn_blocking(move || engine.respond(&target));
        match tokio::time::timeout(config.request_timeout, work).await {
            Ok(Ok(answer)) => json_response(
                StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                answer.body,
            ),
            Ok(Err(_)) => {
                let (status, body) = error(StatusCode::INTERNAL_SERVER_ERROR, "The request failed.");
                json_response(status, body)
            }
            Err(_) => {
                let (status, body) = error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &format!("The request took longer than {} seconds.", config.request_timeout.as_secs()),
                );
                json_response(status, body)
            }
        }
    } else {
        let (status, body) = error(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("More than {} requests per second with this API key; retry after the reset time.", rate.limit),
        );
        json_response(status, body)
    };
    add_rate_headers(response.headers_mut(), rate);
    response
}

fn add_rate_headers(headers: &mut HeaderMap, rate: RateState) {
    let mut put = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    put("x-carehq-ratelimit-limit", rate.limit.to_string());
    put("x-carehq-ratelimit-remaining", rate.remaining.to_string());
    put("x-carehq-ratelimit-reset", format!("{}.0", rate.reset));
}

fn json_response(status: StatusCode, body: String) -> HttpResponse {
    let mut response = HttpResponse::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(axum::http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_auth_needs_a_loopback_address() {
        let loopback = ServerConfig::new("127.0.0.1:0".parse().unwrap(), None);
        assert!(loopback.validate().is_ok());
        let ipv6 = ServerConfig::new("[::1]:0".parse().unwrap(), None);
        assert!(ipv6.validate().is_ok());
        let open = ServerConfig::new("0.0.0.0:8080".parse().unwrap(), None);
        assert!(open.validate().unwrap_err().contains("loopback"));
    }

    #[test]
    fn rate_windows_are_per_key_and_per_second() {
        let limiter = RateLimiter::default();
        assert!(limiter.admit("a", 2, 10).allowed);
        let second = limiter.admit("a", 2, 10);
        assert!(second.allowed && second.remaining == 0 && second.reset == 11);
        assert!(!limiter.admit("a", 2, 10).allowed);
        assert!(limiter.admit("b", 2, 10).allowed, "keys have their own windows");
        assert!(limiter.admit("a", 2, 11).allowed, "a new second resets the window");
        let peeked = limiter.peek("a", 2, 11);
        assert_eq!((peeked.remaining, peeked.allowed), (1, true));
        assert_eq!(limiter.peek("a", 2, 11).remaining, 1, "peeking spends nothing");
        assert_eq!(limiter.peek("new", 2, 11).remaining, 2);
    }
}
