//! Helpers over attribute keys shared by rule kinds: indexed (flattened) keys such as
//! `gen_ai.prompt.0.content`, which some libraries write one per message field.

use std::borrow::Cow;

use foldhash::HashMap;

use super::key_facts::KeyFacts;
use crate::model::Attribute;

/// `gen_ai.prompt.0.content` → `gen_ai.prompt.*.content`; `None` when no segment is a number.
pub fn indexed_pattern(key: &str) -> Option<String> {
    let mut pattern = String::new();
    write_indexed_pattern(key, &mut pattern).then_some(pattern)
}

/// [`indexed_pattern`] written into `pattern` (cleared first; left empty and `false` when no
/// segment is a number), so a caller labelling many keys reuses one buffer.
fn write_indexed_pattern(key: &str, pattern: &mut String) -> bool {
    // Runs for every content and squatting key of every span: one pass over the bytes (`.` is
    // ASCII, so every cut is a char boundary), and nothing written for a key that is not
    // indexed.
    pattern.clear();
    let mut indexed = false;
    // The key's text from here on is not in the pattern yet.
    let mut copied = 0;
    let mut start = 0;
    for segment in key.as_bytes().split(|&b| b == b'.') {
        if is_index(segment) {
            if !indexed {
                pattern.reserve(key.len());
                indexed = true;
            }
            pattern.push_str(&key[copied..start]);
            pattern.push('*');
            copied = start + segment.len();
        }
        start += segment.len() + 1;
    }
    if indexed {
        pattern.push_str(&key[copied..]);
    }
    indexed
}

/// A segment of a flattened key that is a list index (`0`, `12`).
fn is_index(segment: &[u8]) -> bool {
    !segment.is_empty() && segment.iter().all(u8::is_ascii_digit)
}

/// `gen_ai.prompt.0.content` → `gen_ai.prompt.*`: the key up to its first numeric segment.
pub fn indexed_prefix(key: &str) -> Option<String> {
    let mut prefix = String::new();
    write_indexed_prefix(key, &mut prefix).then_some(prefix)
}

/// [`indexed_prefix`] written into `prefix`, as [`write_indexed_pattern`].
fn write_indexed_prefix(key: &str, prefix: &mut String) -> bool {
    if !write_indexed_pattern(key, prefix) {
        return false;
    }
    // The first `.*` (two bytes: a byte scan, cheaper than setting up a substring search).
    match prefix.as_bytes().windows(2).position(|w| w == b".*") {
        Some(star) => {
            prefix.truncate(star + 2);
            true
        }
        None => {
            prefix.clear();
            false
        }
    }
}

/// How [`group`] labels each key.
#[derive(Debug, Clone, Copy)]
pub enum Label<'l> {
    /// Its [`indexed_pattern`] (`gen_ai.prompt.*.content`), or the key itself.
    Pattern,
    /// Its [`indexed_prefix`] (`gen_ai.prompt.*`), or the key itself.
    Prefix,
    /// This label, for every key.
    Fixed(&'l str),
}

/// A group of attributes that one finding reports: every key of one indexed pattern, or one
/// plain key.
pub struct KeyGroup<'s, 'a> {
    /// The pattern (`gen_ai.prompt.*.content`), or the key itself (borrowed: most keys are
    /// not indexed).
    pub label: Cow<'s, str>,
    /// The first attribute of the group, where the finding points.
    pub first: &'s Attribute<'a>,
    pub count: usize,
}

impl KeyGroup<'_, '_> {
    /// Appends "`gen_ai.prompt.*.content` (3 keys, e.g. `gen_ai.prompt.0.content`)", or the
    /// one key, to a finding's message (without `format!`: nearly every group is one key).
    pub fn append_to(&self, message: &mut String) {
        if self.count > 1 {
            message.extend([
                "`",
                &self.label,
                "` (",
                &self.count.to_string(),
                " keys, e.g. `",
            ]);
            message.extend([&*self.first.key, "`)"]);
        } else {
            let key = crate::report::truncate(&self.first.key, 100);
            message.extend(["`", &key, "`"]);
        }
    }
}

/// Up to this many groups a linear search finds a label faster than hashing it (a span's
/// findings of one rule are nearly always a handful).
const LINEAR_GROUPS: usize = 16;

