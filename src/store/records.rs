//! [`RecordBatch`]: rows on their way into a [`super::SegmentBuilder`], each
//! value already in the form a column keeps, so that building the columns
//! copies bytes and interns them, and nothing is parsed, allocated per
//! value or escaped again.
//!
//! ```text
//!  source text (a window of a JSON Lines file):
//!    {"_id":"m1","channel":"sms","content":"Hi","tags":["a"],…}
//!  row of the batch, a value per field (canonical order):
//!    _id      Source 7..11        the JSON text "m1", as stored
//!    channel  Code 2              sms (0 is null)
//!    content  Source 33..37
//!    created  Seconds 63842…      or Null
//!    tags     Own 0..5            rewritten JSON text ["a"] in the batch's bytes
//! ```
//!
//! A value is JSON text in the source when the source already spells it
//! the way the store writes it (no escapes to rewrite, no spaces in a
//! list), and text the batch owns otherwise. A loader that knows the codec
//! a packed column will hold compresses `content` in the batch
//! ([`RecordBatch::pack_content`]), in parallel with the other batches, so
//! that the column copies frames instead of compressing one value at a
//! time.
//!
//! *Invariant:* every [`StoredValue::Packed`] value was made by
//! `pack_content`, with the codec [`RecordBatch::packed_with`] names.

use std::sync::Arc;

use crate::model::{Field, FieldKind, FieldValue, Message};
use crate::store::PACKED_FIELDS;
use crate::text_codec::TextCodec;

/// One field's value as a column keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoredValue {
    /// JSON `null`.
    Null,
    /// JSON text at `start..end` of the source text the batch was read from.
    Source {
        /// First byte.
        start: u32,
        /// Past the last byte.
        end: u32,
    },
    /// JSON text at `start..end` of the batch's own bytes.
    Own {
        /// First byte.
        start: u32,
        /// Past the last byte.
        end: u32,
    },
    /// JSON text compressed by the batch's codec
    /// ([`RecordBatch::packed_with`]): a frame at `start..end` of the
    /// batch's frames.
    Packed {
        /// First byte.
        start: u32,
        /// Past the last byte.
        end: u32,
    },
    /// A date/time, as seconds since 0000-01-01.
    Seconds(i64),
    /// An enum value: its position in the enum's list plus one.
    Code(u8),
}

/// Rows of stored values, [`Field::ALL`]`.len()` per row in canonical order.
#[derive(Debug, Default)]
pub struct RecordBatch {
    values: Vec<StoredValue>,
    own: Vec<u8>,
    /// The frames of the [`StoredValue::Packed`] values, back to back.
    frames: Vec<u8>,
    /// The codec of the batch's [`StoredValue::Packed`] values.
    packed_with: Option<Arc<TextCodec>>,
}

const FIELDS: usize = Field::ALL.len();

impl RecordBatch {
    /// An empty batch.
    pub fn new() -> RecordBatch {
        RecordBatch::default()
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.values.len() / FIELDS
    }

    /// Whether the batch has no row.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Adds a row whose values are all `null`, to be set next.
    pub fn push_null_row(&mut self) {
        self.values.resize(self.values.len() + FIELDS, StoredValue::Null);
    }

    /// Removes the last row (one that could not be completed).
    pub fn pop_row(&mut self) {
        self.values.truncate(self.values.len().saturating_sub(FIELDS));
    }

    /// Sets a field of the last row (to any value but a
    /// [`StoredValue::Packed`] one, which only
    /// [`RecordBatch::pack_content`] makes).
    pub fn set(&mut self, field: Field, value: StoredValue) {
        debug_assert!(!matches!(value, StoredValue::Packed { .. }), "only pack_content makes packed values");
        let row = self.values.len() - FIELDS;
        self.values[row + field.index()] = value;
    }

    /// Sets a field of the last row to JSON text written by `write` into
    /// the batch's own bytes.
    pub fn set_own(&mut self, field: Field, write: impl FnOnce(&mut Vec<u8>)) {
        let start = self.own.len();
        write(&mut self.own);
        let (start, end) = (offset(start), offset(self.own.len()));
        self.set(field, StoredValue::Own { start, end });
    }

    /// Adds a row holding a message's values.
    pub fn push_message(&mut self, message: &Message) {
        self.push_null_row();
        for field in Field::ALL {
            let value = message.get(field);
            match (field.kind(), value) {
                (_, FieldValue::Null) => {}
                (_, FieldValue::DateTime(moment)) => self.set(field, StoredValue::Seconds(moment.seconds())),
                (FieldKind::Channel | FieldKind::Direction | FieldKind::DeliveryStatus, FieldValue::Str(spelling)) => {
                    let code = enum_code(field.kind(), spelling).expect("a message holds valid enum values");
                    self.set(field, StoredValue::Code(code));
                }
                (_, value) => self.set_own(field, |out| value.write_json(out)),
            }
        }
    }

    /// The stored value of `field` in `row`.
    #[inline]
    pub fn value(&self, row: usize, field: usize) -> StoredValue {
        self.values[row * FIELDS + field]
    }

    /// The JSON text of a text value (`source` is the text the batch was
    /// read from). Not for a [`StoredValue::Packed`] value, whose text is
    /// compressed in its [`RecordBatch::frame`].
    #[inline]
    pub fn text<'a>(&'a self, source: &'a [u8], value: StoredValue) -> &'a [u8] {
        text_in(source, &self.own, value)
    }

