//! The one-pass OTLP protobuf decoder: walks one `ExportTraceServiceRequest` / `TracesData`
//! message once, straight into a [`Batch`] that borrows every string from the input (validated
//! as UTF-8, as OTLP requires of string fields), recording byte offsets as it goes.
//!
//! It accepts exactly what prost accepts for the opentelemetry-proto types, so the two never
//! disagree on whether a message is well formed (the property tests and the fuzzers check it
//! against [`super::reference`]):
//! - every known field must have its declared wire type, every string field valid UTF-8, also
//!   in the parts the model drops (links, trace state, entity refs);
//! - unknown fields are skipped by wire type, groups included;
//! - absent fields take their proto3 defaults; a repeated singular field takes its last value,
//!   and a repeated singular message (a resource, a scope, a status, an `AnyValue`'s array or
//!   key/value list) is merged into the first;
//! - nesting is bounded as prost bounds it (100 messages deep, counted from the request; an
//!   unknown field at the limit is refused too), so a deep `AnyValue` is an error, not a stack
//!   overflow.
//!
//! The trace messages have no repeated scalar field, so there is no packed encoding to accept.
//! A malformed message is only reported as [`Malformed`] (where the decoder stopped);
//! [`super::decode_message`] asks the reference decoder to explain it.

use std::borrow::Cow;

use crate::input::wire::{EGROUP, I32, I64, LEN, SGROUP, VARINT};
use crate::model::{
    Attribute, Batch, Event, Offset, ResourceSpans, Scope, ScopeSpans, Span, SpanKind, Status,
    StatusCode, Value,
};

/// From this length on, strings are checked to be UTF-8 with SIMD.
const LONG_STRING: usize = 64;

/// prost's recursion limit: how many messages deep a request may nest.
const RECURSION_LIMIT: u32 = 100;

/// Where and why the decoder found a message malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed {
    /// Absolute byte offset where decoding stopped.
    pub offset: Offset,
    pub reason: &'static str,
}

type Result<T> = std::result::Result<T, Malformed>;

/// Decodes one message whose first byte is at absolute offset `base`.
pub fn decode_request(msg: &[u8], base: Offset) -> Result<Batch<'_>> {
    let mut reader = Reader::new(msg, base);
    let mut batch = Batch::default();
    while let Some(field) = reader.field()? {
        match field.number {
            1 => {
                let mut rs = reader.message(field, RECURSION_LIMIT)?;
                batch
                    .resource_spans
                    .push(resource_spans(&mut rs, RECURSION_LIMIT - 1)?);
            }
            _ => reader.skip(field, RECURSION_LIMIT)?,
        }
    }
    Ok(batch)
}

// ---------------------------------------------------------------------------------------------
// One function per message type. `depth` is what is left of the recursion limit for the
// message's own fields (prost's `DecodeContext`); entering a sub-message needs it above 0.

fn resource_spans<'a>(r: &mut Reader<'a>, depth: u32) -> Result<ResourceSpans<'a>> {
    let mut out = ResourceSpans::default();
    while let Some(field) = r.field()? {
        match field.number {
            1 => resource(
                &mut r.message(field, depth)?,
                depth - 1,
                &mut out.attributes,
            )?,
            2 => {
                let mut ss = r.message(field, depth)?;
                out.scope_spans.push(scope_spans(&mut ss, depth - 1)?);
            }
            3 => out.schema_url = r.string(field)?,
            _ => r.skip(field, depth)?,
        }
    }
    Ok(out)
}

fn resource<'a>(r: &mut Reader<'a>, depth: u32, attributes: &mut Vec<Attribute<'a>>) -> Result<()> {
    while let Some(field) = r.field()? {
        match field.number {
            1 => push_key_value(r, field, depth, attributes)?,
            2 => r.uint(field).map(drop)?, // dropped_attributes_count
            3 => entity_ref(&mut r.message(field, depth)?, depth - 1)?,
            _ => r.skip(field, depth)?,
        }
    }
    Ok(())
}

/// `EntityRef`: not in the model, but its strings must be UTF-8 all the same.
fn entity_ref(r: &mut Reader<'_>, depth: u32) -> Result<()> {
    while let Some(field) = r.field()? {
        match field.number {
            1..=4 => r.string(field).map(drop)?,
            _ => r.skip(field, depth)?,
        }
    }
    Ok(())
}

fn scope_spans<'a>(r: &mut Reader<'a>, depth: u32) -> Result<ScopeSpans<'a>> {
    let mut out = ScopeSpans::default();
    while let Some(field) = r.field()? {
        match field.number {
            1 => scope(&mut r.message(field, depth)?, depth - 1, &mut out.scope)?,
            2 => {
                let mut span_reader = r.message(field, depth)?;
                out.spans
                    .push(span(&mut span_reader, depth - 1, field.offset)?);
            }
            3 => out.schema_url = r.string(field)?,
            _ => r.skip(field, depth)?,
        }
    }
    Ok(out)
}

