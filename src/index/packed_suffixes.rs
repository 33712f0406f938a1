//! The text index's sorted suffixes, each as where it starts in the text
//! and the value it belongs to, held in as few bits as the text's length
//! and the number of values need (see [`BitPacked`]).
//!
//! ```text
//!  suffix i:  starts.get(i)  (bits for "below the text's length")
//!             values.get(i)  (bits for "below the value count")
//! ```
//!
//! A search reads starts only (to compare the text there with the
//! needle); the values of a needle's run are then read in sequence. Kept
//! in two arrays rather than pairs of `u32`s, a suffix costs the bits its
//! two bounds need instead of 64: the suffixes are the largest part of the
//! text index (docs/PERFORMANCE.md has the figures). Segment files keep
//! the pairs of `u32`s; the packing is done when an index is built or
//! read.

use super::bit_packed::BitPacked;

/// Sorted suffixes as `(start in text, value)`, packed.
#[derive(Debug, Default)]
pub struct PackedSuffixes {
    starts: BitPacked,
    values: BitPacked,
}

impl PackedSuffixes {
    /// Packs `suffixes`, whose starts must lie below `text_len` and values
    /// below `value_count`.
    pub fn of(suffixes: &[(u32, u32)], text_len: usize, value_count: usize) -> PackedSuffixes {
        PackedSuffixes {
            starts: BitPacked::from_fn(suffixes.len(), text_len as u64, |index| suffixes[index].0),
            values: BitPacked::from_fn(suffixes.len(), value_count as u64, |index| suffixes[index].1),
        }
    }

    /// The number of suffixes.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// Where suffix `position` starts in the text.
    #[inline]
    pub fn start(&self, position: usize) -> u32 {
        self.starts.get(position)
    }

    /// The value suffix `position` belongs to.
    #[inline]
    pub fn value(&self, position: usize) -> u32 {
        self.values.get(position)
    }

    /// Appends the values of the suffixes at `positions` to `out`, in order
    /// (the fastest way to read many).
    pub fn extend_values(&self, positions: std::ops::Range<usize>, out: &mut Vec<u32>) {
        self.values.extend_from_range(positions, out);
    }

    /// Every suffix as `(start, value)`, in order, unpacked (for building,
    /// writing and checking, never for searching).
    pub fn to_vec(&self) -> Vec<(u32, u32)> {
        let (mut starts, mut values) = (Vec::new(), Vec::new());
        self.starts.extend_from_range(0..self.len(), &mut starts);
        self.values.extend_from_range(0..self.len(), &mut values);
        starts.into_iter().zip(values).collect()
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.starts.heap_bytes() + self.values.heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::suffixes_of;

    #[test]
    fn suffixes_unpack_as_they_were_given_in_the_widths_their_bounds_need() {
        let (text, suffixes) = suffixes_of(&["zoë quinn", "ab", "", "b"]);
        let packed = PackedSuffixes::of(&suffixes, text.len(), 4);
        assert_eq!(packed.len(), suffixes.len());
        assert_eq!(packed.to_vec(), suffixes);
        assert!((0..suffixes.len()).all(|at| (packed.start(at), packed.value(at)) == suffixes[at]));
        let mut values = Vec::new();
        packed.extend_values(2..5, &mut values);
        assert!(values.into_iter().eq(suffixes[2..5].iter().map(|&(_, value)| value)));
        // 18 bytes of text: 5 bits a start; 4 values: 2 bits a value.
        assert_eq!((packed.starts.width(), packed.values.width()), (5, 2));
        assert_eq!(PackedSuffixes::default().len(), 0);
    }
}
