//! Property tests: on random data sets and random requests (valid and
//! invalid), the fast engine's transcript line equals the reference
//! engine's byte for byte; and every page strategy of the executor gives
//! the same page.
//!
//! `PROPTEST_CASES=5000 cargo test --release --test differential` runs a
//! long campaign; CI runs proptest's default (256 cases per property).

mod common;

use common::generators::{
    crm_data_set, data_set, list_query, location_beside_query, location_query, target, text_query,
};
use msgdex::testing::{execute_forcing, plan, PageStrategy, PageWindow, Strategy};
use msgdex::{ContentStorage, Engine, FastEngine, ListQuery, QueryLimits, ReferenceEngine};
use msgdex::{DateKey, Message, SortField};
use proptest::prelude::*;

/// The fast engine, with `content` packed and plain, answers `targets` as
/// the reference does.
fn assert_same_answers(messages: Vec<Message>, targets: &[String]) -> Result<(), TestCaseError> {
    let fast = ContentStorage::ALL.map(|storage| common::fast_storing(&messages, storage));
    let reference = ReferenceEngine::new(messages);
    for target in targets {
        let expected = reference.respond(target).to_transcript_line();
        for (engine, storage) in fast.iter().zip(ContentStorage::ALL) {
            prop_assert_eq!(&engine.respond(target).to_transcript_line(), &expected, "request {}, {}", target, storage);
        }
    }
    Ok(())
}

/// Every page strategy forced gives the same page and count for `query`
/// (the walks, where they cannot answer it, give way to the cost model).
fn assert_same_pages(messages: &[Message], query: &str) -> Result<(), TestCaseError> {
    let Ok(list) = ListQuery::parse(query, &QueryLimits::default()) else { return Ok(()) };
    let fast = FastEngine::new(messages).expect("unique Ids");
    let planned = plan(fast.segment(), &list);
    let window = PageWindow::of(&planned);
    let collected = execute_forcing(fast.segment(), None, &planned, &window, Strategy::Collect);
    for forced in [Strategy::Walk, Strategy::LocationWalk] {
        let other = execute_forcing(fast.segment(), None, &planned, &window, forced);
        prop_assert_eq!(&other.rows, &collected.rows, "{:?}: {}", forced, query);
        prop_assert_eq!(other.item_count, collected.item_count, "{:?}: {}", forced, query);
        // Without `filters-q` (whose shortcuts may answer first), a query
        // naming one location (not null: an empty value) by date_time,
        // with matches, is walked so.
        let locations: Vec<String> = form_urlencoded::parse(query.as_bytes())
            .filter(|(name, _)| name == "filters-location")
            .map(|(_, value)| value.into_owned())
            .collect();
        let walks_location = matches!(locations.as_slice(), [location] if !location.is_empty())
            && !query.contains("filters-q=")
            && planned.sort[0].field == SortField::Date(DateKey::DateTime)
            && planned.domain().is_none()
            && collected.item_count > 0;
        if forced == Strategy::LocationWalk && walks_location {
            prop_assert_eq!(other.stats.strategy, Some(PageStrategy::LocationWalk), "{}", query);
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn fast_engine_answers_exactly_like_the_reference(
        messages in data_set(40),
        targets in proptest::collection::vec(target(), 1..25),
    ) {
        assert_same_answers(messages, &targets)?;
    }
}

proptest! {
    /// `filters-q` over CRM-shaped text (addresses inside correspondents),
    /// where counts come from the matched values and pages from walks.
    #[test]
    fn text_searches_over_crm_shaped_data_agree(
        messages in crm_data_set(300),
        targets in proptest::collection::vec(text_query(), 1..12),
    ) {
        assert_same_answers(messages, &targets)?;
    }

    /// One `location` and closed-set filters by `date_time`, ties by `_id`
    /// either way: counted from the location's counts per facet cell, its
    /// date list walked (many tied dates in the generated data).
    #[test]
    fn a_location_and_closed_sets_by_date_agree(
        messages in data_set(300),
        targets in proptest::collection::vec(location_query(), 1..12),
    ) {
        assert_same_answers(messages, &targets)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: ProptestConfig::default().cases / 16 + 1, ..ProptestConfig::default() })]

    /// Sets of thousands of rows, so that block skipping, long runs of ties
    /// and deep pages are exercised.
    #[test]
    fn large_sets_with_deep_pages_agree(
        messages in data_set(3500),
        queries in proptest::collection::vec(list_query(400), 1..8),
    ) {
        let targets: Vec<String> = queries.iter().map(|query| format!("/v1/messages?{query}")).collect();
        assert_same_answers(messages, &targets)?;
    }

    /// Walking the sorted order, walking the one location's rows (where a
    /// query names one) and collecting-then-sorting give the same page and
    /// count for every query.
    #[test]
    fn page_strategies_agree(messages in data_set(2500), query in list_query(300)) {
        assert_same_pages(&messages, &query)?;
    }

    /// The same over CRM-shaped data for one location with other filters
    /// beside it (where the location's rows are walked), by `date_time`
    /// and later keys, which order each group of ties.
    #[test]
    fn page_strategies_agree_beside_a_location(messages in crm_data_set(1500), query in location_beside_query()) {
        assert_same_pages(&messages, &query)?;
    }
}
