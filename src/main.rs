//! The `msgdex` command line: query a JSON or JSON Lines file of messages
//! as the CareHQ Messages API would answer.

use std::io;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use msgdex::{load, Engine, QueryLimits, ReferenceEngine};

/// Query CareHQ messages held in memory, with the Messages API's semantics.
#[derive(Parser)]
#[command(name = "msgdex", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Options shared by every command that loads a data file.
#[derive(clap::Args)]
struct DataOptions {
    /// Messages to load: a JSON array or JSON Lines file.
    #[arg(long, value_name = "FILE")]
    data: PathBuf,
    /// The largest `per_page` a request may ask for.
    #[arg(long, value_name = "N", default_value_t = msgdex::request::DEFAULT_MAX_PER_PAGE,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_per_page: u32,
}

#[derive(Subcommand)]
enum Command {
    /// List messages: print the body of GET /v1/messages?QUERY as pretty JSON.
    #[command(after_help = "Example:\n  msgdex list --data fixtures/messages.jsonl \
'filters-channel=sms&sort_by=-date_time&attributes=correspondent'\n\n\
Exit status: 0 on success, 2 when the request is invalid (the 400 body is printed), \
1 when the data cannot be loaded.")]
    List {
        #[command(flatten)]
        data: DataOptions,
        /// The query string (a leading `?` is allowed), or a whole request
        /// target such as `/v1/messages?page=2`.
        #[arg(default_value = "")]
        query: String,
    },
    /// Retrieve one message: print the body of GET /v1/messages/ID as pretty JSON.
    #[command(after_help = "Example:\n  msgdex get --data fixtures/messages.jsonl 6724fbcb4f73a2cebf638860\n\n\
Exit status: 0 on success, 2 when no message has the Id (the 404 body is printed), \
1 when the data cannot be loaded.")]
    Get {
        #[command(flatten)]
        data: DataOptions,
        /// The message Id, as stored (not percent-encoded).
        id: String,
    },
    /// Answer request lines from stdin, one response line each (SPEC §7).
    #[command(after_help = "Example:\n  printf '/v1/messages?filters-channel=sms\\n/v1/messages/abc\\n' | \
msgdex run --data fixtures/messages.jsonl\n\n\
Each line of stdin is a request target; each answer is one line {\"status\":…,\"body\":…}.")]
    Run {
        #[command(flatten)]
        data: DataOptions,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match execute(cli.command) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("msgdex: {message}");
            ExitCode::from(1)
        }
    }
}

fn open_engine(options: &DataOptions) -> Result<Box<dyn Engine>, String> {
    let messages = load::load_path(&options.data).map_err(|error| error.to_string())?;
    let limits = QueryLimits { max_per_page: options.max_per_page };
    Ok(Box::new(ReferenceEngine::with_limits(messages, limits)))
}

fn execute(command: Command) -> Result<ExitCode, String> {
    let response = match command {
        Command::List { data, query } => {
            let engine = open_engine(&data)?;
            let target = if query.starts_with('/') {
                query
            } else {
                format!("{}?{}", msgdex::request::MESSAGES_PATH, query.strip_prefix('?').unwrap_or(&query))
            };
            engine.respond(&target)
        }
        Command::Get { data, id } => {
            let engine = open_engine(&data)?;
            let mut body = Vec::new();
            if engine.retrieve_into(&id, &mut body) {
                msgdex::Response::ok(String::from_utf8(body).expect("bodies are UTF-8"))
            } else {
                let encoded = percent_encode_id(&id);
                engine.respond(&format!("{}/{encoded}", msgdex::request::MESSAGES_PATH))
            }
        }
        Command::Run { data } => {
            let engine = open_engine(&data)?;
            let stdin = io::stdin().lock();
            let stdout = io::stdout().lock();
            msgdex::transcript::run_transcript(engine.as_ref(), stdin, stdout)
                .map_err(|error| format!("cannot answer requests: {error}"))?;
            return Ok(ExitCode::SUCCESS);
        }
    };
    println!("{}", response.pretty_body());
    Ok(if response.status == 200 { ExitCode::SUCCESS } else { ExitCode::from(2) })
}

/// An Id made safe to put in a path, so the 404 body names it as given.
fn percent_encode_id(id: &str) -> String {
    percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC).to_string()
}
