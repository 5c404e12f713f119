//! `extend-rules-file`: a partial rules file merged on top of the base one (the built-in rules,
//! or `rules-file`), so a project can add an attribute, a deprecation or an allowed key without
//! copying the whole rules file.
//!
//! Merge semantics, on the TOML documents before they are read (documented in `docs/config.md`):
//!
//! - a **table** (`[content]`, `[conventions]`) is merged key by key, recursively;
//! - a **scalar** (`policy = "allow"`) replaces the base value;
//! - an **array of tables** whose entries have an identity ([`IDENTITY`]: `[[attribute]]` by
//!   `key`, `[[span-type]]` by `id`, …) replaces the base entry with the same identity and
//!   appends the others; arrays of tables without an identity are appended;
//! - any other **array** (`attributes = [...]`) gets the extension's values that it does not
//!   already hold, appended.
//!
//! Nothing can be removed this way; to remove, copy the rules file and use `rules-file`.
//! The merged document is then read with the strict schema of [`RulesFile`], so an unknown key
//! in the extension is still an error.

use super::rulesfile::RulesFile;

/// The fields that identify an entry of each array of tables in a rules file. An extension
/// entry with the same identity as a base entry replaces it.
///
/// A new `[[section]]` in the rules file that entries should be replaceable in gets a line here.
pub const IDENTITY: &[(&str, &[&str])] = &[
    ("attribute", &["key"]),
    ("span-type", &["id"]),
    ("refinement", &["id"]),
    ("deprecated-attribute", &["key"]),
    ("deprecated-value", &["attribute", "value"]),
    ("reserved-namespace", &["prefix"]),
    ("operation-hint", &["attribute"]),
    ("value-alias", &["attribute"]),
];

/// Why an extended rules file could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ExtendError {
    /// The base document is not valid TOML.
    #[error("{0}")]
    Base(toml::de::Error),
    /// The extension is not valid TOML (its span points into the extension).
    #[error("{0}")]
    Extension(toml::de::Error),
    /// The merged document does not fit the rules file's schema.
    #[error("{0}")]
    Merged(toml::de::Error),
}

/// Parses `base` and `extension` and reads the merged document as a rules file.
pub fn parse_extended(base: &str, extension: &str) -> Result<RulesFile, ExtendError> {
    let mut merged: toml::Table = toml::from_str(base).map_err(ExtendError::Base)?;
    let extension: toml::Table = toml::from_str(extension).map_err(ExtendError::Extension)?;
    merge(&mut merged, extension);
    toml::Value::Table(merged)
        .try_into()
        .map_err(ExtendError::Merged)
}

/// Merges `extension` into `base` (top level: arrays of tables use [`IDENTITY`]).
pub fn merge(base: &mut toml::Table, extension: toml::Table) {
    for (key, value) in extension {
        let identity = IDENTITY
            .iter()
            .find(|(section, _)| *section == key)
            .map(|(_, fields)| *fields);
        match base.get_mut(&key) {
            None => {
                base.insert(key, value);
            }
            Some(existing) => merge_value(existing, value, identity),
        }
    }
}

fn merge_value(base: &mut toml::Value, extension: toml::Value, identity: Option<&[&str]>) {
    use toml::Value;
    match (base, extension) {
        (Value::Table(base), Value::Table(extension)) => {
            for (key, value) in extension {
                match base.get_mut(&key) {
                    None => {
                        base.insert(key, value);
                    }
                    Some(existing) => merge_value(existing, value, None),
                }
            }
        }
        (Value::Array(base), Value::Array(extension)) => {
            for item in extension {
                let same = |b: &Value| match identity {
                    Some(fields) => same_identity(b, &item, fields),
                    // Tables without an identity are appended; plain values once.
                    None => !item.is_table() && *b == item,
                };
                match base.iter().position(same) {
                    Some(at) if identity.is_some() => base[at] = item,
                    Some(_) => {}
                    None => base.push(item),
                }
            }
        }
        (base, extension) => *base = extension,
    }
}

fn same_identity(a: &toml::Value, b: &toml::Value, fields: &[&str]) -> bool {
    fields
        .iter()
        .all(|f| matches!((a.get(f), b.get(f)), (Some(x), Some(y)) if x == y))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::rulesfile::{BUILTIN_RULES, ContentMode};

    #[test]
    fn an_extension_adds_replaces_and_appends() {
        let base_attributes = RulesFile::builtin().attributes.len();
        let extension = r#"
[content]
policy = "allow"
attributes = ["myapp.prompt"]

[[attribute]]
key = "gen_ai.myapp.tenant"
type = "string"

[[reserved-namespace]]
prefix = "gen_ai."
allow = ["gen_ai.myapp.cost"]
"#;
        let rules = parse_extended(BUILTIN_RULES, extension).expect("merges");
        // A new attribute is appended.
        assert_eq!(rules.attributes.len(), base_attributes + 1);
        assert!(
            rules
                .attributes
                .iter()
                .any(|a| a.key == "gen_ai.myapp.tenant")
        );
        // A scalar replaces, a plain array is extended (the built-in entries stay).
        assert_eq!(rules.content.policy, ContentMode::Allow);
        assert!(rules.content.attributes.iter().any(|a| a == "myapp.prompt"));
        assert!(
            rules
                .content
                .attributes
                .iter()
                .any(|a| a == "gen_ai.input.messages")
        );
        // The `gen_ai.` namespace entry is replaced, not duplicated.
        let gen_ai: Vec<_> = rules
            .reserved_namespaces
            .iter()
            .filter(|n| n.prefix == "gen_ai.")
            .collect();
        assert_eq!(gen_ai.len(), 1);
        assert_eq!(gen_ai[0].allow, ["gen_ai.myapp.cost"]);
    }

    #[test]
    fn an_unknown_key_in_an_extension_is_still_an_error() {
        let err = parse_extended(BUILTIN_RULES, "[content]\npolicyy = \"allow\"\n")
            .expect_err("strict schema");
        assert!(matches!(err, ExtendError::Merged(_)));
        assert!(err.to_string().contains("policyy"), "{err}");
    }

    #[test]
    fn a_syntax_error_in_the_extension_has_its_span() {
        let err = parse_extended(BUILTIN_RULES, "[content\n").expect_err("bad TOML");
        let ExtendError::Extension(inner) = err else {
            panic!("the extension is blamed: {err}")
        };
        assert!(inner.span().is_some());
    }
}
