//! OTLP/JSON → model.
//!
//! Reads the OTLP JSON encoding (lowerCamelCase keys, with the proto field names accepted too;
//! hex ids; int64 as string or number; enums as numbers or names; unknown fields ignored) from
//! one text that holds any number of `ExportTraceServiceRequest` / `TracesData` documents: one
//! per line as the Collector file exporter writes them, one pretty-printed document, or several
//! concatenated.
//!
//! A document of the usual shape is read by [`scan`], a byte scanner that fills the same
//! structs serde would and gives up on anything unusual or malformed; serde then reads that
//! document, so every value, error and position is serde's.
//!
//! On the serde path positions come from borrowed strings: attribute keys and span names are
//! deserialized as slices of the input, and a slice's address minus the input's address is its
//! byte offset (a document with an escaped key or name is read again with them as
//! `serde_json::value::RawValue`s, see [`Token`]).

use std::borrow::Cow;
use std::cell::Cell;

use base64::Engine as _;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use serde_json::value::RawValue;

use crate::model::{
    Attribute, Batch, Event, ResourceSpans, Scope, ScopeSpans, Span, SpanKind, Status, StatusCode,
    Value,
};

mod layout;
mod scan;

pub(crate) use layout::word_at;
pub use layout::{
    EventLayout, EventLayouts, KeyValueLayout, SpanLayout, SpanLayouts, span_layouts,
};

/// A JSON syntax or shape error at a byte offset of the text.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonError {
    pub offset: usize,
    pub message: String,
}

/// Iterates over the documents of an OTLP/JSON text.
///
/// After a malformed document the reader skips to the next line, so one corrupt line of a
/// JSON-lines dump (a process that crashed mid-write) does not hide the lines after it.
pub struct JsonBatches<'a> {
    text: &'a str,
    /// Where the current stream deserializer started.
    start: usize,
    stream: serde_json::StreamDeserializer<'a, serde_json::de::StrRead<'a>, TracesData<'a>>,
    done: bool,
    /// The largest document, in bytes (`--max-message-size`).
    max_message_size: usize,
    /// Whether documents of the usual shape are read by [`scan`] (off only in tests, to
    /// compare it with serde).
    scanner: bool,
    /// Where each span's editable parts are, when `migrate` asks for them.
    layouts: Option<SpanLayouts>,
}

impl<'a> JsonBatches<'a> {
    pub fn new(text: &'a str) -> Self {
        JsonBatches {
            text,
            start: 0,
            stream: serde_json::Deserializer::from_str(text).into_iter(),
            done: false,
            max_message_size: usize::MAX,
            scanner: true,
            layouts: None,
        }
    }

    /// Records where each span's editable parts are as the documents are read (for
    /// `migrate`; see [`SpanLayouts`]): the scanner notes them as it reads, and a document it
    /// leaves to serde gets them from the layout pass. Reading without it (`check`) pays
    /// nothing for them.
    pub fn recording_layouts(mut self) -> Self {
        self.layouts = Some(SpanLayouts::for_text(self.text.len()));
        self
    }

    /// The layouts recorded so far (empty unless [`JsonBatches::recording_layouts`]).
    pub fn into_layouts(self) -> SpanLayouts {
        self.layouts.unwrap_or_default()
    }

    /// Reads every document with serde, as [`scan`] must read the ones it reads.
    #[cfg(test)]
    fn serde_only(mut self) -> Self {
        self.scanner = false;
        self
    }

    /// Rejects documents larger than `max` bytes: a line longer than that is skipped without
    /// being parsed; a (pretty-printed) document is measured once parsed.
    pub fn with_max_message_size(mut self, max: usize) -> Self {
        self.max_message_size = max;
        self
    }

    /// The next document's start, after whitespace.
    fn next_start(&self) -> usize {
        let at = self.start + self.stream.byte_offset();
        let rest = &self.text[at..];
        at + (rest.len() - rest.trim_start().len())
    }

    /// A line longer than the limit is an error at its start; reading goes on after it.
    fn reject_long_line(&mut self) -> Option<JsonError> {
        let start = self.next_start();
        let rest = self.text.as_bytes().get(start..)?;
        let line = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
        if line <= self.max_message_size {
            return None;
        }
        if start + line < self.text.len() {
            self.restart_at(start + line + 1);
        } else {
            self.done = true;
        }
        Some(too_large(start, "line", line, self.max_message_size))
    }

    /// serde would build a struct from a JSON array too (`[[...]]` as positional fields),
    /// giving a baffling "expected a sequence"; a document must be an object, so say that.
    fn reject_non_object(&mut self) -> Option<JsonError> {
        let at = self.start + self.stream.byte_offset();
        let rest = &self.text[at..];
        let skipped = rest.len() - rest.trim_start().len();
        let found = rest.trim_start().chars().next()?;
        if found == '{' {
            return None;
        }
        let offset = at + skipped;
        match self.text[offset..].find('\n') {
            Some(nl) => self.restart_at(offset + nl + 1),
            None => self.done = true,
        }
        Some(JsonError {
            offset,
            message: format!(
                "expected an OTLP object {{\"resourceSpans\": [...]}}, found `{}`",
                found.escape_debug()
            ),
        })
    }

    /// Reads the document the stream just failed on once more, with [`Token`]s read as
    /// `RawValue`s.
    fn read_with_raw_tokens(&mut self) -> Option<Result<TracesData<'a>, serde_json::Error>> {
        // After an error the stream's offset is still where the document starts.
        self.restart_at(self.start + self.stream.byte_offset());
        RAW_TOKENS.set(true);
        let read = self.stream.next();
        RAW_TOKENS.set(false);
        read
    }

    /// The next document read by the fast reader ([`scan`]), if it has the usual shape; the
    /// stream then goes on after it. `start` is where the document starts, for its size.
    fn read_usual_document(&mut self, start: usize) -> Option<Result<Batch<'a>, JsonError>> {
        let layouts = self.layouts.as_mut().filter(|l| l.recording());
        let (document, end) =
            scan::read_document(self.text, self.start + self.stream.byte_offset(), layouts)?;
        self.restart_at(end);
        if let Some(err) = self.too_large_document(start, end) {
            return Some(Err(err));
        }
        Some(Ok(document.into_model()))
    }

    /// The error for a document from `start` to `end` past `--max-message-size`.
    fn too_large_document(&self, start: usize, end: usize) -> Option<JsonError> {
        let size = end - start;
        (size > self.max_message_size)
            .then(|| too_large(start, "document", size, self.max_message_size))
    }

    fn restart_at(&mut self, start: usize) {
        self.start = start;
        self.stream = serde_json::Deserializer::from_str(&self.text[start..]).into_iter();
    }
}

