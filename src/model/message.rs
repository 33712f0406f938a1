//! [`Message`]: the typed message the loader produces and every engine
//! answers from, and [`FieldValue`], a borrowed view of one of its values.

use super::{Channel, DateTime, DeliveryStatus, Direction, Field};

/// A message of the CareHQ CRM: all 31 fields of SPEC §1, typed.
///
/// `None` is JSON `null`; a list field keeps `null` (`None`) apart from `[]`
/// (`Some(vec![])`) and keeps its order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct Message {
    /// `_id`: non-empty and unique in a store.
    pub id: String,
    pub anonymized: Option<DateTime>,
    pub care_enquiry: Option<String>,
    pub channel: Option<Channel>,
    pub content: Option<String>,
    pub correspondent: Option<String>,
    pub created: Option<DateTime>,
    pub date_time: Option<DateTime>,
    pub delivery_status: Option<DeliveryStatus>,
    pub destination: Option<String>,
    pub direction: Option<Direction>,
    pub download_id: Option<String>,
    pub external_service: Option<String>,
    pub invoices: Option<Vec<String>>,
    pub literature_items: Option<Vec<String>>,
    pub literature_items_downloaded: Option<Vec<String>>,
    pub location: Option<String>,
    pub location_contact: Option<String>,
    pub modified: Option<DateTime>,
    pub origin: Option<String>,
    pub read: Option<DateTime>,
    pub read_by: Option<String>,
    pub reply_to: Option<String>,
    pub resolved: Option<DateTime>,
    pub resolved_by: Option<String>,
    pub sent_by: Option<String>,
    pub service_user: Option<String>,
    pub service_user_contact: Option<String>,
    pub subject: Option<String>,
    pub tags: Option<Vec<String>>,
    pub thread_id: Option<String>,
}

