//! Per-template latency of a live store with runs and dead rows in a fixed
//! shape (no background work), against the same data read-only:
//! `cargo run --release --example live_parts -- 200000 10000` (env TEMPLATE,
//! ROUNDS, MODE, FANOUT, TAIL: see below).

use std::time::Instant;

use msgdex::LivePolicy;
use msgdex::{Engine, FastEngine, LiveEngine, Writable};
use msgdex_bench::workload::{data::DataGenerator, mix};

fn main() {
    msgdex_bench::process::prepare_process_memory();
    let mut arguments = std::env::args().skip(1).map(|argument| argument.parse::<usize>().expect("a number"));
    let count = arguments.next().unwrap_or(200_000);
    let writes = arguments.next().unwrap_or(10_000);
    let messages: Vec<_> = DataGenerator::new(count as u64, 3).collect();
    let fast = FastEngine::new(&messages).expect("generated Ids are unique");
    let merge_fanout = std::env::var("FANOUT")
        .ok()
        .and_then(|fanout| fanout.parse().ok())
        .unwrap_or(msgdex::LivePolicy::default().merge_fanout);
    let tail_limit = std::env::var("TAIL")
        .ok()
        .and_then(|limit| limit.parse().ok())
        .unwrap_or(msgdex::LivePolicy::default().tail_limit);
    let policy = LivePolicy { background: false, merge_fanout, tail_limit, ..LivePolicy::default() };
    let live = LiveEngine::with_policy(fast.shared_segment(), policy);
    for serial in 0..writes {
        let mut message = messages[(serial * 7919) % messages.len()].clone();
        message.subject = Some(format!("edit {serial}"));
        // As the bench edits: a later `modified`.
        message.modified = msgdex::DateTime::parse("2031-01-01 00:00:00")
            .and_then(|start| msgdex::DateTime::from_seconds(start.seconds() + serial as i64));
        // MODE=delete kills base rows only; MODE=insert adds runs only.
        match std::env::var("MODE").as_deref() {
            Ok("delete") => live.delete(&message.id).expect("an existing message"),
            Ok("insert") => {
                message.id.push_str("-new");
                live.upsert(message).expect("valid upsert");
            }
            _ => {
                live.upsert(message).expect("valid upsert");
            }
        }
    }
    println!("{:?}", live.stats());
    let requests = mix::generate(&messages, 7, 30);
    let time = |engine: &dyn Engine, template: &str| {
        let mut samples: Vec<f64> = requests
            .iter()
            .filter(|request| request.template.to_string() == template)
            .map(|request| {
                let started = Instant::now();
                std::hint::black_box(engine.respond(&request.target));
                started.elapsed().as_secs_f64() * 1e6
            })
            .collect();
        samples.sort_by(f64::total_cmp);
        samples[samples.len() / 2]
    };
    let only = std::env::var("TEMPLATE").ok();
    for template in msgdex_bench::workload::mix::Template::all() {
        let name = template.to_string();
        if only.as_ref().is_some_and(|only| *only != name) {
            continue;
        }
        if only.is_some() {
            // Profile this template alone: many rounds on the live store.
            let rounds = std::env::var("ROUNDS").ok().and_then(|rounds| rounds.parse().ok()).unwrap_or(200);
            for _ in 0..rounds {
                time(&live, &name);
            }
        }
        let _ = (time(&fast, &name), time(&live, &name));
        println!("{name}: read-only {:.1} µs, live {:.1} µs", time(&fast, &name), time(&live, &name));
    }
}

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: msgdex_bench::process::Allocator = msgdex_bench::process::Allocator;
