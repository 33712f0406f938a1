//! The command line's arguments: every subcommand with its own options,
//! an example and its exit statuses in its `--help`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use msgdex_bench::workload::data::DataShape;

/// Query CareHQ messages held in memory, with the Messages API's semantics.
#[derive(Parser)]
#[command(name = "msgdex", version, about, long_about = None)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Options of every command that loads a data file.
#[derive(clap::Args)]
pub(crate) struct DataOptions {
    /// Messages to load: a JSON array or JSON Lines file, or a data
    /// directory made by `msgdex import`.
    #[arg(long, value_name = "FILE|DIR")]
    pub(crate) data: PathBuf,
    /// Which engine answers: the indexed `fast` one or the naive `reference`.
    #[arg(long, value_enum, default_value_t = EngineKind::Fast)]
    pub(crate) engine: EngineKind,
    #[command(flatten)]
    pub(crate) storage: ContentOption,
}

/// How the fast engine keeps `content`: the commands that load a file or
/// write to a data directory take it.
#[derive(clap::Args, Clone, Copy)]
pub(crate) struct ContentOption {
    /// How `content` is kept: `packed` (the default: each message
    /// compressed, for much less memory) or `plain` (as it came: items
    /// shown with their `content` are faster). A data directory keeps the
    /// way it was imported with; given to a command that writes to one, it
    /// changes the way in the background from when the command opens it.
    #[arg(long, value_name = "packed|plain")]
    pub(crate) content: Option<msgdex::ContentStorage>,
}

impl ContentOption {
    /// The way asked for, or the default one for a store made now.
    pub(crate) fn or_default(self) -> msgdex::ContentStorage {
        self.content.unwrap_or_default()
    }
}

/// Options of the commands that answer list requests.
#[derive(clap::Args)]
pub(crate) struct QueryOptions {
    /// The largest `per_page` a request may ask for.
    #[arg(long, value_name = "N", default_value_t = msgdex::DEFAULT_MAX_PER_PAGE,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_per_page: u32,
}

/// The bounds `msgdex serve` puts on clients (see the README's Serve section).
#[derive(clap::Args)]
pub(crate) struct ServeLimits {
    /// Requests per second allowed per API key; more get 429.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub(crate) rate_limit: u32,
    /// Failed authentications allowed per client address per minute; past
    /// it the address gets 429 until the minute ends.
    #[arg(long, value_name = "N", default_value_t = 30)]
    pub(crate) auth_failure_limit: u32,
    /// Connections served at once; past it new connections get 503 and are closed.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub(crate) max_connections: usize,
    /// Connections served at once from one client address (IPv6: one /64).
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub(crate) max_connections_per_address: usize,
    /// Queries evaluated at once (default: twice the cores); others wait within --request-timeout.
    #[arg(long, value_name = "N")]
    pub(crate) max_concurrent_queries: Option<usize>,
    /// Seconds a request's head may take to arrive, from its first byte.
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = parse_seconds)]
    pub(crate) header_timeout: std::time::Duration,
    /// Seconds a connection may stay silent while no request is answered.
    #[arg(long, value_name = "SECONDS", default_value = "15", value_parser = parse_seconds)]
    pub(crate) idle_timeout: std::time::Duration,
    /// Seconds a response write may make no progress before the client is dropped.
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = parse_seconds)]
    pub(crate) write_timeout: std::time::Duration,
    /// Seconds a request may take; past it the answer is 503.
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = parse_seconds)]
    pub(crate) request_timeout: std::time::Duration,
    /// Seconds Ctrl-C or SIGTERM waits for open connections before closing them.
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = parse_seconds)]
    pub(crate) shutdown_timeout: std::time::Duration,
    /// The largest request body (a PUT's message, a batch) in bytes; larger gets 413.
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) max_body_bytes: u64,
    /// The bytes of write bodies held at once, across all connections; a
    /// write that finds no room gets 503 at once.
    #[arg(long, value_name = "BYTES", default_value_t = 64 << 20,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) max_body_bytes_in_flight: u64,
    /// Answer GET /metrics (Prometheus text) without authentication: bind
    /// where only operators reach, or keep it off (404).
    #[arg(long)]
    pub(crate) metrics: bool,
    /// Answer a PUT that creates a message with 200 instead of 201, for
    /// clients that take any other status as an error (the official
    /// CareHQ clients do).
    #[arg(long)]
    pub(crate) created_as_ok: bool,
    /// Refuse every write (405): serve the data as it is.
    #[arg(long)]
    pub(crate) read_only: bool,
}

