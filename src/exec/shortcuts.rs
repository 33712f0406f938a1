//! Strategies for requests of a particular shape, which answer without
//! building the bitmap of matches: each returns `None` when the request is
//! not of its shape or when the general path is estimated cheaper.

use super::location_walk;
use super::membership::{FacetTest, Membership, TextTest, TextValues};
use super::sorted_page::top_window;
use super::walk::{Walk, Window};
use super::{filters, ExecStats, Execution, Job, PageStrategy};
use crate::column::Column;
use crate::index::facets::FacetSelection;
use crate::index::needle::NeedleTest;
use crate::index::order::BLOCK;
use crate::index::text::{SuffixRun, TextMatch, TextSearchStats};
use crate::model::{DateKey, Field};
use crate::plan::{page_costs, PageShape, RangeUse, StepKind, Strategy, BLOCK_OPERATION, RANDOM_ACCESS};
use crate::request::SortField;
use crate::store::ID_LIKE_FIELDS;

/// Most positions a walk testing rows' own values (facets, text) may
/// expect to pass before the page is full; past it, building the matches
/// as a bitmap is cheaper.
const OWN_VALUES_WALK_LIMIT: u64 = 20_000;

/// What testing a row's values by searching their text costs, in values
/// gathered from the needle's occurrences: a search reads a value's text
/// bounds and then its text at random, two more misses where a gathered
/// value is one bit set (gathering reads the run in order). Calibrated on
/// T07 of both data shapes (docs/PERFORMANCE.md, "Text walks
/// recalibrated").
const SEARCHED_ROW_COST: u64 = 32;

/// What searching a value of a listed value's row (whether it holds the
/// needle, so that the row is counted once) costs, in values gathered
/// (calibrated with [`SEARCHED_ROW_COST`]).
const SEARCHED_VALUE_COST: u64 = 10;

/// Most candidates a value-and-range collect may gather; past it the
/// bitmap plan is cheaper.
const VALUE_RANGE_LIMIT: usize = 20_000;

/// The positions a walk expects to pass before the window is full when
/// `item_count` of the segment's rows match, spread evenly.
fn expected_positions(job: &Job<'_>, item_count: u64) -> u64 {
    let wanted = job.window.offset.saturating_add(u64::from(job.window.limit)).min(item_count);
    wanted.saturating_mul(u64::from(job.segment.row_count())) / item_count.max(1)
}

/// The page found by walking the whole sorted order of the primary
/// (date/time) key, testing rows with `membership`.
fn walk_whole_order(job: &Job<'_>, membership: Membership<'_>, stats: &mut ExecStats) -> Vec<u32> {
    let key = job.plan.sort[0].field.date_key().expect("a date order");
    let walk = Walk::new(job, membership, 0..job.segment.order(key).len());
    walk.page(job.window.offset, job.limit(), stats)
}

/// Walks a date order for a plan of one value without a date range, on a
/// segment with dead rows: the value's rows are tested and dead rows
/// skipped as the walk meets them, the count comes from tallies (see
/// [`filters::one_value_live`]).
pub(super) fn one_value_walk(job: &Job<'_>) -> Option<Execution> {
    if !job.may_walk_date_order() || job.plan.domain().is_some() {
        return None;
    }
    let dead = job.dead?;
    let (bitmap, item_count) = filters::one_value_live(job.segment, dead, job.plan)?;
    let key = job.plan.sort[0].field.date_key()?;
    let order = job.segment.order(key);
    let (walk_cost, collect_cost) = page_costs(PageShape {
        matches: item_count.max(1),
        candidates: bitmap.len(),
        domain_len: order.len() as u64,
        has_domain: false,
        offset: job.window.offset,
        limit: job.window.limit,
    });
    if walk_cost > collect_cost && job.forced.is_none() {
        return None;
    }
    let mut stats = ExecStats { strategy: Some(PageStrategy::OneValueWalk), ..ExecStats::default() };
    stats.after_step.push(item_count);
    let walk = Walk::new(job, Membership::AliveIn(bitmap, dead), 0..order.len());
    let rows = walk.page(job.window.offset, job.limit(), &mut stats);
    Some(Execution { item_count, rows, stats })
}

