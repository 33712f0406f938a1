//! Many threads query one engine at once and get exactly the answers a
//! single thread gets.

use std::sync::Arc;

use msgdex::{Engine, FastEngine};
use msgdex_bench::workload::{data::DataGenerator, mix};

#[test]
fn threads_share_one_engine() {
    let messages: Vec<_> = DataGenerator::new(5_000, 11).collect();
    let requests = mix::generate(&messages, 2, 4);
    let engine = Arc::new(FastEngine::new(&messages).unwrap());
    let expected: Vec<String> =
        requests.iter().map(|request| engine.respond(&request.target).to_transcript_line()).collect();
    let expected = Arc::new(expected);
    let requests = Arc::new(requests);
    let workers: Vec<_> = (0..4)
        .map(|worker| {
            let (engine, requests, expected) = (Arc::clone(&engine), Arc::clone(&requests), Arc::clone(&expected));
            std::thread::spawn(move || {
                for round in 0..3 {
                    // Each thread walks the mix from a different place.
                    for index in 0..requests.len() {
                        let index = (index + worker * 17 + round * 5) % requests.len();
                        let actual = engine.respond(&requests[index].target).to_transcript_line();
                        assert_eq!(actual, expected[index], "thread {worker}: {}", requests[index].target);
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("no thread panicked");
    }
}
