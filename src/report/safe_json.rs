//! JSON that is safe to print: every string escapes the characters a terminal or a viewer would
//! act on (C0 and C1 controls such as ESC and the one-byte CSI U+009B, DEL, the bidirectional
//! overrides and isolates of "Trojan Source", U+2028/U+2029) as `\uXXXX`. serde_json escapes
//! only what JSON requires (C0 controls, `"` and `\`), so a span name holding U+009B or U+202E
//! would otherwise reach `cat report.json` raw. The text still parses to the same strings: the
//! escaping is lossless.
//!
//! Every JSON report (`json`, `jsonl`, `sarif`, `gitlab`, coverage's `json`) is written through
//! [`to_string`] or [`to_string_pretty`].

use std::fmt::Write as _;
use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::{CompactFormatter, Formatter, PrettyFormatter};

use super::is_unsafe_char;

/// `serde_json::to_string_pretty` with the unsafe characters escaped.
pub fn to_string_pretty<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    to_string_with(value, PrettyFormatter::new())
}

/// `serde_json::to_string` with the unsafe characters escaped.
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    to_string_with(value, CompactFormatter)
}

fn to_string_with<T: Serialize + ?Sized, F: Formatter>(
    value: &T,
    formatter: F,
) -> serde_json::Result<String> {
    let mut out = Vec::with_capacity(128);
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, SafeFormatter(formatter));
    value.serialize(&mut serializer)?;
    // serde_json writes valid UTF-8 and the escapes are ASCII.
    Ok(String::from_utf8(out).unwrap_or_default())
}

thread_local! {
    /// The bytes of the value [`write_nested`] serializes, reused from value to value (a
    /// report writes one per finding) so none grows a buffer of its own.
    static NESTED: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Wraps a formatter (compact or pretty), escaping the unsafe characters inside strings.
/// It forwards every method that [`PrettyFormatter`] overrides; the others keep the trait's
/// defaults, which are the same for both formatters.
pub struct SafeFormatter<F>(pub F);

impl<F: Formatter> Formatter for SafeFormatter<F> {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        // Nearly every fragment is printable ASCII, which holds no unsafe character: a check
        // of 16 bytes at a time, and one write.
        let printable = super::plain_run(fragment.as_bytes(), |b| b.wrapping_sub(b' ') < 95);
        if printable == fragment.len() {
            return self.0.write_string_fragment(writer, fragment);
        }
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if is_unsafe_char(c) {
                self.0.write_string_fragment(writer, &fragment[start..i])?;
                // Every unsafe character is in the Basic Multilingual Plane: one escape.
                write!(writer, "\\u{:04x}", u32::from(c))?;
                start = i + c.len_utf8();
            }
        }
        self.0.write_string_fragment(writer, &fragment[start..])
    }

    fn begin_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.begin_array(writer)
    }

    fn end_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_array(writer)
    }

    fn begin_array_value<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_array_value(writer, first)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_array_value(writer)
    }

    fn begin_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.begin_object(writer)
    }

    fn end_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_object(writer)
    }

    fn begin_object_key<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_object_key(writer, first)
    }

    fn end_object_key<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_object_key(writer)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.begin_object_value(writer)
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_object_value(writer)
    }
}

