//! `msgdex serve`: keys from a file or the environment, the limits from the
//! flags, all checked before the data loads.

use std::path::PathBuf;
use std::sync::Arc;

use msgdex::server::{run, KeysFile, ServedStore, ServerConfig};
use msgdex::{Engine, LiveEngine, LiveReference, QueryLimits, ReferenceEngine};

use crate::args::{DataOptions, EngineKind, FollowUpstream, ServeLimits, StreamArgs};
use crate::engines;
use crate::output::{warn, Failure};

/// How `msgdex serve` listens, whom it answers, and what it follows.
pub(crate) struct ServeOptions<'a> {
    pub(crate) bind: std::net::SocketAddr,
    pub(crate) keys: Option<PathBuf>,
    pub(crate) no_auth: bool,
    pub(crate) bounds: &'a ServeLimits,
    pub(crate) follow: &'a FollowUpstream,
    pub(crate) stream: &'a StreamArgs,
}

/// Serves until Ctrl-C or SIGTERM.
pub(crate) fn serve(
    data: &DataOptions,
    limits: QueryLimits,
    store: msgdex::StoreOptions,
    options: &ServeOptions<'_>,
) -> Result<(), Failure> {
    let bounds = options.bounds;
    let keys = if options.no_auth { None } else { Some(read_keys(options.keys.clone())?) };
    let account = options.stream.account.clone().or_else(|| keys.as_ref().map(|keys| keys.account_id.clone()));
    let mut config = ServerConfig::new(options.bind, keys);
    config.rate_limit = bounds.rate_limit;
    config.auth_failure_limit = bounds.auth_failure_limit;
    config.max_connections = bounds.max_connections;
    config.max_connections_per_address = bounds.max_connections_per_address;
    if let Some(queries) = bounds.max_concurrent_queries {
        config.max_concurrent_queries = queries;
    }
    config.header_timeout = bounds.header_timeout;
    config.idle_timeout = bounds.idle_timeout;
    config.write_timeout = bounds.write_timeout;
    config.request_timeout = bounds.request_timeout;
    config.shutdown_timeout = bounds.shutdown_timeout;
    config.max_body_bytes = bounds.max_body_bytes;
    config.max_body_bytes_in_flight = bounds.max_body_bytes_in_flight;
    config.metrics = bounds.metrics;
    config.created_as_ok = bounds.created_as_ok;
    // Refuse a bad configuration before the data is loaded.
    config.validate().map_err(|error| error.to_string())?;
    if let Some(servers) = &options.stream.servers {
        let holding = match (&options.stream.assignment, &options.stream.node) {
            (Some(path), Some(node)) => crate::stream::Holding::Assigned(
                msgdex::stream::Assignment::read(path, node).map_err(|error| error.to_string())?,
                node.clone(),
            ),
            _ => crate::stream::Holding::One(account.filter(|account| !account.is_empty()).ok_or(
                "--stream needs the accounts held: give --account, a keys file naming its account, \
or --assignment with --node",
            )?),
        };
        return crate::stream::serve_from_stream(data, limits, store, servers, holding, options.stream, config);
    }
    let shutdown_timeout = config.shutdown_timeout;
    let Some(upstream) = &options.follow.url else {
        let (store, directory) = open_store(data, limits, store, bounds.read_only)?;
        let result = run(store, config).map_err(|error| Failure::Message(error.to_string()));
        if let Some(directory) = directory {
            finish_background_work(&directory, shutdown_timeout);
        }
        return result;
    };
    // A replica: its follower is the only writer.
    let directory = crate::sync::replica_directory(&data.data)?;
    let engine = Arc::new(crate::sync::open_replica(&directory, store)?.with_limits(limits));
    let served = ServedStore::live(Arc::clone(&engine)).without_writes();
    let replica = Arc::clone(&engine);
    let (follower, gauges) = crate::sync::start_follower(engine, upstream, &options.follow.args, served.readiness())?;
    let served = served.with_gauges(gauges);
    let result = run(served, config).map_err(|error| Failure::Message(error.to_string()));
    // The follower stops between rounds; a round under way (a long first
    // copy, a retry's backoff) is not waited for: every page it applied is
    // whole in the log with its cursor, so stopping anywhere is safe.
    follower.stop.store(true, std::sync::atomic::Ordering::Release);
    let waiting = std::time::Instant::now();
    while !follower.thread.is_finished() && waiting.elapsed() < std::time::Duration::from_secs(2) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    finish_background_work(&replica, shutdown_timeout);
    result
}

/// Gives the background work in flight on a served data directory (a
/// checkpoint, a change of the way `content` is kept) up to `limit` to
/// finish once the server has stopped, so that a clean stop leaves it done
/// rather than to be done again after the next open. Past the limit it is
/// left: stopping a checkpoint anywhere is safe.
fn finish_background_work(engine: &LiveEngine, limit: std::time::Duration) {
    if !engine.wait_for_compaction_for(limit) {
        warn(&format!(
            "a checkpoint in flight did not finish within the shutdown timeout ({} ms): it is left, and done again \
             after the data directory is next opened",
            limit.as_millis()
        ));
    }
}

/// What the server answers from: a live store (durable on a data
/// directory, which the server owns while it runs), or a read-only engine
/// with `--read-only`.
fn open_store(
    data: &DataOptions,
    limits: QueryLimits,
    options: msgdex::StoreOptions,
    read_only: bool,
) -> Result<(ServedStore, Option<Arc<LiveEngine>>), Failure> {
    if read_only {
        let engine: Arc<dyn Engine> = Arc::from(engines::open(data, limits)?);
        return Ok((ServedStore::read_only(engine), None));
    }
    let store = match data.engine {
        EngineKind::Fast if engines::is_directory(&data.data) => {
            let engine = Arc::new(engines::open_directory(&data.data, options)?.with_limits(limits));
            return Ok((ServedStore::live(Arc::clone(&engine)), Some(engine)));
        }
        EngineKind::Fast => {
            let engine = LiveEngine::from_fast(&engines::load_fast(&data.data, data.storage)?);
            ServedStore::live(Arc::new(engine.with_limits(limits)))
        }
        EngineKind::Reference => {
            let messages = engines::open(data, limits)?.first_messages(usize::MAX);
            ServedStore::writable(Arc::new(LiveReference::new(ReferenceEngine::with_limits(messages, limits))))
        }
    };
    Ok((store, None))
}

/// The keys: `--keys FILE`, else the file `MSGDEX_KEYS_FILE` names, else
/// one key from `MSGDEX_ACCOUNT_ID`, `MSGDEX_API_KEY`, `MSGDEX_API_SECRET`.
fn read_keys(file: Option<PathBuf>) -> Result<KeysFile, Failure> {
    let file = file.or_else(|| std::env::var_os("MSGDEX_KEYS_FILE").map(PathBuf::from));
    match file {
        Some(path) => KeysFile::read(&path).map_err(|error| Failure::Message(error.to_string())),
        None => KeysFile::from_environment().map_err(|error| Failure::Message(error.to_string()))?.ok_or_else(|| {
            Failure::from(
                "no API keys: give --keys FILE, set MSGDEX_KEYS_FILE, or set MSGDEX_ACCOUNT_ID, \
MSGDEX_API_KEY and MSGDEX_API_SECRET (or use --no-auth on a loopback address)",
            )
        }),
    }
}
