//! The query mix on a live store while a writer upserts at a steady rate,
//! per template, for profiling reads under writes:
//! `cargo run --release --example live_queries -- 200000 10000`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use msgdex::{Engine, LiveEngine, Writable};
use msgdex_bench::workload::{data::DataGenerator, mix};

fn main() {
    msgdex_bench::process::prepare_process_memory();
    let mut arguments = std::env::args().skip(1).map(|argument| argument.parse::<usize>().expect("a number"));
    let count = arguments.next().unwrap_or(200_000);
    let rate = arguments.next().unwrap_or(10_000) as f64;
    let messages: Vec<_> = DataGenerator::new(count as u64, 3).collect();
    let engine = LiveEngine::new(&messages).expect("generated Ids are unique");
    let requests = mix::generate(&messages, 7, 50);
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let started = Instant::now();
            let mut serial = 0usize;
            while !stop.load(Ordering::Relaxed) {
                while (serial as f64) < started.elapsed().as_secs_f64() * rate {
                    let mut message = messages[serial % messages.len()].clone();
                    message.subject = Some(format!("edit {serial}"));
                    engine.upsert(message).expect("valid upsert");
                    serial += 1;
                }
                std::thread::sleep(Duration::from_micros(200));
            }
        });
        for round in 0..3 {
            let mut by_template: Vec<(String, Vec<Duration>)> = Vec::new();
            for request in &requests {
                let started = Instant::now();
                std::hint::black_box(engine.respond(&request.target));
                let elapsed = started.elapsed();
                let template = request.template.to_string();
                match by_template.iter_mut().find(|(known, _)| *known == template) {
                    Some((_, samples)) => samples.push(elapsed),
                    None => by_template.push((template, vec![elapsed])),
                }
            }
            let medians: Vec<String> = by_template
                .iter_mut()
                .map(|(template, samples)| {
                    samples.sort();
                    format!("{template} {:.0}", samples[samples.len() / 2].as_secs_f64() * 1e6)
                })
                .collect();
            println!("round {round}: {} | {:?}", medians.join(", "), engine.stats());
        }
        stop.store(true, Ordering::Relaxed);
    });
}

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: msgdex_bench::process::Allocator = msgdex_bench::process::Allocator;
