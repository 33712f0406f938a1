//! Row counts per combination of the closed-set filters — `channel` ×
//! `direction` × `delivery_status` × (`anonymized` set?) × (`read` set?),
//! 3 × 3 × 5 × 2 × 2 = 180 cells counting `null` as a value — so that a
//! request filtering only on these gets its `item_count` by adding a few
//! cells, whatever the size of the store, instead of intersecting bitmaps of
//! hundreds of thousands of rows.

/// Codes per dimension, `null` included.
const SIZES: [usize; 5] = [3, 3, 5, 2, 2];

/// The counts, one per cell.
#[derive(Clone, Debug, Default)]
pub struct FacetCounts {
    counts: Vec<u64>,
}

/// Which codes of each dimension a request accepts (`None`: all).
#[derive(Clone, Debug, Default)]
pub struct FacetSelection {
    /// Accepted codes of `channel`, `direction`, `delivery_status`,
    /// anonymized-is-set (0 no, 1 yes), read-is-set.
    pub accepted: [Option<Vec<u8>>; 5],
}

/// The cell of one combination of codes.
pub fn cell(codes: [usize; 5]) -> usize {
    codes.iter().zip(SIZES).fold(0, |index, (&code, size)| index * size + code)
}

impl FacetCounts {
    /// Counts with every cell zero (for the rows deleted from a segment).
    pub fn empty() -> FacetCounts {
        FacetCounts { counts: vec![0; SIZES.iter().product()] }
    }

    /// Counts one more row in `cell`.
    pub fn add_to_cell(&mut self, cell: usize) {
        self.counts[cell] += 1;
    }

    /// Counts the rows of each cell.
    pub fn build(channel: &[u8], direction: &[u8], status: &[u8], anonymized: &[i64], read: &[i64]) -> FacetCounts {
        let mut counts = vec![0u64; SIZES.iter().product()];
        for row in 0..channel.len() {
            let codes = [
                usize::from(channel[row]),
                usize::from(direction[row]),
                usize::from(status[row]),
                usize::from(anonymized[row] != crate::store::column::NULL_DATE),
                usize::from(read[row] != crate::store::column::NULL_DATE),
            ];
            counts[cell(codes)] += 1;
        }
        FacetCounts { counts }
    }

    /// The number of rows accepted by the selection: the accepted cells
    /// added up, dimension by dimension.
    pub fn count(&self, selection: &FacetSelection) -> u64 {
        let masks: [u8; 5] = std::array::from_fn(|dimension| match &selection.accepted[dimension] {
            None => u8::MAX,
            Some(accepted) => accepted.iter().filter(|&&code| code < 8).fold(0, |mask, &code| mask | 1 << code),
        });
        let codes = |dimension: usize| (0..SIZES[dimension]).filter(move |&code| masks[dimension] >> code & 1 == 1);
        let mut total = 0;
        for channel in codes(0) {
            for direction in codes(1) {
                for status in codes(2) {
                    for anonymized in codes(3) {
                        for read in codes(4) {
                            total += self.counts[cell([channel, direction, status, anonymized, read])];
                        }
                    }
                }
            }
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::column::NULL_DATE;

    #[test]
    fn counts_add_up_by_selection() {
        let channel = [1, 2, 2, 0];
        let direction = [1, 1, 2, 2];
        let status = [0, 1, 2, 0];
        let anonymized = [NULL_DATE, 5, NULL_DATE, NULL_DATE];
        let read = [7, NULL_DATE, NULL_DATE, 9];
        let facets = FacetCounts::build(&channel, &direction, &status, &anonymized, &read);
        assert_eq!(facets.count(&FacetSelection::default()), 4);
        let sms = FacetSelection { accepted: [Some(vec![2]), None, None, None, None] };
        assert_eq!(facets.count(&sms), 2);
        let sms_unread = FacetSelection { accepted: [Some(vec![2]), None, None, None, Some(vec![0])] };
        assert_eq!(facets.count(&sms_unread), 2);
        let anonymized_inbound = FacetSelection { accepted: [None, Some(vec![1]), None, Some(vec![1]), None] };
        assert_eq!(facets.count(&anonymized_inbound), 1);
        let nothing = FacetSelection { accepted: [Some(vec![]), None, None, None, None] };
        assert_eq!(facets.count(&nothing), 0);
    }
}
