//! The columnar store: an immutable, indexed [`Segment`] of messages and the
//! [`SegmentBuilder`] that makes one from loaded batches.
//!
//! Row ids are positions in `_id` byte order, so the default order and every
//! `_id` tie-break are bitmap order and a `u32` compare. A segment never
//! changes once built: it is `Send + Sync` and many threads query it at once.
//! A live store pairs each segment with its [`dead_rows::DeadRows`] (the
//! rows later writes deleted or replaced) instead of changing it.

mod content_storage;
pub mod dead_rows;
mod persist;
pub mod records;

use std::sync::Arc;

use rayon::prelude::*;
use roaring::RoaringBitmap;

use crate::column::{Column, DateColumn, DictColumn, EnumColumn, NULL_DATE};
use crate::index::facets::FacetCounts;
use crate::index::ids::IdIndex;
use crate::index::order::SortedOrder;
use crate::index::row_tags::RowTag;
use crate::index::text::TextIndex;
use crate::index::ValueIndex;
use crate::model::{Channel, DateKey, DeliveryStatus, Direction, Field, FieldKind, Message, PerDateKey};
use crate::packed_dates::PackedDates;
use crate::sys::prefetch;
use crate::text_codec::TextCodec;

pub use content_storage::{ContentStorage, UnknownContentStorage};

/// The Id-like fields with a bitmap per distinct value: the Id list
/// filters but `filters-ids` (whose rows come from the `_id` index).
pub const ID_LIKE_FIELDS: [Field; 7] = [
    Field::CareEnquiry,
    Field::Location,
    Field::LocationContact,
    Field::SentBy,
    Field::ServiceUser,
    Field::ServiceUserContact,
    Field::ReplyTo,
];

/// The enum fields, each with a bitmap per value.
pub const ENUM_FIELDS: [Field; 3] = [Field::Channel, Field::Direction, Field::DeliveryStatus];

/// Fields with a bitmap per distinct value: the Id-like fields, then
/// the enum fields.
pub const BITMAP_FIELDS: [Field; 10] = [
    ID_LIKE_FIELDS[0],
    ID_LIKE_FIELDS[1],
    ID_LIKE_FIELDS[2],
    ID_LIKE_FIELDS[3],
    ID_LIKE_FIELDS[4],
    ID_LIKE_FIELDS[5],
    ID_LIKE_FIELDS[6],
    ENUM_FIELDS[0],
    ENUM_FIELDS[1],
    ENUM_FIELDS[2],
];

/// The closed-set filters, in the order of the facet counts' dimensions
/// ([`crate::index::facets`]): the enum fields, then the two presence
/// filters.
pub const FACET_FIELDS: [Field; 5] = [ENUM_FIELDS[0], ENUM_FIELDS[1], ENUM_FIELDS[2], Field::Anonymized, Field::Read];

/// Fields whose values are mostly unique: stored without deduplication.
const ARENA_FIELDS: [Field; 2] = [Field::Content, Field::DownloadId];

/// Fields stored packed ([`DictColumn::pack`]): compressed per value, for
/// they are most of a store's bytes and only full items show them.
pub(crate) const PACKED_FIELDS: [Field; 1] = [Field::Content];

/// The fields `filters-q` searches.
pub const TEXT_FIELDS: [Field; 3] = [Field::Correspondent, Field::Destination, Field::Origin];

/// An immutable, fully indexed set of messages.
#[derive(Debug)]
pub struct Segment {
    row_count: u32,
    /// One column per field, in canonical order.
    columns: Vec<Column>,
    /// `_id` → row. The `_id` column's dictionary is in row order (code =
    /// row + 1), so a row's `_id` is read without its code.
    ids: IdIndex,
    /// Per field (canonical index): value bitmaps for [`BITMAP_FIELDS`].
    value_indexes: Vec<Option<ValueIndex>>,
    /// Rows whose `anonymized` is set.
    anonymized: RoaringBitmap,
    /// Rows whose `read` is set.
    read: RoaringBitmap,
    /// The sorted order of each date key.
    orders: PerDateKey<SortedOrder>,
    /// The substring index: built with the segment, or (for a live store's
    /// runs, see [`SegmentBuilder::defer_text_index`]) the first time it is
    /// asked for.
    text: std::sync::OnceLock<Arc<TextIndex>>,
    /// The indexes a deferred text index reuses (those of the segments
    /// whose rows this one copied that had theirs), given up once it is
    /// built.
    text_sources: std::sync::Mutex<Vec<Arc<TextIndex>>>,
    facets: FacetCounts,
    /// Whether no `_id` holds a JSON escape: each row's `_id` is then its
    /// stored text between the quotes ([`Segment::plain_id`]).
    plain_ids: bool,
    /// The rows at both ends of each sorted order per facet cell, made
    /// the first time they are asked for (a live store's flusher makes a
    /// run's before publishing it).
    cell_ends: std::sync::OnceLock<crate::index::facets::CellEnds>,
    /// Row counts per facet cell of each `location` (see
    /// [`crate::index::facets::CellCountsByValue`]), made the first time
    /// they are asked for; `None` inside for too many locations.
    location_cells: std::sync::OnceLock<Option<crate::index::facets::CellCountsByValue>>,
    /// How the segment keeps `content` (see [`ContentStorage`]): as it was
    /// built or its file says (plain in a format 1 file, which could hold
    /// nothing else).
    content_storage: ContentStorage,
    /// Where the rows were put together (see [`SegmentOrigin`]).
    origin: SegmentOrigin,
}

/// Where a segment's rows were put together: by this build, or read from a
/// segment file of some format version. A file of an earlier format is
/// written anew by its data directory's next compaction, due at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SegmentOrigin {
    /// Built in this process (a load, a run, a compaction).
    Built,
    /// Read from a segment file of format version `format`.
    Read {
        /// The file's format version.
        format: u32,
    },
}

/// Why messages could not be made into a segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BuildError {
    /// Two messages share an `_id`.
    DuplicateId(String),
    /// A message has an empty `_id`.
    EmptyId,
    /// More messages than a segment can number (`u32` rows).
    TooManyMessages,
    /// A record batch repeats an `_id`: the message at position `repeated`
    /// (0-based, in the order pushed) has the `_id` of the one at `first`.
    RepeatedIdAt {
        /// The earlier message.
        first: u64,
        /// The message repeating its `_id`.
        repeated: u64,
    },
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildError::DuplicateId(id) => {
                write!(f, "the `_id` {id:?} is used by two messages; every `_id` must be unique")
            }
            BuildError::EmptyId => f.write_str("a message has an empty `_id`; every `_id` must be a non-empty string"),
            BuildError::TooManyMessages => f.write_str("a store holds at most 4294967294 messages"),
            BuildError::RepeatedIdAt { first, repeated } => write!(
                f,
                "message {repeated} repeats the `_id` of message {first} (0-based); every `_id` must be unique"
            ),
        }
    }
}

