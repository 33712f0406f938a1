//! [`ContentStorage`]: how a store keeps the text of `content`, chosen per
//! store and kept by its base through every compaction and checkpoint.

use std::fmt;
use std::str::FromStr;

/// How a store keeps `content`, most of its bytes: the trade between
/// memory and the speed of the items that show it.
///
/// A base remembers its choice (a segment file's `content` column is
/// packed or not), and a compaction builds the next base the same way
/// unless the store's [`LivePolicy::content`](crate::LivePolicy::content)
/// says otherwise. A live store's runs keep `content` plain either way:
/// they are short-lived and rebuilt at every merge.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ContentStorage {
    /// Each message's text compressed alone (zstd with a dictionary
    /// trained on the store's own messages): much less memory, for a
    /// decompression per item shown with its `content`. docs/PERFORMANCE.md,
    /// "Packed or plain", has the measurements.
    #[default]
    Packed,
    /// Each message's text as it came (its JSON), copied out as it is.
    Plain,
}

impl ContentStorage {
    /// Both choices, in the order [`ContentStorage::name`]s are listed.
    pub const ALL: [ContentStorage; 2] = [ContentStorage::Packed, ContentStorage::Plain];

    /// The name the command line and the docs use: `packed` or `plain`.
    pub fn name(self) -> &'static str {
        match self {
            ContentStorage::Packed => "packed",
            ContentStorage::Plain => "plain",
        }
    }
}

impl fmt::Display for ContentStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not one of [`ContentStorage::ALL`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownContentStorage(pub String);

impl fmt::Display for UnknownContentStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not a way to store `content`: use `packed` or `plain`", self.0)
    }
}

impl std::error::Error for UnknownContentStorage {}

impl FromStr for ContentStorage {
    type Err = UnknownContentStorage;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        ContentStorage::ALL
            .into_iter()
            .find(|storage| storage.name() == name)
            .ok_or_else(|| UnknownContentStorage(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_others_are_refused_with_the_choices() {
        for storage in ContentStorage::ALL {
            assert_eq!(storage.name().parse::<ContentStorage>(), Ok(storage));
        }
        let error = "zip".parse::<ContentStorage>().unwrap_err().to_string();
        assert!(error.contains("\"zip\"") && error.contains("`packed` or `plain`"), "{error}");
        assert_eq!(ContentStorage::default(), ContentStorage::Packed);
    }
}
