//! The message object of SPEC §1: its 31 fields, their kinds, and the typed
//! [`Message`] that the loader produces and both engines answer from.
//!
//! Field order matters: [`Field::ALL`] lists the fields in the canonical
//! order (byte-wise ascending by name, so `_id` first), and every JSON object
//! msgdex writes follows it.

use std::fmt;

/// One of the 31 fields of a message, declared in canonical order so that
/// `Field as usize` is the field's position in every object msgdex writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[allow(missing_docs)]
pub enum Field {
    Id,
    Anonymized,
    CareEnquiry,
    Channel,
    Content,
    Correspondent,
    Created,
    DateTime,
    DeliveryStatus,
    Destination,
    Direction,
    DownloadId,
    ExternalService,
    Invoices,
    LiteratureItems,
    LiteratureItemsDownloaded,
    Location,
    LocationContact,
    Modified,
    Origin,
    Read,
    ReadBy,
    ReplyTo,
    Resolved,
    ResolvedBy,
    SentBy,
    ServiceUser,
    ServiceUserContact,
    Subject,
    Tags,
    ThreadId,
}

/// The JSON shape of a field's value (SPEC §1, "kind").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    /// `_id`: a non-empty string, unique in a store.
    Id,
    /// `"YYYY-MM-DD HH:MM:SS"` or `null`.
    DateTime,
    /// `channel`: `email`, `sms` or `null`.
    Channel,
    /// `direction`: `inbound`, `outbound` or `null`.
    Direction,
    /// `delivery_status`: `sent`, `failed`, `queued`, `unknown` or `null`.
    DeliveryStatus,
    /// An array of strings, or `null` (kept apart from `[]`).
    StringList,
    /// A string or `null`.
    String,
}

impl Field {
    /// Every field, in canonical order.
    pub const ALL: [Field; 31] = [
        Field::Id,
        Field::Anonymized,
        Field::CareEnquiry,
        Field::Channel,
        Field::Content,
        Field::Correspondent,
        Field::Created,
        Field::DateTime,
        Field::DeliveryStatus,
        Field::Destination,
        Field::Direction,
        Field::DownloadId,
        Field::ExternalService,
        Field::Invoices,
        Field::LiteratureItems,
        Field::LiteratureItemsDownloaded,
        Field::Location,
        Field::LocationContact,
        Field::Modified,
        Field::Origin,
        Field::Read,
        Field::ReadBy,
        Field::ReplyTo,
        Field::Resolved,
        Field::ResolvedBy,
        Field::SentBy,
        Field::ServiceUser,
        Field::ServiceUserContact,
        Field::Subject,
        Field::Tags,
        Field::ThreadId,
    ];

