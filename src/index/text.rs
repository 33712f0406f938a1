//! The substring index behind `filters-q`: case-insensitive substring
//! search over `correspondent`, `destination` and `origin`.
//!
//! ```text
//!  distinct lower-cased values (of all three fields, merged), numbered in
//!  byte order; those keeping rows are searched, each closed by 0xFF:
//!    v0 "zoe@x.com"             covered by v1: no rows, no suffixes
//!    v1 "zoë quinn zoe@x.com"   rows {0, 7}
//!  sorted suffixes, each compared up to its separator:
//!    "@x.com|" v1, ".com|" v1, …, "zoe@x.com|" v1, "zoë quinn …|" v1
//! ```
//!
//! A needle's occurrences are one contiguous run of the sorted suffixes,
//! found by two binary searches; the values of that run are exactly the
//! matching values (no candidate to verify, whatever the needle's length),
//! and the union of their rows is the answer. Nothing is scanned: the cost
//! is the logarithm of the text plus the size of the answer.
//!
//! Three things keep the size of the answer's work close to the answer
//! itself:
//! * values are numbered in byte order, so the values one needle matches
//!   (every "… thomas …" correspondent, say) sit together and so do their
//!   row lists;
//! * the matched values are gathered in a bitset over values, which is
//!   already in value order, instead of being sorted;
//! * a value whose rows all hold a longer value containing it (an e-mail
//!   address and the "Name address" correspondent beside it) keeps no row
//!   list and no suffixes: any needle it contains is also in the longer
//!   value, whose rows cover its own, so searching it would only find its
//!   rows twice. On the benchmark data that leaves out two fifths of the
//!   text (a smaller index, built faster).
//!
//! A count needs no row either when the matched values' rows cannot
//! overlap ([`TextMatch::count_less`]). Values of one column never share a
//! row. A value of the other columns whose rows all hold one and the same
//! value of the first column (a correspondent's work address, written
//! only in that correspondent's messages) has that value as its *parent*:
//! when both match, its rows are already the parent's; when only it
//! matches, its rows lie inside the parent's, apart from every other
//! matched value's. Only the rows of the few values left over (an address
//! two contacts share, say) are read, each once.
//!
//! Values are lower-cased whole, once, at build time (Unicode's full
//! mapping, as `str::to_lowercase`), and matched byte-wise: a substring of
//! the UTF-8 bytes of valid UTF-8 text that starts on a character boundary
//! is a substring of its characters, so only suffixes starting on a
//! boundary are kept. The separator 0xFF never occurs in UTF-8, so no
//! needle runs across it.

use rayon::prelude::*;
use roaring::RoaringBitmap;

use super::dense::DenseRows;
use super::packed_suffixes::PackedSuffixes;
use super::prefix_sums::PrefixSums;
use super::row_sort::{bitmap_of_rows, distinct_sorted};
use super::row_tags::{EntryTags, TagFilter};
use super::row_values::RowValues;
use super::run_counts::RunCounts;
use super::suffix_sample::{Bound, SuffixSample};
use crate::column::DictColumn;
use crate::dict_codes::DictCodes;
use crate::durable::arrays::{ArrayFileWriter, ArrayReader};
use crate::durable::StoreError;
use crate::sys::prefetch;

/// Closes every value in the text; no UTF-8 text holds this byte, and it
/// is greater than every byte that does.
const SEPARATOR: u8 = 0xFF;

/// Distinct lower-cased values, their rows and their sorted suffixes.
#[derive(Debug, Default)]
pub struct TextIndex {
    /// Every distinct lower-cased value that keeps rows (see `rows`), in
    /// byte order, each followed by [`SEPARATOR`].
    text: Vec<u8>,
    /// Rows of value `v`: `rows[row_starts[v]..row_starts[v + 1]]`,
    /// ascending; empty for a value whose rows a containing value covers.
    row_starts: Vec<u32>,
    rows: Vec<u32>,
    /// Every suffix as `(start in text, value)`, sorted by its bytes up to
    /// its separator, packed. The value is held beside the start (rather
    /// than found from it) so that the values of a needle's run are read in
    /// sequence.
    suffixes: PackedSuffixes,
    /// The first bytes of every few `suffixes`, searched first by
    /// [`TextIndex::locate`]. Derived, never stored.
    sample: SuffixSample,
    /// Per column (in the order given to [`TextIndex::build`]), the value
    /// of each dictionary code (`u32::MAX` for code 0, `null`).
    code_values: Vec<Vec<u32>>,
    /// Per value, a bit per column holding it in some row.
    columns_of: Vec<u8>,
    /// Each row's distinct values (`code_values` applied to the columns'
    /// codes). Derived, never stored.
    row_values: RowValues,
    /// Per value, its parent ([`NO_PARENT`] for none). *Invariant:* a
    /// parent is a value of the first column only, that keeps rows and
    /// holds every row of each of its children; the children of a parent
    /// keep rows, lie outside the first column and share no row.
    parents: Vec<u32>,
    /// Counts of any run of `suffixes` (see [`RunCounts`]), weighing a
    /// suffix by its value's row count when held in the first column alone
    /// or a child (with its parent); the other values may share rows, and
    /// are listed.
    run_counts: RunCounts,
    /// The text of value `v`, with its separator, is
    /// `text[text_bounds[v]..text_bounds[v + 1]]`: empty for a value without
    /// rows. Derived from `text` and `row_starts` when the index is built
    /// or read.
    text_bounds: Vec<u32>,
    /// The [`RowTag`](super::row_tags::RowTag) of `rows[i]` is the `i`th
    /// of `entry_tags` (two bytes each while they fit, see [`EntryTags`]);
    /// `None` until the segment gives them (see
    /// [`TextIndex::tag_entries`]). Derived, never stored.
    entry_tags: Option<EntryTags>,
    row_count: u32,
}

/// The values of a needle's run listed by the run counts, whose rows
/// [`TextIndex::count_run`] reads ([`TextIndex::shared_of_run`]).
#[derive(Debug)]
pub struct SharedInRun {
    /// The values, ascending.
    values: Vec<u32>,
    /// The rows [`TextIndex::count_run`] reads: all of the values'.
    rows_read: usize,
}

impl SharedInRun {
    /// How many values there are.
    pub fn value_count(&self) -> usize {
        self.values.len()
    }

    /// How many rows counting them reads.
    pub fn rows_read(&self) -> usize {
        self.rows_read
    }
}

/// The occurrences of a needle: a run of the index's sorted suffixes,
/// found by two binary searches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SuffixRun(std::ops::Range<usize>);

impl SuffixRun {
    /// The number of occurrences.
    pub fn occurrences(&self) -> u64 {
        self.0.len() as u64
    }
}

/// The positions of the bits set in `words`, ascending, where `words`
/// starts at word `first_word` of its bitset.
fn ascending_bits(words: &[u64], first_word: usize) -> Vec<u32> {
    let mut positions = Vec::new();
    for (index, &word) in words.iter().enumerate().map(|(index, word)| (index + first_word, word)) {
        let mut bits = word;
        while bits != 0 {
            positions.push(index as u32 * 64 + bits.trailing_zeros());
            bits &= bits - 1;
        }
    }
    positions
}

/// How many occurrences ahead the word of a gathered value's bit starts
/// loading.
const BITS_AHEAD: usize = 16;

/// How many occurrences' values are unpacked at a time to be gathered: a
/// buffer that stays in the first-level cache.
const GATHER_BLOCK: usize = 4096;

/// How many values ahead their per-value arrays start loading.
const VALUES_AHEAD: usize = 12;

/// `values` in order, with `start_loading` called on the value
/// [`VALUES_AHEAD`] places further on as each is given: values lie
/// scattered over the index, so their per-value arrays miss the cache, and
/// the misses then overlap instead of following one another.
fn loading_ahead<'v>(values: &'v [u32], start_loading: impl Fn(u32) + 'v) -> impl Iterator<Item = u32> + 'v {
    values.iter().enumerate().map(move |(position, &value)| {
        if let Some(&ahead) = values.get(position + VALUES_AHEAD) {
            start_loading(ahead);
        }
        value
    })
}

/// Left-over row entries [`TextMatch::count_less`] reads whatever the
/// other values hold: fewer cost less than any union.
const LEFT_OVER_ALWAYS_READ: u64 = 1024;

/// What counting a run's shared value costs in [`TextIndex::count_run`],
/// in occurrences (against which the matched values would be gathered,
/// one per occurrence): a value found and made distinct.
const SHARED_VALUE_COST: u64 = 2;

/// What reading a row of a listed value (see [`RunCounts`]) costs, in
/// occurrences: the row's values loaded at random, each searched.
const LEFT_OVER_ROW_COST: u64 = 8;

/// The cost below which [`TextIndex::count_run`] counts whatever the
/// number of occurrences.
const RUN_COUNT_ALWAYS: u64 = 64;

/// The parent of a value that has none (as stored in segment files).
const NO_PARENT: u32 = u32::MAX;

/// The column bits of a value held only in the first column.
const FIRST_COLUMN: u8 = 1;

/// What a search did, for `explain`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TextSearchStats {
    /// Occurrences of the needle found in the suffix array.
    pub occurrences: u64,
    /// Distinct values that matched (of those searched: a covered value is
    /// not, its rows being found through the value covering it).
    pub values_matched: u64,
    /// Row entries read to build the union (covered values read none).
    pub rows_read: u64,
    /// Whether the count came from the run of occurrences
    /// ([`TextIndex::count_run`]) rather than from the matched values;
    /// `values_matched` is then 0 (they are not listed).
    pub counted_from_run: bool,
    /// With `counted_from_run`: whether the walk tested rows against the
    /// matched values gathered from the occurrences as bits, rather than
    /// searching each value's text for the needle.
    pub values_gathered: bool,
    /// Whether the request's other filters were tested on the tags beside
    /// the matched values' row entries ([`TextMatch::rows_tagged`]) rather
    /// than evaluated from their bitmaps.
    pub tested_on_tags: bool,
}

impl TextIndex {
    /// Builds the index over the given columns (rows in store order).
    pub fn build(columns: &[&DictColumn], row_count: u32) -> TextIndex {
        TextIndex::build_reusing(columns, row_count, &[])
    }