impl<'a> Iterator for JsonBatches<'a> {
    type Item = Result<Batch<'a>, JsonError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if let Some(err) = self.reject_non_object() {
            return Some(Err(err));
        }
        if let Some(err) = self.reject_long_line() {
            return Some(Err(err));
        }
        let start = self.next_start();
        if self.scanner
            && let Some(read) = self.read_usual_document(start)
        {
            return Some(read);
        }
        TEXT_START.set(self.text.as_ptr() as usize);
        let read = match self.stream.next()? {
            Ok(doc) => Ok(doc),
            // The fast pass gives up on escaped tokens; every other error is found again by
            // reading the document as before, so errors read exactly as they always did.
            Err(_) => self.read_with_raw_tokens()?,
        };
        match read {
            Ok(doc) => {
                let end = self.start + self.stream.byte_offset();
                if let Some(err) = self.too_large_document(start, end) {
                    return Some(Err(err));
                }
                if let Some(layouts) = self.layouts.as_mut().filter(|l| l.recording()) {
                    layout::record_document_or_fail(self.text, start, layouts);
                }
                Some(Ok(doc.into_model()))
            }
            Err(err) => {
                let rest = &self.text[self.start..];
                let offset = self.start + offset_of_line_column(rest, err.line(), err.column());
                match self.text[offset..].find('\n') {
                    // Only resynchronise on line boundaries of a JSON-lines file, where the
                    // next line is a fresh document.
                    Some(nl) if err.classify() != serde_json::error::Category::Eof => {
                        self.restart_at(offset + nl + 1)
                    }
                    _ => self.done = true,
                }
                Some(Err(JsonError {
                    offset,
                    message: describe(&err),
                }))
            }
        }
    }
}

fn too_large(offset: usize, what: &str, size: usize, limit: usize) -> JsonError {
    JsonError {
        offset,
        message: format!(
            "a JSON {what} of {size} bytes exceeds the limit of {limit} bytes \
             (--max-message-size)"
        ),
    }
}

/// serde_json's message without its own " at line X column Y" suffix (we print positions
/// ourselves, relative to the whole file).
///
/// serde quotes the offending value (`invalid type: string "…", expected …`); that value may be
/// a prompt, so it is masked.
fn describe(err: &serde_json::Error) -> String {
    let text = err.to_string();
    let text = match text.rfind(" at line ") {
        Some(cut) => &text[..cut],
        None => &text,
    };
    match (text.find("string \""), text.rfind("\", expected")) {
        (Some(open), Some(close)) if open + 8 <= close => {
            format!("{}string \"…{}", &text[..open], &text[close..])
        }
        _ => text.to_string(),
    }
}

/// Converts serde_json's 1-based line and column (column counted in bytes, 0 at EOF) back to a
/// byte offset of `text`.
fn offset_of_line_column(text: &str, line: usize, column: usize) -> usize {
    let line_start = if line <= 1 {
        0
    } else {
        text.match_indices('\n')
            .nth(line - 2)
            .map_or(text.len(), |(i, _)| i + 1)
    };
    // serde_json counts columns in bytes, and an error can be inside a multi-byte character:
    // step back to its start so the offset can slice the text (found by fuzzing).
    text.floor_char_boundary((line_start + column.saturating_sub(1)).min(text.len()))
}

thread_local! {
    /// The address of the text [`JsonBatches`] reads on this thread. The model is built while
    /// serde reads (each span, event and attribute as soon as it is read, so no larger
    /// intermediate copy of the document is grown and converted afterwards), and serde gives a
    /// `Deserialize` impl no context: [`JsonBatches::next`] sets it before each document.
    static TEXT_START: Cell<usize> = const { Cell::new(0) };

    /// Whether [`Token`]s are read as `RawValue`s (the second pass over a document the fast
    /// pass failed on; see [`Token`]).
    static RAW_TOKENS: Cell<bool> = const { Cell::new(false) };
}

/// The byte offset of `slice` in the text being read. `slice` must borrow from that text.
fn offset_of(slice: &str) -> usize {
    (slice.as_ptr() as usize).saturating_sub(TEXT_START.get())
}

// ---------------------------------------------------------------------------------------------
// The OTLP/JSON shape. Field names are lowerCamelCase per the OTLP JSON encoding; the proto
// field names are accepted as aliases.

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TracesData<'a> {
    #[serde(borrow, default, alias = "resource_spans")]
    resource_spans: Vec<JsonResourceSpans<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonResourceSpans<'a> {
    #[serde(borrow, default)]
    resource: JsonResource<'a>,
    #[serde(borrow, default, alias = "scope_spans")]
    scope_spans: Vec<JsonScopeSpans<'a>>,
    #[serde(borrow, default, alias = "schema_url")]
    schema_url: Cow<'a, str>,
}

#[derive(Deserialize, Default)]
struct JsonResource<'a> {
    #[serde(borrow, default)]
    attributes: Vec<JsonAttribute<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonScopeSpans<'a> {
    #[serde(borrow, default)]
    scope: JsonScope<'a>,
    #[serde(borrow, default)]
    spans: Vec<JsonSpanModel<'a>>,
    #[serde(borrow, default, alias = "schema_url")]
    schema_url: Cow<'a, str>,
}

