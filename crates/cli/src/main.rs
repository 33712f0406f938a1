//! The `msgdex` command line: query a JSON or JSON Lines file of messages
//! as the CareHQ Messages API would answer.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: msgdex_bench::process::Allocator = msgdex_bench::process::Allocator;

use msgdex::{Engine, FastEngine, ListQuery, LiveEngine, LiveReference, QueryLimits, ReferenceEngine, Writable};

/// Query CareHQ messages held in memory, with the Messages API's semantics.
#[derive(Parser)]
#[command(name = "msgdex", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Options shared by every command that loads a data file.
#[derive(clap::Args)]
struct DataOptions {
    /// Messages to load: a JSON array or JSON Lines file.
    #[arg(long, value_name = "FILE")]
    data: PathBuf,
    /// The largest `per_page` a request may ask for.
    #[arg(long, value_name = "N", default_value_t = msgdex::DEFAULT_MAX_PER_PAGE,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_per_page: u32,
    /// Which engine answers: the indexed `fast` one or the naive `reference`.
    #[arg(long, value_enum, default_value_t = EngineKind::Fast)]
    engine: EngineKind,
}

/// The bounds `msgdex serve` puts on clients (see the README's Serve section).
#[derive(clap::Args)]
struct ServeLimits {
    /// Requests per second allowed per API key; more get 429.
    #[arg(long, value_name = "N", default_value_t = 100)]
    rate_limit: u32,
    /// Failed authentications allowed per client address per minute; past
    /// it the address gets 429 until the minute ends.
    #[arg(long, value_name = "N", default_value_t = 30)]
    auth_failure_limit: u32,
    /// Connections served at once; past it new connections get 503 and are closed.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    max_connections: usize,
    /// Connections served at once from one client address (IPv6: one /64).
    #[arg(long, value_name = "N", default_value_t = 256)]
    max_connections_per_address: usize,
    /// Queries evaluated at once (default: twice the cores); others wait within --request-timeout.
    #[arg(long, value_name = "N")]
    max_concurrent_queries: Option<usize>,
    /// Seconds a request's head may take to arrive, from its first byte.
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = parse_seconds)]
    header_timeout: std::time::Duration,
    /// Seconds a connection may stay silent while no request is answered.
    #[arg(long, value_name = "SECONDS", default_value = "15", value_parser = parse_seconds)]
    idle_timeout: std::time::Duration,
    /// Seconds a response write may make no progress before the client is dropped.
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = parse_seconds)]
    write_timeout: std::time::Duration,
    /// Seconds a request may take; past it the answer is 503.
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = parse_seconds)]
    request_timeout: std::time::Duration,
    /// Seconds Ctrl-C or SIGTERM waits for open connections before closing them.
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = parse_seconds)]
    shutdown_timeout: std::time::Duration,
}

/// A duration given in seconds (fractions allowed).
fn parse_seconds(text: &str) -> Result<std::time::Duration, String> {
    let seconds: f64 = text.parse().map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if !(seconds > 0.0 && seconds <= 86_400.0) {
        return Err(format!("{text} seconds is out of range: give more than 0 and at most 86400"));
    }
    Ok(std::time::Duration::from_secs_f64(seconds))
}

/// The engines the command line can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum EngineKind {
    /// Columnar store, bitmap indexes, planner.
    Fast,
    /// The naive oracle: filter, sort and slice a vector.
    Reference,
}

