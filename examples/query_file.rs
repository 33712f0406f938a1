//! Querying a file of messages: load it, ask typed questions, and get the
//! API's JSON where a program needs to pass it on.
//!
//! `cargo run --example query_file -- fixtures/messages.jsonl`

use msgdex::{Channel, DateKey, Engine, FastEngine, Field, ListQuery, SortField};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).unwrap_or_else(|| "fixtures/messages.jsonl".into());
    let engine = FastEngine::load_path(&path)?;
    println!("{} messages in {path}", engine.message_count());

    // The five newest text messages, with who and when.
    let query = ListQuery::builder()
        .channels([Channel::Sms])
        .sort_by(SortField::Date(DateKey::DateTime), true)
        .attributes([Field::Correspondent, Field::DateTime])
        .per_page(5)
        .build()?;
    let page = engine.list(&query);
    println!("{} text messages; the newest {}:", page.item_count, page.items.len());
    for message in &page.items {
        let when = message.date_time.map_or("(no date)".to_owned(), |moment| moment.to_string());
        println!("  {when}  {}", message.correspondent.as_deref().unwrap_or("(no correspondent)"));
    }

    // A whole message by its Id, typed and as the API's JSON.
    if let Some(first) = page.items.first() {
        let message = engine.retrieve(&first.id).expect("a listed message exists");
        println!("{} has {} tag(s)", message.id, message.tags.as_ref().map_or(0, Vec::len));
        println!("{}", engine.retrieve_json(&first.id).expect("a listed message exists"));
    }

    // A request target as a client would send it, answered as the API would.
    let response = engine.respond("/v1/messages?filters-q=zo%C3%AB&attributes=subject&per_page=2");
    println!("{} {}", response.status, response.body);
    Ok(())
}
