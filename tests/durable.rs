//! The durable store: random sessions of writes, checkpoints (raced by
//! writes) and reopenings answer as the reference that applied the same
//! writes; a log cut at every byte of its last records, or with any bit
//! flipped, opens to exactly the whole batches before the damage or is
//! refused; a full disk and a failing fsync refuse writes without
//! changing the store; one process owns a directory.
//!
//! `PROPTEST_CASES=500 cargo test --release --test durable` runs a long
//! campaign; CI runs a small one.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use common::generators::{data_set, message_body, target, IDS};
use common::{imported, OnDisk};
use msgdex::testing::LogFaults;
use msgdex::StoreOptions;
use msgdex::{ContentStorage, Engine, LiveEngine, LivePolicy, LiveReference, Message, ReferenceEngine, StoreError};
use msgdex::{SyncPolicy, Writable, Write, WriteProblem};
use proptest::prelude::*;

/// Small parts, so that runs, merges and compactions (checkpoints) happen
/// within a few writes; background work off, so that a session is
/// deterministic.
fn small_policy() -> LivePolicy {
    LivePolicy { tail_limit: 3, compact_fraction: 0.5, compact_min_rows: 8, background: false, ..LivePolicy::default() }
}

fn options(sync: SyncPolicy) -> StoreOptions {
    StoreOptions { sync, policy: small_policy(), ..StoreOptions::default() }
}

fn store_path(on_disk: &OnDisk) -> PathBuf {
    on_disk.directory.path().join("store")
}

fn same_store(actual: &dyn Engine, expected: &dyn Engine) -> Result<(), TestCaseError> {
    prop_assert_eq!(actual.message_count(), expected.message_count());
    prop_assert_eq!(msgdex::testing::every_page(actual), msgdex::testing::every_page(expected));
    for probe in ["/v1/messages?sort_by=-modified&per_page=7&page=2", "/v1/messages?filters-q=a&sort_by=date_time"] {
        prop_assert_eq!(actual.respond(probe).body, expected.respond(probe).body, "{}", probe);
    }
    Ok(())
}

/// One step of a random session.
#[derive(Clone, Debug)]
enum Step {
    Batch(Vec<Write>),
    Request(String),
    Checkpoint,
    /// A checkpoint with these batches written while it builds, the tail
    /// first made a run or left as it is.
    CheckpointRacing {
        flush_first: bool,
        batches: Vec<Vec<Write>>,
    },
    Reopen,
}

fn some_id() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(IDS).prop_map(str::to_owned),
        2 => (0..30u32).prop_map(|number| format!("new-{number}")),
    ]
}

fn some_message() -> impl Strategy<Value = Message> {
    (some_id(), message_body()).prop_map(|(id, message)| Message { id, ..message })
}

fn write() -> impl Strategy<Value = Write> {
    prop_oneof![
        4 => some_message().prop_map(Write::Upsert),
        2 => some_message().prop_map(Write::Insert),
        2 => some_id().prop_map(Write::Delete),
    ]
}

fn batch() -> impl Strategy<Value = Vec<Write>> {
    proptest::collection::vec(write(), 1..4)
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => batch().prop_map(Step::Batch),
        2 => target().prop_map(Step::Request),
        1 => Just(Step::Checkpoint),
        1 => (any::<bool>(), proptest::collection::vec(batch(), 1..4))
            .prop_map(|(flush_first, batches)| Step::CheckpointRacing { flush_first, batches }),
        2 => Just(Step::Reopen),
    ]
}

/// How a session's store keeps `content`: as imported, then as its
/// checkpoints are told (`None`: as the base they replace).
#[derive(Clone, Copy, Debug)]
struct Storages {
    imported: ContentStorage,
    checkpoints: Option<ContentStorage>,
}

fn storages() -> impl Strategy<Value = Storages> {
    let storage = || prop_oneof![Just(ContentStorage::Packed), Just(ContentStorage::Plain)];
    (storage(), proptest::option::of(storage())).prop_map(|(imported, checkpoints)| Storages { imported, checkpoints })
}

