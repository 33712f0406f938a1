//! Measures the candidate ways of storing `content` (docs/ARCHITECTURE.md,
//! "Compact storage"): compression ratio, compression speed, and the cost of
//! writing out 100 scattered messages (T17's page) or one (T18), on two
//! corpora of equal lengths:
//! * the generated data's contents (docs/BENCH.md);
//! * prose no template wrote: Debian's `fortunes` (quotations, jokes, verse)
//!   run together and cut to the same lengths.
//!
//! ```sh
//! apt-get download fortunes && dpkg-deb -x fortunes_*.deb /tmp/prose
//! cargo run --release -p msgdex-bench --example content_codecs -- 200000 /tmp/prose/usr/share/games/fortunes
//! ```

use std::time::Instant;

use msgdex_bench::workload::data::DataGenerator;

/// One way of storing a message's text.
trait Codec {
    fn name(&self) -> String;
    fn compress(&self, text: &[u8], out: &mut Vec<u8>);
    /// Appends the text of `stored` (which `compress` wrote) to `out`.
    fn write(&self, stored: &[u8], length: usize, out: &mut Vec<u8>);
}

struct Plain;

impl Codec for Plain {
    fn name(&self) -> String {
        "plain (before packing)".into()
    }
    fn compress(&self, text: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(text);
    }
    fn write(&self, stored: &[u8], _: usize, out: &mut Vec<u8>) {
        out.extend_from_slice(stored);
    }
}

struct Lz4 {
    dictionary: Vec<u8>,
}

impl Codec for Lz4 {
    fn name(&self) -> String {
        match self.dictionary.len() {
            0 => "lz4".into(),
            size => format!("lz4, {} KiB sampled dictionary", size / 1024),
        }
    }
    fn compress(&self, text: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + lz4_flex::block::get_maximum_output_size(text.len()), 0);
        let written = lz4_flex::block::compress_into_with_dict(text, &mut out[start..], &self.dictionary)
            .expect("room for the worst case");
        out.truncate(start + written);
    }
    fn write(&self, stored: &[u8], length: usize, out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + length, 0);
        lz4_flex::block::decompress_into_with_dict(stored, &mut out[start..], &self.dictionary).expect("valid");
    }
}

struct Zstd {
    level: i32,
    dictionary_size: usize,
    /// How the dictionary was trained, and how long that took.
    training: Option<(&'static str, f64)>,
    compressor: std::cell::RefCell<zstd::bulk::Compressor<'static>>,
    decompressor: std::cell::RefCell<zstd::bulk::Decompressor<'static>>,
}

impl Zstd {
    fn new(level: i32, samples: &[Vec<u8>], dictionary_size: usize) -> Zstd {
        if dictionary_size == 0 {
            return Zstd::with_dictionary(level, Vec::new(), None);
        }
        let started = Instant::now();
        let dictionary = zstd::dict::from_samples(samples, dictionary_size).expect("trained");
        let training = ("zstd's default", started.elapsed().as_secs_f64());
        Zstd::with_dictionary(level, dictionary, Some(training))
    }

    /// At level 3 (msgdex's), with a dictionary trained as msgdex trains
    /// it. The time includes making msgdex's codec around the dictionary,
    /// which the default's does not: a few milliseconds more, not less.
    fn trained_as_msgdex_does(samples: &[Vec<u8>]) -> Zstd {
        let started = Instant::now();
        let values: Vec<&[u8]> = samples.iter().map(Vec::as_slice).collect();
        let dictionary = msgdex::testing::TextCodec::train(&values).dictionary().to_vec();
        let training = ("msgdex's", started.elapsed().as_secs_f64());
        Zstd::with_dictionary(3, dictionary, Some(training))
    }

    fn with_dictionary(level: i32, dictionary: Vec<u8>, training: Option<(&'static str, f64)>) -> Zstd {
        let dictionary_size = dictionary.len();
        // Prepared once and kept for the run, as a store would keep them.
        let encoder = Box::leak(Box::new(zstd::dict::EncoderDictionary::copy(&dictionary, level)));
        let decoder = Box::leak(Box::new(zstd::dict::DecoderDictionary::copy(&dictionary)));
        let mut compressor = zstd::bulk::Compressor::with_prepared_dictionary(encoder).expect("a context");
        compressor.include_checksum(false).expect("set");
        compressor.include_contentsize(false).expect("set");
        compressor.include_dictid(false).expect("set");
        let decompressor = zstd::bulk::Decompressor::with_prepared_dictionary(decoder).expect("a context");
        Zstd {
            level,
            dictionary_size,
            training,
            compressor: std::cell::RefCell::new(compressor),
            decompressor: std::cell::RefCell::new(decompressor),
        }
    }
}

impl Codec for Zstd {
    fn name(&self) -> String {
        match self.training {
            None => format!("zstd level {}", self.level),
            Some((how, seconds)) => format!(
                "zstd level {}, {} KiB dictionary trained by {how} way ({seconds:.2} s)",
                self.level,
                self.dictionary_size.div_ceil(1024)
            ),
        }
    }
    fn compress(&self, text: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + zstd::zstd_safe::compress_bound(text.len()), 0);
        let written = self.compressor.borrow_mut().compress_to_buffer(text, &mut out[start..]).expect("compressed");
        out.truncate(start + written);
    }
    fn write(&self, stored: &[u8], length: usize, out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + length, 0);
        self.decompressor.borrow_mut().decompress_to_buffer(stored, &mut out[start..]).expect("valid");
    }
}

