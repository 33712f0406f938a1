//! Runs the real `msgdex` binary as a user would.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn msgdex(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_msgdex"))
        .args(args)
        .current_dir(ROOT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("stdout is not JSON ({error}): {}", String::from_utf8_lossy(&output.stdout)))
}

const DATA: &str = "fixtures/messages.jsonl";

/// The workspace root, where `fixtures/` is.
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

#[test]
fn list_prints_the_page_as_pretty_json() {
    let output = msgdex(&["list", "--data", DATA, "filters-channel=sms&sort_by=-date_time&attributes=channel"], b"");
    assert_eq!(output.status.code(), Some(0));
    let body = json(&output);
    assert!(body["item_count"].as_u64().unwrap() > 0);
    assert!(body["items"].as_array().unwrap().iter().all(|item| item["channel"] == "sms"));
    assert!(String::from_utf8_lossy(&output.stdout).contains("\n  \"item_count\""), "pretty printed");
    let with_mark =
        msgdex(&["list", "--data", DATA, "?filters-channel=sms&sort_by=-date_time&attributes=channel"], b"");
    assert_eq!(with_mark.stdout, output.stdout);
}

#[test]
fn list_reports_invalid_parameters_with_status_2() {
    let output = msgdex(&["list", "--data", DATA, "per_page=101&colour=red"], b"");
    assert_eq!(output.status.code(), Some(2));
    let body = json(&output);
    let keys: Vec<&String> = body["arg_errors"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["colour", "per_page"]);
}

#[test]
fn get_prints_the_full_message_or_404() {
    let output = msgdex(&["get", "--data", DATA, "6724fbcb4f73a2cebf638860"], b"");
    assert_eq!(output.status.code(), Some(0));
    let body = json(&output);
    assert_eq!(body["subject"], "Douglas Court brochure");
    assert_eq!(body.as_object().unwrap().len(), 31);
    let missing = msgdex(&["get", "--data", DATA, "no such id"], b"");
    assert_eq!(missing.status.code(), Some(2));
    assert!(json(&missing)["hint"].as_str().unwrap().contains("no such id"));
    let unicode = msgdex(&["get", "--data", DATA, "Ä-präfix-10"], b"");
    assert_eq!(json(&unicode)["_id"], "Ä-präfix-10");
}

#[test]
fn array_files_load_too() {
    let output = msgdex(&["get", "--data", "fixtures/api-example.json", "6724fbcb4f73a2cebf638860"], b"");
    assert_eq!(output.status.code(), Some(0));
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{ROOT}/fixtures/api-example.json")).unwrap()).unwrap();
    assert_eq!(json(&output), expected[0]);
}

#[test]
fn run_answers_one_line_per_request() {
    let input =
        b"/v1/messages?per_page=2\r\n\n/v1/messages/6724fbcb4f73a2cebf638860\n/v2/messages\n/v1/messages?page=0\n";
    let output = msgdex(&["run", "--data", DATA], input);
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8(output.stdout).unwrap();
    let statuses: Vec<u64> = text
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap()["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [200, 200, 404, 400]);
}

#[test]
fn bad_data_fails_with_status_1_and_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.jsonl");
    std::fs::write(&path, "{\"_id\":\"a\"}\n{\"_id\":\"b\",\"channel\":\"fax\"}\n").unwrap();
    let output = msgdex(&["list", "--data", path.to_str().unwrap(), ""], b"");
    assert_eq!(output.status.code(), Some(1));
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(error.contains("line 2") && error.contains("channel") && error.contains("fax"), "{error}");
    assert!(output.stdout.is_empty());
    let missing = msgdex(&["run", "--data", "no/such/file.jsonl"], b"");
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no/such/file.jsonl"));
}

#[test]
fn max_per_page_is_an_option() {
    let output = msgdex(&["list", "--data", DATA, "--max-per-page", "500", "per_page=200"], b"");
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(json(&output)["per_page"], 200);
}

#[test]
fn help_shows_examples() {
    for command in ["list", "get", "run"] {
        let output = msgdex(&[command, "--help"], b"");
        assert_eq!(output.status.code(), Some(0));
        assert!(String::from_utf8_lossy(&output.stdout).contains("Example"), "{command} --help");
    }
}

