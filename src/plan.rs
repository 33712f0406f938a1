//! The planner: a [`ListQuery`] and a [`Segment`]'s index statistics in, a
//! [`Plan`] out — plain data that prints itself (for `msgdex explain`) and
//! that [`crate::exec`] carries out.
//!
//! Every filter becomes a step with an estimated row count read from the
//! indexes (bitmap lengths, positions in a sorted order), never from the
//! rows. Steps run cheapest first; a range on the primary sort key becomes
//! the *domain* the page is walked along instead of a bitmap; the page
//! strategy is chosen by comparing estimated costs.

use std::fmt;
use std::ops::Range;

use crate::column::DictColumn;
use crate::index::facets::FacetSelection;
use crate::index::order::BLOCK;
use crate::model::{DateKey, DateTime, Field};
use crate::request::{FacetConstraint, ListQuery, SortField, SortKey};
use crate::store::{Segment, FACET_FIELDS};

/// How a date/time range filter is evaluated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeUse {
    /// The range is on the primary sort key: the page is walked along these
    /// positions of the sorted order, and nothing is materialised.
    Domain,
    /// The rows of the range are built as a bitmap and intersected.
    Bitmap,
    /// The few candidates left by the other filters have their values
    /// checked.
    Check,
}

/// What one filter step does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepKind {
    /// A value list filter (`filters-location`, `filters-channel`, …): the
    /// union of the bitmaps of these codes.
    Values {
        /// The field.
        field: Field,
        /// The codes of the requested values that occur (unknown ones
        /// dropped; none left means nothing matches).
        codes: Vec<u32>,
    },
    /// `filters-ids`: the rows of the requested Ids that exist.
    Ids {
        /// Rows, ascending, unique.
        rows: Vec<u32>,
    },
    /// `filters-anonymized` / `filters-read`.
    Present {
        /// The field.
        field: Field,
        /// `yes` (set) or `no` (null).
        present: bool,
    },
    /// A date/time range, inclusive bounds in seconds.
    Range {
        /// The date key whose sorted order answers it.
        key: DateKey,
        /// Smallest accepted value.
        from: i64,
        /// Largest accepted value.
        to: i64,
        /// The positions of the range in the key's sorted order.
        positions: Range<usize>,
        /// How it is evaluated.
        how: RangeUse,
    },
    /// `filters-q`: the suffix array of the text index.
    Text {
        /// The lower-cased needle.
        needle: String,
    },
}

/// One filter step and its estimated number of matching rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// What the step does.
    pub kind: StepKind,
    /// Estimated rows matching this step alone (exact for all but text).
    pub estimate: u64,
}

/// What a closed-set step accepts: its field, that field's facet
/// dimension, and the codes accepted there.
pub(crate) struct FacetCodes {
    pub field: Field,
    pub dimension: usize,
    pub codes: Vec<u8>,
}

impl Step {
    /// The field of a closed-set step, its facet dimension (see
    /// [`crate::index::facets`]) and the codes it accepts there; `None` for
    /// other steps.
    pub(crate) fn facet_codes(&self) -> Option<FacetCodes> {
        let (field, accepted) = match &self.kind {
            StepKind::Values { field, codes } => {
                (*field, codes.iter().map(|&code| u8::try_from(code).ok()).collect::<Option<Vec<u8>>>()?)
            }
            StepKind::Present { field, present } => (*field, vec![u8::from(*present)]),
            _ => return None,
        };
        Some(FacetCodes { field, dimension: FACET_FIELDS.iter().position(|known| *known == field)?, codes: accepted })
    }
}

/// How the page is found once the filters are evaluated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// The primary key is `_id`: rows are already in order, so the page is
    /// found by rank in the bitmap (`select`) and iterated.
    IdOrder,
    /// Walk the primary key's sorted order (within the domain), testing
    /// membership, skipping whole blocks of positions for deep pages.
    Walk,
    /// Collect the matches and partially sort only up to the page's end.
    Collect,
    /// Walk the rows of the one `location` named, kept in `date_time`
    /// order, testing membership: chosen once the matches are counted,
    /// never by the plan's estimate.
    LocationWalk,
}

