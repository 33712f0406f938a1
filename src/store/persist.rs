//! A [`Segment`] as a segment file: its columns and indexes as they are
//! queried, array by array (see docs/FORMAT.md for the order), so that
//! opening one reads them back instead of building them.
//!
//! Two structures are made again on opening, because they are hash tables
//! seeded per process (a fixed seed would let crafted `_id`s or values
//! collide): the `_id` index and the value lookups of the filtered
//! dictionary columns. Each costs one hash per distinct value.
//!
//! *Invariant:* a segment read back answers every request byte for byte
//! as the one written (tests below, and the store tests on reopened
//! directories); every array is checked to fit the others before any is
//! used, so damage that passes the checksums is refused, never a panic at
//! query time.

use std::path::Path;
use std::sync::Arc;

use rayon::prelude::*;

use super::{
    facets_of, ids_hold_no_escape, tagged, text_columns, ContentStorage, Segment, SegmentBuilder, SegmentOrigin,
    BITMAP_FIELDS, PACKED_FIELDS,
};
use crate::column::{Column, DateColumn, DictColumn};
use crate::durable::arrays::{ArrayFileWriter, ArrayReader};
use crate::durable::StoreError;
use crate::index::facets::FacetCounts;
use crate::index::ids::IdIndex;
use crate::index::order::SortedOrder;
use crate::index::text::TextIndex;
use crate::index::ValueIndex;
use crate::model::{DateKey, Field, PerDateKey};
use crate::packed_dates::PackedDates;

impl Segment {
    /// Writes the segment to a new file at `path` and makes it durable
    /// (the caller syncs the directory).
    pub(crate) fn write_file(&self, path: &Path) -> Result<(), StoreError> {
        let mut out = ArrayFileWriter::create(path)?;
        let text = self.built_text();
        out.array(&[u64::from(self.row_count), u64::from(self.plain_ids), u64::from(text.is_some())])?;
        for column in &self.columns {
            match column {
                Column::Dict(column) => column.write_arrays(&mut out)?,
                Column::Enum(column) => out.array(&column.codes)?,
                Column::Date(column) => out.array(&column.values.to_vec())?,
            }
        }
        for index in self.value_indexes.iter().flatten() {
            index.write_arrays(&mut out)?;
        }
        out.bitmaps(&[self.anonymized.clone(), self.read.clone()])?;
        for key in DateKey::ALL {
            self.orders[key].write_arrays(&mut out)?;
        }
        if let Some(text) = text {
            text.write_arrays(&mut out)?;
        }
        out.array(self.facets.cells())?;
        out.finish()
    }

