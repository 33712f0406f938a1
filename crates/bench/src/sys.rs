//! The benchmark tools' calls into the operating system and the allocator
//! that Rust cannot check: this crate's only `unsafe` code.

/// Turns transparent huge pages off for this process (Linux; elsewhere
/// nothing happens).
pub(crate) fn disable_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE only sets a flag of this process.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// Returns memory the allocator holds but does not use to the system.
pub(crate) fn release_free_memory() {
    #[cfg(feature = "mimalloc")]
    // SAFETY: mi_collect only releases free memory held by mimalloc (none
    // when the program allocates with another allocator).
    unsafe {
        libmimalloc_sys::mi_collect(true);
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory held by the allocator.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Tells the kernel that the cached pages of the file at `path` are no
/// longer needed (Linux; elsewhere nothing happens).
pub(crate) fn release_page_cache(path: &std::path::Path) {
    #[cfg(target_os = "linux")]
    if let Ok(file) = std::fs::File::open(path) {
        use std::os::fd::AsRawFd;
        // SAFETY: posix_fadvise only advises the kernel about the caching of
        // this open file; it reads and writes no memory of ours.
        unsafe {
            libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = path;
}
