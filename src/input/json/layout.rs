//! Layout for rewriting (`migrate`): where each span's editable parts are in a JSON text the
//! reader accepted.
//!
//! [`SpanLayouts`] holds them for every span of a text (or chunk), in reading order. The
//! scanner ([`super::scan`]) records them as it reads a document when `migrate` asks for them
//! ([`super::JsonBatches::recording_layouts`]); a document the scanner leaves to serde gets
//! them from the layout pass here: a small reader that reads each byte once and builds
//! nothing, since serde_json can give a position only through `RawValue`.

use std::ops::Range;

use super::JsonError;

/// The byte ranges of the editable parts of every span of a text, in reading order (the order
/// of the spans of the model). Flat lists, so a span's layout allocates nothing of its own;
/// [`SpanLayouts::span`] gives one span's as a [`SpanLayout`].
#[derive(Debug, Clone, Default)]
pub struct SpanLayouts {
    spans: Vec<SpanRecord>,
    events: Vec<EventRecord>,
    key_values: Vec<KeyValueLayout>,
    /// Why the layout pass failed on a document: the spans from there on have no layout.
    failure: Option<JsonError>,
}

/// One span's entry of [`SpanLayouts`]; its key values and events are index ranges of the
/// flat lists.
#[derive(Debug, Clone)]
struct SpanRecord {
    span: Range<usize>,
    name: Option<Range<usize>>,
    attributes: Option<Range<usize>>,
    key_values: Range<usize>,
    events_array: Option<Range<usize>>,
    events: Range<usize>,
}

#[derive(Debug, Clone, PartialEq)]
struct EventRecord {
    object: Range<usize>,
    attributes: Option<Range<usize>>,
    key_values: Range<usize>,
}

/// Byte ranges of one span's editable parts.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanLayout<'a> {
    /// The whole span object `{…}`.
    pub span: Range<usize>,
    /// The name token (a JSON string), when present.
    pub name: Option<Range<usize>>,
    /// The `attributes` array `[…]`, when present.
    pub attributes: Option<Range<usize>>,
    /// Each attribute's `{"key":…,"value":…}` object and its key token, in order.
    pub key_values: &'a [KeyValueLayout],
    /// The `events` array `[…]`, when present.
    pub events_array: Option<Range<usize>>,
    /// The span's events, in order.
    pub events: EventLayouts<'a>,
}

/// The events of a [`SpanLayout`].
#[derive(Debug, Clone, Copy)]
pub struct EventLayouts<'a> {
    records: &'a [EventRecord],
    /// The flat list the records' `key_values` index.
    key_values: &'a [KeyValueLayout],
}

/// Byte ranges of one span event: the whole `{…}` and its attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct EventLayout<'a> {
    pub object: Range<usize>,
    pub attributes: Option<Range<usize>>,
    pub key_values: &'a [KeyValueLayout],
}

/// One `KeyValue` object of a span's attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyValueLayout {
    pub object: Range<usize>,
    pub key: Range<usize>,
}

impl SpanLayouts {
    /// Empty lists with room for the spans of a text of `len` bytes as real dumps have them
    /// (a span's or event's `KeyValue` every ~120 bytes, a span every ~2 KB), so that they
    /// seldom grow: growing copies them, which costs more than recording them.
    pub fn for_text(len: usize) -> Self {
        SpanLayouts {
            spans: Vec::with_capacity(len / 2048),
            events: Vec::with_capacity(len / 4096),
            key_values: Vec::with_capacity(len / 128),
            failure: None,
        }
    }

