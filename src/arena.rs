//! The text of a dictionary: owned while it is built, or mapped from the
//! segment file it was opened from, so that reopening a store does not copy
//! its largest arrays (the message texts) out of the page cache.
//!
//! A mapped arena is read-only; the builders that append to an arena only
//! ever hold owned ones ([`Arena::owned`] copies a mapped one first).
//!
//! *Invariant:* a mapped arena's bytes were checked against their checksum
//! when the file was opened, and the file is never written again (segment
//! files are immutable, and the data directory's lock keeps other msgdex
//! processes out).

use std::ops::Deref;
use std::sync::Arc;

/// Bytes owned, or a range of a mapped file.
#[derive(Debug)]
pub enum Arena {
    /// Bytes in memory, as a builder makes them.
    Owned(Vec<u8>),
    /// An array of a segment file, mapped.
    Mapped(Arc<memmap2::Mmap>),
}

impl Default for Arena {
    fn default() -> Self {
        Arena::Owned(Vec::new())
    }
}

impl Deref for Arena {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        match self {
            Arena::Owned(bytes) => bytes,
            Arena::Mapped(map) => map,
        }
    }
}

impl Arena {
    /// The bytes to append to, copied out of the mapping first if mapped.
    pub fn owned(&mut self) -> &mut Vec<u8> {
        if let Arena::Mapped(_) = self {
            *self = Arena::Owned(self.to_vec());
        }
        match self {
            Arena::Owned(bytes) => bytes,
            Arena::Mapped(_) => unreachable!("made owned above"),
        }
    }

    /// Bytes of memory this arena holds on the heap (a mapping holds none:
    /// its pages belong to the page cache).
    pub fn heap_bytes(&self) -> usize {
        match self {
            Arena::Owned(bytes) => bytes.capacity(),
            Arena::Mapped(_) => 0,
        }
    }
}
