//! Pages found without walking a date order: by rank when rows are
//! already in `_id` order, or by collecting the matches and sorting only
//! up to the page's end.

use std::cmp::Ordering;
use std::ops::Range;

use roaring::RoaringBitmap;

use super::{ExecStats, Execution, Job, PageStrategy};
use crate::index::order::BLOCK;
use crate::plan::{BLOCK_OPERATION, RANDOM_ACCESS};
use crate::request::{SortField, SortKey};
use crate::store::dead_rows::DeadRows;
use crate::store::Segment;

/// The page when the primary key is `_id`: rows are in that order, so the
/// page is found by rank among the matches (`None`: every row).
pub(super) fn id_order(job: &Job<'_>, matches: Option<&RoaringBitmap>, mut stats: ExecStats) -> Execution {
    let descending = job.plan.sort[0].descending;
    let (offset, limit) = (job.window.offset, job.limit());
    stats.strategy = Some(PageStrategy::IdOrder);
    if let (None, Some(dead)) = (matches, job.dead) {
        let rows = live_id_order_page(dead, descending, offset, limit);
        return Execution { item_count: dead.live_count(), rows, stats };
    }
    let row_count = job.segment.row_count();
    let item_count = matches.map_or(u64::from(row_count), RoaringBitmap::len);
    let rows = id_order_page(matches, row_count, descending, offset, limit);
    Execution { item_count, rows, stats }
}

/// The rows at `offset..offset + limit` in `_id` order (`descending`: the
/// largest first) among `matches` (`None`: every row).
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
pub(crate) fn live_id_order_page(dead: &DeadRows, descending: bool, offset: u64, limit: usize) -> Vec<u32> {
    let total = dead.live_count();
    if offset >= total || limit == 0 {
        return Vec::new();
    }
    let take = (total - offset).min(limit as u64) as usize;
    let mut rows = Vec::with_capacity(take);
    let rank = if descending { total - 1 - offset } else { offset };
    let mut row = dead.select_live(rank).expect("rank < live count");
    // Invariant: `row` is live or dead, and every live row between the
    // first and `row` (in the walk's direction) is in `rows` or skipped.
    loop {
        if !dead.contains(row) {
            rows.push(row);
            if rows.len() == take {
                break;
            }
        }
        row = if descending { row - 1 } else { row + 1 };
    }
    rows
}

/// Collects the matches (restricted to the domain) and sorts only up to
/// the page's end.
pub(super) fn collect(
    job: &Job<'_>,
    bitmap: &RoaringBitmap,
    positions: Range<usize>,
    stats: &mut ExecStats,
) -> (u64, Vec<u32>) {
    let key = job.plan.sort[0].field.date_key().expect("a date order");
    let order = job.segment.order(key);
    let values = job.segment.dates(key.field());
    let by_blocks = positions.len() as f64 / BLOCK as f64 * BLOCK_OPERATION + 2.0 * BLOCK as f64;
    let mut rows: Vec<u32> = match job.plan.domain() {
        // Many candidates: intersect with the domain's rows built from its
        // blocks instead of reading every candidate's value.
        Some(_) if bitmap.len() as f64 * RANDOM_ACCESS > by_blocks => {
            (order.range_bitmap(positions) & bitmap).iter().collect()
        }
        Some(domain) => {
            stats.rows_examined += bitmap.len();
            bitmap.iter().filter(|&row| (domain.from..=domain.to).contains(&values.get(row as usize))).collect()
        }
        None => {
            stats.rows_examined += bitmap.len();
            bitmap.iter().collect()
        }
    };
    let item_count = rows.len() as u64;
    (item_count, top_window(job.segment, &mut rows, &job.plan.sort, job.window.offset, job.limit()))
}