/// A borrowed view of one field's value, whatever its kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldValue<'a> {
    /// JSON `null`.
    Null,
    /// A string (enum values are given as their spelling).
    Str(&'a str),
    /// A date/time.
    DateTime(DateTime),
    /// An array of strings.
    List(&'a [String]),
}

impl<'a> FieldValue<'a> {
    fn from_str(value: &'a Option<String>) -> FieldValue<'a> {
        value.as_deref().map_or(FieldValue::Null, FieldValue::Str)
    }

    fn from_date_time(value: Option<DateTime>) -> FieldValue<'a> {
        value.map_or(FieldValue::Null, FieldValue::DateTime)
    }

    fn from_list(value: &'a Option<Vec<String>>) -> FieldValue<'a> {
        value.as_deref().map_or(FieldValue::Null, FieldValue::List)
    }

    /// The length of [`FieldValue::write_json`]'s text when no character
    /// needs escaping (a lower bound otherwise): for reserving room.
    pub fn unescaped_json_len(&self) -> usize {
        match self {
            FieldValue::Null => 4,
            FieldValue::Str(text) => text.len() + 2,
            FieldValue::DateTime(_) => 21,
            FieldValue::List(items) => 2 + items.iter().map(|item| item.len() + 3).sum::<usize>(),
        }
    }

    /// Appends the value as compact JSON, escaped exactly as `serde_json` does.
    pub fn write_json(self, out: &mut Vec<u8>) {
        match self {
            FieldValue::Null => out.extend_from_slice(b"null"),
            FieldValue::Str(text) => crate::json::write_json_string(out, text),
            FieldValue::DateTime(value) => {
                out.push(b'"');
                value.write_to(out);
                out.push(b'"');
            }
            FieldValue::List(items) => {
                out.push(b'[');
                for (position, item) in items.iter().enumerate() {
                    if position > 0 {
                        out.push(b',');
                    }
                    crate::json::write_json_string(out, item);
                }
                out.push(b']');
            }
        }
    }
}

impl Message {
    /// A message with this `_id` and every other field `null`.
    pub fn with_id(id: impl Into<String>) -> Message {
        Message { id: id.into(), ..Message::default() }
    }

    /// The value of one field.
    pub fn get(&self, field: Field) -> FieldValue<'_> {
        use FieldValue as V;
        match field {
            Field::Id => V::Str(&self.id),
            Field::Anonymized => V::from_date_time(self.anonymized),
            Field::CareEnquiry => V::from_str(&self.care_enquiry),
            Field::Channel => self.channel.map_or(V::Null, |value| V::Str(value.as_str())),
            Field::Content => V::from_str(&self.content),
            Field::Correspondent => V::from_str(&self.correspondent),
            Field::Created => V::from_date_time(self.created),
            Field::DateTime => V::from_date_time(self.date_time),
            Field::DeliveryStatus => self.delivery_status.map_or(V::Null, |value| V::Str(value.as_str())),
            Field::Destination => V::from_str(&self.destination),
            Field::Direction => self.direction.map_or(V::Null, |value| V::Str(value.as_str())),
            Field::DownloadId => V::from_str(&self.download_id),
            Field::ExternalService => V::from_str(&self.external_service),
            Field::Invoices => V::from_list(&self.invoices),
            Field::LiteratureItems => V::from_list(&self.literature_items),
            Field::LiteratureItemsDownloaded => V::from_list(&self.literature_items_downloaded),
            Field::Location => V::from_str(&self.location),
            Field::LocationContact => V::from_str(&self.location_contact),
            Field::Modified => V::from_date_time(self.modified),
            Field::Origin => V::from_str(&self.origin),
            Field::Read => V::from_date_time(self.read),
            Field::ReadBy => V::from_str(&self.read_by),
            Field::ReplyTo => V::from_str(&self.reply_to),
            Field::Resolved => V::from_date_time(self.resolved),
            Field::ResolvedBy => V::from_str(&self.resolved_by),
            Field::SentBy => V::from_str(&self.sent_by),
            Field::ServiceUser => V::from_str(&self.service_user),
            Field::ServiceUserContact => V::from_str(&self.service_user_contact),
            Field::Subject => V::from_str(&self.subject),
            Field::Tags => V::from_list(&self.tags),
            Field::ThreadId => V::from_str(&self.thread_id),
        }
    }

    /// The date/time value of a date/time field (`None` for `null` or for a
    /// field of another kind).
    pub fn date_time_of(&self, field: Field) -> Option<DateTime> {
        match self.get(field) {
            FieldValue::DateTime(value) => Some(value),
            _ => None,
        }
    }

    /// The full message as one compact JSON object in canonical field order.
    pub fn to_json(&self) -> String {
        let mut out = Vec::with_capacity(1024);
        self.write_json(&mut out, &Field::ALL);
        String::from_utf8(out).expect("JSON output is UTF-8")
    }

    /// Appends a JSON object holding `fields` (which must be in canonical
    /// order and unique) to `out`.
    pub fn write_json(&self, out: &mut Vec<u8>, fields: &[Field]) {
        out.push(b'{');
        for (position, &field) in fields.iter().enumerate() {
            if position > 0 {
                out.push(b',');
            }
            out.push(b'"');
            out.extend_from_slice(field.name().as_bytes());
            out.extend_from_slice(b"\":");
            self.get(field).write_json(out);
        }
        out.push(b'}');
    }
}

/// A message serializes as the API writes it: every field, in canonical
/// order, `null` for a missing value — the same text as
/// [`Message::to_json`] when written with `serde_json`.
impl serde::Serialize for Message {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(Field::ALL.len()))?;
        for field in Field::ALL {
            map.serialize_entry(field.name(), &self.get(field))?;
        }
        map.end()
    }
}

impl serde::Serialize for FieldValue<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            FieldValue::Null => serializer.serialize_none(),
            FieldValue::Str(text) => serializer.serialize_str(text),
            FieldValue::DateTime(value) => serializer.collect_str(value),
            FieldValue::List(items) => serializer.collect_seq(items.iter()),
        }
    }
}
