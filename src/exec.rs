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

use crate::index::order::{count_members, SortedOrder, BLOCK};
use crate::index::text::TextSearchStats;
use crate::plan::{choose_strategy, page_costs, Plan, RangeUse, StepKind, Strategy};
use crate::request::{SortField, SortKey};
use crate::store::Segment;

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
    let mut stats = ExecStats::default();
    if plan.empty_because.is_some() {
        return Execution { stats, ..Execution::default() };
    }
    let Some(matches) = evaluate_filters(segment, plan, &mut stats) else {
        return Execution { stats, ..Execution::default() };
    };
    let domain = plan.domain();
    let primary = plan.sort[0];
    let offset = plan.offset;
    let limit = plan.limit as usize;

    if primary.field == SortField::Id {
        stats.strategy = Some(Strategy::IdOrder);
        let item_count = matches.as_ref().map_or(u64::from(segment.row_count()), |bitmap| bitmap.len());
        let rows = id_order_page(matches.as_deref(), segment.row_count(), primary.descending, offset, limit);
        return Execution { item_count, rows, stats };
    }

    let order = segment.order(primary.field);
    let values = segment.dates(primary.field.field());
    let positions = domain.as_ref().map_or(0..order.len(), |(_, _, _, positions)| positions.clone());
    let item_count = match (&matches, &domain) {
        (None, _) => positions.len() as u64,
        (Some(bitmap), None) => bitmap.len(),
        // Few candidates: check their values; many: count per block.
        (Some(bitmap), Some((_, from, to, _))) if bitmap.len() < positions.len() as u64 / 8 => {
            stats.rows_examined += bitmap.len();
            bitmap.iter().filter(|&row| (*from..=*to).contains(&values[row as usize])).count() as u64
        }
        (Some(bitmap), Some(_)) => order.count_in(bitmap, positions.clone()),
    };
    let strategy = match (&matches, forced) {
        (_, Some(forced)) if forced != Strategy::IdOrder => forced,
        (None, _) => Strategy::Walk,
        (Some(_), _) => choose_strategy(true, page_costs(item_count, positions.len() as u64, offset, plan.limit)),
    };
    stats.strategy = Some(strategy);
    let rows = match strategy {
        Strategy::Collect => {
            let bitmap = matches.unwrap_or_else(|| {
                let mut all = RoaringBitmap::new();
                all.insert_range(0..segment.row_count());
                Cow::Owned(all)
            });
            let mut rows: Vec<u32> = match &domain {
                Some((_, from, to, _)) => {
                    bitmap.iter().filter(|&row| (*from..=*to).contains(&values[row as usize])).collect()
                }
                None => bitmap.iter().collect(),
            };
            stats.rows_examined += bitmap.len();
            top_window(segment, &mut rows, &plan.sort, offset, limit)
        }
        _ => {
            let walk = Walk { segment, order, values, member: matches.as_deref(), positions, rest: &plan.sort[1..] };
            if primary.descending {
                walk.descending(offset, limit, &mut stats)
            } else {
                walk.ascending(offset, limit, &mut stats)
            }
        }
    };
    Execution { item_count, rows, stats }
}

