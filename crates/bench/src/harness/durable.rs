//! The durable store's part of bench mode (`msgdex bench --durable`):
//! importing the data file into a data directory, reopening it, the query
//! mix on the reopened store beside the loaded one, and durable writes
//! (`sync = always`) in batches and from concurrent single-message
//! writers, all in the same run as the JSON load they are compared with.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::{measure, micros, Latencies};
use msgdex::{Engine, FastEngine, LiveEngine, Message, StoreOptions, Writable, Write};

use crate::process::resident_bytes;
use crate::workload::mix::{MixRequest, Template};

/// What the durable-store benchmark measured.
#[derive(Clone, Debug)]
pub struct DurableFigures {
    /// Seconds `msgdex import` took (load, write, sync).
    pub import_seconds: f64,
    /// Bytes of the data directory.
    pub directory_bytes: u64,
    /// Seconds to reopen the directory read-only (`FastEngine::open`),
    /// its files in the page cache.
    pub reopen_seconds: f64,
    /// Growth of resident memory over the reopening.
    pub reopen_resident_bytes: u64,
    /// Per template: latencies on the loaded store and on the reopened one.
    pub latencies: Vec<(Template, Latencies, Latencies)>,
    /// Messages written per second by upserts in batches of
    /// [`BATCH`], each batch synced before the next.
    pub batch_upserts_per_second: f64,
    /// Single-message upserts per second from one writer, each synced.
    pub one_writer_per_second: f64,
    /// Single-message upserts per second from [`WRITERS`] writers at
    /// once, each write synced before it returns.
    pub many_writers_per_second: f64,
    /// Writes and fsyncs of the concurrent run: how many writes each
    /// fsync covered.
    pub many_writers_writes_and_syncs: (u64, u64),
}

/// Messages per batch of the batched run.
pub const BATCH: usize = 100;
/// Writers of the concurrent run.
pub const WRITERS: usize = 8;

/// The bytes of the files of `directory`.
pub(crate) fn directory_bytes(directory: &Path) -> u64 {
    std::fs::read_dir(directory)
        .map(|entries| entries.flatten().filter_map(|entry| entry.metadata().ok()).map(|metadata| metadata.len()).sum())
        .unwrap_or(0)
}

/// Removes the bench's data directory when the run ends, however it ends.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the durable-store benchmark; `loaded` is the store loaded from
/// the JSON file, whose latencies the reopened store's are set beside.
pub fn run(
    data: &Path,
    loaded: &FastEngine,
    messages: &[Message],
    requests: &[MixRequest],
    progress: &mut dyn FnMut(&str),
) -> Result<DurableFigures, String> {
    let scratch = Scratch(data.with_extension(format!("bench-store-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&scratch.0);
    progress("importing the data file into a data directory");
    let started = Instant::now();
    msgdex::import(data, &scratch.0, loaded.segment().content_storage(), |_| {}).map_err(|error| error.to_string())?;
    let import_seconds = started.elapsed().as_secs_f64();

    progress("reopening the data directory");
    // Warm: the files were just written, as after a restart of the process.
    let before = resident_bytes();
    let started = Instant::now();
    let reopened = FastEngine::open(&scratch.0).map_err(|error| error.to_string())?;
    let reopen_seconds = started.elapsed().as_secs_f64();
    let reopen_resident_bytes = resident_bytes().saturating_sub(before);

    progress("measuring latencies on the reopened store");
    for request in requests {
        let (expected, actual) = (loaded.respond(&request.target), reopened.respond(&request.target));
        if expected != actual {
            return Err(format!("the reopened store answers {} differently from the loaded one", request.target));
        }
    }
    // Alternated template by template, three times each, the better
    // median of each kept: whichever runs second otherwise finds the caches
    // the first one left, and a burst of noise on the machine falls on one
    // store's rounds only.
    let better = |first: Latencies, second: Latencies| if first.median() <= second.median() { first } else { second };
    let latencies = Template::all()
        .map(|template| {
            let mine: Vec<MixRequest> =
                requests.iter().filter(|request| request.template == template).cloned().collect();
            let of = |engine: &dyn Engine| {
                measure(engine, &mine, usize::MAX)
                    .into_iter()
                    .find(|(measured, _)| *measured == template)
                    .expect("the template")
                    .1
            };
            let (mut on_loaded, mut on_reopened) = (of(loaded), of(&reopened));
            for _ in 0..2 {
                on_loaded = better(on_loaded, of(loaded));
                on_reopened = better(on_reopened, of(&reopened));
            }
            (template, on_loaded, on_reopened)
        })
        .collect();
    drop(reopened);

    progress("measuring durable writes");
    let store = LiveEngine::open(&scratch.0, StoreOptions::default()).map_err(|error| error.to_string())?;
    let started = Instant::now();
    let mut written = 0;
    for batch in messages.chunks(BATCH) {
        store.apply(batch.iter().cloned().map(Write::Upsert).collect()).map_err(|error| error.to_string())?;
        written += batch.len();
    }
    let batch_upserts_per_second = written as f64 / started.elapsed().as_secs_f64();

    let singles = &messages[..messages.len().min(4_000)];
    let started = Instant::now();
    for message in &singles[..singles.len() / 2] {
        store.upsert(message.clone()).map_err(|error| error.to_string())?;
    }
    let one_writer_per_second = (singles.len() / 2) as f64 / started.elapsed().as_secs_f64();

    let syncs_before = store.log_syncs();
    let started = Instant::now();
    let failures: Vec<String> = std::thread::scope(|scope| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let store = store.clone();
                scope.spawn(move || {
                    singles.iter().skip(writer).step_by(WRITERS).find_map(|message| store.upsert(message.clone()).err())
                })
            })
            .collect();
        writers
            .into_iter()
            .filter_map(|writer| writer.join().expect("a writer finished"))
            .map(|e| e.to_string())
            .collect()
    });
    if let Some(failure) = failures.first() {
        return Err(failure.clone());
    }
    let many_writers_per_second = singles.len() as f64 / started.elapsed().as_secs_f64();
    let many_writers_writes_and_syncs = (singles.len() as u64, store.log_syncs() - syncs_before);
    store.close();
    Ok(DurableFigures {
        import_seconds,
        directory_bytes: directory_bytes(&scratch.0),
        reopen_seconds,
        reopen_resident_bytes,
        latencies,
        batch_upserts_per_second,
        one_writer_per_second,
        many_writers_per_second,
        many_writers_writes_and_syncs,
    })
}