/// A plan: filter steps in evaluation order and the page strategy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Messages in the segment.
    pub row_count: u64,
    /// Steps in evaluation order (bitmap steps cheapest first, then checks;
    /// a domain range last).
    pub steps: Vec<Step>,
    /// Sort keys, ending with an `_id` key.
    pub sort: Vec<SortKey>,
    /// The strategy chosen from the estimates.
    pub strategy: Strategy,
    /// Estimated matching rows (independence assumed between steps).
    pub estimated_matches: u64,
    /// Estimated costs (abstract units) of walking and of collecting.
    pub estimated_costs: (u64, u64),
    /// Position of the first item of the page among all matches.
    pub offset: u64,
    /// Page size.
    pub limit: u32,
    /// Set when a step alone proves that nothing matches.
    pub empty_because: Option<String>,
    /// Closed-set filters left out because the others imply them on this
    /// segment, as its facet counts tell exactly.
    pub left_out: Vec<Field>,
    /// A value of the primary (date/time) key past which, in the request's
    /// direction, the page may stop: the caller has enough matches sorting
    /// before any row there (a live store's base page bounding its runs).
    /// It shortens the walk to the page, never the count.
    pub page_bound: Option<i64>,
    /// In `_id` order, how many of the segment's rows, from its first in
    /// the request's direction, can reach the page (a live store's run
    /// below its base page's last `_id`): a walk stops there. Like
    /// `page_bound`, it never shortens the count.
    pub id_rows: Option<u32>,
}

/// A range on the primary sort key, along which the page is walked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Domain {
    /// The primary key.
    pub key: DateKey,
    /// Smallest accepted value.
    pub from: i64,
    /// Largest accepted value.
    pub to: i64,
    /// The positions of the range in the key's sorted order.
    pub positions: Range<usize>,
}

/// A plan's steps read as filters on `location` and the closed sets
/// ([`Plan::location_and_closed_sets`]), beside a text step or not.
pub(crate) struct LocationAndClosedSets {
    /// The `location` codes accepted (`None`: every location).
    pub locations: Option<Vec<u32>>,
    /// What the closed-set steps accept.
    pub selection: FacetSelection,
    /// Whether a text step is among the steps.
    pub has_text: bool,
    /// The smallest estimate of the steps but the text one (`None`: no
    /// such step).
    pub smallest_estimate: Option<u64>,
}

impl Plan {
    /// The plan's steps as filters on `location` and the closed sets, when
    /// every step but a text step and a domain-wide range is one; `None`
    /// otherwise.
    pub(crate) fn location_and_closed_sets(&self) -> Option<LocationAndClosedSets> {
        let mut read = LocationAndClosedSets {
            locations: None,
            selection: FacetSelection::default(),
            has_text: false,
            smallest_estimate: None,
        };
        for step in &self.steps {
            match &step.kind {
                StepKind::Range { how: RangeUse::Domain, .. } => continue,
                StepKind::Text { .. } => {
                    read.has_text = true;
                    continue;
                }
                StepKind::Values { field: Field::Location, codes } => {
                    read.locations = Some(match read.locations {
                        Some(earlier) => earlier.into_iter().filter(|code| codes.contains(code)).collect(),
                        None => codes.clone(),
                    });
                }
                _ => {
                    let accepted = step.facet_codes()?;
                    read.selection.narrow(accepted.dimension, &accepted.codes);
                }
            }
            read.smallest_estimate =
                Some(read.smallest_estimate.map_or(step.estimate, |least| least.min(step.estimate)));
        }
        Some(read)
    }