#[derive(Subcommand)]
enum Command {
    /// List messages: print the body of GET /v1/messages?QUERY as pretty JSON.
    #[command(after_help = "Example:\n  msgdex list --data fixtures/messages.jsonl \
'filters-channel=sms&sort_by=-date_time&attributes=correspondent'\n\n\
Exit status: 0 on success, 2 when the request is invalid (the 400 body is printed), \
1 when the data cannot be loaded.")]
    List {
        #[command(flatten)]
        data: DataOptions,
        /// The query string (a leading `?` is allowed), or a whole request
        /// target such as `/v1/messages?page=2`.
        #[arg(default_value = "")]
        query: String,
    },
    /// Retrieve one message: print the body of GET /v1/messages/ID as pretty JSON.
    #[command(after_help = "Example:\n  msgdex get --data fixtures/messages.jsonl 6724fbcb4f73a2cebf638860\n\n\
Exit status: 0 on success, 2 when no message has the Id (the 404 body is printed), \
1 when the data cannot be loaded.")]
    Get {
        #[command(flatten)]
        data: DataOptions,
        /// The message Id, as stored (not percent-encoded).
        id: String,
    },
    /// Show how the fast engine plans and executes a list query, with the
    /// estimated and the actual costs.
    #[command(after_help = "Example:\n  msgdex explain --data fixtures/messages.jsonl \
'filters-location=6724fbc74f73a2cebf6377fa&filters-q=zo%C3%AB&sort_by=-date_time'")]
    Explain {
        /// Messages to load: a JSON array or JSON Lines file.
        #[arg(long, value_name = "FILE")]
        data: PathBuf,
        /// The query string (a leading `?` is allowed).
        #[arg(default_value = "")]
        query: String,
    },
    /// Write the generated data of BENCH.md as JSON Lines (deterministic).
    #[command(after_help = "Example:\n  msgdex gen --count 1000000 --seed 1 --out bench-data/1m.jsonl")]
    Gen {
        /// Number of messages.
        #[arg(long)]
        count: u64,
        /// Seed: the same count and seed give a byte-identical file.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output file (stdout when absent).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Write the query mix of BENCH.md, drawn from a data file, as request
    /// lines tagged with their template (`T03<TAB>/v1/messages?…`).
    #[command(
        after_help = "Example:\n  msgdex gen-requests --data bench-data/1m.jsonl --seed 7 --per-template 100 > requests.tsv"
    )]
    GenRequests {
        /// Messages to draw parameters from.
        #[arg(long, value_name = "FILE")]
        data: PathBuf,
        /// Seed of the draws.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Requests per template.
        #[arg(long, default_value_t = 100)]
        per_template: usize,
        /// Write bare request lines (SPEC §7), without the template tag.
        #[arg(long)]
        no_tags: bool,
    },
    /// Replay the BENCH.md query mix against several engines side by side:
    /// latency per template, speed-ups, throughput, load speed and memory.
    #[command(after_help = "Example:\n  cargo run --release --features sqlite -- bench --data bench-data/1m.jsonl \
--engines msgdex,reference,sqlite\n\n\
Every engine's answers are compared with msgdex's, byte for byte; differences are reported.")]
    Bench {
        /// Messages to load: a JSON Lines (or array) file, e.g. from `msgdex gen`.
        #[arg(long, value_name = "FILE")]
        data: PathBuf,
        /// Engines to compare, comma-separated: msgdex, reference, sqlite.
        #[arg(long, default_value = "msgdex,reference", value_delimiter = ',')]
        engines: Vec<String>,
        /// Threads of the multi-threaded throughput run (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
        /// Requests per template for msgdex.
        #[arg(long, default_value_t = 200)]
        per_template: usize,
        /// Requests per template for the other engines (a prefix of msgdex's).
        #[arg(long, default_value_t = 20)]
        slow_per_template: usize,
        /// Seed of the query mix.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Seconds each throughput run lasts.
        #[arg(long, default_value_t = 3.0)]
        throughput_seconds: f64,
        /// Also benchmark live writes: this many single-message upserts,
        /// inserts and deletes, then the mix under a steady writer.
        #[arg(long, default_value_t = 0)]
        writes: usize,
        /// Upserts per second of the steady writer (with --writes).
        #[arg(long, default_value_t = 10_000.0)]
        steady_writes: f64,
    },
    /// Serve the Messages API over HTTP (GET /v1/messages, GET /v1/messages/ID)
    /// with CareHQ's request signing, rate limits and access log.
    #[command(
        after_help = "Example:\n  MSGDEX_KEYS_FILE=keys.json msgdex serve --data fixtures/messages.jsonl --bind 127.0.0.1:8080\n\n\
Keys come from the file named by --keys or MSGDEX_KEYS_FILE ({\"account_id\": …, \"keys\": [{\"account_id\", \"api_key\", \"api_secret\"}]}), \
or from MSGDEX_ACCOUNT_ID, MSGDEX_API_KEY and MSGDEX_API_SECRET; never from arguments."
    )]
    Serve {
        #[command(flatten)]
        data: DataOptions,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        bind: std::net::SocketAddr,
        /// Keys file (JSON); default: MSGDEX_KEYS_FILE, then the MSGDEX_ACCOUNT_ID/API_KEY/API_SECRET variables.
        #[arg(long, value_name = "FILE")]
        keys: Option<PathBuf>,
        /// Accept unsigned requests (refused unless --bind is a loopback address).
        #[arg(long)]
        no_auth: bool,
        #[command(flatten)]
        limits: ServeLimits,
    },
    /// Answer request lines from stdin, one response line each (SPEC §7);
    /// write lines (PUT, DELETE) change the loaded store as they come.
    #[command(after_help = "Example:\n  printf '/v1/messages?filters-channel=sms\\n/v1/messages/abc\\n' | \
