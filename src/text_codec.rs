//! `content` stored compressed: each message's text is one zstd frame made
//! against a dictionary trained from the messages of the base it was first
//! built for (later compactions keep it, with the frames), so that a
//! single message decompresses alone (a page of scattered rows, a
//! retrieve) while the dictionary supplies the vocabulary that one short
//! text cannot. The measured alternatives (LZ4 with and without a sampled
//! dictionary, zstd without one, blocks of messages) and why this one was
//! chosen are in docs/ARCHITECTURE.md, "Compact storage".
//!
//! ```text
//!  dictionary (≤ 64 KiB, trained when a base is built from plain text;
//!  compactions keep it, copying the base's frames as they are)
//!  value  →  zstd frame: header (declares the text's length), blocks
//! ```
//!
//! *Invariant:* every frame a codec holds was either written by it or
//! decompressed once with it when its segment file was opened
//! ([`TextCodec::check`]), so writing a value out cannot fail.

use std::cell::RefCell;

use rayon::prelude::*;

/// The zstd level: level 3 stored 20% less than level 1 on both corpora
/// measured, and decompressed as fast or faster.
const LEVEL: i32 = 3;
/// The size of a trained dictionary.
const DICTIONARY_BYTES: usize = 64 << 10;
/// How much text (at most) a dictionary is trained on.
const SAMPLE_BYTES: usize = 4 << 20;
/// How a dictionary is trained: segments of 200 bytes scored by their
/// 8-byte substrings. zstd's default tries several segment sizes and keeps
/// the best; this one, measured against its choice on both corpora, trains
/// much faster for a dictionary about as good (docs/ARCHITECTURE.md).
const TRAINING: crate::sys::FastCover = crate::sys::FastCover { k: 200, d: 8 };
/// The longest text a stored frame may declare: longer is damage (a
/// message's `content` is one field of one JSON line or HTTP body).
const MOST_TEXT_BYTES: u64 = 1 << 30;
/// The largest dictionary a segment file may hold (this build trains
/// dictionaries of [`DICTIONARY_BYTES`]).
const MOST_DICTIONARY_BYTES: usize = 16 << 20;

thread_local! {
    /// Each thread's decompression context: made once, since making one
    /// costs more than decompressing a message.
    static DECOMPRESSION: RefCell<zstd_safe::DCtx<'static>> = RefCell::new(zstd_safe::DCtx::create());
    /// Each thread's compression context, set to write frames without the
    /// dictionary's id (the segment keeps one dictionary per column) and
    /// without a checksum (the segment file has its own).
    static COMPRESSION: RefCell<zstd_safe::CCtx<'static>> = RefCell::new({
        let mut context = zstd_safe::CCtx::create();
        for parameter in [
            zstd_safe::CParameter::DictIdFlag(false),
            zstd_safe::CParameter::ChecksumFlag(false),
            zstd_safe::CParameter::ContentSizeFlag(true),
        ] {
            context.set_parameter(parameter).expect("a valid parameter");
        }
        context
    });
}

/// `out` as a destination zstd writes after its end, into its spare
/// capacity (nothing is zeroed first); `out`'s length then covers what was
/// written.
fn appending(out: &mut Vec<u8>) -> std::io::Cursor<&mut Vec<u8>> {
    let end = out.len() as u64;
    let mut cursor = std::io::Cursor::new(out);
    cursor.set_position(end);
    cursor
}

/// The length of the text `frame`'s header declares, or why it is not one
/// a value may have.
fn declared_len(frame: &[u8]) -> Result<usize, String> {
    match zstd_safe::get_frame_content_size(frame) {
        Ok(Some(length)) if length <= MOST_TEXT_BYTES => Ok(length as usize),
        Ok(Some(length)) => Err(format!("a compressed value declares {length} bytes of text")),
        _ => Err("a compressed value has no readable frame header".to_owned()),
    }
}

