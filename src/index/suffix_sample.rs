//! The first bytes of every few sorted suffixes, searched before the
//! suffixes themselves: where a needle's run starts and ends.
//!
//! A binary search of the text index's sorted suffixes reads, at each
//! step, a suffix's start and then its text: two dependent cache misses
//! per halving of the suffixes. The sample keeps the first eight bytes of
//! every [`SAMPLE_EVERY`]-th suffix as one big-endian number, in an array
//! that many times shorter than the suffixes and read without the text.
//! The search narrows the run's ends down to one stretch of
//! [`SAMPLE_EVERY`] suffixes by comparing numbers only, and then searches
//! that stretch as before.
//!
//! ```text
//!  suffixes   0 .. 63 | 64 .. 127 | 128 .. 191 | …
//!  sample     key(0)    key(64)     key(128)     …   key = first 8 bytes
//!  a needle of at most 8 bytes is compared with a key's first bytes;
//!  a longer one with all 8, and where they are equal, with the text
//! ```
//!
//! A key holds what the comparison with a needle reads: the suffix's bytes
//! from its start, through its separator and on into the next value, zero
//! after the end of the text. The separator is greater than any byte of a
//! needle, so it decides a comparison that reaches it, as in the text.

use rayon::prelude::*;

use crate::monotone_search::first_failing;

/// One suffix in this many is sampled: the stretch left to search in the
/// text takes six halvings.
pub const SAMPLE_EVERY: usize = 64;

/// The first eight bytes of every [`SAMPLE_EVERY`]-th suffix (see the
/// module's doc). *Invariant:* `keys[j]` is the key of suffix
/// `j * SAMPLE_EVERY` of the suffixes it was made from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SuffixSample {
    keys: Vec<u64>,
}

/// How a needle compares with the suffixes: the two partitions that bound
/// its run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// Suffixes whose first bytes are less than the needle (the run starts
    /// after them).
    Below,
    /// Suffixes whose first bytes are less than or equal to the needle (the
    /// run ends after them).
    AtOrBelow,
}

impl SuffixSample {
    /// The sample of `suffixes` (their starts in `text`).
    pub fn of(text: &[u8], suffixes: &[(u32, u32)]) -> SuffixSample {
        let keys = suffixes.par_iter().step_by(SAMPLE_EVERY).map(|&(start, _)| key_at(text, start as usize)).collect();
        SuffixSample { keys }
    }

    /// Whether the sample was made from `suffix_count` suffixes.
    pub fn fits(&self, suffix_count: usize) -> bool {
        self.keys.len() == suffix_count.div_ceil(SAMPLE_EVERY)
    }

    /// The number of the first `suffix_count` suffixes that `bound`
    /// places before `needle` (they are sorted, so those come first), where
    /// `passes(position)` tells it for one suffix from its text. `passes`
    /// is asked only about the stretch the keys leave, and about sampled
    /// suffixes whose key cannot tell (those beginning with a longer
    /// needle's first eight bytes).
    pub fn partition_point(
        &self,
        suffix_count: usize,
        needle: &[u8],
        bound: Bound,
        passes: impl Fn(usize) -> bool,
    ) -> usize {
        debug_assert!(self.fits(suffix_count), "a sample of these suffixes");
        let needle_key = NeedleKey::of(needle);
        let passed = first_failing(0..self.keys.len(), |sampled| {
            needle_key.decides(self.keys[sampled], bound).unwrap_or_else(|| passes(sampled * SAMPLE_EVERY))
        });
        // Sampled suffix `passed - 1` passes and `passed` does not (or is
        // past the end): the first suffix that does not pass lies between.
        match passed {
            0 => 0,
            _ => first_failing((passed - 1) * SAMPLE_EVERY + 1..(passed * SAMPLE_EVERY).min(suffix_count), passes),
        }
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.keys.capacity() * 8
    }
}

