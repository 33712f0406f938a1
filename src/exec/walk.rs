//! The walk: the page found by going along the primary key's sorted order
//! (within the domain), testing each row's membership, in either
//! direction with one piece of code.
//!
//! A walk first skips to the page, as cheaply as its membership allows:
//!
//! ```text
//!  every row matches:    arithmetic               cursor = start + offset
//!  every live row:       fixed point on the dead  cursor = start + offset + dead(passed)
//!  any other test:       head to a block boundary, then whole blocks counted
//! ```
//!
//! then backs up to the start of the group of ties the cursor landed in
//! (ties are ordered by the later sort keys, so a group is taken whole),
//! and takes groups until the page is full.
//!
//! Positions are seen from the walk's start through a [`Span`]: for a
//! descending walk the start is the range's end, "ahead" is downwards and a
//! group's start is its highest position.

use std::ops::Range;

use roaring::RoaringBitmap;

use super::membership::Membership;
use super::sorted_page::compare_rows;
use super::{ExecStats, Job};
use crate::index::order::{SortedOrder, BLOCK};
use crate::model::DateKey;
use crate::request::{SortField, SortKey};
use crate::store::dead_rows::DeadRows;
use crate::store::Segment;

/// How far ahead of a walk, in positions, the first reads of a row's test
/// start loading (see [`Membership::prefetch_far`]).
const FAR_AHEAD: usize = 16;

/// How far ahead of a walk the second reads of a row's test start loading
/// (see [`Membership::prefetch_near`]).
const NEAR_AHEAD: usize = 8;

/// A range of positions of a sorted order, as a walk in one direction
/// meets them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Span {
    range: Range<usize>,
    descending: bool,
}

impl Span {
    pub(super) fn new(range: Range<usize>, descending: bool) -> Span {
        Span { range, descending }
    }

    fn len(&self) -> usize {
        self.range.len()
    }

    /// The position `distance` positions from the walk's start.
    fn at(&self, distance: usize) -> usize {
        if self.descending {
            self.range.end - distance
        } else {
            self.range.start + distance
        }
    }

    /// The positions between the walk's start and `cursor`.
    fn passed(&self, cursor: usize) -> Range<usize> {
        if self.descending {
            cursor..self.range.end
        } else {
            self.range.start..cursor
        }
    }

    /// The positions between `cursor` and the walk's end.
    fn ahead(&self, cursor: usize) -> Range<usize> {
        if self.descending {
            self.range.start..cursor
        } else {
            cursor..self.range.end
        }
    }

    /// Whether nothing is left ahead of `cursor`.
    fn is_done(&self, cursor: usize) -> bool {
        self.ahead(cursor).is_empty()
    }

    /// Whether `cursor` lies strictly inside the range, between two equal
    /// values of `order`: the middle of a group of ties.
    fn splits_group(&self, order: &SortedOrder, cursor: usize) -> bool {
        cursor > self.range.start && cursor < self.range.end && order.value_at(cursor - 1) == order.value_at(cursor)
    }

    /// The boundary of the group of ties around `cursor` nearest the walk's
    /// start (call only where [`Span::splits_group`]).
    fn group_back(&self, order: &SortedOrder, cursor: usize) -> usize {
        if self.descending {
            order.group_end(cursor, self.range.end)
        } else {
            order.group_start(cursor, self.range.start)
        }
    }

    /// The position `distance` ahead of the group boundary `cursor`, if
    /// the span holds it.
    fn position_ahead(&self, cursor: usize, distance: usize) -> Option<usize> {
        if self.descending {
            cursor.checked_sub(distance + 1).filter(|&position| position >= self.range.start)
        } else {
            Some(cursor + distance).filter(|&position| position < self.range.end)
        }
    }

    /// The next group of ties ahead of `cursor`, and where the walk is
    /// once it has passed it.
    fn next_group(&self, order: &SortedOrder, cursor: usize) -> (Range<usize>, usize) {
        if self.descending {
            let start = order.group_start(cursor, self.range.start);
            (start..cursor, start)
        } else {
            let end = order.group_end(cursor, self.range.end);
            (cursor..end, end)
        }
    }

    /// The first block boundary from the walk's start (or the range's far
    /// end): the positions before it are counted one by one.
    fn first_block_boundary(&self) -> usize {
        if self.descending {
            (self.range.end / BLOCK * BLOCK).max(self.range.start)
        } else {
            self.range.start.next_multiple_of(BLOCK).min(self.range.end)
        }
    }

