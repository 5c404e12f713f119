//! What a rule reports: a [`Finding`] about one span, and its [`Severity`].

use serde::{Deserialize, Serialize};

use crate::model::Offset;

/// How serious a finding is. Ordered: `Info < Warning < Error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which span a finding is about.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SpanIdentity {
    pub trace_id: String,
    pub span_id: String,
    pub name: String,
    pub service: Option<String>,
    /// The instrumentation scope (library) that emitted the span; empty when unnamed.
    pub scope: String,
}

/// One violation of the conventions found on one span.
///
/// Findings never hold attribute *values* that may carry content (prompts, completions): the
/// message names keys, and values only for enum-like attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// The stable kebab-case rule id, e.g. `deprecated-attribute`.
    pub rule: &'static str,
    pub severity: Severity,
    /// What is wrong, in one sentence.
    pub message: String,
    /// What to do about it.
    pub help: Option<String>,
    /// The attribute the finding is about, when there is one.
    pub attribute: Option<String>,
    /// Where in the input: the attribute's key, or the span's name when the finding is about
    /// something missing.
    pub offset: Offset,
    /// Shared by every finding of the span (a span often has ten), so it is stored once.
    pub span: std::sync::Arc<SpanIdentity>,
}

impl Finding {
    /// The attribute as it identifies the finding across captures: indexed keys with their
    /// indices as `*` (`gen_ai.prompt.*.content`), because another capture of the same code
    /// holds more or fewer messages. Used by baselines and report fingerprints.
    pub fn attribute_pattern(&self) -> Option<String> {
        self.attribute
            .as_deref()
            .map(|key| crate::rules::keys::indexed_pattern(key).unwrap_or_else(|| key.to_string()))
    }
}