    /// The domain range (on the primary sort key), if any.
    pub fn domain(&self) -> Option<Domain> {
        self.steps.iter().find_map(|step| match &step.kind {
            StepKind::Range { key, from, to, positions, how: RangeUse::Domain } => {
                Some(Domain { key: *key, from: *from, to: *to, positions: positions.clone() })
            }
            _ => None,
        })
    }
}

/// Plans a list query against a segment.
pub fn plan(segment: &Segment, query: &ListQuery) -> Plan {
    plan_window(segment, query, query.offset(), query.per_page)
}

/// Plans the matches at positions `offset..offset + limit` of a query's
/// order, whatever its page: a live store asks each of its segments for the
/// window that can reach the merged page.
pub fn plan_window(segment: &Segment, query: &ListQuery, offset: u64, limit: u32) -> Plan {
    let row_count = u64::from(segment.row_count());
    let mut steps = Vec::new();
    let mut empty_because = None;
    let mut prove_empty = |why: String| {
        empty_because.get_or_insert(why);
    };

    for filter in &query.value_filters {
        if filter.field == Field::Id {
            let mut rows: Vec<u32> = segment.rows_of_id_fragments(&filter.fragments).into_iter().flatten().collect();
            rows.sort_unstable();
            rows.dedup();
            if rows.is_empty() {
                prove_empty("no requested Id exists".into());
            }
            steps.push(Step { estimate: rows.len() as u64, kind: StepKind::Ids { rows } });
        } else {
            let codes = dict_codes(segment.dict(filter.field), &filter.fragments);
            push_values(segment, &mut steps, filter.field, codes, &mut prove_empty);
        }
    }
    for constraint in query.facets.constraints() {
        match constraint {
            FacetConstraint::Values { field, accepted } => {
                let column = segment.enum_column(field);
                let mut codes: Vec<u32> =
                    accepted.iter().filter_map(|spelling| column.code_of(spelling)).map(u32::from).collect();
                codes.sort_unstable();
                codes.dedup();
                push_values(segment, &mut steps, field, codes, &mut prove_empty);
            }
            FacetConstraint::Present { field, present } => {
                let set = segment.present(field).len();
                let estimate = if present { set } else { row_count - set };
                steps.push(Step { estimate, kind: StepKind::Present { field, present } });
            }
        }
    }
    if let Some(needle) = &query.text {
        // The text index is consulted at execution; until then assume the
        // worst, so that it runs after every cheaper step.
        steps.push(Step { estimate: row_count, kind: StepKind::Text { needle: needle.clone() } });
    }

    let ranges = [
        (DateKey::DateTime, query.date_time_from.map(DateTime::seconds), query.date_time_to.map(DateTime::seconds)),
        (
            DateKey::Modified,
            query.modified_after.map(|after| after.seconds() + 1),
            query.modified_before.map(|before| before.seconds() - 1),
        ),
    ];
    let others_estimate = steps.iter().map(|step| step.estimate).min().unwrap_or(row_count);
    let primary = query.sort[0];
    for (key, from, to) in ranges {
        if from.is_none() && to.is_none() {
            continue;
        }
        // Bounds are real date/times (>= 0), so `null` (i64::MIN) never matches.
        let from = from.unwrap_or(0);
        let to = to.unwrap_or(i64::MAX);
        let order = segment.order(key);
        let start = order.lower_bound(from);
        let positions = start..order.upper_bound(to).max(start);
        let estimate = positions.len() as u64;
        if estimate == 0 {
            prove_empty(format!("no `{}` lies in the range", key.field()));
        }
        let how = if primary.field == SortField::Date(key) {
            RangeUse::Domain
        } else if others_estimate.saturating_mul(8) < estimate {
            RangeUse::Check
        } else {
            RangeUse::Bitmap
        };
        steps.push(Step { estimate, kind: StepKind::Range { key, from, to, positions, how } });
    }

    let left_out = match empty_because {
        Some(_) => Vec::new(),
        None => leave_out_implied_facet_steps(segment, &mut steps).unwrap_or_else(|why| {
            empty_because = Some(why);
            Vec::new()
        }),
    };

    // Evaluation order: bitmap steps cheapest first, then checks, then the
    // domain; `filters-read=no` style subtractions after positive steps.
    steps.sort_by_key(|step| {
        let phase = match &step.kind {
            StepKind::Range { how: RangeUse::Check, .. } => 2,
            StepKind::Range { how: RangeUse::Domain, .. } => 3,
            StepKind::Present { present: false, .. } => 1,
            StepKind::Text { .. } => 1,
            _ => 0,
        };
        (phase, step.estimate)
    });

    let estimated_matches = if empty_because.is_some() {
        0
    } else {
        steps.iter().fold(row_count as f64, |matches, step| matches * step.estimate as f64 / row_count.max(1) as f64)
            as u64
    };
    let mut plan = Plan {
        row_count,
        steps,
        sort: query.sort.clone(),
        strategy: Strategy::IdOrder,
        estimated_matches,
        estimated_costs: (0, 0),
        offset,
        limit,
        empty_because,
        left_out,
        page_bound: None,
        id_rows: None,
    };
    if primary.field != SortField::Id {
        let domain_len = plan.domain().map_or(row_count, |domain| domain.positions.len() as u64);
        let filtered =
            plan.steps.iter().any(|step| !matches!(step.kind, StepKind::Range { how: RangeUse::Domain, .. }));
        let candidates = plan
            .steps
            .iter()
            .filter(|step| !matches!(step.kind, StepKind::Range { how: RangeUse::Domain, .. }))
            .fold(row_count as f64, |rows, step| rows * step.estimate as f64 / row_count.max(1) as f64)
            as u64;
        plan.estimated_costs = page_costs(PageShape {
            matches: plan.estimated_matches,
            candidates,
            domain_len,
            has_domain: plan.domain().is_some(),
            offset: plan.offset,
            limit: plan.limit,
        });
        plan.strategy = choose_strategy(filtered, plan.estimated_costs);
    }
    plan
}

