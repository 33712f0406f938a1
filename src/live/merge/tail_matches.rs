//! The tail's matches (the tail has no index: every message is tested),
//! counted, with the first of them in the request's order.

use super::{IdRef, Item};
use crate::live::{State, TailFilter};
use crate::model::Message;
use crate::request::{ListQuery, SortField, SortKey};

/// How many of the tail's messages match a request, and the first of them
/// in the request's order.
pub(super) struct TailMatches<'a> {
    /// The tail's matches.
    pub(super) count: u64,
    /// At most as many as asked for.
    pub(super) items: Vec<Item<'a>>,
}

/// Keeps the first `keep` of `items` in the order of `sort`, sorted: a
/// selection first, so that only those are sorted.
fn keep_first_sorted(items: &mut Vec<Item<'_>>, keep: usize, sort: &[SortKey]) {
    if keep < items.len() {
        items.select_nth_unstable_by(keep, |left, right| left.compare(right, sort));
        items.truncate(keep);
    }
    items.sort_unstable_by(|left, right| left.compare(right, sort));
}

/// The tail's messages that match the request (the tail is not indexed).
fn tail_matches<'a>(snapshot: &'a State, query: &ListQuery) -> Vec<Item<'a>> {
    let filter = TailFilter::new(query);
    let matching = snapshot.tail.iter().enumerate().filter(|(_, written)| filter.matches(written));
    matching.map(|(position, written)| Item::of_message(position, &written.message)).collect()
}

/// How many of the tail's messages match the request, and the first
/// `keep` of them in the request's order: taken in the tail's date order
/// when the request sorts by one date key then `_id` (groups of tied dates
/// in the key's direction, each in the `_id` direction), otherwise
/// selected and sorted.
pub(super) fn tail_matches_sorted<'a>(snapshot: &'a State, query: &ListQuery, keep: usize) -> TailMatches<'a> {
    let sorted = |mut matches: Vec<Item<'a>>| {
        let count = matches.len() as u64;
        keep_first_sorted(&mut matches, keep, &query.sort);
        TailMatches { count, items: matches }
    };
    let (primary, id_descending) = match query.sort.as_slice() {
        [primary, SortKey { field: SortField::Id, descending }] if primary.field != SortField::Id => {
            (primary, *descending)
        }
        _ => return sorted(tail_matches(snapshot, query)),
    };
    let tail = &snapshot.tail;
    let key = primary.field.date_key().expect("a date primary key");
    let filter = (!query.filters_nothing()).then(|| TailFilter::new(query));
    let mut items = Vec::with_capacity(tail.len().min(keep));
    let mut count = 0u64;
    let mut take = |group: &[u32]| {
        let mut push = |position: u32| {
            let written = &tail[position as usize];
            if filter.as_ref().is_none_or(|filter| filter.matches(written)) {
                count += 1;
                if items.len() < keep {
                    items.push(Item::of_message(position as usize, &written.message));
                }
            }
        };
        if id_descending {
            group.iter().rev().for_each(|&position| push(position));
        } else {
            group.iter().for_each(|&position| push(position));
        }
    };
    let groups =
        tail.by_date(key).chunk_by(|&left, &right| tail[left as usize].dates[key] == tail[right as usize].dates[key]);
    if primary.descending {
        groups.rev().for_each(&mut take);
    } else {
        groups.for_each(&mut take);
    }
    TailMatches { count, items }
}

/// The tail's match count and its first `keep` matches in a request's
/// `_id` order (the tail's own order, or its reverse), none past `bound`
/// (see [`rows_reaching_id`](super::bounds::rows_reaching_id)).
pub(super) fn tail_first_in_id_order<'a>(
    snapshot: &'a State,
    query: &ListQuery,
    keep: usize,
    bound: Option<&IdRef<'_>>,
) -> TailMatches<'a> {
    let (length, descending) = (snapshot.tail.len(), query.sort[0].descending);
    let position = |index: usize| if descending { length - 1 - index } else { index };
    let bound = bound.map(IdRef::bytes);
    let reaches = |message: &Message| {
        bound.as_deref().is_none_or(|bound| {
            if descending {
                message.id.as_bytes() >= bound
            } else {
                message.id.as_bytes() <= bound
            }
        })
    };
    if query.filters_nothing() {
        // Every message matches: no test.
        let items = (0..length.min(keep))
            .map(|index| &snapshot.tail[position(index)].message)
            .take_while(|message| reaches(message))
            .enumerate()
            .map(|(index, message)| Item::of_message(position(index), message));
        return TailMatches { count: length as u64, items: items.collect() };
    }
    let filter = TailFilter::new(query);
    let mut items = Vec::new();
    let mut count = 0u64;
    let mut reaching = true;
    for index in 0..length {
        let position = position(index);
        let written = &snapshot.tail[position];
        if filter.matches(written) {
            count += 1;
            reaching = reaching && items.len() < keep && reaches(&written.message);
            if reaching {
                items.push(Item::of_message(position, &written.message));
            }
        }
    }
    TailMatches { count, items }
}
