//! Prefix sums of small steps, held in about a byte per step: a full sum
//! every [`BLOCK`] steps, each step as a signed byte, and the few steps too
//! large for a byte kept apart by position.
//!
//! ```text
//!  steps      3  1  -2  900  1 …      (one per position)
//!  bytes      3  1  -2    0  1 …      900 kept apart: (3, 900)
//!  sums       0 @0, then one per 64 positions
//!  at(5)    = sums[0] + 3 + 1 - 2 + 0 + 1 + 900
//! ```
//!
//! Sums wrap modulo 2^32, as their users' differences do.

/// Steps per stored full sum.
const BLOCK: usize = 64;

/// Prefix sums of a sequence of steps (see the module's doc).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PrefixSums {
    /// The sum of the steps before position `k * BLOCK`, for every `k` up
    /// to `len / BLOCK`.
    block_sums: Vec<u32>,
    /// Each step as a signed byte; 0 for a step kept in `wide`.
    bytes: Vec<u8>,
    /// Positions of the steps too large for a byte, ascending.
    wide_at: Vec<u32>,
    /// Those steps, in the order of `wide_at`.
    wide_steps: Vec<u32>,
}

impl PrefixSums {
    /// The prefix sums of `steps` (each wrapping, as `u32`).
    pub fn of_steps(steps: impl ExactSizeIterator<Item = u32>) -> PrefixSums {
        let len = steps.len();
        let mut sums = PrefixSums {
            block_sums: Vec::with_capacity(len / BLOCK + 1),
            bytes: Vec::with_capacity(len),
            ..PrefixSums::default()
        };
        let mut running = 0u32;
        for (position, step) in steps.enumerate() {
            if position.is_multiple_of(BLOCK) {
                sums.block_sums.push(running);
            }
            running = running.wrapping_add(step);
            match i8::try_from(step as i32) {
                Ok(small) => sums.bytes.push(small as u8),
                Err(_) => {
                    sums.bytes.push(0);
                    sums.wide_at.push(position as u32);
                    sums.wide_steps.push(step);
                }
            }
        }
        if len.is_multiple_of(BLOCK) {
            sums.block_sums.push(running);
        }
        sums
    }

    /// The number of steps.
    pub fn step_count(&self) -> usize {
        self.bytes.len()
    }

    /// The sum of the steps before `position` (at most [`PrefixSums::step_count`]).
    #[inline]
    pub fn at(&self, position: usize) -> u32 {
        let block_start = position / BLOCK * BLOCK;
        let bytes = self.bytes[block_start..position].iter().fold(0i32, |sum, &byte| sum + i32::from(byte as i8));
        let first_wide = self.wide_at.partition_point(|&at| (at as usize) < block_start);
        let past_wide = first_wide + self.wide_at[first_wide..].partition_point(|&at| (at as usize) < position);
        let wide = self.wide_steps[first_wide..past_wide].iter().fold(0u32, |sum, &step| sum.wrapping_add(step));
        self.block_sums[position / BLOCK].wrapping_add(bytes as u32).wrapping_add(wide)
    }

    /// Whether the arrays fit one another: a full sum per block, the first
    /// 0, and wide steps at ascending positions whose bytes are 0.
    pub fn fits(&self) -> bool {
        self.block_sums.len() == self.bytes.len() / BLOCK + 1
            && self.block_sums.first() == Some(&0)
            && self.wide_at.len() == self.wide_steps.len()
            && self.wide_at.windows(2).all(|pair| pair[0] < pair[1])
            && self.wide_at.iter().all(|&at| self.bytes.get(at as usize) == Some(&0))
    }

    /// The arrays, for a segment file: the block sums, the bytes, the
    /// wide steps' positions and the wide steps.
    pub fn arrays(&self) -> (&[u32], &[u8], &[u32], &[u32]) {
        (&self.block_sums, &self.bytes, &self.wide_at, &self.wide_steps)
    }

    /// Prefix sums from the arrays [`PrefixSums::arrays`] gave (check them
    /// with [`PrefixSums::fits`]).
    pub fn from_arrays(block_sums: Vec<u32>, bytes: Vec<u8>, wide_at: Vec<u32>, wide_steps: Vec<u32>) -> PrefixSums {
        PrefixSums { block_sums, bytes, wide_at, wide_steps }
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.bytes.capacity() + (self.block_sums.capacity() + self.wide_at.capacity() + self.wide_steps.capacity()) * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest::proptest! {
        #[test]
        fn sums_agree_with_a_running_total(
            steps in proptest::collection::vec(proptest::prop_oneof![
                8 => -128i64..=127,
                1 => proptest::num::u32::ANY.prop_map(i64::from),
            ], 0..300),
        ) {
            let steps: Vec<u32> = steps.iter().map(|&step| step as u32).collect();
            let sums = PrefixSums::of_steps(steps.iter().copied());
            prop_assert!(sums.fits());
            prop_assert_eq!(sums.step_count(), steps.len());
            let mut running = 0u32;
            for position in 0..=steps.len() {
                prop_assert_eq!(sums.at(position), running, "at {}", position);
                if let Some(&step) = steps.get(position) {
                    running = running.wrapping_add(step);
                }
            }
        }
    }
}
