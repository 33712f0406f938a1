//! The array file: a sequence of typed arrays, each with a CRC32C, that
//! the segment file is made of (see docs/FORMAT.md).
//!
//! ```text
//!  0   magic "MSGDXSEG" | format version u32 | array count u32
//!  16  table offset u64 | table crc32c u32 | header crc32c u32 (bytes 0..28)
//!  32  array 0 bytes, zero-padded to a multiple of 8
//!      array 1 …
//!      table: per array  offset u64 | length in bytes u64 | kind u32 | crc32c u32
//! ```
//!
//! Integers are little-endian. An array is read straight into the vector
//! that keeps it (no intermediate buffer, no per-element decoding), and
//! its checksum is verified over those bytes before it is used. Byte
//! arrays of [`MAP_AT_LEAST`] bytes or more (the dictionaries' text, most
//! of a segment) are not copied at all: the file is mapped and they are
//! used in place, checksummed there.
//!
//! *Invariant:* a reader hands out an array only after its checksum,
//! length and kind are verified against the table, and the table only
//! after its own checksum and the header's are.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use bytemuck::Pod;
use rayon::prelude::*;
use roaring::RoaringBitmap;

use super::error::StoreError;
use crate::arena::Arena;

/// The first bytes of every segment file.
const MAGIC: &[u8; 8] = b"MSGDXSEG";
/// The format version this build writes. It reads every version from 1 to
/// this one: version 2 added packed columns (`content` compressed, see
/// docs/FORMAT.md), and a version 1 file reads as a segment without them;
/// version 3 added the text index's run counts, which older files derive
/// when read; version 4 counts children with their parents there (a
/// version 3 file's counts are derived again when read).
pub(crate) const SEGMENT_FORMAT_VERSION: u32 = 4;
const HEADER_BYTES: u64 = 32;
const ENTRY_BYTES: usize = 24;
/// Arrays start at multiples of this.
const ALIGN: u64 = 8;
/// More arrays than any segment writes: a table claiming more is damage.
const MOST_ARRAYS: u32 = 1 << 20;
/// Byte arrays this large are used in place in the mapped file.
pub(crate) const MAP_AT_LEAST: u64 = 1 << 20;

/// What an array's elements are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum ArrayKind {
    /// Bytes.
    Bytes = 1,
    /// Unsigned 32-bit integers.
    U32 = 2,
    /// Unsigned 64-bit integers.
    U64 = 3,
    /// Signed 64-bit integers.
    I64 = 4,
}

impl ArrayKind {
    fn from_code(code: u32) -> Option<ArrayKind> {
        [ArrayKind::Bytes, ArrayKind::U32, ArrayKind::U64, ArrayKind::I64].into_iter().find(|kind| *kind as u32 == code)
    }

    fn width(self) -> u64 {
        match self {
            ArrayKind::Bytes => 1,
            ArrayKind::U32 => 4,
            ArrayKind::U64 | ArrayKind::I64 => 8,
        }
    }

    fn name(self) -> &'static str {
        match self {
            ArrayKind::Bytes => "bytes",
            ArrayKind::U32 => "u32",
            ArrayKind::U64 => "u64",
            ArrayKind::I64 => "i64",
        }
    }
}

/// An element type an array file holds.
pub(crate) trait Element: Pod {
    /// Its kind in the table.
    const KIND: ArrayKind;
    /// The values of an array read from a file, if it holds this type
    /// (in memory: a mapped array is bytes, taken through
    /// [`ArrayReader::arena`]).
    fn from_array(array: Array) -> Option<Vec<Self>>;
}

/// `Element` for a type and the `Array` variant that holds it.
macro_rules! element {
    ($type:ty, $kind:ident) => {
        impl Element for $type {
            const KIND: ArrayKind = ArrayKind::$kind;
            fn from_array(array: Array) -> Option<Vec<Self>> {
                match array {
                    Array::$kind(values) => Some(values),
                    _ => None,
                }
            }
        }
    };
}
element!(u8, Bytes);
element!(u32, U32);
element!(u64, U64);
element!(i64, I64);

// The arrays are the in-memory bytes of the vectors.
const _: () = assert!(cfg!(target_endian = "little"), "the array file is read and written little-endian");

/// One array's place in the file.
#[derive(Clone, Copy, Debug)]
struct Entry {
    offset: u64,
    length: u64,
    kind: ArrayKind,
    checksum: u32,
}

