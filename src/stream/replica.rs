//! A replica's side of the change stream: an ordered consumer from the
//! sequence after the store's source position, each message's batch
//! applied with its sequence in one log record.

use std::sync::Arc;

use futures_util::StreamExt as _;

use super::{position_of, producer_position_of, sequence_of, subject_of, StreamError};
use crate::durable::record::{parse_record, LoggedBatch};
use crate::live::LiveEngine;
use crate::server::AppliedSequence;
use crate::write::Write;

/// Applies `account`'s changes to `engine` from the message after its
/// source position, in stream order, until the stream or the store fails.
/// `applied` is advanced after each message.
pub async fn follow_stream(
    engine: Arc<LiveEngine>,
    stream: &async_nats::jetstream::stream::Stream,
    account: &str,
    applied: &AppliedSequence,
    mut report: impl FnMut(String),
) -> Result<(), StreamError> {
    use async_nats::jetstream::consumer::{pull::OrderedConfig, DeliverPolicy};
    let subject = subject_of(account);
    let position = engine.snapshot().source_position().map(str::to_owned);
    let start = sequence_of(position.as_deref())?;
    // The last producer position the stream carried, kept with every
    // sequence after it.
    let mut producer = producer_position_of(position.as_deref())?.map(str::to_owned);
    applied.advance(start);
    // The stream must still hold every message after the store's position:
    // one dropped by the stream's limits would be missed without a word.
    let info =
        stream.get_info().await.map_err(|error| StreamError::Nats(format!("cannot read the stream: {error}")))?;
    if info.state.first_sequence > start + 1 {
        return Err(StreamError::Gap(format!(
            "the store of {account} is at stream sequence {start}, but the stream now starts at {}: the changes \
             between are gone (the stream's limits dropped them). Remove this node's data directory for the \
             account so that it starts from the account's snapshot",
            info.state.first_sequence
        )));
    }
    let consumer = stream
        .create_consumer(OrderedConfig {
            filter_subject: subject.clone(),
            deliver_policy: DeliverPolicy::ByStartSequence { start_sequence: start + 1 },
            ..Default::default()
        })
        .await
        .map_err(|error| StreamError::Nats(format!("cannot follow {subject}: {error}")))?;
    let messages = consumer.messages().await.map_err(|error| StreamError::Nats(error.to_string()))?;
    // A reader parses messages as they arrive while the batch before is
    // applied: delivery and parsing overlap the store's work.
    let (sender, mut arrivals) = tokio::sync::mpsc::channel(ARRIVALS_BUFFERED);
    let _reader = AbortOnDrop(tokio::spawn(read_arrivals(messages, sender)));
    // Catching up from far behind (a new node, a long outage): the store
    // grows from little to much, so compactions wait until it is caught up
    // instead of rebuilding a growing base again and again.
    let behind_until = last_of(stream, &subject).await;
    let mut catching_up =
        (behind_until != u64::MAX && behind_until > start + CATCH_UP_HOLD_ABOVE).then(|| engine.hold_compactions());
    loop {
        if catching_up.is_some() && applied.current() >= behind_until {
            catching_up = None;
        }
        let first = match tokio::time::timeout(QUIET_CHECK, arrivals.recv()).await {
            Ok(Some(arrival)) => arrival?,
            Ok(None) => return Err(StreamError::Nats("the stream's messages ended".into())),
            Err(_) => {
                // Quiet for a while: a consumer left on a server that died
                // can stall without an error. If the stream is ahead, follow
                // it again from where the store is.
                // No message for the subject yet is not being behind; a
                // failed check is taken as being behind (following again
                // costs little).
                let last = last_of(stream, &subject).await;
                if last > applied.current() {
                    return Err(StreamError::Nats(format!(
                        "no message for {} s while the last of {subject} is {last} and this node is at {}",
                        QUIET_CHECK.as_secs(),
                        applied.current()
                    )));
                }
                continue;
            }
        };
        // This message, and those already arrived behind it, in one batch:
        // one log record and one publication for many stream messages.
        let mut writes = Vec::new();
        let mut stored = vec![first.stored];
        let mut sequence = take(first, &mut writes, &mut producer, &mut report);
        while writes.len() < MAX_WRITES_PER_APPLY {
            match arrivals.try_recv() {
                Ok(arrival) => {
                    let arrival = arrival?;
                    stored.push(arrival.stored);
                    sequence = take(arrival, &mut writes, &mut producer, &mut report);
                }
                Err(_) => break,
            }
        }
        let engine = Arc::clone(&engine);
        let position = position_of(sequence, producer.as_deref());
        tokio::task::spawn_blocking(move || engine.apply_idempotent_at(writes, &position))
            .await
            .map_err(|error| StreamError::Store(error.to_string()))?
            .map_err(|error| StreamError::Store(format!("stream message {sequence}: {error}")))?;
        applied.advance(sequence);
        let visible = std::time::SystemTime::now();
        for stored in stored.into_iter().flatten() {
            applied.record_lag(visible.duration_since(stored).unwrap_or_default());
        }
    }
}

