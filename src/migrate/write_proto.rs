//! The protobuf writer: span plans applied to the wire bytes.
//!
//! A message holding no planned change is copied byte for byte, never walked. In a message that
//! does, only the path down to each changed span is walked (request → `ResourceSpans` →
//! `ScopeSpans` → `Span`, reading field tags and lengths only); every field off that path is
//! copied as it is, unknown fields included. In a changed span the fields the plan replaces are
//! written anew and the others copied: the name (field 5), the attributes (9: a kept attribute is
//! copied, a renamed one gets a new key field and keeps the rest of its bytes, a new one is
//! encoded with prost) and the events (11: removed ones are left out, edited ones get their
//! attributes (3) rewritten the same way). The enclosing messages get their new lengths.
//!
//! A replaced field goes where its first occurrence was, or, when the input had none, before
//! the first field with a higher number, which is where prost puts it: for input prost itself
//! wrote (fields in number order, defaults left out), the output is byte for byte what decoding
//! the message with prost, editing and encoding it again gives, without dropping fields prost
//! does not know.

use std::borrow::Cow;

use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, KeyValue, KeyValueList, any_value,
};
use prost::encoding::encoded_len_varint;

use super::engine::{Item, SpanPlan};
use crate::input::wire::{self, EGROUP, I32, I64, LEN, SGROUP, VARINT};
use crate::model::{Batch, Value};

/// Field numbers on the path from the request to a span's attributes.
mod tag {
    /// `ExportTraceServiceRequest.resource_spans`, `TracesData.resource_spans`.
    pub const RESOURCE_SPANS: u32 = 1;
    /// `ResourceSpans.scope_spans`.
    pub const SCOPE_SPANS: u32 = 2;
    /// `ScopeSpans.spans`.
    pub const SPANS: u32 = 2;
    pub const SPAN_NAME: u32 = 5;
    pub const SPAN_ATTRIBUTES: u32 = 9;
    pub const SPAN_EVENTS: u32 = 11;
    pub const EVENT_ATTRIBUTES: u32 = 3;
    pub const KEY_VALUE_KEY: u32 = 1;
}

type Result<T> = std::result::Result<T, String>;

/// How a message's spans are spread: for each of its resource spans, the span count of each
/// of its scope spans (what [`rewrite_proto`] needs of a parsed message, so the model can be
/// freed before the output is made).
pub type Shape = Vec<Vec<usize>>;

/// The [`Shape`] of a parsed message.
pub fn shape(batch: &Batch<'_>) -> Shape {
    batch
        .resource_spans
        .iter()
        .map(|rs| rs.scope_spans.iter().map(|ss| ss.spans.len()).collect())
        .collect()
}

/// Applies plans to protobuf messages: one message, or 4-byte length-prefixed frames
/// (`framed`). `shapes` are the [`Shape`]s of the messages as read, in order, so a message
/// without a planned change is copied as it is, never walked, and in one that has changes only
/// the way to a changed span is. Data without changes is handed back as it is.
pub fn rewrite_proto<'d, 'b>(
    data: &'d [u8],
    framed: bool,
    shapes: &'b [Shape],
    plans: &[SpanPlan<'_>],
) -> Result<Cow<'d, [u8]>> {
    let mut changing = plans.iter().filter(|p| p.rewrites()).peekable();
    if changing.peek().is_none() {
        return Ok(Cow::Borrowed(data));
    }
    let mut messages = shapes.iter();
    let mut first = 0;
    // The plans of the spans of the next message, in span order.
    let mut message_plans = |shape: &'b Shape| {
        let count: usize = shape.iter().flatten().sum();
        let mut mine = Vec::new();
        while let Some(plan) = changing.next_if(|p| p.index < first + count) {
            mine.push(plan);
        }
        let message = MessagePlans {
            first,
            plans: mine,
            shape,
        };
        first += count;
        message
    };
    if !framed {
        let shape = messages.next().ok_or("no protobuf message was parsed")?;
        let plans = message_plans(shape);
        let mut out = Out::new(data);
        Editor::new(&plans).request(data, &mut out)?;
        return Ok(Cow::Owned(out.finish()));
    }
    let mut out = Out::new(data);
    let mut pos = 0;
    while let Some(frame) = wire::frame_at(data, pos).map_err(|e| e.message)? {
        let header = frame.offset - 4;
        pos = frame.offset + frame.data.len();
        let shape = messages
            .next()
            .ok_or("more protobuf messages than were parsed")?;
        let plans = message_plans(shape);
        if plans.plans.is_empty() {
            out.keep(&data[header..pos]);
            continue;
        }
        // The length prefix is filled in once the message is written.
        let start = out.bytes().len();
        out.bytes().extend_from_slice(&[0; 4]);
        Editor::new(&plans).request(frame.data, &mut out)?;
        let bytes = out.bytes();
        let len = u32::try_from(bytes.len() - start - 4)
            .map_err(|_| "a rewritten protobuf message is over 4 GiB".to_string())?;
        bytes[start..start + 4].copy_from_slice(&len.to_be_bytes());
    }
    Ok(Cow::Owned(out.finish()))
}