    /// The frame of a [`StoredValue::Packed`] value (empty for any other).
    #[inline]
    pub fn frame(&self, value: StoredValue) -> &[u8] {
        match value {
            StoredValue::Packed { start, end } => &self.frames[start as usize..end as usize],
            _ => &[],
        }
    }

    /// The codec that made the batch's [`StoredValue::Packed`] values.
    pub(crate) fn packed_with(&self) -> Option<&Arc<TextCodec>> {
        self.packed_with.as_ref()
    }

    /// Compresses every row's value of the [`PACKED_FIELDS`] with `codec`
    /// (`source` is the text the batch was read from), so that a column
    /// holding `codec` copies the frames as they are. Keeps the module's
    /// invariant: the only place packed values are made, once per batch.
    pub(crate) fn pack_content(&mut self, source: &[u8], codec: &Arc<TextCodec>) {
        debug_assert!(self.packed_with.is_none(), "a batch is packed once");
        let RecordBatch { values, own, frames, .. } = self;
        for row in values.chunks_exact_mut(FIELDS) {
            for field in PACKED_FIELDS {
                let value = row[field.index()];
                if !matches!(value, StoredValue::Source { .. } | StoredValue::Own { .. }) {
                    continue;
                }
                let text = text_in(source, own, value);
                let start = offset(frames.len());
                codec.compress_into(text, frames);
                row[field.index()] = StoredValue::Packed { start, end: offset(frames.len()) };
            }
        }
        self.packed_with = Some(Arc::clone(codec));
    }
}

/// The JSON text of a text value, in `source` or in the batch's `own`
/// bytes; `null` for a value without text.
#[inline]
fn text_in<'a>(source: &'a [u8], own: &'a [u8], value: StoredValue) -> &'a [u8] {
    match value {
        StoredValue::Source { start, end } => &source[start as usize..end as usize],
        StoredValue::Own { start, end } => &own[start as usize..end as usize],
        StoredValue::Packed { .. } => unreachable!("a packed value's text is compressed in its frame"),
        StoredValue::Null | StoredValue::Seconds(_) | StoredValue::Code(_) => b"null",
    }
}

/// A position in a text, which the loader keeps under 4 GiB per window.
fn offset(position: usize) -> u32 {
    u32::try_from(position).expect("record batches hold less than 4 GiB of text")
}

/// The stored code of an enum spelling (its position plus one), if valid.
pub fn enum_code(kind: FieldKind, spelling: &str) -> Option<u8> {
    use crate::model::{Channel, DeliveryStatus, Direction};
    let code = match kind {
        FieldKind::Channel => Channel::parse(spelling)?.code(),
        FieldKind::Direction => Direction::parse(spelling)?.code(),
        FieldKind::DeliveryStatus => DeliveryStatus::parse(spelling)?.code(),
        _ => return None,
    };
    Some(code + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Channel, DateTime};

    #[test]
    fn a_message_row_holds_its_stored_values() {
        let message = Message {
            channel: Some(Channel::Sms),
            tags: Some(vec!["a\"b".into()]),
            created: DateTime::parse("2024-02-29 12:00:00"),
            ..Message::with_id("m1")
        };
        let mut batch = RecordBatch::new();
        batch.push_message(&message);
        batch.push_null_row();
        assert_eq!(batch.len(), 2);
        let text = |field: Field| batch.text(b"", batch.value(0, field.index())).to_vec();
        assert_eq!(text(Field::Id), b"\"m1\"");
        assert_eq!(text(Field::Tags), br#"["a\"b"]"#);
        assert_eq!(batch.value(0, Field::Channel.index()), StoredValue::Code(2));
        assert_eq!(batch.value(0, Field::Created.index()), StoredValue::Seconds(message.created.unwrap().seconds()));
        assert_eq!(batch.value(0, Field::Subject.index()), StoredValue::Null);
        batch.pop_row();
        assert_eq!(batch.len(), 1);
    }

    #[test]
    fn packing_compresses_content_alone_and_keeps_the_codec() {
        let texts: Vec<String> =
            (0..2000).map(|index| format!("\"Dear Zoë, the visit {index} is on day {}.\"", index % 9)).collect();
        let values: Vec<&[u8]> = texts.iter().map(|text| text.as_bytes()).collect();
        let codec = Arc::new(TextCodec::train(&values));
        let source = texts[0].as_bytes();
        let mut batch = RecordBatch::new();
        // Content in the source, in the batch's own bytes, and null.
        batch.push_null_row();
        batch.set(Field::Content, StoredValue::Source { start: 0, end: source.len() as u32 });
        batch.set(Field::Subject, StoredValue::Source { start: 1, end: 5 });
        batch.push_message(&Message { content: Some("Zoë \"quoted\"".into()), ..Message::with_id("m2") });
        batch.push_message(&Message::with_id("m3"));
        let own_id = batch.value(1, Field::Id.index());
        batch.pack_content(source, &codec);
        assert!(batch.packed_with().is_some_and(|with| Arc::ptr_eq(with, &codec)));
        let content = |row: usize| {
            let mut text = Vec::new();
            codec.write_text(batch.frame(batch.value(row, Field::Content.index())), &mut text);
            text
        };
        assert_eq!(content(0), source);
        assert_eq!(content(1), "\"Zoë \\\"quoted\\\"\"".as_bytes());
        assert_eq!(batch.value(2, Field::Content.index()), StoredValue::Null);
        assert_eq!(
            batch.value(0, Field::Subject.index()),
            StoredValue::Source { start: 1, end: 5 },
            "other fields stay"
        );
        assert_eq!(batch.value(1, Field::Id.index()), own_id);
        assert_eq!(batch.text(b"", own_id), br#""m2""#);
    }
}
