//! The live-write part of bench mode (`msgdex bench --writes`): single
//! upserts and deletes per second on one writer thread, and the query mix's
//! latencies while a writer applies upserts at a steady rate, beside the
//! read-only figures of the same run.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{measure, micros, Latencies};
use msgdex::{DateTime, Engine, FastEngine, LiveEngine, Message, Writable};

use crate::workload::mix::{MixRequest, Template};

/// What the live-write benchmark measured.
#[derive(Clone, Debug)]
pub struct LiveFigures {
    /// Single-message upserts replacing existing messages, per second.
    pub replaces_per_second: f64,
    /// Single-message upserts adding new messages, per second.
    pub inserts_per_second: f64,
    /// Single-message deletes per second.
    pub deletes_per_second: f64,
    /// Writes in each of the three runs above.
    pub writes_per_run: usize,
    /// How long the background flushes, merges and compactions went on
    /// after each run's last write (the next run starts once they are
    /// done, so that each is measured from a settled store).
    pub settle_seconds: [f64; 3],
    /// Compactions that finished during the write runs.
    pub compactions: u64,
    /// The writer's target rate while queries were measured.
    pub steady_rate: f64,
    /// The rate it reached.
    pub steady_achieved: f64,
    /// Per template: latencies without and with the steady writer.
    pub latencies: Vec<(Template, Latencies, Latencies)>,
    /// The store's shape when the steady writer stopped.
    pub shape_under_writes: msgdex::LiveStats,
}

/// A changed version of `message`, as a CRM edit makes it: a new subject
/// and a later `modified`.
fn edited(message: &Message, serial: u64) -> Message {
    let mut message = message.clone();
    message.subject = Some(format!("edit {serial}"));
    message.modified = DateTime::parse("2031-01-01 00:00:00")
        .and_then(|start| DateTime::from_seconds(start.seconds() + serial as i64));
    message
}

fn per_second(count: usize, started: Instant) -> f64 {
    count as f64 / started.elapsed().as_secs_f64().max(1e-9)
}

/// Runs the write benchmark on a live store over `fast`'s segment; the
/// read-only latencies are measured on the same live store before any write.
pub fn run(
    fast: &FastEngine,
    messages: &[Message],
    requests: &[MixRequest],
    writes_per_run: usize,
    steady_rate: f64,
    progress: &mut dyn FnMut(&str),
) -> LiveFigures {
    let count = writes_per_run.min(messages.len() / 2).max(1);

    progress("measuring single-message upserts and deletes");
    let engine = LiveEngine::from_fast(fast);
    let settle = || {
        let started = Instant::now();
        engine.wait_for_compaction();
        started.elapsed().as_secs_f64()
    };
    // The written messages are made before each clock starts: the figures
    // are the store's, not the copying of test data.
    let replacing: Vec<Message> =
        messages[..count].iter().enumerate().map(|(serial, message)| edited(message, serial as u64)).collect();
    let started = Instant::now();
    for message in replacing {
        engine.upsert(message).expect("replacing an existing message");
    }
    let replaces_per_second = per_second(count, started);
    let replaces_settle = settle();
    let adding: Vec<Message> = messages[..count]
        .iter()
        .enumerate()
        .map(|(serial, message)| {
            let mut fresh = edited(message, serial as u64);
            fresh.id.push_str("-new");
            fresh
        })
        .collect();
    let started = Instant::now();
    for message in adding {
        engine.upsert(message).expect("adding a message");
    }
    let inserts_per_second = per_second(count, started);
    let inserts_settle = settle();
    let started = Instant::now();
    for message in &messages[count..2 * count] {
        engine.delete(&message.id).expect("deleting an existing message");
    }
    let deletes_per_second = per_second(count, started);
    let settle_seconds = [replaces_settle, inserts_settle, settle()];
    let compactions = engine.stats().compactions;
    drop(engine);

    progress("measuring the query mix with and without a steady writer");
    let engine = LiveEngine::from_fast(fast);
    for request in requests {
        std::hint::black_box(engine.respond(&request.target)); // warm-up
    }
    let quiet = measure(&engine, requests, usize::MAX);
    let stop = AtomicBool::new(false);
    let written = AtomicU64::new(0);
    let (loaded, elapsed) = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let started = Instant::now();
            let mut serial = 0u64;
            while !stop.load(Ordering::Relaxed) {
                // Keep to the schedule: write what is due, then sleep a little.
                let due = (started.elapsed().as_secs_f64() * steady_rate) as u64;
                while serial < due {
                    let message = &messages[serial as usize % messages.len()];
                    engine.upsert(edited(message, serial)).expect("replacing an existing message");
                    serial += 1;
                }
                std::thread::sleep(Duration::from_micros(200));
            }
            written.store(serial, Ordering::Relaxed);
            started.elapsed()
        });
        // Two passes, so that the writer's effect builds up.
        let _ = measure(&engine, requests, usize::MAX);
        let loaded = measure(&engine, requests, usize::MAX);
        stop.store(true, Ordering::Relaxed);
        (loaded, writer.join().expect("writer thread"))
    });
    let steady_achieved = written.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64().max(1e-9);
    let shape_under_writes = engine.stats();
    engine.wait_for_compaction();
    let latencies =
        quiet.into_iter().zip(loaded).map(|((template, quiet), (_, loaded))| (template, quiet, loaded)).collect();
    LiveFigures {
        replaces_per_second,
        inserts_per_second,
        deletes_per_second,
        writes_per_run: count,
        settle_seconds,
        compactions,
        steady_rate,
        steady_achieved,
        latencies,
        shape_under_writes,
    }
}

impl LiveFigures {
    /// The figures as Markdown.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\nLive writes, one writer thread, {} single-message writes per run, each run from a settled store (background flushes, merges and compaction on; {} compaction(s) finished):\n",
            self.writes_per_run, self.compactions
        );
        let _ = writeln!(out, "| write | per second | background work after the last write (s) |\n|---|---:|---:|");
        let runs = [
            ("upsert replacing a message", self.replaces_per_second),
            ("upsert adding a message", self.inserts_per_second),
            ("delete", self.deletes_per_second),
        ];
        for ((write, rate), settle) in runs.iter().zip(self.settle_seconds) {
            let _ = writeln!(out, "| {write} | {rate:.0} | {settle:.2} |");
        }
        let _ = writeln!(
            out,
            "\nQuery mix on the live store, read-only vs while a writer upserts at {:.0}/s (reached {:.0}/s):\n",
            self.steady_rate, self.steady_achieved
        );
        let _ = writeln!(out, "| template | read-only p50 µs | p99 µs | with writer p50 µs | p99 µs | p50 ratio |");
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
        let mut worst: f64 = 0.0;
        for (template, quiet, loaded) in &self.latencies {
            let ratio = loaded.median().as_secs_f64() / quiet.median().as_secs_f64().max(1e-9);
            worst = worst.max(ratio);
            let _ = writeln!(
                out,
                "| {template} {} | {} | {} | {} | {} | {ratio:.2}× |",
                template.description(),
                micros(quiet.median()),
                micros(quiet.p99()),
                micros(loaded.median()),
                micros(loaded.p99())
            );
        }
        let shape = &self.shape_under_writes;
        let _ = writeln!(
            out,
            "\nWorst median ratio under writes: {worst:.2}×\n\nShape when the writer stopped: base {} rows ({} dead), runs {:?}, tail {}, {} compaction(s).",
            shape.base_rows, shape.base_dead, shape.run_rows, shape.tail, shape.compactions
        );
        out
    }
}
