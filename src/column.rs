//! Column types of the store: one column per message field, each holding a
//! value per row in the shape that makes output a copy and filtering a
//! bitmap lookup.
//!
//! ```text
//!  DictColumn (every string and string-list field, and _id)
//!    codes:  [3, 0, 1, 3, 2, …]        a code per row, 0 = null, in one,
//!                                      two or four bytes, or none (DictCodes)
//!    dict:   1 → "\"L1\""  2 → "\"L2\""  3 → "\"Zo\u00eb\""   pre-escaped JSON
//!    lookup: hash(fragment) → code     only where filters need it
//!
//!  EnumColumn:  [1, 2, 0, …]           one byte per row, 0 = null
//!  DateColumn:  [63871…, NULL, …]      i64 seconds, NULL = i64::MIN,
//!                                      held in 4 bytes (PackedDates)
//! ```
//!
//! Values are stored as the exact JSON text they are written as (escaped
//! once, at load), so writing an item is a run of `extend_from_slice`.

use std::hash::BuildHasher;
use std::sync::Arc;

use hashbrown::HashTable;
use rayon::prelude::*;

use crate::arena::Arena;
use crate::dict_codes::DictCodes;
use crate::durable::arrays::{ArrayFileWriter, ArrayReader};
use crate::durable::StoreError;
use crate::fragment_ends::FragmentEnds;
use crate::model::{DateTime, Field, FieldKind, FieldValue};
use crate::packed_dates::PackedDates;
use crate::text_codec::TextCodec;

/// Row-indexed storage for the `null` of a date column.
pub const NULL_DATE: i64 = i64::MIN;

/// Distinct pre-escaped JSON fragments, numbered from 1 in first-seen order
/// (0 is `null`), stored back to back in one arena.
#[derive(Debug, Default)]
pub struct FragmentDict {
    bytes: Arena,
    /// `ends` says where fragment `i + 1` lies in `bytes` (its span `i`).
    ends: FragmentEnds,
}

impl FragmentDict {
    /// The JSON text of `code` (`null` for 0).
    #[inline]
    pub fn get(&self, code: u32) -> &[u8] {
        match code {
            0 => b"null",
            _ => &self.bytes[self.ends.span(code as usize - 1)],
        }
    }

    /// Starts loading where `code`'s text is placed (see
    /// [`crate::sys::prefetch`]).
    #[inline]
    pub fn prefetch(&self, code: u32) {
        if code > 1 {
            self.ends.prefetch(code as usize - 2);
        }
    }

