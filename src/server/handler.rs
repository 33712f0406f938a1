//! One request, from its head to its answer: the bounds on the target,
//! headers and body, the method, the `Host` check without authentication,
//! the per-address limit on failed authentications, the signature, the
//! per-key rate limit, the nonce, and the query itself under a time limit.
//!
//! Every answer comes from [`Engine::respond`], the function behind the
//! transcript form, so the server and `msgdex run` cannot disagree.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, ALLOW, CONTENT_LENGTH, CONTENT_TYPE, HOST};
use hyper::http::request::Parts;
use hyper::{HeaderMap, Method, StatusCode};
use tokio::sync::Semaphore;

use super::access_log::AccessLog;
use super::accounts::ServedAccounts;
use super::auth::{Authenticated, Authenticator, Refusal, SignedRequest};
use super::config::ServerConfig;
use super::metrics::{Metrics, Route};
use super::rate::{client_network, RateState, WindowCounter};
use super::served::ServedStore;
use super::watchdog::ConnectionActivity;
use super::write_body::WriteBody;
use crate::output::Response;
use crate::write_request::{answer_batch, answer_write, WriteMethod};

/// The HTTP response type of the server.
pub(crate) type HttpResponse = hyper::Response<Full<Bytes>>;

/// The length of the window failed authentications are counted in.
const AUTH_FAILURE_WINDOW_SECONDS: u64 = 60;

/// The unit of the budget of write bodies in flight: 1 KiB.
const BODY_BUDGET_UNIT: u64 = 1024;

/// Most distinct keys or client networks the rate counters track at once.
const MAX_TRACKED: usize = 65_536;

/// What every request handler shares.
pub(crate) struct App {
    pub(crate) accounts: ServedAccounts,
    pub(crate) metrics: Metrics,
    pub(crate) config: ServerConfig,
    pub(crate) authenticator: Option<Authenticator>,
    /// Requests per API key (by position in the keys file) per second.
    key_requests: WindowCounter<usize>,
    /// Failed authentications per client network per minute.
    auth_failures: WindowCounter<IpAddr>,
    /// Slots for queries evaluated at once.
    query_slots: Arc<Semaphore>,
    /// The bytes of write bodies held at once, in [`BODY_BUDGET_UNIT`]s.
    body_budget: Arc<Semaphore>,
    pub(crate) log: AccessLog,
}

impl App {
    /// The shared state of a server with this configuration.
    pub(crate) fn new(accounts: ServedAccounts, config: ServerConfig, log: AccessLog) -> App {
        App {
            accounts,
            metrics: Metrics::default(),
            authenticator: config.keys.clone().map(Authenticator::new),
            key_requests: WindowCounter::new(1, MAX_TRACKED),
            auth_failures: WindowCounter::new(AUTH_FAILURE_WINDOW_SECONDS, MAX_TRACKED),
            query_slots: Arc::new(Semaphore::new(config.max_concurrent_queries)),
            body_budget: Arc::new(Semaphore::new(
                usize::try_from(config.max_body_bytes_in_flight.div_ceil(BODY_BUDGET_UNIT)).unwrap_or(usize::MAX),
            )),
            config,
            log,
        }
    }
}

/// Answers one request, counts it, and writes its access-log line.
pub(crate) async fn handle(
    app: Arc<App>,
    peer: SocketAddr,
    activity: Arc<ConnectionActivity>,
    request: hyper::Request<hyper::body::Incoming>,
) -> Result<HttpResponse, Infallible> {
    let _answering = activity.begin_request();
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let route = Route::of(&parts.method, parts.uri.path());
    let response = answer(&app, peer.ip(), &parts, route, body).await;
    let elapsed = started.elapsed();
    app.metrics.record(route, response.status().as_u16(), elapsed);
    app.log.line(format!(
        "{} {} {} {} {}µs",
        peer.ip(),
        parts.method,
        parts.uri.path(),
        response.status().as_u16(),
        elapsed.as_micros()
    ));
    Ok(response)
}

use crate::sys::unix_now;

/// A JSON response with `{"hint": …}` as its body.
pub(crate) fn hint_response(status: StatusCode, hint: &str) -> HttpResponse {
    json_response(status, crate::output::hint_body(hint))
}