/// Evaluates every step but the domain; `None` when the result is empty,
/// `Some(None)` when every row matches.
fn evaluate_filters<'a>(segment: &'a Segment, plan: &Plan, stats: &mut ExecStats) -> Option<Matches<'a>> {
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
                match codes.as_slice() {
                    [code] => intersect_with(matches.take(), index.rows(*code)),
                    _ => intersect_owned(matches.take(), codes.iter().map(|&code| index.rows(code)).union()),
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
            StepKind::Text { needle } => {
                let (found, text_stats) = segment.text().search(needle);
                stats.text = Some(text_stats);
                intersect_owned(matches.take(), found)
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
    Some(matches)
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
    if offset >= rows.len() as u64 {
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

/// The page being filled by a walk.
struct Window {
    offset: u64,
    limit: usize,
    /// Matches passed so far in walk order.
    skipped: u64,
    page: Vec<u32>,
}

/// A walk along a sorted order within a range of positions.
struct Walk<'a> {
    segment: &'a Segment,
    order: &'a SortedOrder,
    values: &'a [i64],
    /// Matches; `None` means every row.
    member: Option<&'a RoaringBitmap>,
    positions: Range<usize>,
    /// Sort keys after the primary one.
    rest: &'a [SortKey],
}

impl Walk<'_> {
    /// Whether two positions hold the same primary value.
    fn same_value(&self, left: usize, right: usize) -> bool {
        self.values[self.order.row_at(left) as usize] == self.values[self.order.row_at(right) as usize]
    }

    fn is_member(&self, row: u32) -> bool {
        self.member.is_none_or(|bitmap| bitmap.contains(row))
    }

    fn count(&self, positions: Range<usize>, stats: &mut ExecStats) -> u64 {
        match self.member {
            None => positions.len() as u64,
            Some(bitmap) => {
                stats.rows_examined += positions.len() as u64;
                count_members(bitmap, self.order.rows_at(positions))
            }
        }
    }

    /// Takes this group's share of the window; returns whether the page is
    /// full. A group wholly before the window is only counted.
    fn take_group(&self, group: Range<usize>, window: &mut Window, stats: &mut ExecStats) -> bool {
        if self.member.is_none() && window.skipped + group.len() as u64 <= window.offset {
            window.skipped += group.len() as u64;
            return false;
        }
        stats.rows_examined += group.len() as u64;
        let mut hits: Vec<u32> = self.order.rows_at(group).iter().copied().filter(|&row| self.is_member(row)).collect();
        if window.skipped + hits.len() as u64 <= window.offset {
            window.skipped += hits.len() as u64;
            return false;
        }
        // Within a group rows are ascending, which is already right for an
        // ascending `_id` tie-break.
        match self.rest {
            [] | [SortKey { field: SortField::Id, descending: false }, ..] => {}
            [SortKey { field: SortField::Id, descending: true }, ..] => hits.reverse(),
            keys => hits.sort_unstable_by(|left, right| compare_rows(self.segment, keys, *left, *right)),
        }
        let start = window.offset.saturating_sub(window.skipped) as usize;
        window.skipped += hits.len() as u64;
        let wanted = window.limit - window.page.len();
        window.page.extend(hits.iter().skip(start).take(wanted));
        window.page.len() == window.limit
    }

    fn ascending(&self, offset: u64, limit: usize, stats: &mut ExecStats) -> Vec<u32> {
        let Range { start: low, end: high } = self.positions;
        let mut skipped = 0u64;
        let mut cursor = low;
        if offset > 0 && high > low && self.member.is_none() {
            // Every position matches: skip by arithmetic, then back up to
            // the start of the group straddling the cursor.
            cursor = low + (offset.min((high - low) as u64) as usize);
            skipped = (cursor - low) as u64;
            if cursor < high && self.same_value(cursor - 1, cursor) {
                let group_start = self.order.group_start(self.values, cursor, low);
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
                    let hits = self.order.block_hits(self.member, cursor / BLOCK);
                    if skipped + hits > offset {
                        break;
                    }
                    skipped += hits;
                    cursor += BLOCK;
                    stats.blocks_skipped += 1;
                }
                // Back up to the start of the group straddling the cursor.
                if cursor > low
                    && cursor < high
                    && self.values[self.order.row_at(cursor) as usize]
                        == self.values[self.order.row_at(cursor - 1) as usize]
                {
                    let group_start = self.order.group_start(self.values, cursor, low);
                    skipped -= self.count(group_start..cursor, stats);
                    cursor = group_start;
                }
            }
        }
        let mut window = Window { offset, limit, skipped, page: Vec::with_capacity(limit) };
        while cursor < high && limit > 0 {
            let group_end = self.order.group_end(self.values, cursor, high);
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
        if offset > 0 && high > low && self.member.is_none() {
            cursor = high - (offset.min((high - low) as u64) as usize);
            skipped = (high - cursor) as u64;
            if cursor > low && self.same_value(cursor - 1, cursor) {
                let group_end = self.order.group_end(self.values, cursor, high);
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
                    let hits = self.order.block_hits(self.member, cursor / BLOCK - 1);
                    if skipped + hits > offset {
                        break;
                    }
                    skipped += hits;
                    cursor -= BLOCK;
                    stats.blocks_skipped += 1;
                }
                if cursor > low
                    && cursor < high
                    && self.values[self.order.row_at(cursor) as usize]
                        == self.values[self.order.row_at(cursor - 1) as usize]
                {
                    let group_end = self.order.group_end(self.values, cursor, high);
                    skipped -= self.count(cursor..group_end, stats);
                    cursor = group_end;
                }
            }
        }
        let mut window = Window { offset, limit, skipped, page: Vec::with_capacity(limit) };
        while cursor > low && limit > 0 {
            let group_start = self.order.group_start(self.values, cursor, low);
            if self.take_group(group_start..cursor, &mut window, stats) {
                break;
            }
            cursor = group_start;
        }
        window.page
    }
}
