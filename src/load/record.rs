//! One record through the full parser: its JSON read into raw values by
//! shape (null, string, array, other), then each field checked against its
//! kind, so that a problem names the record, its `_id`, the field and what
//! is allowed.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::error::{describe_json_error, BodyError, LoadError, RecordLocation};
use crate::json::quoted;
use crate::model::{Channel, DateTime, DeliveryStatus, Direction, Field, FieldKind, Message};

/// Parses the body of a write to `/v1/messages/<path_id>` with the loader's
/// own checks (SPEC §1), repeated fields included: the object's `_id` may
/// be left out, and `path_id` is used, but may not differ from it.
pub fn parse_message_for_id(body: &[u8], path_id: &str) -> Result<Message, BodyError> {
    let location = RecordLocation::Line(1);
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let mut raw = RawRecordSeed
        .deserialize(&mut deserializer)
        .and_then(|raw| deserializer.end().map(|()| raw))
        .map_err(|error| {
            BodyError::Invalid(LoadError::Syntax { location: None, message: describe_json_error(&error, false) })
        })?;
    let id_slot = &mut raw.slots[Field::Id.index()];
    match id_slot {
        None => *id_slot = Some(RawValue::Str(Cow::Owned(path_id.to_owned()))),
        Some(RawValue::Str(given)) if given != path_id && raw.problem.is_none() => {
            return Err(BodyError::IdDiffers(serde_json::to_string(given.as_ref()).expect("strings serialize")))
        }
        Some(_) => {}
    }
    raw.into_message(location).map_err(BodyError::Invalid)
}

/// Parses one message of a batch (its `_id` required) with the loader's
/// checks; problems are located at `location`.
pub(crate) fn parse_message(body: &[u8], location: RecordLocation) -> Result<Message, LoadError> {
    parse_line(body, location)
}

/// Parses one JSON Lines record with the full parser.
pub(super) fn parse_line(line: &[u8], location: RecordLocation) -> Result<Message, LoadError> {
    let mut deserializer = serde_json::Deserializer::from_slice(line);
    let raw = RawRecordSeed
        .deserialize(&mut deserializer)
        .and_then(|raw| deserializer.end().map(|()| raw))
        .map_err(|error| LoadError::Syntax { location: Some(location), message: describe_json_error(&error, false) })?;
    raw.into_message(location)
}

/// A field's value as found in the JSON, before it is checked against the
/// field's kind. Wrong types are kept as a description, so that checking
/// can name the field and the record instead of failing inside the parser.
enum RawValue<'de> {
    Null,
    Str(Cow<'de, str>),
    List(Result<Vec<String>, &'static str>),
    Other(&'static str),
}

impl RawValue<'_> {
    fn describe(&self) -> &'static str {
        match self {
            RawValue::Null => "null",
            RawValue::Str(_) => "a string",
            RawValue::List(_) => "an array",
            RawValue::Other(kind) => kind,
        }
    }
}

/// One JSON object, its known fields in slots by canonical position.
pub(super) struct RawRecord<'de> {
    slots: [Option<RawValue<'de>>; 31],
    /// The first structural problem: a value that is not an object, an
    /// unknown field or a repeated one.
    problem: Option<(Option<String>, String)>,
}

pub(super) struct RawRecordSeed;

impl<'de> DeserializeSeed<'de> for RawRecordSeed {
    type Value = RawRecord<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(RawRecordVisitor)
    }
}

struct RawRecordVisitor;

impl RawRecordVisitor {
    fn not_an_object<'de>(kind: &str) -> RawRecord<'de> {
        RawRecord {
            slots: Default::default(),
            problem: Some((None, format!("the record is {kind}, not a JSON object holding a message"))),
        }
    }
}

