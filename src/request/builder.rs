//! [`ListQueryBuilder`]: a list query built in code, normalised and
//! checked exactly as [`ListQuery::parse`] normalises and checks a query
//! string, so that no invalid query can be built.
//!
//! ```
//! use msgdex::{Channel, ListQuery, SortField, DateKey};
//!
//! let query = ListQuery::builder()
//!     .channels([Channel::Sms])
//!     .text("  ZOË ")
//!     .sort_by(SortField::Date(DateKey::DateTime), true)
//!     .per_page(20)
//!     .build()
//!     .unwrap();
//! assert_eq!(query.text(), Some("zoë"), "filters-q is trimmed and lower-cased, as the API does");
//! let parsed = ListQuery::parse("filters-channel=sms&filters-q=ZO%C3%8B&sort_by=-date_time&per_page=20",
//!     &Default::default()).unwrap();
//! assert_eq!(query, parsed);
//! assert!(ListQuery::builder().per_page(0).build().is_err());
//! ```

use super::parse::{normalised_text, QueryError, VALUE_FILTERS};
use super::{ListQuery, Presence, QueryLimits, SortField, SortKey, ValueFilter};
use crate::model::{Channel, DateTime, DeliveryStatus, Direction, Field};
use crate::output::ArgErrors;

/// Builds a [`ListQuery`] (see [`ListQuery::builder`]); every problem is
/// reported by [`ListQueryBuilder::build`] under the name of the query
/// parameter it stands for.
#[derive(Clone, Debug)]
pub struct ListQueryBuilder {
    query: ListQuery,
    limits: QueryLimits,
    /// Sort keys as given, checked and completed at the build.
    sort: Vec<SortKey>,
    errors: ArgErrors,
}

impl Default for ListQueryBuilder {
    fn default() -> Self {
        ListQueryBuilder::new()
    }
}

impl ListQueryBuilder {
    /// The query of a bare `/v1/messages`, with the default limits.
    pub fn new() -> ListQueryBuilder {
        ListQueryBuilder {
            query: ListQuery::default(),
            limits: QueryLimits::default(),
            sort: Vec::new(),
            errors: ArgErrors::new(),
        }
    }

    fn refuse(&mut self, parameter: &str, message: String) {
        self.errors.entry(parameter.to_owned()).or_default().push(message);
    }

    /// The store's limits the query must keep (its largest `per_page`).
    pub fn limits(mut self, limits: QueryLimits) -> Self {
        self.limits = limits;
        self
    }

    /// `attributes`: the fields of each item (`_id` always among them).
    pub fn attributes(mut self, fields: impl IntoIterator<Item = Field>) -> Self {
        let mut attributes: Vec<Field> = fields.into_iter().chain([Field::Id]).collect();
        attributes.sort_unstable();
        attributes.dedup();
        self.query.attributes = attributes;
        self
    }

    /// An Id list filter: `field` (`Field::Location`, … or `Field::Id` for
    /// `filters-ids`) equals one of `values`.
    pub fn filter_values(mut self, field: Field, values: impl IntoIterator<Item = impl Into<String>>) -> Self {
        match VALUE_FILTERS.iter().find(|(_, known)| *known == field) {
            Some(_) => {
                let values: Vec<String> =
                    values.into_iter().map(Into::into).filter(|value| !value.is_empty()).collect();
                self.query.value_filters.retain(|filter| filter.field != field);
                if !values.is_empty() {
                    self.query.value_filters.push(ValueFilter::new(field, values));
                }
            }
            None => {
                let known: Vec<String> = VALUE_FILTERS.iter().map(|(_, field)| format!("`{field}`")).collect();
                self.refuse(
                    "filters",
                    format!("`{field}` has no value filter; the value filters are on {}.", known.join(", ")),
                );
            }
        }
        self
    }

    /// `filters-channel`.
    pub fn channels(mut self, values: impl IntoIterator<Item = Channel>) -> Self {
        self.query.facets.channels = Some(values.into_iter().collect());
        self
    }

    /// `filters-direction`.
    pub fn directions(mut self, values: impl IntoIterator<Item = Direction>) -> Self {
        self.query.facets.directions = Some(values.into_iter().collect());
        self
    }

    /// `filters-delivery_status`.
    pub fn delivery_statuses(mut self, values: impl IntoIterator<Item = DeliveryStatus>) -> Self {
        self.query.facets.delivery_statuses = Some(values.into_iter().collect());
        self
    }

    /// `filters-anonymized`.
    pub fn anonymized(mut self, presence: Presence) -> Self {
        self.query.facets.anonymized = presence;
        self
    }

    /// `filters-read`.
    pub fn read(mut self, presence: Presence) -> Self {
        self.query.facets.read = presence;
        self
    }

    /// `filters-start_date`: `date_time` on or after the start of `day`'s
    /// date (its time of day is ignored, as the parameter is a date).
    pub fn start_date(mut self, day: DateTime) -> Self {
        self.query.date_time_from = Some(day.start_of_day());
        self
    }

    /// `filters-end_date`: `date_time` on or before the end of `day`'s date.
    pub fn end_date(mut self, day: DateTime) -> Self {
        self.query.date_time_to = Some(day.end_of_day());
        self
    }

