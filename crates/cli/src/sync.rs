//! `msgdex sync` and the follower of `msgdex serve --follow`: credentials
//! from a keys file or the environment (never from arguments), progress on
//! stderr, and the follower thread beside the server.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use msgdex::follow::{
    follow, sync, Credentials, FollowEvent, FollowOptions, FollowTarget, FollowerStatus, RetryPolicy, SyncOptions,
    SyncProgress, Upstream,
};
use msgdex::server::{Gauges, KeysFile};
use msgdex::{LiveEngine, StoreOptions};

use crate::args::{FollowArgs, SyncToStream};
use crate::engines;
use crate::output::Failure;

/// The environment variables of the upstream key.
const UPSTREAM_ENVIRONMENT: [&str; 3] =
    ["MSGDEX_UPSTREAM_ACCOUNT_ID", "MSGDEX_UPSTREAM_API_KEY", "MSGDEX_UPSTREAM_API_SECRET"];

/// The upstream credentials: the first key of the account in
/// `--upstream-keys FILE`, else the `MSGDEX_UPSTREAM_*` variables.
fn credentials(file: Option<&Path>) -> Result<Credentials, Failure> {
    if let Some(path) = file {
        let keys = KeysFile::read(path).map_err(|error| error.to_string())?;
        if keys.account_id.is_empty() {
            return Err(Failure::Message(format!(
                "{}: the upstream keys file names no `account_id`; name the account to copy",
                path.display()
            )));
        }
        let key = keys.keys.iter().find(|key| key.account_id == keys.account_id).ok_or_else(|| {
            Failure::Message(format!("{}: no key belongs to the account {:?}", path.display(), keys.account_id))
        })?;
        return Ok(Credentials {
            account_id: keys.account_id.clone(),
            api_key: key.api_key.clone(),
            api_secret: key.api_secret.clone(),
        });
    }
    let mut values = Vec::new();
    for name in UPSTREAM_ENVIRONMENT {
        match std::env::var(name) {
            Ok(value) if !value.is_empty() => values.push(value),
            _ => {
                return Err(Failure::Message(format!(
                    "no upstream credentials: give --upstream-keys FILE, or set {} ({name} is not set or empty)",
                    UPSTREAM_ENVIRONMENT.join(", ")
                )))
            }
        }
    }
    let [account_id, api_key, api_secret]: [String; 3] = values.try_into().expect("three variables");
    Ok(Credentials { account_id, api_key, api_secret })
}

/// The replica's store: the data directory, made empty when absent.
pub(crate) fn open_replica(directory: &Path, options: StoreOptions) -> Result<LiveEngine, Failure> {
    if !directory.exists() {
        let storage = options.policy.content.unwrap_or_default();
        msgdex::create(directory, storage).map_err(|error| error.to_string())?;
    }
    engines::open_directory(directory, options)
}

fn upstream(url: &str, args: &FollowArgs, retry: RetryPolicy) -> Result<Upstream, Failure> {
    upstream_with(url, credentials(args.upstream_keys.as_deref())?, args, retry)
}

fn upstream_with(
    url: &str,
    credentials: Credentials,
    args: &FollowArgs,
    retry: RetryPolicy,
) -> Result<Upstream, Failure> {
    let retry = RetryPolicy { request_timeout: args.upstream_timeout, ..retry };
    Upstream::new(url, credentials, retry).map_err(|error| Failure::Message(error.to_string()))
}

fn follow_options(args: &FollowArgs) -> FollowOptions {
    FollowOptions {
        sync: SyncOptions { settle: args.settle, reconcile: false },
        interval: args.interval,
        reconcile_every: Some(args.reconcile_every),
    }
}

/// A progress line on stderr every two seconds at most: messages read and
/// written, the rate, and an estimate of the time left.
struct ProgressLine {
    last: Option<Instant>,
}

