//! The generated data of docs/BENCH.md: a care-home group's CRM messages,
//! deterministic for a seed and size, streamed one message at a time.

use std::io::{self, Write};

use super::Rng;
use msgdex::{Channel, DateTime, DeliveryStatus, Direction, Message};

const FIRST_NAMES: &[&str] = &[
    "Oliver",
    "Amelia",
    "George",
    "Isla",
    "Harry",
    "Ava",
    "Noah",
    "Mia",
    "Jack",
    "Ivy",
    "Zoë",
    "Siân",
    "Łukasz",
    "José",
    "Chloé",
    "Seán",
    "Aoife",
    "Dafydd",
    "Niamh",
    "Ömer",
    "Renée",
    "Björn",
    "Margaret",
    "Gordon",
    "Priya",
    "Mohammed",
    "Fatima",
    "Wei",
    "Agnieszka",
    "Eilidh",
];
const LAST_NAMES: &[&str] = &[
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Patel",
    "Wright",
    "O'Brien",
    "O'Neill",
    "Müller",
    "García",
    "Nowak",
    "Kowalski",
    "Ó Súilleabháin",
    "MacDonald",
    "Parker",
    "Walford",
    "Evans",
    "Thomas",
    "Roberts",
    "Khan",
    "Lewis",
    "Hughes",
    "Çelik",
    "D'Souza",
    "Fitzgerald",
    "Ahmed",
];
/// More surnames for the `crm` shape, drawn with Zipf weights over both
/// lists, so that a common surname is shared by thousands of people.
const MORE_LAST_NAMES: &[&str] = &[
    "MacLeod",
    "Campbell",
    "Stewart",
    "Robertson",
    "Murray",
    "Macdonald",
    "Fraser",
    "Reid",
    "Clarke",
    "Walker",
    "Wood",
    "Hall",
    "Green",
    "Edwards",
    "Turner",
    "Hill",
    "Cooper",
    "Ward",
    "Morris",
    "Moore",
    "Clark",
    "Lee",
    "King",
    "Baker",
    "Harrison",
    "Morgan",
    "Allen",
    "James",
    "Scott",
    "Phillips",
    "Watson",
    "Davis",
    "Griffiths",
    "Jackson",
    "Kelly",
    "Murphy",
    "Ó Briain",
    "Kennedy",
    "Lynch",
    "Gallagher",
    "Doyle",
    "Ní Bhriain",
    "Nguyen",
    "Singh",
    "Begum",
    "Hussain",
    "Ali",
    "Chowdhury",
    "Rahman",
    "Kaur",
    "Zhang",
    "Wang",
    "Li",
    "Novák",
    "Dvořák",
    "Østergaard",
    "Søren",
    "Łęcki",
    "Schröder",
    "Fischer",
];
/// Company names of the `crm` shape's work addresses (`name<n>.co.uk`).
const COMPANIES: &[&str] =
    &["oakfield", "brightwater", "kingsway", "northgate", "riverside", "meadowbank", "harbour", "ashworth"];
const DOMAINS: &[&str] = &[
    "gmail.com",
    "hotmail.co.uk",
    "nhs.net",
    "ee.co.uk",
    "btinternet.com",
    "yahoo.co.uk",
    "outlook.com",
    "icloud.com",
    "sky.com",
    "virginmedia.com",
];
const TAGS: &[&str] = &[
    "urgent",
    "follow-up",
    "brochure",
    "visit",
    "fees",
    "respite",
    "dementia",
    "nursing",
    "complaint",
    "compliment",
    "invoice",
    "waiting-list",
    "assessment",
    "family",
    "funding",
    "hospital",
    "discharge",
    "trial-stay",
    "callback",
    "vip",
];
const WORDS: &[&str] = &[
    "care",
    "home",
    "visit",
    "room",
    "please",
    "thank",
    "you",
    "family",
    "brochure",
    "fees",
    "nursing",
    "dementia",
    "respite",
    "tour",
    "garden",
    "lunch",
    "weekend",
    "tomorrow",
    "doctor",
    "staff",
    "availability",
    "update",
    "call",
    "regards",
    "mother",
    "father",
    "assessment",
    "funding",
    "week",
    "morning",
    "afternoon",
    "residents",
    "activities",
    "menu",
    "medication",
    "appointment",
    "discuss",
    "happy",
    "arrange",
    "questions",
];
const SUBJECTS: &[&str] = &[
    "Brochure request",
    "Arranging a visit",
    "Fees and funding",
    "Respite stay enquiry",
    "Thank you",
    "Invoice query",
    "Care assessment",
    "Room availability",
    "Update on your mother",
    "Weekend activities",
    "Re: your enquiry",
    "Trial stay",
    "Visiting hours",
    "Medication review",
    "Family meeting",
];

