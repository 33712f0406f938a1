//! A candidate layout for `filters-q` beside a `location` (T16), measured
//! and not built: the rows of each lower-cased *word* of `correspondent`,
//! `destination` and `origin` (a longest run of alphanumeric characters of
//! the lower-cased text), sorted by `location` with a directory of where
//! each location's part starts. A lower-cased needle of alphanumeric
//! characters only lies inside one word wherever it occurs, so its rows
//! are those of the words holding it; a request naming one location
//! reads that location's part of each, and tests a byte per entry for the
//! closed-set filters.
//!
//! `cargo run --release -p msgdex-bench --example word_postings --
//! bench-data/1m.jsonl requests.tsv` (`msgdex gen-requests` lines) builds it
//! from the file's messages, answers the file's T16 requests from it, and
//! checks each count against the fast engine's `item_count`. It prints the
//! entries and bytes the layout holds, and the median time of a count: the
//! words' parts read (what the layout decides), and apart from it a plain
//! scan of the vocabulary for the words holding the needle (a real build
//! would search the vocabulary's own sorted suffixes).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use msgdex::{DeliveryStatus, Direction, Engine, FastEngine, Message};

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: msgdex_bench::process::Allocator = msgdex_bench::process::Allocator;

/// The closed-set filters T16 names, as one byte per row: direction and
/// delivery status (0 for `null`).
fn cell(direction: Option<Direction>, status: Option<DeliveryStatus>) -> u8 {
    direction.map_or(0, |direction| direction.code() + 1) * 8 + status.map_or(0, |status| status.code() + 1)
}

