//! The executor: carries out a [`Plan`] on a [`Segment`] — evaluates the
//! filter steps into one bitmap of matches (or none, meaning every row),
//! counts the matches without iterating them, and finds the page with the
//! chosen strategy.
//!
//! The three page strategies give the same rows; a property test runs them
//! all against a full sort.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::ops::Range;

use roaring::{MultiOps, RoaringBitmap};

use crate::index::facets::FacetSelection;
use crate::index::order::{SortedOrder, BLOCK};
use crate::index::text::{TextMatch, TextSearchStats};
use crate::model::Field;
use crate::plan::{page_costs, PageShape, Plan, RangeUse, StepKind, Strategy, BLOCK_OPERATION, RANDOM_ACCESS};
use crate::request::{SortField, SortKey};
use crate::store::column::Column;
use crate::store::deleted::Deleted;
use crate::store::{order_number, Segment};

/// What execution found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Execution {
    /// Matching messages over all pages.
    pub item_count: u64,
    /// The rows of the page, in order.
    pub rows: Vec<u32>,
    /// Actual costs, for `explain`.
    pub stats: ExecStats,
}

/// Actual work done, to set beside the plan's estimates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecStats {
    /// Rows left after each evaluated step, in plan order (a domain range is
    /// not a step here: it bounds the walk).
    pub after_step: Vec<u64>,
    /// The strategy used (re-chosen from the actual match count).
    pub strategy: Option<Strategy>,
    /// Positions or rows whose membership or key was examined one by one.
    pub rows_examined: u64,
    /// Whole blocks of positions skipped by counting.
    pub blocks_skipped: u64,
    /// What the text search did.
    pub text: Option<TextSearchStats>,
    /// Whether `item_count` came from the facet counts (closed-set filters
    /// only), with no bitmap built.
    pub counted_by_facets: bool,
    /// Whether `item_count` came from the row counts of the values
    /// `filters-q` matched, with no row read.
    pub counted_by_text_values: bool,
    /// Matches copied to take a segment's dead rows out of them (0 when
    /// dead rows were skipped as met and counted from tallies).
    pub rows_copied_for_dead: u64,
}

/// The rows matching the filter steps: `None` means every row; a single
/// step's bitmap is borrowed from the index, not copied.
type Matches<'a> = Option<Cow<'a, RoaringBitmap>>;

/// Carries out a plan.
pub fn execute(segment: &Segment, plan: &Plan) -> Execution {
    execute_with(segment, plan, None)
}

/// Carries out a plan with the page strategy forced (for date/time primary
/// keys: [`Strategy::Walk`] or [`Strategy::Collect`]), so that tests can
/// check that every strategy gives the same page.
pub fn execute_with(segment: &Segment, plan: &Plan, forced: Option<Strategy>) -> Execution {
    execute_live(segment, None, plan, forced)
}

/// Carries out a plan on a segment some of whose rows are dead (deleted or
/// replaced by a later write): they are never counted nor returned.
pub fn execute_live(segment: &Segment, deleted: Option<&Deleted>, plan: &Plan, forced: Option<Strategy>) -> Execution {
    let deleted = deleted.filter(|deleted| !deleted.is_empty());
    let mut stats = ExecStats::default();
    if plan.empty_because.is_some() {
        return Execution { stats, ..Execution::default() };
    }
    if let Some(execution) = facet_walk(segment, deleted, plan, forced) {
        return execution;
    }
    if let Some(execution) = value_range_collect(segment, deleted, plan, forced) {
        return execution;
    }
    let text = plan.steps.iter().find_map(|step| match &step.kind {
        StepKind::Text { needle } => Some(segment.text().find(needle)),
        _ => None,
    });
    if let Some(execution) = text.as_ref().and_then(|found| text_walk(segment, deleted, plan, forced, found)) {
        return execution;
    }
    if let Some(execution) = one_value_walk(segment, deleted, plan, forced) {
        return execution;
    }
    let Some(matches) = evaluate_filters(segment, deleted, plan, text, &mut stats) else {
        return Execution { stats, ..Execution::default() };
    };
    let domain = plan.domain();
    let primary = plan.sort[0];
    let offset = plan.offset;
    let limit = plan.limit as usize;

    if primary.field == SortField::Id {
        stats.strategy = Some(Strategy::IdOrder);
        if let (None, Some(deleted)) = (&matches, deleted) {
            let rows = live_id_order_page(deleted, primary.descending, offset, limit);
            return Execution { item_count: deleted.live_count(), rows, stats };
        }
        let item_count = matches.as_ref().map_or(u64::from(segment.row_count()), |bitmap| bitmap.len());
        let rows = id_order_page(matches.as_deref(), segment.row_count(), primary.descending, offset, limit);
        return Execution { item_count, rows, stats };
    }

    let rows = u64::from(segment.row_count());
    let order = segment.order(primary.field);
    let positions = domain.as_ref().map_or(0..order.len(), |(_, _, _, positions)| positions.clone());
    let Some(bitmap) = matches.as_deref() else {
        // Every live row of the domain matches: the walk is arithmetic, or
        // skips dead rows counted by block.
        stats.strategy = Some(Strategy::Walk);
        let membership =
            deleted.map_or(Membership::All, |deleted| Membership::Live(deleted, order_number(primary.field)));
        let walk = Walk::new(segment, plan, membership, positions.clone());
        let rows = walk.page(primary.descending, offset, limit, &mut stats);
        let dead = deleted.map_or(0, |deleted| deleted.dead_at(order_number(primary.field), positions.clone()));
        return Execution { item_count: positions.len() as u64 - dead, rows, stats };
    };
    // Choose by estimated cost; within a domain the match count is
    // estimated from the candidates' density (independence).
    let domain_len = positions.len() as u64;
    let estimated = if domain.is_some() { bitmap.len() * domain_len / rows.max(1) } else { bitmap.len() };
    let (walk_cost, collect_cost) = page_costs(PageShape {
        matches: estimated.max(1),
        candidates: bitmap.len(),
        domain_len,
        has_domain: domain.is_some(),
        offset,
        limit: plan.limit,
    });
    let strategy = match forced {
        Some(forced @ (Strategy::Walk | Strategy::Collect)) => forced,
        _ if walk_cost <= collect_cost => Strategy::Walk,
        _ => Strategy::Collect,
    };
    stats.strategy = Some(strategy);
    if strategy == Strategy::Collect {
        let (item_count, rows) = collect_page(segment, plan, bitmap, positions, &mut stats);
        return Execution { item_count, rows, stats };
    }
    // Sparse matches tested at many positions get a bitset view: a roaring
    // array container costs a binary search per test.
    let tests = if domain.is_some() { domain_len } else { 0 } + 4 * u64::from(plan.limit);
    // Roaring keeps a chunk of 65,536 rows holding at most 4,096 matches as a
    // sorted array: that is what "sparse" means here, whatever the segment's size.
    let chunks = rows.div_ceil(1 << 16).max(1);
    let sparse = bitmap.len() / chunks <= 4096 && bitmap.len() > 64 && tests > bitmap.len() / 4;
    let (item_count, rows) = if sparse {
        with_dense(bitmap, segment.row_count(), |words| {
            walk_page(segment, plan, bitmap, Membership::Dense(words), positions, &mut stats)
        })
    } else {
        walk_page(segment, plan, bitmap, Membership::Bitmap(bitmap), positions, &mut stats)
    };
    Execution { item_count, rows, stats }
}

