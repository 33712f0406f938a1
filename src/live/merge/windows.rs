//! The page by windows: every part gives the window of its matches that
//! can reach the page, and their merge holds it (see the module docs of
//! [`super`] for where the base's window starts).
//!
//! ```text
//!  runs   first FIRST_READ matches each    (read again to `want` if the merge runs past them)
//!  tail   first `want` matches             (every message tested; the others only counted)
//!  base   matches from offset − (small)    (or from 0 on a first page, read first)
//! ```

use super::bounds::{base_lead, facet_only_selection, first_sorts_after, rows_reaching_id, sorts_before};
use super::tail_matches::{tail_first_in_id_order, tail_matches_sorted, TailMatches};
use super::{merge_lists, BaseWindow, Gathered, IdRef, Item, Origin, PageMerge, PartMatches, FIRST_READ};
use crate::exec::{execute, live_id_order_page, Execution, PageWindow};
use crate::index::facets::FacetSelection;
use crate::plan::plan_window;
use crate::request::SortField;

/// A run's match count and its matches read for the page.
struct RunMatches<'a> {
    count: u64,
    matches: PartMatches<'a>,
}

/// A request filtering only on facets whose full base window ended at
/// `row`: a run whose first row in the accepted `cells` sorts after it
/// has nothing for the page, and its count is in its facet counts.
struct FacetBound {
    selection: FacetSelection,
    /// `selection`'s cells.
    cells: Vec<usize>,
    /// The base window's last row.
    row: u32,
}

/// How the runs are read for a page, given what a full first base window
/// tells of it: at most one of the bounds is set.
struct RunReader<'m, 'a> {
    merge: &'m PageMerge<'a>,
    /// The base window's last primary date value (a date order).
    page_bound: Option<i64>,
    /// The base window's last `_id` (an `_id` order): in `_id` order a
    /// run's rows are its order, so those past it (in the request's
    /// direction) cannot reach the page, and a run is asked for no more
    /// matches than it has rows before it.
    id_bound: Option<IdRef<'a>>,
    facet_bound: Option<FacetBound>,
    /// Whether the request is in `_id` order and filters nothing: every
    /// live row of a run matches, in row order.
    unfiltered_id_order: bool,
}

impl<'a> RunReader<'_, 'a> {
    /// Run `number`'s match count and its first `limit` matches at most.
    fn read(&self, number: usize, limit: u64) -> RunMatches<'a> {
        let (snapshot, query) = (self.merge.snapshot, self.merge.query);
        let (base, run, primary) = (&snapshot.base, &snapshot.runs[number], query.sort[0]);
        if let Some(FacetBound { selection, cells, row }) = &self.facet_bound {
            if first_sorts_after(&run.segment, cells, query, &base.segment, *row) {
                let count = run.segment.facets().count(selection) - run.dead.facet_count(selection);
                return RunMatches { count, matches: PartMatches::all(Vec::new()) };
            }
        }
        let rows_reaching =
            self.id_bound.as_ref().map(|bound| rows_reaching_id(&run.segment, bound, primary.descending));
        let limit = limit.min(run.dead.live_count()).min(rows_reaching.unwrap_or(u64::MAX));
        let (item_count, rows) = if self.unfiltered_id_order {
            // Every live row matches, in row order: no plan needed.
            let rows = live_id_order_page(&run.dead, primary.descending, 0, limit as usize);
            (run.dead.live_count(), rows)
        } else {
            let plan = plan_window(&run.segment, query, 0, limit as u32);
            let window = PageWindow {
                page_bound: self.page_bound,
                id_rows: rows_reaching.map(|rows| u32::try_from(rows).unwrap_or(u32::MAX)),
                ..PageWindow::of(&plan)
            };
            let execution = execute(&run.segment, Some(&run.dead), &plan, &window);
            (execution.item_count, execution.rows)
        };
        let items: Vec<Item<'a>> = rows
            .iter()
            .map(|&row| Item::of_row(Origin::Run(number), &run.segment, row).keyed_for(&query.sort))
            .collect();
        let mut matches = PartMatches::read(items, limit, item_count.min(self.merge.want));
        // Asked for as many as it has rows that can reach: all of those read.
        matches.complete |= rows_reaching.is_some_and(|reaching| limit >= reaching);
        RunMatches { count: item_count, matches }
    }
}