fn scope<'a>(r: &mut Reader<'a>, depth: u32, out: &mut Scope<'a>) -> Result<()> {
    while let Some(field) = r.field()? {
        match field.number {
            1 => out.name = r.string(field)?,
            2 => out.version = r.string(field)?,
            3 => push_key_value(r, field, depth, &mut out.attributes)?,
            4 => r.uint(field).map(drop)?, // dropped_attributes_count
            _ => r.skip(field, depth)?,
        }
    }
    Ok(())
}

/// `Span.attributes`.
const ATTRIBUTES: u32 = 9;

/// A span whose field tag (in its `ScopeSpans`) is at `offset`.
fn span<'a>(r: &mut Reader<'a>, depth: u32, offset: Offset) -> Result<Span<'a>> {
    let mut out = Span {
        offset,
        name_offset: offset,
        attributes: Vec::with_capacity(r.attribute_capacity_guess()),
        ..Span::default()
    };
    let (mut trace_id, mut span_id, mut parent_span_id): (&[u8], &[u8], &[u8]) = (&[], &[], &[]);
    /// `Span.attributes`' one-byte tag.
    const ATTRIBUTE_TAG: u8 = (ATTRIBUTES as u8) << 3 | LEN;
    loop {
        // Most of a span's fields are attributes of one scalar: read at once, without the
        // general field dispatch.
        if depth > 1
            && let [ATTRIBUTE_TAG, ref after_tag @ ..] = *r.rest
            && let Some((attribute, after)) = scalar_key_value(after_tag, r.offset())
        {
            r.rest = after;
            out.attributes.push(attribute);
            continue;
        }
        let Some(field) = r.field()? else {
            break;
        };
        match field.number {
            1 => trace_id = r.bytes(field)?,
            2 => span_id = r.bytes(field)?,
            3 => r.string(field).map(drop)?, // trace_state
            4 => parent_span_id = r.bytes(field)?,
            5 => {
                out.name = r.string(field)?;
                out.name_offset = field.offset;
            }
            6 => out.kind = SpanKind::from_i32(r.uint(field)? as i32),
            7 => out.start_time_unix_nano = r.fixed64(field)?,
            8 => out.end_time_unix_nano = r.fixed64(field)?,
            ATTRIBUTES => push_key_value(r, field, depth, &mut out.attributes)?,
            11 => {
                let mut event_reader = r.message(field, depth)?;
                out.events
                    .push(event(&mut event_reader, depth - 1, field.offset)?);
            }
            13 => link(&mut r.message(field, depth)?, depth - 1)?,
            15 => status(&mut r.message(field, depth)?, depth - 1, &mut out.status)?,
            10 | 12 | 14 => r.uint(field).map(drop)?, // dropped_*_count
            16 => r.fixed32(field).map(drop)?,        // flags
            _ => r.skip(field, depth)?,
        }
    }
    out.trace_id = crate::model::Id::from_bytes(trace_id);
    out.span_id = crate::model::Id::from_bytes(span_id);
    out.parent_span_id = crate::model::Id::from_bytes(parent_span_id);
    Ok(out)
}

fn event<'a>(r: &mut Reader<'a>, depth: u32, offset: Offset) -> Result<Event<'a>> {
    let mut out = Event {
        offset,
        ..Event::default()
    };
    while let Some(field) = r.field()? {
        match field.number {
            1 => out.time_unix_nano = r.fixed64(field)?,
            2 => out.name = r.string(field)?,
            3 => push_key_value(r, field, depth, &mut out.attributes)?,
            4 => r.uint(field).map(drop)?, // dropped_attributes_count
            _ => r.skip(field, depth)?,
        }
    }
    Ok(out)
}

/// `Span.Link`: not in the model, but checked as prost checks it.
fn link(r: &mut Reader<'_>, depth: u32) -> Result<()> {
    while let Some(field) = r.field()? {
        match field.number {
            1 | 2 => r.bytes(field).map(drop)?, // trace_id, span_id
            3 => r.string(field).map(drop)?,    // trace_state
            4 => key_value(r, field, depth, field.offset).map(drop)?,
            5 => r.uint(field).map(drop)?, // dropped_attributes_count
            6 => r.fixed32(field).map(drop)?, // flags
            _ => r.skip(field, depth)?,
        }
    }
    Ok(())
}

fn status<'a>(r: &mut Reader<'a>, depth: u32, out: &mut Status<'a>) -> Result<()> {
    while let Some(field) = r.field()? {
        match field.number {
            2 => out.message = r.string(field)?,
            3 => out.code = StatusCode::from_i32(r.uint(field)? as i32),
            _ => r.skip(field, depth)?,
        }
    }
    Ok(())
}

