//! A filter on an Id-like field: the field equals one of the values.

use crate::model::Field;

/// A list filter on an Id-like string field: the field equals one of the
/// values (SPEC §2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValueFilter {
    /// The field filtered.
    pub(crate) field: Field,
    /// The accepted values, in request order, possibly repeated.
    pub(crate) values: Vec<String>,
    /// Each value as a segment's dictionary holds it (JSON text), quoted
    /// once here instead of by every segment a plan looks it up in.
    pub(crate) fragments: Vec<Box<[u8]>>,
}

impl ValueFilter {
    /// A filter on `field` accepting `values`.
    pub(crate) fn new(field: Field, values: Vec<String>) -> ValueFilter {
        let fragments = values
            .iter()
            .map(|value| {
                let mut fragment = Vec::with_capacity(value.len() + 2);
                crate::json::write_json_string(&mut fragment, value);
                fragment.into_boxed_slice()
            })
            .collect();
        ValueFilter { field, values, fragments }
    }

    /// The field filtered.
    pub fn field(&self) -> Field {
        self.field
    }

    /// The accepted values, in request order, possibly repeated.
    pub fn values(&self) -> &[String] {
        &self.values
    }
}
