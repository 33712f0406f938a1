//! The upstream Messages API, as the follower reads it: requests signed as
//! the official clients sign them (with the server's own signing code),
//! paced by the upstream's rate-limit headers, retried with exponential
//! backoff and jitter, and answered only by whole, valid pages.
//!
//! A response is used only if it is a 200 whose body is a complete page
//! of valid messages (checked as the loader checks a record); anything
//! else is retried or refused, so a partial or garbled page is never
//! applied.

use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::load::{parse_message, RecordLocation};
use crate::model::Message;
use crate::server::auth::{canonical_parameters, sign};

/// The credentials the follower signs with: an API key of the upstream
/// account. The secret never appears in `Debug` output or errors.
#[derive(Clone)]
pub struct Credentials {
    /// `X-CareHQ-AccountId`.
    pub account_id: String,
    /// `X-CareHQ-APIKey`.
    pub api_key: String,
    /// The secret that signs requests.
    pub api_secret: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials").field("account_id", &self.account_id).field("api_key", &self.api_key).finish()
    }
}

/// How the follower retries and waits.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// The first backoff; each retry doubles it, up to `max_backoff`.
    pub first_backoff: Duration,
    /// The longest backoff.
    pub max_backoff: Duration,
    /// Attempts per request before giving up (`None`: never give up).
    pub max_attempts: Option<u32>,
    /// The time limit of one request, and of any single read of its answer.
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            max_attempts: Some(10),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Why the upstream could not be read.
#[derive(Debug)]
pub enum UpstreamError {
    /// The upstream refused the request for a reason a retry cannot fix
    /// (bad credentials, a bad parameter): its status and hint.
    Refused {
        /// The HTTP status.
        status: u16,
        /// The upstream's words, or the body's start.
        hint: String,
    },
    /// Every attempt failed: the last failure.
    GaveUp {
        /// How many attempts were made.
        attempts: u32,
        /// What the last one met.
        last: String,
    },
    /// The base URL is not one this client can call.
    BadUrl(String),
}

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpstreamError::Refused { status, hint } => write!(f, "the upstream refused the request ({status}): {hint}"),
            UpstreamError::GaveUp { attempts, last } => {
                write!(f, "the upstream failed {attempts} times in a row; the last time: {last}")
            }
            UpstreamError::BadUrl(why) => write!(f, "{why}"),
        }
    }
}

impl std::error::Error for UpstreamError {}

/// One page of a list, every item checked.
#[derive(Debug)]
pub(crate) struct UpstreamPage {
    /// `item_count`: the matches in all pages.
    pub(crate) item_count: u64,
    /// `page_count`.
    pub(crate) page_count: u64,
    /// `per_page`: the page size the upstream used.
    pub(crate) per_page: u64,
    /// The page's messages, in the upstream's order.
    pub(crate) items: Vec<Message>,
    /// The upstream's clock when it answered (its `Date` header), in Unix
    /// seconds, if it sent one.
    pub(crate) upstream_now: Option<i64>,
}

#[derive(Deserialize)]
struct PageBody<'a> {
    item_count: u64,
    #[serde(borrow)]
    items: Vec<&'a RawValue>,
    page: u64,
    page_count: u64,
    per_page: u64,
}

/// What a failed attempt was, and whether it is worth another.
enum Attempt {
    /// Retry after the backoff.
    Transient(String),
    /// Retry once the rate limit resets (at most this long from now).
    RateLimited(Duration),
    /// Do not retry.
    Fatal(UpstreamError),
}

/// A signed, paced, retrying client of one upstream account.
pub struct Upstream {
    agent: ureq::Agent,
    base_url: String,
    credentials: Credentials,
    retry: RetryPolicy,
    /// When the rate-limit window the upstream last reported resets, if the
    /// window's requests are spent.
    spent_until: Option<Instant>,
    requests: u64,
}

/// The longest the follower waits on a rate-limit reset it was told of:
/// a reset further away is a clock difference, not a wait.
const MAX_RATE_WAIT: Duration = Duration::from_secs(5);

/// 429s in a row, each waited out, before a request gives up: an upstream
/// that never admits the key is a problem for its operator.
const MAX_RATE_LIMITED: u32 = 100;

/// How long past a rate-limit reset the next request waits.
const RESET_MARGIN: Duration = Duration::from_millis(5);

/// The largest page body accepted (100 full messages fit many times over).
const MAX_BODY_BYTES: u64 = 64 << 20;