/// A dictionary and what compresses and decompresses with it.
pub struct TextCodec {
    /// The dictionary as trained (empty: compressed without one), kept to
    /// be written to segment files.
    dictionary: Vec<u8>,
    compression: zstd_safe::CDict<'static>,
    decompression: zstd_safe::DDict<'static>,
}

impl std::fmt::Debug for TextCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextCodec").field("dictionary_bytes", &self.dictionary.len()).finish_non_exhaustive()
    }
}

impl TextCodec {
    /// A codec trained on `values` (a sample of them, spread over the
    /// whole); without a dictionary when they are too few to train one.
    pub fn train(values: &[&[u8]]) -> TextCodec {
        let total: usize = values.iter().map(|value| value.len()).sum();
        let step = total.div_ceil(SAMPLE_BYTES).max(1);
        let mut samples = Vec::with_capacity(total.min(SAMPLE_BYTES) + 4096);
        let mut sizes = Vec::new();
        for value in values.iter().step_by(step) {
            samples.extend_from_slice(value);
            sizes.push(value.len());
        }
        // zstd refuses to train on too little text; the frames are then
        // made without a dictionary.
        let dictionary =
            crate::sys::train_zstd_dictionary(&samples, &sizes, DICTIONARY_BYTES, TRAINING).unwrap_or_default();
        TextCodec::with_dictionary(dictionary).expect("a dictionary zstd trained, or none, loads")
    }

    /// The codec of a dictionary read from a segment file; `Err` with the
    /// reason when zstd cannot load it.
    pub fn with_dictionary(dictionary: Vec<u8>) -> Result<TextCodec, String> {
        if dictionary.len() > MOST_DICTIONARY_BYTES {
            return Err(format!(
                "the content dictionary holds {} bytes; at most {MOST_DICTIONARY_BYTES} are allowed",
                dictionary.len()
            ));
        }
        let compression = zstd_safe::CDict::try_create(&dictionary, LEVEL)
            .ok_or_else(|| "zstd cannot load the content dictionary".to_owned())?;
        let decompression = zstd_safe::DDict::try_create(&dictionary)
            .ok_or_else(|| "zstd cannot load the content dictionary".to_owned())?;
        Ok(TextCodec { dictionary, compression, decompression })
    }

    /// The dictionary (empty when there is none).
    pub fn dictionary(&self) -> &[u8] {
        &self.dictionary
    }

    /// Appends the frame of `text` to `out`.
    pub fn compress_into(&self, text: &[u8], out: &mut Vec<u8>) {
        out.reserve(zstd_safe::compress_bound(text.len()));
        let written = COMPRESSION.with(|context| {
            let mut context = context.borrow_mut();
            context.ref_cdict(&self.compression).expect("no frame is in progress");
            let written = context.compress2(&mut appending(out), text);
            // The context keeps no pointer to a dictionary it may outlive.
            context.disable_dictionary().expect("no frame is in progress");
            written
        });
        written.expect("the destination holds the compression bound");
    }

    /// Appends the text of `frame` (one this codec holds, see the module's
    /// invariant) to `out`.
    #[inline]
    pub fn write_text(&self, frame: &[u8], out: &mut Vec<u8>) {
        self.decompress_into(frame, out).expect("stored frames were written or checked by this codec");
    }

    /// The length of the text `frame` declares, for making room ahead of
    /// writing it out (0 when its header cannot be read, or declares more
    /// than a value may hold).
    #[inline]
    pub fn text_len(&self, frame: &[u8]) -> usize {
        declared_len(frame).unwrap_or(0)
    }

    /// Appends the text of `frame` to `out`, or says why it is not one of
    /// this codec's frames (`out` is then as it was).
    pub fn decompress_into(&self, frame: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        let length = declared_len(frame)?;
        let start = out.len();
        out.reserve(length);
        let written = DECOMPRESSION.with(|context| {
            context.borrow_mut().decompress_using_ddict(&mut appending(out), frame, &self.decompression)
        });
        match written {
            Ok(written) if written == length => Ok(()),
            Ok(written) => {
                out.truncate(start);
                Err(format!("a compressed value holds {written} bytes, not the {length} its header declares"))
            }
            Err(code) => {
                out.truncate(start);
                Err(format!("a compressed value does not decompress ({})", zstd_safe::get_error_name(code)))
            }
        }
    }

