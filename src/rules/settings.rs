//! [`Settings`]: what the user's `spanlint.toml` tells the rules beyond the rules file.
//!
//! The rules file says what the conventions require; the settings say what *this application*
//! expects or allows. Severity overrides and ignores are not here: they are applied to findings
//! after the rules ran (`crate::sink`), never inside a rule.

/// Per-project settings the rules read through [`super::Ruleset::settings`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// Attribute keys some GenAI span of each trace is expected to carry (`missing-context`),
    /// e.g. a conversation, user or tenant id. Config key `expected-context`; `None` keeps the
    /// rules file's `[trace] context-keys` (see [`super::Ruleset::context_keys`]).
    pub expected_context: Option<Vec<String>>,
    /// Globs over attribute keys that may appear under a reserved namespace although the
    /// conventions do not define them (`gen_ai.myapp.*`). Config key `allow-keys`.
    pub allow_keys: Vec<String>,
}
