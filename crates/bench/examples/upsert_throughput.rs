//! Times single-message upserts on a live store built from generated data,
//! for profiling the write path: `cargo run --release -p msgdex-bench --example upsert_throughput -- 200000 50000 [TAIL_LIMIT] [BACKGROUND 0|1] [COMPACT_PERCENT]`
//! (env FANOUT, SCATTER; COMPACT=0 skips the final compaction).

use std::time::Instant;

use msgdex::{LiveEngine, Writable};
use msgdex_bench::workload::data::DataGenerator;

fn main() {
    msgdex_bench::process::prepare_process_memory();
    let mut arguments = std::env::args().skip(1).map(|argument| argument.parse::<usize>().expect("a number"));
    let count = arguments.next().unwrap_or(200_000);
    let writes = arguments.next().unwrap_or(50_000);
    let tail_limit = arguments.next().unwrap_or(msgdex::LivePolicy::default().tail_limit);
    let background = arguments.next().unwrap_or(1) == 1;
    let compact_percent = arguments.next().unwrap_or(6);
    let messages: Vec<_> = DataGenerator::new(count as u64, 3).collect();
    let built = Instant::now();
    let segment = msgdex::testing::Segment::from_messages(&messages).expect("generated Ids are unique");
    let policy = msgdex::LivePolicy {
        tail_limit,
        background,
        compact_fraction: compact_percent as f64 / 100.0,
        merge_fanout: std::env::var("FANOUT")
            .ok()
            .and_then(|fanout| fanout.parse().ok())
            .unwrap_or(msgdex::LivePolicy::default().merge_fanout),
        ..msgdex::LivePolicy::default()
    };
    let engine = LiveEngine::with_policy(std::sync::Arc::new(segment), policy);
    eprintln!("built in {:.2} s", built.elapsed().as_secs_f64());
    // SCATTER=1 edits messages all over the `_id` range (as the bench's
    // writer does) instead of in `_id` order. The edits are made before
    // the clock starts.
    let scatter = std::env::var("SCATTER").is_ok_and(|scatter| scatter == "1");
    let edits: Vec<_> = (0..writes)
        .map(|serial| {
            let position = if scatter { serial * 7919 % messages.len() } else { serial % messages.len() };
            let mut message = messages[position].clone();
            message.subject = Some(format!("edit {serial}"));
            message
        })
        .collect();
    let (faults_before, cpu_before) = (minor_faults(), cpu_seconds());
    let started = Instant::now();
    for message in edits {
        engine.upsert(message).expect("valid upsert");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;
    println!(
        "{writes} upserts in {elapsed:.3} s: {:.0}/s ({:.0} per CPU second), {} page faults; {:?}",
        writes as f64 / elapsed,
        writes as f64 / cpu,
        minor_faults() - faults_before,
        engine.stats()
    );
    engine.wait_for_compaction();
    println!("settled: {:?}", engine.stats());
    if std::env::var("COMPACT").is_ok_and(|compact| compact == "0") {
        std::process::exit(0); // (without dropping the data: profiles show only the writes)
    }
    let started = Instant::now();
    engine.compact().expect("compaction");
    println!("compaction in {:.3} s; {:?}", started.elapsed().as_secs_f64(), engine.stats());
}

/// CPU seconds this process (its threads included) has run so far, user
/// and system: on a shared machine, steadier than the wall clock.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes only the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let seconds = |time: libc::timeval| time.tv_sec as f64 + time.tv_usec as f64 * 1e-6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// Page faults served without I/O by this process so far (its threads'
/// included): a measure of fresh memory touched.
fn minor_faults() -> i64 {
    // SAFETY: getrusage writes only the struct it is given.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage.ru_minflt
    }
}

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: msgdex_bench::process::Allocator = msgdex_bench::process::Allocator;
