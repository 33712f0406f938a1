//! Criterion benchmarks of msgdex's hot paths at 100k generated messages:
//! planning with bitmaps, page selection, JSON encoding, whole requests per
//! template, loading, and live writes (single upserts, requests on a store
//! with runs and dead rows). `cargo bench -p msgdex-benches` runs them;
//! `cargo bench -p msgdex-benches -- T05` runs one group.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use msgdex::testing::plan;
use msgdex::testing::{execute, PageWindow};
use msgdex::LivePolicy;
use msgdex::{Engine, FastEngine, Field, ListQuery, LiveEngine, QueryLimits, Request, Writable};
use msgdex_bench::workload::{data::DataGenerator, mix};

const MESSAGES: u64 = 100_000;

fn engine_benches(criterion: &mut Criterion) {
    msgdex_bench::process::prepare_process_memory();
    let messages: Vec<_> = DataGenerator::new(MESSAGES, 1).collect();
    let engine = FastEngine::new(&messages).expect("generated Ids are unique");
    let requests = mix::generate(&messages, 7, 1);

    let mut whole = criterion.benchmark_group("request");
    for request in &requests {
        whole.bench_function(request.template.to_string(), |bench| {
            bench.iter(|| black_box(engine.respond(black_box(&request.target))))
        });
    }
    whole.finish();

    let mut stages = criterion.benchmark_group("stage");
    let parsed: Vec<(String, ListQuery)> = requests
        .iter()
        .filter_map(|request| match Request::parse(&request.target, &QueryLimits::default()) {
            Request::List(Ok(query)) => Some((request.template.to_string(), query)),
            _ => None,
        })
        .collect();
    for (template, query) in &parsed {
        stages.bench_function(format!("parse {template}"), |bench| {
            let target = &requests.iter().find(|request| request.template.to_string() == *template).unwrap().target;
            bench.iter(|| black_box(Request::parse(black_box(target), &QueryLimits::default())))
        });
        stages.bench_function(format!("plan {template}"), |bench| {
            bench.iter(|| black_box(plan(engine.segment(), black_box(query))))
        });
        let planned = plan(engine.segment(), query);
        stages.bench_function(format!("execute {template}"), |bench| {
            let window = PageWindow::of(&planned);
            bench.iter(|| black_box(execute(engine.segment(), None, black_box(&planned), &window)))
        });
    }
    let rows: Vec<u32> = (0..100).map(|index| index * 997).collect();
    stages.bench_function("encode 100 full messages", |bench| {
        let mut out = Vec::with_capacity(1 << 20);
        bench.iter(|| {
            out.clear();
            for &row in &rows {
                engine.segment().write_row(row, &Field::ALL, &mut out);
            }
            black_box(out.len())
        })
    });
    stages.finish();

    let mut load = criterion.benchmark_group("load");
    load.sample_size(10);
    let mut text = Vec::new();
    for message in messages.iter().take(20_000) {
        message.write_json(&mut text, &Field::ALL);
        text.push(b'\n');
    }
    load.bench_function("parse 20k JSON lines", |bench| {
        bench.iter(|| black_box(msgdex::load_reader(text.as_slice()).unwrap().len()))
    });
    load.bench_function("load 20k JSON lines into a segment", |bench| {
        bench.iter(|| black_box(msgdex::testing::load_segment(text.as_slice(), "bench").unwrap().row_count()))
    });
    load.bench_function("build segment of 20k", |bench| {
        bench.iter_batched(
            || messages[..20_000].to_vec(),
            |batch| black_box(FastEngine::new(&batch).unwrap()),
            BatchSize::LargeInput,
        )
    });
    load.finish();

    let mut live = criterion.benchmark_group("live");
    // Writes only, flushes done in the writer: the whole cost of a write.
    let policy = LivePolicy { background: false, ..LivePolicy::default() };
    let store = LiveEngine::with_policy(engine.shared_segment(), policy);
    let mut serial = 0usize;
    live.bench_function("upsert replacing a message", |bench| {
        bench.iter(|| {
            let mut message = messages[serial * 7919 % messages.len()].clone();
            message.subject = Some("edited".into());
            serial += 1;
            black_box(store.upsert(message).unwrap())
        })
    });
    // Requests on a store with runs, a tail and dead rows (5% of rows changed).
    let changed = LiveEngine::with_policy(engine.shared_segment(), policy);
    for (serial, message) in messages.iter().step_by(20).enumerate() {
        let mut message = message.clone();
        message.subject = Some(format!("edit {serial}"));
        changed.upsert(message).unwrap();
    }
    for request in &requests {
        live.bench_function(format!("{} after 5% upserts", request.template), |bench| {
            bench.iter(|| black_box(changed.respond(black_box(&request.target))))
        });
    }
    live.finish();
}

criterion_group!(benches, engine_benches);
criterion_main!(benches);

#[global_allocator]
static ALLOCATOR: msgdex_bench::process::Allocator = msgdex_bench::process::Allocator;
