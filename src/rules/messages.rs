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
#[derive(Clone, Debug, PartialEq)]
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
            Value::String(s) => Shape::parse(s),
            other => Some(Shape::structured(other)),
        }
    }

    /// JSON text's shape (`None` when it is not JSON), as serde_json reads it: the usual
    /// text is read by [`scan`] (a fifth of serde's cost: no visitor calls, no number
    /// conversions), anything it is not sure of (escapes it does not decode, control
    /// characters, long numbers, deep nesting, errors) by serde_json, which decides.
    pub fn parse(text: &'a str) -> Option<Shape<'a>> {
        scan::shape(text).or_else(|| Shape::parse_with_serde(text))
    }

    /// [`Shape::parse`] by serde_json alone.
    fn parse_with_serde(text: &'a str) -> Option<Shape<'a>> {
        let mut json = serde_json::Deserializer::from_str(text);
        let shape = Shape::deserialize(&mut json).ok()?;
        json.end().ok()?;
        Some(shape)
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

/// The reader behind [`Shape::parse`] for the usual JSON text: it reads exactly what
/// serde_json reads, into the same shape, or gives up (`None`) and leaves the text to serde_json.
/// It gives up on anything unusual rather than judging it: a control character in a string, an
/// escape other than JSON's (or a lone surrogate), a number with more than 17 digits or an
/// exponent past 99 (whose range serde_json checks), nesting deeper than [`scan::DEPTH`], and
/// any text that is not JSON, so serde_json alone ever says "not JSON" and why.
mod scan {
    use std::borrow::Cow;

    use super::Shape;

    /// Deeper nesting is left to serde_json, whose own limit (128) decides.
    pub const DEPTH: usize = 100;

    /// The shape of `text`, a whole JSON value with whitespace around it; `None`: not sure.
    pub fn shape(text: &str) -> Option<Shape<'_>> {
        let mut reader = Reader { text, at: 0 };
        reader.whitespace();
        let shape = reader.value(DEPTH)?;
        reader.whitespace();
        (reader.at == text.len()).then_some(shape)
    }

    /// Where the plain text of a string that goes on at `at` ends: at the first `"`, `\` or
    /// control character, or at the end of `bytes`. Eight bytes at a time, as serde_json
    /// reads strings: in a word, the lowest byte flagged by the zero-byte test (after an xor
    /// with `"` or `\`) or by the below-0x20 test is the first such byte (a borrow can flag a
    /// byte only above one that is really flagged).
    pub fn plain_run_end(bytes: &[u8], mut at: usize) -> usize {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGH: u64 = 0x8080_8080_8080_8080;
        let zero_bytes = |word: u64| word.wrapping_sub(ONES) & !word;
        while let Some(chunk) = bytes.get(at..at + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            let word = u64::from_le_bytes(word);
            let flagged = (zero_bytes(word ^ (ONES * u64::from(b'"')))
                | zero_bytes(word ^ (ONES * u64::from(b'\\')))
                | (word.wrapping_sub(ONES * 0x20) & !word))
                & HIGH;
            if flagged != 0 {
                return at + (flagged.trailing_zeros() / 8) as usize;
            }
            at += 8;
        }
        while let Some(&byte) = bytes.get(at)
            && byte != b'"'
            && byte != b'\\'
            && byte >= 0x20
        {
            at += 1;
        }
        at
    }

    struct Reader<'a> {
        text: &'a str,
        /// The next byte to read.
        at: usize,
    }

    impl<'a> Reader<'a> {
        fn peek(&self) -> Option<u8> {
            self.text.as_bytes().get(self.at).copied()
        }

        /// Skips JSON's whitespace (RFC 8259: space, tab, line feed, carriage return).
        fn whitespace(&mut self) {
            while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
                self.at += 1;
            }
        }

        /// Reads `byte` when it is next.
        fn eat(&mut self, byte: u8) -> bool {
            let next = self.peek() == Some(byte);
            self.at += usize::from(next);
            next
        }

        /// A value, with at most `depth` levels of arrays and objects.
        fn value(&mut self, depth: usize) -> Option<Shape<'a>> {
            match self.peek()? {
                b'"' => self.string().map(Shape::String),
                b'{' => self.object(depth.checked_sub(1)?),
                b'[' => self.array(depth.checked_sub(1)?),
                b'n' => self.literal("null", Shape::Null),
                b't' => self.literal("true", Shape::Bool),
                b'f' => self.literal("false", Shape::Bool),
                b'-' | b'0'..=b'9' => self.number(),
                _ => None,
            }
        }

        fn literal(&mut self, word: &str, shape: Shape<'a>) -> Option<Shape<'a>> {
            let found = self.text.as_bytes()[self.at..].starts_with(word.as_bytes());
            self.at += if found { word.len() } else { 0 };
            found.then_some(shape)
        }

        /// The number of digits read.
        fn digits(&mut self) -> usize {
            let start = self.at;
            while let Some(b'0'..=b'9') = self.peek() {
                self.at += 1;
            }
            self.at - start
        }

        /// `-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`, of at most 17 digits and an
        /// exponent of at most two: an `f64` holds every such number without overflowing.
        fn number(&mut self) -> Option<Shape<'a>> {
            self.eat(b'-');
            let start = self.at;
            let mut digits = self.digits();
            let leading_zero = digits > 1 && self.text.as_bytes()[start] == b'0';
            if digits == 0 || leading_zero {
                return None;
            }
            if self.eat(b'.') {
                let fraction = self.digits();
                if fraction == 0 {
                    return None;
                }
                digits += fraction;
            }
            if let Some(b'e' | b'E') = self.peek() {
                self.at += 1;
                if let Some(b'+' | b'-') = self.peek() {
                    self.at += 1;
                }
                if !(1..=2).contains(&self.digits()) {
                    return None;
                }
            }
            (digits <= 17).then_some(Shape::Number)
        }

        /// A string (at its `"`): borrowed from the text, or decoded when it has escapes.
        fn string(&mut self) -> Option<Cow<'a, str>> {
            let bytes = self.text.as_bytes();
            self.at += 1;
            let start = self.at;
            // The escapes decoded so far and the text before them; `copied`: where the text
            // not yet in `decoded` starts.
            let mut decoded: Option<String> = None;
            let mut copied = start;
            loop {
                self.at = plain_run_end(bytes, self.at);
                // Each cut is at an ASCII byte, so on a char boundary.
                match self.peek()? {
                    b'"' => {
                        let rest = &self.text[copied..self.at];
                        self.at += 1;
                        return Some(match decoded {
                            None => Cow::Borrowed(rest),
                            Some(mut text) => {
                                text.push_str(rest);
                                Cow::Owned(text)
                            }
                        });
                    }
                    b'\\' => {
                        let text = decoded.get_or_insert_with(String::new);
                        text.push_str(&self.text[copied..self.at]);
                        self.at += 1;
                        text.push(self.escape()?);
                        copied = self.at;
                    }
                    // A control character: serde_json's error.
                    _ => return None,
                }
            }
        }

        /// The character an escape (after its `\`) stands for.
        fn escape(&mut self) -> Option<char> {
            let byte = self.peek()?;
            self.at += 1;
            Some(match byte {
                b'"' => '"',
                b'\\' => '\\',
                b'/' => '/',
                b'b' => '\u{8}',
                b'f' => '\u{c}',
                b'n' => '\n',
                b'r' => '\r',
                b't' => '\t',
                b'u' => match self.hex4()? {
                    // A surrogate pair: the low half must follow as an escape.
                    high @ 0xD800..=0xDBFF => {
                        if !(self.eat(b'\\') && self.eat(b'u')) {
                            return None;
                        }
                        let low = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return None;
                        }
                        char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))?
                    }
                    unit => char::from_u32(unit)?,
                },
                _ => return None,
            })
        }

        /// Four hex digits, as a number.
        fn hex4(&mut self) -> Option<u32> {
            let digits = self.text.as_bytes().get(self.at..self.at + 4)?;
            let mut unit = 0;
            for &digit in digits {
                unit = unit * 16 + char::from(digit).to_digit(16)?;
            }
            self.at += 4;
            Some(unit)
        }

        fn array(&mut self, depth: usize) -> Option<Shape<'a>> {
            self.at += 1;
            let mut items = Vec::new();
            self.whitespace();
            if self.eat(b']') {
                return Some(Shape::Array(items));
            }
            loop {
                self.whitespace();
                items.push(self.value(depth)?);
                self.whitespace();
                if !self.eat(b',') {
                    return self.eat(b']').then_some(Shape::Array(items));
                }
            }
        }

        fn object(&mut self, depth: usize) -> Option<Shape<'a>> {
            self.at += 1;
            let mut members = Vec::new();
            self.whitespace();
            if self.eat(b'}') {
                return Some(Shape::Object(members));
            }
            loop {
                self.whitespace();
                if self.peek()? != b'"' {
                    return None;
                }
                let name = self.string()?;
                self.whitespace();
                if !self.eat(b':') {
                    return None;
                }
                self.whitespace();
                members.push((name, self.value(depth)?));
                self.whitespace();
                if !self.eat(b',') {
                    return self.eat(b'}').then_some(Shape::Object(members));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The scanner's answer, which must be serde_json's whenever it gives one.
    fn agrees(text: &str) -> bool {
        match scan::shape(text) {
            Some(fast) => {
                assert_eq!(
                    Some(&fast),
                    Shape::parse_with_serde(text).as_ref(),
                    "{text:?}"
                );
                true
            }
            None => false,
        }
    }

    #[test]
    fn scan_reads_as_serde_or_leaves_it_to_serde() {
        // Read by the scanner (the usual text).
        let read = [
            r#"[{"role":"user","parts":[{"type":"text","content":"hi"}]}]"#,
            "  [ ]  ",
            "{}",
            r#"{"a":1,"a":[true,false,null],"b":{"c":-0.5e-3}}"#,
            r#"["\/\b\f\n\r\t\"\\ \u00e9\u0000\ud83d\ude00 é"]"#,
            r#"{"k\"ey":"v\u0041lue"}"#,
            "-0",
            "0",
            "12345678901234567",
            "1E+99",
            "1.25e-10",
            "\"\"",
            "null",
        ];
        for text in read {
            assert!(agrees(text), "the scanner reads {text:?}");
        }
        // Left to serde_json (which takes some, refuses others).
        let left = [
            "",
            " ",
            "01",
            "-",
            "1.",
            ".5",
            "1e",
            "1e+",
            "+1",
            "1e400",
            "1e100",
            "123456789012345678",
            "1.00000000000000000",
            r#""\ud800""#,
            r#""\udc00""#,
            r#""\ud800\u0041""#,
            r#""\ud800x""#,
            "\"a\u{1}\"",
            "\"\u{1f}\"",
            r#""\x""#,
            r#""\u12g4""#,
            "\"abc",
            "[1,]",
            r#"{"a":1,}"#,
            r#"{"a" 1}"#,
            "{1:2}",
            "[1 2]",
            "nul",
            "truex",
            "[true false]",
            "[] []",
            "[",
            "{",
            r#"{"a":}"#,
            "hello",
            "\u{feff}[]",
            "[]\u{0b}",
        ];
        for text in left {
            assert!(!agrees(text), "the scanner leaves {text:?} to serde_json");
        }
        // Nesting: up to the scanner's depth it reads, past it serde_json decides (and past
        // its own limit refuses).
        for depth in [
            1,
            scan::DEPTH - 1,
            scan::DEPTH,
            scan::DEPTH + 1,
            127,
            128,
            200,
        ] {
            let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            assert_eq!(agrees(&text), depth <= scan::DEPTH, "{depth}");
            let shape = Shape::parse(&text);
            assert_eq!(shape, Shape::parse_with_serde(&text), "{depth}");
        }
        assert!(Shape::parse(&format!("{}{}", "[".repeat(200), "]".repeat(200))).is_none());
    }

    /// Every string value of every fixture (message JSON, tool arguments, plain text) reads as
    /// serde_json reads it, and the message attributes of the real dumps (the usual text) are
    /// read by the scanner.
    #[test]
    fn scan_reads_every_fixture_value_as_serde() {
        fn strings<'v>(json: &'v serde_json::Value, out: &mut Vec<&'v str>) {
            match json {
                serde_json::Value::String(s) => out.push(s),
                serde_json::Value::Array(items) => items.iter().for_each(|i| strings(i, out)),
                serde_json::Value::Object(map) => map.values().for_each(|v| strings(v, out)),
                _ => {}
            }
        }
        let mut files = vec![std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures"
        ))];
        /// The string values of message attributes (`{"key": …, "value": {"stringValue": …}}`)
        /// anywhere in an OTLP/JSON document.
        fn message_values(json: &serde_json::Value) -> Box<dyn Iterator<Item = &str> + '_> {
            use serde_json::Value as Json;
            match json {
                Json::Object(map) => {
                    let own = map
                        .get("key")
                        .and_then(Json::as_str)
                        .filter(|key| MESSAGE_KEYS.contains(key))
                        .and_then(|_| map.get("value")?.get("stringValue")?.as_str());
                    Box::new(own.into_iter().chain(map.values().flat_map(message_values)))
                }
                Json::Array(items) => Box::new(items.iter().flat_map(message_values)),
                _ => Box::new(std::iter::empty()),
            }
        }
        let (mut values, mut scanned, mut messages) = (0, 0, 0);
        while let Some(path) = files.pop() {
            if path.is_dir() {
                files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            // The whole file (a document, or lines), each line, and every string in them.
            let mut texts: Vec<&str> = vec![&text];
            texts.extend(text.lines());
            let documents: Vec<serde_json::Value> = std::iter::once(text.as_str())
                .chain(text.lines())
                .filter_map(|t| serde_json::from_str(t).ok())
                .collect();
            for document in &documents {
                strings(document, &mut texts);
            }
            for text in texts {
                values += 1;
                scanned += usize::from(agrees(text));
                assert_eq!(Shape::parse(text), Shape::parse_with_serde(text));
            }
            if path.to_string_lossy().contains("fixtures/real") {
                for document in &documents {
                    messages += message_values(document)
                        .filter(|value| Shape::parse_with_serde(value).is_some())
                        .inspect(|value| {
                            assert!(agrees(value), "the scanner reads a real message: {value}");
                        })
                        .count();
                }
            }
        }
        assert!(
            values > 1000 && scanned > 100,
            "{values} values, {scanned} scanned"
        );
        assert!(messages > 5, "{messages} real message attributes");
    }

    /// JSON text of any value (strings with any character, numbers of any size), as
    /// serde_json writes it, compact or pretty.
    fn any_json() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::Value as Json;
        let leaf = prop_oneof![
            Just(Json::Null),
            any::<bool>().prop_map(Json::Bool),
            any::<i64>().prop_map(Json::from),
            any::<u64>().prop_map(Json::from),
            (-1000i64..1000).prop_map(Json::from),
            any::<f64>()
                .prop_filter("finite", |d| d.is_finite())
                .prop_map(Json::from),
            (-1e6f64..1e6).prop_map(Json::from),
            any::<String>().prop_map(Json::String),
            "[a-z\"\\\\/\n\t ]{0,12}".prop_map(Json::String),
        ];
        leaf.prop_recursive(5, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Json::Array),
                prop::collection::vec(("[a-z\"\\\\]{0,6}|\\PC{0,4}", inner), 0..6)
                    .prop_map(|members| Json::Object(members.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

        /// The word-at-a-time search finds what a byte-by-byte one finds.
        #[test]
        fn plain_run_end_is_the_first_special_byte(
            bytes in prop::collection::vec(prop_oneof![any::<u8>(), Just(b'"'), Just(b'\\'), 0x1eu8..0x22], 0..40),
            from in 0usize..40,
        ) {
            let from = from.min(bytes.len());
            let naive = bytes[from..]
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                .map_or(bytes.len(), |i| from + i);
            prop_assert_eq!(scan::plain_run_end(&bytes, from), naive);
        }

        /// Any JSON serde_json writes reads as serde_json reads it, nearly always by the
        /// scanner (it leaves only long numbers and huge exponents).
        #[test]
        fn written_json_reads_as_serde(json in any_json(), pretty: bool) {
            let text = if pretty {
                serde_json::to_string_pretty(&json).unwrap()
            } else {
                serde_json::to_string(&json).unwrap()
            };
            agrees(&text);
            prop_assert_eq!(Shape::parse(&text), Shape::parse_with_serde(&text));
        }

        /// Any edit of JSON text (most make it malformed or unusual) reads as serde_json
        /// reads it.
        #[test]
        fn edited_json_reads_as_serde(
            json in any_json(),
            at in any::<prop::sample::Index>(),
            cut in 0usize..4,
            insert in "[\\[\\]{}\",:0-9eE+.\\\\u \\-ntrfalse\u{1}é]{0,3}",
        ) {
            let text = serde_json::to_string(&json).unwrap();
            let mut at = at.index(text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            let mut end = (at + cut).min(text.len());
            while !text.is_char_boundary(end) {
                end += 1;
            }
            let edited = [&text[..at], &insert, &text[end..]].concat();
            agrees(&edited);
            prop_assert_eq!(Shape::parse(&edited), Shape::parse_with_serde(&edited));
        }
    }
}
