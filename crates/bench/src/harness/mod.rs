//! Bench mode (`msgdex bench`): loads one data file into every engine,
//! replays the docs/BENCH.md query mix against each, checks that they agree, and
//! reports latency per template, throughput, load speed and memory, side by
//! side in one run.

pub mod durable;
pub mod live;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use msgdex::{Engine, FastEngine, ReferenceEngine};

use crate::process::{release_page_cache, resident_bytes};
use crate::workload::mix::{self, MixRequest, Template};

/// The engines bench mode can compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineKind {
    /// msgdex's indexed engine.
    Msgdex,
    /// The naive reference engine.
    Reference,
    /// SQLite in memory, an index on every filtered and sorted column
    /// (needs the `sqlite` cargo feature).
    Sqlite,
}

impl EngineKind {
    /// Parses `msgdex`, `reference` or `sqlite`.
    pub fn parse(name: &str) -> Option<EngineKind> {
        match name {
            "msgdex" => Some(EngineKind::Msgdex),
            "reference" => Some(EngineKind::Reference),
            "sqlite" => Some(EngineKind::Sqlite),
            _ => None,
        }
    }

    /// The engine's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Msgdex => "msgdex",
            EngineKind::Reference => "reference",
            EngineKind::Sqlite => "sqlite",
        }
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct BenchConfig {
    /// The JSON Lines (or array) file.
    pub data: PathBuf,
    /// Engines to compare; msgdex is always run (answers are checked
    /// against it).
    pub engines: Vec<EngineKind>,
    /// Threads for the multi-threaded throughput run.
    pub threads: usize,
    /// Requests per template for msgdex.
    pub per_template: usize,
    /// Requests per template for the slower engines (a prefix of msgdex's).
    pub slow_per_template: usize,
    /// Seed of the query mix.
    pub seed: u64,
    /// Seconds each throughput run lasts.
    pub throughput_seconds: f64,
    /// Single-message writes per run of the live-write benchmark (none
    /// when 0).
    pub writes: usize,
    /// Upserts per second of the steady writer while queries are measured.
    pub steady_writes_per_second: f64,
    /// Also measure the durable store (import, reopening, durable writes).
    pub durable: bool,
    /// How msgdex keeps `content` when it loads the file (a data directory
    /// is read as it is stored).
    pub content: msgdex::ContentStorage,
}

/// One engine's load figures.
#[derive(Clone, Debug)]
pub struct LoadFigures {
    /// The engine.
    pub engine: EngineKind,
    /// Wall time to a queryable store.
    pub seconds: f64,
    /// Growth of resident memory over the load.
    pub resident_bytes: u64,
}

/// One engine's latencies for one template.
#[derive(Clone, Debug)]
pub struct Latencies {
    /// Sorted latencies.
    pub samples: Vec<Duration>,
}

impl Latencies {
    fn percentile(&self, fraction: f64) -> Duration {
        if self.samples.is_empty() {
            return Duration::ZERO;
        }
        let index = ((self.samples.len() as f64 - 1.0) * fraction).round() as usize;
        self.samples[index]
    }

    /// Median latency.
    pub fn median(&self) -> Duration {
        self.percentile(0.5)
    }

    /// 99th percentile latency.
    pub fn p99(&self) -> Duration {
        self.percentile(0.99)
    }
}

/// Everything a bench run measured.
#[derive(Clone, Debug)]
pub struct BenchReport {
    /// Messages loaded.
    pub messages: usize,
    /// Size of the data file.
    pub file_bytes: u64,
    /// Load figures per engine.
    pub loads: Vec<LoadFigures>,
    /// Per engine (in `engines` order), per template: latencies.
    pub latencies: Vec<(EngineKind, Vec<(Template, Latencies)>)>,
    /// msgdex whole-mix queries per second: `(threads, q/s)`.
    pub throughput: Vec<(usize, f64)>,
    /// Requests whose answers differed from msgdex's.
    pub disagreements: Vec<String>,
    /// Requests compared against msgdex's answers.
    pub compared: usize,
    /// The live-write figures, when asked for.
    pub live: Option<live::LiveFigures>,
    /// The durable store's figures, when asked for.
    pub durable: Option<durable::DurableFigures>,
    /// The configuration.
    pub config: BenchConfig,
}

