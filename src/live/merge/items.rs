//! A match from any part of a snapshot with its sort keys: [`Item`], the
//! part it comes from ([`Origin`]) and its `_id` as the part holds it
//! ([`IdRef`]), read only when two items tie on every other key.

use std::borrow::Cow;
use std::cmp::Ordering;

use crate::column::NULL_DATE;
use crate::model::{DateTime, Message, PerDateKey};
use crate::request::{SortField, SortKey};
use crate::store::Segment;

/// Which part an item comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Origin {
    /// The base.
    Base,
    /// The run of this number (oldest first).
    Run(usize),
    /// The tail.
    Tail,
}

/// An `_id` as a segment row or a message holds it; a segment's is read
/// (and, if escaped, decoded) only when two items tie on every other key.
#[derive(Clone, Copy, Debug)]
pub(super) enum IdRef<'a> {
    /// A segment's row, its `_id` not read yet.
    Row(&'a Segment, u32),
    /// The `_id`'s text.
    Raw(&'a [u8]),
}

impl<'a> IdRef<'a> {
    /// A row's `_id` read now: its stored text when it holds no escape.
    pub(super) fn resolved(segment: &'a Segment, row: u32) -> IdRef<'a> {
        match segment.plain_id(row) {
            Some(raw) => IdRef::Raw(raw),
            None => IdRef::Row(segment, row),
        }
    }

    /// The `_id`'s text, read (and decoded) now if need be.
    pub(super) fn bytes(&self) -> Cow<'_, [u8]> {
        match *self {
            IdRef::Raw(raw) => Cow::Borrowed(raw),
            IdRef::Row(segment, row) => match segment.plain_id(row) {
                Some(raw) => Cow::Borrowed(raw),
                None => Cow::Owned(segment.id_of(row).into_owned().into_bytes()),
            },
        }
    }
}

/// A page entry: the part of an item and its row there (its position, in
/// the tail).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Entry {
    /// The part.
    pub(super) origin: Origin,
    /// The row in its segment, or the position in the tail.
    pub(super) index: u32,
}

/// A match with its sort keys, from any part.
#[derive(Clone, Copy, Debug)]
pub(super) struct Item<'a> {
    pub(super) origin: Origin,
    /// The row in its segment, or the position in the tail.
    pub(super) index: u32,
    /// Each date key's value in seconds ([`NULL_DATE`] for `null`, the
    /// smallest value).
    pub(super) dates: PerDateKey<i64>,
    /// The `_id`, compared last.
    pub(super) id: IdRef<'a>,
}

impl<'a> Item<'a> {
    /// Row `row` of a segment of part `origin`.
    pub(super) fn of_row(origin: Origin, segment: &'a Segment, row: u32) -> Item<'a> {
        Item {
            origin,
            index: row,
            dates: PerDateKey::from_fn(|key| segment.dates(key.field()).get(row as usize)),
            id: IdRef::Row(segment, row),
        }
    }

    /// The tail's message at `position`.
    pub(super) fn of_message(position: usize, message: &'a Message) -> Item<'a> {
        Item {
            origin: Origin::Tail,
            index: position as u32,
            dates: PerDateKey::from_fn(|key| message.date_time_of(key.field()).map_or(NULL_DATE, DateTime::seconds)),
            id: IdRef::Raw(message.id.as_bytes()),
        }
    }

    /// The item with its `_id` read now, for orders that compare `_id`s
    /// at once (a primary `_id` key) rather than only to break ties.
    pub(super) fn keyed_for(mut self, sort: &[SortKey]) -> Item<'a> {
        if let (SortField::Id, IdRef::Row(segment, row)) = (sort[0].field, self.id) {
            self.id = IdRef::resolved(segment, row);
        }
        self
    }

    /// The item's place on a page.
    pub(super) fn entry(&self) -> Entry {
        Entry { origin: self.origin, index: self.index }
    }

    /// How the item sorts beside `other` in the order of `sort`.
    pub(super) fn compare(&self, other: &Item<'_>, sort: &[SortKey]) -> Ordering {
        for key in sort {
            let ordering = match key.field {
                SortField::Id => self.id.bytes().cmp(&other.id.bytes()),
                SortField::Date(date) => self.dates[date].cmp(&other.dates[date]),
            };
            let ordering = if key.descending { ordering.reverse() } else { ordering };
            if ordering.is_ne() {
                return ordering;
            }
        }
        Ordering::Equal
    }
}