/// Leaves out every closed-set step that the other closed-set steps imply
/// on this segment, and returns the fields left out. The facet counts tell
/// it exactly: when the rows the others accept are as many with the step as
/// without, every one of them passes it (as `direction=outbound` beside
/// delivery statuses that only outbound messages have), so it would narrow
/// nothing and cost an intersection. The counts hold every row of the
/// segment, dead ones too, so what they imply holds for the live rows.
/// Of two steps implying each other, the one with more rows goes (its
/// bitmap costs more). `Err` says why nothing can match when no row
/// passes the closed-set steps together.
fn leave_out_implied_facet_steps(segment: &Segment, steps: &mut Vec<Step>) -> Result<Vec<Field>, String> {
    // The closed-set steps' codes, read once, beside their steps.
    let mut facet_steps: Vec<(usize, FacetCodes)> =
        steps.iter().enumerate().filter_map(|(index, step)| Some((index, step.facet_codes()?))).collect();
    if facet_steps.is_empty() {
        return Ok(Vec::new());
    }
    let facets = segment.facets();
    // The rows the closed-set steps accept, but the one at `skipped`.
    let accepted = |facet_steps: &[(usize, FacetCodes)], skipped: Option<usize>| {
        let mut selection = FacetSelection::default();
        for (position, (_, accepted)) in facet_steps.iter().enumerate() {
            if Some(position) != skipped {
                selection.narrow(accepted.dimension, &accepted.codes);
            }
        }
        facets.count(&selection)
    };
    let all = accepted(&facet_steps, None);
    if all == 0 {
        return Err("no message passes the closed-set filters together".into());
    }
    // The largest first: of two steps implying each other, its bitmap
    // costs more.
    facet_steps.sort_by_key(|&(index, _)| std::cmp::Reverse(steps[index].estimate));
    let mut left_out = Vec::new();
    while let Some(implied) = (0..facet_steps.len()).find(|&position| accepted(&facet_steps, Some(position)) == all) {
        let (index, FacetCodes { field, .. }) = facet_steps.remove(implied);
        left_out.push(field);
        steps.remove(index);
        for (later, _) in &mut facet_steps {
            if *later > index {
                *later -= 1;
            }
        }
    }
    Ok(left_out)
}

