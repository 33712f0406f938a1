//! The `msgdex` command line: query a JSON or JSON Lines file of messages
//! as the CareHQ Messages API would answer, replay transcripts, serve the
//! API over HTTP, and run the benchmarks.

mod args;
mod chart;
mod engines;
mod output;
mod progress;
mod serve;
mod stream;
mod sync;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;
use msgdex::{Engine, ListQuery, QueryLimits};

use args::{Cli, Command, QueryOptions};
use output::{print_line, Failure};

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: msgdex_bench::process::Allocator = msgdex_bench::process::Allocator;

fn main() -> ExitCode {
    msgdex_bench::process::prepare_process_memory();
    let cli = Cli::parse();
    match execute(cli.command) {
        Ok(code) => code,
        Err(Failure::OutputClosed) => ExitCode::SUCCESS,
        Err(Failure::Message(message)) => {
            // A closed or broken stderr must not turn an error into a panic.
            let _ = writeln!(io::stderr(), "msgdex: {message}");
            ExitCode::from(1)
        }
    }
}

fn limits(options: &QueryOptions) -> QueryLimits {
    QueryLimits { max_per_page: options.max_per_page }
}

/// The request target a `list` argument names: a query string (a leading
/// `?` allowed), a target such as `/v1/messages?page=2`, or a whole URL
/// pasted from a client's logs (`https://host/v1/messages?…`).
fn list_target(argument: &str) -> String {
    let without_origin = match argument.split_once("://") {
        Some((scheme, rest)) if !scheme.is_empty() && scheme.bytes().all(|byte| byte.is_ascii_alphanumeric()) => {
            rest.find('/').map_or("/", |path| &rest[path..])
        }
        _ => argument,
    };
    if without_origin.starts_with('/') {
        without_origin.to_owned()
    } else {
        format!("{}?{}", msgdex::MESSAGES_PATH, without_origin.strip_prefix('?').unwrap_or(without_origin))
    }
}

/// Prints a response's body; exit status 0 for a 200, 2 otherwise.
fn print_response(response: &msgdex::Response) -> Result<ExitCode, Failure> {
    print_line(&response.pretty_body())?;
    Ok(if response.status == 200 { ExitCode::SUCCESS } else { ExitCode::from(2) })
}

