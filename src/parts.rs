//! A slice filled in parallel, part by part. The parts' lengths are known
//! first, so that every task writes straight into its own place of one
//! allocation: nothing is collected per task and joined afterwards, which
//! would hold every element twice and copy it again on one thread.
//!
//! ```text
//!  lengths   3      2   4           (counted first, in parallel)
//!  out      [a a a][b b][c c c c]   (one allocation, each part filled by a task)
//! ```

use rayon::prelude::*;

/// Splits `out` into consecutive parts of `lengths`, which must add up to
/// its length, and has `fill(index, part)` fill each part, in parallel.
pub(crate) fn fill_parts<T: Send>(out: &mut [T], lengths: &[usize], fill: impl Fn(usize, &mut [T]) + Sync) {
    assert_eq!(lengths.iter().sum::<usize>(), out.len(), "the parts cover the slice");
    let mut parts = Vec::with_capacity(lengths.len());
    let mut rest = out;
    for &length in lengths {
        let (part, after) = std::mem::take(&mut rest).split_at_mut(length);
        parts.push(part);
        rest = after;
    }
    parts.into_par_iter().enumerate().for_each(|(index, part)| fill(index, part));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_part_is_its_own_stretch_of_the_slice() {
        let lengths = [3, 0, 2, 4];
        let mut out = vec![0usize; 9];
        fill_parts(&mut out, &lengths, |index, part| part.iter_mut().for_each(|slot| *slot = index + 1));
        assert_eq!(out, [1, 1, 1, 3, 3, 4, 4, 4, 4]);
    }

    #[test]
    #[should_panic(expected = "the parts cover the slice")]
    fn parts_that_do_not_cover_the_slice_are_refused() {
        fill_parts(&mut [0u8; 4], &[1, 2], |_, _| ());
    }
}