impl ProgressLine {
    fn show(&mut self, progress: &SyncProgress, force: bool) {
        if !force && self.last.is_some_and(|last| last.elapsed() < Duration::from_secs(2)) {
            return;
        }
        self.last = Some(Instant::now());
        let seconds = progress.elapsed.as_secs_f64().max(0.001);
        let rate = progress.seen as f64 / seconds;
        let left = match progress.remaining {
            Some(remaining) if remaining > 0 && rate > 0.0 => {
                format!(", about {remaining} left (ETA {:.0} s)", remaining as f64 / rate)
            }
            _ => String::new(),
        };
        let _ = writeln!(
            std::io::stderr(),
            "msgdex sync: {} messages read, {} written, {} deleted ({:.0}/s){left}",
            progress.seen,
            progress.applied,
            progress.deleted,
            rate
        );
    }
}

/// Where `msgdex sync` writes.
pub(crate) struct SyncTarget<'a> {
    /// The replica's data directory.
    pub(crate) into: &'a Path,
    pub(crate) store: StoreOptions,
    /// With `--to-stream`, the pages go through the account's change
    /// stream, and `into` is a replica of the stream.
    pub(crate) to_stream: &'a SyncToStream,
}

/// `msgdex sync`: brings the replica at `into` up to date with the account
/// at `from` (directly, or through the change stream), then follows it
/// when asked.
pub(crate) fn run_sync(
    from: &str,
    target: SyncTarget<'_>,
    reconcile: bool,
    keep_following: bool,
    args: &FollowArgs,
) -> Result<(), Failure> {
    let credentials = credentials(args.upstream_keys.as_deref())?;
    let upstream_account = credentials.account_id.clone();
    let mut run = SyncRun {
        from,
        into: target.into,
        upstream: upstream_with(from, credentials, args, RetryPolicy::default())?,
        reconcile,
        keep_following,
        args,
    };
    let (Some(servers), Some(account)) = (&target.to_stream.servers, &target.to_stream.account) else {
        let engine = open_replica(target.into, target.store)?;
        run.pull_into(&engine, &engine)?;
        engine.close();
        return Ok(());
    };
    // The pages are the upstream key's account: published under another
    // account's subject, that account's nodes would serve them.
    if *account != upstream_account {
        return Err(Failure::Message(format!(
            "--account {account} names another account than the upstream key's ({upstream_account}); the \
             pages would be published as {account}'s changes"
        )));
    }
    let session = crate::stream::StreamSession::connect(servers, &target.to_stream.log)?;
    let held = session.hold(account, target.into, target.store, msgdex::QueryLimits::default())?;
    // The cursor is the last one the stream carries: read all of it first.
    session.catch_up(&held)?;
    let pulled = run.pull_into(&*held.writer, &held.engine);
    session.shutdown();
    pulled
}

/// One `msgdex sync`: where from, where into, and what to do.
struct SyncRun<'a> {
    from: &'a str,
    into: &'a Path,
    upstream: Upstream,
    reconcile: bool,
    keep_following: bool,
    args: &'a FollowArgs,
}

impl SyncRun<'_> {
    /// Syncs `target` (whose reads are `engine`'s) with the upstream.
    fn pull_into(&mut self, target: &dyn FollowTarget, engine: &LiveEngine) -> Result<(), Failure> {
        let SyncRun { from, into, upstream, reconcile, keep_following, args } = self;
        let (from, into, reconcile, keep_following, args) = (*from, *into, *reconcile, *keep_following, *args);
        let mut line = ProgressLine { last: None };
        let options = SyncOptions { settle: args.settle, reconcile };
        let report = sync(target, upstream, &options, &mut |progress| line.show(progress, false))
            .map_err(|error| Failure::Message(format!("sync stopped: {error}; run it again to resume")))?;
        line.show(&report, true);
        let _ = writeln!(
            std::io::stderr(),
            "msgdex sync: {} holds {} messages, up to date with {from} ({} requests)",
            into.display(),
            msgdex::Engine::message_count(engine),
            upstream.requests()
        );
        if keep_following {
            let status = FollowerStatus::default();
            let stop = AtomicBool::new(false);
            let mut retry_line = ProgressLine { last: None };
            follow(target, upstream, &follow_options(args), &status, &stop, &mut |event| {
                report_event(&mut retry_line, event)
            });
        }
        Ok(())
    }
}

