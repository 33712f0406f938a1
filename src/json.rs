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
    let escapes = bytes.iter().fold(false, |found, &byte| found | (byte < 0x20) | (byte == b'"') | (byte == b'\\'));
    if !escapes {
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
}
