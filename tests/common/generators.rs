//! Generators of random data sets and requests for the property tests:
//! small pools so that filters hit, with ties, case traps, escapes and
//! non-ASCII text.

use msgdex::{Channel, DateTime, DeliveryStatus, Direction, Message};
use proptest::prelude::*;

/// Small pools so that filters hit, with ties, case traps and escapes.
pub const IDS: &[&str] = &[
    "a",
    "b",
    "A",
    "B",
    "ä",
    "Ä",
    "_x",
    "a1",
    "a10",
    "a2",
    "z",
    "6724fbcb4f73a2cebf638860",
    "é",
    "e\u{301}",
    "q\"uote",
    "sp ace",
    "+plus",
];
pub const REFS: &[&str] = &["L1", "L2", "l1", "Ü", "", "x y"];
pub const TEXTS: &[&str] = &[
    "Zoë Quinn zoe@Example.com",
    "SIÂN O'BRIEN +447700900001",
    "İbrahim",
    "ΣΟΦΊΑ Σ",
    "ﬃ ligature",
    "ß STRASSE",
    "KELVIN K",
    "+441234500002",
    "",
    "a\"b\\c\nd",
    "Jose.Garcia@Example.COM",
    // Inside longer values of the pool (as an address is inside its
    // "Name address" correspondent), so that covered values occur.
    "zoe@example.com",
    "+447700900001",
];
/// Date/times the data and the requests draw from; the first and last lie
/// millennia apart, so that a column holding both is too wide to pack.
pub const DATES: &[&str] = &[
    "0001-01-01 00:00:00",
    "2019-01-01 00:00:00",
    "2020-06-15 08:30:00",
    "2024-02-29 12:00:00",
    "2024-02-29 23:59:59",
    "2024-03-01 00:00:00",
    "2024-12-31 23:59:59",
    "9999-12-31 23:59:59",
];
pub const LIST_ITEMS: &[&str] = &["t", "u", "T", "é"];

pub fn optional<T: Clone + std::fmt::Debug + 'static>(pool: &'static [T]) -> impl Strategy<Value = Option<T>> {
    prop_oneof![1 => Just(None), 3 => proptest::sample::select(pool).prop_map(Some)]
}

pub fn date() -> impl Strategy<Value = Option<DateTime>> {
    optional(DATES).prop_map(|text| text.map(|text| DateTime::parse(text).unwrap()))
}

pub fn string(pool: &'static [&'static str]) -> impl Strategy<Value = Option<String>> {
    optional(pool).prop_map(|text| text.map(str::to_owned))
}

pub fn list() -> impl Strategy<Value = Option<Vec<String>>> {
    prop_oneof![
        Just(None),
        Just(Some(vec![])),
        proptest::collection::vec(proptest::sample::select(LIST_ITEMS).prop_map(str::to_owned), 1..3).prop_map(Some)
    ]
}

pub fn message_body() -> impl Strategy<Value = Message> {
    let dates = (date(), date(), date(), date(), date(), date());
    let enums = (optional(Channel::ALL), optional(Direction::ALL), optional(DeliveryStatus::ALL));
    let refs = (string(REFS), string(REFS), string(REFS), string(REFS), string(REFS), string(REFS), string(REFS));
    let texts = (string(TEXTS), string(TEXTS), string(TEXTS), string(TEXTS), string(TEXTS));
    let lists = (list(), list(), list(), list());
    (dates, enums, refs, texts, lists).prop_map(|(dates, enums, refs, texts, lists)| Message {
        id: String::new(),
        anonymized: dates.0,
        created: dates.1,
        date_time: dates.2,
        modified: dates.3,
        read: dates.4,
        resolved: dates.5,
        channel: enums.0,
        direction: enums.1,
        delivery_status: enums.2,
        care_enquiry: refs.0,
        location: refs.1,
        location_contact: refs.2,
        sent_by: refs.3,
        service_user: refs.4,
        service_user_contact: refs.5,
        reply_to: refs.6,
        correspondent: texts.0,
        destination: texts.1,
        origin: texts.2,
        subject: texts.3,
        content: texts.4,
        invoices: lists.0,
        literature_items: lists.1,
        literature_items_downloaded: lists.2,
        tags: lists.3,
        ..Message::default()
    })
}

