//! `msgdex serve --stream`: a node whose account's writes go through a NATS
//! JetStream change stream, applied here in stream order.

use std::sync::Arc;
use std::time::Duration;

use msgdex::server::{gauge, run, snapshot_gauges, ServedStore, ServerConfig};
use msgdex::stream::{connect, follow_stream, AppliedSequence, StreamConfig, StreamWriter};
use msgdex::QueryLimits;

use crate::args::{DataOptions, StreamArgs};
use crate::output::{warn, Failure};

/// How long the follower waits before it follows the stream again after
/// losing it (a NATS node down, say).
const REFOLLOW_DELAY: Duration = Duration::from_secs(1);

/// Serves the data directory `--data` names (made when absent), kept by the
/// stream's changes of `account`, until Ctrl-C or SIGTERM.
pub(crate) fn serve_from_stream(
    data: &DataOptions,
    limits: QueryLimits,
    store: msgdex::StoreOptions,
    servers: &str,
    account: String,
    args: &StreamArgs,
    config: ServerConfig,
) -> Result<(), Failure> {
    let directory = crate::sync::replica_directory(&data.data)?;
    let engine = Arc::new(crate::sync::open_replica(&directory, store)?.with_limits(limits));
    let stream_config = StreamConfig {
        servers: servers
            .split(',')
            .map(|server| server.trim().to_owned())
            .filter(|server| !server.is_empty())
            .collect(),
        stream: args.stream_name.clone(),
        account,
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
    let applied = AppliedSequence::new(0);
    {
        let (engine, applied, stream_config) = (Arc::clone(&engine), applied.clone(), stream_config.clone());
        nats.spawn(async move {
            loop {
                let outcome =
                    follow_stream(Arc::clone(&engine), &stream, &stream_config, &applied, |line| warn(&line)).await;
                if let Err(error) = outcome {
                    warn(&format!("{error}; following again in {} s", REFOLLOW_DELAY.as_secs()));
                }
                tokio::time::sleep(REFOLLOW_DELAY).await;
            }
        });
    }
    let writer = StreamWriter::new(
        Arc::clone(&engine),
        context,
        stream_config.subject(),
        applied.clone(),
        nats.handle().clone(),
    );
    let gauged = applied.clone();
    let served = ServedStore::writable(Arc::new(writer))
        .with_sequence(applied)
        .with_gauges(snapshot_gauges(engine))
        .with_gauges(Arc::new(move |out: &mut String| {
            gauge(
                out,
                "msgdex_stream_applied_sequence",
                "The last stream sequence this node applied.",
                gauged.current() as f64,
            );
        }));
    let result = run(served, config).map_err(|error| Failure::Message(error.to_string()));
    nats.shutdown_timeout(Duration::from_secs(1));
    result
}
