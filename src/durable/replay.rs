//! Reading the log back at open: every record of every live log file is
//! checked (header checksum, payload checksum, sequence without gaps) and
//! the ones after the base are handed to the store to apply.
//!
//! A record that does not check at the end of the last file is a torn
//! write (a crash during an append that was never acknowledged): it is
//! cut off, and the cut is reported. Damage anywhere else — in an earlier
//! file, or followed by a record that does check — refuses the open,
//! naming the file and the offset: nothing is dropped silently.

use std::fs::File;
use std::io::{BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::directory::{log_file_name, log_files, sync_directory};
use super::error::StoreError;
use super::record::{decode_batch, LoggedBatch, RecordHeader, HEADER_BYTES};

/// What recovery cut off the end of the log: a record that was being
/// written when the process or the machine stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CutTail {
    /// The log file.
    pub path: PathBuf,
    /// Where the cut began (the end of the last whole record).
    pub offset: u64,
    /// How many bytes were cut.
    pub bytes: u64,
    /// Why the bytes there were not a whole record.
    pub why: String,
}

impl std::fmt::Display for CutTail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cut {} bytes off the end of {} at byte {} ({}): a write that was never acknowledged",
            self.bytes,
            self.path.display(),
            self.offset,
            self.why
        )
    }
}

/// The log file to append to after a replay.
#[derive(Debug)]
pub(crate) struct OpenLog {
    /// Its path.
    pub(crate) path: PathBuf,
    /// The file, open for writing.
    pub(crate) file: File,
    /// Bytes of whole records in it.
    pub(crate) length: u64,
    /// The sequence of the last record in the log (`replay_from - 1` when
    /// there is none after the base).
    pub(crate) last: u64,
    /// What was cut off the end, if anything.
    pub(crate) cut: Option<CutTail>,
}

/// One record read, or why the bytes at an offset are not one.
enum Next {
    Record { sequence: u64, payload: Vec<u8>, end: u64 },
    End,
    Bad(String),
}

fn read_next(reader: &mut impl Read, offset: u64, file_length: u64) -> Next {
    if offset == file_length {
        return Next::End;
    }
    if file_length - offset < HEADER_BYTES as u64 {
        return Next::Bad(format!("{} bytes, shorter than a record header", file_length - offset));
    }
    let mut header = [0u8; HEADER_BYTES];
    if let Err(error) = reader.read_exact(&mut header) {
        return Next::Bad(format!("reading a header: {error}"));
    }
    let Some(header) = RecordHeader::parse(&header) else {
        return Next::Bad("a record header whose checksum does not match".to_owned());
    };
    let end = offset + HEADER_BYTES as u64 + u64::from(header.length);
    if end > file_length {
        return Next::Bad(format!(
            "a record of {} bytes, of which {} were written",
            header.length,
            file_length - offset - HEADER_BYTES as u64
        ));
    }
    let mut payload = vec![0u8; header.length as usize];
    if let Err(error) = reader.read_exact(&mut payload) {
        return Next::Bad(format!("reading a record: {error}"));
    }
    if crc32c::crc32c(&payload) != header.payload_checksum {
        return Next::Bad(format!("record {} fails its checksum", header.sequence));
    }
    Next::Record { sequence: header.sequence, payload, end }
}

/// Whether a record that checks (header and payload) with a sequence
/// after `last` starts anywhere in `bytes`.
fn holds_a_later_record(bytes: &[u8], last: u64) -> bool {
    (0..bytes.len().saturating_sub(HEADER_BYTES - 1)).any(|start| {
        let header: &[u8; HEADER_BYTES] = bytes[start..start + HEADER_BYTES].try_into().expect("header bytes");
        RecordHeader::parse(header).is_some_and(|header| {
            let payload = bytes.get(start + HEADER_BYTES..start + HEADER_BYTES + header.length as usize);
            header.sequence > last && payload.is_some_and(|payload| crc32c::crc32c(payload) == header.payload_checksum)
        })
    })
}

/// What a replay may change on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReplayMode {
    /// Opening the store: a torn end is cut off, and a first log file is
    /// made if there is none.
    Recover,
    /// Checking it: nothing is changed; a torn end is reported as the cut
    /// recovery would make.
    Verify,
}

