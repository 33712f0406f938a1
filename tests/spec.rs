//! One table-driven test per rule of SPEC §1–§7, run against every engine.
//! Each case names the rule it checks; expected results are worked out by
//! hand from the small data set below.

use msgdex::Engine;
use serde_json::Value;

mod common;

/// Nine messages chosen so that every rule has something to bite on: nulls,
/// `null` vs `[]`, ties on every date, non-ASCII and mixed case, Ids that
/// sort differently byte-wise than by Unicode collation.
const DATA: &str = r#"
{"_id": "m1", "channel": "email", "direction": "outbound", "delivery_status": "sent", "date_time": "2024-01-01 00:00:00", "created": "2024-01-02 10:00:00", "modified": "2024-02-01 00:00:00", "location": "L1", "sent_by": "U1", "correspondent": "Zoë Ångström zoe@Example.com", "destination": "zoe@Example.com", "origin": "home@care.example", "tags": [], "anonymized": "2024-03-01 00:00:00"}
{"_id": "m2", "channel": "sms", "direction": "inbound", "date_time": "2024-01-01 00:00:00", "created": "2024-01-02 10:00:00", "modified": "2024-02-01 00:00:01", "location": "L1", "reply_to": "U1", "correspondent": "SIÂN O'BRIEN +447700900001", "origin": "+447700900001", "destination": "+441234500001", "read": "2024-01-05 09:00:00", "tags": null}
{"_id": "m3", "channel": "email", "direction": "inbound", "date_time": "2024-01-31 23:59:59", "created": null, "modified": "2024-02-01 00:00:00", "location": "L2", "care_enquiry": "E1", "correspondent": "İbrahim Şahin ibrahim@example.tr", "origin": "ibrahim@example.tr", "tags": ["urgent"]}
{"_id": "M4", "channel": "sms", "direction": "outbound", "delivery_status": "failed", "date_time": null, "created": "2023-12-31 23:59:59", "modified": null, "location": "L2", "sent_by": "U2", "service_user": "S1", "correspondent": null, "destination": "+447700900002", "origin": "+441234500002"}
{"_id": "m5", "channel": null, "direction": null, "date_time": "2024-02-01 00:00:00", "created": "2024-02-01 00:00:00", "modified": "2024-02-02 12:00:00", "location": null, "service_user_contact": "C1", "location_contact": "LC1", "correspondent": "ΣΟΦΊΑ Σ soFIA@example.gr", "invoices": ["b", "a"]}
{"_id": "Ä6", "channel": "email", "direction": "outbound", "delivery_status": "queued", "date_time": "2024-01-15 12:00:00", "created": "2024-01-15 12:00:00", "modified": "2024-02-01 00:00:00", "location": "L1", "sent_by": "U1", "destination": "ops@Care.Example", "origin": "home@care.example", "read": null}
{"_id": "_7", "channel": "email", "direction": "inbound", "date_time": "2024-01-15 12:00:00", "created": "2024-01-16 08:00:00", "modified": "2024-01-20 00:00:00", "location": "L3", "correspondent": "", "origin": "Jose.Garcia@Example.com", "read": "2024-01-16 09:00:00", "anonymized": null}
{"_id": "m10", "channel": "sms", "direction": "outbound", "delivery_status": "unknown", "date_time": "2023-06-30 08:15:00", "created": "2023-06-30 08:15:00", "modified": "2023-07-01 00:00:00", "location": "L3", "sent_by": "U2", "destination": "+447700900003", "literature_items": ["x", "y"], "literature_items_downloaded": []}
{"_id": "m9", "date_time": "2024-12-31 23:59:59"}
"#;

struct Case {
    rule: &'static str,
    target: &'static str,
    /// Expected `_id`s of the page, in order; `None` for an error status.
    ids: Option<&'static [&'static str]>,
    /// Expected `item_count` (list) or status (error).
    number: u64,
}

const fn list(rule: &'static str, target: &'static str, ids: &'static [&'static str], item_count: u64) -> Case {
    Case { rule, target, ids: Some(ids), number: item_count }
}

const fn error(rule: &'static str, target: &'static str, status: u64) -> Case {
    Case { rule, target, ids: None, number: status }
}

