//! Decompression, detected by magic bytes (never by file extension).
//!
//! Handles the layouts the Collector file exporter writes with `compression: zstd`:
//! - the whole stream compressed (JSON lines or a length-prefixed proto stream inside);
//! - the older per-message layout, where every message is compressed on its own and written as
//!   a 4-byte big-endian length-prefixed frame (for JSON as well as proto).
//!
//! gzip is accepted the same ways; concatenated gzip members are read as one stream.

use std::fmt;
use std::io::Read;

use super::wire;
use super::{InputError, InputFormat, Limits, Position};

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

/// A compression codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Gzip,
    Zstd,
}

impl Codec {
    /// The codec whose magic bytes start `data`, if any.
    pub fn sniff(data: &[u8]) -> Option<Codec> {
        if data.starts_with(GZIP_MAGIC) {
            Some(Codec::Gzip)
        } else if data.starts_with(ZSTD_MAGIC) {
            Some(Codec::Zstd)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Codec::Gzip => "gzip",
            Codec::Zstd => "zstd",
        }
    }

    /// Decompresses all of `data` (every gzip member, every zstd frame), stopping after
    /// `max + 1` bytes of output: more than `max` bytes means the limit was passed, and a bomb
    /// costs no more than the limit.
    fn decode(self, data: &[u8], max: usize) -> std::io::Result<Vec<u8>> {
        let cap = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
        let mut out = Vec::new();
        match self {
            Codec::Gzip => {
                flate2::read::MultiGzDecoder::new(data)
                    .take(cap)
                    .read_to_end(&mut out)?;
            }
            Codec::Zstd => {
                zstd::stream::read::Decoder::new(data)?
                    .take(cap)
                    .read_to_end(&mut out)?;
            }
        }
        Ok(out)
    }
}

impl Codec {
    /// A decoder that decompresses `reader` as it is read (every gzip member, every zstd
    /// frame).
    pub fn stream(
        self,
        reader: impl Read + Send + 'static,
    ) -> std::io::Result<Box<dyn Read + Send>> {
        Ok(match self {
            Codec::Gzip => Box::new(flate2::read::MultiGzDecoder::new(reader)),
            Codec::Zstd => Box::new(zstd::stream::read::Decoder::new(reader)?),
        })
    }

    /// Whether `data` decompresses to at most `max` bytes (or is corrupt: then reading it
    /// whole reports that).
    pub fn output_at_most(self, data: &[u8], max: usize) -> bool {
        let cap = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
        match self.stream(std::io::Cursor::new(data.to_vec())) {
            Ok(decoder) => std::io::copy(&mut decoder.take(cap), &mut std::io::sink())
                .map_or(true, |n| n < cap),
            Err(_) => true,
        }
    }

    /// A decompression error of `file`.
    pub fn error(self, file: &str, message: String) -> InputError {
        decompress_error(file, self, message)
    }
}

/// Whether `head` (a file's first bytes) starts like the per-message layout: a length prefix,
/// then a compression magic.
pub fn looks_framed(head: &[u8]) -> bool {
    head.get(4..).and_then(Codec::sniff).is_some()
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How an input file was compressed, for display.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Compression {
    #[default]
    None,
    /// The whole file is one compressed stream.
    Whole(Codec),
    /// Each message compressed on its own, in length-prefixed frames.
    Framed(Codec),
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Compression::None => f.write_str("uncompressed"),
            Compression::Whole(codec) => f.write_str(codec.name()),
            Compression::Framed(codec) => write!(f, "{}, one frame per message", codec.name()),
        }
    }
}

/// Decompressed content, before the messages of a framed file are put back together.
#[derive(Debug)]
pub enum Content {
    Whole(Vec<u8>),
    /// The decompressed messages of a per-message-compressed file.
    Messages(Vec<Vec<u8>>),
}

impl Content {
    /// The bytes to sniff the format from: the whole content, or the first non-blank message.
    pub fn sample(&self) -> &[u8] {
        match self {
            Content::Whole(data) => data,
            Content::Messages(messages) => messages
                .iter()
                .find(|m| !super::detect::is_blank(m))
                .or(messages.first())
                .map_or(&[][..], Vec::as_slice),
        }
    }

    /// The content as one buffer: JSON messages joined by newlines (so line numbers count
    /// messages), proto messages re-framed as a length-prefixed stream.
    pub fn into_bytes(self, format: InputFormat) -> Vec<u8> {
        match (self, format) {
            (Content::Whole(data), _) => data,
            (Content::Messages(messages), InputFormat::Json) => {
                let lines: Vec<&[u8]> = messages
                    .iter()
                    .map(|m| m.strip_suffix(b"\n").unwrap_or(m))
                    .collect();
                lines.join(&b'\n')
            }
            (Content::Messages(messages), InputFormat::Proto) => wire::join_frames(&messages),
        }
    }
}

/// Decompresses `raw` according to its magic bytes; uncompressed data passes through. The
/// output is bounded by `limits`: the whole by `max_input_size`, each message of a
/// per-message-compressed file by `max_message_size`.
pub fn decompress(
    file: &str,
    raw: Vec<u8>,
    limits: &Limits,
) -> Result<(Content, Compression), InputError> {
    if let Some(codec) = Codec::sniff(&raw) {
        let max = limits.max_input_size;
        let data = codec
            .decode(&raw, max)
            .map_err(|e| decompress_error(file, codec, e.to_string()))?;
        if data.len() > max {
            return Err(too_large(
                file,
                0,
                format!("the {} content (decompressed)", codec.name()),
                max,
                "max-input-size",
            ));
        }
        return Ok((Content::Whole(data), Compression::Whole(codec)));
    }
    match decompress_frames(file, &raw, limits)? {
        Some(framed) => Ok(framed),
        None => Ok((Content::Whole(raw), Compression::None)),
    }
}

