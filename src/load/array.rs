//! A top-level JSON array, parsed as a stream from the reader into batches
//! of checked messages.

use std::fmt;
use std::io::{self, Read};

use serde::de::{self, Deserializer, SeqAccess, Visitor};

use super::error::{describe_json_error, LoadError, RecordLocation};
use super::ids::IdRegistry;
use super::record::RawRecordSeed;
use crate::model::Message;

/// Streams a JSON array's records through the full parser into `sink`,
/// batch by batch; stops at the first invalid record or JSON error.
pub(super) fn load_array(
    reader: impl Read,
    seen_ids: &mut IdRegistry,
    sink: &mut impl FnMut(Vec<Message>),
) -> Result<(), LoadError> {
    let mut deserializer = serde_json::Deserializer::from_reader(io::BufReader::with_capacity(1 << 20, reader));
    let mut visitor = ArrayVisitor { seen_ids, sink, outcome: Ok(()), next_index: 0 };
    let parsed = (&mut deserializer).deserialize_seq(&mut visitor).and_then(|()| deserializer.end());
    let location = Some(RecordLocation::Index(visitor.next_index));
    visitor.outcome?;
    parsed.map_err(|error| LoadError::Syntax { location, message: describe_json_error(&error, true) })
}

/// Streams the elements of a top-level JSON array into batches.
struct ArrayVisitor<'a, S> {
    seen_ids: &'a mut IdRegistry,
    sink: &'a mut S,
    /// The first invalid record, which stops the load.
    outcome: Result<(), LoadError>,
    next_index: u64,
}

impl<'de, S: FnMut(Vec<Message>)> Visitor<'de> for &mut ArrayVisitor<'_, S> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of message objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        const BATCH: usize = 4096;
        let mut batch = Vec::with_capacity(BATCH);
        while let Some(raw) = seq.next_element_seed(RawRecordSeed)? {
            let location = RecordLocation::Index(self.next_index);
            let checked = raw
                .into_message(location)
                .and_then(|message| self.seen_ids.register(&message, location).map(|()| message));
            match checked {
                Ok(message) => batch.push(message),
                Err(error) => {
                    self.outcome = Err(error);
                    return Err(de::Error::custom("invalid record"));
                }
            }
            self.next_index += 1;
            if batch.len() == BATCH {
                (self.sink)(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)));
            }
        }
        (self.sink)(batch);
        Ok(())
    }
}
