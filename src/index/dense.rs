//! Dense bitsets of rows (a bit per row in `u64` words) beside roaring
//! bitmaps, and the fast ways between the two.
//!
//! Some work is cheaper on a dense bitset: unioning tens of thousands of
//! scattered rows (a bit set per row, no container bookkeeping) or testing
//! membership many times (one load). Moving a roaring bitmap's rows into or
//! against a bitset through `RoaringBitmap::iter` costs several nanoseconds
//! per row (an enum dispatch per element); roaring-rs offers no public view
//! of its containers, but its portable serialization writes each container
//! as it is stored — a bitmap container's 1,024 words, an array container's
//! values, a run container's runs. [`for_each_container`] reads that
//! serialization back, so whole containers are handled at once.
//!
//! ```text
//!  RoaringBitmap ──serialize_into──► cookie, keys+cardinalities, [offsets],
//!                                    containers (array | bitmap | runs)
//!               ──for_each_container──► visit(base row, ContainerView)
//! ```

use std::cell::RefCell;

use roaring::RoaringBitmap;

/// Portable-format cookie of a bitmap without run containers.
const COOKIE_NO_RUNS: u32 = 12346;
/// Portable-format cookie (low 16 bits) of a bitmap with run containers.
const COOKIE_RUNS: u32 = 12347;
/// With run containers, offsets are written only from this many containers.
const NO_OFFSET_THRESHOLD: usize = 4;
/// Largest cardinality of an array container.
const ARRAY_LIMIT: usize = 4096;