impl Upstream {
    /// A client of the Messages API at `base_url` (`https://api.carehq.co.uk`,
    /// or a `msgdex serve` at `http://127.0.0.1:8080`).
    pub fn new(base_url: &str, credentials: Credentials, retry: RetryPolicy) -> Result<Upstream, UpstreamError> {
        let base_url = base_url.trim_end_matches('/').to_owned();
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(UpstreamError::BadUrl(format!(
                "the upstream URL {base_url:?} must start with http:// or https://"
            )));
        }
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(retry.request_timeout))
            .timeout_connect(Some(retry.request_timeout.min(Duration::from_secs(10))))
            .timeout_per_read(Some(retry.request_timeout))
            .build()
            .into();
        Ok(Upstream { agent, base_url, credentials, retry, spent_until: None, requests: 0 })
    }

    /// Requests made so far (each attempt counts).
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// One page of `GET /v1/messages` with these parameters, retried until
    /// a whole valid page arrives or the retry policy gives up.
    pub(crate) fn list(&mut self, parameters: &[(String, String)]) -> Result<UpstreamPage, UpstreamError> {
        let mut backoff = self.retry.first_backoff;
        let mut attempts = 0;
        let mut rate_limited = 0;
        loop {
            attempts += 1;
            let failure = match self.attempt(parameters) {
                Ok(page) => return Ok(page),
                Err(Attempt::Fatal(error)) => return Err(error),
                Err(Attempt::RateLimited(wait)) => {
                    // Not a failure of the upstream: wait for the reset and
                    // go on, without counting the attempt, up to a point.
                    attempts -= 1;
                    rate_limited += 1;
                    if rate_limited >= MAX_RATE_LIMITED {
                        return Err(UpstreamError::GaveUp {
                            attempts: rate_limited,
                            last: "429 every time, even after waiting for each reset".into(),
                        });
                    }
                    std::thread::sleep(wait);
                    continue;
                }
                Err(Attempt::Transient(why)) => why,
            };
            if self.retry.max_attempts.is_some_and(|max| attempts >= max) {
                return Err(UpstreamError::GaveUp { attempts, last: failure });
            }
            std::thread::sleep(jittered(backoff));
            backoff = (backoff * 2).min(self.retry.max_backoff);
        }
    }

    fn attempt(&mut self, parameters: &[(String, String)]) -> Result<UpstreamPage, Attempt> {
        if let Some(until) = self.spent_until.take() {
            let now = Instant::now();
            if until > now {
                std::thread::sleep(until - now);
            }
        }
        let path = "/v1/messages";
        let query: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(parameters).finish();
        let url = format!("{}{path}?{query}", self.base_url);
        let timestamp = unix_now().to_string();
        let nonce = nonce();
        let signature =
            sign(&self.credentials.api_secret, &timestamp, &nonce, "GET", path, &canonical_parameters(parameters));
        self.requests += 1;
        let response = self
            .agent
            .get(url.as_str())
            .header("Accept", "application/json")
            .header("X-CareHQ-AccountId", self.credentials.account_id.as_str())
            .header("X-CareHQ-APIKey", self.credentials.api_key.as_str())
            .header("X-CareHQ-Nonce", nonce.as_str())
            .header("X-CareHQ-Signature", signature.as_str())
            .header("X-CareHQ-Signature-Version", "2.0")
            .header("X-CareHQ-Timestamp", timestamp.as_str())
            .call();
        let mut response = match response {
            Ok(response) => response,
            Err(error @ ureq::Error::BadUri(_)) => {
                return Err(Attempt::Fatal(UpstreamError::BadUrl(format!("the upstream URL is not valid: {error}"))))
            }
            Err(error) => return Err(Attempt::Transient(error.to_string())),
        };
        let status = response.status().as_u16();
        let header = |name: &str| response.headers().get(name).and_then(|value| value.to_str().ok()).map(str::to_owned);
        let remaining = header("x-carehq-ratelimit-remaining").and_then(|text| text.trim().parse::<u64>().ok());
        let reset = header("x-carehq-ratelimit-reset")
            .and_then(|text| text.trim().parse::<f64>().ok())
            .filter(|reset| reset.is_finite());
        let upstream_now = header("date")
            .and_then(|text| chrono::DateTime::parse_from_rfc2822(&text).ok())
            .map(|date| date.timestamp());
        let until_reset = reset.map(|reset| {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |elapsed| elapsed.as_secs_f64());
            Duration::from_secs_f64((reset - now).clamp(0.0, MAX_RATE_WAIT.as_secs_f64()))
        });
        if remaining == Some(0) {
            // Just past the reset, so that the next request is in the new
            // window even if the clocks differ by a little.
            let wait = until_reset.unwrap_or(Duration::from_millis(100)) + RESET_MARGIN;
            self.spent_until = Some(Instant::now() + wait);
        }
        let body = response.body_mut().with_config().limit(MAX_BODY_BYTES).read_to_string();
        match status {
            200 => {}
            429 => return Err(Attempt::RateLimited(until_reset.unwrap_or(Duration::from_secs(1)) + RESET_MARGIN)),
            500..=599 | 408 => return Err(Attempt::Transient(format!("status {status}"))),
            _ => {
                let text = body.unwrap_or_default();
                let hint = serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .and_then(|value| value["hint"].as_str().map(str::to_owned))
                    .unwrap_or_else(|| text.chars().take(200).collect());
                return Err(Attempt::Fatal(UpstreamError::Refused { status, hint }));
            }
        }
        let body = body.map_err(|error| Attempt::Transient(format!("the body could not be read: {error}")))?;
        let page = parse_page(&body).map_err(Attempt::Transient)?;
        Ok(UpstreamPage { upstream_now, ..page })
    }
}