fn json_response(status: StatusCode, body: String) -> HttpResponse {
    let mut response = hyper::Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The refusal of a request that exceeds a bound or uses a method the
/// store does not answer.
/// The body length a request's `Content-Length` declares, if it does.
fn declared_body(parts: &Parts) -> Option<u64> {
    parts.headers.get(CONTENT_LENGTH).and_then(|value| value.to_str().ok()).and_then(|value| value.parse().ok())
}

fn out_of_bounds(
    config: &ServerConfig,
    parts: &Parts,
    route: Route,
    target: &str,
    writable: bool,
) -> Option<HttpResponse> {
    let header_bytes: usize = parts.headers.iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum();
    let declared_body = declared_body(parts).unwrap_or(0);
    if target.len() > config.max_target_bytes {
        return Some(hint_response(
            StatusCode::URI_TOO_LONG,
            &format!("The request target is longer than {} bytes.", config.max_target_bytes),
        ));
    }
    if header_bytes > config.max_header_bytes {
        return Some(hint_response(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            &format!("The headers exceed {} bytes.", config.max_header_bytes),
        ));
    }
    if declared_body > config.max_body_bytes {
        return Some(hint_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("The body exceeds {} bytes.", config.max_body_bytes),
        ));
    }
    if parts.method != Method::GET && !(writable && route.writes()) {
        let (allowed, words) = if writable {
            ("GET, PUT, DELETE, POST", "GET, PUT and DELETE of /v1/messages/<id>, and POST of a batch to /v1/messages")
        } else {
            ("GET", "GET only: this store is read-only")
        };
        let mut response = hint_response(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!("{} is not allowed here; this server answers {words}.", parts.method),
        );
        response.headers_mut().insert(ALLOW, HeaderValue::from_static(allowed));
        return Some(response);
    }
    None
}

/// Whether a `Host` value names this machine: `localhost` or a loopback
/// address, with any port. Without authentication only such requests are
/// answered, so that a web page on another origin whose name was rebound to
/// 127.0.0.1 cannot read the store through a browser.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(bracketed) = host.strip_prefix('[') {
        match bracketed.split_once(']') {
            Some((inside, port)) if port.is_empty() || is_port(port) => {
                return inside.parse::<std::net::Ipv6Addr>().is_ok_and(|address| address.is_loopback())
            }
            _ => return false,
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if is_port(port) => name,
            Some(_) => return false,
            None => host,
        }
    };
    let name = name.strip_suffix('.').unwrap_or(name);
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<std::net::Ipv4Addr>().is_ok_and(|address| address.is_loopback())
}

fn is_port(text: &str) -> bool {
    let digits = text.strip_prefix(':').unwrap_or(text);
    !digits.is_empty() && digits.len() <= 5 && digits.bytes().all(|byte| byte.is_ascii_digit())
}

fn host_is_local(parts: &Parts) -> bool {
    let header = parts.headers.get(HOST).and_then(|value| value.to_str().ok());
    let authority = parts.uri.authority().map(|authority| authority.as_str());
    match (header, authority) {
        (None, None) => false,
        (header, authority) => header.is_none_or(is_loopback_host) && authority.is_none_or(is_loopback_host),
    }
}

