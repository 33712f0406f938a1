//! The page by rank, for a deep page of a request that filters on nothing
//! but a range of its primary date key: every part counts its matches
//! before a key in two binary searches and the key's group of ties
//! ([`RankedPart`]), so the base's order is searched for a pivot key with
//! at most `offset` matches before it in all parts ([`search_pivot`]),
//! and each part is read from its own rank of the pivot:
//!
//! ```text
//!  base order   ────────────[pivot]────────────     before(pivot) ≤ offset
//!  every part   ·· before ··|·· skip ··|· page ·|    skip = offset − before(pivot)
//!                           └ each part's window starts at its own rank of the pivot
//! ```

use std::ops::Range;

use super::tail_matches::{tail_matches_sorted, TailMatches};
use super::{BaseWindow, Gathered, Item, Origin, PageMerge, PartMatches, FIRST_READ};
use crate::exec::{execute, PageWindow};
use crate::index::order::SortedOrder;
use crate::live::Part;
use crate::model::DateKey;
use crate::plan::{plan, Plan, RangeUse, StepKind};
use crate::request::{ListQuery, SortKey};
use crate::store::dead_rows::DeadRows;
use crate::store::Segment;

/// Most forward steps before a deep page's pivot search bisects.
const RANK_STEPS: usize = 8;

/// One segment part seen through a request that filters only on a range of
/// its primary date key: its matches are the live rows of a range of
/// positions of that key's order.
struct RankedPart<'a> {
    origin: Origin,
    segment: &'a Segment,
    dead: &'a DeadRows,
    order: &'a SortedOrder,
    /// The primary date key.
    key: DateKey,
    /// The positions of the range in `order`.
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

    /// The live rows at `positions` of the order.
    fn live(&self, positions: Range<usize>) -> u64 {
        positions.len() as u64 - self.dead.dead_at(self.key, positions)
    }

    /// The part's matches.
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

/// A probe of the pivot search: the key of one of the base's positions and
/// the matches sorting before it.
struct Probe<'a> {
    key: Item<'a>,
    /// The matches before `key` in all parts and the tail.
    before: u64,
    /// The matches before `key` in each part (the base first, then each
    /// run): where each part's window starts if `key` is the pivot.
    in_parts: Vec<u64>,
}

/// Searches positions `0..len` for a pivot, a probe with at most `offset`
/// matches before it (`before` of the probe), the closer to `offset` the
/// better: the last such position when `before` grows with the position.
///
/// It first steps forward from `guess` by what is still missing each time
/// (at most [`RANK_STEPS`] probes), so that a few probes land near the
/// page, then bisects between the last probe at most `offset` and the
/// first past it. A probe with exactly `offset` before it ends the search.
/// `None` when no probe it made qualifies (always when
/// `before(probe(0)) > offset`; never otherwise).
fn search_pivot<P>(
    len: usize,
    offset: u64,
    mut guess: u64,
    mut probe: impl FnMut(usize) -> P,
    before: impl Fn(&P) -> u64,
) -> Option<P> {
    let (mut low, mut high) = (0, len);
    let mut pivot: Option<P> = None;
    for _ in 0..RANK_STEPS {
        let Ok(index) = usize::try_from(guess) else { break };
        if index < low || index >= high {
            break;
        }
        let probed = probe(index);
        let probed_before = before(&probed);
        if probed_before > offset {
            high = index;
            break;
        }
        pivot = Some(probed);
        low = index + 1;
        if probed_before == offset {
            // Exactly `offset` matches before it: no later probe is closer.
            high = low;
            break;
        }
        guess += offset - probed_before;
    }
    // Invariant: `pivot`, if any, is the probe at `low - 1` and at most
    // `offset`; the probe at `high`, if below `len`, was past `offset` (or
    // exactly `offset` was found at `high - 1`).
    // Termination: every round shrinks `high - low`.
    while low < high {
        let middle = low + (high - low) / 2;
        let probed = probe(middle);
        if before(&probed) <= offset {
            pivot = Some(probed);
            low = middle + 1;
        } else {
            high = middle;
        }
        debug_assert!(low <= high && high <= len);
        debug_assert!(pivot.as_ref().is_none_or(|pivot| before(pivot) <= offset));
    }
    pivot
}

/// The rows of one part's window from the pivot on.
struct PivotRows {
    rows: Vec<u32>,
    /// How many were asked for.
    asked: u64,
    /// How many of the part's matches from the pivot on can reach the page.
    reachable: u64,
}

/// The parts' windows from a pivot on.
struct FromPivot<'p, 'a> {
    parts: &'p [RankedPart<'a>],
    /// Each part's matches.
    counts: &'p [u64],
    /// Each part's matches before the pivot: where its window starts.
    starts: &'p [u64],
    /// The matches from the pivot on that can reach the page's end.
    take: u64,
}

