//! CareHQ's request signing, as the official clients do it (the `carehq`
//! package on PyPI, version 0.1.3), and the server's checks of it: API keys,
//! HMAC-SHA256 signatures compared in constant time, a five-minute window
//! for timestamps, single-use nonces, and one account per server.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::Mutex;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far a request's timestamp may be from the server's clock, and how
/// long a nonce is remembered.
pub const WINDOW_SECONDS: i64 = 300;

/// One API key: the account it belongs to and its secret.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
pub struct ApiKey {
    /// The account the key belongs to.
    pub account_id: String,
    /// The key, sent as `X-CareHQ-APIKey`.
    pub api_key: String,
    /// The secret that signs requests; never sent, never logged.
    pub api_secret: String,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey").field("account_id", &self.account_id).field("api_key", &self.api_key).finish()
    }
}

/// The keys file: the account this server answers for and the keys it
/// knows (keys of other accounts are refused with 403).
#[derive(Clone, Debug, serde::Deserialize)]
pub struct KeysFile {
    /// The account served.
    pub account_id: String,
    /// Known keys.
    pub keys: Vec<ApiKey>,
}

impl KeysFile {
    /// Reads a keys file (JSON).
    pub fn read(path: &Path) -> Result<KeysFile, String> {
        let text = std::fs::read_to_string(path).map_err(|error| format!("cannot read {}: {error}", path.display()))?;
        let keys: KeysFile =
            serde_json::from_str(&text).map_err(|error| format!("{} is not a keys file: {error}", path.display()))?;
        if keys.keys.is_empty() {
            return Err(format!("{} holds no keys", path.display()));
        }
        Ok(keys)
    }

    /// One key from the environment: `MSGDEX_ACCOUNT_ID`, `MSGDEX_API_KEY`,
    /// `MSGDEX_API_SECRET` (all three, or `None`).
    pub fn from_environment() -> Option<KeysFile> {
        let account_id = std::env::var("MSGDEX_ACCOUNT_ID").ok()?;
        let api_key = std::env::var("MSGDEX_API_KEY").ok()?;
        let api_secret = std::env::var("MSGDEX_API_SECRET").ok()?;
        Some(KeysFile { account_id: account_id.clone(), keys: vec![ApiKey { account_id, api_key, api_secret }] })
    }
}

/// The canonical parameter string of a request (the fifth line signed):
/// keys sorted, each key's values sorted, one `key=value` line each.
pub fn canonical_parameters(pairs: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = pairs.iter().collect();
    sorted.sort();
    sorted.iter().map(|(key, value)| format!("{key}={value}")).collect::<Vec<_>>().join("\n")
}

/// The lower-case hex HMAC-SHA256 signature of a request, as clients send
/// it in `X-CareHQ-Signature`.
pub fn sign(secret: &str, timestamp: &str, nonce: &str, method: &str, path: &str, parameters: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(string_to_sign(timestamp, nonce, method, path, parameters).as_bytes());
    mac.finalize().into_bytes().iter().map(|byte| format!("{byte:02x}")).collect()
}

fn string_to_sign(timestamp: &str, nonce: &str, method: &str, path: &str, parameters: &str) -> String {
    [timestamp, nonce, &method.to_uppercase(), path, parameters].join("\n")
}

/// The signed parts of a request, as received.
#[derive(Clone, Debug)]
pub struct SignedRequest<'a> {
    /// `X-CareHQ-AccountId`.
    pub account_id: Option<&'a str>,
    /// `X-CareHQ-APIKey`.
    pub api_key: Option<&'a str>,
    /// `X-CareHQ-Nonce`.
    pub nonce: Option<&'a str>,
    /// `X-CareHQ-Timestamp`.
    pub timestamp: Option<&'a str>,
    /// `X-CareHQ-Signature-Version`.
    pub version: Option<&'a str>,
    /// `X-CareHQ-Signature`.
    pub signature: Option<&'a str>,
    /// The HTTP method.
    pub method: &'a str,
    /// The percent-decoded path.
    pub path: &'a str,
    /// The decoded query parameters.
    pub parameters: &'a [(String, String)],
}