impl std::error::Error for BuildError {}

impl Segment {
    /// Builds a segment from messages (any order).
    pub fn from_messages(messages: &[Message]) -> Result<Segment, BuildError> {
        Segment::from_messages_with(messages, ContentStorage::default())
    }

    /// [`Segment::from_messages`], keeping `content` as `storage` says.
    pub fn from_messages_with(messages: &[Message], storage: ContentStorage) -> Result<Segment, BuildError> {
        let mut builder = SegmentBuilder::new();
        builder.store_content(storage);
        for batch in messages.chunks(8192) {
            builder.push_batch(batch)?;
        }
        Ok(builder.finish())
    }

    /// The number of messages.
    pub fn row_count(&self) -> u32 {
        self.row_count
    }

    /// How the segment keeps `content`.
    pub fn content_storage(&self) -> ContentStorage {
        self.content_storage
    }

    /// Whether the segment was read from a file of an earlier format than
    /// this build writes (a store's next compaction writes it anew).
    pub(crate) fn is_of_an_older_format(&self) -> bool {
        matches!(self.origin, SegmentOrigin::Read { format } if format < crate::durable::arrays::SEGMENT_FORMAT_VERSION)
    }

    /// How the bases made from this one keep `content`, unless the store
    /// is told otherwise: as this one, or for a format 1 file (plain
    /// because nothing else existed, so no choice) the default.
    pub(crate) fn next_content_storage(&self) -> ContentStorage {
        match self.origin {
            SegmentOrigin::Read { format: 1 } => ContentStorage::default(),
            _ => self.content_storage,
        }
    }

    /// The column of a field.
    pub fn column(&self, field: Field) -> &Column {
        &self.columns[field.index()]
    }

    /// The dictionary column of a string-like field.
    pub fn dict(&self, field: Field) -> &DictColumn {
        match self.column(field) {
            Column::Dict(column) => column,
            _ => panic!("`{field}` is not a dictionary column"),
        }
    }

    /// The enum column of an enum field.
    pub fn enum_column(&self, field: Field) -> &EnumColumn {
        match self.column(field) {
            Column::Enum(column) => column,
            _ => panic!("`{field}` is not an enum column"),
        }
    }

    /// The values (by row) of a date/time field.
    pub fn dates(&self, field: Field) -> &PackedDates {
        match self.column(field) {
            Column::Date(column) => &column.values,
            _ => panic!("`{field}` is not a date/time column"),
        }
    }

    /// The sorted order of a date/time sort key.
    pub fn order(&self, key: DateKey) -> &SortedOrder {
        &self.orders[key]
    }

    /// The position of a row in each sorted order.
    pub fn positions_of(&self, row: u32) -> PerDateKey<u32> {
        PerDateKey::from_fn(|key| self.orders[key].position_of(row) as u32)
    }

    /// Makes what [`Segment::positions_of`] reads (each order's inverse
    /// permutation, 4 bytes a row an order) now, so that the first write
    /// marking a row dead does not wait for it.
    pub fn prepare_for_writes(&self) {
        self.orders.values().collect::<Vec<_>>().par_iter().for_each(|order| {
            order.prepare_positions();
        });
    }

    /// The value bitmaps of one of [`BITMAP_FIELDS`].
    pub fn value_index(&self, field: Field) -> &ValueIndex {
        self.value_indexes[field.index()].as_ref().expect("field has value bitmaps")
    }

    /// Rows where a presence-filtered field (`anonymized`, `read`) is set.
    pub fn present(&self, field: Field) -> &RoaringBitmap {
        match field {
            Field::Anonymized => &self.anonymized,
            Field::Read => &self.read,
            other => panic!("`{other}` has no presence bitmap"),
        }
    }

    /// Row counts per combination of the enum and presence filters.
    pub fn facets(&self) -> &FacetCounts {
        &self.facets
    }

    /// The rows at both ends of each sorted order (`created`, `modified`,
    /// `date_time`) per facet cell (see [`crate::index::facets::CellEnds`]).
    pub fn cell_ends(&self) -> &crate::index::facets::CellEnds {
        self.cell_ends.get_or_init(|| {
            let facets = self.facet_columns();
            let cells: Vec<usize> = (0..self.row_count as usize).map(|row| facets.cell(row)).collect();
            let orders = PerDateKey::from_fn(|key| self.dates(key.field()));
            crate::index::facets::CellEnds::build(&cells, orders)
        })
    }

    /// Row counts per facet cell of each `location` code (made now if they
    /// were not); `None` when the segment has too many locations to keep
    /// them.
    pub fn location_cells(&self) -> Option<&crate::index::facets::CellCountsByValue> {
        self.location_cells
            .get_or_init(|| {
                let locations = self.dict(Field::Location);
                let facets = self.facet_columns();
                crate::index::facets::CellCountsByValue::build(
                    locations.codes.iter(),
                    locations.dict.len() + 1,
                    |row| facets.cell(row),
                )
            })
            .as_ref()
    }

