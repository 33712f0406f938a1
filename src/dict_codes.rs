//! `DictCodes`: the dictionary code of each row of a
//! [`DictColumn`](crate::column::DictColumn), held in the fewest bytes its
//! largest code needs, or in none when each row holds its own value in
//! order.
//!
//! ```text
//!  codes          held as
//!  3 0 1 3 2      Byte   [3, 0, 1, 3, 2]         below 256: one byte each
//!  300 0 7        Short  [300, 0, 7]             below 65,536: two
//!  70000 1        Wide   [70000, 1]              four
//!  1 2 3 4        RowNumbers { len: 4, .. }      row r holds code r + 1
//! ```
//!
//! Most columns name one of a few hundred staff members, locations or
//! subjects, or one of some thousands of enquiries or tag sets: one or
//! two bytes a row instead of four. An `_id` column in row order (every
//! base's), and a packed `content` column without `null` (packing numbers
//! the values in row order), hold code `row + 1` in every row: nothing is
//! stored.
//!
//! A sequence grows as it is given codes: it starts as row numbers and
//! turns into the narrowest array that holds every code the first time a
//! code breaks the pattern, then widens as codes grow (a copy each time,
//! at most three in all).
//!
//! *Invariant:* `Byte` holds only codes below 256 and `Short` only codes
//! below 65,536; `RowNumbers { len, .. }` stands for the codes `1..=len`.

use crate::column::permuted;

/// `$body` with `$codes` bound to the held array, whichever its width;
/// `$other` for row numbers (matched by `$numbers`): one arm written for
/// the three arrays.
macro_rules! on_array {
    ($held:expr, $codes:ident => $body:expr, $numbers:pat => $other:expr) => {
        match $held {
            DictCodes::Byte($codes) => $body,
            DictCodes::Short($codes) => $body,
            DictCodes::Wide($codes) => $body,
            $numbers => $other,
        }
    };
}

/// Row codes in the fewest bytes that hold them (see the module's doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DictCodes {
    /// Row `r` holds code `r + 1`.
    RowNumbers {
        /// The number of rows.
        len: usize,
        /// The rows made room for ([`DictCodes::reserve`]): the room the
        /// array they turn into starts with.
        reserved: usize,
    },
    /// Codes below 256.
    Byte(Vec<u8>),
    /// Codes below 65,536.
    Short(Vec<u16>),
    /// Any code.
    Wide(Vec<u32>),
}

impl Default for DictCodes {
    fn default() -> DictCodes {
        DictCodes::RowNumbers { len: 0, reserved: 0 }
    }
}

impl From<Vec<u32>> for DictCodes {
    /// The codes in the fewest bytes that hold them (as a file gives them).
    fn from(codes: Vec<u32>) -> DictCodes {
        if codes.iter().enumerate().all(|(row, &code)| code as usize == row + 1) {
            return DictCodes::RowNumbers { len: codes.len(), reserved: 0 };
        }
        match codes.iter().max().copied().unwrap_or(0) {
            largest if largest > u32::from(u16::MAX) => DictCodes::Wide(codes),
            largest => DictCodes::collected(largest, codes.into_iter()),
        }
    }
}

impl FromIterator<u32> for DictCodes {
    fn from_iter<I: IntoIterator<Item = u32>>(codes: I) -> DictCodes {
        let mut held = DictCodes::default();
        held.extend(codes);
        held
    }
}

impl Extend<u32> for DictCodes {
    fn extend<I: IntoIterator<Item = u32>>(&mut self, codes: I) {
        let codes = codes.into_iter();
        self.reserve(codes.size_hint().0);
        codes.for_each(|code| self.push(code));
    }
}

impl DictCodes {
    /// `codes`, none larger than `largest`, in the narrowest array that
    /// holds `largest`, of exactly their number.
    fn collected(largest: u32, codes: impl ExactSizeIterator<Item = u32>) -> DictCodes {
        if largest <= u32::from(u8::MAX) {
            DictCodes::Byte(codes.map(|code| code as u8).collect())
        } else if largest <= u32::from(u16::MAX) {
            DictCodes::Short(codes.map(|code| code as u16).collect())
        } else {
            DictCodes::Wide(codes.collect())
        }
    }

