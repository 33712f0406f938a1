//! Reading a segment file into memory or mapping it: the measurement
//! behind the choice in docs/PERFORMANCE.md. In a fresh process each time
//! (the file warm in the page cache), either
//!   `… --example map_or_read -- read FILE` (the store's way: every array
//!   read into its own vector and checksummed), or
//!   `… --example map_or_read -- map FILE` (mapped, every byte checksummed
//!   in place: the least a zero-copy open could do).

use std::time::Instant;

use rayon::prelude::*;

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: msgdex_bench::process::Allocator = msgdex_bench::process::Allocator;

fn main() {
    msgdex_bench::process::prepare_process_memory();
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let [how, path] = &arguments[..] else { panic!("read|map FILE") };
    let started = Instant::now();
    let file = std::fs::File::open(path).expect("the segment file");
    let checksum = match how.as_str() {
        "map" => {
            // SAFETY: the file is not changed while mapped (a measurement).
            #[allow(unsafe_code)]
            let map = unsafe { memmap2::MmapOptions::new().populate().map(&file) }.expect("mapped");
            map.par_chunks(1 << 20).map(crc32c::crc32c).reduce(|| 0, |a, b| a ^ b)
        }
        "read" => {
            let length = file.metadata().unwrap().len() as usize;
            let mut bytes = Vec::with_capacity(length);
            std::io::Read::read_to_end(&mut std::io::BufReader::new(file), &mut bytes).unwrap();
            bytes.par_chunks(1 << 20).map(crc32c::crc32c).reduce(|| 0, |a, b| a ^ b)
        }
        other => panic!("{other}: read or map"),
    };
    println!("{how}: {:.3} s (checksum {checksum:08x})", started.elapsed().as_secs_f64());
}
