//! The query mix of docs/BENCH.md: 18 request templates whose parameters are
//! drawn from the loaded data with a seed.

use std::fmt;

use super::Rng;
use msgdex::{DateTime, Message};

/// One of the 18 templates, `T01` to `T18`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Template(pub u8);

impl Template {
    /// Every template, in order.
    pub fn all() -> impl Iterator<Item = Template> {
        (1..=18).map(Template)
    }

    /// What the template asks, in a few words.
    pub fn description(self) -> &'static str {
        match self.0 {
            1 => "no parameters",
            2 => "sms inbound, sort date_time, 3 attributes",
            3 => "busy location, -date_time, 50 per page",
            4 => "3 locations + 30-day range",
            5 => "care enquiry, sort date_time",
            6 => "service user + email",
            7 => "q = surname, -date_time",
            8 => "q = e-mail domain (broad)",
            9 => "modified after, sort modified, deep page",
            10 => "unread inbox of a location",
            11 => "failed deliveries, -created",
            12 => "anonymized, -modified",
            13 => "50 Ids",
            14 => "sort date_time, deep page",
            15 => "sent_by + 90-day range",
            16 => "location, outbound, 2 statuses, q = first name",
            17 => "end date, 100 large bodies",
            _ => "retrieve by Id",
        }
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "T{:02}", self.0)
    }
}

/// A request of the mix: its template and its target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MixRequest {
    /// The template it was drawn from.
    pub template: Template,
    /// The request target (`/v1/messages?…` or `/v1/messages/<id>`).
    pub target: String,
}

/// Draws `per_template` requests of every template from `messages`.
pub fn generate(messages: &[Message], seed: u64, per_template: usize) -> Vec<MixRequest> {
    generate_from_sample(messages, messages.len(), seed, per_template)
}

/// Draws the mix from a sample of a larger data set of `total_rows`
/// messages (for data too large to hold as messages beside the engine):
/// parameters are real values of the sample; deep pages are scaled to the
/// whole set.
pub fn generate_from_sample(sample: &[Message], total_rows: usize, seed: u64, per_template: usize) -> Vec<MixRequest> {
    let messages = sample;
    if messages.is_empty() {
        return Vec::new();
    }
    let mut rng = Rng::new(seed);
    let mut facts = DataFacts::new(messages);
    facts.row_count = total_rows.max(messages.len());
    let mut requests = Vec::with_capacity(per_template * 18);
    for template in Template::all() {
        for _ in 0..per_template {
            let target = facts.draw(template, messages, &mut rng);
            requests.push(MixRequest { template, target });
        }
    }
    requests
}

/// Statistics of the data that templates draw from.
struct DataFacts {
    /// Locations by number of messages, busiest first.
    locations: Vec<String>,
    /// Every `modified` value, sorted.
    modified: Vec<i64>,
    row_count: usize,
}

impl DataFacts {
    fn new(messages: &[Message]) -> DataFacts {
        let mut counts: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for message in messages {
            if let Some(location) = &message.location {
                *counts.entry(location).or_default() += 1;
            }
        }
        let mut locations: Vec<(&str, usize)> = counts.into_iter().collect();
        locations.sort_by(|left, right| right.1.cmp(&left.1).then(left.0.cmp(right.0)));
        let mut modified: Vec<i64> =
            messages.iter().filter_map(|message| message.modified).map(DateTime::seconds).collect();
        modified.sort_unstable();
        DataFacts {
            locations: locations.into_iter().map(|(location, _)| location.to_owned()).collect(),
            modified,
            row_count: messages.len(),
        }
    }

    fn location(&self, rng: &mut Rng, busy: bool) -> String {
        if self.locations.is_empty() {
            return "none".to_owned();
        }
        let span = if busy { self.locations.len().min(3) } else { self.locations.len() };
        self.locations[rng.below(span as u64) as usize].clone()
    }

