//! The nonces of admitted requests, remembered until their timestamps leave
//! the signing window, so that a captured request cannot be replayed.
//!
//! Each entry is a fixed-size fingerprint (16 bytes of SHA-256 over the key
//! and the nonce) and its expiry second, stored once. Only requests the
//! rate limit admitted are remembered, so the log holds at most
//! `keys × rate limit × window` entries whatever clients send.

use std::collections::HashMap;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

/// A nonce already remembered: the request is a replay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Replay;

/// Remembered nonce fingerprints and the second each may be forgotten.
#[derive(Debug, Default)]
pub(crate) struct NonceLog {
    state: Mutex<NonceState>,
}

#[derive(Debug, Default)]
struct NonceState {
    /// Fingerprint → the first second at which the nonce's request is out
    /// of the window. Invariant: after a sweep at `swept_at`, no entry
    /// expires at or before `swept_at`.
    expiry: HashMap<[u8; 16], u64>,
    swept_at: u64,
}

impl NonceLog {
    /// The fixed-size fingerprint of `nonce` sent with `api_key`.
    pub(crate) fn fingerprint(api_key: &str, nonce: &str) -> [u8; 16] {
        let mut hasher = Sha256::new();
        hasher.update((api_key.len() as u64).to_le_bytes());
        hasher.update(api_key.as_bytes());
        hasher.update(nonce.as_bytes());
        let digest = hasher.finalize();
        digest[..16].try_into().expect("SHA-256 has 32 bytes")
    }

    /// Remembers a fingerprint until `expires_at`; refuses one already
    /// remembered. Forgets expired entries at most once a second.
    pub(crate) fn remember(&self, fingerprint: [u8; 16], expires_at: u64, now: u64) -> Result<(), Replay> {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if now > state.swept_at {
            state.expiry.retain(|_, expires| *expires > now);
            let keep = state.expiry.len() * 2;
            state.expiry.shrink_to(keep);
            state.swept_at = now;
        }
        match state.expiry.get(&fingerprint) {
            Some(&expires) if expires > now => Err(Replay),
            _ => {
                state.expiry.insert(fingerprint, expires_at);
                Ok(())
            }
        }
    }

    /// How many nonces are remembered.
    pub(crate) fn len(&self) -> usize {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner).expiry.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_refused_until_it_expires_then_forgotten() {
        let log = NonceLog::default();
        let first = NonceLog::fingerprint("key", "n1");
        assert_ne!(first, NonceLog::fingerprint("key2", "n1"), "nonces are per key");
        assert_ne!(
            NonceLog::fingerprint("ke", "yn1"),
            NonceLog::fingerprint("key", "n1"),
            "the key's length is hashed"
        );
        assert_eq!(log.remember(first, 110, 100), Ok(()));
        assert_eq!(log.remember(first, 110, 109), Err(Replay));
        assert_eq!(log.remember(NonceLog::fingerprint("key", "n2"), 111, 109), Ok(()));
        assert_eq!(log.len(), 2);
        assert_eq!(log.remember(NonceLog::fingerprint("key", "n3"), 200, 110), Ok(()), "the sweep drops n1");
        assert_eq!(log.len(), 2);
        assert_eq!(log.remember(first, 300, 110), Ok(()), "an expired nonce may come again");
    }
}
