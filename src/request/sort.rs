//! The order of a list: sort keys and their directions.

use crate::model::{DateKey, Field};

/// A key that lists can be sorted by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SortField {
    /// `_id`, compared byte-wise: the rows' own order.
    Id,
    /// A date/time field, which has a sorted order of its own.
    Date(DateKey),
}

impl SortField {
    /// Every sort field, in the order the API documents them.
    pub const ALL: [SortField; 4] = [
        SortField::Id,
        SortField::Date(DateKey::Created),
        SortField::Date(DateKey::Modified),
        SortField::Date(DateKey::DateTime),
    ];

    /// The message field this key sorts by.
    pub const fn field(self) -> Field {
        match self {
            SortField::Id => Field::Id,
            SortField::Date(key) => key.field(),
        }
    }

    /// The date key, unless this is `_id`.
    pub const fn date_key(self) -> Option<DateKey> {
        match self {
            SortField::Id => None,
            SortField::Date(key) => Some(key),
        }
    }

    pub(crate) fn parse(name: &str) -> Option<SortField> {
        SortField::ALL.into_iter().find(|key| key.field().name() == name)
    }
}

/// One sort key and its direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SortKey {
    /// The key.
    pub field: SortField,
    /// `-` prefix: largest first (`null` last).
    pub descending: bool,
}
