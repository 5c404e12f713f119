//! Format detection from (decompressed) content, never from the file name.
//!
//! OTLP/JSON starts with `{` (a document) once whitespace and a UTF-8 byte-order mark are
//! skipped; anything else is taken for protobuf. `[` counts as JSON too: an OTLP protobuf
//! message cannot usefully start with it, and a JSON error ("expected an object") helps more than
//! a protobuf one when someone feeds a JSON array.

use super::{InputError, InputFormat};

/// The UTF-8 byte-order mark some Windows tools write.
pub const BOM: &[u8] = b"\xef\xbb\xbf";

/// Whether `data` holds nothing but JSON whitespace.
pub fn is_blank(data: &[u8]) -> bool {
    data.iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

/// The format of `data`: `forced` when given, else sniffed. Blank data is an error either way.
pub fn detect(
    file: &str,
    data: &[u8],
    forced: Option<InputFormat>,
) -> Result<InputFormat, InputError> {
    let body = data.strip_prefix(BOM).unwrap_or(data);
    if is_blank(body) {
        return Err(InputError::Empty {
            file: file.to_string(),
        });
    }
    if let Some(format) = forced {
        return Ok(format);
    }
    let first = body
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    Ok(match first {
        Some(b'{' | b'[') => InputFormat::Json,
        _ => InputFormat::Proto,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sniff(data: &[u8]) -> InputFormat {
        detect("f", data, None).unwrap()
    }

    #[test]
    fn sniffs_json_and_proto() {
        assert_eq!(sniff(b"{}"), InputFormat::Json);
        assert_eq!(sniff(b"\n  \t{\"resourceSpans\":[]}"), InputFormat::Json);
        assert_eq!(sniff(b"\xef\xbb\xbf{}"), InputFormat::Json);
        assert_eq!(sniff(b"[1]"), InputFormat::Json);
        assert_eq!(sniff(b"\x0a\x00"), InputFormat::Proto);
        assert_eq!(sniff(b"\x00\x00\x00\x00"), InputFormat::Proto);
    }

    #[test]
    fn override_wins() {
        let forced = detect("f", b"{}", Some(InputFormat::Proto)).unwrap();
        assert_eq!(forced, InputFormat::Proto);
    }

    #[test]
    fn blank_is_an_error() {
        for data in [&b""[..], b"  \n", b"\xef\xbb\xbf\r\n"] {
            let err = detect("e.json", data, Some(InputFormat::Json)).unwrap_err();
            assert!(matches!(err, InputError::Empty { .. }));
            assert_eq!(
                err.to_string(),
                "e.json: empty file: expected OTLP/JSON or protobuf trace data"
            );
        }
    }
}