/// The output being written: new bytes, and runs of input bytes kept as they were. Fields
/// kept one after the other (the spans around a changed one, a changed span's other fields,
/// its kept attributes) usually lie next to each other in the input too, and are then copied
/// in one piece when something else is written, not one by one.
struct Out<'d> {
    bytes: Vec<u8>,
    /// The input every kept slice is part of.
    data: &'d [u8],
    /// The kept input bytes not copied yet, as a range of `data`.
    run: std::ops::Range<usize>,
}

impl<'d> Out<'d> {
    fn new(data: &'d [u8]) -> Self {
        Out {
            bytes: Vec::with_capacity(data.len() + 1024),
            data,
            run: 0..0,
        }
    }

    /// Keeps `kept` (a part of the input) as it is.
    #[inline]
    fn keep(&mut self, kept: &'d [u8]) {
        // Where `kept` starts in `data` (every slice kept is one of its parts).
        let start = (kept.as_ptr() as usize).wrapping_sub(self.data.as_ptr() as usize);
        match start.checked_add(kept.len()) {
            Some(end) if end <= self.data.len() && start == self.run.end => self.run.end = end,
            Some(end) if end <= self.data.len() => {
                self.flush();
                self.run = start..end;
            }
            _ => {
                self.flush();
                self.bytes.extend_from_slice(kept);
            }
        }
    }

    /// The output so far, kept bytes included, to write new bytes after.
    #[inline]
    fn bytes(&mut self) -> &mut Vec<u8> {
        self.flush();
        &mut self.bytes
    }

    fn flush(&mut self) {
        if !self.run.is_empty() {
            self.bytes.extend_from_slice(&self.data[self.run.clone()]);
        }
        self.run = 0..0;
    }

    fn finish(mut self) -> Vec<u8> {
        self.flush();
        self.bytes
    }
}

/// The plans of one message's spans.
struct MessagePlans<'p, 'a, 'b> {
    /// The index (in the piece) of the message's first span.
    first: usize,
    /// In span order.
    plans: Vec<&'p SpanPlan<'a>>,
    /// The message as read: its resource spans and scope spans are its fields, in order.
    shape: &'b Shape,
}

/// Walks one message, span by span, writing its new bytes.
struct Editor<'m, 'p, 'a, 'b> {
    plans: &'m MessagePlans<'p, 'a, 'b>,
    /// The index (in the message) of the next span met.
    next_span: usize,
    /// The next plan to apply.
    next_plan: usize,
}

impl<'m, 'p, 'a, 'b> Editor<'m, 'p, 'a, 'b> {
    fn new(plans: &'m MessagePlans<'p, 'a, 'b>) -> Self {
        Editor {
            plans,
            next_span: 0,
            next_plan: 0,
        }
    }

    /// Whether a plan applies to one of the next `count` spans.
    fn changes_within(&self, count: usize) -> bool {
        self.plans
            .plans
            .get(self.next_plan)
            .is_some_and(|p| p.index - self.plans.first < self.next_span + count)
    }

    /// The plan of the next span, if any; moves on to the span after it.
    fn take_span(&mut self) -> Option<&'p SpanPlan<'a>> {
        let index = self.next_span;
        self.next_span += 1;
        let plan = *self.plans.plans.get(self.next_plan)?;
        (plan.index - self.plans.first == index).then(|| {
            self.next_plan += 1;
            plan
        })
    }

    fn request<'d>(&mut self, msg: &'d [u8], out: &mut Out<'d>) -> Result<()> {
        let mut resources = self.plans.shape.iter();
        for field in Fields::new(msg) {
            let field = field?;
            if field.is(tag::RESOURCE_SPANS) {
                let resource = resources.next().ok_or(NOT_AS_READ)?;
                let count = resource.iter().sum();
                if self.changes_within(count) {
                    nested(out, &field, |out| {
                        self.resource_spans(field.data, resource, out)
                    })?;
                    continue;
                }
                self.next_span += count;
            }
            out.keep(field.raw);
        }
        Ok(())
    }

    /// `scopes`: the span count of each of its scope spans.
    fn resource_spans<'d>(
        &mut self,
        msg: &'d [u8],
        scopes: &[usize],
        out: &mut Out<'d>,
    ) -> Result<()> {
        let mut scopes = scopes.iter();
        for field in Fields::new(msg) {
            let field = field?;
            if field.is(tag::SCOPE_SPANS) {
                let count = *scopes.next().ok_or(NOT_AS_READ)?;
                if self.changes_within(count) {
                    nested(out, &field, |out| self.scope_spans(field.data, out))?;
                    continue;
                }
                self.next_span += count;
            }
            out.keep(field.raw);
        }
        Ok(())
    }

    fn scope_spans<'d>(&mut self, msg: &'d [u8], out: &mut Out<'d>) -> Result<()> {
        for field in Fields::new(msg) {
            let field = field?;
            if field.is(tag::SPANS)
                && let Some(plan) = self.take_span()
            {
                nested(out, &field, |out| span(field.data, plan, out))?;
                continue;
            }
            out.keep(field.raw);
        }
        Ok(())
    }
}