    /// The layout of the span at `index` (its position among the spans of the text).
    pub fn span(&self, index: usize) -> Result<SpanLayout<'_>, String> {
        let Some(record) = self.spans.get(index) else {
            return Err(match &self.failure {
                Some(failure) => failure.message.clone(),
                None => format!("span {index} not found in the JSON layout"),
            });
        };
        Ok(SpanLayout {
            span: record.span.clone(),
            name: record.name.clone(),
            attributes: record.attributes.clone(),
            key_values: &self.key_values[record.key_values.clone()],
            events_array: record.events_array.clone(),
            events: EventLayouts {
                records: &self.events[record.events.clone()],
                key_values: &self.key_values,
            },
        })
    }

    /// How many spans have a layout.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Whether more spans can be recorded (the layout pass has not failed).
    pub(super) fn recording(&self) -> bool {
        self.failure.is_none()
    }

    /// Where the lists end, to go back to with [`SpanLayouts::truncate`] when the scanner
    /// gives up on a document halfway.
    pub(super) fn mark(&self) -> [usize; 3] {
        [self.spans.len(), self.events.len(), self.key_values.len()]
    }

    pub(super) fn truncate(&mut self, [spans, events, key_values]: [usize; 3]) {
        self.spans.truncate(spans);
        self.events.truncate(events);
        self.key_values.truncate(key_values);
    }

    // Recording, in reading order: a span is opened, its parts are recorded into the last
    // span (and event) opened, and it is closed with its end.

    pub(super) fn open_span(&mut self, start: usize) {
        self.spans.push(SpanRecord {
            span: start..start,
            name: None,
            attributes: None,
            key_values: 0..0,
            events_array: None,
            events: self.events.len()..self.events.len(),
        });
    }

    pub(super) fn close_span(&mut self, end: usize) {
        let events = self.events.len();
        if let Some(span) = self.spans.last_mut() {
            span.span.end = end;
            span.events.end = events;
        }
    }

    pub(super) fn span_name(&mut self, name: Range<usize>) {
        if let Some(span) = self.spans.last_mut() {
            span.name = Some(name);
        }
    }

    /// How many key values are recorded: where the next attributes array's start.
    pub(super) fn key_value_count(&self) -> usize {
        self.key_values.len()
    }

    pub(super) fn push_key_value(&mut self, object: Range<usize>, key: Range<usize>) {
        self.key_values.push(KeyValueLayout { object, key });
    }

    /// The span's `attributes` array, whose key values were recorded from `first`.
    pub(super) fn span_attributes(&mut self, array: Range<usize>, first: usize) {
        let end = self.key_values.len();
        if let Some(span) = self.spans.last_mut() {
            span.attributes = Some(array);
            span.key_values = first..end;
        }
    }

    pub(super) fn span_events(&mut self, array: Range<usize>) {
        if let Some(span) = self.spans.last_mut() {
            span.events_array = Some(array);
        }
    }

    pub(super) fn open_event(&mut self, start: usize) {
        self.events.push(EventRecord {
            object: start..start,
            attributes: None,
            key_values: 0..0,
        });
    }

    pub(super) fn close_event(&mut self, end: usize) {
        if let Some(event) = self.events.last_mut() {
            event.object.end = end;
        }
    }

    /// The last event's `attributes` array, whose key values were recorded from `first`.
    pub(super) fn event_attributes(&mut self, array: Range<usize>, first: usize) {
        let end = self.key_values.len();
        if let Some(event) = self.events.last_mut() {
            event.attributes = Some(array);
            event.key_values = first..end;
        }
    }
}

impl<'a> EventLayouts<'a> {
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn get(&self, index: usize) -> Option<EventLayout<'a>> {
        let record = self.records.get(index)?;
        Some(EventLayout {
            object: record.object.clone(),
            attributes: record.attributes.clone(),
            key_values: &self.key_values[record.key_values.clone()],
        })
    }

    pub fn first(&self) -> Option<EventLayout<'a>> {
        self.get(0)
    }

    pub fn last(&self) -> Option<EventLayout<'a>> {
        self.get(self.len().checked_sub(1)?)
    }

    pub fn iter(&self) -> impl Iterator<Item = EventLayout<'a>> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }
}

impl PartialEq for EventLayouts<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

/// The layout of every span of a text the [`JsonBatches`](super::JsonBatches) reader read
/// without an error, by the layout pass alone (the fuzzers and the tests compare it with what
/// the scanner records).
pub fn span_layouts(text: &str) -> Result<SpanLayouts, JsonError> {
    let b = text.as_bytes();
    let mut layouts = SpanLayouts::default();
    let mut pos = skip_ws(b, 0);
    while pos < b.len() {
        pos = skip_ws(b, record_document(text, pos, &mut layouts)?);
    }
    Ok(layouts)
}

/// Records the layout of the spans of the document starting at `start` (a document serde
/// read, not the scanner) and returns where it ends. On an error nothing more is recorded:
/// the error is kept, for the spans from there on.
pub(super) fn record_document_or_fail(text: &str, start: usize, layouts: &mut SpanLayouts) {
    let mark = layouts.mark();
    if let Err(failure) = record_document(text, start, layouts) {
        layouts.truncate(mark);
        layouts.failure = Some(failure);
    }
}