/// Why `--engines sqlite` is refused by a build without the `sqlite` feature.
const SQLITE_NOT_BUILT: &str = "this msgdex was built without SQLite: run the benchmark with \
`cargo run --release -p msgdex-cli --features sqlite -- bench …`";

/// Runs the benchmark.
pub fn run(config: BenchConfig, progress: &mut dyn FnMut(&str)) -> Result<BenchReport, String> {
    if !cfg!(feature = "sqlite") && config.engines.contains(&EngineKind::Sqlite) {
        // Said before anything loads, not after msgdex and the reference.
        return Err(SQLITE_NOT_BUILT.into());
    }
    let directory = config.data.is_dir();
    if directory && config.durable {
        return Err("--durable imports a JSON file into a data directory of its own: give --data FILE".into());
    }
    let file_bytes = match directory {
        true => durable::directory_bytes(&config.data),
        false => std::fs::metadata(&config.data).map_err(|error| format!("{}: {error}", config.data.display()))?.len(),
    };
    let mut loads = Vec::new();

    if !directory {
        // Every engine loads from the page cache, the first one too.
        progress("reading the data file once");
        std::io::copy(
            &mut std::fs::File::open(&config.data).map_err(|error| format!("{}: {error}", config.data.display()))?,
            &mut std::io::sink(),
        )
        .map_err(|error| format!("{}: {error}", config.data.display()))?;
    }
    progress(if directory { "opening the data directory" } else { "loading msgdex" });
    let before = resident_bytes();
    let started = Instant::now();
    let fast = match directory {
        true => FastEngine::open(&config.data).map_err(|error| error.to_string())?,
        false => FastEngine::load_path_with(&config.data, config.content, |_| {}).map_err(|error| error.to_string())?,
    };
    loads.push(LoadFigures {
        engine: EngineKind::Msgdex,
        seconds: started.elapsed().as_secs_f64(),
        resident_bytes: resident_bytes().saturating_sub(before),
    });

    let row_count = usize::try_from(fast.message_count()).expect("a segment's rows fit a usize");
    let others = !config.engines.is_empty();
    progress(if others {
        "loading messages for the query mix and the other engines"
    } else {
        "loading a sample of the messages for the query mix"
    });
    let before = resident_bytes();
    let started = Instant::now();
    let messages = match (directory, others) {
        (true, _) => fast.first_messages(if others { usize::MAX } else { MIX_SAMPLE }),
        (false, true) => msgdex::load_path(&config.data).map_err(|error| error.to_string())?,
        (false, false) => load_sample(&config.data, MIX_SAMPLE)?,
    };
    let reference_load = LoadFigures {
        engine: EngineKind::Reference,
        seconds: started.elapsed().as_secs_f64(),
        resident_bytes: resident_bytes().saturating_sub(before),
    };
    let requests = mix::generate_from_sample(&messages, row_count, config.seed, config.per_template);

    let mut engines: Vec<(EngineKind, Box<dyn Engine>)> = Vec::new();
    for &kind in &config.engines {
        match kind {
            EngineKind::Msgdex => {}
            EngineKind::Reference => {
                loads.push(reference_load.clone());
                engines.push((kind, Box::new(ReferenceEngine::new(messages.clone()))));
            }
            EngineKind::Sqlite => {
                #[cfg(feature = "sqlite")]
                {
                    progress("loading SQLite");
                    let before = resident_bytes();
                    let started = Instant::now();
                    let engine = crate::sqlite::SqliteEngine::new(&messages).map_err(|error| error.to_string())?;
                    loads.push(LoadFigures {
                        engine: kind,
                        seconds: started.elapsed().as_secs_f64(),
                        resident_bytes: resident_bytes().saturating_sub(before),
                    });
                    engines.push((kind, Box::new(engine)));
                }
                #[cfg(not(feature = "sqlite"))]
                return Err(SQLITE_NOT_BUILT.into());
            }
        }
    }
    let message_count = row_count;
    // Kept for the live-write runs, which come last so that their
    // background work cannot disturb the read-only figures.
    let messages = if config.writes > 0 { messages } else { Vec::new() };

    // Every engine holds its copy now: the file's pages in the page cache
    // would only compete with the stores for memory (at 10M messages, 16 GB
    // of cache beside a 13 GB store on a 24 GB machine puts every fresh
    // page through reclaim).
    release_page_cache(&config.data);
    progress("measuring msgdex latencies");
    let mut answers = Vec::with_capacity(requests.len());
    for request in &requests {
        answers.push(fast.respond(&request.target)); // warm-up, and the answers others are checked against
    }
    let mut latencies = vec![(EngineKind::Msgdex, measure(&fast, &requests, usize::MAX))];
    let mut disagreements = Vec::new();
    let mut compared = 0;
    for (kind, engine) in &engines {
        progress(&format!("measuring {} latencies", kind.name()));
        latencies.push((*kind, measure(engine.as_ref(), &requests, config.slow_per_template)));
        // Requests come grouped by template, `per_template` each; the slow
        // engines answer the first `slow_per_template` of every group.
        let sampled = requests
            .iter()
            .zip(&answers)
            .enumerate()
            .filter(|(index, _)| index % config.per_template.max(1) < config.slow_per_template)
            .map(|(_, pair)| pair);
        for (request, expected) in sampled {
            compared += 1;
            let actual = engine.respond(&request.target);
            if actual != *expected {
                disagreements.push(format!(
                    "{} {} {}: status {} vs msgdex {}",
                    kind.name(),
                    request.template,
                    request.target,
                    actual.status,
                    expected.status
                ));
            }
        }
    }

    progress("measuring msgdex throughput");
    let mut throughput = vec![(1, queries_per_second(&fast, &requests, 1, config.throughput_seconds))];
    if config.threads > 1 {
        throughput
            .push((config.threads, queries_per_second(&fast, &requests, config.threads, config.throughput_seconds)));
    }
    let live = (config.writes > 0)
        .then(|| live::run(&fast, &messages, &requests, config.writes, config.steady_writes_per_second, progress));
    drop(messages);
    let durable = match config.durable {
        true => {
            let written = load_sample(&config.data, DURABLE_WRITES)?;
            Some(durable::run(&config.data, &fast, &written, &requests, progress)?)
        }
        false => None,
    };
    Ok(BenchReport {
        messages: message_count,
        file_bytes,
        loads,
        latencies,
        throughput,
        disagreements,
        compared,
        live,
        durable,
        config,
    })
}