    /// [`TextIndex::build`] for a segment made of rows of other segments
    /// (a merge of runs, a compaction), whose indexes are `sources`: the
    /// suffixes of a value that a source already searched are taken from
    /// its sorted suffixes and merged, not sorted again; only the values
    /// no source searched have theirs sorted. The result answers every
    /// search exactly as [`TextIndex::build`]'s does.
    pub fn build_reusing(columns: &[&DictColumn], row_count: u32, sources: &[&TextIndex]) -> TextIndex {
        // Lower-case each column's distinct values once, in parallel.
        let lowered: Vec<Vec<String>> = columns
            .iter()
            .map(|column| {
                (1..=column.dict.len() as u32)
                    .into_par_iter()
                    .map(|code| crate::column::unescaped(column.dict.get(code)).to_lowercase())
                    .collect()
            })
            .collect();
        // Number the distinct lower-cased values of every column in byte
        // order: sort (value, column, code) and give each new value the next
        // number.
        let mut entries: Vec<(&str, usize, usize)> = lowered
            .iter()
            .enumerate()
            .flat_map(|(column, values)| {
                values.iter().enumerate().map(move |(index, value)| (value.as_str(), column, index + 1))
            })
            .collect();
        entries.par_sort_unstable_by(|left, right| left.0.cmp(right.0));
        let mut code_to_value: Vec<Vec<u32>> = lowered.iter().map(|values| vec![u32::MAX; values.len() + 1]).collect();
        let mut text = Vec::with_capacity(entries.iter().map(|entry| entry.0.len() + 1).sum());
        let mut value_starts: Vec<u32> = Vec::new();
        let mut previous: Option<&str> = None;
        for &(value, column, code) in &entries {
            if previous != Some(value) {
                value_starts.push(text.len() as u32);
                text.extend_from_slice(value.as_bytes());
                text.push(SEPARATOR);
                previous = Some(value);
            }
            code_to_value[column][code] = value_starts.len() as u32 - 1;
        }
        drop(entries);
        assert!(text.len() < u32::MAX as usize, "the text index holds less than 4 GiB of distinct values");
        let value_count = value_starts.len();
        value_starts.push(text.len() as u32);

        let row_values = RowValues::of(&codes_of(columns), &code_to_value, row_count);
        let (row_starts, rows) = rows_by_value(value_count, &row_values);
        let mut columns_of = vec![0u8; value_count];
        for (column, values) in code_to_value.iter().enumerate() {
            for &value in &values[1..] {
                columns_of[value as usize] |= 1 << column;
            }
        }
        // A value is covered when the rows of one of its rows' longer values
        // contain it and all its rows. Checking the values of its first row
        // is enough: a covering value must hold that row.
        let value_text =
            |value: u32| &text[value_starts[value as usize] as usize..value_starts[value as usize + 1] as usize - 1];
        let rows_of = |value: u32| &rows[row_starts[value as usize] as usize..row_starts[value as usize + 1] as usize];
        let covered: Vec<bool> = (0..value_count as u32)
            .into_par_iter()
            .map(|value| {
                let own = rows_of(value);
                let Some(&first_row) = own.first() else { return false };
                row_values.of_row(first_row).iter().any(|&other| {
                    other != value
                        && value_text(other).len() > value_text(value).len()
                        && memchr::memmem::find(value_text(other), value_text(value)).is_some()
                        && is_subset(own, rows_of(other))
                })
            })
            .collect();
        let (row_starts, rows) = {
            let mut kept_starts = Vec::with_capacity(value_count + 1);
            let mut kept = Vec::with_capacity(rows.len());
            kept_starts.push(0u32);
            for value in 0..value_count as u32 {
                if !covered[value as usize] {
                    kept.extend_from_slice(rows_of(value));
                }
                kept_starts.push(kept.len() as u32);
            }
            kept.shrink_to_fit();
            (kept_starts, kept)
        };
        // Only values that keep rows get suffixes: a needle inside a covered
        // value is also inside the value covering it, whose rows hold all
        // of the covered value's.
        let searched_values: Vec<u32> = (0..value_count as u32).filter(|&value| !covered[value as usize]).collect();
        let (mut searched_text, searched_starts) = texts_of(&text, &value_starts, &searched_values);
        drop(text);
        searched_text.shrink_to_fit();
        let mut suffixes = merged_suffixes(&searched_text, &searched_starts, sources)
            .unwrap_or_else(|| sorted_suffixes(&searched_text, &searched_starts));
        suffixes.par_iter_mut().for_each(|suffix| suffix.1 = searched_values[suffix.1 as usize]);
        let rows_of = |value: u32| &rows[row_starts[value as usize] as usize..row_starts[value as usize + 1] as usize];
        let parents = parents_of(value_count, &columns_of, rows_of, &row_values);
        let sample = SuffixSample::of(&searched_text, &suffixes);
        let packed = PackedSuffixes::of(&suffixes, searched_text.len(), value_count);
        let mut index = TextIndex {
            text: searched_text,
            row_starts,
            rows,
            suffixes: packed,
            sample,
            code_values: code_to_value,
            columns_of,
            row_values,
            parents,
            run_counts: RunCounts::default(),
            text_bounds: Vec::new(),
            entry_tags: None,
            row_count,
        };
        index.run_counts = index.count_runs(&suffixes);
        index.text_bounds = index.text_bounds().expect("a built index searches exactly the values with rows");
        index
    }

    /// The counts of runs of this index's suffixes (see [`RunCounts`]),
    /// given unpacked: `suffixes` must be `self.suffixes` as
    /// [`PackedSuffixes::to_vec`] gives them (the caller has them at hand
    /// when building or reading). The values held apart and the children
    /// weigh their rows, with their parents; the values left over are
    /// listed.
    fn count_runs(&self, suffixes: &[(u32, u32)]) -> RunCounts {
        debug_assert_eq!(suffixes.len(), self.suffixes.len());
        RunCounts::build(
            &self.text,
            SEPARATOR,
            suffixes,
            self.value_count(),
            |value| self.run_weight(value),
            |value| self.has_parent(value).then(|| self.parents[value as usize]),
            |value| !self.is_anchored(value),
        )
    }

    /// What a value's suffixes weigh in the run counts: its rows when they
    /// are counted there (held apart, or a child), else 0.
    fn run_weight(&self, value: u32) -> u32 {
        if self.is_anchored(value) {
            self.rows_of(value).len() as u32
        } else {
            0
        }
    }

    /// Whether `value` is held in the first column alone: its rows are
    /// apart from every other such value's, so the run counts weigh it.
    #[inline]
    fn is_held_apart(&self, value: u32) -> bool {
        self.columns_of[value as usize] == FIRST_COLUMN
    }

    /// Where each value's text starts and ends (see `text_bounds`), or
    /// `None` when the values with rows and the texts do not pair up.
    fn text_bounds(&self) -> Option<Vec<u32>> {
        let mut bounds = Vec::with_capacity(self.value_count() + 1);
        let mut separators = memchr::memchr_iter(SEPARATOR, &self.text);
        let mut end = 0u32;
        for value in 0..self.value_count() as u32 {
            bounds.push(end);
            if !self.rows_of(value).is_empty() {
                end = separators.next()? as u32 + 1;
            }
        }
        bounds.push(end);
        (separators.next().is_none() && end as usize == self.text.len()).then_some(bounds)
    }

    /// Finds every value's parent again from the rows, and the run counts
    /// that weigh children with them: for an index read from a file that
    /// did not store them; `suffixes` as [`TextIndex::count_runs`] takes
    /// them.
    fn find_parents(&mut self, suffixes: &[(u32, u32)]) {
        let (rows, row_starts) = (&self.rows, &self.row_starts);
        let rows_of = |value: u32| &rows[row_starts[value as usize] as usize..row_starts[value as usize + 1] as usize];
        self.parents = parents_of(self.value_count(), &self.columns_of, rows_of, &self.row_values);
        self.run_counts = self.count_runs(suffixes);
    }

    fn rows_of(&self, value: u32) -> &[u32] {
        let value = value as usize;
        &self.rows[self.row_starts[value] as usize..self.row_starts[value + 1] as usize]
    }

    /// How many of `rows` hold each value (a row counts once per distinct
    /// value).
    pub fn tally(&self, rows: &RoaringBitmap) -> Vec<u32> {
        let mut tally = vec![0u32; self.value_count()];
        for row in rows {
            self.row_values.of_row(row).iter().for_each(|&value| tally[value as usize] += 1);
        }
        tally
    }

    /// The distinct values of `row`, in column order.
    #[inline]
    pub(crate) fn values_of_row(&self, row: u32) -> &[u32] {
        self.row_values.of_row(row)
    }

    /// Starts loading the values of `row`, for a read of them a little
    /// later.
    #[inline]
    pub(crate) fn prefetch_values_of_row(&self, row: u32) {
        self.row_values.prefetch(row);
    }

    /// The number of distinct lower-cased values.
    pub fn value_count(&self) -> usize {
        self.row_starts.len() - 1
    }

    /// The searched values (those with text and suffixes: the values that
    /// keep a row list) as `(value, start of its text)`, in text order.
    fn searched_values(&self) -> Vec<(u32, u32)> {
        (0..self.value_count() as u32)
            .filter(|&value| self.text_bounds[value as usize] < self.text_bounds[value as usize + 1])
            .map(|value| (value, self.text_bounds[value as usize]))
            .collect()
    }

