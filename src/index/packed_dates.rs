//! `PackedDates`: a sequence of date/time values (seconds, with
//! [`NULL_DATE`] for `null`) held in four bytes each when they span less
//! than about 136 years, as every real account's do; in eight otherwise.
//!
//! ```text
//!  values:   null   T+0   T+5   null   T+5      (T: the least value)
//!  held:       0     1     6     0     6        (seconds past T, plus one)
//! ```
//!
//! *Invariant:* packed, 0 stands for `null` and `1 + (value - least)` for a
//! value, so that held numbers order as the values they stand for (`null`
//! first, as [`NULL_DATE`] sorts as an integer).

use std::ops::Range;

use crate::column::NULL_DATE;

/// The values, packed or as they are.
#[derive(Debug)]
enum Held {
    /// Offsets from `least` (see the module's invariant).
    Packed { least: i64, offsets: Vec<u32> },
    /// Values too far apart to pack.
    Wide(Vec<i64>),
}

/// Date/time values in four bytes each where their spread allows.
#[derive(Debug)]
pub struct PackedDates {
    held: Held,
}

impl Default for PackedDates {
    fn default() -> PackedDates {
        PackedDates { held: Held::Packed { least: 0, offsets: Vec::new() } }
    }
}

impl PackedDates {
    /// Holds `values`, packed when the non-null ones are less than
    /// `u32::MAX` seconds apart.
    pub fn of(values: &[i64]) -> PackedDates {
        let present = values.iter().copied().filter(|&value| value != NULL_DATE);
        let (least, most) =
            present.fold((i64::MAX, i64::MIN), |(least, most), value| (least.min(value), most.max(value)));
        // No value but nulls spreads over nothing; a difference past i64 is
        // as wide as any.
        let spread = if least > most { Some(0) } else { most.checked_sub(least) };
        if spread.is_none_or(|spread| spread >= i64::from(u32::MAX) - 1) {
            return PackedDates { held: Held::Wide(values.to_vec()) };
        }
        let offsets =
            values.iter().map(|&value| if value == NULL_DATE { 0 } else { (value - least) as u32 + 1 }).collect();
        PackedDates { held: Held::Packed { least, offsets } }
    }

    /// The value at `index`.
    #[inline]
    pub fn get(&self, index: usize) -> i64 {
        match &self.held {
            Held::Packed { least, offsets } => match offsets[index] {
                0 => NULL_DATE,
                offset => least + i64::from(offset) - 1,
            },
            Held::Wide(values) => values[index],
        }
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        match &self.held {
            Held::Packed { offsets, .. } => offsets.len(),
            Held::Wide(values) => values.len(),
        }
    }

    /// The first index of `indexes` whose value fails `holds`, where the
    /// values there hold it up to some index and fail it from there on
    /// (as [`slice::partition_point`]).
    pub fn partition_point(&self, indexes: Range<usize>, holds: impl Fn(i64) -> bool) -> usize {
        let (mut low, mut high) = (indexes.start, indexes.end);
        // Invariant: the values before `low` hold; those from `high` fail.
        while low < high {
            let middle = low + (high - low) / 2;
            if holds(self.get(middle)) {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        low
    }

    /// Every value, as they are: for writing them out.
    pub fn to_vec(&self) -> Vec<i64> {
        (0..self.len()).map(|index| self.get(index)).collect()
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        match &self.held {
            Held::Packed { offsets, .. } => offsets.capacity() * 4,
            Held::Wide(values) => values.capacity() * 8,
        }
    }

    /// Whether the values are packed.
    #[cfg(test)]
    fn is_packed(&self) -> bool {
        matches!(self.held, Held::Packed { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn values_too_far_apart_are_held_wide() {
        let packed = PackedDates::of(&[NULL_DATE, 5, i64::from(u32::MAX) + 2]);
        assert!(packed.is_packed(), "a spread of u32::MAX - 3 seconds packs");
        let wide = PackedDates::of(&[NULL_DATE, 5, i64::from(u32::MAX) + 4]);
        assert!(!wide.is_packed());
        assert_eq!(wide.to_vec(), [NULL_DATE, 5, i64::from(u32::MAX) + 4]);
        assert!(PackedDates::of(&[NULL_DATE, NULL_DATE]).is_packed(), "nothing but nulls");
        assert!(PackedDates::of(&[i64::MIN + 1, i64::MAX]).to_vec() == [i64::MIN + 1, i64::MAX]);
    }

    proptest! {
        /// Packed or wide, every value reads back as it was, and searches
        /// agree with the slice's own.
        #[test]
        fn values_read_back_and_search_as_a_slice(
            mut values in proptest::collection::vec(
                prop_oneof![Just(NULL_DATE), -50i64..50, Just(i64::from(u32::MAX) * 2), Just(-(1i64 << 40))],
                0..200,
            ),
            probe in prop_oneof![Just(NULL_DATE), Just(i64::MAX), -60i64..60],
        ) {
            let packed = PackedDates::of(&values);
            prop_assert_eq!(packed.len(), values.len());
            prop_assert_eq!(packed.to_vec(), values.clone());
            values.sort_unstable();
            let sorted = PackedDates::of(&values);
            for range in [0..values.len(), values.len() / 3..values.len() / 2] {
                let expected = range.start + values[range.clone()].partition_point(|&held| held < probe);
                prop_assert_eq!(sorted.partition_point(range, |held| held < probe), expected);
            }
        }
    }
}
