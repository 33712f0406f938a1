//! CareHQ's request signing, as the official clients do it (the `carehq`
//! package on PyPI, version 0.1.3), and the server's checks of it.
//!
//! A client signs five lines joined by `\n` — timestamp, nonce, method,
//! path, canonical parameters — with HMAC-SHA256 under its secret. The
//! server checks, in an order that tells an attacker nothing about which
//! keys exist:
//!
//! 1. every `X-CareHQ-*` header is present, the signature version is 2.0;
//! 2. the timestamp is within [`WINDOW_SECONDS`] of the server's clock;
//! 3. the nonce is 1 to [`MAX_NONCE_BYTES`] visible ASCII characters, and
//!    the signature exactly 64 lower-case hex digits;
//! 4. the signed string is unambiguous: no decoded line feed in the path or
//!    in any parameter name or value, no `=` in a name (either could move
//!    a boundary between lines or between a name and its value);
//! 5. the key is known and the signature matches, compared in constant
//!    time — one hint for both failures, and an unknown key costs the same
//!    HMAC as a known one;
//! 6. the key belongs to the account served (403 otherwise).
//!
//! The nonce is remembered only after the rate limit admitted the request
//! ([`Authenticator::remember_nonce`]), as a fixed-size hash.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::keys::{KeysFile, Scopes};
use super::nonces::{NonceLog, Replay};

/// How far a request's timestamp may be from the server's clock.
pub const WINDOW_SECONDS: u64 = 300;

/// The longest nonce accepted; the official client sends 22 characters.
pub const MAX_NONCE_BYTES: usize = 128;

/// The only signature version there is.
const SIGNATURE_VERSION: &str = "2.0";

/// The hint of every failed key or signature check: the same words for an
/// unknown key and a wrong signature, so that keys cannot be enumerated.
const BAD_CREDENTIALS: &str = "The API key or the signature is not valid.";

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
    let mac = signer(secret, timestamp, nonce, method, path, parameters);
    mac.finalize().into_bytes().iter().map(|byte| format!("{byte:02x}")).collect()
}

fn signer(secret: &str, timestamp: &str, nonce: &str, method: &str, path: &str, parameters: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    let string_to_sign = [timestamp, nonce, &method.to_uppercase(), path, parameters].join("\n");
    mac.update(string_to_sign.as_bytes());
    mac
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
    /// 400 with this hint: the request cannot be signed unambiguously.
    BadRequest(String),
    /// 401 with this hint.
    Unauthorized(String),
    /// 403 with this hint.
    Forbidden(String),
}

/// A request whose signature checked out: which key signed it, and the
/// nonce to remember once the request is admitted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authenticated {
    /// Position of the signing key in the keys file.
    pub key_index: usize,
    /// What the signing key may do.
    pub scopes: Scopes,
    nonce: [u8; 16],
    expires_at: u64,
}

/// Checks signatures and remembers nonces.
#[derive(Debug)]
pub struct Authenticator {
    keys: KeysFile,
    nonces: NonceLog,
}

impl Authenticator {
    /// An authenticator for these keys.
    pub fn new(keys: KeysFile) -> Authenticator {
        Authenticator { keys, nonces: NonceLog::default() }
    }

    /// The API key at `index` in the keys file.
    pub fn key_name(&self, index: usize) -> &str {
        &self.keys.keys[index].api_key
    }

