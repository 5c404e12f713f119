//! The in-memory model every stage after `input/` works on.
//!
//! It mirrors the OTLP trace hierarchy (batch → resource → scope → span → attribute) and knows
//! nothing about the format it was read from: the JSON and protobuf readers both produce it.
//! Every span and attribute keeps a byte [`Offset`] into the (decompressed) input so findings can
//! point back at the exact place in the file.
//!
//! Strings are `Cow<'a, str>`: the JSON reader borrows them straight from the input buffer when
//! they contain no escapes; the protobuf reader borrows them from the message bytes once they
//! are checked to be UTF-8.

use std::borrow::Cow;

/// A byte offset into the decompressed content of one input file.
///
/// For OTLP/JSON it is the offset of the JSON token (an attribute's key string, a span's name);
/// for protobuf it is the offset of the field's tag in the message stream.
pub type Offset = usize;

/// One decoded OTLP `ExportTraceServiceRequest` / `TracesData`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch<'a> {
    pub resource_spans: Vec<ResourceSpans<'a>>,
}

/// Spans that share one resource (one process, one `service.name`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResourceSpans<'a> {
    pub attributes: Vec<Attribute<'a>>,
    pub schema_url: Cow<'a, str>,
    pub scope_spans: Vec<ScopeSpans<'a>>,
}

/// Spans emitted by one instrumentation scope (one library).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScopeSpans<'a> {
    pub scope: Scope<'a>,
    pub schema_url: Cow<'a, str>,
    pub spans: Vec<Span<'a>>,
}

/// The instrumentation scope: which library produced the spans.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scope<'a> {
    pub name: Cow<'a, str>,
    pub version: Cow<'a, str>,
    pub attributes: Vec<Attribute<'a>>,
}

/// One span, with the parts of OTLP the rules look at.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Span<'a> {
    /// Lowercase hex, 32 characters (empty when the input had none).
    pub trace_id: String,
    /// Lowercase hex, 16 characters (empty when the input had none).
    pub span_id: String,
    /// Lowercase hex, empty for a root span.
    pub parent_span_id: String,
    pub name: Cow<'a, str>,
    pub kind: SpanKind,
    pub start_time_unix_nano: u64,
    pub end_time_unix_nano: u64,
    pub attributes: Vec<Attribute<'a>>,
    pub events: Vec<Event<'a>>,
    pub status: Status<'a>,
    /// Where the span starts in the input.
    pub offset: Offset,
    /// Where the span's name is in the input (falls back to `offset`).
    pub name_offset: Offset,
}

impl<'a> Span<'a> {
    /// The first attribute with this exact key.
    pub fn attribute(&self, key: &str) -> Option<&Attribute<'a>> {
        self.attributes.iter().find(|a| a.key == key)
    }

    /// The value of the first attribute with this key, when it is a string.
    pub fn str_attribute(&self, key: &str) -> Option<&str> {
        self.attribute(key).and_then(|a| a.value.as_str())
    }
}

/// A span event (`gen_ai.content.prompt` and friends live here in old conventions).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Event<'a> {
    pub name: Cow<'a, str>,
    pub time_unix_nano: u64,
    pub attributes: Vec<Attribute<'a>>,
    pub offset: Offset,
}

/// The span status.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Status<'a> {
    pub code: StatusCode,
    pub message: Cow<'a, str>,
}

/// OTLP `Status.StatusCode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StatusCode {
    #[default]
    Unset,
    Ok,
    Error,
}

impl StatusCode {
    /// Maps the OTLP enum number; unknown numbers are treated as unset.
    pub fn from_i32(code: i32) -> Self {
        match code {
            1 => StatusCode::Ok,
            2 => StatusCode::Error,
            _ => StatusCode::Unset,
        }
    }
}

/// OTLP `Span.SpanKind`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum SpanKind {
    #[default]
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

impl SpanKind {
    /// Maps the OTLP enum number; unknown numbers are treated as unspecified.
    pub fn from_i32(kind: i32) -> Self {
        match kind {
            1 => SpanKind::Internal,
            2 => SpanKind::Server,
            3 => SpanKind::Client,
            4 => SpanKind::Producer,
            5 => SpanKind::Consumer,
            _ => SpanKind::Unspecified,
        }
    }

    /// The lowercase name used in rules files and messages (`client`, `internal`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            SpanKind::Unspecified => "unspecified",
            SpanKind::Internal => "internal",
            SpanKind::Server => "server",
            SpanKind::Client => "client",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
        }
    }
}

/// One key/value pair, with the position of its key in the input.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribute<'a> {
    pub key: Cow<'a, str>,
    pub value: Value<'a>,
    pub offset: Offset,
}

/// OTLP `AnyValue`.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Value<'a> {
    /// An `AnyValue` with no value set.
    #[default]
    Empty,
    String(Cow<'a, str>),
    Bool(bool),
    Int(i64),
    Double(f64),
    Bytes(Vec<u8>),
    Array(Vec<Value<'a>>),
    KvList(Vec<Attribute<'a>>),
}

impl<'a> Value<'a> {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The OTLP type name, as used in messages (`string`, `int`, `string[]`, …).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Empty => "empty",
            Value::String(_) => "string",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "int",
            Value::Double(_) => "double",
            Value::Bytes(_) => "bytes",
            Value::Array(_) => "array",
            Value::KvList(_) => "kvlist",
        }
    }
}

/// Where a batch or span came from, for messages: the service that emitted it.
pub fn service_name<'b>(resource: &'b ResourceSpans<'_>) -> Option<&'b str> {
    resource
        .attributes
        .iter()
        .find(|a| a.key == "service.name")
        .and_then(|a| a.value.as_str())
}
