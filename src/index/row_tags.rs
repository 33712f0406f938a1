//! A row's closed-set filter values in one word — its `location` code and
//! its facet cell (`channel`, `direction`, `delivery_status`, whether
//! `anonymized` and `read` are set) — kept beside every entry of the text
//! index's row lists ([`super::text::TextIndex::tag_entries`]).
//!
//! `filters-q` beside those filters (a location's outbound messages to a
//! first name) then reads the matched values' row lists once, in order, and
//! tests each entry on the word beside it: no bitmap of the other filters
//! is built, and no row is visited at random. Values are numbered in byte
//! order, so the values one needle matches, and their lists, mostly sit
//! together.
//!
//! ```text
//!  tag = location code << 8 | facet cell      (cells: 180 < 256)
//!  rows:  … 17   4031  9022 …     entry tags: … L3|c41  L1|c41  L3|c7 …
//! ```
//!
//! While every `location` code is below 256 (at most 255 locations,
//! code 0 being `null`), a tag takes two bytes instead of four
//! ([`EntryTags`]): half the tags' memory.

use rayon::prelude::*;

use super::facets::{FacetSelection, CELL_COUNT};

/// Bits of a tag that hold the facet cell.
const CELL_BITS: u32 = 8;

const _: () = assert!(CELL_COUNT <= 1 << CELL_BITS, "a facet cell fits its bits");

/// One row's `location` code and facet cell, packed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowTag(u32);

impl RowTag {
    /// The tag of a row with this `location` code (0 for `null`) and facet
    /// cell; `None` when the code is too large to pack (more than about
    /// sixteen million locations), so that a segment keeps no tags.
    pub fn new(location: u32, cell: usize) -> Option<RowTag> {
        debug_assert!(cell < CELL_COUNT, "a facet cell");
        (location < 1 << (32 - CELL_BITS)).then_some(RowTag(location << CELL_BITS | cell as u32))
    }

    /// The packed word, as the text index keeps it.
    pub fn word(self) -> u32 {
        self.0
    }
}

/// The tag beside each row entry of the text index, as narrow as the
/// segment's `location` codes allow.
#[derive(Clone, Debug)]
pub enum EntryTags {
    /// Every tag below 65,536: `location` codes below 256.
    Short(Vec<u16>),
    /// Tags as they are.
    Wide(Vec<u32>),
}

impl EntryTags {
    /// The tag of each of `rows` (row entries), where `row_tags[row]` is
    /// that of `row` (a [`RowTag::word`]): two bytes each when every row's
    /// tag fits.
    pub fn of_entries(rows: &[u32], row_tags: &[u32]) -> EntryTags {
        let tag_of = |row: u32| row_tags[row as usize];
        // Checked first, then collected by position: a collect that may
        // stop early would gather per-task lists and join them on one
        // thread.
        if rows.par_iter().all(|&row| tag_of(row) <= u32::from(u16::MAX)) {
            EntryTags::Short(rows.par_iter().map(|&row| tag_of(row) as u16).collect())
        } else {
            EntryTags::Wide(rows.par_iter().map(|&row| tag_of(row)).collect())
        }
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        match self {
            EntryTags::Short(tags) => tags.capacity() * 2,
            EntryTags::Wide(tags) => tags.capacity() * 4,
        }
    }
}

/// Which tags a request's closed-set filters accept: a flag per facet cell
/// and a bit per `location` code, so that a test is two loads.
#[derive(Clone, Debug)]
pub struct TagFilter {
    /// Whether each cell (the tag's low byte) is accepted.
    cells: [bool; 1 << CELL_BITS],
    /// Bit `l`: location code `l` is accepted. *Invariant:* covers every
    /// code of the segment's `location` column.
    locations: Vec<u64>,
    /// The one location code accepted, when there is exactly one (a
    /// request naming one location; see [`TagFilter::keep_passing`]).
    only_location: Option<u32>,
}

/// How many entries [`TagFilter::keep_passing`] compares with the one
/// location at a time: a bit each in a `u32`.
const SCREEN_BLOCK: usize = 32;