/// Why a request was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// 401 with this hint.
    Unauthorized(String),
    /// 403 with this hint.
    Forbidden(String),
}

/// Checks signatures and remembers nonces.
#[derive(Debug)]
pub struct Authenticator {
    keys: KeysFile,
    nonces: Mutex<NonceLog>,
}

/// Nonces seen within the window, with when they expire.
#[derive(Debug, Default)]
struct NonceLog {
    seen: HashMap<(String, String), i64>,
    expiry: VecDeque<(i64, (String, String))>,
}

impl Authenticator {
    /// An authenticator for these keys.
    pub fn new(keys: KeysFile) -> Authenticator {
        Authenticator { keys, nonces: Mutex::new(NonceLog::default()) }
    }

    /// Checks a request at `now` (Unix seconds); returns the API key that
    /// signed it.
    pub fn check(&self, request: &SignedRequest<'_>, now: i64) -> Result<String, Refusal> {
        let missing = |header: &str| Refusal::Unauthorized(format!("The {header} header is missing."));
        let account_id = request.account_id.ok_or_else(|| missing("X-CareHQ-AccountId"))?;
        let api_key = request.api_key.ok_or_else(|| missing("X-CareHQ-APIKey"))?;
        let nonce = request.nonce.ok_or_else(|| missing("X-CareHQ-Nonce"))?;
        let timestamp = request.timestamp.ok_or_else(|| missing("X-CareHQ-Timestamp"))?;
        let version = request.version.ok_or_else(|| missing("X-CareHQ-Signature-Version"))?;
        let signature = request.signature.ok_or_else(|| missing("X-CareHQ-Signature"))?;
        if version != "2.0" {
            return Err(Refusal::Unauthorized(format!(
                "Signature version {version:?} is not supported; sign requests with version 2.0."
            )));
        }
        let key = self
            .keys
            .keys
            .iter()
            .find(|key| key.api_key == api_key)
            .ok_or_else(|| Refusal::Unauthorized("The API key is not known.".into()))?;
        let sent_at: i64 = timestamp
            .parse()
            .map_err(|_| Refusal::Unauthorized("X-CareHQ-Timestamp must be whole seconds since 1970.".into()))?;
        if (now - sent_at).abs() > WINDOW_SECONDS {
            return Err(Refusal::Unauthorized(format!(
                "The timestamp is more than {WINDOW_SECONDS} seconds from the server's clock; check the client's clock."
            )));
        }
        let expected = {
            let mut mac = Hmac::<Sha256>::new_from_slice(key.api_secret.as_bytes()).expect("any key length");
            let parameters = canonical_parameters(request.parameters);
            mac.update(string_to_sign(timestamp, nonce, request.method, request.path, &parameters).as_bytes());
            mac
        };
        let sent = decode_hex(signature).ok_or_else(|| Refusal::Unauthorized("The signature is not valid.".into()))?;
        // `verify_slice` compares in constant time.
        expected.verify_slice(&sent).map_err(|_| Refusal::Unauthorized("The signature is not valid.".into()))?;
        if key.account_id != account_id || account_id != self.keys.account_id {
            return Err(Refusal::Forbidden(
                "This API key does not belong to the account this server answers for.".into(),
            ));
        }
        self.remember_nonce(api_key, nonce, now)?;
        Ok(api_key.to_owned())
    }