fn run_session(
    messages: Vec<Message>,
    steps: &[Step],
    sync: SyncPolicy,
    storages: Storages,
) -> Result<(), TestCaseError> {
    let options = |sync| {
        let mut options = options(sync);
        options.policy.content = storages.checkpoints;
        options
    };
    let OnDisk { engine, directory } = common::imported_storing(&messages, storages.imported, options(sync));
    let path = directory.path().join("store");
    let mut engine = Some(engine);
    let reference = LiveReference::new(ReferenceEngine::new(messages));
    for step in steps {
        let live = engine.as_ref().expect("open");
        match step {
            Step::Batch(batch) => {
                prop_assert_eq!(live.apply(batch.clone()), reference.apply(batch.clone()), "batch {:?}", batch);
            }
            Step::Request(target) => {
                let expected = reference.respond(target).to_transcript_line();
                prop_assert_eq!(live.respond(target).to_transcript_line(), expected, "request {}", target);
            }
            Step::Checkpoint => live.checkpoint().expect("the checkpoint is written"),
            Step::CheckpointRacing { flush_first, batches } => {
                let mut outcomes = Vec::new();
                let during = || outcomes = batches.iter().map(|batch| live.apply(batch.clone())).collect();
                if *flush_first { live.compact_racing(during) } else { live.compact_leaving_tail_racing(during) }
                    .expect("the compaction builds");
                prop_assert_eq!(live.checkpoint_failure(), None);
                for (batch, outcome) in batches.iter().zip(outcomes) {
                    prop_assert_eq!(outcome, reference.apply(batch.clone()), "batch {:?} during a checkpoint", batch);
                }
            }
            Step::Reopen => {
                engine.take().expect("open").close();
                let reopened = LiveEngine::open(&path, options(sync)).expect("the directory opens again");
                prop_assert_eq!(reopened.recovery().and_then(|recovery| recovery.cut.clone()), None);
                same_store(&reopened, &reference)?;
                engine = Some(reopened);
            }
        }
        prop_assert_eq!(engine.as_ref().expect("open").message_count(), reference.message_count());
    }
    engine.take().expect("open").close();
    let reopened = LiveEngine::open(&path, options(sync)).expect("the directory opens at the end");
    same_store(&reopened, &reference)?;
    let checked = msgdex::check(&path);
    prop_assert!(checked.is_err(), "the directory is owned by the open store");
    reopened.close();
    let report = msgdex::check(&path).expect("the directory checks");
    prop_assert!(report.problems.is_empty(), "{:?}", report.problems);
    prop_assert_eq!(report.messages, reference.message_count());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: ProptestConfig::default().cases / 4 + 1, ..ProptestConfig::default() })]

    /// Writes, checkpoints (raced by writes or not) and reopenings, with
    /// `content` packed or plain and changed by checkpoints or not: after
    /// every reopening and at the end the store equals the reference.
    #[test]
    fn sessions_with_checkpoints_and_reopenings_agree_with_the_reference(
        messages in data_set(30),
        steps in proptest::collection::vec(step(), 1..30),
        sync in prop_oneof![
            Just(SyncPolicy::Always),
            Just(SyncPolicy::Never),
            Just(SyncPolicy::Interval(std::time::Duration::from_millis(2))),
        ],
        storages in storages(),
    ) {
        run_session(messages, &steps, sync, storages)?;
    }
}

