//! A fast reader for OTLP/JSON documents of the usual shape.
//!
//! Reads the bytes of one document straight into the structs serde would fill (the same
//! `into_model` conversions follow), scanning strings 16 bytes at a time. It accepts only what
//! it is sure of: each known field once, of its usual type, keys without escapes, integers
//! without fraction or exponent, no `null`, no surrogate escapes, nesting shallower than
//! serde's limit. Anything else (and every malformed document) makes it give up (`None`), and
//! the serde reader reads the document from its start, so values, errors and positions stay
//! exactly serde's. Everything it accepts, serde reads to the same value: it is a shortcut,
//! never a second grammar.
//!
//! For `migrate` it also records where each span's editable parts are ([`SpanLayouts`]) as it
//! reads them, so no second pass over the text has to find them.

use std::borrow::Cow;
use std::ops::Range;

use super::layout::SpanLayouts;
use super::{
    JsonAttribute, JsonEvent, JsonEventModel, JsonResource, JsonResourceSpans, JsonScope,
    JsonScopeSpans, JsonSpan, JsonSpanModel, JsonStatus, Token, TracesData, bytes_value,
    double_from_str, enum_from_name,
};
use crate::model::{Attribute, Value};

/// Deeper documents are left to serde, whose own limit (128) gives the exact error.
const MAX_DEPTH: usize = 100;

/// The document starting at `at` (after JSON whitespace) and the offset just after it, or
/// `None` when serde must read it. With `layouts`, the layout of its spans is appended there
/// (nothing when it gives up).
pub(super) fn read_document<'a>(
    text: &'a str,
    at: usize,
    layouts: Option<&mut SpanLayouts>,
) -> Option<(TracesData<'a>, usize)> {
    let Some(layouts) = layouts else {
        return Scanner::new(text, at, NoLayouts).document();
    };
    let mark = layouts.mark();
    let read = Scanner::new(text, at, &mut *layouts).document();
    if read.is_none() {
        layouts.truncate(mark);
    }
    read
}

/// Where the scanner notes the layout of the spans it reads: in [`SpanLayouts`] for `migrate`;
/// nowhere for `check` ([`NoLayouts`]), whose scanner is compiled without any of it.
trait Layouts {
    fn layouts(&mut self) -> Option<&mut SpanLayouts>;
}

struct NoLayouts;

impl Layouts for NoLayouts {
    #[inline(always)]
    fn layouts(&mut self) -> Option<&mut SpanLayouts> {
        None
    }
}

impl Layouts for &mut SpanLayouts {
    #[inline(always)]
    fn layouts(&mut self) -> Option<&mut SpanLayouts> {
        Some(self)
    }
}

struct Scanner<'a, L> {
    text: &'a str,
    bytes: &'a [u8],
    /// The next byte to read.
    pos: usize,
    /// Objects and arrays open around `pos`.
    depth: usize,
    /// Where the spans' layouts are recorded.
    layouts: L,
}

impl<'a, L: Layouts> Scanner<'a, L> {
    fn new(text: &'a str, at: usize, layouts: L) -> Self {
        Scanner {
            text,
            bytes: text.as_bytes(),
            pos: at,
            depth: 0,
            layouts,
        }
    }

    /// The document from `pos` (after whitespace) and where it ends.
    fn document(mut self) -> Option<(TracesData<'a>, usize)> {
        self.skip_whitespace();
        if self.peek()? != b'{' {
            return None;
        }
        let document = self.traces_data()?;
        Some((document, self.pos))
    }
}

/// Stores a field's value; a field seen twice is serde's to judge.
#[inline(always)]
fn once<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    match slot.replace(value) {
        None => Some(()),
        Some(_) => None,
    }
}