const ALL_BY_ID: &[&str] = &["M4", "_7", "m1", "m10", "m2", "m3", "m5", "m9", "Ä6"];

const CASES: &[Case] = &[
    // §2 defaults and list semantics
    list("default: _id order, per_page 10", "/v1/messages", ALL_BY_ID, 9),
    list("empty values are dropped", "/v1/messages?page=&filters-location=&colour=", ALL_BY_ID, 9),
    list("list values OR", "/v1/messages?filters-location=L2&filters-location=L3", &["M4", "_7", "m10", "m3"], 4),
    list("filters AND", "/v1/messages?filters-location=L1&filters-channel=sms", &["m2"], 1),
    list(
        "repeated list values are harmless",
        "/v1/messages?filters-channel=sms&filters-channel=sms",
        &["M4", "m10", "m2"],
        3,
    ),
    list(
        "null never matches a value filter",
        "/v1/messages?filters-channel=email&filters-channel=sms",
        &["M4", "_7", "m1", "m10", "m2", "m3", "Ä6"],
        7,
    ),
    list("filters-ids", "/v1/messages?filters-ids=m9&filters-ids=%C3%846&filters-ids=nope", &["m9", "Ä6"], 2),
    list("filters-reply_to_user is reply_to", "/v1/messages?filters-reply_to_user=U1", &["m2"], 1),
    list("filters-sent_by", "/v1/messages?filters-sent_by=U2", &["M4", "m10"], 2),
    list("filters-care_enquiry", "/v1/messages?filters-care_enquiry=E1", &["m3"], 1),
    list("filters-service_user", "/v1/messages?filters-service_user=S1", &["M4"], 1),
    list("filters-service_user_contact", "/v1/messages?filters-service_user_contact=C1", &["m5"], 1),
    list("filters-location_contact", "/v1/messages?filters-location_contact=LC1", &["m5"], 1),
    list("Id filters are exact (case-sensitive)", "/v1/messages?filters-location=l1", &[], 0),
    list("filters-direction", "/v1/messages?filters-direction=inbound", &["_7", "m2", "m3"], 3),
    list(
        "filters-delivery_status",
        "/v1/messages?filters-delivery_status=failed&filters-delivery_status=queued",
        &["M4", "Ä6"],
        2,
    ),
    list("anonymized yes", "/v1/messages?filters-anonymized=yes", &["m1"], 1),
    list("anonymized no", "/v1/messages?filters-anonymized=no", &["M4", "_7", "m10", "m2", "m3", "m5", "m9", "Ä6"], 8),
    list("read yes", "/v1/messages?filters-read=yes", &["_7", "m2"], 2),
    list("read unset", "/v1/messages?filters-read=unset", ALL_BY_ID, 9),
    list("start_date includes 00:00:00", "/v1/messages?filters-start_date=2024-02-01", &["m5", "m9"], 2),
    list(
        "end_date includes the whole day",
        "/v1/messages?filters-end_date=2024-01-31",
        &["_7", "m1", "m10", "m2", "m3", "Ä6"],
        6,
    ),
    list(
        "date range, null date_time excluded",
        "/v1/messages?filters-start_date=2024-01-01&filters-end_date=2024-01-15",
        &["_7", "m1", "m2", "Ä6"],
        4,
    ),
    list(
        "contradictory range matches nothing",
        "/v1/messages?filters-start_date=2024-02-01&filters-end_date=2024-01-01",
        &[],
        0,
    ),
    list("modified_after is strict", "/v1/messages?filters-modified_after=2024-02-01+00:00:00", &["m2", "m5"], 2),
    list(
        "modified_before is strict, T form",
        "/v1/messages?filters-modified_before=2024-02-01T00:00:00",
        &["_7", "m10"],
        2,
    ),
    list("date-only modified bound is midnight", "/v1/messages?filters-modified_before=2024-02-01", &["_7", "m10"], 2),
    list("q is case-insensitive over three fields", "/v1/messages?filters-q=EXAMPLE.COM", &["_7", "m1"], 2),
    list("q trims whitespace", "/v1/messages?filters-q=++o%27brien+", &["m2"], 1),
    list("q blank is no filter", "/v1/messages?filters-q=+++", ALL_BY_ID, 9),
    list("q full Unicode lower-casing (İ → i̇)", "/v1/messages?filters-q=i%CC%87brahim", &["m3"], 1),
    list(
        "q final sigma lower-cases as σ/ς per Unicode",
        "/v1/messages?filters-q=%CF%83%CE%BF%CF%86%CE%AF%CE%B1",
        &["m5"],
        1,
    ),
    list("q matches destination", "/v1/messages?filters-q=ops%40care", &["Ä6"], 1),
    list("q never matches null", "/v1/messages?filters-q=%2B4477009000", &["M4", "m10", "m2"], 3),
    // §3 order and pages
    list(
        "sort ascending, null first, _id tiebreak",
        "/v1/messages?sort_by=date_time",
        &["M4", "m10", "m1", "m2", "_7", "Ä6", "m3", "m5", "m9"],
        9,
    ),
    list(
        "sort descending, null last, _id ascending tiebreak",
        "/v1/messages?sort_by=-date_time",
        &["m9", "m5", "m3", "_7", "Ä6", "m1", "m2", "m10", "M4"],
        9,
    ),
    list(
        "multi-key sort",
        "/v1/messages?sort_by=-modified&sort_by=created",
        &["m5", "m2", "m3", "m1", "Ä6", "_7", "m10", "m9", "M4"],
        9,
    ),
    list(
        "explicit -_id replaces the tiebreak",
        "/v1/messages?sort_by=created&sort_by=-_id",
        &["m9", "m3", "m10", "M4", "m2", "m1", "Ä6", "_7", "m5"],
        9,
    ),
    list(
        "sort by _id descending is byte-wise",
        "/v1/messages?sort_by=-_id",
        &["Ä6", "m9", "m5", "m3", "m2", "m10", "m1", "_7", "M4"],
        9,
    ),
    list("pages slice the order", "/v1/messages?sort_by=date_time&per_page=4&page=2", &["_7", "Ä6", "m3", "m5"], 9),
    list("last partial page", "/v1/messages?sort_by=date_time&per_page=4&page=3", &["m9"], 9),
    list("page past the end is empty, not an error", "/v1/messages?per_page=4&page=4", &[], 9),
    list("huge page is empty", "/v1/messages?per_page=100&page=18446744073709551615", &[], 9),
    // §6 errors
    error("unknown parameter", "/v1/messages?colour=red", 400),
    error("single-valued sent twice", "/v1/messages?page=1&page=2", 400),
    error("page=0", "/v1/messages?page=0", 400),
    error("per_page=101", "/v1/messages?per_page=101", 400),
    error("per_page=ten", "/v1/messages?per_page=ten", 400),
    error("+1 is not an integer", "/v1/messages?page=%2B1", 400),
    error("1.0 is not an integer", "/v1/messages?per_page=1.0", 400),
    error("bad enum", "/v1/messages?filters-channel=fax", 400),
    error("bad date", "/v1/messages?filters-start_date=2024-13-01", 400),
    error("bad attribute", "/v1/messages?attributes=colour", 400),
    error("bad sort key", "/v1/messages?sort_by=-subject", 400),
    error("sort key twice", "/v1/messages?sort_by=date_time&sort_by=-date_time", 400),
    error("unknown Id", "/v1/messages/nope", 404),
    error("unknown path", "/v1/enquiries", 404),
    error("no Id", "/v1/messages/", 404),
];

