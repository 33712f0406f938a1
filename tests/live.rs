//! Live writes: random interleavings of writes and requests answered
//! exactly as the reference answers them after the same writes; readers
//! racing a writer only ever see whole batches; refused writes change
//! nothing; a mirror kept current by `filters-modified_after` pulls.
//!
//! `PROPTEST_CASES=2000 cargo test --release --test live` runs a long
//! campaign; CI runs proptest's default.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::generators::{
    crm_data_set_of, crm_message, data_set, list_query, location_beside_query, message_body, target, text_query, IDS,
};
use msgdex::testing::Segment;
use msgdex::LiveReference;
use msgdex::{message_from_json, LoadError, MessageError, WriteProblem};
use msgdex::{ContentStorage, LivePolicy};
use msgdex::{Engine, LiveEngine, Message, ReferenceEngine, Writable, Write};
use proptest::prelude::*;

/// One step of a random session.
#[derive(Clone, Debug)]
enum Step {
    Batch(Vec<Write>),
    Request(String),
    Compact,
    /// Compaction with these batches written while it builds; the tail
    /// first made a run, or left as it is (as the background compactor
    /// leaves it).
    CompactRacing {
        flush_first: bool,
        batches: Vec<Vec<Write>>,
    },
}

fn some_id() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(IDS).prop_map(str::to_owned),
        2 => (0..60u32).prop_map(|number| format!("m{number:05}")),
        1 => (0..20u32).prop_map(|number| format!("new-{number}")),
        1 => Just(String::new()),
    ]
}

fn some_message() -> impl Strategy<Value = Message> {
    (some_id(), message_body()).prop_map(|(id, mut message)| {
        message.id = id;
        message
    })
}

fn write() -> impl Strategy<Value = Write> {
    prop_oneof![
        4 => some_message().prop_map(Write::Upsert),
        2 => some_message().prop_map(Write::Insert),
        2 => some_id().prop_map(Write::Delete),
    ]
}

fn step(max_page: u64) -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => proptest::collection::vec(write(), 1..2).prop_map(Step::Batch),
        2 => proptest::collection::vec(write(), 2..6).prop_map(Step::Batch),
        6 => prop_oneof![3 => target(), 2 => list_query(max_page).prop_map(|query| format!("/v1/messages?{query}"))]
            .prop_map(Step::Request),
        1 => Just(Step::Compact),
        1 => (proptest::bool::ANY, proptest::collection::vec(proptest::collection::vec(write(), 1..3), 1..12))
            .prop_map(|(flush_first, batches)| Step::CompactRacing { flush_first, batches }),
    ]
}

/// Small parts, so that a short session makes runs, merges them and
/// folds them into the base.
fn small_policy(tail_limit: usize) -> LivePolicy {
    LivePolicy {
        tail_limit,
        compact_fraction: 0.5,
        compact_min_rows: 24,
        background: false,
        rank_merge_depth: 128,
        merge_fanout: 2,
        max_runs: 8,
        defer_text_above: 0.0,
        content: None,
    }
}

/// Compactions that keep the base's way of keeping `content`, or pack it,
/// or keep it plain.
fn compacted_content() -> impl Strategy<Value = Option<ContentStorage>> {
    proptest::option::of(prop_oneof![Just(ContentStorage::Packed), Just(ContentStorage::Plain)])
}

/// Runs that build their text index with them, or leave it to the first
/// query.
fn text_deferral() -> impl Strategy<Value = f64> {
    prop_oneof![Just(0.0), Just(f64::INFINITY)]
}

fn run_session(messages: Vec<Message>, steps: &[Step], policy: LivePolicy) -> Result<(), TestCaseError> {
    let live = LiveEngine::with_policy(Arc::new(Segment::from_messages(&messages).expect("unique Ids")), policy);
    let reference = LiveReference::new(ReferenceEngine::new(messages));
    let probes = ["/v1/messages?per_page=100&sort_by=-modified&attributes=subject", "/v1/messages?page=2&per_page=3"];
    for step in steps {
        match step {
            Step::Batch(batch) => {
                let expected = reference.apply(batch.clone());
                let actual = live.apply(batch.clone());
                prop_assert_eq!(&actual, &expected, "batch {:?}", batch);
                for probe in probes {
                    prop_assert_eq!(live.respond(probe).body, reference.respond(probe).body, "after {:?}", batch);
                }
            }
            Step::Request(target) => {
                let expected = reference.respond(target).to_transcript_line();
                prop_assert_eq!(live.respond(target).to_transcript_line(), expected, "request {}", target);
            }
            Step::Compact => live.compact().expect("compaction succeeds"),
            Step::CompactRacing { flush_first, batches } => {
                let mut outcomes = Vec::new();
                let during = || outcomes = batches.iter().map(|batch| live.apply(batch.clone())).collect();
                if *flush_first { live.compact_racing(during) } else { live.compact_leaving_tail_racing(during) }
                    .expect("compaction succeeds");
                for (batch, outcome) in batches.iter().zip(outcomes) {
                    prop_assert_eq!(outcome, reference.apply(batch.clone()), "batch {:?} during compaction", batch);
                }
                for probe in probes {
                    prop_assert_eq!(
                        live.respond(probe).body,
                        reference.respond(probe).body,
                        "after a raced compaction"
                    );
                }
            }
        }
        prop_assert_eq!(live.message_count(), reference.message_count());
    }
    Ok(())
}