/// Writes an array file: arrays in order, then the table and the header.
pub(crate) struct ArrayFileWriter {
    file: BufWriter<File>,
    path: PathBuf,
    at: u64,
    table: Vec<Entry>,
}

impl ArrayFileWriter {
    /// Creates `path`, which must not exist.
    pub(crate) fn create(path: &Path) -> Result<ArrayFileWriter, StoreError> {
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|error| StoreError::io(path, "creating", error))?;
        let mut writer = ArrayFileWriter {
            file: BufWriter::with_capacity(1 << 20, file),
            path: path.to_owned(),
            at: 0,
            table: Vec::new(),
        };
        writer.put(&[0; HEADER_BYTES as usize])?;
        Ok(writer)
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.file.write_all(bytes).map_err(|error| StoreError::io(&self.path, "writing", error))?;
        self.at += bytes.len() as u64;
        Ok(())
    }

    /// Appends an array.
    pub(crate) fn array<T: Element>(&mut self, values: &[T]) -> Result<(), StoreError> {
        let bytes: &[u8] = bytemuck::cast_slice(values);
        self.table.push(Entry {
            offset: self.at,
            length: bytes.len() as u64,
            kind: T::KIND,
            checksum: crc32c::crc32c(bytes),
        });
        self.put(bytes)?;
        let padding = (ALIGN - self.at % ALIGN) % ALIGN;
        self.put(&[0; ALIGN as usize][..padding as usize])
    }

    /// Appends bitmaps as two arrays: their portable serializations back
    /// to back, and where each ends.
    pub(crate) fn bitmaps(&mut self, bitmaps: &[RoaringBitmap]) -> Result<(), StoreError> {
        let mut bytes = Vec::with_capacity(bitmaps.iter().map(RoaringBitmap::serialized_size).sum());
        let mut ends = Vec::with_capacity(bitmaps.len());
        for bitmap in bitmaps {
            bitmap.serialize_into(&mut bytes).expect("writing to a vector cannot fail");
            ends.push(bytes.len() as u64);
        }
        self.array(&bytes)?;
        self.array(&ends)
    }

    /// Writes the table and the header and makes the file durable.
    pub(crate) fn finish(mut self) -> Result<(), StoreError> {
        let table_offset = self.at;
        let mut table = Vec::with_capacity(self.table.len() * ENTRY_BYTES);
        for entry in &self.table {
            table.extend_from_slice(&entry.offset.to_le_bytes());
            table.extend_from_slice(&entry.length.to_le_bytes());
            table.extend_from_slice(&(entry.kind as u32).to_le_bytes());
            table.extend_from_slice(&entry.checksum.to_le_bytes());
        }
        self.put(&table)?;
        let mut header = Vec::with_capacity(HEADER_BYTES as usize);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&SEGMENT_FORMAT_VERSION.to_le_bytes());
        header.extend_from_slice(&(self.table.len() as u32).to_le_bytes());
        header.extend_from_slice(&table_offset.to_le_bytes());
        header.extend_from_slice(&crc32c::crc32c(&table).to_le_bytes());
        header.extend_from_slice(&crc32c::crc32c(&header).to_le_bytes());
        let path = self.path;
        let mut file = self.file.into_inner().map_err(|error| StoreError::io(&path, "writing", error.into_error()))?;
        file.seek(SeekFrom::Start(0)).map_err(|error| StoreError::io(&path, "writing", error))?;
        file.write_all(&header).map_err(|error| StoreError::io(&path, "writing", error))?;
        file.sync_all().map_err(|error| StoreError::io(&path, "syncing", error))
    }
}

/// An array read from a file, in the vector that keeps it.
#[derive(Debug)]
pub(crate) enum Array {
    /// Bytes.
    Bytes(Vec<u8>),
    /// `u32`s.
    U32(Vec<u32>),
    /// `u64`s.
    U64(Vec<u64>),
    /// `i64`s.
    I64(Vec<i64>),
    /// Bytes used in place: the array's own mapping of the file.
    Mapped(Arc<memmap2::Mmap>),
}

