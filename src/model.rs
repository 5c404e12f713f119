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
    /// 16 bytes, written as 32 lowercase hex digits (empty when the input had none).
    pub trace_id: Id,
    /// 8 bytes, written as 16 lowercase hex digits (empty when the input had none).
    pub span_id: Id,
    /// Empty for a root span.
    pub parent_span_id: Id,
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

/// A trace or span id, kept without an allocation: its bytes when the input gave bytes
/// (protobuf, base64) or hex digits for whole bytes (every well-formed id), written as their
/// lowercase hex; anything else (hex of an odd length, ids longer than 16 bytes, text that is
/// neither hex nor base64) as the text it was read as, which is rare and then allocated.
#[derive(Clone, PartialEq, Eq)]
pub struct Id(IdRepr);

#[derive(Clone, PartialEq, Eq)]
enum IdRepr {
    Bytes { len: u8, bytes: [u8; Id::MAX_BYTES] },
    Text(Box<str>),
}

impl Default for Id {
    fn default() -> Self {
        Id(IdRepr::Bytes {
            len: 0,
            bytes: [0; Id::MAX_BYTES],
        })
    }
}

impl Id {
    /// The most bytes an id keeps inline (a trace id's 16).
    const MAX_BYTES: usize = 16;

    /// An id given as bytes (protobuf's `bytes` fields, base64 in JSON).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        match bytes.len() {
            len @ 0..=Self::MAX_BYTES => {
                let mut inline = [0; Self::MAX_BYTES];
                inline[..len].copy_from_slice(bytes);
                Id(IdRepr::Bytes {
                    len: len as u8,
                    bytes: inline,
                })
            }
            _ => Id(IdRepr::Text(hex_text(bytes).into())),
        }
    }

    /// An id written in hex digits, either case: it reads as its lowercase digits. `None`
    /// when `digits` are not all hex digits.
    pub fn from_hex_digits(digits: &str) -> Option<Self> {
        match hex_bytes(digits.as_bytes()) {
            Some(id) => Some(id),
            None if digits.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Some(Id(IdRepr::Text(digits.to_ascii_lowercase().into())))
            }
            None => None,
        }
    }

    /// Whether the id is empty (the input had none).
    pub fn is_empty(&self) -> bool {
        match &self.0 {
            IdRepr::Bytes { len, .. } => *len == 0,
            IdRepr::Text(text) => text.is_empty(),
        }
    }

    /// The id's bytes, when it is `len` bytes (a well-formed trace id has 16, a span id 8).
    pub fn bytes_of_len(&self, len: usize) -> Option<&[u8]> {
        match &self.0 {
            IdRepr::Bytes { len: n, bytes } if usize::from(*n) == len => Some(&bytes[..len]),
            _ => None,
        }
    }

    /// The id as a number, as `u128::from_str_radix` reads its text in base 16 (`None` when
    /// it is empty, not hex, or too large).
    pub fn as_u128(&self) -> Option<u128> {
        match &self.0 {
            IdRepr::Bytes { len: 0, .. } => None,
            IdRepr::Bytes { len, bytes } => {
                let len = usize::from(*len);
                let mut big_endian = [0; Self::MAX_BYTES];
                big_endian[Self::MAX_BYTES - len..].copy_from_slice(&bytes[..len]);
                Some(u128::from_be_bytes(big_endian))
            }
            IdRepr::Text(text) => u128::from_str_radix(text, 16).ok(),
        }
    }

    /// The id as a number, as `u64::from_str_radix` reads its text in base 16 (`None` when it
    /// is empty, not hex, or too large).
    pub fn as_u64(&self) -> Option<u64> {
        match &self.0 {
            IdRepr::Bytes { .. } => self.as_u128().and_then(|n| u64::try_from(n).ok()),
            IdRepr::Text(text) => u64::from_str_radix(text, 16).ok(),
        }
    }
}

impl Id {
    /// The id's text (as [`Display`](std::fmt::Display) writes it, without its machinery:
    /// every GenAI span's identity is written so).
    pub fn to_text(&self) -> String {
        match &self.0 {
            IdRepr::Bytes { len, bytes } => hex_text(&bytes[..usize::from(*len)]),
            IdRepr::Text(text) => text.to_string(),
        }
    }
}

