//! A short excerpt of a JSON line around a finding, for the human report.
//!
//! Collector dumps put a whole export request on one line (often kilobytes), so printing the
//! line would bury the finding. A snippet keeps a window around the token, elided with `…`.

use miette::{MietteError, MietteSpanContents, SourceCode, SourceSpan, SpanContents};

/// The excerpt, the line it comes from, and which part to underline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    /// 1-based line number of the excerpt in the file.
    pub line: usize,
    /// 1-based character column of the highlighted token in that line.
    pub token_column: usize,
    /// The excerpt, with `…` where the line was cut.
    pub text: String,
    /// Byte range of the highlighted token within `text`.
    pub highlight: std::ops::Range<usize>,
}

/// Characters kept before and after the highlighted token.
const BEFORE: usize = 30;
const AFTER: usize = 50;
/// Characters of the highlighted token itself shown at most.
const MAX_TOKEN: usize = 80;

/// Whether the highlighted token itself may be shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    /// An attribute key or a span name: shown as it is.
    Show,
    /// Anything else (a parse error's position): masked like every other string value.
    Mask,
}

impl Snippet {
    /// The excerpt around the JSON token at `offset`.
    ///
    /// Every string *value* in the excerpt is replaced by `"…"`: attribute values may be
    /// prompts or completions, and a report must never print them. Object keys, numbers and
    /// punctuation stay, so the shape of the JSON is still readable. For many snippets of one
    /// text, use [`Locator::snippet`](crate::locate::Locator::snippet).
    pub fn around(text: &str, offset: usize, token: Token) -> Snippet {
        crate::locate::Locator::new(text).snippet(offset, token)
    }
}

/// A line of the text, with its string literals.
pub(crate) struct Line<'l> {
    /// 1-based line number.
    pub number: usize,
    pub start: usize,
    /// Offset of the line's end (its `\n`, or the end of the text).
    pub end: usize,
    pub literals: &'l [Literal],
}

/// Builds the excerpt of `line` around `offset`; `column` is the token's 1-based column.
pub(crate) fn excerpt(
    text: &str,
    line: Line<'_>,
    offset: usize,
    column: usize,
    token: Token,
) -> Snippet {
    let (line_start, line_end) = (line.start, line.end);
    let token_end = offset + token_len(&text[offset..line_end.max(offset)]);
    let start = back_chars(text, offset, BEFORE).max(line_start);
    let end = forward_chars(text, token_end, AFTER).min(line_end);

    let mut out = Excerpt::default();
    if start > line_start {
        out.text.push('…');
    }
    let mut pos = start;
    let first = line.literals.partition_point(|l| l.range.end <= start);
    for literal in &line.literals[first..] {
        if literal.range.start >= end {
            break;
        }
        let from = literal.range.start.max(start);
        out.copy(text, pos, from, offset, token_end);
        let is_token = literal.range.start == offset;
        let to = literal.range.end.min(end);
        if is_token && token == Token::Show {
            // A pathological key or span name (thousands of characters) is cut, not underlined
            // across the terminal.
            let cut = forward_chars(text, from, MAX_TOKEN).min(to);
            out.copy(text, from, cut, offset, cut);
            if cut < to {
                out.text.push('…');
            }
        } else if literal.structural {
            out.copy(text, from, to, offset, token_end);
        } else {
            let whole = from == literal.range.start && to == literal.range.end && literal.closed;
            let mask = if whole { "\"…\"" } else { "…" };
            let holds_token = (literal.range.start..literal.range.end).contains(&offset)
                || (!literal.closed && offset == literal.range.end);
            out.mask(mask, holds_token);
        }
        pos = to;
    }
    out.copy(text, pos, end, offset, token_end);
    let trimmed = out.text.trim_end_matches('\r').len();
    out.text.truncate(trimmed);
    if end < line_end && !out.text.ends_with('…') {
        out.text.push('…');
    }
    let highlight = out.highlight.unwrap_or(out.text.len()..out.text.len());
    Snippet {
        line: line.number,
        token_column: column,
        highlight: highlight.start..highlight.end.max(highlight.start),
        text: out.text,
    }
}