const _: () = assert!(SCREEN_BLOCK == u32::BITS as usize, "a bit per entry of a block");

/// The facet cell of a tag (its low byte).
#[inline]
fn cell_of(tag: u32) -> usize {
    (tag & ((1 << CELL_BITS) - 1)) as usize
}

impl TagFilter {
    /// Accepts the rows of the `selection`'s cells that hold one of
    /// `locations` (any location when `None`), in a segment whose
    /// `location` column has `location_codes` codes (`null`'s included).
    pub fn new(selection: &FacetSelection, locations: Option<&[u32]>, location_codes: usize) -> TagFilter {
        let mut cells = [false; 1 << CELL_BITS];
        cells[..CELL_COUNT].copy_from_slice(&selection.cell_flags());
        let words = location_codes.div_ceil(64);
        let known = |code: &&u32| (**code as usize) < location_codes;
        let locations = match locations {
            None => vec![u64::MAX; words],
            Some(codes) => {
                let mut bits = vec![0u64; words];
                for &code in codes.iter().filter(known) {
                    bits[code as usize / 64] |= 1 << (code % 64);
                }
                bits
            }
        };
        let only_location = match accepted_location_count(&locations) {
            1 => locations
                .iter()
                .enumerate()
                .find(|(_, &word)| word != 0)
                .map(|(index, word)| index as u32 * 64 + word.trailing_zeros()),
            _ => None,
        };
        TagFilter { cells, locations, only_location }
    }

    /// Whether the row of `tag` (a [`RowTag::word`]) passes the filters.
    #[inline]
    pub fn accepts(&self, tag: u32) -> bool {
        let location = (tag >> CELL_BITS) as usize;
        let location_bits = self.locations.get(location / 64).copied().unwrap_or(0);
        self.cells[cell_of(tag)] & (location_bits >> (location % 64) & 1 == 1)
    }

    /// Writes each of `rows` whose tag (at the same position of `tags`)
    /// passes to `found` from `*kept` on, in order, and moves `*kept` past
    /// them. `found[*kept..]` must have room for all of `rows`: rows that
    /// do not pass may be written past the new `*kept`.
    ///
    /// With one location accepted, a block of tags is first compared with
    /// it into a word of bits (compares the compiler makes vector ones),
    /// and only the entries at the location have their cell looked up: a
    /// location holds a small share of a needle's entries. Every row looked
    /// at is written, and kept when it passes, without a branch on it.
    pub fn keep_passing<Tag: Copy + Into<u32>>(&self, rows: &[u32], tags: &[Tag], found: &mut [u32], kept: &mut usize) {
        debug_assert_eq!(rows.len(), tags.len(), "a tag per row");
        debug_assert!(found.len() - *kept >= rows.len(), "room for every row");
        let mut keep = |row: u32, passes: bool| {
            found[*kept] = row;
            *kept += usize::from(passes);
        };
        let Some(location) = self.only_location else {
            rows.iter().zip(tags).for_each(|(&row, &tag)| keep(row, self.accepts(tag.into())));
            return;
        };
        let (row_blocks, tag_blocks) = (rows.chunks_exact(SCREEN_BLOCK), tags.chunks_exact(SCREEN_BLOCK));
        let (rows_left, tags_left) = (row_blocks.remainder(), tag_blocks.remainder());
        for (block_rows, block_tags) in row_blocks.zip(tag_blocks) {
            let mut at_location = 0u32;
            for (bit, &tag) in block_tags.iter().enumerate() {
                at_location |= u32::from(tag.into() >> CELL_BITS == location) << bit;
            }
            while at_location != 0 {
                let position = at_location.trailing_zeros() as usize;
                at_location &= at_location - 1;
                keep(block_rows[position], self.cells[cell_of(block_tags[position].into())]);
            }
        }
        rows_left.iter().zip(tags_left).for_each(|(&row, &tag)| keep(row, self.accepts(tag.into())));
    }
}