/// Messages upserted by the durable-write runs.
const DURABLE_WRITES: usize = 50_000;

/// Messages read to draw the mix from when msgdex runs alone.
const MIX_SAMPLE: usize = 1_000_000;

/// The first `count` messages of a JSON Lines file (the whole file if it
/// is a JSON array).
fn load_sample(path: &std::path::Path, count: usize) -> Result<Vec<msgdex::Message>, String> {
    use std::io::BufRead;
    let describe = |error: std::io::Error| format!("{}: {error}", path.display());
    let mut reader = std::io::BufReader::new(std::fs::File::open(path).map_err(describe)?);
    if reader.fill_buf().map_err(describe)?.iter().find(|byte| !byte.is_ascii_whitespace()) == Some(&b'[') {
        return msgdex::load_path(path).map_err(|error| error.to_string());
    }
    let mut text = String::new();
    let mut lines = 0;
    while lines < count && reader.read_line(&mut text).map_err(describe)? > 0 {
        lines += 1;
    }
    msgdex::load_str(&text).map_err(|error| error.to_string())
}

/// Times every request (the first `per_template` of each template) once,
/// from request string to finished body.
fn measure(engine: &dyn Engine, requests: &[MixRequest], per_template: usize) -> Vec<(Template, Latencies)> {
    Template::all()
        .map(|template| {
            let mut samples: Vec<Duration> = requests
                .iter()
                .filter(|request| request.template == template)
                .take(per_template)
                .map(|request| {
                    let started = Instant::now();
                    let response = engine.respond(&request.target);
                    let elapsed = started.elapsed();
                    std::hint::black_box(response);
                    elapsed
                })
                .collect();
            samples.sort_unstable();
            (template, Latencies { samples })
        })
        .collect()
}

/// Whole-mix queries per second with `threads` threads replaying the mix.
fn queries_per_second(engine: &FastEngine, requests: &[MixRequest], threads: usize, seconds: f64) -> f64 {
    let deadline = Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let answered: usize = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|worker| {
                scope.spawn(move || {
                    let mut count = 0;
                    let mut position = worker * requests.len() / threads.max(1);
                    while started.elapsed() < deadline {
                        for _ in 0..64 {
                            let request = &requests[position % requests.len()];
                            std::hint::black_box(engine.respond(&request.target));
                            position += 1;
                            count += 1;
                        }
                    }
                    count
                })
            })
            .collect();
        workers.into_iter().map(|worker| worker.join().expect("bench worker")).sum()
    });
    answered as f64 / started.elapsed().as_secs_f64()
}