fn execute(command: Command) -> Result<ExitCode, Failure> {
    match command {
        Command::List { data, query_options, query } => {
            let engine = engines::open(&data, limits(&query_options))?;
            print_response(&engine.respond(&list_target(&query)))
        }
        Command::Get { data, id } => {
            let engine = engines::open(&data, QueryLimits::default())?;
            let mut body = Vec::new();
            let response = if engine.retrieve_into(&id, &mut body) {
                msgdex::Response::ok(String::from_utf8(body).expect("bodies are UTF-8"))
            } else {
                engine.respond(&format!("{}/{}", msgdex::MESSAGES_PATH, percent_encode_id(&id)))
            };
            print_response(&response)
        }
        Command::Explain { data, storage, query } => {
            let engine = engines::load_fast(&data, storage)?;
            let target = list_target(&query);
            let query = target.split_once('?').map_or("", |(_, query)| query);
            match ListQuery::parse(query, &engine.limits()) {
                Ok(list) => {
                    print_line(&engine.explain(&list).to_string())?;
                    Ok(ExitCode::SUCCESS)
                }
                Err(error) => print_response(&msgdex::Response::bad_request(error.arg_errors())),
            }
        }
        Command::Import { data, into, storage } => {
            let size = std::fs::metadata(&data).map_or(0, |metadata| metadata.len());
            let bar = progress::loading(&data, size);
            let imported =
                msgdex::import(&data, &into, storage.or_default(), |progress| bar.set_position(progress.bytes_read));
            bar.finish_and_clear();
            let report = imported.map_err(|error| error.to_string())?;
            if report.messages == 0 {
                output::warn(&format!("{} holds no messages: the data directory is empty", data.display()));
            }
            let _ = writeln!(
                io::stderr(),
                "msgdex: imported {} messages into {} ({} bytes)",
                report.messages,
                into.display(),
                report.bytes
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { directory } => {
            let report = msgdex::check(&directory).map_err(|error| error.to_string())?;
            let mut lines = vec![format!(
                "{}: {} messages in the base (`content` {}), {} log records in {} files, {} messages in all",
                directory.display(),
                report.base_messages,
                report.content,
                report.log_records,
                report.log_files,
                report.messages
            )];
            if let Some(torn) = &report.torn {
                lines.push(format!("a torn record ends the log; opening it will have {torn}"));
            }
            lines.extend(report.problems.iter().map(|problem| format!("damaged: {problem}")));
            if report.problems.is_empty() {
                lines.push("every checksum holds and every index agrees with the rows".to_owned());
            }
            print_line(&lines.join("\n"))?;
            Ok(if report.problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Serve { data, query_options, durability, bind, keys, no_auth, limits: bounds, follow, stream } => {
            let options =
                serve::ServeOptions { bind, keys, no_auth, bounds: &bounds, follow: &follow, stream: &stream };
            serve::serve(&data, limits(&query_options), durability.store_options(data.storage), &options)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Sync { from, into, reconcile, follow, follow_args, durability, storage, to_stream } => {
            let target =
                sync::SyncTarget { into: &into, store: durability.store_options(storage), to_stream: &to_stream };
            sync::run_sync(&from, target, reconcile, follow, &follow_args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            data,
            durable,
            engines,
            threads,
            per_template,
            slow_per_template,
            seed,
            throughput_seconds,
            writes,
            steady_writes,
            chart,
            storage,
        } => {
            use msgdex_bench::harness::{BenchConfig, EngineKind};
            let mut kinds = Vec::new();
            for name in &engines {
                let kind = EngineKind::parse(name)
                    .ok_or_else(|| format!("unknown engine {name:?}; the engines are msgdex, reference, sqlite"))?;
                if kind != EngineKind::Msgdex && !kinds.contains(&kind) {
                    kinds.push(kind);
                }
            }
            let threads = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
            engines::warn_if_content_left_aside(&data, storage);
            let config = BenchConfig {
                data,
                engines: kinds,
                threads,
                per_template: per_template.max(1),
                slow_per_template: slow_per_template.min(per_template.max(1)),
                seed,
                throughput_seconds,
                writes,
                steady_writes_per_second: steady_writes,
                durable,
                content: storage.or_default(),
            };
            let spinner = progress::steps();
            let report = msgdex_bench::harness::run(config, &mut |step| {
                if spinner.is_hidden() {
                    let _ = writeln!(io::stderr(), "msgdex bench: {step}…");
                } else {
                    spinner.set_message(step.to_owned());
                }
            });
            spinner.finish_and_clear();
            let report = report?;
            if let Some(path) = chart {
                chart::draw(&report, &path)?;
            }
            print_line(&report.to_markdown())?;
            Ok(if report.disagreements.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(3) })
        }
        Command::Gen { count, seed, shape, out } => {
            let generator = msgdex_bench::workload::data::DataGenerator::with_shape(count, seed, shape);
            let bar = progress::generating(count);
            let written = match &out {
                Some(path) => {
                    let file = std::fs::File::create(path)
                        .map_err(|error| format!("cannot create {}: {error}", path.display()))?;
                    generator.write_json_lines(progress::CountLines::new(file, bar.clone()))
                }
                None => generator.write_json_lines(progress::CountLines::new(io::stdout().lock(), bar.clone())),
            };
            bar.finish_and_clear();
            written.map_err(|error| Failure::of_output(error, "the data"))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::GenRequests { data, seed, per_template, no_tags } => {
            let messages = msgdex::load_path(&data).map_err(|error| error.to_string())?;
            let mut out = io::BufWriter::new(io::stdout().lock());
            for request in msgdex_bench::workload::mix::generate(&messages, seed, per_template) {
                let written = if no_tags {
                    writeln!(out, "{}", request.target)
                } else {
                    writeln!(out, "{}\t{}", request.template, request.target)
                };
                written.map_err(|error| Failure::of_output(error, "requests"))?;
            }
            out.flush().map_err(|error| Failure::of_output(error, "requests"))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Run { data, query_options, durability, max_line_bytes } => {
            let store = engines::open_writable(&data, limits(&query_options), durability.store_options(data.storage))?;
            let options = msgdex::transcript::TranscriptOptions {
                max_line_bytes,
                // A program may write a request and wait for its answer on a
                // pipe or a terminal; a file is answered in large writes.
                flush_each_line: !stdin_is_a_file(),
            };
            let stdin = io::stdin().lock();
            let stdout = io::stdout().lock();
            msgdex::transcript::run_writable_transcript(store.engine.as_ref(), stdin, stdout, options).map_err(
                |error| match error.kind() {
                    io::ErrorKind::BrokenPipe => Failure::OutputClosed,
                    _ => Failure::Message(format!("cannot answer requests: {error}")),
                },
            )?;
            store.finish();
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Whether standard input is a regular file (not a pipe or a terminal).
fn stdin_is_a_file() -> bool {
    use std::os::fd::AsFd as _;
    io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .ok()
        .and_then(|fd| std::fs::File::from(fd).metadata().ok())
        .is_some_and(|metadata| metadata.is_file())
}

/// An Id made safe to put in a path, so the 404 body names it as given.
fn percent_encode_id(id: &str) -> String {
    percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC).to_string()
}