async fn answer(app: &App, client: IpAddr, parts: &Parts, route: Route, body: hyper::body::Incoming) -> HttpResponse {
    let config = &app.config;
    let target = parts.uri.path_and_query().map_or("/", |target| target.as_str()).to_owned();
    let account = parts.headers.get("x-carehq-accountid").and_then(|value| value.to_str().ok());
    let routed = app.accounts.route(account);
    let writable = routed.as_ref().map_or_else(|_| app.accounts.takes_writes(), |store| store.writes.is_some());
    if let Some(refused) = out_of_bounds(config, parts, route, &target, writable) {
        return refused;
    }
    match route {
        Route::Health => return health(app),
        Route::Metrics if config.metrics => {
            let text = app.metrics.render(app.accounts.message_count(), |gauges| app.accounts.set_gauges(gauges));
            let mut response = hyper::Response::new(Full::new(Bytes::from(text)));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
            return response;
        }
        _ => {}
    }
    let store = match routed {
        Ok(store) => store,
        Err(misrouted) => {
            return hint_response(
                StatusCode::from_u16(misrouted.status()).unwrap_or(StatusCode::BAD_REQUEST),
                &misrouted.hint(),
            )
        }
    };
    let deadline = tokio::time::Instant::now() + config.request_timeout;
    let now = unix_now();
    if app.authenticator.is_none() {
        if !host_is_local(parts) {
            return hint_response(
                StatusCode::FORBIDDEN,
                "Without authentication (--no-auth) msgdex answers only requests whose Host is localhost \
or a loopback address.",
            );
        }
        if route.writes() && from_another_site(parts) {
            return hint_response(
                StatusCode::FORBIDDEN,
                "Without authentication (--no-auth) msgdex takes no write from a web page of another origin.",
            );
        }
    }
    // A write's body is read only after its signing headers passed the
    // checks that need no key, within a budget of body bytes in flight.
    let mut _body_budget = None;
    let write = if route.writes() {
        if app.authenticator.is_some() {
            if let Err(refused) = precheck_write(app, client, parts, now) {
                return *refused;
            }
        }
        match reserve_body_budget(app, parts) {
            Ok(permit) => _body_budget = Some(permit),
            Err(refused) => return *refused,
        }
        match read_write_body(app, route, parts, body, deadline).await {
            Ok(write) => Some(write),
            Err(refused) => return refused,
        }
    } else {
        None
    };
    let rate = match &app.authenticator {
        None => None,
        Some(authenticator) => {
            let signed = write.as_ref().map(|write| write.signed.as_slice());
            match authenticate(app, authenticator, client, parts, signed, now) {
                Ok((authenticated, rate)) => {
                    if write.is_some() && !authenticated.scopes.write {
                        let mut response = hint_response(
                            StatusCode::FORBIDDEN,
                            "This API key may only read; writing needs a key with \"scopes\": [\"read\", \"write\"] \
in the server's keys file.",
                        );
                        add_rate_headers(response.headers_mut(), rate);
                        return response;
                    }
                    Some(rate)
                }
                Err(refused) => return *refused,
            }
        }
    };
    if let Some(refused) = wait_for_sequence(store, parts, deadline).await {
        return refused;
    }
    let is_write = write.is_some();
    let mut response = match write {
        Some(write) => apply_write(app, store, route, target, write, deadline).await,
        None => query(app, store, target, deadline).await,
    };
    if let Some(sequence) = &store.sequence {
        // A write's answer names a sequence that holds it; a read's, what
        // this node has applied.
        let named = if is_write { sequence.token() } else { sequence.current() };
        response.headers_mut().insert(SEQUENCE_HEADER, HeaderValue::from(named));
    }
    if let Some(rate) = rate {
        add_rate_headers(response.headers_mut(), rate);
    }
    response
}

/// `GET /healthz`: 200 when the store is ready to answer, 503 while not
/// (a replica's first copy). No authentication, and nothing else said.
fn health(app: &App) -> HttpResponse {
    if app.accounts.is_ready() {
        json_response(StatusCode::OK, "{\"ready\":true}".into())
    } else {
        json_response(StatusCode::SERVICE_UNAVAILABLE, "{\"ready\":false}".into())
    }
}

/// The header a stream node's answers name a change-stream sequence in.
const SEQUENCE_HEADER: &str = "x-msgdex-sequence";

/// The header a read names the sequence it must see in.
const MIN_SEQUENCE_HEADER: &str = "x-msgdex-min-sequence";

/// The longest a read waits for the sequence it names.
const MAX_SEQUENCE_WAIT: Duration = Duration::from_secs(5);

