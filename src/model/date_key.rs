//! [`DateKey`]: the three date/time fields lists can be sorted by (and
//! ranged on), and [`PerDateKey`], one value for each of them — the sorted
//! orders a segment keeps, a row's position in each, a message's three
//! sort values.

use std::ops::{Index, IndexMut};

use super::Field;

/// A date/time field a list can be sorted by: each has a sorted order in
/// every segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DateKey {
    /// `created`.
    Created,
    /// `modified`.
    Modified,
    /// `date_time`.
    DateTime,
}

impl DateKey {
    /// Every date key, in the order of their sorted orders.
    pub const ALL: [DateKey; 3] = [DateKey::Created, DateKey::Modified, DateKey::DateTime];

    /// The message field of this key.
    pub const fn field(self) -> Field {
        match self {
            DateKey::Created => Field::Created,
            DateKey::Modified => Field::Modified,
            DateKey::DateTime => Field::DateTime,
        }
    }

    /// The key of a date/time sort field, if it is one.
    pub fn of_field(field: Field) -> Option<DateKey> {
        DateKey::ALL.into_iter().find(|key| key.field() == field)
    }

    /// The key's place in [`DateKey::ALL`].
    const fn slot(self) -> usize {
        self as usize
    }
}

/// One `T` for each [`DateKey`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PerDateKey<T>([T; 3]);

impl<T> PerDateKey<T> {
    /// The values `make` gives for each key.
    pub fn from_fn(mut make: impl FnMut(DateKey) -> T) -> PerDateKey<T> {
        PerDateKey(DateKey::ALL.map(&mut make))
    }

    /// Each value mapped through `convert`.
    pub fn map<U>(self, mut convert: impl FnMut(DateKey, T) -> U) -> PerDateKey<U> {
        let mut keys = DateKey::ALL.into_iter();
        PerDateKey(self.0.map(|value| convert(keys.next().expect("three keys"), value)))
    }

    /// The keys and their values, in [`DateKey::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (DateKey, &T)> {
        DateKey::ALL.into_iter().zip(&self.0)
    }

    /// The values, in [`DateKey::ALL`] order.
    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.0.iter()
    }

    /// The values, mutably, in [`DateKey::ALL`] order.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.0.iter_mut()
    }
}

impl<T> Index<DateKey> for PerDateKey<T> {
    type Output = T;

    fn index(&self, key: DateKey) -> &T {
        &self.0[key.slot()]
    }
}

impl<T> IndexMut<DateKey> for PerDateKey<T> {
    fn index_mut(&mut self, key: DateKey) -> &mut T {
        &mut self.0[key.slot()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_their_fields_and_index_their_values() {
        for key in DateKey::ALL {
            assert_eq!(DateKey::of_field(key.field()), Some(key));
        }
        assert_eq!(DateKey::of_field(Field::Id), None);
        let mut values = PerDateKey::from_fn(|key| key.field().name().len());
        assert_eq!(values[DateKey::DateTime], "date_time".len());
        values[DateKey::Created] = 0;
        let doubled = values.map(|_, value| value * 2);
        assert_eq!(doubled.values().copied().collect::<Vec<_>>(), [0, 16, 18]);
        assert_eq!(doubled.iter().map(|(key, _)| key).collect::<Vec<_>>(), DateKey::ALL);
    }
}
