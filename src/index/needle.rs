//! `filters-q` tested on a row's own values by their text, with nothing
//! listed beforehand: for a walk that meets few rows while the needle
//! matches many values (gathering those costs more than the walk).

use memchr::memmem::Finder;

use super::text::TextIndex;

/// Tells whether a value of the text index holds a needle, by searching
/// the value's lower-cased text.
///
/// A value without rows has no text, and is never said to hold the needle:
/// a row holding it also holds a longer value that contains it (see
/// [`TextIndex`]), so testing a row's values still finds every row.
pub struct NeedleTest<'a> {
    index: &'a TextIndex,
    finder: Finder<'a>,
}

impl<'a> NeedleTest<'a> {
    /// A test for `needle`, which must already be lower-cased and non-empty.
    pub fn new(index: &'a TextIndex, needle: &'a str) -> NeedleTest<'a> {
        NeedleTest { index, finder: Finder::new(needle.as_bytes()) }
    }

    /// Whether value `value` of the index holds the needle (never for a
    /// value without rows).
    #[inline]
    pub fn holds_value(&self, value: u32) -> bool {
        self.index.value_text(value).is_some_and(|text| self.is_in(text))
    }

    /// Whether `text` holds the needle. Values are short: the needle's
    /// first byte is looked for and each place it starts compared, where
    /// the general searcher's set-up would cost more than the search.
    #[inline]
    fn is_in(&self, text: &[u8]) -> bool {
        let needle = self.finder.needle();
        if text.len() > SHORT_TEXT {
            return self.finder.find(text).is_some();
        }
        let Some(last_start) = text.len().checked_sub(needle.len()) else { return false };
        let mut from = 0;
        while let Some(offset) = memchr::memchr(needle[0], &text[from..=last_start]) {
            if text[from + offset..].starts_with(needle) {
                return true;
            }
            from += offset + 1;
            if from > last_start {
                break;
            }
        }
        false
    }
}

/// Texts up to this long are searched byte by byte from the needle's
/// first byte.
const SHORT_TEXT: usize = 64;
