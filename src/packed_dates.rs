//! `PackedDates`: a sequence of date/time values (seconds, with
//! [`NULL_DATE`] for `null`) held in four bytes each while they lie in a
//! window of about 136 years, as every real account's do; in eight once
//! one does not.
//!
//! ```text
//!  values:   null   B+0   B+5   null   B+5      (B: the window's base)
//!  held:       0     1     6     0     6        (seconds past B, plus one)
//! ```
//!
//! A sequence built whole takes its least value as the base; one grown
//! value by value centres the window on its first value, and turns wide
//! the first time a value falls outside it.
//!
//! *Invariant:* packed, 0 stands for `null` and `1 + (value - base)` for a
//! value, so that held numbers order as the values they stand for (`null`
//! first, as [`NULL_DATE`] sorts as an integer).

use std::ops::Range;

use crate::column::{permuted, NULL_DATE};

/// Seconds a packed window reaches on either side of a grown sequence's
/// first value.
const HALF_WINDOW: i64 = 1 << 31;

/// The values, packed or as they are.
#[derive(Debug, Clone)]
enum Held {
    /// Offsets from `base` (see the module's invariant); `base` is `None`
    /// until the first value that is not `null`.
    Packed { base: Option<i64>, offsets: Vec<u32> },
    /// Values that do not fit one window.
    Wide(Vec<i64>),
}

/// Date/time values in four bytes each while they fit one window.
#[derive(Debug, Clone)]
pub struct PackedDates {
    held: Held,
}

impl Default for PackedDates {
    fn default() -> PackedDates {
        PackedDates { held: Held::Packed { base: None, offsets: Vec::new() } }
    }
}

/// The value a packed `offset` stands for against `base` (see the module's
/// invariant; any offset but 0 was pushed with a base).
#[inline]
fn value_of(offset: u32, base: Option<i64>) -> i64 {
    match offset {
        0 => NULL_DATE,
        offset => base.unwrap_or(0) + i64::from(offset) - 1,
    }
}

/// `value` held against `base`, if it fits.
#[inline]
fn offset_of(value: i64, base: i64) -> Option<u32> {
    if value == NULL_DATE {
        return Some(0);
    }
    let offset = value.checked_sub(base)?.checked_add(1)?;
    u32::try_from(offset).ok().filter(|&offset| offset > 0)
}

impl PackedDates {
    /// Holds `values`, packed against their least when all fit.
    pub fn of(values: &[i64]) -> PackedDates {
        let base = values.iter().copied().filter(|&value| value != NULL_DATE).min();
        let offsets: Option<Vec<u32>> = match base {
            Some(base) => values.iter().map(|&value| offset_of(value, base)).collect(),
            None => Some(vec![0; values.len()]),
        };
        match offsets {
            Some(offsets) => PackedDates { held: Held::Packed { base, offsets } },
            None => PackedDates { held: Held::Wide(values.to_vec()) },
        }
    }

    /// Appends `value`; the sequence turns wide if it falls outside the
    /// window.
    pub fn push(&mut self, value: i64) {
        if let Held::Packed { base, offsets } = &mut self.held {
            if base.is_none() && value != NULL_DATE {
                *base = Some(value.saturating_sub(HALF_WINDOW));
            }
            if let Some(offset) = offset_of(value, base.unwrap_or(0)) {
                offsets.push(offset);
                return;
            }
            self.held = Held::Wide(self.to_vec());
        }
        if let Held::Wide(values) = &mut self.held {
            values.push(value);
        }
    }

    /// The value at `index`.
    #[inline]
    pub fn get(&self, index: usize) -> i64 {
        match &self.held {
            Held::Packed { base, offsets } => value_of(offsets[index], *base),
            Held::Wide(values) => values[index],
        }
    }

    /// Whether the value at `index` is `null`.
    #[inline]
    pub fn is_null(&self, index: usize) -> bool {
        match &self.held {
            Held::Packed { offsets, .. } => offsets[index] == 0,
            Held::Wide(values) => values[index] == NULL_DATE,
        }
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        match &self.held {
            Held::Packed { offsets, .. } => offsets.len(),
            Held::Wide(values) => values.len(),
        }
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every value, in order.
    pub fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.len()).map(|index| self.get(index))
    }

    /// Every value, as they are: for writing them out.
    pub fn to_vec(&self) -> Vec<i64> {
        self.iter().collect()
    }

    /// The first index of `indexes` whose value fails `holds`, where the
    /// values there hold it up to some index and fail it from there on
    /// (as [`slice::partition_point`]).
    pub fn partition_point(&self, indexes: Range<usize>, holds: impl Fn(i64) -> bool) -> usize {
        let start = indexes.start;
        start
            + match &self.held {
                Held::Packed { base, offsets } => {
                    offsets[indexes].partition_point(|&offset| holds(value_of(offset, *base)))
                }
                Held::Wide(values) => values[indexes].partition_point(|&value| holds(value)),
            }
    }

    /// The end of the run of values equal to the one at `index`, searching
    /// forward up to `limit` (galloping, so a long run of ties costs its
    /// logarithm). Equal held numbers are equal values: none is decoded.
    #[inline]
    pub fn tie_end(&self, index: usize, limit: usize) -> usize {
        match &self.held {
            Held::Packed { offsets, .. } => tie_end(offsets, index, limit),
            Held::Wide(values) => tie_end(values, index, limit),
        }
    }

    /// The start of the run of values equal to the one at `index - 1`,
    /// searching backward down to `limit` (galloping).
    #[inline]
    pub fn tie_start(&self, index: usize, limit: usize) -> usize {
        match &self.held {
            Held::Packed { offsets, .. } => tie_start(offsets, index, limit),
            Held::Wide(values) => tie_start(values, index, limit),
        }
    }

    /// Makes room for `additional` more values.
    pub fn reserve(&mut self, additional: usize) {
        match &mut self.held {
            Held::Packed { offsets, .. } => offsets.reserve(additional),
            Held::Wide(values) => values.reserve(additional),
        }
    }

    /// Forgets the values after the first `len`.
    pub fn truncate(&mut self, len: usize) {
        match &mut self.held {
            Held::Packed { offsets, .. } => offsets.truncate(len),
            Held::Wide(values) => values.truncate(len),
        }
    }

    /// Reorders the values: value `i` becomes old value `order[i]`.
    pub fn permute(&mut self, order: &[u32]) {
        match &mut self.held {
            Held::Packed { offsets, .. } => *offsets = permuted(offsets, order),
            Held::Wide(values) => *values = permuted(values, order),
        }
    }

    /// Starts loading the value at `index` (see [`crate::sys::prefetch`]).
    #[inline]
    pub fn prefetch(&self, index: usize) {
        match &self.held {
            Held::Packed { offsets, .. } => crate::sys::prefetch(offsets.as_ptr().wrapping_add(index)),
            Held::Wide(values) => crate::sys::prefetch(values.as_ptr().wrapping_add(index)),
        }
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
    pub(crate) fn is_packed(&self) -> bool {
        matches!(self.held, Held::Packed { .. })
    }
}