/// The message does not hold what was read from it.
const NOT_AS_READ: &str = "the protobuf message differs from the one read";

/// Writes a changed span: its new name, attributes and events, every other field as it was.
fn span<'d>(msg: &'d [u8], plan: &SpanPlan<'_>, out: &mut Out<'d>) -> Result<()> {
    let fields = fields_of(msg)?;
    let attributes = occurrences(&fields, tag::SPAN_ATTRIBUTES);
    let edits_events = !plan.events.is_empty() || !plan.removed_events.is_empty();
    // Each replaced field's slot: where the new bytes go.
    let name_slot = plan.name.as_ref().map(|_| slot(&fields, tag::SPAN_NAME));
    let attributes_slot = plan
        .attributes
        .as_ref()
        .map(|_| slot(&fields, tag::SPAN_ATTRIBUTES));
    let mut event = 0;
    for (i, field) in fields.iter().enumerate() {
        if name_slot == Some(i)
            && let Some(name) = &plan.name
        {
            string_field(out.bytes(), tag::SPAN_NAME, name);
        }
        if attributes_slot == Some(i)
            && let Some(items) = &plan.attributes
        {
            key_values(out, tag::SPAN_ATTRIBUTES, &attributes, items)?;
        }
        match field.number {
            tag::SPAN_NAME if plan.name.is_some() => {}
            tag::SPAN_ATTRIBUTES if plan.attributes.is_some() => {}
            tag::SPAN_EVENTS if edits_events && field.wire_type == LEN => {
                let e = event;
                event += 1;
                if plan.removed_events.contains(&e) {
                    continue;
                }
                match plan.events.iter().find(|(i, _)| *i == e) {
                    Some((_, items)) => {
                        nested(out, field, |out| event_attributes(field.data, items, out))?
                    }
                    None => out.keep(field.raw),
                }
            }
            _ => out.keep(field.raw),
        }
    }
    // Slots past the last field.
    if name_slot == Some(fields.len())
        && let Some(name) = &plan.name
    {
        string_field(out.bytes(), tag::SPAN_NAME, name);
    }
    if attributes_slot == Some(fields.len())
        && let Some(items) = &plan.attributes
    {
        key_values(out, tag::SPAN_ATTRIBUTES, &attributes, items)?;
    }
    Ok(())
}

/// Writes a span event with a new attribute list, every other field as it was.
fn event_attributes<'d>(msg: &'d [u8], items: &[Item<'_>], out: &mut Out<'d>) -> Result<()> {
    let fields = Fields::new(msg).collect::<Result<Vec<_>>>()?;
    let attributes = occurrences(&fields, tag::EVENT_ATTRIBUTES);
    let at = slot(&fields, tag::EVENT_ATTRIBUTES);
    for (i, field) in fields.iter().enumerate() {
        if at == i {
            key_values(out, tag::EVENT_ATTRIBUTES, &attributes, items)?;
        }
        if field.number != tag::EVENT_ATTRIBUTES {
            out.keep(field.raw);
        }
    }
    if at == fields.len() {
        key_values(out, tag::EVENT_ATTRIBUTES, &attributes, items)?;
    }
    Ok(())
}

/// Writes a rewritten attribute list as repeated `number` fields: kept attributes as they
/// were, renamed ones with a new key, new ones encoded. `old` are the original attributes, in
/// the order the model numbers them.
fn key_values<'d>(
    out: &mut Out<'d>,
    number: u32,
    old: &[&Field<'d>],
    items: &[Item<'_>],
) -> Result<()> {
    let old_one = |i: usize| {
        old.get(i)
            .copied()
            .ok_or_else(|| format!("attribute {i} not found in the protobuf span"))
    };
    for item in items {
        match item {
            Item::Keep(i) => out.keep(old_one(*i)?.raw),
            Item::Rename(i, key) => {
                let field = old_one(*i)?;
                nested(out, field, |out| renamed_key_value(field.data, key, out))?;
            }
            Item::New(key, value) => {
                let out = out.bytes();
                encode_varint(u64::from(number << 3 | u32::from(LEN)), out);
                encode_varint(key_value_len(key, value) as u64, out);
                encode_key_value(key, value, out);
            }
        }
    }
    Ok(())
}

/// A `KeyValue` under a new key: its key field replaced, the rest (the value, any other field)
/// as it was. `msg` was read before, so its fields are well formed.
fn renamed_key_value<'d>(msg: &'d [u8], key: &str, out: &mut Out<'d>) -> Result<()> {
    // The usual layout (prost's: the key, then the value): the new key, then the rest copied
    // in one piece, when it holds no other key field.
    let mut fields = Fields::new(msg);
    if let Some(first) = fields.next().transpose()?
        && first.number == tag::KEY_VALUE_KEY
    {
        let rest_at = fields.pos;
        let mut more_keys = false;
        for field in fields {
            more_keys |= field?.number == tag::KEY_VALUE_KEY;
        }
        if !more_keys {
            string_field(out.bytes(), tag::KEY_VALUE_KEY, key);
            out.keep(&msg[rest_at..]);
            return Ok(());
        }
    }
    let fields = Fields::new(msg).collect::<Result<Vec<_>>>()?;
    let at = slot(&fields, tag::KEY_VALUE_KEY);
    for (i, field) in fields.iter().enumerate() {
        if at == i {
            string_field(out.bytes(), tag::KEY_VALUE_KEY, key);
        }
        if field.number != tag::KEY_VALUE_KEY {
            out.keep(field.raw);
        }
    }
    if at == fields.len() {
        string_field(out.bytes(), tag::KEY_VALUE_KEY, key);
    }
    Ok(())
}

