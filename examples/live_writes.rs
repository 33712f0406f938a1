//! Times single-message upserts on a live store built from generated data,
//! for profiling the write path: `cargo run --release --example live_writes -- 200000 50000 [TAIL_LIMIT] [BACKGROUND 0|1] [COMPACT_PERCENT]`.

use std::time::Instant;

use msgdex::workload::data::DataGenerator;
use msgdex::{LiveEngine, Writable};

fn main() {
    let mut arguments = std::env::args().skip(1).map(|argument| argument.parse::<usize>().expect("a number"));
    let count = arguments.next().unwrap_or(200_000);
    let writes = arguments.next().unwrap_or(50_000);
    let tail_limit = arguments.next().unwrap_or(msgdex::live::LivePolicy::default().tail_limit);
    let background = arguments.next().unwrap_or(1) == 1;
    let compact_percent = arguments.next().unwrap_or(6);
    let messages: Vec<_> = DataGenerator::new(count as u64, 3).collect();
    let built = Instant::now();
    let segment = msgdex::store::Segment::from_messages(&messages).expect("generated Ids are unique");
    let policy = msgdex::live::LivePolicy {
        tail_limit,
        background,
        compact_fraction: compact_percent as f64 / 100.0,
        merge_fanout: std::env::var("FANOUT")
            .ok()
            .and_then(|fanout| fanout.parse().ok())
            .unwrap_or(msgdex::live::LivePolicy::default().merge_fanout),
        ..msgdex::live::LivePolicy::default()
    };
    let engine = LiveEngine::with_policy(std::sync::Arc::new(segment), policy);
    eprintln!("built in {:.2} s", built.elapsed().as_secs_f64());
    let started = Instant::now();
    for (serial, message) in messages.iter().cycle().take(writes).enumerate() {
        let mut message = message.clone();
        message.subject = Some(format!("edit {serial}"));
        engine.upsert(message).expect("valid upsert");
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!("{writes} upserts in {elapsed:.3} s: {:.0}/s; {:?}", writes as f64 / elapsed, engine.stats());
    engine.wait_for_compaction();
    let started = Instant::now();
    engine.compact().expect("compaction");
    println!("compaction in {:.3} s; {:?}", started.elapsed().as_secs_f64(), engine.stats());
}