    /// The substring index of `filters-q` (built now if it was deferred).
    pub fn text(&self) -> &TextIndex {
        self.text.get_or_init(|| {
            let sources =
                std::mem::take(&mut *self.text_sources.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
            let sources: Vec<&TextIndex> = sources.iter().map(|source| &**source).collect();
            let text = TextIndex::build_reusing(&text_columns(&self.columns), self.row_count, &sources);
            Arc::new(tagged(text, &self.columns))
        })
    }

    /// The substring index if it is built (see [`Segment::text`]).
    pub fn built_text(&self) -> Option<&Arc<TextIndex>> {
        self.text.get()
    }

    /// The row of the message with this `_id`.
    pub fn row_of_id(&self, id: &str) -> Option<u32> {
        self.row_of_id_fragment(crate::json::quoted(id).as_bytes())
    }

    /// The row of the message whose `_id` is this JSON text (as
    /// [`crate::json::quoted`] writes it): for looking one `_id` up in
    /// several segments, quoting it once.
    pub fn row_of_id_fragment(&self, fragment: &[u8]) -> Option<u32> {
        self.ids.find(fragment, |row| self.id_fragment(row))
    }

    /// Starts loading what a lookup of the `_id` with this
    /// [`crate::index::ids::id_hash`] reads first (see
    /// [`Segment::row_of_id_to_mark_dead`]).
    #[inline]
    pub fn prefetch_id(&self, hash: u64) {
        self.ids.prefetch(hash);
    }

    /// [`Segment::row_of_id_fragment`] for an `_id` whose hash is known,
    /// about to be marked dead by a write: what marking it reads of the row (its
    /// facet cell's fields, its place in each sorted order) starts loading
    /// while the `_id` is confirmed.
    pub fn row_of_id_to_mark_dead(&self, fragment: &[u8], hash: u64) -> Option<u32> {
        self.ids.find_hashed_then(
            hash,
            fragment,
            |row| self.id_fragment(row),
            |row| self.prefetch_for_marking_dead(row),
        )
    }

    /// Starts loading what [`Segment::facet_cell`] and
    /// [`Segment::positions_of`] read of a row.
    fn prefetch_for_marking_dead(&self, row: u32) {
        for field in ENUM_FIELDS {
            if let Column::Enum(column) = self.column(field) {
                prefetch(column.codes.as_ptr().wrapping_add(row as usize));
            }
        }
        for field in [Field::Anonymized, Field::Read] {
            if let Column::Date(column) = self.column(field) {
                column.values.prefetch(row as usize);
            }
        }
        for order in self.orders.values() {
            order.prefetch_position(row);
        }
    }

    /// [`Segment::row_of_id`] for a row about to be written out: its values
    /// start loading while the `_id` is confirmed.
    pub fn row_of_id_to_write(&self, id: &str) -> Option<u32> {
        let fragment = crate::json::quoted(id);
        self.ids.find_then(fragment.as_bytes(), |row| self.id_fragment(row), |row| self.prefetch_row(row))
    }

    /// Starts loading every column's value of a row.
    fn prefetch_row(&self, row: u32) {
        self.columns.iter().for_each(|column| column.prefetch_row(row));
    }

    /// The rows of the messages with these `_id`s, given as JSON text
    /// (`ValueFilter::fragments`), in order (`None` for an unknown one); the
    /// lookups overlap their cache misses.
    pub fn rows_of_id_fragments(&self, fragments: &[Box<[u8]>]) -> Vec<Option<u32>> {
        let dict = &self.dict(Field::Id).dict;
        self.ids.find_many(fragments, |row| self.id_fragment(row), |row| dict.prefetch(row + 1))
    }

    /// The stored `_id` (JSON text) of a row.
    pub(crate) fn id_fragment(&self, row: u32) -> &[u8] {
        self.dict(Field::Id).dict.get(row + 1)
    }

    /// The raw `_id` of a row as bytes, when its stored JSON text holds no
    /// escape (the text between the quotes; nothing decoded, nothing
    /// validated again); `None` when it must be unescaped ([`Segment::id_of`]).
    #[inline]
    pub(crate) fn plain_id(&self, row: u32) -> Option<&[u8]> {
        let fragment = self.id_fragment(row);
        let inner = &fragment[1..fragment.len() - 1];
        (self.plain_ids || !inner.contains(&b'\\')).then_some(inner)
    }

    /// The raw `_id` of a row (its stored JSON text, unescaped).
    pub fn id_of(&self, row: u32) -> std::borrow::Cow<'_, str> {
        crate::column::unescaped(self.id_fragment(row))
    }

    /// The facet cell of a row (see [`FacetCounts`]).
    pub fn facet_cell(&self, row: u32) -> usize {
        self.facet_columns().cell(row as usize)
    }

    /// The columns of the facet dimensions, for the cells of many rows.
    pub(crate) fn facet_columns(&self) -> FacetColumns<'_> {
        FacetColumns::of(&self.columns)
    }

    /// Appends the JSON object of a row holding `fields` (canonical order).
    #[inline]
    pub fn write_row(&self, row: u32, fields: &[Field], out: &mut Vec<u8>) {
        self.write_items(&[row], fields, out);
    }

    /// Appends the JSON objects of `rows`, separated by commas, each holding
    /// `fields` (canonical order).
    ///
    /// A row's values live in one array per column, so each value costs a
    /// cache miss or two when the row is cold. The work is done in phases —
    /// every value's code, then every fragment's place, then the copies — so
    /// that the misses of different values overlap instead of following one
    /// another.
    pub fn write_items(&self, rows: &[u32], fields: &[Field], out: &mut Vec<u8>) {
        let columns: Vec<&Column> = fields.iter().map(|field| &self.columns[field.index()]).collect();
        for &row in rows {
            for column in &columns {
                column.prefetch_row(row);
            }
        }
        let mut codes: Vec<i64> = Vec::with_capacity(rows.len() * fields.len());
        for &row in rows {
            codes.extend(columns.iter().map(|column| match column {
                Column::Dict(column) => i64::from(column.codes.get(row as usize)),
                Column::Enum(column) => i64::from(column.codes[row as usize]),
                Column::Date(column) => column.values.get(row as usize),
            }));
        }
        // Where each value's text lies is read at random too: every place
        // starts loading before the first is used.
        for (&code, column) in codes.iter().zip(columns.iter().cycle()) {
            if let Column::Dict(column) = column {
                column.dict.prefetch(code as u32);
            }
        }
        let fragments: Vec<&[u8]> = codes
            .iter()
            .zip(columns.iter().cycle())
            .map(|(&code, column)| match column {
                Column::Dict(column) => column.dict.get(code as u32),
                Column::Enum(column) => column.name(code as u8),
                Column::Date(_) => &[][..],
            })
            .collect();
        for fragment in &fragments {
            prefetch(fragment.as_ptr());
        }
        // Room for every item at once, so that the copies never move what
        // is written: keys, braces and commas, then each value's text.
        let keys: usize = fields.iter().map(|field| KEY_PREFIXES[field.index()][0].len()).sum();
        let values: usize = fragments
            .iter()
            .zip(columns.iter().cycle())
            .map(|(fragment, column)| match column {
                Column::Date(_) => DATE_TEXT_BYTES,
                Column::Dict(column) => column.stored_text_len(fragment),
                Column::Enum(_) => fragment.len(),
            })
            .sum();
        out.reserve(rows.len() * (keys + 2) + values);
        for (index, _) in rows.iter().enumerate() {
            if index > 0 {
                out.push(b',');
            }
            out.push(b'{');
            for (position, (&field, column)) in fields.iter().zip(&columns).enumerate() {
                out.extend_from_slice(KEY_PREFIXES[field.index()][usize::from(position == 0)].as_bytes());
                let value = index * fields.len() + position;
                match column {
                    Column::Date(column) => column.write_value(codes[value], out),
                    Column::Dict(column) => column.write_stored(fragments[value], out),
                    Column::Enum(_) => out.extend_from_slice(fragments[value]),
                }
            }
            out.push(b'}');
        }
    }

    /// Approximate heap bytes of the columns and of the indexes.
    pub fn heap_bytes(&self) -> (usize, usize) {
        let columns = self.columns.iter().map(Column::heap_bytes).sum::<usize>() + self.ids.heap_bytes();
        let indexes = self.value_indexes.iter().flatten().map(ValueIndex::heap_bytes).sum::<usize>()
            + self.anonymized.serialized_size()
            + self.read.serialized_size()
            + self.orders.values().map(SortedOrder::heap_bytes).sum::<usize>()
            + self.text.get().map_or(0, |text| text.heap_bytes())
            + self.location_cells.get().and_then(Option::as_ref).map_or(0, |cells| cells.heap_bytes());
        (columns, indexes)
    }
}

