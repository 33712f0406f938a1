//! The closed-set filters of a list — `filters-channel`,
//! `filters-direction`, `filters-delivery_status`, `filters-anonymized`,
//! `filters-read` — held together as one [`FacetFilter`], because the
//! store counts and tests them together (its facet counts).

use crate::model::{Channel, DeliveryStatus, Direction, Field};

/// `filters-anonymized` and `filters-read`: whether the date/time field must
/// be set, must be null, or is not filtered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Presence {
    /// `unset` (the default): no filter.
    #[default]
    Unset,
    /// `yes`: the field is not null.
    Yes,
    /// `no`: the field is null.
    No,
}

/// The closed-set filters of a list request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FacetFilter {
    /// `filters-channel`: accepted values.
    pub(crate) channels: Option<Vec<Channel>>,
    /// `filters-direction`: accepted values.
    pub(crate) directions: Option<Vec<Direction>>,
    /// `filters-delivery_status`: accepted values.
    pub(crate) delivery_statuses: Option<Vec<DeliveryStatus>>,
    /// `filters-anonymized`.
    pub(crate) anonymized: Presence,
    /// `filters-read`.
    pub(crate) read: Presence,
}

/// One closed-set filter, as the store's indexes see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum FacetConstraint {
    /// An enum field equals one of these spellings.
    Values {
        /// The field.
        field: Field,
        /// The accepted values as the API spells them.
        accepted: Vec<&'static str>,
    },
    /// A date/time field is set (`present`) or null.
    Present {
        /// The field.
        field: Field,
        /// Whether it must be set.
        present: bool,
    },
}

impl FacetFilter {
    /// `filters-channel`'s accepted values, if the request has it.
    pub fn channels(&self) -> Option<&[Channel]> {
        self.channels.as_deref()
    }

    /// `filters-direction`'s accepted values, if the request has it.
    pub fn directions(&self) -> Option<&[Direction]> {
        self.directions.as_deref()
    }

    /// `filters-delivery_status`'s accepted values, if the request has it.
    pub fn delivery_statuses(&self) -> Option<&[DeliveryStatus]> {
        self.delivery_statuses.as_deref()
    }

    /// `filters-anonymized`.
    pub fn anonymized(&self) -> Presence {
        self.anonymized
    }

    /// `filters-read`.
    pub fn read(&self) -> Presence {
        self.read
    }

    /// Whether no closed-set filter is set.
    pub fn is_empty(&self) -> bool {
        self.constraints().is_empty()
    }

    /// The filters that are set, in the order of the store's facet
    /// dimensions (`crate::store::FACET_FIELDS`).
    pub(crate) fn constraints(&self) -> Vec<FacetConstraint> {
        let mut constraints = Vec::new();
        let mut values = |field: Field, accepted: Option<Vec<&'static str>>| {
            if let Some(accepted) = accepted {
                constraints.push(FacetConstraint::Values { field, accepted });
            }
        };
        values(Field::Channel, self.channels.as_ref().map(|set| set.iter().map(|value| value.as_str()).collect()));
        values(Field::Direction, self.directions.as_ref().map(|set| set.iter().map(|value| value.as_str()).collect()));
        values(
            Field::DeliveryStatus,
            self.delivery_statuses.as_ref().map(|set| set.iter().map(|value| value.as_str()).collect()),
        );
        for (field, presence) in [(Field::Anonymized, self.anonymized), (Field::Read, self.read)] {
            match presence {
                Presence::Unset => {}
                Presence::Yes => constraints.push(FacetConstraint::Present { field, present: true }),
                Presence::No => constraints.push(FacetConstraint::Present { field, present: false }),
            }
        }
        constraints
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraints_follow_the_facet_dimensions() {
        assert!(FacetFilter::default().is_empty());
        let filter = FacetFilter {
            delivery_statuses: Some(vec![DeliveryStatus::Sent]),
            channels: Some(vec![]),
            read: Presence::No,
            ..FacetFilter::default()
        };
        assert_eq!(
            filter.constraints(),
            [
                FacetConstraint::Values { field: Field::Channel, accepted: vec![] },
                FacetConstraint::Values { field: Field::DeliveryStatus, accepted: vec!["sent"] },
                FacetConstraint::Present { field: Field::Read, present: false },
            ],
            "an empty list of values is a filter that accepts nothing"
        );
        let fields: Vec<Field> = filter
            .constraints()
            .iter()
            .map(|constraint| match constraint {
                FacetConstraint::Values { field, .. } | FacetConstraint::Present { field, .. } => *field,
            })
            .collect();
        let order = |field: &Field| crate::store::FACET_FIELDS.iter().position(|known| known == field);
        assert!(fields.windows(2).all(|pair| order(&pair[0]) < order(&pair[1])));
    }
}
