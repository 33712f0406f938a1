//! Times the build of small segments from messages, as the live store's
//! flusher makes a run of its tail, split into adding the messages and
//! building the indexes: `cargo run --release --example tail_build -- [ROWS]`.

use std::time::Instant;

use msgdex::testing::SegmentBuilder;
use msgdex_bench::workload::data::DataGenerator;

fn main() {
    msgdex_bench::process::prepare_process_memory();
    let size: usize = std::env::args().nth(1).map_or(64, |size| size.parse().expect("a number"));
    let rounds = (200_000 / size).max(1);
    let messages: Vec<_> = DataGenerator::new(1_000_000, 3).take(size * rounds).collect();
    // One thread, as the flusher builds.
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("a pool");
    pool.install(|| {
        let (mut push, mut finish) = (0.0, 0.0);
        for chunk in messages.chunks(size) {
            let started = Instant::now();
            let mut builder = SegmentBuilder::new();
            builder.push_batch(chunk).expect("generated Ids are unique");
            push += started.elapsed().as_secs_f64();
            let started = Instant::now();
            std::hint::black_box(builder.finish());
            finish += started.elapsed().as_secs_f64();
        }
        let per_build = |seconds: f64| seconds / rounds as f64 * 1e6;
        println!("{size}-row builds: push {:.1} µs, finish {:.1} µs", per_build(push), per_build(finish));
    });
}

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: msgdex_bench::process::Allocator = msgdex_bench::process::Allocator;