    /// The values holding `needle`, which must already be lower-cased and
    /// non-empty: two binary searches, then the run of suffixes between
    /// them. No row is read yet.
    pub fn find(&self, needle: &str) -> TextMatch<'_> {
        self.matches_of(&self.locate(needle))
    }

    /// The occurrences of `needle`, which must already be lower-cased and
    /// non-empty: two binary searches, no value listed yet.
    pub fn locate(&self, needle: &str) -> SuffixRun {
        let needle = needle.as_bytes();
        // Only the first `needle.len()` bytes of a suffix decide how it
        // compares with the needle: the separator (greater than any byte of
        // the needle) ends every suffix before the next value.
        let window = |position: usize| {
            let start = self.suffixes.start(position) as usize;
            &self.text[start..(start + needle.len()).min(self.text.len())]
        };
        let count = self.suffixes.len();
        let first = self.sample.partition_point(count, needle, Bound::Below, |position| window(position) < needle);
        let past = self.sample.partition_point(count, needle, Bound::AtOrBelow, |position| window(position) <= needle);
        SuffixRun(first..past.max(first))
    }

    /// The values of `run` listed by the run counts (see [`RunCounts`]):
    /// those whose rows [`TextIndex::count_run`] reads.
    pub fn shared_of_run(&self, run: &SuffixRun) -> SharedInRun {
        let values: Vec<u32> =
            self.run_counts.shared_in(run.0.clone()).iter().map(|&at| self.suffixes.value(at as usize)).collect();
        let values = distinct_sorted(values, self.value_count() as u32);
        let rows_read = loading_ahead(&values, |value| prefetch(self.row_starts.as_ptr().wrapping_add(value as usize)))
            .map(|value| self.rows_of(value).len())
            .sum();
        SharedInRun { values, rows_read }
    }

    /// How many rows of `values` `counts_here(value, row)` counts, reading
    /// each row's values (at random: they start loading a few rows ahead).
    fn rows_counted_here(
        &self,
        values: impl Iterator<Item = u32>,
        mut counts_here: impl FnMut(u32, u32) -> bool,
    ) -> u64 {
        let entries: Vec<(u32, u32)> =
            values.flat_map(|value| self.rows_of(value).iter().map(move |&row| (value, row))).collect();
        let mut counted = 0u64;
        for (position, &(value, row)) in entries.iter().enumerate() {
            if let Some(&(_, ahead)) = entries.get(position + 8) {
                self.row_values.prefetch(ahead);
            }
            counted += u64::from(counts_here(value, row));
        }
        counted
    }

    /// Whether `value` has a parent (see [`TextIndex`]'s invariant).
    #[inline]
    fn has_parent(&self, value: u32) -> bool {
        self.parents[value as usize] != NO_PARENT
    }

    /// Whether a value's rows lie apart from those of every other value
    /// counted by value: it is held in the first column only, or it has a
    /// parent there (see [`TextIndex`]'s invariant).
    #[inline]
    fn is_anchored(&self, value: u32) -> bool {
        self.is_held_apart(value) || self.has_parent(value)
    }

    /// The number of rows holding one of the values of `run`, dead or
    /// alive, where `shared` are the run's values that may share rows and
    /// `holds` tells the values that hold the needle:
    /// * the rows of the values held apart (in the first column only) and
    ///   of the children (see [`TextIndex`]'s invariant), whatever their
    ///   number, from two prefix sums (see [`RunCounts`]): a child's rows
    ///   count unless its parent, whose rows hold them, is in the run;
    /// * the rows of the few values left over are read, each counted unless
    ///   a value counted before holds the needle there.
    ///
    /// `None` when the values that may share rows cost more than is worth
    /// it this way.
    pub fn count_run(&self, run: &SuffixRun, shared: &SharedInRun, holds: impl Fn(u32) -> bool) -> Option<u64> {
        let cost = shared.values.len() as u64 * SHARED_VALUE_COST + shared.rows_read as u64 * LEFT_OVER_ROW_COST;
        if cost > run.occurrences().max(RUN_COUNT_ALWAYS) {
            return None;
        }
        let first_weight =
            if run.0.start < self.suffixes.len() { self.run_weight(self.suffixes.value(run.0.start)) } else { 0 };
        let anchored_rows = self.run_counts.counted_rows(run.0.clone(), first_weight);
        let shared_rows = self.rows_counted_here(shared.values.iter().copied(), |value, row| {
            !self
                .values_of_row(row)
                .iter()
                .any(|&other| other != value && (self.is_anchored(other) || other < value) && holds(other))
        });
        // A damaged file's sums could claim more rows than there are.
        Some((anchored_rows + shared_rows).min(u64::from(self.row_count)))
    }

    /// The text of a value with rows (lower-cased, without its
    /// separator); `None` for a value without rows, whose rows and needles
    /// a longer value beside it in every row holds.
    #[inline]
    pub(crate) fn value_text(&self, value: u32) -> Option<&[u8]> {
        let (start, end) = (self.text_bounds[value as usize] as usize, self.text_bounds[value as usize + 1] as usize);
        (start < end).then(|| &self.text[start..end - 1])
    }

    /// Starts loading where the text of `value` lies, for a search of it
    /// a little later.
    #[inline]
    pub(crate) fn prefetch_value_text(&self, value: u32) {
        prefetch(self.text_bounds.as_ptr().wrapping_add(value as usize));
    }

    /// Sets the bit of the value of each occurrence of `run` in `values`
    /// (see [`set_value_bits`]), the occurrences' values unpacked a block
    /// at a time into one buffer (a broad needle's run holds millions).
    fn gather_values(&self, run: &SuffixRun, values: &mut [u64], mut touched: impl FnMut(usize)) {
        let mut block = Vec::with_capacity(GATHER_BLOCK.min(run.0.len()));
        for start in run.0.clone().step_by(GATHER_BLOCK) {
            block.clear();
            self.suffixes.extend_values(start..(start + GATHER_BLOCK).min(run.0.end), &mut block);
            set_value_bits(&block, values, &mut touched);
        }
    }

    /// The values of the occurrences `run`, gathered and listed for the
    /// ways of [`TextMatch`].
    pub fn matches_of(&self, run: &SuffixRun) -> TextMatch<'_> {
        let mut values = vec![0u64; self.value_count().div_ceil(64)];
        // The words touched: a needle's values often sit together (a first
        // name starts its correspondents), so only those are read back.
        let (mut lowest, mut highest) = (values.len(), 0);
        self.gather_values(run, &mut values, |word| {
            (lowest, highest) = (lowest.min(word), highest.max(word));
        });
        let matched = match values.get(lowest..=highest) {
            Some(touched) => ascending_bits(touched, lowest),
            None => Vec::new(),
        };
        let stats = TextSearchStats { occurrences: run.occurrences(), ..TextSearchStats::default() };
        TextMatch { index: self, values, matched: matched.into(), stats, own: None }
    }

    /// The values of the occurrences `run` as bits only, for a test of
    /// rows' own values ([`TextMatch::is_matched`]): they are listed (and
    /// counted) only if a way of using them needs the list.
    pub fn matched_bits_of(&self, run: &SuffixRun) -> TextMatch<'_> {
        let mut values = vec![0u64; self.value_count().div_ceil(64)];
        self.gather_values(run, &mut values, |_| ());
        let stats = TextSearchStats { occurrences: run.occurrences(), ..TextSearchStats::default() };
        TextMatch { index: self, values, matched: std::cell::OnceCell::new(), stats, own: None }
    }

    /// The rows where at least one of the fields contains `needle`, which
    /// must already be lower-cased and non-empty.
    pub fn search(&self, needle: &str) -> (RoaringBitmap, TextSearchStats) {
        let mut found = self.find(needle);
        let rows = found.rows();
        (rows, found.stats())
    }

    /// Writes the index's arrays (see docs/FORMAT.md).
    pub(crate) fn write_arrays(&self, out: &mut ArrayFileWriter) -> Result<(), StoreError> {
        out.array(&self.text)?;
        out.array(&self.row_starts)?;
        out.array(&self.rows)?;
        let suffixes: Vec<u32> = self.suffixes.to_vec().into_iter().flat_map(|(start, value)| [start, value]).collect();
        out.array(&suffixes)?;
        out.array(&[self.code_values.len() as u64, u64::from(self.row_count)])?;
        for values in &self.code_values {
            out.array(values)?;
        }
        out.array(&self.columns_of)?;
        out.array(&self.parents)?;
        let (prefix, shared) = self.run_counts.parts();
        let (block_sums, bytes, wide_at, wide_steps) = prefix.arrays();
        out.array(block_sums)?;
        out.array(bytes)?;
        out.array(wide_at)?;
        out.array(wide_steps)?;
        out.array(shared)
    }

    /// Reads what [`TextIndex::write_arrays`] wrote for a segment of
    /// `row_count` rows whose searched columns are `columns`, checking
    /// that every array fits the others and numbers the columns' values.
    pub(crate) fn read_arrays(
        input: &mut ArrayReader,
        columns: &[&DictColumn],
        row_count: u32,
    ) -> Result<TextIndex, StoreError> {
        let text = input.bytes()?;
        let row_starts = input.values::<u32>()?;
        let rows = input.values::<u32>()?;
        let flat = input.values::<u32>()?;
        let counts = input.values::<u64>()?;
        let [column_count, stored_rows] = counts[..] else {
            return Err(input.malformed("a text index's counts are not two numbers"));
        };
        if column_count > 8 || stored_rows != u64::from(row_count) {
            return Err(input.malformed("a text index does not fit its segment"));
        }
        let code_values = (0..column_count).map(|_| input.values::<u32>()).collect::<Result<Vec<_>, _>>()?;
        let columns_of = input.bytes()?;
        let value_count = row_starts.len().saturating_sub(1);
        // Segment files of version 1 have no parents: their indexes count
        // as before, reading the rows of values in several columns.
        let parents = if input.version() >= 2 { input.values::<u32>()? } else { vec![NO_PARENT; value_count] };
        let value_fits = |value: u32| (value as usize) < value_count;
        let fits = !row_starts.is_empty()
            && row_starts.windows(2).all(|pair| pair[0] <= pair[1])
            && row_starts.last().is_some_and(|&end| end as usize == rows.len())
            && rows.iter().all(|&row| row < row_count)
            && flat.len() % 2 == 0
            && flat.chunks_exact(2).all(|pair| (pair[0] as usize) < text.len() && value_fits(pair[1]))
            && code_values
                .iter()
                .all(|values| values.first() == Some(&u32::MAX) && values[1..].iter().all(|&value| value_fits(value)))
            && columns_of.len() == value_count
            && parents.len() == value_count
            && parents.iter().enumerate().all(|(child, &parent)| {
                parent == NO_PARENT
                    || (value_fits(parent)
                        && columns_of[parent as usize] == FIRST_COLUMN
                        && columns_of[child] & FIRST_COLUMN == 0
                        && row_starts[child] < row_starts[child + 1])
            })
            && text.iter().filter(|&&byte| byte == SEPARATOR).count() <= value_count
            && text.last().is_none_or(|&byte| byte == SEPARATOR);
        if !fits {
            return Err(input.malformed("a text index's arrays do not fit one another"));
        }
        let suffixes: Vec<(u32, u32)> = flat.chunks_exact(2).map(|pair| (pair[0], pair[1])).collect();
        // Files before version 3 have no run counts, and those of version 3
        // counted children apart from their parents: they are derived.
        let stored_counts = if input.version() >= 3 {
            let prefix = PrefixSums::from_arrays(
                input.values::<u32>()?,
                input.bytes()?,
                input.values::<u32>()?,
                input.values::<u32>()?,
            );
            let shared = input.values::<u32>()?;
            (input.version() >= 4).then(|| RunCounts::from_parts(prefix, shared))
        } else {
            None
        };
        drop(flat);
        let sample = SuffixSample::of(&text, &suffixes);
        let packed = PackedSuffixes::of(&suffixes, text.len(), value_count);
        let mut index = TextIndex {
            text,
            row_starts,
            rows,
            suffixes: packed,
            sample,
            code_values,
            columns_of,
            row_values: RowValues::default(),
            parents,
            run_counts: RunCounts::default(),
            text_bounds: Vec::new(),
            entry_tags: None,
            row_count,
        };
        if !index.fits(columns) {
            return Err(input.malformed("the text index does not number the searched columns' values"));
        }
        index.row_values = RowValues::of(&codes_of(columns), &index.code_values, row_count);
        index.text_bounds =
            index.text_bounds().ok_or_else(|| input.malformed("a text index's values and texts do not pair up"))?;
        index.run_counts = match stored_counts {
            Some(counts) if counts.fits(index.suffixes.len()) => counts,
            Some(_) => return Err(input.malformed("a text index's run counts do not fit its suffixes")),
            // Version 1 files lack the parents too: they are found as a
            // build finds them, and the runs counted with them.
            None if input.version() < 2 => {
                index.find_parents(&suffixes);
                std::mem::take(&mut index.run_counts)
            }
            None => index.count_runs(&suffixes),
        };
        Ok(index)
    }

    /// Whether the index numbers the values of exactly these columns: one
    /// value (or `u32::MAX`) per dictionary code of each.
    fn fits(&self, columns: &[&DictColumn]) -> bool {
        self.code_values.len() == columns.len()
            && self.code_values.iter().zip(columns).all(|(values, column)| values.len() == column.dict.len() + 1)
    }

    /// Whether the index holds what [`TextIndex::build`] makes of
    /// `columns`: the same values, rows and suffixes, sorted (for `msgdex
    /// check`).
    pub(crate) fn agrees_with(&self, columns: &[&DictColumn]) -> bool {
        let built = TextIndex::build(columns, self.row_count);
        let suffixes = self.suffixes.to_vec();
        let sorted = |suffixes: &[(u32, u32)]| {
            let mut suffixes = suffixes.to_vec();
            suffixes.sort_unstable();
            suffixes
        };
        let through = |start: u32| {
            let tail = &self.text[start as usize..];
            &tail[..=tail.iter().position(|&byte| byte == SEPARATOR).unwrap_or(tail.len() - 1)]
        };
        built.text == self.text
            && built.row_starts == self.row_starts
            && built.rows == self.rows
            && built.code_values == self.code_values
            && built.columns_of == self.columns_of
            && built.parents == self.parents
            && self.run_counts == self.count_runs(&suffixes)
            && sorted(&built.suffixes.to_vec()) == sorted(&suffixes)
            && suffixes.windows(2).all(|pair| through(pair[0].0) <= through(pair[1].0))
    }

    /// Replaces the run counts with ones of no suffix, as a crafted file
    /// could hold them.
    #[cfg(test)]
    pub(crate) fn misfit_run_counts(&mut self) {
        self.run_counts = RunCounts::from_parts(PrefixSums::of_steps(std::iter::empty()), Vec::new());
    }

    /// Replaces the run counts with ones that fit the suffixes but count
    /// one row too many from the first suffix on, as a crafted file could
    /// hold them.
    #[cfg(test)]
    pub(crate) fn miscount_run_counts(&mut self) {
        let steps = (0..self.suffixes.len()).map(|position| u32::from(position == 0));
        self.run_counts = RunCounts::from_parts(PrefixSums::of_steps(steps), Vec::new());
    }

    /// Keeps beside each row entry its row's tag, where `row_tags[row]`
    /// is that of `row` (a [`RowTag::word`](super::row_tags::RowTag::word)),
    /// so that [`TextMatch::rows_tagged`] tests entries in place.
    pub fn tag_entries(&mut self, row_tags: &[u32]) {
        assert_eq!(row_tags.len(), self.row_count as usize, "a tag per row");
        self.entry_tags = Some(EntryTags::of_entries(&self.rows, row_tags));
    }

    /// Whether each row entry has its row's tag beside it
    /// ([`TextIndex::tag_entries`]).
    pub fn is_tagged(&self) -> bool {
        self.entry_tags.is_some()
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.text.capacity()
            + self.row_starts.capacity() * 4
            + self.rows.capacity() * 4
            + self.suffixes.heap_bytes()
            + self.sample.heap_bytes()
            + self.code_values.iter().map(|values| values.capacity() * 4).sum::<usize>()
            + self.columns_of.capacity()
            + self.row_values.heap_bytes()
            + self.parents.capacity() * 4
            + self.run_counts.heap_bytes()
            + self.text_bounds.capacity() * 4
            + self.entry_tags.as_ref().map_or(0, EntryTags::heap_bytes)
    }
}