    /// The number of distinct non-null values.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are no non-null values.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    fn push(&mut self, fragment: &[u8]) -> u32 {
        self.push_written(|bytes| bytes.extend_from_slice(fragment))
    }

    /// Adds the value `write` appends to the arena; returns its code.
    fn push_written(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> u32 {
        let bytes = self.bytes.owned();
        write(bytes);
        self.ends.push(bytes.len());
        self.ends.len() as u32
    }

    /// The text of every value, back to back.
    #[cfg(test)]
    pub(crate) fn arena(&self) -> &Arena {
        &self.bytes
    }

    /// The bytes of text held (every value's, back to back).
    pub fn text_len(&self) -> usize {
        self.bytes.len()
    }

    /// Makes room for `values` more values of `bytes` bytes in all, so that
    /// a copy of other dictionaries' values fills the arena without
    /// doubling it (each doubling copies every byte and touches new pages).
    pub(crate) fn reserve(&mut self, values: usize, bytes: usize) {
        self.ends.reserve(values);
        self.bytes.owned().reserve(bytes);
    }

    /// A dictionary of the same values in the same order, each as `encode`
    /// writes it, encoded in parallel.
    fn transcoded(&self, encode: impl Fn(&[u8], &mut Vec<u8>) + Sync) -> FragmentDict {
        self.transcoded_in(self.len(), |index| index as u32 + 1, encode)
    }

    /// A dictionary of `count` values, value `i + 1` being this one's
    /// value `code_at(i)` (not `null`) as `encode` writes it, encoded in
    /// parallel.
    fn transcoded_in(
        &self,
        count: usize,
        code_at: impl Fn(usize) -> u32 + Sync,
        encode: impl Fn(&[u8], &mut Vec<u8>) + Sync,
    ) -> FragmentDict {
        // Encoded lengths are known only once encoded: each task encodes
        // into a buffer of its own, which is then copied into its place in
        // parallel and dropped ([`crate::parts`]).
        let chunks: Vec<(Vec<u8>, Vec<usize>)> = crate::parts::ranges(count, CHUNK)
            .into_par_iter()
            .map(|indexes| {
                let mut bytes = Vec::new();
                let mut ends = Vec::with_capacity(indexes.len());
                for index in indexes {
                    encode(self.get(code_at(index)), &mut bytes);
                    ends.push(bytes.len());
                }
                (bytes, ends)
            })
            .collect();
        let mut ends = FragmentEnds::default();
        ends.reserve(count);
        let mut base = 0;
        let parts: Vec<(Vec<u8>, usize)> = chunks
            .into_iter()
            .map(|(chunk_bytes, chunk_ends)| {
                chunk_ends.iter().for_each(|end| ends.push(base + end));
                base += chunk_bytes.len();
                let length = chunk_bytes.len();
                (chunk_bytes, length)
            })
            .collect();
        let mut bytes = vec![0u8; base];
        crate::parts::fill_parts(&mut bytes, parts, |chunk_bytes, place| place.copy_from_slice(&chunk_bytes));
        FragmentDict { bytes: Arena::Owned(bytes), ends }
    }

    /// A dictionary of `count` values, value `i + 1` being this one's
    /// value `code_at(i)` (not `null`) as it is: copied in parallel, each
    /// task's straight into its place of the new arena ([`crate::parts`]).
    fn copied_in(&self, count: usize, code_at: impl Fn(usize) -> u32 + Sync) -> FragmentDict {
        let lengths: Vec<u32> = (0..count).into_par_iter().map(|index| self.get(code_at(index)).len() as u32).collect();
        let mut ends = FragmentEnds::default();
        ends.reserve(count);
        let mut end = 0;
        for &length in &lengths {
            end += length as usize;
            ends.push(end);
        }
        let parts: Vec<(std::ops::Range<usize>, usize)> = crate::parts::ranges(count, CHUNK)
            .into_iter()
            .map(|indexes| {
                let bytes = lengths[indexes.clone()].iter().map(|&length| length as usize).sum();
                (indexes, bytes)
            })
            .collect();
        drop(lengths);
        let mut bytes = vec![0u8; end];
        crate::parts::fill_parts(&mut bytes, parts, |indexes, place| {
            let mut at = 0;
            for index in indexes {
                let value = self.get(code_at(index));
                place[at..at + value.len()].copy_from_slice(value);
                at += value.len();
            }
        });
        FragmentDict { bytes: Arena::Owned(bytes), ends }
    }

    /// Drops the values after the first `len`.
    fn truncate(&mut self, len: usize) {
        if len < self.ends.len() {
            self.ends.truncate(len);
            self.bytes.owned().truncate(self.ends.last());
        }
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.bytes.heap_bytes() + self.ends.heap_bytes()
    }

    /// Writes the arena and the ends (see docs/FORMAT.md).
    pub(crate) fn write_arrays(&self, out: &mut ArrayFileWriter) -> Result<(), StoreError> {
        out.array(&self.bytes[..])?;
        out.array::<u64>(&self.ends.to_u64s())
    }

    /// Reads what [`FragmentDict::write_arrays`] wrote, checking that every
    /// value lies inside the arena, in order.
    pub(crate) fn read_arrays(input: &mut ArrayReader) -> Result<FragmentDict, StoreError> {
        let bytes = input.arena()?;
        let ends: Vec<usize> = bytemuck::allocation::cast_vec(input.values::<u64>()?);
        let in_order = ends.windows(2).all(|pair| pair[0] <= pair[1]);
        if !in_order || ends.last().is_some_and(|&last| last > bytes.len()) {
            return Err(input.malformed("a dictionary's values do not lie in order inside its text"));
        }
        Ok(FragmentDict { bytes, ends: FragmentEnds::from(ends) })
    }
}

#[cfg(test)]
impl FragmentDict {
    /// A dictionary of exactly these stored values (for tests that craft
    /// a file's values).
    pub(crate) fn of_values(values: &[&[u8]]) -> FragmentDict {
        let mut dict = FragmentDict::default();
        values.iter().for_each(|value| _ = dict.push(value));
        dict
    }
}

// `FragmentDict::ends` is written as `u64`s.
const _: () = assert!(std::mem::size_of::<usize>() == 8, "msgdex needs a 64-bit target");

/// The text a stored JSON string fragment (`"…"`, escaped as the store
/// writes it) stands for: borrowed when it holds no escape, which is nearly
/// always, decoded otherwise.
pub fn unescaped(fragment: &[u8]) -> std::borrow::Cow<'_, str> {
    let inner = &fragment[1..fragment.len() - 1];
    if inner.contains(&b'\\') {
        std::borrow::Cow::Owned(serde_json::from_slice(fragment).expect("stored fragments are JSON strings"))
    } else {
        std::borrow::Cow::Borrowed(std::str::from_utf8(inner).expect("stored text is UTF-8"))
    }
}

/// A dictionary-encoded column of strings or string lists.
///
/// A column of mostly unique values (`content`) is built without the
/// dictionary's hash lookup: every value gets a new code, which makes the
/// dictionary a plain text arena. Such a column may also be packed: its
/// dictionary then holds each value compressed by its [`TextCodec`]
/// (see [`DictColumn::pack`]).
#[derive(Debug)]
pub struct DictColumn {
    /// The code of each row's value (0 = `null`), in as few bytes as
    /// the codes need.
    pub codes: DictCodes,
    /// The distinct values as JSON text, or as the codec's frames of it
    /// when the column is packed.
    pub dict: FragmentDict,
    lookup: HashTable<u32>,
    hasher: hashbrown::DefaultHashBuilder,
    deduplicate: bool,
    /// The codec of a packed column's values (only ever on a column
    /// without lookup: a packed value is never compared by its text).
    codec: Option<Arc<TextCodec>>,
}

