//! A log record: one write batch, self-contained, so that it can be
//! applied on another machine exactly as here (see docs/FORMAT.md).
//!
//! ```text
//!  header (20 bytes)  length u32 | sequence u64 | payload crc32c u32 | header crc32c u32 (of the 16 before)
//!  payload            version u8 (1) | write count u32 | writes…
//!                     version u8 (2) | position length u32 | position (UTF-8) | write count u32 | writes…
//!  a write            kind u8 (1 insert, 2 upsert, 3 delete) | length u32 | bytes
//!                     bytes: the message as canonical JSON, or the `_id` (UTF-8) of a delete
//! ```
//!
//! Integers are little-endian. The header has its own checksum so that a
//! reader can trust the length before it reads the payload.
//!
//! Version 2 carries a *source position*: where in its source (an upstream
//! account's change feed, a stream) the store is once the batch is applied.
//! It is written with the batch, in one record, so that a follower applies
//! each pull exactly once across crashes. A batch without a position is
//! written as version 1.

use crate::model::Message;
use crate::write::{message_from_json, Write};

/// Bytes of a record's header.
pub(crate) const HEADER_BYTES: usize = 20;
/// The payload format of a batch without a source position.
pub(crate) const RECORD_VERSION: u8 = 1;
/// The payload format of a batch with a source position.
pub(crate) const RECORD_VERSION_WITH_POSITION: u8 = 2;
/// The largest payload a record may hold: a longer length in a header is
/// damage (a batch that large is refused before it is logged).
pub(crate) const MAX_PAYLOAD_BYTES: u32 = 1 << 30;

const INSERT: u8 = 1;
const UPSERT: u8 = 2;
const DELETE: u8 = 3;

/// A record's header, read and checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RecordHeader {
    /// Bytes of the payload.
    pub(crate) length: u32,
    /// The batch's place in the store's history, from 1, without gaps.
    pub(crate) sequence: u64,
    /// The payload's CRC32C.
    pub(crate) payload_checksum: u32,
}

impl RecordHeader {
    /// The header's bytes, its own checksum last.
    pub(crate) fn to_bytes(self) -> [u8; HEADER_BYTES] {
        let mut bytes = [0u8; HEADER_BYTES];
        bytes[0..4].copy_from_slice(&self.length.to_le_bytes());
        bytes[4..12].copy_from_slice(&self.sequence.to_le_bytes());
        bytes[12..16].copy_from_slice(&self.payload_checksum.to_le_bytes());
        let checksum = crc32c::crc32c(&bytes[..16]);
        bytes[16..20].copy_from_slice(&checksum.to_le_bytes());
        bytes
    }

    /// The header in `bytes`, if its checksum holds and its length is
    /// allowed.
    pub(crate) fn parse(bytes: &[u8; HEADER_BYTES]) -> Option<RecordHeader> {
        let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        if crc32c::crc32c(&bytes[..16]) != word(16) || word(0) > MAX_PAYLOAD_BYTES {
            return None;
        }
        Some(RecordHeader {
            length: word(0),
            sequence: u64::from_le_bytes(bytes[4..12].try_into().expect("8 bytes")),
            payload_checksum: word(12),
        })
    }
}

/// A batch as a record holds it, with the source position it reaches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LoggedBatch {
    /// The writes, in order.
    pub(crate) writes: Vec<Write>,
    /// Where the store is in its source once the writes are applied.
    pub(crate) position: Option<String>,
}

