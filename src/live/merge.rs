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

use std::borrow::Cow;
use std::cmp::Ordering;

use super::Snapshot;
use crate::exec::execute_live;
use crate::model::{DateTime, Message};
use crate::output::PageFrame;
use crate::plan::plan_window;
use crate::reference::matches;
use crate::request::{ListQuery, SortField, SortKey};
use crate::store::column::NULL_DATE;
use crate::store::Segment;

/// Which part an item comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    Base,
    Run(usize),
    Tail,
}

/// An `_id` as a segment stores it (its JSON text) or as a message holds
/// it; decoded only when two are compared and one has an escape.
#[derive(Clone, Copy, Debug)]
enum IdRef<'a> {
    Fragment(&'a [u8]),
    Raw(&'a str),
}

impl IdRef<'_> {
    fn bytes(&self) -> Cow<'_, [u8]> {
        match *self {
            IdRef::Raw(raw) => Cow::Borrowed(raw.as_bytes()),
            IdRef::Fragment(fragment) => {
                let inner = &fragment[1..fragment.len() - 1];
                if memchr::memchr(b'\\', inner).is_none() {
                    Cow::Borrowed(inner)
                } else {
                    let decoded: String = serde_json::from_slice(fragment).expect("stored `_id`s are JSON strings");
                    Cow::Owned(decoded.into_bytes())
                }
            }
        }
    }
}

/// A match with its sort keys, from any part.
#[derive(Debug)]
struct Item<'a> {
    origin: Origin,
    /// The row in its segment, or the position in the tail.
    index: u32,
    /// `created`, `modified`, `date_time` in seconds ([`NULL_DATE`] for
    /// `null`, the smallest value).
    dates: [i64; 3],
    id: IdRef<'a>,
}

impl<'a> Item<'a> {
    fn of_row(origin: Origin, segment: &'a Segment, row: u32) -> Item<'a> {
        let date = |key: SortField| segment.dates(key.field())[row as usize];
        Item {
            origin,
            index: row,
            dates: [date(SortField::Created), date(SortField::Modified), date(SortField::DateTime)],
            id: IdRef::Fragment(segment.dict(crate::model::Field::Id).fragment(row)),
        }
    }

    fn of_message(position: usize, message: &'a Message) -> Item<'a> {
        let seconds = |value: Option<DateTime>| value.map_or(NULL_DATE, DateTime::seconds);
        Item {
            origin: Origin::Tail,
            index: position as u32,
            dates: [seconds(message.created), seconds(message.modified), seconds(message.date_time)],
            id: IdRef::Raw(&message.id),
        }
    }

    fn compare(&self, other: &Item<'_>, sort: &[SortKey]) -> Ordering {
        for key in sort {
            let ordering = match key.field {
                SortField::Id => self.id.bytes().cmp(&other.id.bytes()),
                SortField::Created => self.dates[0].cmp(&other.dates[0]),
                SortField::Modified => self.dates[1].cmp(&other.dates[1]),
                SortField::DateTime => self.dates[2].cmp(&other.dates[2]),
            };
            let ordering = if key.descending { ordering.reverse() } else { ordering };
            if ordering.is_ne() {
                return ordering;
            }
        }
        Ordering::Equal
    }
}

/// Appends the 200 body of a list request answered from a snapshot.
pub(crate) fn list_into(snapshot: &Snapshot, query: &ListQuery, out: &mut Vec<u8>) {
    let base = &snapshot.base;
    let mut frame = PageFrame { item_count: 0, page: query.page, per_page: query.per_page };
    if snapshot.is_base_only() {
        let execution = execute_live(&base.segment, None, &crate::plan::plan(&base.segment, query), None);
        frame.item_count = execution.item_count;
        frame.write_body(out, |out| base.segment.write_items(&execution.rows, &query.attributes, out));
        return;
    }
    let offset = query.offset();
    let want = offset.saturating_add(u64::from(query.per_page));

    let mut small: Vec<Item<'_>> = Vec::new();
    let mut small_count = 0u64;
    for (number, run) in snapshot.runs.iter().enumerate() {
        let limit = want.min(run.deleted.live_count()) as u32;
        let plan = plan_window(&run.segment, query, 0, limit);
        let execution = execute_live(&run.segment, Some(&run.deleted), &plan, None);
        small_count += execution.item_count;
        small.extend(execution.rows.iter().map(|&row| Item::of_row(Origin::Run(number), &run.segment, row)));
    }
    for (position, message) in snapshot.tail.iter().enumerate() {
        if matches(message, query) {
            small_count += 1;
            small.push(Item::of_message(position, message));
        }
    }
    // Only the first `want` small matches can reach the page: select them,
    // then sort that prefix.
    let keep = usize::try_from(want).unwrap_or(usize::MAX).min(small.len());
    if keep < small.len() {
        small.select_nth_unstable_by(keep, |left, right| left.compare(right, &query.sort));
        small.truncate(keep);
    }
    small.sort_unstable_by(|left, right| left.compare(right, &query.sort));

    let start = offset.saturating_sub(small_count);
    let limit = (want - start).min(base.deleted.live_count()) as u32;
    let plan = plan_window(&base.segment, query, start, limit);
    let execution = execute_live(&base.segment, Some(&base.deleted), &plan, None);
    frame.item_count = execution.item_count + small_count;

    let mut merged: Vec<Item<'_>> =
        execution.rows.iter().map(|&row| Item::of_row(Origin::Base, &base.segment, row)).collect();
    merged.extend(small);
    merged.sort_unstable_by(|left, right| left.compare(right, &query.sort));
    let first = usize::try_from(offset - start).unwrap_or(usize::MAX);
    frame.write_body(out, |out| {
        for (position, item) in merged.iter().skip(first).take(query.per_page as usize).enumerate() {
            if position > 0 {
                out.push(b',');
            }
            match item.origin {
                Origin::Base => base.segment.write_row(item.index, &query.attributes, out),
                Origin::Run(number) => snapshot.runs[number].segment.write_row(item.index, &query.attributes, out),
                Origin::Tail => snapshot.tail[item.index as usize].write_json(out, &query.attributes),
            }
        }
    });
}
