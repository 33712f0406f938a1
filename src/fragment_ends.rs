//! `FragmentEnds`: where each value of a
//! [`FragmentDict`](crate::column::FragmentDict) ends in its arena, in four
//! bytes each while the arena holds less than 4 GiB (every column but a
//! plain `content` of millions of messages), in eight once it does not.
//!
//! ```text
//!  arena:  "L1""L2""Zoë"        ends: Narrow([4, 8, 14])
//!  value i spans ends[i - 1] .. ends[i]  (from 0 for the first)
//! ```
//!
//! *Invariant:* the ends never decrease, and `Narrow` holds only ends that
//! fit a `u32`; the first end past that turns the sequence `Wide` (one
//! copy).

/// Value ends in four bytes each while they fit, eight otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FragmentEnds {
    /// Every end fits a `u32`.
    Narrow(Vec<u32>),
    /// Some end does not.
    Wide(Vec<usize>),
}

impl Default for FragmentEnds {
    fn default() -> FragmentEnds {
        FragmentEnds::Narrow(Vec::new())
    }
}

impl From<Vec<usize>> for FragmentEnds {
    /// The ends (as a file gives them), in four bytes each when every one
    /// fits.
    fn from(ends: Vec<usize>) -> FragmentEnds {
        if ends.iter().any(|&end| u32::try_from(end).is_err()) {
            FragmentEnds::Wide(ends)
        } else {
            FragmentEnds::Narrow(ends.into_iter().map(|end| end as u32).collect())
        }
    }
}

impl FragmentEnds {
    /// Where value `index` lies (counted from 0): from the previous
    /// value's end to its own.
    #[inline]
    pub fn span(&self, index: usize) -> std::ops::Range<usize> {
        match self {
            FragmentEnds::Narrow(ends) => {
                let start = if index == 0 { 0 } else { ends[index - 1] as usize };
                start..ends[index] as usize
            }
            FragmentEnds::Wide(ends) => {
                let start = if index == 0 { 0 } else { ends[index - 1] };
                start..ends[index]
            }
        }
    }

    /// Appends the end of a new value (at least the last end).
    #[inline]
    pub fn push(&mut self, end: usize) {
        match self {
            FragmentEnds::Narrow(ends) => match u32::try_from(end) {
                Ok(end) => ends.push(end),
                Err(_) => {
                    let mut wide = Vec::with_capacity(ends.capacity().max(ends.len() + 1));
                    wide.extend(ends.iter().map(|&end| end as usize));
                    wide.push(end);
                    *self = FragmentEnds::Wide(wide);
                }
            },
            FragmentEnds::Wide(ends) => ends.push(end),
        }
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        match self {
            FragmentEnds::Narrow(ends) => ends.len(),
            FragmentEnds::Wide(ends) => ends.len(),
        }
    }

    /// Whether there is no value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The end of the last value (0 when there is none).
    pub fn last(&self) -> usize {
        match self {
            FragmentEnds::Narrow(ends) => ends.last().map_or(0, |&end| end as usize),
            FragmentEnds::Wide(ends) => ends.last().copied().unwrap_or(0),
        }
    }

    /// Forgets the values after the first `len`.
    pub fn truncate(&mut self, len: usize) {
        match self {
            FragmentEnds::Narrow(ends) => ends.truncate(len),
            FragmentEnds::Wide(ends) => ends.truncate(len),
        }
    }

    /// Makes room for `values` more values.
    pub fn reserve(&mut self, values: usize) {
        match self {
            FragmentEnds::Narrow(ends) => ends.reserve(values),
            FragmentEnds::Wide(ends) => ends.reserve(values),
        }
    }

    /// Starts loading the end of value `index` (see
    /// [`crate::sys::prefetch`]).
    #[inline]
    pub fn prefetch(&self, index: usize) {
        match self {
            FragmentEnds::Narrow(ends) => crate::sys::prefetch(ends.as_ptr().wrapping_add(index)),
            FragmentEnds::Wide(ends) => crate::sys::prefetch(ends.as_ptr().wrapping_add(index)),
        }
    }

    /// Every end as a `u64` (as segment files hold them).
    pub fn to_u64s(&self) -> Vec<u64> {
        match self {
            FragmentEnds::Narrow(ends) => ends.iter().map(|&end| u64::from(end)).collect(),
            FragmentEnds::Wide(ends) => ends.iter().map(|&end| end as u64).collect(),
        }
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        match self {
            FragmentEnds::Narrow(ends) => ends.capacity() * 4,
            FragmentEnds::Wide(ends) => ends.capacity() * 8,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_are_narrow_until_one_does_not_fit_four_bytes() {
        let mut ends = FragmentEnds::default();
        for end in [4, 8, 14] {
            ends.push(end);
        }
        assert!(matches!(ends, FragmentEnds::Narrow(_)));
        assert_eq!((ends.span(0), ends.span(1), ends.span(2)), (0..4, 4..8, 8..14));
        let past = u32::MAX as usize + 10;
        ends.push(past);
        assert!(matches!(ends, FragmentEnds::Wide(_)), "the first end past 4 GiB turns them wide");
        assert_eq!((ends.span(2), ends.span(3), ends.len(), ends.last()), (8..14, 14..past, 4, past));
        assert_eq!(ends.to_u64s(), [4, 8, 14, past as u64]);
        ends.truncate(1);
        assert_eq!((ends.len(), ends.last()), (1, 4));
        assert_eq!(FragmentEnds::from(vec![1, 2, u32::MAX as usize]), FragmentEnds::Narrow(vec![1, 2, u32::MAX]));
        assert_eq!(FragmentEnds::from(vec![1, past]), FragmentEnds::Wide(vec![1, past]));
        assert_eq!(FragmentEnds::from(Vec::new()).last(), 0);
    }
}
