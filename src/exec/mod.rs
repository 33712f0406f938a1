//! The executor: carries out a [`Plan`] on a [`Segment`] (some of whose
//! rows may be dead) for one [`PageWindow`] — finds the matches, counts
//! them without iterating them where an index can, and finds the page.
//!
//! ```text
//!  execute ─┬─ a shortcut fits the request's shape?   (shortcuts.rs)
//!           │    FacetWalk · ValueRangeCollect · TextWalk / TextIdOrder · OneValueWalk
//!           └─ else: evaluate the steps into one bitmap  (filters.rs)
//!                then IdOrder (rank and select)          (sorted_page.rs)
//!                  or Walk the primary order            (walk.rs, membership.rs)
//!                  or Walk one location's date list      (location_walk.rs)
//!                  or Collect and partially sort         (sorted_page.rs)
//! ```
//!
//! Every strategy gives the same rows: property tests run them against
//! the reference engine and against each other ([`execute_forcing`]).

mod filters;
mod location_walk;
mod membership;
mod shortcuts;
mod sorted_page;
mod walk;

use std::fmt;

use roaring::RoaringBitmap;

use crate::index::text::TextSearchStats;
use crate::plan::{page_costs, PageShape, Plan, StepKind, Strategy};
use crate::request::SortField;
use crate::store::dead_rows::DeadRows;
use crate::store::Segment;
use membership::Membership;
use walk::Walk;

pub(crate) use sorted_page::live_id_order_page;

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
    /// not a step here: it bounds the walk); a single figure when the text
    /// step tested the other filters on its entries' tags.
    pub after_step: Vec<u64>,
    /// How the page was found; `None` when the plan proved nothing matches.
    pub strategy: Option<PageStrategy>,
    /// Positions or rows whose membership or key was examined one by one.
    pub rows_examined: u64,
    /// Whole blocks of positions skipped by counting.
    pub blocks_skipped: u64,
    /// What the text search did.
    pub text: Option<TextSearchStats>,
    /// Matches copied to take a segment's dead rows out of them (0 when
    /// dead rows were skipped as met and counted from tallies).
    pub rows_copied_for_dead: u64,
}

/// How a page was found: the plan's [`Strategy`] after the filters were
/// evaluated, or a shortcut for a request of a particular shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageStrategy {
    /// Rows are in `_id` order: the page by rank in the match bitmap.
    IdOrder,
    /// Walk the primary key's sorted order testing the matches, skipping
    /// whole blocks of positions for deep pages.
    Walk,
    /// Collect the matches and partially sort up to the page's end.
    Collect,
    /// Closed-set filters only, date order: `item_count` from the facet
    /// counts, the page by walking the order testing rows' own values.
    FacetWalk,
    /// An Id-like filter and a `date_time` range, by `date_time`: the
    /// range's rows of each value (kept in `date_time` order) collected,
    /// checked against the other filters and partially sorted.
    ValueRangeCollect,
    /// `filters-q` only, date order: `item_count` from the matched values'
    /// row counts, the page by walking the order testing rows' own text.
    TextWalk,
    /// `filters-q` only, `_id` order: as [`PageStrategy::TextWalk`],
    /// walking the rows themselves.
    TextIdOrder,
    /// One value on a segment with dead rows: the value's own bitmap
    /// walked, dead rows skipped as met, `item_count` from tallies.
    OneValueWalk,
    /// One `location` and closed-set filters, by `date_time`: `item_count`
    /// from the location's counts per facet cell, the page by walking the
    /// location's rows in `date_time` order testing each row's cell.
    LocationFacetWalk,
    /// One `location`, alone or among other filters, by `date_time`: the
    /// location's rows walked in `date_time` order testing the matches,
    /// instead of the whole order.
    LocationWalk,
}

impl PageStrategy {
    /// Whether `item_count` came from counts kept beside the indexes, with
    /// no bitmap of the matches built.
    pub fn counts_without_bitmap(self) -> bool {
        matches!(
            self,
            PageStrategy::FacetWalk
                | PageStrategy::TextWalk
                | PageStrategy::TextIdOrder
                | PageStrategy::LocationFacetWalk
        )
    }
}

impl fmt::Display for PageStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PageStrategy::IdOrder => "id-order: rank and select in the match bitmap",
            PageStrategy::Walk => "walk the sorted order testing the match bitmap",
            PageStrategy::Collect => "collect the matches and partially sort",
            PageStrategy::FacetWalk => "facet walk: item_count from the facet counts, rows tested on their own values",
            PageStrategy::ValueRangeCollect => {
                "value-range collect: each value's rows in date_time order, the range's by binary search"
            }
            PageStrategy::TextWalk => "text walk: the sorted order walked, rows tested on their own text values",
            PageStrategy::TextIdOrder => "text id-order: rows in _id order tested on their own text values",
            PageStrategy::OneValueWalk => {
                "one-value walk: the value's bitmap walked, dead rows skipped, item_count from tallies"
            }
            PageStrategy::LocationFacetWalk => {
                "location facet walk: item_count from the location's counts per facet cell, its rows walked \
in date_time order testing each row's cell"
            }
            PageStrategy::LocationWalk => {
                "location walk: the location's rows walked in date_time order testing the matches"
            }
        })
    }
}