/// A data set of up to `max` messages with unique Ids from the pool (plus
/// numbered ones, so larger sets exist).
pub fn data_set(max: usize) -> impl Strategy<Value = Vec<Message>> {
    proptest::collection::vec(message_body(), 0..max).prop_map(|bodies| {
        bodies
            .into_iter()
            .enumerate()
            .map(|(index, mut message)| {
                message.id = match IDS.get(index) {
                    Some(id) => (*id).to_owned(),
                    None => format!("m{index:05}"),
                };
                message
            })
            .collect()
    })
}

/// People of a CRM-shaped data set: a name, an e-mail address and a mobile
/// number (with non-ASCII letters and a case trap).
const PEOPLE: &[(&str, &str, &str)] = &[
    ("Zoë Quinn", "zoe.quinn@example.com", "+447700900001"),
    ("Siân O'Brien", "Sian.OBrien@Mail.example", "+447700900002"),
    ("İbrahim Çelik", "ibrahim@example.com", "+447700900003"),
    ("Zoe Quinnell", "zq@mail.example", "+447700900004"),
    ("ΣΟΦΊΑ Quinn", "sofia@example.com", "+447700900005"),
];
/// The locations of [`crm_data_set`]'s messages.
const CRM_LOCATIONS: &[&str] = &["L1", "L2", "L3"];

/// The homes' addresses: (e-mail, mobile).
const HOMES: &[(&str, &str)] = &[("home1@care.example", "+441000000001"), ("home2@care.example", "+441000000002")];

/// A data set shaped like a CRM's (and the benchmark data): the
/// correspondent is "Name address", the person's address is the origin or
/// the destination (by direction) and the home's address the other; some
/// text fields are null. Requests over it reach the text paths that rely on
/// that shape: addresses covered by their correspondents, and counts from
/// the matched values alone.
pub fn crm_data_set(max: usize) -> impl Strategy<Value = Vec<Message>> {
    crm_data_set_of(0..max)
}

/// [`crm_data_set`] of a number of messages in `sizes`.
pub fn crm_data_set_of(sizes: std::ops::Range<usize>) -> impl Strategy<Value = Vec<Message>> {
    proptest::collection::vec(crm_message(), sizes).prop_map(|messages| {
        messages
            .into_iter()
            .enumerate()
            .map(|(index, message)| Message { id: format!("c{index:04}"), ..message })
            .collect()
    })
}

/// One message of [`crm_data_set`], without its `_id`.
pub fn crm_message() -> impl Strategy<Value = Message> {
    (
        0..PEOPLE.len(),
        0..HOMES.len(),
        any::<(bool, bool)>(),
        prop_oneof![8 => Just(None), 1 => Just(Some(0usize)), 1 => Just(Some(1usize))],
        date(),
        date(),
        (string(CRM_LOCATIONS), optional(DeliveryStatus::ALL), date(), date()),
    )
        .prop_map(
            |(
                person,
                home,
                (email, inbound),
                missing,
                date_time,
                created,
                (location, delivery_status, read, anonymized),
            )| {
                let (name, mail, mobile) = PEOPLE[person];
                let person_address = if email { mail } else { mobile };
                let home_address = if email { HOMES[home].0 } else { HOMES[home].1 };
                let (origin, destination) =
                    if inbound { (person_address, home_address) } else { (home_address, person_address) };
                let mut message = Message {
                    correspondent: Some(format!("{name} {person_address}")),
                    origin: Some(origin.to_owned()),
                    destination: Some(destination.to_owned()),
                    date_time,
                    created,
                    channel: Some(if email { Channel::Email } else { Channel::Sms }),
                    direction: Some(if inbound { Direction::Inbound } else { Direction::Outbound }),
                    location,
                    delivery_status,
                    read,
                    anonymized,
                    ..Message::default()
                };
                match missing {
                    Some(0) => message.correspondent = None,
                    Some(_) => message.origin = None,
                    None => {}
                }
                message
            },
        )
}