/// Appends the `KeyValue` in `field` of `r` (a message at `depth`) to `attributes`.
///
/// Nearly every attribute holds one string, int, double or bool: those are read here, where
/// the loop over a span's fields is (see [`key_and_scalar`]), and only the others, or a
/// malformed one, by [`key_value`], which reads them the same way or reports the error.
#[inline(always)]
fn push_key_value<'a>(
    r: &mut Reader<'a>,
    field: FieldKey,
    depth: u32,
    attributes: &mut Vec<Attribute<'a>>,
) -> Result<()> {
    // `depth` must leave room for the `KeyValue` and its `AnyValue`.
    if field.wire_type == LEN
        && depth > 1
        && let Some((attribute, after)) = scalar_key_value(r.rest, field.offset)
    {
        r.rest = after;
        attributes.push(attribute);
        return Ok(());
    }
    attributes.push(key_value(r, field, depth, field.offset)?);
    Ok(())
}

/// The attribute whose `KeyValue` (length, then bytes) starts `bytes`, its tag at `offset`,
/// and the bytes after it, when it holds one scalar (see [`key_and_scalar`]).
#[inline(always)]
fn scalar_key_value(bytes: &[u8], offset: Offset) -> Option<(Attribute<'_>, &[u8])> {
    let (kv, after) = length_prefixed(bytes)?;
    let (key, value) = key_and_scalar(kv)?;
    let attribute = Attribute {
        key: Cow::Borrowed(key),
        value,
        offset,
    };
    Some((attribute, after))
}

/// The `KeyValue` in `field` of `r` (a message at `depth`), located at `offset`: its own tag,
/// or for the entries of a key/value list, the enclosing attribute's.
#[inline(never)]
fn key_value<'a>(
    r: &mut Reader<'a>,
    field: FieldKey,
    depth: u32,
    offset: Offset,
) -> Result<Attribute<'a>> {
    let mut kv = r.message(field, depth)?;
    let depth = depth - 1;
    if depth > 0
        && let Some((key, value)) = key_and_scalar(kv.rest)
    {
        return Ok(Attribute {
            key: Cow::Borrowed(key),
            value,
            offset,
        });
    }
    let mut out = Attribute {
        key: Cow::Borrowed(""),
        value: Value::Empty,
        offset,
    };
    while let Some(field) = kv.field()? {
        match field.number {
            1 => out.key = kv.string(field)?,
            2 => any_value(
                &mut kv.message(field, depth)?,
                depth - 1,
                &mut out.value,
                offset,
            )?,
            3 => kv.uint(field).map(drop)?, // key_strindex
            _ => kv.skip(field, depth)?,
        }
    }
    Ok(out)
}

/// The key and value of a `KeyValue` in its commonest encodings, read straight from its bytes:
/// a key, then an `AnyValue` holding one string, int, double or bool (what nearly every
/// attribute is), keys and strings valid UTF-8. `None` for anything else (arrays, lists,
/// repeated or reordered fields, anything malformed), which the general loop then reads (and
/// reports if malformed); both ways give the same attribute. `depth` must leave room for the
/// `AnyValue` message.
#[inline(always)]
fn key_and_scalar(kv: &[u8]) -> Option<(&str, Value<'_>)> {
    const KEY: u8 = 1 << 3 | LEN; // KeyValue.key
    const VALUE: u8 = 2 << 3 | LEN; // KeyValue.value
    const STRING: u8 = 1 << 3 | LEN; // AnyValue.string_value
    const BOOL: u8 = 2 << 3 | VARINT; // AnyValue.bool_value
    const INT: u8 = 3 << 3 | VARINT; // AnyValue.int_value
    const DOUBLE: u8 = 4 << 3 | I64; // AnyValue.double_value
    let mut rest = kv;
    let key = tagged_payload(&mut rest, KEY)?;
    let any_value = tagged_payload(&mut rest, VALUE)?;
    if !rest.is_empty() {
        return None;
    }
    let value = match any_value {
        [STRING, ..] => {
            let mut rest = any_value;
            let string = tagged_payload(&mut rest, STRING)?;
            if !rest.is_empty() {
                return None;
            }
            Value::String(Cow::Borrowed(utf8(string)?))
        }
        [BOOL, varint @ ..] => Value::Bool(only_varint(varint)? != 0),
        [INT, varint @ ..] => Value::Int(only_varint(varint)? as i64),
        [DOUBLE, bits @ ..] => Value::Double(f64::from_bits(u64::from_le_bytes(
            <[u8; 8]>::try_from(bits).ok()?,
        ))),
        _ => return None,
    };
    Some((utf8(key)?, value))
}