/// Read-your-writes: a request naming `X-Msgdex-Min-Sequence` waits until
/// this node has applied that change-stream sequence, for at most
/// [`MAX_SEQUENCE_WAIT`] within the request's deadline; the refusal when it
/// is malformed, not served here, or does not arrive in time.
async fn wait_for_sequence(store: &ServedStore, parts: &Parts, deadline: tokio::time::Instant) -> Option<HttpResponse> {
    let value = parts.headers.get(MIN_SEQUENCE_HEADER)?;
    let Some(wanted) = value.to_str().ok().and_then(|text| text.trim().parse::<u64>().ok()) else {
        return Some(hint_response(
            StatusCode::BAD_REQUEST,
            "X-Msgdex-Min-Sequence must be a stream sequence: the X-Msgdex-Sequence of a write's answer.",
        ));
    };
    let Some(sequence) = &store.sequence else {
        return Some(hint_response(
            StatusCode::BAD_REQUEST,
            "This server follows no change stream; X-Msgdex-Min-Sequence is for `msgdex serve --stream` nodes.",
        ));
    };
    let limit = deadline.saturating_duration_since(tokio::time::Instant::now()).min(MAX_SEQUENCE_WAIT);
    if sequence.wait_for(wanted, limit).await {
        return None;
    }
    let mut response = hint_response(
        StatusCode::SERVICE_UNAVAILABLE,
        &format!(
            "This node has applied the change stream up to sequence {}; {wanted} did not arrive within {}. \
Retry, or read without X-Msgdex-Min-Sequence.",
            sequence.current(),
            describe(limit)
        ),
    );
    response.headers_mut().insert(hyper::header::RETRY_AFTER, HeaderValue::from_static("1"));
    Some(response)
}

/// Whether a request comes from a web page of another origin: an `Origin`
/// that is not this machine, or `Sec-Fetch-Site: cross-site`. A browser
/// sends a form POST to any address without asking first; these headers
/// are how a server without keys tells it from a local program.
fn from_another_site(parts: &Parts) -> bool {
    let header = |name: &str| parts.headers.get(name).map(|value| value.to_str().unwrap_or("\u{0}"));
    let foreign_origin = header("origin").is_some_and(|origin| {
        let host = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://"));
        !host.is_some_and(is_loopback_host)
    });
    foreign_origin || header("sec-fetch-site").is_some_and(|site| site.eq_ignore_ascii_case("cross-site"))
}

/// Takes the share of the bytes of write bodies in flight that this body
/// may use (its declared length, or the largest body), or refuses it at
/// once: at most `max_body_bytes_in_flight` bytes of bodies are held at
/// once, whatever clients send, and a write is never parked to be read
/// late (as connections past their cap are not).
fn reserve_body_budget(app: &App, parts: &Parts) -> Result<tokio::sync::OwnedSemaphorePermit, Box<HttpResponse>> {
    let declared = declared_body(parts).unwrap_or(app.config.max_body_bytes).min(app.config.max_body_bytes);
    let units = u32::try_from(declared.div_ceil(BODY_BUDGET_UNIT).max(1)).unwrap_or(u32::MAX);
    Arc::clone(&app.body_budget).try_acquire_many_owned(units).map_err(|_| {
        Box::new(hint_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!(
                "More write bodies are arriving at once than --max-body-bytes-in-flight ({} bytes) allows; retry shortly.",
                app.config.max_body_bytes_in_flight
            ),
        ))
    })
}

/// Reads a write's body within the body limit and the request's deadline,
/// and decodes it by its type.
async fn read_write_body(
    app: &App,
    route: Route,
    parts: &Parts,
    body: hyper::body::Incoming,
    deadline: tokio::time::Instant,
) -> Result<WriteBody, HttpResponse> {
    use http_body_util::BodyExt as _;
    let limit = app.config.max_body_bytes;
    let limited = http_body_util::Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX));
    let bytes = match tokio::time::timeout_at(deadline, limited.collect()).await {
        Err(_) => {
            return Err(hint_response(
                StatusCode::REQUEST_TIMEOUT,
                &format!("The body did not arrive within {}.", describe(app.config.request_timeout)),
            ))
        }
        Ok(Err(error)) if error.is::<http_body_util::LengthLimitError>() => {
            return Err(hint_response(StatusCode::PAYLOAD_TOO_LARGE, &format!("The body exceeds {limit} bytes.")))
        }
        Ok(Err(_)) => return Err(hint_response(StatusCode::BAD_REQUEST, "The body could not be read.")),
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    WriteBody::parse(route, &parts.headers, &bytes).map_err(|refusal| {
        hint_response(StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::BAD_REQUEST), &refusal.hint)
    })
}