/// Reads the log of `directory` from `replay_from`, handing each batch at
/// or after it to `apply` in order, cuts a torn end, and opens the last
/// file for appending (creating the first one if there is none).
pub(crate) fn replay(
    directory: &Path,
    replay_from: u64,
    mode: ReplayMode,
    mut apply: impl FnMut(u64, LoggedBatch) -> Result<(), StoreError>,
) -> Result<Option<OpenLog>, StoreError> {
    let files = log_files(directory)?;
    // Files wholly before replay_from are not read (they are leftovers
    // a checkpoint has not yet removed).
    let first_needed = files.iter().rposition(|&(first, _)| first <= replay_from).unwrap_or(0);
    let files = &files[first_needed.min(files.len())..];
    let mut last = replay_from - 1;
    let mut expected = files.first().map_or(replay_from, |&(first, _)| first);
    if expected > replay_from {
        let path = &files[0].1;
        return Err(StoreError::corrupt(
            path,
            0,
            format!("the log starts at record {expected}, but the base needs records from {replay_from}"),
        ));
    }
    let mut open = None;
    let mut last_cut = None;
    for (index, (first, path)) in files.iter().enumerate() {
        let is_last = index + 1 == files.len();
        if *first != expected {
            return Err(StoreError::corrupt(
                path,
                0,
                format!("the file starts at record {first}, but the record before it is {}", expected - 1),
            ));
        }
        let file = File::options()
            .read(true)
            .write(mode == ReplayMode::Recover)
            .open(path)
            .map_err(|error| StoreError::io(path, "opening", error))?;
        let file_length = file.metadata().map_err(|error| StoreError::io(path, "reading", error))?.len();
        let mut reader = BufReader::with_capacity(1 << 20, &file);
        let mut offset = 0u64;
        let mut cut = None;
        loop {
            match read_next(&mut reader, offset, file_length) {
                Next::End => break,
                Next::Record { sequence, payload, end } if sequence == expected => {
                    if sequence >= replay_from {
                        let batch =
                            decode_batch(&payload).map_err(|problem| StoreError::corrupt(path, offset, problem))?;
                        apply(sequence, batch)?;
                        last = sequence;
                    }
                    expected += 1;
                    offset = end;
                }
                Next::Record { sequence, .. } => {
                    return Err(StoreError::corrupt(
                        path,
                        offset,
                        format!("record {sequence} stands where record {expected} belongs"),
                    ))
                }
                Next::Bad(why) if !is_last => return Err(StoreError::corrupt(path, offset, why)),
                Next::Bad(why) => {
                    let mut rest = vec![0u8; (file_length - offset) as usize];
                    file.read_exact_at(&mut rest, offset).map_err(|error| StoreError::io(path, "reading", error))?;
                    if holds_a_later_record(&rest, expected.saturating_sub(1)) {
                        return Err(StoreError::corrupt(path, offset, why));
                    }
                    if mode == ReplayMode::Recover {
                        file.set_len(offset)
                            .and_then(|()| file.sync_all())
                            .map_err(|error| StoreError::io(path, "cutting a torn record off", error))?;
                    }
                    cut = Some(CutTail { path: path.clone(), offset, bytes: file_length - offset, why });
                    break;
                }
            }
        }
        drop(reader);
        // A log that ends before the base's last record (records lost to
        // a failed sync that a checkpoint then covered) goes on in a new
        // file, so that the next record follows the base.
        if is_last && expected >= replay_from {
            open = Some(OpenLog { path: path.clone(), file, length: offset, last, cut });
        } else if is_last {
            last_cut = cut;
        }
    }
    match open {
        Some(open) => Ok(Some(open)),
        None if mode == ReplayMode::Verify => Ok(last_cut.and_then(|cut| {
            let file = File::open(&cut.path).ok()?;
            Some(OpenLog { path: cut.path.clone(), file, length: 0, last, cut: Some(cut) })
        })),
        None => {
            let path = directory.join(log_file_name(replay_from));
            let file = File::options()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(|error| StoreError::io(&path, "creating", error))?;
            sync_directory(directory).map_err(|error| StoreError::io(directory, "syncing", error))?;
            Ok(Some(OpenLog { path, file, length: 0, last, cut: last_cut }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::durable::record::{encode_batch, record_bytes};
    use crate::model::Message;
    use crate::write::Write;

    fn log_with(directory: &Path, first: u64, count: u64) {
        let mut bytes = Vec::new();
        for sequence in first..first + count {
            bytes.extend(record_bytes(
                sequence,
                &encode_batch(&[Write::Upsert(Message::with_id(format!("m{sequence}")))], None),
            ));
        }
        std::fs::write(directory.join(log_file_name(first)), bytes).unwrap();
    }

    #[test]
    fn a_log_ending_before_the_base_goes_on_in_a_new_file() {
        let directory = tempfile::tempdir().unwrap();
        log_with(directory.path(), 1, 3);
        let mut applied = Vec::new();
        let open = replay(directory.path(), 6, ReplayMode::Recover, |sequence, _| {
            applied.push(sequence);
            Ok(())
        })
        .unwrap()
        .unwrap();
        assert!(applied.is_empty(), "records before the base are not applied");
        assert_eq!((open.last, open.length), (5, 0));
        assert_eq!(open.path, directory.path().join(log_file_name(6)));
    }

    #[test]
    fn damage_in_an_earlier_file_is_refused_at_its_offset() {
        let directory = tempfile::tempdir().unwrap();
        log_with(directory.path(), 1, 3);
        log_with(directory.path(), 4, 2);
        let first = directory.path().join(log_file_name(1));
        let mut bytes = std::fs::read(&first).unwrap();
        let end = bytes.len();
        bytes[end - 5] ^= 1;
        std::fs::write(&first, bytes).unwrap();
        match replay(directory.path(), 1, ReplayMode::Recover, |_, _| Ok(())) {
            Err(StoreError::Corrupt { path, offset, .. }) => {
                assert_eq!(path, first);
                assert!(offset > 0 && offset < end as u64);
            }
            other => panic!("{other:?}"),
        }
    }
}