    fn draw(&self, template: Template, messages: &[Message], rng: &mut Rng) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        let pick_message = |rng: &mut Rng, wanted: &dyn Fn(&Message) -> bool| -> Option<&Message> {
            (0..64).map(|_| &messages[rng.below(messages.len() as u64) as usize]).find(|message| wanted(message))
        };
        let day = |rng: &mut Rng| -> DateTime {
            let start = DateTime::parse("2019-01-01 00:00:00").expect("valid").seconds();
            let end = DateTime::parse("2024-12-31 00:00:00").expect("valid").seconds();
            DateTime::from_seconds(start + rng.below((end - start) as u64) as i64).expect("in range")
        };
        let date_text = |value: DateTime| value.to_string()[..10].to_owned();
        let plus_days =
            |value: DateTime, days: i64| DateTime::from_seconds(value.seconds() + days * 86_400).expect("in range");
        match template.0 {
            1 => {}
            2 => {
                query.append_pair("filters-channel", "sms").append_pair("filters-direction", "inbound");
                query.append_pair("sort_by", "date_time");
                for attribute in ["content", "correspondent", "date_time"] {
                    query.append_pair("attributes", attribute);
                }
            }
            3 => {
                query.append_pair("filters-location", &self.location(rng, true));
                query.append_pair("sort_by", "-date_time").append_pair("per_page", "50");
            }
            4 => {
                for _ in 0..3 {
                    query.append_pair("filters-location", &self.location(rng, false));
                }
                let start = day(rng);
                query.append_pair("filters-start_date", &date_text(start));
                query.append_pair("filters-end_date", &date_text(plus_days(start, 30)));
                query.append_pair("sort_by", "-date_time");
            }
            5 => {
                let enquiry = pick_message(rng, &|message| message.care_enquiry.is_some())
                    .and_then(|message| message.care_enquiry.clone())
                    .unwrap_or_default();
                query.append_pair("filters-care_enquiry", &enquiry).append_pair("sort_by", "date_time");
                for attribute in ["date_time", "channel", "subject"] {
                    query.append_pair("attributes", attribute);
                }
            }
            6 => {
                let user = pick_message(rng, &|message| message.service_user.is_some())
                    .and_then(|message| message.service_user.clone())
                    .unwrap_or_default();
                query.append_pair("filters-service_user", &user).append_pair("filters-channel", "email");
                query.append_pair("sort_by", "-date_time");
            }
            7 | 16 => {
                let name = pick_message(rng, &|message| message.correspondent.is_some())
                    .and_then(|message| message.correspondent.clone())
                    .unwrap_or_default();
                let words: Vec<&str> = name.split_whitespace().collect();
                if template.0 == 7 {
                    let surname = if words.len() >= 2 { words[words.len() - 2] } else { "smith" };
                    query.append_pair("filters-q", surname).append_pair("sort_by", "-date_time");
                } else {
                    query.append_pair("filters-location", &self.location(rng, true));
                    query.append_pair("filters-direction", "outbound");
                    query
                        .append_pair("filters-delivery_status", "sent")
                        .append_pair("filters-delivery_status", "failed");
                    query.append_pair("filters-q", words.first().copied().unwrap_or("a"));
                    query.append_pair("sort_by", "-date_time").append_pair("sort_by", "created");
                }
            }
            8 => {
                let domain = pick_message(rng, &|message| {
                    message.correspondent.as_deref().is_some_and(|text| text.contains('@'))
                })
                .and_then(|message| message.correspondent.as_deref())
                .and_then(|text| text.rsplit_once('@'))
                // "Name <address>" ends with the bracket.
                .map_or("example.com".to_owned(), |(_, domain)| domain.trim_end_matches('>').to_owned());
                query.append_pair("filters-q", &domain);
            }
            9 => {
                let after = if self.modified.is_empty() {
                    0
                } else {
                    self.modified[rng.below(self.modified.len() as u64) as usize]
                };
                let later_in_sample = self.modified.len() - self.modified.partition_point(|&value| value <= after);
                let later = later_in_sample * self.row_count / self.modified.len().max(1);
                let page = 1 + rng.below((later / 100).max(1) as u64);
                query.append_pair(
                    "filters-modified_after",
                    &DateTime::from_seconds(after).map_or("2019-01-01".to_owned(), |value| value.to_string()),
                );
                query.append_pair("sort_by", "modified").append_pair("per_page", "100");
                query.append_pair("page", &page.to_string());
            }
            10 => {
                query.append_pair("filters-read", "no").append_pair("filters-direction", "inbound");
                query.append_pair("filters-location", &self.location(rng, false));
                query.append_pair("sort_by", "-date_time");
            }
            11 => {
                query.append_pair("filters-delivery_status", "failed").append_pair("sort_by", "-created");
                query.append_pair("per_page", "25");
            }
            12 => {
                query.append_pair("filters-anonymized", "yes").append_pair("sort_by", "-modified");
            }
            13 => {
                for _ in 0..50 {
                    query.append_pair("filters-ids", &messages[rng.below(messages.len() as u64) as usize].id);
                }
                query.append_pair("per_page", "50");
            }
            14 => {
                let middle = (self.row_count / 200).max(1) as u64;
                let page = middle - middle / 10 + rng.below(middle / 5 + 1);
                query.append_pair("sort_by", "date_time").append_pair("per_page", "100");
                query.append_pair("page", &page.max(1).to_string());
            }
            15 => {
                let sender = pick_message(rng, &|message| message.sent_by.is_some())
                    .and_then(|message| message.sent_by.clone())
                    .unwrap_or_default();
                let start = day(rng);
                query.append_pair("filters-sent_by", &sender);
                query.append_pair("filters-start_date", &date_text(start));
                query.append_pair("filters-end_date", &date_text(plus_days(start, 90)));
                query.append_pair("sort_by", "-date_time");
            }
            17 => {
                query.append_pair("filters-end_date", &date_text(day(rng))).append_pair("sort_by", "-date_time");
                query.append_pair("attributes", "content").append_pair("attributes", "subject");
                query.append_pair("per_page", "100");
            }
            _ => {
                let id = &messages[rng.below(messages.len() as u64) as usize].id;
                return format!(
                    "/v1/messages/{}",
                    percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC)
                );
            }
        }
        let query = query.finish();
        if query.is_empty() {
            "/v1/messages".to_owned()
        } else {
            format!("/v1/messages?{query}")
        }
    }
}