    fn remember_nonce(&self, api_key: &str, nonce: &str, now: i64) -> Result<(), Refusal> {
        let mut log = self.nonces.lock().expect("nonce log is never poisoned");
        while log.expiry.front().is_some_and(|(expires, _)| *expires < now) {
            if let Some((_, entry)) = log.expiry.pop_front() {
                log.seen.remove(&entry);
            }
        }
        let entry = (api_key.to_owned(), nonce.to_owned());
        if log.seen.contains_key(&entry) {
            return Err(Refusal::Unauthorized(
                "This nonce was already used; send a new nonce with every request.".into(),
            ));
        }
        let expires = now + 2 * WINDOW_SECONDS;
        log.seen.insert(entry.clone(), expires);
        log.expiry.push_back((expires, entry));
        Ok(())
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len()).step_by(2).map(|index| u8::from_str_radix(text.get(index..index + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> KeysFile {
        KeysFile {
            account_id: "acc".into(),
            keys: vec![
                ApiKey { account_id: "acc".into(), api_key: "k1".into(), api_secret: "s1".into() },
                ApiKey { account_id: "other".into(), api_key: "k2".into(), api_secret: "s2".into() },
            ],
        }
    }

    fn request<'a>(
        key: &'a str,
        signature: &'a str,
        nonce: &'a str,
        parameters: &'a [(String, String)],
    ) -> SignedRequest<'a> {
        SignedRequest {
            account_id: Some(if key == "k2" { "other" } else { "acc" }),
            api_key: Some(key),
            nonce: Some(nonce),
            timestamp: Some("1000"),
            version: Some("2.0"),
            signature: Some(signature),
            method: "GET",
            path: "/v1/messages",
            parameters,
        }
    }

    #[test]
    fn canonical_parameters_sort_keys_and_values() {
        let pairs = vec![
            ("sort_by".to_owned(), "-date_time".to_owned()),
            ("attributes".to_owned(), "tags".to_owned()),
            ("attributes".to_owned(), "content".to_owned()),
        ];
        assert_eq!(canonical_parameters(&pairs), "attributes=content\nattributes=tags\nsort_by=-date_time");
        assert_eq!(canonical_parameters(&[]), "");
    }

    #[test]
    fn signatures_are_checked_once_each() {
        let authenticator = Authenticator::new(keys());
        let parameters = vec![("page".to_owned(), "2".to_owned())];
        let good = sign("s1", "1000", "n1", "GET", "/v1/messages", "page=2");
        assert_eq!(authenticator.check(&request("k1", &good, "n1", &parameters), 1000), Ok("k1".into()));
        assert!(
            matches!(authenticator.check(&request("k1", &good, "n1", &parameters), 1001), Err(Refusal::Unauthorized(hint)) if hint.contains("nonce"))
        );
        let fresh = sign("s1", "1000", "n2", "GET", "/v1/messages", "page=2");
        assert!(
            matches!(authenticator.check(&request("k1", &fresh, "n2", &parameters), 1000 + WINDOW_SECONDS + 1), Err(Refusal::Unauthorized(hint)) if hint.contains("timestamp"))
        );
        let tampered = vec![("page".to_owned(), "3".to_owned())];
        assert!(
            matches!(authenticator.check(&request("k1", &fresh, "n2", &tampered), 1000), Err(Refusal::Unauthorized(hint)) if hint.contains("signature"))
        );
        assert!(
            matches!(authenticator.check(&request("k9", &fresh, "n2", &parameters), 1000), Err(Refusal::Unauthorized(hint)) if hint.contains("not known"))
        );
        let other = sign("s2", "1000", "n3", "GET", "/v1/messages", "page=2");
        assert!(matches!(
            authenticator.check(&request("k2", &other, "n3", &parameters), 1000),
            Err(Refusal::Forbidden(_))
        ));
        let mut missing = request("k1", &fresh, "n2", &parameters);
        missing.nonce = None;
        assert!(
            matches!(authenticator.check(&missing, 1000), Err(Refusal::Unauthorized(hint)) if hint.contains("Nonce"))
        );
        assert!(!format!("{:?}", keys().keys[0]).contains("s1"), "secrets never reach logs");
    }
}
