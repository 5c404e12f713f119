//! From byte offsets to what users see: `line:column` positions and masked snippets.
//!
//! A dump can be a gigabyte of JSON lines, each line a whole export request of megabytes, with
//! thousands of findings. A [`Locator`] indexes the line starts once and remembers the last
//! line it scanned, so locating each finding costs time proportional to the distance from the
//! previous one, not to its offset in the file. A line that is all ASCII (most are: JSON keys
//! and most recorded text) is told so once, when it is first asked about; on it a column is a
//! byte distance, found without counting (`check` locates each span's name while it walks the
//! spans and the findings afterwards, so each line is asked about twice).

use std::cell::{Cell, RefCell};

use crate::input::Position;
use crate::model::Offset;
use crate::snippet::{self, Literal, Snippet, Token};

/// Locates offsets of one JSON text.
pub struct Locator<'t> {
    text: &'t str,
    /// Byte offset of the start of each line.
    line_starts: Vec<usize>,
    /// Character counts along the last long line asked about.
    checkpoints: RefCell<Option<Checkpoints>>,
    /// The last offset located: (line index, byte offset, characters from the line start).
    /// Offsets are mostly asked for in increasing order, so counting resumes from there.
    last: Cell<(usize, usize, usize)>,
    /// Whether each line is all ASCII, once asked about.
    ascii_lines: Vec<Cell<Option<bool>>>,
    /// The string literals of the last line a snippet was made for: (line index, literals).
    literals: Option<(usize, Vec<Literal>)>,
}

impl<'t> Locator<'t> {
    pub fn new(text: &'t str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1));
        Locator {
            text,
            ascii_lines: vec![Cell::new(None); line_starts.len()],
            line_starts,
            checkpoints: RefCell::new(None),
            last: Cell::new((0, 0, 0)),
            literals: None,
        }
    }

    /// 1-based line and character column of a byte offset.
    pub fn position(&self, offset: Offset) -> Position {
        let offset = floor_char_boundary(self.text, offset);
        let line = self.line_index(offset);
        let column = self.characters_before(line, offset) + 1;
        Position::LineColumn {
            line: line + 1,
            column,
        }
    }

    /// The masked excerpt around the token at `offset` (see [`Snippet`]).
    pub fn snippet(&mut self, offset: Offset, token: Token) -> Snippet {
        let offset = floor_char_boundary(self.text, offset);
        let line = self.line_index(offset);
        let line_start = self.line_starts[line];
        let line_end = self
            .line_starts
            .get(line + 1)
            .map_or(self.text.len(), |next| next - 1);
        if self
            .literals
            .as_ref()
            .is_none_or(|(cached, _)| *cached != line)
        {
            let literals = snippet::string_literals(&self.text[line_start..line_end], line_start);
            self.literals = Some((line, literals));
        }
        let literals = self
            .literals
            .as_ref()
            .map_or(&[][..], |(_, l)| l.as_slice());
        let column = match self.position(offset) {
            Position::LineColumn { column, .. } => column,
            Position::Byte(_) => 1,
        };
        snippet::excerpt(
            self.text,
            snippet::Line {
                number: line + 1,
                start: line_start,
                end: line_end,
                literals,
            },
            offset,
            column,
            token,
        )
    }

    /// Characters between the start of `line` and `offset`. Long lines get checkpoints once,
    /// so findings in any order on a multi-megabyte line are cheap to place.
    fn characters_before(&self, line: usize, offset: usize) -> usize {
        if self.is_ascii(line) {
            return offset - self.line_starts[line];
        }
        let (from, chars) = self.counted_before(line, offset);
        let chars = chars + count_chars(&self.text[from..offset]);
        self.last.set((line, offset, chars));
        chars
    }

    /// The nearest place at or before `offset` on `line` whose character count is known: the
    /// last offset located, a checkpoint, or the line's start.
    fn counted_before(&self, line: usize, offset: usize) -> (usize, usize) {
        let line_start = self.line_starts[line];
        let (last_line, last_offset, last_chars) = self.last.get();
        let near = if last_line == line && (line_start..=offset).contains(&last_offset) {
            (last_offset, last_chars)
        } else {
            (line_start, 0)
        };
        if offset - near.0 < CHECKPOINT {
            return near;
        }
        let mut cache = self.checkpoints.borrow_mut();
        if cache.as_ref().is_none_or(|(cached, _)| *cached != line) {
            *cache = Some((line, self.checkpoints_of(line)));
        }
        let points = cache.as_ref().map_or(&[][..], |(_, p)| p.as_slice());
        let point = points[..points.partition_point(|&(at, _)| at <= offset)]
            .last()
            .copied()
            .unwrap_or((line_start, 0));
        if point.0 > near.0 { point } else { near }
    }

    /// Whether `line` is all ASCII, looked at the first time it is asked.
    fn is_ascii(&self, line: usize) -> bool {
        if let Some(ascii) = self.ascii_lines[line].get() {
            return ascii;
        }
        let ascii = all_ascii(&self.text.as_bytes()[self.line_range(line)]);
        self.ascii_lines[line].set(Some(ascii));
        ascii
    }

    /// The bytes of `line`, its line end included.
    fn line_range(&self, line: usize) -> std::ops::Range<usize> {
        let start = self.line_starts[line];
        let end = self
            .line_starts
            .get(line + 1)
            .copied()
            .unwrap_or(self.text.len());
        start..end
    }