/// Which matches of a plan's order to return: positions
/// `offset..offset + limit`, and how far a walk may have to go.
///
/// A live store asks each of its parts for a window of the merged page;
/// the bounds let a part stop walking where nothing more can reach the
/// page. They shorten the walk to the page, never the count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PageWindow {
    /// Position of the first row wanted among all matches.
    pub offset: u64,
    /// Rows wanted at most.
    pub limit: u32,
    /// A value of the primary (date/time) key past which, in the request's
    /// direction, the walk may stop: the caller has enough matches sorting
    /// before any row there.
    pub page_bound: Option<i64>,
    /// In `_id` order, how many of the segment's rows, from its first in
    /// the request's direction, can reach the page: a walk stops there.
    pub id_rows: Option<u32>,
}

impl PageWindow {
    /// The window a plan was made for, unbounded.
    pub fn of(plan: &Plan) -> PageWindow {
        PageWindow { offset: plan.offset, limit: plan.limit, page_bound: None, id_rows: None }
    }
}

/// One execution: what every strategy reads.
#[derive(Clone, Copy)]
struct Job<'a> {
    segment: &'a Segment,
    /// The segment's dead rows, when it has any.
    dead: Option<&'a DeadRows>,
    plan: &'a Plan,
    window: &'a PageWindow,
    /// A strategy tests insist on (see [`execute_forcing`]).
    forced: Option<Strategy>,
}

impl Job<'_> {
    /// The window's page size as a length.
    fn limit(&self) -> usize {
        self.window.limit as usize
    }

    /// Whether a strategy walking the primary key's sorted order may answer:
    /// the primary key is a date/time and collecting is not forced.
    fn may_walk_date_order(&self) -> bool {
        self.plan.sort[0].field != SortField::Id && self.forced != Some(Strategy::Collect)
    }
}

/// Carries out a plan for a window on a segment with `dead` rows (never
/// counted nor returned).
pub fn execute(segment: &Segment, dead: Option<&DeadRows>, plan: &Plan, window: &PageWindow) -> Execution {
    run(Job { segment, dead: dead.filter(|dead| !dead.is_empty()), plan, window, forced: None })
}

/// [`execute`] with the page strategy forced for date/time primary keys
/// ([`Strategy::Walk`], [`Strategy::Collect`], or [`Strategy::LocationWalk`],
/// which gives way to the cost model where the plan does not name one
/// location), so that tests can check that every strategy gives the same
/// page.
pub fn execute_forcing(
    segment: &Segment,
    dead: Option<&DeadRows>,
    plan: &Plan,
    window: &PageWindow,
    forced: Strategy,
) -> Execution {
    run(Job { segment, dead: dead.filter(|dead| !dead.is_empty()), plan, window, forced: Some(forced) })
}

fn run(job: Job<'_>) -> Execution {
    let mut stats = ExecStats::default();
    if job.plan.empty_because.is_some() {
        return Execution { stats, ..Execution::default() };
    }
    if let Some(execution) = shortcuts::facet_walk(&job) {
        return execution;
    }
    if let Some(execution) = shortcuts::value_range_collect(&job) {
        return execution;
    }
    if let Some(execution) = shortcuts::location_facet_walk(&job) {
        return execution;
    }
    let needle = job.plan.steps.iter().find_map(|step| match &step.kind {
        StepKind::Text { needle } => Some(needle.as_str()),
        _ => None,
    });
    let mut text = None;
    if let Some(needle) = needle {
        let run = job.segment.text().locate(needle);
        let mut gathered = None;
        let declined = match shortcuts::text_run_walk(&job, needle, &run, &mut gathered) {
            Ok(execution) => return execution,
            Err(declined) => declined,
        };
        let found = gathered.unwrap_or_else(|| job.segment.text().matches_of(&run));
        if let shortcuts::TextRunDeclined::CountByValue = declined {
            if let Some(execution) = shortcuts::text_walk(&job, &found) {
                return execution;
            }
        }
        text = Some(found);
    }
    if let Some(execution) = shortcuts::one_value_walk(&job) {
        return execution;
    }
    let Some(matches) = filters::evaluate(&job, text, &mut stats) else {
        return Execution { stats, ..Execution::default() };
    };
    match job.plan.sort[0].field {
        SortField::Id => sorted_page::id_order(&job, matches.as_deref(), stats),
        SortField::Date(_) => match matches.as_deref() {
            None => walk_every_live_row(&job, stats),
            Some(bitmap) => walk_or_collect(&job, bitmap, stats),
        },
    }
}