/// The excerpt being built, and where the highlighted token landed in it.
#[derive(Default)]
struct Excerpt {
    text: String,
    highlight: Option<std::ops::Range<usize>>,
}

impl Excerpt {
    /// Copies `text[from..to]`, noting where the token `token..token_end` lands.
    fn copy(&mut self, text: &str, from: usize, to: usize, token: usize, token_end: usize) {
        if from >= to {
            return;
        }
        let base = self.text.len();
        if (from..to).contains(&token) && self.highlight.is_none() {
            let start = base + (token - from);
            self.highlight = Some(start..base + (token_end.min(to) - from));
        }
        self.text.push_str(&text[from..to]);
    }

    /// Writes a mask for a hidden string; it is the highlight when the token was inside it.
    fn mask(&mut self, mask: &str, holds_token: bool) {
        if mask == "…" && self.text.ends_with('…') && !holds_token {
            return;
        }
        if holds_token && self.highlight.is_none() {
            self.highlight = Some(self.text.len()..self.text.len() + mask.len());
        }
        self.text.push_str(mask);
    }
}

/// A JSON string literal on a line: its byte range (quotes included) in the whole text.
pub(crate) struct Literal {
    range: std::ops::Range<usize>,
    /// Structure, not data: an object key, or the value of a `"key"` field (an attribute's
    /// name). Everything else is masked.
    structural: bool,
    /// Has its closing quote on this line.
    closed: bool,
    /// Is the object key `"key"` (so the next literal names an attribute).
    is_key_field: bool,
}

/// The string literals of a line (which starts outside any string, as every JSON line does
/// in the dumps spanlint reads), `base` being the line's offset in the text.
pub(crate) fn string_literals(line: &str, base: usize) -> Vec<Literal> {
    let mut literals = Vec::new();
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'"' {
            i += 1;
            continue;
        }
        let start = i;
        i += 1;
        let mut closed = false;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' => i += 2,
                b'"' => {
                    closed = true;
                    i += 1;
                    break;
                }
                _ => i += 1,
            }
        }
        let end = i.min(bytes.len());
        let is_key = closed && line[end..].trim_start().starts_with(':');
        let names_attribute = literals
            .last()
            .is_some_and(|previous: &Literal| previous.structural && previous.is_key_field)
            && line[..start].trim_end().ends_with(':');
        literals.push(Literal {
            range: base + start..base + end,
            structural: is_key || names_attribute,
            is_key_field: is_key && &line[start..end] == "\"key\"",
            closed,
        });
    }
    literals
}

/// A snippet served to miette as if it were the file: the line numbers and the header's
/// `file:line:column` are the real ones, although only the excerpt is kept in memory.
#[derive(Debug, Clone)]
pub struct SnippetCode {
    name: String,
    snippet: Snippet,
    /// Real 1-based column of the highlighted token.
    column: usize,
}

impl SnippetCode {
    /// The name and the excerpt are [sanitized](crate::report::sanitize): miette prints both
    /// to the terminal, and a dump line or a file name may hold escape sequences.
    pub fn new(name: impl Into<String>, snippet: Snippet) -> Self {
        SnippetCode {
            name: crate::report::sanitize(&name.into()).into_owned(),
            column: snippet.token_column,
            snippet: sanitized(snippet),
        }
    }

    /// The highlighted token, as a span for a miette label.
    pub fn highlight(&self) -> SourceSpan {
        SourceSpan::from(self.snippet.highlight.clone())
    }
}

/// The snippet with the unsafe characters replaced by U+FFFD, its highlight moved to match
/// (U+FFFD is 3 bytes, the characters it replaces 1 to 3).
fn sanitized(snippet: Snippet) -> Snippet {
    use crate::report::{is_unsafe_char, sanitize};
    if !snippet.text.chars().any(is_unsafe_char) {
        return snippet;
    }
    // A highlight may point past the excerpt or into a character (an error at the end of a
    // truncated line): map what lies inside, keep the rest as it was.
    let text = &snippet.text;
    let map = |at: usize| {
        let mut cut = at.min(text.len());
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        sanitize(&text[..cut]).len() + (at - cut)
    };
    let highlight = map(snippet.highlight.start)..map(snippet.highlight.end);
    Snippet {
        highlight,
        text: sanitize(&snippet.text).into_owned(),
        ..snippet
    }
}