#[test]
fn gen_is_deterministic_and_matches_the_committed_sample() {
    let output = msgdex(&["gen", "--count", "200", "--seed", "1"], b"");
    assert_eq!(output.status.code(), Some(0));
    let committed = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/generated-200.jsonl")).unwrap();
    assert_eq!(output.stdout, committed, "same arguments, same bytes");
    let other_seed = msgdex(&["gen", "--count", "200", "--seed", "2"], b"");
    assert_ne!(other_seed.stdout, committed);
    let messages = msgdex::load_str(std::str::from_utf8(&committed).unwrap()).expect("generated data loads");
    assert_eq!(messages.len(), 200);
}

#[test]
fn gen_requests_tags_each_line_with_its_template() {
    let output =
        msgdex(&["gen-requests", "--data", "fixtures/generated-200.jsonl", "--seed", "3", "--per-template", "2"], b"");
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 36);
    for (index, line) in lines.iter().enumerate() {
        let (tag, target) = line.split_once('\t').expect("tagged");
        assert_eq!(tag, format!("T{:02}", index / 2 + 1));
        assert!(target.starts_with("/v1/messages"), "{target}");
    }
    let bare = msgdex(
        &["gen-requests", "--data", "fixtures/generated-200.jsonl", "--seed", "3", "--per-template", "2", "--no-tags"],
        b"",
    );
    let replayed = msgdex(&["run", "--data", "fixtures/generated-200.jsonl"], &bare.stdout);
    let answers = String::from_utf8(replayed.stdout).unwrap();
    assert_eq!(answers.lines().count(), 36);
    assert!(answers.lines().all(|line| line.starts_with("{\"status\":200,")), "every mix request is valid");
}

#[test]
fn run_replays_mixed_reads_and_writes_alike_on_both_engines() {
    // Existing Ids to replace and delete, taken from the fixture itself.
    let listed = msgdex(&["list", "--data", DATA, "per_page=3&sort_by=-_id"], b"");
    let ids: Vec<String> = json(&listed)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["_id"].as_str().unwrap().to_owned())
        .collect();
    let mut script = String::new();
    for round in 0..40 {
        script.push_str(&format!(
            "PUT /v1/messages/new-{round} {{\"channel\": \"sms\", \"correspondent\": \"Zoë Quïnn-Marker {round}\", \"date_time\": \"2030-01-{:02} 10:00:00\"}}\n",
            round % 28 + 1
        ));
        script.push_str(
            "/v1/messages?filters-channel=sms&sort_by=-date_time&per_page=5&page=2&attributes=correspondent\n",
        );
        if round % 7 == 0 {
            script.push_str(&format!("DELETE /v1/messages/new-{}\n", round / 2));
        }
    }
    script.push_str(&format!("PUT /v1/messages/{} {{\"channel\": \"email\", \"tags\": []}}\n", ids[0]));
    script.push_str(&format!("DELETE /v1/messages/{}\nDELETE /v1/messages/{}\n", ids[1], ids[1]));
    script.push_str(
        "PUT /v1/messages/bad {\"channel\": \"fax\"}\n/v1/messages?filters-q=QU%C3%8FNN-marker&per_page=100\n",
    );
    script.push_str(&format!("/v1/messages/{}\n/v1/messages?per_page=100&page=1&sort_by=-modified\n", ids[0]));
    let fast = msgdex(&["run", "--data", DATA], script.as_bytes());
    let reference = msgdex(&["run", "--data", DATA, "--engine", "reference"], script.as_bytes());
    assert_eq!(fast.status.code(), Some(0), "{}", String::from_utf8_lossy(&fast.stderr));
    assert_eq!(String::from_utf8_lossy(&fast.stdout), String::from_utf8_lossy(&reference.stdout));
    let lines: Vec<serde_json::Value> =
        String::from_utf8(fast.stdout).unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let statuses: Vec<u64> = lines.iter().map(|line| line["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses.iter().filter(|&&status| status == 201).count(), 40);
    assert_eq!(statuses[statuses.len() - 7..], [200, 204, 404, 400, 200, 200, 200]);
    let searched = &lines[lines.len() - 3]["body"];
    assert_eq!(searched["item_count"], 34, "40 new messages, 6 of them deleted");
    assert_eq!(lines[lines.len() - 2]["body"]["channel"], "email");
}

/// Waits up to `limit` for a line from `reader` on another thread.
fn read_line_within(
    reader: std::io::BufReader<std::process::ChildStdout>,
    limit: std::time::Duration,
) -> Option<(String, std::io::BufReader<std::process::ChildStdout>)> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = reader;
        let mut line = String::new();
        let _ = std::io::BufRead::read_line(&mut reader, &mut line);
        let _ = sender.send((line, reader));
    });
    receiver.recv_timeout(limit).ok()
}