/// The codes of the requested values of a dictionary column that occur.
fn dict_codes(column: &DictColumn, fragments: &[Box<[u8]>]) -> Vec<u32> {
    let mut codes: Vec<u32> = fragments.iter().filter_map(|fragment| column.code_of_fragment(fragment)).collect();
    codes.sort_unstable();
    codes.dedup();
    codes
}

fn push_values(
    segment: &Segment,
    steps: &mut Vec<Step>,
    field: Field,
    codes: Vec<u32>,
    prove_empty: &mut impl FnMut(String),
) {
    let index = segment.value_index(field);
    // A row has one value per field, so the bitmaps are disjoint: the sum is exact.
    let estimate = codes.iter().map(|&code| index.rows(code).len()).sum();
    if estimate == 0 {
        prove_empty(format!("no message has a requested `{field}`"));
    }
    steps.push(Step { estimate, kind: StepKind::Values { field, codes } });
}

/// What the page strategies' costs depend on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageShape {
    /// Rows matching every filter (the `item_count`).
    pub matches: u64,
    /// Rows of the filter bitmap, before a domain range restricts them.
    pub candidates: u64,
    /// Positions of the sorted order walked (the domain, or every row).
    pub domain_len: u64,
    /// Whether a range on the primary key bounds the walk.
    pub has_domain: bool,
    /// First item of the page among the matches.
    pub offset: u64,
    /// Page size.
    pub limit: u32,
}

/// Relative cost of reading a row's value or key at random (a likely cache
/// miss) against testing a position met in order.
pub(crate) const RANDOM_ACCESS: f64 = 4.0;
/// Relative cost of one block bitmap in a union or an intersection count.
pub(crate) const BLOCK_OPERATION: f64 = 50.0;

/// Estimated costs `(walk, collect)` of the page strategies, in units of
/// one position walked in order (a membership test):
///
/// - walk: the positions passed before the page (whole blocks counted when
///   cheaper) and across it, at `domain_len / matches` positions per match;
/// - collect: filtering the candidates to the domain (each a random read,
///   or a bitmap built from the domain's blocks when cheaper), then a random
///   read of every match's sort key for the partial sort.
pub fn page_costs(shape: PageShape) -> (u64, u64) {
    if shape.matches == 0 {
        return (0, 0);
    }
    let matches = shape.matches as f64;
    let spacing = shape.domain_len as f64 / matches;
    let before = shape.offset.min(shape.matches) as f64;
    let window = (shape.offset.saturating_add(u64::from(shape.limit))).min(shape.matches) as f64;
    let skipped_positions = before * spacing;
    let skip_cost = (skipped_positions / BLOCK as f64 * BLOCK_OPERATION).min(skipped_positions);
    let walk = skip_cost + (window - before + 1.0) * spacing;
    let restrict = if shape.has_domain {
        let by_blocks = shape.domain_len as f64 / BLOCK as f64 * BLOCK_OPERATION + 2.0 * BLOCK as f64;
        (shape.candidates as f64 * RANDOM_ACCESS).min(by_blocks)
    } else {
        shape.candidates as f64
    };
    let collect = restrict + matches * RANDOM_ACCESS;
    (walk as u64, collect as u64)
}