    /// The whole block ahead of a block-aligned `cursor`, and the cursor
    /// past it; `None` when less than a block is left.
    fn block_ahead(&self, cursor: usize) -> Option<(usize, usize)> {
        if self.descending {
            (cursor >= self.range.start + BLOCK).then(|| (cursor / BLOCK - 1, cursor - BLOCK))
        } else {
            (cursor + BLOCK <= self.range.end).then(|| (cursor / BLOCK, cursor + BLOCK))
        }
    }
}

/// The page being filled by a walk.
pub(super) struct Window {
    pub(super) offset: u64,
    pub(super) limit: usize,
    /// Matches passed so far in walk order.
    pub(super) skipped: u64,
    pub(super) page: Vec<u32>,
}

impl Window {
    /// Offers the next row in walk order: whether it belongs on the page
    /// (it matches and the matches before the page have been passed).
    pub(super) fn offer(&mut self, matches: bool) -> bool {
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

/// A walk along a date key's sorted order within a range of positions.
pub(super) struct Walk<'a> {
    segment: &'a Segment,
    key: DateKey,
    order: &'a SortedOrder,
    /// How rows are tested.
    membership: Membership<'a>,
    /// The positions walked, in the primary key's direction.
    span: Span,
    /// Sort keys after the primary one.
    rest: &'a [SortKey],
}

/// Counts the matches in `positions` and walks the sorted order to the
/// page.
pub(super) fn count_and_page(
    job: &Job<'_>,
    bitmap: &RoaringBitmap,
    membership: Membership<'_>,
    positions: Range<usize>,
    stats: &mut ExecStats,
) -> (u64, Vec<u32>) {
    let walk = Walk::new(job, membership, positions.clone());
    let order = walk.order;
    let item_count = if positions.len() == order.len() {
        bitmap.len()
    } else if let Membership::Dense(_) = membership {
        walk.count(positions, stats)
    } else {
        order.count_in(bitmap, positions)
    };
    (item_count, walk.page(job.window.offset, job.limit(), stats))
}

impl<'a> Walk<'a> {
    /// A walk of the plan's primary order over `positions`, to the window's
    /// page bound if it has one (see [`Walk::reachable`]).
    pub(super) fn new(job: &Job<'a>, membership: Membership<'a>, positions: Range<usize>) -> Walk<'a> {
        let primary = job.plan.sort[0];
        let key = primary.field.date_key().expect("a walk follows a date order");
        let order = job.segment.order(key);
        let positions = Walk::reachable(order, positions, primary.descending, job.window.page_bound);
        Walk {
            segment: job.segment,
            key,
            order,
            membership,
            span: Span::new(positions, primary.descending),
            rest: &job.plan.sort[1..],
        }
    }

    /// The positions of `positions` a walk to the page must pass: all of
    /// them, or, with a page bound, those whose value does not sort past it
    /// in the request's direction (ties with the bound included).
    fn reachable(order: &SortedOrder, positions: Range<usize>, descending: bool, bound: Option<i64>) -> Range<usize> {
        let Range { start, end } = positions;
        match bound {
            None => start..end,
            Some(bound) if descending => order.lower_bound(bound).clamp(start, end)..end,
            Some(bound) => start..order.upper_bound(bound).clamp(start, end),
        }
    }

    /// The rows at `offset..offset + limit` of the walk's matches.
    pub(super) fn page(&self, offset: u64, limit: usize, stats: &mut ExecStats) -> Vec<u32> {
        let (cursor, skipped) = self.skip_to(offset, stats);
        debug_assert!(skipped <= offset, "never skip past the page");
        if let Some(dead) = self.live_in_position_order() {
            // Live rows in position order: the dead positions ahead are
            // passed over, no row is tested.
            let ahead = self.span.ahead(cursor);
            let descending = self.span.descending;
            return if descending {
                let dead = dead.dead_positions_before(self.key, cursor);
                self.take_live(dead, ahead, descending, offset - skipped, limit, stats)
            } else {
                let dead = dead.dead_positions_from(self.key, cursor);
                self.take_live(dead, ahead, descending, offset - skipped, limit, stats)
            };
        }
        let mut window = Window { offset, limit, skipped, page: Vec::with_capacity(limit) };
        let mut cursor = cursor;
        // Invariant: `window.skipped` matches lie between the start and
        // `cursor`, which is a group boundary.
        let prefetching = self.membership.reads_rows_at_random();
        while !self.span.is_done(cursor) && limit > 0 {
            if prefetching {
                if let Some(position) = self.span.position_ahead(cursor, FAR_AHEAD) {
                    self.membership.prefetch_far(self.order.row_at(position));
                }
                if let Some(position) = self.span.position_ahead(cursor, NEAR_AHEAD) {
                    self.membership.prefetch_near(self.order.row_at(position));
                }
            }
            let (group, next) = self.span.next_group(self.order, cursor);
            if self.take_group(group, &mut window, stats) {
                break;
            }
            cursor = next;
        }
        window.page
    }