    /// The field's JSON name.
    pub const fn name(self) -> &'static str {
        match self {
            Field::Id => "_id",
            Field::Anonymized => "anonymized",
            Field::CareEnquiry => "care_enquiry",
            Field::Channel => "channel",
            Field::Content => "content",
            Field::Correspondent => "correspondent",
            Field::Created => "created",
            Field::DateTime => "date_time",
            Field::DeliveryStatus => "delivery_status",
            Field::Destination => "destination",
            Field::Direction => "direction",
            Field::DownloadId => "download_id",
            Field::ExternalService => "external_service",
            Field::Invoices => "invoices",
            Field::LiteratureItems => "literature_items",
            Field::LiteratureItemsDownloaded => "literature_items_downloaded",
            Field::Location => "location",
            Field::LocationContact => "location_contact",
            Field::Modified => "modified",
            Field::Origin => "origin",
            Field::Read => "read",
            Field::ReadBy => "read_by",
            Field::ReplyTo => "reply_to",
            Field::Resolved => "resolved",
            Field::ResolvedBy => "resolved_by",
            Field::SentBy => "sent_by",
            Field::ServiceUser => "service_user",
            Field::ServiceUserContact => "service_user_contact",
            Field::Subject => "subject",
            Field::Tags => "tags",
            Field::ThreadId => "thread_id",
        }
    }

    /// The field with this JSON name, if any (names are case-sensitive).
    pub fn from_name(name: &str) -> Option<Field> {
        Field::from_name_bytes(name.as_bytes())
    }

    /// [`Field::from_name`] for a name as bytes (any bytes: only the 31
    /// ASCII names match), so that a loader need not check UTF-8 first.
    pub fn from_name_bytes(name: &[u8]) -> Option<Field> {
        // A `match` compiles to length and byte tests: several times faster
        // than a binary search over the names, and the loader calls this for
        // every key of every record.
        Some(match name {
            b"_id" => Field::Id,
            b"anonymized" => Field::Anonymized,
            b"care_enquiry" => Field::CareEnquiry,
            b"channel" => Field::Channel,
            b"content" => Field::Content,
            b"correspondent" => Field::Correspondent,
            b"created" => Field::Created,
            b"date_time" => Field::DateTime,
            b"delivery_status" => Field::DeliveryStatus,
            b"destination" => Field::Destination,
            b"direction" => Field::Direction,
            b"download_id" => Field::DownloadId,
            b"external_service" => Field::ExternalService,
            b"invoices" => Field::Invoices,
            b"literature_items" => Field::LiteratureItems,
            b"literature_items_downloaded" => Field::LiteratureItemsDownloaded,
            b"location" => Field::Location,
            b"location_contact" => Field::LocationContact,
            b"modified" => Field::Modified,
            b"origin" => Field::Origin,
            b"read" => Field::Read,
            b"read_by" => Field::ReadBy,
            b"reply_to" => Field::ReplyTo,
            b"resolved" => Field::Resolved,
            b"resolved_by" => Field::ResolvedBy,
            b"sent_by" => Field::SentBy,
            b"service_user" => Field::ServiceUser,
            b"service_user_contact" => Field::ServiceUserContact,
            b"subject" => Field::Subject,
            b"tags" => Field::Tags,
            b"thread_id" => Field::ThreadId,
            _ => return None,
        })
    }

    /// The field's kind, which fixes its JSON shape.
    pub const fn kind(self) -> FieldKind {
        match self {
            Field::Id => FieldKind::Id,
            Field::Anonymized | Field::Created | Field::DateTime | Field::Modified | Field::Read | Field::Resolved => {
                FieldKind::DateTime
            }
            Field::Channel => FieldKind::Channel,
            Field::Direction => FieldKind::Direction,
            Field::DeliveryStatus => FieldKind::DeliveryStatus,
            Field::Invoices | Field::LiteratureItems | Field::LiteratureItemsDownloaded | Field::Tags => {
                FieldKind::StringList
            }
            _ => FieldKind::String,
        }
    }

    /// The field's position in canonical order (0 for `_id`).
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A naive date/time (no time zone) with one-second resolution, as the API
/// writes it: `"YYYY-MM-DD HH:MM:SS"`, years 0000 to 9999.
///
/// Stored as seconds since 0000-01-01 00:00:00 in the proleptic Gregorian
/// calendar, so that chronological order is integer order and a value takes
/// eight bytes in a column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DateTime(i64);

/// Seconds in a day.
const DAY: i64 = 86_400;

/// Days from 0000-01-01 to 0001-01-01 (year 0 is a leap year), so that
/// chrono's day count from the common era can be shifted to start at 0.
const YEAR_ZERO_DAYS: i64 = 366;

impl DateTime {
    /// Seconds since 0000-01-01 00:00:00.
    pub const fn seconds(self) -> i64 {
        self.0
    }

    /// The date/time `seconds` after 0000-01-01 00:00:00, if that is within
    /// the years 0000 to 9999.
    pub fn from_seconds(seconds: i64) -> Option<DateTime> {
        let latest = DateTime::from_parts(9999, 12, 31, 23, 59, 59)?;
        (0..=latest.0).contains(&seconds).then_some(DateTime(seconds))
    }

    /// The date/time of the given calendar fields, if they name a real time
    /// (no 24:00:00, no leap second, no 30 February).
    pub fn from_parts(year: u32, month: u32, day: u32, hour: u32, minute: u32, second: u32) -> Option<DateTime> {
        if year > 9999 || hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        let date = chrono::NaiveDate::from_ymd_opt(year as i32, month, day)?;
        let days = i64::from(chrono::Datelike::num_days_from_ce(&date)) - 1 + YEAR_ZERO_DAYS;
        Some(DateTime(days * DAY + i64::from(hour * 3600 + minute * 60 + second)))
    }

