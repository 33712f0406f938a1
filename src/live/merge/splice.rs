//! The other parts' few matches placed among a window of the base's
//! matches by binary searches, so that only the base rows they are
//! compared with are read for their keys, not every row of the window:
//!
//! ```text
//!  base rows   r0 r1 r2 r3 r4 r5 …        (the window, in the request's order)
//!  inside          x        y             each placed by a binary search
//!  after                              z   (sorting past the last row)
//!  merged      r0 x r1 r2 r3 y r4 r5 … z
//! ```

use super::{Entry, Item, Origin, PageMerge};
use crate::output::PageFrame;
use crate::request::SortKey;
use crate::store::Segment;

impl PageMerge<'_> {
    /// Writes the page at `skip` of the merge of a window of the base's
    /// matches (`rows`, in the request's order) with `others`, every match of
    /// the other parts that can reach it, by placing the others among the rows
    /// (see [`splice_page`]), and returns `true`; or writes nothing and returns
    /// `false` when that would cost more than making every row an item and
    /// merging: when the others sorting inside the window are not few beside
    /// it (a first page of 10 beside a dozen tail matches, say, against a
    /// deep page of 100 with a stray run match or two).
    pub(super) fn write_base_window_with(
        &self,
        frame: &PageFrame,
        rows: &[u32],
        others: Vec<Item<'_>>,
        skip: u64,
        out: &mut Vec<u8>,
    ) -> bool {
        let sort = &self.query.sort;
        let segment = &self.snapshot.base.segment;
        let per_page = self.query.per_page as usize;
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
        self.write_entries(frame, &page, out);
        true
    }
}

/// The entries at `skip..skip + take` of the merge of a window of the
/// base's matches, given as its rows in the request's order, with the
/// other parts' matches that can reach them, sorted: `inside`, all sorting
/// before the last row, each placed among the rows by a binary search (so
/// that only the rows it compares with are read for their keys, not every
/// row of the window), and `after`, which follow all the rows.
fn splice_page(
    segment: &Segment,
    rows: &[u32],
    inside: &[Item<'_>],
    after: &[Item<'_>],
    sort: &[SortKey],
    skip: u64,
    take: usize,
) -> Vec<Entry> {
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
            inside[other - 1].entry()
        } else if row < rows.len() {
            row += 1;
            Entry { origin: Origin::Base, index: rows[row - 1] }
        } else if let Some(item) = after.next() {
            item.entry()
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