/// Walks a date order for a plan of one value without a date range, on a
/// segment with dead rows: the value's rows are tested and dead rows
/// skipped as the walk meets them, the count comes from tallies (see
/// [`one_value_live`]). `None` when another strategy is cheaper or forced.
fn one_value_walk(
    segment: &Segment,
    deleted: Option<&Deleted>,
    plan: &Plan,
    forced: Option<Strategy>,
) -> Option<Execution> {
    if !may_walk_date_order(plan, forced) || plan.domain().is_some() {
        return None;
    }
    let primary = plan.sort[0];
    let (bitmap, item_count) = one_value_live(segment, deleted?, plan)?;
    let order = segment.order(primary.field);
    let (walk_cost, collect_cost) = page_costs(PageShape {
        matches: item_count.max(1),
        candidates: bitmap.len(),
        domain_len: order.len() as u64,
        has_domain: false,
        offset: plan.offset,
        limit: plan.limit,
    });
    if walk_cost > collect_cost && forced.is_none() {
        return None;
    }
    let mut stats = ExecStats { strategy: Some(Strategy::Walk), ..ExecStats::default() };
    stats.after_step.push(item_count);
    let walk = Walk::new(segment, plan, Membership::AliveIn(bitmap, deleted?), 0..order.len());
    let rows = walk.page(primary.descending, plan.offset, plan.limit as usize, &mut stats);
    Some(Execution { item_count, rows, stats })
}

/// Most positions a walk testing rows' own values (facets, text) may
/// expect to pass before the page is full; past it, building the matches
/// as a bitmap is cheaper.
const OWN_VALUES_WALK_LIMIT: u64 = 20_000;

/// The positions a walk expects to pass before the page of `plan` is full
/// when `item_count` of the segment's rows match, spread evenly.
fn expected_positions(segment: &Segment, plan: &Plan, item_count: u64) -> u64 {
    let wanted = plan.offset.saturating_add(u64::from(plan.limit)).min(item_count);
    wanted.saturating_mul(u64::from(segment.row_count())) / item_count.max(1)
}

/// The page found by walking the whole sorted order of the primary
/// (date/time) key, testing rows with `membership`.
fn walk_whole_order(segment: &Segment, plan: &Plan, membership: Membership<'_>, stats: &mut ExecStats) -> Vec<u32> {
    let primary = plan.sort[0];
    let order = segment.order(primary.field);
    let walk = Walk::new(segment, plan, membership, 0..order.len());
    walk.page(primary.descending, plan.offset, plan.limit as usize, stats)
}

/// The positions of `positions` a walk to the page must pass: all of them,
/// or, with a page bound, those whose value does not sort past it in the
/// request's direction (ties with the bound included).
fn page_positions(order: &SortedOrder, positions: Range<usize>, plan: &Plan) -> Range<usize> {
    let Range { start, end } = positions;
    match plan.page_bound {
        None => start..end,
        Some(bound) if plan.sort[0].descending => order.lower_bound(bound).clamp(start, end)..end,
        Some(bound) => start..order.upper_bound(bound).clamp(start, end),
    }
}

/// Whether a strategy walking the primary key's sorted order may answer
/// the plan: the primary key is a date/time and collecting is not forced.
fn may_walk_date_order(plan: &Plan, forced: Option<Strategy>) -> bool {
    plan.sort[0].field != SortField::Id && !matches!(forced, Some(Strategy::Collect))
}