/// Answers a request whose filters are all closed-set ones ([`FACET_FIELDS`])
/// and whose order is a date/time key: `item_count` from the facet counts,
/// the page by walking the sorted order testing each row's own values.
pub(super) fn facet_walk(job: &Job<'_>) -> Option<Execution> {
    let (segment, plan) = (job.segment, job.plan);
    if !job.may_walk_date_order() || plan.steps.is_empty() {
        return None;
    }
    let mut selection = FacetSelection::default();
    let mut test = FacetTest { enums: Vec::new(), presence: Vec::new(), dead: job.dead };
    for step in &plan.steps {
        let accepted = step.facet_codes()?;
        match step.kind {
            StepKind::Present { present, .. } => test.presence.push((segment.present(accepted.field), present)),
            _ => {
                let mut table = [false; 8];
                accepted.codes.iter().for_each(|&code| table[usize::from(code)] = true);
                test.enums.push((segment.enum_column(accepted.field).codes.as_slice(), table));
            }
        }
        selection.narrow(accepted.dimension, &accepted.codes);
    }
    let item_count = segment.facets().count(&selection) - job.dead.map_or(0, |dead| dead.facet_count(&selection));
    let expected = expected_positions(job, item_count);
    // Few matches in a small segment (a live store's run): collecting them
    // from the bitmaps and sorting is cheaper than walking to them.
    let rows = f64::from(segment.row_count());
    let collect_cost = item_count as f64 * RANDOM_ACCESS + rows / BLOCK as f64 * BLOCK_OPERATION;
    if item_count > 0 && (expected > OWN_VALUES_WALK_LIMIT || collect_cost < expected as f64) {
        return None;
    }
    let mut stats = ExecStats { strategy: Some(PageStrategy::FacetWalk), ..ExecStats::default() };
    if item_count == 0 {
        return Some(Execution { item_count, rows: Vec::new(), stats });
    }
    let page = walk_whole_order(job, Membership::Facets(&test), &mut stats);
    Some(Execution { item_count, rows: page, stats })
}

/// Why [`text_run_walk`] did not answer.
pub(super) enum TextRunDeclined {
    /// The request is not of its shape, or its count is cheaper by value:
    /// [`text_walk`] may answer.
    CountByValue,
    /// The walk would be long: the matches are best built as a bitmap
    /// ([`text_walk`] would decline too).
    LongWalk,
}

/// Answers a request whose only filter is `filters-q` from the needle's run
/// of sorted suffixes: `item_count` is counted without listing the values
/// held apart ([`crate::index::text::TextIndex::count_run`]), less the
/// dead rows holding the needle, each tested; the page is found by
/// walking the order testing each row's own values.
///
/// Values are told to hold the needle by searching their text, or, when
/// the run holds values that may share rows (whose rows are read) or the
/// walk is long against the occurrences, by gathering the matched values
/// first, into `gathered` (for the caller too, should this decline).
/// Declines when the values that may share rows have too many, or the dead
/// rows outnumber the occurrences (then [`text_walk`] counts by value), or
/// when the walk would be long.
pub(super) fn text_run_walk<'t>(
    job: &Job<'t>,
    needle: &str,
    run: &SuffixRun,
    gathered: &mut Option<TextMatch<'t>>,
) -> Result<Execution, TextRunDeclined> {
    use TextRunDeclined::{CountByValue, LongWalk};
    if !is_text_only(job) || job.dead.is_some_and(|dead| dead.len() > run.occurrences()) {
        return Err(CountByValue);
    }
    let (segment, index) = (job.segment, job.segment.text());
    let shared = index.shared_of_run(run);
    let searching_shared = (shared.value_count() + shared.rows_read()) as u64 * SEARCHED_VALUE_COST;
    if searching_shared > run.occurrences() {
        *gathered = Some(index.matched_bits_of(run));
    }
    let searched = NeedleTest::new(index, needle);
    let values = match &*gathered {
        Some(found) => TextValues::Matched(found),
        None => TextValues::Searched(&searched),
    };
    let test = TextTest::new(segment, values, job.dead);
    let every_row = index.count_run(run, &shared, |value| values.holds_value(value)).ok_or(CountByValue)?;
    let dead_rows = job.dead.map_or(0, |dead| dead.each_row().filter(|&row| test.matches(row)).count());
    let item_count = every_row.checked_sub(dead_rows as u64).ok_or(CountByValue)?;
    let expected = expected_positions(job, item_count);
    if item_count > 0 && expected > OWN_VALUES_WALK_LIMIT {
        return Err(LongWalk);
    }
    let stats = TextSearchStats {
        occurrences: run.occurrences(),
        rows_read: shared.rows_read() as u64,
        counted_from_run: true,
        ..TextSearchStats::default()
    };
    if matches!(values, TextValues::Searched(_)) && expected.saturating_mul(SEARCHED_ROW_COST) <= run.occurrences() {
        return Ok(text_page(job, &test, item_count, stats));
    }
    let found = gathered.get_or_insert_with(|| index.matched_bits_of(run));
    let test = TextTest::new(segment, TextValues::Matched(found), job.dead);
    let stats = TextSearchStats { values_gathered: true, ..stats };
    Ok(text_page(job, &test, item_count, stats))
}