/// The columns `filters-q` searches ([`TEXT_FIELDS`]), in that order.
fn text_columns(columns: &[Column]) -> Vec<&DictColumn> {
    TEXT_FIELDS
        .iter()
        .map(|field| match &columns[field.index()] {
            Column::Dict(column) => column,
            _ => unreachable!("text fields are dictionaries"),
        })
        .collect()
}

/// The rows of an `_id` column in byte order of the raw Ids (not of their
/// escaped JSON text, whose order differs where escapes are): a sort by the
/// first eight bytes held inline, then by the whole Id within runs of equal
/// prefixes.
fn rows_in_id_order(ids: &DictColumn) -> Vec<u32> {
    let raw = |row: u32| crate::column::unescaped(ids.fragment(row));
    let mut keyed: Vec<(u64, u32)> = (0..ids.codes.len() as u32)
        .into_par_iter()
        .map(|row| {
            let id = raw(row);
            let id = id.as_bytes();
            let mut prefix = [0u8; 8];
            let length = id.len().min(8);
            prefix[..length].copy_from_slice(&id[..length]);
            (u64::from_be_bytes(prefix), row)
        })
        .collect();
    keyed.par_sort_unstable_by_key(|&(prefix, _)| prefix);
    keyed.par_chunk_by_mut(|left, right| left.0 == right.0).for_each(|run| {
        if run.len() > 1 {
            run.sort_unstable_by(|left, right| raw(left.1).cmp(&raw(right.1)));
        }
    });
    keyed.into_iter().map(|(_, row)| row).collect()
}

/// The columns of the facet dimensions ([`crate::index::facets`]), read
/// once for many rows.
pub(crate) struct FacetColumns<'a> {
    channel: &'a [u8],
    direction: &'a [u8],
    status: &'a [u8],
    anonymized: &'a PackedDates,
    read: &'a PackedDates,
}

impl<'a> FacetColumns<'a> {
    /// Those of `columns` (one per field, in canonical order).
    fn of(columns: &'a [Column]) -> FacetColumns<'a> {
        let enum_codes = |field: Field| match &columns[field.index()] {
            Column::Enum(column) => column.codes.as_slice(),
            _ => unreachable!("`{field}` is an enum column"),
        };
        let dates = |field: Field| match &columns[field.index()] {
            Column::Date(column) => &column.values,
            _ => unreachable!("`{field}` is a date column"),
        };
        FacetColumns {
            channel: enum_codes(Field::Channel),
            direction: enum_codes(Field::Direction),
            status: enum_codes(Field::DeliveryStatus),
            anonymized: dates(Field::Anonymized),
            read: dates(Field::Read),
        }
    }

    /// The facet cell of `row`.
    #[inline]
    pub(crate) fn cell(&self, row: usize) -> usize {
        crate::index::facets::cell([
            usize::from(self.channel[row]),
            usize::from(self.direction[row]),
            usize::from(self.status[row]),
            usize::from(!self.anonymized.is_null(row)),
            usize::from(!self.read.is_null(row)),
        ])
    }
}

/// The rows of `columns` (one per field, in canonical order) counted per
/// facet cell: what a segment keeps, and what opening its file checks.
pub(crate) fn facets_of(columns: &[Column]) -> FacetCounts {
    let facets = FacetColumns::of(columns);
    FacetCounts::of_cells((0..facets.channel.len()).map(|row| facets.cell(row)))
}

/// The text index over `columns` (one per field, in canonical order),
/// with each row entry tagged with its row's `location` and facet cell
/// (see [`crate::index::row_tags`]), unless a `location` code is too large
/// to pack.
fn tagged(mut text: TextIndex, columns: &[Column]) -> TextIndex {
    let Column::Dict(locations) = &columns[Field::Location.index()] else {
        unreachable!("`location` is a dictionary column")
    };
    let facets = FacetColumns::of(columns);
    let tags: Option<Vec<u32>> = (0..locations.codes.len())
        .into_par_iter()
        .map(|row| RowTag::new(locations.codes.get(row), facets.cell(row)).map(RowTag::word))
        .collect();
    if let Some(tags) = tags {
        text.tag_entries(&tags);
    }
    text
}

/// Whether no `_id` of an `_id` column holds a JSON escape, so that each
/// stored `_id` is its raw text between quotes: what a segment records,
/// and what opening its file checks the record against.
pub(crate) fn ids_hold_no_escape(ids: &DictColumn) -> bool {
    (1..=ids.dict.len() as u32).all(|code| !ids.dict.get(code).contains(&b'\\'))
}

/// The most bytes a stored date/time's JSON takes (`"YYYY-MM-DD hh:mm:ss"`).
const DATE_TEXT_BYTES: usize = 21;

/// `"name":` for every field: `[with a leading comma, without]`.
static KEY_PREFIXES: std::sync::LazyLock<Vec<[String; 2]>> = std::sync::LazyLock::new(|| {
    Field::ALL.iter().map(|field| [format!(",\"{}\":", field.name()), format!("\"{}\":", field.name())]).collect()
});

/// Collects batches of messages into columns (in load order), then sorts
/// the rows by `_id` and builds every index in [`SegmentBuilder::finish`].
/// While building, the `_id` column interns its values, so a repeated `_id`
/// is seen as it is pushed.
#[derive(Debug)]
pub struct SegmentBuilder {
    columns: Vec<Column>,
    /// The segments whose live rows were added, whose text indexes the
    /// new one reuses.
    sources: Vec<Arc<Segment>>,
    /// Whether the `_id` column's lookup holds every `_id` (copied rows'
    /// are added without it: see [`SegmentBuilder::push_live_rows`]).
    id_lookup_complete: bool,
    /// Whether the text index waits until it is first asked for.
    defer_text: bool,
    /// How `content` is stored: [`PACKED_FIELDS`] are packed when the
    /// segment is finished if it says so (never in a live store's runs).
    content_storage: ContentStorage,
}

impl Default for SegmentBuilder {
    fn default() -> Self {
        SegmentBuilder::new()
    }
}

impl SegmentBuilder {
    /// An empty builder.
    pub fn new() -> SegmentBuilder {
        let columns = Field::ALL
            .iter()
            .map(|field| match field.kind() {
                _ if ARENA_FIELDS.contains(field) => Column::Dict(DictColumn::arena()),
                FieldKind::Id | FieldKind::String | FieldKind::StringList => Column::Dict(DictColumn::default()),
                FieldKind::DateTime => Column::Date(DateColumn::default()),
                FieldKind::Channel => Column::Enum(EnumColumn::new(Channel::ALL.iter().map(|value| value.as_str()))),
                FieldKind::Direction => {
                    Column::Enum(EnumColumn::new(Direction::ALL.iter().map(|value| value.as_str())))
                }
                FieldKind::DeliveryStatus => {
                    Column::Enum(EnumColumn::new(DeliveryStatus::ALL.iter().map(|value| value.as_str())))
                }
            })
            .collect();
        SegmentBuilder {
            columns,
            sources: Vec::new(),
            id_lookup_complete: true,
            defer_text: false,
            content_storage: ContentStorage::default(),
        }
    }

