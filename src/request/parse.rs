//! Parsing a list query string, and the error naming every invalid
//! parameter.

use std::borrow::Cow;
use std::fmt;

use super::{ListQuery, Presence, QueryLimits, SortField, SortKey, ValueFilter};
use crate::json::quoted;
use crate::model::{Channel, DateTime, DeliveryStatus, Direction, Field};
use crate::output::ArgErrors;

/// Why a list query was refused: every invalid parameter, each with what
/// was wrong and what is allowed (the `arg_errors` of a 400 body).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryError {
    pub(super) arg_errors: ArgErrors,
}

impl QueryError {
    /// The problems per parameter name, as a 400 body's `arg_errors`.
    pub fn arg_errors(&self) -> &ArgErrors {
        &self.arg_errors
    }
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid list request: ")?;
        for (number, (parameter, messages)) in self.arg_errors.iter().enumerate() {
            if number > 0 {
                f.write_str("; ")?;
            }
            write!(f, "`{parameter}`: {}", messages.join(" "))?;
        }
        Ok(())
    }
}

impl std::error::Error for QueryError {}

/// `filters-q` as it is matched (SPEC §3): trimmed and lower-cased; `None`
/// when blank.
pub(super) fn normalised_text(value: &str) -> Option<String> {
    let trimmed = value.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_lowercase())
}

/// The Id list filters: parameter name and the field it filters.
pub(crate) const VALUE_FILTERS: [(&str, Field); 8] = [
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
    pub fn parse(query: &str, limits: &QueryLimits) -> Result<ListQuery, QueryError> {
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
                        list.facets.anonymized = presence;
                    } else {
                        list.facets.read = presence;
                    }
                }
                "filters-channel" => {
                    list.facets.channels =
                        Some(parse_enums(parameter, &values, Channel::parse, Channel::allowed, &mut problems))
                }
                "filters-direction" => {
                    list.facets.directions =
                        Some(parse_enums(parameter, &values, Direction::parse, Direction::allowed, &mut problems))
                }
                "filters-delivery_status" => {
                    list.facets.delivery_statuses = Some(parse_enums(
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
                    list.text = normalised_text(value);
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
            Err(QueryError { arg_errors: problems.errors })
        }
    }
}

/// Parses plain ASCII decimal digits (no sign, space or point); `None` for
/// anything else or a value beyond `u64`.
pub(super) fn parse_integer(text: &str) -> Option<u64> {
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
    use crate::model::{Channel, DateKey};
    use crate::request::{SortField, SortKey};

    fn parse(query: &str) -> Result<ListQuery, ArgErrors> {
        ListQuery::parse(query, &QueryLimits::default()).map_err(|error| error.arg_errors().clone())
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
        assert_eq!(query.facets().channels(), Some(&[Channel::Sms, Channel::Email][..]));
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
    fn offsets_saturate() {
        let query = parse("page=18446744073709551615&per_page=100").unwrap();
        assert_eq!(query.offset(), u64::MAX);
    }

    #[test]
    fn errors_display_every_parameter_and_convert_to_a_400() {
        let error = ListQuery::parse("page=0&colour=red", &QueryLimits::default()).unwrap_err();
        let text = error.to_string();
        assert!(text.starts_with("invalid list request: "), "{text}");
        assert!(
            text.contains("`colour`: Unknown parameter") && text.contains("`page`: \"0\" is not a valid page"),
            "{text}"
        );
        assert_eq!(error.arg_errors().len(), 2);
        let response = crate::Response::bad_request(error.arg_errors());
        assert_eq!(response.status, 400);
    }
}
