//! JSON strings written as serde_json writes them, for the JSON text `migrate` builds
//! (message attributes, renamed span names, new keys), shared by planning and the JSON writer.

use crate::input::json::word_at;

/// `s` as a JSON string.
pub(crate) fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_json_string(&mut out, s);
    out
}

/// Appends `s` as a JSON string, escaped as serde_json escapes it (`"`, `\\`, and control
/// characters: `\b \t \n \f \r` by name, the others as `\u00xx`), without a string of its own.
/// Reads a word of eight bytes at a time and copies the runs between the bytes to escape whole
/// (message text has a byte to escape every few tens of bytes at most).
pub(crate) fn push_json_string(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    let bytes = s.as_bytes();
    let mut run = 0;
    for i in (0..bytes.len()).step_by(8) {
        let mut flagged = to_escape(word_at(bytes, i));
        while flagged != 0 {
            let at = i + (flagged.trailing_zeros() / 8) as usize;
            // Escaped bytes are ASCII: the runs end on character boundaries.
            out.push_str(&s[run..at]);
            push_escape(out, bytes[at]);
            run = at + 1;
            flagged &= flagged - 1;
        }
    }
    out.push_str(&s[run..]);
    out.push('"');
}

/// The high bit of each byte of `word` that a JSON string must escape: `"`, `\\` and the
/// control characters (below 0x20).
fn to_escape(word: u64) -> u64 {
    const LOW_BITS: u64 = 0x0101_0101_0101_0101;
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    // The high bit of each zero byte of `x`, exactly (no carry crosses bytes: the low seven bits
    // plus 0x7f set the high bit unless they are all zero).
    let zero_bytes = |x: u64| !(((x & !HIGH_BITS) + !HIGH_BITS) | x | !HIGH_BITS);
    zero_bytes(word & (LOW_BITS * 0xe0))
        | zero_bytes(word ^ (LOW_BITS * u64::from(b'"')))
        | zero_bytes(word ^ (LOW_BITS * u64::from(b'\\')))
}

/// The escape serde_json writes for a byte [`to_escape`] flags.
fn push_escape(out: &mut String, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let short = match byte {
        b'"' => "\\\"",
        b'\\' => "\\\\",
        b'\n' => "\\n",
        b'\r' => "\\r",
        b'\t' => "\\t",
        0x08 => "\\b",
        0x0c => "\\f",
        _ => {
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xf)]));
            return;
        }
    };
    out.push_str(short);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_escaped_as_serde_json_escapes_them() {
        let every_ascii: String = (0u8..128).map(char::from).collect();
        for text in [
            "",
            "plain",
            "quote \" and backslash \\ and / slash",
            "tabs\tlines\nreturns\r\u{8}\u{c}\u{0}\u{1f}\u{7f}",
            "non-ASCII: é ü 中文 🎉 \u{2028}",
            &every_ascii,
        ] {
            let mut out = String::from("prefix");
            push_json_string(&mut out, text);
            let expected = serde_json::to_string(text).unwrap();
            assert_eq!(out, format!("prefix{expected}"));
        }
    }

    #[test]
    fn every_byte_to_escape_is_found_at_every_position_of_a_word() {
        // Each special byte at each offset of strings longer than a few words, next to
        // multi-byte characters, so that the word-at-a-time search and its tail both see it.
        let specials = [
            '"', '\\', '\n', '\u{0}', '\u{1f}', '\u{8}', '\u{c}', '\u{7f}', ' ', 'é', '🦀',
        ];
        for len in [0, 1, 7, 8, 9, 15, 16, 17, 40] {
            for at in 0..=len {
                for special in specials {
                    let text: String = (0..len)
                        .map(|i| if i == at { special } else { 'a' })
                        .chain([special, 'b'])
                        .collect();
                    let mut out = String::new();
                    push_json_string(&mut out, &text);
                    assert_eq!(out, serde_json::to_string(&text).unwrap(), "{text:?}");
                }
            }
        }
    }
}