/// Appends `value` as a varint, as prost does; tags and most lengths are one byte, written
/// here without a call.
#[inline]
fn encode_varint(value: u64, out: &mut Vec<u8>) {
    match u8::try_from(value) {
        Ok(byte @ 0..=0x7f) => out.push(byte),
        _ => prost::encoding::encode_varint(value, out),
    }
}

/// A string field, left out when empty (as prost writes a proto3 string).
fn string_field(out: &mut Vec<u8>, number: u32, value: &str) {
    if value.is_empty() {
        return;
    }
    encode_varint(u64::from(number << 3 | u32::from(LEN)), out);
    encode_varint(value.len() as u64, out);
    out.extend_from_slice(value.as_bytes());
}

/// Writes the length-delimited `field` (its tag as it was) with the content `write` appends;
/// the length is filled in afterwards. Room is kept for a length as long as the old one, so
/// the content moves only when its length needs another number of bytes.
fn nested<'d>(
    out: &mut Out<'d>,
    field: &Field<'_>,
    write: impl FnOnce(&mut Out<'d>) -> Result<()>,
) -> Result<()> {
    let bytes = out.bytes();
    encode_varint(u64::from(field.number << 3 | u32::from(LEN)), bytes);
    let at = bytes.len();
    let room = encoded_len_varint(field.data.len() as u64);
    bytes.resize(at + room, 0);
    write(out)?;
    let out = out.bytes();
    let len = (out.len() - at - room) as u64;
    let mut prefix = [0u8; 10];
    let mut buf = &mut prefix[..];
    prost::encoding::encode_varint(len, &mut buf);
    let prefix = &prefix[..encoded_len_varint(len)];
    if prefix.len() == room {
        out[at..at + room].copy_from_slice(prefix);
    } else {
        out.splice(at..at + room, prefix.iter().copied());
    }
    Ok(())
}

/// One field of a message as written.
#[derive(Debug, Clone, Copy)]
struct Field<'m> {
    number: u32,
    wire_type: u8,
    /// The whole field: tag, length and payload.
    raw: &'m [u8],
    /// The payload of a length-delimited field (empty for other wire types).
    data: &'m [u8],
}

impl Field<'_> {
    /// Whether this is the length-delimited field `number`.
    fn is(&self, number: u32) -> bool {
        self.number == number && self.wire_type == LEN
    }
}

/// The fields of a message, read one by one without allocating. The message was read before
/// (the reader accepts exactly what prost accepts), so this only splits it; it still never
/// reads past the end, and stops at the first malformed field.
struct Fields<'m> {
    msg: &'m [u8],
    pos: usize,
}

impl<'m> Fields<'m> {
    fn new(msg: &'m [u8]) -> Self {
        Fields { msg, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64> {
        // Most tags and lengths fit one byte: read without the general reader's call.
        if let Some(&byte) = self.msg.get(self.pos)
            && byte < 0x80
        {
            self.pos += 1;
            return Ok(u64::from(byte));
        }
        wire::read_varint(self.msg, &mut self.pos, 0).map_err(|e| e.message)
    }

    /// Skips `len` bytes.
    fn skip(&mut self, len: u64) -> Result<()> {
        let end = usize::try_from(len)
            .ok()
            .and_then(|len| self.pos.checked_add(len))
            .filter(|&end| end <= self.msg.len())
            .ok_or("truncated protobuf field")?;
        self.pos = end;
        Ok(())
    }

    /// Skips the value of a field of this wire type (a group up to its end).
    fn skip_value(&mut self, wire_type: u8) -> Result<()> {
        let mut depth = 0usize;
        let mut wire_type = wire_type;
        loop {
            match wire_type {
                VARINT => drop(self.varint()?),
                I64 => self.skip(8)?,
                I32 => self.skip(4)?,
                LEN => {
                    let len = self.varint()?;
                    self.skip(len)?;
                }
                SGROUP => depth += 1,
                EGROUP if depth > 0 => depth -= 1,
                _ => return Err(format!("bad protobuf wire type {wire_type}")),
            }
            if depth == 0 {
                return Ok(());
            }
            wire_type = (self.varint()? & 7) as u8;
        }
    }

    #[inline]
    fn field(&mut self) -> Result<Field<'m>> {
        let start = self.pos;
        // The commonest field, read at once: a length-delimited one with a one-byte tag and a
        // one-byte length (a short string, a small attribute).
        if let Some(&[key, len]) = self.msg.get(start..start + 2)
            && key < 0x80
            && key & 7 == LEN
            && len < 0x80
            && let Some(raw) = self.msg.get(start..start + 2 + usize::from(len))
        {
            self.pos += raw.len();
            return Ok(Field {
                number: u32::from(key >> 3),
                wire_type: LEN,
                raw,
                data: &raw[2..],
            });
        }
        let key = self.varint()?;
        let wire_type = (key & 7) as u8;
        let number = u32::try_from(key >> 3).map_err(|_| "bad protobuf field number")?;
        let data = match wire_type {
            LEN => {
                let len = self.varint()?;
                let from = self.pos;
                self.skip(len)?;
                &self.msg[from..self.pos]
            }
            _ => {
                self.skip_value(wire_type)?;
                &[][..]
            }
        };
        Ok(Field {
            number,
            wire_type,
            raw: &self.msg[start..self.pos],
            data,
        })
    }
}

impl<'m> Iterator for Fields<'m> {
    type Item = Result<Field<'m>>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.msg.len() {
            return None;
        }
        let field = self.field();
        if field.is_err() {
            // Nothing after a malformed field can be read.
            self.pos = self.msg.len();
        }
        Some(field)
    }
}