proptest! {
    #[test]
    fn interleaved_writes_and_requests_agree_with_the_reference(
        messages in data_set(40),
        steps in proptest::collection::vec(step(8), 1..40),
        tail_limit in 1usize..6,
        rank_merge_depth in prop_oneof![Just(0u64), Just(3), Just(128)],
        merge_fanout in 2usize..5,
        max_runs in 2usize..9,
        defer_text_above in text_deferral(),
        content in compacted_content(),
    ) {
        let policy = LivePolicy {
            rank_merge_depth, merge_fanout, max_runs, defer_text_above, content, ..small_policy(tail_limit)
        };
        run_session(messages, &steps, policy)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: ProptestConfig::default().cases / 16 + 1, ..ProptestConfig::default() })]

    /// Hundreds of rows and writes: deep pages cross runs, tail and base,
    /// and the base window starts past position 0.
    #[test]
    fn long_sessions_on_larger_sets_agree(
        messages in data_set(700),
        steps in proptest::collection::vec(step(60), 50..250),
        tail_limit in prop_oneof![Just(3usize), Just(16), Just(64)],
        rank_merge_depth in prop_oneof![Just(0u64), Just(128)],
        merge_fanout in 2usize..5,
        max_runs in 2usize..9,
        defer_text_above in text_deferral(),
        content in compacted_content(),
    ) {
        let policy = LivePolicy {
            rank_merge_depth, merge_fanout, max_runs, defer_text_above, content, ..small_policy(tail_limit)
        };
        run_session(messages, &steps, policy)?;
    }
}

fn message(id: &str, location: &str) -> Message {
    Message { location: Some(location.to_owned()), ..Message::with_id(id) }
}

/// Flushes of falling sizes, each too large to pair with the next, would
/// leave a run per flush: the runs past `max_runs` are merged (the
/// adjacent ones holding the fewest rows), and answers stay exact,
/// replaced and deleted messages included.
#[test]
fn runs_that_never_pair_are_merged_down_to_the_limit() {
    let policy = LivePolicy {
        tail_limit: 1,
        background: false,
        merge_fanout: 3,
        max_runs: 4,
        compact_fraction: 1e9,
        ..LivePolicy::default()
    };
    let first = vec![message("base", "L0")];
    let live = LiveEngine::with_policy(Arc::new(Segment::from_messages(&first).expect("unique Ids")), policy);
    let reference = LiveReference::new(ReferenceEngine::new(first));
    let probes = [
        "/v1/messages?per_page=50&page=7&sort_by=_id",
        "/v1/messages?filters-location=L2&per_page=20&page=3&sort_by=-_id",
        "/v1/messages?filters-location=L1,L3&per_page=5",
    ];
    let id = |serial: usize| format!("m{:05}", serial * 7919 % 10_007);
    let mut alive: Vec<usize> = Vec::new();
    let mut serial = 0;
    // Each run holds more than twice the rows of the one two after it, and
    // 16 more: no three adjacent runs are of about one size.
    for size in [4000, 2400, 1400, 800, 450, 250, 140, 80] {
        // Replace and delete some messages of earlier runs…
        let mut batch = Vec::new();
        for (position, &earlier) in alive.iter().enumerate().step_by(29) {
            let write = if position / 29 % 2 == 0 {
                Write::Upsert(message(&id(earlier), "L4"))
            } else {
                Write::Delete(id(earlier))
            };
            batch.push(write);
        }
        let mut position = 0;
        alive.retain(|_| {
            position += 1;
            (position - 1) % 29 != 0 || (position - 1) / 29 % 2 == 0
        });
        // …and add new ones.
        for _ in 0..size {
            batch.push(Write::Insert(message(&id(serial), &format!("L{}", serial % 5))));
            alive.push(serial);
            serial += 1;
        }
        assert_eq!(live.apply(batch.clone()), reference.apply(batch), "the batch of {size}");
        let runs = live.stats().run_rows;
        assert!(runs.len() <= 4, "at most max_runs runs are left: {runs:?}");
        for probe in probes {
            assert_eq!(live.respond(probe).body, reference.respond(probe).body, "{probe} after {size}");
        }
    }
}

fn item_count(engine: &dyn Engine, target: &str) -> u64 {
    let response = engine.respond(target);
    assert_eq!(response.status, 200, "{target}: {}", response.body);
    let body: serde_json::Value = serde_json::from_str(&response.body).expect("JSON body");
    body["item_count"].as_u64().expect("item_count")
}

/// Readers query while a writer moves pairs of messages between batches
/// and compaction runs in the background: every answer shows whole
/// batches only.
#[test]
fn readers_see_whole_batches_while_a_writer_runs() {
    readers_see_whole_batches(2, 16);
}

/// The same with three runs merged at a time.
#[test]
fn readers_see_whole_batches_while_a_writer_runs_and_runs_merge_by_three() {
    readers_see_whole_batches(3, 16);
}

