//! Layout for rewriting (`migrate`): where each span's editable parts are in a JSON text
//! the reader already accepted. A small reader that reads each byte once and builds nothing,
//! since serde_json can give a position only through `RawValue`.

use super::JsonError;

/// Byte ranges of one span's editable parts, in the same order as the spans of the model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpanLayout {
    /// The whole span object `{…}`.
    pub span: std::ops::Range<usize>,
    /// The name token (a JSON string), when present.
    pub name: Option<std::ops::Range<usize>>,
    /// The `attributes` array `[…]`, when present.
    pub attributes: Option<std::ops::Range<usize>>,
    /// Each attribute's `{"key":…,"value":…}` object and its key token, in order.
    pub key_values: Vec<KeyValueLayout>,
    /// The `events` array `[…]`, when present.
    pub events_array: Option<std::ops::Range<usize>>,
    /// The span's events, in order.
    pub events: Vec<EventLayout>,
}

/// Byte ranges of one span event: the whole `{…}` and its attributes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventLayout {
    pub object: std::ops::Range<usize>,
    pub attributes: Option<std::ops::Range<usize>>,
    pub key_values: Vec<KeyValueLayout>,
}

/// One `KeyValue` object of a span's attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyValueLayout {
    pub object: std::ops::Range<usize>,
    pub key: std::ops::Range<usize>,
}

/// The layout of every span of a text the [`JsonBatches`] reader read without an error, in
/// reading order. A second, shallow pass over the same text (see [`members`]): the reader itself
/// is unchanged.
pub fn span_layouts(text: &str) -> Result<Vec<SpanLayout>, JsonError> {
    let mut out = Vec::new();
    for_each_span(text, |_, start| {
        let (layout, end) = span_layout(text.as_bytes(), start)?;
        out.push(layout);
        Ok(Some(end))
    })?;
    Ok(out)
}

/// The layouts of the spans at `indexes` (ascending positions among all spans of the text, in
/// reading order), in that order; the other spans are only skipped over, so `migrate` pays for
/// the layout of the spans it rewrites only. Stops reading after the last wanted span. An
/// index past the last span is not in the result.
pub fn span_layouts_at(text: &str, indexes: &[usize]) -> Result<Vec<SpanLayout>, JsonError> {
    let mut out = Vec::with_capacity(indexes.len());
    let mut wanted = indexes.iter().copied().peekable();
    for_each_span(text, |index, start| {
        while wanted.next_if(|&i| i < index).is_some() {}
        if wanted.peek().is_none() {
            return Ok(None);
        }
        if wanted.next_if_eq(&index).is_some() {
            let (layout, end) = span_layout(text.as_bytes(), start)?;
            out.push(layout);
            return Ok(Some(end));
        }
        value_end(text.as_bytes(), start).map(Some)
    })?;
    Ok(out)
}

/// Calls `visit` with each span's position and where its object starts, in reading order;
/// `visit` returns where the span ends, or `None` when no more spans are wanted.
fn for_each_span(
    text: &str,
    mut visit: impl FnMut(usize, usize) -> Result<Option<usize>, JsonError>,
) -> Result<(), JsonError> {
    let b = text.as_bytes();
    let mut index = 0;
    let mut go_on = true;
    // Once no span is wanted, the rest is skipped over.
    let mut span = |start: usize| -> Result<usize, JsonError> {
        if go_on && let Some(end) = visit(index, start)? {
            index += 1;
            return Ok(end);
        }
        go_on = false;
        value_end(b, start)
    };
    let mut pos = skip_ws(b, 0);
    while pos < b.len() {
        let end = members(b, pos, |key, value| {
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
                            elements(b, value, &mut span)
                        })
                    })
                })
            })
        })?;
        pos = skip_ws(b, end);
    }
    Ok(())
}

/// The layout of the span object starting at `start`, and where it ends.
fn span_layout(b: &[u8], start: usize) -> Result<(SpanLayout, usize), JsonError> {
    let mut layout = SpanLayout::default();
    let end = members(b, start, |key, value| {
        if is_null(b, value) {
            return value_end(b, value);
        }
        if key_is(b, &key, "name") {
            let end = value_end(b, value)?;
            layout.name = Some(value..end);
            Ok(end)
        } else if key_is(b, &key, "attributes") {
            let (attributes, end) = attributes_layout(b, value, &mut layout.key_values)?;
            layout.attributes = attributes;
            Ok(end)
        } else if key_is(b, &key, "events") && b[value] == b'[' {
            let end = elements(b, value, |object| {
                let mut event = EventLayout::default();
                let end = members(b, object, |key, value| {
                    if key_is(b, &key, "attributes") && !is_null(b, value) {
                        let (attributes, end) = attributes_layout(b, value, &mut event.key_values)?;
                        event.attributes = attributes;
                        return Ok(end);
                    }
                    value_end(b, value)
                })?;
                event.object = object..end;
                layout.events.push(event);
                Ok(end)
            })?;
            layout.events_array = Some(value..end);
            Ok(end)
        } else {
            value_end(b, value)
        }
    })?;
    layout.span = start..end;
    Ok((layout, end))
}

/// The extent of the attributes array starting at `start` (`None` when it is not an array),
/// its `KeyValue`s pushed to `key_values`, and where the value ends.
fn attributes_layout(
    b: &[u8],
    start: usize,
    key_values: &mut Vec<KeyValueLayout>,
) -> Result<(Option<std::ops::Range<usize>>, usize), JsonError> {
    if b[start] != b'[' {
        return Ok((None, value_end(b, start)?));
    }
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
        key_values.push(KeyValueLayout {
            object: object..end,
            key,
        });
        Ok(end)
    })?;
    Ok((Some(start..end), end))
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

    #[test]
    fn span_layouts_give_the_extent_of_spans_names_attributes_and_key_values() {
        let text = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"name\":\"a\", \"attributes\": [ {\"value\":{\"intValue\":\"1\"},\"key\":\"k\"} ,{\"key\":\"j\"}]},{}]}]}]}\n{\"resourceSpans\":[]}\n";
        let layouts = span_layouts(text).unwrap();
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
        let l = &layouts[0];
        assert_eq!(
            &text[l.events_array.clone().unwrap()],
            r#"[ {"name":"a"}, {"name":"b","attributes":[{"key":"k"}]} ]"#
        );
        assert_eq!(&text[l.events[0].object.clone()], r#"{"name":"a"}"#);
        assert_eq!(l.events[0].attributes, None);
        assert_eq!(&text[l.events[1].key_values[0].key.clone()], r#""k""#);
        assert_eq!(layouts[1].events_array, None);
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
        // Only the wanted spans, in order; an index past the last span is left out.
        let some = span_layouts_at(text, &[0, 2, 7]).unwrap();
        assert_eq!(some, vec![layouts[0].clone(), layouts[2].clone()]);
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
