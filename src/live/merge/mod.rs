//! One page from the parts of a snapshot.
//!
//! Each part answers for its own live rows: its match count and its matches
//! at a window of positions in the request's order. The small parts (runs
//! and tail) give their first `want = offset + per_page` matches, `d` in all
//! counted. The base is asked only from position `s = max(0, offset - d)`:
//! at most `d` small matches precede the page, so no base match before `s`
//! can be on it. Merging the base window with the small matches, the `j`-th
//! merged item sits at global position `s + j` from the base's first
//! window item on, and everything before that item lies before the page:
//!
//! ```text
//!  base window   b[s] b[s+1] …              (base matches from s)
//!  small         x  y   z …                 (every small match, or its first `want`)
//!  merged        x b[s] y b[s+1] z …        position of the j-th item = s + j
//!  page          merged[offset - s .. offset - s + per_page]
//! ```
//!
//! When the small matches are cut at `want`, `d > offset` and `s = 0`, so
//! positions are counted from the first match of all.
//!
//! That costs O(`d`) for a deep page while many rows have changed. When a
//! request filters on nothing but a range of its primary date key (a deep
//! page of a date order, say), every part can instead count its matches
//! before any key in two binary searches (its sorted order, its dead rows'
//! positions) plus the key's group of ties; `list_by_rank` bisects the
//! base's order for a pivot key with at most `offset` matches before it in
//! all parts, then reads only `offset - before + per_page` matches from
//! each part at its own rank of the pivot.

mod bounds;
mod items;
mod lists;
mod tail_matches;

use std::ops::Range;

use super::{Part, Snapshot};
use crate::exec::{execute, live_id_order_page, PageWindow};
use crate::index::order::SortedOrder;
use crate::model::DateKey;
use crate::output::PageFrame;
use crate::plan::{plan, plan_window, Plan, RangeUse, StepKind};
use crate::request::{ListQuery, SortField, SortKey};
use crate::store::dead_rows::DeadRows;
use crate::store::Segment;
use bounds::{base_lead, facet_only_selection, first_sorts_after, rows_reaching_id, sorts_before};
use items::{IdRef, Item, Origin};
use lists::{merge_lists, PartMatches};
use tail_matches::{tail_first_in_id_order, tail_matches_sorted};