    /// Checks that every frame decompresses to a JSON string as msgdex
    /// writes it, of the length it declares (a segment file's values,
    /// before they are trusted); `Err` with the first problem found.
    pub fn check<'a>(&self, frames: impl IndexedParallelIterator<Item = &'a [u8]>) -> Result<(), String> {
        frames.with_min_len(1024).try_for_each_init(Vec::new, |text, frame| {
            text.clear();
            self.decompress_into(frame, text)?;
            if !crate::json::is_written_string(text) {
                return Err("a compressed value is not a string in JSON as msgdex writes it".to_owned());
            }
            Ok(())
        })
    }

    /// Approximate heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.dictionary.capacity() + self.compression.sizeof() + self.decompression.sizeof()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts() -> Vec<Vec<u8>> {
        (0..2000)
            .map(|index| format!("\"Dear family {index}, the visit on {} is confirmed. Zoë\"", index % 7).into_bytes())
            .collect()
    }

    #[test]
    fn frames_round_trip_with_a_trained_dictionary_and_without_one() {
        let texts = texts();
        let values: Vec<&[u8]> = texts.iter().map(Vec::as_slice).collect();
        for codec in [TextCodec::train(&values), TextCodec::train(&values[..2])] {
            let mut frames = Vec::new();
            let mut out = b"[".to_vec();
            for text in &texts {
                frames.clear();
                codec.compress_into(text, &mut frames);
                codec.write_text(&frames, &mut out);
            }
            assert_eq!(out, [&b"["[..], &texts.concat()].concat());
        }
        assert!(!TextCodec::train(&values).dictionary().is_empty(), "2,000 texts train a dictionary");
        assert!(TextCodec::train(&values[..2]).dictionary().is_empty(), "two do not");
    }

    #[test]
    fn a_trained_dictionary_makes_short_texts_smaller() {
        let texts = texts();
        let values: Vec<&[u8]> = texts.iter().map(Vec::as_slice).collect();
        let size = |codec: &TextCodec| {
            let mut frames = Vec::new();
            values.iter().for_each(|value| codec.compress_into(value, &mut frames));
            frames.len()
        };
        assert!(size(&TextCodec::train(&values)) * 2 < size(&TextCodec::train(&[])));
    }

    #[test]
    fn a_damaged_dictionary_is_refused() {
        let texts = texts();
        let values: Vec<&[u8]> = texts.iter().map(Vec::as_slice).collect();
        let mut dictionary = TextCodec::train(&values).dictionary().to_vec();
        // A trained dictionary starts with its magic number and entropy
        // tables: garbage after the magic does not load.
        dictionary[8..64].fill(0xff);
        assert!(TextCodec::with_dictionary(dictionary).is_err());
    }

    #[test]
    fn damaged_frames_are_refused_with_the_reason() {
        let texts = texts();
        let values: Vec<&[u8]> = texts.iter().map(Vec::as_slice).collect();
        let codec = TextCodec::train(&values);
        let mut frame = Vec::new();
        codec.compress_into(values[0], &mut frame);
        assert_eq!(codec.check([frame.as_slice()].into_par_iter()), Ok(()));
        let mut out = b"kept".to_vec();
        for damaged in [&frame[..frame.len() - 1], &[][..], b"\x28\xb5\x2f\xfd garbage"] {
            assert!(codec.decompress_into(damaged, &mut out).is_err(), "{damaged:?}");
            assert_eq!(out, b"kept", "nothing is appended");
        }
        let mut not_json = Vec::new();
        codec.compress_into(b"plain", &mut not_json);
        assert_eq!(
            codec.check([not_json.as_slice()].into_par_iter()),
            Err("a compressed value is not a string in JSON as msgdex writes it".into())
        );
    }
}