/// Records the layout of the spans of the document starting at `start`; returns where it
/// ends.
fn record_document(
    text: &str,
    start: usize,
    layouts: &mut SpanLayouts,
) -> Result<usize, JsonError> {
    let b = text.as_bytes();
    members(b, start, |key, value| {
        if !(key_is(b, &key, "resourceSpans") || key_is(b, &key, "resource_spans")) {
            return value_end(b, value);
        }
        elements(b, value, |rs| {
            members(b, rs, |key, value| {
                if !(key_is(b, &key, "scopeSpans") || key_is(b, &key, "scope_spans")) {
                    return value_end(b, value);
                }
                elements(b, value, |ss| {
                    members(b, ss, |key, value| {
                        if !key_is(b, &key, "spans") {
                            return value_end(b, value);
                        }
                        elements(b, value, |span| record_span(b, span, layouts))
                    })
                })
            })
        })
    })
}

/// Records the layout of the span object starting at `start`; returns where it ends.
fn record_span(b: &[u8], start: usize, layouts: &mut SpanLayouts) -> Result<usize, JsonError> {
    layouts.open_span(start);
    let end = members(b, start, |key, value| {
        if is_null(b, value) {
            return value_end(b, value);
        }
        if key_is(b, &key, "name") {
            let end = value_end(b, value)?;
            layouts.span_name(value..end);
            Ok(end)
        } else if key_is(b, &key, "attributes") {
            record_attributes(b, value, layouts, SpanLayouts::span_attributes)
        } else if key_is(b, &key, "events") && b[value] == b'[' {
            let end = elements(b, value, |object| {
                layouts.open_event(object);
                let end = members(b, object, |key, value| {
                    if key_is(b, &key, "attributes") && !is_null(b, value) {
                        return record_attributes(b, value, layouts, SpanLayouts::event_attributes);
                    }
                    value_end(b, value)
                })?;
                layouts.close_event(end);
                Ok(end)
            })?;
            layouts.span_events(value..end);
            Ok(end)
        } else {
            value_end(b, value)
        }
    })?;
    layouts.close_span(end);
    Ok(end)
}

/// Records the attributes array starting at `start` (nothing when it is not an array) and its
/// `KeyValue`s, the array with `record`; returns where the value ends.
fn record_attributes(
    b: &[u8],
    start: usize,
    layouts: &mut SpanLayouts,
    record: fn(&mut SpanLayouts, Range<usize>, usize),
) -> Result<usize, JsonError> {
    if b[start] != b'[' {
        return value_end(b, start);
    }
    let first = layouts.key_value_count();
    let end = elements(b, start, |object| {
        let mut key = None;
        let end = members(b, object, |name, value| {
            let end = value_end(b, value)?;
            if key_is(b, &name, "key") && b[value] == b'"' {
                key = Some(value..end);
            }
            Ok(end)
        })?;
        let key = key.ok_or_else(|| unexpected(object, "a KeyValue with a string `key`"))?;
        layouts.push_key_value(object..end, key);
        Ok(end)
    })?;
    record(layouts, start..end, first);
    Ok(end)
}

// A shallow reader for the layout pass. serde_json can tell where a value is only through
// `RawValue`, and so only by reading it once more per level of nesting (the span, its
// attributes array, each attribute): on message-heavy spans that cost more than reading them.
// The text was already read without error by [`JsonBatches`], so this only has to find where
// values start and end; on anything unexpected (the fuzzers feed it any text) it stops with an
// error, never a panic.

fn unexpected(offset: usize, what: &str) -> JsonError {
    JsonError {
        offset,
        message: format!("expected {what} (layout pass)"),
    }
}

fn skip_ws(b: &[u8], mut pos: usize) -> usize {
    while b
        .get(pos)
        .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
    {
        pos += 1;
    }
    pos
}

/// Where the string starting at `pos` (its opening quote) ends, after the closing quote.
fn string_end(b: &[u8], pos: usize) -> Result<usize, JsonError> {
    let mut i = pos + 1;
    loop {
        let rest = b.get(i..).unwrap_or_default();
        let Some(found) = quote_or_backslash(rest) else {
            return Err(unexpected(pos, "a closed string"));
        };
        i += found;
        if b[i] == b'\\' {
            i += 2;
        } else {
            return Ok(i + 1);
        }
    }
}