impl<'a> FromPivot<'_, 'a> {
    /// Part `number`'s matches from the pivot on, at most `limit`, walked
    /// no further than `page_bound` (see [`PageWindow::page_bound`]).
    fn rows(&self, number: usize, limit: u64, page_bound: Option<i64>) -> PivotRows {
        let (part, start) = (&self.parts[number], self.starts[number]);
        let reachable = self.take.min(self.counts[number].saturating_sub(start));
        let limit = u32::try_from(limit.min(reachable)).unwrap_or(u32::MAX);
        if limit == 0 {
            return PivotRows { rows: Vec::new(), asked: 0, reachable };
        }
        // Only a domain: the window is the same plan from another place.
        let window = PageWindow { offset: start, limit, page_bound, id_rows: None };
        let rows = execute(part.segment, Some(part.dead), &part.plan, &window).rows;
        PivotRows { rows, asked: u64::from(limit), reachable }
    }

    /// [`FromPivot::rows`] as items.
    fn matches(&self, number: usize, limit: u64, page_bound: Option<i64>) -> PartMatches<'a> {
        let PivotRows { rows, asked, reachable } = self.rows(number, limit, page_bound);
        let part = &self.parts[number];
        let items = rows.iter().map(|&row| Item::of_row(part.origin, part.segment, row)).collect();
        PartMatches::read(items, asked, reachable)
    }
}