/// How a follower reads its upstream (`msgdex sync`, `serve --follow`).
#[derive(clap::Args)]
pub(crate) struct FollowArgs {
    /// The upstream key: a keys file (its account's first key); default:
    /// MSGDEX_UPSTREAM_ACCOUNT_ID, MSGDEX_UPSTREAM_API_KEY and MSGDEX_UPSTREAM_API_SECRET.
    #[arg(long, value_name = "FILE")]
    pub(crate) upstream_keys: Option<PathBuf>,
    /// Seconds between pulls while following.
    #[arg(long, value_name = "SECONDS", default_value = "1", value_parser = parse_seconds)]
    pub(crate) interval: std::time::Duration,
    /// Seconds between reconciliations while following (deletes, and
    /// messages whose `modified` is null).
    #[arg(long, value_name = "SECONDS", default_value = "3600", value_parser = parse_seconds)]
    pub(crate) reconcile_every: std::time::Duration,
    /// Seconds behind the upstream's clock before a `modified` second is
    /// taken as past (changes may still be stamped with it until then).
    #[arg(long, value_name = "SECONDS", default_value = "2", value_parser = parse_seconds)]
    pub(crate) settle: std::time::Duration,
    /// Seconds an upstream request may take (and any read of its answer)
    /// before it is retried.
    #[arg(long, value_name = "SECONDS", default_value = "30", value_parser = parse_seconds)]
    pub(crate) upstream_timeout: std::time::Duration,
}

/// `serve --stream`: the change stream a node takes its account's writes
/// from, and publishes its HTTP writes to.
#[derive(clap::Args)]
pub(crate) struct StreamArgs {
    /// NATS JetStream servers (comma-separated `nats://host:port`): the
    /// account's writes go through the stream, and this node applies them
    /// in stream order into the data directory --data names.
    #[arg(long = "stream", value_name = "URLS")]
    pub(crate) servers: Option<String>,
    /// The account this node holds (default: the keys file's account).
    #[arg(long, value_name = "ACCOUNT", conflicts_with = "assignment")]
    pub(crate) account: Option<String>,
    /// The fleet's assignment file (which nodes hold which accounts): this
    /// node holds the accounts listed with --node, each in its own
    /// directory under --data, routed by X-CareHQ-AccountId.
    #[arg(long, value_name = "FILE", requires = "node", requires = "servers")]
    pub(crate) assignment: Option<PathBuf>,
    /// Publish each account's checkpoint to the stream's object store every
    /// this many seconds (when the account changed), for new replicas to
    /// start from: one node per account should.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds, requires = "servers")]
    pub(crate) snapshot_every: Option<std::time::Duration>,
    /// This node's name in the assignment file.
    #[arg(long, value_name = "NAME", requires = "assignment")]
    pub(crate) node: Option<String>,
    #[command(flatten)]
    pub(crate) log: StreamLog,
}

/// The JetStream stream that holds every account's changes.
#[derive(clap::Args)]
pub(crate) struct StreamLog {
    /// The JetStream stream's name.
    #[arg(long, value_name = "NAME", default_value = "MSGDEX")]
    pub(crate) stream_name: String,
    /// Replicas of the stream when this node creates it (1 to 5).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=5))]
    pub(crate) stream_replicas: u8,
}

/// `sync --to-stream`: publish the pulled pages to an account's change
/// stream instead of applying them to --into directly.
#[derive(clap::Args)]
pub(crate) struct SyncToStream {
    /// NATS JetStream servers (comma-separated `nats://host:port`): each
    /// pulled page is published to the account's changes with the sync's
    /// cursor; --into is then a replica of the stream, which the sync
    /// compares pages with and resumes from.
    #[arg(long = "to-stream", value_name = "URLS", requires = "account")]
    pub(crate) servers: Option<String>,
    /// The account whose changes the pages are (its subject in the stream).
    #[arg(long, value_name = "ACCOUNT", requires = "servers")]
    pub(crate) account: Option<String>,
    #[command(flatten)]
    pub(crate) log: StreamLog,
}

