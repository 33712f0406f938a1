//! Numbers gathered out of order made distinct and ascending: rows from
//! several values' row lists (into a bitmap), or the text index's values
//! found at several suffixes. They are sorted by radix, since they are
//! bounded (by the segment's row count, or the index's value count), and a
//! few thousand of them sort in two passes of a counting sort where a
//! comparison sort takes a dozen rounds of compares.

use roaring::RoaringBitmap;

/// Bits of a row sorted per pass.
const DIGIT_BITS: u32 = 11;

/// Below this many rows a comparison sort is cheaper than clearing the
/// counts of each pass.
const RADIX_FROM: usize = 512;

/// The distinct `rows` (each below `row_count`, in any order, repeats
/// allowed) as a bitmap.
pub fn bitmap_of_rows(rows: Vec<u32>, row_count: u32) -> RoaringBitmap {
    RoaringBitmap::from_sorted_iter(distinct_sorted(rows, row_count)).expect("sorted rows")
}

/// The distinct `numbers` (each below `bound`, in any order, repeats
/// allowed), ascending.
pub fn distinct_sorted(numbers: Vec<u32>, bound: u32) -> Vec<u32> {
    let mut numbers = sorted_below(numbers, bound);
    numbers.dedup();
    numbers
}

/// `numbers` (each below `bound`) in ascending order: a least significant
/// digit first radix sort, as many passes as `bound` has digits.
fn sorted_below(mut numbers: Vec<u32>, bound: u32) -> Vec<u32> {
    if numbers.len() < RADIX_FROM {
        numbers.sort_unstable();
        return numbers;
    }
    debug_assert!(numbers.iter().all(|&number| number < bound.max(1)), "numbers below the bound");
    // The bits of the largest number there can be.
    let bits = u32::BITS - bound.saturating_sub(1).leading_zeros();
    let digit = |number: u32, shift: u32| (number >> shift & ((1 << DIGIT_BITS) - 1)) as usize;
    let mut sorted = vec![0u32; numbers.len()];
    let mut shift = 0;
    while shift < bits {
        // Where each digit's numbers start, then the numbers placed there in
        // their current order (the sort is stable, so earlier passes hold).
        let mut starts = [0u32; 1 << DIGIT_BITS];
        for &number in &numbers {
            starts[digit(number, shift)] += 1;
        }
        let mut start = 0;
        for count in &mut starts {
            (start, *count) = (start + *count, start);
        }
        for &number in &numbers {
            let slot = &mut starts[digit(number, shift)];
            sorted[*slot as usize] = number;
            *slot += 1;
        }
        std::mem::swap(&mut numbers, &mut sorted);
        shift += DIGIT_BITS;
    }
    numbers
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn rows_come_out_as_a_comparison_sort_leaves_them(
            row_count in prop_oneof![Just(1u32), 1u32..5_000, Just(u32::MAX)],
            picks in proptest::collection::vec(any::<u32>(), 0..3_000),
        ) {
            let rows: Vec<u32> = picks.iter().map(|pick| pick % row_count).collect();
            let mut expected = rows.clone();
            expected.sort_unstable();
            prop_assert_eq!(&sorted_below(rows.clone(), row_count), &expected);
            expected.dedup();
            prop_assert_eq!(bitmap_of_rows(rows, row_count), RoaringBitmap::from_sorted_iter(expected).unwrap());
        }
    }
}