/// A `filters-q` request over [`crm_data_set`] with a random sort and
/// page, and sometimes closed-set filters and a `location` beside it (what
/// the text step tests on its entries' tags).
pub fn text_query() -> impl Strategy<Value = String> {
    let beside = prop_oneof![
        proptest::sample::select(&["inbound", "outbound"][..]).prop_map(|value| ("filters-direction", value)),
        proptest::sample::select(&["email", "sms"][..]).prop_map(|value| ("filters-channel", value)),
        proptest::sample::select(&["sent", "failed", "queued"][..])
            .prop_map(|value| ("filters-delivery_status", value)),
        proptest::sample::select(&["L1", "L2", "L9"][..]).prop_map(|value| ("filters-location", value)),
        proptest::sample::select(&["yes", "no"][..]).prop_map(|value| ("filters-read", value)),
        proptest::sample::select(&["yes", "no"][..]).prop_map(|value| ("filters-anonymized", value)),
    ];
    let beside = prop_oneof![2 => Just(Vec::new()), 3 => proptest::collection::vec(beside, 1..4)];
    let needles = proptest::sample::select(vec![
        "quinn",
        "QUINN",
        "zoë",
        "zoe",
        "example.com",
        "@",
        "+4477",
        "+44",
        "home1",
        "care",
        "çelik",
        "o'b",
        "σοφ",
        "e",
        "q",
        "1",
        "xyz",
    ]);
    (needles, beside, sort_keys(), 1..=30u32, proptest::sample::select(vec![1u32, 2, 3, 10])).prop_map(
        |(needle, beside, sort, page, per_page)| {
            let mut query = form_urlencoded::Serializer::new(String::new());
            query.append_pair("filters-q", needle);
            for (name, value) in beside {
                query.append_pair(name, value);
            }
            for key in &sort {
                query.append_pair("sort_by", key);
            }
            query.append_pair("page", &page.to_string()).append_pair("per_page", &per_page.to_string());
            format!("/v1/messages?{}", query.finish())
        },
    )
}

/// A query over [`crm_data_set`] naming one `location`, with closed-set
/// filters and `filters-q` sometimes beside it, sorted by `date_time`
/// either way and then by any later keys (whose ties a walk must order),
/// on a random page: the shape of the location walk.
pub fn location_beside_query() -> impl Strategy<Value = String> {
    let beside = prop_oneof![
        proptest::sample::select(&["inbound", "outbound"][..]).prop_map(|value| ("filters-direction", value)),
        proptest::sample::select(&["sent", "failed", "queued"][..])
            .prop_map(|value| ("filters-delivery_status", value)),
        proptest::sample::select(&["yes", "no"][..]).prop_map(|value| ("filters-read", value)),
        proptest::sample::select(&["quinn", "zoë", "example.com", "+44", "e", "xyz"][..])
            .prop_map(|value| ("filters-q", value)),
    ];
    let later_keys = (proptest::sample::subsequence(vec!["created", "_id"], 0..3).prop_shuffle(), any::<[bool; 2]>())
        .prop_map(|(fields, descending)| {
            fields
                .into_iter()
                .zip(descending)
                .map(|(field, down)| format!("{}{field}", if down { "-" } else { "" }))
                .collect::<Vec<_>>()
        });
    (
        proptest::sample::select(CRM_LOCATIONS),
        proptest::collection::vec(beside, 0..4),
        any::<bool>(),
        later_keys,
        1..=30u32,
        proptest::sample::select(vec![1u32, 2, 3, 10]),
    )
        .prop_map(|(location, beside, descending, later_keys, page, per_page)| {
            let mut query = form_urlencoded::Serializer::new(String::new());
            query.append_pair("filters-location", location);
            for (name, value) in beside {
                query.append_pair(name, value);
            }
            query.append_pair("sort_by", if descending { "-date_time" } else { "date_time" });
            for key in &later_keys {
                query.append_pair("sort_by", key);
            }
            query.append_pair("page", &page.to_string()).append_pair("per_page", &per_page.to_string());
            query.finish()
        })
}