/// Reads every array of `path`, checking the header, the table and each
/// array's checksum; arrays are read in parallel, each straight into its
/// own vector.
fn read_array_file(path: &Path) -> Result<(u32, Vec<Array>), StoreError> {
    let file = File::open(path).map_err(|error| StoreError::io(path, "opening", error))?;
    let file_length = file.metadata().map_err(|error| StoreError::io(path, "reading", error))?.len();
    let (version, entries) = read_table(&file, path, file_length)?;
    let arrays = entries
        .par_iter()
        .map(|entry| match entry.kind == ArrayKind::Bytes && entry.length >= MAP_AT_LEAST {
            true => {
                // Only the array is mapped, so that the pages of the arrays
                // read into memory are not held twice.
                let map = crate::sys::map_file_range(&file, entry.offset, entry.length as usize)
                    .map_err(|error| StoreError::io(path, "mapping", error))?;
                let checksum = map
                    .par_chunks(16 << 20)
                    .map(|chunk| (crc32c::crc32c(chunk), chunk.len()))
                    .collect::<Vec<_>>()
                    .into_iter()
                    .fold(0, |crc, (chunk, length)| crc32c::crc32c_combine(crc, chunk, length));
                if checksum != entry.checksum {
                    return Err(StoreError::corrupt(
                        path,
                        entry.offset,
                        format!("an array of {} bytes fails its checksum", entry.length),
                    ));
                }
                Ok(Array::Mapped(Arc::new(map)))
            }
            false => read_array(&file, path, entry),
        })
        .collect::<Result<Vec<Array>, StoreError>>()?;
    Ok((version, arrays))
}

/// The file's format version and its table of arrays.
fn read_table(file: &File, path: &Path, file_length: u64) -> Result<(u32, Vec<Entry>), StoreError> {
    let mut header = [0u8; HEADER_BYTES as usize];
    if file_length < HEADER_BYTES {
        return Err(StoreError::corrupt(path, file_length, "the file is shorter than its header"));
    }
    file.read_exact_at(&mut header, 0).map_err(|error| StoreError::io(path, "reading", error))?;
    if &header[..8] != MAGIC {
        return Err(StoreError::corrupt(path, 0, "not a msgdex segment file (wrong magic bytes)"));
    }
    let word = |at: usize| u32::from_le_bytes(header[at..at + 4].try_into().expect("4 bytes"));
    if crc32c::crc32c(&header[..28]) != word(28) {
        return Err(StoreError::corrupt(path, 0, "the header's checksum does not match"));
    }
    let version = word(8);
    if !(1..=SEGMENT_FORMAT_VERSION).contains(&version) {
        return Err(StoreError::Version { path: path.to_owned(), found: version, supported: SEGMENT_FORMAT_VERSION });
    }
    let count = word(12);
    let table_offset = u64::from_le_bytes(header[16..24].try_into().expect("8 bytes"));
    let table_length = u64::from(count) * ENTRY_BYTES as u64;
    if count > MOST_ARRAYS || table_offset.checked_add(table_length) != Some(file_length) {
        return Err(StoreError::corrupt(path, 16, "the table does not end the file"));
    }
    let mut table = vec![0u8; table_length as usize];
    file.read_exact_at(&mut table, table_offset).map_err(|error| StoreError::io(path, "reading", error))?;
    if crc32c::crc32c(&table) != word(24) {
        return Err(StoreError::corrupt(path, table_offset, "the table's checksum does not match"));
    }
    table
        .chunks_exact(ENTRY_BYTES)
        .enumerate()
        .map(|(index, bytes)| {
            let at = table_offset + (index * ENTRY_BYTES) as u64;
            let offset = u64::from_le_bytes(bytes[0..8].try_into().expect("8 bytes"));
            let length = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
            let kind = u32::from_le_bytes(bytes[16..20].try_into().expect("4 bytes"));
            let checksum = u32::from_le_bytes(bytes[20..24].try_into().expect("4 bytes"));
            let kind = ArrayKind::from_code(kind)
                .ok_or_else(|| StoreError::corrupt(path, at, format!("array {index} has unknown kind {kind}")))?;
            let fits = offset >= HEADER_BYTES && offset.checked_add(length).is_some_and(|end| end <= table_offset);
            if !fits || length % kind.width() != 0 || offset % ALIGN != 0 {
                return Err(StoreError::corrupt(path, at, format!("array {index} does not fit the file")));
            }
            Ok(Entry { offset, length, kind, checksum })
        })
        .collect::<Result<Vec<Entry>, StoreError>>()
        .map(|entries| (version, entries))
}

