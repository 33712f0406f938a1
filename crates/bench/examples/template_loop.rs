//! One template of the query mix in a loop, for profiling it alone:
//! `cargo run --release -p msgdex-bench --example template_loop -- bench-data/1m.jsonl 18 20 plain`
//! answers twenty rounds of 200 requests of T18 from a store that keeps `content`
//! plain (`packed` when the fourth argument is left out), each request drawn anew as in the
//! bench (a row read twice would be warm) (`perf record -g` around it).
//! Every message draws the parameters, as in `msgdex bench`.
//!
//! Drawing them takes longer than the loop (every message is read out
//! of the store, and every template of the mix drawn): to profile the
//! requests alone, draw them once with `msgdex gen-requests --data DATA
//! --seed 7 --per-template 4000 > requests.tsv` and give the file last
//! (`… -- bench-data/1m.jsonl 16 20 packed requests.tsv`, the storage
//! then named); the template's lines of it are then answered, 200 to a
//! round, after the load alone.

use std::time::{Duration, Instant};

use msgdex::{ContentStorage, Engine, FastEngine};
use msgdex_bench::workload::mix::{self, MixRequest, Template};

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: msgdex_bench::process::Allocator = msgdex_bench::process::Allocator;

fn main() {
    msgdex_bench::process::prepare_process_memory();
    let mut arguments = std::env::args().skip(1);
    let data = arguments.next().expect("a JSON Lines file");
    let template = Template(arguments.next().map_or(18, |number| number.parse().expect("a template number")));
    let rounds: usize = arguments.next().map_or(20, |rounds| rounds.parse().expect("a number of rounds"));
    let storage: ContentStorage =
        arguments.next().map_or(ContentStorage::default(), |storage| storage.parse().expect("packed or plain"));
    let requests_file = arguments.next();
    let engine = FastEngine::load_path_with(&data, storage, |_| ()).expect("the file loads");
    let requests: Vec<MixRequest> = match requests_file {
        Some(path) => {
            let drawn = drawn_before(&path, template);
            assert!(!drawn.is_empty(), "no {template} line in {path} (a file of `msgdex gen-requests`, with tags)");
            if drawn.len() < 200 * rounds {
                eprintln!("{path} holds {} {template} requests: {} rounds", drawn.len(), drawn.len().div_ceil(200));
            }
            drawn
        }
        None => {
            let messages = engine.first_messages(usize::MAX);
            mix::generate(&messages, 7, 200 * rounds)
                .into_iter()
                .filter(|request| request.template == template)
                .collect()
        }
    };
    for (round, requests) in requests.chunks(200).take(rounds).enumerate() {
        let mut samples: Vec<Duration> = requests
            .iter()
            .map(|request| {
                let started = Instant::now();
                std::hint::black_box(engine.respond(&request.target));
                started.elapsed()
            })
            .collect();
        samples.sort_unstable();
        println!("round {round}: {template} median {:.2} us", samples[samples.len() / 2].as_secs_f64() * 1e6);
    }
}

/// The requests of `template` in a file of `msgdex gen-requests`
/// (`T16<TAB>/v1/messages?…` lines).
fn drawn_before(path: &str, template: Template) -> Vec<MixRequest> {
    let text = std::fs::read_to_string(path).expect("a requests file");
    let tag = template.to_string();
    text.lines()
        .filter_map(|line| line.split_once('\t'))
        .filter(|(tagged, _)| *tagged == tag)
        .map(|(_, target)| MixRequest { template, target: target.to_owned() })
        .collect()
}