/// How far behind the stream (in stream messages) a follower starts
/// before it holds compactions until it has caught up.
const CATCH_UP_HOLD_ABOVE: u64 = 1_000;

/// Stream messages parsed ahead of the store (each a record of up to
/// 10,000 writes, so a bound on memory too).
const ARRIVALS_BUFFERED: usize = 64;

/// A stream message, parsed.
struct Arrival {
    sequence: u64,
    /// When the stream stored it (by the NATS server's clock).
    stored: Option<std::time::SystemTime>,
    /// Its record, or why it is not one.
    record: Result<LoggedBatch, String>,
}

/// Aborts a task when dropped: the reader stops with its follower.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Parses each stream message as it arrives and hands it on, until the
/// messages end, fail, or the follower stops listening.
async fn read_arrivals(
    mut messages: async_nats::jetstream::consumer::pull::Ordered,
    sender: tokio::sync::mpsc::Sender<Result<Arrival, StreamError>>,
) {
    while let Some(message) = messages.next().await {
        let arrival = message.map_err(|error| StreamError::Nats(error.to_string())).and_then(|message| {
            let info = message.info().map_err(|error| StreamError::Nats(error.to_string()))?;
            let stored = u64::try_from(info.published.unix_timestamp_nanos())
                .ok()
                .map(|nanos| std::time::UNIX_EPOCH + std::time::Duration::from_nanos(nanos));
            Ok(Arrival {
                sequence: info.stream_sequence,
                stored,
                record: parse_record(&message.payload).map(|(_, batch)| batch),
            })
        });
        let failed = arrival.is_err();
        if sender.send(arrival).await.is_err() || failed {
            return;
        }
    }
}

/// The stream sequence of `account`'s last change: 0 when it has none,
/// `u64::MAX` when the stream cannot say.
pub async fn last_sequence(stream: &async_nats::jetstream::stream::Stream, account: &str) -> u64 {
    last_of(stream, &subject_of(account)).await
}

/// The sequence of the subject's last message in the stream: 0 when it
/// has none, `u64::MAX` when the stream cannot say (taken as being behind).
async fn last_of(stream: &async_nats::jetstream::stream::Stream, subject: &str) -> u64 {
    use async_nats::jetstream::stream::LastRawMessageErrorKind;
    match stream.get_last_raw_message_by_subject(subject).await {
        Ok(message) => message.sequence,
        Err(error) if error.kind() == LastRawMessageErrorKind::NoMessageFound => 0,
        Err(_) => u64::MAX,
    }
}

/// The most writes applied as one batch (many stream messages that
/// arrived together).
const MAX_WRITES_PER_APPLY: usize = 10_000;

/// Appends a stream message's writes to `writes` (none for a message that
/// is not a record: every replica skips it alike, so the stream stays one
/// history), and its producer position, if it has one, to `producer`;
/// returns its stream sequence.
fn take(
    arrival: Arrival,
    writes: &mut Vec<Write>,
    producer: &mut Option<String>,
    report: &mut impl FnMut(String),
) -> u64 {
    match arrival.record {
        Ok(batch) => {
            writes.extend(batch.writes);
            if batch.position.is_some() {
                *producer = batch.position;
            }
        }
        Err(why) => report(format!("stream message {} is not a record ({why}); it is skipped", arrival.sequence)),
    }
    arrival.sequence
}

/// How long a quiet consumer goes before the follower checks that the
/// stream is not ahead of it.
const QUIET_CHECK: std::time::Duration = std::time::Duration::from_secs(2);
