use std::time::Instant;
use msgdex::workload::data::DataGenerator;
use msgdex::store::{Segment, SegmentBuilder};
fn main() {
    let messages: Vec<_> = DataGenerator::new(5000, 3).collect();
    for size in [std::env::args().nth(1).map_or(64usize, |a| a.parse().unwrap())] {
        let started = Instant::now();
        let rounds = 200_000 / size;
        for round in 0..rounds { let s = Segment::from_messages(&messages[(round % 1)..(round%1)+size]).unwrap(); std::hint::black_box(s); }
        println!("build {size}: {:.1} µs per build, {:.2} µs per row", started.elapsed().as_secs_f64() * 1e6 / rounds as f64, started.elapsed().as_secs_f64() * 1e6 / (rounds * size) as f64);
        let seg = Segment::from_messages(&messages[..size]).unwrap();
        let started = Instant::now();
        for _ in 0..rounds { let mut b = SegmentBuilder::new(); b.push_live_rows(&seg, None).unwrap(); std::hint::black_box(b.finish()); }
        println!("copy {size}: {:.1} µs per build, {:.2} µs per row", started.elapsed().as_secs_f64() * 1e6 / rounds as f64, started.elapsed().as_secs_f64() * 1e6 / (rounds * size) as f64);
    }
}
