//! A span's recorded messages (`gen_ai.input.messages`, `gen_ai.output.messages`,
//! `gen_ai.system_instructions`, on the span and its events), parsed once for every rule that
//! reads them: `invalid-message-content` checks their structure, `content-recorded` whether they
//! hold content, and the trace index takes the tool calls they request
//! ([`SpanContext::messages`](super::SpanContext::messages)). Parsing is the costly part (a
//! message attribute is often kilobytes of JSON text), so it is done once per attribute.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::key_facts::KeyFacts;
use crate::model::{Attribute, Span, Value};

/// The attributes that hold messages (other rules leave their shape to
/// `invalid-message-content`).
pub const MESSAGE_KEYS: [&str; 3] = [
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
];

/// One message attribute of a span, parsed.
#[derive(Clone)]
pub struct MessageAttribute<'r, 'a> {
    pub attribute: &'r Attribute<'a>,
    /// Whether it is an attribute of one of the span's events, not of the span.
    pub in_event: bool,
    /// [`Shape::of`] its value: `None` for a string that is not JSON.
    pub shape: Option<Shape<'r>>,
}

/// The message attributes of a span, its own then its events', in order, each parsed.
/// `facts`: the [`KeyFacts`] of the span's keys in the same order, which tell the message
/// attributes without comparing keys (`None`: the keys are compared).
pub fn of<'r, 'a>(span: &'r Span<'a>, facts: Option<&[KeyFacts]>) -> Vec<MessageAttribute<'r, 'a>> {
    let own = span.attributes.iter().map(|a| (a, false));
    let events = span
        .events
        .iter()
        .flat_map(|e| &e.attributes)
        .map(|a| (a, true));
    let is_message = |at: usize, attribute: &Attribute<'_>| match facts {
        Some(facts) => facts[at].message,
        None => MESSAGE_KEYS.contains(&attribute.key.as_ref()),
    };
    own.chain(events)
        .enumerate()
        .filter(|(at, (a, _))| is_message(*at, a))
        .map(|(_, (attribute, in_event))| MessageAttribute {
            attribute,
            in_event,
            shape: Shape::of(&attribute.value),
        })
        .collect()
}

/// An object's members without the ones a later member of the same name replaces, as a
/// parsed `serde_json::Value` holds them (in their order otherwise).
pub fn last_members<'s, 'a>(
    object: &'s [(Cow<'a, str>, Shape<'a>)],
) -> impl Iterator<Item = &'s (Cow<'a, str>, Shape<'a>)> {
    // A message object has a handful of members: a look ahead is cheaper than a set, but a
    // hostile object with thousands must not take millions of comparisons.
    const LOOK_AHEAD: usize = 32;
    let last: Option<foldhash::HashMap<&str, usize>> = (object.len() > LOOK_AHEAD).then(|| {
        (0..)
            .zip(object)
            .map(|(i, (k, _))| (k.as_ref(), i))
            .collect()
    });
    object.iter().enumerate().filter_map(move |(i, member)| {
        let replaced = match &last {
            Some(last) => last[member.0.as_ref()] != i,
            None => object[i + 1..].iter().any(|(k, _)| *k == member.0),
        };
        (!replaced).then_some(member)
    })
}

/// A member of a JSON object; a repeated name means its last value, as in a parsed
/// `serde_json::Value`.
pub fn get<'s, 'a>(object: &'s [(Cow<'a, str>, Shape<'a>)], name: &str) -> Option<&'s Shape<'a>> {
    object.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// Just enough of a JSON value to check the message structure: strings are borrowed from the
/// attribute (copied only when they hold escapes), objects are member lists. Checking a span's
/// messages this way does not copy its content into a `serde_json::Value` tree.
#[derive(Clone)]
pub enum Shape<'a> {
    Null,
    Bool,
    Number,
    String(Cow<'a, str>),
    Array(Vec<Shape<'a>>),
    Object(Vec<(Cow<'a, str>, Shape<'a>)>),
}

impl<'a> Shape<'a> {
    /// The OTLP value's shape: structured values as they are, strings parsed as JSON (`None`
    /// for a string that is not JSON), exactly as
    /// [`to_json`](super::invalid_message_content::to_json) sees them.
    pub fn of(value: &'a Value<'_>) -> Option<Shape<'a>> {
        match value {
            Value::String(s) => {
                let mut json = serde_json::Deserializer::from_str(s);
                let shape = Shape::deserialize(&mut json).ok()?;
                json.end().ok()?;
                Some(shape)
            }
            other => Some(Shape::structured(other)),
        }
    }

    /// As [`to_json`](super::invalid_message_content::to_json) converts structured values: empty values, bytes and non-finite doubles are `null`.
    pub fn structured(value: &'a Value<'_>) -> Shape<'a> {
        match value {
            Value::Empty | Value::Bytes(_) => Shape::Null,
            Value::String(s) => Shape::String(Cow::Borrowed(s)),
            Value::Bool(_) => Shape::Bool,
            Value::Int(_) => Shape::Number,
            Value::Double(d) if d.is_finite() => Shape::Number,
            Value::Double(_) => Shape::Null,
            Value::Array(items) => Shape::Array(items.iter().map(Shape::structured).collect()),
            Value::KvList(entries) => Shape::Object(
                entries
                    .iter()
                    .map(|a| (Cow::Borrowed(a.key.as_ref()), Shape::structured(&a.value)))
                    .collect(),
            ),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Shape::Null => "null",
            Shape::Bool => "a boolean",
            Shape::Number => "a number",
            Shape::String(_) => "a string",
            Shape::Array(_) => "an array",
            Shape::Object(_) => "an object",
        }
    }
}

impl<'de> Deserialize<'de> for Shape<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ShapeVisitor)
    }
}

struct ShapeVisitor;

impl<'de> Visitor<'de> for ShapeVisitor {
    type Value = Shape<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Shape<'de>, E> {
        Ok(Shape::Null)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Shape<'de>, E> {
        Ok(Shape::Bool)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Shape<'de>, E> {
        Ok(Shape::Number)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Shape<'de>, E> {
        Ok(Shape::Number)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Shape<'de>, E> {
        Ok(Shape::Number)
    }

    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Shape<'de>, E> {
        Ok(Shape::String(Cow::Borrowed(s)))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Shape<'de>, E> {
        Ok(Shape::String(Cow::Owned(s.to_owned())))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape<'de>, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Shape::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape<'de>, A::Error> {
        let mut members = Vec::new();
        while let Some(name) = map.next_key::<BorrowedName<'de>>()? {
            members.push((name.0, map.next_value()?));
        }
        Ok(Shape::Object(members))
    }
}

/// An object member's name, borrowed when it holds no escapes.
struct BorrowedName<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for BorrowedName<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Shape::deserialize(d)? {
            Shape::String(name) => Ok(BorrowedName(name)),
            _ => Err(de::Error::custom("an object member's name is a string")),
        }
    }
}