/// The same with a one-message tail: the tail outgrows its backlog (eight
/// messages) all the time, so the writer flushes it itself while the
/// flusher merges.
#[test]
fn readers_see_whole_batches_while_the_writer_flushes_its_backlog() {
    readers_see_whole_batches(3, 1);
}

/// A message at `location` whose correspondent names it, for `filters-q`.
fn patient(id: &str, location: &str) -> Message {
    Message { correspondent: Some(format!("Patient {location}")), ..message(id, location) }
}

fn readers_see_whole_batches(merge_fanout: usize, tail_limit: usize) {
    const PAIRS: usize = 200;
    let initial: Vec<Message> = (0..PAIRS)
        .flat_map(|pair| [patient(&format!("a{pair:04}"), "L0"), patient(&format!("b{pair:04}"), "L0")])
        .collect();
    let policy = LivePolicy {
        tail_limit,
        compact_fraction: 0.25,
        compact_min_rows: 150,
        merge_fanout,
        // Readers and the idle flusher race to build runs' text indexes.
        defer_text_above: 0.0,
        ..LivePolicy::default()
    };
    let engine = LiveEngine::with_policy(Arc::new(Segment::from_messages(&initial).unwrap()), policy);
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|reader| {
            let (engine, done) = (engine.clone(), Arc::clone(&done));
            std::thread::spawn(move || {
                let mut checks = 0u64;
                while !done.load(Ordering::Acquire) || checks < 50 {
                    // Each batch moves one pair to a new location, deleting and
                    // re-inserting one of the two: the total never changes and
                    // no location ever holds an odd number of messages.
                    let total = item_count(&engine, "/v1/messages?per_page=1");
                    assert_eq!(total, 2 * PAIRS as u64, "reader {reader} saw half a batch");
                    let round = checks % 40;
                    let at = item_count(&engine, &format!("/v1/messages?filters-location=L{round}&per_page=100"));
                    assert_eq!(at % 2, 0, "reader {reader}: location L{round} holds {at}");
                    // `patient l1` also matches L10 to L19: all even.
                    let named = item_count(&engine, &format!("/v1/messages?filters-q=PATIENT+l{round}&per_page=1"));
                    assert_eq!(named % 2, 0, "reader {reader}: `patient l{round}` matches {named}");
                    assert_eq!(item_count(&engine, "/v1/messages?filters-q=atien&per_page=1"), 2 * PAIRS as u64);
                    let snapshot = engine.snapshot();
                    assert_eq!(snapshot.message_count(), 2 * PAIRS as u64);
                    checks += 1;
                }
                checks
            })
        })
        .collect();
    for round in 1..=3000usize {
        let pair = round % PAIRS;
        let location = format!("L{}", round % 40);
        let (a, b) = (format!("a{pair:04}"), format!("b{pair:04}"));
        let batch = vec![
            Write::Upsert(patient(&a, &location)),
            Write::Delete(b.clone()),
            Write::Insert(patient(&b, &location)),
        ];
        engine.apply(batch).expect("valid batch");
    }
    done.store(true, Ordering::Release);
    for reader in readers {
        assert!(reader.join().expect("reader did not panic") >= 50);
    }
    engine.wait_for_compaction();
    let stats = engine.stats();
    assert!(stats.compactions > 0, "background compaction ran: {stats:?}");
    assert!(stats.run_rows.len() <= 12, "runs stay few: {stats:?}");
    // The end state is exactly the writes applied in order.
    let mut expected = LiveReference::new(ReferenceEngine::new(initial));
    for round in 1..=3000usize {
        let pair = round % PAIRS;
        let location = format!("L{}", round % 40);
        let (a, b) = (format!("a{pair:04}"), format!("b{pair:04}"));
        expected = {
            expected
                .apply(vec![
                    Write::Upsert(patient(&a, &location)),
                    Write::Delete(b.clone()),
                    Write::Insert(patient(&b, &location)),
                ])
                .unwrap();
            expected
        };
    }
    for target in ["/v1/messages?per_page=100&page=3", "/v1/messages?filters-location=L7&per_page=100"] {
        assert_eq!(engine.respond(target).body, expected.respond(target).body);
    }
}

