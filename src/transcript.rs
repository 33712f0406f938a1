//! The request/response transcript of SPEC §7: one request target per line
//! in, one `{"status":…,"body":…}` line out, in order.

use std::io::{self, BufRead, Write};

use crate::engine::Engine;

/// Answers every request line of `input` with one response line on
/// `output`, in order, and flushes at the end.
///
/// A trailing `\r` is ignored; a line that is empty or only spaces and tabs
/// gets no response; bytes that are not UTF-8 become U+FFFD. A bad request
/// is a 400 or 404 line, never an error: only I/O fails this function.
pub fn run_transcript(engine: &dyn Engine, input: impl BufRead, output: impl Write) -> io::Result<u64> {
    let mut output = io::BufWriter::with_capacity(1 << 16, output);
    let mut answered = 0;
    for line in input.split(b'\n') {
        let line = line?;
        let Some(target) = request_target(&line) else {
            continue;
        };
        let response = engine.respond(&String::from_utf8_lossy(target));
        output.write_all(response.to_transcript_line().as_bytes())?;
        output.write_all(b"\n")?;
        answered += 1;
    }
    output.flush()?;
    Ok(answered)
}

/// The request target of one line (without its line break), or `None` for
/// a line that gets no response.
pub fn request_target(line: &[u8]) -> Option<&[u8]> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    (!line.iter().all(|&byte| byte == b' ' || byte == b'\t')).then_some(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Message;
    use crate::reference::ReferenceEngine;

    #[test]
    fn answers_each_line_in_order_and_skips_blank_ones() {
        let engine = ReferenceEngine::new(vec![Message::with_id("a"), Message::with_id("b")]);
        let input =
            b"/v1/messages?per_page=1\r\n\n \t \r\n/v1/messages/b\n/v1/messages/zz\n/nowhere\n/v1/messages?page=0";
        let mut output = Vec::new();
        let answered = run_transcript(&engine, &input[..], &mut output).unwrap();
        assert_eq!(answered, 5);
        let lines: Vec<serde_json::Value> =
            String::from_utf8(output).unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect();
        let statuses: Vec<u64> = lines.iter().map(|line| line["status"].as_u64().unwrap()).collect();
        assert_eq!(statuses, [200, 200, 404, 404, 400]);
        assert_eq!(lines[0]["body"]["items"][0]["_id"], "a");
        assert_eq!(lines[0]["body"]["page_count"], 2);
        assert_eq!(lines[1]["body"]["_id"], "b");
    }
}
