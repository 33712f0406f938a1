//! What lets a part be read less deep than the page: the small parts'
//! lead on a first page, and past a full base window, its last primary
//! value, its last `_id`, or (for a request filtering on facets only) the
//! first row of a run in the accepted cells.

use std::cmp::Ordering;

use super::IdRef;
use crate::column::unescaped;
use crate::index::facets::FacetSelection;
use crate::live::State;
use crate::monotone_search::galloping_first_failing;
use crate::request::{FacetConstraint, ListQuery, SortField, SortKey};
use crate::store::{Segment, FACET_FIELDS};

/// The primary value of a segment's first row in the request's date
/// order, dead or alive, matching or not: every match of the part sorts no
/// earlier.
fn first_value(segment: &Segment, primary: SortKey) -> Option<i64> {
    let order = segment.order(primary.field.date_key()?);
    if order.is_empty() {
        return None;
    }
    Some(order.value_at(if primary.descending { order.len() - 1 } else { 0 }))
}

/// Whether `value` sorts strictly before `other` in the direction of
/// `primary`.
pub(super) fn sorts_before(value: i64, other: i64, primary: SortKey) -> bool {
    if primary.descending {
        value > other
    } else {
        value < other
    }
}

/// The base's first value in a request's date order (see [`first_value`])
/// when some run or tail message begins strictly before it: the runs and
/// the tail may then hold a whole first page before anything in the base
/// (the newest `modified` first, say, while writes move it). `None` for
/// `_id` orders and when no small part leads.
pub(super) fn base_lead(snapshot: &State, query: &ListQuery) -> Option<i64> {
    let primary = query.sort[0];
    if primary.field == SortField::Id {
        return None;
    }
    let base_first = first_value(&snapshot.base.segment, primary)?;
    let key = primary.field.date_key()?;
    let leads = |value: i64| sorts_before(value, base_first, primary);
    let tail_leads = snapshot.tail.iter().any(|written| leads(written.dates[key]));
    let run_leads = snapshot.runs.iter().any(|run| first_value(&run.segment, primary).is_some_and(leads));
    (tail_leads || run_leads).then_some(base_first)
}

/// The facet cells a request accepts, when it filters on nothing else and
/// is ordered by one date/time key then `_id` (`segment` gives the enum
/// codes, which every segment shares).
pub(super) fn facet_only_selection(segment: &Segment, query: &ListQuery) -> Option<FacetSelection> {
    let plain_order =
        query.sort.len() == 2 && query.sort[0].field != SortField::Id && query.sort[1].field == SortField::Id;
    let only_facets = query.value_filters.is_empty()
        && query.text.is_none()
        && query.date_time_from.is_none()
        && query.date_time_to.is_none()
        && query.modified_after.is_none()
        && query.modified_before.is_none();
    if !plain_order || !only_facets {
        return None;
    }
    let mut selection = FacetSelection::default();
    for constraint in query.facets.constraints() {
        let (field, accepted) = match constraint {
            FacetConstraint::Values { field, accepted } => {
                let column = segment.enum_column(field);
                (field, accepted.iter().filter_map(|spelling| column.code_of(spelling)).collect())
            }
            FacetConstraint::Present { field, present } => (field, vec![u8::from(present)]),
        };
        let dimension = FACET_FIELDS.iter().position(|known| *known == field).expect("a facet field");
        selection.accepted[dimension] = Some(accepted);
    }
    Some(selection)
}

/// Whether `run`'s first row among `cells`, in the request's order (one
/// date/time key then `_id`), sorts after the base's row `bound`: then no
/// live row of the run in those cells reaches a page that ends at `bound`.
/// A run without rows there sorts after everything.
pub(super) fn first_sorts_after(run: &Segment, cells: &[usize], query: &ListQuery, base: &Segment, bound: u32) -> bool {
    let (primary, id_key) = (query.sort[0], query.sort[1]);
    let Some(key) = primary.field.date_key() else {
        return false;
    };
    let Some((value, row)) = run.cell_ends().first(key, primary.descending, id_key.descending, cells) else {
        return true;
    };
    let bound_value = base.dates(primary.field.field()).get(bound as usize);
    let by_value = if primary.descending { value.cmp(&bound_value).reverse() } else { value.cmp(&bound_value) };
    by_value.then_with(|| {
        let (id, bound_id) = (unescaped(run.id_fragment(row)), unescaped(base.id_fragment(bound)));
        if id_key.descending {
            id.cmp(&bound_id).reverse()
        } else {
            id.cmp(&bound_id)
        }
    }) == Ordering::Greater
}

/// How many of a segment's rows (dead ones included) hold an `_id` that
/// does not sort past `bound` in the direction given: rows are in `_id`
/// order, so they are the first rows (ascending) or the last (descending).
/// Found by galloping from that end: a first page's bound is usually
/// passed at once.
pub(super) fn rows_reaching_id(segment: &Segment, bound: &IdRef<'_>, descending: bool) -> u64 {
    let bound = bound.bytes();
    let rows = segment.row_count();
    // Whether the row `index` places from the request's first row reaches.
    let reaches = |index: u32| {
        let row = if descending { rows - 1 - index } else { index };
        let id = IdRef::resolved(segment, row);
        if descending {
            *id.bytes() >= *bound
        } else {
            *id.bytes() <= *bound
        }
    };
    galloping_first_failing(0..rows as usize, |index| reaches(index as u32)) as u64
}