/// Every refused write, alone or last in a batch, leaves every answer and
/// the version as they were.
#[test]
fn refused_writes_change_nothing() {
    let initial: Vec<Message> = (0..300).map(|number| message(&format!("m{number:03}"), "L1")).collect();
    let policy = LivePolicy { tail_limit: 4, background: false, ..LivePolicy::default() };
    let engine = LiveEngine::with_policy(Arc::new(Segment::from_messages(&initial).unwrap()), policy);
    // Some history first, so that runs, tail and dead rows exist.
    for number in 0..10 {
        engine.upsert(message(&format!("m{number:03}"), "L2")).unwrap();
        engine.insert(message(&format!("n{number:03}"), "L3")).unwrap();
    }
    engine.delete("m200").unwrap();
    let probes = [
        "/v1/messages?per_page=100&page=2",
        "/v1/messages?filters-location=L2&sort_by=-_id",
        "/v1/messages/m001",
        "/v1/messages/m200",
    ];
    let before: Vec<String> = probes.iter().map(|probe| engine.respond(probe).to_transcript_line()).collect();
    let version = engine.stats().version;
    let refused: Vec<(Vec<Write>, WriteProblem)> = vec![
        (vec![Write::Insert(message("m001", "L9"))], WriteProblem::AlreadyExists("m001".into())),
        (vec![Write::Insert(message("n003", "L9"))], WriteProblem::AlreadyExists("n003".into())),
        (vec![Write::Delete("m200".into())], WriteProblem::NotFound("m200".into())),
        (vec![Write::Delete("nobody".into())], WriteProblem::NotFound("nobody".into())),
        (vec![Write::Upsert(message("", "L9"))], WriteProblem::EmptyId),
        (
            vec![Write::Upsert(message("m002", "L9")), Write::Delete("m002".into()), Write::Delete("m002".into())],
            WriteProblem::NotFound("m002".into()),
        ),
        (
            vec![
                Write::Insert(message("fresh", "L9")),
                Write::Upsert(message("m003", "L9")),
                Write::Insert(message("fresh", "L9")),
            ],
            WriteProblem::AlreadyExists("fresh".into()),
        ),
    ];
    for (batch, problem) in refused {
        let length = batch.len();
        let error = engine.apply(batch).unwrap_err();
        assert_eq!(error.problem, problem);
        assert_eq!(error.position, length - 1);
        assert!(!error.to_string().is_empty());
        let after: Vec<String> = probes.iter().map(|probe| engine.respond(probe).to_transcript_line()).collect();
        assert_eq!(after, before, "a refused batch changed the store");
        assert_eq!(engine.stats().version, version);
    }
    let error = message_from_json(r#"{"_id": "x", "read": "yesterday"}"#).unwrap_err();
    assert!(matches!(&error, MessageError::Invalid(LoadError::Record { field: Some(field), .. }) if field == "read"));
    assert!(error.to_string().contains("read"), "{error}");
}

/// A mirror pulls `filters-modified_after=<last sync>` from a source store
/// page by page and upserts what it gets: after each round it answers every
/// request as the source does.
#[test]
fn a_sync_loop_keeps_a_mirror_current() {
    use msgdex_bench::workload::data::DataGenerator;
    let all: Vec<Message> = DataGenerator::new(3000, 5).collect();
    let source = LiveReference::new(ReferenceEngine::new(all[..2000].to_vec()));
    let mirror = LiveEngine::new(&[]).unwrap();
    // The first pull takes everything: a message whose `modified` is null
    // never matches a `modified` filter.
    let mut last_sync: Option<String> = None;
    let mut changes = all[2000..].iter().cloned();
    for round in 0..6 {
        if round > 0 {
            // The CRM changes: new messages arrive, others are edited; each
            // change moves `modified` to the time of the round.
            let now = msgdex::DateTime::parse(&format!("2031-01-0{round} 00:00:00"));
            for mut message in changes.by_ref().take(150) {
                message.modified = now;
                source.upsert(message).unwrap();
            }
            let edited = format!("/v1/messages?per_page=20&page={round}&attributes={}", all_fields());
            for mut message in messages_of(&source.respond(&edited).body) {
                message.subject = Some(format!("edited in round {round}"));
                message.modified = now;
                source.upsert(message).unwrap();
            }
        }
        let pulled = sync(&source, &mirror, last_sync.as_deref());
        last_sync = newest_modified(&mirror).or(last_sync);
        assert!(pulled > 0, "round {round} pulled nothing");
        for target in [
            "/v1/messages?per_page=100&page=3&sort_by=-modified&attributes=subject&attributes=modified",
            "/v1/messages?filters-channel=sms&sort_by=date_time&per_page=50",
            "/v1/messages?filters-q=example&per_page=5&page=2",
        ] {
            assert_eq!(mirror.respond(target).body, source.respond(target).body, "round {round}: {target}");
        }
        assert_eq!(mirror.message_count(), source.message_count());
    }
}

fn all_fields() -> String {
    msgdex::Field::ALL.iter().map(|field| field.name()).collect::<Vec<_>>().join("&attributes=")
}

fn messages_of(body: &str) -> Vec<Message> {
    let body: serde_json::Value = serde_json::from_str(body).unwrap();
    body["items"].as_array().unwrap().iter().map(|item| message_from_json(&item.to_string()).unwrap()).collect()
}

/// Pulls every message modified after `since` (one second of overlap, as
/// the filter is strict and upserts are idempotent), or every message, into
/// the mirror.
fn sync(source: &dyn Engine, mirror: &LiveEngine, since: Option<&str>) -> usize {
    let filter = since.map_or(String::new(), |since| {
        let since = msgdex::DateTime::parse(since).unwrap();
        let overlap = msgdex::DateTime::from_seconds(since.seconds() - 1).unwrap_or(since);
        format!("filters-modified_after={}&", overlap.to_string().replace(' ', "+"))
    });
    let mut pulled = 0;
    for page in 1.. {
        let target =
            format!("/v1/messages?{filter}sort_by=modified&per_page=100&page={page}&attributes={}", all_fields());
        let batch: Vec<Write> = messages_of(&source.respond(&target).body).into_iter().map(Write::Upsert).collect();
        if batch.is_empty() {
            return pulled;
        }
        pulled += batch.len();
        mirror.apply(batch).unwrap();
    }
    unreachable!()
}

fn newest_modified(engine: &dyn Engine) -> Option<String> {
    let body: serde_json::Value =
        serde_json::from_str(&engine.respond("/v1/messages?sort_by=-modified&per_page=1&attributes=modified").body)
            .unwrap();
    body["items"][0]["modified"].as_str().map(str::to_owned)
}

/// Thousands of rows (several blocks of each sorted order) and hundreds of
/// dead rows (past the copied list, so that per-block dead counts are
/// used): deep pages, date ranges and the benchmark mix answer as the
/// reference does.
#[test]
fn deep_pages_over_many_dead_rows_agree() {
    use msgdex_bench::workload::{data::DataGenerator, mix};
    let messages: Vec<Message> = DataGenerator::new(6000, 9).collect();
    let policy = LivePolicy { tail_limit: 32, background: false, ..LivePolicy::default() };
    let live = LiveEngine::with_policy(Arc::new(Segment::from_messages(&messages).unwrap()), policy);
    let reference = LiveReference::new(ReferenceEngine::new(messages.clone()));
    for (serial, message) in messages.iter().enumerate().filter(|(serial, _)| serial % 7 == 3) {
        let write = if serial % 3 == 0 {
            Write::Delete(message.id.clone())
        } else {
            let mut edited = message.clone();
            edited.subject = Some(format!("edit {serial}"));
            edited.date_time = msgdex::DateTime::parse("2030-06-01 00:00:00");
            Write::Upsert(edited)
        };
        assert_eq!(live.apply(vec![write.clone()]), reference.apply(vec![write]));
    }
    assert!(live.stats().base_dead > 600, "{:?}", live.stats());
    let mut targets: Vec<String> = mix::generate(&messages, 3, 4).into_iter().map(|request| request.target).collect();
    for page in [1, 7, 23, 40, 59, 61] {
        for sort in ["date_time", "-date_time", "modified", "-created", "_id", "-_id"] {
            targets.push(format!("/v1/messages?sort_by={sort}&per_page=100&page={page}&attributes=date_time"));
            targets.push(format!(
                "/v1/messages?sort_by={sort}&per_page=50&page={page}&filters-start_date=2024-02-01&filters-end_date=2030-12-31"
            ));
            targets
                .push(format!("/v1/messages?sort_by={sort}&per_page=20&page={page}&filters-modified_after=2024-03-01"));
        }
    }
    for target in &targets {
        assert_eq!(live.respond(target).body, reference.respond(target).body, "{target}");
    }
}

/// A write to a CRM-shaped store: an upsert of an existing or new `_id`, or
/// a delete (of an `_id` that may be gone).
fn crm_write() -> impl Strategy<Value = Write> {
    let id = prop_oneof![
        4 => (0..400u32).prop_map(|number| format!("c{number:04}")),
        1 => (0..40u32).prop_map(|number| format!("n{number}")),
    ];
    // Mostly upserts (each marks the replaced row dead too): a batch holding a
    // delete of a gone `_id` is refused whole.
    prop_oneof![
        8 => (id.clone(), crm_message()).prop_map(|(id, message)| Write::Upsert(Message { id, ..message })),
        1 => id.prop_map(Write::Delete),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: ProptestConfig::default().cases / 8 + 1, ..ProptestConfig::default() })]

    /// `filters-q` over CRM-shaped text while hundreds of rows die: counts
    /// from the matched values less the dead ones (the recent dead-row list, and
    /// past 256 deaths in a segment a tally of the frozen ones) agree with
    /// the reference; so do one location's pages (walked down its date
    /// list among the dead rows, part by part).
    #[test]
    fn text_searches_agree_while_rows_die(
        messages in crm_data_set_of(400..600),
        steps in proptest::collection::vec(prop_oneof![
            6 => proptest::collection::vec(crm_write(), 1..16).prop_map(Step::Batch),
            4 => text_query().prop_map(Step::Request),
            2 => location_beside_query().prop_map(|query| Step::Request(format!("/v1/messages?{query}"))),
        ], 60..120),
        tail_limit in prop_oneof![Just(4usize), Just(64)],
    ) {
        // No compaction: the base keeps its dead rows.
        let policy = LivePolicy { compact_fraction: 1e9, ..small_policy(tail_limit) };
        run_session(messages, &steps, policy)?;
    }
}

