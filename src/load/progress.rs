//! [`LoadProgress`]: how far a load has read its input, reported as it
//! reads, so that a program can show progress on a large file.

use std::io::{self, Read};

/// How far a load has got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadProgress {
    /// Bytes of the input read so far.
    pub bytes_read: u64,
    /// The input's size, when known (a file's).
    pub total_bytes: Option<u64>,
}

/// A reader that reports the bytes read through it.
pub(crate) struct ProgressReader<R, F> {
    inner: R,
    progress: LoadProgress,
    report: F,
}

impl<R: Read, F: FnMut(LoadProgress)> ProgressReader<R, F> {
    /// `inner`, reporting to `report` after each read.
    pub(crate) fn new(inner: R, total_bytes: Option<u64>, report: F) -> ProgressReader<R, F> {
        ProgressReader { inner, progress: LoadProgress { bytes_read: 0, total_bytes }, report }
    }
}

impl<R: Read, F: FnMut(LoadProgress)> Read for ProgressReader<R, F> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buffer)?;
        if read > 0 {
            self.progress.bytes_read += read as u64;
            (self.report)(self.progress);
        }
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_read_is_reported_once() {
        let mut seen = Vec::new();
        let mut reader = ProgressReader::new(&b"0123456789"[..], Some(10), |progress| seen.push(progress));
        let mut buffer = [0; 4];
        while reader.read(&mut buffer).unwrap() > 0 {}
        let read: Vec<u64> = seen.iter().map(|progress| progress.bytes_read).collect();
        assert_eq!(read, [4, 8, 10]);
        assert!(seen.iter().all(|progress| progress.total_bytes == Some(10)));
    }
}
