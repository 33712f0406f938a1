//! A list request's filters tested on the tail's messages, which have no
//! index: [`TailFilter`], the request prepared once (its `filters-q` text
//! as a substring finder, its long value lists as sets) and then asked of
//! each message.
//!
//! It is the live store's own reading of SPEC §2, apart from the reference
//! engine's (the oracle shares no matching code with the engines it
//! checks); the tests below compare the two on generated messages and
//! requests. The filters are tested cheapest first, the text last:
//!
//! ```text
//!  anonymized, read      set / null / any
//!  value filters         the field is one of the values (a null never is)
//!  channel, direction,   the value is one of the accepted ones
//!  delivery status       (a null never is)
//!  date_time             ≥ from, ≤ to (inclusive; a null is outside)
//!  modified              > after, < before (exclusive; a null is outside)
//!  filters-q             a text field, lower-cased, contains the needle
//! ```

use memchr::memmem::Finder;

use super::TailMessage;
use crate::model::{DateTime, FieldValue, Message};
use crate::request::{ListQuery, Presence};

/// A list request prepared once for testing every tail message: its
/// `filters-q` text as a substring finder, its long value lists as sets.
pub struct TailFilter<'a> {
    query: &'a ListQuery,
    /// `filters-q` (lower-cased already), if any.
    needle: Option<Finder<'a>>,
    /// Per value filter, its values as a set when there are many of them
    /// (`filters-ids` with 50 Ids, say).
    value_sets: Vec<Option<hashbrown::HashSet<&'a str>>>,
}

impl<'a> TailFilter<'a> {
    /// Most values a filter's list may hold before it is tested as a set.
    const LIST_LIMIT: usize = 8;