    /// A group boundary at or before the `offset`th match from the walk's
    /// start, and how many matches lie before it.
    fn skip_to(&self, offset: u64, stats: &mut ExecStats) -> (usize, u64) {
        let span = &self.span;
        let start = span.at(0);
        if offset == 0 || span.len() == 0 {
            return (start, 0);
        }
        match self.membership {
            Membership::All => {
                // Every position matches: skip by arithmetic, then back up
                // to the start of the group straddling the cursor.
                let cursor = span.at(offset.min(span.len() as u64) as usize);
                let cursor = self.back_to_group(cursor);
                (cursor, span.passed(cursor).len() as u64)
            }
            Membership::Live(dead, key) => {
                // The first position reached with `offset` live rows passed:
                // from `offset` on by the dead rows passed meanwhile, a fixed
                // point a few dead-row counts away when they are sparse
                // (each step passes at least one more).
                let dead_passed = |distance: usize| dead.dead_at(key, span.passed(span.at(distance)));
                let mut distance = 0usize;
                // Invariant: `distance` positions hold at most `offset` live rows.
                let distance = loop {
                    let next = offset.saturating_add(dead_passed(distance));
                    if next >= span.len() as u64 {
                        break span.len();
                    }
                    if next as usize == distance {
                        break distance;
                    }
                    distance = next as usize;
                };
                let cursor = self.back_to_group(span.at(distance));
                let passed = span.passed(cursor);
                let live = passed.len() as u64 - dead.dead_at(key, passed);
                (cursor, live)
            }
            _ => self.skip_by_blocks(offset, stats),
        }
    }

    /// Skips the head up to the first block boundary, then whole blocks,
    /// while they hold no more than `offset` matches; then backs up to the
    /// start of the group straddling the cursor.
    fn skip_by_blocks(&self, offset: u64, stats: &mut ExecStats) -> (usize, u64) {
        let span = &self.span;
        let boundary = span.first_block_boundary();
        let head = self.count(span.passed(boundary), stats);
        if head > offset {
            return (span.at(0), 0);
        }
        let (mut cursor, mut skipped) = (boundary, head);
        // Invariant: `skipped` matches lie between the start and `cursor`,
        // and `skipped <= offset`.
        while let Some((block, next)) = span.block_ahead(cursor) {
            let hits = self.block_hits(block);
            if skipped + hits > offset {
                break;
            }
            skipped += hits;
            cursor = next;
            stats.blocks_skipped += 1;
        }
        if span.splits_group(self.order, cursor) {
            let back = span.group_back(self.order, cursor);
            let (low, high) = (back.min(cursor), back.max(cursor));
            skipped -= self.count(low..high, stats);
            cursor = back;
        }
        (cursor, skipped)
    }

    /// `cursor`, or the boundary of its group of ties nearest the start.
    fn back_to_group(&self, cursor: usize) -> usize {
        if self.span.splits_group(self.order, cursor) {
            self.span.group_back(self.order, cursor)
        } else {
            cursor
        }
    }

    /// Matches in one whole block of positions.
    fn block_hits(&self, block: usize) -> u64 {
        match self.membership {
            Membership::All => self.order.block_hits(None, block),
            Membership::Bitmap(bitmap) => self.order.block_hits(Some(bitmap), block),
            Membership::Live(dead, key) => self.order.block(block).len() - dead.dead_in_block(key, block),
            Membership::Dense(_) | Membership::AliveIn(..) | Membership::Facets(_) | Membership::Text(_) => {
                self.count(block * BLOCK..(block + 1) * BLOCK, &mut ExecStats::default())
            }
        }
    }