/// Groups attributes (with their keys' facts, which tell the indexed keys) by their `label`
/// (first-seen order), so `gen_ai.prompt.0.role`,
/// `gen_ai.prompt.1.role`, … make one finding instead of one each.
pub fn group<'s, 'a>(
    attributes: impl Iterator<Item = (&'s Attribute<'a>, KeyFacts)>,
    label: Label<'s>,
) -> Vec<KeyGroup<'s, 'a>>
where
    'a: 's,
{
    // Linear in the number of attributes: a span with 100,000 distinct keys must not take
    // 10^10 comparisons, so past a few groups the labels are indexed in a map.
    let mut groups: Vec<KeyGroup<'s, 'a>> = Vec::new();
    let mut index: Option<HashMap<String, usize>> = None;
    // An indexed key's label is written here, and copied only for a new group.
    let mut written = String::new();
    for (attribute, facts) in attributes {
        let key: &'s str = &attribute.key;
        written.clear();
        let name: &str = match label {
            Label::Fixed(fixed) => fixed,
            Label::Pattern if facts.indexed && write_indexed_pattern(key, &mut written) => &written,
            Label::Prefix if facts.indexed && write_indexed_prefix(key, &mut written) => &written,
            Label::Pattern | Label::Prefix => key,
        };
        let found = match &index {
            Some(index) => index.get(name).copied(),
            None => groups.iter().position(|g| g.label == name),
        };
        if let Some(i) = found {
            groups[i].count += 1;
            continue;
        }
        if let Some(index) = &mut index {
            index.insert(name.to_string(), groups.len());
        }
        let name: Cow<'s, str> = match label {
            Label::Fixed(fixed) => Cow::Borrowed(fixed),
            _ if written.is_empty() => Cow::Borrowed(key),
            _ => Cow::Owned(written.clone()),
        };
        groups.push(KeyGroup {
            label: name,
            first: attribute,
            count: 1,
        });
        if index.is_none() && groups.len() > LINEAR_GROUPS {
            index = Some(
                groups
                    .iter()
                    .enumerate()
                    .map(|(i, g)| (g.label.to_string(), i))
                    .collect(),
            );
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexed_keys() {
        assert_eq!(
            indexed_pattern("gen_ai.prompt.0.content").as_deref(),
            Some("gen_ai.prompt.*.content")
        );
        assert_eq!(
            indexed_pattern("llm.input_messages.12.message.tool_calls.0.tool_call.id").as_deref(),
            Some("llm.input_messages.*.message.tool_calls.*.tool_call.id")
        );
        assert_eq!(indexed_pattern("gen_ai.usage.input_tokens"), None);
        assert_eq!(
            indexed_prefix("gen_ai.completion.3.role").as_deref(),
            Some("gen_ai.completion.*")
        );
        assert_eq!(indexed_pattern("0"), Some("*".to_string()));
        assert_eq!(
            indexed_pattern("gen_ai..0."),
            Some("gen_ai..*.".to_string())
        );
    }

    /// The segment-by-segment definition [`indexed_pattern`] computes in one pass.
    fn pattern_by_segments(key: &str) -> Option<String> {
        let index = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        key.split('.').any(index).then(|| {
            key.split('.')
                .map(|s| if index(s) { "*" } else { s })
                .collect::<Vec<_>>()
                .join(".")
        })
    }

    #[test]
    fn one_pass_pattern_is_the_segment_definition() {
        let keys = [
            "",
            ".",
            "..",
            "0",
            "00.1",
            ".0",
            "0.",
            "a.",
            "a.0b.1",
            "a.01.b",
            "1.2.3",
            "a.b.c",
            "gen_ai.prompt.0.content",
            "x.é.3.ü",
            "é.12",
            "a..0..b",
            "a.0.0.0",
            "a.٣.b",
            "a.*b.0",
            "0.x",
            "0.1",
        ];
        for key in keys {
            assert_eq!(indexed_pattern(key), pattern_by_segments(key), "{key:?}");
            let prefix = pattern_by_segments(key).and_then(|mut p| {
                p.truncate(p.find(".*")? + 2);
                Some(p)
            });
            assert_eq!(indexed_prefix(key), prefix, "{key:?}");
        }
    }

    proptest::proptest! {
        /// Any key made of digits, dots and other characters: the one pass is the definition.
        #[test]
        fn one_pass_pattern_is_the_segment_definition_for_any_key(key in "[0-9a.é*]{0,14}") {
            proptest::prop_assert_eq!(indexed_pattern(&key), pattern_by_segments(&key));
        }
    }

    fn attribute(key: String) -> Attribute<'static> {
        Attribute {
            key: key.into(),
            value: crate::model::Value::Empty,
            offset: 0,
        }
    }

    /// Each attribute with the facts `group` reads.
    fn with_facts<'s>(
        attributes: &'s [Attribute<'static>],
    ) -> impl Iterator<Item = (&'s Attribute<'static>, KeyFacts)> {
        attributes.iter().map(|a| {
            let facts = KeyFacts {
                indexed: indexed_pattern(&a.key).is_some(),
                ..KeyFacts::default()
            };
            (a, facts)
        })
    }

    #[test]
    fn groups_keep_first_seen_order_past_the_linear_search() {
        // 40 distinct labels (more than the linear search handles), each seen three times,
        // interleaved: every group must count 3 and point at its first key.
        let attributes: Vec<Attribute<'static>> = (0..3)
            .flat_map(|round| {
                (0..40).map(move |i| attribute(format!("lib.key{i}.{round}.content")))
            })
            .collect();
        let groups = group(with_facts(&attributes), Label::Pattern);
        assert_eq!(groups.len(), 40);
        for (i, g) in groups.iter().enumerate() {
            assert_eq!(g.label, format!("lib.key{i}.*.content"));
            assert_eq!(g.count, 3);
            assert_eq!(g.first.key, format!("lib.key{i}.0.content"));
        }
    }

    #[test]
    fn plain_keys_group_by_themselves() {
        let attributes: Vec<Attribute<'static>> = ["a.b", "a.c", "a.b"]
            .iter()
            .map(|k| attribute(k.to_string()))
            .collect();
        let groups = group(with_facts(&attributes), Label::Pattern);
        let counts: Vec<(&str, usize)> =
            groups.iter().map(|g| (g.label.as_ref(), g.count)).collect();
        assert_eq!(counts, [("a.b", 2), ("a.c", 1)]);
    }
}
