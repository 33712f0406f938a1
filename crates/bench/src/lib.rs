//! # msgdex-bench
//!
//! The benchmark workload of msgdex (docs/BENCH.md) and the tools that run
//! it, kept out of the library so that a program linking msgdex never
//! compiles them:
//!
//! * [`workload`]: the deterministic data generator and query mix;
//! * [`harness`]: `msgdex bench`, which replays the mix against several
//!   engines side by side;
//! * `sqlite` (feature `sqlite`): SQLite as a baseline engine;
//! * [`process`]: the allocator and memory settings msgdex's programs run
//!   with, and resident-memory readings.
#![deny(missing_docs)]
#![deny(unsafe_code)]

pub mod harness;
pub mod process;
#[cfg(feature = "sqlite")]
pub mod sqlite;
#[allow(unsafe_code)]
mod sys;
pub mod workload;
