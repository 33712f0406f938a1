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

/// What [`train_zstd_dictionary`] trains with: zstd's fastCover at fixed
/// parameters (segment size `k`, d-mer size `d`, in bytes; zstd takes `d`
/// of 6 or 8, and `k` from `d` up to the dictionary's size). The rest are
/// zstd's defaults, fixed in [`train_zstd_dictionary`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct FastCover {
    pub(crate) k: u32,
    pub(crate) d: u32,
}

/// A zstd dictionary of at most `capacity` bytes trained on `samples`
/// (texts run together, `sizes` each one's length) with fastCover at
/// `parameters`, or the reason it was not (zstd's own, such as too few
/// samples or parameters out of its range).
///
/// zstd's own `ZDICT_trainFromBuffer` tries several segment sizes and
/// keeps the best: several trainings for one, for dictionaries measured
/// about as good (docs/ARCHITECTURE.md, "Compact storage").
pub(crate) fn train_zstd_dictionary(
    samples: &[u8],
    sizes: &[usize],
    capacity: usize,
    parameters: FastCover,
) -> Result<Vec<u8>, String> {
    use zstd_safe::zstd_sys;
    let total = sizes.iter().try_fold(0usize, |total, &size| total.checked_add(size));
    if total != Some(samples.len()) {
        return Err("the samples' sizes do not add up to their text".to_owned());
    }
    let count = u32::try_from(sizes.len()).map_err(|_| "2^32 samples or more".to_owned())?;
    // SAFETY: the structure is all integers and floats, for which zero is
    // a valid value (zstd reads zero as "the default" for the fields not
    // set below).
    let mut fast_cover: zstd_sys::ZDICT_fastCover_params_t = unsafe { std::mem::zeroed() };
    fast_cover.k = parameters.k;
    fast_cover.d = parameters.d;
    // zstd's defaults for the frequency table's size and the speed-up,
    // and every sample trained on (none held back to test parameters).
    (fast_cover.f, fast_cover.accel, fast_cover.splitPoint) = (20, 1, 1.0);
    let mut dictionary = vec![0u8; capacity];
    // SAFETY: `dictionary` is writable for `capacity` bytes; `samples` is
    // readable for the sum of `sizes` (checked above), which is readable
    // for `count` elements; zstd writes only into `dictionary` and keeps no
    // pointer past the call.
    let written = unsafe {
        zstd_sys::ZDICT_trainFromBuffer_fastCover(
            dictionary.as_mut_ptr().cast(),
            capacity,
            samples.as_ptr().cast(),
            sizes.as_ptr(),
            count,
            fast_cover,
        )
    };
    // SAFETY: a pure function of its argument.
    if unsafe { zstd_sys::ZDICT_isError(written) } != 0 {
        // SAFETY: zstd names every error code with a static, NUL-terminated
        // string.
        let name = unsafe { std::ffi::CStr::from_ptr(zstd_sys::ZDICT_getErrorName(written)) };
        return Err(format!("zstd declined to train a dictionary: {}", name.to_string_lossy()));
    }
    dictionary.truncate(written.min(capacity));
    Ok(dictionary)
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

#[cfg(test)]
mod tests {
    use super::*;

    const TRAINING: FastCover = FastCover { k: 200, d: 8 };

    #[test]
    fn a_dictionary_is_trained_within_its_capacity_or_refused_with_the_reason() {
        let texts: Vec<String> = (0..3000)
            .map(|index| format!("\"Dear family {index}, your visit on day {} is booked\"", index % 9))
            .collect();
        let samples = texts.concat().into_bytes();
        let sizes: Vec<usize> = texts.iter().map(String::len).collect();
        let dictionary = train_zstd_dictionary(&samples, &sizes, 4096, TRAINING).expect("enough samples");
        assert!(!dictionary.is_empty() && dictionary.len() <= 4096, "{} bytes", dictionary.len());
        // A dictionary starts with zstd's dictionary magic number.
        assert_eq!(dictionary[..4], [0x37, 0xA4, 0x30, 0xEC]);
        assert_eq!(
            train_zstd_dictionary(&samples[1..], &sizes, 4096, TRAINING),
            Err("the samples' sizes do not add up to their text".to_owned())
        );
        let refused = |samples: &[u8], sizes: &[usize], parameters| {
            let error = train_zstd_dictionary(samples, sizes, 4096, parameters).expect_err("refused");
            assert!(error.starts_with("zstd declined to train a dictionary: "), "{error}");
        };
        refused(&samples[..sizes[0]], &sizes[..1], TRAINING);
        refused(&samples, &sizes, FastCover { k: 200, d: 3 });
    }
}
