//! Numbers below a known bound, each held in as many bits as the bound
//! needs, back to back: an array of `u32`s that costs `width / 32` of one.
//!
//! ```text
//!  width 3:  numbers 5, 1, 6, …   bits (least significant first)
//!            101 100 011 …        number i at bits i·3 .. i·3 + 3
//! ```
//!
//! Any number is read with one unaligned eight-byte load, a shift and a
//! mask: a width of at most 32 bits, starting at most 7 bits into its first
//! byte, lies inside the eight bytes from that byte. Eight bytes of padding
//! after the last number keep that load inside the array.
//!
//! *Invariant:* `bytes` holds `len` numbers of `width` bits and then at
//! least [`PADDING`] bytes; every bit after the last number is 0.

use rayon::prelude::*;

/// Bytes after the last number, so that reading it loads eight bytes
/// inside the array.
const PADDING: usize = 8;

/// Numbers packed eight at a time end on a byte: a packing task takes
/// this many numbers (a multiple of eight), so that tasks write apart.
const NUMBERS_PER_TASK: usize = 8 << 10;

/// `len` numbers of `width` bits each (see the module's doc).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct BitPacked {
    bytes: Vec<u8>,
    width: u32,
    len: usize,
}

impl std::fmt::Debug for BitPacked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BitPacked").field("width", &self.width).field("len", &self.len).finish_non_exhaustive()
    }
}

impl BitPacked {
    /// The width that holds every number below `bound` (at least one bit).
    pub fn width_below(bound: u64) -> u32 {
        (u64::BITS - bound.saturating_sub(1).leading_zeros()).clamp(1, u32::BITS)
    }

    /// The numbers `number_at(0..len)`, each of which must be below
    /// `bound` (a larger one is a caller's bug: checked in debug builds,
    /// cut to the width otherwise, never spilling into its neighbours).
    /// Packed in parallel, a slice of numbers per task.
    pub fn from_fn(len: usize, bound: u64, number_at: impl Fn(usize) -> u32 + Sync) -> BitPacked {
        let width = BitPacked::width_below(bound);
        let mut bytes = vec![0u8; (len * width as usize).div_ceil(8) + PADDING];
        // A task's numbers fill `NUMBERS_PER_TASK * width / 8` whole bytes.
        let task_bytes = NUMBERS_PER_TASK * width as usize / 8;
        bytes.par_chunks_mut(task_bytes).enumerate().for_each(|(task, chunk)| {
            let first = task * NUMBERS_PER_TASK;
            let past = (first + NUMBERS_PER_TASK).min(len);
            pack_into(chunk, width, (first..past).map(&number_at));
        });
        BitPacked { bytes, width, len }
    }

    /// The number at `index`, which must be below [`BitPacked::len`].
    #[inline]
    pub fn get(&self, index: usize) -> u32 {
        assert!(index < self.len, "index {index} of {} packed numbers", self.len);
        let bit = index * self.width as usize;
        let at = bit / 8;
        let word = u64::from_le_bytes(self.bytes[at..at + 8].try_into().expect("eight bytes"));
        (word >> (bit % 8) & mask(self.width)) as u32
    }

    /// Appends the numbers at `range` to `out`, in order, for the long
    /// sequential reads: eight numbers of `width` bits fill `width` whole
    /// bytes, so the numbers are read a group of eight at a time, with a
    /// loop made for each width in which every shift and offset is a
    /// constant (where [`BitPacked::get`] computes them for each number).
    pub fn extend_from_range(&self, range: std::ops::Range<usize>, out: &mut Vec<u32>) {
        assert!(range.start <= range.end && range.end <= self.len, "{range:?} of {} packed numbers", self.len);
        out.reserve(range.len());
        let first_group = range.start.div_ceil(GROUP);
        let past_group = range.end / GROUP;
        if first_group >= past_group {
            out.extend(range.map(|index| self.get(index)));
            return;
        }
        out.extend((range.start..first_group * GROUP).map(|index| self.get(index)));
        let groups = first_group..past_group;
        with_const_width!(self.width, WIDTH => unpack_groups::<WIDTH>(&self.bytes, groups, out));
        out.extend((past_group * GROUP..range.end).map(|index| self.get(index)));
    }

    /// How many numbers there are.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The bits each number takes.
    #[cfg(test)]
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.bytes.capacity()
    }
}

/// Numbers read together by [`BitPacked::extend_from_range`]: eight
/// numbers of any width end on a byte.
const GROUP: usize = 8;

/// Calls `$call` with `$name` a constant equal to `$width` (1 to 32).
macro_rules! with_const_width {
    ($width:expr, $name:ident => $call:expr) => {
        with_const_width!(@arms $width, $name, $call;
            1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32)
    };
    (@arms $width:expr, $name:ident, $call:expr; $($value:literal)*) => {
        match $width {
            $($value => {
                const $name: usize = $value;
                $call
            })*
            other => unreachable!("a width of {other} bits"),
        }
    };
}
use with_const_width;