impl Default for DictColumn {
    fn default() -> Self {
        DictColumn {
            codes: DictCodes::default(),
            dict: FragmentDict::default(),
            lookup: HashTable::new(),
            hasher: hashbrown::DefaultHashBuilder::default(),
            deduplicate: true,
            codec: None,
        }
    }
}

impl DictColumn {
    /// A column that stores every value as new (no lookup by value).
    pub fn arena() -> DictColumn {
        DictColumn { deduplicate: false, ..DictColumn::default() }
    }

    /// The code of `fragment`, adding it if new (compressed, in a packed
    /// column).
    pub fn intern(&mut self, fragment: &[u8]) -> u32 {
        if let Some(codec) = &self.codec {
            return self.dict.push_written(|bytes| codec.compress_into(fragment, bytes));
        }
        if !self.deduplicate {
            return self.dict.push(fragment);
        }
        let hash = self.hasher.hash_one(fragment);
        let DictColumn { dict, lookup, hasher, .. } = self;
        if let Some(&code) = lookup.find(hash, |&code| dict.get(code) == fragment) {
            return code;
        }
        let code = dict.push(fragment);
        lookup.insert_unique(hash, code, |&code| hasher.hash_one(dict.get(code)));
        code
    }

    /// The code of `fragment`, added as new; `Err` with its code when the
    /// column already holds it (a column without lookup adds every value).
    pub fn intern_new(&mut self, fragment: &[u8]) -> Result<u32, u32> {
        let known = self.dict.len();
        match self.intern(fragment) {
            code if code as usize > known => Ok(code),
            code => Err(code),
        }
    }

    /// Forgets the rows after the first `rows` and the values after the
    /// first `values` (those the forgotten rows added), lookup included.
    pub fn truncate(&mut self, rows: usize, values: usize) {
        self.codes.truncate(rows);
        if self.deduplicate {
            for code in values as u32 + 1..=self.dict.len() as u32 {
                let hash = self.hasher.hash_one(self.dict.get(code));
                if let Ok(entry) = self.lookup.find_entry(hash, |&known| known == code) {
                    entry.remove();
                }
            }
        }
        self.dict.truncate(values);
    }

    /// Makes room for `rows` more rows holding up to `values` new values
    /// (so that a column of mostly new values, like `_id`, never rehashes).
    pub fn reserve(&mut self, rows: usize, values: usize) {
        self.codes.reserve(rows);
        if self.deduplicate {
            let DictColumn { dict, lookup, hasher, .. } = self;
            lookup.reserve(values, |&code| hasher.hash_one(dict.get(code)));
            dict.ends.reserve(values);
        }
    }