fn report_event(line: &mut ProgressLine, event: FollowEvent<'_>) {
    match event {
        FollowEvent::Progress(progress) => line.show(progress, false),
        FollowEvent::CaughtUp(progress) => {
            let _ = writeln!(
                std::io::stderr(),
                "msgdex follow: caught up ({} read, {} written, {} deleted)",
                progress.seen,
                progress.applied,
                progress.deleted
            );
        }
        FollowEvent::Failed(error) => {
            let _ = writeln!(std::io::stderr(), "msgdex follow: {error}; retrying at the next round");
        }
    }
}

/// A follower thread beside a server: it follows `from` into `engine`
/// until `stop` is set; `/healthz` says ready once the first copy is done.
pub(crate) struct Follower {
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) thread: std::thread::JoinHandle<()>,
}

/// Starts following `from` into `engine` on a thread of its own; returns
/// the follower and the gauges it adds to `/metrics`.
pub(crate) fn start_follower(
    engine: Arc<LiveEngine>,
    from: &str,
    args: &FollowArgs,
    ready: Arc<AtomicBool>,
) -> Result<(Follower, msgdex::server::ExtraGauges), Failure> {
    let mut upstream = upstream(from, args, RetryPolicy { max_attempts: Some(5), ..RetryPolicy::default() })?;
    let options = follow_options(args);
    let status = Arc::new(FollowerStatus::default());
    let stop = Arc::new(AtomicBool::new(false));
    let copied = msgdex::follow::Cursor::from_position(engine.snapshot().source_position())
        .map_err(Failure::Message)?
        .is_copied();
    ready.store(copied, Ordering::Release);
    let thread = {
        let (status, stop) = (Arc::clone(&status), Arc::clone(&stop));
        std::thread::Builder::new()
            .name("msgdex-follow".into())
            .spawn(move || {
                let mut line = ProgressLine { last: None };
                follow(&*engine, &mut upstream, &options, &status, &stop, &mut |event| {
                    if matches!(event, FollowEvent::CaughtUp(_)) {
                        ready.store(true, Ordering::Release);
                    }
                    report_event(&mut line, event);
                });
            })
            .map_err(|error| Failure::Message(format!("cannot start the follower: {error}")))?
    };
    let gauges: msgdex::server::ExtraGauges = Arc::new(move |gauges: &mut Gauges| {
        if let Some(lag) = status.lag_seconds() {
            gauges.set("msgdex_follower_lag_seconds", "Seconds since the follower last caught up.", lag as f64);
        }
        gauges.set(
            "msgdex_follower_last_caught_up_timestamp_seconds",
            "When the follower last caught up with its upstream (Unix seconds; 0 never).",
            status.last_caught_up.load(Ordering::Acquire) as f64,
        );
        gauges.set(
            "msgdex_follower_failed_rounds",
            "Follower rounds that failed since the start.",
            status.failures.load(Ordering::Relaxed) as f64,
        );
    });
    Ok((Follower { stop, thread }, gauges))
}

/// The data directory `serve --follow` keeps: `--data` must name one (or a
/// path where it is made).
pub(crate) fn replica_directory(data: &Path) -> Result<PathBuf, Failure> {
    if data.exists() && !data.is_dir() {
        return Err(Failure::Message(format!(
            "--follow keeps the replica in a data directory; {} is a file (give a directory path, made if absent)",
            data.display()
        )));
    }
    Ok(data.to_owned())
}