/// `serve --follow`: the upstream a server mirrors.
#[derive(clap::Args)]
pub(crate) struct FollowUpstream {
    /// Mirror the CareHQ account at this base URL into the data directory
    /// --data names (made when absent), and serve it read-only.
    #[arg(long = "follow", value_name = "URL")]
    pub(crate) url: Option<String>,
    #[command(flatten)]
    pub(crate) args: FollowArgs,
}

/// A duration given in seconds (fractions allowed).
pub(crate) fn parse_seconds(text: &str) -> Result<std::time::Duration, String> {
    let seconds: f64 = text.parse().map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if !(seconds > 0.0 && seconds <= 86_400.0) {
        return Err(format!("{text} seconds is out of range: give more than 0 and at most 86400"));
    }
    Ok(std::time::Duration::from_secs_f64(seconds))
}

/// How a data directory keeps writes.
#[derive(clap::Args)]
pub(crate) struct DurabilityOptions {
    /// With a data directory: when a write is synced to disk. `always`
    /// (before it is acknowledged; a power loss takes nothing
    /// acknowledged), `interval=MS` (every MS milliseconds; a power loss
    /// takes at most that much) or `never` (the kernel decides; a crash of
    /// msgdex alone takes nothing).
    #[arg(long, value_name = "POLICY", default_value = "always", value_parser = parse_sync)]
    pub(crate) sync: msgdex::SyncPolicy,
    /// With a data directory: write a checkpoint (a new base file; the log
    /// before it is removed) once this many messages changed. Default: a
    /// quarter of the base, at least 4096.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) checkpoint_rows: Option<u64>,
    /// Messages written before they are indexed (tests use small ones).
    #[arg(long, hide = true, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub(crate) tail_limit: Option<usize>,
}

impl DurabilityOptions {
    /// The store options these flags ask for, with `storage`'s way of
    /// keeping `content` for the checkpoints to come.
    pub(crate) fn store_options(&self, storage: ContentOption) -> msgdex::StoreOptions {
        let mut options = msgdex::StoreOptions { sync: self.sync, ..msgdex::StoreOptions::default() };
        options.policy.content = storage.content;
        if let Some(rows) = self.checkpoint_rows {
            options.policy.compact_fraction = 0.0;
            options.policy.compact_min_rows = rows;
        }
        if let Some(limit) = self.tail_limit {
            options.policy.tail_limit = limit;
        }
        options
    }
}

/// A sync policy: `always`, `never` or `interval=MS`.
pub(crate) fn parse_sync(text: &str) -> Result<msgdex::SyncPolicy, String> {
    match text {
        "always" => Ok(msgdex::SyncPolicy::Always),
        "never" => Ok(msgdex::SyncPolicy::Never),
        _ => match text.strip_prefix("interval=").map(str::parse::<u64>) {
            Some(Ok(milliseconds @ 1..=60_000)) => {
                Ok(msgdex::SyncPolicy::Interval(std::time::Duration::from_millis(milliseconds)))
            }
            _ => Err(format!("{text:?} is not a sync policy: give always, never or interval=MS (MS from 1 to 60000)")),
        },
    }
}

/// The engines the command line can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum EngineKind {
    /// Columnar store, bitmap indexes, planner.
    Fast,
    /// The naive oracle: filter, sort and slice a vector.
    Reference,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Make a data directory from a JSON array or JSON Lines file: loaded
    /// with every check of a load, written as segment files, reopened in a
    /// fraction of the load time, and kept up to date by writes.
    #[command(after_help = "Example:\n  msgdex import --data fixtures/messages.jsonl --into messages.db\n  \
msgdex list --data messages.db 'filters-channel=sms'\n\n\
Exit status: 0 on success, 1 when the file cannot be loaded or DIR exists (nothing is left behind).")]
    Import {
        /// The messages: a JSON array or JSON Lines file.
        #[arg(long, value_name = "FILE")]
        data: PathBuf,
        /// The data directory to make; it must not exist.
        #[arg(long, value_name = "DIR")]
        into: PathBuf,
        #[command(flatten)]
        storage: ContentOption,
    },
    /// Verify a data directory: every checksum, every index against the
    /// rows, and the log read through.
    #[command(after_help = "Example:\n  msgdex check messages.db\n\n\
