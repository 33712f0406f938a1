//! How msgdex's own programs (the command line, the benchmarks and the
//! examples) set up their process, and how they read its memory.

/// The allocator msgdex's programs install (feature `mimalloc`, on by
/// default). A live store's writes and merges allocate and free many
/// short-lived blocks, and glibc's malloc handed large freed blocks back to
/// the system only to fault them in again; docs/PERFORMANCE.md has the
/// figures it was chosen by. A program linking msgdex chooses its own.
#[cfg(feature = "mimalloc")]
pub use mimalloc::MiMalloc as Allocator;

/// Prepares this process's memory for msgdex's programs; their `main`
/// calls it first. It turns transparent huge pages off: mimalloc asks the
/// kernel for them, and where the kernel grants them on request it compacts
/// memory to find 2 MB pages as they are first touched, which made loading
/// slower. Linux only; elsewhere nothing happens.
pub fn prepare_process_memory() {
    crate::sys::disable_transparent_huge_pages();
}

/// Resident memory of this process, from `/proc/self/status` (0 where
/// unavailable), after returning freed heap to the system.
pub fn resident_bytes() -> u64 {
    crate::sys::release_free_memory();
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find(|line| line.starts_with("VmRSS:")).and_then(|line| {
                line.split_whitespace().nth(1).and_then(|kib| kib.parse::<u64>().ok()).map(|kib| kib * 1024)
            })
        })
        .unwrap_or(0)
}

/// Tells the kernel that the cached pages of the file at `path` are no
/// longer needed (Linux; elsewhere nothing happens).
pub fn release_page_cache(path: &std::path::Path) {
    crate::sys::release_page_cache(path);
}