#[test]
fn run_on_a_pipe_answers_each_line_before_the_next_is_sent() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_msgdex"))
        .args(["run", "--data", DATA])
        .current_dir(ROOT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    // A program that writes a request, then waits for its answer.
    for target in ["/v1/messages?per_page=1", "PUT /v1/messages/new {\"channel\": \"sms\"}", "/v1/messages/new"] {
        writeln!(stdin, "{target}").unwrap();
        stdin.flush().unwrap();
        let Some((line, reader)) = read_line_within(stdout, std::time::Duration::from_secs(10)) else {
            let _ = child.kill();
            panic!("no answer to {target:?} while stdin stays open");
        };
        stdout = reader;
        let answer: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert!(answer["status"].as_u64().unwrap() < 300, "{line}");
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
}

#[test]
fn run_splits_a_query_of_80000_distinct_parameters_in_linear_time() {
    let query: Vec<String> = (0..80_000).map(|number| format!("p{number}=1")).collect();
    let line = format!("/v1/messages?per_page=1&{}\n", query.join("&"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_msgdex"))
        .args(["run", "--data", DATA])
        .current_dir(ROOT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(line.as_bytes()).unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || sender.send(child.wait_with_output()));
    // Quadratic grouping took 18 s here; linear takes well under a second.
    let output = receiver
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("80,000 parameters are answered within 10 s")
        .unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let errors = answer["body"]["arg_errors"].as_object().unwrap();
    assert_eq!(errors.len(), 80_000, "every unknown parameter is named");
    assert!(errors.contains_key("p79999"));
}

#[test]
fn run_refuses_a_line_past_max_line_bytes_and_goes_on() {
    let long = format!("/v1/messages?filters-q={}\n", "a".repeat(200));
    let input = format!("/v1/messages?per_page=1\n{long}/v1/messages?per_page=1\n");
    let output = msgdex(&["run", "--data", DATA, "--max-line-bytes", "100"], input.as_bytes());
    assert!(output.status.success());
    let lines: Vec<serde_json::Value> =
        String::from_utf8(output.stdout).unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let statuses: Vec<u64> = lines.iter().map(|line| line["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, [200, 400, 200]);
    assert!(lines[1]["body"]["hint"].as_str().unwrap().contains("--max-line-bytes"));
}

#[test]
fn explain_command_prints_plan_and_execution() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_msgdex"))
        .current_dir(ROOT)
        .args([
            "explain",
            "--data",
            "fixtures/messages.jsonl",
            "filters-channel=sms&filters-q=zo%C3%AB&sort_by=-date_time",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8(output.stdout).unwrap();
    for needle in ["plan over 60 messages", "`channel` is one of 1", "suffix array", "page strategy used", "item_count"]
    {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
    let invalid = std::process::Command::new(env!("CARGO_BIN_EXE_msgdex"))
        .current_dir(ROOT)
        .args(["explain", "--data", "fixtures/messages.jsonl", "page=0"])
        .output()
        .unwrap();
    assert_eq!(invalid.status.code(), Some(2));
}

#[test]
fn a_reader_that_goes_away_ends_the_command_quietly() {
    // Enough output to outlast the pipe's buffer once the reader is gone.
    let mut child = Command::new(env!("CARGO_BIN_EXE_msgdex"))
        .args(["list", "--data", "fixtures/generated-200.jsonl", "per_page=100&attributes=content&attributes=tags"])
        .current_dir(ROOT)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut first).unwrap();
    assert_eq!(first, "{\n");
    drop(stdout);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked") && stderr.is_empty(), "{stderr}");
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn list_takes_a_query_a_path_or_a_whole_url() {
    let query = "filters-channel=sms&per_page=2&attributes=channel";
    let expected = msgdex(&["list", "--data", DATA, query], b"").stdout;
    for argument in [
        format!("?{query}"),
        format!("/v1/messages?{query}"),
        format!("https://api.carehq.co.uk/v1/messages?{query}"),
        format!("http://127.0.0.1:8080/v1/messages?{query}"),
    ] {
        let output = msgdex(&["list", "--data", DATA, &argument], b"");
        assert_eq!(output.status.code(), Some(0), "{argument}");
        assert_eq!(output.stdout, expected, "{argument}");
    }
}

#[test]
fn errors_say_how_to_put_things_right() {
    let joined = msgdex(&["list", "--data", DATA, "filters-channel=sms,email"], b"");
    assert_eq!(joined.status.code(), Some(2));
    let body = json(&joined);
    let hint = body["arg_errors"]["filters-channel"][0].as_str().unwrap();
    assert!(hint.contains("filters-channel=sms&filters-channel=email"), "{hint}");
    let directory = tempfile::tempdir().unwrap();
    let pretty = directory.path().join("pretty.json");
    std::fs::write(&pretty, "{\n  \"_id\": \"a\",\n  \"channel\": \"sms\"\n}\n").unwrap();
    let refused = msgdex(&["list", "--data", pretty.to_str().unwrap()], b"");
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("pretty-printed") && stderr.contains("JSON array"), "{stderr}");
    let empty = directory.path().join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let warned = msgdex(&["list", "--data", empty.to_str().unwrap()], b"");
    assert_eq!(warned.status.code(), Some(0));
    assert_eq!(json(&warned)["item_count"], 0);
    assert!(String::from_utf8_lossy(&warned.stderr).contains("holds no messages"));
}

#[test]
fn each_command_lists_only_its_own_options() {
    let help = |command: &str| String::from_utf8(msgdex(&[command, "--help"], b"").stdout).unwrap();
    assert!(!help("get").contains("--max-per-page"), "get answers no list request");
    for command in ["list", "run", "serve"] {
        assert!(help(command).contains("--max-per-page"), "{command}");
    }
    assert!(!help("list").contains("--rate-limit"));
    let top = String::from_utf8(msgdex(&["--help"], b"").stdout).unwrap();
    for command in ["list", "get", "explain", "run", "serve", "bench", "gen"] {
        assert!(top.contains(&format!("  {command}")), "the binary has `{command}`: {top}");
    }
}

#[test]
fn bench_draws_its_medians_as_a_chart() {
    let directory = tempfile::tempdir().unwrap();
    let chart = directory.path().join("medians.svg");
    let output = msgdex(
        &[
            "bench",
            "--data",
            "fixtures/generated-200.jsonl",
            "--per-template",
            "2",
            "--slow-per-template",
            "1",
            "--throughput-seconds",
            "0.1",
            "--chart",
            chart.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let svg = std::fs::read_to_string(&chart).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..100.min(svg.len())]);
    for label in ["T01", "T18", "msgdex", "reference", "log scale"] {
        assert!(svg.contains(label), "the chart names {label}");
    }
    assert!(svg.matches("<rect").count() >= 2 * 18, "a bar per engine and template");
}

#[test]
fn a_data_directory_is_imported_queried_written_and_checked() {
    let directory = tempfile::tempdir().unwrap();
    let store = directory.path().join("messages.db");
    let store = store.to_str().unwrap();
    let imported = msgdex(&["import", "--data", DATA, "--into", store], b"");
    assert_eq!(imported.status.code(), Some(0), "{}", String::from_utf8_lossy(&imported.stderr));
    assert!(String::from_utf8_lossy(&imported.stderr).contains("imported 60 messages"));
    // The directory answers every command as the file does.
    let query = "filters-q=zo%C3%AB&sort_by=-date_time&attributes=correspondent";
    assert_eq!(
        msgdex(&["list", "--data", store, query], b"").stdout,
        msgdex(&["list", "--data", DATA, query], b"").stdout
    );
    let explained = msgdex(&["explain", "--data", store, query], b"");
    assert_eq!(explained.status.code(), Some(0));
    let reference = msgdex(&["list", "--data", store, "--engine", "reference", query], b"");
    assert_eq!(reference.stdout, msgdex(&["list", "--data", DATA, query], b"").stdout);
    // Writes are kept: a later command sees them.
    let written = msgdex(
        &["run", "--data", store, "--sync", "interval=5"],
        b"PUT /v1/messages/new-1 {\"subject\": \"kept\"}\nDELETE /v1/messages/6724fbcb4f73a2cebf638860\n",
    );
    let lines = String::from_utf8_lossy(&written.stdout);
    assert!(lines.starts_with("{\"status\":201") && lines.contains("{\"status\":204"), "{lines}");
    assert_eq!(json(&msgdex(&["get", "--data", store, "new-1"], b""))["subject"], "kept");
    assert_eq!(msgdex(&["get", "--data", store, "6724fbcb4f73a2cebf638860"], b"").status.code(), Some(2));
    let checked = msgdex(&["check", store], b"");
    assert_eq!(checked.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&checked.stdout).contains("2 log records"),
        "{}",
        String::from_utf8_lossy(&checked.stdout)
    );
    // Importing over it is refused, and changes nothing.
    let again = msgdex(&["import", "--data", DATA, "--into", store], b"");
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    assert_eq!(json(&msgdex(&["get", "--data", store, "new-1"], b""))["subject"], "kept");
}

/// `--content plain` keeps `content` as it came: the answers are the same
/// byte for byte, from a file and from a data directory (`msgdex check`
/// says which way its base holds). tests/durable.rs checks that
/// checkpoints keep the way or change it as told.
#[test]
fn content_is_kept_packed_or_plain_with_the_same_answers() {
    let query = "per_page=100&attributes=content&attributes=subject&sort_by=-date_time";
    let packed = msgdex(&["list", "--data", DATA, query], b"");
    assert_eq!(packed.status.code(), Some(0));
    assert_eq!(msgdex(&["list", "--data", DATA, "--content", "plain", query], b"").stdout, packed.stdout);
    let directory = tempfile::tempdir().unwrap();
    let store = directory.path().join("plain.db");
    let store = store.to_str().unwrap();
    let imported = msgdex(&["import", "--data", DATA, "--into", store, "--content", "plain"], b"");
    assert_eq!(imported.status.code(), Some(0), "{}", String::from_utf8_lossy(&imported.stderr));
    let held_as = |expected: &str| {
        let checked = msgdex(&["check", store], b"");
        let said = String::from_utf8_lossy(&checked.stdout).into_owned();
        assert!(said.contains(&format!("(`content` {expected})")), "{said}");
    };
    held_as("plain");
    assert_eq!(msgdex(&["list", "--data", store, query], b"").stdout, packed.stdout);
    let written = msgdex(&["run", "--data", store], b"PUT /v1/messages/new-1 {\"subject\": \"kept\"}\n");
    assert!(String::from_utf8_lossy(&written.stdout).starts_with("{\"status\":201"), "{written:?}");
    assert_eq!(json(&msgdex(&["get", "--data", store, "new-1"], b""))["subject"], "kept");
    // A read-only command leaves the directory as it is stored, and says so.
    let read = msgdex(&["list", "--data", store, "--content", "plain", query], b"");
    assert!(String::from_utf8_lossy(&read.stderr).contains("--content plain is left aside"), "{read:?}");
    let bench_options = ["--per-template", "1", "--slow-per-template", "1", "--throughput-seconds", "0.05"];
    let benched = msgdex(&[&["bench", "--data", store, "--content", "packed"][..], &bench_options].concat(), b"");
    assert_eq!(benched.status.code(), Some(0), "{benched:?}");
    assert!(String::from_utf8_lossy(&benched.stderr).contains("--content packed is left aside"), "{benched:?}");
    held_as("plain");
    // A writing command told otherwise changes the directory's way from
    // when it opens it, writes or not; the answers are the same.
    let converted = msgdex(&["run", "--data", store, "--content", "packed"], b"");
    assert_eq!(converted.status.code(), Some(0), "{converted:?}");
    held_as("packed");
    assert_eq!(json(&msgdex(&["get", "--data", store, "new-1"], b""))["subject"], "kept");
    let refused = msgdex(&["list", "--data", DATA, "--content", "zip", query], b"");
    assert_eq!(refused.status.code(), Some(2));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("\"zip\" is not a way to store `content`: use `packed` or `plain`"), "{said}");
}

#[test]
fn a_bad_sync_policy_or_a_damaged_directory_is_explained() {
    let bad = msgdex(&["run", "--data", DATA, "--sync", "sometimes"], b"");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("always, never or interval=MS"));
    let directory = tempfile::tempdir().unwrap();
    let store = directory.path().join("store");
    let store_text = store.to_str().unwrap();
    assert_eq!(msgdex(&["import", "--data", DATA, "--into", store_text], b"").status.code(), Some(0));
    let base = store.join("base-00000000000000000000.seg");
    let mut bytes = std::fs::read(&base).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    std::fs::write(&base, bytes).unwrap();
    for args in [&["list", "--data", store_text][..], &["check", store_text][..]] {
        let refused = msgdex(args, b"");
        assert_eq!(refused.status.code(), Some(1), "{args:?}");
        let error = String::from_utf8_lossy(&refused.stderr);
        assert!(error.contains("base-00000000000000000000.seg is damaged at byte"), "{error}");
    }
    let empty = tempfile::tempdir().unwrap();
    let not_a_store = msgdex(&["list", "--data", empty.path().to_str().unwrap()], b"");
    assert!(String::from_utf8_lossy(&not_a_store.stderr).contains("msgdex import --data FILE --into DIR"));
}