/// Whether a request's only filter is `filters-q` and its page may be
/// walked.
fn is_text_only(job: &Job<'_>) -> bool {
    job.plan.steps.len() == 1 && job.forced != Some(Strategy::Collect)
}

/// Answers a request whose only filter is `filters-q` without reading the
/// matched values' rows: `item_count` is the sum of their row counts where
/// their rows cannot overlap, with the rows of the few values left over
/// read one by one ([`TextMatch::count_less`]), less their dead rows (a
/// tally per value of the frozen dead rows, cached with them, and a test
/// of the few recent ones); the page is found by walking the order
/// (the sorted order of a date/time key, or the rows themselves for `_id`)
/// testing each row's own text values.
pub(super) fn text_walk(job: &Job<'_>, found: &TextMatch<'_>) -> Option<Execution> {
    if !is_text_only(job) {
        return None;
    }
    let segment = job.segment;
    let test = TextTest::new(segment, TextValues::Matched(found), job.dead);
    let item_count = match job.dead {
        None => found.count_less(&[], &|_| false, std::iter::empty())?,
        Some(dead) => {
            let frozen = dead.frozen_text_tally(|rows| segment.text().tally(rows));
            found.count_less(frozen, &|row| dead.contains(row), dead.recent_rows())?
        }
    };
    if item_count > 0 && expected_positions(job, item_count) > OWN_VALUES_WALK_LIMIT {
        return None;
    }
    Some(text_page(job, &test, item_count, found.stats()))
}

/// The page of a `filters-q`-only request of `item_count` matches, found
/// by walking the order (the sorted order of a date/time key, or the rows
/// themselves for `_id`) testing each row's own text values.
fn text_page(job: &Job<'_>, test: &TextTest<'_>, item_count: u64, text: TextSearchStats) -> Execution {
    let segment = job.segment;
    let primary = job.plan.sort[0];
    let mut stats = ExecStats { text: Some(text), ..ExecStats::default() };
    let page = match primary.field {
        _ if item_count == 0 || job.window.limit == 0 => Vec::new(),
        SortField::Id => {
            stats.strategy = Some(PageStrategy::TextIdOrder);
            let mut window = Window { offset: job.window.offset, limit: job.limit(), skipped: 0, page: Vec::new() };
            // Only the rows that can reach the page are walked.
            let reach = job.window.id_rows.map_or(segment.row_count(), |rows| rows.min(segment.row_count()));
            let mut first = 0..reach;
            let mut last = (segment.row_count() - reach..segment.row_count()).rev();
            let rows: &mut dyn Iterator<Item = u32> = if primary.descending { &mut last } else { &mut first };
            for row in rows {
                stats.rows_examined += 1;
                if window.offer(test.contains(row)) {
                    window.page.push(row);
                    if window.page.len() == window.limit {
                        break;
                    }
                }
            }
            window.page
        }
        SortField::Date(_) => walk_whole_order(job, Membership::Text(test), &mut stats),
    };
    stats.strategy.get_or_insert(PageStrategy::TextWalk);
    Execution { item_count, rows: page, stats }
}

