//! The page of a plan that names one `location`, sorted by `date_time`,
//! once its matches are known: the location's own rows, kept in
//! `date_time` order beside its bitmap
//! ([`crate::index::ValueIndex::rows_by_date`]), walked and tested against
//! the matches, instead of the segment's whole order.
//!
//! Every match lies among the location's rows, so the walk meets one every
//! `location rows / matches` positions instead of every `segment rows /
//! matches`: a location holding a twentieth of the rows is walked in a
//! twentieth of the positions (T16: a location's outbound messages to a
//! first name).
//!
//! A position is a row read in order and a membership test. Dates are
//! read only at a match: its own, then as few as find where its group of
//! ties ends (usually the next row's; a galloping search through a large
//! group), which lies just ahead, the list being ordered by date, then
//! row. A group's matches are ordered by the later sort keys (the last
//! being `_id`) before they join the page.
//!
//! *Invariant:* the walk only runs on matches that the location's step
//! has already narrowed, with no date range on the order (the count is
//! then the matches' own), so walking the location's rows alone misses
//! none.

use roaring::RoaringBitmap;

use super::sorted_page::compare_rows;
use super::{ExecStats, Job};
use crate::model::{DateKey, Field};
use crate::monotone_search::galloping_first_failing;
use crate::plan::{StepKind, RANDOM_ACCESS};
use crate::request::SortField;

/// The rows of the plan's one `location`, in `date_time` order, when the
/// location walk may answer it: the order is `date_time` over the whole
/// segment (no date range on it) and one step keeps that one location.
pub(super) fn location_rows<'a>(job: &Job<'a>) -> Option<&'a [u32]> {
    let plan = job.plan;
    if plan.sort[0].field != SortField::Date(DateKey::DateTime) || plan.domain().is_some() {
        return None;
    }
    let code = plan.steps.iter().find_map(|step| match &step.kind {
        StepKind::Values { field: Field::Location, codes } if codes.len() == 1 => Some(codes[0]),
        _ => None,
    })?;
    let index = job.segment.value_index(Field::Location);
    let rows = index.rows_by_date(code);
    // A segment without date lists keeps none: its rows are not all here.
    (rows.len() as u64 == index.rows(code).len()).then_some(rows)
}

/// What walking `location_rows` to the window's end is expected to cost,
/// in the units of [`crate::plan::page_costs`], with `matches` spread
/// evenly among them: a membership test per position passed, and two
/// dates read at random per match passed (its own, and the next row's,
/// which ends its group of ties).
pub(super) fn expected_cost(job: &Job<'_>, location_rows: &[u32], matches: &RoaringBitmap) -> u64 {
    let matches = matches.len().max(1);
    let window_end = job.window.offset.saturating_add(u64::from(job.window.limit)).min(matches);
    let positions = (window_end + 1).saturating_mul(location_rows.len() as u64) / matches;
    let date_reads = 2 * (window_end + 1);
    positions.saturating_add((date_reads as f64 * RANDOM_ACCESS) as u64)
}

