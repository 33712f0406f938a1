//! Every call into the operating system or the processor that Rust cannot
//! check: the crate's only `unsafe` code, each block with its SAFETY
//! argument. Everything else is `#![deny(unsafe_code)]`.

/// Asks the processor to start loading the cache line holding `pointer`,
/// so that loads which do not depend on one another overlap their misses.
/// A hint only: it reads nothing and any address is allowed.
#[inline(always)]
pub(crate) fn prefetch<T>(pointer: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint that never faults nor reads into the
    // program, whatever the address; SSE is part of x86_64.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(pointer.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = pointer;
}

/// Makes the calling thread yield the processor to normal threads: `nice`
/// as its nice value (Linux; elsewhere nothing changes).
pub(crate) fn lower_this_threads_priority(nice: i32) {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority with `who` 0 only changes the calling thread's
    // nice value (a per-thread attribute on Linux).
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, nice);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = nice;
}

/// The bytes free for this process on the file system holding `path`,
/// where the system says.
#[cfg_attr(not(feature = "stream"), allow(dead_code))]
pub(crate) fn free_bytes(path: &std::path::Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt as _;
    let path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: `statvfs` is all integers, so zeroed is a valid value; the
    // call only writes into it, and `path` is a NUL-terminated string that
    // outlives the call.
    let mut status: libc::statvfs = unsafe { std::mem::zeroed() };
    let read = unsafe { libc::statvfs(path.as_ptr(), &mut status) };
    (read == 0).then(|| (status.f_bavail as u64).saturating_mul(status.f_frsize as u64))
}

/// How many files this process may have open (its soft limit), where the
/// system says.
#[cfg_attr(not(feature = "server"), allow(dead_code))]
pub(crate) fn open_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit writes one `rlimit` into the struct we own.
        let read = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
        // `rlim_t` is u64 on Linux but not on every Unix.
        #[allow(clippy::unnecessary_cast)]
        let current = limit.rlim_cur as u64;
        (read == 0 && limit.rlim_cur != libc::RLIM_INFINITY).then_some(current)
    }
    #[cfg(not(unix))]
    None
}

/// Raises this process's soft limit on open files to its hard limit, so
/// that a server can hold as many connections as it is allowed to.
#[cfg_attr(not(feature = "server"), allow(dead_code))]
pub(crate) fn raise_open_file_limit() {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit writes one `rlimit` into the struct we own;
        // setrlimit only reads it, and raising the soft limit up to the hard
        // limit is always permitted.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max {
                limit.rlim_cur = limit.rlim_max;
                libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            }
        }
    }
}

/// Bytes each task of [`read_values_at`] reads and checksums: small enough
/// that the checksum reads them while they are still in cache.
const READ_CHUNK: usize = 1 << 20;

/// Reads `count` values of `T` stored at `offset` of `file` into a new
/// vector, without zeroing it first (the reads fill it), in parallel
/// stretches; returns it with the CRC32C of its bytes.
pub(crate) fn read_values_at<T: bytemuck::Pod>(
    file: &std::fs::File,
    offset: u64,
    count: usize,
) -> std::io::Result<(Vec<T>, u32)> {
    use rayon::prelude::*;
    use std::os::fd::AsRawFd;

    let length = count.checked_mul(std::mem::size_of::<T>()).ok_or(std::io::ErrorKind::InvalidInput)?;
    let mut values: Vec<T> = Vec::with_capacity(count);
    let base = values.as_mut_ptr().cast::<u8>() as usize;
    let descriptor = file.as_raw_fd();
    let chunks: Vec<std::io::Result<(u32, usize)>> = (0..length.div_ceil(READ_CHUNK))
        .into_par_iter()
        .map(|chunk| {
            let start = chunk * READ_CHUNK;
            let size = READ_CHUNK.min(length - start);
            let mut done = 0;
            while done < size {
                // SAFETY: `base + start .. base + start + size` lies inside the
                // vector's allocation (capacity `count` values, `length`
                // bytes); each task writes only its own stretch, and pread
                // writes at most `size - done` bytes there. The memory is
                // written through a raw pointer, never read before it is.
                let read = unsafe {
                    libc::pread(
                        descriptor,
                        (base + start + done) as *mut libc::c_void,
                        size - done,
                        (offset + (start + done) as u64) as libc::off_t,
                    )
                };
                match read {
                    0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                    read if read < 0 => {
                        let error = std::io::Error::last_os_error();
                        if error.kind() != std::io::ErrorKind::Interrupted {
                            return Err(error);
                        }
                    }
                    read => done += read as usize,
                }
            }
            // SAFETY: the loop above filled these `size` bytes.
            let bytes = unsafe { std::slice::from_raw_parts((base + start) as *const u8, size) };
            Ok((crc32c::crc32c(bytes), size))
        })
        .collect();
    let mut checksum = 0;
    for chunk in chunks {
        let (crc, size) = chunk?;
        checksum = crc32c::crc32c_combine(checksum, crc, size);
    }
    // SAFETY: every chunk was read in full (an error returned above with the
    // length still 0), so the first `count` values are initialized, and any
    // bit pattern is a valid `T` (`Pod`).
    unsafe { values.set_len(count) };
    Ok((values, checksum))
}

/// Maps `length` bytes at `offset` of a segment file read-only, its pages
/// loaded now (a checksum reads every one of them next).
pub(crate) fn map_file_range(file: &std::fs::File, offset: u64, length: usize) -> std::io::Result<memmap2::Mmap> {
    // SAFETY: a mapping is undefined behaviour only if the file changes
    // while mapped. msgdex never writes a segment file after renaming it
    // into place: it only renames another over it or unlinks it, and a
    // mapping keeps the old file's contents either way. Another program
    // that wrote or truncated the file in place would break this (reads
    // would see the new bytes, or fault with SIGBUS), as with every mapped
    // store.
    unsafe { memmap2::MmapOptions::new().offset(offset).len(length).populate().map(file) }
}

/// Seconds since 1970 by the system clock (0 if the clock is before it).
#[cfg(feature = "server")]
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs())
}

#[cfg(test)]
mod free_space_tests {
    #[test]
    fn free_space_is_read_and_a_missing_path_says_nothing() {
        let directory = tempfile::tempdir().unwrap();
        assert!(super::free_bytes(directory.path()).is_some_and(|free| free > 0));
        assert_eq!(super::free_bytes(&directory.path().join("absent")), None);
    }
}
