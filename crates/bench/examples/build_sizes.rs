//! Times segment builds at several sizes, for profiling run builds:
//! `cargo run --release --example build_sizes -- [SIZES…]`.

use std::time::Instant;

use msgdex::testing::SegmentBuilder;
use msgdex_bench::workload::data::DataGenerator;

fn main() {
    msgdex_bench::process::prepare_process_memory();
    let sizes: Vec<usize> = std::env::args().skip(1).map(|size| size.parse().expect("a number")).collect();
    let sizes = if sizes.is_empty() { vec![64, 1024, 16384, 65536] } else { sizes };
    let messages: Vec<_> = DataGenerator::new(*sizes.iter().max().expect("a size") as u64, 3).collect();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("a pool");
    for &size in &sizes {
        let rounds = (262_144 / size).max(1);
        let (mut push, mut finish) = (0.0, 0.0);
        for _ in 0..rounds {
            let started = Instant::now();
            let mut builder = SegmentBuilder::new();
            builder.push_batch(&messages[..size]).expect("unique");
            push += started.elapsed().as_secs_f64();
            let started = Instant::now();
            std::hint::black_box(if std::env::var("POOL").is_ok() {
                pool.install(|| builder.finish())
            } else {
                builder.finish()
            });
            finish += started.elapsed().as_secs_f64();
        }
        let per_row = |seconds: f64| seconds / (rounds * size) as f64 * 1e6;
        println!("{size} rows: push {:.2} µs/row, finish {:.2} µs/row", per_row(push), per_row(finish));
    }
}

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: msgdex_bench::process::Allocator = msgdex_bench::process::Allocator;