    /// Stores `content` as `storage` says ([`ContentStorage::Packed`]
    /// unless told); the segment reports it
    /// ([`Segment::content_storage`]), and its compactions keep it.
    pub fn store_content(&mut self, storage: ContentStorage) {
        self.content_storage = storage;
    }

    /// Leaves the text index to be built the first time it is asked for
    /// ([`Segment::text`]), reusing the indexes its sources have then.
    /// For a live store's runs: most are merged away before any
    /// `filters-q` reaches them, and the substring index is the largest
    /// part of building one (about half of a burst's merging time).
    pub fn defer_text_index(&mut self) {
        self.defer_text = true;
    }

    /// Stores the values of the fields no filter reads by value (all but
    /// the `_id`, the [`BITMAP_FIELDS`], whose bitmaps are per value, and
    /// the [`TEXT_FIELDS`], whose substring index is per distinct value)
    /// as new values each, without deduplicating them: for a live store's
    /// runs, short-lived and rebuilt at every merge, where hashing each
    /// value cost more than its repeats take. Nor are [`PACKED_FIELDS`]
    /// packed. A compaction's base deduplicates them again, and keeps
    /// `content` as the store chose. Call it before adding rows.
    pub fn store_unfiltered_values_plainly(&mut self) {
        self.content_storage = ContentStorage::Plain;
        for (field, column) in Field::ALL.iter().zip(&mut self.columns) {
            let filtered = *field == Field::Id || BITMAP_FIELDS.contains(field) || TEXT_FIELDS.contains(field);
            if let (Column::Dict(dict), false) = (&mut *column, filtered) {
                if dict.codes.is_empty() {
                    *dict = DictColumn::arena();
                }
            }
        }
    }

    /// Makes [`PACKED_FIELDS`] hold their values compressed by `codec` from
    /// now on, if this builder packs them (values already held are
    /// compressed too): a loader that trained `codec` on the first rows
    /// then hands in batches packed by it
    /// ([`RecordBatch::pack_content`](records::RecordBatch::pack_content)),
    /// which are copied as they are, and [`SegmentBuilder::finish`] keeps
    /// it instead of training one on every value.
    pub(crate) fn adopt_content_codec(&mut self, codec: &Arc<TextCodec>) {
        // A codec without a dictionary would hold every later value poorly
        // compressed: `finish` trains one on all of them instead.
        debug_assert!(!codec.dictionary().is_empty(), "an adopted codec has a dictionary");
        if !self.packs() {
            return;
        }
        for field in PACKED_FIELDS {
            if let Column::Dict(column) = &mut self.columns[field.index()] {
                column.adopt_codec(Arc::clone(codec));
            }
        }
    }

    /// The number of messages added so far.
    pub fn len(&self) -> usize {
        self.columns[Field::Id.index()].len()
    }

    /// Whether no message has been added.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Makes room for about `rows` more messages, so that columns and the
    /// `_id` lookup grow once instead of doubling as batches arrive.
    pub fn reserve(&mut self, rows: usize) {
        for (field, column) in Field::ALL.iter().zip(&mut self.columns) {
            match column {
                // Every `_id` is a new value.
                Column::Dict(column) if *field == Field::Id => column.reserve(rows, rows),
                Column::Dict(column) => column.reserve(rows, 0),
                Column::Enum(column) => column.codes.reserve(rows),
                Column::Date(column) => column.values.reserve(rows),
            }
        }
    }

    /// Makes room in every dictionary for the values' text of `rows` rows
    /// in all, extrapolated from the rows added so far (a tenth more for
    /// safety): a loader that knows how many rows are coming grows each
    /// arena once instead of doubling it (each doubling copies every byte
    /// and touches new pages).
    pub fn reserve_text_like_so_far(&mut self, rows: usize) {
        let so_far = self.len();
        if so_far == 0 || rows <= so_far {
            return;
        }
        let scale = (rows - so_far) as f64 / so_far as f64 * 1.1;
        for column in &mut self.columns {
            if let Column::Dict(column) = column {
                let (values, bytes) = (column.dict.len(), column.dict.text_len());
                column.dict.reserve((values as f64 * scale) as usize, (bytes as f64 * scale) as usize);
            }
        }
    }

    /// Adds a batch of messages. A batch with an empty or repeated `_id`
    /// (within itself or with earlier batches) is rejected whole and leaves
    /// the builder as it was.
    pub fn push_batch(&mut self, batch: &[Message]) -> Result<(), BuildError> {
        self.complete_id_lookup();
        let Column::Dict(ids) = &mut self.columns[Field::Id.index()] else { unreachable!("`_id` is a dictionary") };
        let mut batch_ids = std::collections::HashSet::with_capacity(batch.len());
        for message in batch {
            if message.id.is_empty() {
                return Err(BuildError::EmptyId);
            }
            if ids.code_of(&message.id).is_some() || !batch_ids.insert(message.id.as_str()) {
                return Err(BuildError::DuplicateId(message.id.clone()));
            }
        }
        self.push_checked_batch(batch)
    }

    /// Adds a batch whose `_id`s are known to be non-empty and new (the
    /// loader has checked them), skipping the check.
    pub(crate) fn push_checked_batch<M: std::borrow::Borrow<Message> + Sync>(
        &mut self,
        batch: &[M],
    ) -> Result<(), BuildError> {
        if self.len() + batch.len() >= u32::MAX as usize {
            return Err(BuildError::TooManyMessages);
        }
        self.columns.par_iter_mut().enumerate().for_each(|(position, column)| {
            let field = Field::ALL[position];
            let mut scratch = Vec::with_capacity(256);
            // Room for a new value per message: no table grows step by step.
            match &mut *column {
                Column::Dict(dict) => {
                    dict.reserve_for_values(batch.len(), batch.iter().map(|message| message.borrow().get(field)))
                }
                other => other.reserve(batch.len(), batch.len()),
            }
            for message in batch {
                column.push_value(message.borrow().get(field), &mut scratch);
            }
        });
        Ok(())
    }