/// Which people write the messages: how many, and how their names and
/// addresses vary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DataShape {
    /// docs/BENCH.md's data: a tenth as many people as messages, 30 first
    /// and 40 last names, ten domains; the correspondent is "First Last
    /// address", which covers the person's address in `origin` or
    /// `destination`.
    #[default]
    Bench,
    /// A CRM's contacts: a fifth as many people as messages, surnames of a
    /// hundred with Zipf weights (the most common one is shared by
    /// thousands), and the text fields vary as real ones do. The
    /// correspondent is "First Last <address>". Two in five people also
    /// write from a work address (`name<n>.co.uk`, a thousand domains),
    /// which their correspondent does not hold. So a surname or a domain
    /// matches many distinct values, in more than one field.
    Crm,
}

impl std::str::FromStr for DataShape {
    type Err = String;

    fn from_str(text: &str) -> Result<DataShape, String> {
        match text {
            "bench" => Ok(DataShape::Bench),
            "crm" => Ok(DataShape::Crm),
            other => Err(format!("unknown data shape {other:?}; the shapes are `bench` and `crm`")),
        }
    }
}

/// Generates the messages of docs/BENCH.md for a size and seed.
#[derive(Debug)]
pub struct DataGenerator {
    rng: Rng,
    count: u64,
    produced: u64,
    locations: Vec<Location>,
    /// Zipf weights of the locations.
    location_weights: ZipfWeights,
    staff: Vec<String>,
    people: Vec<Person>,
    literature: Vec<String>,
    pools: Pools,
}

#[derive(Debug)]
struct Location {
    id: String,
    email: String,
    mobile: String,
}

#[derive(Debug)]
struct Person {
    name: String,
    email: String,
    mobile: String,
    /// A second address the person writes from (the `crm` shape).
    work_email: Option<String>,
}

/// Sizes of the Id pools.
#[derive(Debug)]
struct Pools {
    care_enquiries: u64,
    service_users: u64,
    service_user_contacts: u64,
    location_contacts: u64,
}

/// 2019-01-01 00:00:00 and 2024-12-31 23:59:59.
fn date_span() -> (i64, i64) {
    (
        DateTime::parse("2019-01-01 00:00:00").expect("valid").seconds(),
        DateTime::parse("2024-12-31 23:59:59").expect("valid").seconds(),
    )
}

/// Seconds from 0000-01-01 to the Unix epoch, for ObjectId timestamps.
fn unix_epoch() -> i64 {
    DateTime::parse("1970-01-01 00:00:00").expect("valid").seconds()
}

/// Zipf weights over ranks `0..count` (rank `r` weighs `1 / (r + 1)^s`),
/// held cumulatively so that a draw is a binary search.
#[derive(Debug)]
struct ZipfWeights(Vec<f64>);

impl ZipfWeights {
    fn new(count: usize, exponent: f64) -> ZipfWeights {
        assert!(count > 0, "at least one rank");
        let mut total = 0.0;
        ZipfWeights(
            (0..count)
                .map(|rank| {
                    total += 1.0 / (rank as f64 + 1.0).powf(exponent);
                    total
                })
                .collect(),
        )
    }

