//! The loader's fast path: a JSON Lines record scanned straight into a row
//! of a [`RecordBatch`], with no `Message`, no allocation per value and no
//! second escaping pass.
//!
//! Most values of a real file are already spelled the way the store keeps
//! them: a string without escapes is its own stored JSON text, so the row
//! only points at it (see [`crate::store::records`]). Values that need
//! rewriting (escapes, a list with spaces) are rewritten into the batch.
//!
//! The scanner accepts only what it fully understands and checks: a plain
//! object of known, distinct fields with values of the right kinds. Any
//! other line — invalid, or valid but unusual (an escaped key, an escape in
//! a date) — is declined, and the loader hands it to the full parser,
//! which accepts it or says exactly what is wrong. So the fast path can
//! never change what a file means or what its errors say.

use crate::json::write_json_string;
use crate::model::{DateTime, Field, FieldKind};
use crate::store::records::{enum_code, RecordBatch, StoredValue};

/// A JSON string in the text: `start..end` (quotes included) and whether
/// it holds escapes.
#[derive(Clone, Copy, Debug)]
pub(super) struct Span {
    start: usize,
    end: usize,
    escaped: bool,
}

/// Scans the record at `start..end` of `source` into a new row of `batch`.
/// Returns `false`, adding no row, when the line is anything but a plain
/// record whose every value is valid; `items` is scratch space.
pub(super) fn scan_record(
    source: &[u8],
    start: usize,
    end: usize,
    batch: &mut RecordBatch,
    items: &mut Vec<Span>,
) -> bool {
    batch.push_null_row();
    let mut cursor = Cursor { text: source, at: start, end };
    if cursor.record(batch, items).is_some() {
        true
    } else {
        batch.pop_row();
        false
    }
}

/// A position in a line.
struct Cursor<'a> {
    text: &'a [u8],
    at: usize,
    end: usize,
}