/// Hundreds of base rows die (past the 256 recent dead rows, so the frozen
/// ones are tallied per text value): `filters-q` counts taken from the
/// matched values' row counts, less the dead rows, stay exact.
#[test]
fn text_counts_stay_exact_past_the_frozen_dead_rows() {
    use msgdex_bench::workload::{data::DataGenerator, mix};
    let messages: Vec<Message> = DataGenerator::new(3000, 11).collect();
    let policy = LivePolicy { compact_fraction: 1e9, ..small_policy(64) };
    let live = LiveEngine::with_policy(Arc::new(Segment::from_messages(&messages).unwrap()), policy);
    let reference = LiveReference::new(ReferenceEngine::new(messages.clone()));
    let mut targets: Vec<String> = mix::generate(&messages, 3, 6)
        .into_iter()
        .filter(|request| matches!(request.template.0, 7 | 8))
        .map(|request| request.target)
        .collect();
    targets.extend(["smith", "o%27brien", "gmail.com", "z"].iter().flat_map(|needle| {
        [
            format!("/v1/messages?filters-q={needle}"),
            format!("/v1/messages?filters-q={needle}&sort_by=-_id&page=3"),
            format!("/v1/messages?filters-q={needle}&sort_by=created&sort_by=-date_time&per_page=7&page=5"),
        ]
    }));
    let check = |stage: &str| {
        for target in &targets {
            assert_eq!(live.respond(target).body, reference.respond(target).body, "{stage}: {target}");
        }
    };
    check("before any write");
    for (index, message) in messages.iter().enumerate().step_by(4).take(700) {
        let replaced = Message { subject: Some(format!("edited {index}")), ..message.clone() };
        let batch = vec![Write::Upsert(replaced)];
        assert_eq!(live.apply(batch.clone()), reference.apply(batch));
    }
    for message in messages.iter().skip(1).step_by(13).take(150) {
        let batch = vec![Write::Delete(message.id.clone())];
        assert_eq!(live.apply(batch.clone()), reference.apply(batch));
    }
    assert!(live.stats().base_dead > 800, "{:?}", live.stats());
    check("after 850 writes");
}

