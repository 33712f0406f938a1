//! [`IdIndex`]: `_id` → row, for retrieve, `filters-ids` and writes.
//!
//! ```text
//!  slots (open addressing, linear probing, at most half full):
//!    [0] 0                        empty
//!    [1] tag 0x9e37… | row+1 = 8  tag: the high 32 bits of the Id's hash
//!    [2] tag 0x1b87… | row+1 = 3
//! ```
//!
//! A lookup reads one slot (a second only on a collision), then the row's
//! stored `_id` to confirm it: two or three cache misses where a general
//! hash map with a dictionary code in between costs five. Many Ids are
//! looked up in phases — every slot prefetched, then every candidate's
//! text, then the comparisons — so that their misses overlap
//! ([`IdIndex::find_many`]).

use std::hash::BuildHasher;

use crate::sys::prefetch;

/// `_id` → row: each slot is `(tag << 32) | (row + 1)`, `0` when empty.
#[derive(Debug, Default)]
pub struct IdIndex {
    slots: Vec<u64>,
}

/// One hasher (randomly seeded once per process) for every index, so that
/// an `_id` looked up in several segments is hashed once ([`id_hash`]).
static HASHER: std::sync::LazyLock<hashbrown::DefaultHashBuilder> =
    std::sync::LazyLock::new(hashbrown::DefaultHashBuilder::default);

/// The hash every [`IdIndex`] files `fragment` (an `_id`'s JSON text) by.
#[inline]
pub fn id_hash(fragment: &[u8]) -> u64 {
    HASHER.hash_one(fragment)
}