    /// `filters-modified_after`: `modified` strictly later.
    pub fn modified_after(mut self, moment: DateTime) -> Self {
        self.query.modified_after = Some(moment);
        self
    }

    /// `filters-modified_before`: `modified` strictly earlier.
    pub fn modified_before(mut self, moment: DateTime) -> Self {
        self.query.modified_before = Some(moment);
        self
    }

    /// `filters-q`: trimmed and lower-cased as the API does (SPEC §3), so
    /// that `text("ZOË")` matches what `filters-q=ZOË` matches; blank text
    /// filters nothing.
    pub fn text(mut self, needle: &str) -> Self {
        self.query.text = normalised_text(needle);
        self
    }

    /// `page`, from 1.
    pub fn page(mut self, page: u64) -> Self {
        if page == 0 {
            self.refuse("page", "\"0\" is not a valid page; use a whole number of 1 or more.".into());
        } else {
            self.query.page = page;
        }
        self
    }

    /// `per_page`, from 1 to the limits' largest (checked at the build).
    pub fn per_page(mut self, size: u32) -> Self {
        self.query.per_page = size;
        self
    }

    /// Adds a sort key (`sort_by`, `descending` for a leading `-`); `_id`
    /// is added last, ascending, unless named.
    pub fn sort_by(mut self, field: SortField, descending: bool) -> Self {
        if self.sort.iter().any(|key| key.field == field) {
            let name = field.field().name();
            self.refuse(
                "sort_by",
                format!("`{name}` is named more than once; name each sort key once, with or without `-`."),
            );
        } else {
            self.sort.push(SortKey { field, descending });
        }
        self
    }

    /// The query, or every problem with it.
    pub fn build(mut self) -> Result<ListQuery, QueryError> {
        let per_page = self.query.per_page;
        if per_page == 0 || per_page > self.limits.max_per_page {
            self.refuse(
                "per_page",
                format!(
                    "\"{per_page}\" is not a valid page size; use a whole number from 1 to {}.",
                    self.limits.max_per_page
                ),
            );
        }
        if !self.errors.is_empty() {
            return Err(QueryError { arg_errors: self.errors });
        }
        if !self.sort.is_empty() {
            if !self.sort.iter().any(|key| key.field == SortField::Id) {
                self.sort.push(SortKey { field: SortField::Id, descending: false });
            }
            self.query.sort = self.sort;
        }
        Ok(self.query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DateKey;

    fn parse(query: &str) -> ListQuery {
        ListQuery::parse(query, &QueryLimits::default()).unwrap()
    }

    #[test]
    fn built_queries_equal_parsed_ones() {
        let day = DateTime::parse("2024-02-29 13:14:15").unwrap();
        let built = ListQuery::builder()
            .attributes([Field::Tags, Field::Content, Field::Tags])
            .filter_values(Field::Location, ["L1", "L2"])
            .filter_values(Field::Id, ["m1"])
            .channels([Channel::Sms])
            .directions([Direction::Inbound])
            .delivery_statuses([DeliveryStatus::Sent, DeliveryStatus::Failed])
            .anonymized(Presence::No)
            .read(Presence::Yes)
            .start_date(day)
            .end_date(day)
            .modified_after(DateTime::parse("2024-01-01 10:00:00").unwrap())
            .modified_before(DateTime::parse("2024-01-02 00:00:00").unwrap())
            .text(" Zoë  O'Brien ")
            .page(3)
            .per_page(25)
            .sort_by(SortField::Date(DateKey::Modified), true)
            .build()
            .unwrap();
        let parsed = parse(
            "attributes=tags&attributes=content&filters-location=L1&filters-location=L2&filters-ids=m1\
&filters-channel=sms&filters-direction=inbound&filters-delivery_status=sent&filters-delivery_status=failed\
&filters-anonymized=no&filters-read=yes&filters-start_date=2024-02-29&filters-end_date=2024-02-29\
&filters-modified_after=2024-01-01T10:00:00&filters-modified_before=2024-01-02\
&filters-q=+ZO%C3%8B++O%27BRIEN+&page=3&per_page=25&sort_by=-modified",
        );
        assert_eq!(built, parsed);
        assert_eq!(ListQuery::builder().build().unwrap(), ListQuery::default());
        assert_eq!(ListQuery::builder().text("   ").build().unwrap().text(), None, "blank text filters nothing");
    }

    #[test]
    fn invalid_queries_cannot_be_built() {
        let refused = |builder: ListQueryBuilder| -> Vec<String> {
            builder.build().expect_err("invalid").arg_errors().keys().cloned().collect()
        };
        assert_eq!(refused(ListQuery::builder().page(0)), ["page"]);
        assert_eq!(refused(ListQuery::builder().per_page(0)), ["per_page"]);
        assert_eq!(refused(ListQuery::builder().per_page(101)), ["per_page"]);
        assert!(ListQuery::builder().limits(QueryLimits { max_per_page: 500 }).per_page(500).build().is_ok());
        let twice = ListQuery::builder().sort_by(SortField::Id, false).sort_by(SortField::Id, true);
        assert_eq!(refused(twice), ["sort_by"]);
        assert_eq!(refused(ListQuery::builder().filter_values(Field::Content, ["x"])), ["filters"]);
        assert_eq!(refused(ListQuery::builder().page(0).per_page(0)), ["page", "per_page"], "every problem");
    }
}