fn engines() -> Vec<(&'static str, Box<dyn Engine>)> {
    common::all_engines(msgdex::load_str(DATA).expect("the spec data loads"))
}

#[test]
fn every_rule_holds_on_every_engine() {
    for (name, engine) in engines() {
        for case in CASES {
            let response = engine.respond(case.target);
            let body: Value = serde_json::from_str(&response.body).unwrap();
            let context = format!("engine {name}, rule {:?}, {}: {}", case.rule, case.target, response.body);
            match case.ids {
                Some(ids) => {
                    assert_eq!(response.status, 200, "{context}");
                    let actual: Vec<&str> =
                        body["items"].as_array().unwrap().iter().map(|item| item["_id"].as_str().unwrap()).collect();
                    assert_eq!(actual, ids, "{context}");
                    assert_eq!(body["item_count"], case.number, "{context}");
                }
                None => {
                    assert_eq!(u64::from(response.status), case.number, "{context}");
                    assert!(body["hint"].is_string(), "{context}");
                }
            }
        }
    }
}

#[test]
fn several_invalid_parameters_are_all_reported() {
    for (name, engine) in engines() {
        let response = engine.respond("/v1/messages?page=0&per_page=ten&colour=red&filters-channel=fax&attributes=size&sort_by=x&filters-read=maybe&filters-q=a&filters-q=b&filters-end_date=yesterday&filters-modified_after=soon");
        assert_eq!(response.status, 400, "{name}");
        let body: Value = serde_json::from_str(&response.body).unwrap();
        let keys: Vec<&String> = body["arg_errors"].as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "attributes",
                "colour",
                "filters-channel",
                "filters-end_date",
                "filters-modified_after",
                "filters-q",
                "filters-read",
                "page",
                "per_page",
                "sort_by"
            ],
            "{name}"
        );
        for messages in body["arg_errors"].as_object().unwrap().values() {
            let message = messages[0].as_str().unwrap();
            assert!(message.len() > 20, "messages say what is allowed: {message}");
        }
    }
}

