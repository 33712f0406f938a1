//! The substring index behind `filters-q`: case-insensitive substring
//! search over `correspondent`, `destination` and `origin`.
//!
//! ```text
//!  distinct lower-cased values (of all three fields, merged):
//!    v0 "zoë quinn zoe@example.com"   rows {0, 7}
//!    v1 "zoe@example.com"             rows {0, 3, 7}
//!    v2 "+447700900001"               rows {2}
//!  trigrams of the values (bytes):   "zoe" → {v0, v1}   "exa" → {v0, v1} …
//! ```
//!
//! A query of three bytes or more intersects the postings of its trigrams
//! (rarest first), verifies each candidate value with a substring search,
//! and unions the row lists of the values that match. A shorter query scans
//! the distinct values (one joined buffer), never the rows. Values are
//! lower-cased whole, once, at build time (Unicode's full mapping, as
//! `str::to_lowercase`), and matched byte-wise: a substring of the UTF-8
//! bytes of valid UTF-8 text is a substring of its characters.

use std::collections::HashMap;

use memchr::memmem;
use rayon::prelude::*;
use roaring::RoaringBitmap;

use crate::store::column::DictColumn;

/// Bytes per n-gram.
const GRAM: usize = 3;

/// Distinct lower-cased values, their rows and their trigram postings.
#[derive(Debug, Default)]
pub struct TextIndex {
    /// Every distinct lower-cased value, back to back.
    text: Vec<u8>,
    /// `ends[v]`: where value `v` ends in `text`.
    ends: Vec<usize>,
    /// Rows of value `v`: `rows[row_starts[v]..row_starts[v + 1]]`, ascending.
    row_starts: Vec<u32>,
    rows: Vec<u32>,
    /// Trigram → the values holding it.
    grams: HashMap<u32, RoaringBitmap, hashbrown::DefaultHashBuilder>,
    row_count: u32,
}

/// What a search did, for `explain`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TextSearchStats {
    /// Whether the trigram postings were used (else the values were scanned).
    pub used_grams: bool,
    /// Distinct values checked with a substring search.
    pub values_checked: u64,
    /// Distinct values that matched.
    pub values_matched: u64,
}

impl TextIndex {
    /// Builds the index over the given columns (rows in store order).
    pub fn build(columns: &[&DictColumn], row_count: u32) -> TextIndex {
        // Lower-case each column's distinct values once, in parallel.
        let lowered: Vec<Vec<String>> = columns
            .iter()
            .map(|column| {
                (1..=column.dict.len() as u32)
                    .into_par_iter()
                    .map(|code| {
                        let text: String =
                            serde_json::from_slice(column.dict.get(code)).expect("dictionary values are JSON strings");
                        text.to_lowercase()
                    })
                    .collect()
            })
            .collect();
        // Merge equal lower-cased values across columns into one numbering.
        let mut value_of: HashMap<&str, u32, hashbrown::DefaultHashBuilder> = HashMap::default();
        let mut text = Vec::new();
        let mut ends = Vec::new();
        let code_to_value: Vec<Vec<u32>> = lowered
            .iter()
            .map(|values| {
                let mut map = vec![u32::MAX];
                for value in values {
                    let id = *value_of.entry(value.as_str()).or_insert_with(|| {
                        text.extend_from_slice(value.as_bytes());
                        ends.push(text.len());
                        ends.len() as u32 - 1
                    });
                    map.push(id);
                }
                map
            })
            .collect();
        drop(value_of);
        let value_count = ends.len();
        // Rows of each value, as compressed sparse rows (counted, then filled).
        let values_of_row = |row: usize, found: &mut [u32; 3]| -> usize {
            let mut count = 0;
            for (column, map) in columns.iter().zip(&code_to_value) {
                let code = column.codes[row];
                if code != 0 {
                    let value = map[code as usize];
                    if !found[..count].contains(&value) {
                        found[count] = value;
                        count += 1;
                    }
                }
            }
            count
        };
        let mut row_starts = vec![0u32; value_count + 1];
        let mut found = [0u32; 3];
        for row in 0..row_count as usize {
            let count = values_of_row(row, &mut found);
            for &value in &found[..count] {
                row_starts[value as usize + 1] += 1;
            }
        }
        for value in 0..value_count {
            row_starts[value + 1] += row_starts[value];
        }
        let mut fill = row_starts.clone();
        let mut rows = vec![0u32; row_starts[value_count] as usize];
        for row in 0..row_count as usize {
            let count = values_of_row(row, &mut found);
            for &value in &found[..count] {
                rows[fill[value as usize] as usize] = row as u32;
                fill[value as usize] += 1;
            }
        }
        let mut index = TextIndex { text, ends, row_starts, rows, grams: HashMap::default(), row_count };
        index.grams = index.build_grams();
        index
    }

    fn build_grams(&self) -> HashMap<u32, RoaringBitmap, hashbrown::DefaultHashBuilder> {
        let mut grams: HashMap<u32, RoaringBitmap, hashbrown::DefaultHashBuilder> = HashMap::default();
        for value in 0..self.ends.len() {
            for gram in self.value(value as u32).windows(GRAM) {
                // A value repeating a trigram is posted once (try_push refuses it).
                let _ = grams.entry(gram_key(gram)).or_default().try_push(value as u32);
            }
        }
        grams.values_mut().for_each(|posting| {
            posting.optimize();
        });
        grams
    }