    /// Reads a segment file written by [`Segment::write_file`].
    pub(crate) fn read_file(path: &Path) -> Result<Segment, StoreError> {
        let mut input = ArrayReader::open(path)?;
        let meta = input.values::<u64>()?;
        let [row_count, plain_ids, has_text] = meta[..] else {
            return Err(input.malformed("the segment's header array is not three numbers"));
        };
        let row_count = u32::try_from(row_count).map_err(|_| input.malformed("more rows than a segment can number"))?;
        let mut columns = SegmentBuilder::new().columns;
        for (field, column) in Field::ALL.iter().zip(&mut columns) {
            match column {
                Column::Dict(column) => {
                    *column = DictColumn::read_arrays(&mut input, row_count, *field)?;
                    if column.codec().is_some() && !PACKED_FIELDS.contains(field) {
                        return Err(input.malformed(format!("`{field}` cannot be packed")));
                    }
                }
                Column::Enum(column) => {
                    column.codes = input.bytes()?;
                    let code_count = column.code_count();
                    if column.codes.len() != row_count as usize
                        || column.codes.iter().any(|&code| usize::from(code) >= code_count)
                    {
                        return Err(input.malformed("an enum column does not fit its rows and values"));
                    }
                }
                Column::Date(column) => {
                    *column = DateColumn { values: PackedDates::of(&input.values::<i64>()?) };
                    if column.values.len() != row_count as usize {
                        return Err(input.malformed("a date column does not fit its rows"));
                    }
                }
            }
        }
        let mut value_indexes = Vec::with_capacity(Field::ALL.len());
        for (field, column) in Field::ALL.iter().zip(&columns) {
            value_indexes.push(match column {
                _ if !BITMAP_FIELDS.contains(field) => None,
                Column::Dict(column) => Some(ValueIndex::read_arrays(&mut input, column.dict.len() + 1, row_count)?),
                Column::Enum(column) => Some(ValueIndex::read_arrays(&mut input, column.code_count(), row_count)?),
                Column::Date(_) => return Err(input.malformed("a date column cannot have value bitmaps")),
            });
        }
        let [anonymized, read]: [roaring::RoaringBitmap; 2] =
            input.bitmaps()?.try_into().map_err(|_| input.malformed("two presence bitmaps expected"))?;
        let mut orders = Vec::with_capacity(3);
        for _ in DateKey::ALL {
            orders.push(SortedOrder::read_arrays(&mut input, row_count)?);
        }
        let mut orders = orders.into_iter();
        let orders = PerDateKey::from_fn(|_| orders.next().expect("one order per key"));
        let version = input.version();
        let text = match has_text {
            0 => None,
            _ => Some(TextIndex::read_arrays(&mut input, &text_columns(&columns), row_count)?),
        };
        let facets = FacetCounts::from_cells(input.values::<u64>()?)
            .ok_or_else(|| input.malformed("the facet counts do not have one count per cell"))?;
        // The planner leaves filters out on their word and the facet walk
        // counts from them: they are counted again from the rows (one
        // sequential pass) rather than trusted.
        if facets_of(&columns).cells() != facets.cells() {
            return Err(input.malformed("the facet counts do not agree with the rows"));
        }
        input.finish()?;
        let Column::Dict(id_column) = &columns[Field::Id.index()] else { unreachable!("`_id` is a dictionary") };
        if id_column.dict.len() != row_count as usize
            || !matches!(id_column.codes, crate::dict_codes::DictCodes::RowNumbers { .. })
        {
            return Err(StoreError::corrupt(path, 0, "the `_id` column is not in row order"));
        }
        // Ids said to hold no escape are compared as they are stored (sort
        // ties): the word is derived again, and a file that claims it
        // wrongly is refused as damaged.
        let ids_plain = ids_hold_no_escape(id_column);
        if plain_ids != 0 && !ids_plain {
            return Err(StoreError::corrupt(path, 0, "an `_id` holds an escape that the header says no `_id` holds"));
        }
        let ids = IdIndex::build(row_count, |row| id_column.dict.get(row + 1));
        // The file is whole: the entries are tagged.
        let text = text.map(|text| Arc::new(tagged(text, &columns)));
        // Version 1 stored `content` plainly because it could do nothing
        // else (see `Segment::next_content_storage`).
        let content_storage = match &columns[Field::Content.index()] {
            Column::Dict(content) if content.codec().is_none() => ContentStorage::Plain,
            _ => ContentStorage::Packed,
        };
        Ok(Segment {
            row_count,
            columns,
            ids,
            value_indexes,
            anonymized,
            read,
            orders,
            text: text.map(std::sync::OnceLock::from).unwrap_or_default(),
            text_sources: std::sync::Mutex::new(Vec::new()),
            facets,
            plain_ids: ids_plain,
            cell_ends: std::sync::OnceLock::new(),
            location_cells: std::sync::OnceLock::new(),
            content_storage,
            origin: SegmentOrigin::Read { format: version },
        })
    }