/// [`PackedDates::tie_end`] over held numbers.
#[inline]
fn tie_end<T: Copy + Eq>(held: &[T], index: usize, limit: usize) -> usize {
    let value = held[index];
    let mut step = 1;
    while index + step < limit && held[index + step] == value {
        step *= 2;
    }
    let low = index + step / 2;
    let high = (index + step).min(limit);
    low + held[low..high].partition_point(|&other| other == value)
}

/// [`PackedDates::tie_start`] over held numbers.
#[inline]
fn tie_start<T: Copy + Eq>(held: &[T], index: usize, limit: usize) -> usize {
    let last = index - 1;
    let value = held[last];
    let mut step = 1;
    while last >= limit + step && held[last - step] == value {
        step *= 2;
    }
    let high = last - step / 2 + 1;
    let low = if last >= limit + step { last - step } else { limit };
    low + held[low..high].partition_point(|&other| other != value)
}

impl Extend<i64> for PackedDates {
    fn extend<Values: IntoIterator<Item = i64>>(&mut self, values: Values) {
        let values = values.into_iter();
        self.reserve(values.size_hint().0);
        values.for_each(|value| self.push(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn values_too_far_apart_are_held_wide() {
        let span = i64::from(u32::MAX);
        let packed = PackedDates::of(&[NULL_DATE, 5, span + 4]);
        assert!(packed.is_packed(), "the last offset is u32::MAX");
        let wide = PackedDates::of(&[NULL_DATE, 5, span + 5]);
        assert!(!wide.is_packed());
        assert_eq!(wide.to_vec(), [NULL_DATE, 5, span + 5]);
        assert!(PackedDates::of(&[NULL_DATE, NULL_DATE]).is_packed(), "nothing but nulls");
        assert_eq!(PackedDates::of(&[i64::MIN + 1, i64::MAX]).to_vec(), [i64::MIN + 1, i64::MAX]);
    }

    #[test]
    fn a_grown_sequence_turns_wide_at_the_first_value_outside_its_window() {
        let mut dates = PackedDates::default();
        for value in [NULL_DATE, 1_000, 1_000 - HALF_WINDOW, NULL_DATE] {
            dates.push(value);
        }
        assert!(dates.is_packed(), "the window reaches back half its width from the first value");
        dates.push(1_000 + HALF_WINDOW + 10);
        assert!(!dates.is_packed());
        assert_eq!(dates.to_vec(), [NULL_DATE, 1_000, 1_000 - HALF_WINDOW, NULL_DATE, 1_000 + HALF_WINDOW + 10]);
    }

    proptest! {
        /// Packed or wide, built whole or grown, every value reads back as
        /// it was, nulls are told, and searches agree with the slice's own.
        #[test]
        fn values_read_back_and_search_as_a_slice(
            mut values in proptest::collection::vec(
                prop_oneof![Just(NULL_DATE), -50i64..50, Just(i64::from(u32::MAX) * 2), Just(-(1i64 << 40))],
                0..200,
            ),
            probe in prop_oneof![Just(NULL_DATE), Just(i64::MAX), -60i64..60],
        ) {
            let whole = PackedDates::of(&values);
            let mut grown = PackedDates::default();
            values.iter().for_each(|&value| grown.push(value));
            for dates in [&whole, &grown] {
                prop_assert_eq!(dates.len(), values.len());
                prop_assert_eq!(dates.to_vec(), values.clone());
                for (index, &value) in values.iter().enumerate() {
                    prop_assert_eq!(dates.is_null(index), value == NULL_DATE);
                }
            }
            let order: Vec<u32> = (0..values.len() as u32).rev().collect();
            let mut reversed = whole.clone();
            reversed.permute(&order);
            prop_assert_eq!(reversed.to_vec(), values.iter().rev().copied().collect::<Vec<_>>());
            values.sort_unstable();
            let sorted = PackedDates::of(&values);
            for range in [0..values.len(), values.len() / 3..values.len() / 2] {
                let expected = range.start + values[range.clone()].partition_point(|&held| held < probe);
                prop_assert_eq!(sorted.partition_point(range, |held| held < probe), expected);
            }
        }
    }
}