    /// The request, prepared.
    pub fn new(query: &'a ListQuery) -> TailFilter<'a> {
        let value_sets = query
            .value_filters
            .iter()
            .map(|filter| {
                (filter.values.len() > Self::LIST_LIMIT).then(|| filter.values.iter().map(String::as_str).collect())
            })
            .collect();
        TailFilter { query, needle: query.text.as_deref().map(Finder::new), value_sets }
    }

    /// Whether `written` passes every filter of the request.
    pub fn matches(&self, written: &TailMessage) -> bool {
        let (query, message) = (self.query, &written.message);
        has_presence(query.facets.anonymized, message.anonymized)
            && has_presence(query.facets.read, message.read)
            && self.values_accept(message)
            && one_of(&query.facets.channels, message.channel)
            && one_of(&query.facets.directions, message.direction)
            && one_of(&query.facets.delivery_statuses, message.delivery_status)
            && passes(query.date_time_from, message.date_time, |value, from| value >= from)
            && passes(query.date_time_to, message.date_time, |value, to| value <= to)
            && passes(query.modified_after, message.modified, |value, after| value > after)
            && passes(query.modified_before, message.modified, |value, before| value < before)
            && self.needle.as_ref().is_none_or(|needle| {
                written.lowered().iter().flatten().any(|value| needle.find(value.as_bytes()).is_some())
            })
    }

    /// Whether every value filter accepts the message's value of its field
    /// (a string; `null` is accepted by none).
    fn values_accept(&self, message: &Message) -> bool {
        self.query.value_filters.iter().zip(&self.value_sets).all(|(filter, set)| match message.get(filter.field) {
            FieldValue::Str(value) => match set {
                Some(set) => set.contains(value),
                None => filter.values.iter().any(|accepted| accepted == value),
            },
            _ => false,
        })
    }
}

/// Whether a date/time field's value (`None`: `null`) passes a presence
/// filter (`filters-anonymized`, `filters-read`).
fn has_presence(presence: Presence, value: Option<DateTime>) -> bool {
    match presence {
        Presence::Unset => true,
        Presence::Yes => value.is_some(),
        Presence::No => value.is_none(),
    }
}

/// Whether an enum field's value is among those `accepted` (`None`: no
/// filter); `null` is never accepted by a filter.
fn one_of<T: PartialEq>(accepted: &Option<Vec<T>>, value: Option<T>) -> bool {
    match (accepted, value) {
        (None, _) => true,
        (Some(accepted), Some(value)) => accepted.contains(&value),
        (Some(_), None) => false,
    }
}

/// Whether a date/time field's value (`None`: `null`) passes one bound of
/// a range filter (`None`: no bound), `beyond(value, bound)` telling
/// whether a value is on the accepted side; `null` passes no bound.
fn passes(bound: Option<DateTime>, value: Option<DateTime>, beyond: fn(DateTime, DateTime) -> bool) -> bool {
    match (bound, value) {
        (None, _) => true,
        (Some(bound), Some(value)) => beyond(value, bound),
        (Some(_), None) => false,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::model::{Channel, DeliveryStatus, Direction, Field};
    use crate::request::parse::VALUE_FILTERS;
    use crate::request::{FacetFilter, ValueFilter};

    /// A date/time `seconds` after a fixed day.
    fn at(seconds: i64) -> DateTime {
        DateTime::from_seconds(63_800_000_000 + seconds).expect("a real date/time")
    }

    /// Whether the tail filter and the reference both accept (`true`) or
    /// both refuse `message`; panics when they disagree.
    fn both(message: &Message, query: &ListQuery) -> bool {
        let accepted = TailFilter::new(query).matches(&TailMessage::new(message.clone()));
        assert_eq!(accepted, crate::reference::matches(message, query), "{message:?} {query:?}");
        accepted
    }

    #[test]
    fn presence_filters_test_set_and_null() {
        let set = Message { anonymized: Some(at(0)), ..Message::with_id("a") };
        let null = Message::with_id("b");
        for (presence, accepts_set, accepts_null) in
            [(Presence::Unset, true, true), (Presence::Yes, true, false), (Presence::No, false, true)]
        {
            let query = ListQuery {
                facets: FacetFilter { anonymized: presence, ..FacetFilter::default() },
                ..ListQuery::default()
            };
            assert_eq!((both(&set, &query), both(&null, &query)), (accepts_set, accepts_null), "{presence:?}");
            let query =
                ListQuery { facets: FacetFilter { read: presence, ..FacetFilter::default() }, ..ListQuery::default() };
            let read = Message { read: Some(at(0)), ..Message::with_id("c") };
            assert_eq!((both(&read, &query), both(&null, &query)), (accepts_set, accepts_null), "{presence:?}");
        }
    }

    #[test]
    fn value_filters_accept_listed_strings_only_in_lists_and_sets() {
        let message = Message { location: Some("loc-7".into()), ..Message::with_id("m1") };
        let short = |values: &[&str]| ListQuery {
            value_filters: vec![ValueFilter::new(Field::Location, values.iter().map(|&v| v.to_owned()).collect())],
            ..ListQuery::default()
        };
        assert!(both(&message, &short(&["loc-1", "loc-7"])));
        assert!(!both(&message, &short(&["loc-1", "LOC-7"])), "values are compared exactly");
        assert!(!both(&message, &short(&[])), "an empty list accepts nothing");
        // Past `LIST_LIMIT` values, the list is tested as a set.
        let many: Vec<String> = (0..=TailFilter::LIST_LIMIT + 3).map(|number| format!("loc-{number}")).collect();
        let long =
            ListQuery { value_filters: vec![ValueFilter::new(Field::Location, many.clone())], ..ListQuery::default() };
        assert!(TailFilter::new(&long).value_sets[0].is_some());
        assert!(both(&message, &long));
        assert!(!both(&Message { location: Some("loc-99".into()), ..message.clone() }, &long));
        // A null field passes no value filter; `filters-ids` tests the `_id`.
        assert!(!both(&Message::with_id("m1"), &short(&["loc-7"])));
        let ids =
            ListQuery { value_filters: vec![ValueFilter::new(Field::Id, vec!["m1".into()])], ..ListQuery::default() };
        assert!(both(&message, &ids) && !both(&Message::with_id("m2"), &ids));
        // Every value filter must accept.
        let two = ListQuery {
            value_filters: vec![
                ValueFilter::new(Field::Location, vec!["loc-7".into()]),
                ValueFilter::new(Field::SentBy, vec!["u1".into()]),
            ],
            ..ListQuery::default()
        };
        assert!(!both(&message, &two));
        assert!(both(&Message { sent_by: Some("u1".into()), ..message }, &two));
    }

    #[test]
    fn enum_filters_never_accept_null() {
        let sms = Message { channel: Some(Channel::ALL[0]), ..Message::with_id("a") };
        let query = ListQuery {
            facets: FacetFilter { channels: Some(vec![Channel::ALL[0]]), ..FacetFilter::default() },
            ..ListQuery::default()
        };
        assert!(both(&sms, &query));
        assert!(!both(&Message::with_id("b"), &query));
        assert!(!both(
            &sms,
            &ListQuery {
                facets: FacetFilter { channels: Some(vec![]), ..FacetFilter::default() },
                ..ListQuery::default()
            }
        ));
        let direction = Message { direction: Some(Direction::ALL[1]), ..Message::with_id("c") };
        assert!(!both(
            &direction,
            &ListQuery {
                facets: FacetFilter { directions: Some(vec![Direction::ALL[0]]), ..FacetFilter::default() },
                ..ListQuery::default()
            }
        ));
        let status = Message { delivery_status: Some(DeliveryStatus::ALL[0]), ..Message::with_id("d") };
        let statuses = ListQuery {
            facets: FacetFilter { delivery_statuses: Some(DeliveryStatus::ALL.to_vec()), ..FacetFilter::default() },
            ..ListQuery::default()
        };
        assert!(both(&status, &statuses) && !both(&Message::with_id("e"), &statuses));
    }

    #[test]
    fn date_time_bounds_are_inclusive_and_modified_bounds_exclusive() {
        let message = Message { date_time: Some(at(100)), modified: Some(at(100)), ..Message::with_id("a") };
        let date_time = |from: Option<i64>, to: Option<i64>| ListQuery {
            date_time_from: from.map(at),
            date_time_to: to.map(at),
            ..ListQuery::default()
        };
        assert!(both(&message, &date_time(Some(100), Some(100))));
        assert!(!both(&message, &date_time(Some(101), None)));
        assert!(!both(&message, &date_time(None, Some(99))));
        let modified = |after: Option<i64>, before: Option<i64>| ListQuery {
            modified_after: after.map(at),
            modified_before: before.map(at),
            ..ListQuery::default()
        };
        assert!(both(&message, &modified(Some(99), Some(101))));
        assert!(!both(&message, &modified(Some(100), None)));
        assert!(!both(&message, &modified(None, Some(100))));
        // `null` lies in no range, however wide.
        let null = Message::with_id("b");
        assert!(!both(&null, &date_time(Some(-1_000), None)) && !both(&null, &modified(None, Some(1_000))));
        assert!(both(&null, &date_time(None, None)));
    }

    #[test]
    fn text_is_found_in_the_lower_cased_text_fields_only() {
        let message = Message {
            correspondent: Some("Zoë QUINN".into()),
            origin: Some("+447700900001".into()),
            subject: Some("invoice".into()),
            ..Message::with_id("a")
        };
        let text = |needle: &str| ListQuery { text: Some(needle.into()), ..ListQuery::default() };
        assert!(both(&message, &text("zoë q")));
        assert!(both(&message, &text("0900")));
        assert!(!both(&message, &text("invoice")), "the subject is not searched");
        assert!(!both(&Message::with_id("b"), &text("a")), "null fields hold no text");
    }

    fn date() -> impl Strategy<Value = Option<DateTime>> {
        proptest::option::of((0i64..6).prop_map(at))
    }

    /// A bound of a range filter, mostly none.
    fn bound() -> impl Strategy<Value = Option<DateTime>> {
        proptest::option::weighted(0.3, (0i64..6).prop_map(at))
    }

    fn one<T: Copy + std::fmt::Debug + 'static>(all: &'static [T]) -> impl Strategy<Value = Option<T>> {
        proptest::option::of(proptest::sample::select(all))
    }

    /// An enum filter, mostly none.
    fn some<T: Copy + std::fmt::Debug + 'static>(all: &'static [T]) -> impl Strategy<Value = Option<Vec<T>>> {
        proptest::option::weighted(0.3, proptest::sample::subsequence(all, 0..=all.len()))
    }