    /// Makes room for `rows` more rows whose values are `values` (as a
    /// batch of messages gives them): in a column without lookup, for
    /// their text too (each value's length, escapes aside), so that the
    /// arena grows once.
    pub fn reserve_for_values<'a>(&mut self, rows: usize, values: impl Iterator<Item = FieldValue<'a>>) {
        self.reserve(rows, rows);
        if !self.deduplicate {
            let text: usize = values.map(|value| value.unescaped_json_len()).sum();
            self.dict.reserve(rows, text);
        }
    }

    /// Makes room for rows copied from `sources`: `rows` rows, and at most
    /// every value of every source (their count and bytes; in the lookup
    /// too when `looked_up`, as values copied by [`DictColumn::intern`]
    /// are, not by [`DictColumn::push_unique`]).
    pub fn reserve_for_copies<'a>(
        &mut self,
        rows: usize,
        sources: impl Iterator<Item = &'a DictColumn> + Clone,
        looked_up: bool,
    ) {
        let values = sources.clone().map(|source| source.dict.len()).sum();
        self.reserve(rows, if looked_up { values } else { 0 });
        self.dict.reserve(values, sources.map(|source| source.dict.text_len()).sum());
    }

    /// Appends a row holding `fragment` as a new value, without looking it
    /// up or adding it to the lookup: for values known to be new (the
    /// `_id`s of disjoint segments). Afterwards the column finds no value
    /// by its text until [`DictColumn::rebuild_lookup`].
    pub fn push_unique(&mut self, fragment: &[u8]) {
        let code = self.dict.push(fragment);
        self.codes.push(code);
    }

    /// Makes the lookup find every value again (after
    /// [`DictColumn::push_unique`]).
    pub fn rebuild_lookup(&mut self) {
        if !self.deduplicate {
            return;
        }
        let DictColumn { dict, lookup, hasher, .. } = self;
        lookup.clear();
        lookup.reserve(dict.len(), |&code| hasher.hash_one(dict.get(code)));
        for code in 1..=dict.len() as u32 {
            let hash = hasher.hash_one(dict.get(code));
            lookup.insert_unique(hash, code, |&code| hasher.hash_one(dict.get(code)));
        }
    }

    /// Appends a row holding this value.
    pub fn push_value(&mut self, value: FieldValue<'_>, scratch: &mut Vec<u8>) {
        let code = match value {
            FieldValue::Null => 0,
            // Every value is new: written straight into the arena.
            other if !self.deduplicate && self.codec.is_none() => {
                self.dict.push_written(|bytes| other.write_json(bytes))
            }
            other => {
                scratch.clear();
                other.write_json(scratch);
                self.intern(scratch)
            }
        };
        self.codes.push(code);
    }

    /// Writes the codes, the dictionary and whether values are looked up
    /// (see docs/FORMAT.md).
    pub(crate) fn write_arrays(&self, out: &mut ArrayFileWriter) -> Result<(), StoreError> {
        out.array(&self.codes.to_vec())?;
        self.dict.write_arrays(out)?;
        out.array(&[u64::from(self.deduplicate), u64::from(!self.lookup.is_empty()), u64::from(self.codec.is_some())])?;
        match &self.codec {
            Some(codec) => out.array(codec.dictionary()),
            None => Ok(()),
        }
    }

    /// Reads what [`DictColumn::write_arrays`] wrote for `field` in a
    /// segment of `row_count` rows, rebuilding the value lookup where the
    /// segment had one (it is a hash table, seeded per process, so it is
    /// not stored).
    ///
    /// Every value is checked to be the field's JSON exactly as msgdex
    /// writes it: answers copy stored values as they are, and filters
    /// compare them byte for byte.
    pub(crate) fn read_arrays(input: &mut ArrayReader, row_count: u32, field: Field) -> Result<DictColumn, StoreError> {
        let codes = input.values::<u32>()?;
        let dict = FragmentDict::read_arrays(input)?;
        let flags = input.values::<u64>()?;
        // Version 1 files have no third flag: no column of theirs is packed.
        let (deduplicate, looked_up, packed) = match (&flags[..], input.version()) {
            (&[deduplicate, looked_up], 1) => (deduplicate, looked_up, 0),
            (&[deduplicate, looked_up, packed], 2..) => (deduplicate, looked_up, packed),
            _ => return Err(input.malformed("a column's flags are not one number per flag of its version")),
        };
        if codes.len() != row_count as usize
            || dict.len() >= u32::MAX as usize
            || codes.iter().any(|&code| code as usize > dict.len())
        {
            return Err(input.malformed("a column's codes do not fit its rows and dictionary"));
        }
        let codec = match packed {
            0 => {
                let (is_written, shape): (fn(&[u8]) -> bool, &str) = match field.kind() {
                    FieldKind::StringList => (crate::json::is_written_string_list, "an array of strings"),
                    FieldKind::Id => {
                        (|value| value != b"\"\"" && crate::json::is_written_string(value), "a non-empty string")
                    }
                    _ => (crate::json::is_written_string, "a string"),
                };
                let codes = 1..dict.len() as u32 + 1;
                let unwritten =
                    codes.into_par_iter().with_min_len(1024).find_first(|&code| !is_written(dict.get(code)));
                if let Some(code) = unwritten {
                    return Err(input.malformed(format!(
                        "the value of code {code} in `{field}` is not {shape} in JSON as msgdex writes it"
                    )));
                }
                None
            }
            _ if deduplicate != 0 || looked_up != 0 => {
                return Err(input.malformed("a packed column cannot look its values up"));
            }
            _ => {
                let codec = TextCodec::with_dictionary(input.bytes()?).map_err(|reason| input.malformed(&reason))?;
                let frames = (0..dict.len() as u32).into_par_iter().map(|index| dict.get(index + 1));
                codec.check(frames).map_err(|reason| input.malformed(&reason))?;
                Some(Arc::new(codec))
            }
        };
        let mut column = DictColumn {
            codes: DictCodes::from(codes),
            dict,
            deduplicate: deduplicate != 0,
            codec,
            ..DictColumn::default()
        };
        if looked_up != 0 {
            column.rebuild_lookup();
        }
        Ok(column)
    }

    /// The code of a string value, if some row holds it.
    pub fn code_of(&self, value: &str) -> Option<u32> {
        self.code_of_fragment(crate::json::quoted(value).as_bytes())
    }

    /// The code of a value given as its JSON text, if some row holds it.
    pub fn code_of_fragment(&self, fragment: &[u8]) -> Option<u32> {
        let hash = self.hasher.hash_one(fragment);
        self.lookup.find(hash, |&code| self.dict.get(code) == fragment).copied()
    }

    /// Drops the value lookup of a column that no filter needs.
    pub fn drop_lookup(&mut self) {
        self.lookup = HashTable::new();
    }

    /// The stored bytes of a row's value: its JSON text, or in a packed
    /// column its frame ([`DictColumn::write_stored`] writes either).
    #[inline]
    pub fn fragment(&self, row: u32) -> &[u8] {
        self.dict.get(self.codes.get(row as usize))
    }

    /// Appends the JSON text of a value whose stored bytes are `stored`
    /// (as [`FragmentDict::get`] gives them). `null` (code 0) is never
    /// packed, and no frame is the text `null`: every frame starts with
    /// zstd's magic number.
    #[inline]
    pub fn write_stored(&self, stored: &[u8], out: &mut Vec<u8>) {
        match &self.codec {
            Some(codec) if stored != b"null" => codec.write_text(stored, out),
            _ => out.extend_from_slice(stored),
        }
    }

    /// How many bytes [`DictColumn::write_stored`] appends for these stored
    /// bytes (as a packed value's frame declares them).
    #[inline]
    pub fn stored_text_len(&self, stored: &[u8]) -> usize {
        match &self.codec {
            Some(codec) if stored != b"null" => codec.text_len(stored),
            _ => stored.len(),
        }
    }

    /// The codec of a packed column.
    pub fn codec(&self) -> Option<&Arc<TextCodec>> {
        self.codec.as_ref()
    }

    /// Appends to the dictionary the value `code` of `source` and returns
    /// its code here: the stored bytes as they are when both columns store
    /// alike (the same codec, or none), decoded and encoded again
    /// otherwise.
    pub fn copy_value_from(&mut self, source: &DictColumn, code: u32, scratch: &mut Vec<u8>) -> u32 {
        let stored = source.dict.get(code);
        match (&self.codec, &source.codec) {
            _ if code == 0 => 0,
            (Some(mine), Some(theirs)) if Arc::ptr_eq(mine, theirs) => self.dict.push(stored),
            (None, None) => self.intern(stored),
            _ => {
                scratch.clear();
                source.write_stored(stored, scratch);
                self.intern(scratch)
            }
        }
    }

    /// Adds a value given as `codec`'s frame of its JSON text; returns its
    /// code. The frame is copied as it is when this column holds `codec`,
    /// and decoded and stored as this column stores values otherwise.
    pub fn push_frame(&mut self, frame: &[u8], codec: &Arc<TextCodec>) -> u32 {
        match &self.codec {
            Some(mine) if Arc::ptr_eq(mine, codec) => self.dict.push(frame),
            _ => {
                let mut text = Vec::with_capacity(codec.text_len(frame));
                codec.write_text(frame, &mut text);
                self.intern(&text)
            }
        }
    }

    /// Makes this column store its values with `codec` from now on,
    /// compressing those it holds (a builder copying rows from a packed
    /// segment takes the segment's codec, so that the rows' frames are
    /// copied as they are).
    pub fn adopt_codec(&mut self, codec: Arc<TextCodec>) {
        if self.codec.is_none() && !self.deduplicate {
            // An empty dictionary keeps the room reserved for the copies.
            if !self.dict.is_empty() {
                self.dict = self.dict.transcoded(|text, out| codec.compress_into(text, out));
            }
            self.codec = Some(codec);
        }
    }

    /// This column's values numbered by row (row `r` holds value `r + 1`),
    /// copied in parallel into a column without lookup: for a column where
    /// every row holds a value of its own (the `_id`s, once the rows are
    /// sorted by them).
    pub(crate) fn numbered_by_row(&self) -> DictColumn {
        let row_count = self.codes.len();
        debug_assert!((0..row_count).all(|row| self.codes.get(row) != 0), "every row holds a value");
        let mut numbered = DictColumn::arena();
        numbered.dict = self.dict.copied_in(row_count, |row| self.codes.get(row));
        numbered.codes.reserve(row_count);
        for row in 0..row_count as u32 {
            numbered.codes.push(row + 1);
        }
        numbered
    }

    /// Packs a column without lookup: trains a codec on its values and
    /// stores each of them compressed by it (in parallel), numbered in the
    /// order of the rows holding them (see
    /// [`DictColumn::number_in_row_order`]). A packed column keeps its
    /// codec and frames, numbered the same way.
    pub fn pack(&mut self) {
        if self.deduplicate {
            return;
        }
        match &self.codec {
            Some(_) => self.number_in_row_order(|dict, held| dict.copied_in(held.len(), |index| held[index])),
            None => {
                let values: Vec<&[u8]> = (1..=self.dict.len() as u32).map(|code| self.dict.get(code)).collect();
                let codec = Arc::new(TextCodec::train(&values));
                drop(values);
                self.number_in_row_order(|dict, held| {
                    dict.transcoded_in(held.len(), |index| held[index], |text, out| codec.compress_into(text, out))
                });
                self.codec = Some(codec);
            }
        }
    }

    /// Numbers the values of a column without lookup in the order of the
    /// rows holding them, in the dictionary `transcode` makes of the old
    /// one and the codes held, in row order (value `i + 1` of the new one
    /// is the old one's value `held[i]`, stored as it will be): row `r`'s code
    /// becomes the number of rows up to it that are not `null`, so that a
    /// column without `null` (every message has a `content`) holds row
    /// numbers, which take no memory ([`DictCodes`]). Rows were reordered
    /// by `_id` after their values were numbered in arrival order.
    fn number_in_row_order(&mut self, transcode: impl FnOnce(&FragmentDict, &[u32]) -> FragmentDict) {
        debug_assert!(!self.deduplicate, "a value without lookup belongs to one row");
        let held: Vec<u32> = self.codes.iter().filter(|&code| code != 0).collect();
        self.dict = transcode(&self.dict, &held);
        let mut numbered = 0;
        self.codes = self
            .codes
            .iter()
            .map(|code| match code {
                0 => 0,
                _ => {
                    numbered += 1;
                    numbered
                }
            })
            .collect();
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.codes.heap_bytes()
            + self.dict.heap_bytes()
            + self.lookup.capacity() * 5
            + self.codec.as_ref().map_or(0, |codec| codec.heap_bytes())
    }
}