/// Answers a request whose filters are all closed-set ones (`channel`,
/// `direction`, `delivery_status`, `anonymized`, `read`) and whose order is
/// a date/time key: `item_count` from the facet counts, the page by walking
/// the sorted order testing each row's own values. `None` when the request
/// is not of that shape or the walk would be long.
fn facet_walk(
    segment: &Segment,
    deleted: Option<&Deleted>,
    plan: &Plan,
    forced: Option<Strategy>,
) -> Option<Execution> {
    if !may_walk_date_order(plan, forced) || plan.steps.is_empty() {
        return None;
    }
    let facet_fields = [Field::Channel, Field::Direction, Field::DeliveryStatus, Field::Anonymized, Field::Read];
    let mut selection = FacetSelection::default();
    let mut test = FacetTest { enums: Vec::new(), presence: Vec::new(), deleted };
    for step in &plan.steps {
        let (dimension, accepted) = match &step.kind {
            StepKind::Values { field, codes } if facet_fields[..3].contains(field) => {
                let codes: Vec<u8> = codes.iter().map(|&code| code as u8).collect();
                let mut table = [false; 8];
                codes.iter().for_each(|&code| table[usize::from(code)] = true);
                test.enums.push((segment.enum_column(*field).codes.as_slice(), table));
                (facet_fields.iter().position(|known| known == field)?, codes)
            }
            StepKind::Present { field, present } => {
                test.presence.push((segment.present(*field), *present));
                (facet_fields.iter().position(|known| known == field)?, vec![u8::from(*present)])
            }
            _ => return None,
        };
        // Two steps on one dimension accept the codes both accept.
        let merged = match selection.accepted[dimension].take() {
            Some(earlier) => earlier.into_iter().filter(|code| accepted.contains(code)).collect(),
            None => accepted,
        };
        selection.accepted[dimension] = Some(merged);
    }
    let item_count = segment.facets().count(&selection) - deleted.map_or(0, |deleted| deleted.facet_count(&selection));
    let expected = expected_positions(segment, plan, item_count);
    // Few matches in a small segment (a live store's run): collecting them
    // from the bitmaps and sorting is cheaper than walking to them.
    let rows = f64::from(segment.row_count());
    let collect_cost = item_count as f64 * RANDOM_ACCESS + rows / BLOCK as f64 * BLOCK_OPERATION;
    if item_count > 0 && (expected > OWN_VALUES_WALK_LIMIT || collect_cost < expected as f64) {
        return None;
    }
    let mut stats = ExecStats { strategy: Some(Strategy::Walk), counted_by_facets: true, ..ExecStats::default() };
    if item_count == 0 {
        return Some(Execution { item_count, rows: Vec::new(), stats });
    }
    let page = walk_whole_order(segment, plan, Membership::Facets(&test), &mut stats);
    Some(Execution { item_count, rows: page, stats })
}

/// Answers a request whose only filter is `filters-q` without reading the
/// matched values' rows: `item_count` is the sum of their row counts when
/// no row holds two of them ([`TextMatch::disjoint_count`]), less their dead
/// rows (a tally per value of the frozen tombstones, cached with them, and
/// a test of the few recent ones); the page is found by walking the order
/// (the sorted order of a date/time key, or the rows themselves for `_id`)
/// testing each row's own text values. `None` when the request is not of
/// that shape, the values share rows, or the walk would be long.
fn text_walk(
    segment: &Segment,
    deleted: Option<&Deleted>,
    plan: &Plan,
    forced: Option<Strategy>,
    found: &TextMatch<'_>,
) -> Option<Execution> {
    if plan.steps.len() != 1 || matches!(forced, Some(Strategy::Collect)) {
        return None;
    }
    let test = TextTest::new(segment, found, deleted);
    let item_count = match deleted {
        None => found.disjoint_count()?,
        Some(deleted) => {
            let dead = deleted.frozen_text_tally(|rows| segment.text().tally(rows, &test.columns));
            let recent = deleted.recent_rows().filter(|&row| test.matches(row)).count() as u64;
            found.disjoint_count_less(dead)? - recent
        }
    };
    if item_count > 0 && expected_positions(segment, plan, item_count) > OWN_VALUES_WALK_LIMIT {
        return None;
    }
    let primary = plan.sort[0];
    let mut stats = ExecStats { text: Some(found.stats), counted_by_text_values: true, ..ExecStats::default() };
    let page = if item_count == 0 || plan.limit == 0 {
        Vec::new()
    } else if primary.field == SortField::Id {
        stats.strategy = Some(Strategy::IdOrder);
        let mut window = Window { offset: plan.offset, limit: plan.limit as usize, skipped: 0, page: Vec::new() };
        // Only the rows that can reach the page are walked.
        let reach = plan.id_rows.map_or(segment.row_count(), |rows| rows.min(segment.row_count()));
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
    } else {
        stats.strategy = Some(Strategy::Walk);
        walk_whole_order(segment, plan, Membership::Text(&test), &mut stats)
    };
    Some(Execution { item_count, rows: page, stats })
}

/// Most candidates a value-and-range collect may gather; past it the
/// bitmap plan is cheaper.
const VALUE_RANGE_LIMIT: usize = 20_000;