/// An id from its text as it is: lowercase hex digits for whole bytes are kept as bytes,
/// anything else as the text.
impl From<&str> for Id {
    fn from(text: &str) -> Self {
        let lowercase_hex = text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        match hex_bytes(text.as_bytes()) {
            Some(id) if lowercase_hex => id,
            _ => Id(IdRepr::Text(text.into())),
        }
    }
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            IdRepr::Bytes { .. } => f.pad(&self.to_text()),
            IdRepr::Text(text) => f.pad(text),
        }
    }
}

impl std::fmt::Debug for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.to_string())
    }
}

/// Each byte's two lowercase hex digits, so writing an id is one look-up per byte.
const HEX_PAIRS: [[u8; 2]; 256] = {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut pairs = [[0; 2]; 256];
    let mut byte = 0;
    while byte < 256 {
        pairs[byte] = [DIGITS[byte >> 4], DIGITS[byte & 0xf]];
        byte += 1;
    }
    pairs
};

/// `bytes` as lowercase hex.
fn hex_text(bytes: &[u8]) -> String {
    let mut digits = vec![0; 2 * bytes.len()];
    for (pair, &b) in digits.chunks_exact_mut(2).zip(bytes) {
        let [high, low] = HEX_PAIRS[usize::from(b)];
        pair[0] = high;
        pair[1] = low;
    }
    // Only ASCII digits and letters: never fails.
    String::from_utf8(digits).unwrap_or_default()
}

/// Each byte's value as a hex digit (either case), [`NOT_HEX`] for other bytes.
const HEX_VALUES: [u8; 256] = {
    let mut values = [NOT_HEX; 256];
    let mut digit = 0;
    while digit < 16 {
        values[b"0123456789abcdef"[digit] as usize] = digit as u8;
        values[b"0123456789ABCDEF"[digit] as usize] = digit as u8;
        digit += 1;
    }
    values
};

const NOT_HEX: u8 = 0xff;

/// The id whose hex digits (either case) are `digits`, when they make up to
/// [`Id::MAX_BYTES`] whole bytes.
fn hex_bytes(digits: &[u8]) -> Option<Id> {
    if !digits.len().is_multiple_of(2) || digits.len() > 2 * Id::MAX_BYTES {
        return None;
    }
    let mut bytes = [0; Id::MAX_BYTES];
    for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
        let (high, low) = (
            HEX_VALUES[usize::from(pair[0])],
            HEX_VALUES[usize::from(pair[1])],
        );
        if high == NOT_HEX || low == NOT_HEX {
            return None;
        }
        *byte = high << 4 | low;
    }
    Some(Id(IdRepr::Bytes {
        len: (digits.len() / 2) as u8,
        bytes,
    }))
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

#[cfg(test)]
mod tests {
    use super::Id;

    /// Texts an id may have been read as: well-formed, short, long, odd, empty, not hex.
    const TEXTS: &[&str] = &[
        "",
        "00",
        "1",
        "0000000000000001",
        "00000000000000000000000000000001",
        "5b8efff798038103d269b633813fc60c",
        "ffffffffffffffffffffffffffffffff",
        "00000000000000000000000000000000ab",
        "ffffffffffffffffff",
        "0000000000000000ff",
        "00000000000000BB",
        "+1",
        "not an id",
        "-1",
    ];

    #[test]
    fn an_id_is_written_and_read_as_a_number_as_its_text_was() {
        for &text in TEXTS {
            let id = Id::from(text);
            assert_eq!(id.to_string(), text);
            assert_eq!(id.to_text(), text);
            assert_eq!(id.is_empty(), text.is_empty());
            assert_eq!(id.as_u128(), u128::from_str_radix(text, 16).ok(), "{text}");
            assert_eq!(id.as_u64(), u64::from_str_radix(text, 16).ok(), "{text}");
        }
    }

    #[test]
    fn bytes_and_hex_digits_read_as_lowercase_hex() {
        for len in [0, 1, 8, 16, 17, 40] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 171) as u8).collect();
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(Id::from_bytes(&bytes).to_string(), hex);
            assert_eq!(Id::from_bytes(&bytes), Id::from(hex.as_str()));
            let upper = hex.to_uppercase();
            assert_eq!(Id::from_hex_digits(&upper), Some(Id::from(hex.as_str())));
            assert_eq!(
                Id::from_bytes(&bytes).bytes_of_len(len),
                (len <= 16).then_some(&bytes[..])
            );
        }
        assert_eq!(Id::from_hex_digits("ABC"), Some(Id::from("abc")));
        assert_eq!(Id::from_hex_digits("AAECAw=="), None);
        assert_eq!(Id::from_hex_digits("zz"), None);
    }
}
