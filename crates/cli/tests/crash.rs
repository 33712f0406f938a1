//! The crash loop: `msgdex run` applies random writes to a data directory,
//! printing each acknowledgement, and is killed with SIGKILL at a random
//! moment — while it opens and recovers, appends, syncs, flushes or writes
//! a checkpoint. Each time the directory is reopened and must equal the
//! reference that applied exactly the acknowledged writes, plus the one in
//! flight either whole or not at all.
//!
//! CI kills 50 times; `MSGDEX_CRASH_KILLS=1000` runs a longer loop.

use std::io::{BufRead, BufReader, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use msgdex::{LiveEngine, Message, ReferenceEngine, StoreOptions, Write};

/// A small deterministic generator (xorshift), so that a failing round can
/// be replayed from its seed.
struct Random(u64);

impl Random {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

fn random_write(random: &mut Random, serial: u64) -> Write {
    let id = format!("m{:03}", random.below(120));
    match random.below(4) {
        0 => Write::Delete(id),
        _ => Write::Upsert(Message {
            subject: Some(format!("Zoë's note {serial}")),
            tags: (random.below(2) == 0).then(|| vec![format!("t{}", random.below(5))]),
            ..Message::with_id(id)
        }),
    }
}

fn line_of(write: &Write) -> String {
    match write {
        Write::Upsert(message) | Write::Insert(message) => {
            format!("PUT /v1/messages/{} {}\n", message.id, serde_json::to_string(message).unwrap())
        }
        Write::Delete(id) => format!("DELETE /v1/messages/{id}\n"),
    }
}

/// Starts `msgdex run` on `store`, feeds it `writes`, kills it after
/// `delay`, and returns how many writes it acknowledged.
fn run_and_kill(store: &Path, writes: &[Write], delay: Duration) -> usize {
    let mut child = Command::new(env!("CARGO_BIN_EXE_msgdex"))
        .args(["run", "--data"])
        .arg(store)
        .args(["--tail-limit", "4", "--checkpoint-rows", "40"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("msgdex runs");
    let mut stdin = child.stdin.take().unwrap();
    let lines: Vec<String> = writes.iter().map(line_of).collect();
    let feeder = std::thread::spawn(move || {
        for line in lines {
            if stdin.write_all(line.as_bytes()).is_err() {
                return;
            }
        }
        // Keep stdin open: the run ends by the kill, not by end of input.
        std::thread::sleep(Duration::from_secs(30));
    });
    let stdout = child.stdout.take().unwrap();
    let reader =
        std::thread::spawn(move || BufReader::new(stdout).lines().map_while(Result::ok).collect::<Vec<String>>());
    std::thread::sleep(delay);
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    let answers = reader.join().unwrap();
    drop(feeder);
    for answer in &answers {
        assert!(
            answer.starts_with("{\"status\":20") || answer.starts_with("{\"status\":404"),
            "an acknowledged write failed: {answer}"
        );
    }
    answers.len()
}

#[test]
fn killed_at_random_moments_the_store_keeps_exactly_the_acknowledged_writes() {
    let kills: u64 = std::env::var("MSGDEX_CRASH_KILLS").ok().and_then(|value| value.parse().ok()).unwrap_or(50);
    let directory = tempfile::tempdir().unwrap();
    let store = directory.path().join("store");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/generated-200.jsonl");
    msgdex::import(&fixture, &store, msgdex::ContentStorage::Packed, |_| {}).unwrap();
    let mut reference = ReferenceEngine::new(msgdex::load_path(&fixture).unwrap());
    let mut serial = 0;
    let (mut whole, mut none) = (0, 0);
    for round in 0..kills {
        let mut random = Random(0x9E37_79B9_7F4A_7C15 ^ (round + 1));
        let writes: Vec<Write> = (0..300)
            .map(|_| {
                serial += 1;
                random_write(&mut random, serial)
            })
            .collect();
        let delay = Duration::from_micros(2_000 + random.below(60_000));
        let acknowledged = run_and_kill(&store, &writes, delay);
        for write in &writes[..acknowledged] {
            let _ = reference.apply(vec![write.clone()]);
        }
        let reopened = LiveEngine::open(&store, StoreOptions::default())
            .unwrap_or_else(|error| panic!("round {round}: the directory does not open: {error}"));
        let found = msgdex::testing::every_page(&reopened);
        if found == msgdex::testing::every_page(&reference) {
            none += 1;
        } else {
            let in_flight =
                writes.get(acknowledged).unwrap_or_else(|| panic!("round {round}: differs, nothing in flight"));
            let mut with_it = ReferenceEngine::new(reference.messages().to_vec());
            let _ = with_it.apply(vec![in_flight.clone()]);
            assert_eq!(
                found,
                msgdex::testing::every_page(&with_it),
                "round {round}: neither without nor with the write in flight"
            );
            reference = with_it;
            whole += 1;
        }
        reopened.close();
    }
    eprintln!("{kills} kills: the write in flight was kept whole {whole} times and absent {none} times");
    let report = msgdex::check(&store).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let manifest = std::fs::read_to_string(store.join("MANIFEST")).unwrap();
    assert!(!manifest.contains("base-00000000000000000000.seg"), "checkpoints were written: {manifest}");
}

/// A real write error from the kernel, not an injected one: `msgdex run`
/// under a file-size limit (`RLIMIT_FSIZE`, SIGXFSZ ignored) gets EFBIG
/// once its log would pass the limit. Every write past it is answered 503
/// and applied nowhere; after a restart without the limit, the store holds
/// exactly the writes acknowledged before, and takes writes again.
#[test]
fn a_real_write_error_refuses_writes_and_loses_nothing_acknowledged() {
    use std::os::unix::process::CommandExt;
    let directory = tempfile::tempdir().unwrap();
    let store = directory.path().join("store");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/messages.jsonl");
    msgdex::import(&fixture, &store, msgdex::ContentStorage::Packed, |_| {}).unwrap();
    let lines: String = (0..40)
        .map(|number| {
            line_of(&Write::Upsert(Message {
                subject: Some(format!("note {number}")),
                ..Message::with_id(format!("limited-{number:02}"))
            }))
        })
        .collect();
    let mut command = Command::new(env!("CARGO_BIN_EXE_msgdex"));
    command.args(["run", "--data"]).arg(&store).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null());
    // SAFETY: between fork and exec only async-signal-safe calls are made
    // (setrlimit, signal), on the child's own limits and dispositions.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit { rlim_cur: 8_000, rlim_max: 8_000 };
            libc::setrlimit(libc::RLIMIT_FSIZE, &limit);
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    let mut child = command.spawn().unwrap();
    child.stdin.take().unwrap().write_all(lines.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let answers: Vec<String> = String::from_utf8_lossy(&output.stdout).lines().map(str::to_owned).collect();
    assert_eq!(answers.len(), 40, "one answer per line");
    let accepted = answers.iter().take_while(|answer| answer.starts_with("{\"status\":201")).count();
    assert!(accepted > 0 && accepted < 40, "the limit was reached after {accepted} writes");
    for answer in &answers[accepted..] {
        assert!(answer.starts_with("{\"status\":503"), "{answer}");
        assert!(answer.contains("File too large") && answer.contains("nothing was applied"), "{answer}");
    }
    let reopened = LiveEngine::open(&store, StoreOptions::default()).unwrap();
    let mut expected = ReferenceEngine::new(msgdex::load_path(&fixture).unwrap());
    for number in 0..accepted {
        let message =
            Message { subject: Some(format!("note {number}")), ..Message::with_id(format!("limited-{number:02}")) };
        expected.apply(vec![Write::Upsert(message)]).unwrap();
    }
    assert_eq!(msgdex::testing::every_page(&reopened), msgdex::testing::every_page(&expected));
    msgdex::Writable::upsert(&reopened, Message::with_id("after the limit")).expect("writable again");
    reopened.close();
}