msgdex run --data fixtures/messages.jsonl\n\n\
Each line of stdin is a request target (optionally after GET); each answer is one line \
{\"status\":…,\"body\":…}. Write lines:\n  PUT /v1/messages/ID {…message JSON…}   \
upsert: 201 created, 200 replaced\n  DELETE /v1/messages/ID                 204, or 404 if absent\n\
A refused write (400/404) says why and changes nothing. Nothing is written back to the file.")]
    Run {
        #[command(flatten)]
        data: DataOptions,
        /// The longest request line answered; a longer one gets a 400 line.
        #[arg(long, value_name = "BYTES", default_value_t = msgdex::transcript::DEFAULT_MAX_LINE_BYTES,
              value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
        max_line_bytes: usize,
    },
}

fn main() -> ExitCode {
    msgdex_bench::process::prepare_process_memory();
    let cli = Cli::parse();
    match execute(cli.command) {
        Ok(code) => code,
        Err(message) => {
            // A closed or broken stderr must not turn an error into a panic.
            let _ = writeln!(io::stderr(), "msgdex: {message}");
            ExitCode::from(1)
        }
    }
}

fn open_engine(options: &DataOptions) -> Result<Box<dyn Engine>, String> {
    let limits = QueryLimits { max_per_page: options.max_per_page };
    Ok(match options.engine {
        EngineKind::Fast => {
            Box::new(FastEngine::load_path(&options.data).map_err(|error| error.to_string())?.with_limits(limits))
        }
        EngineKind::Reference => {
            let messages = msgdex::load_path(&options.data).map_err(|error| error.to_string())?;
            Box::new(ReferenceEngine::with_limits(messages, limits))
        }
    })
}

/// The engine of `msgdex run`: one that takes write lines too.
fn open_writable(options: &DataOptions) -> Result<Box<dyn Writable>, String> {
    let limits = QueryLimits { max_per_page: options.max_per_page };
    Ok(match options.engine {
        EngineKind::Fast => {
            Box::new(LiveEngine::load_path(&options.data).map_err(|error| error.to_string())?.with_limits(limits))
        }
        EngineKind::Reference => {
            let messages = msgdex::load_path(&options.data).map_err(|error| error.to_string())?;
            Box::new(LiveReference::new(ReferenceEngine::with_limits(messages, limits)))
        }
    })
}

/// Prints the plan and the execution of one list query.
fn explain(data: &PathBuf, query: &str) -> Result<ExitCode, String> {
    let engine = FastEngine::load_path(data).map_err(|error| error.to_string())?;
    let query = query.strip_prefix('?').unwrap_or(query);
    let list = match ListQuery::parse(query, &engine.limits()) {
        Ok(list) => list,
        Err(errors) => {
            println!("{}", msgdex::Response::bad_request(&errors).pretty_body());
            return Ok(ExitCode::from(2));
        }
    };
    println!("{}", engine.explain(&list));
    Ok(ExitCode::SUCCESS)
}

