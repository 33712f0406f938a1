//! Searches for where a monotone test stops holding over a range of
//! positions: the test holds up to some position and fails from there on
//! (a sorted order's values up to a bound, a group of ties in a list
//! ordered by date). [`first_failing`] bisects the whole range;
//! [`galloping_first_failing`] first doubles its steps from the range's
//! start, for the common case where the answer lies near it, so that
//! finding it `d` positions away costs about `2 log2 d` tests.

use std::ops::Range;

/// The first position of `positions` where `passes` fails (`positions.end`
/// if none does), for a `passes` that holds up to some position and fails
/// from there on.
pub(crate) fn first_failing(positions: Range<usize>, passes: impl Fn(usize) -> bool) -> usize {
    let (mut low, mut high) = (positions.start, positions.end.max(positions.start));
    while low < high {
        let middle = low + (high - low) / 2;
        if passes(middle) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    low
}

/// [`first_failing`], testing `positions.start`, then positions 1, 3, 7, …
/// past it until one fails, then bisecting the last step: a first failing
/// position near the start costs a few tests.
pub(crate) fn galloping_first_failing(positions: Range<usize>, passes: impl Fn(usize) -> bool) -> usize {
    let Range { start, end } = positions;
    // Every position of `start..passed_up_to` passes.
    let (mut passed_up_to, mut step) = (start, 1usize);
    let failing = loop {
        let probe = start.saturating_add(step - 1);
        if probe >= end {
            break end;
        }
        if !passes(probe) {
            break probe;
        }
        passed_up_to = probe + 1;
        step = step.saturating_mul(2);
    };
    first_failing(passed_up_to..failing, passes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Wherever the test stops holding (at once, never, anywhere), both
        /// searches find it, reading only positions of the range; the
        /// galloping one in a few tests per doubling of the distance.
        #[test]
        fn both_find_the_first_failing_position(start in 0usize..3000, len in 0usize..3000, passing in 0usize..3000) {
            let end = start + len;
            let first_failing_at = (start + passing).min(end);
            let tests = std::cell::Cell::new(0);
            let passes = |position: usize| {
                tests.set(tests.get() + 1);
                assert!((start..end).contains(&position), "{position} tested outside {start}..{end}");
                position < first_failing_at
            };
            prop_assert_eq!(first_failing(start..end, passes), first_failing_at);
            tests.set(0);
            prop_assert_eq!(galloping_first_failing(start..end, passes), first_failing_at);
            let distance = first_failing_at - start + 1;
            let bound = 2 * (usize::BITS - distance.leading_zeros()) as usize + 1;
            prop_assert!(tests.get() <= bound, "{} tests for a distance of {}", tests.get(), distance);
        }
    }
}