/// An enum column: one byte per row, 0 for `null`, `code + 1` otherwise.
#[derive(Debug)]
pub struct EnumColumn {
    /// Each row's code.
    pub codes: Vec<u8>,
    /// The JSON text of each code, `null` first.
    names: Vec<Vec<u8>>,
}

impl EnumColumn {
    /// An empty column for an enum with these spellings.
    pub fn new<'a>(spellings: impl IntoIterator<Item = &'a str>) -> EnumColumn {
        let mut names = vec![b"null".to_vec()];
        names.extend(spellings.into_iter().map(|spelling| format!("\"{spelling}\"").into_bytes()));
        EnumColumn { codes: Vec::new(), names }
    }

    /// The code of a spelling (`code + 1` of the enum value), if valid.
    pub fn code_of(&self, spelling: &str) -> Option<u8> {
        self.names
            .iter()
            .skip(1)
            .position(|name| &name[1..name.len() - 1] == spelling.as_bytes())
            .map(|position| position as u8 + 1)
    }

    /// Appends a row holding this value (a spelling or `null`).
    pub fn push_value(&mut self, value: FieldValue<'_>) {
        let code = match value {
            FieldValue::Str(spelling) => self.code_of(spelling).expect("loaded enum values are valid"),
            _ => 0,
        };
        self.codes.push(code);
    }

    /// The number of codes, `null` included.
    pub fn code_count(&self) -> usize {
        self.names.len()
    }

    /// The JSON text of a row's value.
    #[inline]
    pub fn fragment(&self, row: u32) -> &[u8] {
        self.name(self.codes[row as usize])
    }

    /// The JSON text of a code.
    #[inline]
    pub fn name(&self, code: u8) -> &[u8] {
        &self.names[usize::from(code)]
    }
}

