//! Request parsing (SPEC §2, §5, §6, §7): a request target such as
//! `/v1/messages?filters-channel=sms` becomes a typed [`Request`]; a list
//! query string becomes a validated [`ListQuery`] or the full set of
//! [`ArgErrors`].
//!
//! Parsing is total: any bytes give a request or an error, never a panic
//! (the parser is fuzzed by property tests).

use std::borrow::Cow;

use crate::json::quoted;
use crate::model::{Channel, DateKey, DateTime, DeliveryStatus, Direction, Field};
use crate::output::ArgErrors;

/// The path of the list endpoint; a retrieve is this plus `/<id>`.
pub const MESSAGES_PATH: &str = "/v1/messages";

/// The default page size (SPEC §2).
pub const DEFAULT_PER_PAGE: u32 = 10;

/// The default largest page size (SPEC §2: a store option).
pub const DEFAULT_MAX_PER_PAGE: u32 = 100;

/// Options of a store that shape request validation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryLimits {
    /// The largest `per_page` accepted.
    pub max_per_page: u32,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits { max_per_page: DEFAULT_MAX_PER_PAGE }
    }
}

/// What a request target asks for.
// One is built per request and consumed at once, so its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// `GET /v1/messages?…`, parsed and validated.
    List(Result<ListQuery, ArgErrors>),
    /// `GET /v1/messages/<id>`, the Id percent-decoded.
    Retrieve(String),
    /// Any other path: answered 404.
    UnknownPath(String),
}

impl Request {
    /// Parses a request target: a path with an optional `?query`.
    ///
    /// The query of a retrieve is ignored, as a web server would. The Id of
    /// a retrieve is the rest of the path, percent-decoded (`+` stays `+`);
    /// bytes that are not UTF-8 after decoding become U+FFFD.
    pub fn parse(target: &str, limits: &QueryLimits) -> Request {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        if path == MESSAGES_PATH {
            return Request::List(ListQuery::parse(query, limits));
        }
        match path.strip_prefix(MESSAGES_PATH).and_then(|rest| rest.strip_prefix('/')) {
            Some(id) if !id.is_empty() => {
                Request::Retrieve(percent_encoding::percent_decode_str(id).decode_utf8_lossy().into_owned())
            }
            _ => Request::UnknownPath(path.to_owned()),
        }
    }
}

/// `filters-anonymized` and `filters-read`: whether the date/time field must
/// be set, must be null, or is not filtered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Presence {
    /// `unset` (the default): no filter.
    #[default]
    Unset,
    /// `yes`: the field is not null.
    Yes,
    /// `no`: the field is null.
    No,
}

/// A key that lists can be sorted by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SortField {
    /// `_id`, compared byte-wise: the rows' own order.
    Id,
    /// A date/time field, which has a sorted order of its own.
    Date(DateKey),
}

impl SortField {
    /// Every sort field, in the order the API documents them.
    pub const ALL: [SortField; 4] = [
        SortField::Id,
        SortField::Date(DateKey::Created),
        SortField::Date(DateKey::Modified),
        SortField::Date(DateKey::DateTime),
    ];

    /// The message field this key sorts by.
    pub const fn field(self) -> Field {
        match self {
            SortField::Id => Field::Id,
            SortField::Date(key) => key.field(),
        }
    }

    /// The date key, unless this is `_id`.
    pub const fn date_key(self) -> Option<DateKey> {
        match self {
            SortField::Id => None,
            SortField::Date(key) => Some(key),
        }
    }

    fn parse(name: &str) -> Option<SortField> {
        SortField::ALL.into_iter().find(|key| key.field().name() == name)
    }
}

/// One sort key and its direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SortKey {
    /// The key.
    pub field: SortField,
    /// `-` prefix: largest first (`null` last).
    pub descending: bool,
}

/// A list filter on an Id-like string field: the field equals one of the
/// values (SPEC §2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValueFilter {
    /// The field filtered.
    pub field: Field,
    /// The accepted values, in request order, possibly repeated.
    pub values: Vec<String>,
    /// Each value as a segment's dictionary holds it (JSON text), quoted
    /// once here instead of by every segment a plan looks it up in.
    pub fragments: Vec<Box<[u8]>>,
}