/// The key of the suffix starting at `start` of `text`: its first eight
/// bytes, big-endian, zero past the end of the text.
fn key_at(text: &[u8], start: usize) -> u64 {
    let mut bytes = [0u8; 8];
    let available = &text[start.min(text.len())..(start + 8).min(text.len())];
    bytes[..available.len()].copy_from_slice(available);
    u64::from_be_bytes(bytes)
}

/// A needle's first eight bytes as a key, and its length.
struct NeedleKey {
    key: u64,
    len: usize,
}

impl NeedleKey {
    fn of(needle: &[u8]) -> NeedleKey {
        NeedleKey { key: key_at(needle, 0), len: needle.len() }
    }

    /// Whether a suffix of key `key` passes `bound`, when the key tells:
    /// always for a needle of at most eight bytes (only that many of the
    /// suffix's bytes are compared), and for a longer one unless the key
    /// is its first eight bytes.
    fn decides(&self, key: u64, bound: Bound) -> Option<bool> {
        // Of a key, only as many bytes as the needle has are compared.
        let shift = 64 - (self.len.min(8) * 8) as u32;
        let (suffix, needle) = (key.checked_shr(shift).unwrap_or(0), self.key.checked_shr(shift).unwrap_or(0));
        match suffix.cmp(&needle) {
            std::cmp::Ordering::Less => Some(true),
            std::cmp::Ordering::Greater => Some(false),
            std::cmp::Ordering::Equal if self.len <= 8 => Some(bound == Bound::AtOrBelow),
            std::cmp::Ordering::Equal => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::suffixes_of;

    /// Both partitions of every needle, found through the sample, against
    /// a count of the suffixes that pass, each compared in the text.
    fn check_needles(values: &[String], needles: &[String]) {
        let (text, suffixes) = suffixes_of(&values.iter().map(String::as_str).collect::<Vec<_>>());
        let sample = SuffixSample::of(&text, &suffixes);
        assert!(sample.fits(suffixes.len()));
        for needle in needles.iter().map(String::as_bytes) {
            let window = |position: usize| {
                let start = suffixes[position].0 as usize;
                &text[start..(start + needle.len()).min(text.len())]
            };
            let below = |position: usize| window(position) < needle;
            let at_or_below = |position: usize| window(position) <= needle;
            let count = suffixes.len();
            assert_eq!(
                sample.partition_point(count, needle, Bound::Below, below),
                (0..count).filter(|&position| below(position)).count(),
                "below {needle:?}"
            );
            assert_eq!(
                sample.partition_point(count, needle, Bound::AtOrBelow, at_or_below),
                (0..count).filter(|&position| at_or_below(position)).count(),
                "at or below {needle:?}"
            );
        }
    }

    #[test]
    fn runs_are_found_through_the_sample_as_through_the_text() {
        let values: Vec<String> = (0..400)
            .map(|number| format!("name{} surname{} <n.s{}@example.com>", number % 37, number % 11, number))
            .chain(["zoë", "a", "ab", "abcdefghij"].map(str::to_owned))
            .collect();
        let needles: Vec<String> = [
            "a",
            "n",
            "name1",
            "surname1 <",
            "surname10 <n.s",
            "@example.com>",
            "example",
            "ë",
            "zoë",
            "zz",
            "0",
            "abcdefgh",
            "abcdefghi",
            "abcdefghij",
            "abcdefghijk",
            "<n.s399@example.com>",
            "\u{1}",
            "~~~~~~~~~~",
        ]
        .map(str::to_owned)
        .to_vec();
        check_needles(&values, &needles);
    }

    proptest::proptest! {
        #[test]
        fn partitions_agree_with_the_text(
            values in proptest::collection::btree_set("[ab é]{1,12}", 1..200),
            needles in proptest::collection::vec("[ab é]{1,11}", 1..20),
        ) {
            let values: Vec<String> = values.into_iter().collect();
            check_needles(&values, &needles);
        }
    }
}
