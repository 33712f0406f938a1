//! Times run merges (two segments' live rows rebuilt as one) at several
//! sizes, for profiling the live store's maintenance:
//! `cargo run --release --example merge_cost -- [SIZES…]`.

use std::time::Instant;

use msgdex::testing::{Segment, SegmentBuilder};
use msgdex_bench::workload::data::DataGenerator;

fn main() {
    msgdex_bench::process::prepare_process_memory();
    let sizes: Vec<usize> = std::env::args().skip(1).map(|size| size.parse().expect("a number")).collect();
    let sizes = if sizes.is_empty() { vec![1024, 16384, 65536] } else { sizes };
    let messages: Vec<_> = DataGenerator::new(2 * *sizes.iter().max().expect("a size") as u64, 3).collect();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("a pool");
    for &size in &sizes {
        let older = std::sync::Arc::new(Segment::from_messages(&messages[..size]).expect("unique"));
        let newer = std::sync::Arc::new(Segment::from_messages(&messages[size..2 * size]).expect("unique"));
        let rounds = (262_144 / size).max(1);
        let (mut push, mut finish) = (0.0, 0.0);
        for _ in 0..rounds {
            pool.install(|| {
                let started = Instant::now();
                let mut builder = SegmentBuilder::new();
                builder.reserve_for_copies(&[(&older, size), (&newer, size)]);
                builder.push_live_rows(&older, None).expect("fits");
                builder.push_live_rows(&newer, None).expect("fits");
                push += started.elapsed().as_secs_f64();
                let started = Instant::now();
                std::hint::black_box(builder.finish());
                finish += started.elapsed().as_secs_f64();
            });
        }
        let per_row = |seconds: f64| seconds / (rounds * 2 * size) as f64 * 1e6;
        println!("2 × {size} rows: push {:.2} µs/row, finish {:.2} µs/row", per_row(push), per_row(finish));
    }
}

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: msgdex_bench::process::Allocator = msgdex_bench::process::Allocator;
