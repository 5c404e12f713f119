//! A short excerpt of a JSON line around a finding, for the human report.
//!
//! Collector dumps put a whole export request on one line (often kilobytes), so printing the
//! line would bury the finding. A snippet keeps a window around the token, elided with `…`.

/// The excerpt, the line it comes from, and which part to underline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    /// 1-based line number of the excerpt in the file.
    pub line: usize,
    /// 1-based character column where `text` starts in that line (after the `…`, if any).
    pub column: usize,
    /// The excerpt, with `…` where the line was cut.
    pub text: String,
    /// Byte range of the highlighted token within `text`.
    pub highlight: std::ops::Range<usize>,
}

/// Characters kept before and after the highlighted token.
const BEFORE: usize = 30;
const AFTER: usize = 50;

impl Snippet {
    /// The excerpt around the JSON token at `offset`.
    pub fn around(text: &str, offset: usize) -> Snippet {
        let offset = floor_boundary(text, offset.min(text.len()));
        let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
        let line = text[..offset].bytes().filter(|&b| b == b'\n').count() + 1;
        let token_end = offset + token_len(&text[offset..line_end]);

        let start = back_chars(text, offset, BEFORE).max(line_start);
        let end = forward_chars(text, token_end, AFTER).min(line_end);
        let mut excerpt = String::new();
        let mut shift = 0;
        if start > line_start {
            excerpt.push('…');
            shift = '…'.len_utf8();
        }
        excerpt.push_str(text[start..end].trim_end_matches('\r'));
        if end < line_end {
            excerpt.push('…');
        }
        Snippet {
            line,
            column: text[line_start..start].chars().count() + 1,
            highlight: (offset - start + shift)..(token_end - start + shift),
            text: excerpt,
        }
    }
}

/// Length of the JSON token at the start of `rest`: a whole string literal, else one char.
fn token_len(rest: &str) -> usize {
    let mut chars = rest.char_indices();
    match chars.next() {
        Some((_, '"')) => {
            let mut escaped = false;
            for (i, c) in chars {
                match c {
                    '\\' if !escaped => escaped = true,
                    '"' if !escaped => return i + 1,
                    _ => escaped = false,
                }
            }
            rest.len()
        }
        Some((_, c)) => c.len_utf8(),
        None => 0,
    }
}

fn back_chars(text: &str, from: usize, n: usize) -> usize {
    text[..from]
        .char_indices()
        .rev()
        .take(n)
        .last()
        .map_or(from, |(i, _)| i)
}

fn forward_chars(text: &str, from: usize, n: usize) -> usize {
    text[from..]
        .char_indices()
        .nth(n)
        .map_or(text.len(), |(i, _)| from + i)
}

fn floor_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_line_is_kept_whole() {
        let text = "{\"key\":\"a\"}\n{\"key\":\"gen_ai.system\"}\n";
        let offset = text.find("\"gen_ai").unwrap();
        let s = Snippet::around(text, offset);
        assert_eq!(s.line, 2);
        assert_eq!(s.text, "{\"key\":\"gen_ai.system\"}");
        assert_eq!(&s.text[s.highlight.clone()], "\"gen_ai.system\"");
        assert_eq!(s.column, 1);
    }

    #[test]
    fn a_long_line_is_elided_around_the_token() {
        let text = format!(
            "{}\"gen_ai.sys\\\"tem\"{}",
            "x".repeat(200),
            "y".repeat(200)
        );
        let s = Snippet::around(&text, 200);
        assert!(
            s.text.starts_with('…') && s.text.ends_with('…'),
            "{}",
            s.text
        );
        assert_eq!(&s.text[s.highlight.clone()], "\"gen_ai.sys\\\"tem\"");
        assert_eq!(s.column, 171);
    }
}
