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
//! positions) plus the key's group of ties; [`PageMerge::by_rank`] bisects the
//! base's order for a pivot key with at most `offset` matches before it in
//! all parts, then reads only `offset - before + per_page` matches from
//! each part at its own rank of the pivot.
//!
//! The files, one concept each:
//!
//! ```text
//!  mod.rs           PageMerge: the page by windows or by rank, one finish for both
//!  windows.rs       the page by windows: each part's first matches that can reach it
//!  ranked.rs        the page by rank: RankedPart and the pivot search
//!  bounds.rs        what lets a part be read less deep than the page
//!  tail_matches.rs  the tail's matches in the request's order
//!  lists.rs         PartMatches and merge_lists, the k-way merge of the parts' lists
//!  splice.rs        the other parts' few matches placed among the base's window
//!  items.rs         Item: a match from any part with its sort keys
//! ```

mod bounds;
mod items;
mod lists;
mod ranked;
mod splice;
mod tail_matches;
mod windows;

use super::State;
use crate::exec::{execute, PageWindow};
use crate::output::PageFrame;
use crate::plan::plan;
use crate::request::ListQuery;
use items::{Entry, IdRef, Item, Origin};
use lists::{merge_lists, PartMatches};

/// How deep a run is read at first, by windows or by rank: few of its
/// matches reach a page, and only if the merge runs past them is it read
/// again, as deep as the page.
const FIRST_READ: u64 = 16;

/// One list request answered from one snapshot: the page found by windows
/// ([`PageMerge::by_windows`]) or by rank ([`PageMerge::by_rank`]), both
/// ending in one finish ([`PageMerge::finish`]) that merges the parts'
/// matches and writes the page.
pub(crate) struct PageMerge<'a> {
    snapshot: &'a State,
    query: &'a ListQuery,
    /// Pages at least this deep, when at least as many matches lie outside
    /// the base, are found by rank where the request allows it.
    rank_depth: u64,
    /// The position of the page's first item among all matches.
    offset: u64,
    /// `offset + per_page`: the matches from the first that can reach the
    /// page's end.
    want: u64,
}

/// The base's matches from some position on that can reach the page, in
/// the request's order.
struct BaseWindow {
    /// The rows, in the request's order.
    rows: Vec<u32>,
    /// Whether `rows` holds every one of them (see [`PartMatches::complete`]).
    complete: bool,
}

/// What the finish merges: the base's window and the other parts' matches
/// that can reach the page, and where the page starts in their merge.
struct Gathered<'a> {
    /// The page frame, with every part's match count.
    frame: PageFrame,
    /// The base's window.
    base: BaseWindow,
    /// Each run's matches, in run order, then the tail's (complete).
    others: Vec<PartMatches<'a>>,
    /// The page's first position in the merge of `base` and `others`.
    skip: u64,
}

impl<'a> PageMerge<'a> {
    /// The request `query` on `snapshot`; pages at least `rank_depth` deep
    /// may be found by rank.
    pub(crate) fn new(snapshot: &'a State, query: &'a ListQuery, rank_depth: u64) -> PageMerge<'a> {
        let offset = query.offset();
        let want = offset.saturating_add(u64::from(query.per_page));
        PageMerge { snapshot, query, rank_depth, offset, want }
    }

    /// Appends the 200 body of the request.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        if self.snapshot.is_base_only() {
            let segment = &self.snapshot.base.segment;
            let plan = plan(segment, self.query);
            let execution = execute(segment, None, &plan, &PageWindow::of(&plan));
            let frame = self.frame(execution.item_count);
            frame.write_body(out, |out| segment.write_items(&execution.rows, &self.query.attributes, out));
            return;
        }
        if !self.by_rank(out) {
            self.by_windows(out);
        }
    }

    /// The page frame of the request with `item_count` matches.
    fn frame(&self, item_count: u64) -> PageFrame {
        PageFrame { item_count, page: self.query.page, per_page: self.query.per_page }
    }

    /// Writes the page at `gathered.skip` of the merge of the gathered
    /// matches. When every run was read far enough, the others' few matches
    /// are placed among the base's window by binary searches, the base's
    /// rows not made into items (each would read three dates); otherwise,
    /// or when they are not few, every list is merged, and the runs a merge
    /// ran past are read again with `reread` (a run's number to every one of
    /// its matches that can reach the page).
    fn finish(&self, gathered: Gathered<'a>, mut reread: impl FnMut(usize) -> PartMatches<'a>, out: &mut Vec<u8>) {
        let Gathered { frame, base, mut others, skip } = gathered;
        let (sort, per_page) = (&self.query.sort, self.query.per_page as usize);
        if others.iter().all(|list| list.complete) {
            let items = others.iter().flat_map(|list| list.items.iter().copied()).collect();
            if self.write_base_window_with(&frame, &base.rows, items, skip, out) {
                return;
            }
        }
        let segment = &self.snapshot.base.segment;
        let base_items = base.rows.iter().map(|&row| Item::of_row(Origin::Base, segment, row).keyed_for(sort));
        others.push(PartMatches { items: base_items.collect(), complete: base.complete });
        let lists = &mut others;
        let page = merge_lists(lists, sort, skip, per_page).unwrap_or_else(|| {
            for (number, list) in lists.iter_mut().enumerate().take(self.snapshot.runs.len()) {
                if !list.complete {
                    *list = reread(number);
                }
            }
            merge_lists(lists, sort, skip, per_page).expect("every list is complete")
        });
        self.write_page(&frame, &page, out);
    }

    /// Writes the page frame with the first `per_page` of `items`.
    fn write_page(&self, frame: &PageFrame, items: &[Item<'_>], out: &mut Vec<u8>) {
        let entries: Vec<Entry> = items.iter().map(Item::entry).collect();
        self.write_entries(frame, &entries, out);
    }

    /// Writes the page frame with the first `per_page` of `entries`.
    fn write_entries(&self, frame: &PageFrame, entries: &[Entry], out: &mut Vec<u8>) {
        let (snapshot, attributes) = (self.snapshot, &self.query.attributes);
        let entries = &entries[..entries.len().min(self.query.per_page as usize)];
        frame.write_body(out, |out| {
            // Consecutive items of one segment are written together, so that
            // their values' cache misses overlap (`Segment::write_items`).
            for (position, stretch) in entries.chunk_by(|left, right| left.origin == right.origin).enumerate() {
                if position > 0 {
                    out.push(b',');
                }
                let segment = match stretch[0].origin {
                    Origin::Base => &snapshot.base.segment,
                    Origin::Run(number) => &snapshot.runs[number].segment,
                    Origin::Tail => {
                        for (index, entry) in stretch.iter().enumerate() {
                            if index > 0 {
                                out.push(b',');
                            }
                            snapshot.tail[entry.index as usize].message.write_json(out, attributes);
                        }
                        continue;
                    }
                };
                let rows: Vec<u32> = stretch.iter().map(|entry| entry.index).collect();
                segment.write_items(&rows, attributes, out);
            }
        });
    }
}