/// The values a needle matched, before any row is read: the caller picks
/// the cheapest way to use them — a count without rows when the values
/// share no row ([`TextMatch::count_less`]), a test of a row's own
/// values ([`TextMatch::is_matched`]), or the union of their rows
/// ([`TextMatch::rows`]).
#[derive(Debug)]
pub struct TextMatch<'a> {
    index: &'a TextIndex,
    /// A bit per value of the index.
    values: Vec<u64>,
    /// The matched values, ascending (the bits of `values`): listed at
    /// once, or the first time a way of using them needs the list
    /// ([`TextIndex::matched_bits_of`]).
    matched: std::cell::OnceCell<Vec<u32>>,
    /// What the search did so far (see [`TextMatch::stats`]).
    stats: TextSearchStats,
    /// [`TextMatch::own_stretches`], kept when a way of reading them
    /// declined, for the next one.
    own: Option<OwnStretches>,
}

/// Where the row lists of the matched values whose rows are their own lie
/// in the index's `rows` (and `entry_tags`): adjacent lists are one
/// stretch.
#[derive(Debug)]
struct OwnStretches {
    stretches: Vec<std::ops::Range<usize>>,
    /// The row entries they hold.
    entries: usize,
}

impl<'a> TextMatch<'a> {
    /// What the search did so far, with the number of matched values once
    /// they are listed (0 before).
    pub fn stats(&self) -> TextSearchStats {
        let values_matched = self.matched.get().map_or(0, |matched| matched.len() as u64);
        TextSearchStats { values_matched, ..self.stats }
    }

    /// Whether `value` is one of the matched values.
    #[inline]
    pub(crate) fn is_matched(&self, value: u32) -> bool {
        self.values[value as usize / 64] >> (value % 64) & 1 == 1
    }

    /// Whether a matched value's rows must be read: it keeps rows, and
    /// its parent (whose rows hold all of them) did not match.
    #[inline]
    fn is_own(&self, value: u32) -> bool {
        self.is_own_given(value, !self.index.rows_of(value).is_empty())
    }

    /// [`TextMatch::is_own`] given whether the value keeps rows (read by
    /// the caller from the row starts it holds).
    #[inline]
    fn is_own_given(&self, value: u32, keeps_rows: bool) -> bool {
        let (index, value) = (self.index, value as usize);
        // A value of the first column has no parent: only the others' are
        // read (most matched values are correspondents).
        keeps_rows
            && (index.columns_of[value] & FIRST_COLUMN != 0
                || index.parents[value] == NO_PARENT
                || !self.is_matched(index.parents[value]))
    }