impl ValueFilter {
    /// A filter on `field` accepting `values`.
    pub fn new(field: Field, values: Vec<String>) -> ValueFilter {
        let fragments = values
            .iter()
            .map(|value| {
                let mut fragment = Vec::with_capacity(value.len() + 2);
                crate::json::write_json_string(&mut fragment, value);
                fragment.into_boxed_slice()
            })
            .collect();
        ValueFilter { field, values, fragments }
    }
}

/// A validated list request: every filter, the order, the page and the
/// projection, with defaults filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListQuery {
    /// Fields of each item: unique, in canonical order, `_id` first.
    pub attributes: Vec<Field>,
    /// `filters-anonymized`.
    pub anonymized: Presence,
    /// `filters-read`.
    pub read: Presence,
    /// The Id list filters, in the order of the API's parameter list.
    pub value_filters: Vec<ValueFilter>,
    /// `filters-channel`: accepted values.
    pub channels: Option<Vec<Channel>>,
    /// `filters-direction`: accepted values.
    pub directions: Option<Vec<Direction>>,
    /// `filters-delivery_status`: accepted values.
    pub delivery_statuses: Option<Vec<DeliveryStatus>>,
    /// `filters-start_date`: `date_time` ≥ this (00:00:00 of the date).
    pub date_time_from: Option<DateTime>,
    /// `filters-end_date`: `date_time` ≤ this (23:59:59 of the date).
    pub date_time_to: Option<DateTime>,
    /// `filters-modified_after`: `modified` > this.
    pub modified_after: Option<DateTime>,
    /// `filters-modified_before`: `modified` < this.
    pub modified_before: Option<DateTime>,
    /// `filters-q`, trimmed and lower-cased; `None` when absent or blank.
    pub text: Option<String>,
    /// The page number, from 1.
    pub page: u64,
    /// The page size.
    pub per_page: u32,
    /// Sort keys, first is primary, always ending with `_id` somewhere so
    /// that the order is total.
    pub sort: Vec<SortKey>,
}

impl Default for ListQuery {
    /// The query of a bare `/v1/messages`.
    fn default() -> Self {
        ListQuery {
            attributes: vec![Field::Id],
            anonymized: Presence::Unset,
            read: Presence::Unset,
            value_filters: Vec::new(),
            channels: None,
            directions: None,
            delivery_statuses: None,
            date_time_from: None,
            date_time_to: None,
            modified_after: None,
            modified_before: None,
            text: None,
            page: 1,
            per_page: DEFAULT_PER_PAGE,
            sort: vec![SortKey { field: SortField::Id, descending: false }],
        }
    }
}

/// The Id list filters: parameter name and the field it filters.
pub const VALUE_FILTERS: [(&str, Field); 8] = [
    ("filters-care_enquiry", Field::CareEnquiry),
    ("filters-location", Field::Location),
    ("filters-location_contact", Field::LocationContact),
    ("filters-sent_by", Field::SentBy),
    ("filters-service_user", Field::ServiceUser),
    ("filters-service_user_contact", Field::ServiceUserContact),
    ("filters-ids", Field::Id),
    ("filters-reply_to_user", Field::ReplyTo),
];

/// Every parameter of the list endpoint, for the unknown-parameter message.
pub const PARAMETERS: [&str; 22] = [
    "attributes",
    "filters-anonymized",
    "filters-care_enquiry",
    "filters-channel",
    "filters-delivery_status",
    "filters-direction",
    "filters-end_date",
    "filters-ids",
    "filters-location",
    "filters-location_contact",
    "filters-modified_after",
    "filters-modified_before",
    "filters-q",
    "filters-read",
    "filters-reply_to_user",
    "filters-sent_by",
    "filters-service_user",
    "filters-service_user_contact",
    "filters-start_date",
    "page",
    "per_page",
    "sort_by",
];

/// The query string's values grouped by parameter name, in first-seen
/// order, empty values dropped.
type GroupedParameters<'a> = Vec<(Cow<'a, str>, Vec<Cow<'a, str>>)>;

fn group_parameters(query: &str) -> GroupedParameters<'_> {
    let mut grouped: GroupedParameters<'_> = Vec::new();
    // Position of each name in `grouped`: linear in the number of
    // parameters however many distinct names a hostile query sends.
    let mut positions: hashbrown::HashMap<Cow<'_, str>, usize> = hashbrown::HashMap::new();
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        if value.is_empty() {
            continue;
        }
        match positions.get(&name) {
            Some(&position) => grouped[position].1.push(value),
            None => {
                positions.insert(name.clone(), grouped.len());
                grouped.push((name, vec![value]));
            }
        }
    }
    grouped
}