/// First pages in `_id` order, where a run holds around `FIRST_READ` (16)
/// of the page's items: a run is asked only for its rows before the base
/// page's last `_id`, and must still give every one of them.
#[test]
fn first_pages_in_id_order_take_every_run_match_before_the_base_bound() {
    let base: Vec<Message> =
        (0..1000).map(|number| message(&format!("m{number:04}"), ["L1", "L2"][number % 2])).collect();
    for interleaved in [15, 16, 17, 18, 19, 20, 33, 70] {
        let policy = LivePolicy { tail_limit: 8, background: false, ..LivePolicy::default() };
        let live = LiveEngine::with_policy(Arc::new(Segment::from_messages(&base).unwrap()), policy);
        let reference = LiveReference::new(ReferenceEngine::new(base.clone()));
        // New `_id`s among the first and among the last of the base's, one
        // batch (so one run) for each end.
        for end in [0, 960] {
            let batch: Vec<Write> = (0..interleaved)
                .map(|number| {
                    let id = format!("m{:04}x{}", end + number / 2, number % 2);
                    Write::Upsert(message(&id, ["L1", "L2"][number % 2]))
                })
                .collect();
            assert_eq!(live.apply(batch.clone()), reference.apply(batch));
        }
        assert!(!live.stats().run_rows.is_empty(), "{:?}", live.stats());
        for sort in ["_id", "-_id"] {
            for filter in ["", "&filters-location=L1"] {
                let target = format!("/v1/messages?sort_by={sort}&per_page=100{filter}");
                assert_eq!(live.respond(&target).body, reference.respond(&target).body, "{interleaved}: {target}");
            }
        }
    }
}

/// First pages in a date order while writes move `modified` past the
/// base's: the runs and the tail alone answer when they hold a whole page
/// before anything in the base, and only then.
#[test]
fn first_pages_led_by_recent_writes_agree() {
    use msgdex::DateTime;
    let at = |seconds: i64| DateTime::from_seconds(1_600_000_000 + seconds);
    let base: Vec<Message> = (0..300)
        .map(|number| Message {
            modified: at(number * 3600),
            created: at(number * 60),
            ..message(&format!("m{number:04}"), ["L1", "L2"][number as usize % 2])
        })
        .collect();
    for leading in [0, 3, 9, 10, 11, 25, 60] {
        let policy = LivePolicy { tail_limit: 8, background: false, ..LivePolicy::default() };
        let live = LiveEngine::with_policy(Arc::new(Segment::from_messages(&base).unwrap()), policy);
        let reference = LiveReference::new(ReferenceEngine::new(base.clone()));
        // `leading` writes move `modified` past the base's latest (one of
        // them ties with it); 40 more keep it among the base's.
        for serial in 0..leading + 40 {
            let mut edited = base[(serial * 7) % base.len()].clone();
            edited.subject = Some(format!("edit {serial}"));
            if serial == 0 {
                // A new message tying with the base's latest, which sorts
                // before it (by `_id`).
                edited.id = "z-new".into();
            }
            edited.modified = if serial < leading {
                at(299 * 3600 + if serial == 0 { 0 } else { 1000 + serial as i64 })
            } else {
                at(serial as i64 * 3600 + 1800)
            };
            let write = vec![Write::Upsert(edited)];
            assert_eq!(live.apply(write.clone()), reference.apply(write));
        }
        for sort in ["-modified", "modified", "-created"] {
            for per_page in [3, 10, 30] {
                for filter in ["", "&filters-location=L1"] {
                    let target = format!("/v1/messages?sort_by={sort}&per_page={per_page}{filter}");
                    assert_eq!(live.respond(&target).body, reference.respond(&target).body, "{leading}: {target}");
                }
            }
        }
    }
}