/// The fields of a message, in order. Room is made for about as many as the message can
/// hold (a field takes a few bytes, an attribute tens), so the list seldom grows.
fn fields_of(msg: &[u8]) -> Result<Vec<Field<'_>>> {
    let mut fields = Vec::with_capacity((msg.len() / 32 + 8).min(256));
    for field in Fields::new(msg) {
        fields.push(field?);
    }
    Ok(fields)
}

/// The occurrences of a repeated message field, in order.
fn occurrences<'f, 'm>(fields: &'f [Field<'m>], number: u32) -> Vec<&'f Field<'m>> {
    // Sized once: most of a span's fields are its attributes.
    let mut found = Vec::with_capacity(fields.len());
    found.extend(fields.iter().filter(|f| f.is(number)));
    found
}

/// Where a replaced field `number` goes, as an index into `fields` (`fields.len()`: at the
/// end): at its first occurrence, else before the first field with a higher number.
fn slot(fields: &[Field<'_>], number: u32) -> usize {
    fields
        .iter()
        .position(|f| f.number == number)
        .or_else(|| fields.iter().position(|f| f.number > number))
        .unwrap_or(fields.len())
}

/// `AnyValue` field numbers (its `value` oneof).
mod any {
    pub const STRING: u32 = 1;
    pub const BOOL: u32 = 2;
    pub const INT: u32 = 3;
    pub const DOUBLE: u32 = 4;
    pub const ARRAY: u32 = 5;
    pub const KVLIST: u32 = 6;
    pub const BYTES: u32 = 7;
    /// `ArrayValue.values`, `KeyValueList.values`.
    pub const VALUES: u32 = 1;
    /// `KeyValue.value`.
    pub const KEY_VALUE_VALUE: u32 = 2;
}

/// The encoded length of a length-delimited field of `len` bytes, tag included (field numbers
/// here are under 16: one byte of tag).
fn len_field_len(len: usize) -> usize {
    1 + encoded_len_varint(len as u64) + len
}

/// The encoded length of a `KeyValue { key, value: Some(value) }`, as prost computes it: the
/// key left out when empty, the value always there (a oneof member even when it is a default).
fn key_value_len(key: &str, value: &Value<'_>) -> usize {
    let key = if key.is_empty() {
        0
    } else {
        len_field_len(key.len())
    };
    key + len_field_len(any_value_len(value))
}

fn any_value_len(value: &Value<'_>) -> usize {
    match value {
        Value::Empty => 0,
        Value::String(s) => len_field_len(s.len()),
        Value::Bool(_) => 2,
        Value::Int(i) => 1 + encoded_len_varint(*i as u64),
        Value::Double(_) => 9,
        Value::Bytes(b) => len_field_len(b.len()),
        Value::Array(items) => len_field_len(array_len(items)),
        Value::KvList(kvs) => len_field_len(kv_list_len(kvs)),
    }
}

fn array_len(items: &[Value<'_>]) -> usize {
    items.iter().map(|v| len_field_len(any_value_len(v))).sum()
}

fn kv_list_len(kvs: &[crate::model::Attribute<'_>]) -> usize {
    kvs.iter()
        .map(|kv| len_field_len(key_value_len(&kv.key, &kv.value)))
        .sum()
}

/// A length-delimited field's tag and length.
fn len_header(out: &mut Vec<u8>, number: u32, len: usize) {
    encode_varint(u64::from(number << 3 | u32::from(LEN)), out);
    encode_varint(len as u64, out);
}

/// Encodes a `KeyValue` (its fields, without its own tag and length) straight from the model
/// value: the bytes prost writes for `KeyValue { key, value: Some(any_value(value)) }`, without
/// copying the value into prost's types first.
fn encode_key_value(key: &str, value: &Value<'_>, out: &mut Vec<u8>) {
    string_field(out, tag::KEY_VALUE_KEY, key);
    len_header(out, any::KEY_VALUE_VALUE, any_value_len(value));
    encode_any_value(value, out);
}

/// Encodes an `AnyValue`'s fields (see [`encode_key_value`]).
fn encode_any_value(value: &Value<'_>, out: &mut Vec<u8>) {
    let varint_tag = |number: u32| u64::from(number << 3 | u32::from(VARINT));
    match value {
        Value::Empty => {}
        Value::String(s) => {
            len_header(out, any::STRING, s.len());
            out.extend_from_slice(s.as_bytes());
        }
        Value::Bool(b) => {
            encode_varint(varint_tag(any::BOOL), out);
            encode_varint(u64::from(*b), out);
        }
        Value::Int(i) => {
            encode_varint(varint_tag(any::INT), out);
            encode_varint(*i as u64, out);
        }
        Value::Double(d) => {
            encode_varint(u64::from(any::DOUBLE << 3 | u32::from(I64)), out);
            out.extend_from_slice(&d.to_le_bytes());
        }
        Value::Bytes(b) => {
            len_header(out, any::BYTES, b.len());
            out.extend_from_slice(b);
        }
        Value::Array(items) => {
            len_header(out, any::ARRAY, array_len(items));
            for item in items {
                len_header(out, any::VALUES, any_value_len(item));
                encode_any_value(item, out);
            }
        }
        Value::KvList(kvs) => {
            len_header(out, any::KVLIST, kv_list_len(kvs));
            for kv in kvs {
                len_header(out, any::VALUES, key_value_len(&kv.key, &kv.value));
                encode_key_value(&kv.key, &kv.value, out);
            }
        }
    }
}

/// A model value as a protobuf `AnyValue`.
pub fn any_value(value: &Value<'_>) -> AnyValue {
    use any_value::Value as V;
    let v = match value {
        Value::Empty => None,
        Value::String(s) => Some(V::StringValue(s.to_string())),
        Value::Bool(b) => Some(V::BoolValue(*b)),
        Value::Int(i) => Some(V::IntValue(*i)),
        Value::Double(d) => Some(V::DoubleValue(*d)),
        Value::Bytes(b) => Some(V::BytesValue(b.clone())),
        Value::Array(items) => Some(V::ArrayValue(ArrayValue {
            values: items.iter().map(any_value).collect(),
        })),
        Value::KvList(kvs) => Some(V::KvlistValue(KeyValueList {
            values: kvs
                .iter()
                .map(|kv| KeyValue {
                    key: kv.key.to_string(),
                    value: Some(any_value(&kv.value)),
                    ..KeyValue::default()
                })
                .collect(),
        })),
    };
    AnyValue { value: v }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message as _;

    use super::*;
    use crate::input::{InputFormat, LoadedFile};
    use crate::migrate::mapping::MappingFile;
    use crate::migrate::{ContentAction, Migrator, Options};
    use crate::rules::Ruleset;

    #[test]
    fn new_key_values_are_encoded_as_prost_encodes_them() {
        use crate::model::Attribute;
        let kv = |key: &str, value: Value<'static>| Attribute {
            key: Cow::Owned(key.to_string()),
            value,
            offset: 0,
        };
        let long = "x".repeat(300);
        let values = vec![
            Value::Empty,
            Value::String(Cow::Borrowed("")),
            Value::String(Cow::Borrowed("gpt-4o")),
            Value::String(Cow::Owned(long.clone())),
            Value::Bool(false),
            Value::Bool(true),
            Value::Int(0),
            Value::Int(-1),
            Value::Int(i64::MAX),
            Value::Double(0.0),
            Value::Double(-0.5),
            Value::Bytes(Vec::new()),
            Value::Bytes(vec![0, 1, 2]),
            Value::Array(Vec::new()),
            Value::Array(vec![
                Value::String(Cow::Borrowed("stop")),
                Value::Empty,
                Value::Array(vec![Value::Int(3), Value::Double(1.5)]),
            ]),
            Value::KvList(vec![
                kv("", Value::Int(1)),
                kv("a", Value::String(Cow::Owned(long))),
                kv("b", Value::KvList(vec![kv("c", Value::Empty)])),
            ]),
        ];
        for key in ["", "gen_ai.request.model"] {
            for value in &values {
                let prost_kv = KeyValue {
                    key: key.to_string(),
                    value: Some(any_value(value)),
                    ..KeyValue::default()
                };
                let mut out = Vec::new();
                encode_key_value(key, value, &mut out);
                assert_eq!(out, prost_kv.encode_to_vec(), "{key:?} = {value:?}");
                assert_eq!(key_value_len(key, value), prost_kv.encoded_len());
            }
        }
    }

    /// The protobuf dumps the tests migrate: the real ones, and the hand-written event
    /// fixtures encoded by prost.
    fn dumps() -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir("fixtures/real").unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "pb") {
                out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
            }
        }
        for name in ["content-events", "message-events", "vercel-stream-events"] {
            let path = format!("fixtures/migrate/{name}.jsonl");
            let text = std::fs::read_to_string(&path).unwrap();
            let request: ExportTraceServiceRequest = serde_json::from_str(&text).unwrap();
            out.push((path, request.encode_to_vec()));
        }
        out.sort();
        out
    }

    fn migrators() -> Vec<Migrator> {
        let options = [
            Options::default(),
            Options {
                dual_emit: true,
                ..Options::default()
            },
            Options {
                content: ContentAction::Hash,
                ..Options::default()
            },
            Options {
                content: ContentAction::Drop,
                squatter_namespace: Some("acme".to_string()),
                ..Options::default()
            },
        ];
        options
            .into_iter()
            .map(|o| Migrator::new(Ruleset::builtin(), MappingFile::builtin(), o).unwrap())
            .collect()
    }

    /// The wire edit of `data` and, as the oracle, prost's decode/edit/encode of each message
    /// (what `migrate` wrote before the wire edit).
    fn both(data: &[u8], framed: bool, migrator: &Migrator) -> (Vec<u8>, Vec<u8>) {
        let file = LoadedFile::from_bytes("t", data.to_vec(), InputFormat::Proto).unwrap();
        let batches = file
            .batches()
            .collect::<std::result::Result<Vec<_>, _>>()
            .unwrap();
        let plans = migrator.plan(&batches);
        let shapes: Vec<Shape> = batches.iter().map(shape).collect();
        let spans: Vec<usize> = shapes.iter().map(|s| s.iter().flatten().sum()).collect();
        let edited = rewrite_proto(data, framed, &shapes, &plans).unwrap();
        let messages: Vec<&[u8]> = match framed {
            true => wire::exact_frames(data)
                .unwrap()
                .iter()
                .map(|f| f.data)
                .collect(),
            false => vec![data],
        };
        let mut first = 0;
        let mut oracle = Vec::new();
        for (message, count) in messages.iter().zip(&spans) {
            let mine: Vec<&SpanPlan<'_>> = plans
                .iter()
                .filter(|p| p.rewrites() && (first..first + count).contains(&p.index))
                .collect();
            let encoded = if mine.is_empty() {
                message.to_vec()
            } else {
                prost_rewrite(message, first, &mine)
            };
            match framed {
                true => oracle.extend(wire::join_frames(&[encoded])),
                false => oracle.extend(encoded),
            }
            first += count;
        }
        (edited.into_owned(), oracle)
    }

    /// The former writer: the message decoded by prost, the plans applied, encoded again.
    fn prost_rewrite(msg: &[u8], first: usize, plans: &[&SpanPlan<'_>]) -> Vec<u8> {
        let mut request = ExportTraceServiceRequest::decode(msg).unwrap();
        let spans = request
            .resource_spans
            .iter_mut()
            .flat_map(|rs| &mut rs.scope_spans)
            .flat_map(|ss| &mut ss.spans);
        for (index, span) in spans.enumerate() {
            let Some(plan) = plans.iter().find(|p| p.index == first + index) else {
                continue;
            };
            if let Some(name) = &plan.name {
                span.name = name.clone();
            }
            if let Some(items) = &plan.attributes {
                span.attributes = rebuild(&span.attributes, items);
            }
            for (e, items) in &plan.events {
                let event = &mut span.events[*e];
                event.attributes = rebuild(&event.attributes, items);
            }
            let mut e = 0;
            span.events.retain(|_| {
                e += 1;
                !plan.removed_events.contains(&(e - 1))
            });
        }
        request.encode_to_vec()
    }

    fn rebuild(old: &[KeyValue], items: &[Item<'_>]) -> Vec<KeyValue> {
        items
            .iter()
            .map(|item| match item {
                Item::Keep(i) => old[*i].clone(),
                Item::Rename(i, key) => KeyValue {
                    key: key.clone(),
                    ..old[*i].clone()
                },
                Item::New(key, value) => KeyValue {
                    key: key.clone(),
                    value: Some(any_value(value)),
                    ..KeyValue::default()
                },
            })
            .collect()
    }

    #[test]
    fn prost_encoded_dumps_come_out_as_prost_would_write_them() {
        let mut changed = 0;
        for migrator in migrators() {
            for (name, data) in dumps() {
                let (edited, oracle) = both(&data, false, &migrator);
                assert!(
                    edited == oracle,
                    "{name}: the wire edit differs from prost's"
                );
                changed += usize::from(edited != data);
            }
        }
        assert!(changed > 20, "only {changed} dumps changed");
    }

    #[test]
    fn framed_messages_are_edited_one_by_one() {
        let dumps = dumps();
        let messages: Vec<&[u8]> = dumps.iter().map(|(_, d)| d.as_slice()).collect();
        // The latest-content dumps need no change: their frames are copied.
        let stream = wire::join_frames(&messages);
        for migrator in migrators() {
            let (edited, oracle) = both(&stream, true, &migrator);
            assert!(
                edited == oracle,
                "the framed wire edit differs from prost's"
            );
        }
    }

    /// A span without name, attributes or event attributes gets them where prost puts them:
    /// after the fields with lower numbers, before those with higher ones.
    #[test]
    fn fields_the_input_lacks_go_where_prost_puts_them() {
        use opentelemetry_proto::tonic::trace::v1::{
            ResourceSpans, ScopeSpans, Span, Status, span,
        };
        let span = Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            kind: 3,
            start_time_unix_nano: 5,
            end_time_unix_nano: 6,
            events: vec![span::Event {
                time_unix_nano: 7,
                name: "e".to_string(),
                ..span::Event::default()
            }],
            status: Some(Status {
                code: 2,
                ..Status::default()
            }),
            flags: 256,
            ..Span::default()
        };
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![span.clone(), span],
                    ..ScopeSpans::default()
                }],
                ..ResourceSpans::default()
            }],
        };
        let data = request.encode_to_vec();
        let file = LoadedFile::from_bytes("t", data.clone(), InputFormat::Proto).unwrap();
        let batches = file
            .batches()
            .collect::<std::result::Result<Vec<_>, _>>()
            .unwrap();
        let new = |key: &str, value: Value<'static>| Item::New(key.to_string(), value);
        let plan = SpanPlan {
            index: 1,
            trace_id: String::new(),
            span_id: String::new(),
            old_name: String::new(),
            name: Some("chat gpt-4".to_string()),
            attributes: Some(vec![new(
                "gen_ai.operation.name",
                Value::String("chat".into()),
            )]),
            events: vec![(0, vec![new("n", Value::Int(1))])],
            removed_events: Vec::new(),
            changes: Vec::new(),
        };
        let shapes: Vec<Shape> = batches.iter().map(shape).collect();
        let edited = rewrite_proto(&data, false, &shapes, std::slice::from_ref(&plan)).unwrap();
        assert!(edited.as_ref() == prost_rewrite(&data, 0, &[&plan]).as_slice());
    }

    /// An unknown varint field (number 111) appended to a message.
    const UNKNOWN: [u8; 3] = [0xf8, 0x06, 0x2a];

    /// `msg` with [`UNKNOWN`] appended to the request, every resource and scope span, span and
    /// span attribute.
    fn with_unknown_fields(msg: &[u8]) -> Vec<u8> {
        fn walk(msg: &[u8], depth: usize) -> Vec<u8> {
            // The fields leading to spans, then to span attributes.
            let path: &[u32] = &[1, 2, 2, 9];
            let mut out = Vec::new();
            for field in Fields::new(msg) {
                let field = field.unwrap();
                if depth < path.len() && field.is(path[depth]) {
                    let inner = walk(field.data, depth + 1);
                    encode_varint(u64::from(field.number << 3 | 2), &mut out);
                    encode_varint(inner.len() as u64, &mut out);
                    out.extend(inner);
                } else {
                    out.extend_from_slice(field.raw);
                }
            }
            out.extend(UNKNOWN);
            out
        }
        walk(msg, 0)
    }

    /// How many messages at each level down to span attributes end with [`UNKNOWN`].
    fn unknown_fields_per_level(msg: &[u8]) -> [usize; 5] {
        fn walk(msg: &[u8], depth: usize, counts: &mut [usize; 5]) {
            let path: &[u32] = &[1, 2, 2, 9];
            counts[depth] += usize::from(msg.ends_with(&UNKNOWN));
            for field in Fields::new(msg) {
                let field = field.unwrap();
                if depth < path.len() && field.is(path[depth]) {
                    walk(field.data, depth + 1, counts);
                }
            }
        }
        let mut counts = [0; 5];
        walk(msg, 0, &mut counts);
        counts
    }

    #[test]
    fn unknown_fields_survive() {
        let migrator = &migrators()[0];
        for (name, data) in dumps() {
            let unknown = with_unknown_fields(&data);
            let (edited, _) = both(&unknown, false, migrator);
            let (_, oracle) = both(&data, false, migrator);
            // prost skips unknown fields: the same request as without them.
            assert_eq!(
                ExportTraceServiceRequest::decode(edited.as_slice()).unwrap(),
                ExportTraceServiceRequest::decode(oracle.as_slice()).unwrap(),
                "{name}"
            );
            let before = unknown_fields_per_level(&unknown);
            let after = unknown_fields_per_level(&edited);
            // Every message keeps its unknown field.
            assert_eq!(before[..4], after[..4], "{name}");
            // Attributes that were there before keep theirs, new ones have none.
            let file = LoadedFile::from_bytes("t", data.clone(), InputFormat::Proto).unwrap();
            let batches = file
                .batches()
                .collect::<std::result::Result<Vec<_>, _>>()
                .unwrap();
            let plans = migrator.plan(&batches);
            let spans = batches
                .iter()
                .flat_map(|b| &b.resource_spans)
                .flat_map(|rs| &rs.scope_spans)
                .flat_map(|ss| &ss.spans);
            let old_attributes: usize = spans
                .enumerate()
                .map(|(i, span)| {
                    match plans
                        .iter()
                        .find(|p| p.index == i)
                        .and_then(|p| p.attributes.as_ref())
                    {
                        Some(items) => items.iter().filter(|x| !matches!(x, Item::New(..))).count(),
                        None => span.attributes.len(),
                    }
                })
                .sum();
            assert_eq!(after[4], old_attributes, "{name}");
        }
    }
}