#[derive(Deserialize, Default)]
struct JsonScope<'a> {
    #[serde(borrow, default)]
    name: Cow<'a, str>,
    #[serde(borrow, default)]
    version: Cow<'a, str>,
    #[serde(borrow, default)]
    attributes: Vec<JsonAttribute<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonSpan<'a> {
    #[serde(borrow, default, alias = "trace_id")]
    trace_id: Cow<'a, str>,
    #[serde(borrow, default, alias = "span_id")]
    span_id: Cow<'a, str>,
    #[serde(borrow, default, alias = "parent_span_id")]
    parent_span_id: Cow<'a, str>,
    #[serde(borrow, default)]
    name: Option<Token<'a>>,
    #[serde(default, deserialize_with = "enum_number")]
    kind: i32,
    #[serde(default, alias = "start_time_unix_nano", deserialize_with = "uint64")]
    start_time_unix_nano: u64,
    #[serde(default, alias = "end_time_unix_nano", deserialize_with = "uint64")]
    end_time_unix_nano: u64,
    #[serde(borrow, default)]
    attributes: Vec<JsonAttribute<'a>>,
    #[serde(borrow, default)]
    events: Vec<JsonEventModel<'a>>,
    #[serde(borrow, default)]
    status: JsonStatus<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonEvent<'a> {
    #[serde(borrow, default)]
    name: Option<Token<'a>>,
    #[serde(default, alias = "time_unix_nano", deserialize_with = "uint64")]
    time_unix_nano: u64,
    #[serde(borrow, default)]
    attributes: Vec<JsonAttribute<'a>>,
}

#[derive(Deserialize, Default)]
struct JsonStatus<'a> {
    #[serde(borrow, default)]
    message: Cow<'a, str>,
    #[serde(default, deserialize_with = "enum_number")]
    code: i32,
}

#[derive(Deserialize)]
struct JsonKeyValue<'a> {
    /// A [`Token`], so its position in the input is known.
    #[serde(borrow)]
    key: Token<'a>,
    #[serde(borrow, default)]
    value: JsonValue<'a>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct JsonAnyValue<'a> {
    #[serde(
        borrow,
        default,
        alias = "string_value",
        deserialize_with = "opt_borrowed_str"
    )]
    string_value: Option<Cow<'a, str>>,
    #[serde(default, alias = "bool_value")]
    bool_value: Option<bool>,
    #[serde(default, alias = "int_value", deserialize_with = "opt_int64")]
    int_value: Option<i64>,
    #[serde(default, alias = "double_value", deserialize_with = "opt_double")]
    double_value: Option<f64>,
    #[serde(borrow, default, alias = "array_value")]
    array_value: Option<JsonArrayValue<'a>>,
    #[serde(borrow, default, alias = "kvlist_value")]
    kvlist_value: Option<JsonKvList<'a>>,
    #[serde(
        borrow,
        default,
        alias = "bytes_value",
        deserialize_with = "opt_borrowed_str"
    )]
    bytes_value: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct JsonArrayValue<'a> {
    #[serde(borrow, default)]
    values: Vec<JsonValue<'a>>,
}

#[derive(Deserialize, Default)]
struct JsonKvList<'a> {
    #[serde(borrow, default)]
    values: Vec<JsonAttribute<'a>>,
}

// ---------------------------------------------------------------------------------------------
// Conversion to the model: each span, event, attribute and value becomes its model type as soon
// as it is read (through the `Json*Model`-style wrappers below, which read the OTLP shape above
// and convert it), so the vectors serde grows hold the compact model types.

/// A model [`Value`] read from an OTLP `AnyValue`.
#[repr(transparent)]
#[derive(Default)]
struct JsonValue<'a>(Value<'a>);

impl<'de: 'a, 'a> Deserialize<'de> for JsonValue<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if RAW_TOKENS.get() {
            return JsonAnyValue::deserialize(d).map(|v| JsonValue(v.into_model()));
        }
        d.deserialize_map(FastValueVisitor).map(JsonValue)
    }
}

/// A model [`Attribute`] read from an OTLP `KeyValue`.
#[repr(transparent)]
struct JsonAttribute<'a>(Attribute<'a>);

impl<'de: 'a, 'a> Deserialize<'de> for JsonAttribute<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if RAW_TOKENS.get() {
            return JsonKeyValue::deserialize(d).map(|kv| JsonAttribute(kv.into_model()));
        }
        d.deserialize_map(FastAttributeVisitor).map(JsonAttribute)
    }
}

// ---------------------------------------------------------------------------------------------
// The fast pass over attributes and values: a `KeyValue` or `AnyValue` of the usual shape (an
// object with a key and one value, each field once, none null) is read straight into the
// model, without the derived structs above and their conversion (an `AnyValue` holds seven
// options, moved several times per attribute). Anything else fails the fast pass, and the
// document is read again the careful way ([`RAW_TOKENS`]): the derived structs, which give
// the exact value (which field wins, what `null` means) or the exact error.

/// Fails the fast pass: the careful pass decides.
fn read_carefully<E: de::Error>() -> E {
    E::custom("an unusual attribute: read carefully")
}

/// The fields of an OTLP `KeyValue`.
enum KeyValueField {
    Key,
    Value,
    Other,
}

impl<'de> Deserialize<'de> for KeyValueField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct FieldVisitor;
        impl Visitor<'_> for FieldVisitor {
            type Value = KeyValueField;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyValueField, E> {
                Ok(match v {
                    "key" => KeyValueField::Key,
                    "value" => KeyValueField::Value,
                    _ => KeyValueField::Other,
                })
            }
        }
        d.deserialize_identifier(FieldVisitor)
    }
}

struct FastAttributeVisitor;

impl<'de> Visitor<'de> for FastAttributeVisitor {
    type Value = Attribute<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("struct JsonKeyValue")
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut key: Option<Token<'de>> = None;
        let mut value = None;
        while let Some(field) = map.next_key()? {
            match field {
                KeyValueField::Key if key.is_none() => key = Some(map.next_value()?),
                KeyValueField::Value if value.is_none() => {
                    value = Some(map.next_value::<JsonValue<'de>>()?.0)
                }
                KeyValueField::Other => {
                    map.next_value::<de::IgnoredAny>()?;
                }
                _ => return Err(read_carefully()),
            }
        }
        let key = key.ok_or_else(read_carefully)?;
        Ok(Attribute {
            key: key.text,
            value: value.unwrap_or_default(),
            offset: key.offset,
        })
    }
}