/// How far into a string [`quote_or_backslash`] looks a word at a time before it hands over to
/// `memchr`, whose setup costs more than it saves on the short keys and values most strings are
/// (and on values holding JSON text, with an escaped quote every few bytes).
const SHORT_STRING: usize = 64;

/// The index of the first `"` or `\\` in `bytes`: a word of eight bytes at a time for the first
/// [`SHORT_STRING`] bytes, then with `memchr` (long strings: message content).
fn quote_or_backslash(bytes: &[u8]) -> Option<usize> {
    const QUOTES: u64 = LOW_BITS * b'"' as u64;
    const BACKSLASHES: u64 = LOW_BITS * b'\\' as u64;
    let mut i = 0;
    while i < bytes.len() {
        if i >= SHORT_STRING {
            return memchr::memchr2(b'"', b'\\', &bytes[i..]).map(|found| i + found);
        }
        let word = word_at(bytes, i);
        let flagged = zero_bytes(word ^ QUOTES) | zero_bytes(word ^ BACKSLASHES);
        if flagged != 0 {
            return Some(i + (flagged.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    None
}

const LOW_BITS: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// The eight bytes of `bytes` from `i` as a little-endian word (the first byte lowest), padded
/// with spaces past the end (a space is not what any search here, or `migrate`'s escaping,
/// looks for).
pub(crate) fn word_at(bytes: &[u8], i: usize) -> u64 {
    if let Some(Ok(word)) = bytes.get(i..i + 8).map(<[u8; 8]>::try_from) {
        return u64::from_le_bytes(word);
    }
    let mut word = [b' '; 8];
    let chunk = bytes.get(i..).unwrap_or_default();
    let len = chunk.len().min(8);
    word[..len].copy_from_slice(&chunk[..len]);
    u64::from_le_bytes(word)
}

/// The high bit set of the first zero byte of `x` (the classic test: a borrow can flag bytes
/// above the first zero byte wrongly, never the first one, and only that one is used).
fn zero_bytes(x: u64) -> u64 {
    x.wrapping_sub(LOW_BITS) & !x & HIGH_BITS
}

/// Where the value starting at `pos` ends.
fn value_end(b: &[u8], pos: usize) -> Result<usize, JsonError> {
    match b.get(pos) {
        Some(b'"') => string_end(b, pos),
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            let mut i = pos;
            while let Some(&c) = b.get(i) {
                match c {
                    b'"' => {
                        i = string_end(b, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Ok(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            Err(unexpected(pos, "a closed object or array"))
        }
        Some(_) => {
            let len = b[pos..]
                .iter()
                .position(|c| matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
                .unwrap_or(b.len() - pos);
            match len {
                0 => Err(unexpected(pos, "a value")),
                _ => Ok(pos + len),
            }
        }
        None => Err(unexpected(pos, "a value")),
    }
}

/// Calls `member` with the key token and where the value starts of each member of the object
/// starting at `pos`; `member` reads the value and returns where it ends. Returns where the
/// object ends.
fn members(
    b: &[u8],
    pos: usize,
    mut member: impl FnMut(std::ops::Range<usize>, usize) -> Result<usize, JsonError>,
) -> Result<usize, JsonError> {
    if b.get(pos) != Some(&b'{') {
        return Err(unexpected(pos, "an object"));
    }
    let mut i = skip_ws(b, pos + 1);
    if b.get(i) == Some(&b'}') {
        return Ok(i + 1);
    }
    loop {
        if b.get(i) != Some(&b'"') {
            return Err(unexpected(i, "a key"));
        }
        let key_end = string_end(b, i)?;
        let key = i..key_end;
        i = skip_ws(b, key_end);
        if b.get(i) != Some(&b':') {
            return Err(unexpected(i, "`:`"));
        }
        i = skip_ws(b, i + 1);
        if i >= b.len() {
            return Err(unexpected(i, "a value"));
        }
        i = skip_ws(b, member(key, i)?);
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            Some(b'}') => return Ok(i + 1),
            _ => return Err(unexpected(i, "`,` or `}`")),
        }
    }
}

/// Calls `element` with where each element of the array starting at `pos` starts; `element`
/// reads it and returns where it ends. Returns where the array ends.
fn elements(
    b: &[u8],
    pos: usize,
    mut element: impl FnMut(usize) -> Result<usize, JsonError>,
) -> Result<usize, JsonError> {
    if b.get(pos) != Some(&b'[') {
        return Err(unexpected(pos, "an array"));
    }
    let mut i = skip_ws(b, pos + 1);
    if b.get(i) == Some(&b']') {
        return Ok(i + 1);
    }
    loop {
        if i >= b.len() {
            return Err(unexpected(i, "a value"));
        }
        i = skip_ws(b, element(i)?);
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            Some(b']') => return Ok(i + 1),
            _ => return Err(unexpected(i, "`,` or `]`")),
        }
    }
}

/// Whether the key token at `key` is `name` (escapes decoded, as serde does). Inlined, so that
/// the comparison with each constant name is a few instructions.
#[inline(always)]
fn key_is(b: &[u8], key: &std::ops::Range<usize>, name: &str) -> bool {
    let token = &b[key.clone()];
    let inner = &token[1..token.len() - 1];
    if inner.len() == name.len() {
        return inner == name.as_bytes();
    }
    // An escape sequence is longer than what it stands for, so only a longer token can be an
    // escaped spelling of `name` (nearly every mismatch stops here).
    inner.len() > name.len() && inner.contains(&b'\\') && escaped_key_is(token, name)
}

/// Whether a key token with escapes is `name` once decoded.
fn escaped_key_is(token: &[u8], name: &str) -> bool {
    serde_json::from_slice::<String>(token).is_ok_and(|k| k == name)
}

/// Whether the value starting at `start` is `null`.
fn is_null(b: &[u8], start: usize) -> bool {
    b.get(start..start + 4) == Some(b"null")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every span's layout.
    fn all(layouts: &SpanLayouts) -> Vec<SpanLayout<'_>> {
        (0..layouts.len())
            .map(|i| layouts.span(i).unwrap())
            .collect()
    }

    #[test]
    fn span_layouts_give_the_extent_of_spans_names_attributes_and_key_values() {
        let text = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"name\":\"a\", \"attributes\": [ {\"value\":{\"intValue\":\"1\"},\"key\":\"k\"} ,{\"key\":\"j\"}]},{}]}]}]}\n{\"resourceSpans\":[]}\n";
        let layouts = span_layouts(text).unwrap();
        let layouts = all(&layouts);
        assert_eq!(layouts.len(), 2);
        let l = &layouts[0];
        assert_eq!(&text[l.name.clone().unwrap()], "\"a\"");
        assert_eq!(
            &text[l.key_values[0].object.clone()],
            "{\"value\":{\"intValue\":\"1\"},\"key\":\"k\"}"
        );
        assert_eq!(&text[l.key_values[0].key.clone()], "\"k\"");
        assert_eq!(&text[l.key_values[1].key.clone()], "\"j\"");
        assert!(text[l.attributes.clone().unwrap()].starts_with("[ {"));
        assert_eq!(&text[layouts[1].span.clone()], "{}");
        assert_eq!(layouts[1].attributes, None);
    }

    #[test]
    fn span_layouts_give_the_extent_of_events() {
        let text = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"events": [ {"name":"a"}, {"name":"b","attributes":[{"key":"k"}]} ]},{"events":null}]}]}]}"#;
        let layouts = span_layouts(text).unwrap();
        let layouts = all(&layouts);
        let l = &layouts[0];
        assert_eq!(
            &text[l.events_array.clone().unwrap()],
            r#"[ {"name":"a"}, {"name":"b","attributes":[{"key":"k"}]} ]"#
        );
        let events: Vec<_> = l.events.iter().collect();
        assert_eq!(events.len(), 2);
        assert_eq!(&text[events[0].object.clone()], r#"{"name":"a"}"#);
        assert_eq!(events[0].attributes, None);
        assert_eq!(&text[events[1].key_values[0].key.clone()], r#""k""#);
        assert_eq!(
            &text[events[1].attributes.clone().unwrap()],
            r#"[{"key":"k"}]"#
        );
        assert_eq!(layouts[1].events_array, None);
        assert!(layouts[1].events.is_empty());
    }

    #[test]
    fn span_layouts_skip_brackets_and_quotes_inside_strings_and_decode_escaped_keys() {
        let text = concat!(
            "{\"resource_spans\" : [ {\"scope_spans\":[{\"scope\":{\"name\":\"s]}\"},\"spans\":[\n",
            "  {\"n\\u0061me\":\"a\\\"]}\",\"events\":null,\"attributes\":[\n",
            "    {\"key\":\"k\\\\\",\"value\":{\"stringValue\":\"[{\\\"x\\\":\\\"}]\\\"}\"}},\n",
            "    {\"value\":{\"kvlistValue\":{\"values\":[{\"key\":\"key\"}]}},\"key\":\"j\"}\n",
            "  ]},\n",
            "  {\"attributes\":null,\"name\":null,\"kind\":-1.5e3}\n",
            "]}]}]}\n",
            "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"name\":\"c\"}]}]}]}"
        );
        let layouts = span_layouts(text).unwrap();
        let layouts = all(&layouts);
        assert_eq!(layouts.len(), 3);
        let l = &layouts[0];
        assert_eq!(&text[l.name.clone().unwrap()], "\"a\\\"]}\"");
        assert_eq!(&text[l.key_values[0].key.clone()], "\"k\\\\\"");
        assert!(text[l.key_values[0].object.clone()].ends_with("}]\\\"}\"}}"));
        assert_eq!(&text[l.key_values[1].key.clone()], "\"j\"");
        assert_eq!(l.events_array, None);
        assert!(text[l.span.clone()].starts_with("{\"n\\u0061me\""));
        assert!(text[l.span.clone()].ends_with("]}"));
        assert_eq!(
            (layouts[1].name.clone(), layouts[1].attributes.clone()),
            (None, None)
        );
        assert_eq!(&text[layouts[2].name.clone().unwrap()], "\"c\"");
    }

    #[test]
    fn a_document_the_layout_pass_fails_on_leaves_its_error_for_the_spans_from_there() {
        let good = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"a"}]}]}]}"#;
        let bad = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"b"},{"attributes":[{"value":1}]}]}]}]}"#;
        let text = format!("{good}\n{bad}\n{good}");
        let mut layouts = SpanLayouts::default();
        record_document_or_fail(&text, 0, &mut layouts);
        record_document_or_fail(&text, good.len() + 1, &mut layouts);
        assert!(!layouts.recording());
        // The failed document's first span is not kept either: its spans are all or nothing.
        assert_eq!(layouts.len(), 1);
        assert_eq!(&text[layouts.span(0).unwrap().name.unwrap()], "\"a\"");
        assert_eq!(
            layouts.span(1).unwrap_err(),
            "expected a KeyValue with a string `key` (layout pass)"
        );
        assert_eq!(
            SpanLayouts::default().span(3).unwrap_err(),
            "span 3 not found in the JSON layout"
        );
    }

    #[test]
    fn string_ends_are_found_in_short_and_long_strings_with_escapes_anywhere() {
        for len in [0, 1, 7, 8, 9, 63, 64, 65, 72, 200] {
            for at in (0..len).step_by(3) {
                for escape in ["\\\"", "\\\\", "\\n", "\\u0022", "é"] {
                    let inner: String = (0..len)
                        .map(|i| if i == at { escape } else { "a" })
                        .collect();
                    let text = format!("\"{inner}\",1");
                    assert_eq!(
                        string_end(text.as_bytes(), 0).unwrap(),
                        text.len() - 2,
                        "{text:?}"
                    );
                    // Unclosed: an error, not a panic or a wrong end.
                    assert!(string_end(&text.as_bytes()[..inner.len() + 1], 0).is_err());
                }
            }
        }
        // Escapes back to back, across word boundaries.
        for n in 0..20 {
            for unit in ["\\\"", "\\\\", "a\\\"", "ab\\\\\\\""] {
                let text = format!("\"{}\"]", unit.repeat(n));
                assert_eq!(
                    string_end(text.as_bytes(), 0).unwrap(),
                    text.len() - 1,
                    "{text:?}"
                );
            }
        }
        let escaped = b"\"n\\u0061me\"";
        assert!(key_is(escaped, &(0..escaped.len()), "name"));
        assert!(!key_is(escaped, &(0..escaped.len()), "nam"));
        assert!(!key_is(b"\"nam\"", &(0..5), "name"));
    }

    #[test]
    fn span_layouts_of_malformed_text_are_errors_not_panics() {
        let doc = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"a","attributes":[{"key":"k","value":{}}]}]}]}]}"#;
        for end in 0..doc.len() {
            let _ = span_layouts(&doc[..end]);
            let _ = span_layouts(&doc[end..]);
        }
        assert!(span_layouts(&doc[..doc.len() - 1]).is_err());
        assert!(
            span_layouts(
                r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"value":1}]}]}]}]}"#
            )
            .is_err()
        );
    }
}
