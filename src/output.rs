//! Response bodies and the transcript line (SPEC §4–§7), written as bytes.
//!
//! Both engines write through these helpers, so the envelope of a page, the
//! error bodies and string escaping are one code path; the engines differ
//! only in how they find and order the items.

use std::collections::BTreeMap;

use crate::json::{into_string, write_json_string};

/// HTTP status of a response.
pub type Status = u16;

/// A finished response: its status and its compact JSON body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// 200, 400 or 404.
    pub status: Status,
    /// The body, compact JSON.
    pub body: String,
}

impl Response {
    /// A 200 response with this body.
    pub fn ok(body: String) -> Response {
        Response { status: 200, body }
    }

    /// A 400 response reporting every invalid parameter.
    pub fn bad_request(arg_errors: &ArgErrors) -> Response {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(b"{\"hint\":");
        write_json_string(&mut out, "The request has invalid parameters.");
        out.extend_from_slice(b",\"arg_errors\":{");
        for (position, (parameter, messages)) in arg_errors.iter().enumerate() {
            if position > 0 {
                out.push(b',');
            }
            write_json_string(&mut out, parameter);
            out.extend_from_slice(b":[");
            for (index, message) in messages.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_json_string(&mut out, message);
            }
            out.push(b']');
        }
        out.extend_from_slice(b"}}");
        Response { status: 400, body: into_string(out) }
    }

    /// A 404 response with a hint saying what was not found.
    pub fn not_found(hint: &str) -> Response {
        Response { status: 404, body: hint_body(hint) }
    }

    /// The transcript form of SPEC §7: `{"status":…,"body":…}` on one line
    /// (without the line break).
    pub fn to_transcript_line(&self) -> String {
        let mut line = String::with_capacity(self.body.len() + 24);
        line.push_str("{\"status\":");
        line.push_str(itoa::Buffer::new().format(self.status));
        line.push_str(",\"body\":");
        line.push_str(&self.body);
        line.push('}');
        line
    }

    /// The body re-indented for people (two spaces), keys in the same order.
    pub fn pretty_body(&self) -> String {
        let mut out = Vec::with_capacity(self.body.len() * 2);
        let mut deserializer = serde_json::Deserializer::from_str(&self.body);
        let mut serializer = serde_json::Serializer::pretty(&mut out);
        serde_transcode::transcode(&mut deserializer, &mut serializer).expect("msgdex writes valid JSON bodies");
        into_string(out)
    }
}

/// Invalid parameters of a request: each parameter's name with one message
/// or more saying what was wrong and what is allowed. Sorted by name.
pub type ArgErrors = BTreeMap<String, Vec<String>>;

/// The body of an error that has only a hint: `{"hint":"…"}`.
pub fn hint_body(hint: &str) -> String {
    let mut out = Vec::with_capacity(hint.len() + 16);
    out.extend_from_slice(b"{\"hint\":");
    write_json_string(&mut out, hint);
    out.push(b'}');
    into_string(out)
}

/// The numbers that frame a list page (SPEC §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageFrame {
    /// Matching messages over all pages.
    pub item_count: u64,
    /// The page number used.
    pub page: u64,
    /// The page size used.
    pub per_page: u32,
}

impl PageFrame {
    /// `ceil(item_count / per_page)`: 0 when nothing matches.
    pub fn page_count(&self) -> u64 {
        self.item_count.div_ceil(u64::from(self.per_page))
    }

    /// Writes the whole list body; `write_items` appends the items, already
    /// separated by commas, between the brackets of `items`.
    pub fn write_body(&self, out: &mut Vec<u8>, write_items: impl FnOnce(&mut Vec<u8>)) {
        let mut numbers = itoa::Buffer::new();
        out.extend_from_slice(b"{\"item_count\":");
        out.extend_from_slice(numbers.format(self.item_count).as_bytes());
        out.extend_from_slice(b",\"items\":[");
        write_items(out);
        out.extend_from_slice(b"],\"page\":");
        out.extend_from_slice(numbers.format(self.page).as_bytes());
        out.extend_from_slice(b",\"page_count\":");
        out.extend_from_slice(numbers.format(self.page_count()).as_bytes());
        out.extend_from_slice(b",\"per_page\":");
        out.extend_from_slice(numbers.format(self.per_page).as_bytes());
        out.push(b'}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_frame_counts_pages() {
        let frame = PageFrame { item_count: 21, page: 3, per_page: 10 };
        assert_eq!(frame.page_count(), 3);
        let empty = PageFrame { item_count: 0, page: 1, per_page: 10 };
        assert_eq!(empty.page_count(), 0);
        let mut out = Vec::new();
        empty.write_body(&mut out, |_| {});
        assert_eq!(out, br#"{"item_count":0,"items":[],"page":1,"page_count":0,"per_page":10}"#);
    }

    #[test]
    fn error_bodies_and_transcript_lines() {
        let mut errors = ArgErrors::new();
        errors.insert("page".into(), vec!["bad \"page\"".into()]);
        let response = Response::bad_request(&errors);
        assert_eq!(response.status, 400);
        let parsed: serde_json::Value = serde_json::from_str(&response.body).unwrap();
        assert_eq!(parsed["arg_errors"]["page"][0], "bad \"page\"");
        assert!(parsed["hint"].is_string());
        let line = Response::not_found("No message has the Id `x`.").to_transcript_line();
        assert_eq!(line, r#"{"status":404,"body":{"hint":"No message has the Id `x`."}}"#);
    }

    #[test]
    fn pretty_body_keeps_key_order() {
        let response = Response::not_found("x");
        let mut errors = ArgErrors::new();
        errors.insert("a".into(), vec!["m".into()]);
        let bad = Response::bad_request(&errors).pretty_body();
        assert!(bad.find("hint").unwrap() < bad.find("arg_errors").unwrap());
        assert_eq!(response.pretty_body(), "{\n  \"hint\": \"x\"\n}");
    }
}