    fn value(&self, value: u32) -> &[u8] {
        let value = value as usize;
        let start = if value == 0 { 0 } else { self.ends[value - 1] };
        &self.text[start..self.ends[value]]
    }

    fn rows_of(&self, value: u32) -> &[u32] {
        let value = value as usize;
        &self.rows[self.row_starts[value] as usize..self.row_starts[value + 1] as usize]
    }

    /// The number of distinct lower-cased values.
    pub fn value_count(&self) -> usize {
        self.ends.len()
    }

    /// The rows where at least one of the fields contains `needle`, which
    /// must already be lower-cased and non-empty.
    pub fn search(&self, needle: &str) -> (RoaringBitmap, TextSearchStats) {
        let needle = needle.as_bytes();
        let finder = memmem::Finder::new(needle);
        let mut stats = TextSearchStats::default();
        let mut matched: Vec<u32> = Vec::new();
        if needle.len() >= GRAM {
            stats.used_grams = true;
            let mut keys: Vec<u32> = needle.windows(GRAM).map(gram_key).collect();
            keys.sort_unstable();
            keys.dedup();
            let mut postings = Vec::with_capacity(keys.len());
            for key in keys {
                match self.grams.get(&key) {
                    Some(posting) => postings.push(posting),
                    None => return (RoaringBitmap::new(), stats),
                }
            }
            postings.sort_by_key(|posting| posting.len());
            let mut candidates = postings[0].clone();
            for posting in &postings[1..] {
                if candidates.len() <= 64 {
                    break; // verifying a few values is cheaper than intersecting
                }
                candidates &= *posting;
            }
            for value in &candidates {
                stats.values_checked += 1;
                if finder.find(self.value(value)).is_some() {
                    matched.push(value);
                }
            }
        } else {
            // Scan the joined values; a hit that crosses into the next value
            // is discarded and the search resumes at that value's start.
            let mut position = 0;
            stats.values_checked = self.ends.len() as u64;
            while let Some(found) = finder.find(&self.text[position..]) {
                let start = position + found;
                let value = self.ends.partition_point(|&end| end <= start);
                let end = self.ends[value];
                if start + needle.len() <= end {
                    matched.push(value as u32);
                }
                position = end;
                if position >= self.text.len() {
                    break;
                }
            }
        }
        stats.values_matched = matched.len() as u64;
        (self.union_rows(&matched), stats)
    }

    /// The union of the rows of some values: sorted directly when few,
    /// through a dense bitset when many.
    fn union_rows(&self, values: &[u32]) -> RoaringBitmap {
        let total: usize = values.iter().map(|&value| self.rows_of(value).len()).sum();
        if total < (self.row_count as usize / 64).max(4096) {
            let mut rows: Vec<u32> = Vec::with_capacity(total);
            for &value in values {
                rows.extend_from_slice(self.rows_of(value));
            }
            rows.sort_unstable();
            rows.dedup();
            RoaringBitmap::from_sorted_iter(rows).expect("sorted rows")
        } else {
            let mut bits = vec![0u8; (self.row_count as usize).div_ceil(8)];
            for &value in values {
                for &row in self.rows_of(value) {
                    bits[row as usize >> 3] |= 1 << (row & 7);
                }
            }
            RoaringBitmap::from_lsb0_bytes(0, &bits)
        }
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.text.capacity()
            + self.ends.capacity() * 8
            + self.row_starts.capacity() * 4
            + self.rows.capacity() * 4
            + self.grams.capacity() * 40
            + self.grams.values().map(RoaringBitmap::serialized_size).sum::<usize>()
    }
}

fn gram_key(gram: &[u8]) -> u32 {
    u32::from(gram[0]) << 16 | u32::from(gram[1]) << 8 | u32::from(gram[2])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FieldValue;

    fn column(values: &[Option<&str>]) -> DictColumn {
        let mut column = DictColumn::default();
        let mut scratch = Vec::new();
        for value in values {
            column.push_value(value.map_or(FieldValue::Null, FieldValue::Str), &mut scratch);
        }
        column
    }

    #[test]
    fn finds_substrings_case_insensitively_across_fields() {
        let first = column(&[Some("Zoë Quinn ZOE@Example.com"), None, Some("aab"), Some("İbrahim")]);
        let second = column(&[Some("zoe@example.com"), Some("xa"), Some("xa"), None]);
        let index = TextIndex::build(&[&first, &second], 4);
        let rows = |needle: &str| index.search(needle).0.iter().collect::<Vec<u32>>();
        assert_eq!(rows("zoe@"), [0]);
        assert_eq!(rows("example"), [0]);
        assert_eq!(rows("zoë q"), [0]);
        assert_eq!(rows("aa"), [2], "hits that cross value boundaries are not matches");
        assert_eq!(rows("xa"), [0, 1, 2], "\"example\" holds \"xa\"");
        assert_eq!(rows("a"), [0, 1, 2, 3]);
        assert_eq!(rows("i̇b"), [3], "İ lower-cases to i + combining dot");
        assert_eq!(rows("nothing"), Vec::<u32>::new());
        assert!(index.search("example").1.used_grams);
        assert!(!index.search("xa").1.used_grams);
    }
}