impl<'a> PageMerge<'a> {
    /// Writes a deep page of a request filtering only on its primary date
    /// key, found by rank (see the module docs), and returns `true`; or
    /// writes nothing and returns `false` when the request or the page is
    /// not of that kind.
    pub(super) fn by_rank(&self, out: &mut Vec<u8>) -> bool {
        let (snapshot, query, offset) = (self.snapshot, self.query, self.offset);
        if offset < self.rank_depth {
            return false;
        }
        let sort = &query.sort;
        let parts: Option<Vec<RankedPart<'a>>> = std::iter::once(RankedPart::new(Origin::Base, &snapshot.base, query))
            .chain(
                snapshot.runs.iter().enumerate().map(|(number, run)| RankedPart::new(Origin::Run(number), run, query)),
            )
            .collect();
        let Some(parts) = parts else {
            return false;
        };
        // The tail's matches sorted once: a probe counts those before its key by
        // a binary search, and the page's share of them is a slice.
        let TailMatches { items: tail, .. } = tail_matches_sorted(snapshot, query, usize::MAX);
        let counts: Vec<u64> = parts.iter().map(RankedPart::count).collect();
        let outside_base = counts[1..].iter().sum::<u64>() + tail.len() as u64;
        if outside_base < self.rank_depth {
            return false;
        }
        let frame = self.frame(counts.iter().sum::<u64>() + tail.len() as u64);
        if offset >= frame.item_count {
            self.write_page(&frame, &[], out);
            return true;
        }
        // Each part's matches before a probe of the base's (the base's own
        // count starts from the probe's position), and their sum with the
        // tail's: the pivot's counts are where each part's window starts.
        let base = &parts[0];
        let descending = sort[0].descending;
        let probe = |index: usize| {
            let key = base.key_at(index, descending);
            let in_parts: Vec<u64> = std::iter::once(base.count_before_own(index, &key, sort))
                .chain(parts[1..].iter().map(|part| part.count_before(&key, sort)))
                .collect();
            let in_tail = tail.partition_point(|item| item.compare(&key, sort).is_lt()) as u64;
            Probe { key, before: in_parts.iter().sum::<u64>() + in_tail, in_parts }
        };
        // Search the base's positions for a pivot with at most `offset` matches
        // before it; the latest such probe is the closest to the page. Any such
        // pivot gives the right page (only its distance to the page costs).
        // The first probe is where the base alone would put the page, less
        // the other parts' matches.
        let guess = offset.saturating_sub(outside_base);
        let Some(pivot) = search_pivot(base.positions.len(), offset, guess, probe, |probe| probe.before) else {
            return false;
        };
        // The page is the matches at `skip..skip + per_page` from the pivot on.
        let skip = offset - pivot.before;
        let take = skip + u64::from(query.per_page);
        // Each part from its own rank of the pivot; runs first only
        // `FIRST_READ` deep, as by windows.
        let windows = FromPivot { parts: &parts, counts: &counts, starts: &pivot.in_parts, take };
        // The base first: when it fills the window from the pivot, its last
        // primary value bounds the other parts' walks, as on a first page.
        let PivotRows { rows: base_rows, asked, reachable } = windows.rows(0, take, None);
        let base_last = base_rows.last().map(|&row| Item::of_row(Origin::Base, base.segment, row));
        let page_bound = match &base_last {
            Some(last) if base_rows.len() as u64 == take => Some(last.dates[base.key]),
            _ => None,
        };
        let mut others: Vec<PartMatches<'a>> = Vec::with_capacity(parts.len() + 1);
        others.extend((1..parts.len()).map(|number| windows.matches(number, take.min(FIRST_READ), page_bound)));
        let tail_from = tail.partition_point(|item| item.compare(&pivot.key, sort).is_lt());
        let tail_to = tail.len().min(tail_from.saturating_add(usize::try_from(take).unwrap_or(usize::MAX)));
        others.push(PartMatches::all(tail[tail_from..tail_to].to_vec()));
        let complete = PartMatches::is_complete(base_rows.len() as u64, asked, reachable);
        let gathered = Gathered { frame, base: BaseWindow { rows: base_rows, complete }, others, skip };
        self.finish(gathered, |run| windows.matches(run + 1, take, page_bound), out);
        true
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use proptest::prelude::*;

    use super::*;

    /// The pivot `search_pivot` finds over positions whose matches before
    /// them are `befores`: its position and `before`, and the probes made.
    fn search(befores: &[u64], offset: u64, guess: u64) -> (Option<(usize, u64)>, usize) {
        let probes = Cell::new(0);
        let probe = |index: usize| {
            probes.set(probes.get() + 1);
            (index, befores[index])
        };
        let pivot = search_pivot(befores.len(), offset, guess, probe, |&(_, before)| before);
        (pivot, probes.get())
    }

    /// The best pivot: the largest `before` at most `offset`, if any.
    fn naive(befores: &[u64], offset: u64) -> Option<u64> {
        befores.iter().copied().filter(|&before| before <= offset).max()
    }

    #[test]
    fn pivots_at_the_edges() {
        assert_eq!(search(&[], 5, 0).0, None, "no positions");
        assert_eq!(search(&[6, 7, 9], 5, 0).0, None, "every position past the offset");
        assert_eq!(search(&[6, 7, 9], 5, 2).0, None, "a guess past the offset");
        assert_eq!(search(&[0, 1, 2], 0, 0).0, Some((0, 0)));
        assert_eq!(search(&[0, 1, 2], 99, 0).0, Some((2, 2)), "the offset past every match");
        assert_eq!(search(&[0, 1, 2], 99, 1_000).0, Some((2, 2)), "a guess past the end");
        assert_eq!(search(&[0, 1, 2], 99, u64::MAX).0, Some((2, 2)), "a guess past usize");
    }

    #[test]
    fn an_exact_guess_is_one_probe() {
        let befores: Vec<u64> = (0..1000).collect();
        assert_eq!(search(&befores, 500, 500), (Some((500, 500)), 1));
        // Every tenth base row dead: the guess falls short, and steps
        // forward by what is missing land on the pivot (450, 595, 609,
        // 610, 611) without bisecting (ten more probes after the first).
        let befores: Vec<u64> = (0..1000).map(|index| index - index / 10).collect();
        assert_eq!(search(&befores, 550, 450), (Some((611, 550)), 5));
    }

    #[test]
    fn plateaus_of_dead_rows_and_jumps_of_other_parts() {
        // Positions 1–3 hold dead rows (no change in `before`), position 5
        // follows a run's matches (a jump past the offset).
        let befores = [0, 1, 1, 1, 2, 9, 10];
        for guess in 0..8 {
            assert_eq!(search(&befores, 1, guess).0.map(|(_, before)| before), Some(1), "guess {guess}");
            assert_eq!(search(&befores, 5, guess).0, Some((4, 2)), "guess {guess}");
            assert_eq!(search(&befores, 9, guess).0, Some((5, 9)), "guess {guess}");
        }
    }

    proptest! {
        /// Counts growing with the position (plateaus, jumps): the pivot has
        /// the most matches before it of any position at most `offset`, in
        /// few probes.
        #[test]
        fn finds_the_closest_pivot(
            steps in proptest::collection::vec(prop_oneof![3 => 0u64..2, 1 => 0u64..40], 0..300),
            offset in 0u64..400,
            guess in prop_oneof![0u64..400, Just(u64::MAX)],
        ) {
            let befores: Vec<u64> = steps.iter().scan(0, |sum, step| { *sum += step; Some(*sum) }).collect();
            let (pivot, probes) = search(&befores, offset, guess);
            prop_assert_eq!(pivot.map(|(_, before)| before), naive(&befores, offset));
            if let Some((index, before)) = pivot {
                prop_assert_eq!(befores[index], before);
            }
            prop_assert!(probes <= RANK_STEPS + 1 + befores.len().max(1).ilog2() as usize + 1, "{} probes", probes);
        }

        /// Counts that do not grow (a group of tied dates walked against
        /// the request's `_id` direction): still a pivot at most `offset`,
        /// found whenever the first position is one.
        #[test]
        fn any_pivot_found_is_at_most_the_offset(
            befores in proptest::collection::vec(0u64..50, 0..100),
            offset in 0u64..50,
            guess in 0u64..120,
        ) {
            let (pivot, _) = search(&befores, offset, guess);
            if let Some((index, before)) = pivot {
                prop_assert!(before <= offset);
                prop_assert_eq!(befores[index], before);
            }
            if befores.first().is_some_and(|&first| first <= offset) {
                prop_assert!(pivot.is_some());
            }
        }
    }
}