/// The refusal of a client address past its failed-authentication budget.
fn auth_failures_exhausted(app: &App, network: &IpAddr, now: u64) -> Option<Box<HttpResponse>> {
    let limit = app.config.auth_failure_limit;
    app.auth_failures.exhausted(network, limit, now).then(|| {
        Box::new(hint_response(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("More than {limit} failed authentications from this address in a minute; retry in a minute."),
        ))
    })
}

/// Counts a failed authentication against the client's address and turns
/// the refusal into its answer.
fn failed(app: &App, network: &IpAddr, now: u64, refusal: Refusal) -> Box<HttpResponse> {
    app.auth_failures.admit(network, app.config.auth_failure_limit, now);
    Box::new(match refusal {
        Refusal::BadRequest(hint) => hint_response(StatusCode::BAD_REQUEST, &hint),
        Refusal::Unauthorized(hint) => hint_response(StatusCode::UNAUTHORIZED, &hint),
        Refusal::Forbidden(hint) => hint_response(StatusCode::FORBIDDEN, &hint),
    })
}

/// The signed parts of a request: its signing headers, method, decoded
/// path and `parameters`.
fn signed_request<'a>(parts: &'a Parts, path: &'a str, parameters: &'a [(String, String)]) -> SignedRequest<'a> {
    let header = |name: &str| parts.headers.get(name).and_then(|value| value.to_str().ok());
    SignedRequest {
        account_id: header("x-carehq-accountid"),
        api_key: header("x-carehq-apikey"),
        nonce: header("x-carehq-nonce"),
        timestamp: header("x-carehq-timestamp"),
        version: header("x-carehq-signature-version"),
        signature: header("x-carehq-signature"),
        method: parts.method.as_str(),
        path,
        parameters,
    }
}

/// Before a write's body is read: the client's failed-authentication
/// budget, and the signing headers' presence and form (which need no key,
/// so a refusal here says nothing about which keys exist). A stranger
/// without well-formed, current headers makes the server read no body.
fn precheck_write(app: &App, client: IpAddr, parts: &Parts, now: u64) -> Result<(), Box<HttpResponse>> {
    let network = client_network(client);
    if let Some(refused) = auth_failures_exhausted(app, &network, now) {
        return Err(refused);
    }
    super::auth::precheck(&signed_request(parts, "", &[]), now).map_err(|refusal| failed(app, &network, now, refusal))
}

/// Checks the signature, the key's rate and the nonce, in that order, so
/// that a refused request stores nothing. Refusals before a key is proven
/// carry no rate-limit headers: they would tell a stranger a key's quota.
fn authenticate(
    app: &App,
    authenticator: &Authenticator,
    client: IpAddr,
    parts: &Parts,
    body_parameters: Option<&[(String, String)]>,
    now: u64,
) -> Result<(Authenticated, RateState), Box<HttpResponse>> {
    let config = &app.config;
    let network = client_network(client);
    if let Some(refused) = auth_failures_exhausted(app, &network, now) {
        return Err(refused);
    }
    let decoded_path = percent_encoding::percent_decode_str(parts.uri.path()).decode_utf8_lossy();
    // A write signs its body's parameters (see write_body.rs); a read, its
    // query's.
    let query_parameters: Vec<(String, String)>;
    let parameters: &[(String, String)] = match body_parameters {
        Some(parameters) => parameters,
        None => {
            query_parameters = form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
                .map(|(key, value)| (key.into_owned(), value.into_owned()))
                .collect();
            &query_parameters
        }
    };
    let signed = signed_request(parts, &decoded_path, parameters);
    let authenticated =
        authenticator.authenticate(&signed, now).map_err(|refusal| failed(app, &network, now, refusal))?;
    let rate = app.key_requests.admit(&authenticated.key_index, config.rate_limit, now);
    if !rate.allowed {
        let mut response = hint_response(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("More than {} requests per second with this API key; retry after the reset time.", rate.limit),
        );
        add_rate_headers(response.headers_mut(), rate);
        return Err(Box::new(response));
    }
    authenticator.remember_nonce(&authenticated, now).map_err(|refusal| failed(app, &network, now, refusal))?;
    Ok((authenticated, rate))
}