/// Collects the problems of one parameter under its name.
struct Problems {
    errors: ArgErrors,
}

impl Problems {
    fn add(&mut self, parameter: &str, message: String) {
        self.errors.entry(parameter.to_owned()).or_default().push(message);
    }

    /// The one value of a single-valued parameter, or a problem if it was
    /// sent more than once.
    fn single<'v>(&mut self, parameter: &str, values: &'v [Cow<'_, str>]) -> Option<&'v str> {
        if values.len() > 1 {
            self.add(
                parameter,
                format!("Only one value is allowed, but {} were sent; send `{parameter}` once.", values.len()),
            );
            return None;
        }
        values.first().map(|value| value.as_ref())
    }
}

impl ListQuery {
    /// Parses and validates a list query string (without the `?`).
    ///
    /// Every invalid parameter is reported under its own name, each message
    /// saying what was wrong and what is allowed.
    pub fn parse(query: &str, limits: &QueryLimits) -> Result<ListQuery, ArgErrors> {
        let mut list = ListQuery::default();
        let mut problems = Problems { errors: ArgErrors::new() };
        for (name, values) in group_parameters(query) {
            let parameter = name.as_ref();
            if let Some(&(_, field)) = VALUE_FILTERS.iter().find(|(known, _)| *known == parameter) {
                let values = values.iter().map(|value| value.to_string()).collect();
                list.value_filters.push(ValueFilter::new(field, values));
                continue;
            }
            match parameter {
                "attributes" => list.attributes = parse_attributes(&values, &mut problems),
                "filters-anonymized" | "filters-read" => {
                    let Some(value) = problems.single(parameter, &values) else {
                        continue;
                    };
                    let presence = match value {
                        "unset" => Presence::Unset,
                        "yes" => Presence::Yes,
                        "no" => Presence::No,
                        other => {
                            let message = format!("{} is not allowed; use `yes`, `no` or `unset`.", quoted(other));
                            problems.add(parameter, message);
                            continue;
                        }
                    };
                    if parameter == "filters-anonymized" {
                        list.anonymized = presence;
                    } else {
                        list.read = presence;
                    }
                }
                "filters-channel" => {
                    list.channels =
                        Some(parse_enums(parameter, &values, Channel::parse, Channel::allowed, &mut problems))
                }
                "filters-direction" => {
                    list.directions =
                        Some(parse_enums(parameter, &values, Direction::parse, Direction::allowed, &mut problems))
                }
                "filters-delivery_status" => {
                    list.delivery_statuses = Some(parse_enums(
                        parameter,
                        &values,
                        DeliveryStatus::parse,
                        DeliveryStatus::allowed,
                        &mut problems,
                    ))
                }
                "filters-start_date" | "filters-end_date" => {
                    let Some(value) = problems.single(parameter, &values) else {
                        continue;
                    };
                    match DateTime::parse_date(value) {
                        Some(day) if parameter == "filters-start_date" => list.date_time_from = Some(day),
                        Some(day) => list.date_time_to = Some(day.end_of_day()),
                        None => problems.add(
                            parameter,
                            format!("{} is not a date; use YYYY-MM-DD naming a real calendar day.", quoted(value)),
                        ),
                    }
                }
                "filters-modified_after" | "filters-modified_before" => {
                    let Some(value) = problems.single(parameter, &values) else {
                        continue;
                    };
                    match DateTime::parse_parameter(value) {
                        Some(moment) if parameter == "filters-modified_after" => list.modified_after = Some(moment),
                        Some(moment) => list.modified_before = Some(moment),
                        None => problems.add(
                            parameter,
                            format!(
                                "{} is not a date/time; use YYYY-MM-DD HH:MM:SS, YYYY-MM-DDTHH:MM:SS or YYYY-MM-DD, naming a real calendar time.",
                                quoted(value)
                            ),
                        ),
                    }
                }
                "filters-q" => {
                    let Some(value) = problems.single(parameter, &values) else {
                        continue;
                    };
                    let trimmed = value.trim();
                    list.text = (!trimmed.is_empty()).then(|| trimmed.to_lowercase());
                }
                "page" => {
                    let Some(value) = problems.single(parameter, &values) else {
                        continue;
                    };
                    match parse_integer(value) {
                        Some(page) if page >= 1 => list.page = page,
                        _ => problems.add(
                            parameter,
                            format!(
                                "{} is not a valid page; use a whole number of 1 or more, in plain digits.",
                                quoted(value)
                            ),
                        ),
                    }
                }
                "per_page" => {
                    let Some(value) = problems.single(parameter, &values) else {
                        continue;
                    };
                    match parse_integer(value) {
                        Some(size) if (1..=u64::from(limits.max_per_page)).contains(&size) => {
                            list.per_page = size as u32
                        }
                        _ => problems.add(
                            parameter,
                            format!(
                                "{} is not a valid page size; use a whole number from 1 to {}, in plain digits.",
                                quoted(value),
                                limits.max_per_page
                            ),
                        ),
                    }
                }
                "sort_by" => list.sort = parse_sort(&values, &mut problems),
                unknown => problems.add(
                    unknown,
                    format!("Unknown parameter {}; the parameters are: {}.", quoted(unknown), PARAMETERS.join(", ")),
                ),
            }
        }
        if problems.errors.is_empty() {
            Ok(list)
        } else {
            Err(problems.errors)
        }
    }

