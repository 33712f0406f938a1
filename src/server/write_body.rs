//! The body of a write request, and the parameters its signature covers.
//!
//! Two encodings are accepted:
//!
//! - **A form** (`application/x-www-form-urlencoded`), as the official
//!   clients send `data`: one field, `message` for a PUT and `writes` for a
//!   batch. The signature covers the form's fields as canonical parameters,
//!   exactly as the clients sign them.
//! - **Raw JSON** (`application/json`): the body is the message or the
//!   batch. The signature's parameter line is `sha256=<hex>`, the lower-case
//!   hex SHA-256 of the body's bytes, so that it covers the body.
//!
//! A DELETE has no body, and signs no parameter.

use hyper::header::CONTENT_TYPE;
use hyper::HeaderMap;
use sha2::{Digest, Sha256};

use super::metrics::Route;

/// A write's body: the JSON it carries and the parameters it is signed by.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct WriteBody {
    /// The message (PUT) or the batch (POST); empty for none.
    pub(crate) json: String,
    /// The parameters of the signature's last line.
    pub(crate) signed: Vec<(String, String)>,
}

/// Why a body was refused: the status and the hint.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct BodyRefusal {
    pub(crate) status: u16,
    pub(crate) hint: String,
}

/// The form field that carries a route's JSON.
fn form_field(route: Route) -> &'static str {
    if route == Route::Batch {
        "writes"
    } else {
        "message"
    }
}

impl WriteBody {
    /// Reads the body of a write on `route` by its `Content-Type`.
    pub(crate) fn parse(route: Route, headers: &HeaderMap, body: &[u8]) -> Result<WriteBody, BodyRefusal> {
        if body.is_empty() {
            return Ok(WriteBody { json: String::new(), signed: Vec::new() });
        }
        let field = form_field(route);
        let content_type = headers.get(CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or("");
        let media_type = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        let refuse = |status, hint: String| Err(BodyRefusal { status, hint });
        match media_type.as_str() {
            "application/x-www-form-urlencoded" => {
                let Some(pairs) = decode_form(body) else {
                    return refuse(400, "The form is not valid UTF-8 once decoded; send UTF-8 text.".into());
                };
                match pairs.as_slice() {
                    [(name, value)] if name == field => Ok(WriteBody { json: value.clone(), signed: pairs.clone() }),
                    _ => {
                        let names: Vec<&str> = pairs.iter().map(|(name, _)| name.as_str()).collect();
                        refuse(
                            400,
                            format!(
                                "The form holds the fields {names:?}; this write sends its JSON in the one field `{field}`."
                            ),
                        )
                    }
                }
            }
            "application/json" => match std::str::from_utf8(body) {
                Ok(json) => Ok(WriteBody { json: json.to_owned(), signed: vec![("sha256".into(), sha256_hex(body))] }),
                Err(error) => refuse(
                    400,
                    format!("The body is not valid UTF-8 (byte {} is not); send UTF-8 JSON.", error.valid_up_to() + 1),
                ),
            },
            _ => refuse(
                415,
                format!(
                    "A write's body is application/x-www-form-urlencoded (the field `{field}`) or application/json, \
not {content_type:?}."
                ),
            ),
        }
    }
}

/// The fields of a form body, or `None` when a name or value is not UTF-8
/// once decoded (where a lossy decoding would change what was signed).
fn decode_form(body: &[u8]) -> Option<Vec<(String, String)>> {
    let decode = |part: &[u8]| {
        let spaced: Vec<u8> = part.iter().map(|&byte| if byte == b'+' { b' ' } else { byte }).collect();
        String::from_utf8(percent_encoding::percent_decode(&spaced).collect()).ok()
    };
    body.split(|&byte| byte == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = match pair.iter().position(|&byte| byte == b'=') {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, &[][..]),
            };
            Some((decode(name)?, decode(value)?))
        })
        .collect()
}

/// The lower-case hex SHA-256 of `bytes`: the signed parameter of a raw
/// JSON body.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(content_type: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
        headers
    }

    #[test]
    fn forms_carry_one_field_and_sign_it_and_json_signs_its_hash() {
        let form =
            WriteBody::parse(Route::Put, &headers("application/x-www-form-urlencoded"), b"message=%7B%22a%22+%7D")
                .unwrap();
        assert_eq!(form.json, "{\"a\" }");
        assert_eq!(form.signed, [("message".to_owned(), "{\"a\" }".to_owned())]);
        let batch = WriteBody::parse(
            Route::Batch,
            &headers("application/x-www-form-urlencoded; charset=utf-8"),
            b"writes=%5B%5D",
        )
        .unwrap();
        assert_eq!(batch.json, "[]");
        let json = WriteBody::parse(Route::Put, &headers("Application/JSON"), b"{}").unwrap();
        assert_eq!(json.json, "{}");
        // echo -n '{}' | sha256sum
        let hash = "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
        assert_eq!(json.signed, [("sha256".to_owned(), hash.to_owned())]);
        assert_eq!(WriteBody::parse(Route::Delete, &HeaderMap::new(), b"").unwrap().signed, []);
    }

    #[test]
    fn other_fields_types_and_bytes_are_refused_with_what_is_allowed() {
        let form = headers("application/x-www-form-urlencoded");
        let refused = |route, headers: &HeaderMap, body: &[u8]| WriteBody::parse(route, headers, body).unwrap_err();
        let wrong_field = refused(Route::Put, &form, b"writes=%5B%5D");
        assert_eq!(wrong_field.status, 400);
        assert!(wrong_field.hint.contains("`message`"), "{}", wrong_field.hint);
        assert!(refused(Route::Put, &form, b"message=1&message=2").hint.contains("[\"message\", \"message\"]"));
        assert!(refused(Route::Batch, &form, b"message=1").hint.contains("`writes`"));
        let text = refused(Route::Put, &headers("text/plain"), b"{}");
        assert_eq!(text.status, 415);
        assert!(text.hint.contains("application/json"));
        assert_eq!(refused(Route::Put, &HeaderMap::new(), b"{}").status, 415);
        assert_eq!(refused(Route::Put, &headers("application/json"), b"{\"a\": \"\xff\"}").status, 400);
        assert_eq!(refused(Route::Put, &form, b"message=%FF").status, 400);
    }
}