fn execute(command: Command) -> Result<ExitCode, String> {
    let response = match command {
        Command::List { data, query } => {
            let engine = open_engine(&data)?;
            let target = if query.starts_with('/') {
                query
            } else {
                format!("{}?{}", msgdex::MESSAGES_PATH, query.strip_prefix('?').unwrap_or(&query))
            };
            engine.respond(&target)
        }
        Command::Get { data, id } => {
            let engine = open_engine(&data)?;
            let mut body = Vec::new();
            if engine.retrieve_into(&id, &mut body) {
                msgdex::Response::ok(String::from_utf8(body).expect("bodies are UTF-8"))
            } else {
                let encoded = percent_encode_id(&id);
                engine.respond(&format!("{}/{encoded}", msgdex::MESSAGES_PATH))
            }
        }
        Command::Explain { data, query } => return explain(&data, &query),
        Command::Serve { data, bind, keys, no_auth, limits } => {
            use msgdex::server::{run, KeysFile, ServerConfig};
            let keys = if no_auth {
                None
            } else {
                let file = keys.or_else(|| std::env::var_os("MSGDEX_KEYS_FILE").map(PathBuf::from));
                Some(match file {
                    Some(path) => KeysFile::read(&path).map_err(|error| error.to_string())?,
                    None => KeysFile::from_environment().map_err(|error| error.to_string())?.ok_or(
                        "no API keys: give --keys FILE, set MSGDEX_KEYS_FILE, or set MSGDEX_ACCOUNT_ID, \
MSGDEX_API_KEY and MSGDEX_API_SECRET (or use --no-auth on a loopback address)",
                    )?,
                })
            };
            let mut config = ServerConfig::new(bind, keys);
            config.rate_limit = limits.rate_limit;
            config.auth_failure_limit = limits.auth_failure_limit;
            config.max_connections = limits.max_connections;
            config.max_connections_per_address = limits.max_connections_per_address;
            if let Some(queries) = limits.max_concurrent_queries {
                config.max_concurrent_queries = queries;
            }
            config.header_timeout = limits.header_timeout;
            config.idle_timeout = limits.idle_timeout;
            config.write_timeout = limits.write_timeout;
            config.request_timeout = limits.request_timeout;
            config.shutdown_timeout = limits.shutdown_timeout;
            // Refuse a bad configuration before the data is loaded.
            config.validate().map_err(|error| error.to_string())?;
            let engine: std::sync::Arc<dyn Engine> = std::sync::Arc::from(open_engine(&data)?);
            run(engine, config).map_err(|error| error.to_string())?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Bench {
            data,
            engines,
            threads,
            per_template,
            slow_per_template,
            seed,
            throughput_seconds,
            writes,
            steady_writes,
        } => {
            let mut kinds = Vec::new();
            for name in &engines {
                let kind = msgdex_bench::harness::EngineKind::parse(name)
                    .ok_or_else(|| format!("unknown engine {name:?}; the engines are msgdex, reference, sqlite"))?;
                if kind != msgdex_bench::harness::EngineKind::Msgdex && !kinds.contains(&kind) {
                    kinds.push(kind);
                }
            }
            let threads = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
            let config = msgdex_bench::harness::BenchConfig {
                data,
                engines: kinds,
                threads,
                per_template: per_template.max(1),
                slow_per_template: slow_per_template.min(per_template.max(1)),
                seed,
                throughput_seconds,
                writes,
                steady_writes_per_second: steady_writes,
            };
            let report = msgdex_bench::harness::run(config, &mut |step| eprintln!("msgdex bench: {step}…"))?;
            println!("{}", report.to_markdown());
            return Ok(if report.disagreements.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(3) });
        }
        Command::Gen { count, seed, out } => {
            let generator = msgdex_bench::workload::data::DataGenerator::new(count, seed);
            let written = match &out {
                Some(path) => {
                    let file = std::fs::File::create(path)
                        .map_err(|error| format!("cannot create {}: {error}", path.display()))?;
                    generator.write_json_lines(file)
                }
                None => generator.write_json_lines(io::stdout().lock()),
            };
            written.map_err(|error| format!("cannot write the data: {error}"))?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::GenRequests { data, seed, per_template, no_tags } => {
            let messages = msgdex::load_path(&data).map_err(|error| error.to_string())?;
            let mut out = io::BufWriter::new(io::stdout().lock());
            for request in msgdex_bench::workload::mix::generate(&messages, seed, per_template) {
                let written = if no_tags {
                    writeln!(out, "{}", request.target)
                } else {
                    writeln!(out, "{}\t{}", request.template, request.target)
                };
                written.map_err(|error| format!("cannot write requests: {error}"))?;
            }
            out.flush().map_err(|error| format!("cannot write requests: {error}"))?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Run { data, max_line_bytes } => {
            let engine = open_writable(&data)?;
            let options = msgdex::transcript::TranscriptOptions {
                max_line_bytes,
                // A program may write a request and wait for its answer on a
                // pipe or a terminal; a file is answered in large writes.
                flush_each_line: !stdin_is_a_file(),
            };
            let stdin = io::stdin().lock();
            let stdout = io::stdout().lock();
            match msgdex::transcript::run_writable_transcript(engine.as_ref(), stdin, stdout, options) {
                Ok(_) => {}
                // The reader of our answers has gone: stop quietly, as other tools do.
                Err(error) if error.kind() == io::ErrorKind::BrokenPipe => {}
                Err(error) => return Err(format!("cannot answer requests: {error}")),
            }
            return Ok(ExitCode::SUCCESS);
        }
    };
    println!("{}", response.pretty_body());
    Ok(if response.status == 200 { ExitCode::SUCCESS } else { ExitCode::from(2) })
}

/// Whether standard input is a regular file (not a pipe or a terminal).
fn stdin_is_a_file() -> bool {
    use std::os::fd::AsFd as _;
    io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .ok()
        .and_then(|fd| std::fs::File::from(fd).metadata().ok())
        .is_some_and(|metadata| metadata.is_file())
}

/// An Id made safe to put in a path, so the 404 body names it as given.
fn percent_encode_id(id: &str) -> String {
    percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC).to_string()
}