    /// Parses exactly `YYYY-MM-DD HH:MM:SS` (the stored form).
    pub fn parse(text: &str) -> Option<DateTime> {
        DateTime::parse_with_separator(text, b' ')
    }

    /// Parses exactly `YYYY-MM-DD` as 00:00:00 of that day.
    pub fn parse_date(text: &str) -> Option<DateTime> {
        let bytes = text.as_bytes();
        if bytes.len() != 10 {
            return None;
        }
        let (year, month, day) = parse_date_digits(bytes)?;
        DateTime::from_parts(year, month, day, 0, 0, 0)
    }

    /// Parses a date/time request parameter (SPEC §2): `YYYY-MM-DD HH:MM:SS`,
    /// `YYYY-MM-DDTHH:MM:SS`, or `YYYY-MM-DD` meaning 00:00:00 of that day.
    pub fn parse_parameter(text: &str) -> Option<DateTime> {
        match text.len() {
            10 => DateTime::parse_date(text),
            19 => DateTime::parse_with_separator(text, b' ').or_else(|| DateTime::parse_with_separator(text, b'T')),
            _ => None,
        }
    }

    fn parse_with_separator(text: &str, separator: u8) -> Option<DateTime> {
        let bytes = text.as_bytes();
        if bytes.len() != 19 || bytes[10] != separator || bytes[13] != b':' || bytes[16] != b':' {
            return None;
        }
        let (year, month, day) = parse_date_digits(&bytes[..10])?;
        let hour = digits(&bytes[11..13])?;
        let minute = digits(&bytes[14..16])?;
        let second = digits(&bytes[17..19])?;
        DateTime::from_parts(year, month, day, hour, minute, second)
    }

    /// The last second of this date/time's day (23:59:59).
    pub fn end_of_day(self) -> DateTime {
        DateTime(self.0 - self.0.rem_euclid(DAY) + DAY - 1)
    }

    /// Writes the canonical `YYYY-MM-DD HH:MM:SS` form into `out`.
    pub fn write_to(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_bytes());
    }

    /// The canonical form as 19 ASCII bytes, without allocating.
    pub fn to_bytes(self) -> [u8; 19] {
        let days = self.0.div_euclid(DAY);
        let second_of_day = self.0.rem_euclid(DAY) as u32;
        let date = chrono::NaiveDate::from_num_days_from_ce_opt((days - YEAR_ZERO_DAYS + 1) as i32)
            .expect("a DateTime is always within years 0000..=9999");
        let (year, month, day) =
            (chrono::Datelike::year(&date) as u32, chrono::Datelike::month(&date), chrono::Datelike::day(&date));
        let mut out = *b"0000-00-00 00:00:00";
        put_digits(&mut out[0..4], year);
        put_digits(&mut out[5..7], month);
        put_digits(&mut out[8..10], day);
        put_digits(&mut out[11..13], second_of_day / 3600);
        put_digits(&mut out[14..16], second_of_day / 60 % 60);
        put_digits(&mut out[17..19], second_of_day % 60);
        out
    }
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.to_bytes();
        f.write_str(std::str::from_utf8(&bytes).expect("ASCII"))
    }
}

fn parse_date_digits(bytes: &[u8]) -> Option<(u32, u32, u32)> {
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    Some((digits(&bytes[0..4])?, digits(&bytes[5..7])?, digits(&bytes[8..10])?))
}

/// The value of a run of ASCII decimal digits; `None` if any byte is not one.
fn digits(bytes: &[u8]) -> Option<u32> {
    bytes.iter().try_fold(0u32, |value, &byte| byte.is_ascii_digit().then(|| value * 10 + u32::from(byte - b'0')))
}

