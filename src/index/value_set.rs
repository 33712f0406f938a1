//! [`ValueSet`]: the distinct values a text search matched, as a bitset
//! over the index's value numbers that costs what it holds, not what the
//! index holds.
//!
//! A bitset over a million values is 125 KB: zeroing it for every search,
//! and scanning it whole to list or count its members, cost more than a
//! needle matching a few thousand values does with it. So the bitset is
//! borrowed from a per-thread pool where it waits zeroed, a summary with a
//! bit per word finds the words holding members, and dropping the set
//! clears only those words before it goes back.
//!
//! *Invariant:* the pooled bitset of every thread is all zeros.

use std::cell::RefCell;

thread_local! {
    /// This thread's zeroed bitset, between searches.
    static POOL: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// A set of value numbers below a bound, with its members ascending.
#[derive(Debug)]
pub struct ValueSet {
    /// A bit per value.
    words: Vec<u64>,
    /// A bit per word of `words` that is not zero.
    summary: Vec<u64>,
    /// The members, ascending.
    ascending: Vec<u32>,
}

impl ValueSet {
    /// The set of `values`, each below `bound` (repeats allowed).
    pub fn new(bound: usize, values: impl Iterator<Item = u32>) -> ValueSet {
        let word_count = bound.div_ceil(64);
        let mut words = POOL.with(|pool| std::mem::take(&mut *pool.borrow_mut()));
        // Zeros in, zeros out: truncating or growing keeps the bitset zeroed.
        words.resize(word_count, 0);
        let mut summary = vec![0u64; word_count.div_ceil(64)];
        for value in values {
            let word = value as usize / 64;
            let held = words[word];
            if held == 0 {
                // Matched values sit together: most land in a word already marked.
                summary[word / 64] |= 1 << (word % 64);
            }
            words[word] = held | 1 << (value % 64);
        }
        let mut ascending = Vec::new();
        for (group, &nonzero) in summary.iter().enumerate() {
            let mut nonzero = nonzero;
            while nonzero != 0 {
                let word = group * 64 + nonzero.trailing_zeros() as usize;
                nonzero &= nonzero - 1;
                let mut bits = words[word];
                while bits != 0 {
                    ascending.push(word as u32 * 64 + bits.trailing_zeros());
                    bits &= bits - 1;
                }
            }
        }
        ValueSet { words, summary, ascending }
    }

    /// Whether `value` is a member.
    #[inline]
    pub fn contains(&self, value: u32) -> bool {
        self.words.get(value as usize / 64).is_some_and(|word| word >> (value % 64) & 1 == 1)
    }

    /// The members, ascending.
    pub fn ascending(&self) -> &[u32] {
        &self.ascending
    }
}

impl Drop for ValueSet {
    fn drop(&mut self) {
        for (group, &nonzero) in self.summary.iter().enumerate() {
            let mut nonzero = nonzero;
            while nonzero != 0 {
                self.words[group * 64 + nonzero.trailing_zeros() as usize] = 0;
                nonzero &= nonzero - 1;
            }
        }
        let words = std::mem::take(&mut self.words);
        // The larger of two bitsets is kept (two sets alive at once on one
        // thread: a search of each part of a live store).
        let _ = POOL.try_with(|pool| {
            let mut pool = pool.borrow_mut();
            if pool.capacity() < words.capacity() {
                *pool = words;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn members(set: &ValueSet, bound: u32) -> Vec<u32> {
        (0..bound).filter(|&value| set.contains(value)).collect()
    }

    proptest! {
        /// Whatever came before on this thread (sets of other bounds,
        /// dropped or alive), a set holds exactly its values, lists them
        /// ascending once each, and the pool goes back zeroed.
        #[test]
        fn sets_hold_exactly_their_values_after_any_earlier_sets(
            sets in proptest::collection::vec(
                (1usize..5000, proptest::collection::vec(any::<u32>(), 0..200), any::<bool>()),
                1..8,
            ),
        ) {
            let mut alive = Vec::new();
            for (bound, values, keep) in sets {
                let values: Vec<u32> = values.into_iter().map(|value| value % bound as u32).collect();
                let set = ValueSet::new(bound, values.iter().copied());
                let mut expected = values.clone();
                expected.sort_unstable();
                expected.dedup();
                prop_assert_eq!(set.ascending(), &expected[..]);
                prop_assert_eq!(members(&set, bound as u32 + 64), expected);
                if keep {
                    alive.push(set);
                }
            }
            drop(alive);
            prop_assert!(POOL.with(|pool| pool.borrow().iter().all(|&word| word == 0)), "the pool is zeroed");
        }
    }
}