    /// The dead rows of a walk whose members are the live rows and whose
    /// page is in plain position order (ties in `_id` order, which is the
    /// rows' order within a group: ascending when the walk is, descending
    /// when it is too); `None` otherwise.
    fn live_in_position_order(&self) -> Option<&'a DeadRows> {
        let descending = self.span.descending;
        match (self.membership, self.rest) {
            (Membership::Live(dead, _), [] | [SortKey { field: SortField::Id, .. }, ..])
                if self.rest.first().is_none_or(|tie| tie.descending == descending) =>
            {
                Some(dead)
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

    /// The matches at `positions`, tested one by one.
    pub(super) fn count(&self, positions: Range<usize>, stats: &mut ExecStats) -> u64 {
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
        let mut hits: Vec<u32> = rows.iter().copied().filter(|&row| self.membership.contains(row)).collect();
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
            if !window.offer(self.membership.contains(row)) {
                continue;
            }
            window.page.push(row);
            if window.page.len() == window.limit {
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::PageWindow;
    use crate::model::{DateTime, Message};
    use crate::plan::plan;
    use crate::request::{ListQuery, QueryLimits};
    use proptest::prelude::*;

    #[test]
    fn a_span_is_seen_from_the_walks_start_in_either_direction() {
        let up = Span::new(10..3000, false);
        assert_eq!((up.at(0), up.at(5)), (10, 15));
        assert_eq!((up.passed(15), up.ahead(15)), (10..15, 15..3000));
        assert_eq!(up.first_block_boundary(), BLOCK);
        assert_eq!(up.block_ahead(BLOCK), Some((1, 2 * BLOCK)));
        assert_eq!(up.block_ahead(2 * BLOCK), None, "less than a block is left");
        assert!(up.is_done(3000) && !up.is_done(2999));
        let down = Span::new(10..3000, true);
        assert_eq!((down.at(0), down.at(5)), (3000, 2995));
        assert_eq!((down.passed(2995), down.ahead(2995)), (2995..3000, 10..2995));
        assert_eq!(down.first_block_boundary(), 2 * BLOCK);
        assert_eq!(down.block_ahead(2 * BLOCK), Some((1, BLOCK)));
        assert_eq!(down.block_ahead(BLOCK), None, "the first block starts below the range");
        assert!(down.is_done(10) && !down.is_done(11));
        // Within one block the boundary is the range's far end.
        assert_eq!(Span::new(5..9, false).first_block_boundary(), 9);
        assert_eq!(Span::new(5..9, true).first_block_boundary(), 5);
        assert_eq!(Span::new(0..0, false).first_block_boundary(), 0);
    }

    /// Messages whose `created` takes `values[i]` (`None`: null), `_id`s in
    /// row order.
    fn segment_of(values: &[Option<i64>]) -> Segment {
        let messages: Vec<Message> = values
            .iter()
            .enumerate()
            .map(|(index, value)| Message {
                created: value.and_then(|seconds| DateTime::from_seconds(63_000_000_000 + seconds)),
                ..Message::with_id(format!("m{index:05}"))
            })
            .collect();
        Segment::from_messages(&messages).unwrap()
    }

    /// The page a naive sort gives: members by `created` (nulls first when
    /// ascending), ties by `_id` in `id_descending`'s direction.
    fn naive(
        segment: &Segment,
        members: &[u32],
        descending: bool,
        id_descending: bool,
        offset: u64,
        limit: usize,
    ) -> Vec<u32> {
        let values = segment.dates(crate::model::Field::Created);
        let mut rows = members.to_vec();
        rows.sort_by(|&left, &right| {
            let by_value = values.get(left as usize).cmp(&values.get(right as usize));
            let by_value = if descending { by_value.reverse() } else { by_value };
            let by_id = if id_descending { right.cmp(&left) } else { left.cmp(&right) };
            by_value.then(by_id)
        });
        rows.into_iter().skip(offset as usize).take(limit).collect()
    }

    /// The page `Walk::page` gives for `membership`.
    fn walked<'a>(
        segment: &'a Segment,
        dead: Option<&'a DeadRows>,
        query: &str,
        membership: Membership<'a>,
        offset: u64,
        limit: usize,
    ) -> Vec<u32> {
        let query = ListQuery::parse(query, &QueryLimits::default()).unwrap();
        let plan = plan(segment, &query);
        let window = PageWindow { offset, limit: limit as u32, page_bound: None, id_rows: None };
        let job = Job { segment, dead, plan: &plan, window: &window, forced: None };
        let order_len = segment.order(DateKey::Created).len();
        Walk::new(&job, membership, 0..order_len).page(offset, limit, &mut ExecStats::default())
    }

    #[test]
    fn pages_at_the_edges_of_groups_blocks_and_the_end() {
        // 2,500 rows in 7 values: groups of ties straddle block boundaries.
        let values: Vec<Option<i64>> = (0..2500).map(|row| (row % 9 != 0).then_some(row % 7)).collect();
        let segment = segment_of(&values);
        let all: Vec<u32> = (0..2500).collect();
        for (query, descending, id_descending) in [
            ("sort_by=created", false, false),
            ("sort_by=-created", true, false),
            ("sort_by=-created&sort_by=-_id", true, true),
            ("sort_by=created&sort_by=-_id", false, true),
        ] {
            for (offset, limit) in [(0, 10), (1, 10), (1023, 3), (1024, 2), (2495, 10), (2500, 10), (9999, 1), (5, 0)] {
                let expected = naive(&segment, &all, descending, id_descending, offset, limit);
                let page = walked(&segment, None, query, Membership::All, offset, limit);
                assert_eq!(page, expected, "{query} offset {offset} limit {limit}");
            }
            // A bitmap membership, at offsets just around the matches held
            // by the head and by each whole block in the walk's direction,
            // where block skipping must stop exactly.
            let bitmap: RoaringBitmap = (0..2500).filter(|row| row % 3 != 1).collect();
            let members: Vec<u32> = bitmap.iter().collect();
            let order = segment.order(DateKey::Created);
            let span = Span::new(0..2500, descending);
            let mut boundaries = vec![span.first_block_boundary()];
            while let Some((_, next)) = span.block_ahead(*boundaries.last().unwrap()) {
                boundaries.push(next);
            }
            for boundary in boundaries {
                let before = order.rows_at(span.passed(boundary)).iter().filter(|&&row| bitmap.contains(row)).count();
                for offset in [before.saturating_sub(1), before, before + 1] {
                    let expected = naive(&segment, &members, descending, id_descending, offset as u64, 7);
                    let page = walked(&segment, None, query, Membership::Bitmap(&bitmap), offset as u64, 7);
                    assert_eq!(page, expected, "{query} bitmap offset {offset} at boundary {boundary}");
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Every membership, either direction, any window: the walk gives
        /// the naive page.
        #[test]
        fn walks_match_a_naive_sort(
            values in proptest::collection::vec(proptest::option::weighted(0.9, 0i64..40), 1..2600),
            chosen in proptest::collection::vec(any::<bool>(), 2600),
            dying in proptest::collection::vec(0u32..2600, 0..300),
            descending in any::<bool>(),
            id_descending in any::<bool>(),
            offset in 0u64..2700,
            limit in 0usize..40,
        ) {
            let segment = segment_of(&values);
            let rows = values.len() as u32;
            let mut dead = DeadRows::none(rows);
            for row in dying.into_iter().filter(|&row| row < rows) {
                if !dead.contains(row) {
                    dead = dead.with_row(row, 0, segment.positions_of(row));
                }
            }
            let bitmap: RoaringBitmap = (0..rows).filter(|&row| chosen[row as usize]).collect();
            let query = format!(
                "sort_by={}created&sort_by={}_id",
                if descending { "-" } else { "" },
                if id_descending { "-" } else { "" }
            );
            let all: Vec<u32> = (0..rows).collect();
            let live: Vec<u32> = (0..rows).filter(|&row| !dead.contains(row)).collect();
            let in_bitmap: Vec<u32> = bitmap.iter().collect();
            let alive_in: Vec<u32> = bitmap.iter().filter(|&row| !dead.contains(row)).collect();
            let cases: [(&str, &[u32], Option<&DeadRows>); 4] =
                [("all", &all, None), ("live", &live, Some(&dead)), ("bitmap", &in_bitmap, None), ("alive in", &alive_in, Some(&dead))];
            for (name, members, dead_rows) in cases {
                let expected = naive(&segment, members, descending, id_descending, offset, limit);
                let membership = match name {
                    "all" => Membership::All,
                    "live" => Membership::Live(&dead, DateKey::Created),
                    "bitmap" => Membership::Bitmap(&bitmap),
                    _ => Membership::AliveIn(&bitmap, &dead),
                };
                let page = walked(&segment, dead_rows, &query, membership, offset, limit);
                prop_assert_eq!(page, expected, "{} {}", name, query);
            }
        }
    }
}