/// A request filtering on one `location` and some closed-set filters,
/// sorted by `date_time` either way with ties by `_id` either way (or by
/// default), on a random page: the shape of the location facet walk.
pub fn location_query() -> impl Strategy<Value = String> {
    let closed_set = prop_oneof![
        proptest::sample::select(&["inbound", "outbound"][..]).prop_map(|value| ("filters-direction", value)),
        proptest::sample::select(&["email", "sms", "fax"][..]).prop_map(|value| ("filters-channel", value)),
        proptest::sample::select(&["sent", "failed", "queued"][..])
            .prop_map(|value| ("filters-delivery_status", value)),
        proptest::sample::select(&["yes", "no"][..]).prop_map(|value| ("filters-read", value)),
        proptest::sample::select(&["yes", "no"][..]).prop_map(|value| ("filters-anonymized", value)),
    ];
    let sort = proptest::sample::select(vec![
        vec!["date_time"],
        vec!["-date_time"],
        vec!["date_time", "_id"],
        vec!["date_time", "-_id"],
        vec!["-date_time", "_id"],
        vec!["-date_time", "-_id"],
    ]);
    (
        proptest::sample::select(&["L1", "L2", "l1", "Ü"][..]),
        proptest::collection::vec(closed_set, 0..4),
        sort,
        1..=6u32,
        proptest::sample::select(vec![1u32, 2, 3, 10]),
    )
        .prop_map(|(location, closed_sets, sort, page, per_page)| {
            let mut query = form_urlencoded::Serializer::new(String::new());
            query.append_pair("filters-location", location);
            for (name, value) in closed_sets {
                query.append_pair(name, value);
            }
            for key in sort {
                query.append_pair("sort_by", key);
            }
            query.append_pair("page", &page.to_string()).append_pair("per_page", &per_page.to_string());
            format!("/v1/messages?{}", query.finish())
        })
}

/// Parameters and values, valid and invalid, to build query strings from./// Parameters and values, valid and invalid, to build query strings from.
pub fn parameter() -> impl Strategy<Value = (String, String)> {
    let id_filters = [
        "filters-care_enquiry",
        "filters-location",
        "filters-location_contact",
        "filters-sent_by",
        "filters-service_user",
        "filters-service_user_contact",
        "filters-reply_to_user",
    ];
    let date_values = &["2024-02-29", "2019-01-01", "2024-13-01", "2020-06-15", "2024-12-31", "x"];
    let moment_values =
        &["2024-02-29 12:00:00", "2024-02-29T23:59:59", "2020-06-15", "2024-02-30 00:00:00", "2019-01-01 00:00:00"];
    let sort_values =
        &["_id", "-_id", "created", "-created", "modified", "-modified", "date_time", "-date_time", "-subject"];
    let attributes =
        &["_id", "content", "tags", "channel", "date_time", "invoices", "correspondent", "colour", "read_by"];
    let q_values =
        &["zoe", "ZOË", "example.com", "i̇b", "σ", "ς", " k ", "ss", "ß", "+44", "a\"b", "xyz", "e", "o'b", ""];
    prop_oneof![
        4 => (proptest::sample::select(id_filters.to_vec()), proptest::sample::select(REFS)).prop_map(|(name, value)| (name.to_owned(), value.to_owned())),
        2 => proptest::sample::select(IDS).prop_map(|id| ("filters-ids".to_owned(), id.to_owned())),
        2 => proptest::sample::select(&["email", "sms", "fax"][..]).prop_map(|value| ("filters-channel".to_owned(), value.to_owned())),
        2 => proptest::sample::select(&["inbound", "outbound", "up"][..]).prop_map(|value| ("filters-direction".to_owned(), value.to_owned())),
        2 => proptest::sample::select(&["sent", "failed", "queued", "unknown", "lost"][..]).prop_map(|value| ("filters-delivery_status".to_owned(), value.to_owned())),
        2 => (proptest::sample::select(&["filters-anonymized", "filters-read"][..]), proptest::sample::select(&["yes", "no", "unset", "maybe"][..])).prop_map(|(name, value)| (name.to_owned(), value.to_owned())),
        2 => (proptest::sample::select(&["filters-start_date", "filters-end_date"][..]), proptest::sample::select(&date_values[..])).prop_map(|(name, value)| (name.to_owned(), value.to_string())),
        2 => (proptest::sample::select(&["filters-modified_after", "filters-modified_before"][..]), proptest::sample::select(&moment_values[..])).prop_map(|(name, value)| (name.to_owned(), value.to_string())),
        3 => proptest::sample::select(&q_values[..]).prop_map(|value| ("filters-q".to_owned(), value.to_string())),
        1 => proptest::sample::select(&["0", "1", "2", "+1", "99999999999999999999"][..]).prop_map(|value| ("page".to_owned(), value.to_owned())),
        1 => proptest::sample::select(&["1", "5", "101", "ten"][..]).prop_map(|value| ("per_page".to_owned(), value.to_owned())),
        1 => proptest::sample::select(&sort_values[..]).prop_map(|value| ("sort_by".to_owned(), value.to_string())),
        3 => proptest::sample::select(&attributes[..]).prop_map(|value| ("attributes".to_owned(), value.to_string())),
        1 => Just(("colour".to_owned(), "red".to_owned())),
    ]
}