    /// A rank drawn with its weight.
    fn pick(&self, rng: &mut Rng) -> usize {
        let target = rng.unit() * self.0[self.0.len() - 1];
        self.0.partition_point(|&weight| weight < target).min(self.0.len() - 1)
    }
}

/// The people of the `crm` shape (see [`DataShape::Crm`]).
fn crm_people(rng: &mut Rng, count: u64) -> Vec<Person> {
    let surnames: Vec<&str> = LAST_NAMES.iter().chain(MORE_LAST_NAMES).copied().collect();
    let weights = ZipfWeights::new(surnames.len(), 0.8);
    (0..count)
        .map(|_| {
            let first = *rng.pick(FIRST_NAMES);
            let last = surnames[weights.pick(rng)];
            let local = match rng.below(3) {
                0 => mailbox(first, last),
                1 => mailbox(&first[..first.char_indices().nth(1).map_or(first.len(), |(at, _)| at)], last),
                _ => mailbox(last, first),
            };
            let domain = *rng.pick(DOMAINS);
            let email = format!("{local}{}@{domain}", rng.below(1000));
            let mobile = format!("+447{:09}", rng.below(1_000_000_000));
            let work_email = rng
                .chance(0.4)
                .then(|| format!("{}@{}{}.co.uk", mailbox(first, last), rng.pick(COMPANIES), rng.below(125)));
            Person { name: format!("{first} {last}"), email, mobile, work_email }
        })
        .collect()
}

/// An ASCII e-mail local part for a name ("Siân O'Brien" → "sian.obrien").
fn mailbox(first: &str, last: &str) -> String {
    let fold = |text: &str| -> String {
        text.chars()
            .filter_map(|character| {
                let folded = match character {
                    'à'..='å' | 'À'..='Å' => 'a',
                    'è'..='ë' | 'È'..='Ë' => 'e',
                    'ì'..='ï' | 'Ì'..='Ï' => 'i',
                    'ò'..='ö' | 'Ò'..='Ö' => 'o',
                    'ù'..='ü' | 'Ù'..='Ü' => 'u',
                    'Ł' | 'ł' => 'l',
                    'Ç' | 'ç' => 'c',
                    other => other,
                };
                folded.is_ascii_alphanumeric().then(|| folded.to_ascii_lowercase())
            })
            .collect()
    };
    format!("{}.{}", fold(first), fold(last))
}

impl DataGenerator {
    /// A generator of `count` messages from `seed`, of the BENCH shape.
    pub fn new(count: u64, seed: u64) -> DataGenerator {
        DataGenerator::with_shape(count, seed, DataShape::Bench)
    }

    /// A generator of `count` messages of `shape` from `seed`.
    pub fn with_shape(count: u64, seed: u64, shape: DataShape) -> DataGenerator {
        let mut rng = Rng::new(seed);
        let location_count = (count / 5000).max(5);
        let locations: Vec<Location> = (0..location_count)
            .map(|index| Location {
                id: rng.object_id(1_600_000_000 + index as u32),
                email: format!("enquiries@home{index}.carehq.co.uk"),
                mobile: format!("+441{:09}", rng.below(1_000_000_000)),
            })
            .collect();
        let location_weights = ZipfWeights::new(location_count as usize, 1.0);
        let staff_count = (count / 10_000).max(10);
        let staff = (0..staff_count).map(|index| rng.object_id(1_500_000_000 + index as u32)).collect();
        let people = match shape {
            DataShape::Bench => (0..(count / 10).max(20))
                .map(|_| {
                    let first = *rng.pick(FIRST_NAMES);
                    let last = *rng.pick(LAST_NAMES);
                    let domain = *rng.pick(DOMAINS);
                    Person {
                        name: format!("{first} {last}"),
                        email: format!("{}{}@{domain}", mailbox(first, last), rng.below(100)),
                        mobile: format!("+447{:09}", rng.below(1_000_000_000)),
                        work_email: None,
                    }
                })
                .collect(),
            DataShape::Crm => crm_people(&mut rng, (count / 5).max(20)),
        };
        let literature = (0..40).map(|index| rng.object_id(1_550_000_000 + index)).collect();
        let pools = Pools {
            care_enquiries: (count / 20).max(1),
            service_users: (count / 50).max(1),
            service_user_contacts: (count / 100).max(1),
            location_contacts: (count / 500).max(1),
        };
        DataGenerator { rng, count, produced: 0, locations, location_weights, staff, people, literature, pools }
    }