impl DurableFigures {
    /// The figures as Markdown, with the JSON load they are compared with.
    pub fn to_markdown(&self, json_load_seconds: f64, json_resident_bytes: u64, file_bytes: u64) -> String {
        let mut out = String::new();
        let megabytes = |bytes: u64| bytes as f64 / 1e6;
        let _ = writeln!(out, "\n## Durable store\n");
        let _ = writeln!(out, "| | seconds | resident memory | bytes on disk |");
        let _ = writeln!(out, "|---|---:|---:|---:|");
        let _ = writeln!(
            out,
            "| load the JSON file | {json_load_seconds:.2} | {:.0} MB | {:.0} MB (file) |",
            megabytes(json_resident_bytes),
            megabytes(file_bytes)
        );
        let _ = writeln!(
            out,
            "| import into a data directory | {:.2} | | {:.0} MB |",
            self.import_seconds,
            megabytes(self.directory_bytes)
        );
        let _ = writeln!(
            out,
            "| reopen the directory (warm cache) | {:.3} | {:.0} MB | |",
            self.reopen_seconds,
            megabytes(self.reopen_resident_bytes)
        );
        let _ = writeln!(
            out,
            "\nReopening is {:.1}× faster than loading the JSON file; the directory is {:.2}× the file; \
             resident memory after reopening is {:.2}× that after the JSON load.\n",
            json_load_seconds / self.reopen_seconds.max(1e-9),
            self.directory_bytes as f64 / file_bytes.max(1) as f64,
            self.reopen_resident_bytes as f64 / json_resident_bytes.max(1) as f64
        );
        let _ = writeln!(out, "| template | loaded p50 µs | reopened p50 µs | reopened / loaded |");
        let _ = writeln!(out, "|---|---:|---:|---:|");
        for (template, loaded, reopened) in &self.latencies {
            let (a, b) = (loaded.median(), reopened.median());
            let _ = writeln!(
                out,
                "| {template} {} | {} | {} | {:.2} |",
                template.description(),
                micros(a),
                micros(b),
                b.as_secs_f64() / a.as_secs_f64().max(1e-12)
            );
        }
        let (writes, syncs) = self.many_writers_writes_and_syncs;
        let _ = writeln!(out, "\n| durable writes (`sync = always`) | messages/s |");
        let _ = writeln!(out, "|---|---:|");
        let _ = writeln!(out, "| upserts in batches of {BATCH} | {:.0} |", self.batch_upserts_per_second);
        let _ = writeln!(out, "| single upserts, 1 writer | {:.0} |", self.one_writer_per_second);
        let _ = writeln!(out, "| single upserts, {WRITERS} writers | {:.0} |", self.many_writers_per_second);
        let _ = writeln!(
            out,
            "\nGroup commit: {WRITERS} writers reach {:.1}× the rate of one; {writes} writes shared {syncs} fsyncs.",
            self.many_writers_per_second / self.one_writer_per_second.max(1e-9)
        );
        out
    }
}
