//! Durable write rates on a data directory, for profiling:
//! `cargo run --release -p msgdex-bench --example durable_writes -- bench-data/1m.store bench-data/1m.jsonl 50000`
//! upserts the first N messages of the file in batches of 100, then 4,000
//! single upserts from one writer and from 8, all with `sync = always`.

use std::time::Instant;

use msgdex::{LiveEngine, StoreOptions, Writable, Write};

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: msgdex_bench::process::Allocator = msgdex_bench::process::Allocator;

fn main() {
    msgdex_bench::process::prepare_process_memory();
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let [directory, data, count] = &arguments[..] else { panic!("DIR DATA COUNT") };
    let count: usize = count.parse().expect("a count");
    let reader = std::io::BufReader::new(std::fs::File::open(data).expect("the data file"));
    let text =
        std::io::BufRead::lines(reader).take(count).map(|line| line.expect("a line")).collect::<Vec<_>>().join("\n");
    let messages = msgdex::load_str(&text).expect("messages");
    // SYNC=never measures the same writes without fsyncs.
    let sync = match std::env::var("SYNC").as_deref() {
        Ok("never") => msgdex::SyncPolicy::Never,
        _ => msgdex::SyncPolicy::Always,
    };
    let store =
        LiveEngine::open(directory, StoreOptions { sync, ..StoreOptions::default() }).expect("the directory opens");
    if std::env::var_os("BATCHES_ONLY").is_some() {
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    let started = Instant::now();
    for batch in messages.chunks(100) {
        store.apply(batch.iter().cloned().map(Write::Upsert).collect()).expect("a durable batch");
    }
    println!("batches of 100: {:.0} messages/s", messages.len() as f64 / started.elapsed().as_secs_f64());
    if std::env::var_os("BATCHES_ONLY").is_some() {
        return;
    }
    let started = Instant::now();
    std::thread::scope(|scope| {
        for writer in 0..2 {
            let store = store.clone();
            let messages = &messages;
            scope.spawn(move || {
                for batch in messages.chunks(100).skip(writer).step_by(2) {
                    store.apply(batch.iter().cloned().map(Write::Upsert).collect()).expect("a durable batch");
                }
            });
        }
    });
    println!("2 writers, batches of 100: {:.0} messages/s", messages.len() as f64 / started.elapsed().as_secs_f64());
    let singles = &messages[..messages.len().min(4000)];
    let (syncs, started) = (store.log_syncs(), Instant::now());
    for message in singles {
        store.upsert(message.clone()).expect("a durable write");
    }
    let one = singles.len() as f64 / started.elapsed().as_secs_f64();
    println!("1 writer: {one:.0} writes/s, {} fsyncs", store.log_syncs() - syncs);
    let (syncs, started) = (store.log_syncs(), Instant::now());
    std::thread::scope(|scope| {
        for writer in 0..8 {
            let store = store.clone();
            scope.spawn(move || {
                for message in singles.iter().skip(writer).step_by(8) {
                    store.upsert(message.clone()).expect("a durable write");
                }
            });
        }
    });
    let eight = singles.len() as f64 / started.elapsed().as_secs_f64();
    println!("8 writers: {eight:.0} writes/s ({:.1}x), {} fsyncs", eight / one, store.log_syncs() - syncs);
    store.close();
}