/// The page when every live row of the domain matches: the walk is
/// arithmetic, or skips dead rows counted by block.
fn walk_every_live_row(job: &Job<'_>, mut stats: ExecStats) -> Execution {
    let key = job.plan.sort[0].field.date_key().expect("a date order");
    let positions = job.plan.domain().map_or(0..job.segment.order(key).len(), |domain| domain.positions);
    stats.strategy = Some(PageStrategy::Walk);
    let membership = job.dead.map_or(Membership::All, |dead| Membership::Live(dead, key));
    let rows = Walk::new(job, membership, positions.clone()).page(job.window.offset, job.limit(), &mut stats);
    let dead = job.dead.map_or(0, |dead| dead.dead_at(key, positions.clone()));
    Execution { item_count: positions.len() as u64 - dead, rows, stats }
}

/// The page of a date order when the filters left a bitmap of matches:
/// walked or collected, whichever is estimated cheaper now that the
/// matches are known.
fn walk_or_collect(job: &Job<'_>, bitmap: &RoaringBitmap, mut stats: ExecStats) -> Execution {
    let key = job.plan.sort[0].field.date_key().expect("a date order");
    let rows = u64::from(job.segment.row_count());
    let domain = job.plan.domain();
    let positions = domain.as_ref().map_or(0..job.segment.order(key).len(), |domain| domain.positions.clone());
    // Within a domain the match count is estimated from the candidates'
    // density (independence).
    let domain_len = positions.len() as u64;
    let estimated = if domain.is_some() { bitmap.len() * domain_len / rows.max(1) } else { bitmap.len() };
    let (walk_cost, collect_cost) = page_costs(PageShape {
        matches: estimated.max(1),
        candidates: bitmap.len(),
        domain_len,
        has_domain: domain.is_some(),
        offset: job.window.offset,
        limit: job.window.limit,
    });
    if let Some(location_rows) = location_walk::location_rows(job) {
        let cost = location_walk::expected_cost(job, location_rows, bitmap);
        let cheapest = match job.forced {
            Some(Strategy::LocationWalk) => true,
            Some(_) => false,
            None => cost < walk_cost.min(collect_cost),
        };
        if cheapest {
            stats.strategy = Some(PageStrategy::LocationWalk);
            let rows = with_membership(job, bitmap, cost, |membership| {
                location_walk::page(job, location_rows, |row| membership.contains(row), &mut stats)
            });
            return Execution { item_count: bitmap.len(), rows, stats };
        }
    }
    let collect = match job.forced {
        Some(Strategy::Collect) => true,
        Some(Strategy::Walk) => false,
        _ => walk_cost > collect_cost,
    };
    if collect {
        stats.strategy = Some(PageStrategy::Collect);
        let (item_count, rows) = sorted_page::collect(job, bitmap, positions, &mut stats);
        return Execution { item_count, rows, stats };
    }
    stats.strategy = Some(PageStrategy::Walk);
    // Sparse matches spread the page over many positions: the walk's
    // estimated cost (positions walked, skipped blocks at their own price)
    // stands for the tests then.
    let tests = (if domain.is_some() { domain_len } else { 0 } + 4 * u64::from(job.window.limit)).max(walk_cost);
    let (item_count, rows) = with_membership(job, bitmap, tests, |membership| {
        walk::count_and_page(job, bitmap, membership, positions, &mut stats)
    });
    Execution { item_count, rows, stats }
}

/// Runs `work` with the matches' membership test for a walk making about
/// `tests` of them: sparse matches tested at many positions get a bitset
/// view, since a roaring array container costs a binary search per test.
/// The view changes how rows are tested, never which rows match.
fn with_membership<R>(job: &Job<'_>, bitmap: &RoaringBitmap, tests: u64, work: impl FnOnce(Membership<'_>) -> R) -> R {
    // Roaring keeps a chunk of 65,536 rows holding at most 4,096 matches as a
    // sorted array: that is what "sparse" means here, whatever the segment's size.
    let row_count = job.segment.row_count();
    let chunks = u64::from(row_count).div_ceil(1 << 16).max(1);
    let sparse = bitmap.len() / chunks <= 4096 && bitmap.len() > 64 && tests > bitmap.len() / 4;
    if sparse {
        membership::with_dense(bitmap, row_count, |words| work(Membership::Dense(words)))
    } else {
        work(Membership::Bitmap(bitmap))
    }
}