    /// Writes every message as JSON Lines.
    pub fn write_json_lines(mut self, out: impl Write) -> io::Result<u64> {
        let mut out = io::BufWriter::with_capacity(1 << 20, out);
        let mut line = Vec::with_capacity(4096);
        for message in self.by_ref() {
            line.clear();
            message.write_json(&mut line, &msgdex::Field::ALL);
            line.push(b'\n');
            out.write_all(&line)?;
        }
        out.flush()?;
        Ok(self.produced)
    }

    fn pool_id(&mut self, kind: u32, size: u64) -> String {
        let index = self.rng.below(size);
        // Derived, not stored: the same index always gives the same Id.
        format!("{:08x}{:016x}", 0x5f00_0000 + kind, super::mix64(index ^ (u64::from(kind) << 40)))
    }

    fn location(&mut self) -> usize {
        self.location_weights.pick(&mut self.rng)
    }

    fn words(&mut self, min: usize, max: usize) -> String {
        let length = min + self.rng.below((max - min) as u64 + 1) as usize;
        let mut text = String::with_capacity(length + 16);
        while text.len() < length {
            if !text.is_empty() {
                text.push(' ');
            }
            let word = *self.rng.pick(WORDS);
            text.push_str(word);
        }
        text.truncate(length);
        text
    }

    fn later(&mut self, base: DateTime, max_seconds: u64) -> DateTime {
        DateTime::from_seconds(base.seconds() + self.rng.below(max_seconds + 1) as i64).expect("within 9999")
    }
}

impl Iterator for DataGenerator {
    type Item = Message;