    /// Checks a request at `now` (Unix seconds), without remembering its
    /// nonce: see [`Authenticator::remember_nonce`].
    pub fn authenticate(&self, request: &SignedRequest<'_>, now: u64) -> Result<Authenticated, Refusal> {
        let Headers { account_id, api_key, nonce, timestamp, sent_at, signature } = check_headers(request, now)?;
        check_unambiguous(request)?;
        let parameters = canonical_parameters(request.parameters);
        let key_index = self.keys.keys.iter().position(|key| key.api_key == api_key);
        // An unknown key is checked against an empty secret, so that it
        // costs what a known key costs and gets the same answer.
        let secret = key_index.map_or("", |index| self.keys.keys[index].api_secret.as_str());
        let mac = signer(secret, timestamp, nonce, request.method, request.path, &parameters);
        // `verify_slice` compares in constant time.
        let verified = mac.verify_slice(&signature).is_ok();
        let key_index = match key_index {
            Some(index) if verified => index,
            _ => return Err(Refusal::Unauthorized(BAD_CREDENTIALS.into())),
        };
        let key = &self.keys.keys[key_index];
        // A keys file without an account serves several: the key must
        // belong to the account the request names, whose store answers.
        let served = self.keys.account_id.is_empty() || account_id == self.keys.account_id;
        if key.account_id != account_id || !served {
            return Err(Refusal::Forbidden(
                "This API key does not belong to the account this server answers for.".into(),
            ));
        }
        Ok(Authenticated {
            key_index,
            scopes: key.scopes,
            nonce: NonceLog::fingerprint(api_key, nonce),
            expires_at: sent_at + WINDOW_SECONDS + 1,
        })
    }

    /// Remembers an admitted request's nonce until its timestamp leaves the
    /// window; refuses a nonce already used.
    pub fn remember_nonce(&self, request: &Authenticated, now: u64) -> Result<(), Refusal> {
        match self.nonces.remember(request.nonce, request.expires_at, now) {
            Ok(()) => Ok(()),
            Err(Replay) => {
                Err(Refusal::Unauthorized("This nonce was already used; send a new nonce with every request.".into()))
            }
        }
    }

    /// How many nonces are remembered (for tests and diagnostics).
    pub fn remembered_nonces(&self) -> usize {
        self.nonces.len()
    }
}

/// The signing headers of a request, checked for presence and form.
struct Headers<'a> {
    account_id: &'a str,
    api_key: &'a str,
    nonce: &'a str,
    timestamp: &'a str,
    sent_at: u64,
    signature: [u8; 32],
}

/// Checks 1–3 of the module docs: every header present, version 2.0, the
/// timestamp in the window, the nonce's and the signature's form. They
/// need neither the parameters nor a key, so a server makes them before
/// it reads a write's body ([`precheck`]).
fn check_headers<'a>(request: &SignedRequest<'a>, now: u64) -> Result<Headers<'a>, Refusal> {
    let missing = |header: &str| Refusal::Unauthorized(format!("The {header} header is missing."));
    let account_id = request.account_id.ok_or_else(|| missing("X-CareHQ-AccountId"))?;
    let api_key = request.api_key.ok_or_else(|| missing("X-CareHQ-APIKey"))?;
    let nonce = request.nonce.ok_or_else(|| missing("X-CareHQ-Nonce"))?;
    let timestamp = request.timestamp.ok_or_else(|| missing("X-CareHQ-Timestamp"))?;
    let version = request.version.ok_or_else(|| missing("X-CareHQ-Signature-Version"))?;
    let signature = request.signature.ok_or_else(|| missing("X-CareHQ-Signature"))?;
    if version != SIGNATURE_VERSION {
        return Err(Refusal::Unauthorized(format!(
            "Signature version {version:?} is not supported; sign requests with version {SIGNATURE_VERSION}."
        )));
    }
    let sent_at = parse_timestamp(timestamp)?;
    if now.abs_diff(sent_at) > WINDOW_SECONDS {
        return Err(Refusal::Unauthorized(format!(
            "The timestamp is more than {WINDOW_SECONDS} seconds from the server's clock; check the client's clock."
        )));
    }
    check_nonce(nonce)?;
    let signature = decode_signature(signature)?;
    Ok(Headers { account_id, api_key, nonce, timestamp, sent_at, signature })
}

/// The checks of a request's signing headers that need no parameters and
/// no key (see [`Authenticator::authenticate`]); they tell a stranger
/// nothing about which keys exist.
pub fn precheck(request: &SignedRequest<'_>, now: u64) -> Result<(), Refusal> {
    check_headers(request, now).map(drop)
}

fn parse_timestamp(text: &str) -> Result<u64, Refusal> {
    let refuse = || Refusal::Unauthorized("X-CareHQ-Timestamp must be whole seconds since 1970.".into());
    if text.is_empty() || text.len() > 19 || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(refuse());
    }
    text.parse().map_err(|_| refuse())
}

