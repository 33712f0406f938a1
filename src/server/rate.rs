//! Fixed-window request counters: requests per API key per second, and
//! failed authentications per client address per minute.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;

/// The state of one window, as reported in the `X-CareHQ-RateLimit-*`
/// headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RateState {
    /// Requests allowed per window.
    pub(crate) limit: u32,
    /// Requests left in the current window.
    pub(crate) remaining: u32,
    /// When the current window ends, in Unix seconds.
    pub(crate) reset: u64,
    /// Whether this request was admitted.
    pub(crate) allowed: bool,
}

/// Counts events per key in fixed windows of `window_seconds`.
///
/// Invariant: the map holds at most `max_keys` entries. When it is full,
/// entries of past windows are dropped; if all are current, a new key is
/// counted without being stored (it is admitted): a flood of new keys can
/// neither grow memory nor lock out keys already counted.
#[derive(Debug)]
pub(crate) struct WindowCounter<K> {
    window_seconds: u64,
    max_keys: usize,
    windows: Mutex<HashMap<K, (u64, u32)>>,
}

impl<K: Hash + Eq + Clone> WindowCounter<K> {
    /// Counters of `window_seconds`, for at most `max_keys` keys at once.
    pub(crate) fn new(window_seconds: u64, max_keys: usize) -> WindowCounter<K> {
        WindowCounter { window_seconds, max_keys, windows: Mutex::new(HashMap::new()) }
    }

    fn window_of(&self, now: u64) -> u64 {
        now - now % self.window_seconds
    }

    /// Counts one event for `key` at `now` if fewer than `limit` were
    /// counted in the current window.
    pub(crate) fn admit(&self, key: &K, limit: u32, now: u64) -> RateState {
        let window = self.window_of(now);
        let reset = window + self.window_seconds;
        let mut windows = self.windows.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !windows.contains_key(key) && windows.len() >= self.max_keys {
            windows.retain(|_, (start, _)| *start == window);
            if windows.len() >= self.max_keys {
                return RateState { limit, remaining: limit.saturating_sub(1), reset, allowed: true };
            }
        }
        let (start, count) = windows.entry(key.clone()).or_insert((window, 0));
        if *start != window {
            *start = window;
            *count = 0;
        }
        let allowed = *count < limit;
        if allowed {
            *count += 1;
        }
        RateState { limit, remaining: limit - *count, reset, allowed }
    }

    /// Whether `key` has used up `limit` in the current window, without
    /// counting anything.
    pub(crate) fn exhausted(&self, key: &K, limit: u32, now: u64) -> bool {
        let window = self.window_of(now);
        let windows = self.windows.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        windows.get(key).is_some_and(|(start, count)| *start == window && *count >= limit)
    }
}

/// The unit a client address is counted by: the address itself for IPv4,
/// its /64 network for IPv6 (one host is commonly given a whole /64).
pub(crate) fn client_network(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(bits.into())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_per_key_and_per_window() {
        let limiter = WindowCounter::new(1, 100);
        assert!(limiter.admit(&"a", 2, 10).allowed);
        let second = limiter.admit(&"a", 2, 10);
        assert_eq!(second, RateState { limit: 2, remaining: 0, reset: 11, allowed: true });
        assert!(!limiter.admit(&"a", 2, 10).allowed);
        assert!(limiter.exhausted(&"a", 2, 10));
        assert!(limiter.admit(&"b", 2, 10).allowed, "keys have their own windows");
        assert!(limiter.admit(&"a", 2, 11).allowed, "a new window resets the count");
        assert!(!limiter.exhausted(&"a", 2, 11));
        let minutes = WindowCounter::new(60, 100);
        assert_eq!(minutes.admit(&"a", 1, 125).reset, 180);
        assert!(!minutes.admit(&"a", 1, 179).allowed);
        assert!(minutes.admit(&"a", 1, 180).allowed);
    }

    #[test]
    fn a_full_table_drops_old_windows_and_never_grows() {
        let limiter = WindowCounter::new(1, 3);
        for key in 0..3 {
            limiter.admit(&key, 1, 10);
        }
        assert!(limiter.admit(&99, 1, 10).allowed, "a new key is admitted uncounted when the table is full");
        assert!(limiter.admit(&99, 1, 10).allowed);
        assert!(!limiter.admit(&0, 1, 10).allowed, "keys already counted stay counted");
        assert!(limiter.admit(&99, 1, 11).allowed, "a new window frees the table");
        assert!(!limiter.admit(&99, 1, 11).allowed);
        assert!(limiter.windows.lock().unwrap().len() <= 3);
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64_bit_network() {
        let one: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let same: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_network(one), client_network(same));
        assert_ne!(client_network(one), client_network(other));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(client_network(mapped), "10.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(client_network("10.0.0.1".parse().unwrap()), "10.0.0.1".parse::<IpAddr>().unwrap());
    }
}