    /// What does not agree between the segment's indexes and its rows:
    /// every index rebuilt from the columns and compared (for `msgdex
    /// check`). Empty when all agree.
    pub(crate) fn disagreements(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let Column::Dict(ids) = &self.columns[Field::Id.index()] else { unreachable!("`_id` is a dictionary") };
        let ids_ascend = (1..self.row_count).all(|row| ids.dict.get(row) < ids.dict.get(row + 1));
        if !ids_ascend {
            problems.push("the rows are not in `_id` order".to_owned());
        }
        for row in 0..self.row_count {
            if self.row_of_id_fragment(ids.dict.get(row + 1)) != Some(row) {
                problems.push(format!("the `_id` index does not find row {row}"));
                break;
            }
        }
        let date_order = self.orders[DateKey::DateTime].rows();
        let value_problems: Vec<String> = Field::ALL
            .par_iter()
            .zip(&self.value_indexes)
            .filter_map(|(field, index)| {
                let index = index.as_ref()?;
                let agrees = match &self.columns[field.index()] {
                    Column::Dict(column) => index.agrees_with(&column.codes, date_order),
                    Column::Enum(column) => index.agrees_with(column.codes.as_slice(), date_order),
                    Column::Date(_) => false,
                };
                (!agrees).then(|| format!("the value index of `{field}` does not agree with its column"))
            })
            .collect();
        problems.extend(value_problems);
        for key in DateKey::ALL {
            if !self.orders[key].agrees_with(&self.dates(key.field()).to_vec()) {
                problems.push(format!("the sorted order of `{}` does not agree with its column", key.field()));
            }
        }
        let present = |field: Field| self.dates(field).iter().map(|value| value != crate::column::NULL_DATE);
        for (field, bitmap) in [(Field::Anonymized, &self.anonymized), (Field::Read, &self.read)] {
            let agrees = bitmap.len() == present(field).filter(|&set| set).count() as u64
                && present(field).enumerate().all(|(row, set)| !set || bitmap.contains(row as u32));
            if !agrees {
                problems.push(format!("the presence bitmap of `{field}` does not agree with its column"));
            }
        }
        if let Some(text) = self.built_text() {
            if !text.agrees_with(&text_columns(&self.columns)) {
                problems.push("the text index does not agree with the searched columns".to_owned());
            }
        }
        // The facet counts need no check here: opening the file counted
        // them again from the rows (`read_file`).
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Engine, FastEngine};

    fn segment_of(text: &str) -> Segment {
        Segment::from_messages(&crate::load_str(text).unwrap()).unwrap()
    }

    const SAMPLE: &str = r#"
{"_id": "b", "channel": "sms", "location": "L1", "correspondent": "Zoë Quinn +447700900001", "date_time": "2024-01-02 10:00:00", "read": "2024-01-03 10:00:00", "tags": ["x", "y"]}
{"_id": "a\"q", "channel": "email", "location": "L2", "correspondent": "Siân Jones sian@example.com", "destination": "sian@example.com", "date_time": "2024-01-01 09:00:00", "anonymized": "2024-02-01 00:00:00"}
{"_id": "c", "direction": "inbound", "delivery_status": "failed", "location": "L1", "modified": "2024-03-01 00:00:00"}
"#;

