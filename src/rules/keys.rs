//! Helpers over attribute keys shared by rule kinds: indexed (flattened) keys such as
//! `gen_ai.prompt.0.content`, which some libraries write one per message field.

use crate::model::Attribute;

/// `gen_ai.prompt.0.content` → `gen_ai.prompt.*.content`; `None` when no segment is a number.
pub fn indexed_pattern(key: &str) -> Option<String> {
    let mut indexed = false;
    let pattern: Vec<&str> = key
        .split('.')
        .map(|segment| {
            if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
                indexed = true;
                "*"
            } else {
                segment
            }
        })
        .collect();
    indexed.then(|| pattern.join("."))
}

/// `gen_ai.prompt.0.content` → `gen_ai.prompt.*`: the key up to its first numeric segment.
pub fn indexed_prefix(key: &str) -> Option<String> {
    let pattern = indexed_pattern(key)?;
    let star = pattern.find(".*")?;
    Some(format!("{}.*", &pattern[..star]))
}

/// A group of attributes that one finding reports: every key of one indexed pattern, or one
/// plain key.
pub struct KeyGroup<'s, 'a> {
    /// The pattern (`gen_ai.prompt.*.content`), or the key itself.
    pub label: String,
    /// The first attribute of the group, where the finding points.
    pub first: &'s Attribute<'a>,
    pub count: usize,
}

impl KeyGroup<'_, '_> {
    /// "`gen_ai.prompt.*.content` (3 keys, e.g. `gen_ai.prompt.0.content`)", or the one key.
    pub fn describe(&self) -> String {
        if self.count > 1 {
            format!(
                "`{}` ({} keys, e.g. `{}`)",
                self.label, self.count, self.first.key
            )
        } else {
            format!("`{}`", crate::report::truncate(&self.first.key, 100))
        }
    }
}

/// Groups attributes by `label` (first-seen order), so `gen_ai.prompt.0.role`,
/// `gen_ai.prompt.1.role`, … make one finding instead of one each.
pub fn group<'s, 'a>(
    attributes: impl Iterator<Item = &'s Attribute<'a>>,
    label: impl Fn(&str) -> String,
) -> Vec<KeyGroup<'s, 'a>>
where
    'a: 's,
{
    // Linear in the number of attributes: a span with 100,000 distinct keys must not take
    // 10^10 comparisons.
    let mut groups: Vec<KeyGroup<'s, 'a>> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for attribute in attributes {
        let name = label(&attribute.key);
        match index.get(&name) {
            Some(&i) => groups[i].count += 1,
            None => {
                index.insert(name.clone(), groups.len());
                groups.push(KeyGroup {
                    label: name,
                    first: attribute,
                    count: 1,
                });
            }
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
    }
}