/// Rows killed while a merge builds (deleted, or replaced by a newer
/// version) stay dead in the merged run, whichever of the merged runs held
/// them.
#[test]
fn merges_keep_the_deaths_of_rows_written_while_they_build() {
    let base: Vec<Message> = (0..20).map(|number| message(&format!("b{number:02}"), "L1")).collect();
    for merged in [2, 3, 4] {
        // No merge happens by itself: runs of four pile up.
        let policy = LivePolicy { tail_limit: 4, background: false, merge_fanout: 16, ..LivePolicy::default() };
        let live = LiveEngine::with_policy(Arc::new(Segment::from_messages(&base).unwrap()), policy);
        let reference = LiveReference::new(ReferenceEngine::new(base.clone()));
        let write = |writes: Vec<Write>| assert_eq!(live.apply(writes.clone()), reference.apply(writes));
        for batch in 0..5 {
            write((0..4).map(|number| Write::Upsert(message(&format!("n{:02}", batch * 4 + number), "L2"))).collect());
        }
        assert_eq!(live.stats().run_rows, [4, 4, 4, 4, 4]);
        // One write into each merged run (the last `merged` runs: n.. from
        // 20 - 4 * merged on), alternately a delete and a replacement.
        let racing: Vec<Write> = (0..merged)
            .map(|run| {
                let id = format!("n{:02}", 20 - 4 * merged + 4 * run + 1);
                if run % 2 == 0 {
                    Write::Delete(id)
                } else {
                    Write::Upsert(Message { subject: Some("raced".into()), ..message(&id, "L3") })
                }
            })
            .collect();
        let did = live
            .merge_last_runs_racing(merged, || {
                for single in &racing {
                    write(vec![single.clone()]);
                }
            })
            .unwrap();
        assert!(did, "merged {merged}");
        assert_eq!(live.stats().run_rows.len(), 5 - merged + 1, "{:?}", live.stats());
        for target in [
            "/v1/messages?per_page=100&attributes=subject&attributes=location".to_owned(),
            "/v1/messages?filters-location=L2&per_page=100".to_owned(),
            "/v1/messages?filters-location=L3&attributes=subject".to_owned(),
            "/v1/messages?sort_by=-_id&per_page=7&page=2".to_owned(),
        ]
        .into_iter()
        .chain(racing.iter().map(|write| format!("/v1/messages/{}", write.id())))
        {
            assert_eq!(live.respond(&target).body, reference.respond(&target).body, "{merged}: {target}");
        }
    }
}

/// A compaction folds the base and the runs, not the tail: a message in
/// the tail when it begins reaches a run after it, and a later write of its
/// `_id` (replacing, deleting, or inserting it again) still finds it there.
/// (The writer looks in the runs only for `_id`s it knows were written
/// since the base was built.)
#[test]
fn messages_in_the_tail_through_a_compaction_are_found_in_runs_after_it() {
    let base: Vec<Message> = (0..30).map(|number| message(&format!("b{number:02}"), "L1")).collect();
    let policy = LivePolicy { tail_limit: 4, background: false, compact_min_rows: 1, ..LivePolicy::default() };
    let live = LiveEngine::with_policy(Arc::new(Segment::from_messages(&base).unwrap()), policy);
    let reference = LiveReference::new(ReferenceEngine::new(base));
    let write =
        |writes: Vec<Write>| assert_eq!(live.apply(writes.clone()), reference.apply(writes.clone()), "{writes:?}");
    // Runs for the compaction to fold, then two messages left in the tail.
    for number in 0..8 {
        write(vec![Write::Upsert(message(&format!("n{number:02}"), "L2"))]);
    }
    write(vec![Write::Upsert(message("b03", "L3")), Write::Upsert(message("t1", "L3"))]);
    assert_eq!(live.stats().tail, 2);
    live.compact_leaving_tail_racing(|| write(vec![Write::Upsert(message("t2", "L3"))])).unwrap();
    assert!(live.stats().run_rows.is_empty() && live.stats().tail == 3, "{:?}", live.stats());
    // The tail becomes a run; then each of its messages is written again.
    write(vec![Write::Upsert(message("t3", "L3"))]);
    assert_eq!(live.stats().run_rows, [4]);
    write(vec![Write::Upsert(message("b03", "L4"))]);
    write(vec![Write::Delete("t1".into())]);
    write(vec![Write::Insert(message("t2", "L4"))]);
    write(vec![Write::Delete("t2".into()), Write::Insert(message("t2", "L5"))]);
    for target in [
        "/v1/messages?per_page=100&attributes=location",
        "/v1/messages?filters-location=L3&per_page=100",
        "/v1/messages/b03",
        "/v1/messages/t1",
    ] {
        assert_eq!(live.respond(target).body, reference.respond(target).body, "{target}");
    }
    assert_eq!(live.message_count(), reference.message_count());
}

