//! The substring index behind `filters-q`: case-insensitive substring
//! search over `correspondent`, `destination` and `origin`.
//!
//! ```text
//!  distinct lower-cased values (of all three fields, merged), back to back:
//!    v0 "zoë quinn zoe@x.com"   rows {0, 7}
//!    v1 "zoe@x.com"             rows {0, 3, 7}
//!  suffixes of every value, sorted (each ends where its value ends):
//!    "@x.com" v0, "@x.com" v1, ".com" v0, …, "zoe@x.com" v0, "zoe@x.com" v1, "zoë quinn …" v0
//! ```
//!
//! A needle's occurrences are one contiguous run of the sorted suffixes,
//! found by two binary searches; the values of that run are exactly the
//! matching values (no candidate to verify, whatever the needle's length),
//! and the union of their rows is the answer. Nothing is scanned: the cost
//! is the logarithm of the text plus the size of the answer. Values are
//! lower-cased whole, once, at build time (Unicode's full mapping, as
//! `str::to_lowercase`), and matched byte-wise: a substring of the UTF-8
//! bytes of valid UTF-8 text that starts on a character boundary is a
//! substring of its characters, so only suffixes starting on a boundary are
//! kept.

use std::collections::HashMap;

use rayon::prelude::*;
use roaring::RoaringBitmap;

use crate::store::column::DictColumn;

/// Distinct lower-cased values, their rows and their sorted suffixes.
#[derive(Debug, Default)]
pub struct TextIndex {
    /// Every distinct lower-cased value, back to back.
    text: Vec<u8>,
    /// `ends[v]`: where value `v` ends in `text`.
    ends: Vec<usize>,
    /// Rows of value `v`: `rows[row_starts[v]..row_starts[v + 1]]`, ascending.
    row_starts: Vec<u32>,
    rows: Vec<u32>,
    /// Every suffix `(start in text, value)`, sorted by its bytes up to
    /// the end of its value.
    suffixes: Vec<(u32, u32)>,
    row_count: u32,
}

/// What a search did, for `explain`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TextSearchStats {
    /// Occurrences of the needle found in the suffix array.
    pub occurrences: u64,
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
        let mut index = TextIndex { text, ends, row_starts, rows, suffixes: Vec::new(), row_count };
        index.suffixes = index.build_suffixes();
        index
    }

    fn build_suffixes(&self) -> Vec<(u32, u32)> {
        let mut suffixes = Vec::with_capacity(self.text.len());
        let mut start = 0;
        for (value, &end) in self.ends.iter().enumerate() {
            for position in start..end {
                if !is_continuation(self.text[position]) {
                    suffixes.push((position as u32, value as u32));
                }
            }
            start = end;
        }
        // Sort by the first eight bytes held inline (most comparisons end
        // there, without touching the text), then order each run of equal
        // prefixes by the whole suffix.
        let mut keyed: Vec<(u64, u32, u32)> =
            suffixes.into_par_iter().map(|(start, value)| (self.prefix((start, value)), start, value)).collect();
        keyed.par_sort_unstable_by_key(|&(prefix, ..)| prefix);
        keyed.par_chunk_by_mut(|left, right| left.0 == right.0).for_each(|run| {
            if run.len() > 1 {
                run.sort_unstable_by(|left, right| self.suffix((left.1, left.2)).cmp(self.suffix((right.1, right.2))));
            }
        });
        keyed.into_iter().map(|(_, start, value)| (start, value)).collect()
    }

    /// The first eight bytes of a suffix, big-endian, zero-padded: equal
    /// prefixes compare equal, a smaller one means a smaller suffix.
    fn prefix(&self, suffix: (u32, u32)) -> u64 {
        let bytes = self.suffix(suffix);
        let mut prefix = [0u8; 8];
        let length = bytes.len().min(8);
        prefix[..length].copy_from_slice(&bytes[..length]);
        u64::from_be_bytes(prefix)
    }

    /// The bytes of a suffix, up to the end of its value.
    fn suffix(&self, (start, value): (u32, u32)) -> &[u8] {
        &self.text[start as usize..self.ends[value as usize]]
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
        let first = self.suffixes.partition_point(|&entry| self.suffix(entry) < needle);
        let past = first + self.suffixes[first..].partition_point(|&entry| self.suffix(entry).starts_with(needle));
        let mut matched: Vec<u32> = self.suffixes[first..past].iter().map(|&(_, value)| value).collect();
        matched.sort_unstable();
        matched.dedup();
        let stats = TextSearchStats { occurrences: (past - first) as u64, values_matched: matched.len() as u64 };
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
            + self.suffixes.capacity() * 8
    }
}

/// Whether a byte continues a UTF-8 character (no suffix starts there).
fn is_continuation(byte: u8) -> bool {
    byte & 0xc0 == 0x80
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
        assert_eq!(index.search("example").1.values_matched, 2);
        assert_eq!(index.search("ë").1.values_matched, 1, "searches may start inside a word");
    }
}