    /// Whether the request filters on nothing: every message matches.
    pub fn filters_nothing(&self) -> bool {
        // Every field named, so that a new filter cannot be forgotten here.
        let ListQuery {
            attributes: _,
            anonymized,
            read,
            value_filters,
            channels,
            directions,
            delivery_statuses,
            date_time_from,
            date_time_to,
            modified_after,
            modified_before,
            text,
            page: _,
            per_page: _,
            sort: _,
        } = self;
        *anonymized == Presence::Unset
            && *read == Presence::Unset
            && value_filters.is_empty()
            && channels.is_none()
            && directions.is_none()
            && delivery_statuses.is_none()
            && date_time_from.is_none()
            && date_time_to.is_none()
            && modified_after.is_none()
            && modified_before.is_none()
            && text.is_none()
    }

    /// The value filter on `field`, if the request has one.
    pub fn value_filter(&self, field: Field) -> Option<&ValueFilter> {
        self.value_filters.iter().find(|filter| filter.field == field)
    }

    /// The position of the page's first item among all matches.
    pub fn offset(&self) -> u64 {
        (self.page - 1).saturating_mul(u64::from(self.per_page))
    }
}

/// Parses plain ASCII decimal digits (no sign, space or point); `None` for
/// anything else or a value beyond `u64`.
fn parse_integer(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn parse_attributes(values: &[Cow<'_, str>], problems: &mut Problems) -> Vec<Field> {
    let mut fields = vec![Field::Id];
    for value in values {
        match Field::from_name(value) {
            Some(field) => fields.push(field),
            None => problems.add(
                "attributes",
                format!(
                    "{} is not an attribute of a message; the attributes are: {}.{}",
                    quoted(value),
                    Field::ALL.map(Field::name).join(", "),
                    repeat_hint("attributes", value, |piece| Field::from_name(piece).is_some())
                ),
            ),
        }
    }
    fields.sort_unstable();
    fields.dedup();
    fields
}

/// For a value that is several valid values joined by commas, how to send
/// them instead: the parameter repeated once per value (SPEC §2). Empty
/// otherwise.
fn repeat_hint(parameter: &str, value: &str, valid: impl Fn(&str) -> bool) -> String {
    let pieces: Vec<&str> = value.split(',').map(str::trim).collect();
    if pieces.len() < 2 || !pieces.iter().all(|piece| valid(piece)) {
        return String::new();
    }
    let repeated: Vec<String> = pieces.iter().map(|piece| format!("{parameter}={piece}")).collect();
    format!(" To send several values, repeat the parameter: {}.", repeated.join("&"))
}

fn parse_enums<T: PartialEq>(
    parameter: &str,
    values: &[Cow<'_, str>],
    parse: fn(&str) -> Option<T>,
    allowed: fn() -> String,
    problems: &mut Problems,
) -> Vec<T> {
    let mut parsed = Vec::with_capacity(values.len());
    for value in values {
        match parse(value) {
            Some(item) => parsed.push(item),
            None => problems.add(
                parameter,
                format!(
                    "{} is not allowed; use one or more of {}.{}",
                    quoted(value),
                    allowed(),
                    repeat_hint(parameter, value, |piece| parse(piece).is_some())
                ),
            ),
        }
    }
    parsed
}

fn parse_sort(values: &[Cow<'_, str>], problems: &mut Problems) -> Vec<SortKey> {
    let mut keys: Vec<SortKey> = Vec::with_capacity(values.len() + 1);
    for value in values {
        let (name, descending) = match value.strip_prefix('-') {
            Some(name) => (name, true),
            None => (value.as_ref(), false),
        };
        let Some(field) = SortField::parse(name) else {
            problems.add(
                "sort_by",
                format!(
                    "{} is not a sort key; use _id, created, modified or date_time, each optionally prefixed with `-` for descending order.{}",
                    quoted(value),
                    repeat_hint("sort_by", value, |piece| SortField::parse(piece.strip_prefix('-').unwrap_or(piece)).is_some())
                ),
            );
            continue;
        };
        if keys.iter().any(|key| key.field == field) {
            problems.add(
                "sort_by",
                format!("`{name}` is named more than once; name each sort key once, with or without `-`."),
            );
            continue;
        }
        keys.push(SortKey { field, descending });
    }
    if !keys.iter().any(|key| key.field == SortField::Id) {
        keys.push(SortKey { field: SortField::Id, descending: false });
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> Result<ListQuery, ArgErrors> {
        ListQuery::parse(query, &QueryLimits::default())
    }

    fn error_keys(query: &str) -> Vec<String> {
        parse(query).expect_err("should be invalid").into_keys().collect()
    }

    #[test]
    fn defaults_fill_in() {
        let query = parse("").unwrap();
        assert_eq!(query, ListQuery::default());
        assert_eq!(query.sort, vec![SortKey { field: SortField::Id, descending: false }]);
        assert_eq!(parse("page=&per_page=&filters-q=").unwrap(), ListQuery::default());
        assert_eq!(parse("colour=").unwrap(), ListQuery::default());
    }

    #[test]
    fn lists_repeat_keys_and_decode_forms() {
        let query = parse("filters-channel=sms&filters-channel=email&filters-q=+Jos%C3%A9+O%27Brien++&attributes=tags&attributes=_id&attributes=content&attributes=tags").unwrap();
        assert_eq!(query.channels, Some(vec![Channel::Sms, Channel::Email]));
        assert_eq!(query.text.as_deref(), Some("josé o'brien"));
        assert_eq!(query.attributes, vec![Field::Id, Field::Content, Field::Tags]);
    }

    #[test]
    fn dates_and_ranges() {
        let query = parse("filters-start_date=2024-02-29&filters-end_date=2024-03-01&filters-modified_after=2024-01-01T10:00:00&filters-modified_before=2024-01-02").unwrap();
        assert_eq!(query.date_time_from, DateTime::parse("2024-02-29 00:00:00"));
        assert_eq!(query.date_time_to, DateTime::parse("2024-03-01 23:59:59"));
        assert_eq!(query.modified_after, DateTime::parse("2024-01-01 10:00:00"));
        assert_eq!(query.modified_before, DateTime::parse("2024-01-02 00:00:00"));
        assert_eq!(error_keys("filters-start_date=2024-01-01+00:00:00"), ["filters-start_date"]);
    }

    #[test]
    fn sort_keys_get_an_id_tiebreak() {
        let query = parse("sort_by=-date_time&sort_by=created").unwrap();
        let fields: Vec<(SortField, bool)> = query.sort.iter().map(|key| (key.field, key.descending)).collect();
        assert_eq!(
            fields,
            [
                (SortField::Date(DateKey::DateTime), true),
                (SortField::Date(DateKey::Created), false),
                (SortField::Id, false)
            ]
        );
        let explicit = parse("sort_by=-_id&sort_by=modified").unwrap();
        assert_eq!(explicit.sort.len(), 2);
        assert_eq!(explicit.sort[0], SortKey { field: SortField::Id, descending: true });
    }

    #[test]
    fn comma_joined_values_are_told_to_repeat_the_parameter() {
        let message = |query: &str, parameter: &str| parse(query).unwrap_err()[parameter][0].clone();
        let channels = message("filters-channel=sms,email", "filters-channel");
        assert!(channels.ends_with("repeat the parameter: filters-channel=sms&filters-channel=email."), "{channels}");
        let sort = message("sort_by=-date_time,_id", "sort_by");
        assert!(sort.contains("sort_by=-date_time&sort_by=_id"), "{sort}");
        let attributes = message("attributes=channel, content", "attributes");
        assert!(attributes.contains("attributes=channel&attributes=content"), "{attributes}");
        // Not every piece valid: no such advice.
        assert!(!message("filters-channel=sms,fax", "filters-channel").contains("repeat"));
        assert!(!message("filters-channel=fax", "filters-channel").contains("repeat"));
    }

    #[test]
    fn every_invalid_parameter_is_reported() {
        let cases: &[(&str, &[&str])] = &[
            ("page=0", &["page"]),
            ("page=+1", &["page"]),
            ("page=%201", &["page"]),
            ("page=1.0", &["page"]),
            ("page=1&page=2", &["page"]),
            ("page=99999999999999999999999", &["page"]),
            ("per_page=101", &["per_page"]),
            ("per_page=0", &["per_page"]),
            ("per_page=ten", &["per_page"]),
            ("filters-channel=fax", &["filters-channel"]),
            ("filters-direction=sideways", &["filters-direction"]),
            ("filters-delivery_status=lost", &["filters-delivery_status"]),
            ("filters-start_date=2024-13-01", &["filters-start_date"]),
            ("filters-end_date=2024-02-30", &["filters-end_date"]),
            ("filters-modified_after=yesterday", &["filters-modified_after"]),
            ("filters-modified_before=2024-01-01+25:00:00", &["filters-modified_before"]),
            ("filters-anonymized=maybe", &["filters-anonymized"]),
            ("filters-read=yes&filters-read=no", &["filters-read"]),
            ("filters-q=a&filters-q=b", &["filters-q"]),
            ("attributes=colour", &["attributes"]),
            ("sort_by=-subject", &["sort_by"]),
            ("sort_by=date_time&sort_by=-date_time", &["sort_by"]),
            ("colour=red", &["colour"]),
            (
                "page=0&per_page=ten&colour=red&filters-channel=fax&sort_by=x&filters-q=a&filters-q=b",
                &["colour", "filters-channel", "filters-q", "page", "per_page", "sort_by"],
            ),
        ];
        for (query, expected) in cases {
            let keys = error_keys(query);
            assert_eq!(keys, *expected, "for {query}");
        }
        let errors = parse("attributes=colour&attributes=size&filters-channel=fax").unwrap_err();
        assert_eq!(errors["attributes"].len(), 2);
        assert!(errors["attributes"][0].contains("colour") && errors["attributes"][0].contains("content"));
        assert!(errors["filters-channel"][0].contains("`email`, `sms`"));
    }

    #[test]
    fn per_page_limit_is_a_store_option() {
        let limits = QueryLimits { max_per_page: 500 };
        assert_eq!(ListQuery::parse("per_page=500", &limits).unwrap().per_page, 500);
        assert!(ListQuery::parse("per_page=501", &limits).is_err());
    }

    #[test]
    fn targets_route_to_list_retrieve_or_unknown() {
        let limits = QueryLimits::default();
        assert!(matches!(Request::parse("/v1/messages", &limits), Request::List(Ok(_))));
        assert!(matches!(Request::parse("/v1/messages?page=0", &limits), Request::List(Err(_))));
        assert_eq!(Request::parse("/v1/messages/%C3%A4x+y", &limits), Request::Retrieve("äx+y".into()));
        assert_eq!(Request::parse("/v1/messages/a/b", &limits), Request::Retrieve("a/b".into()));
        assert_eq!(Request::parse("/v1/messages/abc?x=1", &limits), Request::Retrieve("abc".into()));
        for unknown in
            ["/v1/messages/", "/v1/message", "/v2/messages", "/v1/enquiries", "v1/messages", "", "/v1/messagesx"]
        {
            assert!(matches!(Request::parse(unknown, &limits), Request::UnknownPath(_)), "{unknown}");
        }
    }

    #[test]
    fn offsets_saturate() {
        let query = parse("page=18446744073709551615&per_page=100").unwrap();
        assert_eq!(query.offset(), u64::MAX);
    }
}