/// Walk unless collecting is cheaper; an unfiltered page is always walked.
pub fn choose_strategy(filtered: bool, (walk, collect): (u64, u64)) -> Strategy {
    if !filtered || walk <= collect {
        Strategy::Walk
    } else {
        Strategy::Collect
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let date = |seconds: i64| {
            DateTime::from_seconds(seconds).map_or_else(|| "unbounded".to_owned(), |value| value.to_string())
        };
        match &self.kind {
            StepKind::Values { field, codes } => {
                write!(f, "`{field}` is one of {} known value(s): union of value bitmaps", codes.len())?
            }
            StepKind::Ids { rows } => {
                write!(f, "`_id` is one of {} existing Id(s): rows from the Id hash index", rows.len())?
            }
            StepKind::Present { field, present } => write!(
                f,
                "`{field}` is {}: {}",
                if *present { "set" } else { "null" },
                if *present { "presence bitmap" } else { "subtract the presence bitmap" }
            )?,
            StepKind::Range { key, from, to, positions, how } => write!(
                f,
                "`{}` in [{}, {}]: positions {}..{} of its sorted order, {}",
                key.field(),
                date(*from),
                if *to == i64::MAX { "unbounded".to_owned() } else { date(*to) },
                positions.start,
                positions.end,
                match how {
                    RangeUse::Domain => "walked as the page order (not materialised)",
                    RangeUse::Bitmap => "materialised from block bitmaps",
                    RangeUse::Check => "checked on the remaining candidates",
                }
            )?,
            StepKind::Text { needle } => {
                write!(f, "`filters-q` contains {needle:?}: suffix array over distinct lower-cased values")?
            }
        }
        match &self.kind {
            StepKind::Text { .. } => write!(f, " (estimate: found at execution)"),
            _ => write!(f, " (~{} rows)", self.estimate),
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "plan over {} messages", self.row_count)?;
        if self.steps.is_empty() {
            writeln!(f, "  filters: none (every message matches; no bitmap is built)")?;
        }
        for (number, step) in self.steps.iter().enumerate() {
            writeln!(f, "  {}. {step}", number + 1)?;
        }
        for field in &self.left_out {
            writeln!(f, "  `{field}` left out: the other closed-set filters imply it here (facet counts)")?;
        }
        if let Some(why) = &self.empty_because {
            writeln!(f, "  nothing can match: {why}")?;
        }
        let keys: Vec<String> = self
            .sort
            .iter()
            .map(|key| format!("{}{}", if key.descending { "-" } else { "" }, key.field.field()))
            .collect();
        writeln!(f, "  estimated matches: {}", self.estimated_matches)?;
        writeln!(f, "  order: {}", keys.join(", "))?;
        let strategy = match self.strategy {
            Strategy::IdOrder => "id-order (rank and select in the match bitmap)".to_owned(),
            Strategy::Walk => format!(
                "walk the sorted order (estimated cost {} vs collect {})",
                self.estimated_costs.0, self.estimated_costs.1
            ),
            Strategy::Collect => format!(
                "collect and partially sort (estimated cost {} vs walk {})",
                self.estimated_costs.1, self.estimated_costs.0
            ),
            Strategy::LocationWalk => "walk the location's rows in date_time order".to_owned(),
        };
        writeln!(f, "  page strategy: {strategy}")?;
        write!(f, "  page window: offset {}, limit {}", self.offset, self.limit)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::{any, prop_assert, prop_assert_eq, proptest};
    use proptest::strategy::Strategy as Generator;

    use super::*;

    /// 100 matches among 500 candidates, spread over 1,000 positions
    /// (one match every 10), no domain, the first page of 10.
    const SHAPE: PageShape =
        PageShape { matches: 100, candidates: 500, domain_len: 1000, has_domain: false, offset: 0, limit: 10 };

    #[test]
    fn a_first_page_walks_its_matches_and_collects_every_candidate() {
        // Walk: 11 matches' spacing of 10 positions; collect: the 500
        // candidates filtered, then a random read of each match's key.
        assert_eq!(page_costs(SHAPE), (110, 500 + 100 * 4));
        // Nothing matches: nothing to walk or collect, whatever the rest.
        assert_eq!(page_costs(PageShape { matches: 0, ..SHAPE }), (0, 0));
        assert_eq!(page_costs(PageShape { matches: 0, has_domain: true, offset: 50, ..SHAPE }), (0, 0));
    }

    #[test]
    fn a_domain_restricts_the_candidates_by_random_reads_or_by_blocks() {
        // Few candidates: each read at random (500 × 4 = 2,000 below the
        // blocks' 1000 / 1024 × 50 + 2 × 1024 ≈ 2,097).
        let domain = PageShape { has_domain: true, ..SHAPE };
        assert_eq!(page_costs(domain).1, 2000 + 400);
        // Many: a bitmap from the domain's blocks.
        let blocks = (1000.0 / BLOCK as f64 * BLOCK_OPERATION + 2.0 * BLOCK as f64 + 400.0) as u64;
        assert_eq!(page_costs(PageShape { candidates: 1000, ..domain }).1, blocks);
        // Without a domain the candidates are the matches' bitmap: no reads.
        assert_eq!(page_costs(PageShape { candidates: 1000, ..SHAPE }).1, 1000 + 400);
        // The walk is the same either way.
        assert_eq!(page_costs(domain).0, page_costs(SHAPE).0);
    }

    #[test]
    fn a_page_past_the_matches_costs_what_the_end_costs() {
        let at = |offset: u64| page_costs(PageShape { offset, ..SHAPE });
        // The 100 matches' 1,000 positions skipped by blocks (≈ 48.8), then
        // one spacing to find that nothing follows.
        assert_eq!(at(100), ((1000.0 / BLOCK as f64 * BLOCK_OPERATION) as u64 + 10, 900));
        assert_eq!(at(101), at(100));
        assert_eq!(at(u64::MAX), at(100));
        // A short last page walks less than a full one before it.
        assert!(at(95).0 > at(100).0 && at(90).0 > at(95).0);
    }

    #[test]
    fn unfiltered_pages_are_walked_and_ties_too() {
        assert_eq!(choose_strategy(false, (1_000_000, 1)), Strategy::Walk);
        assert_eq!(choose_strategy(true, (10, 10)), Strategy::Walk);
        assert_eq!(choose_strategy(true, (9, 10)), Strategy::Walk);
        assert_eq!(choose_strategy(true, (11, 10)), Strategy::Collect);
        assert_eq!(choose_strategy(true, (0, 0)), Strategy::Walk, "nothing matches");
    }

    fn shape() -> impl Generator<Value = PageShape> {
        (1u64..100_000, 0u64..200_000, 1u64..10, any::<bool>(), 0u64..120_000, 1u32..100).prop_map(
            |(matches, candidates, spread, has_domain, offset, limit)| PageShape {
                matches,
                candidates: candidates.max(matches),
                domain_len: matches * spread,
                has_domain,
                offset,
                limit,
            },
        )
    }

    proptest! {
        /// Deeper full pages cost more to walk, never less; collecting
        /// costs the same at any depth; offsets past the end cost what the
        /// end does.
        #[test]
        fn walking_grows_with_depth_and_collecting_does_not(shape in shape(), deeper in 0u64..120_000) {
            let (walk, collect) = page_costs(shape);
            let deeper_shape = PageShape { offset: shape.offset.saturating_add(deeper), ..shape };
            let (deeper_walk, deeper_collect) = page_costs(deeper_shape);
            prop_assert_eq!(collect, deeper_collect);
            if deeper_shape.offset + u64::from(shape.limit) <= shape.matches {
                prop_assert!(walk <= deeper_walk, "{} > {} at {:?}", walk, deeper_walk, deeper_shape);
            }
            if shape.offset >= shape.matches {
                prop_assert_eq!(walk, page_costs(PageShape { offset: shape.matches, ..shape }).0);
            }
        }

        /// Collect exactly when filtered and cheaper.
        #[test]
        fn the_cheaper_strategy_is_chosen(shape in shape(), filtered in any::<bool>()) {
            let (walk, collect) = page_costs(shape);
            let strategy = choose_strategy(filtered, (walk, collect));
            prop_assert_eq!(strategy == Strategy::Collect, filtered && collect < walk);
        }
    }
}