impl SourceCode for SnippetCode {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        _context_lines_before: usize,
        _context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let text = &self.snippet.text;
        if span.offset() + span.len() > text.len() {
            return Err(MietteError::OutOfBounds);
        }
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            text.as_bytes(),
            SourceSpan::from(0..text.len()),
            self.snippet.line - 1,
            self.column - 1,
            1,
        )))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizing_keeps_a_highlight_past_the_end_or_inside_a_character() {
        let snippet = |text: &str, highlight| Snippet {
            line: 1,
            token_column: 1,
            text: text.to_string(),
            highlight,
        };
        // Found by the fuzzer: an error at the end of a truncated line holding a tab.
        let code = SnippetCode::new("f", snippet("\t{", 3..9));
        assert_eq!(code.snippet.text, "\u{FFFD}{");
        assert_eq!(code.snippet.highlight, 5..11);
        let code = SnippetCode::new("f", snippet("\t…", 2..3));
        assert_eq!(code.snippet.highlight, 4..5);
    }

    #[test]
    fn string_values_are_masked_and_keys_kept() {
        let text = r#"{"key":"gen_ai.input.messages","value":{"stringValue":"my card is 4111"}},{"key":"n","value":{"intValue":"7"}}"#;
        let s = Snippet::around(text, 7, Token::Show);
        assert!(!s.text.contains("4111"), "{}", s.text);
        assert!(
            s.text.contains(r#""value":{"stringValue":"…"}"#),
            "{}",
            s.text
        );
        assert_eq!(&s.text[s.highlight.clone()], "\"gen_ai.input.messages\"");
    }

    #[test]
    fn a_huge_token_is_cut() {
        let name = format!("\"{}\"", "n".repeat(3000));
        let text = format!("{{\"name\":{name},\"kind\":1}}");
        let s = Snippet::around(&text, 8, Token::Show);
        assert!(s.text.chars().count() < 200, "{}", s.text);
        assert!(s.highlight.len() <= MAX_TOKEN, "{:?}", s.highlight);
        assert!(s.text.contains("nnn…"), "{}", s.text);
    }

    #[test]
    fn a_masked_token_is_still_highlighted() {
        let text = r#"{"name":"a secret prompt","x":1}"#;
        let s = Snippet::around(text, 8, Token::Mask);
        assert_eq!(s.text, r#"{"name":"…","x":1}"#);
        assert_eq!(&s.text[s.highlight.clone()], "\"…\"");
        // An unterminated string (a truncated dump) is masked to the end of the line.
        let text = r#"{"key":"k","value":{"stringValue":"half a pro"#;
        let s = Snippet::around(text, text.len(), Token::Mask);
        assert!(!s.text.contains("pro"), "{}", s.text);
    }

    #[test]
    fn a_short_line_is_kept_whole() {
        let text = "{\"key\":\"a\"}\n{\"key\":\"gen_ai.system\"}\n";
        let offset = text.find("\"gen_ai").unwrap();
        let s = Snippet::around(text, offset, Token::Show);
        assert_eq!(s.line, 2);
        assert_eq!(s.text, "{\"key\":\"gen_ai.system\"}");
        assert_eq!(&s.text[s.highlight.clone()], "\"gen_ai.system\"");
        assert_eq!(s.token_column, 8);
    }

    #[test]
    fn a_long_line_is_elided_around_the_token() {
        let text = format!(
            "{}\"gen_ai.sys\\\"tem\"{}",
            "x".repeat(200),
            "y".repeat(200)
        );
        let s = Snippet::around(&text, 200, Token::Show);
        assert!(
            s.text.starts_with('…') && s.text.ends_with('…'),
            "{}",
            s.text
        );
        assert_eq!(&s.text[s.highlight.clone()], "\"gen_ai.sys\\\"tem\"");
        assert_eq!(s.token_column, 201);
    }
}