/// The fields of an OTLP `AnyValue`, by either spelling.
enum AnyValueField {
    String,
    Bool,
    Int,
    Double,
    Array,
    KvList,
    Bytes,
    Other,
}

impl<'de> Deserialize<'de> for AnyValueField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct FieldVisitor;
        impl Visitor<'_> for FieldVisitor {
            type Value = AnyValueField;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<AnyValueField, E> {
                Ok(match v {
                    "stringValue" | "string_value" => AnyValueField::String,
                    "boolValue" | "bool_value" => AnyValueField::Bool,
                    "intValue" | "int_value" => AnyValueField::Int,
                    "doubleValue" | "double_value" => AnyValueField::Double,
                    "arrayValue" | "array_value" => AnyValueField::Array,
                    "kvlistValue" | "kvlist_value" => AnyValueField::KvList,
                    "bytesValue" | "bytes_value" => AnyValueField::Bytes,
                    _ => AnyValueField::Other,
                })
            }
        }
        d.deserialize_identifier(FieldVisitor)
    }
}

/// `intValue` and `doubleValue` read as the careful pass reads them.
struct Int64(i64);

impl<'de> Deserialize<'de> for Int64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Int64(opt_int64(d)?.unwrap_or_default()))
    }
}

struct Double(f64);

impl<'de> Deserialize<'de> for Double {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Double(opt_double(d)?.unwrap_or_default()))
    }
}

struct FastValueVisitor;

impl<'de> Visitor<'de> for FastValueVisitor {
    type Value = Value<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("struct JsonAnyValue")
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut value = None;
        while let Some(field) = map.next_key()? {
            // `null` fails these reads: the careful pass reads it as no value.
            let read = match field {
                AnyValueField::String => Value::String(map.next_value::<BorrowedStr<'de>>()?.0),
                AnyValueField::Bool => Value::Bool(map.next_value()?),
                AnyValueField::Int => Value::Int(map.next_value::<Int64>()?.0),
                AnyValueField::Double => Value::Double(map.next_value::<Double>()?.0),
                AnyValueField::Array => Value::Array(
                    map.next_value::<JsonArrayValue<'de>>()?
                        .values
                        .into_iter()
                        .map(|v| v.0)
                        .collect(),
                ),
                AnyValueField::KvList => {
                    Value::KvList(attributes(map.next_value::<JsonKvList<'de>>()?.values))
                }
                AnyValueField::Bytes => bytes_value(map.next_value::<BorrowedStr<'de>>()?.0),
                AnyValueField::Other => {
                    map.next_value::<de::IgnoredAny>()?;
                    continue;
                }
            };
            // Two values (or one twice): which one wins, or whether it is an error, is the
            // careful pass's to say.
            if value.replace(read).is_some() {
                return Err(read_carefully());
            }
        }
        Ok(value.unwrap_or_default())
    }
}

/// A model [`Span`] read from an OTLP `Span`.
#[repr(transparent)]
struct JsonSpanModel<'a>(Span<'a>);

impl<'de: 'a, 'a> Deserialize<'de> for JsonSpanModel<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        JsonSpan::deserialize(d).map(|s| JsonSpanModel(s.into_model()))
    }
}

/// A model [`Event`] read from an OTLP `Span.Event`, with the name's offset (the span's
/// offset stands in for a nameless event's, once the span's is known).
struct JsonEventModel<'a>((Event<'a>, Option<usize>));

impl<'de: 'a, 'a> Deserialize<'de> for JsonEventModel<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        JsonEvent::deserialize(d).map(JsonEventModel::from)
    }
}

impl<'a> From<JsonEvent<'a>> for JsonEventModel<'a> {
    fn from(e: JsonEvent<'a>) -> Self {
        let (name, offset) = token_parts(e.name);
        JsonEventModel((
            Event {
                name,
                time_unix_nano: e.time_unix_nano,
                attributes: attributes(e.attributes),
                offset: offset.unwrap_or(0),
            },
            offset,
        ))
    }
}