/// The window's page: `location_rows` (a location's rows in `date_time`
/// order) walked in the request's direction, each tested by `matches`; a
/// matching row's group of ties is taken whole and ordered by the later
/// sort keys. The location facet walk pages this way too, testing each
/// row's facet cell.
pub(super) fn page(
    job: &Job<'_>,
    location_rows: &[u32],
    matches: impl Fn(u32) -> bool,
    stats: &mut ExecStats,
) -> Vec<u32> {
    let segment = job.segment;
    let dates = segment.dates(Field::DateTime);
    let (primary, later_keys) = (job.plan.sort[0], &job.plan.sort[1..]);
    let (mut to_skip, limit) = (job.window.offset, job.limit());
    let row_at = |distance: usize| {
        let position = if primary.descending { location_rows.len() - 1 - distance } else { distance };
        location_rows[position]
    };
    let past_bound = |date: i64| {
        job.window.page_bound.is_some_and(|bound| if primary.descending { date < bound } else { date > bound })
    };
    let mut page = Vec::with_capacity(limit);
    let mut group = Vec::new();
    let mut distance = 0;
    while distance < location_rows.len() && page.len() < limit {
        let row = row_at(distance);
        distance += 1;
        if !matches(row) {
            continue;
        }
        let date = dates.get(row as usize);
        if past_bound(date) {
            break;
        }
        // The rest of the group lies ahead: earlier positions of the same
        // date were passed, and held no match (or their group was taken).
        // A galloping search: a group of one costs one date read, a group
        // of thousands (a bulk send, the nulls) a few dozen.
        let is_tied = |ahead: usize| dates.get(row_at(ahead) as usize) == date;
        let group_end = galloping_first_failing(distance..location_rows.len(), is_tied);
        group.clear();
        group.push(row);
        group.extend((distance..group_end).map(row_at).filter(|&tied| matches(tied)));
        distance = group_end;
        let tied = group.len() as u64;
        if to_skip >= tied {
            to_skip -= tied;
            continue;
        }
        group.sort_unstable_by(|&left, &right| compare_rows(segment, later_keys, left, right));
        let room = limit - page.len();
        page.extend(group.iter().skip(to_skip as usize).take(room));
        to_skip = 0;
    }
    stats.rows_examined += distance as u64;
    page
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::PageWindow;
    use crate::model::{DateTime, Message};
    use crate::plan::plan;
    use crate::request::{ListQuery, QueryLimits};
    use crate::store::Segment;
    use proptest::prelude::*;

    /// A message of `location` at `date_time` and `created` (seconds from a
    /// fixed day; `None`: null), its `_id` in row order.
    fn message(row: usize, location: u8, date_time: Option<i64>, created: Option<i64>) -> Message {
        let at = |seconds: Option<i64>| seconds.and_then(|seconds| DateTime::from_seconds(63_000_000_000 + seconds));
        Message {
            location: Some(format!("L{location}")),
            date_time: at(date_time),
            created: at(created),
            ..Message::with_id(format!("m{row:05}"))
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any subset of a location's rows, either direction of both keys,
        /// any window, with or without a page bound: the page is the one a
        /// sort of the members by the messages' own fields gives.
        #[test]
        fn pages_match_a_sort_of_the_members(
            rows in proptest::collection::vec(
                (0u8..3, proptest::option::weighted(0.9, 0i64..30), proptest::option::weighted(0.8, 0i64..4)),
                1..600,
            ),
            distinct_dates in prop_oneof![Just(30i64), 1i64..4],
            chosen in proptest::collection::vec(any::<bool>(), 600),
            descending in any::<bool>(),
            created_descending in any::<bool>(),
            offset in 0u64..700,
            limit in 0usize..30,
            bound in proptest::option::of(0i64..30),
        ) {
            // Few distinct dates make groups of ties hundreds of rows long.
            let rows: Vec<(u8, Option<i64>, Option<i64>)> = rows
                .into_iter()
                .map(|(location, date_time, created)| (location, date_time.map(|date| date % distinct_dates), created))
                .collect();
            let messages: Vec<Message> = rows
                .iter()
                .enumerate()
                .map(|(row, &(location, date_time, created))| message(row, location, date_time, created))
                .collect();
            prop_assume!(rows.iter().any(|&(location, ..)| location == 1));
            let segment = Segment::from_messages(&messages).unwrap();
            let query = format!(
                "filters-location=L1&sort_by={}date_time&sort_by={}created",
                if descending { "-" } else { "" },
                if created_descending { "-" } else { "" }
            );
            let planned = plan(&segment, &ListQuery::parse(&query, &QueryLimits::default()).unwrap());
            let page_bound = bound.map(|seconds| DateTime::from_seconds(63_000_000_000 + seconds).unwrap().seconds());
            let window = PageWindow { offset, limit: limit as u32, page_bound, id_rows: None };
            let job = Job { segment: &segment, dead: None, plan: &planned, window: &window, forced: None };
            let location_rows = location_rows(&job).expect("one location, by date_time");
            let members: RoaringBitmap =
                (0..rows.len() as u32).filter(|&row| rows[row as usize].0 == 1 && chosen[row as usize]).collect();

            let page = page(&job, location_rows, |row| members.contains(row), &mut ExecStats::default());

            // Nulls sort first ascending (`None < Some`), last descending;
            // ties by `_id`, which is row order.
            let mut expected: Vec<u32> = members.iter().collect();
            expected.sort_by(|&left, &right| {
                let ((_, left_date, left_created), (_, right_date, right_created)) =
                    (rows[left as usize], rows[right as usize]);
                let by_date = if descending { right_date.cmp(&left_date) } else { left_date.cmp(&right_date) };
                let by_created =
                    if created_descending { right_created.cmp(&left_created) } else { left_created.cmp(&right_created) };
                by_date.then(by_created).then(left.cmp(&right))
            });
            let not_past_bound = |row: &u32| match (bound, rows[*row as usize].1) {
                (None, _) => true,
                (Some(bound), date_time) => if descending { date_time >= Some(bound) } else { date_time <= Some(bound) },
            };
            let expected: Vec<u32> =
                expected.into_iter().skip(offset as usize).take(limit).filter(not_past_bound).collect();
            prop_assert_eq!(page, expected, "{}", query);
        }
    }
}