/// A page body, every item a valid message, or why not.
fn parse_page(body: &str) -> Result<UpstreamPage, String> {
    let page: PageBody<'_> = serde_json::from_str(body).map_err(|error| format!("the body is not a page: {error}"))?;
    if page.items.len() as u64 > page.per_page || page.page == 0 || page.per_page == 0 {
        return Err("the page holds more items than its per_page".into());
    }
    let items = page
        .items
        .iter()
        .enumerate()
        .map(|(index, item)| parse_message(item.get().as_bytes(), RecordLocation::Index(index as u64)))
        .collect::<Result<Vec<Message>, _>>()
        .map_err(|error| format!("the page holds an invalid message: {error}"))?;
    Ok(UpstreamPage {
        item_count: page.item_count,
        page_count: page.page_count,
        per_page: page.per_page,
        items,
        upstream_now: None,
    })
}

impl UpstreamPage {
    /// Whether the page holds as many items as a page can: more may follow.
    pub(crate) fn is_full(&self) -> bool {
        self.items.len() as u64 >= self.per_page.max(1)
    }
}

/// A backoff with full jitter: uniformly between half of it and all of it,
/// so that followers retrying together spread out.
fn jittered(backoff: Duration) -> Duration {
    let fraction = 0.5 + 0.5 * (random_u64() as f64 / u64::MAX as f64);
    backoff.mul_f64(fraction)
}

use crate::sys::unix_now;

/// A fresh nonce: 22 URL-safe characters, as the official clients send.
fn nonce() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let (high, low) = (random_u64(), random_u64());
    (0..22)
        .map(|index| {
            let bits = if index < 11 { high >> (index * 6) } else { low >> ((index - 11) * 6) };
            ALPHABET[(bits & 63) as usize] as char
        })
        .collect()
}

/// 64 random bits from the standard library's randomly seeded hasher: no
/// cryptographic strength is needed (nonces must only not repeat).
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u128(SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_nanos()));
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_pages_of_valid_messages_are_accepted() {
        let good = r#"{"item_count": 2, "items": [{"_id": "a"}, {"_id": "b", "channel": "sms"}], "page": 1, "page_count": 1, "per_page": 10}"#;
        let page = parse_page(good).unwrap();
        assert_eq!((page.item_count, page.items.len(), page.items[1].id.as_str()), (2, 2, "b"));
        for bad in [
            &good[..good.len() - 1],
            r#"{"item_count": 1, "items": [{"_id": "a", "channel": "fax"}], "page": 1, "page_count": 1, "per_page": 10}"#,
            r#"{"item_count": 1, "items": [{"channel": "sms"}], "page": 1, "page_count": 1, "per_page": 10}"#,
            r#"{"item_count": 1, "items": [{"_id": "a"}, {"_id": "b"}], "page": 1, "page_count": 1, "per_page": 1}"#,
            r#"{"items": []}"#,
            "<html>",
            "",
        ] {
            assert!(parse_page(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn nonces_do_not_repeat_and_backoffs_stay_within_their_bounds() {
        let nonces: std::collections::HashSet<String> = (0..1000).map(|_| nonce()).collect();
        assert_eq!(nonces.len(), 1000);
        assert!(nonces.iter().all(|nonce| nonce.len() == 22 && nonce.bytes().all(|byte| byte.is_ascii_graphic())));
        for _ in 0..100 {
            let wait = jittered(Duration::from_millis(100));
            assert!((Duration::from_millis(50)..=Duration::from_millis(100)).contains(&wait), "{wait:?}");
        }
    }
}