Exit status: 0 when all is well, 1 when a file is damaged or an index disagrees with its rows.")]
    Check {
        /// The data directory.
        #[arg(value_name = "DIR")]
        directory: PathBuf,
    },
    /// List messages: print the body of GET /v1/messages?QUERY as pretty JSON.
    #[command(after_help = "Example:\n  msgdex list --data fixtures/messages.jsonl \
'filters-channel=sms&sort_by=-date_time&attributes=correspondent'\n\n\
Exit status: 0 on success, 2 when the request is invalid (the 400 body is printed), \
1 when the data cannot be loaded.")]
    List {
        #[command(flatten)]
        data: DataOptions,
        #[command(flatten)]
        query_options: QueryOptions,
        /// The query string (a leading `?` is allowed), a request target
        /// such as `/v1/messages?page=2`, or a whole URL.
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
        /// Messages to load: a JSON array or JSON Lines file, or a data directory.
        #[arg(long, value_name = "FILE|DIR")]
        data: PathBuf,
        #[command(flatten)]
        storage: ContentOption,
        /// The query string (a leading `?` is allowed).
        #[arg(default_value = "")]
        query: String,
    },
    /// Write the generated data of docs/BENCH.md as JSON Lines (deterministic).
    #[command(after_help = "Example:\n  msgdex gen --count 1000000 --seed 1 --out bench-data/1m.jsonl")]
    Gen {
        /// Number of messages.
        #[arg(long)]
        count: u64,
        /// Seed: the same count, seed and shape give a byte-identical file.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Who writes the messages: `bench` (docs/BENCH.md's data) or `crm`
        /// (many more people, common surnames shared by thousands, work
        /// addresses: a surname or a domain matches many distinct values).
        #[arg(long, default_value = "bench")]
        shape: DataShape,
        /// Output file (stdout when absent).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Write the query mix of docs/BENCH.md, drawn from a data file, as request
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
    /// Replay the docs/BENCH.md query mix against several engines side by side:
    /// latency per template, speed-ups, throughput, load speed and memory.
    #[command(
        after_help = "Example:\n  cargo run --release -p msgdex-cli --features sqlite -- bench --data bench-data/1m.jsonl \
--engines msgdex,reference,sqlite\n\n\
Every engine's answers are compared with msgdex's, byte for byte; differences are reported."
    )]
    Bench {
        /// Messages to load: a JSON Lines (or array) file, e.g. from `msgdex
        /// gen`. The durable store's figures (import, reopening, durable
        /// writes) are measured on a data directory imported from it.
        #[arg(long, value_name = "FILE")]
        data: PathBuf,
        /// Also measure the durable store: import the file into a temporary
        /// data directory beside it, reopen it, and time durable writes.
        #[arg(long)]
        durable: bool,
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
        /// Also draw the per-template medians of each engine, on a log
        /// scale, as an SVG chart in this file.
        #[arg(long, value_name = "FILE.svg")]
        chart: Option<PathBuf>,
        #[command(flatten)]
        storage: ContentOption,
    },
    /// Serve the Messages API over HTTP (GET /v1/messages, GET /v1/messages/ID),
    /// and writes (PUT and DELETE /v1/messages/ID, POST /v1/messages for a
    /// batch), with CareHQ's request signing, rate limits and access log.
    #[command(
        after_help = "Example:\n  MSGDEX_KEYS_FILE=keys.json msgdex serve --data fixtures/messages.jsonl --bind 127.0.0.1:8080\n\n\
Keys come from the file named by --keys or MSGDEX_KEYS_FILE ({\"account_id\": …, \"keys\": [{\"account_id\", \"api_key\", \"api_secret\", \"scopes\": [\"read\", \"write\"]}]}), \
or from MSGDEX_ACCOUNT_ID, MSGDEX_API_KEY, MSGDEX_API_SECRET (and MSGDEX_API_SCOPES=read,write); never from arguments. \
A key writes only with the \"write\" scope. Writes to a data directory are durable before their answer; \
writes to a file last until the server stops. See docs/SERVE.md."
    )]
    Serve {
        #[command(flatten)]
        data: DataOptions,
        #[command(flatten)]
        query_options: QueryOptions,
        #[command(flatten)]
        durability: DurabilityOptions,
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
        limits: Box<ServeLimits>,
        #[command(flatten)]
        follow: Box<FollowUpstream>,
        #[command(flatten)]
        stream: Box<StreamArgs>,
    },
    /// Mirror a CareHQ account into a data directory: copy everything, then
    /// catch up with what changed; with --follow, keep following.
    #[command(
        after_help = "Example:\n  MSGDEX_UPSTREAM_ACCOUNT_ID=… MSGDEX_UPSTREAM_API_KEY=… MSGDEX_UPSTREAM_API_SECRET=… \\\n    \
msgdex sync --from https://api.carehq.co.uk --into replica.db\n\n\
The first run copies the account (the messages without `modified` included); later runs pull \
what changed since, and --reconcile also removes what was deleted upstream. Each page is applied with its cursor in one log record, so a sync killed at any moment \
resumes where it stopped. See docs/SYNC.md."
    )]
    Sync {
        /// The upstream Messages API's base URL.
        #[arg(long, value_name = "URL")]
        from: String,
        /// The replica's data directory; made when absent.
        #[arg(long, value_name = "DIR")]
        into: PathBuf,
        /// Reconcile even if the first copy is done: list every upstream
        /// `_id`, delete what is gone, fetch what is missing.
        #[arg(long)]
        reconcile: bool,
        /// Keep following after catching up (until killed; safe at any moment).
        #[arg(long)]
        follow: bool,
        #[command(flatten)]
        follow_args: FollowArgs,
        #[command(flatten)]
        durability: DurabilityOptions,
        #[command(flatten)]
        storage: ContentOption,
        #[command(flatten)]
        to_stream: Box<SyncToStream>,
    },
    /// Answer request lines from stdin, one response line each (SPEC §7);
    /// write lines (PUT, DELETE) change the loaded store as they come.
    #[command(after_help = "Example:\n  printf '/v1/messages?filters-channel=sms\\n/v1/messages/abc\\n' | \