// The OTLP shape, as `super`'s derived structs read it.
impl<'a, L: Layouts> Scanner<'a, L> {
    fn traces_data(&mut self) -> Option<TracesData<'a>> {
        let mut resource_spans = None;
        self.object(|s, field| match field {
            "resourceSpans" | "resource_spans" => {
                once(&mut resource_spans, s.list(Self::resource_spans)?)
            }
            _ => s.skip_value(),
        })?;
        Some(TracesData {
            resource_spans: resource_spans.unwrap_or_default(),
        })
    }

    fn resource_spans(&mut self) -> Option<JsonResourceSpans<'a>> {
        let (mut resource, mut scope_spans, mut schema_url) = (None, None, None);
        self.object(|s, field| match field {
            "resource" => once(&mut resource, s.resource()?),
            "scopeSpans" | "scope_spans" => once(&mut scope_spans, s.list(Self::scope_spans)?),
            "schemaUrl" | "schema_url" => once(&mut schema_url, s.string()?.0),
            _ => s.skip_value(),
        })?;
        Some(JsonResourceSpans {
            resource: resource.unwrap_or_default(),
            scope_spans: scope_spans.unwrap_or_default(),
            schema_url: schema_url.unwrap_or_default(),
        })
    }

    fn resource(&mut self) -> Option<JsonResource<'a>> {
        let mut attributes = None;
        self.object(|s, field| match field {
            "attributes" => once(&mut attributes, s.list(Self::attribute)?),
            _ => s.skip_value(),
        })?;
        Some(JsonResource {
            attributes: attributes.unwrap_or_default(),
        })
    }

    fn scope_spans(&mut self) -> Option<JsonScopeSpans<'a>> {
        let (mut scope, mut spans, mut schema_url) = (None, None, None);
        self.object(|s, field| match field {
            "scope" => once(&mut scope, s.scope()?),
            "spans" => once(&mut spans, s.list(Self::span)?),
            "schemaUrl" | "schema_url" => once(&mut schema_url, s.string()?.0),
            _ => s.skip_value(),
        })?;
        Some(JsonScopeSpans {
            scope: scope.unwrap_or_default(),
            spans: spans.unwrap_or_default(),
            schema_url: schema_url.unwrap_or_default(),
        })
    }

    fn scope(&mut self) -> Option<JsonScope<'a>> {
        let (mut name, mut version, mut attributes) = (None, None, None);
        self.object(|s, field| match field {
            "name" => once(&mut name, s.string()?.0),
            "version" => once(&mut version, s.string()?.0),
            "attributes" => once(&mut attributes, s.list(Self::attribute)?),
            _ => s.skip_value(),
        })?;
        Some(JsonScope {
            name: name.unwrap_or_default(),
            version: version.unwrap_or_default(),
            attributes: attributes.unwrap_or_default(),
        })
    }

    fn span(&mut self) -> Option<JsonSpanModel<'a>> {
        let (mut trace_id, mut span_id, mut parent_span_id, mut name) = (None, None, None, None);
        let (mut kind, mut start, mut end) = (None, None, None);
        let (mut attributes, mut events, mut status) = (None, None, None);
        let object = self.pos;
        self.record(|l, _| l.open_span(object));
        self.object(|s, field| match field {
            "traceId" | "trace_id" => once(&mut trace_id, s.string()?.0),
            "spanId" | "span_id" => once(&mut span_id, s.string()?.0),
            "parentSpanId" | "parent_span_id" => once(&mut parent_span_id, s.string()?.0),
            "name" => {
                let token = s.pos;
                once(&mut name, s.token()?)?;
                s.record(|l, end| l.span_name(token..end));
                Some(())
            }
            "kind" => once(&mut kind, s.enum_number()?),
            "startTimeUnixNano" | "start_time_unix_nano" => once(&mut start, s.uint64()?),
            "endTimeUnixNano" | "end_time_unix_nano" => once(&mut end, s.uint64()?),
            "attributes" => once(
                &mut attributes,
                s.recorded_attributes(SpanLayouts::span_attributes)?,
            ),
            "events" => {
                let array = s.pos;
                once(&mut events, s.list(Self::event)?)?;
                s.record(|l, end| l.span_events(array..end));
                Some(())
            }
            "status" => once(&mut status, s.status()?),
            _ => s.skip_value(),
        })?;
        self.record(|l, end| l.close_span(end));
        let span = JsonSpan {
            trace_id: trace_id.unwrap_or_default(),
            span_id: span_id.unwrap_or_default(),
            parent_span_id: parent_span_id.unwrap_or_default(),
            name,
            kind: kind.unwrap_or_default(),
            start_time_unix_nano: start.unwrap_or_default(),
            end_time_unix_nano: end.unwrap_or_default(),
            attributes: attributes.unwrap_or_default(),
            events: events.unwrap_or_default(),
            status: status.unwrap_or_default(),
        };
        Some(JsonSpanModel(span.into_model()))
    }

    fn event(&mut self) -> Option<JsonEventModel<'a>> {
        let (mut name, mut time, mut attributes) = (None, None, None);
        let object = self.pos;
        self.record(|l, _| l.open_event(object));
        self.object(|s, field| match field {
            "name" => once(&mut name, s.token()?),
            "timeUnixNano" | "time_unix_nano" => once(&mut time, s.uint64()?),
            "attributes" => once(
                &mut attributes,
                s.recorded_attributes(SpanLayouts::event_attributes)?,
            ),
            _ => s.skip_value(),
        })?;
        self.record(|l, end| l.close_event(end));
        Some(JsonEventModel::from(JsonEvent {
            name,
            time_unix_nano: time.unwrap_or_default(),
            attributes: attributes.unwrap_or_default(),
        }))
    }

    fn status(&mut self) -> Option<JsonStatus<'a>> {
        let (mut message, mut code) = (None, None);
        self.object(|s, field| match field {
            "message" => once(&mut message, s.string()?.0),
            "code" => once(&mut code, s.enum_number()?),
            _ => s.skip_value(),
        })?;
        Some(JsonStatus {
            message: message.unwrap_or_default(),
            code: code.unwrap_or_default(),
        })
    }

    /// A span's or an event's attributes; with layouts, each `KeyValue` is recorded, and the
    /// array by `record`.
    fn recorded_attributes(
        &mut self,
        record: fn(&mut SpanLayouts, Range<usize>, usize),
    ) -> Option<Vec<JsonAttribute<'a>>> {
        let array = self.pos;
        let first = self.layouts.layouts().map_or(0, |l| l.key_value_count());
        let attributes = self.list(|s| {
            let object = s.pos;
            let (attribute, key_end) = s.key_value()?;
            let key = attribute.0.offset..key_end;
            s.record(|l, end| l.push_key_value(object..end, key));
            Some(attribute)
        })?;
        self.record(|l, end| record(l, array..end, first));
        Some(attributes)
    }

    /// A `KeyValue`, as the fast serde pass reads it (a key, at most one value).
    fn attribute(&mut self) -> Option<JsonAttribute<'a>> {
        self.key_value().map(|(attribute, _)| attribute)
    }

    /// A `KeyValue` and where its key token ends.
    fn key_value(&mut self) -> Option<(JsonAttribute<'a>, usize)> {
        let (mut key, mut value, mut key_end) = (None, None, 0);
        self.object(|s, field| match field {
            "key" => {
                once(&mut key, s.token()?)?;
                key_end = s.pos;
                Some(())
            }
            "value" => once(&mut value, s.any_value()?),
            _ => s.skip_value(),
        })?;
        let key = key?;
        let attribute = JsonAttribute(Attribute {
            key: key.text,
            value: value.unwrap_or_default(),
            offset: key.offset,
        });
        Some((attribute, key_end))
    }

    /// An `AnyValue` with at most one value field.
    fn any_value(&mut self) -> Option<Value<'a>> {
        let mut value = None;
        self.object(|s, field| {
            let read = match field {
                "stringValue" | "string_value" => Value::String(s.string()?.0),
                "boolValue" | "bool_value" => Value::Bool(s.bool()?),
                "intValue" | "int_value" => Value::Int(s.int64()?),
                "doubleValue" | "double_value" => Value::Double(s.double()?),
                "arrayValue" | "array_value" => Value::Array(s.values(Self::any_value)?),
                "kvlistValue" | "kvlist_value" => Value::KvList(
                    s.values(Self::attribute)?
                        .into_iter()
                        .map(|a| a.0)
                        .collect(),
                ),
                "bytesValue" | "bytes_value" => bytes_value(s.string()?.0),
                _ => return s.skip_value(),
            };
            once(&mut value, read)
        })?;
        Some(value.unwrap_or_default())
    }

    /// The `values` of an `ArrayValue` or `KeyValueList`.
    fn values<T>(&mut self, read: impl Fn(&mut Self) -> Option<T>) -> Option<Vec<T>> {
        let mut values = None;
        self.object(|s, field| match field {
            "values" => once(&mut values, s.list(&read)?),
            _ => s.skip_value(),
        })?;
        Some(values.unwrap_or_default())
    }
}