/// For [`key_and_scalar`]: the payload of the length-delimited field at the start of `rest`
/// when its tag is the one-byte `tag`, `rest` then moved past it.
#[inline(always)]
fn tagged_payload<'a>(rest: &mut &'a [u8], tag: u8) -> Option<&'a [u8]> {
    let bytes: &'a [u8] = rest;
    match bytes {
        [first, after_tag @ ..] if *first == tag => {
            let (payload, after) = length_prefixed(after_tag)?;
            *rest = after;
            Some(payload)
        }
        _ => None,
    }
}

/// The payload whose length (a varint) starts `bytes`, and the bytes after it; lengths of one
/// and two bytes (up to 16 KiB) read inline.
#[inline(always)]
fn length_prefixed(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = match *bytes {
        [len @ 0..=0x7f, ref rest @ ..] => (usize::from(len), rest),
        [low, high @ 0..=0x7f, ref rest @ ..] => {
            (usize::from(low & 0x7f) | usize::from(high) << 7, rest)
        }
        _ => {
            let mut reader = Reader::new(bytes, 0);
            let len = usize::try_from(reader.varint().ok()?).ok()?;
            (len, reader.rest)
        }
    };
    rest.split_at_checked(len)
}

/// For [`key_and_scalar`]: `bytes` as exactly one varint.
#[inline(always)]
fn only_varint(bytes: &[u8]) -> Option<u64> {
    let mut reader = Reader::new(bytes, 0);
    let value = reader.varint().ok()?;
    reader.rest.is_empty().then_some(value)
}

/// Merges an `AnyValue` into `out` (a repeated array or key/value list extends the first, as
/// prost merges a repeated oneof message of the same kind).
fn any_value<'a>(
    r: &mut Reader<'a>,
    depth: u32,
    out: &mut Value<'a>,
    offset: Offset,
) -> Result<()> {
    while let Some(field) = r.field()? {
        match field.number {
            1 => *out = Value::String(r.string(field)?),
            2 => *out = Value::Bool(r.uint(field)? != 0),
            3 => *out = Value::Int(r.uint(field)? as i64),
            4 => *out = Value::Double(f64::from_bits(r.fixed64(field)?)),
            5 => {
                let mut array = r.message(field, depth)?;
                if !matches!(out, Value::Array(_)) {
                    *out = Value::Array(Vec::new());
                }
                if let Value::Array(values) = out {
                    array_values(&mut array, depth - 1, values, offset)?;
                }
            }
            6 => {
                let mut list = r.message(field, depth)?;
                if !matches!(out, Value::KvList(_)) {
                    *out = Value::KvList(Vec::new());
                }
                if let Value::KvList(kvs) = out {
                    while let Some(entry) = list.field()? {
                        match entry.number {
                            1 => kvs.push(key_value(&mut list, entry, depth - 1, offset)?),
                            _ => list.skip(entry, depth - 1)?,
                        }
                    }
                }
            }
            7 => *out = Value::Bytes(r.bytes(field)?.to_vec()),
            // A profiling-only string-table reference: meaningless in traces (OTLP: ignore).
            8 => {
                r.uint(field)?;
                *out = Value::Empty;
            }
            _ => r.skip(field, depth)?,
        }
    }
    Ok(())
}

/// The values of an `ArrayValue` (a message at `depth`), appended to `values`.
fn array_values<'a>(
    r: &mut Reader<'a>,
    depth: u32,
    values: &mut Vec<Value<'a>>,
    offset: Offset,
) -> Result<()> {
    while let Some(field) = r.field()? {
        match field.number {
            1 => {
                let mut value = Value::Empty;
                any_value(&mut r.message(field, depth)?, depth - 1, &mut value, offset)?;
                values.push(value);
            }
            _ => r.skip(field, depth)?,
        }
    }
    Ok(())
}

/// `bytes` as text when they are valid UTF-8.
///
/// Prompts and completions are long: simdutf8 checks them many bytes at a time. Keys, names and
/// enum-like values are short and nearly always ASCII, which [`is_short_ascii`] answers in a
/// fraction of what a full UTF-8 check costs on a short string; anything else gets the full
/// check.
#[inline(always)]
fn utf8(bytes: &[u8]) -> Option<&str> {
    if bytes.len() >= LONG_STRING {
        simdutf8::basic::from_utf8(bytes).ok()
    } else if is_short_ascii(bytes) {
        // SAFETY: ASCII is valid UTF-8.
        Some(unsafe { std::str::from_utf8_unchecked(bytes) })
    } else {
        std::str::from_utf8(bytes).ok()
    }
}