fn read_array(file: &File, path: &Path, entry: &Entry) -> Result<Array, StoreError> {
    fn read<T: Element>(file: &File, path: &Path, entry: &Entry) -> Result<Vec<T>, StoreError> {
        let count = (entry.length / entry.kind.width()) as usize;
        let (values, checksum) = crate::sys::read_values_at::<T>(file, entry.offset, count)
            .map_err(|error| StoreError::io(path, "reading", error))?;
        if checksum != entry.checksum {
            return Err(StoreError::corrupt(
                path,
                entry.offset,
                format!("an array of {} {} values fails its checksum", values.len(), entry.kind.name()),
            ));
        }
        Ok(values)
    }
    Ok(match entry.kind {
        ArrayKind::Bytes => Array::Bytes(read(file, path, entry)?),
        ArrayKind::U32 => Array::U32(read(file, path, entry)?),
        ArrayKind::U64 => Array::U64(read(file, path, entry)?),
        ArrayKind::I64 => Array::I64(read(file, path, entry)?),
    })
}

/// Hands out the arrays of a file in the order they were written, each
/// checked to be of the kind the reader expects.
pub(crate) struct ArrayReader {
    path: PathBuf,
    /// The file's format version.
    version: u32,
    arrays: std::vec::IntoIter<Array>,
    taken: usize,
}

impl ArrayReader {
    /// The arrays of `path`, read and verified.
    pub(crate) fn open(path: &Path) -> Result<ArrayReader, StoreError> {
        let (version, arrays) = read_array_file(path)?;
        Ok(ArrayReader { path: path.to_owned(), version, arrays: arrays.into_iter(), taken: 0 })
    }

    /// The file's format version (readers of arrays a later version added
    /// skip them in earlier files).
    pub(crate) fn version(&self) -> u32 {
        self.version
    }

    /// Damage described as a structure problem at array `index`.
    pub(crate) fn malformed(&self, problem: impl std::fmt::Display) -> StoreError {
        StoreError::corrupt(&self.path, 0, format!("array {}: {problem}", self.taken.saturating_sub(1)))
    }

    fn next(&mut self, kind: ArrayKind) -> Result<Array, StoreError> {
        self.taken += 1;
        let array = self.arrays.next().ok_or_else(|| self.malformed(format!("missing (a {} array)", kind.name())))?;
        Ok(array)
    }

    /// The next array, which must hold bytes, in memory.
    pub(crate) fn bytes(&mut self) -> Result<Vec<u8>, StoreError> {
        match self.arena()? {
            Arena::Owned(bytes) => Ok(bytes),
            mapped => Ok(mapped.to_vec()),
        }
    }

    /// The next array, which must hold bytes: in place in the mapped file
    /// if it is large, else in memory.
    pub(crate) fn arena(&mut self) -> Result<Arena, StoreError> {
        match self.next(ArrayKind::Bytes)? {
            Array::Bytes(values) => Ok(Arena::Owned(values)),
            Array::Mapped(map) => Ok(Arena::Mapped(map)),
            _ => Err(self.malformed("bytes expected")),
        }
    }

    /// The next array, which must hold values of type `T`.
    pub(crate) fn values<T: Element>(&mut self) -> Result<Vec<T>, StoreError> {
        let array = self.next(T::KIND)?;
        T::from_array(array).ok_or_else(|| self.malformed(format!("{} values expected", T::KIND.name())))
    }

    /// The next bitmaps, as [`ArrayFileWriter::bitmaps`] wrote them.
    pub(crate) fn bitmaps(&mut self) -> Result<Vec<RoaringBitmap>, StoreError> {
        let bytes = self.bytes()?;
        let ends = self.values::<u64>()?;
        let starts = std::iter::once(0).chain(ends.iter().copied());
        let spans: Vec<(u64, u64)> = starts.zip(ends.iter().copied()).collect();
        if spans.iter().any(|&(start, end)| start > end) || ends.last().is_some_and(|&end| end != bytes.len() as u64) {
            return Err(self.malformed("bitmaps do not lie in order inside their bytes"));
        }
        spans
            .par_iter()
            .with_min_len(256)
            .map(|&(start, end)| {
                RoaringBitmap::deserialize_from(&bytes[start as usize..end as usize])
                    .map_err(|error| self.malformed(format!("a bitmap does not decode: {error}")))
            })
            .collect()
    }

    /// Checks that every array was taken.
    pub(crate) fn finish(mut self) -> Result<(), StoreError> {
        match self.arrays.next() {
            None => Ok(()),
            Some(_) => {
                self.taken += 1;
                Err(self.malformed("more arrays than a segment holds"))
            }
        }
    }
}