/// One container of a roaring bitmap: rows `base + low` for its 16-bit lows.
#[derive(Clone, Copy, Debug)]
pub enum ContainerView<'a> {
    /// Sorted lows, as little-endian `u16`s.
    Array(&'a [u8]),
    /// 1,024 little-endian `u64` words: bit `i` of word `w` is low `64 w + i`.
    Bitmap(&'a [u8]),
    /// Runs `(start, length - 1)`, as little-endian `u16` pairs.
    Runs(&'a [u8]),
}

impl ContainerView<'_> {
    /// Calls `visit` with every low of the container, ascending.
    #[inline]
    pub fn for_each_low(self, mut visit: impl FnMut(u32)) {
        match self {
            ContainerView::Array(bytes) => {
                for pair in bytes.chunks_exact(2) {
                    visit(u32::from(u16::from_le_bytes([pair[0], pair[1]])));
                }
            }
            ContainerView::Bitmap(bytes) => {
                for (index, word) in bytes.chunks_exact(8).enumerate() {
                    let mut word = u64::from_le_bytes(word.try_into().expect("eight bytes"));
                    while word != 0 {
                        visit(index as u32 * 64 + word.trailing_zeros());
                        word &= word - 1;
                    }
                }
            }
            ContainerView::Runs(bytes) => {
                for run in bytes.chunks_exact(4) {
                    let start = u32::from(u16::from_le_bytes([run[0], run[1]]));
                    let length = u32::from(u16::from_le_bytes([run[2], run[3]]));
                    (start..=start + length).for_each(&mut visit);
                }
            }
        }
    }
}

thread_local! {
    /// Serialization buffer per thread, reused by [`for_each_container`].
    static SERIALIZED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// A writer into a slice sized beforehand. Roaring writes its bitmap
/// containers a word at a time: into a `Vec` each word is a capacity check
/// and a call to copy 8 bytes, here a store.
struct Filler<'a> {
    bytes: &'a mut [u8],
    at: usize,
}

impl std::io::Write for Filler<'_> {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    #[inline]
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        let past = self.at + buf.len();
        let Some(room) = self.bytes.get_mut(self.at..past) else {
            return Err(std::io::ErrorKind::WriteZero.into());
        };
        room.copy_from_slice(buf);
        self.at = past;
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Calls `visit(base, container)` for each container of `bitmap`, in
/// ascending order, where the container's rows are `base + low`.
pub fn for_each_container(bitmap: &RoaringBitmap, mut visit: impl FnMut(u32, ContainerView<'_>)) {
    SERIALIZED.with(|cell| {
        let mut bytes = cell.borrow_mut();
        let size = bitmap.serialized_size();
        if bytes.len() < size {
            bytes.resize(size, 0);
        }
        bitmap.serialize_into(Filler { bytes: &mut bytes[..size], at: 0 }).expect("sized by serialized_size");
        let bytes = &bytes[..size];
        let read_u16 = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
        let read_u32 = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("four bytes"));
        let cookie = read_u32(0);
        let (count, runs_at, mut at) = if cookie == COOKIE_NO_RUNS {
            (read_u32(4) as usize, None, 8)
        } else {
            assert_eq!(cookie & 0xFFFF, COOKIE_RUNS, "roaring's portable format");
            let count = (cookie >> 16) as usize + 1;
            (count, Some(4), 4 + count.div_ceil(8))
        };
        let descriptions = at;
        at += count * 4;
        if runs_at.is_none() || count >= NO_OFFSET_THRESHOLD {
            at += count * 4; // offsets: containers follow one another anyway
        }
        for container in 0..count {
            let key = u32::from(read_u16(descriptions + container * 4));
            let cardinality = usize::from(read_u16(descriptions + container * 4 + 2)) + 1;
            let is_run = runs_at.is_some_and(|runs_at| bytes[runs_at + container / 8] >> (container % 8) & 1 == 1);
            let view = if is_run {
                let runs = usize::from(read_u16(at));
                at += 2;
                ContainerView::Runs(&bytes[at..at + runs * 4])
            } else if cardinality <= ARRAY_LIMIT {
                ContainerView::Array(&bytes[at..at + cardinality * 2])
            } else {
                ContainerView::Bitmap(&bytes[at..at + 8192])
            };
            at += match view {
                ContainerView::Array(slice) | ContainerView::Bitmap(slice) | ContainerView::Runs(slice) => slice.len(),
            };
            visit(key << 16, view);
        }
    })
}

/// Sets the bit of every row of `bitmap` in `words` (a bit per row), which
/// must have room for every row.
pub fn set_rows(bitmap: &RoaringBitmap, words: &mut [u64]) {
    for_each_container(bitmap, |base, view| match view {
        ContainerView::Bitmap(bytes) => {
            let first = base as usize / 64;
            for (word, chunk) in words[first..].iter_mut().zip(bytes.chunks_exact(8)) {
                *word |= u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
            }
        }
        other => other.for_each_low(|low| {
            let row = (base + low) as usize;
            words[row / 64] |= 1 << (row % 64);
        }),
    });
}

/// Clears the words of `words` that hold rows of `bitmap` (after
/// [`set_rows`], this zeroes the bitset again without a full sweep).
pub fn clear_rows(bitmap: &RoaringBitmap, words: &mut [u64]) {
    for_each_container(bitmap, |base, view| match view {
        ContainerView::Bitmap(_) => {
            let first = (base as usize / 64).min(words.len());
            let past = (first + 1024).min(words.len());
            words[first..past].fill(0);
        }
        other => other.for_each_low(|low| words[(base + low) as usize / 64] = 0),
    });
}

/// The rows of `bitmap` whose bit is set in `words` (a bit per row).
pub fn rows_set_in(bitmap: &RoaringBitmap, words: &[u64]) -> RoaringBitmap {
    let mut rows = Vec::new();
    for_each_container(bitmap, |base, view| match view {
        ContainerView::Bitmap(bytes) => {
            let first = (base as usize / 64).min(words.len());
            for (index, (chunk, &word)) in bytes.chunks_exact(8).zip(&words[first..]).enumerate() {
                let mut both = u64::from_le_bytes(chunk.try_into().expect("eight bytes")) & word;
                while both != 0 {
                    rows.push(base + index as u32 * 64 + both.trailing_zeros());
                    both &= both - 1;
                }
            }
        }
        other => other.for_each_low(|low| {
            let row = base + low;
            if words.get(row as usize / 64).is_some_and(|word| word >> (row % 64) & 1 == 1) {
                rows.push(row);
            }
        }),
    });
    RoaringBitmap::from_sorted_iter(rows).expect("containers and lows ascend")
}

/// A set of rows as a bitset, a bit per row of a segment: the running
/// result of filter steps while it is large, where roaring would clone
/// bitmap containers for every union and turn every container that an
/// intersection thins below 4,096 rows into a sorted array, only for the
/// next step to read it back. Word by word, neither happens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DenseRows {
    /// *Invariant:* no bit past the segment's last row is set.
    words: Vec<u64>,
}

impl DenseRows {
    /// The rows of `bitmap`, every one below `row_count`.
    pub fn of(bitmap: &RoaringBitmap, row_count: u32) -> DenseRows {
        DenseRows::union_of([bitmap], row_count)
    }