/// Asserts that `write` writes `value` byte for byte as serde does: pretty at each of `depths`
/// of nesting ([`write_nested`]) and compact ([`to_string`]). The report writers that go field
/// by field are tested with it against their `Serialize`.
#[cfg(test)]
pub(crate) fn assert_written_as_serde<T: Serialize>(
    value: &T,
    depths: &[usize],
    write: impl Fn(&T, &mut ObjectWriter<'_>),
) {
    for &depth in depths {
        let mut by_hand = String::new();
        let mut object = ObjectWriter::pretty(depth, &mut by_hand);
        write(value, &mut object);
        object.close();
        let mut by_serde = String::new();
        write_nested(value, depth, &mut by_serde);
        assert_eq!(by_hand, by_serde, "pretty at depth {depth}");
    }
    let mut by_hand = String::new();
    let mut object = ObjectWriter::compact(&mut by_hand);
    write(value, &mut object);
    object.close();
    assert_eq!(by_hand, to_string(value).unwrap(), "compact");
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = "a\u{1b}[2Jb\u{9b}31mc\u{202e}d\u{2066}e\u{7f}f\u{85}g\u{2028}é😀\"\\";

    #[test]
    fn unsafe_characters_are_escaped_and_read_back() {
        for text in [
            to_string(&[HOSTILE]).unwrap(),
            to_string_pretty(&[HOSTILE]).unwrap(),
        ] {
            assert!(
                !text.chars().any(|c| c != '\n' && is_unsafe_char(c)),
                "{text:?}"
            );
            assert!(
                text.contains("\\u009b") && text.contains("\\u202e"),
                "{text}"
            );
            let back: Vec<String> = serde_json::from_str(&text).unwrap();
            assert_eq!(back, [HOSTILE]);
        }
    }

    #[test]
    fn ascii_text_with_del_is_escaped() {
        assert_eq!(to_string("plain ~text").unwrap(), "\"plain ~text\"");
        assert_eq!(to_string("a\u{7f}b").unwrap(), "\"a\\u007fb\"");
        assert_eq!(to_string("tab\there").unwrap(), "\"tab\\there\"");
    }

    #[test]
    fn keys_are_escaped_and_layout_matches_serde_json() {
        let value = serde_json::json!({"k\u{9b}": [1, {"x": null}], "plain": "é"});
        let safe = to_string_pretty(&value).unwrap();
        assert!(safe.contains("\"k\\u009b\""), "{safe}");
        assert_eq!(
            safe.replace("\\u009b", "\u{9b}"),
            serde_json::to_string_pretty(&value).unwrap()
        );
        assert_eq!(
            to_string(&value).unwrap().replace("\\u009b", "\u{9b}"),
            serde_json::to_string(&value).unwrap()
        );
    }
}

/// A pretty-printed JSON array written element by element, so a report's findings array never
/// has to be held whole. The bytes are those [`to_string_pretty`] gives for the whole document
/// the array sits in (two-space indent).
pub struct PrettyArray {
    depth: usize,
    empty: bool,
}

impl PrettyArray {
    /// Writes `[` for an array nested `depth` levels deep (0: the document itself).
    pub fn open(depth: usize, out: &mut String) -> PrettyArray {
        out.push('[');
        PrettyArray { depth, empty: true }
    }

    pub fn push<T: Serialize + ?Sized>(&mut self, element: &T, out: &mut String) {
        out.push_str(if self.empty { "\n" } else { ",\n" });
        self.empty = false;
        indent(self.depth + 1, out);
        write_nested(element, self.depth + 1, out);
    }

    /// Adds an object written by `fill` (see [`ObjectWriter`]).
    pub fn push_object(&mut self, out: &mut String, fill: impl FnOnce(&mut ObjectWriter<'_>)) {
        out.push_str(if self.empty { "\n" } else { ",\n" });
        self.empty = false;
        indent(self.depth + 1, out);
        let mut object = ObjectWriter::pretty(self.depth + 1, out);
        fill(&mut object);
        object.close();
    }

    pub fn close(self, out: &mut String) {
        if !self.empty {
            out.push('\n');
            indent(self.depth, out);
        }
        out.push(']');
    }
}

/// Writes `value` pretty-printed as if nested `depth` levels deep (its first line is not
/// indented: it follows a key or an indent already written): serde_json's pretty layout with
/// its indentation starting at `depth` ([`NestedFormatter`]), written once, not re-indented.
pub fn write_nested<T: Serialize + ?Sized>(value: &T, depth: usize, out: &mut String) {
    NESTED.with_borrow_mut(|bytes| {
        bytes.clear();
        let formatter = SafeFormatter(NestedFormatter::at(depth));
        let mut serializer = serde_json::Serializer::with_formatter(&mut *bytes, formatter);
        // serde_json writes valid UTF-8 and the escapes are ASCII; on an error nothing is
        // written, as before.
        if value.serialize(&mut serializer).is_ok()
            && let Ok(text) = std::str::from_utf8(bytes)
        {
            out.push_str(text);
        }
        if bytes.capacity() > 1 << 16 {
            *bytes = Vec::new();
        }
    });
}

/// [`PrettyFormatter`] (two-space indent) for a value that sits `depth` levels deep in a
/// document: the same bytes as the value's lines in the whole document pretty-printed.
/// serde_json's formatter always starts at depth 0; the methods are its own, with its
/// indentation level starting elsewhere.
struct NestedFormatter {
    /// How deep the next line is indented (serde_json's `current_indent`).
    depth: usize,
    /// Whether the innermost array or object open holds a value yet.
    has_value: bool,
}

impl NestedFormatter {
    fn at(depth: usize) -> Self {
        NestedFormatter {
            depth,
            has_value: false,
        }
    }

    fn open<W: ?Sized + Write>(&mut self, writer: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        writer.write_all(bracket)
    }

    fn close<W: ?Sized + Write>(&mut self, writer: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth -= 1;
        if self.has_value {
            self.new_line(writer)?;
        }
        writer.write_all(bracket)
    }

    fn new_line<W: ?Sized + Write>(&self, writer: &mut W) -> io::Result<()> {
        // The line break and the indent in one write when the indent is not too deep.
        const LINE: &[u8] = b"\n                                ";
        match LINE.get(..1 + 2 * self.depth) {
            Some(line) => writer.write_all(line),
            None => {
                writer.write_all(b"\n")?;
                (0..self.depth).try_for_each(|_| writer.write_all(b"  "))
            }
        }
    }

    fn begin_item<W: ?Sized + Write>(&self, writer: &mut W, first: bool) -> io::Result<()> {
        if !first {
            writer.write_all(b",")?;
        }
        self.new_line(writer)
    }
}

impl Formatter for NestedFormatter {
    fn begin_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.open(writer, b"[")
    }

    fn end_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.close(writer, b"]")
    }

    fn begin_array_value<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.begin_item(writer, first)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.open(writer, b"{")
    }

    fn end_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.close(writer, b"}")
    }

    fn begin_object_key<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.begin_item(writer, first)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