    const REFS: [&str; 4] = ["r1", "r2", "R1", "r10"];
    const TEXTS: [&str; 5] = ["Zoë Quinn", "SIÂN jones", "+447700900001", "İstanbul", "quinn@example.com"];
    const NEEDLES: [&str; 7] = ["quinn", "zoë", "sian", "siân", "0090", "i̇st", "@"];

    fn string(pool: &'static [&'static str]) -> impl Strategy<Value = Option<String>> {
        proptest::option::of(proptest::sample::select(pool).prop_map(str::to_owned))
    }

    fn message() -> impl Strategy<Value = Message> {
        let dates = (date(), date(), date(), date());
        let enums = (one(Channel::ALL), one(Direction::ALL), one(DeliveryStatus::ALL));
        let refs = (string(&REFS), string(&REFS), string(&REFS), string(&REFS));
        let texts = (string(&TEXTS), string(&TEXTS), string(&TEXTS));
        (proptest::sample::select(&REFS[..]), dates, enums, refs, texts).prop_map(|(id, dates, enums, refs, texts)| {
            Message {
                id: id.to_owned(),
                anonymized: dates.0,
                read: dates.1,
                date_time: dates.2,
                modified: dates.3,
                channel: enums.0,
                direction: enums.1,
                delivery_status: enums.2,
                location: refs.0,
                sent_by: refs.1,
                service_user: refs.2,
                reply_to: refs.3,
                correspondent: texts.0,
                destination: texts.1,
                origin: texts.2,
                ..Message::default()
            }
        })
    }

    fn presence() -> impl Strategy<Value = Presence> {
        proptest::sample::select(&[Presence::Unset, Presence::Yes, Presence::No][..])
    }

    /// A value filter on one of the API's Id-like fields, with a short list
    /// or one long enough to be tested as a set.
    fn value_filter() -> impl Strategy<Value = ValueFilter> {
        let values = prop_oneof![
            proptest::collection::vec(proptest::sample::select(&REFS[..]).prop_map(str::to_owned), 0..3),
            (0usize..4).prop_map(|skip| {
                let mut values: Vec<String> = (0..12).map(|number| format!("x{number}")).collect();
                values.push(REFS[skip].to_owned());
                values
            }),
        ];
        // Some fields are null in every generated message: no value passes.
        (proptest::sample::select(&VALUE_FILTERS[..]), values)
            .prop_map(|((_, field), values)| ValueFilter::new(field, values))
    }

    fn query() -> impl Strategy<Value = ListQuery> {
        let presences = (presence(), presence());
        let enums = (some(Channel::ALL), some(Direction::ALL), some(DeliveryStatus::ALL));
        let ranges = (bound(), bound(), bound(), bound());
        let text = proptest::option::weighted(0.3, proptest::sample::select(&NEEDLES[..]).prop_map(str::to_owned));
        (presences, proptest::collection::vec(value_filter(), 0..2), enums, ranges, text).prop_map(
            |(presences, value_filters, enums, ranges, text)| ListQuery {
                facets: FacetFilter {
                    anonymized: presences.0,
                    read: presences.1,
                    channels: enums.0,
                    directions: enums.1,
                    delivery_statuses: enums.2,
                },
                value_filters,
                date_time_from: ranges.0,
                date_time_to: ranges.1,
                modified_after: ranges.2,
                modified_before: ranges.3,
                text,
                ..ListQuery::default()
            },
        )
    }

    /// One request per filter of `query`, with that filter only.
    fn each_filter_alone(query: &ListQuery) -> Vec<ListQuery> {
        let bare = ListQuery::default();
        let mut alone = vec![
            ListQuery {
                facets: FacetFilter { anonymized: query.facets.anonymized, ..FacetFilter::default() },
                ..bare.clone()
            },
            ListQuery { facets: FacetFilter { read: query.facets.read, ..FacetFilter::default() }, ..bare.clone() },
            ListQuery {
                facets: FacetFilter { channels: query.facets.channels.clone(), ..FacetFilter::default() },
                ..bare.clone()
            },
            ListQuery {
                facets: FacetFilter { directions: query.facets.directions.clone(), ..FacetFilter::default() },
                ..bare.clone()
            },
            ListQuery {
                facets: FacetFilter {
                    delivery_statuses: query.facets.delivery_statuses.clone(),
                    ..FacetFilter::default()
                },
                ..bare.clone()
            },
            ListQuery { date_time_from: query.date_time_from, ..bare.clone() },
            ListQuery { date_time_to: query.date_time_to, ..bare.clone() },
            ListQuery { modified_after: query.modified_after, ..bare.clone() },
            ListQuery { modified_before: query.modified_before, ..bare.clone() },
            ListQuery { text: query.text.clone(), ..bare.clone() },
        ];
        alone.extend(
            query.value_filters.iter().map(|filter| ListQuery { value_filters: vec![filter.clone()], ..bare.clone() }),
        );
        alone
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        /// The tail filter accepts exactly the messages the reference does,
        /// under the whole request and under each of its filters alone
        /// (which a message passes far more often than all of them).
        #[test]
        fn agrees_with_the_reference(message in message(), query in query()) {
            let written = TailMessage::new(message.clone());
            for query in std::iter::once(query.clone()).chain(each_filter_alone(&query)) {
                let accepted = TailFilter::new(&query).matches(&written);
                prop_assert_eq!(accepted, crate::reference::matches(&message, &query), "{:?}", query);
            }
        }
    }
}