    /// The rows of any of `bitmaps`, every one below `row_count`.
    pub fn union_of<'a>(bitmaps: impl IntoIterator<Item = &'a RoaringBitmap>, row_count: u32) -> DenseRows {
        let mut words = vec![0u64; (row_count as usize).div_ceil(64)];
        for bitmap in bitmaps {
            set_rows(bitmap, &mut words);
        }
        DenseRows { words }
    }

    /// Keeps only the rows that `other` (of the same segment) also holds.
    pub fn intersect(&mut self, other: &DenseRows) {
        debug_assert_eq!(self.words.len(), other.words.len(), "two segments' rows");
        for (word, &theirs) in self.words.iter_mut().zip(&other.words) {
            *word &= theirs;
        }
    }

    /// Whether it holds `row` (which must be a row of its segment).
    #[inline]
    pub fn contains(&self, row: u32) -> bool {
        self.words[row as usize / 64] >> (row % 64) & 1 == 1
    }

    /// How many rows it holds.
    pub fn len(&self) -> u64 {
        self.words.iter().map(|word| u64::from(word.count_ones())).sum()
    }

    /// Whether it holds no row.
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&word| word == 0)
    }

    /// The rows held, ascending.
    pub fn rows(&self) -> impl Iterator<Item = u32> + '_ {
        self.words.iter().enumerate().flat_map(|(index, &word)| rows_of_word(index, word))
    }

    /// The rows held, as a bitmap.
    pub fn to_bitmap(&self) -> RoaringBitmap {
        bitmap_of_words(&self.words)
    }
}

/// The rows whose bits are set in `words` (bit `row % 64` of word
/// `row / 64`), as a bitmap.
pub fn bitmap_of_words(words: &[u64]) -> RoaringBitmap {
    RoaringBitmap::from_lsb0_bytes(0, bytemuck::cast_slice(words))
}

/// The rows whose bits are set in word `index` of a bitset, ascending.
#[inline]
fn rows_of_word(index: usize, word: u64) -> impl Iterator<Item = u32> {
    let mut bits = word;
    std::iter::from_fn(move || {
        (bits != 0).then(|| {
            let row = index as u32 * 64 + bits.trailing_zeros();
            bits &= bits - 1;
            row
        })
    })
}

// `bitmap_of_words` reads the words' bytes as bits in order: bit `i`
// of byte `b` is row `8 b + i` only on a little-endian machine.
const _: () = assert!(cfg!(target_endian = "little"), "msgdex reads bitsets as little-endian bytes");

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_bitmaps() -> Vec<RoaringBitmap> {
        let mut bitmaps = vec![RoaringBitmap::new()];
        // Arrays, bitmaps and (after `optimize`) runs, over several containers.
        let mut mixed: RoaringBitmap = (0..70_000).step_by(3).collect();
        mixed.extend([200_000, 200_001, 9_999_999]);
        mixed.insert_range(300_000..340_000);
        bitmaps.push(mixed.clone());
        mixed.optimize();
        bitmaps.push(mixed);
        let mut runs: RoaringBitmap = (1..5).map(|block| block * 65_536 + 7).collect();
        runs.insert_range(10..20);
        runs.optimize();
        bitmaps.push(runs);
        let mut state = 0x2545_f491_4f6c_dd1du64;
        bitmaps.push(
            (0..20_000)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state % 1_000_000) as u32
                })
                .collect(),
        );
        bitmaps
    }

    #[test]
    fn containers_give_back_every_row_in_order() {
        for bitmap in sample_bitmaps() {
            let mut rows = Vec::new();
            for_each_container(&bitmap, |base, view| view.for_each_low(|low| rows.push(base + low)));
            assert_eq!(rows, bitmap.iter().collect::<Vec<_>>());
        }
    }

    #[test]
    fn dense_sets_and_filters_agree_with_roaring() {
        let bitmaps = sample_bitmaps();
        for left in &bitmaps {
            let mut words = vec![0u64; 10_000_000usize.div_ceil(64)];
            set_rows(left, &mut words);
            let set: u64 = words.iter().map(|word| u64::from(word.count_ones())).sum();
            assert_eq!(set, left.len());
            let mut cleared = words.clone();
            clear_rows(left, &mut cleared);
            assert!(cleared.iter().all(|&word| word == 0));
            for right in &bitmaps {
                assert_eq!(rows_set_in(right, &words), right & left);
            }
        }
    }

    #[test]
    fn dense_rows_agree_with_roaring() {
        let bitmaps = sample_bitmaps();
        let row_count = 10_000_000;
        for left in &bitmaps {
            let dense = DenseRows::of(left, row_count);
            assert_eq!(dense.len(), left.len());
            assert_eq!(dense.is_empty(), left.is_empty());
            assert_eq!(dense.to_bitmap(), *left);
            assert!(dense.rows().eq(left.iter()));
            for right in &bitmaps {
                let mut both = dense.clone();
                both.intersect(&DenseRows::of(right, row_count));
                assert_eq!(both.to_bitmap(), left & right);
                assert_eq!(DenseRows::union_of([left, right], row_count).to_bitmap(), left | right);
            }
        }
    }
}