/// How many location codes a filter's bits accept.
fn accepted_location_count(bits: &[u64]) -> u32 {
    bits.iter().map(|word| word.count_ones()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::facets::cell;

    #[test]
    fn a_filter_accepts_exactly_its_cells_and_locations() {
        let mut selection = FacetSelection::default();
        selection.narrow(2, &[1, 3]); // two delivery statuses
        selection.narrow(1, &[2]); // one direction
        let accepted_cells = selection.cells();
        let locations = [3u32, 70, 200];
        for with_locations in [false, true] {
            let filter = TagFilter::new(&selection, with_locations.then_some(&locations[..]), 300);
            for location in 0..300u32 {
                for channel in 0..3 {
                    for status in 0..5 {
                        let cell = cell([channel, 2, status, 1, 0]);
                        let tag = RowTag::new(location, cell).unwrap().word();
                        let expected =
                            accepted_cells.contains(&cell) && (!with_locations || locations.contains(&location));
                        assert_eq!(filter.accepts(tag), expected, "location {location}, cell {cell}");
                    }
                }
            }
        }
    }

    proptest::proptest! {
        /// The rows kept are those whose tags the filter accepts, in
        /// order, with one location named or several, tags of either width,
        /// and stretches that end inside a block.
        #[test]
        fn rows_kept_are_those_whose_tags_pass(
            entries in proptest::collection::vec((proptest::sample::select(vec![0u32, 1, 2, 63, 64, 130]), 0..CELL_COUNT), 0..150),
            named in proptest::collection::vec(proptest::sample::select(vec![0u32, 2, 63, 64, 130, 200, 201]), 0..3),
            offset in 0usize..3,
        ) {
            // 200 location codes: 200 and 201 are unknown, and 63, 64 and
            // 130 lie in different words of the filter's bits.
            let mut selection = FacetSelection::default();
            selection.narrow(1, &[2]);
            let filter = TagFilter::new(&selection, Some(&named), 200);
            let tags: Vec<u32> = entries.iter().map(|&(location, cell)| RowTag::new(location, cell).unwrap().word()).collect();
            let rows: Vec<u32> = (0..tags.len() as u32).map(|row| row * 3 + 1).collect();
            let expected: Vec<u32> = rows.iter().zip(&tags).filter(|&(_, &tag)| filter.accepts(tag)).map(|(&row, _)| row).collect();
            let short: Vec<u16> = tags.iter().map(|&tag| tag as u16).collect();
            for wide in [false, true] {
                // Kept after `offset` rows already found.
                let mut found = vec![u32::MAX; offset + rows.len()];
                let mut kept = offset;
                match wide {
                    true => filter.keep_passing(&rows, &tags, &mut found, &mut kept),
                    false => filter.keep_passing(&rows, &short, &mut found, &mut kept),
                }
                proptest::prop_assert_eq!(&found[offset..kept], &expected[..]);
                proptest::prop_assert!(found[..offset].iter().all(|&row| row == u32::MAX));
            }
        }
    }

    #[test]
    fn entry_tags_are_short_while_every_location_code_is_below_256() {
        let tag = |location: u32, cell: usize| RowTag::new(location, cell).unwrap().word();
        let rows = [2u32, 0, 2, 1];
        let below = [tag(0, 0), tag(255, CELL_COUNT - 1), tag(17, 3)];
        let past = [tag(3, 1), tag(256, 0), tag(255, CELL_COUNT - 1)];
        for row_tags in [below, past] {
            let expected: Vec<u32> = rows.iter().map(|&row| row_tags[row as usize]).collect();
            let found: Vec<u32> = match EntryTags::of_entries(&rows, &row_tags) {
                EntryTags::Short(tags) if row_tags == below => tags.into_iter().map(u32::from).collect(),
                EntryTags::Wide(tags) if row_tags == past => tags,
                other => panic!("{other:?} for the tags {row_tags:?}"),
            };
            assert_eq!(found, expected);
        }
    }

    #[test]
    fn codes_too_large_to_pack_give_no_tag() {
        assert!(RowTag::new((1 << 24) - 1, CELL_COUNT - 1).is_some());
        assert_eq!(RowTag::new(1 << 24, 0), None);
    }
}
