//! How a walk tests whether a row is on the page: a bitmap of matches, a
//! bitset, the rows' own values (closed-set filters, `filters-q`), or
//! every live row.

use roaring::RoaringBitmap;

use crate::index::needle::NeedleTest;
use crate::index::text::{TextIndex, TextMatch};
use crate::model::DateKey;
use crate::store::dead_rows::DeadRows;
use crate::store::Segment;

/// How a walk tests whether a row matches.
#[derive(Clone, Copy)]
pub(super) enum Membership<'a> {
    /// Every row matches.
    All,
    /// Test the match bitmap (fast for dense matches: bitmap containers).
    Bitmap(&'a RoaringBitmap),
    /// Test a bitset with one bit per row: for sparse matches tested many
    /// times, where a roaring array container would cost a binary search
    /// per test.
    Dense(&'a [u64]),
    /// Test the closed-set filters on the row's own values: no intersection
    /// of their bitmaps is ever built.
    Facets(&'a FacetTest<'a>),
    /// Every row matches unless it is dead (with the key of the order
    /// walked, whose dead rows are counted per block).
    Live(&'a DeadRows, DateKey),
    /// Test the match bitmap, then whether the row is dead: the bitmap (an
    /// index's own) still holds dead rows.
    AliveIn(&'a RoaringBitmap, &'a DeadRows),
    /// Test whether one of the row's own text values matched `filters-q`:
    /// the union of the matched values' rows is never built.
    Text(&'a TextTest<'a>),
}

/// How a row's text values are told to match `filters-q`.
#[derive(Clone, Copy)]
pub(super) enum TextValues<'a> {
    /// Looked up among the matched values, listed beforehand.
    Matched(&'a TextMatch<'a>),
    /// Searched for the needle, each value's own text.
    Searched(&'a NeedleTest<'a>),
}

impl TextValues<'_> {
    /// Whether value `value` of the text index matches.
    #[inline]
    pub(super) fn holds_value(self, value: u32) -> bool {
        match self {
            TextValues::Matched(found) => found.is_matched(value),
            TextValues::Searched(test) => test.holds_value(value),
        }
    }
}

/// `filters-q` tested on a row's own values.
pub(super) struct TextTest<'a> {
    index: &'a TextIndex,
    values: TextValues<'a>,
    /// Rows that no longer exist.
    dead: Option<&'a DeadRows>,
}

impl<'a> TextTest<'a> {
    pub(super) fn new(segment: &'a Segment, values: TextValues<'a>, dead: Option<&'a DeadRows>) -> TextTest<'a> {
        TextTest { index: segment.text(), values, dead }
    }

    /// Starts loading the row's values, for a test a few rows later.
    #[inline]
    fn prefetch_row(&self, row: u32) {
        self.index.prefetch_values_of_row(row);
    }

    /// Starts loading what testing the row's values reads (which should
    /// have arrived), for a test a few rows later: their texts, when
    /// they are searched.
    #[inline]
    fn prefetch_values(&self, row: u32) {
        if let TextValues::Searched(_) = self.values {
            self.index.values_of_row(row).iter().for_each(|&value| self.index.prefetch_value_text(value));
        }
    }

    /// Whether the row holds a matched value, dead or alive.
    #[inline]
    pub(super) fn matches(&self, row: u32) -> bool {
        self.index.values_of_row(row).iter().any(|&value| self.values.holds_value(value))
    }

    /// Whether the row is alive and holds a matched value.
    #[inline]
    pub(super) fn contains(&self, row: u32) -> bool {
        self.matches(row) && self.dead.is_none_or(|dead| !dead.contains(row))
    }
}

/// The closed-set filters of a request, tested row by row.
pub(super) struct FacetTest<'a> {
    /// Enum columns and, per code, whether it is accepted.
    pub(super) enums: Vec<(&'a [u8], [bool; 8])>,
    /// Presence bitmaps and whether the row must be in them.
    pub(super) presence: Vec<(&'a RoaringBitmap, bool)>,
    /// Rows that no longer exist.
    pub(super) dead: Option<&'a DeadRows>,
}

impl FacetTest<'_> {
    #[inline]
    pub(super) fn contains(&self, row: u32) -> bool {
        self.enums.iter().all(|(codes, accepted)| accepted[usize::from(codes[row as usize])])
            && self.presence.iter().all(|(bitmap, present)| bitmap.contains(row) == *present)
            && self.dead.is_none_or(|dead| !dead.contains(row))
    }
}

impl Membership<'_> {
    /// Whether a test reads the row's own values at random, in more than
    /// one step (worth starting ahead of the walk).
    #[inline]
    pub(super) fn reads_rows_at_random(self) -> bool {
        matches!(self, Membership::Text(_))
    }

    /// Starts loading what testing `row` reads first, `row` being a few
    /// dozen positions ahead of the walk (for tests that read a row's own
    /// values at random).
    #[inline]
    pub(super) fn prefetch_far(self, row: u32) {
        if let Membership::Text(test) = self {
            test.prefetch_row(row);
        }
    }

    /// Starts loading what testing `row` reads next, once
    /// [`Membership::prefetch_far`] has brought its first reads in.
    #[inline]
    pub(super) fn prefetch_near(self, row: u32) {
        if let Membership::Text(test) = self {
            test.prefetch_values(row);
        }
    }

    #[inline]
    pub(super) fn contains(self, row: u32) -> bool {
        match self {
            Membership::All => true,
            Membership::Bitmap(bitmap) => bitmap.contains(row),
            Membership::Dense(words) => words[row as usize >> 6] >> (row & 63) & 1 == 1,
            Membership::Facets(test) => test.contains(row),
            Membership::Live(dead, _) => !dead.contains(row),
            Membership::AliveIn(bitmap, dead) => bitmap.contains(row) && !dead.contains(row),
            Membership::Text(test) => test.contains(row),
        }
    }
}

thread_local! {
    /// A zeroed bitset per thread, reused by walks (cleared after each).
    static DENSE_BITS: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `work` with `rows` set in a zeroed per-thread bitset of
/// `row_count` bits, and zeroes it again afterwards.
pub(super) fn with_dense<R>(rows: &RoaringBitmap, row_count: u32, work: impl FnOnce(&[u64]) -> R) -> R {
    DENSE_BITS.with(|cell| {
        let mut words = cell.borrow_mut();
        let needed = (row_count as usize).div_ceil(64);
        if words.len() < needed {
            words.resize(needed, 0);
        }
        crate::index::dense::set_rows(rows, &mut words);
        let result = work(&words);
        crate::index::dense::clear_rows(rows, &mut words);
        result
    })
}
