//! [`Settings`]: what the user's `spanlint.toml` tells the rules beyond the rules file.
//!
//! The rules file says what the conventions require; the settings say what *this application*
//! expects or allows. Severity overrides and ignores are not here: they are applied to findings
//! after the rules ran (`crate::sink`), never inside a rule.

/// Per-project settings the rules read through [`super::Ruleset::settings`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Attribute keys a root GenAI span is expected to carry (`missing-context`), e.g. a
    /// conversation, user or tenant id. Config key `expected-context`.
    pub expected_context: Vec<String>,
    /// Globs over attribute keys that may appear under a reserved namespace although the
    /// conventions do not define them (`gen_ai.myapp.*`). Config key `allow-keys`.
    pub allow_keys: Vec<String>,
}

/// The context keys a root GenAI span is expected to carry when the configuration says nothing.
pub const DEFAULT_EXPECTED_CONTEXT: &[&str] = &["gen_ai.conversation.id"];

impl Default for Settings {
    fn default() -> Self {
        Settings {
            expected_context: DEFAULT_EXPECTED_CONTEXT
                .iter()
                .map(|k| k.to_string())
                .collect(),
            allow_keys: Vec::new(),
        }
    }
}
