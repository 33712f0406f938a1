//! `msgdex serve --stream` and `msgdex sync --to-stream`: nodes whose
//! accounts' writes go through a NATS JetStream change stream, applied
//! here in stream order, one store and one follower per account.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use msgdex::server::{run, snapshot_gauges, Gauges, ServedAccounts, ServedStore, ServerConfig};
use msgdex::stream::async_nats;
use msgdex::stream::{
    bootstrap, check_account_name, connect, follow_stream, last_sequence, publish_snapshot, subject_of,
    AppliedSequence, Assignment, StreamConfig, StreamError, StreamWriter,
};
use msgdex::{LiveEngine, QueryLimits};

use crate::args::{DataOptions, StreamArgs, StreamLog};
use crate::output::{warn, Failure};

/// How long the follower waits before it follows the stream again after
/// losing it (a NATS node down, say).
const REFOLLOW_DELAY: Duration = Duration::from_secs(1);

/// How long a follower that cannot go on (a gap in the stream) waits
/// before it tries, and says so, again.
const STUCK_DELAY: Duration = Duration::from_secs(30);

/// How long a sync waits for its store to move while catching up with the
/// stream before it gives up.
const CATCH_UP_STALL: Duration = Duration::from_secs(60);

/// The accounts a node holds.
pub(crate) enum Holding {
    /// One account, in the data directory `--data` names.
    One(String),
    /// The accounts the assignment gives this node (named second), each in
    /// `--data`'s subdirectory of its name.
    Assigned(Assignment, String),
}

/// A connection to the change stream, on a runtime of its own.
pub(crate) struct StreamSession {
    runtime: tokio::runtime::Runtime,
    context: async_nats::jetstream::Context,
    stream: async_nats::jetstream::stream::Stream,
    config: StreamConfig,
}

/// An account this node holds: its store, kept by the stream, and the
/// writer that publishes to its changes.
pub(crate) struct HeldAccount {
    pub(crate) account: String,
    pub(crate) engine: Arc<LiveEngine>,
    pub(crate) writer: Arc<StreamWriter>,
    pub(crate) applied: AppliedSequence,
    /// Cleared when the follower cannot keep the store current (`/healthz`
    /// then answers 503).
    ready: Arc<AtomicBool>,
}

