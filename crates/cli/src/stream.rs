//! `msgdex serve --stream`: a node whose accounts' writes go through a NATS
//! JetStream change stream, applied here in stream order, one store and
//! one follower per account.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use msgdex::server::{run, snapshot_gauges, Gauges, ServedAccounts, ServedStore, ServerConfig};
use msgdex::stream::{
    bootstrap, check_account_name, connect, follow_stream, publish_snapshot, subject_of, AppliedSequence, Assignment,
    StreamConfig, StreamWriter,
};
use msgdex::QueryLimits;

use crate::args::{DataOptions, StreamArgs};
use crate::output::{warn, Failure};

/// How long the follower waits before it follows the stream again after
/// losing it (a NATS node down, say).
const REFOLLOW_DELAY: Duration = Duration::from_secs(1);

/// The accounts a node holds.
pub(crate) enum Holding {
    /// One account, in the data directory `--data` names.
    One(String),
    /// The accounts the assignment gives this node (named second), each in
    /// `--data`'s subdirectory of its name.
    Assigned(Assignment, String),
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
    let stream_config = StreamConfig {
        servers: servers
            .split(',')
            .map(|server| server.trim().to_owned())
            .filter(|server| !server.is_empty())
            .collect(),
        stream: args.stream_name.clone(),
        replicas: usize::from(args.stream_replicas),
    };
    let nats = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("msgdex-stream")
        .enable_all()
        .build()
        .map_err(|error| Failure::Message(format!("cannot start the stream's runtime: {error}")))?;
    let (context, stream) =
        nats.block_on(connect(&stream_config)).map_err(|error| Failure::Message(error.to_string()))?;
    let mut stores = Vec::new();
    for (account, directory) in &accounts {
        if !directory.exists() {
            // A new replica starts from the account's snapshot, if any.
            let started = std::time::Instant::now();
            match nats.block_on(bootstrap(&context, &stream_config, account, directory)) {
                Ok(Some(sequence)) => say(&format!(
                    "{account}: made from the snapshot at stream sequence {sequence} in {:.1} s",
                    started.elapsed().as_secs_f64()
                )),
                Ok(None) => {}
                Err(error) => return Err(Failure::Message(format!("{account}: {error}"))),
            }
        }
        let engine = Arc::new(crate::sync::open_replica(directory, store.clone())?.with_limits(limits));
        let applied = AppliedSequence::new(0);
        if let Some(every) = args.snapshot_every {
            let (context, stream_config, account, engine, applied) =
                (context.clone(), stream_config.clone(), account.clone(), Arc::clone(&engine), applied.clone());
            nats.spawn(async move {
                let mut published = 0;
                loop {
                    tokio::time::sleep(every).await;
                    let at = applied.current();
                    if at == published {
                        continue;
                    }
                    match publish_snapshot(&context, &stream_config, &account, Arc::clone(&engine)).await {
                        Ok(snapshot) => {
                            published = at;
                            if snapshot.published {
                                say(&format!(
                                    "{account}: published a snapshot at stream sequence {} ({} bytes{})",
                                    snapshot.sequence,
                                    snapshot.base_bytes,
                                    if snapshot.uploaded { "" } else { ", its base already there" }
                                ));
                            }
                        }
                        Err(error) => warn(&format!("{account}: no snapshot published: {error}")),
                    }
                }
            });
        }
        {
            let (engine, applied, stream, account) =
                (Arc::clone(&engine), applied.clone(), stream.clone(), account.clone());
            nats.spawn(async move {
                loop {
                    let outcome = follow_stream(Arc::clone(&engine), &stream, &account, &applied, |line| {
                        warn(&format!("{account}: {line}"))
                    })
                    .await;
                    if let Err(error) = outcome {
                        warn(&format!("{account}: {error}; following again in {} s", REFOLLOW_DELAY.as_secs()));
                    }
                    tokio::time::sleep(REFOLLOW_DELAY).await;
                }
            });
        }
        let writer = StreamWriter::new(
            Arc::clone(&engine),
            context.clone(),
            subject_of(account),
            applied.clone(),
            nats.handle().clone(),
        );
        let gauged = applied.clone();
        let store = ServedStore::writable(Arc::new(writer))
            .with_sequence(applied)
            .with_gauges(snapshot_gauges(engine))
            .with_gauges(Arc::new(move |gauges: &mut Gauges| {
                gauges.set(
                    "msgdex_stream_applied_sequence",
                    "The last stream sequence this node applied.",
                    gauged.current() as f64,
                );
            }));
        stores.push((account.clone(), store));
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
    nats.shutdown_timeout(Duration::from_secs(1));
    result
}

/// A line of news on stderr (not a warning).
fn say(text: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "msgdex stream: {text}");
}
