//! Writing to a live store while it answers: inserts, upserts and deletes,
//! one at a time or as all-or-nothing batches.
//!
//! `cargo run --example live_writes`

use msgdex::{message_from_json, Channel, Engine, ListQuery, LiveEngine, Message, Writable, Write};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine = LiveEngine::load_path("fixtures/messages.jsonl")?;
    let sms = ListQuery::builder().channels([Channel::Sms]).build()?;
    println!("{} messages, {} by text", engine.message_count(), engine.list(&sms).item_count);

    // A message from JSON, checked as the loader checks a file's records.
    let message = message_from_json(r#"{"_id": "note-1", "channel": "sms", "subject": "Visit on Friday"}"#)?;
    engine.insert(message)?;
    println!("after the insert: {} by text", engine.list(&sms).item_count);
    // An upsert replaces the whole message: this one has no channel.
    engine.upsert(Message { subject: Some("Visit moved to Monday".into()), ..Message::with_id("note-1") })?;
    println!("after the upsert: {} by text", engine.list(&sms).item_count);

    // A batch is applied in order, all or nothing: the second delete is
    // refused, so the first is not applied either.
    let refused = engine.apply(vec![Write::Delete("note-1".into()), Write::Delete("no-such-message".into())]);
    println!("batch refused: {}", refused.unwrap_err());
    println!("note-1 is still there: {}", engine.retrieve("note-1").is_some());

    engine.delete("note-1")?;
    println!("after the delete: {} messages", engine.message_count());
    Ok(())
}