impl<'a> TracesData<'a> {
    fn into_model(self) -> Batch<'a> {
        Batch {
            resource_spans: self
                .resource_spans
                .into_iter()
                .map(|rs| ResourceSpans {
                    attributes: attributes(rs.resource.attributes),
                    schema_url: rs.schema_url,
                    scope_spans: rs
                        .scope_spans
                        .into_iter()
                        .map(|ss| ScopeSpans {
                            scope: Scope {
                                name: ss.scope.name,
                                version: ss.scope.version,
                                attributes: attributes(ss.scope.attributes),
                            },
                            schema_url: ss.schema_url,
                            spans: ss.spans.into_iter().map(|s| s.0).collect(),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

impl<'a> JsonSpan<'a> {
    fn into_model(self) -> Span<'a> {
        let (name, name_offset) = token_parts(self.name);
        let attributes = attributes(self.attributes);
        // The span's own position is not known to serde; its name (or first attribute) is the
        // closest token that is.
        let offset = name_offset
            .or_else(|| attributes.first().map(|a| a.offset))
            .unwrap_or(0);
        Span {
            trace_id: normalise_id(&self.trace_id),
            span_id: normalise_id(&self.span_id),
            parent_span_id: normalise_id(&self.parent_span_id),
            name,
            kind: SpanKind::from_i32(self.kind),
            start_time_unix_nano: self.start_time_unix_nano,
            end_time_unix_nano: self.end_time_unix_nano,
            attributes,
            events: self
                .events
                .into_iter()
                .map(|JsonEventModel((event, name_offset))| Event {
                    offset: name_offset.unwrap_or(offset),
                    ..event
                })
                .collect(),
            status: Status {
                code: StatusCode::from_i32(self.status.code),
                message: self.status.message,
            },
            offset,
            name_offset: name_offset.unwrap_or(offset),
        }
    }
}

/// The attributes as read (the wrapper has the model's layout: this moves nothing).
fn attributes(read: Vec<JsonAttribute<'_>>) -> Vec<Attribute<'_>> {
    read.into_iter().map(|a| a.0).collect()
}

impl<'a> JsonKeyValue<'a> {
    fn into_model(self) -> Attribute<'a> {
        Attribute {
            key: self.key.text,
            value: self.value.0,
            offset: self.key.offset,
        }
    }
}

impl<'a> JsonAnyValue<'a> {
    fn into_model(self) -> Value<'a> {
        if let Some(s) = self.string_value {
            Value::String(s)
        } else if let Some(b) = self.bool_value {
            Value::Bool(b)
        } else if let Some(i) = self.int_value {
            Value::Int(i)
        } else if let Some(d) = self.double_value {
            Value::Double(d)
        } else if let Some(a) = self.array_value {
            Value::Array(a.values.into_iter().map(|v| v.0).collect())
        } else if let Some(kv) = self.kvlist_value {
            Value::KvList(attributes(kv.values))
        } else if let Some(b) = self.bytes_value {
            bytes_value(b)
        } else {
            Value::Empty
        }
    }
}

/// OTLP/JSON encodes bytes as base64; undecodable input is kept visible rather than lost.
fn bytes_value(base64: Cow<'_, str>) -> Value<'_> {
    match base64::engine::general_purpose::STANDARD.decode(base64.as_bytes()) {
        Ok(bytes) => Value::Bytes(bytes),
        Err(_) => Value::String(base64),
    }
}

/// An optional token's text and offset (`""` and `None` when absent).
fn token_parts(token: Option<Token<'_>>) -> (Cow<'_, str>, Option<usize>) {
    match token {
        Some(token) => (token.text, Some(token.offset)),
        None => (Cow::Borrowed(""), None),
    }
}

/// A JSON string whose position matters (an attribute key, a span or event name): its text and
/// the byte offset of its opening quote.
///
/// Read fast as a string borrowed from the input, whose address gives the offset. A string
/// with escapes is decoded into a buffer, whose address says nothing, so on the fast pass it
/// fails the document, and [`JsonBatches::next`] reads that document again with tokens read as
/// `RawValue`s ([`RAW_TOKENS`]), as everything else is read: they cost one more read of the
/// token and find its position whatever it holds.
struct Token<'a> {
    text: Cow<'a, str>,
    offset: usize,
}

impl<'de: 'a, 'a> Deserialize<'de> for Token<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if RAW_TOKENS.get() {
            let raw = string_token(d)?;
            return Ok(raw_token(raw));
        }
        d.deserialize_str(BorrowedTokenVisitor)
    }
}

struct BorrowedTokenVisitor;

impl<'de> Visitor<'de> for BorrowedTokenVisitor {
    type Value = Token<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a string without escapes")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        // The text starts right after the opening quote.
        Ok(Token {
            text: Cow::Borrowed(v),
            offset: offset_of(v).saturating_sub(1),
        })
    }
}

/// A raw JSON string token → its text and offset.
fn raw_token(raw: &RawValue) -> Token<'_> {
    let text = raw.get();
    let offset = offset_of(text);
    let unquoted = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .filter(|t| memchr::memchr(b'\\', t.as_bytes()).is_none());
    let text = match unquoted {
        Some(plain) => Cow::Borrowed(plain),
        None => match serde_json::from_str::<String>(text) {
            Ok(s) => Cow::Owned(s),
            Err(_) => Cow::Borrowed(text),
        },
    };
    Token { text, offset }
}

/// Trace and span ids: the OTLP JSON encoding uses hex, but protojson-based exporters write
/// base64. Both become lowercase hex.
fn normalise_id(id: &str) -> crate::model::Id {
    if let Some(id) = crate::model::Id::from_hex_digits(id) {
        return id;
    }
    match base64::engine::general_purpose::STANDARD.decode(id) {
        Ok(bytes) => crate::model::Id::from_bytes(&bytes),
        Err(_) => crate::model::Id::from(id),
    }
}

// ---------------------------------------------------------------------------------------------
// Number encodings of the proto3 JSON mapping.

/// A JSON string kept raw (for its position): anything else is a type error, not a name.
fn string_token<'de, D: Deserializer<'de>>(d: D) -> Result<&'de RawValue, D::Error> {
    let raw = <&RawValue>::deserialize(d)?;
    if raw.get().starts_with('"') {
        Ok(raw)
    } else {
        Err(de::Error::custom("invalid type: expected a string"))
    }
}

/// An optional string, borrowed from the input when it has no escapes. serde borrows a `Cow`
/// only when it is a field's whole type: inside an `Option` it copies every string (every
/// attribute's value, prompts included).
fn opt_borrowed_str<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    Ok(Option::<BorrowedStr<'de>>::deserialize(d)?.map(|s| s.0))
}

struct BorrowedStr<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for BorrowedStr<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_string(BorrowedStrVisitor).map(BorrowedStr)
    }
}

struct BorrowedStrVisitor;

impl<'de> Visitor<'de> for BorrowedStrVisitor {
    type Value = Cow<'de, str>;

    /// As serde's own `String` visitor says, so errors read as before.
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// int64 as a JSON number or a decimal string.
fn opt_int64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    // An int64 beyond its range is clamped rather than refused: a bogus value, not a reason to
    // drop the document.
    let v = d.deserialize_any(IntVisitor)?;
    Ok(Some(i64::try_from(v).unwrap_or(if v < 0 {
        i64::MIN
    } else {
        i64::MAX
    })))
}

/// uint64 as a JSON number or a decimal string (all of its range: a timestamp past 2262 must
/// read back as written).
fn uint64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let v = d.deserialize_any(IntVisitor)?;
    u64::try_from(v).map_err(|_| de::Error::custom(format!("expected a timestamp, found {v}")))
}

/// An integer as a JSON number or a decimal string, wide enough for int64 and uint64.
struct IntVisitor;

impl Visitor<'_> for IntVisitor {
    type Value = i128;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an integer or a decimal string")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i128, E> {
        Ok(v.into())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i128, E> {
        Ok(v.into())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<i128, E> {
        if v.fract() == 0.0 && v.abs() < 1.8e19 {
            Ok(v as i128)
        } else {
            Err(E::custom("expected an integer, found a fractional number"))
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<i128, E> {
        // The string is not echoed: a producer that put text here may have put a prompt here.
        v.parse::<i128>()
            .map_err(|_| E::custom("expected an integer, found a string that is not one"))
    }
}

/// double as a JSON number, or the proto3 JSON strings "NaN", "Infinity", "-Infinity".
fn opt_double<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    struct DoubleVisitor;
    impl Visitor<'_> for DoubleVisitor {
        type Value = f64;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a number")
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
            Ok(v)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
            Ok(v as f64)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
            Ok(v as f64)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
            double_from_str(v)
                .ok_or_else(|| E::custom("expected a number, found a string that is not one"))
        }
    }
    d.deserialize_any(DoubleVisitor).map(Some)
}