/// A date/time column: seconds per row, [`NULL_DATE`] for `null`, so that
/// `null` sorts first as integers.
#[derive(Debug, Default)]
pub struct DateColumn {
    /// Each row's value, in four bytes while they fit one window.
    pub values: PackedDates,
}

impl DateColumn {
    /// Appends a row holding this value.
    pub fn push_value(&mut self, value: FieldValue<'_>) {
        self.values.push(match value {
            FieldValue::DateTime(value) => value.seconds(),
            _ => NULL_DATE,
        });
    }

    /// Writes a stored value (seconds, or [`NULL_DATE`]) as JSON.
    #[inline]
    pub fn write_value(&self, value: i64, out: &mut Vec<u8>) {
        match value {
            NULL_DATE => out.extend_from_slice(b"null"),
            seconds => {
                let value = DateTime::from_seconds(seconds).expect("stored date/times are in range");
                out.push(b'"');
                out.extend_from_slice(&value.to_bytes());
                out.push(b'"');
            }
        }
    }
}

/// Values a parallel task of [`FragmentDict::transcoded_in`] and
/// [`FragmentDict::copied_in`] handles.
const CHUNK: usize = 4096;

/// `values` reordered: value `i` of the result is `values[order[i]]`.
pub(crate) fn permuted<T: Copy>(values: &[T], order: &[u32]) -> Vec<T> {
    order.iter().map(|&old| values[old as usize]).collect()
}

/// One field's column.
#[derive(Debug)]
pub enum Column {
    /// Strings, string lists and `_id`.
    Dict(DictColumn),
    /// `channel`, `direction`, `delivery_status`.
    Enum(EnumColumn),
    /// Date/times.
    Date(DateColumn),
}

impl Column {
    /// Appends a row holding this value.
    pub fn push_value(&mut self, value: FieldValue<'_>, scratch: &mut Vec<u8>) {
        match self {
            Column::Dict(column) => column.push_value(value, scratch),
            Column::Enum(column) => column.push_value(value),
            Column::Date(column) => column.push_value(value),
        }
    }

    /// Makes room for `rows` more rows holding up to `values` new values.
    pub fn reserve(&mut self, rows: usize, values: usize) {
        match self {
            Column::Dict(column) => column.reserve(rows, values),
            Column::Enum(column) => column.codes.reserve(rows),
            Column::Date(column) => column.values.reserve(rows),
        }
    }