/// A store with some history: a checkpoint, then `batches` batches in the
/// log after it. Returns the directory, and the reference after each batch
/// (index 0: before any).
fn store_with_log(batches: usize) -> (OnDisk, Vec<ReferenceEngine>) {
    let messages: Vec<Message> = msgdex::load_path("fixtures/generated-200.jsonl").unwrap();
    let on_disk = imported(&messages[..100], options(SyncPolicy::Always));
    let mut reference = ReferenceEngine::new(messages[..100].to_vec());
    let mut states = Vec::new();
    for (number, message) in messages[100..100 + batches].iter().enumerate() {
        if number == 2 {
            on_disk.engine.checkpoint().unwrap();
            states.push(ReferenceEngine::new(reference.messages().to_vec()));
        }
        let batch = vec![Write::Upsert(message.clone()), Write::Delete(messages[number].id.clone())];
        on_disk.engine.apply(batch.clone()).unwrap();
        reference.apply(batch).unwrap();
        if number >= 2 {
            states.push(ReferenceEngine::new(reference.messages().to_vec()));
        }
    }
    (on_disk, states)
}

/// The one log file a store writes after its last checkpoint.
fn last_log(directory: &Path) -> PathBuf {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(directory)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "wal"))
        .collect();
    logs.sort();
    logs.pop().expect("a log file")
}

/// Where each whole record of a log file ends.
fn record_ends(log: &[u8]) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut at = 0;
    while at + 20 <= log.len() {
        at += 20 + u32::from_le_bytes(log[at..at + 4].try_into().unwrap()) as usize;
        ends.push(at);
    }
    ends
}