/// The payload of a batch: what [`decode_batch`] reads back.
pub(crate) fn encode_batch(batch: &[Write], position: Option<&str>) -> Vec<u8> {
    let mut payload = Vec::with_capacity(16 + batch.len() * 1024);
    match position {
        None => payload.push(RECORD_VERSION),
        Some(position) => {
            payload.push(RECORD_VERSION_WITH_POSITION);
            payload.extend_from_slice(&(position.len() as u32).to_le_bytes());
            payload.extend_from_slice(position.as_bytes());
        }
    }
    payload.extend_from_slice(&(batch.len() as u32).to_le_bytes());
    for write in batch {
        let (kind, start) = (
            match write {
                Write::Insert(_) => INSERT,
                Write::Upsert(_) => UPSERT,
                Write::Delete(_) => DELETE,
            },
            payload.len(),
        );
        payload.push(kind);
        payload.extend_from_slice(&[0; 4]);
        match write {
            Write::Insert(message) | Write::Upsert(message) => {
                serde_json::to_writer(&mut payload, message).expect("a message serializes to a vector");
            }
            Write::Delete(id) => payload.extend_from_slice(id.as_bytes()),
        }
        let length = (payload.len() - start - 5) as u32;
        payload[start + 1..start + 5].copy_from_slice(&length.to_le_bytes());
    }
    payload
}

/// The payload of a batch that is to be one record (logged or published),
/// or why it cannot be: a record holds at most [`MAX_PAYLOAD_BYTES`].
pub(crate) fn encode_record_payload(batch: &[Write], position: Option<&str>) -> Result<Vec<u8>, String> {
    let payload = encode_batch(batch, position);
    if payload.len() > MAX_PAYLOAD_BYTES as usize {
        return Err(format!(
            "the batch is {} bytes as a log record, more than the {MAX_PAYLOAD_BYTES} a record holds; \
             nothing was applied: split it into smaller batches",
            payload.len()
        ));
    }
    Ok(payload)
}