/// The distinct lower-cased words of a message's three searched fields.
fn words_of(message: &Message) -> Vec<String> {
    let mut words: Vec<String> = [&message.correspondent, &message.destination, &message.origin]
        .into_iter()
        .flatten()
        .flat_map(|text| {
            text.to_lowercase()
                .split(|character: char| !character.is_alphanumeric())
                .filter(|word| !word.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    words.sort_unstable();
    words.dedup();
    words
}

/// Every word's rows, sorted by location, with each location's start.
struct WordPostings {
    /// The words, sorted.
    words: Vec<String>,
    /// Word `w`'s entries are `rows[entry_starts[w]..entry_starts[w + 1]]`
    /// (and the same of `cells`).
    entry_starts: Vec<u32>,
    /// Each entry's row, ascending within a word's location.
    rows: Vec<u32>,
    /// Each entry's row's [`cell`].
    cells: Vec<u8>,
    /// Word `w`'s locations and where each one's entries start:
    /// `directory[directory_starts[w]..directory_starts[w + 1]]`.
    directory_starts: Vec<u32>,
    /// `(location, first entry)` of each word's locations, ascending.
    directory: Vec<(u16, u32)>,
}

impl WordPostings {
    /// The postings of `messages`, whose locations are numbered by
    /// `location_of` (0 for `null`).
    fn build(messages: &[Message], location_of: &HashMap<&str, u16>) -> WordPostings {
        let mut by_word: HashMap<String, Vec<(u16, u32, u8)>> = HashMap::new();
        for (row, message) in messages.iter().enumerate() {
            let location = message.location.as_deref().map_or(0, |location| location_of[location]);
            let cell = cell(message.direction, message.delivery_status);
            for word in words_of(message) {
                by_word.entry(word).or_default().push((location, row as u32, cell));
            }
        }
        let mut words: Vec<String> = by_word.keys().cloned().collect();
        words.sort_unstable();
        let mut postings = WordPostings {
            words: Vec::new(),
            entry_starts: vec![0],
            rows: Vec::new(),
            cells: Vec::new(),
            directory_starts: vec![0],
            directory: Vec::new(),
        };
        for word in words {
            let mut entries = by_word.remove(&word).expect("a word listed");
            entries.sort_unstable();
            for (index, &(location, row, cell)) in entries.iter().enumerate() {
                if index == 0 || entries[index - 1].0 != location {
                    postings.directory.push((location, postings.rows.len() as u32));
                }
                postings.rows.push(row);
                postings.cells.push(cell);
            }
            postings.entry_starts.push(postings.rows.len() as u32);
            postings.directory_starts.push(postings.directory.len() as u32);
            postings.words.push(word);
        }
        postings
    }

    /// The bytes the layout would hold, stored compactly (not this
    /// program's heap).
    fn bytes(&self) -> usize {
        self.words.iter().map(String::len).sum::<usize>()
            + self.words.len() * 4
            + self.entry_starts.len() * 4
            + self.rows.len() * 4
            + self.cells.len()
            + self.directory_starts.len() * 4
            + self.directory.len() * 8
    }

    /// The words holding `needle`, by a scan of every word.
    fn words_holding(&self, needle: &str) -> Vec<usize> {
        (0..self.words.len()).filter(|&word| self.words[word].contains(needle)).collect()
    }

    /// The distinct rows at `location` whose cell `accepts`, of `words`;
    /// and how many entries were read.
    fn count(&self, words: &[usize], location: u16, accepts: &[bool; 256]) -> (usize, usize) {
        let mut kept = Vec::new();
        let mut read = 0;
        for &word in words {
            let directory =
                &self.directory[self.directory_starts[word] as usize..self.directory_starts[word + 1] as usize];
            let Ok(at) = directory.binary_search_by_key(&location, |&(held, _)| held) else { continue };
            let start = directory[at].1 as usize;
            let end = directory.get(at + 1).map_or(self.entry_starts[word + 1] as usize, |&(_, next)| next as usize);
            read += end - start;
            for (&row, &cell) in self.rows[start..end].iter().zip(&self.cells[start..end]) {
                if accepts[usize::from(cell)] {
                    kept.push(row);
                }
            }
        }
        kept.sort_unstable();
        kept.dedup();
        (kept.len(), read)
    }
}

/// A T16 request's location, accepted cells and needle.
fn parse_t16(target: &str) -> (String, [bool; 256], String) {
    let query = target.split_once('?').map_or("", |(_, query)| query);
    let (mut location, mut needle) = (String::new(), String::new());
    let (mut directions, mut statuses) = (Vec::new(), Vec::new());
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match &*key {
            "filters-location" => location = value.into_owned(),
            "filters-q" => needle = value.trim().to_lowercase(),
            "filters-direction" => directions.push(Direction::parse(&value).expect("a direction")),
            "filters-delivery_status" => statuses.push(DeliveryStatus::parse(&value).expect("a status")),
            key if key.starts_with("filters-") => panic!("{target}: {key} is not counted here"),
            _ => {}
        }
    }
    let mut accepts = [false; 256];
    for direction in &directions {
        for status in &statuses {
            accepts[usize::from(cell(Some(*direction), Some(*status)))] = true;
        }
    }
    (location, accepts, needle)
}

/// The median of `samples`, in µs.
fn median_us(mut samples: Vec<Duration>) -> f64 {
    samples.sort_unstable();
    samples.get(samples.len() / 2).map_or(0.0, |sample| sample.as_secs_f64() * 1e6)
}

fn main() {
    msgdex_bench::process::prepare_process_memory();
    let arguments: Vec<String> = std::env::args().collect();
    let (data, requests) = (&arguments[1], &arguments[2]);
    let messages = msgdex::load_path(data).expect("the file loads");
    let mut location_of: HashMap<&str, u16> = HashMap::new();
    for location in messages.iter().filter_map(|message| message.location.as_deref()) {
        let next = u16::try_from(location_of.len() + 1).expect("fewer than 65,535 locations");
        location_of.entry(location).or_insert(next);
    }
    let started = Instant::now();
    let postings = WordPostings::build(&messages, &location_of);
    println!(
        "{} messages: {} words, {} entries ({:.2} a message), {:.1} MB; built in {:.1} s",
        messages.len(),
        postings.words.len(),
        postings.rows.len(),
        postings.rows.len() as f64 / messages.len() as f64,
        postings.bytes() as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    let engine = FastEngine::load_path(data).expect("the file loads");
    let text = std::fs::read_to_string(requests).expect("a requests file");
    let (mut counting, mut scanning, mut engine_times) = (Vec::new(), Vec::new(), Vec::new());
    let (mut answered, mut with_breaks, mut entries_read, mut words_matched) = (0, 0, Vec::new(), Vec::new());
    for target in text.lines().filter_map(|line| line.strip_prefix("T16\t")) {
        let (location, accepts, needle) = parse_t16(target);
        if needle.is_empty() || !needle.chars().all(char::is_alphanumeric) {
            with_breaks += 1;
            continue;
        }
        let location = location_of.get(location.as_str()).copied().unwrap_or(u16::MAX);
        let started = Instant::now();
        let words = postings.words_holding(&needle);
        let scanned = Instant::now();
        let (count, read) = postings.count(&words, location, &accepts);
        let counted = Instant::now();
        let body = engine.respond(target).body;
        engine_times.push(counted.elapsed());
        let answer: serde_json::Value = serde_json::from_str(&body).expect("a JSON body");
        assert_eq!(answer["item_count"].as_u64(), Some(count as u64), "{target}");
        scanning.push(scanned - started);
        counting.push(counted - scanned);
        entries_read.push(read);
        words_matched.push(words.len());
        answered += 1;
    }
    assert!(answered > 0, "no T16 request answered from {requests}");
    entries_read.sort_unstable();
    words_matched.sort_unstable();
    println!(
        "T16: {answered} counts equal to the engine's ({with_breaks} needles with a word break left out); \
         median µs: the words' parts {:.1} (median {} words, {} entries read), the vocabulary scan {:.1}, \
         the engine's whole answer {:.1}",
        median_us(counting),
        words_matched.get(words_matched.len() / 2).copied().unwrap_or(0),
        entries_read.get(entries_read.len() / 2).copied().unwrap_or(0),
        median_us(scanning),
        median_us(engine_times)
    );
}
