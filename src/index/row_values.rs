//! `RowValues`: each row's distinct text values (see [`super::text`]), row
//! by row in one array.
//!
//! A row's values are what `filters-q` tests of it. Held column by column
//! they cost two reads at random per column (the code, then the code's
//! value): six scattered cache lines a row. Held here they are one line,
//! so that a walk testing rows in another order, and a count reading the
//! rows of a few values, load one line per row.
//!
//! *Invariant:* a row's entry lists its distinct values in column order,
//! each once, then [`NO_VALUE`] in the slots left.

use rayon::prelude::*;

use crate::dict_codes::DictCodes;
use crate::sys::prefetch;

/// Most text columns an index searches.
pub const MAX_COLUMNS: usize = 3;

/// An empty slot of a row's entry (no value: `null`, or fewer distinct
/// values than columns).
pub const NO_VALUE: u32 = u32::MAX;

/// The distinct text values of every row.
#[derive(Debug, Default)]
pub struct RowValues {
    /// Row `r`'s values (see the module's invariant).
    values: Vec<[u32; MAX_COLUMNS]>,
}

impl RowValues {
    /// The values of `row_count` rows, where `codes[c][row]` is the
    /// dictionary code of column `c` in `row` and `code_values[c][code]`
    /// its value ([`NO_VALUE`] for code 0, `null`).
    pub fn of(codes: &[&DictCodes], code_values: &[Vec<u32>], row_count: u32) -> RowValues {
        assert!(codes.len() <= MAX_COLUMNS && codes.len() == code_values.len(), "a map per column, at most three");
        let values = (0..row_count as usize)
            .into_par_iter()
            .map(|row| {
                let mut found = [NO_VALUE; MAX_COLUMNS];
                let mut count = 0;
                for (codes, map) in codes.iter().zip(code_values) {
                    let value = map[codes.get(row) as usize];
                    if value != NO_VALUE && !found[..count].contains(&value) {
                        found[count] = value;
                        count += 1;
                    }
                }
                found
            })
            .collect();
        RowValues { values }
    }

    /// The distinct values of `row`, in column order.
    #[inline]
    pub fn of_row(&self, row: u32) -> &[u32] {
        let values = &self.values[row as usize];
        let count = values.iter().position(|&value| value == NO_VALUE).unwrap_or(MAX_COLUMNS);
        &values[..count]
    }

    /// Starts loading `row`'s values, for a read of them a little later.
    #[inline]
    pub fn prefetch(&self, row: u32) {
        prefetch(self.values.as_ptr().wrapping_add(row as usize));
    }

    /// The number of rows.
    pub fn row_count(&self) -> u32 {
        self.values.len() as u32
    }

    /// Bytes held on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.values.capacity() * std::mem::size_of::<[u32; MAX_COLUMNS]>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_lists_its_distinct_values_in_column_order() {
        // Three columns of four rows; codes map to values through each
        // column's map (code 0 is `null`).
        let names = DictCodes::from(vec![1, 2, 0, 1]);
        let addresses = DictCodes::from(vec![1, 1, 0, 2]);
        let origins = DictCodes::from(vec![0, 1, 0, 1]);
        let maps = vec![vec![NO_VALUE, 7, 9], vec![NO_VALUE, 9, 7], vec![NO_VALUE, 4]];
        let rows = RowValues::of(&[&names, &addresses, &origins], &maps, 4);
        assert_eq!(rows.row_count(), 4);
        assert_eq!(rows.of_row(0), [7, 9], "the null origin is left out");
        assert_eq!(rows.of_row(1), [9, 4], "a value in two columns is listed once");
        assert_eq!(rows.of_row(2), [] as [u32; 0], "all null");
        assert_eq!(rows.of_row(3), [7, 4], "the same value in two columns");
    }
}