    #[test]
    fn a_segment_read_back_answers_as_the_one_written() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("base.seg");
        let written = segment_of(SAMPLE);
        written.write_file(&path).unwrap();
        let read = Segment::read_file(&path).unwrap();
        assert!(read.disagreements().is_empty(), "{:?}", read.disagreements());
        let (written, read) = (FastEngine::from_segment(written), FastEngine::from_segment(read));
        for target in [
            "/v1/messages?per_page=100",
            "/v1/messages?filters-q=zo%C3%AB&sort_by=-date_time",
            "/v1/messages?filters-location=L1&sort_by=modified",
            "/v1/messages?filters-read=yes&filters-anonymized=no",
            "/v1/messages?filters-channel=email&filters-location=L2",
            "/v1/messages/a%22q",
        ] {
            assert_eq!(written.respond(target).body, read.respond(target).body, "{target}");
        }
        assert!(read.respond("/v1/messages?filters-location=L1").body.contains("\"item_count\":2"));
    }

    /// A file whose checksums hold but whose facet counts lie (crafted, or
    /// written by a bug) is refused on opening: the planner would otherwise
    /// leave out a filter on their word.
    #[test]
    fn facet_counts_that_disagree_with_the_rows_are_refused() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("base.seg");
        let mut lying = segment_of(SAMPLE);
        let mut facets = FacetCounts::empty();
        lying.facets.cells().iter().enumerate().for_each(|(cell, &count)| {
            (0..count).for_each(|_| facets.add_to_cell((cell + 1) % lying.facets.cells().len()))
        });
        lying.facets = facets;
        lying.write_file(&path).unwrap();
        let Err(refused) = Segment::read_file(&path) else { panic!("the lying counts are refused") };
        let refused = refused.to_string();
        assert!(refused.contains("the facet counts do not agree with the rows"), "{refused}");
        let truthful = directory.path().join("truthful.seg");
        segment_of(SAMPLE).write_file(&truthful).unwrap();
        assert!(Segment::read_file(&truthful).is_ok(), "the true counts are read back");
    }

    /// A file whose checksums hold but whose stored values are not JSON
    /// as msgdex writes it (crafted, or written by a bug) is refused on
    /// opening, naming the field: answers copy stored values as they are.
    #[test]
    fn stored_values_not_written_as_msgdex_writes_them_are_refused() {
        let messages: Vec<crate::Message> = ["a", "b", "c"]
            .into_iter()
            .map(|id| crate::Message {
                content: Some(format!("Dear {id}, \"quoted\" Zoë")),
                tags: Some(vec![id.to_owned(), "x".to_owned()]),
                ..crate::Message::with_id(id)
            })
            .collect();
        let crafted: [(Field, &[u8], &str); 10] = [
            (Field::Content, b"\"raw \x01 control\"", "a string"),
            (Field::Content, b"\"a\"b\"", "a string"),
            (Field::Content, b"unquoted", "a string"),
            (Field::Content, b"\"\xff\"", "a string"),
            (Field::Content, b"\"\\/ escaped the other way\"", "a string"),
            (Field::Content, b"\"\\u0041\"", "a string"),
            (Field::Tags, b"[\"b\",]", "an array of strings"),
            (Field::Tags, b"[\"b\" ,\"x\"]", "an array of strings"),
            (Field::Tags, b"\"b\"", "an array of strings"),
            (Field::Id, b"\"\"", "a non-empty string"),
        ];
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("base.seg");
        for (field, value, shape) in crafted {
            for packed in [false, true] {
                if packed && field != Field::Content {
                    continue;
                }
                let mut segment = Segment::from_messages_with(&messages, ContentStorage::Plain).unwrap();
                let Column::Dict(column) = &mut segment.columns[field.index()] else { unreachable!() };
                let mut values: Vec<&[u8]> = (1..=column.dict.len() as u32).map(|code| column.dict.get(code)).collect();
                values[1] = value;
                column.dict = crate::column::FragmentDict::of_values(&values);
                if packed {
                    column.pack();
                }
                _ = std::fs::remove_file(&path);
                segment.write_file(&path).unwrap();
                let Err(refused) = Segment::read_file(&path) else {
                    panic!("{field} {} is refused", String::from_utf8_lossy(value))
                };
                let refused = refused.to_string();
                let expected = match packed {
                    false => format!("the value of code 2 in `{field}` is not {shape} in JSON as msgdex writes it"),
                    true => "a compressed value is not a string in JSON as msgdex writes it".to_owned(),
                };
                assert!(refused.contains(&expected), "{refused}");
            }
        }
        for storage in [ContentStorage::Plain, ContentStorage::Packed] {
            _ = std::fs::remove_file(&path);
            Segment::from_messages_with(&messages, storage).unwrap().write_file(&path).unwrap();
            let read = FastEngine::from_segment(Segment::read_file(&path).unwrap());
            assert!(read.respond("/v1/messages/b").body.contains(r#""content":"Dear b, \"quoted\" Zoë""#));
        }
    }

    /// Run counts that do not fit the text index's suffixes (crafted, or
    /// written by a bug) are refused on opening: counts would read past
    /// their sums. Counts that fit but are wrong open, and `msgdex check`
    /// finds them.
    #[test]
    fn run_counts_that_do_not_fit_the_suffixes_are_refused() {
        let directory = tempfile::tempdir().unwrap();
        // The sample's segment written to `name` with its text index
        // changed by `tamper`, then read back.
        let written_with = |name: &str, tamper: fn(&mut TextIndex)| {
            let path = directory.path().join(name);
            let mut segment = segment_of(SAMPLE);
            let mut text = TextIndex::build(&text_columns(&segment.columns), segment.row_count);
            tamper(&mut text);
            segment.text = std::sync::OnceLock::from(Arc::new(text));
            segment.write_file(&path).unwrap();
            Segment::read_file(&path)
        };
        let Err(refused) = written_with("misfit.seg", TextIndex::misfit_run_counts) else {
            panic!("the misfit counts are refused")
        };
        assert!(refused.to_string().contains("run counts do not fit its suffixes"), "{refused}");
        let read = written_with("fitting.seg", |_| {}).expect("fitting counts are read back");
        assert!(read.disagreements().is_empty(), "{:?}", read.disagreements());
        let read = written_with("wrong.seg", TextIndex::miscount_run_counts).expect("fitting counts open");
        assert_eq!(read.disagreements(), ["the text index does not agree with the searched columns"]);
    }

    /// The header's word that no `_id` holds an escape is checked: ids
    /// said to be plain are compared as they are stored.
    #[test]
    fn a_header_that_calls_escaped_ids_plain_is_refused() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("base.seg");
        let mut lying = segment_of(SAMPLE);
        assert!(!lying.plain_ids, "the sample has an `_id` with a quote");
        lying.plain_ids = true;
        lying.write_file(&path).unwrap();
        let Err(refused) = Segment::read_file(&path) else { panic!("the lying header is refused") };
        assert!(refused.to_string().contains("an `_id` holds an escape"), "{refused}");
        let plain = directory.path().join("plain.seg");
        let without_escapes = SAMPLE.replace(r#""a\"q""#, r#""aq""#);
        let segment = segment_of(&without_escapes);
        assert!(segment.plain_ids);
        segment.write_file(&plain).unwrap();
        assert!(Segment::read_file(&plain).is_ok(), "a true header is read back");
    }

    #[test]
    fn a_mapped_arena_is_checked_and_answers_in_place() {
        let messages: Vec<crate::Message> = (0..700)
            // `download_id` is stored plainly (`content` is packed, and
            // this text would pack to less than the mapping threshold).
            .map(|number| crate::Message {
                download_id: Some(format!("{number:04} {}", "ab".repeat(1000))),
                ..crate::Message::with_id(format!("m{number:04}"))
            })
            .collect();
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("base.seg");
        Segment::from_messages(&messages).unwrap().write_file(&path).unwrap();
        let read = Segment::read_file(&path).unwrap();
        assert!(matches!(read.dict(Field::DownloadId).dict.arena(), crate::arena::Arena::Mapped(_)), "mapped");
        let engine = FastEngine::from_segment(read);
        assert!(engine.respond("/v1/messages/m0123").body.contains("\"0123 abab"));
        // A flipped bit in the middle of the mapped text is refused.
        let mut bytes = std::fs::read(&path).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x08;
        std::fs::write(&path, &bytes).unwrap();
        assert!(matches!(Segment::read_file(&path), Err(StoreError::Corrupt { .. })));
    }

    #[test]
    fn an_empty_segment_round_trips() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("empty.seg");
        Segment::from_messages(&[]).unwrap().write_file(&path).unwrap();
        let read = FastEngine::from_segment(Segment::read_file(&path).unwrap());
        assert_eq!(read.message_count(), 0);
        assert_eq!(read.respond("/v1/messages?filters-q=x").status, 200);
    }

    #[test]
    fn every_flipped_bit_is_found() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("base.seg");
        segment_of(SAMPLE).write_file(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        // Every byte of the file, one bit each: the header, every array, the
        // padding between them (zeros, checked as part of no checksum, so a
        // flip there is harmless and may pass) and the table.
        let mut refused = 0;
        for position in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[position] ^= 1 << (position % 8);
            std::fs::write(&path, &damaged).unwrap();
            match Segment::read_file(&path) {
                Err(StoreError::Corrupt { .. } | StoreError::Version { .. }) => refused += 1,
                Err(other) => panic!("byte {position}: {other}"),
                Ok(segment) => {
                    // Only padding may change unnoticed; the data must be intact.
                    assert!(segment.disagreements().is_empty(), "byte {position} changed the data unnoticed");
                }
            }
        }
        assert!(refused * 10 > bytes.len() * 9, "{refused} of {} flips refused", bytes.len());
    }
}