    /// Adds record batches (rows of values in their stored form; `source`
    /// is the text their source values point into), column by column in
    /// parallel. A repeated `_id` (within the batches or with earlier rows)
    /// rejects them all and leaves the builder as it was, with
    /// [`BuildError::RepeatedIdAt`] naming the first repeat.
    pub fn push_records(&mut self, source: &[u8], batches: &[records::RecordBatch]) -> Result<(), BuildError> {
        use records::StoredValue;
        self.complete_id_lookup();
        let rows_before = self.len();
        let added: usize = batches.iter().map(records::RecordBatch::len).sum();
        if rows_before + added >= u32::MAX as usize {
            return Err(BuildError::TooManyMessages);
        }
        let values_before: Vec<usize> = self.columns.iter().map(Column::value_count).collect();
        let repeated = std::sync::Mutex::new(None);
        self.columns.par_iter_mut().enumerate().for_each(|(position, column)| {
            let rows = batches.iter().flat_map(|batch| (0..batch.len()).map(move |row| (batch, row)));
            match column {
                Column::Dict(column) if position == Field::Id.index() => {
                    column.codes.reserve(added);
                    for (batch, row) in rows {
                        match column.intern_new(batch.text(source, batch.value(row, position))) {
                            Ok(code) => column.codes.push(code),
                            Err(first) => {
                                let repeated_at = (column.codes.len()) as u64;
                                *repeated.lock().expect("no panic holds it") = Some(BuildError::RepeatedIdAt {
                                    first: u64::from(first) - 1,
                                    repeated: repeated_at,
                                });
                                return;
                            }
                        }
                    }
                }
                Column::Dict(column) => {
                    column.codes.reserve(added);
                    for (batch, row) in rows {
                        let code = match batch.value(row, position) {
                            StoredValue::Null => 0,
                            value @ StoredValue::Packed { .. } => {
                                let codec = batch.packed_with().expect("a batch with frames knows their codec");
                                column.push_frame(batch.frame(value), codec)
                            }
                            value => column.intern(batch.text(source, value)),
                        };
                        column.codes.push(code);
                    }
                }
                Column::Enum(column) => {
                    column.codes.extend(rows.map(|(batch, row)| match batch.value(row, position) {
                        StoredValue::Code(code) => code,
                        _ => 0,
                    }))
                }
                Column::Date(column) => {
                    column.values.extend(rows.map(|(batch, row)| match batch.value(row, position) {
                        StoredValue::Seconds(seconds) => seconds,
                        _ => NULL_DATE,
                    }))
                }
            }
        });
        match repeated.into_inner().expect("no panic holds it") {
            None => Ok(()),
            Some(error) => {
                for (column, values) in self.columns.iter_mut().zip(values_before) {
                    column.truncate(rows_before, values);
                }
                Err(error)
            }
        }
    }

    /// Makes the `_id` lookup whole again before `_id`s are checked.
    fn complete_id_lookup(&mut self) {
        if !self.id_lookup_complete {
            let Column::Dict(ids) = &mut self.columns[Field::Id.index()] else { unreachable!("`_id` is a dictionary") };
            ids.rebuild_lookup();
            self.id_lookup_complete = true;
        }
    }

    /// Makes room for copies of `rows` rows of each of `segments` (see
    /// [`SegmentBuilder::push_live_rows`]): each column and dictionary
    /// grows once, to at most the sum of the sources', instead of doubling
    /// as they are copied.
    pub fn reserve_for_copies(&mut self, segments: &[(&Segment, usize)]) {
        let rows = segments.iter().map(|&(_, rows)| rows).sum();
        for (position, column) in self.columns.iter_mut().enumerate() {
            match column {
                Column::Dict(column) => column.reserve_for_copies(
                    rows,
                    segments.iter().map(|(segment, _)| match &segment.columns[position] {
                        Column::Dict(source) => source,
                        _ => unreachable!("both segments have the same column kinds"),
                    }),
                    // Copied `_id`s are not looked up (see `push_live_rows`).
                    position != Field::Id.index(),
                ),
                other => other.reserve(rows, 0),
            }
        }
    }

    /// Adds the rows of `segment` that `deleted` does not name, copying
    /// their stored values as they are (no message is rebuilt). The caller
    /// guarantees their `_id`s are new to this builder, as they are when
    /// compacting the live parts of disjoint segments: they are added
    /// without being looked up (a later batch of messages has the lookup
    /// rebuilt before its `_id`s are checked).
    pub fn push_live_rows(
        &mut self,
        segment: &Arc<Segment>,
        deleted: Option<&dead_rows::DeadRows>,
    ) -> Result<(), BuildError> {
        let rows: Vec<u32> =
            (0..segment.row_count()).filter(|&row| deleted.is_none_or(|deleted| !deleted.contains(row))).collect();
        if self.len() + rows.len() >= u32::MAX as usize {
            return Err(BuildError::TooManyMessages);
        }
        self.id_lookup_complete = false;
        let pack = self.packs();
        self.columns.par_iter_mut().zip(segment.columns.par_iter()).enumerate().for_each(
            |(position, (column, source))| {
                match (column, source) {
                    (Column::Dict(column), Column::Dict(source)) if position == Field::Id.index() => {
                        for &row in &rows {
                            column.push_unique(source.fragment(row));
                        }
                    }
                    (Column::Dict(column), Column::Dict(source)) => {
                        // A packed source's frames are copied as they are,
                        // if it has a dictionary (one packed from a few
                        // messages has none: `finish` trains one again).
                        let packed = pack && PACKED_FIELDS.contains(&Field::ALL[position]);
                        if let (true, Some(codec)) = (packed, source.codec()) {
                            if !codec.dictionary().is_empty() {
                                column.adopt_codec(Arc::clone(codec));
                            }
                        }
                        // Each distinct source value is copied once, then
                        // every row's code is a table lookup.
                        let mut remap = vec![u32::MAX; source.dict.len() + 1];
                        remap[0] = 0;
                        column.codes.reserve(rows.len());
                        let mut scratch = Vec::new();
                        for &row in &rows {
                            let old = source.codes.get(row as usize) as usize;
                            if remap[old] == u32::MAX {
                                remap[old] = column.copy_value_from(source, old as u32, &mut scratch);
                            }
                            column.codes.push(remap[old]);
                        }
                    }
                    (Column::Enum(column), Column::Enum(source)) => {
                        column.codes.extend(rows.iter().map(|&row| source.codes[row as usize]));
                    }
                    (Column::Date(column), Column::Date(source)) => {
                        column.values.extend(rows.iter().map(|&row| source.values.get(row as usize)));
                    }
                    _ => unreachable!("both segments have the same column kinds"),
                }
            },
        );
        self.sources.push(Arc::clone(segment));
        Ok(())
    }

    /// Whether [`PACKED_FIELDS`] are packed when the segment is finished.
    fn packs(&self) -> bool {
        self.content_storage == ContentStorage::Packed
    }