impl<'de> Visitor<'de> for RawRecordVisitor {
    type Value = RawRecord<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a message object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut record = RawRecord { slots: Default::default(), problem: None };
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match Field::from_name(&key) {
                Some(field) if record.slots[field.index()].is_none() => {
                    record.slots[field.index()] = Some(map.next_value_seed(RawValueSeed)?);
                }
                Some(_) => {
                    map.next_value::<IgnoredAny>()?;
                    record.problem.get_or_insert_with(|| {
                        (Some(key.to_string()), "the field appears more than once in the object".to_owned())
                    });
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                    record.problem.get_or_insert_with(|| {
                        (
                            Some(key.to_string()),
                            "unknown field; a message has only the 31 fields of the Messages API".to_owned(),
                        )
                    });
                }
            }
        }
        Ok(record)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(RawRecordVisitor::not_an_object("an array"))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(RawRecordVisitor::not_an_object("a string"))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(RawRecordVisitor::not_an_object("a boolean"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(RawRecordVisitor::not_an_object("a number"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(RawRecordVisitor::not_an_object("a number"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(RawRecordVisitor::not_an_object("a number"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(RawRecordVisitor::not_an_object("null"))
    }
}

struct RawValueSeed;

impl<'de> DeserializeSeed<'de> for RawValueSeed {
    type Value = RawValue<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(RawValueVisitor)
    }
}

struct RawValueVisitor;

impl<'de> Visitor<'de> for RawValueVisitor {
    type Value = RawValue<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(RawValue::Null)
    }

    fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<Self::Value, E> {
        Ok(RawValue::Str(Cow::Borrowed(value)))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        Ok(RawValue::Str(Cow::Owned(value.to_owned())))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<Self::Value, E> {
        Ok(RawValue::Str(Cow::Owned(value)))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(RawValue::Other("a boolean"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(RawValue::Other("a number"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(RawValue::Other("a number"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(RawValue::Other("a number"))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(RawValue::Other("an object"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(2));
        let mut bad_item = None;
        while let Some(item) = seq.next_element_seed(RawValueSeed)? {
            match item {
                RawValue::Str(text) => items.push(text.into_owned()),
                other => {
                    bad_item.get_or_insert(match other {
                        RawValue::Null => "an array containing null",
                        RawValue::List(_) => "an array containing an array",
                        RawValue::Other("a number") => "an array containing a number",
                        RawValue::Other("a boolean") => "an array containing a boolean",
                        _ => "an array containing an object",
                    });
                }
            }
        }
        Ok(RawValue::List(bad_item.map_or(Ok(items), Err)))
    }
}

/// A message deserializes with the loader's own checks (SPEC §1): unknown,
/// repeated and mistyped fields, bad date/times and enum values, and a
/// missing or empty `_id` are refused in the loader's words.
impl<'de> serde::Deserialize<'de> for Message {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Message, D::Error> {
        let raw = RawRecordSeed.deserialize(deserializer)?;
        raw.into_message(RecordLocation::Index(0)).map_err(|error| match error {
            LoadError::Record { id, field, problem, .. } => {
                let id = id.map(|id| format!(" (_id {})", crate::json::quoted(&id))).unwrap_or_default();
                let field = field.map(|field| format!(", field `{field}`")).unwrap_or_default();
                serde::de::Error::custom(format!("invalid message{id}{field}: {problem}"))
            }
            other => serde::de::Error::custom(other),
        })
    }
}

impl RawRecord<'_> {
    /// Checks every field against its kind and builds the message.
    pub(super) fn into_message(mut self, location: RecordLocation) -> Result<Message, LoadError> {
        let id = match self.slots[Field::Id.index()].take() {
            Some(RawValue::Str(id)) if !id.is_empty() => Some(id.into_owned()),
            _ => None,
        };
        let fail =
            |field: Option<String>, problem: String| LoadError::Record { location, id: id.clone(), field, problem };
        if let Some((field, problem)) = self.problem.take() {
            return Err(fail(field, problem));
        }
        let Some(id_value) = id.clone() else {
            return Err(fail(Some("_id".into()), "`_id` is required and must be a non-empty string".into()));
        };
        let mut message = Message::with_id(id_value);
        for field in Field::ALL.into_iter().skip(1) {
            let Some(value) = self.slots[field.index()].take() else {
                continue;
            };
            set_field(&mut message, field, value).map_err(|problem| fail(Some(field.name().into()), problem))?;
        }
        Ok(message)
    }
}

/// Stores one checked value into `message`, or says what is wrong with it.
fn set_field(message: &mut Message, field: Field, value: RawValue<'_>) -> Result<(), String> {
    if matches!(value, RawValue::Null) {
        return Ok(()); // every field but `_id` is already null
    }
    let wrong_type = |expected: &str| format!("expected {expected}, found {}", value.describe());
    match field.kind() {
        FieldKind::Id => unreachable!("`_id` is checked before the other fields"),
        FieldKind::DateTime => {
            let RawValue::Str(text) = &value else {
                return Err(wrong_type("a date/time string \"YYYY-MM-DD HH:MM:SS\" or null"));
            };
            let parsed = DateTime::parse(text).ok_or_else(|| {
                format!(
                    "{} is not a date/time of the form \"YYYY-MM-DD HH:MM:SS\" naming a real calendar time",
                    quoted(text)
                )
            })?;
            let slot = match field {
                Field::Anonymized => &mut message.anonymized,
                Field::Created => &mut message.created,
                Field::DateTime => &mut message.date_time,
                Field::Modified => &mut message.modified,
                Field::Read => &mut message.read,
                Field::Resolved => &mut message.resolved,
                _ => unreachable!("only date/time fields have this kind"),
            };
            *slot = Some(parsed);
        }
        FieldKind::Channel => message.channel = Some(parse_enum(&value, Channel::parse, Channel::allowed)?),
        FieldKind::Direction => message.direction = Some(parse_enum(&value, Direction::parse, Direction::allowed)?),
        FieldKind::DeliveryStatus => {
            message.delivery_status = Some(parse_enum(&value, DeliveryStatus::parse, DeliveryStatus::allowed)?)
        }
        FieldKind::StringList => {
            let items = match value {
                RawValue::List(Ok(items)) => items,
                RawValue::List(Err(kind)) => return Err(format!("expected an array of strings or null, found {kind}")),
                _ => return Err(wrong_type("an array of strings or null")),
            };
            let slot = match field {
                Field::Invoices => &mut message.invoices,
                Field::LiteratureItems => &mut message.literature_items,
                Field::LiteratureItemsDownloaded => &mut message.literature_items_downloaded,
                Field::Tags => &mut message.tags,
                _ => unreachable!("only list fields have this kind"),
            };
            *slot = Some(items);
        }
        FieldKind::String => {
            let RawValue::Str(text) = value else {
                return Err(wrong_type("a string or null"));
            };
            *string_slot(message, field) = Some(text.into_owned());
        }
    }
    Ok(())
}

fn parse_enum<T>(value: &RawValue<'_>, parse: fn(&str) -> Option<T>, allowed: fn() -> String) -> Result<T, String> {
    match value {
        RawValue::Str(text) => {
            parse(text).ok_or_else(|| format!("{} is not allowed; use one of {} or null", quoted(text), allowed()))
        }
        other => Err(format!("expected one of {} or null, found {}", allowed(), other.describe())),
    }
}

/// The slot of a plain string field.
fn string_slot(message: &mut Message, field: Field) -> &mut Option<String> {
    match field {
        Field::CareEnquiry => &mut message.care_enquiry,
        Field::Content => &mut message.content,
        Field::Correspondent => &mut message.correspondent,
        Field::Destination => &mut message.destination,
        Field::DownloadId => &mut message.download_id,
        Field::ExternalService => &mut message.external_service,
        Field::Location => &mut message.location,
        Field::LocationContact => &mut message.location_contact,
        Field::Origin => &mut message.origin,
        Field::ReadBy => &mut message.read_by,
        Field::ReplyTo => &mut message.reply_to,
        Field::ResolvedBy => &mut message.resolved_by,
        Field::SentBy => &mut message.sent_by,
        Field::ServiceUser => &mut message.service_user,
        Field::ServiceUserContact => &mut message.service_user_contact,
        Field::Subject => &mut message.subject,
        Field::ThreadId => &mut message.thread_id,
        other => unreachable!("`{other}` is not a plain string field"),
    }
}

#[cfg(test)]
mod tests {
    use crate::load::{load_segment, load_str};
    use crate::model::Message;

    fn load_error(text: &str) -> String {
        load_str(text).expect_err("the load should fail").to_string()
    }

    #[test]
    fn errors_name_the_record_id_field_and_problem() {
        let cases: &[(&str, &[&str])] = &[
            (
                "{\"_id\":\"a\"}\n{\"_id\":\"b\",\"channel\":\"fax\"}",
                &["line 2", "\"b\"", "`channel`", "\"fax\"", "`email`, `sms`"],
            ),
            ("{\"_id\":\"a\",\"colour\":\"red\"}", &["line 1", "\"a\"", "`colour`", "unknown field"]),
            ("{\"colour\":\"red\",\"_id\":\"late\"}", &["\"late\"", "`colour`"]),
            ("{\"_id\":\"a\",\"created\":\"2023-02-29 10:00:00\"}", &["`created`", "real calendar time"]),
            ("{\"_id\":\"a\",\"created\":\"2023-02-01T10:00:00\"}", &["`created`", "YYYY-MM-DD HH:MM:SS"]),
            ("{\"_id\":\"a\",\"tags\":[\"x\",1]}", &["`tags`", "array containing a number"]),
            ("{\"_id\":\"a\",\"tags\":\"x\"}", &["`tags`", "found a string"]),
            ("{\"_id\":\"a\",\"content\":5}", &["`content`", "found a number"]),
            ("{\"_id\":\"a\",\"content\":{}}", &["`content`", "found an object"]),
            ("{\"_id\":\"a\",\"read\":true}", &["`read`", "found a boolean"]),
            ("{\"_id\":\"\"}", &["`_id`", "non-empty"]),
            ("{\"channel\":\"sms\"}", &["`_id`", "required"]),
            ("{\"_id\":null}", &["`_id`", "required"]),
            ("{\"_id\":7}", &["`_id`", "required"]),
            ("{\"_id\":\"a\",\"_id\":\"b\"}", &["`_id`", "more than once"]),
            ("{\"_id\":\"a\"}\n{\"_id\":\"a\"}", &["line 2", "already used", "line 1"]),
            ("[{\"_id\":\"a\"},{\"_id\":\"a\"}]", &["array index 1", "already used", "array index 0"]),
            ("[{\"_id\":\"a\"},{\"_id\":\"b\",\"direction\":\"up\"}]", &["array index 1", "`direction`"]),
            ("{\"_id\":\"a\"}\n[1]", &["line 2", "not a JSON object"]),
            ("{\"_id\":\"a\"}\n{\"_id\":", &["line 2", "invalid JSON"]),
            ("{\"_id\":\"a\"} x", &["line 1", "invalid JSON", "trailing"]),
            ("[{\"_id\":\"a\"},", &["invalid JSON"]),
            ("[{\"_id\":\"a\"}] []", &["invalid JSON"]),
        ];
        for (text, needles) in cases {
            let message = load_error(text);
            let from_segment = load_segment(text.as_bytes(), "input").unwrap_err().to_string();
            assert_eq!(from_segment, message, "the two loaders say the same of {text:?}");
            for needle in *needles {
                assert!(message.contains(needle), "error for {text:?} was {message:?}, which lacks {needle:?}");
            }
        }
    }

    #[test]
    fn a_missing_field_is_null_and_values_round_trip() {
        let line = r#"{"_id":"ä1","tags":["b","a","b"],"invoices":[],"subject":"Zoë \"quoted\"\n","date_time":"2024-02-29 23:59:59"}"#;
        let message = load_str(line).unwrap().remove(0);
        assert_eq!(message.id, "ä1");
        assert_eq!(message.tags, Some(vec!["b".into(), "a".into(), "b".into()]));
        assert_eq!(message.invoices, Some(vec![]));
        assert_eq!(message.literature_items, None);
        assert_eq!(message.subject.as_deref(), Some("Zoë \"quoted\"\n"));
        let json: serde_json::Value = serde_json::from_str(&message.to_json()).unwrap();
        assert_eq!(json["date_time"], "2024-02-29 23:59:59");
        assert_eq!(json["literature_items"], serde_json::Value::Null);
        assert_eq!(json.as_object().unwrap().len(), 31);
    }

    #[test]
    fn messages_round_trip_through_serde_as_the_api_writes_them() {
        let text = r#"{"_id":"m1","channel":"sms","created":"2024-01-02 03:04:05","tags":["a","b"],"content":"Zo\u00eb \"hi\"\n"}"#;
        let message: Message = serde_json::from_str(text).unwrap();
        assert_eq!(message, crate::load::load_str(text).unwrap().remove(0), "the loader's reading");
        let written = serde_json::to_string(&message).unwrap();
        assert_eq!(written, message.to_json(), "serde writes the canonical JSON");
        assert_eq!(serde_json::from_str::<Message>(&written).unwrap(), message);
        for (bad, words) in [
            (r#"{"_id":"a","channel":"fax"}"#, "field `channel`"),
            (r#"{"_id":"a","channel":"sms","channel":"sms"}"#, "more than once"),
            (r#"{"_id":"a","colour":1}"#, "unknown field"),
            (r#"{"channel":"sms"}"#, "`_id` is required"),
            (r#"{"_id":"a","created":"2024-02-30 00:00:00"}"#, "field `created`"),
        ] {
            let error = serde_json::from_str::<Message>(bad).unwrap_err().to_string();
            assert!(error.contains(words), "{bad}: {error}");
        }
    }
}