impl Cursor<'_> {
    fn record(&mut self, batch: &mut RecordBatch, items: &mut Vec<Span>) -> Option<()> {
        self.skip_space();
        self.expect(b'{')?;
        let mut seen = 0u32;
        loop {
            self.skip_space();
            let field = self.key()?;
            let bit = 1 << field.index();
            if seen & bit != 0 {
                return None; // a repeated field: the full parser names it
            }
            seen |= bit;
            self.skip_space();
            self.expect(b':')?;
            self.skip_space();
            self.value(field, batch, items)?;
            self.skip_space();
            match self.next()? {
                b',' => {}
                b'}' => break,
                _ => return None,
            }
        }
        self.skip_space();
        (self.at == self.end && seen & (1 << Field::Id.index()) != 0).then_some(())
    }

    /// A key: a known field name without escapes.
    fn key(&mut self) -> Option<Field> {
        self.expect(b'"')?;
        let length = memchr::memchr(b'"', &self.text[self.at..self.end])?;
        let name = &self.text[self.at..self.at + length];
        self.at += length + 1;
        if name.contains(&b'\\') {
            return None;
        }
        Field::from_name_bytes(name)
    }

    /// A value of `field`, set into the batch's last row.
    fn value(&mut self, field: Field, batch: &mut RecordBatch, items: &mut Vec<Span>) -> Option<()> {
        match (self.peek()?, field.kind()) {
            (b'n', kind) => {
                self.literal(b"null")?;
                (kind != FieldKind::Id).then_some(()) // a null `_id` is an error
            }
            (b'"', FieldKind::StringList) => None,
            (b'"', FieldKind::Id | FieldKind::String) => {
                let span = self.string()?;
                if field == Field::Id && span.end - span.start == 2 {
                    return None; // an empty `_id` is an error
                }
                self.set_text(field, span, batch)
            }
            (b'"', kind) => {
                let span = self.string()?;
                if span.escaped {
                    return None;
                }
                let inner = std::str::from_utf8(&self.text[span.start + 1..span.end - 1]).ok()?;
                let value = match kind {
                    FieldKind::DateTime => StoredValue::Seconds(DateTime::parse(inner)?.seconds()),
                    _ => StoredValue::Code(enum_code(kind, inner)?),
                };
                batch.set(field, value);
                Some(())
            }
            (b'[', FieldKind::StringList) => self.list(field, batch, items),
            _ => None,
        }
    }

    /// A string value's stored JSON text: the source's own when it has no
    /// escapes, else decoded and escaped again as the store writes it.
    fn set_text(&self, field: Field, span: Span, batch: &mut RecordBatch) -> Option<()> {
        if span.escaped {
            let text = self.decode(span)?;
            batch.set_own(field, |out| write_json_string(out, &text));
        } else {
            batch.set(field, StoredValue::Source { start: offset(span.start)?, end: offset(span.end)? });
        }
        Some(())
    }

    /// A list of strings, kept as it is when written compactly without
    /// escapes (`["a","b"]`), rewritten so otherwise.
    fn list(&mut self, field: Field, batch: &mut RecordBatch, items: &mut Vec<Span>) -> Option<()> {
        let start = self.at;
        self.at += 1;
        items.clear();
        let mut compact = true;
        compact &= !self.skip_space();
        if self.peek()? == b']' {
            self.at += 1;
        } else {
            loop {
                if self.peek()? != b'"' {
                    return None;
                }
                let item = self.string()?;
                compact &= !item.escaped;
                items.push(item);
                compact &= !self.skip_space();
                match self.next()? {
                    b',' => compact &= !self.skip_space(),
                    b']' => break,
                    _ => return None,
                }
            }
        }
        if compact {
            batch.set(field, StoredValue::Source { start: offset(start)?, end: offset(self.at)? });
            return Some(());
        }
        let mut decoded = Vec::with_capacity(items.len());
        for &item in items.iter() {
            decoded.push(if item.escaped { Some(self.decode(item)?) } else { None });
        }
        batch.set_own(field, |out| {
            out.push(b'[');
            for (position, (item, decoded)) in items.iter().zip(&decoded).enumerate() {
                if position > 0 {
                    out.push(b',');
                }
                match decoded {
                    Some(text) => write_json_string(out, text),
                    None => out.extend_from_slice(&self.text[item.start..item.end]),
                }
            }
            out.push(b']');
        });
        Some(())
    }

    /// A string at the cursor: valid UTF-8 without raw control characters,
    /// its escapes not yet checked (decoding checks them).
    fn string(&mut self) -> Option<Span> {
        let start = self.at;
        let mut at = start + 1;
        let mut escaped = false;
        loop {
            let found = at + memchr::memchr2(b'"', b'\\', &self.text[at..self.end])?;
            if self.text[found] == b'"' {
                at = found + 1;
                break;
            }
            escaped = true;
            at = found + 2;
            if at >= self.end {
                return None;
            }
        }
        let bytes = &self.text[start..at];
        // One pass finds both raw control characters (not allowed in JSON
        // strings) and whether any byte is not ASCII (then UTF-8 is checked).
        let (lowest, highest) = bytes.iter().fold((u8::MAX, 0u8), |(low, high), &byte| (low.min(byte), high.max(byte)));
        if lowest < 0x20 || (highest >= 0x80 && std::str::from_utf8(bytes).is_err()) {
            return None;
        }
        self.at = at;
        Some(Span { start, end: at, escaped })
    }

    /// The text of an escaped string, decoded as a JSON parser does
    /// (`None` for an invalid escape or a lone surrogate).
    fn decode(&self, span: Span) -> Option<String> {
        serde_json::from_slice(&self.text[span.start..span.end]).ok()
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let found = self.text[self.at..self.end].starts_with(word);
        self.at += word.len();
        found.then_some(())
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.next()? == byte).then_some(())
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    fn peek(&self) -> Option<u8> {
        (self.at < self.end).then(|| self.text[self.at])
    }

    /// Skips JSON white space; returns whether there was any.
    fn skip_space(&mut self) -> bool {
        let start = self.at;
        while self.at < self.end && matches!(self.text[self.at], b' ' | b'\t' | b'\n' | b'\r') {
            self.at += 1;
        }
        self.at > start
    }
}