/// Answers a request with a `date_time` range, sorted by `date_time`, that
/// filters an Id-like field (`filters-location`, `filters-sent_by`, …):
/// each requested value's rows are kept in `date_time` order, so the rows of
/// the range are a binary search away in each list; those few candidates are
/// checked against the other filters, counted and partially sorted. `None`
/// when the request is not of that shape or the candidates are many.
fn value_range_collect(
    segment: &Segment,
    deleted: Option<&Deleted>,
    plan: &Plan,
    forced: Option<Strategy>,
) -> Option<Execution> {
    let primary = plan.sort[0];
    if primary.field != SortField::DateTime || matches!(forced, Some(Strategy::Walk)) {
        return None;
    }
    let (_, from, to, _) = plan.domain()?;
    if plan.steps.iter().any(|step| matches!(step.kind, StepKind::Text { .. })) {
        return None;
    }
    let id_like = &crate::store::BITMAP_FIELDS[..7];
    let (anchor, field, codes) = plan
        .steps
        .iter()
        .enumerate()
        .filter_map(|(position, step)| match &step.kind {
            StepKind::Values { field, codes } if id_like.contains(field) => {
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
        let start = rows.partition_point(|&row| dates[row as usize] < from);
        let end = start + rows[start..].partition_point(|&row| dates[row as usize] <= to);
        if candidates.len() + (end - start) > VALUE_RANGE_LIMIT {
            return None;
        }
        candidates.extend_from_slice(&rows[start..end]);
    }
    let mut stats = ExecStats { strategy: Some(Strategy::Collect), ..ExecStats::default() };
    stats.rows_examined = candidates.len() as u64;
    if let Some(deleted) = deleted {
        candidates.retain(|&row| !deleted.contains(row));
    }
    for (position, step) in plan.steps.iter().enumerate() {
        if position == anchor {
            continue;
        }
        match &step.kind {
            StepKind::Values { field, codes } => match segment.column(*field) {
                Column::Dict(column) => {
                    candidates.retain(|&row| codes.binary_search(&column.codes[row as usize]).is_ok())
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
                candidates.retain(|&row| (*from..=*to).contains(&values[row as usize]));
            }
            StepKind::Text { .. } => unreachable!("text requests take the bitmap plan"),
        }
    }
    let item_count = candidates.len() as u64;
    let rows = top_window(segment, &mut candidates, &plan.sort, plan.offset, plan.limit as usize);
    Some(Execution { item_count, rows, stats })
}

/// Counts the matches in the domain and walks the sorted order to the page.
fn walk_page(
    segment: &Segment,
    plan: &Plan,
    bitmap: &RoaringBitmap,
    membership: Membership<'_>,
    positions: Range<usize>,
    stats: &mut ExecStats,
) -> (u64, Vec<u32>) {
    let primary = plan.sort[0];
    let order = segment.order(primary.field);
    let walk = Walk::new(segment, plan, membership, positions.clone());
    let item_count = if positions.len() == order.len() {
        bitmap.len()
    } else if let Membership::Dense(_) = membership {
        walk.count(positions, stats)
    } else {
        order.count_in(bitmap, positions)
    };
    (item_count, walk.page(primary.descending, plan.offset, plan.limit as usize, stats))
}

/// Collects the matches (restricted to the domain) and sorts only up to
/// the page's end.
fn collect_page(
    segment: &Segment,
    plan: &Plan,
    bitmap: &RoaringBitmap,
    positions: Range<usize>,
    stats: &mut ExecStats,
) -> (u64, Vec<u32>) {
    let order = segment.order(plan.sort[0].field);
    let values = segment.dates(plan.sort[0].field.field());
    let by_blocks = positions.len() as f64 / BLOCK as f64 * BLOCK_OPERATION + 2.0 * BLOCK as f64;
    let mut rows: Vec<u32> = match plan.domain() {
        // Many candidates: intersect with the domain's rows built from its
        // blocks instead of reading every candidate's value.
        Some(_) if bitmap.len() as f64 * RANDOM_ACCESS > by_blocks => {
            (order.range_bitmap(positions) & bitmap).iter().collect()
        }
        Some((_, from, to, _)) => {
            stats.rows_examined += bitmap.len();
            bitmap.iter().filter(|&row| (from..=to).contains(&values[row as usize])).collect()
        }
        None => {
            stats.rows_examined += bitmap.len();
            bitmap.iter().collect()
        }
    };
    let item_count = rows.len() as u64;
    (item_count, top_window(segment, &mut rows, &plan.sort, plan.offset, plan.limit as usize))
}

/// Evaluates every step but the domain, less the dead rows; `None` when the
/// result is empty, `Some(None)` when every row matches.
fn evaluate_filters<'a>(
    segment: &'a Segment,
    deleted: Option<&'a Deleted>,
    plan: &Plan,
    mut text: Option<TextMatch<'_>>,
    stats: &mut ExecStats,
) -> Option<Matches<'a>> {
    let mut matches: Matches<'a> = None;
    let universe = || {
        let mut all = RoaringBitmap::new();
        all.insert_range(0..segment.row_count());
        all
    };
    for step in &plan.steps {
        let narrowed: Cow<'a, RoaringBitmap> = match &step.kind {
            StepKind::Values { field, codes } => {
                let index = segment.value_index(*field);
                let union_size: u64 = codes.iter().map(|&code| index.rows(code).len()).sum();
                match (codes.as_slice(), matches.take()) {
                    ([code], matches) => intersect_with(matches, index.rows(*code)),
                    // A running result much smaller than the values' union:
                    // union each value's share of it instead of the values'
                    // bitmaps.
                    (_, Some(current)) if current.len() * 16 < union_size => {
                        Cow::Owned(codes.iter().map(|&code| current.as_ref() & index.rows(code)).union())
                    }
                    // A few bitmaps merge cheaply pair by pair; many at once.
                    ([first, rest @ ..], matches) if rest.len() < 4 => {
                        let union = rest.iter().fold(index.rows(*first).clone(), |mut union, &code| {
                            union |= index.rows(code);
                            union
                        });
                        intersect_owned(matches, union)
                    }
                    (_, matches) => intersect_owned(matches, codes.iter().map(|&code| index.rows(code)).union()),
                }
            }
            StepKind::Ids { rows } => {
                let bitmap = RoaringBitmap::from_sorted_iter(rows.iter().copied()).expect("rows are sorted");
                intersect_owned(matches.take(), bitmap)
            }
            StepKind::Present { field, present: true } => intersect_with(matches.take(), segment.present(*field)),
            StepKind::Present { field, present: false } => {
                let mut remaining = matches.take().map_or_else(universe, Cow::into_owned);
                remaining -= segment.present(*field);
                Cow::Owned(remaining)
            }
            StepKind::Text { .. } => {
                let mut found = text.take().expect("the text step was searched before evaluation");
                let narrowed = match matches.take() {
                    None => found.rows(),
                    Some(candidates) => {
                        let columns = crate::store::TEXT_FIELDS.map(|field| segment.dict(field).codes.as_slice());
                        found.rows_among(&candidates, &columns)
                    }
                };
                stats.text = Some(found.stats);
                Cow::Owned(narrowed)
            }
            StepKind::Range { how: RangeUse::Domain, .. } => continue,
            StepKind::Range { key, positions, how: RangeUse::Bitmap, .. } => {
                let range = segment.order(*key).range_bitmap(positions.clone());
                intersect_owned(matches.take(), range)
            }
            StepKind::Range { key, from, to, how: RangeUse::Check, .. } => {
                let values = segment.dates(key.field());
                let candidates = matches.take().expect("a checked range follows a bitmap step");
                stats.rows_examined += candidates.len();
                Cow::Owned(
                    RoaringBitmap::from_sorted_iter(
                        candidates.iter().filter(|&row| (*from..=*to).contains(&values[row as usize])),
                    )
                    .expect("rows stay sorted"),
                )
            }
        };
        stats.after_step.push(narrowed.len());
        if narrowed.is_empty() {
            return None;
        }
        matches = Some(narrowed);
    }
    // Without filters, dead rows are skipped by the page strategy instead.
    if let Some(deleted) = deleted {
        if let Some(found) = matches.take() {
            stats.rows_copied_for_dead = found.len();
            let alive = if found.len() < deleted.len() {
                // Few matches: test each rather than subtract every dead row.
                RoaringBitmap::from_sorted_iter(found.iter().filter(|&row| !deleted.contains(row)))
                    .expect("rows stay sorted")
            } else {
                let mut alive = found.into_owned();
                deleted.remove_from(&mut alive);
                alive
            };
            if alive.is_empty() {
                return None;
            }
            matches = Some(Cow::Owned(alive));
        }
    }
    Some(matches)
}