    fn next(&mut self) -> Option<Message> {
        if self.produced == self.count {
            return None;
        }
        self.produced += 1;
        let (start, end) = date_span();
        let mut moment = start + self.rng.below((end - start) as u64 + 1) as i64;
        if self.rng.chance(0.10) {
            moment -= moment.rem_euclid(3600);
        }
        let date_time = DateTime::from_seconds(moment).expect("in range");
        let created = self.later(date_time, 3 * 86_400);
        let modified = self.later(created, 30 * 86_400);
        let email = self.rng.chance(0.70);
        let inbound = self.rng.chance(0.45);
        let location_index = self.location();
        let person = self.rng.below(self.people.len() as u64) as usize;
        let staff_member = self.rng.below(self.staff.len() as u64) as usize;

        let mut message = Message::with_id(String::new());
        let id_seconds = (created.seconds() - unix_epoch()) as u32;
        message.id = self.rng.object_id(id_seconds);
        message.date_time = (!self.rng.chance(0.01)).then_some(date_time);
        message.created = (!self.rng.chance(0.01)).then_some(created);
        message.modified = (!self.rng.chance(0.01)).then_some(modified);
        message.channel = Some(if email { Channel::Email } else { Channel::Sms });
        message.direction = Some(if inbound { Direction::Inbound } else { Direction::Outbound });
        message.location = Some(self.locations[location_index].id.clone());
        let (person_address, home_address) = {
            let person = &self.people[person];
            let home = &self.locations[location_index];
            if email {
                (person.email.clone(), home.email.clone())
            } else {
                (person.mobile.clone(), home.mobile.clone())
            }
        };
        let person_address = match &self.people[person].work_email {
            // The correspondent names the person's main address; half of
            // the e-mails come from the work one.
            Some(work) if email && self.rng.chance(0.5) => {
                message.correspondent = Some(format!("{} <{person_address}>", self.people[person].name));
                work.clone()
            }
            Some(_) => {
                message.correspondent = Some(format!("{} <{person_address}>", self.people[person].name));
                person_address
            }
            None => {
                message.correspondent = Some(format!("{} {person_address}", self.people[person].name));
                person_address
            }
        };
        if inbound {
            message.origin = Some(person_address);
            message.destination = Some(home_address);
            if self.rng.chance(0.20) {
                message.reply_to = Some(self.staff[staff_member].clone());
            }
            if self.rng.chance(0.70) {
                message.read = Some(self.later(date_time, 2 * 86_400));
                message.read_by = Some(self.staff[self.rng.below(self.staff.len() as u64) as usize].clone());
            }
            if self.rng.chance(0.30) {
                message.resolved = Some(self.later(date_time, 7 * 86_400));
                message.resolved_by = Some(self.staff[self.rng.below(self.staff.len() as u64) as usize].clone());
            }
        } else {
            message.origin = Some(home_address);
            message.destination = Some(person_address);
            message.sent_by = Some(self.staff[staff_member].clone());
            let roll = self.rng.unit();
            message.delivery_status = Some(match roll {
                r if r < 0.88 => DeliveryStatus::Sent,
                r if r < 0.92 => DeliveryStatus::Failed,
                r if r < 0.95 => DeliveryStatus::Queued,
                _ => DeliveryStatus::Unknown,
            });
        }
        if self.rng.chance(0.40) {
            message.care_enquiry = Some(self.pool_id(1, self.pools.care_enquiries));
        }
        if self.rng.chance(0.30) {
            message.service_user = Some(self.pool_id(2, self.pools.service_users));
        }
        if self.rng.chance(0.15) {
            message.service_user_contact = Some(self.pool_id(3, self.pools.service_user_contacts));
        }
        if self.rng.chance(0.10) {
            message.location_contact = Some(self.pool_id(4, self.pools.location_contacts));
        }
        if self.rng.chance(0.03) {
            message.anonymized = Some(self.later(modified, 90 * 86_400));
        }
        if email {
            message.subject = Some((*self.rng.pick(SUBJECTS)).to_owned());
            message.content = Some(self.words(200, 2000));
            message.external_service = Some(if self.rng.chance(0.5) { "oakridge" } else { "sendgrid" }.to_owned());
            if self.rng.chance(0.5) {
                message.thread_id = Some(self.pool_id(5, self.count / 4 + 1));
            }
            if !inbound && self.rng.chance(0.20) {
                let items: Vec<String> =
                    (0..1 + self.rng.below(3)).map(|_| self.rng.pick(&self.literature).clone()).collect();
                let downloaded = items.iter().filter(|_| self.rng.chance(0.4)).cloned().collect();
                message.literature_items = Some(items);
                message.literature_items_downloaded = Some(downloaded);
                message.download_id = Some(self.rng.uuid());
            }
        } else {
            message.content = Some(self.words(40, 300));
            message.external_service = Some("twilio".to_owned());
        }
        let tag_count = self.rng.below(4) as usize;
        let mut tags: Vec<String> = Vec::with_capacity(tag_count);
        while tags.len() < tag_count {
            let tag = *self.rng.pick(TAGS);
            if !tags.iter().any(|known| known == tag) {
                tags.push(tag.to_owned());
            }
        }
        message.tags = Some(tags);
        let invoices = self.rng.unit();
        message.invoices = if invoices < 0.95 {
            None
        } else if invoices < 0.98 {
            Some(Vec::new())
        } else {
            Some(vec![self.pool_id(6, self.count / 10 + 1)])
        };
        Some(message)
    }
}