msgdex run --data fixtures/messages.jsonl\n\n\
Each line of stdin is a request target (optionally after GET); each answer is one line \
{\"status\":…,\"body\":…}. Write lines:\n  PUT /v1/messages/ID {…message JSON…}   \
upsert: 201 created, 200 replaced\n  DELETE /v1/messages/ID                 204, or 404 if absent\n\
A refused write (400/404) says why and changes nothing. With --data FILE nothing is written back to the file; with --data DIR (a data directory) every write is durable before its line is printed.")]
    Run {
        #[command(flatten)]
        data: DataOptions,
        #[command(flatten)]
        query_options: QueryOptions,
        #[command(flatten)]
        durability: DurabilityOptions,
        /// The longest request line answered; a longer one gets a 400 line.
        #[arg(long, value_name = "BYTES", default_value_t = msgdex::transcript::DEFAULT_MAX_LINE_BYTES,
              value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
        max_line_bytes: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--content` of a writing command reaches the store's policy, which
    /// its checkpoints follow (tests/durable.rs); absent, the base's way is
    /// kept.
    #[test]
    fn content_reaches_the_store_options_of_writing_commands() {
        for (given, expected) in [
            (&["--content", "plain"][..], Some(msgdex::ContentStorage::Plain)),
            (&["--content", "packed"][..], Some(msgdex::ContentStorage::Packed)),
            (&[][..], None),
        ] {
            for command in ["run", "serve"] {
                let arguments = [&["msgdex", command, "--data", "store"][..], given].concat();
                let (Command::Run { data, durability, .. } | Command::Serve { data, durability, .. }) =
                    Cli::try_parse_from(arguments).expect("valid arguments").command
                else {
                    unreachable!("{command} parses as itself")
                };
                assert_eq!(durability.store_options(data.storage).policy.content, expected, "{command} {given:?}");
            }
            let arguments =
                [&["msgdex", "sync", "--from", "http://127.0.0.1:1", "--into", "store"][..], given].concat();
            let Command::Sync { durability, storage, .. } = Cli::try_parse_from(arguments).unwrap().command else {
                unreachable!("sync parses as itself")
            };
            assert_eq!(durability.store_options(storage).policy.content, expected, "sync {given:?}");
        }
    }
}