/// Evaluates a request in a query slot on the blocking pool, within the
/// request's deadline (which includes the wait for a slot).
async fn query(app: &App, store: &ServedStore, target: String, deadline: tokio::time::Instant) -> HttpResponse {
    let engine = Arc::clone(&store.reads);
    in_slot(app, deadline, move || engine.respond(&target)).await
}

/// Applies a write in a query slot on the blocking pool. The answer is
/// sent only once the store has made the write durable (under its sync
/// policy). A write still running at the deadline gets 503 and may yet
/// be applied: a retried PUT or DELETE is safe.
async fn apply_write(
    app: &App,
    store: &ServedStore,
    route: Route,
    target: String,
    body: WriteBody,
    deadline: tokio::time::Instant,
) -> HttpResponse {
    let Some(writes) = store.writes.clone() else {
        return hint_response(StatusCode::METHOD_NOT_ALLOWED, "This store is read-only.");
    };
    let id = target
        .strip_prefix("/v1/messages/")
        .map(|id| percent_encoding::percent_decode_str(id).decode_utf8_lossy().into_owned());
    let mut response = in_slot(app, deadline, move || match route {
        Route::Batch => answer_batch(writes.as_ref(), &target, &body.json),
        Route::Delete => answer_write(writes.as_ref(), WriteMethod::Delete, &target, &body.json),
        _ => answer_write(writes.as_ref(), WriteMethod::Put, &target, &body.json),
    })
    .await;
    if response.status() == StatusCode::CREATED && app.config.created_as_ok {
        *response.status_mut() = StatusCode::OK;
    }
    // The official clients parse the body of every 200 and 204 as JSON: a
    // delete answers 200 with what it deleted (SPEC §8).
    if response.status() == StatusCode::NO_CONTENT {
        let mut body = Vec::new();
        body.extend_from_slice(b"{\"_id\":");
        crate::json::write_json_string(&mut body, id.as_deref().unwrap_or(""));
        body.extend_from_slice(b",\"deleted\":true}");
        response = json_response(StatusCode::OK, crate::json::into_string(body));
    }
    response
}

/// Runs `work` in a query slot on the blocking pool, answering 503 when
/// the slot or the answer is not there by `deadline`.
async fn in_slot(
    app: &App,
    deadline: tokio::time::Instant,
    work: impl FnOnce() -> Response + Send + 'static,
) -> HttpResponse {
    let timeout = app.config.request_timeout;
    let too_slow = || {
        hint_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("The request took longer than {}; retry later.", describe(timeout)),
        )
    };
    let Ok(Ok(slot)) = tokio::time::timeout_at(deadline, Arc::clone(&app.query_slots).acquire_owned()).await else {
        return too_slow();
    };
    let work = tokio::task::spawn_blocking(move || {
        // The slot stays taken while the work runs, even past the timeout.
        let _slot = slot;
        work()
    });
    match tokio::time::timeout_at(deadline, work).await {
        Ok(Ok(answer)) => {
            json_response(StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), answer.body)
        }
        Ok(Err(_)) => hint_response(StatusCode::INTERNAL_SERVER_ERROR, "The request failed."),
        Err(_) => too_slow(),
    }
}

/// A duration as a person reads it: "10 seconds", "1.5 seconds".
pub(crate) fn describe(duration: Duration) -> String {
    let seconds = duration.as_secs_f64();
    if seconds == 1.0 {
        "1 second".into()
    } else {
        format!("{seconds} seconds")
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_recognised_with_and_without_ports() {
        for host in ["localhost", "LOCALHOST:8080", "localhost.", "127.0.0.1", "127.8.9.10:1", "[::1]", "[::1]:8080"] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:80",
            "localhost.evil.example",
            "127.0.0.1.evil.example",
            "10.0.0.1",
            "[2001:db8::1]:80",
            "[::1",
            "localhost:http",
            "",
            "::1",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(describe(Duration::from_secs(10)), "10 seconds");
        assert_eq!(describe(Duration::from_secs(1)), "1 second");
        assert_eq!(describe(Duration::from_millis(1500)), "1.5 seconds");
    }
}