/// Appends `text` as a JSON string: the bytes [`to_string`] gives for it (serde_json's
/// escapes, then the [unsafe characters](super::is_unsafe_char) as `\uXXXX`), without
/// serde's walk over every byte and an intermediate buffer. For the formats that write many
/// findings ([`ObjectWriter`]).
pub fn push_string(text: &str, out: &mut String) {
    out.push('"');
    let mut rest = text;
    loop {
        // A run ends before an ASCII byte or at the first byte of a character, so it is
        // whole characters.
        let run = super::plain_run(rest.as_bytes(), |b| {
            (b.wrapping_sub(b' ') < 95) & (b != b'"') & (b != b'\\')
        });
        out.push_str(&rest[..run]);
        let mut chars = rest[run..].chars();
        let Some(c) = chars.next() else { break };
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // The other C0 controls (as serde_json writes them) and every other unsafe
            // character, all in the Basic Multilingual Plane: one escape.
            c if super::is_unsafe_char(c) => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
        rest = chars.as_str();
    }
    out.push('"');
}

/// A JSON object written field by field: the bytes [`to_string`] (compact) or
/// [`write_nested`] (pretty, at a depth) give for a struct with the same fields in the same
/// order. Used for findings, which are many, instead of serde (see [`push_string`]).
pub struct ObjectWriter<'o> {
    out: &'o mut String,
    /// How deep the object's fields are indented; none when compact.
    depth: Option<usize>,
    empty: bool,
}

impl<'o> ObjectWriter<'o> {
    /// Opens a compact object.
    pub fn compact(out: &'o mut String) -> Self {
        out.push('{');
        ObjectWriter {
            out,
            depth: None,
            empty: true,
        }
    }

    /// Opens an object pretty-printed `depth` levels deep (its `{` follows a key or an
    /// indent already written).
    pub fn pretty(depth: usize, out: &'o mut String) -> Self {
        out.push('{');
        ObjectWriter {
            out,
            depth: Some(depth + 1),
            empty: true,
        }
    }

    fn key(&mut self, key: &str) {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        if let Some(depth) = self.depth {
            self.out.push('\n');
            indent(depth, self.out);
        }
        // Keys are the field names of the code: plain ASCII, nothing to escape.
        debug_assert!(
            key.bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
        );
        self.out.push('"');
        self.out.push_str(key);
        self.out
            .push_str(if self.depth.is_some() { "\": " } else { "\":" });
    }

    pub fn string(&mut self, key: &str, value: &str) {
        self.key(key);
        push_string(value, self.out);
    }

    /// A string, or `null`.
    pub fn optional_string(&mut self, key: &str, value: Option<&str>) {
        match value {
            Some(value) => self.string(key, value),
            None => self.null(key),
        }
    }

