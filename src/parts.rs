//! A slice filled in parallel, part by part. The parts' lengths are known
//! before the slice is made, so that every task writes straight into its
//! own place of one allocation, instead of collecting into a vector of its
//! own that one thread then copies into a joined one (every element held
//! twice, and copied twice).
//!
//! ```text
//!  parts     (item, 3)  (item, 2)  (item, 4)    lengths known first
//!  out      [a a a]    [b b]      [c c c c]     one allocation, each part filled by a task
//! ```

use std::ops::Range;

use rayon::prelude::*;

/// `0..count` cut into consecutive ranges of `per` (the last shorter): the
/// work of one parallel task each.
pub(crate) fn ranges(count: usize, per: usize) -> Vec<Range<usize>> {
    (0..count).step_by(per.max(1)).map(|first| first..(first + per).min(count)).collect()
}

/// Splits `out` into consecutive parts, one per `(item, length)` of
/// `parts` (the lengths adding up to `out`'s), and has `fill(item, part)`
/// fill each, in parallel; each item is dropped as soon as its part is
/// filled.
pub(crate) fn fill_parts<Item: Send, T: Send>(
    out: &mut [T],
    parts: Vec<(Item, usize)>,
    fill: impl Fn(Item, &mut [T]) + Sync,
) {
    assert_eq!(parts.iter().map(|(_, length)| length).sum::<usize>(), out.len(), "the parts cover the slice");
    let mut places = Vec::with_capacity(parts.len());
    let mut rest = out;
    for (_, length) in &parts {
        let (place, after) = std::mem::take(&mut rest).split_at_mut(*length);
        places.push(place);
        rest = after;
    }
    parts.into_par_iter().zip(places).for_each(|((item, _), place)| fill(item, place));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_part_is_its_own_stretch_of_the_slice() {
        let mut out = vec![0usize; 9];
        fill_parts(&mut out, vec![(1, 3), (2, 0), (3, 2), (4, 4)], |item, part| {
            part.iter_mut().for_each(|slot| *slot = item)
        });
        assert_eq!(out, [1, 1, 1, 3, 3, 4, 4, 4, 4]);
    }

    #[test]
    #[should_panic(expected = "the parts cover the slice")]
    fn parts_that_do_not_cover_the_slice_are_refused() {
        fill_parts(&mut [0u8; 4], vec![((), 1), ((), 2)], |_, _| ());
    }

    #[test]
    fn ranges_cover_the_count_in_order() {
        assert_eq!(ranges(10, 4), [0..4, 4..8, 8..10]);
        assert_eq!(ranges(8, 4), [0..4, 4..8]);
        assert!(ranges(0, 4).is_empty());
    }
}