/// Compares two rows by sort keys.
pub(super) fn compare_rows(segment: &Segment, keys: &[SortKey], left: u32, right: u32) -> Ordering {
    for key in keys {
        let ordering = match key.field {
            SortField::Id => left.cmp(&right),
            SortField::Date(date) => {
                let values = segment.dates(date.field());
                values.get(left as usize).cmp(&values.get(right as usize))
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
pub(super) fn top_window(segment: &Segment, rows: &mut [u32], keys: &[SortKey], offset: u64, limit: usize) -> Vec<u32> {
    // A window of no rows (a count-only plan) selects nothing.
    if offset >= rows.len() as u64 || limit == 0 {
        return Vec::new();
    }
    let offset = offset as usize;
    let end = (offset + limit).min(rows.len());
    let Some((SortKey { field: SortField::Date(date), descending }, rest)) = keys.split_first() else {
        let compare = |left: &u32, right: &u32| compare_rows(segment, keys, *left, *right);
        return sorted_up_to(rows, end, compare)[offset..].to_vec();
    };
    // The rows lie scattered over the date column: each row's first key is
    // read once, beside the row, instead of at every comparison. `!value`
    // orders a descending key (it reverses `i64`'s order, null included).
    let values = segment.dates(date.field());
    let mut keyed: Vec<(i64, u32)> = rows
        .iter()
        .map(|&row| {
            let value = values.get(row as usize);
            (if *descending { !value } else { value }, row)
        })
        .collect();
    let compare = |left: &(i64, u32), right: &(i64, u32)| {
        left.0.cmp(&right.0).then_with(|| compare_rows(segment, rest, left.1, right.1))
    };
    sorted_up_to(&mut keyed, end, compare)[offset..].iter().map(|&(_, row)| row).collect()
}

/// The first `end` of `items` in `compare`'s order, sorted: only they are
/// sorted, after selecting them (`end` is at least 1 and at most the
/// length).
fn sorted_up_to<T>(items: &mut [T], end: usize, compare: impl Fn(&T, &T) -> Ordering) -> &[T] {
    if end < items.len() {
        items.select_nth_unstable_by(end - 1, &compare);
    }
    items[..end].sort_unstable_by(compare);
    &items[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The naive page: every match in `_id` order, then the window.
    fn naive(matches: &[u32], descending: bool, offset: u64, limit: usize) -> Vec<u32> {
        let mut rows = matches.to_vec();
        if descending {
            rows.reverse();
        }
        rows.into_iter().skip(offset.min(usize::MAX as u64) as usize).take(limit).collect()
    }

    #[test]
    fn id_order_pages_cover_the_edges() {
        let bitmap: RoaringBitmap = [1, 4, 9].into_iter().collect();
        assert_eq!(id_order_page(Some(&bitmap), 10, false, 0, 2), [1, 4]);
        assert_eq!(id_order_page(Some(&bitmap), 10, true, 0, 2), [9, 4]);
        assert_eq!(id_order_page(Some(&bitmap), 10, true, 2, 5), [1]);
        assert!(id_order_page(Some(&bitmap), 10, false, 3, 5).is_empty(), "a page past the end");
        assert_eq!(id_order_page(None, 5, true, 1, 2), [3, 2]);
        assert_eq!(id_order_page(None, 5, false, 4, 9), [4]);
        assert!(id_order_page(None, 5, false, u64::MAX, 9).is_empty());
        assert!(id_order_page(None, 0, false, 0, 9).is_empty(), "no rows at all");
    }

    proptest! {
        #[test]
        fn id_order_pages_match_a_naive_window(
            rows in proptest::collection::btree_set(0u32..300, 0..80),
            whole in any::<bool>(),
            descending in any::<bool>(),
            offset in 0u64..100,
            limit in 0usize..20,
        ) {
            let row_count = 300;
            let matches: Vec<u32> = if whole { (0..row_count).collect() } else { rows.into_iter().collect() };
            let bitmap: RoaringBitmap = matches.iter().copied().collect();
            let page = id_order_page((!whole).then_some(&bitmap), row_count, descending, offset, limit);
            prop_assert_eq!(page, naive(&matches, descending, offset, limit));
        }

        #[test]
        fn live_id_order_pages_skip_dead_rows(
            dead_rows in proptest::collection::btree_set(0u32..200, 0..120),
            descending in any::<bool>(),
            offset in 0u64..220,
            limit in 0usize..30,
        ) {
            let mut dead = DeadRows::none(200);
            for &row in &dead_rows {
                dead = dead.with_row(row, 0, Default::default());
            }
            let live: Vec<u32> = (0..200).filter(|row| !dead_rows.contains(row)).collect();
            let page = live_id_order_page(&dead, descending, offset, limit);
            prop_assert_eq!(page, naive(&live, descending, offset, limit));
        }
    }
}
