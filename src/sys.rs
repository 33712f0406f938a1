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