/// The matches of a plan whose only step is one value of a value-indexed
/// field, on a segment with dead rows: the value's own rows (dead ones
/// among them, never copied to subtract them) and how many are alive,
/// counted from the tombstones' tally per value. `None` for other plans.
fn one_value_live<'a>(segment: &'a Segment, deleted: &Deleted, plan: &Plan) -> Option<(&'a RoaringBitmap, u64)> {
    let [step] = plan.steps.as_slice() else {
        return None;
    };
    let StepKind::Values { field, codes } = &step.kind else {
        return None;
    };
    let ([code], Some(slot)) = (codes.as_slice(), crate::store::BITMAP_FIELDS.iter().position(|known| known == field))
    else {
        return None;
    };
    let code_of = |row: u32| match segment.column(*field) {
        Column::Dict(column) => column.codes[row as usize],
        Column::Enum(column) => u32::from(column.codes[row as usize]),
        Column::Date(_) => unreachable!("no value index on a date field"),
    };
    let tally = deleted.frozen_value_tally(slot, |rows| {
        let mut tally = Vec::new();
        for row in rows {
            let code = code_of(row) as usize;
            if tally.len() <= code {
                tally.resize(code + 1, 0);
            }
            tally[code] += 1;
        }
        tally
    });
    let frozen_dead = u64::from(tally.get(*code as usize).copied().unwrap_or(0));
    let recent_dead = deleted.recent_rows().filter(|&row| code_of(row) == *code).count() as u64;
    let rows = segment.value_index(*field).rows(*code);
    Some((rows, rows.len() - frozen_dead - recent_dead))
}

/// The running result narrowed by an index's bitmap (borrowed when it is
/// the first step).
fn intersect_with<'a>(matches: Matches<'a>, bitmap: &'a RoaringBitmap) -> Cow<'a, RoaringBitmap> {
    match matches {
        None => Cow::Borrowed(bitmap),
        Some(Cow::Borrowed(current)) => Cow::Owned(current & bitmap),
        Some(Cow::Owned(mut current)) => {
            current &= bitmap;
            Cow::Owned(current)
        }
    }
}

/// The running result narrowed by a bitmap built for this step.
fn intersect_owned<'a>(matches: Matches<'a>, mut bitmap: RoaringBitmap) -> Cow<'a, RoaringBitmap> {
    match matches {
        None => Cow::Owned(bitmap),
        Some(current) => {
            bitmap &= current.as_ref();
            Cow::Owned(bitmap)
        }
    }
}

/// The page when rows are already in order (`_id` primary).
fn id_order_page(
    matches: Option<&RoaringBitmap>,
    row_count: u32,
    descending: bool,
    offset: u64,
    limit: usize,
) -> Vec<u32> {
    let total = matches.map_or(u64::from(row_count), RoaringBitmap::len);
    if offset >= total {
        return Vec::new();
    }
    let take = (total - offset).min(limit as u64) as u32;
    let offset = offset as u32;
    match (matches, descending) {
        (None, false) => (offset..offset + take).collect(),
        (None, true) => (0..take).map(|index| row_count - 1 - offset - index).collect(),
        (Some(bitmap), false) => {
            let first = bitmap.select(offset).expect("offset < len");
            bitmap.range(first..).take(take as usize).collect()
        }
        (Some(bitmap), true) => {
            let last = bitmap.select(total as u32 - 1 - offset).expect("offset < len");
            bitmap.range(..=last).rev().take(take as usize).collect()
        }
    }
}

/// The page in `_id` order when every live row matches: the first row by
/// rank among the live rows, then a walk skipping dead ones.
pub(crate) fn live_id_order_page(deleted: &Deleted, descending: bool, offset: u64, limit: usize) -> Vec<u32> {
    let total = deleted.live_count();
    if offset >= total || limit == 0 {
        return Vec::new();
    }
    let take = (total - offset).min(limit as u64) as usize;
    let mut rows = Vec::with_capacity(take);
    if descending {
        let mut row = deleted.select_live(total - 1 - offset).expect("rank < live count");
        loop {
            if !deleted.contains(row) {
                rows.push(row);
                if rows.len() == take {
                    break;
                }
            }
            row -= 1;
        }
    } else {
        let mut row = deleted.select_live(offset).expect("rank < live count");
        while rows.len() < take {
            if !deleted.contains(row) {
                rows.push(row);
            }
            row += 1;
        }
    }
    rows
}

/// Compares two rows by sort keys.
fn compare_rows(segment: &Segment, keys: &[SortKey], left: u32, right: u32) -> Ordering {
    for key in keys {
        let ordering = match key.field {
            SortField::Id => left.cmp(&right),
            other => {
                let values = segment.dates(other.field());
                values[left as usize].cmp(&values[right as usize])
            }
        };
        let ordering = if key.descending { ordering.reverse() } else { ordering };
        if ordering.is_ne() {
            return ordering;
        }
    }
    Ordering::Equal
}

/// The rows at `offset..offset + limit` of `rows` sorted by `keys`, sorting
/// only up to the window's end.
fn top_window(segment: &Segment, rows: &mut [u32], keys: &[SortKey], offset: u64, limit: usize) -> Vec<u32> {
    // A window of no rows (a count-only plan) selects nothing.
    if offset >= rows.len() as u64 || limit == 0 {
        return Vec::new();
    }
    let offset = offset as usize;
    let end = (offset + limit).min(rows.len());
    let compare = |left: &u32, right: &u32| compare_rows(segment, keys, *left, *right);
    if end < rows.len() {
        rows.select_nth_unstable_by(end - 1, compare);
    }
    rows[..end].sort_unstable_by(compare);
    rows[offset..end].to_vec()
}