fn check_nonce(nonce: &str) -> Result<(), Refusal> {
    let visible = nonce.bytes().all(|byte| byte.is_ascii_graphic());
    if nonce.is_empty() || nonce.len() > MAX_NONCE_BYTES || !visible {
        return Err(Refusal::Unauthorized(format!(
            "X-CareHQ-Nonce must be 1 to {MAX_NONCE_BYTES} visible ASCII characters (got {} bytes); \
the official clients send 22.",
            nonce.len()
        )));
    }
    Ok(())
}

/// The signature's 32 bytes, from exactly 64 lower-case hex digits.
fn decode_signature(text: &str) -> Result<[u8; 32], Refusal> {
    let refuse = || Refusal::Unauthorized("X-CareHQ-Signature must be 64 lower-case hex digits (HMAC-SHA256).".into());
    let digits = text.as_bytes();
    if digits.len() != 64 {
        return Err(refuse());
    }
    let value = |digit: u8| match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    };
    let mut bytes = [0; 32];
    for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = value(pair[0]).zip(value(pair[1])).map(|(high, low)| high << 4 | low).ok_or_else(refuse)?;
    }
    Ok(bytes)
}

/// Refuses what would make the signed string ambiguous: a line feed
/// anywhere in the path or the parameters, an `=` in a parameter name.
fn check_unambiguous(request: &SignedRequest<'_>) -> Result<(), Refusal> {
    let refuse = |place: &str| {
        Err(Refusal::BadRequest(format!(
            "{place} holds a line feed (%0A), which the signature cannot tell from its own line breaks; \
send none."
        )))
    };
    if request.path.contains('\n') {
        return refuse("The path");
    }
    for (name, value) in request.parameters {
        if name.contains('\n') {
            return refuse("A parameter name");
        }
        if value.contains('\n') {
            return refuse(&format!("The value of `{name}`"));
        }
        if name.contains('=') {
            return Err(Refusal::BadRequest(format!(
                "The parameter name {name:?} holds `=` (%3D), which the signature cannot tell from the `=` \
between a name and its value; send none."
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::keys::{ApiKey, Scopes};

    const NOW: u64 = 1_700_000_000;

    fn keys() -> KeysFile {
        KeysFile {
            account_id: "acc".into(),
            keys: vec![
                ApiKey {
                    account_id: "acc".into(),
                    api_key: "k1".into(),
                    api_secret: "s1".into(),
                    scopes: Scopes::READ,
                },
                ApiKey {
                    account_id: "other".into(),
                    api_key: "k2".into(),
                    api_secret: "s2".into(),
                    scopes: Scopes::READ,
                },
            ],
        }
    }

    struct Signed {
        key: &'static str,
        timestamp: String,
        nonce: String,
        signature: String,
        path: String,
        parameters: Vec<(String, String)>,
    }

    impl Signed {
        fn new(key: &'static str, secret: &str, nonce: &str, parameters: &[(&str, &str)]) -> Signed {
            let parameters: Vec<(String, String)> =
                parameters.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect();
            let timestamp = NOW.to_string();
            let path = "/v1/messages".to_owned();
            let signature = sign(secret, &timestamp, nonce, "GET", &path, &canonical_parameters(&parameters));
            Signed { key, timestamp, nonce: nonce.into(), signature, path, parameters }
        }

        fn request(&self) -> SignedRequest<'_> {
            SignedRequest {
                account_id: Some(if self.key == "k2" { "other" } else { "acc" }),
                api_key: Some(self.key),
                nonce: Some(&self.nonce),
                timestamp: Some(&self.timestamp),
                version: Some("2.0"),
                signature: Some(&self.signature),
                method: "GET",
                path: &self.path,
                parameters: &self.parameters,
            }
        }
    }

    fn hint(refusal: Refusal) -> String {
        match refusal {
            Refusal::BadRequest(hint) | Refusal::Unauthorized(hint) | Refusal::Forbidden(hint) => hint,
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
    fn signatures_are_checked_and_nonces_used_once() {
        let authenticator = Authenticator::new(keys());
        let good = Signed::new("k1", "s1", "n1", &[("page", "2")]);
        let admitted = authenticator.authenticate(&good.request(), NOW).unwrap();
        assert_eq!(authenticator.key_name(admitted.key_index), "k1");
        assert_eq!(authenticator.remembered_nonces(), 0, "authenticating remembers nothing");
        authenticator.remember_nonce(&admitted, NOW).unwrap();
        let replay = authenticator.authenticate(&good.request(), NOW + 1).unwrap();
        assert!(hint(authenticator.remember_nonce(&replay, NOW + 1).unwrap_err()).contains("nonce"));
        assert!(hint(authenticator.authenticate(&good.request(), NOW + WINDOW_SECONDS + 1).unwrap_err())
            .contains("timestamp"));
        let mut tampered = Signed::new("k1", "s1", "n2", &[("page", "2")]);
        tampered.parameters[0].1 = "3".into();
        assert_eq!(
            authenticator.authenticate(&tampered.request(), NOW),
            Err(Refusal::Unauthorized(BAD_CREDENTIALS.into()))
        );
        let other = Signed::new("k2", "s2", "n3", &[]);
        assert!(matches!(authenticator.authenticate(&other.request(), NOW), Err(Refusal::Forbidden(_))));
        let good = Signed::new("k1", "s1", "n4", &[]);
        let mut missing = good.request();
        missing.nonce = None;
        assert!(hint(authenticator.authenticate(&missing, NOW).unwrap_err()).contains("Nonce"));
    }

    #[test]
    fn a_fleet_keys_file_admits_each_key_for_its_own_account_only() {
        let authenticator = Authenticator::new(KeysFile { account_id: String::new(), ..keys() });
        let own = Signed::new("k2", "s2", "n1", &[]);
        assert!(authenticator.authenticate(&own.request(), NOW).is_ok(), "k2 for its account, other");
        let foreign = Signed::new("k2", "s2", "n2", &[]);
        let mut request = foreign.request();
        request.account_id = Some("acc");
        assert!(matches!(authenticator.authenticate(&request, NOW), Err(Refusal::Forbidden(_))), "k2 for acc");
        let single = Authenticator::new(keys());
        assert!(matches!(single.authenticate(&own.request(), NOW), Err(Refusal::Forbidden(_))), "acc only");
    }

    #[test]
    fn an_unknown_key_and_a_bad_signature_get_the_same_words() {
        let authenticator = Authenticator::new(keys());
        let unknown = Signed::new("k9", "s9", "n1", &[]);
        let wrong = Signed::new("k1", "not-s1", "n1", &[]);
        let unknown = authenticator.authenticate(&unknown.request(), NOW).unwrap_err();
        assert_eq!(unknown, authenticator.authenticate(&wrong.request(), NOW).unwrap_err());
        // Even signed with the empty secret an unknown key is compared
        // against, it is refused.
        let empty = Signed::new("k9", "", "n1", &[]);
        assert_eq!(authenticator.authenticate(&empty.request(), NOW).unwrap_err(), unknown);
    }

    #[test]
    fn timestamps_far_off_in_either_direction_are_refused_without_overflow() {
        let authenticator = Authenticator::new(keys());
        for timestamp in [0, NOW - WINDOW_SECONDS - 1, NOW + WINDOW_SECONDS + 1, u64::MAX, i64::MAX as u64] {
            let mut signed = Signed::new("k1", "s1", "n", &[]);
            signed.timestamp = timestamp.to_string();
            signed.signature = sign("s1", &signed.timestamp, "n", "GET", &signed.path, "");
            let refusal = hint(authenticator.authenticate(&signed.request(), NOW).unwrap_err());
            assert!(refusal.to_lowercase().contains("timestamp"), "{timestamp}: {refusal}");
        }
        // `i64::MIN + now` wrapped to a small difference in the old check.
        for text in [(i64::MIN + NOW as i64).to_string(), "-5".into(), "+5".into(), "1e9".into(), "".into()] {
            let mut signed = Signed::new("k1", "s1", "n", &[]);
            signed.signature = sign("s1", &text, "n", "GET", &signed.path, "");
            signed.timestamp = text;
            assert!(hint(authenticator.authenticate(&signed.request(), NOW).unwrap_err()).contains("Timestamp"));
        }
        let edge = Signed::new("k1", "s1", "edge", &[]);
        assert!(authenticator.authenticate(&edge.request(), NOW + WINDOW_SECONDS).is_ok());
        assert!(authenticator.authenticate(&edge.request(), NOW - WINDOW_SECONDS).is_ok());
    }

    #[test]
    fn a_signature_is_exactly_64_lower_case_hex_digits() {
        let authenticator = Authenticator::new(keys());
        // Find a signature with a byte below 0x10: its "0x" digits could be
        // written "+x", which `from_str_radix` accepted.
        let (signed, position) = (0..)
            .map(|attempt| Signed::new("k1", "s1", &format!("n{attempt}"), &[]))
            .find_map(|signed| {
                let position = (0..32).find(|&byte| signed.signature.as_bytes()[2 * byte] == b'0')?;
                Some((signed, position))
            })
            .unwrap();
        assert!(authenticator.authenticate(&signed.request(), NOW).is_ok());
        let mut plus = Signed { signature: signed.signature.clone(), ..Signed::new("k1", "s1", &signed.nonce, &[]) };
        plus.signature.replace_range(2 * position..2 * position + 1, "+");
        let upper =
            Signed { signature: signed.signature.to_uppercase(), ..Signed::new("k1", "s1", &signed.nonce, &[]) };
        let short = Signed { signature: signed.signature[..62].into(), ..Signed::new("k1", "s1", &signed.nonce, &[]) };
        for bad in [plus, upper, short] {
            let refusal = authenticator.authenticate(&bad.request(), NOW).unwrap_err();
            assert!(hint(refusal).contains("64 lower-case hex digits"), "{}", bad.signature);
        }
    }

    #[test]
    fn long_or_invisible_nonces_are_refused_before_anything_is_kept() {
        let authenticator = Authenticator::new(keys());
        let longest = "n".repeat(MAX_NONCE_BYTES);
        assert!(authenticator.authenticate(&Signed::new("k1", "s1", &longest, &[]).request(), NOW).is_ok());
        for nonce in ["n".repeat(MAX_NONCE_BYTES + 1), "n".repeat(16 * 1024), "has space".into(), "".into()] {
            let refusal = authenticator.authenticate(&Signed::new("k1", "s1", &nonce, &[]).request(), NOW);
            assert!(hint(refusal.unwrap_err()).contains("Nonce"), "{nonce:?}");
        }
        assert_eq!(authenticator.remembered_nonces(), 0);
    }

    #[test]
    fn line_feeds_and_equals_signs_that_could_move_a_boundary_are_refused() {
        let authenticator = Authenticator::new(keys());
        // A signature over {filters-ids=ID, filters-q=ava} ...
        let honest = Signed::new("k1", "s1", "n1", &[("filters-ids", "ID"), ("filters-q", "ava")]);
        // ... signs the same string as one parameter holding a line feed.
        let mut smuggled = Signed::new("k1", "s1", "n1", &[("filters-ids", "ID\nfilters-q=ava")]);
        smuggled.signature = honest.signature.clone();
        assert!(matches!(authenticator.authenticate(&smuggled.request(), NOW), Err(Refusal::BadRequest(_))));
        let mut path = Signed::new("k1", "s1", "n1", &[]);
        path.path = "/v1/messages\nfilters-q=ava".into();
        assert!(matches!(authenticator.authenticate(&path.request(), NOW), Err(Refusal::BadRequest(_))));
        let name = Signed::new("k1", "s1", "n1", &[("filters-q=a", "b")]);
        assert!(hint(authenticator.authenticate(&name.request(), NOW).unwrap_err()).contains("%3D"));
        assert!(authenticator.authenticate(&honest.request(), NOW).is_ok());
    }
}