/// A double written as a string.
fn double_from_str(v: &str) -> Option<f64> {
    match v {
        "NaN" => Some(f64::NAN),
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        _ => v.parse().ok(),
    }
}

/// Enums as their number or their proto name (`SPAN_KIND_CLIENT`, `STATUS_CODE_ERROR`).
fn enum_number<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    struct EnumVisitor;
    impl Visitor<'_> for EnumVisitor {
        type Value = i32;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an enum number or name")
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<i32, E> {
            i32::try_from(v).map_err(|_| E::custom(format!("enum number out of range: {v}")))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<i32, E> {
            i32::try_from(v).map_err(|_| E::custom(format!("enum number out of range: {v}")))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<i32, E> {
            enum_from_name(v).map_err(E::custom)
        }
    }
    d.deserialize_any(EnumVisitor)
}

/// An enum's number from its proto name, or the short names some exporters write.
fn enum_from_name(v: &str) -> Result<i32, String> {
    let name = v.to_ascii_uppercase();
    let name = name
        .strip_prefix("SPAN_KIND_")
        .or_else(|| name.strip_prefix("STATUS_CODE_"))
        .unwrap_or(&name);
    Ok(match name {
        "UNSPECIFIED" | "UNSET" => 0,
        "INTERNAL" | "OK" => 1,
        "SERVER" | "ERROR" => 2,
        "CLIENT" => 3,
        "PRODUCER" => 4,
        "CONSUMER" => 5,
        _ => {
            return Err(format!(
                "unknown enum name {:?}",
                crate::report::truncate(v, 40)
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Batch<'_> {
        let mut it = JsonBatches::new(text);
        let batch = it.next().expect("a document").expect("valid");
        assert!(it.next().is_none());
        batch
    }

    #[test]
    fn attribute_offsets_point_at_the_key() {
        let text = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"chat x","attributes":[{"key":"gen_ai.system","value":{"stringValue":"openai"}}]}]}]}]}"#;
        let batch = one(text);
        let span = &batch.resource_spans[0].scope_spans[0].spans[0];
        let attr = &span.attributes[0];
        assert_eq!(&text[attr.offset..attr.offset + 15], "\"gen_ai.system\"");
        assert_eq!(&text[span.name_offset..span.name_offset + 8], "\"chat x\"");
    }

    #[test]
    fn accepts_proto_field_names_strings_for_numbers_and_enum_names() {
        let text = r#"{"resource_spans":[{"scope_spans":[{"spans":[{"trace_id":"AAECAwQFBgcICQoLDA0ODw==","kind":"SPAN_KIND_CLIENT","start_time_unix_nano":5,"status":{"code":"STATUS_CODE_ERROR"},"attributes":[{"key":"n","value":{"int_value":7}},{"key":"s","value":{"intValue":"-8"}},{"key":"d","value":{"doubleValue":"NaN"}}]}]}]}]}"#;
        let batch = one(text);
        let span = &batch.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(
            span.trace_id.to_string(),
            "000102030405060708090a0b0c0d0e0f"
        );
        assert_eq!(span.kind, SpanKind::Client);
        assert_eq!(span.status.code, StatusCode::Error);
        assert_eq!(span.start_time_unix_nano, 5);
        assert_eq!(span.attributes[0].value, Value::Int(7));
        assert_eq!(span.attributes[1].value, Value::Int(-8));
        assert!(matches!(span.attributes[2].value, Value::Double(d) if d.is_nan()));
    }

    #[test]
    fn short_enum_names_are_accepted_and_unknown_ones_rejected() {
        let doc = |kind: &str| {
            format!(
                r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"name":"a","kind":"{kind}"}}]}}]}}]}}"#
            )
        };
        let text = doc("CLIENT");
        let batch = one(&text);
        assert_eq!(
            batch.resource_spans[0].scope_spans[0].spans[0].kind,
            SpanKind::Client
        );
        let text = doc("sideways");
        let err = JsonBatches::new(&text).next().unwrap().unwrap_err();
        assert!(err.message.contains("unknown enum name"), "{}", err.message);
    }

    #[test]
    fn escaped_keys_are_decoded() {
        let text = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"a\"b","attributes":[{"key":"gen_ai.\u0073ystem","value":{"stringValue":"x\ny"}}]}]}]}]}"#;
        let batch = one(text);
        let span = &batch.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(span.name, "a\"b");
        assert_eq!(span.attributes[0].key, "gen_ai.system");
        assert_eq!(span.attributes[0].value, Value::String("x\ny".into()));
        // Read on the second pass (see `Token`): the offsets still point at the tokens.
        assert_eq!(&text[span.name_offset..span.name_offset + 6], r#""a\"b""#);
        let key = span.attributes[0].offset;
        assert_eq!(&text[key..key + 20], r#""gen_ai.\u0073ystem""#);
    }

    #[test]
    fn a_document_read_twice_does_not_change_the_documents_around_it() {
        let plain = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"a","attributes":[{"key":"k","value":{"intValue":1}}]}]}]}]}"#;
        let escaped = plain.replace(r#""k""#, r#""\u006b""#);
        let text = format!("{plain}\n{escaped} {plain}\n{{\"resourceSpans\": [}}\n{plain}");
        let batches: Vec<_> = JsonBatches::new(&text).collect();
        assert_eq!(batches.len(), 5, "{batches:?}");
        let mut line_starts = text.match_indices('\n').map(|(i, _)| i + 1);
        let starts = [
            0,
            line_starts.next().unwrap(),
            plain.len() + escaped.len() + 2,
        ];
        for (batch, start) in batches.iter().zip(starts) {
            let span = &batch.as_ref().unwrap().resource_spans[0].scope_spans[0].spans[0];
            assert_eq!(span.attributes[0].key, "k");
            assert_eq!(span.name_offset, start + 51);
            assert_eq!(span.attributes[0].offset, start + 76);
        }
        let err = batches[3].as_ref().unwrap_err();
        assert_eq!(&text[err.offset..err.offset + 1], "}");
        assert!(batches[4].is_ok());
    }

    #[test]
    fn reads_lines_pretty_and_concatenated_documents() {
        let doc = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"a"}]}]}]}"#;
        let lines = format!("{doc}\n{doc}\n");
        assert_eq!(JsonBatches::new(&lines).count(), 2);
        let concatenated = format!("{doc}{doc}{doc}");
        assert_eq!(JsonBatches::new(&concatenated).count(), 3);
        let pretty =
            serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(doc).unwrap())
                .unwrap();
        assert_eq!(JsonBatches::new(&pretty).filter(Result::is_ok).count(), 1);
    }

    #[test]
    fn a_bad_line_is_reported_at_its_position_and_later_lines_still_read() {
        let good = r#"{"resourceSpans":[]}"#;
        let text = format!("{good}\n{{\"resourceSpans\": [}}\n{good}\n");
        let results: Vec<_> = JsonBatches::new(&text).collect();
        assert_eq!(results.len(), 3, "{results:?}");
        let err = results[1].as_ref().unwrap_err();
        assert_eq!(&text[err.offset..err.offset + 1], "}");
        assert!(results[2].is_ok());
    }

    #[test]
    fn a_document_that_is_not_an_object_is_named_as_such() {
        let text = "[{\"resourceSpans\":[]}]\n{\"resourceSpans\":[]}\n";
        let results: Vec<_> = JsonBatches::new(text).collect();
        assert_eq!(results.len(), 2);
        let err = results[0].as_ref().unwrap_err();
        assert_eq!(err.offset, 0);
        assert!(
            err.message.contains("expected an OTLP object"),
            "{}",
            err.message
        );
        assert!(results[1].is_ok());
    }

    /// The attributes of one span whose `attributes` array is `attributes`.
    fn attributes_of(attributes: &str) -> Result<Vec<Attribute<'static>>, JsonError> {
        let text = format!(
            r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"name":"a","attributes":{attributes}}}]}}]}}]}}"#
        );
        let batch = JsonBatches::new(&text).next().expect("a document")?;
        let span = &batch.resource_spans[0].scope_spans[0].spans[0];
        // Owned, so the attributes outlive the text (offsets are kept as they are).
        Ok(span
            .attributes
            .iter()
            .map(|a| Attribute {
                key: Cow::Owned(a.key.to_string()),
                value: owned(&a.value),
                offset: a.offset,
            })
            .collect())
    }

    fn owned(value: &Value<'_>) -> Value<'static> {
        match value {
            Value::String(s) => Value::String(Cow::Owned(s.to_string())),
            Value::Array(items) => Value::Array(items.iter().map(owned).collect()),
            Value::KvList(kvs) => Value::KvList(
                kvs.iter()
                    .map(|a| Attribute {
                        key: Cow::Owned(a.key.to_string()),
                        value: owned(&a.value),
                        offset: a.offset,
                    })
                    .collect(),
            ),
            Value::Empty => Value::Empty,
            Value::Bool(b) => Value::Bool(*b),
            Value::Int(i) => Value::Int(*i),
            Value::Double(d) => Value::Double(*d),
            Value::Bytes(b) => Value::Bytes(b.clone()),
        }
    }

    fn values_of(attributes: &str) -> Vec<Value<'static>> {
        attributes_of(attributes)
            .unwrap_or_else(|e| panic!("{attributes}: {e:?}"))
            .into_iter()
            .map(|a| a.value)
            .collect()
    }

    #[test]
    fn values_of_every_kind_and_spelling() {
        let values = values_of(
            r#"[{"key":"s","value":{"stringValue":"x\ty"}},{"key":"b","value":{"bool_value":true}},
            {"key":"i","value":{"intValue":"-3"}},{"key":"d","value":{"double_value":2}},
            {"key":"a","value":{"arrayValue":{"values":[{"stringValue":"p"},{"intValue":1}]}}},
            {"key":"k","value":{"kvlist_value":{"values":[{"key":"in","value":{"boolValue":false}}]}}},
            {"key":"y","value":{"bytesValue":"AAE="}},{"key":"n","value":{"bytesValue":"not base64"}},
            {"key":"e","value":{}},{"key":"m"},{"value":{"intValue":1},"key":"late"}]"#,
        );
        let Value::KvList(inner) = &values[5] else {
            panic!("a kvlist: {values:?}")
        };
        assert_eq!(inner.len(), 1);
        assert_eq!(
            (&*inner[0].key, &inner[0].value),
            ("in", &Value::Bool(false))
        );
        let expected = [
            Value::String("x\ty".into()),
            Value::Bool(true),
            Value::Int(-3),
            Value::Double(2.0),
            Value::Array(vec![Value::String("p".into()), Value::Int(1)]),
            values[5].clone(),
            Value::Bytes(vec![0, 1]),
            Value::String("not base64".into()),
            Value::Empty,
            Value::Empty,
            Value::Int(1),
        ];
        assert_eq!(values, expected);
    }

    #[test]
    fn unusual_values_read_as_the_derived_shape_reads_them() {
        // Unknown fields are skipped; `null` is no value; of two values the string wins (in
        // the order string, bool, int, double, array, kvlist, bytes); an array stands for the
        // fields in order.
        let values = values_of(
            r#"[{"key":"u","value":{"other":{"deep":[1,{"x":"\""}]},"boolValue":true,"more":null}},
            {"key":"n","value":{"stringValue":null,"intValue":"5"}},
            {"key":"two","value":{"intValue":1,"stringValue":"s"}},
            {"key":"nb","value":{"boolValue":null}},
            {"key":"seq","value":["t"]},
            {"key":"x","other":"ignored","value":{"doubleValue":"NaN"}}]"#,
        );
        assert_eq!(values[0], Value::Bool(true));
        assert_eq!(values[1], Value::Int(5));
        assert_eq!(values[2], Value::String("s".into()));
        assert_eq!(values[3], Value::Empty);
        assert_eq!(values[4], Value::String("t".into()));
        assert!(matches!(values[5], Value::Double(d) if d.is_nan()));
    }

    #[test]
    fn errors_in_attributes_read_as_before() {
        let cases = [
            (
                r#"[{"key":"k","value":{"stringValue":"a","string_value":"b"}}]"#,
                "duplicate field `stringValue`",
            ),
            (r#"[{"key":"k","key":"l"}]"#, "duplicate field `key`"),
            (r#"[{"value":{"intValue":1}}]"#, "missing field `key`"),
            (
                r#"[{"key":"k","value":{"intValue":null}}]"#,
                "invalid type: null, expected an integer or a decimal string",
            ),
            (
                r#"[{"key":"k","value":null}]"#,
                "invalid type: null, expected struct JsonAnyValue",
            ),
            (
                r#"[{"key":"k","value":{"boolValue":"yes"}}]"#,
                "invalid type: string \"…\", expected a boolean",
            ),
        ];
        for (attributes, message) in cases {
            let err = attributes_of(attributes).expect_err(attributes);
            assert_eq!(err.message, message, "{attributes}");
        }
    }

    /// A document read by serde the fast way and the careful way ([`RAW_TOKENS`] on from the
    /// start); the scanner's reading is checked against the careful one.
    fn both_passes(text: &str) -> [Option<Result<Batch<'_>, JsonError>>; 2] {
        let fast = JsonBatches::new(text).serde_only().next();
        RAW_TOKENS.set(true);
        let careful = JsonBatches::new(text).serde_only().next();
        RAW_TOKENS.set(false);
        let scanned = JsonBatches::new(text).next();
        assert_eq!(scanned, careful, "{text}");
        [fast, careful]
    }

    #[test]
    fn the_fast_pass_reads_every_attribute_shape_as_the_careful_pass() {
        let keys = [
            r#""key":"k""#,
            r#""key":"\u006b""#,
            r#""key":null"#,
            r#""key":1"#,
        ];
        let values = [
            "", // no value
            r#","value":{}"#,
            r#","value":null"#,
            r#","value":[]"#,
            r#","value":["s"]"#,
            r#","value":{"stringValue":"s"}"#,
            r#","value":{"string_value":"a\"b\u00e9\ud83d\ude00"}"#,
            r#","value":{"stringValue":"\ud800"}"#,
            r#","value":{"stringValue":null}"#,
            r#","value":{"stringValue":5}"#,
            r#","value":{"boolValue":true}"#,
            r#","value":{"bool_value":null}"#,
            r#","value":{"intValue":"12"}"#,
            r#","value":{"intValue":-3}"#,
            r#","value":{"intValue":1.5}"#,
            r#","value":{"intValue":"99999999999999999999"}"#,
            r#","value":{"doubleValue":"Infinity"}"#,
            r#","value":{"doubleValue":1e400}"#,
            r#","value":{"bytesValue":"AAE="}"#,
            r#","value":{"bytesValue":"?"}"#,
            r#","value":{"arrayValue":{"values":[{"intValue":1},{"stringValue":"x"},null]}}"#,
            r#","value":{"arrayValue":null}"#,
            r#","value":{"kvlistValue":{"values":[{"key":"in","value":{"boolValue":false}}]}}"#,
            r#","value":{"kvlist_value":{"values":[{"value":{}}]}}"#,
            r#","value":{"intValue":1,"stringValue":"s"}"#,
            r#","value":{"stringValue":"a","stringValue":"b"}"#,
            r#","value":{"other":[{"deep":"\""}],"doubleValue":2}"#,
            r#","value":{"intValue":1},"value":{"intValue":2}"#,
            r#","extra":{"a":[1,2,{"b":null}]}"#,
            r#" , "value" : { "stringValue" : "spaced" } "#,
            r#","value":{"stringValue":"unterminated}"#,
        ];
        let mut checked = 0;
        for key in keys {
            for first in values {
                for second in [values[5], values[9], values[24]] {
                    let attributes = format!("[{{{key}{first}}},\n{{{key}{second}}}]");
                    let text = format!(
                        r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"name":"a","attributes":{attributes}}}]}}]}}]}}"#
                    );
                    let [fast, careful] = both_passes(&text);
                    assert_eq!(fast, careful, "{attributes}");
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, keys.len() * values.len() * 3);
    }

    #[test]
    fn attribute_offsets_after_escaped_values_and_skipped_fields() {
        let attributes = r#"[{"key":"a","value":{"stringValue":"{\"q\": \"\\u00e9\"}"}},{"x":{"y":"\""},"key":"b"},{"key":"c","value":{"kvlistValue":{"values":[{"key":"d"}]}}}]"#;
        let text = format!(
            r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"name":"a","attributes":{attributes}}}]}}]}}]}}"#
        );
        let batch = JsonBatches::new(&text).next().unwrap().unwrap();
        let span = &batch.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(
            span.attributes[0].value,
            Value::String(r#"{"q": "\u00e9"}"#.into())
        );
        for attribute in &span.attributes {
            let key = &attribute.key;
            let at = attribute.offset;
            assert_eq!(&text[at..at + key.len() + 2], format!("\"{key}\""));
        }
        let Value::KvList(inner) = &span.attributes[2].value else {
            panic!("a kvlist")
        };
        assert_eq!(&text[inner[0].offset..inner[0].offset + 3], "\"d\"");
    }

    #[test]
    fn error_messages_do_not_echo_string_values() {
        let text = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"a","attributes":"my card is 4111"}]}]}]}"#;
        let err = JsonBatches::new(text).next().unwrap().unwrap_err();
        assert!(!err.message.contains("4111"), "{}", err.message);
        assert!(err.message.contains("string"), "{}", err.message);
    }

    #[test]
    fn wrong_types_are_errors_not_panics() {
        let text = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"a","attributes":[{"key":"k","value":{"intValue":"twelve"}}]}]}]}]}"#;
        let err = JsonBatches::new(text).next().unwrap().unwrap_err();
        assert!(
            err.message.contains("expected an integer"),
            "{}",
            err.message
        );
    }
}