fn copy_directory(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn a_log_cut_at_any_byte_of_its_last_records_opens_to_the_whole_batches_before_the_cut() {
    let (on_disk, states) = store_with_log(8);
    let path = store_path(&on_disk);
    let OnDisk { engine, directory } = on_disk;
    engine.close();
    let log_path = last_log(&path);
    let log = std::fs::read(&log_path).unwrap();
    let ends = record_ends(&log);
    assert_eq!(ends.len(), 6, "six batches after the checkpoint");
    assert_eq!(*ends.last().unwrap(), log.len());
    let first_cut = ends[ends.len() - 3];
    let states = &states;
    let copy = directory.path().join("cut");
    copy_directory(&path, &copy);
    for length in first_cut..=log.len() {
        let copied_log = copy.join(log_path.file_name().unwrap());
        std::fs::write(&copied_log, &log[..length]).unwrap();
        let whole = ends.iter().filter(|&&end| end <= length).count();
        // Read only: the torn end is left out, and left on disk (every
        // fifth cut, to keep the test short).
        if length % 5 == 0 {
            read_only_open(&copy, &copied_log, &states[whole], !ends.contains(&length), length);
        }
        let reopened = LiveEngine::open(&copy, options(SyncPolicy::Always)).expect("a cut log opens");
        let cut = reopened.recovery().unwrap().cut.clone();
        assert_eq!(cut.is_some(), !ends.contains(&length) && length != 0, "cut at {length}: {cut:?}");
        if let Some(cut) = cut {
            assert_eq!(cut.offset as usize + cut.bytes as usize, length);
            assert!(cut.to_string().contains("never acknowledged"), "{cut}");
        }
        same_store(&reopened, &states[whole]).unwrap_or_else(|error| panic!("cut at {length}: {error}"));
        reopened.close();
        if length % 97 == 0 {
            // The cut is made on disk: the next open finds a clean end.
            let again = LiveEngine::open(&copy, options(SyncPolicy::Always)).unwrap();
            assert_eq!(again.recovery().unwrap().cut, None);
            again.close();
        }
    }
}

fn read_only_open(copy: &Path, log: &Path, expected: &ReferenceEngine, torn: bool, length: usize) {
    let (read_only, found) = msgdex::FastEngine::open_reporting(copy).expect("a cut log opens read only");
    same_store(&read_only, expected).unwrap_or_else(|error| panic!("read only, cut at {length}: {error}"));
    assert_eq!(found.cut.is_some(), torn, "cut at {length}");
    assert_eq!(std::fs::metadata(log).unwrap().len() as usize, length, "nothing changed on disk");
}

#[test]
fn a_flipped_bit_anywhere_in_the_log_is_refused_or_cuts_only_the_last_record() {
    let (on_disk, states) = store_with_log(5);
    let path = store_path(&on_disk);
    let OnDisk { engine, directory } = on_disk;
    engine.close();
    let log_path = last_log(&path);
    let log = std::fs::read(&log_path).unwrap();
    let last_start = record_ends(&log).iter().rev().nth(1).copied().unwrap_or(0);
    let copy = directory.path().join("flipped");
    copy_directory(&path, &copy);
    let copied_log = copy.join(log_path.file_name().unwrap());
    for position in 0..log.len() {
        let mut damaged = log.clone();
        damaged[position] ^= 1 << (position % 8);
        std::fs::write(&copied_log, &damaged).unwrap();
        match LiveEngine::open(&copy, options(SyncPolicy::Never)) {
            Err(StoreError::Corrupt { path, offset, .. }) => {
                assert!(position < last_start, "byte {position} of the last record refused the open");
                assert_eq!(path, copied_log);
                assert!(offset as usize <= position, "damage at {position} reported at {offset}");
            }
            Err(other) => panic!("byte {position}: {other}"),
            Ok(reopened) => {
                assert!(position >= last_start, "byte {position} passed unnoticed");
                assert!(reopened.recovery().unwrap().cut.is_some());
                same_store(&reopened, &states[states.len() - 2]).unwrap();
                reopened.close();
            }
        }
    }
}

#[test]
fn flipped_bits_in_the_base_file_and_the_manifest_are_refused() {
    let on_disk = imported(&msgdex::load_path("fixtures/messages.jsonl").unwrap(), options(SyncPolicy::Always));
    let path = store_path(&on_disk);
    on_disk.engine.close();
    for name in ["base-00000000000000000000.seg", "MANIFEST"] {
        let file = path.join(name);
        let bytes = std::fs::read(&file).unwrap();
        let mut refused = 0;
        let positions: Vec<usize> = (0..bytes.len()).step_by((bytes.len() / 500).max(1)).collect();
        for &position in &positions {
            let mut damaged = bytes.clone();
            damaged[position] ^= 0x10;
            std::fs::write(&file, &damaged).unwrap();
            match LiveEngine::open(&path, options(SyncPolicy::Always)) {
                Err(StoreError::Corrupt { path: named, .. }) => {
                    assert_eq!(named, file);
                    refused += 1;
                }
                Err(other) => panic!("{name} byte {position}: {other}"),
                // Only the zero padding between arrays is outside every checksum.
                Ok(engine) => engine.close(),
            }
        }
        std::fs::write(&file, &bytes).unwrap();
        assert!(refused * 10 >= positions.len() * 9, "{name}: {refused} of {} flips refused", positions.len());
    }
    LiveEngine::open(&path, options(SyncPolicy::Always)).expect("the undamaged directory opens").close();
}

fn faulty_options(faults: &Arc<LogFaults>) -> StoreOptions {
    StoreOptions { faults: Arc::clone(faults), ..options(SyncPolicy::Always) }
}

#[test]
fn a_full_disk_refuses_the_write_and_changes_nothing_until_space_returns() {
    let faults = Arc::new(LogFaults::none());
    let messages = msgdex::load_path("fixtures/messages.jsonl").unwrap();
    let OnDisk { engine, directory } = imported(&messages, faulty_options(&faults));
    let path = directory.path().join("store");
    engine.upsert(Message::with_id("before")).unwrap();
    let log_path = last_log(&path);
    let log_before = std::fs::read(&log_path).unwrap();
    let answers_before = msgdex::testing::every_page(&engine);
    // Room for part of the next record only: the write is torn by the disk.
    faults.space_left.store(log_before.len() as u64 + 30, Ordering::Relaxed);
    let refused = engine.apply(vec![Write::Upsert(Message::with_id("a")), Write::Delete(messages[0].id.clone())]);
    let error = refused.expect_err("no room for the record");
    assert!(
        matches!(&error.problem, WriteProblem::Storage(why) if why.contains("No space left") && why.contains("nothing was applied")),
        "{error}"
    );
    assert_eq!(msgdex::testing::every_page(&engine), answers_before, "the store is unchanged");
    assert_eq!(std::fs::read(&log_path).unwrap(), log_before, "the log is cut back to its last whole record");
    assert!(engine.retrieve("a").is_none());
    // Space returns: writes go on, and everything survives a reopening.
    faults.space_left.store(u64::MAX, Ordering::Relaxed);
    engine.upsert(Message::with_id("after")).unwrap();
    engine.close();
    let reopened = LiveEngine::open(&path, options(SyncPolicy::Always)).unwrap();
    assert!(reopened.retrieve("before").is_some() && reopened.retrieve("after").is_some());
    assert!(reopened.retrieve("a").is_none());
    assert_eq!(reopened.message_count(), messages.len() as u64 + 2);
    reopened.close();
}

#[test]
fn a_failed_fsync_refuses_every_later_write_until_the_store_is_reopened() {
    let faults = Arc::new(LogFaults::none());
    let messages = msgdex::load_path("fixtures/messages.jsonl").unwrap();
    let OnDisk { engine, directory } = imported(&messages, faulty_options(&faults));
    let path = directory.path().join("store");
    engine.upsert(Message::with_id("kept")).unwrap();
    faults.fail_syncs.store(true, Ordering::Relaxed);
    let error = engine.upsert(Message::with_id("unsynced")).expect_err("the sync fails");
    assert!(error.to_string().contains("could not be synced"), "{error}");
    // The device works again, but the store does not trust it until reopened.
    faults.fail_syncs.store(false, Ordering::Relaxed);
    let error = engine.upsert(Message::with_id("later")).expect_err("writes are refused");
    assert!(error.to_string().contains("reopen it"), "{error}");
    assert!(engine.retrieve("later").is_none());
    engine.close();
    let reopened = LiveEngine::open(&path, options(SyncPolicy::Always)).unwrap();
    assert!(reopened.retrieve("kept").is_some());
    // The unsynced batch was never acknowledged: whole or absent, and the
    // refused one absent.
    assert!(reopened.retrieve("later").is_none());
    reopened.upsert(Message::with_id("writable again")).unwrap();
    reopened.close();
}

#[test]
fn one_process_owns_a_directory() {
    let on_disk = imported(&[], options(SyncPolicy::Always));
    let path = store_path(&on_disk);
    match LiveEngine::open(&path, options(SyncPolicy::Always)) {
        Err(error @ StoreError::Locked { holder: Some(pid), .. }) => {
            assert_eq!(pid, std::process::id());
            assert!(error.to_string().contains(&format!("pid {pid}")), "{error}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(msgdex::FastEngine::open(&path), Err(StoreError::Locked { .. })));
    on_disk.engine.close();
    msgdex::FastEngine::open(&path).expect("free again");
}

#[test]
fn concurrent_writers_share_fsyncs_and_every_acknowledged_write_survives() {
    let on_disk = imported(&[], StoreOptions::default());
    let path = store_path(&on_disk);
    let engine = on_disk.engine.clone();
    let writers: Vec<_> = (0..8)
        .map(|writer| {
            let engine = engine.clone();
            std::thread::spawn(move || {
                for number in 0..100 {
                    engine.upsert(Message::with_id(format!("w{writer}-{number:03}"))).expect("acknowledged");
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    let syncs = engine.log_syncs();
    assert!(syncs < 800, "8 writers shared fsyncs: {syncs} for 800 writes");
    drop(engine);
    on_disk.engine.close();
    let reopened = LiveEngine::open(&path, StoreOptions::default()).unwrap();
    assert_eq!(reopened.message_count(), 800);
    reopened.close();
}

#[test]
fn a_failed_import_leaves_no_directory() {
    let directory = tempfile::tempdir().unwrap();
    let data = directory.path().join("bad.jsonl");
    std::fs::write(&data, "{\"_id\": \"a\"}\n{\"_id\": \"a\"}\n").unwrap();
    let store = directory.path().join("store");
    let error = msgdex::import(&data, &store, ContentStorage::Packed, |_| {}).expect_err("a repeated _id");
    assert!(error.to_string().contains("line 2"), "{error}");
    let left: Vec<_> = std::fs::read_dir(directory.path()).unwrap().map(|entry| entry.unwrap().file_name()).collect();
    assert_eq!(left, vec![std::ffi::OsString::from("bad.jsonl")], "nothing else was left");
    assert!(matches!(LiveEngine::open(&store, StoreOptions::default()), Err(StoreError::Io { .. })));
    std::fs::write(&data, "{\"_id\": \"a\"}\n").unwrap();
    msgdex::import(&data, &store, ContentStorage::Packed, |_| {}).unwrap();
    assert!(matches!(
        msgdex::import(&data, &store, ContentStorage::Packed, |_| {}),
        Err(StoreError::AlreadyExists { .. })
    ));
}

#[test]
fn a_source_position_is_kept_with_its_batch_across_checkpoints_reopens_and_cuts() {
    let messages: Vec<Message> = msgdex::load_path("fixtures/generated-200.jsonl").unwrap();
    let on_disk = imported(&messages[..50], options(SyncPolicy::Always));
    let path = store_path(&on_disk);
    let engine = &on_disk.engine;
    assert_eq!(engine.snapshot().source_position(), None);
    // Positions after each batch; an empty batch moves the position alone,
    // and a batch without one (a plain write) keeps the last.
    let mut expected = Vec::new();
    for number in 0..12 {
        let position = format!("page {number} ü");
        let batch = if number % 4 == 3 { vec![] } else { vec![Write::Upsert(messages[50 + number].clone())] };
        engine.apply_at(batch, &position).unwrap();
        if number == 5 {
            engine.apply(vec![Write::Delete(messages[0].id.clone())]).unwrap();
            engine.checkpoint().unwrap();
        }
        expected.push(position);
        assert_eq!(engine.snapshot().source_position(), Some(expected.last().unwrap().as_str()));
    }
    let OnDisk { engine, directory } = on_disk;
    engine.close();
    let manifest = std::fs::read_to_string(path.join("MANIFEST")).unwrap();
    assert!(manifest.contains("position \"page 5 ü\""), "the checkpoint kept its state's position: {manifest}");
    let reopened = LiveEngine::open(&path, options(SyncPolicy::Always)).unwrap();
    assert_eq!(reopened.snapshot().source_position(), Some("page 11 ü"));
    reopened.close();
    // Cut after each whole record of the log after the checkpoint: the
    // position is that of the last whole batch, with the batch.
    let log_path = last_log(&path);
    let log = std::fs::read(&log_path).unwrap();
    let ends = record_ends(&log);
    assert_eq!(ends.len(), 6, "six batches after the checkpoint");
    let copy = directory.path().join("cut");
    copy_directory(&path, &copy);
    for (whole, &end) in ends.iter().enumerate() {
        std::fs::write(copy.join(log_path.file_name().unwrap()), &log[..end - 1]).unwrap();
        let cut = LiveEngine::open(&copy, options(SyncPolicy::Always)).unwrap();
        let position = cut.snapshot().source_position().map(str::to_owned);
        assert_eq!(position.as_deref(), Some(expected[5 + whole].as_str()), "record {} torn", whole + 1);
        let holds_batch = cut.retrieve_into(&messages[50 + 6 + whole].id, &mut Vec::new());
        assert!(!holds_batch || (6 + whole) % 4 == 3, "the torn batch is gone with its position");
        cut.close();
        copy_directory(&path, &copy);
    }
}

/// The way of keeping `content` a store was imported with stays through
/// its checkpoints, and a policy saying otherwise changes it at the next
/// checkpoint; the answers are the reference's before and after, and the
/// directory checks.
#[test]
fn checkpoints_keep_the_content_storage_of_the_base_unless_told_otherwise() {
    let messages: Vec<Message> = msgdex::load_path("fixtures/generated-200.jsonl").unwrap();
    for imported_as in ContentStorage::ALL {
        for told in [None, Some(ContentStorage::Packed), Some(ContentStorage::Plain)] {
            let mut options = options(SyncPolicy::Always);
            options.policy.content = told;
            let OnDisk { engine, directory } = common::imported_storing(&messages[..100], imported_as, options.clone());
            let path = directory.path().join("store");
            let reference = LiveReference::new(ReferenceEngine::new(messages[..100].to_vec()));
            let mut writes: Vec<Write> = messages[100..130].iter().cloned().map(Write::Upsert).collect();
            writes.push(Write::Delete(messages[5].id.clone()));
            reference.apply(writes.clone()).unwrap();
            engine.apply(writes).unwrap();
            same_store(&engine, &reference).unwrap();
            engine.close();
            assert_eq!(stored_as(&path), imported_as, "imported as {imported_as}; no checkpoint yet");
            let engine = LiveEngine::open(&path, options.clone()).unwrap();
            engine.checkpoint().unwrap();
            same_store(&engine, &reference).unwrap();
            engine.close();
            let expected = told.unwrap_or(imported_as);
            assert_eq!(stored_as(&path), expected, "imported as {imported_as}, told {told:?}");
            let report = msgdex::check(&path).expect("the directory checks");
            assert!(report.problems.is_empty(), "{:?}", report.problems);
            let reopened = LiveEngine::open(&path, options).unwrap();
            same_store(&reopened, &reference).unwrap();
        }
    }
}

/// How the base of the data directory at `path` keeps `content`.
fn stored_as(path: &Path) -> ContentStorage {
    msgdex::FastEngine::open(path).unwrap().segment().content_storage()
}

/// An empty store made for a replica keeps `content` as it is asked to
/// from the start, before any copy is folded into a base.
#[test]
fn an_empty_store_is_made_with_its_content_storage() {
    for storage in ContentStorage::ALL {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("replica");
        msgdex::create(&path, storage).unwrap();
        assert_eq!(stored_as(&path), storage);
        assert_eq!(msgdex::check(&path).unwrap().content, storage);
    }
}

/// A store told to keep `content` another way changes it without any new
/// write: at a checkpoint asked for, and, with background work on, from
/// the moment it opens, after its log is replayed (closing waits for it).
/// The answers stay the reference's.
#[test]
fn a_store_told_another_content_storage_changes_it_without_writes() {
    let messages: Vec<Message> = msgdex::load_path("fixtures/generated-200.jsonl").unwrap();
    let mut reference = ReferenceEngine::new(messages[..150].to_vec());
    // One write stays in the log, replayed at every open below.
    let written = vec![Write::Upsert(messages[150].clone())];
    reference.apply(written.clone()).unwrap();
    for (imported_as, told) in
        [(ContentStorage::Packed, ContentStorage::Plain), (ContentStorage::Plain, ContentStorage::Packed)]
    {
        let OnDisk { engine, directory } =
            common::imported_storing(&messages[..150], imported_as, options(SyncPolicy::Always));
        engine.apply(written.clone()).unwrap();
        engine.close();
        let path = directory.path().join("store");
        let mut asked = options(SyncPolicy::Always);
        asked.policy.content = Some(told);
        let engine = LiveEngine::open(&path, asked.clone()).unwrap();
        engine.checkpoint().unwrap();
        same_store(&engine, &reference).unwrap();
        engine.close();
        assert_eq!(stored_as(&path), told, "a checkpoint asked for changed {imported_as} to {told}");
        let mut in_background = StoreOptions::default();
        in_background.policy.content = Some(imported_as);
        let engine = LiveEngine::open(&path, in_background).unwrap();
        same_store(&engine, &reference).unwrap();
        engine.close();
        assert_eq!(stored_as(&path), imported_as, "opening started the change back, closing waited for it");
        let report = msgdex::check(&path).expect("the directory checks");
        assert!(report.problems.is_empty() && report.content == imported_as, "{report:?}");
    }
}

/// The segment format this build writes.
const CURRENT_FORMAT: u32 = 4;

/// The format version of the base segment file of the directory at `path`.
fn base_version(path: &Path) -> u32 {
    let base = std::fs::read_dir(path)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|file| file.extension().is_some_and(|extension| extension == "seg"))
        .expect("a base file");
    let header = std::fs::read(base).unwrap();
    u32::from_le_bytes(header[8..12].try_into().unwrap())
}

/// A directory whose base is of an earlier format has it written anew in
/// the current one without a write: at a checkpoint asked for, and, with
/// background work on, from the moment a store opens it (closing waits
/// for it). The answers stay the reference's.
#[test]
fn an_older_format_base_is_written_anew_without_writes() {
    let messages: Vec<Message> = msgdex::load_path("fixtures/format-1-store.jsonl").unwrap();
    let reference = ReferenceEngine::new(messages);
    for background in [false, true] {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("store");
        copy_directory(Path::new("fixtures/format-3-store"), &path);
        assert_eq!(base_version(&path), 3);
        let engine = if background {
            LiveEngine::open(&path, StoreOptions::default()).unwrap()
        } else {
            let engine = LiveEngine::open(&path, options(SyncPolicy::Always)).unwrap();
            engine.checkpoint().unwrap();
            engine
        };
        same_store(&engine, &reference).unwrap();
        engine.close();
        assert_eq!(base_version(&path), CURRENT_FORMAT, "background work: {background}");
        let report = msgdex::check(&path).expect("the directory checks");
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        let reopened = LiveEngine::open(&path, options(SyncPolicy::Always)).unwrap();
        same_store(&reopened, &reference).unwrap();
    }
}

/// Directories written by earlier versions of msgdex, from
/// `fixtures/format-1-store.jsonl`, open as they are, take writes, and
/// their next checkpoint writes the base in the current format; they
/// answer as the reference at every step:
/// * `fixtures/format-1-store`, before `content` was packed (format 1);
/// * `fixtures/format-2-store`, before the text index stored its run
///   counts (format 2, `content` packed);
/// * `fixtures/format-3-store`, before the run counts weighed children
///   with their parents (format 3, `content` packed).
#[test]
fn older_format_directories_open_and_their_checkpoint_moves_them_to_the_current_format() {
    let messages: Vec<Message> = msgdex::load_path("fixtures/format-1-store.jsonl").unwrap();
    for (fixture, version, content) in [
        ("format-1-store", 1, ContentStorage::Plain),
        ("format-2-store", 2, ContentStorage::Packed),
        ("format-3-store", 3, ContentStorage::Packed),
    ] {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("store");
        copy_directory(&Path::new("fixtures").join(fixture), &path);
        assert_eq!(base_version(&path), version, "{fixture}");
        let report = msgdex::check(&path).expect("an older directory checks");
        assert!(report.problems.is_empty(), "{fixture}: {:?}", report.problems);
        assert_eq!(report.content, content, "{fixture}");
        let mut reference = ReferenceEngine::new(messages.clone());
        let engine = LiveEngine::open(&path, options(SyncPolicy::Always)).expect("an older directory opens");
        same_store(&engine, &reference).unwrap();
        let mut changed = messages[3].clone();
        changed.content = Some("Zoë wrote again".into());
        let writes = vec![Write::Upsert(changed), Write::Delete(messages[7].id.clone())];
        reference.apply(writes.clone()).unwrap();
        engine.apply(writes).unwrap();
        engine.checkpoint().unwrap();
        same_store(&engine, &reference).unwrap();
        engine.close();
        assert_eq!(base_version(&path), CURRENT_FORMAT, "{fixture}: the checkpoint wrote the current format");
        assert_eq!(stored_as(&path), ContentStorage::Packed, "and the current build's way of keeping `content`");
        let report = msgdex::check(&path).expect("the directory checks");
        assert!(report.problems.is_empty(), "{fixture}: {:?}", report.problems);
        let reopened = LiveEngine::open(&path, options(SyncPolicy::Always)).unwrap();
        same_store(&reopened, &reference).unwrap();
    }
}