/// Answers a request filtering on one `location` and closed-set filters
/// only, sorted by `date_time` (ties by `_id`), on a segment without dead
/// rows: `item_count` from the location's counts per facet cell, the page
/// by walking the location's rows in `date_time` order (kept beside its
/// bitmap) testing each row's cell. Neither the location's bitmap nor the
/// closed sets' are read, so the work follows the page, not the store.
pub(super) fn location_facet_walk(job: &Job<'_>) -> Option<Execution> {
    let (segment, plan) = (job.segment, job.plan);
    if job.dead.is_some() || !job.may_walk_date_order() || plan.domain().is_some() {
        return None;
    }
    let [primary, tie] = plan.sort.as_slice() else {
        return None;
    };
    if primary.field != SortField::Date(DateKey::DateTime) || tie.field != SortField::Id {
        return None;
    }
    let steps = plan.location_and_closed_sets().filter(|steps| !steps.has_text)?;
    let &[location] = steps.locations.as_deref()? else {
        return None;
    };
    let cells = steps.selection.cells();
    let item_count = segment.location_cells()?.count(location, &cells);
    let rows = segment.value_index(Field::Location).rows_by_date(location);
    let wanted = job.window.offset.saturating_add(u64::from(job.window.limit)).min(item_count);
    let expected = wanted.saturating_mul(rows.len() as u64) / item_count.max(1);
    if expected > OWN_VALUES_WALK_LIMIT || job.forced.is_some() {
        return None;
    }
    let accepted = steps.selection.cell_flags();
    let facets = segment.facet_columns();
    let mut stats = ExecStats { strategy: Some(PageStrategy::LocationFacetWalk), ..ExecStats::default() };
    stats.after_step.push(item_count);
    let page = match item_count {
        0 => Vec::new(),
        _ => location_walk::page(job, rows, |row| accepted[facets.cell(row as usize)], &mut stats),
    };
    Some(Execution { item_count, rows: page, stats })
}

/// Answers a request with a `date_time` range, sorted by `date_time`, that
/// filters an Id-like field ([`ID_LIKE_FIELDS`]): each requested value's
/// rows are kept in `date_time` order, so the rows of the range are a
/// binary search away in each list; those few candidates are checked
/// against the other filters, counted and partially sorted.
pub(super) fn value_range_collect(job: &Job<'_>) -> Option<Execution> {
    let (segment, plan) = (job.segment, job.plan);
    if plan.sort[0].field != SortField::Date(DateKey::DateTime) || job.forced == Some(Strategy::Walk) {
        return None;
    }
    let domain = plan.domain()?;
    if plan.steps.iter().any(|step| matches!(step.kind, StepKind::Text { .. })) {
        return None;
    }
    let (anchor, field, codes) = plan
        .steps
        .iter()
        .enumerate()
        .filter_map(|(position, step)| match &step.kind {
            StepKind::Values { field, codes } if ID_LIKE_FIELDS.contains(field) => {
                Some((position, *field, codes, step.estimate))
            }
            _ => None,
        })
        .min_by_key(|(_, _, _, estimate)| *estimate)
        .map(|(position, field, codes, _)| (position, field, codes))?;
    let dates = segment.dates(Field::DateTime);
    let index = segment.value_index(field);
    let mut candidates: Vec<u32> = Vec::new();
    for &code in codes {
        let rows = index.rows_by_date(code);
        let start = rows.partition_point(|&row| dates.get(row as usize) < domain.from);
        let end = start + rows[start..].partition_point(|&row| dates.get(row as usize) <= domain.to);
        if candidates.len() + (end - start) > VALUE_RANGE_LIMIT {
            return None;
        }
        candidates.extend_from_slice(&rows[start..end]);
    }
    let mut stats = ExecStats { strategy: Some(PageStrategy::ValueRangeCollect), ..ExecStats::default() };
    stats.rows_examined = candidates.len() as u64;
    if let Some(dead) = job.dead {
        candidates.retain(|&row| !dead.contains(row));
    }
    for (position, step) in plan.steps.iter().enumerate() {
        if position == anchor {
            continue;
        }
        match &step.kind {
            StepKind::Values { field, codes } => match segment.column(*field) {
                Column::Dict(column) => {
                    candidates.retain(|&row| codes.binary_search(&column.codes.get(row as usize)).is_ok())
                }
                Column::Enum(column) => {
                    candidates.retain(|&row| codes.binary_search(&u32::from(column.codes[row as usize])).is_ok())
                }
                Column::Date(_) => unreachable!("no value filter on a date field"),
            },
            StepKind::Ids { rows } => candidates.retain(|row| rows.binary_search(row).is_ok()),
            StepKind::Present { field, present } => {
                let set = segment.present(*field);
                candidates.retain(|&row| set.contains(row) == *present);
            }
            StepKind::Range { how: RangeUse::Domain, .. } => {}
            StepKind::Range { key, from, to, .. } => {
                let values = segment.dates(key.field());
                candidates.retain(|&row| (*from..=*to).contains(&values.get(row as usize)));
            }
            StepKind::Text { .. } => unreachable!("text requests take the bitmap plan"),
        }
    }
    let item_count = candidates.len() as u64;
    let rows = top_window(segment, &mut candidates, &plan.sort, job.window.offset, job.limit());
    Some(Execution { item_count, rows, stats })
}
