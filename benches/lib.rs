//! Criterion benchmarks of msgdex's hot paths; the benchmarks themselves
//! are in `engine.rs` (`cargo bench -p msgdex-benches`).