impl<'a> PageMerge<'a> {
    /// Writes the page from each part's window of matches that can reach
    /// it.
    pub(super) fn by_windows(&self, out: &mut Vec<u8>) {
        let (snapshot, query) = (self.snapshot, self.query);
        let (base, primary) = (&snapshot.base, query.sort[0]);
        // The base's window starts at `offset` less the small parts' matches
        // (at most that many precede the page), so its matches before `start`
        // cannot reach the page. On a first page it starts at 0 whatever they
        // are: the base is read first, and a full window's last primary value
        // bounds the runs' walks (a run's match sorting past it has a full page
        // of base matches before it). A first page that recent writes may
        // lead (see `base_lead`) reads the runs and the tail first, unbounded.
        let lead = if self.offset == 0 { base_lead(snapshot, query) } else { None };
        let first_page_base = (self.offset == 0 && lead.is_none()).then(|| self.base_window(0));
        // Full: every base match from 0 that can reach the page.
        let last_of_full_base = match &first_page_base {
            Some(execution) if execution.rows.len() as u64 == self.want && self.want > 0 => {
                execution.rows.last().copied()
            }
            _ => None,
        };
        let date_order = primary.field != SortField::Id;
        // Each part's matches come in the request's order: merge them, never
        // sort. A run is read only `FIRST_READ` matches deep at first (few of
        // its matches reach a page); only if the merge runs past them is it read
        // again to `want`.
        let runs = RunReader {
            merge: self,
            page_bound: last_of_full_base
                .filter(|_| date_order)
                .map(|row| base.segment.dates(primary.field.field()).get(row as usize)),
            id_bound: last_of_full_base.filter(|_| !date_order).map(|row| IdRef::resolved(&base.segment, row)),
            facet_bound: last_of_full_base.filter(|_| date_order).and_then(|row| {
                let selection = facet_only_selection(&base.segment, query)?;
                Some(FacetBound { cells: selection.cells(), selection, row })
            }),
            unfiltered_id_order: !date_order && query.filters_nothing(),
        };
        let mut lists: Vec<PartMatches<'a>> = Vec::with_capacity(snapshot.runs.len() + 2);
        let mut small_count = 0u64;
        for number in 0..snapshot.runs.len() {
            let RunMatches { count, matches } = runs.read(number, self.want.min(FIRST_READ));
            small_count += count;
            lists.push(matches);
        }
        let keep = usize::try_from(self.want).unwrap_or(usize::MAX);
        let tail = if date_order {
            // Only the tail's first `want` matches can reach the page.
            tail_matches_sorted(snapshot, query, keep)
        } else {
            // The tail is in `_id` order already: its first `want` matches in
            // the request's direction, the others only counted.
            tail_first_in_id_order(snapshot, query, keep, runs.id_bound.as_ref())
        };
        let TailMatches { count, items } = tail;
        small_count += count;
        lists.push(PartMatches::all(items));
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
                self.write_page(&self.frame(counted.item_count + small_count), &page, out);
                return;
            }
        }
        let start = self.offset.saturating_sub(small_count);
        let execution = first_page_base.unwrap_or_else(|| self.base_window(start));
        let gathered = Gathered {
            frame: self.frame(execution.item_count + small_count),
            base: BaseWindow { rows: execution.rows, complete: true },
            others: lists,
            skip: self.offset - start,
        };
        self.finish(gathered, |number| runs.read(number, self.want).matches, out);
    }

    /// The base's matches from position `start` on that can reach the
    /// page, with its match count.
    fn base_window(&self, start: u64) -> Execution {
        let base = &self.snapshot.base;
        let limit = (self.want - start).min(base.dead.live_count()) as u32;
        let plan = plan_window(&base.segment, self.query, start, limit);
        execute(&base.segment, Some(&base.dead), &plan, &PageWindow::of(&plan))
    }
}