/// Runs flushed and merged in a burst leave their text index for later;
/// once the writes stop, the idle flusher builds every one (at once when
/// the policy always defers, after a pause without writes when it defers
/// above a rate), and the answers never depended on it.
#[test]
fn the_idle_flusher_indexes_the_text_of_runs_left_unindexed_in_a_burst() {
    for defer_text_above in [0.0, f64::MIN_POSITIVE] {
        let initial: Vec<Message> = (0..100).map(|serial| patient(&format!("m{serial:04}"), "L0")).collect();
        let policy = LivePolicy {
            tail_limit: 16,
            compact_fraction: 1e9,
            merge_fanout: 3,
            defer_text_above,
            ..LivePolicy::default()
        };
        let engine = LiveEngine::with_policy(Arc::new(Segment::from_messages(&initial).unwrap()), policy);
        for serial in 0..2000usize {
            engine
                .upsert(patient(&format!("m{:04}", serial % 700), &format!("L{}", serial % 7)))
                .expect("valid upsert");
        }
        engine.wait_for_compaction();
        let stats = engine.stats();
        assert!(!stats.run_rows.is_empty(), "{stats:?}");
        assert!(stats.run_rows.iter().all(|&rows| rows > 0), "a run whose rows all died is dropped: {stats:?}");
        assert_eq!(stats.runs_without_text_index, 0, "defer above {defer_text_above:e}: {stats:?}");
        // The last write of each of the 700 messages put it at L(serial % 7).
        let expected = (1300..2000).filter(|serial| serial % 7 == 3).count() as u64;
        assert_eq!(item_count(&engine, "/v1/messages?filters-q=patient+l3&per_page=1"), expected);
    }
}

/// A held `Snapshot` pages through the state it was taken in while the
/// store moves on: between pages a writer adds, replaces and deletes
/// messages, the tail flushes into runs, runs merge and the store compacts.
/// Every page equals, byte for byte, the page of a reference engine frozen
/// at the snapshot's state, and the pages together list each message of
/// that state exactly once, in each sort order.
#[test]
fn a_held_snapshot_pages_through_one_state_while_writes_go_on() {
    let initial = msgdex::load_path("fixtures/generated-200.jsonl").expect("fixture loads");
    let engine = LiveEngine::with_policy(Arc::new(Segment::from_messages(&initial).unwrap()), small_policy(8));
    let mut reference = ReferenceEngine::new(initial.clone());
    // History before the snapshot, so that it holds a base with dead rows,
    // runs and a tail.
    let mut batches = writes_moving_the_store(&initial);
    for batch in batches.by_ref().take(40) {
        engine.apply(batch.clone()).expect("valid batch");
        reference.apply(batch).expect("valid batch");
    }
    let snapshot = engine.snapshot();
    let version = snapshot.version();
    assert_eq!(snapshot.message_count(), reference.messages().len() as u64);

    let orders = ["sort_by=-modified", "sort_by=date_time", "filters-direction=inbound&sort_by=-created", ""];
    for (round, order) in orders.iter().enumerate() {
        let mut seen = std::collections::HashSet::new();
        for page in 1.. {
            let target = format!("/v1/messages?{order}&per_page=7&page={page}&attributes=_id");
            let (held, frozen) = (snapshot.respond(&target), reference.respond(&target));
            assert_eq!(held.body, frozen.body, "{target} after {round} rounds of writes");
            let listed = ids_of(&held.body);
            if listed.is_empty() {
                break;
            }
            for id in listed {
                assert!(seen.insert(id.clone()), "{target}: {id} listed twice");
            }
            // The store moves on between pages; the snapshot does not.
            engine.apply(batches.next().expect("writes enough")).expect("valid batch");
            if page % 5 == 0 {
                engine.compact().expect("compaction builds");
            }
        }
        let expected = reference.respond(&format!("/v1/messages?{order}&per_page=1"));
        assert_eq!(seen.len() as u64, item_count_of(&expected.body), "{order}: every match once");
    }
    assert_eq!(snapshot.version(), version, "a held snapshot never changes");
    assert_ne!(engine.snapshot().version(), version, "while the store moved on");
    assert_ne!(
        engine.respond("/v1/messages?sort_by=-modified&per_page=7").body,
        snapshot.respond("/v1/messages?sort_by=-modified&per_page=7").body,
        "the writes show in the store's own answers"
    );
}

/// Endless valid batches over `initial`'s messages: each replaces one
/// message with a newer `modified` (so it moves to the front of
/// `-modified`), deletes another and inserts a new one.
fn writes_moving_the_store(initial: &[Message]) -> impl Iterator<Item = Vec<Write>> + '_ {
    (0usize..).map(move |round| {
        let replaced = &initial[(round * 7) % initial.len()];
        let newer = Message {
            modified: msgdex::DateTime::from_seconds(
                msgdex::DateTime::parse("2030-01-01 00:00:00").unwrap().seconds() + round as i64,
            ),
            ..replaced.clone()
        };
        let inserted = Message { id: format!("inserted-{round:05}"), ..initial[round % initial.len()].clone() };
        let mut batch = vec![Write::Upsert(newer), Write::Insert(inserted)];
        if round % 3 == 0 {
            batch.push(Write::Delete(format!("inserted-{:05}", round / 3)));
        }
        batch
    })
}

fn ids_of(body: &str) -> Vec<String> {
    let value: serde_json::Value = serde_json::from_str(body).expect("a JSON body");
    let items = value["items"].as_array().expect("a list body");
    items.iter().map(|item| item["_id"].as_str().expect("an `_id`").to_owned()).collect()
}

fn item_count_of(body: &str) -> u64 {
    let value: serde_json::Value = serde_json::from_str(body).expect("a JSON body");
    value["item_count"].as_u64().expect("a list body")
}