fn micros(duration: Duration) -> String {
    let micros = duration.as_secs_f64() * 1e6;
    if micros >= 100.0 {
        format!("{micros:.0}")
    } else {
        format!("{micros:.1}")
    }
}

fn ratio(slow: Duration, fast: Duration) -> f64 {
    slow.as_secs_f64() / fast.as_secs_f64().max(1e-9)
}

impl BenchReport {
    /// The report as a Markdown table and summary lines.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let megabytes = self.file_bytes as f64 / 1e6;
        let _ = writeln!(
            out,
            "{} messages, {:.0} MB of {}; {} requests per template for msgdex, {} for the other engines; mix seed {}; the file's page cache released after loading.\n",
            self.messages,
            megabytes,
            if self.config.data.is_dir() { "data directory" } else { "JSON Lines" },
            self.config.per_template, self.config.slow_per_template, self.config.seed
        );
        let _ = writeln!(out, "| engine | load (s) | messages/s | resident memory | memory / file size |");
        let _ = writeln!(out, "|---|---:|---:|---:|---:|");
        for load in &self.loads {
            let _ = writeln!(
                out,
                "| {} | {:.2} | {:.0} | {:.0} MB | {:.2} |",
                load.engine.name(),
                load.seconds,
                self.messages as f64 / load.seconds.max(1e-9),
                load.resident_bytes as f64 / 1e6,
                load.resident_bytes as f64 / self.file_bytes.max(1) as f64
            );
        }
        let others: Vec<&(EngineKind, Vec<(Template, Latencies)>)> = self.latencies.iter().skip(1).collect();
        let mut header = "\n| template | msgdex p50 µs | msgdex p99 µs |".to_owned();
        let mut rule = "|---|---:|---:|".to_owned();
        for (kind, _) in &others {
            let _ = write!(header, " {0} p50 µs | {0} p99 µs | speed-up vs {0} |", kind.name());
            rule.push_str("---:|---:|---:|");
        }
        let _ = writeln!(out, "{header}\n{rule}");
        let msgdex = &self.latencies[0].1;
        let mut logs = vec![0.0f64; others.len()];
        for (index, (template, latencies)) in msgdex.iter().enumerate() {
            let _ = write!(
                out,
                "| {template} {} | {} | {} |",
                template.description(),
                micros(latencies.median()),
                micros(latencies.p99())
            );
            for (other, (_, other_latencies)) in others.iter().enumerate() {
                let theirs = &other_latencies[index].1;
                let speedup = ratio(theirs.median(), latencies.median());
                logs[other] += speedup.ln();
                let _ = write!(out, " {} | {} | {speedup:.0}× |", micros(theirs.median()), micros(theirs.p99()));
            }
            out.push('\n');
        }
        for ((kind, _), log) in others.iter().zip(&logs) {
            let _ = writeln!(
                out,
                "\nGeometric mean speed-up over {}: {:.0}×",
                kind.name(),
                (log / msgdex.len() as f64).exp()
            );
        }
        for (threads, rate) in &self.throughput {
            let _ = writeln!(out, "\nmsgdex whole-mix throughput, {threads} thread(s): {rate:.0} queries/s");
        }
        if let [(_, one), (_, many)] = self.throughput.as_slice() {
            let _ = writeln!(out, "\nScaling: {:.2}× with {} threads", many / one, self.throughput[1].0);
        }
        if let Some(live) = &self.live {
            out.push_str(&live.to_markdown());
        }
        if let (Some(durable), Some(load)) = (&self.durable, self.loads.first()) {
            out.push_str(&durable.to_markdown(load.seconds, load.resident_bytes, self.file_bytes));
        }
        if self.disagreements.is_empty() {
            let _ = writeln!(out, "\nAnswers: all {} compared responses equal msgdex's, byte for byte.", self.compared);
        } else {
            let _ = writeln!(
                out,
                "\nAnswers: {} of {} compared responses DIFFER from msgdex's:",
                self.disagreements.len(),
                self.compared
            );
            for line in self.disagreements.iter().take(20) {
                let _ = writeln!(out, "- {line}");
            }
        }
        out
    }
}
