//! Times the phases of list requests on a data file (a profiling aid):
//! `cargo run --release --example phase_timing -- DATA REQUESTS.tsv [REPEAT]`.
use std::time::Instant;

use msgdex::{Engine, FastEngine, QueryLimits, Request};

fn main() {
    msgdex_bench::process::prepare_process_memory();
    let args: Vec<String> = std::env::args().collect();
    let engine = FastEngine::load_path(&args[1]).unwrap();
    let text = std::fs::read_to_string(&args[2]).unwrap();
    let repeat: usize = args.get(3).and_then(|value| value.parse().ok()).unwrap_or(1);
    for line in text.lines() {
        let (template, target) = line.split_once('\t').unwrap_or(("-", line));
        let Request::List(Ok(query)) = Request::parse(target, &QueryLimits::default()) else { continue };
        let started = Instant::now();
        let plan = msgdex::testing::plan(engine.segment(), &query);
        let planned = Instant::now();
        let window = msgdex::testing::PageWindow::of(&plan);
        let execution = msgdex::testing::execute(engine.segment(), None, &plan, &window);
        let executed = Instant::now();
        for _ in 0..repeat {
            std::hint::black_box(engine.respond(target));
        }
        let repeated = Instant::now();
        println!(
            "{template} plan {:?} execute {:?} respond (mean of {repeat}) {:?} item_count {}",
            planned - started,
            executed - planned,
            (repeated - executed) / repeat as u32,
            execution.item_count
        );
    }
}

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: msgdex_bench::process::Allocator = msgdex_bench::process::Allocator;