    /// Starts loading a row's value (see [`crate::sys::prefetch`]).
    #[inline]
    pub fn prefetch_row(&self, row: u32) {
        match self {
            Column::Dict(column) => column.codes.prefetch(row as usize),
            Column::Enum(column) => crate::sys::prefetch(column.codes.as_ptr().wrapping_add(row as usize)),
            Column::Date(column) => column.values.prefetch(row as usize),
        }
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        match self {
            Column::Dict(column) => column.codes.len(),
            Column::Enum(column) => column.codes.len(),
            Column::Date(column) => column.values.len(),
        }
    }

    /// Whether the column has no row.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets the rows after the first `rows` (and, for a dictionary,
    /// the values after the first `values`).
    pub fn truncate(&mut self, rows: usize, values: usize) {
        match self {
            Column::Dict(column) => column.truncate(rows, values),
            Column::Enum(column) => column.codes.truncate(rows),
            Column::Date(column) => column.values.truncate(rows),
        }
    }

    /// The number of distinct values of a dictionary column (0 otherwise).
    pub fn value_count(&self) -> usize {
        match self {
            Column::Dict(column) => column.dict.len(),
            _ => 0,
        }
    }

    /// Reorders the rows: row `i` becomes old row `order[i]`.
    pub fn permute(&mut self, order: &[u32]) {
        match self {
            Column::Dict(column) => column.codes = column.codes.permuted(order),
            Column::Enum(column) => column.codes = permuted(&column.codes, order),
            Column::Date(column) => column.values.permute(order),
        }
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        match self {
            Column::Dict(column) => column.heap_bytes(),
            Column::Enum(column) => column.codes.capacity(),
            Column::Date(column) => column.values.heap_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dictionaries_intern_and_find_values() {
        let mut column = DictColumn::default();
        let mut scratch = Vec::new();
        for value in ["L1", "L2", "L1", "Zoë \"q\""] {
            column.push_value(FieldValue::Str(value), &mut scratch);
        }
        column.push_value(FieldValue::Null, &mut scratch);
        assert_eq!(column.codes.to_vec(), [1, 2, 1, 3, 0]);
        assert_eq!(column.fragment(3), "\"Zoë \\\"q\\\"\"".as_bytes());
        assert_eq!(column.fragment(4), b"null");
        assert_eq!(column.code_of("L2"), Some(2));
        assert_eq!(column.code_of("Zoë \"q\""), Some(3));
        assert_eq!(column.code_of("l2"), None);
        let mut column = Column::Dict(column);
        column.permute(&[4, 3, 2, 1, 0]);
        let Column::Dict(column) = column else { unreachable!() };
        assert_eq!(column.codes.to_vec(), [0, 3, 1, 2, 1]);
    }

    /// A packed column of `count` texts, and their JSON.
    fn packed(count: usize) -> (DictColumn, Vec<Vec<u8>>) {
        let mut column = DictColumn::arena();
        let mut scratch = Vec::new();
        let texts: Vec<String> = (0..count)
            .map(|index| {
                format!(
                    "Dear Zoë, about your visit {index}: \"yes\", the garden room is free on day {} at 10.",
                    index % 31
                )
            })
            .collect();
        for text in &texts {
            column.push_value(FieldValue::Str(text), &mut scratch);
        }
        column.push_value(FieldValue::Null, &mut scratch);
        column.pack();
        (column, texts.iter().map(|text| crate::json::quoted(text).into_bytes()).collect())
    }

    fn written(column: &DictColumn, row: u32) -> Vec<u8> {
        let mut out = Vec::new();
        column.write_stored(column.fragment(row), &mut out);
        out
    }

    #[test]
    fn packing_numbers_values_in_row_order_so_that_a_column_without_null_holds_row_numbers() {
        let texts: Vec<String> = (0..3000).map(|index| format!("Dear Zoë, note {index} of the visit")).collect();
        let order: Vec<u32> = (0..texts.len() as u32).rev().collect();
        for with_null in [false, true] {
            let mut column = DictColumn::arena();
            let mut scratch = Vec::new();
            for (row, text) in texts.iter().enumerate() {
                let value = if with_null && row % 7 == 0 { FieldValue::Null } else { FieldValue::Str(text) };
                column.push_value(value, &mut scratch);
            }
            // Reordered as a segment reorders its rows by `_id`.
            let mut column = Column::Dict(column);
            column.permute(&order);
            let Column::Dict(mut column) = column else { unreachable!() };
            column.pack();
            assert_eq!(matches!(column.codes, DictCodes::RowNumbers { .. }), !with_null);
            for (row, &old) in order.iter().enumerate() {
                let expected = if with_null && old % 7 == 0 {
                    b"null".to_vec()
                } else {
                    crate::json::quoted(&texts[old as usize]).into_bytes()
                };
                let mut written = Vec::new();
                column.write_stored(column.fragment(row as u32), &mut written);
                assert_eq!(written, expected, "row {row}");
            }
        }
    }

    #[test]
    fn packed_columns_write_their_values_and_copy_them() {
        let (column, texts) = packed(3000);
        assert!(column.codec().is_some_and(|codec| !codec.dictionary().is_empty()));
        let raw: usize = texts.iter().map(Vec::len).sum();
        assert!(column.dict.text_len() * 2 < raw, "packed: {} of {raw} bytes", column.dict.text_len());
        for (row, text) in texts.iter().enumerate() {
            assert_eq!(written(&column, row as u32), *text);
        }
        assert_eq!(written(&column, texts.len() as u32), b"null");
        // Into a column of the same codec: the frame as it is; into a plain
        // one: the text.
        let mut scratch = Vec::new();
        let mut same = DictColumn::arena();
        same.adopt_codec(Arc::clone(column.codec().unwrap()));
        let mut plain = DictColumn::arena();
        for code in [5, 0, 7] {
            let copied = same.copy_value_from(&column, code, &mut scratch);
            same.codes.push(copied);
            assert_eq!(same.dict.get(copied), column.dict.get(code), "copied as it is");
            let copied = plain.copy_value_from(&column, code, &mut scratch);
            plain.codes.push(copied);
        }
        assert_eq!(written(&plain, 0), texts[4]);
        assert_eq!(written(&plain, 1), b"null");
        assert_eq!(written(&same, 2), texts[6]);
    }

    #[test]
    fn a_frame_is_copied_into_a_column_of_its_codec_and_decoded_into_any_other() {
        let (column, texts) = packed(3000);
        let codec = column.codec().unwrap();
        let frame = column.dict.get(5);
        // A frame of the same text and dictionary that the codec would not
        // write byte for byte (another level): copied, not made again.
        let mut other_level = Vec::with_capacity(zstd_safe::compress_bound(texts[4].len()));
        zstd_safe::CCtx::create().compress_using_dict(&mut other_level, &texts[4], codec.dictionary(), 19).unwrap();
        assert_ne!(other_level, frame);
        let mut same = DictColumn::arena();
        same.adopt_codec(Arc::clone(codec));
        for pushed in [frame, &other_level[..]] {
            let code = same.push_frame(pushed, codec);
            same.codes.push(code);
            assert_eq!(same.dict.get(code), pushed, "copied as it is");
            assert_eq!(written(&same, code - 1), texts[4]);
        }
        // Another codec (trained on other texts), a plain arena, and a
        // deduplicating column each store the text their own way.
        let (trained_apart, _) = packed(2000);
        let mut other = DictColumn::arena();
        other.adopt_codec(Arc::clone(trained_apart.codec().unwrap()));
        for mut into in [other, DictColumn::arena(), DictColumn::default()] {
            let code = into.push_frame(frame, codec);
            into.codes.push(code);
            assert_eq!(written(&into, 0), texts[4]);
        }
        let mut deduplicating = DictColumn::default();
        let first = deduplicating.push_frame(frame, codec);
        assert_eq!(deduplicating.push_frame(frame, codec), first, "looked up by its text");
    }

    #[test]
    fn a_packed_column_reads_back_and_a_damaged_frame_is_refused() {
        let (column, texts) = packed(3000);
        let directory = tempfile::tempdir().unwrap();
        let write = |column: &DictColumn, name: &str| {
            let path = directory.path().join(name);
            let mut out = ArrayFileWriter::create(&path).unwrap();
            column.write_arrays(&mut out).unwrap();
            out.finish().unwrap();
            path
        };
        let read = |path: &std::path::Path| {
            let mut input = ArrayReader::open(path).unwrap();
            DictColumn::read_arrays(&mut input, 3001, Field::Content)
        };
        let back = read(&write(&column, "good")).unwrap();
        assert_eq!(written(&back, 2999), texts[2999]);
        assert_eq!(back.codec().unwrap().dictionary(), column.codec().unwrap().dictionary());
        // A frame damaged before the file's checksums were made: only the
        // check of every frame finds it.
        let mut damaged = DictColumn { codes: column.codes.clone(), ..DictColumn::arena() };
        let mut bytes = column.dict.bytes.to_vec();
        bytes[column.dict.ends.span(1499).end] ^= 0x5a; // the first byte of frame 1501

        damaged.dict = FragmentDict { bytes: Arena::Owned(bytes), ends: column.dict.ends.clone() };
        damaged.codec = column.codec.clone();
        let error = read(&write(&damaged, "damaged")).unwrap_err().to_string();
        assert!(error.contains("a compressed value"), "{error}");
    }

    #[test]
    fn enum_and_date_columns_write_json() {
        let mut channel = EnumColumn::new(["email", "sms"]);
        channel.push_value(FieldValue::Str("sms"));
        channel.push_value(FieldValue::Null);
        assert_eq!(channel.fragment(0), b"\"sms\"");
        assert_eq!(channel.fragment(1), b"null");
        assert_eq!(channel.code_of("email"), Some(1));
        let mut dates = DateColumn::default();
        dates.push_value(FieldValue::DateTime(DateTime::parse("2024-02-29 01:02:03").unwrap()));
        dates.push_value(FieldValue::Null);
        let mut out = Vec::new();
        dates.write_value(dates.values.get(0), &mut out);
        dates.write_value(dates.values.get(1), &mut out);
        assert_eq!(out, b"\"2024-02-29 01:02:03\"null");
    }
}