/// A whole record: header and payload.
pub(crate) fn record_bytes(sequence: u64, payload: &[u8]) -> Vec<u8> {
    let header = RecordHeader { length: payload.len() as u32, sequence, payload_checksum: crc32c::crc32c(payload) };
    let mut bytes = Vec::with_capacity(HEADER_BYTES + payload.len());
    bytes.extend_from_slice(&header.to_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

/// A whole record as shipped to another machine (a stream message): its
/// header checked, its length and payload checksum held, its batch decoded;
/// or what is wrong with it.
#[cfg(any(feature = "stream", test))]
pub(crate) fn parse_record(bytes: &[u8]) -> Result<(u64, LoggedBatch), String> {
    let header: &[u8; HEADER_BYTES] = bytes
        .get(..HEADER_BYTES)
        .and_then(|header| header.try_into().ok())
        .ok_or_else(|| format!("{} bytes are too few for a record's header", bytes.len()))?;
    let header = RecordHeader::parse(header).ok_or("the record's header is damaged (its checksum fails)")?;
    let payload = &bytes[HEADER_BYTES..];
    if payload.len() != header.length as usize {
        return Err(format!("the header says {} payload bytes, and {} follow", header.length, payload.len()));
    }
    if crc32c::crc32c(payload) != header.payload_checksum {
        return Err("the record's payload is damaged (its checksum fails)".into());
    }
    Ok((header.sequence, decode_batch(payload)?))
}

/// The batch in a payload whose checksum held; `Err` says what in it is
/// not a batch (at which byte of the payload).
pub(crate) fn decode_batch(payload: &[u8]) -> Result<LoggedBatch, String> {
    let mut at = 0usize;
    let mut take = |count: usize, what: &str| -> Result<&[u8], String> {
        let bytes = payload.get(at..at + count).ok_or_else(|| format!("the payload ends inside {what} (byte {at})"))?;
        at += count;
        Ok(bytes)
    };
    let version = take(1, "the version")?[0];
    let position = match version {
        RECORD_VERSION => None,
        RECORD_VERSION_WITH_POSITION => {
            let length = u32::from_le_bytes(take(4, "the position's length")?.try_into().expect("4 bytes"));
            let bytes = take(length as usize, "the position")?;
            Some(std::str::from_utf8(bytes).map_err(|_| "the position is not UTF-8".to_owned())?.to_owned())
        }
        other => {
            return Err(format!(
            "payload version {other}; this msgdex reads versions {RECORD_VERSION} and {RECORD_VERSION_WITH_POSITION}"
        ))
        }
    };
    let count = u32::from_le_bytes(take(4, "the write count")?.try_into().expect("4 bytes"));
    let mut batch = Vec::with_capacity(count.min(1 << 16) as usize);
    for number in 0..count {
        let kind = take(1, "a write's kind")?[0];
        let length = u32::from_le_bytes(take(4, "a write's length")?.try_into().expect("4 bytes"));
        let bytes = take(length as usize, "a write")?;
        let text = std::str::from_utf8(bytes).map_err(|_| format!("write {number} is not UTF-8"))?;
        let message = || -> Result<Message, String> {
            message_from_json(text).map_err(|error| format!("write {number} is not a valid message: {error}"))
        };
        batch.push(match kind {
            INSERT => Write::Insert(message()?),
            UPSERT => Write::Upsert(message()?),
            DELETE => Write::Delete(text.to_owned()),
            other => return Err(format!("write {number} has unknown kind {other}")),
        });
    }
    if at != payload.len() {
        return Err(format!("{} bytes follow the last write", payload.len() - at));
    }
    Ok(LoggedBatch { writes: batch, position })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch() -> Vec<Write> {
        let message = Message {
            subject: Some("Zoë \"quoted\"\n".into()),
            tags: Some(vec!["a".into()]),
            ..Message::with_id("m1")
        };
        vec![Write::Upsert(message.clone()), Write::Delete("gone ü".into()), Write::Insert(Message::with_id("m2"))]
    }

    #[test]
    fn a_batch_decodes_to_itself_with_or_without_a_position() {
        let plain = encode_batch(&batch(), None);
        assert_eq!(plain[0], RECORD_VERSION, "a batch without a position is written as version 1");
        assert_eq!(decode_batch(&plain).unwrap(), LoggedBatch { writes: batch(), position: None });
        let positioned = encode_batch(&batch(), Some("modified 2024-01-01 10:00:00 ü"));
        assert_eq!(positioned[0], RECORD_VERSION_WITH_POSITION);
        let decoded = decode_batch(&positioned).unwrap();
        assert_eq!((decoded.writes, decoded.position.as_deref()), (batch(), Some("modified 2024-01-01 10:00:00 ü")));
        let empty = decode_batch(&encode_batch(&[], Some(""))).unwrap();
        assert_eq!(empty, LoggedBatch { writes: vec![], position: Some(String::new()) });
        let mut unknown = plain.clone();
        unknown[0] = 3;
        assert!(decode_batch(&unknown).unwrap_err().contains("versions 1 and 2"));
    }

    #[test]
    fn a_header_checks_itself() {
        let bytes = record_bytes(7, &encode_batch(&batch(), None));
        let header = RecordHeader::parse(bytes[..HEADER_BYTES].try_into().unwrap()).unwrap();
        assert_eq!((header.sequence, header.length as usize), (7, bytes.len() - HEADER_BYTES));
        for bit in 0..HEADER_BYTES * 8 {
            let mut damaged: [u8; HEADER_BYTES] = bytes[..HEADER_BYTES].try_into().unwrap();
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(RecordHeader::parse(&damaged), None, "bit {bit}");
        }
    }

    #[test]
    fn a_shipped_record_parses_back_and_any_damage_is_refused() {
        let bytes = record_bytes(0, &encode_batch(&batch(), Some("stream 7")));
        let (sequence, parsed) = parse_record(&bytes).unwrap();
        assert_eq!((sequence, parsed.writes, parsed.position.as_deref()), (0, batch(), Some("stream 7")));
        for length in 0..bytes.len() {
            assert!(parse_record(&bytes[..length]).is_err(), "cut at {length}");
        }
        for bit in (0..bytes.len() * 8).step_by(7) {
            let mut damaged = bytes.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert!(parse_record(&damaged).is_err(), "bit {bit}");
        }
    }

    #[test]
    fn every_cut_of_a_payload_is_refused() {
        for payload in [encode_batch(&batch(), None), encode_batch(&batch(), Some("p"))] {
            for length in 0..payload.len() {
                assert!(decode_batch(&payload[..length]).is_err(), "{length} bytes");
            }
        }
        let payload = encode_batch(&batch(), None);
        let mut longer = payload.clone();
        longer.push(0);
        assert!(decode_batch(&longer).unwrap_err().contains("follow the last write"));
    }
}