/// Appends the 200 body of a list request answered from a snapshot.
///
/// Pages at least `rank_depth` deep, when at least as many matches lie
/// outside the base, are found by rank where the request allows it.
pub(crate) fn list_into(snapshot: &Snapshot, query: &ListQuery, rank_depth: u64, out: &mut Vec<u8>) {
    let base = &snapshot.base;
    let mut frame = PageFrame { item_count: 0, page: query.page, per_page: query.per_page };
    if snapshot.is_base_only() {
        let plan = plan(&base.segment, query);
        let execution = execute(&base.segment, None, &plan, &PageWindow::of(&plan));
        frame.item_count = execution.item_count;
        frame.write_body(out, |out| base.segment.write_items(&execution.rows, &query.attributes, out));
        return;
    }
    if list_by_rank(snapshot, query, rank_depth, out) {
        return;
    }
    let offset = query.offset();
    let want = offset.saturating_add(u64::from(query.per_page));

    // The base's window starts at `offset` less the small parts' matches
    // (at most that many precede the page), so its matches before `start`
    // cannot reach the page. On a first page it starts at 0 whatever they
    // are: the base is read first, and a full window's last primary value
    // bounds the runs' walks (a run's match sorting past it has a full page
    // of base matches before it).
    let primary = query.sort[0];
    let base_window = |start: u64| {
        let limit = (want - start).min(base.dead.live_count()) as u32;
        let plan = plan_window(&base.segment, query, start, limit);
        let execution = execute(&base.segment, Some(&base.dead), &plan, &PageWindow::of(&plan));
        // Full: every base match from `start` that can reach the page.
        let full = execution.rows.len() as u64 == want - start && want > start;
        (execution, full)
    };
    // A first page that recent writes may lead (see `base_lead`) reads the
    // runs and the tail first, unbounded; any other first page reads the
    // base first.
    let lead = if offset == 0 { base_lead(snapshot, query) } else { None };
    let first_page_base = (offset == 0 && lead.is_none()).then(|| base_window(0));
    let last_of_full_base = match &first_page_base {
        Some((execution, true)) => execution.rows.last().copied(),
        _ => None,
    };
    let page_bound = last_of_full_base
        .filter(|_| primary.field != SortField::Id)
        .map(|row| base.segment.dates(primary.field.field())[row as usize]);
    // In `_id` order a run's rows are its order: those past the base's last
    // `_id` (in the request's direction) cannot reach the page, so a run is
    // asked for no more matches than it has rows before that `_id`.
    let id_bound =
        last_of_full_base.filter(|_| primary.field == SortField::Id).map(|row| IdRef::resolved(&base.segment, row));
    // Each part's matches come in the request's order: merge them, never
    // sort. A run is read only `FIRST_READ` matches deep at first (few of
    // its matches reach a page); only if the merge runs past them is it read
    // again to `want`.
    let unfiltered_id_order = primary.field == SortField::Id && query.filters_nothing();
    // A request filtering only on facets, whose page's last item the base
    // gave: a run whose first row in the accepted cells sorts after it has
    // nothing for the page, and its count is in its facet counts.
    let facets_past_bound = last_of_full_base
        .filter(|_| primary.field != SortField::Id)
        .and_then(|row| Some((facet_only_selection(&base.segment, query)?, row)))
        .map(|(selection, row)| (selection.cells(), selection, row));
    let run_matches = |number: usize, limit: u64| {
        let run = &snapshot.runs[number];
        if let Some((cells, selection, bound)) = &facets_past_bound {
            if first_sorts_after(&run.segment, cells, query, &base.segment, *bound) {
                let count = run.segment.facets().count(selection) - run.dead.facet_count(selection);
                return (count, PartMatches::all(Vec::new()));
            }
        }
        let rows_reaching = id_bound.as_ref().map(|bound| rows_reaching_id(&run.segment, bound, primary.descending));
        let limit = limit.min(run.dead.live_count()).min(rows_reaching.unwrap_or(u64::MAX));
        let (item_count, rows) = if unfiltered_id_order {
            // Every live row matches, in row order: no plan needed.
            let rows = live_id_order_page(&run.dead, primary.descending, 0, limit as usize);
            (run.dead.live_count(), rows)
        } else {
            let plan = plan_window(&run.segment, query, 0, limit as u32);
            let window = PageWindow {
                page_bound,
                id_rows: rows_reaching.map(|rows| u32::try_from(rows).unwrap_or(u32::MAX)),
                ..PageWindow::of(&plan)
            };
            let execution = execute(&run.segment, Some(&run.dead), &plan, &window);
            (execution.item_count, execution.rows)
        };
        let items: Vec<Item<'_>> = rows
            .iter()
            .map(|&row| Item::of_row(Origin::Run(number), &run.segment, row).keyed_for(&query.sort))
            .collect();
        let mut matches = PartMatches::read(items, limit, item_count.min(want));
        // Asked for as many as it has rows that can reach: all of those read.
        matches.complete |= rows_reaching.is_some_and(|reaching| limit >= reaching);
        (item_count, matches)
    };
    let mut lists: Vec<PartMatches<'_>> = Vec::with_capacity(snapshot.runs.len() + 2);
    let mut small_count = 0u64;
    for number in 0..snapshot.runs.len() {
        let (count, matches) = run_matches(number, want.min(FIRST_READ));
        small_count += count;
        lists.push(matches);
    }
    let keep = usize::try_from(want).unwrap_or(usize::MAX);
    let tail = if primary.field == SortField::Id {
        // The tail is in `_id` order already: its first `want` matches in
        // the request's direction, the others only counted.
        let (count, items) = tail_first_in_id_order(snapshot, query, keep, id_bound.as_ref());
        small_count += count;
        items
    } else {
        // Only the tail's first `want` matches can reach the page.
        let (count, tail) = tail_matches_sorted(snapshot, query, keep);
        small_count += count;
        tail
    };
    lists.push(PartMatches::all(tail));
    if let Some(base_first) = lead {
        // A whole page of the small parts' matches sorting strictly before
        // anything in the base is the page: the base is only counted.
        let key = primary.field.date_key().expect("only date orders have a lead");
        let page = merge_lists(&lists, &query.sort, 0, query.per_page as usize).filter(|page| {
            page.len() == query.per_page as usize
                && page.last().is_some_and(|item| sorts_before(item.dates[key], base_first, primary))
        });
        if let Some(page) = page {
            let plan = plan_window(&base.segment, query, 0, 0);
            let counted = execute(&base.segment, Some(&base.dead), &plan, &PageWindow::of(&plan));
            frame.item_count = counted.item_count + small_count;
            write_page(snapshot, &frame, &page, query, out);
            return;
        }
    }

    let start = offset.saturating_sub(small_count);
    let (execution, _) = first_page_base.unwrap_or_else(|| base_window(start));
    frame.item_count = execution.item_count + small_count;
    let (skip, per_page) = (offset - start, query.per_page as usize);
    // When every run was read far enough, the small parts' matches are
    // placed among the base's window by binary searches, the base's rows
    // not made into items.
    if lists.iter().all(|list| list.complete) {
        let others = lists.iter().flat_map(|list| list.items.iter().copied()).collect();
        if write_base_window_with(snapshot, &frame, &execution.rows, others, skip, query, out) {
            return;
        }
    }
    lists.push(PartMatches::all(
        execution
            .rows
            .iter()
            .map(|&row| Item::of_row(Origin::Base, &base.segment, row).keyed_for(&query.sort))
            .collect(),
    ));
    let page = merge_lists(&lists, &query.sort, skip, per_page).unwrap_or_else(|| {
        for (number, list) in lists.iter_mut().enumerate().take(snapshot.runs.len()) {
            if !list.complete {
                *list = run_matches(number, want).1;
            }
        }
        merge_lists(&lists, &query.sort, skip, per_page).expect("every list is complete")
    });
    write_page(snapshot, &frame, &page, query, out);
}