/// How a walk tests whether a row matches.
#[derive(Clone, Copy)]
enum Membership<'a> {
    /// Every row matches.
    All,
    /// Test the match bitmap (fast for dense matches: bitmap containers).
    Bitmap(&'a RoaringBitmap),
    /// Test a bitset with one bit per row: for sparse matches tested many
    /// times, where a roaring array container would cost a binary search
    /// per test.
    Dense(&'a [u64]),
    /// Test the closed-set filters on the row's own values: no intersection
    /// of their bitmaps is ever built.
    Facets(&'a FacetTest<'a>),
    /// Every row matches unless a later write killed it (with the number
    /// of the order walked, whose dead rows are counted per block).
    Live(&'a Deleted, usize),
    /// Test the match bitmap, then whether a later write killed the row:
    /// the bitmap (an index's own) still holds dead rows.
    AliveIn(&'a RoaringBitmap, &'a Deleted),
    /// Test whether one of the row's own text values matched `filters-q`:
    /// the union of the matched values' rows is never built.
    Text(&'a TextTest<'a>),
}

/// `filters-q` tested on a row's own values.
struct TextTest<'a> {
    /// The codes of the text fields, in [`crate::store::TEXT_FIELDS`] order
    /// (the text index's column order).
    columns: [&'a [u32]; 3],
    found: &'a TextMatch<'a>,
    /// Rows that no longer exist.
    deleted: Option<&'a Deleted>,
}

impl<'a> TextTest<'a> {
    fn new(segment: &'a Segment, found: &'a TextMatch<'a>, deleted: Option<&'a Deleted>) -> TextTest<'a> {
        let columns = crate::store::TEXT_FIELDS.map(|field| segment.dict(field).codes.as_slice());
        TextTest { columns, found, deleted }
    }

    /// Whether the row holds a matched value, dead or alive.
    #[inline]
    fn matches(&self, row: u32) -> bool {
        self.columns.iter().enumerate().any(|(column, codes)| self.found.holds(column, codes[row as usize]))
    }

    /// Whether the row is alive and holds a matched value.
    #[inline]
    fn contains(&self, row: u32) -> bool {
        self.matches(row) && self.deleted.is_none_or(|deleted| !deleted.contains(row))
    }
}

/// The closed-set filters of a request, tested row by row.
struct FacetTest<'a> {
    /// Enum columns and, per code, whether it is accepted.
    enums: Vec<(&'a [u8], [bool; 8])>,
    /// Presence bitmaps and whether the row must be in them.
    presence: Vec<(&'a RoaringBitmap, bool)>,
    /// Rows that no longer exist.
    deleted: Option<&'a Deleted>,
}

impl FacetTest<'_> {
    #[inline]
    fn contains(&self, row: u32) -> bool {
        self.enums.iter().all(|(codes, accepted)| accepted[usize::from(codes[row as usize])])
            && self.presence.iter().all(|(bitmap, present)| bitmap.contains(row) == *present)
            && self.deleted.is_none_or(|deleted| !deleted.contains(row))
    }
}

impl Membership<'_> {
    #[inline]
    fn contains(self, row: u32) -> bool {
        match self {
            Membership::All => true,
            Membership::Bitmap(bitmap) => bitmap.contains(row),
            Membership::Dense(words) => words[row as usize >> 6] >> (row & 63) & 1 == 1,
            Membership::Facets(test) => test.contains(row),
            Membership::Live(deleted, _) => !deleted.contains(row),
            Membership::AliveIn(bitmap, deleted) => bitmap.contains(row) && !deleted.contains(row),
            Membership::Text(test) => test.contains(row),
        }
    }
}

thread_local! {
    /// A zeroed bitset per thread, reused by walks (cleared after each).
    static DENSE_BITS: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `work` with `rows` set in a zeroed per-thread bitset of
/// `row_count` bits, and zeroes it again afterwards.
fn with_dense<R>(rows: &RoaringBitmap, row_count: u32, work: impl FnOnce(&[u64]) -> R) -> R {
    DENSE_BITS.with(|cell| {
        let mut words = cell.borrow_mut();
        let needed = (row_count as usize).div_ceil(64);
        if words.len() < needed {
            words.resize(needed, 0);
        }
        crate::index::dense::set_rows(rows, &mut words);
        let result = work(&words);
        crate::index::dense::clear_rows(rows, &mut words);
        result
    })
}

/// The page being filled by a walk.
struct Window {
    offset: u64,
    limit: usize,
    /// Matches passed so far in walk order.
    skipped: u64,
    page: Vec<u32>,
}

impl Window {
    /// Offers the next row in walk order: whether it belongs on the page
    /// (it matches and the matches before the page have been passed).
    fn offer(&mut self, matches: bool) -> bool {
        if !matches {
            return false;
        }
        if self.skipped < self.offset {
            self.skipped += 1;
            return false;
        }
        true
    }
}

/// A walk along a sorted order within a range of positions.
struct Walk<'a> {
    segment: &'a Segment,
    order: &'a SortedOrder,
    /// How rows are tested.
    membership: Membership<'a>,
    positions: Range<usize>,
    /// Sort keys after the primary one.
    rest: &'a [SortKey],
}