#[test]
fn page_numbers_and_projection_follow_section_4() {
    for (name, engine) in engines() {
        let body: Value = serde_json::from_str(
            &engine
                .respond(
                    "/v1/messages?per_page=4&page=2&attributes=tags&attributes=invoices&attributes=_id&attributes=tags",
                )
                .body,
        )
        .unwrap();
        assert_eq!(body["page"], 2, "{name}");
        assert_eq!(body["per_page"], 4, "{name}");
        assert_eq!(body["page_count"], 3, "{name}");
        let item = &body["items"][0];
        let keys: Vec<&String> = item.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["_id", "invoices", "tags"], "{name}");
        let empty: Value = serde_json::from_str(&engine.respond("/v1/messages?filters-location=none").body).unwrap();
        assert_eq!(empty["page_count"], 0, "{name}");
        assert_eq!(empty["page"], 1, "{name}");
    }
}

#[test]
fn list_items_keep_null_and_empty_lists_apart_and_canonical_order() {
    for (name, engine) in engines() {
        let line = engine
            .respond("/v1/messages?filters-ids=m1&filters-ids=m2&filters-ids=m5&attributes=tags&attributes=invoices&attributes=subject&attributes=anonymized")
            .to_transcript_line();
        assert_eq!(
            line,
            concat!(
                r#"{"status":200,"body":{"item_count":3,"items":["#,
                r#"{"_id":"m1","anonymized":"2024-03-01 00:00:00","invoices":null,"subject":null,"tags":[]},"#,
                r#"{"_id":"m2","anonymized":null,"invoices":null,"subject":null,"tags":null},"#,
                r#"{"_id":"m5","anonymized":null,"invoices":["b","a"],"subject":null,"tags":null}"#,
                r#"],"page":1,"page_count":1,"per_page":10}}"#
            ),
            "{name}"
        );
    }
}

#[test]
fn retrieve_round_trips_every_message() {
    let source: Vec<Value> =
        DATA.lines().filter(|line| !line.trim().is_empty()).map(|line| serde_json::from_str(line).unwrap()).collect();
    for (name, engine) in engines() {
        for original in &source {
            let id = original["_id"].as_str().unwrap();
            let encoded: String =
                percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC).to_string();
            let response = engine.respond(&format!("/v1/messages/{encoded}"));
            assert_eq!(response.status, 200, "{name} {id}");
            let keys = common::key_order(&response.body);
            let canonical: Vec<&str> = msgdex::Field::ALL.iter().map(|field| field.name()).collect();
            assert_eq!(keys, canonical, "{name}: all 31 fields in canonical order");
            let retrieved: Value = serde_json::from_str(&response.body).unwrap();
            for (field, value) in original.as_object().unwrap() {
                assert_eq!(&retrieved[field], value, "{name} {id} {field}");
            }
        }
    }
}