    /// The matched values, ascending. They lie scattered over the index's
    /// values: what is read of each (its row count and columns) starts
    /// loading a few values ahead, so that the misses overlap.
    fn matched_values(&self) -> impl Iterator<Item = u32> + '_ {
        let index = self.index;
        let matched = self.matched.get_or_init(|| ascending_bits(&self.values, 0));
        loading_ahead(matched, move |ahead| {
            prefetch(index.row_starts.as_ptr().wrapping_add(ahead as usize));
            prefetch(index.columns_of.as_ptr().wrapping_add(ahead as usize));
        })
    }

    /// The number of live rows holding a matched value, counted from the
    /// values' row counts where their rows cannot overlap (see the
    /// module's doc), reading only the rows of the values left over.
    /// `frozen` tells how many of the segment's frozen dead rows hold each
    /// value (see
    /// [`TextIndex::tally`]; empty when there are none), `is_dead` tells
    /// every dead row, and `recent` lists the dead rows `frozen` does not
    /// count. `None` when the rows left over are too many to be worth
    /// reading one by one (the union of the rows is then cheaper).
    pub fn count_less(
        &self,
        frozen: &[u32],
        is_dead: &dyn Fn(u32) -> bool,
        recent: impl Iterator<Item = u32>,
    ) -> Option<u64> {
        let index = self.index;
        // One column holding every value to count: none shares a row.
        let mut common_columns = None;
        let mut one_column = true;
        let (mut by_value, mut by_value_entries, mut left_over_entries) = (0u64, 0u64, 0u64);
        let mut left_over = Vec::new();
        // A value's live rows; checked: a tally larger than its rows is a
        // damaged file.
        let live_rows =
            |value: u32, rows: u64| rows.checked_sub(u64::from(frozen.get(value as usize).copied().unwrap_or(0)));
        for value in self.matched_values() {
            let rows = index.rows_of(value).len() as u64;
            let columns_of = index.columns_of[value as usize];
            if rows == 0 {
                continue; // keeps no rows (a covered value)
            }
            if columns_of == FIRST_COLUMN {
                // Most matched values are correspondents: their own and
                // anchored, each read once.
                one_column &= *common_columns.get_or_insert(FIRST_COLUMN) == FIRST_COLUMN;
                by_value += live_rows(value, rows)?;
                by_value_entries += rows;
                continue;
            }
            if !self.is_own(value) {
                continue; // a child of a matched parent: counted with it
            }
            one_column &= columns_of.count_ones() == 1 && *common_columns.get_or_insert(columns_of) == columns_of;
            if index.is_anchored(value) {
                by_value += live_rows(value, rows)?;
                by_value_entries += rows;
            } else {
                left_over.push(value);
                left_over_entries += rows;
            }
        }
        if one_column && !left_over.is_empty() {
            // Counted by value after all: one column's values share no row.
            for &value in &left_over {
                by_value += live_rows(value, index.rows_of(value).len() as u64)?;
            }
            by_value_entries += left_over_entries;
            left_over_entries = 0;
            left_over.clear();
        }
        // Reading a left-over row tests its values (three lookups at
        // random); the union sets a bit per entry: past a tenth of the
        // entries, the union is cheaper.
        if left_over_entries > LEFT_OVER_ALWAYS_READ && left_over_entries * 10 > by_value_entries + left_over_entries {
            return None;
        }
        let counted_by_value =
            |value: u32| self.is_matched(value) && self.is_own(value) && (one_column || self.index.is_anchored(value));
        let holds_counted_value = |row: u32| index.values_of_row(row).iter().any(|&value| counted_by_value(value));
        // Recent dead rows are not in the tally: each that holds a value
        // counted by value is taken off here.
        let recent_dead = recent.filter(|&row| holds_counted_value(row)).count() as u64;
        // A left-over row counts once (for its first left-over value), and
        // only if no value counted by value holds it.
        let left_over_rows = index.rows_counted_here(left_over.iter().copied(), |value, row| {
            let counted_elsewhere = index.values_of_row(row).iter().any(|&other| {
                counted_by_value(other) || (other < value && self.is_matched(other) && self.is_own(other))
            });
            !counted_elsewhere && !is_dead(row)
        });
        Some(by_value.checked_sub(recent_dead)? + left_over_rows)
    }

    /// Where the row lists of the matched values whose rows are their own
    /// ([`TextMatch::is_own`]) lie, found once for the union to read.
    /// The values one needle matches mostly sit together, and so do their
    /// lists: adjacent lists are one stretch, read without a loop's exit
    /// per value.
    fn own_stretches(&mut self) -> OwnStretches {
        if let Some(own) = self.own.take() {
            return own;
        }
        // The stretch being extended is a local, not the list's last
        // element: extending it writes to no vector, which is pushed to
        // only when a stretch ends.
        let row_starts = &self.index.row_starts[..];
        let mut stretches: Vec<std::ops::Range<usize>> = Vec::new();
        let mut current = 0..0;
        for value in self.matched_values() {
            let (start, past) = (row_starts[value as usize] as usize, row_starts[value as usize + 1] as usize);
            if !self.is_own_given(value, start < past) {
                continue;
            }
            if current.end == start {
                current.end = past;
            } else {
                if !current.is_empty() {
                    stretches.push(current);
                }
                current = start..past;
            }
        }
        if !current.is_empty() {
            stretches.push(current);
        }
        let entries = stretches.iter().map(ExactSizeIterator::len).sum();
        OwnStretches { stretches, entries }
    }

    /// The row lists of [`TextMatch::own_stretches`], and how many row
    /// entries they hold.
    fn own_row_lists(&mut self) -> (Vec<&'a [u32]>, usize) {
        let own = self.own_stretches();
        let rows = &self.index.rows;
        (own.stretches.into_iter().map(|stretch| &rows[stretch]).collect(), own.entries)
    }

    /// The rows of `own`'s stretches that `keep_stretch` keeps, as a
    /// bitmap: `keep_stretch(stretch, found, kept)` writes the rows of the
    /// stretch it keeps to `found` from `*kept` on and moves `*kept` past
    /// them (as [`TagFilter::keep_passing`]; `found` has room for every
    /// entry). Rows held by two matched values are kept once.
    fn kept_rows(
        &self,
        own: OwnStretches,
        mut keep_stretch: impl FnMut(std::ops::Range<usize>, &mut [u32], &mut usize),
    ) -> RoaringBitmap {
        let row_count = self.index.row_count;
        let keep_every_stretch = |found: &mut [u32]| {
            let mut kept = 0;
            for stretch in own.stretches {
                keep_stretch(stretch, found, &mut kept);
            }
            kept
        };
        // Room for every entry, though few are kept: a buffer kept by the
        // thread is not zeroed again for each search.
        if own.entries > KEPT_ROWS_REUSED {
            let mut found = vec![0u32; own.entries];
            let kept = keep_every_stretch(&mut found);
            found.truncate(kept);
            return bitmap_of_rows(found, row_count);
        }
        KEPT_ROWS.with(|cell| {
            let mut found = cell.borrow_mut();
            if found.len() < own.entries {
                found.resize(own.entries, 0);
            }
            let kept = keep_every_stretch(&mut found[..own.entries]);
            bitmap_of_rows(found[..kept].to_vec(), row_count)
        })
    }

    /// The union of the matched values' rows: sorted directly when few,
    /// through a dense bitset when many.
    pub fn rows(&mut self) -> RoaringBitmap {
        let row_count = self.index.row_count as usize;
        let (lists, total) = self.own_row_lists();
        self.stats.rows_read = total as u64;
        if total < (row_count / 64).max(4096) {
            let mut rows: Vec<u32> = Vec::with_capacity(total);
            for list in lists {
                rows.extend_from_slice(list);
            }
            bitmap_of_rows(rows, row_count as u32)
        } else {
            let mut words = vec![0u64; row_count.div_ceil(64)];
            set_listed_rows(&lists, &mut words);
            super::dense::bitmap_of_words(&words)
        }
    }

    /// The `candidates` that match. Few candidates are tested on their own
    /// values (no row list read); otherwise the matched values' rows are set
    /// in a per-thread bitset that each candidate is tested against, which
    /// builds no bitmap of the whole union.
    pub fn rows_among(&mut self, candidates: &RoaringBitmap) -> RoaringBitmap {
        let (lists, total) = self.own_row_lists();
        if let Some(tested) = self.tested_on_own_values(candidates.len(), total, || candidates.iter()) {
            return tested;
        }
        self.stats.rows_read = total as u64;
        let row_count = self.index.row_count as usize;
        UNION_BITS.with(|cell| {
            let mut words = cell.borrow_mut();
            words.clear();
            words.resize(row_count.div_ceil(64), 0);
            set_listed_rows(&lists, &mut words);
            super::dense::rows_set_in(candidates, &words)
        })
    }

    /// [`TextMatch::rows_among`] for candidates held as a bitset: unless
    /// few enough to test on their own values, each row of the matched
    /// values' lists is tested against it, and the few that it holds are
    /// sorted (no union is built).
    pub fn rows_among_dense(&mut self, candidates: &DenseRows) -> RoaringBitmap {
        let own = self.own_stretches();
        if let Some(tested) = self.tested_on_own_values(candidates.len(), own.entries, || candidates.rows()) {
            return tested;
        }
        self.stats.rows_read = own.entries as u64;
        let rows = &self.index.rows;
        // Written without a branch: each row is stored, and kept when it
        // passes.
        self.kept_rows(own, |stretch, found, kept| {
            for &row in &rows[stretch] {
                found[*kept] = row;
                *kept += usize::from(candidates.contains(row));
            }
        })
    }

    /// Whether the index keeps a tag beside each row entry
    /// ([`TextIndex::is_tagged`]).
    pub fn is_tagged(&self) -> bool {
        self.index.is_tagged()
    }

    /// The rows of the matched values whose tags `filter` accepts, read
    /// from the lists in place (see [`super::row_tags`]): `None` when the
    /// index keeps no tags, or the lists hold more than `entry_limit`
    /// entries (the other filters' bitmaps then cost less).
    pub fn rows_tagged(&mut self, filter: &TagFilter, entry_limit: u64) -> Option<RoaringBitmap> {
        let tags = self.index.entry_tags.as_ref()?;
        let own = self.own_stretches();
        if own.entries as u64 > entry_limit {
            self.own = Some(own);
            return None;
        }
        self.stats.rows_read = own.entries as u64;
        self.stats.tested_on_tags = true;
        let rows = &self.index.rows;
        // One loop per width, each reading its array directly.
        Some(match tags {
            EntryTags::Short(tags) => self.kept_rows(own, |stretch, found, kept| {
                filter.keep_passing(&rows[stretch.clone()], &tags[stretch], found, kept)
            }),
            EntryTags::Wide(tags) => self.kept_rows(own, |stretch, found, kept| {
                filter.keep_passing(&rows[stretch.clone()], &tags[stretch], found, kept)
            }),
        })
    }

    /// The `count` candidates that `candidates` lists ascending tested on
    /// their own values, when that costs less than reading the `listed`
    /// row entries of the matched values; `None` otherwise.
    fn tested_on_own_values<Rows: Iterator<Item = u32>>(
        &self,
        count: u64,
        listed: usize,
        candidates: impl FnOnce() -> Rows,
    ) -> Option<RoaringBitmap> {
        // Relative costs: a candidate tested on its own values reads its
        // values (one line, at random) and a bit per value; a row read from
        // a list sets or tests one bit; a candidate tested against the
        // bitset reads one bit.
        const OWN_VALUES: u64 = 4;
        const ROW_READ: u64 = 3;
        const BIT_TEST: u64 = 2;
        if count * OWN_VALUES > listed as u64 * ROW_READ + count * BIT_TEST {
            return None;
        }
        let holds = |row: u32| self.index.values_of_row(row).iter().any(|&value| self.is_matched(value));
        Some(RoaringBitmap::from_sorted_iter(candidates().filter(|&row| holds(row))).expect("rows ascend"))
    }
}

/// Sets the bit of each of `occurrences` (values) in `values` (a bit per
/// value), telling `touched` each word it sets a bit in. The values lie
/// scattered: each word starts loading [`BITS_AHEAD`] occurrences before
/// its bit is set, so that the misses overlap.
#[inline]
fn set_value_bits(occurrences: &[u32], values: &mut [u64], mut touched: impl FnMut(usize)) {
    for (position, &value) in occurrences.iter().enumerate() {
        if let Some(&ahead) = occurrences.get(position + BITS_AHEAD) {
            prefetch(values.as_ptr().wrapping_add(ahead as usize / 64));
        }
        let word = value as usize / 64;
        values[word] |= 1 << (value % 64);
        touched(word);
    }
}

/// Sets the bit of every row of `lists` in `words` (a bit per row).
fn set_listed_rows(lists: &[&[u32]], words: &mut [u64]) {
    for list in lists {
        for &row in *list {
            words[row as usize >> 6] |= 1 << (row & 63);
        }
    }
}

thread_local! {
    /// A bitset of rows per thread, for [`TextMatch::rows_among`].
    static UNION_BITS: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
    /// Room for the rows a [`TextMatch::kept_rows`] keeps, per thread, up
    /// to [`KEPT_ROWS_REUSED`] entries.
    static KEPT_ROWS: std::cell::RefCell<Vec<u32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The most row entries whose room a thread keeps between searches (4 MB).
const KEPT_ROWS_REUSED: usize = 1 << 20;

/// The codes by row of each of `columns`.
fn codes_of<'c>(columns: &[&'c DictColumn]) -> Vec<&'c DictCodes> {
    columns.iter().map(|column| &column.codes).collect()
}

/// Rows of each value as compressed sparse rows, from each row's values.
fn rows_by_value(value_count: usize, row_values: &RowValues) -> (Vec<u32>, Vec<u32>) {
    let mut row_starts = vec![0u32; value_count + 1];
    for row in 0..row_values.row_count() {
        for &value in row_values.of_row(row) {
            row_starts[value as usize + 1] += 1;
        }
    }
    for value in 0..value_count {
        row_starts[value + 1] += row_starts[value];
    }
    let mut fill = row_starts.clone();
    let mut rows = vec![0u32; row_starts[value_count] as usize];
    for row in 0..row_values.row_count() {
        for &value in row_values.of_row(row) {
            rows[fill[value as usize] as usize] = row;
            fill[value as usize] += 1;
        }
    }
    (row_starts, rows)
}

