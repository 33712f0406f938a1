//! Replicas fed by a change stream (cargo feature `stream`): an account's
//! write batches on the subject `msgdex.<account>.changes` of a NATS
//! JetStream stream, applied in stream order by every node that holds the
//! account.
//!
//! ```text
//! HTTP write ─▶ StreamWriter: check, publish the record, wait for the ack
//!                             and for this node to apply it ─▶ 2xx
//! JetStream ─▶ follow_stream: each message's record, in stream order,
//!              applied with its stream sequence as the source position
//! ```
//!
//! A message's payload is a log record exactly as docs/FORMAT.md gives it
//! (its header's sequence 0: the stream numbers the batches). The stream
//! sequence a replica has applied is its store's source position
//! (`stream <sequence>`), written in the same log record as the batch, so a
//! restarted replica resumes at the next message, exactly.
//!
//! Batches are applied in their idempotent form (an insert as an upsert, a
//! delete of an absent `_id` as nothing), so that every replica reaches the
//! same store from the same stream whatever raced at the producers; a
//! record that cannot be read is skipped by every replica alike, and said.

mod assignment;
mod publisher;
mod replica;
mod snapshot;

use std::fmt;

/// The NATS client the stream's functions take (its JetStream context and
/// stream handles).
pub use async_nats;

pub use crate::server::AppliedSequence;
pub use assignment::{check_account_name, Assignment, AssignmentError};
pub use publisher::StreamWriter;
pub use replica::{follow_stream, last_sequence};
pub use snapshot::{bootstrap, publish_snapshot, snapshot_bucket, PublishedSnapshot};

/// Where the accounts' changes are.
#[derive(Clone, Debug)]
pub struct StreamConfig {
    /// NATS server URLs (`nats://127.0.0.1:4222`); several for a cluster.
    pub servers: Vec<String>,
    /// The JetStream stream's name.
    pub stream: String,
    /// Replicas of the stream in the cluster (1 to 5), when it is created.
    pub replicas: usize,
}

/// The subject of an account's changes: `msgdex.<account>.changes` (the
/// account checked by [`check_account_name`]).
pub fn subject_of(account: &str) -> String {
    format!("msgdex.{account}.changes")
}

/// Why the stream could not be used.
#[derive(Debug)]
pub enum StreamError {
    /// NATS could not be reached, or JetStream refused a request.
    Nats(String),
    /// The store refused what the stream holds, or could not keep it.
    Store(String),
    /// The store's source position is not a stream sequence.
    Position(String),
    /// The stream no longer holds messages the store has not applied.
    Gap(String),
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamError::Nats(why) => write!(f, "the change stream: {why}"),
            StreamError::Store(why) => write!(f, "the store: {why}"),
            StreamError::Position(why) | StreamError::Gap(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for StreamError {}

/// The source position of a store that applied the stream up to
/// `sequence`, where the last record that carried a producer's own
/// position (a `msgdex sync --to-stream` cursor) carried `producer`:
/// `stream <sequence>`, or `stream <sequence> after <producer>`.
pub fn position_of(sequence: u64, producer: Option<&str>) -> String {
    match producer {
        None => format!("stream {sequence}"),
        Some(producer) => format!("stream {sequence} after {producer}"),
    }
}

/// The stream sequence a store has applied (0: none), from its source
/// position; an error for a position of another kind (a `msgdex sync`
/// replica's cursor).
pub fn sequence_of(position: Option<&str>) -> Result<u64, StreamError> {
    Ok(parse_position(position)?.0)
}

/// The producer's position a store's stream position carries (see
/// [`position_of`]).
pub fn producer_position_of(position: Option<&str>) -> Result<Option<&str>, StreamError> {
    Ok(parse_position(position)?.1)
}

fn parse_position(position: Option<&str>) -> Result<(u64, Option<&str>), StreamError> {
    let Some(text) = position else { return Ok((0, None)) };
    let parsed = text.strip_prefix("stream ").and_then(|rest| {
        let (number, producer) = match rest.split_once(" after ") {
            Some((number, producer)) => (number, Some(producer)),
            None => (rest, None),
        };
        Some((number.parse().ok()?, producer))
    });
    parsed.ok_or_else(|| {
        StreamError::Position(format!(
            "the store's source position {text:?} is not a stream sequence: it follows another source; \
             use a new data directory"
        ))
    })
}

/// How long a node keeps asking for its stream while the cluster starts.
const STREAM_OPEN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Connects to the cluster and makes sure the stream exists (holding every
/// account's changes, `msgdex.*.changes`).
pub async fn connect(
    config: &StreamConfig,
) -> Result<(async_nats::jetstream::Context, async_nats::jetstream::stream::Stream), StreamError> {
    let client = async_nats::ConnectOptions::new()
        .name("msgdex")
        .retry_on_initial_connect()
        .connect(config.servers.clone())
        .await
        .map_err(|error| StreamError::Nats(format!("cannot connect to {}: {error}", config.servers.join(", "))))?;
    let context = async_nats::jetstream::new(client);
    let stream_config = async_nats::jetstream::stream::Config {
        name: config.stream.clone(),
        subjects: vec!["msgdex.*.changes".into()],
        num_replicas: config.replicas.clamp(1, 5),
        ..Default::default()
    };
    // A cluster that is starting has no JetStream leader yet: the stream
    // is asked for again until the deadline.
    let deadline = tokio::time::Instant::now() + STREAM_OPEN_TIMEOUT;
    loop {
        match context.get_or_create_stream(stream_config.clone()).await {
            Ok(stream) => return Ok((context, stream)),
            Err(error) if tokio::time::Instant::now() >= deadline => {
                return Err(StreamError::Nats(format!("cannot open the stream {:?}: {error}", config.stream)))
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(250)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_and_foreign_ones_are_refused() {
        assert_eq!(sequence_of(None).unwrap(), 0);
        assert_eq!(sequence_of(Some(&position_of(42, None))).unwrap(), 42);
        let cursor = r#"{"sync":1,"modified_from":"2026-01-01 00:00:00 after","copied":true}"#;
        let carrying = position_of(43, Some(cursor));
        assert_eq!(sequence_of(Some(&carrying)).unwrap(), 43);
        assert_eq!(producer_position_of(Some(&carrying)).unwrap(), Some(cursor), "the first ' after ' splits");
        assert_eq!(producer_position_of(Some(&position_of(44, None))).unwrap(), None);
        assert!(sequence_of(Some(r#"{"sync":1}"#)).unwrap_err().to_string().contains("another source"));
        assert!(sequence_of(Some("stream x")).is_err());
    }
}
