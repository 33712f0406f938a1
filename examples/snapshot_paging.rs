//! Paging through a list while writes go on: a held snapshot answers every
//! page from the same state, so no message is skipped or shown twice.
//!
//! `cargo run --example snapshot_paging`

use std::collections::HashSet;

use msgdex::{Engine, ListQuery, LiveEngine, Message, Writable};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine = LiveEngine::load_path("fixtures/messages.jsonl")?;
    let snapshot = engine.snapshot();
    let mut seen = HashSet::new();
    for page in 1.. {
        let query = ListQuery::builder().per_page(7).page(page).build()?;
        let answer = snapshot.list(&query);
        if answer.items.is_empty() {
            break;
        }
        seen.extend(answer.items.into_iter().map(|message| message.id));
        // A writer meanwhile: the store changes, the snapshot does not.
        engine.upsert(Message::with_id(format!("written-during-page-{page}")))?;
        if let Some(first) = seen.iter().next().cloned() {
            let _ = engine.delete(&first);
        }
    }
    println!(
        "paged through {} messages of the snapshot ({} in it); the store now holds {}",
        seen.len(),
        snapshot.message_count(),
        engine.message_count()
    );
    assert_eq!(seen.len() as u64, snapshot.message_count(), "every message exactly once");
    Ok(())
}