    pub fn number(&mut self, key: &str, value: usize) {
        self.key(key);
        self.out.push_str(itoa::Buffer::new().format(value));
    }

    /// A number, or `null`.
    pub fn optional_number(&mut self, key: &str, value: Option<usize>) {
        match value {
            Some(value) => self.number(key, value),
            None => self.null(key),
        }
    }

    /// A field holding an object written by `fill`.
    pub fn object(&mut self, key: &str, fill: impl FnOnce(&mut ObjectWriter<'_>)) {
        self.key(key);
        self.out.push('{');
        let mut object = ObjectWriter {
            out: &mut *self.out,
            depth: self.depth.map(|depth| depth + 1),
            empty: true,
        };
        fill(&mut object);
        object.close();
    }

    /// A field holding an array of objects, each item's written by `fill`.
    pub fn objects<T>(
        &mut self,
        key: &str,
        items: impl IntoIterator<Item = T>,
        mut fill: impl FnMut(&mut ObjectWriter<'_>, T),
    ) {
        self.key(key);
        self.out.push('[');
        let mut empty = true;
        for item in items {
            if !empty {
                self.out.push(',');
            }
            empty = false;
            if let Some(depth) = self.depth {
                self.out.push('\n');
                indent(depth + 1, self.out);
            }
            self.out.push('{');
            let mut object = ObjectWriter {
                out: &mut *self.out,
                depth: self.depth.map(|depth| depth + 2),
                empty: true,
            };
            fill(&mut object, item);
            object.close();
        }
        if let Some(depth) = self.depth.filter(|_| !empty) {
            self.out.push('\n');
            indent(depth, self.out);
        }
        self.out.push(']');
    }

    fn null(&mut self, key: &str) {
        self.key(key);
        self.out.push_str("null");
    }

    pub fn close(self) {
        if let Some(depth) = self.depth.filter(|_| !self.empty) {
            self.out.push('\n');
            indent(depth - 1, self.out);
        }
        self.out.push('}');
    }
}

fn indent(depth: usize, out: &mut String) {
    const SPACES: &str = "                ";
    match SPACES.get(..2 * depth) {
        Some(spaces) => out.push_str(spaces),
        None => (0..depth).for_each(|_| out.push_str("  ")),
    }
}

#[cfg(test)]
mod pretty_array_tests {
    use super::*;

    #[derive(Serialize)]
    struct Document {
        version: u32,
        items: Vec<serde_json::Value>,
        tail: serde_json::Value,
    }

    /// The streamed bytes equal serde_json's pretty printing of the whole document.
    fn streamed(document: &Document) -> String {
        let mut out = String::from("{\n  \"version\": ");
        out.push_str(&document.version.to_string());
        out.push_str(",\n  \"items\": ");
        let mut array = PrettyArray::open(1, &mut out);
        for item in &document.items {
            array.push(item, &mut out);
        }
        array.close(&mut out);
        out.push_str(",\n  \"tail\": ");
        write_nested(&document.tail, 1, &mut out);
        out.push_str("\n}");
        out
    }

    #[test]
    fn nested_values_match_reindented_pretty_printing() {
        let values = [
            serde_json::json!({"a": [1, {"b": [], "c": {}}], "d": "x\ny\u{9b}"}),
            serde_json::json!([]),
            serde_json::json!({}),
            serde_json::json!("s"),
            serde_json::json!([[], [1, [2]], {"k": null}]),
        ];
        for value in values {
            for depth in 0..4 {
                let mut out = String::from("=");
                write_nested(&value, depth, &mut out);
                // Strings hold no raw newline: every one is the layout's.
                let reindented = to_string_pretty(&value)
                    .unwrap()
                    .replace('\n', &format!("\n{}", "  ".repeat(depth)));
                assert_eq!(out, format!("={reindented}"), "{value} at {depth}");
            }
        }
    }

    #[test]
    fn streamed_arrays_match_whole_documents() {
        let items = [
            serde_json::json!({"a": [1, {"b": []}], "c": {}, "d": "x\ny\u{1b}"}),
            serde_json::json!([]),
            serde_json::json!("plain"),
        ];
        for n in 0..=items.len() {
            let document = Document {
                version: 1,
                items: items[..n].to_vec(),
                tail: serde_json::json!({"k": [null, true], "e": []}),
            };
            assert_eq!(streamed(&document), to_string_pretty(&document).unwrap());
        }
    }
}