    /// The code of `row`, which must be below [`DictCodes::len`].
    #[inline]
    // One body for the three widths: the conversion is needless for `u32` only.
    #[allow(clippy::useless_conversion)]
    pub fn get(&self, row: usize) -> u32 {
        on_array!(self, codes => u32::from(codes[row]), DictCodes::RowNumbers { len, .. } => {
            assert!(row < *len, "row {row} of {len}");
            row as u32 + 1
        })
    }

    /// Appends a row holding `code`, turning the held codes into a wider
    /// array when it does not fit theirs.
    #[inline]
    pub fn push(&mut self, code: u32) {
        match self {
            DictCodes::RowNumbers { len, .. } if code as usize == *len + 1 => *len += 1,
            DictCodes::Byte(codes) if code <= u32::from(u8::MAX) => codes.push(code as u8),
            DictCodes::Short(codes) if code <= u32::from(u16::MAX) => codes.push(code as u16),
            DictCodes::Wide(codes) => codes.push(code),
            _ => {
                self.widen_for(code);
                self.push(code);
            }
        }
    }

    /// Turns the held codes into the narrowest array that holds them and
    /// `code` (keeping the room reserved).
    #[cold]
    fn widen_for(&mut self, code: u32) {
        let len = self.len();
        let room = self.capacity().max(len + 1);
        let largest = code.max(match self {
            DictCodes::RowNumbers { len, .. } => *len as u32,
            _ => 0,
        });
        let mut wider = if largest <= u32::from(u8::MAX) && !matches!(self, DictCodes::Short(_) | DictCodes::Wide(_)) {
            DictCodes::Byte(Vec::with_capacity(room))
        } else if largest <= u32::from(u16::MAX) && !matches!(self, DictCodes::Wide(_)) {
            DictCodes::Short(Vec::with_capacity(room))
        } else {
            DictCodes::Wide(Vec::with_capacity(room))
        };
        for row in 0..len {
            wider.push(self.get(row));
        }
        *self = wider;
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        on_array!(self, codes => codes.len(), DictCodes::RowNumbers { len, .. } => *len)
    }

    /// Whether there is no row.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The rows the held array has room for without growing (for row
    /// numbers, the rows made room for).
    fn capacity(&self) -> usize {
        on_array!(self, codes => codes.capacity(), DictCodes::RowNumbers { len, reserved } => (*len).max(*reserved))
    }

    /// Makes room for `rows` more rows.
    pub fn reserve(&mut self, rows: usize) {
        on_array!(self, codes => codes.reserve(rows), DictCodes::RowNumbers { len, reserved } => {
            *reserved = (*reserved).max(*len + rows)
        })
    }

    /// Forgets the rows after the first `rows`.
    pub fn truncate(&mut self, rows: usize) {
        on_array!(self, codes => codes.truncate(rows), DictCodes::RowNumbers { len, .. } => *len = rows.min(*len))
    }

    /// Every row's code, in order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + Clone + '_ {
        (0..self.len()).map(|row| self.get(row))
    }

    /// Every row's code as a `u32` each (as segment files hold them).
    pub fn to_vec(&self) -> Vec<u32> {
        match self {
            DictCodes::Wide(codes) => codes.clone(),
            _ => self.iter().collect(),
        }
    }

    /// The codes reordered: row `i` holds old row `order[i]`'s code.
    pub fn permuted(&self, order: &[u32]) -> DictCodes {
        match self {
            DictCodes::RowNumbers { len, .. } => {
                DictCodes::collected(*len as u32, order.iter().map(|&old| self.get(old as usize)))
            }
            DictCodes::Byte(codes) => DictCodes::Byte(permuted(codes, order)),
            DictCodes::Short(codes) => DictCodes::Short(permuted(codes, order)),
            DictCodes::Wide(codes) => DictCodes::Wide(permuted(codes, order)),
        }
    }

    /// Starts loading `row`'s code (see [`crate::sys::prefetch`]).
    #[inline]
    pub fn prefetch(&self, row: usize) {
        on_array!(self, codes => crate::sys::prefetch(codes.as_ptr().wrapping_add(row)), DictCodes::RowNumbers { .. } => {
        })
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        on_array!(self, codes => heap_bytes_of(codes), DictCodes::RowNumbers { .. } => 0)
    }
}