/// Each value's parent (see [`TextIndex`]'s invariant), found among the
/// values of its first row: the first-column value whose rows hold all of
/// its own. A parent whose children share a row keeps none of them.
fn parents_of<'a>(
    value_count: usize,
    columns_of: &[u8],
    rows_of: impl Fn(u32) -> &'a [u32] + Sync,
    row_values: &RowValues,
) -> Vec<u32> {
    let mut parents: Vec<u32> = (0..value_count as u32)
        .into_par_iter()
        .map(|value| {
            let own = rows_of(value);
            let Some(&first_row) = own.first() else { return NO_PARENT };
            if columns_of[value as usize] & FIRST_COLUMN != 0 {
                return NO_PARENT;
            }
            row_values
                .of_row(first_row)
                .iter()
                .copied()
                .find(|&other| columns_of[other as usize] == FIRST_COLUMN && is_subset(own, rows_of(other)))
                .unwrap_or(NO_PARENT)
        })
        .collect();
    // Children of one parent must share no row: a parent whose do keeps
    // none (their rows are then read, as those of any value left over).
    let mut families: Vec<(u32, u32)> = parents
        .iter()
        .enumerate()
        .filter(|&(_, &parent)| parent != NO_PARENT)
        .map(|(child, &parent)| (parent, child as u32))
        .collect();
    families.par_sort_unstable();
    let overlapping: Vec<u32> = families
        .par_chunk_by(|left, right| left.0 == right.0)
        .filter(|family| family.len() > 1)
        .filter_map(|family| {
            let mut rows: Vec<u32> = family.iter().flat_map(|&(_, child)| rows_of(child).iter().copied()).collect();
            let total = rows.len();
            rows.sort_unstable();
            rows.dedup();
            (rows.len() != total).then_some(family[0].0)
        })
        .collect();
    if !overlapping.is_empty() {
        let overlapping: std::collections::HashSet<u32> = overlapping.into_iter().collect();
        parents.iter_mut().filter(|parent| overlapping.contains(parent)).for_each(|parent| *parent = NO_PARENT);
    }
    parents
}

/// Whether every element of the ascending `part` is in the ascending
/// `whole` (galloping through `whole` when it is much longer).
fn is_subset(part: &[u32], whole: &[u32]) -> bool {
    if part.len() > whole.len() {
        return false;
    }
    let mut rest = whole;
    part.iter().all(|row| match rest.binary_search(row) {
        Ok(position) => {
            rest = &rest[position + 1..];
            true
        }
        Err(_) => false,
    })
}

/// Text below which suffixes are listed and sorted on one thread.
const PARALLEL_TEXT: usize = 1 << 16;

/// Every suffix of `text` that begins a character (not a separator), as
/// `(start, value)`, sorted by its bytes up to and including its separator;
/// value `v` starts at `value_starts[v]`.
fn sorted_suffixes(text: &[u8], value_starts: &[u32]) -> Vec<(u32, u32)> {
    // Sort by eight bytes held inline (most comparisons end there, without
    // touching the text), then refine each run of equal keys by the next
    // eight bytes, until the keys reach the separator.
    let suffixes_of = |(value, bounds): (usize, &[u32])| {
        let separator = bounds[1] as usize - 1;
        suffix_starts(text, bounds[0]..bounds[1])
            .map(move |start| (suffix_key(text, start as usize, separator), start, value as u32))
    };
    let separator_of = |value: u32| value_starts[value as usize + 1] as usize - 1;
    let mut keyed: Vec<(u64, u32, u32)>;
    if text.len() < PARALLEL_TEXT {
        // A run's text: one exact allocation, no task splitting.
        keyed = Vec::with_capacity(text.len());
        keyed.extend(value_starts.windows(2).enumerate().flat_map(suffixes_of));
        keyed.sort_unstable_by_key(|&(key, ..)| key);
        keyed.chunk_by_mut(|left, right| left.0 == right.0).for_each(|run| refine(text, run, 8, &separator_of));
    } else {
        keyed = keyed_in_parallel(text, value_starts, suffixes_of);
        keyed.par_sort_unstable_by_key(|&(key, ..)| key);
        keyed.par_chunk_by_mut(|left, right| left.0 == right.0).for_each(|run| refine(text, run, 8, &separator_of));
    }
    keyed.into_iter().map(|(_, start, value)| (start, value)).collect()
}

/// Values whose suffixes one parallel task of [`keyed_in_parallel`] lists.
const VALUES_PER_TASK: usize = 4096;

/// Where the suffixes of the value at `bounds` in `text` (its separator
/// included) start: at every byte beginning a character, the separator
/// aside. Both listing the suffixes and counting them ahead go by it.
fn suffix_starts(text: &[u8], bounds: std::ops::Range<u32>) -> impl Iterator<Item = u32> + '_ {
    (bounds.start..bounds.end.saturating_sub(1).max(bounds.start))
        .filter(move |&start| !is_continuation(text[start as usize]))
}

/// Every value's keyed suffixes (`suffixes_of` each value's number and
/// bounds in `value_starts`, one per [`suffix_starts`]),
/// in value order, listed in parallel straight into their places
/// ([`crate::parts`]): each task's are counted first.
fn keyed_in_parallel<Keyed, Suffixes>(
    text: &[u8],
    value_starts: &[u32],
    suffixes_of: impl Fn((usize, &[u32])) -> Suffixes + Sync,
) -> Vec<Keyed>
where
    Keyed: Copy + Default + Send,
    Suffixes: Iterator<Item = Keyed>,
{
    let value_count = value_starts.len().saturating_sub(1);
    let starts_of = |value: usize| suffix_starts(text, value_starts[value]..value_starts[value + 1]);
    let parts: Vec<(std::ops::Range<usize>, usize)> = crate::parts::ranges(value_count, VALUES_PER_TASK)
        .into_par_iter()
        .map(|values| {
            let count = values.clone().map(|value| starts_of(value).count()).sum();
            (values, count)
        })
        .collect();
    let mut keyed = vec![Keyed::default(); parts.iter().map(|(_, count)| count).sum()];
    crate::parts::fill_parts(&mut keyed, parts, |values, place| {
        let mut listed = values.flat_map(|value| suffixes_of((value, &value_starts[value..value + 2])));
        for slot in place.iter_mut() {
            *slot = listed.next().expect("a value's suffixes, as many as counted");
        }
        assert!(listed.next().is_none(), "a value's suffixes, as many as counted");
    });
    keyed
}

/// The sorted suffixes of the values starting at `value_starts` in `text`
/// (as [`sorted_suffixes`] gives them), merged from the sorted suffixes of
/// `sources` where one of them searched the same value, with the suffixes
/// of the other values sorted apart and merged in. `None` when there is no
/// source, or when one's searched values cannot be told apart.
fn merged_suffixes(text: &[u8], value_starts: &[u32], sources: &[&TextIndex]) -> Option<Vec<(u32, u32)>> {
    const NONE: u32 = u32::MAX;
    if sources.is_empty() {
        return None;
    }
    let value_count = value_starts.len() - 1;
    let value_text = |value: usize| &text[value_starts[value] as usize..value_starts[value + 1] as usize - 1];
    // The first source searching each value gives its suffixes.
    let mut owner = vec![NONE; value_count];
    let mut streams: Vec<Vec<(u32, u32)>> = Vec::with_capacity(sources.len() + 1);
    for (number, source) in sources.iter().enumerate() {
        // Per value of the source: our value with the same text and where
        // its text starts in the source's text.
        let mut ours = vec![(NONE, 0u32); source.value_count()];
        let searched = source.searched_values();
        let mut value = 0;
        for (index, &(source_value, start)) in searched.iter().enumerate() {
            let end = searched.get(index + 1).map_or(source.text.len(), |next| next.1 as usize) - 1;
            let source_text = &source.text[start as usize..end];
            while value < value_count && value_text(value) < source_text {
                value += 1;
            }
            if value < value_count && value_text(value) == source_text && owner[value] == NONE {
                owner[value] = number as u32;
                ours[source_value as usize] = (value as u32, start);
            }
        }
        let stream = source
            .suffixes
            .to_vec()
            .into_iter()
            .filter_map(|(start, source_value)| {
                let (value, value_start) = ours[source_value as usize];
                (value != NONE).then(|| (value_starts[value as usize] + (start - value_start), value))
            })
            .collect();
        streams.push(stream);
    }
    // The values no source searched: sorted on their own.
    let fresh: Vec<u32> = (0..value_count as u32).filter(|&value| owner[value as usize] == NONE).collect();
    if !fresh.is_empty() {
        let (fresh_text, fresh_starts) = texts_of(text, value_starts, &fresh);
        let stream = sorted_suffixes(&fresh_text, &fresh_starts)
            .into_iter()
            .map(|(start, index)| {
                let value = fresh[index as usize];
                (value_starts[value as usize] + (start - fresh_starts[index as usize]), value)
            })
            .collect();
        streams.push(stream);
    }
    Some(merge_sorted_suffixes(text, value_starts, streams))
}

/// The texts of `values` (each closed by its separator, as `text` holds
/// them from `value_starts`) back to back, with where each starts and,
/// last, the end.
fn texts_of(text: &[u8], value_starts: &[u32], values: &[u32]) -> (Vec<u8>, Vec<u32>) {
    let mut texts = Vec::new();
    let mut starts = Vec::with_capacity(values.len() + 1);
    for &value in values {
        starts.push(texts.len() as u32);
        texts
            .extend_from_slice(&text[value_starts[value as usize] as usize..value_starts[value as usize + 1] as usize]);
    }
    starts.push(texts.len() as u32);
    (texts, starts)
}