// JSON values.
impl<'a, L: Layouts> Scanner<'a, L> {
    /// Records a part of the layout with `record`, given where the scanner is, when layouts
    /// are asked for.
    #[inline(always)]
    fn record(&mut self, record: impl FnOnce(&mut SpanLayouts, usize)) {
        if let Some(layouts) = self.layouts.layouts() {
            record(layouts, self.pos);
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// Steps over `byte` (after whitespace).
    fn eat(&mut self, byte: u8) -> Option<()> {
        self.skip_whitespace();
        (self.peek()? == byte).then(|| self.pos += 1)
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    /// An object: `field` reads each field's value, given its name (keys with escapes are
    /// serde's), from the value's first byte.
    fn object(&mut self, mut field: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.items(b'{', b'}', |s| {
            let name = match s.string()?.0 {
                Cow::Borrowed(name) => name,
                Cow::Owned(_) => return None,
            };
            s.eat(b':')?;
            s.skip_whitespace();
            field(s, name)
        })
    }

    /// An array, `item` reading each item from its first byte.
    fn array(&mut self, item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.items(b'[', b']', item)
    }

    /// `open`, items separated by commas (`item` reads one from its first byte), `close`.
    /// Inlined so each caller's brackets are constants.
    #[inline(always)]
    fn items(
        &mut self,
        open: u8,
        close: u8,
        mut item: impl FnMut(&mut Self) -> Option<()>,
    ) -> Option<()> {
        self.eat(open)?;
        self.enter()?;
        self.skip_whitespace();
        if self.peek()? == close {
            self.pos += 1;
        } else {
            loop {
                self.skip_whitespace();
                item(self)?;
                self.skip_whitespace();
                match self.peek()? {
                    b',' => self.pos += 1,
                    byte if byte == close => {
                        self.pos += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        self.depth -= 1;
        Some(())
    }

    fn list<T>(&mut self, read: impl Fn(&mut Self) -> Option<T>) -> Option<Vec<T>> {
        let mut items = Vec::new();
        self.array(|s| {
            items.push(read(s)?);
            Some(())
        })?;
        Some(items)
    }

    /// Any JSON value, checked and dropped (an unknown field's).
    fn skip_value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' => self.object(|s, _| s.skip_value()),
            b'[' => self.array(Self::skip_value),
            b't' => self.literal("true"),
            b'f' => self.literal("false"),
            b'n' => self.literal("null"),
            _ => self.number().map(drop),
        }
    }

    fn literal(&mut self, word: &str) -> Option<()> {
        let end = self.pos + word.len();
        (self.bytes.get(self.pos..end)? == word.as_bytes()).then(|| self.pos = end)
    }

    fn bool(&mut self) -> Option<bool> {
        match self.peek()? {
            b't' => self.literal("true").map(|()| true),
            b'f' => self.literal("false").map(|()| false),
            _ => None,
        }
    }

    /// A string and the offset of its opening quote; borrowed when it has no escapes.
    #[inline]
    fn string(&mut self) -> Option<(Cow<'a, str>, usize)> {
        let open = self.pos;
        if self.peek()? != b'"' {
            return None;
        }
        let stop = find_special(self.bytes, open + 1)?;
        match self.bytes[stop] {
            b'"' => {
                self.pos = stop + 1;
                Some((Cow::Borrowed(self.text.get(open + 1..stop)?), open))
            }
            b'\\' => Some((Cow::Owned(self.unescape(open + 1, stop)?), open)),
            // A control character: an error for serde.
            _ => None,
        }
    }

    /// The rest of a string from `from`, whose first escape is at `escape` (out of line: few
    /// strings have escapes).
    #[inline(never)]
    fn unescape(&mut self, from: usize, mut escape: usize) -> Option<String> {
        let mut text = String::with_capacity(2 * (escape - from) + 16);
        text.push_str(self.text.get(from..escape)?);
        loop {
            // The text after the escape, from `next`; a quote, backslash or slash stands for
            // itself, so it starts the next run of text rather than being pushed alone.
            let mut next = escape + 2;
            match *self.bytes.get(escape + 1)? {
                b'"' | b'\\' | b'/' => next = escape + 1,
                b'b' => text.push('\u{8}'),
                b'f' => text.push('\u{c}'),
                b'n' => text.push('\n'),
                b'r' => text.push('\r'),
                b't' => text.push('\t'),
                b'u' => {
                    next = escape + 6;
                    let hex = self.bytes.get(escape + 2..next)?;
                    if !hex.iter().all(u8::is_ascii_hexdigit) {
                        return None;
                    }
                    let unit = u32::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
                    // Surrogate pairs (and lone surrogates, an error) are serde's.
                    text.push(char::from_u32(unit)?);
                }
                _ => return None,
            }
            // Searched from after the escape (a run starting at an escaped quote or backslash
            // must not stop at it).
            let stop = find_special(self.bytes, escape + 2)?;
            text.push_str(self.text.get(next..stop)?);
            match self.bytes[stop] {
                b'"' => {
                    self.pos = stop + 1;
                    return Some(text);
                }
                b'\\' => escape = stop,
                _ => return None,
            }
        }
    }

    /// A span or event name, or an attribute key.
    fn token(&mut self) -> Option<Token<'a>> {
        let (text, offset) = self.string()?;
        Some(Token { text, offset })
    }

    /// A number's text, checked against JSON's grammar.
    fn number(&mut self) -> Option<&'a str> {
        let start = self.pos;
        let bytes = self.bytes;
        let mut at = start + usize::from(bytes.get(start) == Some(&b'-'));
        match bytes.get(at)? {
            b'0' => at += 1,
            b'1'..=b'9' => at = digits_end(bytes, at),
            _ => return None,
        }
        if bytes.get(at) == Some(&b'.') {
            let end = digits_end(bytes, at + 1);
            if end == at + 1 {
                return None;
            }
            at = end;
        }
        if let Some(b'e' | b'E') = bytes.get(at) {
            at += 1;
            if let Some(b'+' | b'-') = bytes.get(at) {
                at += 1;
            }
            let end = digits_end(bytes, at);
            if end == at {
                return None;
            }
            at = end;
        }
        self.pos = at;
        self.text.get(start..at)
    }

    /// int64 as a number or a decimal string, of up to 18 digits (wider ones are serde's).
    fn int64(&mut self) -> Option<i64> {
        let text = if self.peek()? == b'"' {
            match self.string()?.0 {
                Cow::Borrowed(text) => text,
                Cow::Owned(_) => return None,
            }
        } else {
            self.number()?
        };
        let (negative, digits) = match text.strip_prefix('-') {
            Some(digits) => (true, digits),
            None => (false, text),
        };
        if digits.len() > 18 {
            return None;
        }
        let magnitude = i64::try_from(decimal(digits)?).ok()?;
        Some(if negative { -magnitude } else { magnitude })
    }

    /// uint64 as an unsigned number or decimal string.
    fn uint64(&mut self) -> Option<u64> {
        let text = if self.peek()? == b'"' {
            match self.string()?.0 {
                Cow::Borrowed(text) => text,
                Cow::Owned(_) => return None,
            }
        } else {
            self.number()?
        };
        decimal(text)
    }

    /// A double as a number (parsed by serde_json, so it rounds as serde does) or a string.
    fn double(&mut self) -> Option<f64> {
        if self.peek()? == b'"' {
            return match self.string()?.0 {
                Cow::Borrowed(text) => double_from_str(text),
                Cow::Owned(_) => None,
            };
        }
        serde_json::from_str(self.number()?).ok()
    }

    /// An enum as a small unsigned number or a name.
    fn enum_number(&mut self) -> Option<i32> {
        if self.peek()? == b'"' {
            return match self.string()?.0 {
                Cow::Borrowed(name) => enum_from_name(name).ok(),
                Cow::Owned(_) => None,
            };
        }
        let text = self.number()?;
        if text.len() > 9 {
            return None;
        }
        // Negative numbers (`-0` is a float to serde) are serde's.
        i32::try_from(decimal(text)?).ok()
    }
}

/// The first byte from `from` that ends a plain run of string text: a quote, a backslash or a
/// control character. Looked for 16 bytes at a time: each byte becomes 0xFF (special) or 0
/// (written so that the compiler uses vector compares), and the lowest marked byte of the 16
/// is the count of trailing zero bits over 8.
#[inline]
fn find_special(bytes: &[u8], mut from: usize) -> Option<usize> {
    while let Some(chunk) = bytes.get(from..).and_then(<[u8]>::first_chunk::<16>) {
        let mut marks = [0u8; 16];
        for (mark, &byte) in marks.iter_mut().zip(chunk) {
            *mark = if is_special(byte) { 0xFF } else { 0 };
        }
        let marks = u128::from_le_bytes(marks);
        if marks != 0 {
            return Some(from + (marks.trailing_zeros() / 8) as usize);
        }
        from += 16;
    }
    let rest = bytes.get(from..)?;
    rest.iter().position(|&b| is_special(b)).map(|at| from + at)
}

fn is_special(byte: u8) -> bool {
    (byte == b'"') | (byte == b'\\') | (byte < 0x20)
}

fn digits_end(bytes: &[u8], from: usize) -> usize {
    let run = bytes.get(from..).unwrap_or_default();
    from + run.iter().take_while(|b| b.is_ascii_digit()).count()
}

/// ASCII digits (no sign) as a number, if it fits.
fn decimal(digits: &str) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.bytes().try_fold(0u64, |n, b| {
        let digit = b.is_ascii_digit().then(|| u64::from(b - b'0'))?;
        n.checked_mul(10)?.checked_add(digit)
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::JsonBatches;
    use super::super::layout::{SpanLayout, span_layouts};
    use super::*;

    /// Every document of `text` as the reader gives it (`Debug`, so NaN equals NaN), with
    /// and without the scanner.
    fn both_readers(text: &str) -> [String; 2] {
        let read = |batches: JsonBatches<'_>| format!("{:?}", batches.collect::<Vec<_>>());
        [
            read(JsonBatches::new(text)),
            read(JsonBatches::new(text).serde_only()),
        ]
    }

    fn assert_read_as_serde_reads(text: &str) {
        let [scanned, serde] = both_readers(text);
        assert_eq!(scanned, serde, "{text}");
    }

    /// Whether the scanner reads the whole of `text` itself (no document left to serde).
    fn scanned(text: &str) -> bool {
        let Some((_, end)) = read_document(text, 0, None) else {
            return false;
        };
        text[end..].trim().is_empty()
    }

    fn span_doc(fields: &str) -> String {
        format!(
            r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"s"}}}}]}},"scopeSpans":[{{"scope":{{"name":"sc","version":"1"}},"spans":[{{{fields}}}],"schemaUrl":"u"}}]}}]}}"#
        )
    }

    #[test]
    fn usual_documents_are_scanned_and_read_as_serde_reads_them() {
        let usual = [
            r#""name":"chat","kind":3,"traceId":"0102","spanId":"aa","startTimeUnixNano":"5","endTimeUnixNano":6"#,
            r#""name":"a\"b\\c\/d\b\f\n\r\t\u00e9\u0000","attributes":[{"key":"k","value":{"intValue":"-12"}}]"#,
            r#""name":"é ünïcode ✓","kind":"SPAN_KIND_SERVER","status":{"code":"STATUS_CODE_ERROR","message":"m\n"}"#,
            r#""kind":"client","status":{"code":2},"flags":256,"traceState":"x=\"y\"","droppedAttributesCount":0"#,
            r#""links":[{"traceId":"01","attributes":[],"deep":[1,-2.5e-3,0,true,false,null,{"a":{}}]}]"#,
            r#""events":[{"name":"e","timeUnixNano":"18446744073709551615","attributes":[{"key":"x","value":{"boolValue":true}}]},{}]"#,
            r#""attributes":[{"value":{"doubleValue":0.1},"key":"late"},{"key":"d","value":{"doubleValue":"-Infinity"}}]"#,
            r#""attributes":[{"key":"a","value":{"arrayValue":{"values":[{"intValue":1},{"stringValue":"x"},{}]}}}]"#,
            r#""attributes":[{"key":"k","value":{"kvlistValue":{"values":[{"key":"in","value":{"bytesValue":"AAE="}}]}}}]"#,
            r#""attributes":[{"key":"b","value":{"bytes_value":"not base64"}},{"key":"e","value":{}},{"key":"m"}]"#,
            r#""trace_id":"AAECAwQFBgcICQoLDA0ODw==","span_id":"x","parent_span_id":"","start_time_unix_nano":0"#,
            r#""attributes":[{"key":"i","value":{"int_value":-999999999999999999}},{"key":"z","value":{"intValue":"007"}}]"#,
            " \"name\" :\t\"spaced\" ,\r\n \"kind\" : 1 ",
        ];
        assert!(scanned(SEED));
        for fields in usual {
            let text = span_doc(fields);
            assert!(scanned(&text), "not scanned: {fields}");
            assert_read_as_serde_reads(&text);
        }
    }

    #[test]
    fn unusual_documents_are_left_to_serde() {
        let unusual = [
            r#""name":null"#,
            r#""name":1"#,
            r#""name":"a","name":"b""#,
            r#""traceId":"a","trace_id":"b""#,
            r#""name":"\ud83d\ude00""#,
            r#""name":"\ud800""#,
            r#""name":"\x""#,
            r#""name":"\u12G4""#,
            "\"name\":\"tab\there\"",
            r#""na\u006de":"escaped key""#,
            r#""kind":-1"#,
            r#""kind":-0"#,
            r#""kind":1.0"#,
            r#""kind":99999999999"#,
            r#""kind":"sideways""#,
            r#""kind":"\u0031""#,
            r#""startTimeUnixNano":"-1""#,
            r#""startTimeUnixNano":-0"#,
            r#""startTimeUnixNano":"+5""#,
            r#""startTimeUnixNano":1e3"#,
            r#""startTimeUnixNano":1.5"#,
            r#""startTimeUnixNano":"18446744073709551616""#,
            r#""startTimeUnixNano":99999999999999999999"#,
            r#""startTimeUnixNano":012"#,
            r#""startTimeUnixNano":null"#,
            r#""attributes":null"#,
            r#""attributes":{}"#,
            r#""attributes":[{"key":"k","value":{"intValue":"1234567890123456789"}}]"#,
            r#""attributes":[{"key":"k","value":{"intValue":"9223372036854775808"}}]"#,
            r#""attributes":[{"key":"k","value":{"intValue":"-0x1"}}]"#,
            r#""attributes":[{"key":"k","value":{"doubleValue":1e400}}]"#,
            r#""attributes":[{"key":"k","value":{"doubleValue":"fast"}}]"#,
            r#""attributes":[{"key":"k","value":{"boolValue":tru}}]"#,
            r#""attributes":[{"key":"k","value":{"intValue":1,"stringValue":"s"}}]"#,
            r#""attributes":[{"key":"k","value":{"arrayValue":{"values":[null]}}}]"#,
            r#""attributes":[{"key":"k","value":{"arrayValue":[[{"intValue":1}]]}}]"#,
            r#""attributes":[{"value":{"intValue":1}}]"#,
            r#""attributes":[{"key":"k",}]"#,
            r#""attributes":[{"key":"k"},]"#,
            r#""status":null"#,
            r#""status":{"code":"OK","code":1}"#,
            r#""events":[{"name":null}]"#,
            r#""flags":01"#,
            r#""flags":-"#,
            r#""flags":1."#,
            r#""flags":1e"#,
            r#""flags":nul"#,
            r#""flags":[1 2]"#,
            r#""flags":{"a" 1}"#,
            r#""flags":'x'"#,
        ];
        for fields in unusual {
            let text = span_doc(fields);
            assert!(!scanned(&text), "scanned: {fields}");
            assert_read_as_serde_reads(&text);
        }
    }

    #[test]
    fn nesting_deeper_than_serde_allows_is_left_to_serde() {
        // The span is 7 levels deep in its document.
        for depth in [80, 93, 94, 130, 200] {
            let deep = format!(r#""flags":{}1{}"#, "[".repeat(depth), "]".repeat(depth));
            let text = span_doc(&deep);
            assert_eq!(scanned(&text), depth + 7 <= MAX_DEPTH, "{depth}");
            assert_read_as_serde_reads(&text);
        }
    }

    #[test]
    fn several_documents_and_bad_lines_read_as_serde_reads_them() {
        let good = span_doc(r#""name":"a","attributes":[{"key":"k","value":{"intValue":1}}]"#);
        let texts = [
            format!("{good}\n{good}\n"),
            format!("{good}{good} {good}"),
            format!("{good}\n{{\"resourceSpans\": [}}\n{good}\n"),
            format!("{good}\n[{good}]\n{good}"),
            format!("{good}\n\u{a0}{good}\n{good}"),
            format!("{good}\n{}\n{good}", &good[..good.len() / 2]),
            format!("{good}\n{good} trailing\n"),
            format!("  \n\n{good}  \n\n"),
            good.replace("\"a\"", "\"a\u{1}\""),
        ];
        for text in &texts {
            assert_read_as_serde_reads(text);
        }
    }

    #[test]
    fn the_size_limit_applies_to_scanned_documents() {
        let doc = span_doc(r#""name":"a""#);
        let text = format!("{doc}\n{doc}");
        let limited = |reader: JsonBatches<'_>| {
            format!(
                "{:?}",
                reader
                    .with_max_message_size(doc.len() - 1)
                    .collect::<Vec<_>>()
            )
        };
        let scanned = limited(JsonBatches::new(&text));
        assert_eq!(scanned, limited(JsonBatches::new(&text).serde_only()));
        assert!(scanned.contains("exceeds the limit"), "{scanned}");
    }

    #[test]
    fn real_dumps_are_scanned_and_read_as_serde_reads_them() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/real");
        let mut dumps = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "jsonl") {
                let text = std::fs::read_to_string(&path).unwrap();
                for line in text.lines().filter(|l| !l.trim().is_empty()) {
                    assert!(scanned(line), "{}: not scanned", path.display());
                }
                assert_read_as_serde_reads(&text);
                dumps += 1;
            }
        }
        assert!(dumps >= 10, "{dumps}");
    }

    #[test]
    fn special_bytes_are_found_where_a_plain_search_finds_them() {
        let mut text = b"plain text, some of it long enough to fill several chunks".to_vec();
        text.extend(1..0x30);
        text.extend(b"\\ \"end".repeat(3));
        for from in 0..text.len() {
            for special in from..text.len() {
                let mut bytes = text.clone();
                for b in &mut bytes[from..special] {
                    if is_special(*b) {
                        *b = b'x';
                    }
                }
                let expected = bytes[from..].iter().position(|&b| is_special(b));
                assert_eq!(
                    find_special(&bytes, from),
                    expected.map(|at| from + at),
                    "{from} {special}"
                );
            }
        }
    }

    #[test]
    fn strings_decode_as_serde_decodes_them() {
        let pieces = [
            r#"\""#,
            r#"\\"#,
            r#"\/"#,
            r#"\n"#,
            r#"\t"#,
            r#"\b\f\r"#,
            r#"\u00e9"#,
            r#"\u0000"#,
            r#"\uFFFF"#,
            "é",
            "✓",
            "x",
            "0123456789abcdef",
        ];
        let mut checked = 0;
        for first in pieces {
            for second in pieces {
                for pad in [0, 1, 7, 14, 15, 16, 17, 31] {
                    let json = format!(
                        "\"{}{first}{}{second}\"",
                        "p".repeat(pad),
                        "q".repeat(pad % 5)
                    );
                    let mut scanner = Scanner::new(&json, 0, NoLayouts);
                    let (text, offset) = scanner.string().expect(&json);
                    let expected: String = serde_json::from_str(&json).unwrap();
                    assert_eq!(
                        (&*text, offset, scanner.pos),
                        (&*expected, 0, json.len()),
                        "{json}"
                    );
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, pieces.len() * pieces.len() * 8);
    }

    /// The layouts the reader records for `text` (scanned documents by the scanner, the
    /// others by the layout pass), each span's as a [`SpanLayout`], or `None` when a document
    /// of it is an error.
    fn recorded(text: &str) -> Option<SpanLayouts> {
        let mut reader = JsonBatches::new(text).recording_layouts();
        reader.by_ref().collect::<Result<Vec<_>, _>>().ok()?;
        Some(reader.into_layouts())
    }

    fn spans(layouts: &SpanLayouts) -> Vec<SpanLayout<'_>> {
        (0..layouts.len())
            .map(|i| layouts.span(i).unwrap())
            .collect()
    }

    /// Asserts that the layouts recorded while reading `text` are the layout pass's, and
    /// returns how many spans it has (`None` when the text does not read).
    fn assert_recorded_as_the_layout_pass_finds(text: &str) -> Option<usize> {
        let recorded = recorded(text)?;
        let passed = span_layouts(text).expect("the layout pass reads what the reader read");
        assert_eq!(spans(&recorded), spans(&passed), "{text}");
        Some(passed.len())
    }

    /// Spans with names, attributes and events (with and without attributes) in several
    /// orders and spellings, for the layout tests.
    const LAYOUT_SEED: &str = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"s"}}]},"scopeSpans":[{"scope":{"name":"sc","attributes":[{"key":"sk","value":{}}]},"spans":[{"name":"chat","attributes":[{"key":"a","value":{"kvlistValue":{"values":[{"key":"in","value":{"intValue":"1"}}]}}},{"value":{"stringValue":"q\"\u00e9"},"key":"b\n"}],"events":[{"name":"e","attributes":[{"key":"x","value":{"boolValue":true}}]},{"timeUnixNano":"1"},{"attributes":[]}]},{"events":[{"attributes":[{"key":"y"}],"name":"f"}],"kind":1,"attributes":[{"key":"z","value":{"arrayValue":{"values":[{"intValue":2}]}}}],"name":"n2"},{}]},{"spans":[{"name":"other","attributes":[]}]}]}]}"#;

    #[test]
    fn recorded_layouts_are_the_layout_passs_on_real_dumps() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/real");
        let (mut dumps, mut span_count) = (0, 0);
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "jsonl") {
                let text = std::fs::read_to_string(&path).unwrap();
                for line in text.lines().filter(|l| !l.trim().is_empty()) {
                    // Recorded by the scanner alone.
                    let mut layouts = SpanLayouts::default();
                    read_document(line, 0, Some(&mut layouts)).expect("scanned");
                    let passed = span_layouts(line).unwrap();
                    assert_eq!(spans(&layouts), spans(&passed), "{}", path.display());
                    span_count += layouts.len();
                }
                assert_recorded_as_the_layout_pass_finds(&text).expect("read");
                dumps += 1;
            }
        }
        assert!(dumps >= 10 && span_count >= 20, "{dumps} {span_count}");
    }

    #[test]
    fn recorded_layouts_are_the_layout_passs_wherever_whitespace_or_text_is_added() {
        // Every position: a space, a new line or a letter there either breaks the document or
        // moves every range after it, which the scanner must record where the layout pass
        // finds it.
        assert!(scanned(LAYOUT_SEED));
        assert_eq!(
            assert_recorded_as_the_layout_pass_finds(LAYOUT_SEED),
            Some(4)
        );
        let mut checked = 0;
        for at in 0..=LAYOUT_SEED.len() {
            for added in [" ", "\n\t", "x"] {
                let text = format!("{}{added}{}", &LAYOUT_SEED[..at], &LAYOUT_SEED[at..]);
                if recorded(&text).is_none() {
                    continue;
                }
                assert!(scanned(&text), "{text}");
                // Added to a key around the spans (`spans`, `scopeSpans`), it hides them.
                if assert_recorded_as_the_layout_pass_finds(&text) == Some(4) {
                    checked += 1;
                }
            }
        }
        assert!(checked > LAYOUT_SEED.len(), "{checked}");
    }

    #[test]
    fn documents_left_to_serde_get_the_layout_passs_layouts_in_their_place() {
        // Scanned, left to serde (a `null` name, an escaped key), scanned: the spans of each
        // are recorded in reading order, at their offsets in the whole text.
        let unusual = LAYOUT_SEED.replacen(r#""name":"n2""#, r#""name":null"#, 1);
        let escaped = LAYOUT_SEED.replacen(r#""kind":1"#, r#""k\u0069nd":1"#, 1);
        assert!(!scanned(&unusual) && !scanned(&escaped));
        let text = format!("{LAYOUT_SEED}\n{unusual}\n  {LAYOUT_SEED} {escaped}\n{LAYOUT_SEED}");
        assert_eq!(assert_recorded_as_the_layout_pass_finds(&text), Some(20));
        // The layouts point into the text where the spans are.
        let layouts = recorded(&text).unwrap();
        let names: Vec<&str> = spans(&layouts)
            .iter()
            .map(|l| l.name.clone().map_or("-", |name| &text[name]))
            .collect();
        let seed = ["\"chat\"", "\"n2\"", "-", "\"other\""];
        let unusual = ["\"chat\"", "-", "-", "\"other\""];
        assert_eq!(names, [seed, unusual, seed, seed, seed].concat());
        // Reading without asking for layouts records none.
        let mut reader = JsonBatches::new(&text);
        assert_eq!(reader.by_ref().filter(Result::is_ok).count(), 5);
        assert!(reader.into_layouts().is_empty());
    }

    #[test]
    fn a_document_the_scanner_gives_up_on_halfway_leaves_no_layouts_behind() {
        // The scanner reads the first spans, then gives up at the last one's `null` name.
        let late = LAYOUT_SEED.replacen(r#""name":"other""#, r#""name":null"#, 1);
        let mut layouts = SpanLayouts::default();
        assert!(read_document(&late, 0, Some(&mut layouts)).is_none());
        assert!(layouts.is_empty());
        assert_eq!(
            assert_recorded_as_the_layout_pass_finds(&format!("{late}\n{LAYOUT_SEED}")),
            Some(8)
        );
    }

    /// A document with a bit of everything the scanner reads, for mutations.
    const SEED: &str = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"a","value":{"stringValue":"x\"y\u00e9"}}]},"scopeSpans":[{"scope":{"name":"n"},"spans":[{"traceId":"01","name":"s","kind":3,"startTimeUnixNano":"12","flags":256,"attributes":[{"key":"i","value":{"intValue":"-5"}},{"key":"d","value":{"doubleValue":0.25}},{"key":"l","value":{"arrayValue":{"values":[{"boolValue":true}]}}}],"events":[{"name":"e"}],"status":{"code":2}}]}]}]}"#;

    /// Two copies of `seed` on two lines, with each edit `(at, byte, how)` applied: `how` 0
    /// replaces the byte at `at`, 1 inserts `byte` there, 2 removes the byte there.
    fn edited(seed: &str, edits: &[(usize, u8, u8)]) -> Vec<u8> {
        let mut bytes = format!("{seed}\n{seed}").into_bytes();
        for &(at, byte, how) in edits {
            match how {
                0 => bytes[at] = byte,
                1 => bytes.insert(at, byte),
                _ => {
                    bytes.remove(at);
                }
            }
        }
        bytes
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

        /// Any edit of a usual document (most of them make it unusual or malformed) reads,
        /// errors and positions included, as serde reads it.
        #[test]
        fn edited_documents_read_as_serde_reads_them(
            edits in proptest::collection::vec(
                (0..SEED.len(), prop::sample::select(&b"\"\\{}[],: 0-.eE+nul1\n\x01uae"[..]), 0..3u8),
                1..4,
            )
        ) {
            if let Ok(text) = String::from_utf8(edited(SEED, &edits)) {
                let [scanned, serde] = both_readers(&text);
                prop_assert_eq!(scanned, serde, "{}", text);
            }
        }

        /// Any edit of documents with spans of every layout (most edits make one unusual, and
        /// so left to serde and the layout pass, or malformed): the layouts recorded while
        /// reading are the layout pass's, wherever they come from.
        #[test]
        fn edited_documents_record_the_layout_passs_layouts(
            edits in proptest::collection::vec(
                (0..LAYOUT_SEED.len(), prop::sample::select(&b"\"\\{}[],: 0nul1\nxk"[..]), 0..3u8),
                1..4,
            )
        ) {
            if let Ok(text) = String::from_utf8(edited(LAYOUT_SEED, &edits)) {
                assert_recorded_as_the_layout_pass_finds(&text);
            }
        }
    }
}
