//! JSON text as msgdex writes it: strings escaped exactly as `serde_json`
//! escapes them, so that every engine and every stored pre-escaped
//! fragment agree byte for byte. The lowest layer: the model, the columns
//! and the output all write through it.

/// `text` as a quoted JSON string, for naming a value in a message.
pub fn quoted(text: &str) -> String {
    let mut out = Vec::with_capacity(text.len() + 2);
    write_json_string(&mut out, text);
    into_string(out)
}

/// Appends `text` as a JSON string literal, escaped exactly as `serde_json`
/// escapes it (`"`, `\`, and control characters; nothing else), so that both
/// engines and any stored pre-escaped fragment agree byte for byte.
pub fn write_json_string(out: &mut Vec<u8>, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(text.len() + 2);
    out.push(b'"');
    let bytes = text.as_bytes();
    // Most text needs no escape: find that out in one pass without an early
    // exit (which the compiler vectorises, and which costs no call on short
    // text), then copy it whole.
    if !scan(bytes).escapes {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    while let Some(found) = bytes[start..].iter().position(|&byte| NEEDS_ESCAPE[usize::from(byte)]) {
        let position = start + found;
        out.extend_from_slice(&bytes[start..position]);
        let byte = bytes[position];
        match byte {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0xf)],
            ]),
        }
        start = position + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// What one pass over a string's bytes finds.
struct Scan {
    /// A byte that `serde_json` escapes: `"`, `\\` or a control character.
    escapes: bool,
    /// A byte outside ASCII.
    beyond_ascii: bool,
}

/// Scans `bytes` without an early exit, which the compiler vectorises and
/// which costs no call on short text.
#[inline]
fn scan(bytes: &[u8]) -> Scan {
    let (escapes, beyond_ascii) = bytes.iter().fold((false, false), |(escapes, beyond_ascii), &byte| {
        (escapes | (byte < 0x20) | (byte == b'"') | (byte == b'\\'), beyond_ascii | (byte >= 0x80))
    });
    Scan { escapes, beyond_ascii }
}

/// The bytes `serde_json` escapes inside strings: `"`, `\` and controls.
static NEEDS_ESCAPE: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = true;
        byte += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// Whether `fragment` is a JSON string exactly as [`write_json_string`]
/// writes one: quoted, valid UTF-8, and escaped in that one way. A stored
/// value is checked with this before it is trusted (a segment file is
/// hostile input): the output copies stored values as they are, and
/// filters compare them byte for byte with values written here.
pub(crate) fn is_written_string(fragment: &[u8]) -> bool {
    let [b'"', inner @ .., b'"'] = fragment else { return false };
    // Nearly every value has nothing to escape, and most are ASCII: UTF-8
    // is checked only where it can fail. Otherwise decode and write again.
    let found = scan(inner);
    match found.escapes {
        false => !found.beyond_ascii || std::str::from_utf8(inner).is_ok(),
        true => serde_json::from_slice::<String>(fragment).is_ok_and(|text| {
            let mut written = Vec::with_capacity(fragment.len());
            write_json_string(&mut written, &text);
            written == fragment
        }),
    }
}

/// Whether `fragment` is a JSON array of strings exactly as msgdex writes
/// one: `[`, the strings as [`is_written_string`] accepts them, separated
/// by `,` without spaces, and `]`.
pub(crate) fn is_written_string_list(fragment: &[u8]) -> bool {
    let [b'[', inner @ .., b']'] = fragment else { return false };
    let mut rest = inner;
    if rest.is_empty() {
        return true;
    }
    loop {
        let Some(end) = written_string_end(rest) else { return false };
        if !is_written_string(&rest[..end]) {
            return false;
        }
        match &rest[end..] {
            [] => return true,
            [b',', next @ ..] => rest = next,
            _ => return false,
        }
    }
}

/// The length of the JSON string that `text` starts with (through its
/// closing quote), found by skipping escapes; `None` when it does not
/// start with one or never closes.
fn written_string_end(text: &[u8]) -> Option<usize> {
    let mut at = 1;
    (text.first() == Some(&b'"')).then_some(())?;
    loop {
        match text.get(at)? {
            b'"' => return Some(at + 1),
            b'\\' => at += 2,
            _ => at += 1,
        }
    }
}

/// Turns bytes that msgdex wrote as JSON into a `String`.
pub(crate) fn into_string(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).expect("msgdex writes UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_like_serde_json() {
        for text in ["plain", "quote \" and \\ slash /", "\u{0}\u{1f}\u{7f}\n\r\t\u{8}\u{c}", "Zoë Siân Łukasz 🎉", ""]
        {
            let mut out = Vec::new();
            write_json_string(&mut out, text);
            assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(text).unwrap());
        }
    }

    #[test]
    fn what_msgdex_writes_is_recognised_and_nothing_else() {
        let texts = ["plain", "quote \" and \\ slash /", "\u{0}\u{1f}\u{7f}\n\r\t\u{8}\u{c}", "Zoë 🎉", ""];
        for text in texts {
            assert!(is_written_string(quoted(text).as_bytes()), "{text:?}");
        }
        let list = serde_json::to_string(&texts).unwrap();
        for written in ["[]", "[\"a\"]", "[\"\",\"\"]", list.as_str()] {
            assert!(is_written_string_list(written.as_bytes()), "{written}");
        }
        let not_strings: [&[u8]; 14] = [
            b"",
            b"\"",
            b"plain",
            b"\"a\"b\"",
            b"\"a\\\"",
            b"\"\\/\"",
            b"\"\\u000a\"",
            b"\"\\u001F\"",
            b"\"\\u0041\"",
            b"\"\\x\"",
            b"\"tab\there\"",
            b"\"\xff\"",
            b"\"\xc3\"",
            b"[\"a\"]",
        ];
        for fragment in not_strings {
            assert!(!is_written_string(fragment), "{}", String::from_utf8_lossy(fragment));
        }
        let not_lists: [&[u8]; 9] =
            [b"", b"[", b"[,]", b"[\"a\",]", b"[\"a\" ,\"b\"]", b"[\"a\"\"b\"]", b"[\"a]", b"[1]", b"\"a\""];
        for fragment in not_lists {
            assert!(!is_written_string_list(fragment), "{}", String::from_utf8_lossy(fragment));
        }
    }
}