/// Prose cut to the given lengths from the fortune files in `directory`.
fn prose(directory: &str, lengths: &[usize]) -> Vec<Vec<u8>> {
    let mut pieces: Vec<String> = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(directory).expect("the fortunes directory").flatten().collect();
    files.sort_by_key(|entry| entry.path());
    for entry in files {
        let path = entry.path();
        if path.extension().is_some() {
            continue; // the .dat index files and .u8 links
        }
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        pieces.extend(text.split("\n%\n").map(|piece| piece.split_whitespace().collect::<Vec<_>>().join(" ")));
    }
    assert!(!pieces.is_empty(), "no fortunes in {directory}");
    let mut next = 0usize;
    lengths
        .iter()
        .map(|&length| {
            let mut text = String::new();
            while text.len() < length {
                if !text.is_empty() {
                    text.push(' ');
                }
                text.push_str(&pieces[next % pieces.len()]);
                next += 1;
            }
            let mut cut = length;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            serde_json::to_vec(&text).expect("a string")
        })
        .collect()
}

/// Every `step`-th text, up to `budget` bytes: the sample a dictionary is made from.
fn sample(texts: &[Vec<u8>], budget: usize) -> Vec<Vec<u8>> {
    let step = (texts.len() / 4000).max(1);
    let mut total = 0;
    texts
        .iter()
        .step_by(step)
        .take_while(|text| {
            total += text.len();
            total <= budget
        })
        .cloned()
        .collect()
}

fn measure(corpus: &str, texts: &[Vec<u8>], codec: &dyn Codec) {
    let raw: usize = texts.iter().map(Vec::len).sum();
    let started = Instant::now();
    let mut stored = Vec::with_capacity(raw);
    let mut ends = Vec::with_capacity(texts.len());
    for text in texts {
        codec.compress(text, &mut stored);
        ends.push(stored.len());
    }
    let compress_seconds = started.elapsed().as_secs_f64();
    let entry = |index: usize| &stored[if index == 0 { 0 } else { ends[index - 1] }..ends[index]];
    for (index, text) in texts.iter().enumerate().step_by(997) {
        let mut out = Vec::new();
        codec.write(entry(index), text.len(), &mut out);
        assert_eq!(&out, text, "{} round trip", codec.name());
    }
    // Pages of 100 scattered messages, as T17 writes them; then single ones.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut pick = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % texts.len() as u64) as usize
    };
    let mut out = Vec::with_capacity(1 << 20);
    let rounds = 2000;
    let started = Instant::now();
    for _ in 0..rounds {
        out.clear();
        for _ in 0..100 {
            let index = pick();
            codec.write(entry(index), texts[index].len(), &mut out);
        }
        std::hint::black_box(&out);
    }
    let page_micros = started.elapsed().as_secs_f64() / rounds as f64 * 1e6;
    let singles = 100_000;
    let started = Instant::now();
    for _ in 0..singles {
        out.clear();
        let index = pick();
        codec.write(entry(index), texts[index].len(), &mut out);
        std::hint::black_box(&out);
    }
    let single_micros = started.elapsed().as_secs_f64() / singles as f64 * 1e6;
    println!(
        "| {corpus} | {} | {:.3} | {:.0} | {:.1} | {:.2} |",
        codec.name(),
        stored.len() as f64 / raw as f64,
        raw as f64 / compress_seconds / 1e6,
        page_micros,
        single_micros,
    );
}

fn main() {
    let mut arguments = std::env::args().skip(1);
    let count: u64 = arguments.next().map_or(200_000, |count| count.parse().expect("a count"));
    let fortunes = arguments.next().unwrap_or_else(|| "/tmp/prose/usr/share/games/fortunes".into());
    let generated: Vec<Vec<u8>> = DataGenerator::new(count, 1)
        .filter_map(|message| message.content)
        .map(|content| serde_json::to_vec(&content).expect("a string"))
        .collect();
    let lengths: Vec<usize> = generated.iter().map(|text| text.len() - 2).collect();
    let prose = prose(&fortunes, &lengths);
    println!("{} messages; mean length {} bytes", generated.len(), lengths.iter().sum::<usize>() / lengths.len());
    println!("| corpus | codec | stored / raw | compress MB/s | 100 scattered (µs) | one (µs) |");
    println!("|---|---|---:|---:|---:|---:|");
    for (corpus, texts) in [("generated", &generated), ("prose", &prose)] {
        let codecs: Vec<Box<dyn Codec>> = vec![
            Box::new(Plain),
            Box::new(Lz4 { dictionary: Vec::new() }),
            Box::new(Lz4 { dictionary: sample(texts, 4096).concat() }),
            Box::new(Lz4 { dictionary: sample(texts, 16384).concat() }),
            Box::new(Lz4 { dictionary: sample(texts, 65536).concat() }),
            Box::new(Zstd::new(1, &[], 0)),
            Box::new(Zstd::new(1, &sample(texts, 4 << 20), 64 << 10)),
            Box::new(Zstd::new(2, &sample(texts, 4 << 20), 64 << 10)),
            Box::new(Zstd::new(3, &sample(texts, 4 << 20), 64 << 10)),
            Box::new(Zstd::trained_as_msgdex_does(&sample(texts, 4 << 20))),
            Box::new(Zstd::new(-5, &sample(texts, 4 << 20), 64 << 10)),
            Box::new(Zstd::new(9, &sample(texts, 4 << 20), 64 << 10)),
            Box::new(Zstd::new(3, &sample(texts, 4 << 20), 16 << 10)),
            Box::new(Zstd::new(3, &sample(texts, 16 << 20), 256 << 10)),
        ];
        for codec in &codecs {
            measure(corpus, texts, codec.as_ref());
        }
    }
}

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: msgdex_bench::process::Allocator = msgdex_bench::process::Allocator;
