//! [`ListQuery`]: a validated list request — every filter, the order, the
//! page and the projection, defaults filled in.
//!
//! A `ListQuery` is valid by construction: the only ways in are
//! [`ListQuery::parse`] and [`ListQuery::builder`], which apply the same
//! rules (SPEC §2, §3), so its fields are read through accessors.

use super::{FacetFilter, ListQueryBuilder, SortField, SortKey, ValueFilter, DEFAULT_PER_PAGE};
use crate::model::{DateTime, Field};

/// A validated list request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListQuery {
    /// Fields of each item: unique, in canonical order, `_id` first.
    pub(crate) attributes: Vec<Field>,
    /// The Id list filters, in the order they were given.
    pub(crate) value_filters: Vec<ValueFilter>,
    /// The closed-set filters.
    pub(crate) facets: FacetFilter,
    /// `filters-start_date`: `date_time` ≥ this (00:00:00 of the date).
    pub(crate) date_time_from: Option<DateTime>,
    /// `filters-end_date`: `date_time` ≤ this (23:59:59 of the date).
    pub(crate) date_time_to: Option<DateTime>,
    /// `filters-modified_after`: `modified` > this.
    pub(crate) modified_after: Option<DateTime>,
    /// `filters-modified_before`: `modified` < this.
    pub(crate) modified_before: Option<DateTime>,
    /// `filters-q`, trimmed and lower-cased; `None` when absent or blank.
    pub(crate) text: Option<String>,
    /// The page number, from 1.
    pub(crate) page: u64,
    /// The page size, from 1 to the store's largest.
    pub(crate) per_page: u32,
    /// Sort keys, first is primary, always holding `_id` so that the order
    /// is total.
    pub(crate) sort: Vec<SortKey>,
}

impl Default for ListQuery {
    /// The query of a bare `/v1/messages`.
    fn default() -> Self {
        ListQuery {
            attributes: vec![Field::Id],
            value_filters: Vec::new(),
            facets: FacetFilter::default(),
            date_time_from: None,
            date_time_to: None,
            modified_after: None,
            modified_before: None,
            text: None,
            page: 1,
            per_page: DEFAULT_PER_PAGE,
            sort: vec![SortKey { field: SortField::Id, descending: false }],
        }
    }
}

impl ListQuery {
    /// A builder of a query, starting from a bare `/v1/messages`.
    pub fn builder() -> ListQueryBuilder {
        ListQueryBuilder::new()
    }

    /// Fields of each item: unique, in canonical order, `_id` first.
    pub fn attributes(&self) -> &[Field] {
        &self.attributes
    }

    /// The Id list filters (`filters-location`, `filters-ids`, …).
    pub fn value_filters(&self) -> &[ValueFilter] {
        &self.value_filters
    }

    /// The value filter on `field`, if the request has one.
    pub fn value_filter(&self, field: Field) -> Option<&ValueFilter> {
        self.value_filters.iter().find(|filter| filter.field == field)
    }

    /// The closed-set filters (channel, direction, delivery status,
    /// anonymized, read).
    pub fn facets(&self) -> &FacetFilter {
        &self.facets
    }

    /// `filters-start_date`: the earliest `date_time` accepted.
    pub fn date_time_from(&self) -> Option<DateTime> {
        self.date_time_from
    }

    /// `filters-end_date`: the latest `date_time` accepted.
    pub fn date_time_to(&self) -> Option<DateTime> {
        self.date_time_to
    }

    /// `filters-modified_after`: `modified` must be later.
    pub fn modified_after(&self) -> Option<DateTime> {
        self.modified_after
    }

    /// `filters-modified_before`: `modified` must be earlier.
    pub fn modified_before(&self) -> Option<DateTime> {
        self.modified_before
    }

    /// `filters-q`, trimmed and lower-cased.
    pub fn text(&self) -> Option<&str> {
        self.text.as_deref()
    }

    /// The page number, from 1.
    pub fn page(&self) -> u64 {
        self.page
    }

    /// The page size.
    pub fn per_page(&self) -> u32 {
        self.per_page
    }

    /// The sort keys, primary first; `_id` is always among them.
    pub fn sort(&self) -> &[SortKey] {
        &self.sort
    }

    /// Whether the request filters on nothing: every message matches.
    pub fn filters_nothing(&self) -> bool {
        // Every field named, so that a new filter cannot be forgotten here.
        let ListQuery {
            attributes: _,
            value_filters,
            facets,
            date_time_from,
            date_time_to,
            modified_after,
            modified_before,
            text,
            page: _,
            per_page: _,
            sort: _,
        } = self;
        value_filters.is_empty()
            && facets.is_empty()
            && date_time_from.is_none()
            && date_time_to.is_none()
            && modified_after.is_none()
            && modified_before.is_none()
            && text.is_none()
    }

    /// The position of the page's first item among all matches.
    pub fn offset(&self) -> u64 {
        (self.page - 1).saturating_mul(u64::from(self.per_page))
    }
}