/// A position in the source as a batch keeps it (windows stay under 4 GiB;
/// a larger one is declined and goes through the full parser).
fn offset(position: usize) -> Option<u32> {
    u32::try_from(position).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::record::parse_line;
    use crate::load::RecordLocation;

    /// Scans a line, or parses it fully when declined; the stored JSON text
    /// of every field either way.
    fn stored(line: &str) -> (bool, Vec<Vec<u8>>) {
        let mut batch = RecordBatch::new();
        let scanned = scan_record(line.as_bytes(), 0, line.len(), &mut batch, &mut Vec::new());
        if !scanned {
            let message = parse_line(line.as_bytes(), RecordLocation::Line(1)).expect("a valid record");
            batch.push_message(&message);
        }
        let texts = Field::ALL
            .iter()
            .map(|field| match batch.value(0, field.index()) {
                StoredValue::Seconds(seconds) => DateTime::from_seconds(seconds).unwrap().to_string().into_bytes(),
                StoredValue::Code(code) => vec![code],
                value => batch.text(line.as_bytes(), value).to_vec(),
            })
            .collect();
        (scanned, texts)
    }

    #[test]
    fn plain_records_are_scanned_and_stored_as_the_full_parser_stores_them() {
        let lines = [
            r#"{"_id":"m1","channel":"sms","tags":["a","b"],"created":"2024-02-29 12:00:00","subject":"Zoë"}"#,
            r#" { "_id" : "m1" , "tags" : [ "a" , "b" ] , "invoices" : [ ] , "content" : null } "#,
            r#"{"_id":"m\"1","subject":"a\/b\u00e9\n","tags":["x\ty"],"literature_items":[]}"#,
            r#"{"tags":[],"_id":"x","delivery_status":"unknown","direction":"inbound","read":"2019-01-01 00:00:00"}"#,
        ];
        for line in lines {
            let (scanned, texts) = stored(line);
            assert!(scanned, "{line}");
            let mut full = RecordBatch::new();
            full.push_message(&parse_line(line.as_bytes(), RecordLocation::Line(1)).unwrap());
            for field in Field::ALL {
                let expected = match full.value(0, field.index()) {
                    StoredValue::Seconds(seconds) => DateTime::from_seconds(seconds).unwrap().to_string().into_bytes(),
                    StoredValue::Code(code) => vec![code],
                    value => full.text(b"", value).to_vec(),
                };
                assert_eq!(texts[field.index()], expected, "{line}: {field}");
            }
        }
    }

    #[test]
    fn anything_unusual_or_invalid_is_declined() {
        let declined = [
            r#"{"_id":"m1","colour":"red"}"#,
            r#"{"_id":"m1","_id":"m2"}"#,
            r#"{"\u005fid":"m1"}"#,
            r#"{"_id":""}"#,
            r#"{"_id":null}"#,
            r#"{"channel":"sms"}"#,
            r#"{}"#,
            r#"{"_id":"m1","channel":"fax"}"#,
            r#"{"_id":"m1","created":"2023-02-29 10:00:00"}"#,
            r#"{"_id":"m1","created":"2023-02-01\u0020\u0031\u0030:00:00"}"#,
            r#"{"_id":"m1","tags":"x"}"#,
            r#"{"_id":"m1","tags":["x",1]}"#,
            r#"{"_id":"m1","content":5}"#,
            r#"{"_id":"m1","read":true}"#,
            r#"{"_id":"m1"} x"#,
            r#"{"_id":"m1""#,
            r#"{"_id":"m1","subject":"\ud800"}"#,
            "{\"_id\":\"m1\",\"subject\":\"tab\there\"}",
            r#"[{"_id":"m1"}]"#,
        ];
        for line in declined {
            let mut batch = RecordBatch::new();
            assert!(!scan_record(line.as_bytes(), 0, line.len(), &mut batch, &mut Vec::new()), "{line}");
            assert!(batch.is_empty(), "{line}: a declined line adds no row");
        }
        // Declined but valid: the full parser takes it.
        let (scanned, texts) = stored(r#"{"\u005fid":"m1"}"#);
        assert!(!scanned);
        assert_eq!(texts[Field::Id.index()], b"\"m1\"");
    }
}