/// The heap bytes of an array of codes.
fn heap_bytes_of<Code>(codes: &Vec<Code>) -> usize {
    codes.capacity() * std::mem::size_of::<Code>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn kind(codes: &DictCodes) -> &'static str {
        match codes {
            DictCodes::RowNumbers { .. } => "row numbers",
            DictCodes::Byte(_) => "byte",
            DictCodes::Short(_) => "short",
            DictCodes::Wide(_) => "wide",
        }
    }

    #[test]
    fn codes_are_held_in_the_fewest_bytes_that_hold_them() {
        let grown = |codes: &[u32]| codes.iter().copied().collect::<DictCodes>();
        assert_eq!(kind(&grown(&[])), "row numbers");
        assert_eq!(kind(&grown(&[1, 2, 3])), "row numbers");
        assert_eq!(kind(&grown(&[1, 2, 2])), "byte");
        assert_eq!(kind(&grown(&[0])), "byte");
        assert_eq!(kind(&grown(&[255, 0])), "byte");
        assert_eq!(kind(&grown(&[0, 256])), "short");
        assert_eq!(kind(&grown(&[65_535, 1])), "short");
        assert_eq!(kind(&grown(&[1, 65_536])), "wide");
        // Row numbers past 255 turn short, not byte, when broken.
        let mut long: DictCodes = (1..=300).collect();
        assert_eq!(kind(&long), "row numbers");
        long.push(0);
        assert_eq!(kind(&long), "short");
        assert!(long.heap_bytes() >= 301 * 2);
        // Room made while the codes were row numbers is kept when they
        // turn into an array; a reordering holds exactly its rows.
        let mut reserved: DictCodes = (1..=3).collect();
        reserved.reserve(1000);
        reserved.push(0);
        assert!(reserved.heap_bytes() >= 1000, "{}", reserved.heap_bytes());
        let order: Vec<u32> = (0..300).rev().collect();
        let reordered = (1..=300).collect::<DictCodes>().permuted(&order);
        assert_eq!((kind(&reordered), reordered.heap_bytes()), ("short", 600));
        assert_eq!(kind(&DictCodes::from(vec![1, 2, 3])), "row numbers");
        assert_eq!(kind(&DictCodes::from(vec![0, 2, 3])), "byte");
        assert_eq!(kind(&DictCodes::from(vec![0, 2, 70_000])), "wide");
    }

    #[test]
    #[should_panic(expected = "row 3 of 3")]
    fn row_numbers_past_the_end_panic_as_an_array_would() {
        DictCodes::RowNumbers { len: 3, reserved: 0 }.get(3);
    }

    proptest! {
        /// Whatever the codes and however they were made (grown, read
        /// whole, reordered, cut), each row reads back its own.
        #[test]
        fn each_row_reads_back_its_code(
            pattern in proptest::collection::vec((0u32..4, any::<u32>()), 0..600),
            cut in any::<prop::sample::Index>(),
        ) {
            // Runs of row numbers broken by small, medium and large codes.
            let codes: Vec<u32> = pattern
                .iter()
                .enumerate()
                .map(|(row, &(shape, seed))| match shape {
                    0 => row as u32 + 1,
                    1 => seed % 256,
                    2 => seed % 65_536,
                    _ => seed,
                })
                .collect();
            let grown: DictCodes = codes.iter().copied().collect();
            let read = DictCodes::from(codes.clone());
            for held in [&grown, &read] {
                prop_assert_eq!(held.len(), codes.len());
                prop_assert_eq!(held.to_vec(), codes.clone());
                prop_assert!(held.iter().eq(codes.iter().copied()));
            }
            let order: Vec<u32> = (0..codes.len() as u32).rev().collect();
            prop_assert_eq!(grown.permuted(&order).to_vec(), permuted(&codes, &order));
            let rows = if codes.is_empty() { 0 } else { cut.index(codes.len()) };
            let mut truncated = grown.clone();
            truncated.truncate(rows);
            prop_assert_eq!(truncated.to_vec(), codes[..rows].to_vec());
        }
    }
}