/// Sort keys: usually one to three distinct valid keys in random
/// directions, sometimes none, sometimes an invalid list.
pub fn sort_keys() -> impl Strategy<Value = Vec<String>> {
    let fields = proptest::sample::subsequence(vec!["_id", "created", "modified", "date_time"], 1..4).prop_shuffle();
    let valid = (fields, any::<[bool; 4]>()).prop_map(|(fields, descending)| {
        fields.iter().zip(descending).map(|(field, down)| format!("{}{field}", if down { "-" } else { "" })).collect()
    });
    prop_oneof![
        2 => Just(Vec::new()),
        8 => valid,
        1 => proptest::sample::select(vec![vec!["date_time", "-date_time"], vec!["-subject"], vec!["created", "created"]])
            .prop_map(|keys| keys.into_iter().map(str::to_owned).collect()),
    ]
}

/// A list query string: filters, a sort, a page and a projection.
pub fn list_query(max_page: u64) -> impl Strategy<Value = String> {
    let paging = prop_oneof![
        2 => Just(Vec::new()),
        5 => (1..=max_page, proptest::sample::select(vec!["1", "2", "3", "10", "100"]))
            .prop_map(|(page, per_page)| vec![("page".to_owned(), page.to_string()), ("per_page".to_owned(), per_page.to_owned())]),
    ];
    (proptest::collection::vec(parameter(), 0..4), sort_keys(), paging).prop_map(|(parameters, sort, paging)| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in &parameters {
            query.append_pair(name, value);
        }
        for key in &sort {
            query.append_pair("sort_by", key);
        }
        for (name, value) in &paging {
            query.append_pair(name, value);
        }
        query.finish()
    })
}

/// A request target: mostly list queries, some retrieves and odd paths.
pub fn target() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => list_query(8).prop_map(|query| format!("/v1/messages?{query}")),
        2 => proptest::sample::select(IDS).prop_map(|id| {
            format!("/v1/messages/{}", percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC))
        }),
        1 => proptest::sample::select(&["/v1/messages/", "/v1/message", "/v2/messages", "/v1/messages/nope", "/v1/messages?%ZZ=1&=x&page"][..]).prop_map(str::to_owned),
        1 => "[ -~]{0,40}".prop_map(|junk| format!("/v1/messages?{junk}")),
    ]
}
