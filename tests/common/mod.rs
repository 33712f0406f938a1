//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod generators;

use msgdex::{ContentStorage, Engine, FastEngine, Message, ReferenceEngine};
use serde_json::Value;

/// Every engine msgdex has, each over its own copy of `messages`: the
/// fast one with each way of keeping `content`.
pub fn all_engines(messages: Vec<Message>) -> Vec<(&'static str, Box<dyn Engine>)> {
    let fast = FastEngine::new(&messages).expect("test data has unique Ids");
    let plain = fast_storing(&messages, ContentStorage::Plain);
    vec![
        ("reference", Box::new(ReferenceEngine::new(messages))),
        ("fast", Box::new(fast)),
        ("fast, content plain", Box::new(plain)),
    ]
}

/// The fast engine over `messages`, keeping `content` as `storage` says.
pub fn fast_storing(messages: &[Message], storage: ContentStorage) -> FastEngine {
    FastEngine::new_with(messages, storage).expect("test data has unique Ids")
}

/// A store on a data directory, with the directory it lives in (removed
/// when dropped).
pub struct OnDisk {
    /// The store.
    pub engine: msgdex::LiveEngine,
    /// Its data directory.
    pub directory: tempfile::TempDir,
}

impl Engine for OnDisk {
    fn message_count(&self) -> u64 {
        self.engine.message_count()
    }
    fn limits(&self) -> msgdex::QueryLimits {
        self.engine.limits()
    }
    fn list_into(&self, query: &msgdex::ListQuery, out: &mut Vec<u8>) {
        self.engine.list_into(query, out)
    }
    fn retrieve_into(&self, id: &str, out: &mut Vec<u8>) -> bool {
        self.engine.retrieve_into(id, out)
    }
}

/// Writes `messages` as a JSON Lines file in `directory`.
pub fn write_json_lines(directory: &std::path::Path, messages: &[Message]) -> std::path::PathBuf {
    let path = directory.join("messages.jsonl");
    let mut text = String::new();
    for message in messages {
        text.push_str(&serde_json::to_string(message).unwrap());
        text.push('\n');
    }
    std::fs::write(&path, text).unwrap();
    path
}

/// `messages` imported into a new data directory, the store opened from it.
pub fn imported(messages: &[Message], options: msgdex::StoreOptions) -> OnDisk {
    imported_storing(messages, ContentStorage::default(), options)
}

/// [`imported`], the import keeping `content` as `storage` says.
pub fn imported_storing(messages: &[Message], storage: ContentStorage, options: msgdex::StoreOptions) -> OnDisk {
    let directory = tempfile::tempdir().unwrap();
    let data = write_json_lines(directory.path(), messages);
    let store = directory.path().join("store");
    msgdex::import(&data, &store, storage, |_| {}).expect("the messages import");
    let engine = msgdex::LiveEngine::open(&store, options).expect("the new directory opens");
    OnDisk { engine, directory }
}

/// `messages` written into an empty data directory in batches, with a
/// checkpoint half way, then the store closed and opened again: every
/// message comes back through a base file written by a checkpoint (which
/// keeps `content` as `storage` says) and the log after it.
pub fn written_and_reopened(messages: &[Message], storage: ContentStorage) -> OnDisk {
    use msgdex::{Writable, Write};
    let mut options = msgdex::StoreOptions::default();
    options.policy.content = Some(storage);
    let OnDisk { engine, directory } = imported(&[], options);
    for (number, batch) in messages.chunks(37).enumerate() {
        engine.apply(batch.iter().cloned().map(Write::Upsert).collect()).expect("the batch applies");
        if number == messages.len() / 37 / 2 {
            engine.checkpoint().expect("the checkpoint is written");
        }
    }
    engine.close();
    let engine = msgdex::LiveEngine::open(directory.path().join("store"), msgdex::StoreOptions::default())
        .expect("the directory opens again");
    OnDisk { engine, directory }
}

/// Compares a transcript line with an expected one by the conformance rules.
pub fn same_response(actual: &str, expected: &str) -> Result<(), String> {
    let parse = |text: &str| -> Result<Value, String> {
        serde_json::from_str(text).map_err(|error| format!("not JSON ({error}): {text}"))
    };
    // serde_json's map sorts keys, so compare key order separately.
    let (actual_value, expected_value) = (parse(actual)?, parse(expected)?);
    let status = expected_value["status"].as_u64().ok_or("expected line has no status")?;
    if actual_value["status"].as_u64() != Some(status) {
        return Err(format!("status {} instead of {status}: {actual}", actual_value["status"]));
    }
    let body = &actual_value["body"];
    if !body["hint"].is_string() && status != 200 {
        return Err(format!("no hint string: {actual}"));
    }
    match status {
        200 => {
            if actual_value != expected_value {
                return Err(format!("body differs\n  actual:   {actual}\n  expected: {expected}"));
            }
            if key_order(actual) != key_order(expected) {
                return Err(format!("keys in another order\n  actual:   {actual}\n  expected: {expected}"));
            }
        }
        400 => {
            let keys = |value: &Value| -> Option<Vec<String>> {
                Some(value["body"]["arg_errors"].as_object()?.keys().cloned().collect())
            };
            if keys(&actual_value) != keys(&expected_value) {
                return Err(format!("arg_errors keys differ\n  actual:   {actual}\n  expected: {expected}"));
            }
            let well_formed = body["arg_errors"].as_object().is_some_and(|errors| {
                errors.values().all(|messages| {
                    messages.as_array().is_some_and(|list| !list.is_empty() && list.iter().all(Value::is_string))
                })
            });
            if !well_formed {
                return Err(format!("arg_errors must map to non-empty lists of strings: {actual}"));
            }
        }
        _ => {}
    }
    Ok(())
}

/// Every object key of a JSON text in document order, to compare orders.
pub fn key_order(text: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let mut collector = KeyCollector { keys: &mut keys };
    serde::de::Deserializer::deserialize_any(&mut deserializer, &mut collector).expect("valid JSON");
    keys
}

struct KeyCollector<'a> {
    keys: &'a mut Vec<String>,
}

impl<'de> serde::de::Visitor<'de> for &mut KeyCollector<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JSON")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            self.keys.push(key);
            map.next_value_seed(&mut *self)?;
        }
        Ok(())
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(&mut *self)?.is_some() {}
        Ok(())
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for &mut KeyCollector<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}