/// The per-message layout: length-prefixed frames that tile the file, each starting with a
/// compression magic. `Ok(None)` when the file is not laid out that way.
fn decompress_frames(
    file: &str,
    raw: &[u8],
    limits: &Limits,
) -> Result<Option<(Content, Compression)>, InputError> {
    let Some(frames) = wire::exact_frames(raw) else {
        return Ok(None);
    };
    let codecs: Option<Vec<Codec>> = frames.iter().map(|f| Codec::sniff(f.data)).collect();
    let Some(codecs) = codecs else {
        return Ok(None);
    };
    let mut messages = Vec::with_capacity(frames.len());
    let mut total = 0usize;
    for (i, (frame, codec)) in frames.iter().zip(&codecs).enumerate() {
        let at = frame.offset.saturating_sub(4);
        let max = limits.max_message_size;
        let message = codec.decode(frame.data, max).map_err(|e| {
            decompress_error(
                file,
                *codec,
                format!("message {} (frame at byte {at}): {e}", i + 1),
            )
        })?;
        if message.len() > max {
            let what = format!("message {} ({}, decompressed)", i + 1, codec.name());
            return Err(too_large(file, at, what, max, "max-message-size"));
        }
        total = total.saturating_add(message.len());
        if total > limits.max_input_size {
            let what = format!("the decompressed content (at message {})", i + 1);
            return Err(too_large(
                file,
                at,
                what,
                limits.max_input_size,
                "max-input-size",
            ));
        }
        messages.push(message);
    }
    Ok(codecs
        .first()
        .map(|&codec| (Content::Messages(messages), Compression::Framed(codec))))
}

fn too_large(file: &str, at: usize, what: String, limit: usize, flag: &'static str) -> InputError {
    InputError::TooLarge {
        file: file.to_string(),
        position: Position::Byte(at),
        what,
        limit,
        flag,
    }
}

fn decompress_error(file: &str, codec: Codec, message: String) -> InputError {
    InputError::Decompress {
        file: file.to_string(),
        codec: codec.name(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn bytes(result: (Content, Compression), format: InputFormat) -> (Vec<u8>, Compression) {
        (result.0.into_bytes(format), result.1)
    }

    #[test]
    fn uncompressed_passes_through() {
        let (data, c) = bytes(
            decompress("f", b"{}".to_vec(), &Limits::UNLIMITED).unwrap(),
            InputFormat::Json,
        );
        assert_eq!((data.as_slice(), c), (&b"{}"[..], Compression::None));
    }

    #[test]
    fn gzip_members_are_concatenated() {
        let mut raw = gzip(b"a\n");
        raw.extend(gzip(b"b\n"));
        let (data, c) = bytes(
            decompress("f", raw, &Limits::UNLIMITED).unwrap(),
            InputFormat::Json,
        );
        assert_eq!(data, b"a\nb\n");
        assert_eq!(c, Compression::Whole(Codec::Gzip));
    }

    #[test]
    fn framed_json_messages_become_lines_and_proto_messages_frames() {
        let z = |d: &[u8]| zstd::encode_all(d, 0).unwrap();
        let raw = wire::join_frames(&[z(b"{\"a\":1}\n"), z(b"{\"b\":2}")]);
        let (data, c) = bytes(
            decompress("f", raw.clone(), &Limits::UNLIMITED).unwrap(),
            InputFormat::Json,
        );
        assert_eq!(data, b"{\"a\":1}\n{\"b\":2}");
        assert_eq!(c, Compression::Framed(Codec::Zstd));
        let (data, _) = bytes(
            decompress("f", raw, &Limits::UNLIMITED).unwrap(),
            InputFormat::Proto,
        );
        assert_eq!(
            data,
            wire::join_frames(&[&b"{\"a\":1}\n"[..], b"{\"b\":2}"])
        );
    }

    #[test]
    fn bombs_stop_at_the_limit() {
        let limits = Limits {
            max_message_size: 1000,
            max_input_size: 10_000,
        };
        let bomb = gzip(&vec![b'a'; 1 << 20]);
        let err = decompress("bomb.gz", bomb, &limits).unwrap_err();
        assert!(
            matches!(err, InputError::TooLarge { limit: 10_000, .. }),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "bomb.gz: byte 0: the gzip content (decompressed) exceeds the limit of 10000 bytes \
             (--max-input-size)"
        );
        let z = |d: &[u8]| zstd::encode_all(d, 0).unwrap();
        let framed = wire::join_frames(&[z(b"{}"), z(&vec![b' '; 5000])]);
        let err = decompress("f.zst", framed, &limits).unwrap_err();
        assert!(err.to_string().contains("message 2 (zstd"), "{err}");
        assert!(err.to_string().contains("--max-message-size"), "{err}");
    }

    #[test]
    fn corrupt_streams_are_errors_naming_the_file() {
        let mut raw = gzip(b"hello");
        raw.truncate(raw.len() - 4);
        raw[12] ^= 0xff;
        let err = decompress("dump.gz", raw, &Limits::UNLIMITED).unwrap_err();
        assert!(err.to_string().starts_with("dump.gz: "), "{err}");
        let err =
            decompress("z", vec![0x28, 0xb5, 0x2f, 0xfd, 0, 0], &Limits::UNLIMITED).unwrap_err();
        assert!(
            matches!(err, InputError::Decompress { codec: "zstd", .. }),
            "{err}"
        );
    }
}