/// Merges lists of `(start, value)` suffixes of `text`, each sorted by its
/// bytes up to its value's separator, into one: heads compare by their
/// first eight bytes, held beside them, and read the text only on a tie.
fn merge_sorted_suffixes(text: &[u8], value_starts: &[u32], mut streams: Vec<Vec<(u32, u32)>>) -> Vec<(u32, u32)> {
    let separator_of = |value: u32| value_starts[value as usize + 1] as usize - 1;
    let head_of = |&(start, value): &(u32, u32)| (suffix_key(text, start as usize, separator_of(value)), start, value);
    let precedes = |left: &(u64, u32, u32), right: &(u64, u32, u32)| match left.0.cmp(&right.0) {
        std::cmp::Ordering::Equal if !left.0.to_be_bytes().contains(&SEPARATOR) => {
            text[left.1 as usize..=separator_of(left.2)] < text[right.1 as usize..=separator_of(right.2)]
        }
        order => order == std::cmp::Ordering::Less,
    };
    streams.retain(|stream| !stream.is_empty());
    let mut merged = Vec::with_capacity(streams.iter().map(Vec::len).sum());
    let mut next = vec![0usize; streams.len()];
    let mut heads: Vec<(u64, u32, u32)> = streams.iter().map(|stream| head_of(&stream[0])).collect();
    while streams.len() > 1 {
        let mut first = 0;
        for candidate in 1..streams.len() {
            if precedes(&heads[candidate], &heads[first]) {
                first = candidate;
            }
        }
        merged.push((heads[first].1, heads[first].2));
        next[first] += 1;
        match streams[first].get(next[first]) {
            Some(suffix) => heads[first] = head_of(suffix),
            None => {
                streams.swap_remove(first);
                next.swap_remove(first);
                heads.swap_remove(first);
            }
        }
    }
    if let (Some(stream), Some(&from)) = (streams.first(), next.first()) {
        merged.extend_from_slice(&stream[from..]);
    }
    merged
}

/// Eight bytes of a suffix from `start`, big-endian, through the value's
/// `separator` (zeros after it): equal keys mean equal bytes, a smaller key
/// a smaller suffix, and a key holding the separator ends its suffix.
#[inline]
fn suffix_key(text: &[u8], start: usize, separator: usize) -> u64 {
    if let Some(bytes) = text.get(start..start + 8) {
        // Eight bytes at once; those past the separator are zeroed.
        let key = u64::from_be_bytes(bytes.try_into().expect("eight bytes"));
        let kept = separator + 1 - start.min(separator + 1);
        return if kept >= 8 { key } else { key & !(u64::MAX.checked_shr(8 * kept as u32).unwrap_or(0)) };
    }
    let from = start.min(separator + 1);
    let to = (from + 8).min(separator + 1);
    let mut bytes = [0u8; 8];
    bytes[..to - from].copy_from_slice(&text[from..to]);
    u64::from_be_bytes(bytes)
}