/// Whether `bytes` (shorter than [`LONG_STRING`]) are all ASCII: the high bits of every 8-byte
/// word ORed together, the last word overlapping the one before so that no byte is checked one
/// by one (a string under 8 bytes is read as two overlapping 4-byte words, or byte by byte under
/// 4).
#[inline(always)]
fn is_short_ascii(bytes: &[u8]) -> bool {
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    let len = bytes.len();
    if len >= 8 {
        let (words, _) = bytes.as_chunks::<8>();
        let last = bytes.last_chunk::<8>().copied().unwrap_or_default();
        let ored = words.iter().fold(u64::from_ne_bytes(last), |ored, word| {
            ored | u64::from_ne_bytes(*word)
        });
        ored & HIGH_BITS == 0
    } else if len >= 4 {
        let first = bytes.first_chunk::<4>().copied().unwrap_or_default();
        let last = bytes.last_chunk::<4>().copied().unwrap_or_default();
        (u32::from_ne_bytes(first) | u32::from_ne_bytes(last)) & HIGH_BITS as u32 == 0
    } else {
        bytes.iter().fold(0, |ored, byte| ored | byte) < 0x80
    }
}

// ---------------------------------------------------------------------------------------------
// The wire format.

/// A field's key, read but its value not yet.
#[derive(Debug, Clone, Copy)]
struct FieldKey {
    /// Absolute offset of the field's tag.
    offset: Offset,
    number: u32,
    wire_type: u8,
}