impl IdIndex {
    /// Indexes rows `0..row_count`, whose `_id`s (as stored: JSON text)
    /// `fragment_of` gives; they must be distinct.
    pub fn build<'a>(row_count: u32, fragment_of: impl Fn(u32) -> &'a [u8] + Sync) -> IdIndex {
        use rayon::prelude::*;
        let capacity = (row_count as usize * 2).next_power_of_two().max(16);
        let mut index = IdIndex { slots: vec![0; capacity] };
        let mask = capacity - 1;
        // Hashed in parallel, then placed in the order of their home slots,
        // so that placing them walks the table once instead of missing the
        // cache at every row.
        let mut placed: Vec<(u32, u64)> = (0..row_count)
            .into_par_iter()
            .map(|row| {
                let hash = id_hash(fragment_of(row));
                ((hash as usize & mask) as u32, (hash >> 32) << 32 | u64::from(row + 1))
            })
            .collect();
        placed.par_sort_unstable_by_key(|&(home, _)| home);
        for (home, entry) in placed {
            let mut slot = home as usize;
            while index.slots[slot] != 0 {
                slot = (slot + 1) & mask;
            }
            index.slots[slot] = entry;
        }
        index
    }

    /// The row whose `_id` is `fragment` (JSON text, as stored).
    pub fn find<'a>(&self, fragment: &[u8], fragment_of: impl Fn(u32) -> &'a [u8]) -> Option<u32> {
        self.find_then(fragment, fragment_of, |_| {})
    }

    /// [`IdIndex::find`], calling `candidate(row)` as soon as a slot with
    /// the Id's tag is found, before the row's `_id` is compared: the caller
    /// can start loading what it will read of the row (almost always the
    /// right one) while the comparison waits for memory.
    pub fn find_then<'a>(
        &self,
        fragment: &[u8],
        fragment_of: impl Fn(u32) -> &'a [u8],
        candidate: impl Fn(u32),
    ) -> Option<u32> {
        self.find_hashed_then(id_hash(fragment), fragment, fragment_of, candidate)
    }

    /// [`IdIndex::find_then`] for a fragment whose [`id_hash`] is known.
    pub fn find_hashed_then<'a>(
        &self,
        hash: u64,
        fragment: &[u8],
        fragment_of: impl Fn(u32) -> &'a [u8],
        candidate: impl Fn(u32),
    ) -> Option<u32> {
        self.probe(hash as usize & (self.slots.len() - 1), hash, fragment, &|row| {
            candidate(row);
            fragment_of(row)
        })
    }

    /// Starts loading the slot a lookup of this [`id_hash`] reads first,
    /// so that lookups in several indexes overlap their cache misses.
    #[inline]
    pub fn prefetch(&self, hash: u64) {
        if self.slots.is_empty() {
            return;
        }
        prefetch(self.slots.as_ptr().wrapping_add(hash as usize & (self.slots.len() - 1)));
    }

    /// The row of each of `fragments` (JSON text), in order. The lookups
    /// run in phases so that their cache misses overlap: every first slot
    /// is prefetched, then `prefetch_fragment` is called for every
    /// candidate row, then candidates are confirmed.
    pub fn find_many<'a, F: AsRef<[u8]>>(
        &self,
        fragments: &[F],
        fragment_of: impl Fn(u32) -> &'a [u8],
        prefetch_fragment: impl Fn(u32),
    ) -> Vec<Option<u32>> {
        let mask = self.slots.len() - 1;
        let hashes: Vec<u64> = fragments.iter().map(|fragment| id_hash(fragment.as_ref())).collect();
        for &hash in &hashes {
            self.prefetch(hash);
        }
        // The first slot holding the Id's tag, or none when an empty slot
        // comes first.
        let candidates: Vec<Option<usize>> = hashes
            .iter()
            .map(|&hash| {
                let mut slot = hash as usize & mask;
                loop {
                    match self.slots[slot] {
                        0 => return None,
                        entry if entry >> 32 == hash >> 32 => return Some(slot),
                        _ => slot = (slot + 1) & mask,
                    }
                }
            })
            .collect();
        for &slot in candidates.iter().flatten() {
            prefetch_fragment(self.slots[slot] as u32 - 1);
        }
        fragments
            .iter()
            .zip(&hashes)
            .zip(&candidates)
            .map(|((fragment, &hash), candidate)| {
                let slot = (*candidate)?;
                let row = self.slots[slot] as u32 - 1;
                if fragment_of(row) == fragment.as_ref() {
                    Some(row)
                } else {
                    self.probe((slot + 1) & mask, hash, fragment.as_ref(), &fragment_of)
                }
            })
            .collect()
    }

    /// Linear probing for an Id with this hash, from `slot` on.
    fn probe<'a>(
        &self,
        mut slot: usize,
        hash: u64,
        fragment: &[u8],
        fragment_of: &impl Fn(u32) -> &'a [u8],
    ) -> Option<u32> {
        let mask = self.slots.len() - 1;
        loop {
            let entry = self.slots[slot];
            if entry == 0 {
                return None;
            }
            if entry >> 32 == hash >> 32 {
                let row = entry as u32 - 1;
                if fragment_of(row) == fragment {
                    return Some(row);
                }
            }
            slot = (slot + 1) & mask;
        }
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.slots.capacity() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_id_alone_and_in_batches() {
        let ids: Vec<Vec<u8>> = (0..5000).map(|index| format!("\"id-{index}\"").into_bytes()).collect();
        let fragment_of = |row: u32| ids[row as usize].as_slice();
        let index = IdIndex::build(ids.len() as u32, fragment_of);
        for (row, id) in ids.iter().enumerate() {
            assert_eq!(index.find(id, fragment_of), Some(row as u32));
        }
        assert_eq!(index.find(b"\"id-5000\"", fragment_of), None);
        // Another index files each Id by the same hash: hashed once, an Id
        // is found in both.
        let evens: Vec<Vec<u8>> = ids.iter().step_by(2).cloned().collect();
        let even_of = |row: u32| evens[row as usize].as_slice();
        let other = IdIndex::build(evens.len() as u32, even_of);
        for (row, id) in ids.iter().enumerate() {
            let hash = id_hash(id);
            other.prefetch(hash);
            assert_eq!(index.find_hashed_then(hash, id, fragment_of, |_| {}), Some(row as u32));
            let expected = (row % 2 == 0).then_some(row as u32 / 2);
            assert_eq!(other.find_hashed_then(hash, id, even_of, |_| {}), expected);
        }
        let mut wanted: Vec<Vec<u8>> = ids.iter().step_by(7).cloned().collect();
        wanted.push(b"\"missing\"".to_vec());
        wanted.push(ids[3].clone());
        let found = index.find_many(&wanted, fragment_of, |_| {});
        let expected: Vec<Option<u32>> = wanted.iter().map(|id| index.find(id, fragment_of)).collect();
        assert_eq!(found, expected);
        assert_eq!(found.iter().flatten().count(), wanted.len() - 1);
    }

    #[test]
    fn colliding_tags_are_told_apart_by_the_text() {
        // A tiny table (16 slots) for 7 Ids: probes cross occupied slots.
        let ids: Vec<Vec<u8>> = ["\"a\"", "\"b\"", "\"c\"", "\"d\"", "\"e\"", "\"f\"", "\"g\""]
            .iter()
            .map(|id| id.as_bytes().to_vec())
            .collect();
        let fragment_of = |row: u32| ids[row as usize].as_slice();
        let mut index = IdIndex::build(ids.len() as u32, fragment_of);
        // Give every slot the same tag, so that only the text decides.
        for slot in index.slots.iter_mut().filter(|slot| **slot != 0) {
            *slot = (*slot & 0xFFFF_FFFF) | (7 << 32);
        }
        let same_tag = |fragment: &[u8]| {
            let hash = id_hash(fragment);
            index.probe(
                hash as usize & (index.slots.len() - 1),
                (hash & 0xFFFF_FFFF) | (7 << 32),
                fragment,
                &fragment_of,
            )
        };
        for (row, id) in ids.iter().enumerate() {
            assert_eq!(same_tag(id), Some(row as u32));
        }
        assert_eq!(same_tag(b"\"z\""), None);
    }
}