impl<'a> Walk<'a> {
    /// A walk of the plan's primary order over `positions`, to its page
    /// bound if it has one (see [`page_positions`]).
    fn new(segment: &'a Segment, plan: &'a Plan, membership: Membership<'a>, positions: Range<usize>) -> Walk<'a> {
        let order = segment.order(plan.sort[0].field);
        let positions = page_positions(order, positions, plan);
        Walk { segment, order, membership, positions, rest: &plan.sort[1..] }
    }

    /// Whether two positions hold the same primary value.
    fn same_value(&self, left: usize, right: usize) -> bool {
        self.order.value_at(left) == self.order.value_at(right)
    }

    /// The page in the primary key's direction.
    fn page(&self, descending: bool, offset: u64, limit: usize, stats: &mut ExecStats) -> Vec<u32> {
        if descending {
            self.descending(offset, limit, stats)
        } else {
            self.ascending(offset, limit, stats)
        }
    }

    /// Matches in one whole block of positions.
    fn block_hits(&self, block: usize) -> u64 {
        match self.membership {
            Membership::All => self.order.block_hits(None, block),
            Membership::Bitmap(bitmap) => self.order.block_hits(Some(bitmap), block),
            Membership::Live(deleted, order_number) => {
                self.order.block(block).len() - deleted.dead_in_block(order_number, block)
            }
            Membership::Dense(_) | Membership::AliveIn(..) | Membership::Facets(_) | Membership::Text(_) => {
                self.count(block * BLOCK..(block + 1) * BLOCK, &mut ExecStats::default())
            }
        }
    }

    /// The tombstones and order number of a walk whose members are the
    /// live rows and whose page is in plain position order (ties in `_id`
    /// order, which is the rows' order within a group: ascending when the
    /// walk is, descending when it is too); `None` otherwise.
    fn live_in_position_order(&self, descending: bool) -> Option<(&'a Deleted, usize)> {
        match (self.membership, self.rest) {
            (Membership::Live(deleted, order_number), [] | [SortKey { field: SortField::Id, .. }, ..])
                if self.rest.first().is_none_or(|tie| tie.descending == descending) =>
            {
                Some((deleted, order_number))
            }
            _ => None,
        }
    }

    /// The rows at the live positions of `positions`, in the walk's
    /// direction, after the first `skip`, at most `limit` of them; `dead`
    /// lists the dead positions in that direction (from the walk's start
    /// on: any past `positions` are ignored). The live positions between
    /// two dead ones are copied as one stretch of the order.
    fn take_live(
        &self,
        dead: impl Iterator<Item = usize>,
        positions: Range<usize>,
        descending: bool,
        skip: u64,
        limit: usize,
        stats: &mut ExecStats,
    ) -> Vec<u32> {
        let mut to_skip = usize::try_from(skip).unwrap_or(usize::MAX);
        let mut page: Vec<u32> = Vec::with_capacity(limit);
        // The stretches of live positions, in the walk's direction: up to
        // each dead position, then up to the end.
        let mut rest = positions;
        let ends = dead.map(Some).chain(std::iter::once(None));
        for dead in ends {
            if page.len() == limit || rest.is_empty() {
                break;
            }
            // The live stretch before the dead position (in the walk's
            // direction) and what is left after it; the last stretch is
            // the rest.
            let stretch;
            (stretch, rest) = match (dead, descending) {
                (Some(dead), false) if dead < rest.end => (rest.start..dead.max(rest.start), dead + 1..rest.end),
                (Some(dead), true) if dead >= rest.start => ((dead + 1).min(rest.end)..rest.end, rest.start..dead),
                _ => (rest.clone(), rest.end..rest.end),
            };
            if to_skip >= stretch.len() {
                to_skip -= stretch.len();
                continue;
            }
            let take = (stretch.len() - to_skip).min(limit - page.len());
            if descending {
                let end = stretch.end - to_skip;
                page.extend(self.order.rows_at(end - take..end).iter().rev());
            } else {
                let start = stretch.start + to_skip;
                page.extend_from_slice(self.order.rows_at(start..start + take));
            }
            to_skip = 0;
        }
        stats.rows_examined += skip.saturating_add(page.len() as u64);
        page
    }

    fn is_member(&self, row: u32) -> bool {
        self.membership.contains(row)
    }

    fn count(&self, positions: Range<usize>, stats: &mut ExecStats) -> u64 {
        match self.membership {
            Membership::All => positions.len() as u64,
            membership => {
                stats.rows_examined += positions.len() as u64;
                self.order.rows_at(positions).iter().filter(|&&row| membership.contains(row)).count() as u64
            }
        }
    }

    /// Takes this group's share of the window; returns whether the page is
    /// full. A group wholly before the window is only counted; when ties
    /// are in `_id` order already (the usual tie-break), the group is
    /// streamed and left as soon as the page is full.
    fn take_group(&self, group: Range<usize>, window: &mut Window, stats: &mut ExecStats) -> bool {
        if matches!(self.membership, Membership::All) && window.skipped + group.len() as u64 <= window.offset {
            window.skipped += group.len() as u64;
            return false;
        }
        let rows = self.order.rows_at(group);
        match self.rest {
            [] | [SortKey { field: SortField::Id, descending: false }, ..] => {
                return self.stream(rows.iter(), window, stats)
            }
            [SortKey { field: SortField::Id, descending: true }, ..] => {
                return self.stream(rows.iter().rev(), window, stats)
            }
            _ => {}
        }
        stats.rows_examined += rows.len() as u64;
        let mut hits: Vec<u32> = rows.iter().copied().filter(|&row| self.is_member(row)).collect();
        if window.skipped + hits.len() as u64 <= window.offset {
            window.skipped += hits.len() as u64;
            return false;
        }
        let keys = self.rest;
        hits.sort_unstable_by(|left, right| compare_rows(self.segment, keys, *left, *right));
        let start = window.offset.saturating_sub(window.skipped) as usize;
        window.skipped += hits.len() as u64;
        let wanted = window.limit - window.page.len();
        window.page.extend(hits.iter().skip(start).take(wanted));
        window.page.len() == window.limit
    }

    /// Offers a group's rows, already in the request's order, to the
    /// window one by one; returns whether the page is full.
    fn stream<'r>(&self, rows: impl Iterator<Item = &'r u32>, window: &mut Window, stats: &mut ExecStats) -> bool {
        for &row in rows {
            stats.rows_examined += 1;
            if !window.offer(self.is_member(row)) {
                continue;
            }
            window.page.push(row);
            if window.page.len() == window.limit {
                return true;
            }
        }
        false
    }

    /// The live rows at `positions` when every live row matches (`None`
    /// for other memberships): a count of positions less dead rows, found
    /// by binary searches, so that a deep page is skipped to by bisection.
    fn live_in(&self, positions: Range<usize>) -> Option<u64> {
        match self.membership {
            Membership::All => Some(positions.len() as u64),
            Membership::Live(deleted, order_number) => {
                Some(positions.len() as u64 - deleted.dead_at(order_number, positions))
            }
            _ => None,
        }
    }