fn put_digits(out: &mut [u8], mut value: u32) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// Declares a closed set of string values (an API enum) with its parsing
/// and canonical spelling.
macro_rules! api_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $(#[doc = concat!("`", $text, "`")] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value as the API spells it.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The value spelled exactly `text`, if any.
            pub fn parse(text: &str) -> Option<$name> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// The allowed spellings, for error messages: `` `a`, `b` ``.
            pub fn allowed() -> String {
                $name::ALL.iter().map(|value| format!("`{}`", value.as_str())).collect::<Vec<_>>().join(", ")
            }

            /// The value's small code (its position in [`Self::ALL`]).
            pub const fn code(self) -> u8 {
                self as u8
            }
        }
    };
}

api_enum!(
    /// The channel a message went over.
    Channel { Email => "email", Sms => "sms" }
);
api_enum!(
    /// Whether a message was received or sent.
    Direction { Inbound => "inbound", Outbound => "outbound" }
);
api_enum!(
    /// The sender service's verdict on an outbound message.
    DeliveryStatus { Sent => "sent", Failed => "failed", Queued => "queued", Unknown => "unknown" }
);

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
            FieldValue::Str(text) => crate::output::write_json_string(out, text),
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
                    crate::output::write_json_string(out, item);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_in_canonical_byte_order() {
        let names: Vec<&str> = Field::ALL.iter().map(|field| field.name()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        assert_eq!(names.len(), 31);
        for (position, field) in Field::ALL.iter().enumerate() {
            assert_eq!(field.index(), position);
            assert_eq!(Field::from_name(field.name()), Some(*field));
        }
        assert_eq!(Field::from_name("colour"), None);
        assert_eq!(Field::from_name("ID"), None);
    }

    #[test]
    fn date_times_parse_strictly_and_round_trip() {
        for text in ["2024-02-29 23:59:59", "0000-01-01 00:00:00", "9999-12-31 23:59:59", "1970-01-01 00:00:00"] {
            let value = DateTime::parse(text).unwrap_or_else(|| panic!("{text} should parse"));
            assert_eq!(value.to_string(), text);
            assert_eq!(DateTime::from_seconds(value.seconds()), Some(value));
        }
        for bad in [
            "2023-02-29 00:00:00",
            "2024-13-01 00:00:00",
            "2024-01-01 24:00:00",
            "2024-01-01 23:60:00",
            "2024-01-01 23:59:60",
            "2024-1-01 00:00:00",
            "2024-01-01T00:00:00",
            "2024-01-01 00:00:00Z",
            "2024-01-01",
            "+024-01-01 00:00:00",
            "２０２４-01-01 00:00:00",
            "",
        ] {
            assert_eq!(DateTime::parse(bad), None, "{bad:?} should be rejected");
        }
    }

    #[test]
    fn date_times_order_chronologically() {
        let earlier = DateTime::parse("1999-12-31 23:59:59").unwrap();
        let later = DateTime::parse("2000-01-01 00:00:00").unwrap();
        assert!(earlier < later);
        assert_eq!(later.seconds() - earlier.seconds(), 1);
        assert_eq!(earlier.end_of_day(), earlier);
        assert_eq!(later.end_of_day().to_string(), "2000-01-01 23:59:59");
    }

    #[test]
    fn parameters_accept_three_forms() {
        let expected = DateTime::parse("2024-03-01 10:11:12").unwrap();
        assert_eq!(DateTime::parse_parameter("2024-03-01T10:11:12"), Some(expected));
        assert_eq!(DateTime::parse_parameter("2024-03-01 10:11:12"), Some(expected));
        assert_eq!(DateTime::parse_parameter("2024-03-01"), DateTime::parse("2024-03-01 00:00:00"));
        assert_eq!(DateTime::parse_parameter("2024-03-01t10:11:12"), None);
        assert_eq!(DateTime::parse_parameter("2024-03-01 10:11"), None);
    }

    #[test]
    fn enums_parse_only_their_spellings() {
        assert_eq!(Channel::parse("sms"), Some(Channel::Sms));
        assert_eq!(Channel::parse("SMS"), None);
        assert_eq!(DeliveryStatus::parse("unknown"), Some(DeliveryStatus::Unknown));
        assert_eq!(Direction::allowed(), "`inbound`, `outbound`");
    }
}