impl StreamSession {
    /// Connects to `servers` (comma-separated) and opens the stream.
    pub(crate) fn connect(servers: &str, log: &StreamLog) -> Result<StreamSession, Failure> {
        let config = StreamConfig {
            servers: servers
                .split(',')
                .map(|server| server.trim().to_owned())
                .filter(|server| !server.is_empty())
                .collect(),
            stream: log.stream_name.clone(),
            replicas: usize::from(log.stream_replicas),
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("msgdex-stream")
            .enable_all()
            .build()
            .map_err(|error| Failure::Message(format!("cannot start the stream's runtime: {error}")))?;
        let (context, stream) =
            runtime.block_on(connect(&config)).map_err(|error| Failure::Message(error.to_string()))?;
        Ok(StreamSession { runtime, context, stream, config })
    }

    /// Opens `account`'s store at `directory` (made from the account's
    /// snapshot when absent, if it has one) and follows the stream into it.
    pub(crate) fn hold(
        &self,
        account: &str,
        directory: &Path,
        store: msgdex::StoreOptions,
        limits: QueryLimits,
    ) -> Result<HeldAccount, Failure> {
        check_account_name(account).map_err(Failure::Message)?;
        let started = std::time::Instant::now();
        let bootstrapped = !directory.exists()
            && self
                .runtime
                .block_on(bootstrap(&self.context, &self.config, account, directory))
                .map_err(|error| Failure::Message(format!("{account}: {error}")))?
                .is_some();
        let fetched = started.elapsed();
        let engine = match crate::sync::open_replica(directory, store) {
            Ok(engine) => Arc::new(engine.with_limits(limits)),
            Err(Failure::Message(why)) if bootstrapped => {
                // A snapshot that does not open is not left behind to be
                // opened again at every start.
                let _ = std::fs::remove_dir_all(directory);
                return Err(Failure::Message(format!(
                    "{account}: the snapshot installed as {} does not open ({why}); it was removed. Start the node \
                     again to retry (it takes the newest snapshot), or delete {account}/CURRENT from the bucket \
                     {} to start from the whole stream",
                    directory.display(),
                    msgdex::stream::snapshot_bucket(&self.config)
                )));
            }
            Err(failure) => return Err(failure),
        };
        if bootstrapped {
            let position = engine.snapshot().source_position().map(str::to_owned);
            say(&format!(
                "{account}: made from the snapshot at stream sequence {} in {:.1} s ({:.1} s fetching, {:.1} s opening)",
                msgdex::stream::sequence_of(position.as_deref())
                    .map_err(|error| Failure::Message(error.to_string()))?,
                started.elapsed().as_secs_f64(),
                fetched.as_secs_f64(),
                (started.elapsed() - fetched).as_secs_f64()
            ));
        }
        // A store that follows another source is refused before anything
        // is published to it.
        msgdex::stream::sequence_of(engine.snapshot().source_position())
            .map_err(|error| Failure::Message(format!("{}: {error}", directory.display())))?;
        let applied = AppliedSequence::new(0);
        let ready = Arc::new(AtomicBool::new(true));
        {
            let (engine, applied, stream, account, ready) =
                (Arc::clone(&engine), applied.clone(), self.stream.clone(), account.to_owned(), Arc::clone(&ready));
            self.runtime.spawn(async move {
                loop {
                    let outcome = follow_stream(Arc::clone(&engine), &stream, &account, &applied, |line| {
                        warn(&format!("{account}: {line}"))
                    })
                    .await;
                    let delay = match outcome {
                        // Nothing a retry soon can mend: the node says so,
                        // and /healthz answers 503, until it is restarted.
                        Err(error @ (StreamError::Gap(_) | StreamError::Position(_))) => {
                            ready.store(false, Ordering::Release);
                            warn(&format!("{account}: {error}"));
                            STUCK_DELAY
                        }
                        Err(error) => {
                            warn(&format!("{account}: {error}; following again in {} s", REFOLLOW_DELAY.as_secs()));
                            REFOLLOW_DELAY
                        }
                        Ok(()) => REFOLLOW_DELAY,
                    };
                    tokio::time::sleep(delay).await;
                }
            });
        }
        let writer = Arc::new(StreamWriter::new(
            Arc::clone(&engine),
            self.context.clone(),
            subject_of(account),
            applied.clone(),
            self.runtime.handle().clone(),
        ));
        Ok(HeldAccount { account: account.to_owned(), engine, writer, applied, ready })
    }

    /// Waits until `held` has applied every change the stream held for
    /// its account when asked, saying how far it is every few seconds;
    /// refused when its follower makes no progress for a minute.
    pub(crate) fn catch_up(&self, held: &HeldAccount) -> Result<(), Failure> {
        let last = self.runtime.block_on(last_sequence(&self.stream, &held.account));
        if last == u64::MAX {
            return Err(Failure::Message(format!("cannot read the last change of {} in the stream", held.account)));
        }
        let mut progress = (held.applied.current(), std::time::Instant::now());
        while !self.runtime.block_on(held.applied.wait_for(last, Duration::from_secs(5))) {
            let now = held.applied.current();
            if now != progress.0 {
                progress = (now, std::time::Instant::now());
            } else if progress.1.elapsed() >= CATCH_UP_STALL || !held.ready.load(Ordering::Acquire) {
                return Err(Failure::Message(format!(
                    "{}: the stream follower is stuck at {now} of {last} (its warnings above say why)",
                    held.account
                )));
            }
            say(&format!("{}: catching up with the stream: {now} of {last}", held.account));
        }
        Ok(())
    }

    /// Publishes `held`'s checkpoint as its snapshot every `every`, when
    /// the account changed.
    pub(crate) fn publish_snapshots(&self, held: &HeldAccount, every: Duration) {
        let (context, config, account, engine, applied) = (
            self.context.clone(),
            self.config.clone(),
            held.account.clone(),
            Arc::clone(&held.engine),
            held.applied.clone(),
        );
        self.runtime.spawn(async move {
            let mut published = 0;
            loop {
                tokio::time::sleep(every).await;
                let at = applied.current();
                if at == published {
                    continue;
                }
                match publish_snapshot(&context, &config, &account, Arc::clone(&engine)).await {
                    Ok(snapshot) => {
                        published = at;
                        if snapshot.published {
                            say(&format!(
                                "{account}: published a snapshot at stream sequence {} ({} bytes)",
                                snapshot.sequence, snapshot.bytes
                            ));
                        }
                    }
                    Err(error) => warn(&format!("{account}: no snapshot published: {error}")),
                }
            }
        });
    }

    /// Stops the followers, waiting at most a second.
    pub(crate) fn shutdown(self) {
        self.runtime.shutdown_timeout(Duration::from_secs(1));
    }
}

impl HeldAccount {
    /// The account as a server answers it: reads from its store, writes
    /// through the stream, its gauges labelled by account on a fleet node.
    fn served(&self) -> ServedStore {
        let gauged = self.applied.clone();
        ServedStore::writable(Arc::clone(&self.writer) as Arc<dyn msgdex::Writable>)
            .with_sequence(self.applied.clone())
            .with_gauges(snapshot_gauges(Arc::clone(&self.engine)))
            .with_gauges(Arc::new(move |gauges: &mut Gauges| gauged.set_gauges(gauges)))
            .with_readiness(Arc::clone(&self.ready))
    }
}

/// Serves the accounts held, each kept by its changes in the stream, until
/// Ctrl-C or SIGTERM.
pub(crate) fn serve_from_stream(
    data: &DataOptions,
    limits: QueryLimits,
    store: msgdex::StoreOptions,
    servers: &str,
    holding: Holding,
    args: &StreamArgs,
    config: ServerConfig,
) -> Result<(), Failure> {
    let root = crate::sync::replica_directory(&data.data)?;
    let accounts: Vec<(String, PathBuf)> = match &holding {
        Holding::One(account) => vec![(account.clone(), root.clone())],
        Holding::Assigned(assignment, node) => {
            std::fs::create_dir_all(&root)
                .map_err(|error| Failure::Message(format!("cannot make {}: {error}", root.display())))?;
            assignment.held_by(node).map(|account| (account.to_owned(), root.join(account))).collect()
        }
    };
    for (account, _) in &accounts {
        check_account_name(account).map_err(Failure::Message)?;
    }
    let session = StreamSession::connect(servers, &args.log)?;
    let mut stores = Vec::new();
    for (account, directory) in &accounts {
        let held = session.hold(account, directory, store.clone(), limits)?;
        if let Some(every) = args.snapshot_every {
            session.publish_snapshots(&held, every);
        }
        stores.push((account.clone(), held.served()));
    }
    let served = match &holding {
        // One account: its store answers every request, as without a stream.
        Holding::One(_) => ServedAccounts::from(stores.pop().expect("one account").1),
        Holding::Assigned(assignment, node) => {
            let mut served = ServedAccounts::many();
            for (account, store) in stores {
                served = served.with_account(account, store);
            }
            for (account, nodes) in assignment.elsewhere(node) {
                served = served.held_elsewhere(account, nodes);
            }
            served
        }
    };
    let result = run(served, config).map_err(|error| Failure::Message(error.to_string()));
    session.shutdown();
    result
}

/// A line of news on stderr (not a warning).
fn say(text: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "msgdex stream: {text}");
}