/// Most forward steps before a deep page's pivot search bisects.
const RANK_STEPS: usize = 8;

/// How deep a run is read at first (see [`list_into`]).
const FIRST_READ: u64 = 16;

/// Writes the page frame with the first `per_page` of `items`.
fn write_page(snapshot: &Snapshot, frame: &PageFrame, items: &[Item<'_>], query: &ListQuery, out: &mut Vec<u8>) {
    let entries: Vec<(Origin, u32)> = items.iter().map(|item| (item.origin, item.index)).collect();
    write_entries(snapshot, frame, &entries, query, out);
}

/// Writes the page frame with the first `per_page` of `entries`: each the
/// part of an item and its row there (its position, in the tail).
fn write_entries(
    snapshot: &Snapshot,
    frame: &PageFrame,
    entries: &[(Origin, u32)],
    query: &ListQuery,
    out: &mut Vec<u8>,
) {
    let entries = &entries[..entries.len().min(query.per_page as usize)];
    frame.write_body(out, |out| {
        // Consecutive items of one segment are written together, so that
        // their values' cache misses overlap (`Segment::write_items`).
        for (position, stretch) in entries.chunk_by(|left, right| left.0 == right.0).enumerate() {
            if position > 0 {
                out.push(b',');
            }
            let segment = match stretch[0].0 {
                Origin::Base => &snapshot.base.segment,
                Origin::Run(number) => &snapshot.runs[number].segment,
                Origin::Tail => {
                    for (index, &(_, position)) in stretch.iter().enumerate() {
                        if index > 0 {
                            out.push(b',');
                        }
                        snapshot.tail[position as usize].message.write_json(out, &query.attributes);
                    }
                    continue;
                }
            };
            let rows: Vec<u32> = stretch.iter().map(|&(_, row)| row).collect();
            segment.write_items(&rows, &query.attributes, out);
        }
    });
}

/// Writes the page at `skip` of the merge of a window of the base's
/// matches (`rows`, in the request's order) with `others`, every match of
/// the other parts that can reach it, by placing the others among the rows
/// (see [`splice_page`]), and returns `true`; or writes nothing and returns
/// `false` when that would cost more than making every row an item and
/// merging: when the others sorting inside the window are not few beside
/// it (a first page of 10 beside a dozen tail matches, say, against a
/// deep page of 100 with a stray run match or two).
fn write_base_window_with(
    snapshot: &Snapshot,
    frame: &PageFrame,
    rows: &[u32],
    others: Vec<Item<'_>>,
    skip: u64,
    query: &ListQuery,
    out: &mut Vec<u8>,
) -> bool {
    let sort = &query.sort;
    let segment = &snapshot.base.segment;
    let per_page = query.per_page as usize;
    // The others sorting inside the window, and those after its last row
    // (all of them when the window is empty).
    let last = rows.last().map(|&row| Item::of_row(Origin::Base, segment, row));
    let (mut inside, mut after): (Vec<Item<'_>>, Vec<Item<'_>>) =
        others.into_iter().partition(|other| last.is_some_and(|last| other.compare(&last, sort).is_lt()));
    if inside.len() * 4 > rows.len() {
        return false;
    }
    // Those after come after the whole window: when it reaches past the
    // page, they cannot be on it.
    if rows.len() as u64 >= skip.saturating_add(per_page as u64) {
        after.clear();
    }
    inside.sort_unstable_by(|left, right| left.compare(right, sort));
    after.sort_unstable_by(|left, right| left.compare(right, sort));
    let page = splice_page(segment, rows, &inside, &after, sort, skip, per_page);
    write_entries(snapshot, frame, &page, query, out);
    true
}

/// The entries at `skip..skip + take` of the merge of a window of the
/// base's matches, given as its rows in the request's order, with the other parts'
/// matches that can reach them, sorted: `inside`, all sorting before the
/// last row, each placed among the rows by a binary search (so that only
/// the rows it compares with are read for their keys, not every row of the
/// window), and `after`, which follow all the rows.
fn splice_page(
    segment: &Segment,
    rows: &[u32],
    inside: &[Item<'_>],
    after: &[Item<'_>],
    sort: &[SortKey],
    skip: u64,
    take: usize,
) -> Vec<(Origin, u32)> {
    let mut places = Vec::with_capacity(inside.len());
    let mut from = 0;
    for other in inside {
        from +=
            rows[from..].partition_point(|&row| Item::of_row(Origin::Base, segment, row).compare(other, sort).is_lt());
        places.push(from);
    }
    let mut page = Vec::with_capacity(take);
    let (mut row, mut other, mut passed) = (0, 0, 0u64);
    let mut after = after.iter();
    while page.len() < take {
        let entry = if other < inside.len() && places[other] <= row {
            other += 1;
            (inside[other - 1].origin, inside[other - 1].index)
        } else if row < rows.len() {
            row += 1;
            (Origin::Base, rows[row - 1])
        } else if let Some(item) = after.next() {
            (item.origin, item.index)
        } else {
            break;
        };
        if passed < skip {
            passed += 1;
        } else {
            page.push(entry);
        }
    }
    page
}

/// One segment part seen through a request that filters only on a range of
/// its primary date key: its matches are the live rows of a range of
/// positions of that key's order.
struct RankedPart<'a> {
    origin: Origin,
    segment: &'a Segment,
    dead: &'a DeadRows,
    order: &'a SortedOrder,
    key: DateKey,
    positions: Range<usize>,
    /// The part's plan, kept to read its window without planning again.
    plan: Plan,
}

impl<'a> RankedPart<'a> {
    /// The part as the planner sees the request; `None` when the plan
    /// filters on more than a range of the primary date key (its domain).
    fn new(origin: Origin, part: &'a Part, query: &ListQuery) -> Option<RankedPart<'a>> {
        let key = query.sort[0].field.date_key()?;
        let plan = plan(&part.segment, query);
        if !plan.steps.iter().all(|step| matches!(step.kind, StepKind::Range { how: RangeUse::Domain, .. })) {
            return None;
        }
        let order = part.segment.order(key);
        let positions = plan.domain().map_or(0..order.len(), |domain| domain.positions);
        let (segment, dead) = (&*part.segment, &*part.dead);
        Some(RankedPart { origin, segment, dead, order, key, positions, plan })
    }

    fn live(&self, positions: Range<usize>) -> u64 {
        positions.len() as u64 - self.dead.dead_at(self.key, positions)
    }

    fn count(&self) -> u64 {
        self.live(self.positions.clone())
    }

    /// The matches sorting strictly before `key`: whole ranges of the order
    /// counted, the key's group of ties compared one by one.
    fn count_before(&self, key: &Item<'_>, sort: &[SortKey]) -> u64 {
        let value = key.dates[self.key];
        let clamp = |position: usize| position.clamp(self.positions.start, self.positions.end);
        let (group_start, group_end) = (clamp(self.order.lower_bound(value)), clamp(self.order.upper_bound(value)));
        self.count_before_group(key, sort, group_start..group_end)
    }

    /// [`RankedPart::count_before`] for the key of this part's `index`-th
    /// position (see [`RankedPart::key_at`]): its group of ties is found by
    /// galloping from that position, not by searching the whole order.
    fn count_before_own(&self, index: usize, key: &Item<'_>, sort: &[SortKey]) -> u64 {
        let position = self.position_of_index(index, sort[0].descending);
        let group_start = self.order.group_start(position + 1, self.positions.start);
        let group_end = self.order.group_end(position, self.positions.end);
        self.count_before_group(key, sort, group_start..group_end)
    }

    /// The matches sorting strictly before `key`, whose group of tied
    /// primary values lies at `group` in the order.
    fn count_before_group(&self, key: &Item<'_>, sort: &[SortKey], group: Range<usize>) -> u64 {
        let Range { start: group_start, end: group_end } = group;
        let before = if sort[0].descending {
            self.live(group_end..self.positions.end)
        } else {
            self.live(self.positions.start..group_start)
        };
        let in_group = self.order.rows_at(group_start..group_end).iter().filter(|&&row| {
            !self.dead.contains(row) && Item::of_row(self.origin, self.segment, row).compare(key, sort).is_lt()
        });
        before + in_group.count() as u64
    }

    /// The row at the `index`-th position of the range in the request's
    /// direction (dead or alive: only its key is used).
    fn key_at(&self, index: usize, descending: bool) -> Item<'a> {
        Item::of_row(self.origin, self.segment, self.order.row_at(self.position_of_index(index, descending)))
    }

    /// The position in the order of the range's `index`-th position in the
    /// request's direction.
    fn position_of_index(&self, index: usize, descending: bool) -> usize {
        if descending {
            self.positions.end - 1 - index
        } else {
            self.positions.start + index
        }
    }
}

/// Answers a deep page of a request filtering only on its primary date key
/// by rank (see the module docs); `false`, writing nothing, when the
/// request or the page is not of that kind.
fn list_by_rank(snapshot: &Snapshot, query: &ListQuery, rank_depth: u64, out: &mut Vec<u8>) -> bool {
    let offset = query.offset();
    if offset < rank_depth {
        return false;
    }
    let sort = &query.sort;
    let parts: Option<Vec<RankedPart<'_>>> = std::iter::once(RankedPart::new(Origin::Base, &snapshot.base, query))
        .chain(snapshot.runs.iter().enumerate().map(|(number, run)| RankedPart::new(Origin::Run(number), run, query)))
        .collect();
    let Some(parts) = parts else {
        return false;
    };
    // The tail's matches sorted once: a probe counts those before its key by
    // a binary search, and the page's share of them is a slice.
    let (_, tail) = tail_matches_sorted(snapshot, query, usize::MAX);
    let counts: Vec<u64> = parts.iter().map(RankedPart::count).collect();
    let outside_base = counts[1..].iter().sum::<u64>() + tail.len() as u64;
    if outside_base < rank_depth {
        return false;
    }
    let frame = PageFrame {
        item_count: counts.iter().sum::<u64>() + tail.len() as u64,
        page: query.page,
        per_page: query.per_page,
    };
    if offset >= frame.item_count {
        write_page(snapshot, &frame, &[], query, out);
        return true;
    }
    // Each part's matches before a probe of the base's (the base's own
    // count starts from the probe's position), and their sum with the
    // tail's: the pivot's counts are where each part's window starts.
    let before_in_all = |index: usize, key: &Item<'_>| {
        let before: Vec<u64> = std::iter::once(parts[0].count_before_own(index, key, sort))
            .chain(parts[1..].iter().map(|part| part.count_before(key, sort)))
            .collect();
        let total = before.iter().sum::<u64>() + tail.partition_point(|item| item.compare(key, sort).is_lt()) as u64;
        (total, before)
    };
    // Search the base's positions for a pivot with at most `offset` matches
    // before it; the latest such probe is the closest to the page. Any such
    // pivot gives the right page (only its distance to the page costs).
    let base = &parts[0];
    let descending = sort[0].descending;
    let (mut low, mut high) = (0, base.positions.len());
    let mut pivot: Option<(Item<'_>, u64, Vec<u64>)> = None;
    // First step forward from where the base alone would put the page, less
    // the other parts' matches, by what is still missing each time (dead
    // base rows and other parts' matches passed): a few probes land near
    // the page, then bisection finishes between the last two.
    let probe = |index: usize| {
        let key = base.key_at(index, descending);
        let (before, in_parts) = before_in_all(index, &key);
        (key, before, in_parts)
    };
    let mut guess = offset.saturating_sub(outside_base);
    for _ in 0..RANK_STEPS {
        let Ok(index) = usize::try_from(guess) else { break };
        if index < low || index >= high {
            break;
        }
        let (key, before, in_parts) = probe(index);
        if before > offset {
            high = index;
            break;
        }
        pivot = Some((key, before, in_parts));
        low = index + 1;
        if before == offset {
            // Exactly `offset` matches before it: no later probe is closer.
            high = low;
            break;
        }
        guess += offset - before;
    }
    while low < high {
        let middle = low + (high - low) / 2;
        let (key, before, in_parts) = probe(middle);
        if before <= offset {
            pivot = Some((key, before, in_parts));
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    let Some((pivot, before, starts)) = pivot else {
        return false;
    };
    // The page is the matches at `skip..skip + per_page` from the pivot on.
    let skip = offset - before;
    let take = skip + u64::from(query.per_page);
    // Each part from its own rank of the pivot; runs first only
    // `FIRST_READ` deep, as in `list_into`.
    // A part's matches from the pivot on, at most `limit`, with how many
    // of them can reach the page.
    let part_rows = |number: usize, limit: u64, page_bound: Option<i64>| {
        let (part, reachable) = (&parts[number], take.min(counts[number].saturating_sub(starts[number])));
        let limit = u32::try_from(limit.min(reachable)).unwrap_or(u32::MAX);
        if limit == 0 {
            return (Vec::new(), 0, reachable);
        }
        // Only a domain: the window is the same plan from another place.
        let window = PageWindow { offset: starts[number], limit, page_bound, id_rows: None };
        (execute(part.segment, Some(part.dead), &part.plan, &window).rows, limit, reachable)
    };
    let part_matches = |number: usize, limit: u64, page_bound: Option<i64>| {
        let (rows, limit, reachable) = part_rows(number, limit, page_bound);
        let part = &parts[number];
        let items = rows.iter().map(|&row| Item::of_row(part.origin, part.segment, row)).collect();
        PartMatches::read(items, u64::from(limit), reachable)
    };
    // The base first: when it fills the window from the pivot, its last
    // primary value bounds the other parts' walks, as on a first page.
    let (base_rows, base_limit, base_reachable) = part_rows(0, take, None);
    let base_last = base_rows.last().map(|&row| Item::of_row(Origin::Base, parts[0].segment, row));
    let page_bound = match &base_last {
        Some(last) if base_rows.len() as u64 == take => Some(last.dates[parts[0].key]),
        _ => None,
    };
    let run_lists: Vec<PartMatches<'_>> =
        (1..parts.len()).map(|number| part_matches(number, take.min(FIRST_READ), page_bound)).collect();
    let tail_from = tail.partition_point(|item| item.compare(&pivot, sort).is_lt());
    let per_page = query.per_page as usize;
    let tail = &tail[tail_from..tail.len().min(tail_from.saturating_add(usize::try_from(take).unwrap_or(usize::MAX)))];
    // When every run was read far enough, the runs' and the tail's few
    // matches are placed among the base's window by binary searches: the
    // base's rows are not made into items (each would read three dates).
    if run_lists.iter().all(|list| list.complete) {
        let others = run_lists.iter().flat_map(|list| list.items.iter().copied()).chain(tail.iter().copied()).collect();
        if write_base_window_with(snapshot, &frame, &base_rows, others, skip, query, out) {
            return true;
        }
    }
    let base_list = PartMatches::read(
        base_rows.iter().map(|&row| Item::of_row(Origin::Base, parts[0].segment, row)).collect(),
        u64::from(base_limit),
        base_reachable,
    );
    let mut lists: Vec<PartMatches<'_>> = std::iter::once(base_list).chain(run_lists).collect();
    lists.push(PartMatches::all(tail.to_vec()));
    let page = merge_lists(&lists, sort, skip, per_page).unwrap_or_else(|| {
        for (number, list) in lists.iter_mut().enumerate().take(parts.len()).skip(1) {
            if !list.complete {
                *list = part_matches(number, take, page_bound);
            }
        }
        merge_lists(&lists, sort, skip, per_page).expect("every list is complete")
    });
    write_page(snapshot, &frame, &page, query, out);
    true
}