    /// Sorts the rows by `_id` and builds every index.
    pub fn finish(self) -> Segment {
        let row_count = self.len() as u32;
        let pack = self.packs();
        let SegmentBuilder { mut columns, sources, defer_text, content_storage, .. } = self;
        // Only the sources' indexes already built are reused: building one
        // that was deferred would cost more than it saves.
        let text_sources: Vec<Arc<TextIndex>> =
            sources.iter().filter_map(|source| source.built_text().cloned()).collect();
        drop(sources);
        let Column::Dict(ids) = &columns[Field::Id.index()] else { unreachable!("`_id` is a dictionary") };
        let order = rows_in_id_order(ids);
        columns.par_iter_mut().for_each(|column| column.permute(&order));
        drop(order);
        // The `_id` column and the others apart, readied side by side: the
        // `_id` dictionary renumbered in row order (code = row + 1) and
        // indexed, while the others drop the lookups no index needs and
        // `content` is packed.
        let (before_ids, from_ids) = columns.split_at_mut(Field::Id.index());
        let (Column::Dict(id_column), after_ids) = from_ids.split_first_mut().expect("an `_id` column") else {
            unreachable!("`_id` is a dictionary")
        };
        let others = Field::ALL.iter().filter(|&&field| field != Field::Id).zip(before_ids.iter_mut().chain(after_ids));
        let (ids, ()) = rayon::join(
            || {
                *id_column = id_column.numbered_by_row();
                IdIndex::build(row_count, |row| id_column.dict.get(row + 1))
            },
            || {
                for (field, column) in others {
                    if let Column::Dict(dict) = column {
                        if !BITMAP_FIELDS.contains(field) {
                            dict.drop_lookup();
                        }
                        if pack && PACKED_FIELDS.contains(field) {
                            dict.pack();
                        }
                    }
                }
            },
        );
        let columns_ref = &columns;
        let dates = |field: Field| match &columns_ref[field.index()] {
            Column::Date(column) => &column.values,
            _ => unreachable!("date field"),
        };
        let present = |field: Field| {
            let mut bitmap = RoaringBitmap::new();
            for (row, value) in dates(field).iter().enumerate() {
                if value != NULL_DATE {
                    bitmap.try_push(row as u32).expect("rows ascend");
                }
            }
            bitmap.optimize();
            bitmap
        };
        let ((mut value_indexes, orders), ((anonymized, read), text)) = rayon::join(
            || {
                rayon::join(
                    || {
                        Field::ALL
                            .par_iter()
                            .map(|field| {
                                BITMAP_FIELDS.contains(field).then(|| match &columns_ref[field.index()] {
                                    Column::Dict(column) => ValueIndex::build(&column.codes, column.dict.len() + 1),
                                    Column::Enum(column) => {
                                        ValueIndex::build(column.codes.as_slice(), column.code_count())
                                    }
                                    Column::Date(_) => unreachable!("no date field has value bitmaps"),
                                })
                            })
                            .collect::<Vec<_>>()
                    },
                    || PerDateKey::from_fn(|key| SortedOrder::build(&dates(key.field()).to_vec())),
                )
            },
            || {
                rayon::join(
                    || (present(Field::Anonymized), present(Field::Read)),
                    || {
                        let sources: Vec<&TextIndex> = text_sources.iter().map(|source| &**source).collect();
                        (!defer_text).then(|| {
                            let text = TextIndex::build_reusing(&text_columns(columns_ref), row_count, &sources);
                            Arc::new(tagged(text, columns_ref))
                        })
                    },
                )
            },
        );
        // Id-like fields also list each value's rows in date_time order.
        let date_order = orders[DateKey::DateTime].rows();
        value_indexes.par_iter_mut().enumerate().for_each(|(position, index)| {
            if let Column::Dict(column) = &columns_ref[position] {
                *index = index.take().map(|built| built.with_date_lists(&column.codes, date_order));
            }
        });
        let facets = facets_of(&columns);
        let Column::Dict(id_column) = &columns[Field::Id.index()] else { unreachable!("`_id` is a dictionary") };
        let plain_ids = ids_hold_no_escape(id_column);
        Segment {
            row_count,
            columns,
            ids,
            value_indexes,
            anonymized,
            read,
            orders,
            text: text.map(std::sync::OnceLock::from).unwrap_or_default(),
            text_sources: std::sync::Mutex::new(if defer_text { text_sources } else { Vec::new() }),
            facets,
            plain_ids,
            cell_ends: std::sync::OnceLock::new(),
            location_cells: std::sync::OnceLock::new(),
            content_storage,
            origin: SegmentOrigin::Built,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::records::RecordBatch;
    use super::*;
    use crate::{Engine, FastEngine};

    fn batch_of(ids: &[&str]) -> RecordBatch {
        let mut batch = RecordBatch::new();
        for id in ids {
            batch.push_message(&Message { subject: Some(format!("about {id}")), ..Message::with_id(*id) });
        }
        batch
    }

    #[test]
    fn record_batches_reject_a_repeated_id_and_change_nothing() {
        let mut builder = SegmentBuilder::new();
        builder.push_records(b"", &[batch_of(&["a", "b"])]).unwrap();
        let error = builder.push_records(b"", &[batch_of(&["c"]), batch_of(&["d", "b", "e"])]).unwrap_err();
        assert_eq!(error, BuildError::RepeatedIdAt { first: 1, repeated: 4 });
        assert_eq!(builder.len(), 2);
        let error = builder.push_records(b"", &[batch_of(&["x", "x"])]).unwrap_err();
        assert_eq!(error, BuildError::RepeatedIdAt { first: 2, repeated: 3 });
        // The rejected batches left nothing behind: their Ids can come again.
        builder.push_records(b"", &[batch_of(&["c", "d", "e", "x"])]).unwrap();
        let engine = FastEngine::from_segment(builder.finish());
        assert_eq!(engine.message_count(), 6);
        let body = engine.respond("/v1/messages?attributes=subject&per_page=100").body;
        for id in ["a", "b", "c", "d", "e", "x"] {
            assert!(body.contains(&format!(r#"{{"_id":"{id}","subject":"about {id}"}}"#)), "{body}");
        }
        assert_eq!(engine.segment().dict(Field::Subject).dict.len(), 6, "no value of a rejected batch is kept");
    }

    #[test]
    fn text_reserved_like_the_first_rows_holds_the_rest_without_growing() {
        let ids: Vec<String> = (0..1000).map(|number| format!("message-{number:04}")).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let mut builder = SegmentBuilder::new();
        builder.push_records(b"", &[batch_of(&ids[..100])]).unwrap();
        builder.reserve_text_like_so_far(1000);
        let held = |builder: &SegmentBuilder, field: Field| match &builder.columns[field.index()] {
            Column::Dict(column) => column.dict.heap_bytes(),
            _ => unreachable!("a dictionary"),
        };
        let reserved = [held(&builder, Field::Id), held(&builder, Field::Subject)];
        // Each Id and subject is new and as long as the first rows' were.
        assert!(reserved[0] > 900 * b"\"message-0000\"".len(), "{reserved:?}");
        builder.push_records(b"", &[batch_of(&ids[100..])]).unwrap();
        assert_eq!([held(&builder, Field::Id), held(&builder, Field::Subject)], reserved, "no arena grew");
        // Asking for fewer rows than are held changes nothing.
        builder.reserve_text_like_so_far(10);
        assert_eq!([held(&builder, Field::Id), held(&builder, Field::Subject)], reserved);
    }

    #[test]
    fn plainly_stored_values_repeat_where_no_filter_looks_them_up() {
        let messages: Vec<Message> = (0..6)
            .map(|number| Message {
                subject: Some("same subject".into()),
                location: Some(format!("L{}", number % 2)),
                correspondent: Some("Zoë".into()),
                ..Message::with_id(format!("m{number}"))
            })
            .collect();
        let build = |plainly: bool| {
            let mut builder = SegmentBuilder::new();
            if plainly {
                builder.store_unfiltered_values_plainly();
            }
            builder.push_batch(&messages[..3]).unwrap();
            let mut copy = SegmentBuilder::new();
            if plainly {
                copy.store_unfiltered_values_plainly();
            }
            copy.push_live_rows(&Arc::new(builder.finish()), None).unwrap();
            copy.push_batch(&messages[3..]).unwrap();
            FastEngine::from_segment(copy.finish())
        };
        let (plain, deduplicated) = (build(true), build(false));
        let values = |engine: &FastEngine, field: Field| engine.segment().dict(field).dict.len();
        assert_eq!(values(&plain, Field::Subject), 6, "one value per row");
        assert_eq!(values(&deduplicated, Field::Subject), 1);
        for field in [Field::Location, Field::Correspondent] {
            assert_eq!(values(&plain, field), values(&deduplicated, field), "{field:?} is filtered: deduplicated");
        }
        for target in [
            "/v1/messages?attributes=subject&attributes=location&attributes=correspondent",
            "/v1/messages?filters-location=L1&filters-q=zo",
        ] {
            assert_eq!(plain.respond(target).body, deduplicated.respond(target).body, "{target}");
        }
    }

    #[test]
    fn copied_rows_keep_their_ids_checked_against_later_batches() {
        let with_subject = |id: &str| Message { subject: Some(format!("about {id}")), ..Message::with_id(id) };
        let older = Arc::new(Segment::from_messages(&[with_subject("b"), with_subject("a")]).unwrap());
        let newer = Arc::new(Segment::from_messages(&[with_subject("c")]).unwrap());
        let mut builder = SegmentBuilder::new();
        builder.reserve_for_copies(&[(&older, 2), (&newer, 1)]);
        builder.push_live_rows(&older, None).unwrap();
        builder.push_live_rows(&newer, None).unwrap();
        // The copied `_id`s were added without the lookup: a batch repeating
        // one is still refused, and a new one is taken.
        assert_eq!(
            builder.push_batch(&[with_subject("d"), with_subject("a")]),
            Err(BuildError::DuplicateId("a".into()))
        );
        builder.push_batch(&[with_subject("d")]).unwrap();
        let segment = builder.finish();
        for (row, id) in ["a", "b", "c", "d"].iter().enumerate() {
            assert_eq!(segment.row_of_id(id), Some(row as u32));
            let mut out = Vec::new();
            segment.write_row(row as u32, &[Field::Id, Field::Subject], &mut out);
            assert_eq!(String::from_utf8(out).unwrap(), format!(r#"{{"_id":"{id}","subject":"about {id}"}}"#));
        }
    }

    #[test]
    fn a_deferred_text_index_is_built_when_asked_and_answers_as_an_eager_one() {
        let named = |id: &str, name: &str| Message {
            correspondent: Some(name.to_owned()),
            origin: Some(format!("{name}@example.org")),
            ..Message::with_id(id)
        };
        let deferred_segment = |messages: &[Message]| {
            let mut builder = SegmentBuilder::new();
            builder.defer_text_index();
            builder.push_batch(messages).unwrap();
            Arc::new(builder.finish())
        };
        // One source with its index built, one deferred and never asked:
        // the merge reuses only the first.
        let indexed = Arc::new(Segment::from_messages(&[named("a", "Zoë Quinn"), named("b", "Ann Lee")]).unwrap());
        let unindexed = deferred_segment(&[named("c", "Zoe Quinn"), named("d", "ÅSA Berg"), named("e", "Ann Lee")]);
        assert!(indexed.built_text().is_some() && unindexed.built_text().is_none());
        let mut builder = SegmentBuilder::new();
        builder.defer_text_index();
        builder.push_live_rows(&indexed, None).unwrap();
        builder.push_live_rows(&unindexed, None).unwrap();
        let merged = builder.finish();
        assert!(merged.built_text().is_none(), "not built until asked for");
        assert_eq!(merged.text_sources.lock().unwrap().len(), 1, "only the built source index is kept");
        let names = ["Zoë Quinn", "Ann Lee", "Zoe Quinn", "ÅSA Berg", "Ann Lee"];
        let all: Vec<Message> = names.iter().zip(["a", "b", "c", "d", "e"]).map(|(name, id)| named(id, name)).collect();
        let eager = Segment::from_messages(&all).unwrap();
        for needle in ["zo", "quinn", "ann lee", "åsa", "example.org", "e q", "nothing"] {
            assert_eq!(merged.text().search(needle).0, eager.text().search(needle).0, "{needle}");
        }
        assert!(merged.built_text().is_some());
        assert!(merged.text().is_tagged() && eager.text().is_tagged(), "both tag their entries as they build");
        assert!(merged.text_sources.lock().unwrap().is_empty(), "the sources' indexes are let go once built");
        assert!(unindexed.built_text().is_none(), "a merge never builds a source's deferred index");
    }

    #[test]
    fn rows_follow_the_raw_ids_not_their_escaped_text() {
        // Escaped, `a"` is `a\"`: after `a#` as text, before it as an Id.
        let ids = ["a#", "a\"", "a", "", "a\"\"", "é", "a\\", "a\u{1}"];
        let messages: Vec<Message> = ids.iter().filter(|id| !id.is_empty()).map(|id| Message::with_id(*id)).collect();
        let segment = Segment::from_messages(&messages).unwrap();
        let order: Vec<String> = (0..segment.row_count()).map(|row| segment.id_of(row).into_owned()).collect();
        let mut expected: Vec<String> = messages.iter().map(|message| message.id.clone()).collect();
        expected.sort();
        assert_eq!(order, expected);
        for (row, id) in order.iter().enumerate() {
            assert_eq!(segment.row_of_id(id), Some(row as u32));
        }
    }
}
