//! Prints where a segment's memory goes, per column and per index, for a
//! JSON Lines file: `cargo run --release -p msgdex-bench --example
//! memory_breakdown -- bench-data/1m.jsonl`.

use msgdex::testing::{load_segment_from_path, BITMAP_FIELDS};
use msgdex::{DateKey, Field};

fn main() {
    msgdex_bench::process::prepare_process_memory();
    let path = std::env::args().nth(1).expect("a JSON Lines file");
    let segment = load_segment_from_path(&path).expect("a valid file");
    let megabytes = |bytes: usize| bytes as f64 / 1e6;
    let mut rows: Vec<(String, usize)> =
        Field::ALL.iter().map(|&field| (format!("column {field}"), segment.column(field).heap_bytes())).collect();
    for field in BITMAP_FIELDS {
        rows.push((format!("value index {field}"), segment.value_index(field).heap_bytes()));
    }
    for key in DateKey::ALL {
        rows.push((format!("sorted order {key:?}"), segment.order(key).heap_bytes()));
    }
    rows.push(("text index".into(), segment.text().heap_bytes()));
    let (columns, indexes) = segment.heap_bytes();
    rows.sort_by_key(|(_, bytes)| std::cmp::Reverse(*bytes));
    println!("| part | MB |\n|---|---:|");
    for (name, bytes) in rows {
        println!("| {name} | {:.1} |", megabytes(bytes));
    }
    println!("| **columns (with the `_id` index)** | {:.1} |", megabytes(columns));
    println!("| **indexes** | {:.1} |", megabytes(indexes));
}

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: msgdex_bench::process::Allocator = msgdex_bench::process::Allocator;
