//! The 31 fields of a message and the JSON shape of each (SPEC §1).
//!
//! [`Field::ALL`] lists the fields in the canonical order (byte-wise
//! ascending by name, so `_id` first), and every JSON object msgdex writes
//! follows it.

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
}