    fn checkpoints_of(&self, line: usize) -> Vec<(usize, usize)> {
        let std::ops::Range { start, end } = self.line_range(line);
        let mut points = vec![(start, 0)];
        let (mut at, mut chars) = (start, 0);
        while at + CHECKPOINT < end {
            let mut next = at + CHECKPOINT;
            while !self.text.is_char_boundary(next) {
                next -= 1;
            }
            chars += count_chars(&self.text[at..next]);
            at = next;
            points.push((at, chars));
        }
        points
    }

    fn line_index(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&start| start <= offset) - 1
    }
}

/// (line index, [(byte offset, characters from the line start)] every `CHECKPOINT` bytes).
type Checkpoints = (usize, Vec<(usize, usize)>);

/// Distance between character-count checkpoints on long lines.
const CHECKPOINT: usize = 4096;

/// The characters of `text`: its length when it is ASCII, as JSON keys and most recorded text
/// are (telling that is several times cheaper than counting characters).
fn count_chars(text: &str) -> usize {
    if all_ascii(text.as_bytes()) {
        text.len()
    } else {
        text.chars().count()
    }
}

/// Whether `bytes` are all ASCII: the OR of all of them, 32 at a time (a fold the compiler
/// turns into vector ORs, several times fewer instructions than `is_ascii`'s word at a time
/// on the megabytes of a dump's lines).
fn all_ascii(bytes: &[u8]) -> bool {
    let (chunks, rest) = bytes.as_chunks::<32>();
    let mut ored = [0u8; 32];
    for chunk in chunks {
        for (ored, byte) in ored.iter_mut().zip(chunk) {
            *ored |= byte;
        }
    }
    ored.iter().chain(rest).fold(0, |high, byte| high | byte) < 0x80
}

fn floor_char_boundary(text: &str, offset: usize) -> usize {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The line and column of `offset`, counted from the start of `text` the slow way.
    fn counted(text: &str, offset: usize) -> Position {
        let before = &text[..offset];
        let start = before.rfind('\n').map_or(0, |nl| nl + 1);
        Position::LineColumn {
            line: before.matches('\n').count() + 1,
            column: before[start..].chars().count() + 1,
        }
    }

    #[test]
    fn all_ascii_finds_a_non_ascii_byte_anywhere() {
        let text = "x".repeat(100);
        for len in 0..text.len() {
            assert!(all_ascii(&text.as_bytes()[..len]));
            for at in 0..len {
                let mut bytes = text.as_bytes()[..len].to_vec();
                bytes[at] = 0x80 | (at as u8);
                assert!(!all_ascii(&bytes), "{len} {at}");
            }
        }
    }

    #[test]
    fn positions_count_lines_and_characters() {
        let text = "ab\nçd\n\nxyz";
        let locator = Locator::new(text);
        let at = |offset| match locator.position(offset) {
            Position::LineColumn { line, column } => (line, column),
            Position::Byte(_) => unreachable!(),
        };
        assert_eq!(at(0), (1, 1));
        assert_eq!(at(2), (1, 3));
        assert_eq!(at(3), (2, 1));
        assert_eq!(at(5), (2, 2), "ç is one character of two bytes");
        assert_eq!(at(7), (3, 1));
        assert_eq!(at(10), (4, 3));
        assert_eq!(at(4), (2, 1), "inside ç: the character's start");
        assert_eq!(at(100), (4, 4), "past the end: the end");
    }

    #[test]
    fn positions_asked_forwards_backwards_and_across_lines() {
        let line = "abé".repeat(3_000);
        let text = format!("{line}\n{line}\n{line}");
        let locator = Locator::new(&text);
        let expected = |offset: usize| counted(&text, offset);
        let offsets = [
            0, 8, 800, 9_000, 11_996, 12_001, 12_401, 100, 20_001, 24_010, 12_001, 5,
        ];
        for offset in offsets {
            assert_eq!(
                locator.position(offset),
                expected(offset),
                "offset {offset}"
            );
        }
    }

    #[test]
    fn ascii_and_other_lines_in_turn() {
        let ascii = "a".repeat(5_000);
        let other = "é".repeat(2_000) + "b" + &"c".repeat(5_000);
        let text = format!("{ascii}\n{other}\n{ascii}\n{other}");
        let locator = Locator::new(&text);
        let expected = |offset: usize| counted(&text, offset);
        let lines: Vec<usize> = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        // Forwards, backwards and from line to line: a line's answer must not leak into
        // another's.
        for (line, at) in [
            (0, 4_999),
            (1, 4_500),
            (1, 10),
            (2, 3),
            (3, 8_000),
            (2, 4_000),
        ] {
            let offset = lines[line] + at;
            assert_eq!(
                locator.position(offset),
                expected(offset),
                "line {line} +{at}"
            );
        }
    }

    #[test]
    fn columns_on_a_long_line_in_any_order() {
        let text = "é".repeat(10_000) + "x" + &"a".repeat(10_000);
        let locator = Locator::new(&text);
        for offset in [20_000, 4, 19_998, 20_001, 8_192, 30_000, 0] {
            let expected = text[..offset.min(text.len())].chars().count() + 1;
            assert_eq!(
                locator.position(offset),
                Position::LineColumn {
                    line: 1,
                    column: expected
                },
                "offset {offset}"
            );
        }
    }
}