/// A cursor over one message's bytes: the bytes not read yet, so reading a byte or a field
/// checks one length, and where the message ends in the input, so every offset is absolute.
struct Reader<'a> {
    /// The bytes not read yet.
    rest: &'a [u8],
    /// Absolute offset just past the message's last byte.
    end: Offset,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], base: Offset) -> Self {
        Reader {
            rest: buf,
            end: base + buf.len(),
        }
    }

    /// Absolute offset of the next byte.
    #[inline(always)]
    fn offset(&self) -> Offset {
        self.end - self.rest.len()
    }

    #[cold]
    #[inline(never)]
    fn malformed(&self, offset: Offset, reason: &'static str) -> Malformed {
        Malformed { offset, reason }
    }

    /// The next field's key, or `None` at the end of the message.
    #[inline(always)]
    fn field(&mut self) -> Result<Option<FieldKey>> {
        let offset = self.offset();
        let key = match *self.rest {
            [] => return Ok(None),
            // A one-byte tag (fields 1 to 15): its number fits, only 0 is invalid.
            [byte @ 0..=0x7f, ref rest @ ..] => {
                self.rest = rest;
                u64::from(byte)
            }
            _ => self.long_varint()?,
        };
        let number = key >> 3;
        let wire_type = (key & 7) as u8;
        if number == 0 || number > u64::from(u32::MAX >> 3) {
            return Err(self.malformed(offset, "invalid field number"));
        }
        if wire_type > I32 {
            return Err(self.malformed(offset, "invalid wire type"));
        }
        Ok(Some(FieldKey {
            offset,
            number: number as u32,
            wire_type,
        }))
    }

    #[inline(always)]
    fn expect(&self, field: FieldKey, wire_type: u8) -> Result<()> {
        if field.wire_type == wire_type {
            Ok(())
        } else {
            Err(self.malformed(field.offset, "wrong wire type for a known field"))
        }
    }

    #[inline(always)]
    fn varint(&mut self) -> Result<u64> {
        // Most varints in a dump are one byte (tags, small lengths): read those inline.
        if let [byte @ 0..=0x7f, ref rest @ ..] = *self.rest {
            self.rest = rest;
            return Ok(u64::from(byte));
        }
        self.long_varint()
    }

    #[inline(never)]
    fn long_varint(&mut self) -> Result<u64> {
        let start = self.offset();
        let mut value = 0u64;
        for i in 0..10 {
            let [byte, ref rest @ ..] = *self.rest else {
                return Err(self.malformed(start, "truncated varint"));
            };
            self.rest = rest;
            if i == 9 && byte > 1 {
                break;
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.malformed(start, "varint longer than 64 bits"))
    }

    /// The next `len` bytes; `at` is where to report them missing.
    #[inline(always)]
    fn take(&mut self, len: usize, at: Offset) -> Result<&'a [u8]> {
        match self.rest.split_at_checked(len) {
            Some((taken, rest)) => {
                self.rest = rest;
                Ok(taken)
            }
            None => Err(self.malformed(at, "truncated field")),
        }
    }

    /// A varint field (int32, int64, uint32, bool, enum).
    fn uint(&mut self, field: FieldKey) -> Result<u64> {
        self.expect(field, VARINT)?;
        self.varint()
    }

    fn fixed64(&mut self, field: FieldKey) -> Result<u64> {
        self.expect(field, I64)?;
        let bytes = self.take(8, field.offset)?;
        Ok(u64::from_le_bytes(bytes.try_into().unwrap_or_default()))
    }

    fn fixed32(&mut self, field: FieldKey) -> Result<u32> {
        self.expect(field, I32)?;
        let bytes = self.take(4, field.offset)?;
        Ok(u32::from_le_bytes(bytes.try_into().unwrap_or_default()))
    }

    /// The payload of a length-delimited field.
    #[inline(always)]
    fn bytes(&mut self, field: FieldKey) -> Result<&'a [u8]> {
        self.expect(field, LEN)?;
        self.length_delimited(field)
    }

    #[inline(always)]
    fn length_delimited(&mut self, field: FieldKey) -> Result<&'a [u8]> {
        let len = self.varint()?;
        self.take(usize::try_from(len).unwrap_or(usize::MAX), field.offset)
    }

    /// A string field, borrowed from the input.
    fn string(&mut self, field: FieldKey) -> Result<Cow<'a, str>> {
        let at = self.offset();
        let bytes = self.bytes(field)?;
        match utf8(bytes) {
            Some(text) => Ok(Cow::Borrowed(text)),
            None => Err(self.malformed(at, "invalid UTF-8 in a string field")),
        }
    }

    /// A guess at how many attributes the rest of a span holds, to size its vector once
    /// instead of growing it: an attribute takes some 30 to 60 bytes on the wire
    /// (`gen_dump`'s spans, the real fixtures); capped so that a span of long prompts, or a
    /// malformed one, reserves little.
    fn attribute_capacity_guess(&self) -> usize {
        const BYTES_PER_ATTRIBUTE: usize = 32;
        const MAX_GUESS: usize = 64;
        (self.rest.len() / BYTES_PER_ATTRIBUTE).min(MAX_GUESS)
    }

    /// A sub-message field of a message whose fields are at `depth`.
    #[inline(always)]
    fn message(&mut self, field: FieldKey, depth: u32) -> Result<Reader<'a>> {
        self.expect(field, LEN)?;
        if depth == 0 {
            return Err(self.malformed(field.offset, "recursion limit reached"));
        }
        let data = self.length_delimited(field)?;
        Ok(Reader {
            rest: data,
            end: self.offset(),
        })
    }

    /// Skips an unknown field of a message whose fields are at `depth`.
    fn skip(&mut self, field: FieldKey, depth: u32) -> Result<()> {
        if depth == 0 {
            return Err(self.malformed(field.offset, "recursion limit reached"));
        }
        match field.wire_type {
            VARINT => self.varint().map(drop),
            I64 => self.take(8, field.offset).map(drop),
            I32 => self.take(4, field.offset).map(drop),
            LEN => self.length_delimited(field).map(drop),
            SGROUP => loop {
                let Some(inner) = self.field()? else {
                    return Err(self.malformed(field.offset, "unterminated group"));
                };
                if inner.wire_type == EGROUP {
                    if inner.number != field.number {
                        return Err(self.malformed(inner.offset, "mismatched end group"));
                    }
                    return Ok(());
                }
                self.skip(inner, depth - 1)?;
            },
            _ => Err(self.malformed(field.offset, "end group outside a group")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::proto::reference;

    fn varint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn key(number: u32, wire_type: u8) -> Vec<u8> {
        let mut out = Vec::new();
        varint(u64::from(number) << 3 | u64::from(wire_type), &mut out);
        out
    }

    fn len(number: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = key(number, LEN);
        varint(payload.len() as u64, &mut out);
        out.extend_from_slice(payload);
        out
    }

    fn uint(number: u32, value: u64) -> Vec<u8> {
        let mut out = key(number, VARINT);
        varint(value, &mut out);
        out
    }

    /// A request with one span made of `span` (the Span message's bytes).
    fn request(span: &[u8]) -> Vec<u8> {
        len(1, &len(2, &len(2, span)))
    }

    /// Decodes with both decoders, asserts they agree, and returns the one-pass result.
    fn decode_checked(msg: &[u8]) -> Result<Batch<'_>> {
        let one_pass = decode_request(msg, 0);
        let reference = reference::decode_message(msg, 0);
        match (&one_pass, &reference) {
            (Ok(a), Ok(b)) => assert_eq!(format!("{a:?}"), format!("{b:?}")),
            (Err(_), Err(_)) => {}
            _ => panic!("one pass {one_pass:?}, reference {reference:?}"),
        }
        one_pass
    }

    fn only_span<'b>(batch: &'b Batch<'_>) -> &'b Span<'b> {
        &batch.resource_spans[0].scope_spans[0].spans[0]
    }

    #[test]
    fn unknown_fields_of_every_wire_type_are_skipped() {
        let mut span = len(5, b"x");
        span.extend(uint(100, 300));
        span.extend(key(101, I64));
        span.extend([1; 8]);
        span.extend(len(102, b"anything"));
        span.extend(key(103, SGROUP));
        span.extend(uint(1, 1));
        span.extend(key(2, SGROUP));
        span.extend(key(2, EGROUP));
        span.extend(key(103, EGROUP));
        span.extend(key(104, I32));
        span.extend([1; 4]);
        span.extend(len(5, b"chat"));
        let msg = request(&span);
        let batch = decode_checked(&msg).unwrap();
        assert_eq!(only_span(&batch).name, "chat");
        assert!(matches!(only_span(&batch).name, Cow::Borrowed(_)));
    }

    #[test]
    fn repeated_singular_messages_merge_and_scalars_take_the_last_value() {
        let kv = |k: &[u8]| len(9, &len(1, k));
        let mut span = len(15, &uint(3, 2)); // status { code: ERROR }
        span.extend(kv(b"a"));
        span.extend(len(15, &len(2, b"why"))); // status { message: "why" }
        span.extend(uint(6, 3));
        span.extend(uint(6, 2)); // kind: last wins
        span.extend(kv(b"b"));
        let msg = request(&span);
        let batch = decode_checked(&msg).unwrap();
        let span = only_span(&batch);
        assert_eq!(span.status.code, StatusCode::Error);
        assert_eq!(span.status.message, "why");
        assert_eq!(span.kind, SpanKind::Server);
        assert_eq!(span.attributes.len(), 2);
    }

    #[test]
    fn repeated_any_value_messages_merge_like_prost() {
        let string = |s: &[u8]| len(1, &len(1, s)); // ArrayValue.values { string_value }
        for value in [
            [len(5, &string(b"a")), len(5, &string(b"b"))].concat(),
            [len(5, &string(b"a")), len(1, b"s"), len(5, &string(b"b"))].concat(),
            [
                len(6, &len(1, &len(1, b"k"))),
                len(6, &len(1, &len(1, b"l"))),
            ]
            .concat(),
            [len(5, &string(b"a")), uint(8, 1)].concat(),
            [
                uint(2, 1),
                len(7, b"\xff"),
                uint(3, u64::MAX),
                key(4, I64),
                [0; 8].to_vec(),
            ]
            .concat(),
        ] {
            let attribute = len(9, &[len(1, b"k"), len(2, &value)].concat());
            decode_checked(&request(&attribute)).unwrap();
        }
    }

    #[test]
    fn key_value_encodings_near_the_fast_path_read_as_prost_reads_them() {
        let string = |n: usize| "s".repeat(n).into_bytes();
        let mut values = Vec::new();
        for n in [0, 1, 125, 126, 127, 128, 200, 16_381, 16_382, 16_384] {
            values.push(len(1, &string(n))); // one string, length prefix of one to three bytes
        }
        let double = |bits: &[u8]| [key(4, I64), bits.to_vec()].concat();
        values.extend([
            uint(2, 0),                                  // bool false
            uint(2, 300),                                // bool true, from a two-byte varint
            uint(3, 5),                                  // int
            uint(3, u64::MAX),                           // int -1, a ten-byte varint
            [key(3, VARINT), vec![0x85, 0x00]].concat(), // int, non-minimal varint
            [key(3, VARINT), vec![0xff; 10]].concat(),   // varint too long
            key(3, VARINT),                              // varint missing
            [uint(3, 1), uint(3, 2)].concat(),           // a repeated int: the last wins
            [uint(3, 1), uint(2, 1)].concat(),           // an int then a bool
            double(&1.5f64.to_le_bytes()),               // double
            double(&[0; 7]),                             // double cut short
            [double(&[0; 8]), vec![0]].concat(),         // double, then a stray byte
            [key(4, VARINT), vec![1]].concat(),          // double with the wrong wire type
            [key(2, I64), vec![0; 8]].concat(),          // bool with the wrong wire type
        ]);
        values.extend([
            [len(1, b"a"), len(1, b"b")].concat(), // a repeated string: the last wins
            [len(1, b"a"), uint(2, 1)].concat(),   // a string then a bool
            [uint(3, 7), len(1, b"a")].concat(),   // an int then a string
            len(1, b"\xff"),                       // not UTF-8
            Vec::new(),                            // an empty AnyValue
        ]);
        for value in &values {
            for key in [&b""[..], b"gen_ai.system", b"\xc3", &[b'k'; 130]] {
                for kv in [
                    [len(1, key), len(2, value)].concat(),
                    [len(2, value), len(1, key)].concat(),
                    [len(1, key), len(2, value), len(1, b"again")].concat(),
                    [len(1, key), len(2, value), uint(3, 1)].concat(),
                    [len(1, key), len(2, value), len(2, &len(1, b"later"))].concat(),
                ] {
                    let _ = decode_checked(&request(&len(ATTRIBUTES, &kv)));
                }
            }
        }
        let shortened = [len(1, b"k"), len(2, &len(1, b"abc"))].concat();
        for cut in 0..shortened.len() {
            let _ = decode_checked(&request(&len(ATTRIBUTES, &shortened[..cut])));
        }
        // Key/value lists nested around the recursion limit (each level is three messages), the
        // innermost entry in the fast path's encoding.
        for depth in 28..36 {
            let mut value = len(1, b"v");
            for _ in 0..depth {
                value = len(6, &len(1, &[len(1, b"k"), len(2, &value)].concat()));
            }
            let _ = decode_checked(&request(&len(
                ATTRIBUTES,
                &[len(1, b"k"), len(2, &value)].concat(),
            )));
        }
        let msg = request(&len(
            ATTRIBUTES,
            &[len(1, b"key"), len(2, &len(1, b"v"))].concat(),
        ));
        let batch = decode_checked(&msg).unwrap();
        let span = only_span(&batch);
        assert_eq!(span.attributes[0].key, "key");
        assert_eq!(span.attributes[0].value, Value::String(Cow::Borrowed("v")));
        assert_eq!(span.attributes[0].offset, 6, "the attribute's tag");
    }

    /// `depth` `AnyValue`s nested in arrays, under one attribute of one span.
    fn nested(depth: usize, innermost: &[u8]) -> Vec<u8> {
        let mut value = innermost.to_vec();
        for _ in 0..depth {
            value = len(5, &len(1, &value));
        }
        request(&len(9, &[len(1, b"k"), len(2, &value)].concat()))
    }

    #[test]
    fn nesting_is_refused_exactly_where_prost_refuses_it() {
        let mut accepted = 0;
        for depth in 40..52 {
            for innermost in [len(1, b"x"), uint(99, 1), Vec::new()] {
                let msg = nested(depth, &innermost);
                accepted += usize::from(decode_checked(&msg).is_ok());
            }
        }
        assert!(
            accepted > 0 && accepted < 36,
            "the limit lies in the range: {accepted}"
        );
        let err = decode_request(&nested(100_000, b""), 0).unwrap_err();
        assert_eq!(err.reason, "recursion limit reached");
    }

    #[test]
    fn malformed_parts_the_model_drops_are_still_errors() {
        let link = |l: &[u8]| request(&len(13, l));
        for msg in [
            link(&len(3, b"\xff")),                     // Link.trace_state not UTF-8
            link(&len(4, &len(1, b"\xc3"))),            // Link attribute key not UTF-8
            link(&uint(6, 1)),                          // Link.flags is fixed32
            request(&len(3, b"\xe2\x82")),              // Span.trace_state
            request(&uint(5, 1)),                       // Span.name as a varint
            request(&len(7, b"12345678")),              // start time as bytes
            len(1, &len(1, &len(3, &len(2, b"\x80")))), // EntityRef.type
            request(&[key(50, SGROUP), key(51, EGROUP)].concat()), // mismatched group
            request(&key(60, EGROUP)),                  // end group outside a group
        ] {
            assert!(decode_checked(&msg).is_err(), "{msg:?}");
        }
    }

    #[test]
    fn strings_short_and_long_ascii_or_not_are_checked_alike() {
        for size in [0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 63, 64, 65, 200] {
            let ascii = "a".repeat(size);
            let accented = "é".repeat(size / 2 + 1);
            for (text, valid) in [
                (ascii.clone().into_bytes(), true),
                (accented.clone().into_bytes(), true),
                ([ascii.as_bytes(), b"\xff"].concat(), false),
                ([b"\xc3", ascii.as_bytes()].concat(), false),
                (
                    [&ascii[..size / 2], "é", &ascii[size / 2..]]
                        .concat()
                        .into_bytes(),
                    true,
                ),
                (
                    [
                        &ascii.as_bytes()[..size / 2],
                        b"\x80",
                        &ascii.as_bytes()[size / 2..],
                    ]
                    .concat(),
                    false,
                ),
                (accented.as_bytes()[1..].to_vec(), false),
            ] {
                let msg = request(&len(5, &text));
                let result = decode_checked(&msg);
                assert_eq!(result.is_ok(), valid, "{size}: {text:?}");
                if let Ok(batch) = result {
                    assert_eq!(only_span(&batch).name.as_bytes(), &text[..]);
                }
            }
        }
    }

    #[test]
    fn invalid_utf8_is_reported_where_the_string_is() {
        let msg = request(&len(5, b"ok\xff"));
        let err = decode_checked(&msg).unwrap_err();
        assert_eq!(err.reason, "invalid UTF-8 in a string field");
        assert_eq!(err.offset, msg.len() - 4, "the string's length prefix");
    }
}
