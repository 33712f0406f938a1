//! Time to reopen a data directory read-only, for profiling:
//! `cargo run --release -p msgdex-bench --example reopen -- bench-data/1m.store 5`
//! (`msgdex import --data bench-data/1m.jsonl --into bench-data/1m.store` first).

use std::time::Instant;

use msgdex::{Engine, FastEngine};

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: msgdex_bench::process::Allocator = msgdex_bench::process::Allocator;

fn main() {
    msgdex_bench::process::prepare_process_memory();
    let mut arguments = std::env::args().skip(1);
    let directory = arguments.next().expect("a data directory");
    let rounds: usize = arguments.next().map_or(3, |rounds| rounds.parse().expect("a number of rounds"));
    for _ in 0..rounds {
        let started = Instant::now();
        let engine = FastEngine::open(&directory).expect("the directory opens");
        println!("reopened {} messages in {:.3} s", engine.message_count(), started.elapsed().as_secs_f64());
    }
}