    fn ascending(&self, offset: u64, limit: usize, stats: &mut ExecStats) -> Vec<u32> {
        let Range { start: low, end: high } = self.positions;
        let mut skipped = 0u64;
        let mut cursor = low;
        if offset > 0 && high > low && matches!(self.membership, Membership::Live(..)) {
            // The first position with `offset` live rows before it (the
            // end, when there are fewer); then back to the start of its
            // group of ties.
            let live = |end: usize| self.live_in(low..end).expect("live membership");
            // The first position reached with `offset` live rows passed:
            // from `low + offset` on by the dead rows passed meanwhile, a
            // fixed point a few dead-row counts away when they are sparse
            // (each step passes at least one more).
            cursor = loop {
                let dead = (cursor - low) as u64 - live(cursor);
                let next = (low as u64).saturating_add(offset).saturating_add(dead);
                if next >= high as u64 {
                    break high;
                }
                if next as usize == cursor {
                    break cursor;
                }
                cursor = next as usize;
            };
            if cursor > low && cursor < high && self.same_value(cursor - 1, cursor) {
                cursor = self.order.group_start(cursor, low);
            }
            skipped = live(cursor);
        } else if offset > 0 && high > low && matches!(self.membership, Membership::All) {
            // Every position matches: skip by arithmetic, then back up to
            // the start of the group straddling the cursor.
            cursor = low + (offset.min((high - low) as u64) as usize);
            skipped = (cursor - low) as u64;
            if cursor < high && self.same_value(cursor - 1, cursor) {
                let group_start = self.order.group_start(cursor, low);
                skipped -= (cursor - group_start) as u64;
                cursor = group_start;
            }
        } else if offset > 0 && high > low {
            // Skip the head up to the first block boundary, then whole blocks.
            let head_end = low.next_multiple_of(BLOCK).min(high);
            let head = self.count(low..head_end, stats);
            if head <= offset {
                skipped = head;
                cursor = head_end;
                while cursor + BLOCK <= high {
                    let hits = self.block_hits(cursor / BLOCK);
                    if skipped + hits > offset {
                        break;
                    }
                    skipped += hits;
                    cursor += BLOCK;
                    stats.blocks_skipped += 1;
                }
                // Back up to the start of the group straddling the cursor.
                if cursor > low && cursor < high && self.same_value(cursor - 1, cursor) {
                    let group_start = self.order.group_start(cursor, low);
                    skipped -= self.count(group_start..cursor, stats);
                    cursor = group_start;
                }
            }
        }
        if let Some((deleted, order_number)) = self.live_in_position_order(false) {
            // Live rows in position order: the dead positions ahead are
            // passed over, no row is tested.
            let dead = deleted.dead_positions_from(order_number, cursor);
            return self.take_live(dead, cursor..high, false, offset - skipped, limit, stats);
        }
        let mut window = Window { offset, limit, skipped, page: Vec::with_capacity(limit) };
        while cursor < high && limit > 0 {
            let group_end = self.order.group_end(cursor, high);
            if self.take_group(cursor..group_end, &mut window, stats) {
                break;
            }
            cursor = group_end;
        }
        window.page
    }

    fn descending(&self, offset: u64, limit: usize, stats: &mut ExecStats) -> Vec<u32> {
        let Range { start: low, end: high } = self.positions;
        let mut skipped = 0u64;
        let mut cursor = high;
        if offset > 0 && high > low && matches!(self.membership, Membership::Live(..)) {
            // The last position with `offset` live rows after it (the start,
            // when there are fewer); then forward to the end of its group
            // of ties.
            let live = |start: usize| self.live_in(start..high).expect("live membership");
            // The last position with `offset` live rows from it on, as in
            // `ascending`, backwards from `high - offset`.
            cursor = loop {
                let dead = (high - cursor) as u64 - live(cursor);
                let Some(next) = (high as u64).checked_sub(offset.saturating_add(dead)) else { break low };
                if next <= low as u64 {
                    break low;
                }
                if next as usize == cursor {
                    break cursor;
                }
                cursor = next as usize;
            };
            if cursor > low && cursor < high && self.same_value(cursor - 1, cursor) {
                cursor = self.order.group_end(cursor, high);
            }
            skipped = live(cursor);
        } else if offset > 0 && high > low && matches!(self.membership, Membership::All) {
            cursor = high - (offset.min((high - low) as u64) as usize);
            skipped = (high - cursor) as u64;
            if cursor > low && self.same_value(cursor - 1, cursor) {
                let group_end = self.order.group_end(cursor, high);
                skipped -= (group_end - cursor) as u64;
                cursor = group_end;
            }
        } else if offset > 0 && high > low {
            let tail_start = (high / BLOCK * BLOCK).max(low);
            let tail = self.count(tail_start..high, stats);
            if tail <= offset {
                skipped = tail;
                cursor = tail_start;
                while cursor >= low + BLOCK {
                    let hits = self.block_hits(cursor / BLOCK - 1);
                    if skipped + hits > offset {
                        break;
                    }
                    skipped += hits;
                    cursor -= BLOCK;
                    stats.blocks_skipped += 1;
                }
                if cursor > low && cursor < high && self.same_value(cursor - 1, cursor) {
                    let group_end = self.order.group_end(cursor, high);
                    skipped -= self.count(cursor..group_end, stats);
                    cursor = group_end;
                }
            }
        }
        if let Some((deleted, order_number)) = self.live_in_position_order(true) {
            let dead = deleted.dead_positions_before(order_number, cursor);
            return self.take_live(dead, low..cursor, true, offset - skipped, limit, stats);
        }
        let mut window = Window { offset, limit, skipped, page: Vec::with_capacity(limit) };
        while cursor > low && limit > 0 {
            let group_start = self.order.group_start(cursor, low);
            if self.take_group(group_start..cursor, &mut window, stats) {
                break;
            }
            cursor = group_start;
        }
        window.page
    }
}