/// Appends the numbers of `groups` (groups of [`GROUP`] numbers, each
/// filling `WIDTH` bytes of `bytes`) to `out`.
#[inline]
fn unpack_groups<const WIDTH: usize>(bytes: &[u8], groups: std::ops::Range<usize>, out: &mut Vec<u32>) {
    let mask = mask(WIDTH as u32);
    for group in groups {
        // The group's bytes and the padding its last read runs into: one
        // bounds check, then constant offsets.
        let chunk = &bytes[group * WIDTH..][..WIDTH + 8];
        let mut numbers = [0u32; GROUP];
        for (index, number) in numbers.iter_mut().enumerate() {
            let bit = index * WIDTH;
            let word = u64::from_le_bytes(chunk[bit / 8..bit / 8 + 8].try_into().expect("eight bytes"));
            *number = (word >> (bit % 8) & mask) as u32;
        }
        out.extend_from_slice(&numbers);
    }
}

/// The low `width` bits set.
#[inline]
fn mask(width: u32) -> u64 {
    (1u64 << width) - 1
}

/// Writes `numbers` at `width` bits each from the first bit of `bytes`
/// (zeroed), a whole byte at a time as they fill.
fn pack_into(bytes: &mut [u8], width: u32, numbers: impl Iterator<Item = u32>) {
    let mut pending = 0u64;
    let mut pending_bits = 0u32;
    let mut at = 0;
    for number in numbers {
        debug_assert!(u64::from(number) <= mask(width), "{number} does not fit {width} bits");
        pending |= (u64::from(number) & mask(width)) << pending_bits;
        pending_bits += width;
        while pending_bits >= 8 {
            bytes[at] = pending as u8;
            at += 1;
            pending >>= 8;
            pending_bits -= 8;
        }
    }
    if pending_bits > 0 {
        bytes[at] = pending as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn widths_hold_exactly_the_numbers_below_the_bound() {
        assert_eq!(BitPacked::width_below(0), 1);
        assert_eq!(BitPacked::width_below(1), 1);
        assert_eq!(BitPacked::width_below(2), 1);
        assert_eq!(BitPacked::width_below(3), 2);
        assert_eq!(BitPacked::width_below(256), 8);
        assert_eq!(BitPacked::width_below(257), 9);
        assert_eq!(BitPacked::width_below(1 << 32), 32);
        assert_eq!(BitPacked::width_below(u64::MAX), 32);
    }

    #[test]
    fn packs_in_width_over_thirty_two_of_the_bytes() {
        let packed = BitPacked::from_fn(1 << 20, 1 << 20, |index| index as u32);
        assert_eq!(packed.width(), 20);
        assert_eq!(packed.heap_bytes(), (1 << 20) * 20 / 8 + PADDING);
        let mut all = Vec::new();
        packed.extend_from_range(0..packed.len(), &mut all);
        assert!(all.into_iter().eq(0..1 << 20));
    }

    proptest! {
        /// Every number reads back, at every width, across task
        /// boundaries, whatever its neighbours.
        #[test]
        fn numbers_read_back(
            width in 1u32..=32,
            seeds in proptest::collection::vec(any::<u32>(), 0..3 * NUMBERS_PER_TASK),
            extreme in any::<bool>(),
            ends in any::<(prop::sample::Index, prop::sample::Index)>(),
        ) {
            let bound = 1u64 << width;
            let numbers: Vec<u32> = seeds
                .iter()
                .map(|&seed| if extreme { (bound - 1 - u64::from(seed % 2)) as u32 } else { (u64::from(seed) % bound) as u32 })
                .collect();
            let packed = BitPacked::from_fn(numbers.len(), bound, |index| numbers[index]);
            prop_assert_eq!(packed.width(), width);
            prop_assert_eq!(packed.len(), numbers.len());
            prop_assert!((0..numbers.len()).all(|index| packed.get(index) == numbers[index]));
            // Any stretch: inside one group of eight, across groups, to the end.
            let (first, second) = (ends.0.index(numbers.len() + 1), ends.1.index(numbers.len() + 1));
            let (start, end) = (first.min(second), first.max(second));
            for range in [start..end, start..(start + 5).min(numbers.len()), 0..numbers.len()] {
                let mut out = vec![7];
                packed.extend_from_range(range.clone(), &mut out);
                prop_assert_eq!(&out[1..], &numbers[range]);
            }
        }
    }

    #[test]
    #[should_panic(expected = "index 3 of 3 packed numbers")]
    fn reading_past_the_end_panics_even_inside_the_padding() {
        BitPacked::from_fn(3, 8, |index| index as u32).get(3);
    }
}