/// Orders a run of suffixes whose first `depth` bytes are equal (and that
/// all go on past them) by their next eight bytes, then each run of those
/// that are still equal, and so on.
fn refine(text: &[u8], run: &mut [(u64, u32, u32)], depth: usize, separator_of: &impl Fn(u32) -> usize) {
    if run.len() < 2 || run[0].0.to_be_bytes().contains(&SEPARATOR) {
        return; // alone, or equal through the separator: equal suffixes
    }
    for entry in run.iter_mut() {
        entry.0 = suffix_key(text, entry.1 as usize + depth, separator_of(entry.2));
    }
    run.sort_unstable_by_key(|&(key, ..)| key);
    for equal in run.chunk_by_mut(|left, right| left.0 == right.0) {
        refine(text, equal, depth + 8, separator_of);
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
        assert_eq!(rows("m"), [0, 3], "a needle at the end of a value");
        assert_eq!(rows("aab"), [2], "a needle that is a whole value");
        assert_eq!(rows("aabx"), Vec::<u32>::new(), "a needle running past a value's end");
        assert_eq!(index.search("example").1.values_matched, 1, "the address is covered by the name beside it");
        assert_eq!(index.search("xa").1.values_matched, 2);
        assert_eq!(index.search("ë").1.values_matched, 1, "searches may start inside a word");
    }

    #[test]
    fn contained_values_with_covered_rows_keep_no_row_list() {
        // "a@x" sits inside "ann a@x" on rows 0 and 1, but alone on row 2:
        // it keeps its rows. "b@y" sits inside "bob b@y" on every row it has.
        let names = column(&[Some("Ann a@x"), Some("ANN A@X"), None, Some("Bob b@y"), Some("Bob b@y")]);
        let addresses = column(&[Some("a@x"), Some("a@x"), Some("a@x"), Some("b@y"), None]);
        let index = TextIndex::build(&[&names, &addresses], 5);
        let rows = |needle: &str| index.search(needle).0.iter().collect::<Vec<u32>>();
        assert_eq!(rows("a@x"), [0, 1, 2]);
        assert_eq!(rows("b@"), [3, 4]);
        assert_eq!(index.search("b@").1.values_matched, 1, "a covered value is not searched");
        assert_eq!(index.search("b@").1.rows_read, 2, "the covered address reads no rows");
        assert_eq!(index.search("a@").1.rows_read, 5, "an address with a row of its own is read");
    }

    /// The count of `needle`'s live rows by [`TextMatch::count_less`], with
    /// `dead` rows of which the first `frozen` are tallied.
    fn count_of(index: &TextIndex, needle: &str, dead: &[u32], frozen: usize) -> Option<u64> {
        let tallied: RoaringBitmap = dead[..frozen].iter().copied().collect();
        let tally = if frozen == 0 { Vec::new() } else { index.tally(&tallied) };
        index.find(needle).count_less(&tally, &|row| dead.contains(&row), dead[frozen..].iter().copied())
    }

    #[test]
    fn counts_without_rows_where_rows_cannot_overlap() {
        let names = column(&[
            Some("Ann a@x"),
            Some("Ann a@x"),
            Some("Bob b@y"),
            Some("Ann c@z"),
            None,
            Some("Ann a@x"),
            Some("Ann q"),
            Some("Bob"),
        ]);
        let addresses = column(&[
            Some("a@x"),
            Some("ann@work"),
            Some("b@y"),
            Some("c@z"),
            Some("ann's home"),
            Some("ann@work"),
            Some("ann shared"),
            Some("ann shared"),
        ]);
        let index = TextIndex::build(&[&names, &addresses], 8);
        let count = |needle: &str| count_of(&index, needle, &[], 0);
        // "ann@work" is only ever written beside "Ann a@x": its parent.
        assert_eq!(count("work"), Some(2), "a child whose parent did not match counts by itself");
        // Left over: "ann's home" (no name beside it) and "ann shared"
        // (beside two names), whose row 6 "ann q" counts already.
        assert_eq!(count("ann"), Some(7), "the child inside its matched parent; the left-over rows read");
        assert_eq!(index.search("ann").1.rows_read, 8, "the union skips the child too");
        assert_eq!(count("ann "), Some(6));
        assert_eq!(count("shared"), Some(2));
        assert_eq!(count("home"), Some(1), "one column");
        assert_eq!(count("zzz"), Some(0));
        assert_eq!(count_of(&index, "ann", &[1, 4], 1), Some(5), "a frozen and a recent dead row");
        assert_eq!(count_of(&index, "work", &[5], 0), Some(1), "a recent dead row");
        let found = index.find("home");
        let holds = |row: u32| index.values_of_row(row).iter().any(|&value| found.is_matched(value));
        assert!(holds(4) && !holds(0), "the row of \"ann's home\" alone");
    }

    #[test]
    fn many_rows_of_one_column_other_than_the_first_are_counted_by_value() {
        // 1,100 rows whose matched values all lie in the second column and
        // have no parent (each beside two names): more left-over entries
        // than are always read, yet one column, so counted by value.
        let names: Vec<Option<String>> = (0..1100).map(|row| Some(format!("n{}", row % 2))).collect();
        let addresses: Vec<Option<String>> = (0..1100).map(|row| Some(format!("home {}", row / 2))).collect();
        fn as_str(values: &[Option<String>]) -> Vec<Option<&str>> {
            values.iter().map(|value| value.as_deref()).collect()
        }
        let (names, addresses) = (column(&as_str(&names)), column(&as_str(&addresses)));
        let index = TextIndex::build(&[&names, &addresses], 1100);
        assert_eq!(count_of(&index, "home", &[], 0), Some(1100));
    }

    #[test]
    fn children_sharing_a_row_have_no_parent() {
        // Both addresses of row 0 lie inside "Ann"'s rows, and share row 0.
        let names = column(&[Some("Ann"), Some("Ann"), Some("Bob")]);
        let origins = column(&[Some("ann@home"), Some("ann@home"), None]);
        let destinations = column(&[Some("ann@work"), None, Some("bob@work")]);
        let index = TextIndex::build(&[&names, &origins, &destinations], 3);
        assert!(index.parents.iter().all(|&parent| parent == NO_PARENT));
        assert_eq!(count_of(&index, "ann@", &[], 0), Some(2), "the shared row counted once");
        assert_eq!(count_of(&index, "@work", &[], 0), Some(2), "one column");
    }

    /// A value of a text column, from a few letters (some non-ASCII and
    /// upper-case), so that values contain one another and suffixes share
    /// their first eight bytes.
    fn text_value() -> impl proptest::strategy::Strategy<Value = Option<String>> {
        use proptest::prelude::*;
        let letter = proptest::sample::select(vec!["a", "a", "a", "b", "A", "é", "@", " "]);
        prop_oneof![1 => Just(None), 5 => proptest::collection::vec(letter, 1..14).prop_map(|letters| Some(letters.concat()))]
    }

    /// Needles of one to three of the letters [`text_value`] draws from,
    /// lower-cased.
    fn needles() -> impl proptest::strategy::Strategy<Value = Vec<String>> {
        use proptest::prelude::*;
        let letters = proptest::collection::vec(proptest::sample::select(vec!["a", "b", "é", "@", " "]), 1..4);
        proptest::collection::vec(letters.prop_map(|letters| letters.concat().to_lowercase()), 1..6)
    }

    /// The index of three text columns, a row's values in each.
    fn index_of(rows: &[[Option<String>; 3]]) -> TextIndex {
        let make = |field: usize| column(&rows.iter().map(|row| row[field].as_deref()).collect::<Vec<_>>());
        let (first, second, third) = (make(0), make(1), make(2));
        TextIndex::build(&[&first, &second, &third], rows.len() as u32)
    }

    /// The count of `needle`'s rows, dead or alive, by
    /// [`TextIndex::count_run`].
    fn run_count_of(index: &TextIndex, needle: &str) -> Option<u64> {
        let searched = crate::index::needle::NeedleTest::new(index, needle);
        let run = index.locate(needle);
        let by_search = index.count_run(&run, &index.shared_of_run(&run), |value| searched.holds_value(value));
        let found = index.matches_of(&run);
        let by_value = index.count_run(&run, &index.shared_of_run(&run), |value| found.is_matched(value));
        assert_eq!(by_search, by_value, "{needle:?}");
        by_search
    }

    #[test]
    fn runs_count_values_held_apart_by_their_sums_and_read_the_shared_ones() {
        let names = column(&[Some("Ann a@x"), Some("Ann a@x"), Some("Anna"), Some("Bob"), None]);
        let addresses = column(&[Some("a@x"), None, Some("anna@home"), Some("b@y"), Some("ann@z")]);
        let index = TextIndex::build(&[&names, &addresses], 5);
        let count = |needle: &str| run_count_of(&index, needle);
        assert_eq!(count("ann a"), Some(2), "one value, two rows");
        assert_eq!(count("n"), Some(4), "row 2 once: \"anna\" and the shared \"anna@home\"; row 4 read");
        assert_eq!(count("@"), Some(5), "every shared address's row read, each once");
        assert_eq!(count("bob"), Some(1));
        assert_eq!(count("b@y"), Some(1), "an address beside a name: read");
        assert_eq!(count("zzz"), Some(0));
        // Addresses whose rows all hold one name: counted by their row
        // counts, unless that name holds the needle too.
        let names = column(&[Some("Ann a@x"), Some("Ann a@x"), Some("Bob Smith")]);
        let addresses = column(&[Some("ann@work"), None, Some("bob@work")]);
        let index = TextIndex::build(&[&names, &addresses], 3);
        assert_eq!(
            index.parents.iter().filter(|&&parent| parent != NO_PARENT).count(),
            2,
            "{:?} {:?}",
            index.parents,
            index.columns_of
        );
        let count = |needle: &str| run_count_of(&index, needle);
        assert_eq!(count("work"), Some(2), "two children, neither parent holding the needle");
        assert_eq!(count("ann"), Some(2), "the child inside its parent's rows");
        assert_eq!(count("@"), Some(3));
        // One address beside two names in 1,100 rows: more rows to read
        // than are worth it.
        let names: Vec<Option<String>> = (0..1100).map(|row| Some(format!("n{}", row % 2))).collect();
        let names = column(&names.iter().map(|name| name.as_deref()).collect::<Vec<_>>());
        let addresses = column(&[Some("shared"); 1100]);
        let index = TextIndex::build(&[&names, &addresses], 1100);
        assert_eq!(run_count_of(&index, "shared"), None);
        assert_eq!(run_count_of(&index, "n1"), Some(550));
    }

    proptest::proptest! {
        /// Wherever [`TextMatch::count_less`] counts, its count is the
        /// number of live rows the search finds, with dead rows frozen
        /// (tallied) and recent; wherever [`TextIndex::count_run`] counts,
        /// its count is the number of rows found, dead or alive.
        #[test]
        fn counts_agree_with_the_rows_found(
            rows in proptest::collection::vec(([text_value(), text_value(), text_value()], 0u8..6), 1..40),
            needles in needles(),
        ) {
            let index = index_of(&rows.iter().map(|(values, _)| values.clone()).collect::<Vec<_>>());
            let dead: Vec<u32> = (0..rows.len() as u32).filter(|&row| rows[row as usize].1 == 0).collect();
            let frozen = dead.len() / 2;
            for needle in needles {
                let live = index.search(&needle).0.iter().filter(|row| !dead.contains(row)).count() as u64;
                let counted = count_of(&index, &needle, &dead, frozen);
                proptest::prop_assert!(counted.is_none_or(|counted| counted == live), "{needle:?}: {counted:?} vs {live}");
                let every = index.search(&needle).0.len();
                let from_run = run_count_of(&index, &needle);
                proptest::prop_assert!(from_run.is_none_or(|rows| rows == every), "{needle:?}: {from_run:?} vs {every}");
                // The needle searched in each value's text agrees with the
                // values gathered from the run.
                let (found, searched) = (index.find(&needle), crate::index::needle::NeedleTest::new(&index, &needle));
                for value in 0..index.value_count() as u32 {
                    proptest::prop_assert_eq!(found.is_matched(value), searched.holds_value(value), "{:?}", needle);
                }
            }
        }

        /// The stretches of the row lists to read are the lists of the
        /// matched values whose rows are their own, each position once,
        /// adjacent lists joined: none empty, none touching the next.
        #[test]
        fn own_stretches_are_the_own_values_lists_joined(
            rows in proptest::collection::vec([text_value(), text_value(), text_value()], 1..40),
            needles in needles(),
        ) {
            let index = index_of(&rows);
            for needle in needles {
                let mut found = index.find(&needle);
                let expected: Vec<usize> = (0..index.value_count() as u32)
                    .filter(|&value| found.is_matched(value) && found.is_own(value))
                    .flat_map(|value| index.row_starts[value as usize] as usize..index.row_starts[value as usize + 1] as usize)
                    .collect();
                let own = found.own_stretches();
                proptest::prop_assert!(own.stretches.iter().all(|stretch| !stretch.is_empty()), "{:?}", own.stretches);
                proptest::prop_assert!(own.stretches.windows(2).all(|pair| pair[0].end < pair[1].start), "{:?}", own.stretches);
                let read: Vec<usize> = own.stretches.iter().flat_map(Clone::clone).collect();
                proptest::prop_assert_eq!(&read, &expected, "{:?}", needle);
                proptest::prop_assert_eq!(own.entries, expected.len());
            }
        }

        /// An index built from the sorted suffixes of its rows' source
        /// indexes holds the same suffixes, in an order as sorted, and
        /// answers every search as one built from nothing.
        #[test]
        fn indexes_reusing_their_sources_agree_with_fresh_ones(
            sources in proptest::collection::vec(proptest::collection::vec([text_value(), text_value(), text_value()], 1..30), 1..4),
            kept in proptest::collection::vec(proptest::bool::weighted(0.7), 120),
            new_rows in proptest::collection::vec([text_value(), text_value(), text_value()], 0..8),
        ) {
            let columns_of = |rows: &[[Option<String>; 3]]| -> Vec<DictColumn> {
                (0..3).map(|field| column(&rows.iter().map(|row| row[field].as_deref()).collect::<Vec<_>>())).collect()
            };
            let build = |columns: &[DictColumn], rows: usize, sources: &[&TextIndex]| {
                TextIndex::build_reusing(&columns.iter().collect::<Vec<_>>(), rows as u32, sources)
            };
            let indexes: Vec<TextIndex> =
                sources.iter().map(|rows| build(&columns_of(rows), rows.len(), &[])).collect();
            // Some rows of each source (the live ones), then new rows.
            let mut merged: Vec<[Option<String>; 3]> =
                sources.iter().flatten().zip(kept.iter().cycle()).filter(|(_, &kept)| kept).map(|(row, _)| row.clone()).collect();
            merged.extend(new_rows);
            let columns = columns_of(&merged);
            let fresh = build(&columns, merged.len(), &[]);
            let reusing = build(&columns, merged.len(), &indexes.iter().collect::<Vec<_>>());
            let mut fresh_suffixes = fresh.suffixes.to_vec();
            let mut reused_suffixes = reusing.suffixes.to_vec();
            let through = |index: &TextIndex, start: u32| {
                let rest = &index.text[start as usize..];
                rest[..=rest.iter().position(|&byte| byte == SEPARATOR).unwrap()].to_vec()
            };
            proptest::prop_assert!(reused_suffixes.windows(2).all(|pair| through(&reusing, pair[0].0) <= through(&reusing, pair[1].0)));
            fresh_suffixes.sort_unstable();
            reused_suffixes.sort_unstable();
            proptest::prop_assert_eq!(fresh_suffixes, reused_suffixes);
            proptest::prop_assert_eq!(&fresh.text, &reusing.text);
            for needle in ["a", "b", "é", "@", " ", "aa", "ab", "a@", "é ", "b a", "ab@", "aaa", "abab", "aaaaaaaa", "aaaaaaaab", "aaaaaaaaaa"] {
                proptest::prop_assert_eq!(fresh.search(needle), reusing.search(needle), "{}", needle);
            }
        }
    }

    #[test]
    fn suffixes_are_sorted_up_to_their_separator() {
        let text = b"ab\xFFabc\xFFb\xFF";
        let suffixes: Vec<u32> = sorted_suffixes(text, &[0, 3, 7, 9]).into_iter().map(|(start, _)| start).collect();
        let through = |start: u32| {
            let rest = &text[start as usize..];
            rest[..=rest.iter().position(|&byte| byte == SEPARATOR).unwrap()].to_vec()
        };
        assert_eq!(suffixes.len(), 6);
        assert!(suffixes.windows(2).all(|pair| through(pair[0]) <= through(pair[1])));
    }

    /// Values of a text long enough to be listed and sorted in parallel,
    /// in several tasks: each suffix starting a character once, with its
    /// value, sorted as a comparison sort of whole suffixes leaves them.
    #[test]
    fn long_texts_list_and_sort_every_suffix_once() {
        let words = ["zoë", "ab", "a", "😀x", "éé", "b c"];
        // Two empty values (a separator alone, no suffix) end one task and
        // begin the next.
        let values: Vec<String> = (0..3 * VALUES_PER_TASK + 5)
            .map(|index| match index {
                _ if index + 1 == VALUES_PER_TASK || index == VALUES_PER_TASK => String::new(),
                _ => format!("{}{}{index}", words[index % words.len()], words[index / 7 % words.len()]),
            })
            .collect();
        let (mut text, mut value_starts) = (Vec::new(), vec![0u32]);
        for value in &values {
            text.extend_from_slice(value.as_bytes());
            text.push(SEPARATOR);
            value_starts.push(text.len() as u32);
        }
        assert!(text.len() >= PARALLEL_TEXT, "the parallel path");
        let through = |start: u32| {
            let rest = &text[start as usize..];
            &rest[..=rest.iter().position(|&byte| byte == SEPARATOR).unwrap()]
        };
        let mut expected: Vec<(u32, u32)> = values
            .iter()
            .enumerate()
            .flat_map(|(value, text)| {
                let start = value_starts[value];
                text.char_indices().map(move |(at, _)| (start + at as u32, value as u32))
            })
            .collect();
        expected.sort_by(|left, right| through(left.0).cmp(through(right.0)).then(left.1.cmp(&right.1)));
        let mut found = sorted_suffixes(&text, &value_starts);
        assert!(found.windows(2).all(|pair| through(pair[0].0) <= through(pair[1].0)), "sorted");
        // Equal suffixes of different values may come in either order.
        found.sort_by(|left, right| through(left.0).cmp(through(right.0)).then(left.1.cmp(&right.1)));
        assert_eq!(found, expected);
    }
}
