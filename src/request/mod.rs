//! Requests (SPEC §2, §5, §6, §7): a request target such as
//! `/v1/messages?filters-channel=sms` becomes a typed [`Request`]; a list
//! query becomes a validated [`ListQuery`] — parsed from a query string,
//! or built with [`ListQueryBuilder`] under the same rules — or a
//! [`QueryError`] naming every invalid parameter.
//!
//! Parsing is total: any bytes give a request or an error, never a panic
//! (the parser is fuzzed by property tests).

mod builder;
mod facets;
mod list_query;
pub(crate) mod parse;
mod sort;
mod value_filter;

pub use builder::ListQueryBuilder;
pub use facets::{FacetFilter, Presence};
pub use list_query::ListQuery;
pub use parse::{QueryError, PARAMETERS};
pub use sort::{SortField, SortKey};
pub use value_filter::ValueFilter;

pub(crate) use facets::FacetConstraint;

/// The path of the list endpoint; a retrieve is this plus `/<id>`.
pub const MESSAGES_PATH: &str = "/v1/messages";

/// The default page size (SPEC §2).
pub const DEFAULT_PER_PAGE: u32 = 10;

/// The default largest page size (SPEC §2: a store option).
pub const DEFAULT_MAX_PER_PAGE: u32 = 100;

/// Options of a store that shape request validation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryLimits {
    /// The largest `per_page` accepted.
    pub max_per_page: u32,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits { max_per_page: DEFAULT_MAX_PER_PAGE }
    }
}

/// What a request target asks for.
// One is built per request and consumed at once, so its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// `GET /v1/messages?…`, parsed and validated.
    List(Result<ListQuery, QueryError>),
    /// `GET /v1/messages/<id>`, the Id percent-decoded.
    Retrieve(String),
    /// Any other path: answered 404.
    UnknownPath(String),
}

impl Request {
    /// Parses a request target: a path with an optional `?query`.
    ///
    /// The query of a retrieve is ignored, as a web server would. The Id of
    /// a retrieve is the rest of the path, percent-decoded (`+` stays `+`);
    /// bytes that are not UTF-8 after decoding become U+FFFD.
    pub fn parse(target: &str, limits: &QueryLimits) -> Request {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        if path == MESSAGES_PATH {
            return Request::List(ListQuery::parse(query, limits));
        }
        match path.strip_prefix(MESSAGES_PATH).and_then(|rest| rest.strip_prefix('/')) {
            Some(id) if !id.is_empty() => {
                Request::Retrieve(percent_encoding::percent_decode_str(id).decode_utf8_lossy().into_owned())
            }
            _ => Request::UnknownPath(path.to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_route_to_list_retrieve_or_unknown() {
        let limits = QueryLimits::default();
        assert!(matches!(Request::parse("/v1/messages", &limits), Request::List(Ok(_))));
        assert!(matches!(Request::parse("/v1/messages?page=0", &limits), Request::List(Err(_))));
        assert_eq!(Request::parse("/v1/messages/%C3%A4x+y", &limits), Request::Retrieve("äx+y".into()));
        assert_eq!(Request::parse("/v1/messages/a/b", &limits), Request::Retrieve("a/b".into()));
        assert_eq!(Request::parse("/v1/messages/abc?x=1", &limits), Request::Retrieve("abc".into()));
        for unknown in
            ["/v1/messages/", "/v1/message", "/v2/messages", "/v1/enquiries", "v1/messages", "", "/v1/messagesx"]
        {
            assert!(matches!(Request::parse(unknown, &limits), Request::UnknownPath(_)), "{unknown}");
        }
    }
}
