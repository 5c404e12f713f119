//! [`Ruleset`]: the rules file compiled into lookup tables, and [`SpanContext`]: one span with
//! everything the rules need to know about it (its span type, its requirements, who emitted it).

use std::collections::{HashMap, HashSet};

use globset::{Glob, GlobSet, GlobSetBuilder};

use super::rulesfile::{
    AttributeDef, AttributeType, Condition, ContentMode, DeprecatedAttribute, DeprecatedValue,
    Requirement, RulesFile, SpanType,
};
use crate::finding::{Finding, SpanIdentity};
use crate::model::{Offset, ResourceSpans, Scope, Span, SpanKind, StatusCode};

/// A rules file whose content is inconsistent (it parsed, but cannot be used).
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum RulesetError {
    #[error("invalid glob `{glob}` in [{section}]: {source}")]
    #[diagnostic(code(spanlint::rules::glob))]
    Glob {
        section: &'static str,
        glob: String,
        #[source]
        source: globset::Error,
    },
    #[error("refinement `{refinement}` extends unknown span type `{extends}`")]
    #[diagnostic(code(spanlint::rules::refinement))]
    UnknownSpanType { refinement: String, extends: String },
    #[error("span type `{span_type}` names unknown span kind `{kind}`")]
    #[diagnostic(
        code(spanlint::rules::span_kind),
        help("span kinds are: internal, server, client, producer, consumer")
    )]
    UnknownSpanKind { span_type: String, kind: String },
}

/// The rules file, compiled for fast lookups during a check.
#[derive(Debug)]
pub struct Ruleset {
    pub file: RulesFile,
    attributes: HashMap<String, usize>,
    /// Prefixes (with trailing dot) of `template[string]` attributes.
    template_prefixes: Vec<String>,
    deprecated: HashMap<String, usize>,
    deprecated_values: HashMap<(String, String), usize>,
    /// (span type index, provider) → refinement index.
    refinements: HashMap<(usize, String), usize>,
    content_attributes: HashSet<String>,
    content_globs: GlobSet,
    not_content: GlobSet,
    content_events: HashSet<String>,
    genai_name_globs: GlobSet,
}

impl Ruleset {
    /// Compiles a parsed rules file.
    pub fn new(file: RulesFile) -> Result<Self, RulesetError> {
        for span_type in &file.span_types {
            let kinds = span_type.span_kinds.iter().chain(&span_type.select_kind);
            if let Some(bad) = kinds.into_iter().find(|k| parse_kind(k).is_none()) {
                return Err(RulesetError::UnknownSpanKind {
                    span_type: span_type.id.clone(),
                    kind: bad.clone(),
                });
            }
        }
        let mut refinements = HashMap::new();
        for (index, refinement) in file.refinements.iter().enumerate() {
            let base = file
                .span_types
                .iter()
                .position(|t| t.id == refinement.extends)
                .ok_or_else(|| RulesetError::UnknownSpanType {
                    refinement: refinement.id.clone(),
                    extends: refinement.extends.clone(),
                })?;
            refinements.insert((base, refinement.provider.clone()), index);
        }
        Ok(Ruleset {
            attributes: index_by(&file.attributes, |a| a.key.clone()),
            template_prefixes: file
                .attributes
                .iter()
                .filter(|a| a.ty == AttributeType::TemplateString)
                .map(|a| format!("{}.", a.key))
                .collect(),
            deprecated: index_by(&file.deprecated_attributes, |d| d.key.clone()),
            deprecated_values: index_by(&file.deprecated_values, |d| {
                (d.attribute.clone(), d.value.clone())
            }),
            refinements,
            content_attributes: file.content.attributes.iter().cloned().collect(),
            content_globs: glob_set("content.attribute-globs", &file.content.attribute_globs)?,
            not_content: glob_set("content.not-content", &file.content.not_content)?,
            content_events: file.content.events.iter().cloned().collect(),
            genai_name_globs: glob_set(
                "genai-spans.span-name-globs",
                &file.genai_spans.span_name_globs,
            )?,
            file,
        })
    }

    /// The built-in rules for the newest GenAI conventions.
    pub fn builtin() -> Self {
        Ruleset::new(RulesFile::builtin()).expect("the built-in rules file is consistent (tested)")
    }

    /// The registry definition of an attribute key (a template's concrete keys included).
    pub fn attribute(&self, key: &str) -> Option<&AttributeDef> {
        if let Some(&i) = self.attributes.get(key) {
            return Some(&self.file.attributes[i]);
        }
        let prefix = self
            .template_prefixes
            .iter()
            .find(|p| key.starts_with(p.as_str()))?;
        self.attributes
            .get(prefix.trim_end_matches('.'))
            .map(|&i| &self.file.attributes[i])
    }

    pub fn deprecated_attribute(&self, key: &str) -> Option<&DeprecatedAttribute> {
        self.deprecated
            .get(key)
            .map(|&i| &self.file.deprecated_attributes[i])
    }

    pub fn deprecated_value(&self, key: &str, value: &str) -> Option<&DeprecatedValue> {
        self.deprecated_values
            .get(&(key.to_string(), value.to_string()))
            .map(|&i| &self.file.deprecated_values[i])
    }

    /// Whether an attribute key carries recorded content (prompts, completions, tool I/O).
    pub fn is_content_attribute(&self, key: &str) -> bool {
        self.content_attributes.contains(key)
            || (self.content_globs.is_match(key) && !self.not_content.is_match(key))
    }

    pub fn is_content_event(&self, name: &str) -> bool {
        self.content_events.contains(name)
    }

    /// Whether content may be recorded.
    pub fn content_allowed(&self) -> bool {
        self.file.content.policy == ContentMode::Allow
    }

    /// A GenAI span: any attribute under a GenAI prefix, or a GenAI-shaped name.
    pub fn is_genai_span(&self, span: &Span<'_>) -> bool {
        let prefixes = &self.file.genai_spans.attribute_prefixes;
        span.attributes
            .iter()
            .any(|a| prefixes.iter().any(|p| a.key.starts_with(p.as_str())))
            || self.genai_name_globs.is_match(span.name.as_ref())
    }

    /// The span type of a span: the first whose marker attribute is present, or whose
    /// operations include the span's `gen_ai.operation.name` (and whose kind selector, if any,
    /// matches).
    pub fn span_type_of(&self, span: &Span<'_>) -> Option<usize> {
        let operation = span.str_attribute("gen_ai.operation.name");
        self.file.span_types.iter().position(|t| {
            let by_marker = t
                .marker
                .as_deref()
                .is_some_and(|m| span.attribute(m).is_some());
            let by_operation = operation.is_some_and(|op| t.operations.iter().any(|o| o == op))
                && t.select_kind
                    .as_deref()
                    .is_none_or(|k| parse_kind(k) == Some(span.kind));
            by_marker || by_operation
        })
    }

    /// The requirements for a span type, with a provider refinement applied: a refinement's
    /// entry replaces the base entry for the same attribute, new attributes are added.
    pub fn requirements(&self, span_type: usize, provider: Option<&str>) -> Vec<&Requirement> {
        let base = &self.file.span_types[span_type].requirements;
        let Some(refinement) = provider
            .and_then(|p| self.refinements.get(&(span_type, p.to_string())))
            .map(|&i| &self.file.refinements[i])
        else {
            return base.iter().collect();
        };
        let overridden: HashSet<&str> = refinement
            .requirements
            .iter()
            .map(|r| r.attribute.as_str())
            .collect();
        base.iter()
            .filter(|r| !overridden.contains(r.attribute.as_str()))
            .chain(&refinement.requirements)
            .collect()
    }

    /// The refinement id applied for a span type and provider, if any.
    pub fn refinement_id(&self, span_type: usize, provider: Option<&str>) -> Option<&str> {
        provider
            .and_then(|p| self.refinements.get(&(span_type, p.to_string())))
            .map(|&i| self.file.refinements[i].id.as_str())
    }
}

fn index_by<T, K: std::hash::Hash + Eq>(items: &[T], key: impl Fn(&T) -> K) -> HashMap<K, usize> {
    // Later entries win, so a rules file can restate an entry to change it.
    items
        .iter()
        .enumerate()
        .map(|(i, item)| (key(item), i))
        .collect()
}

fn glob_set(section: &'static str, globs: &[String]) -> Result<GlobSet, RulesetError> {
    let mut builder = GlobSetBuilder::new();
    for glob in globs {
        builder.add(Glob::new(glob).map_err(|source| RulesetError::Glob {
            section,
            glob: glob.clone(),
            source,
        })?);
    }
    builder.build().map_err(|source| RulesetError::Glob {
        section,
        glob: globs.join(", "),
        source,
    })
}

/// Parses a span kind name of the rules file.
pub fn parse_kind(name: &str) -> Option<SpanKind> {
    Some(match name {
        "internal" => SpanKind::Internal,
        "server" => SpanKind::Server,
        "client" => SpanKind::Client,
        "producer" => SpanKind::Producer,
        "consumer" => SpanKind::Consumer,
        _ => return None,
    })
}

/// One GenAI span and what the rules need to know about it.
pub struct SpanContext<'r, 'a> {
    pub rules: &'r Ruleset,
    pub span: &'r Span<'a>,
    pub resource: &'r ResourceSpans<'a>,
    pub scope: &'r Scope<'a>,
    /// Index into `rules.file.span_types`, when the span's type could be determined.
    pub span_type: Option<usize>,
    identity: SpanIdentity,
}

impl<'r, 'a> SpanContext<'r, 'a> {
    pub fn new(
        rules: &'r Ruleset,
        span: &'r Span<'a>,
        resource: &'r ResourceSpans<'a>,
        scope: &'r Scope<'a>,
    ) -> Self {
        SpanContext {
            rules,
            span,
            resource,
            scope,
            span_type: rules.span_type_of(span),
            identity: SpanIdentity {
                trace_id: span.trace_id.clone(),
                span_id: span.span_id.clone(),
                name: span.name.to_string(),
                service: crate::model::service_name(resource).map(str::to_string),
            },
        }
    }

    pub fn span_type(&self) -> Option<&'r SpanType> {
        self.span_type.map(|i| &self.rules.file.span_types[i])
    }

    /// The provider: `gen_ai.provider.name`, or the deprecated `gen_ai.system` mapped to its
    /// current value, so old spans still get their provider's refinement.
    pub fn provider(&self) -> Option<&'r str> {
        if let Some(p) = self.span.str_attribute("gen_ai.provider.name") {
            return Some(p);
        }
        let old = self.span.str_attribute("gen_ai.system")?;
        Some(
            self.rules
                .deprecated_value("gen_ai.system", old)
                .map_or(old, |d| d.replacement.as_str()),
        )
    }

    /// The span type's requirements after the provider refinement.
    pub fn requirements(&self) -> Vec<&'r Requirement> {
        self.span_type
            .map(|t| self.rules.requirements(t, self.provider()))
            .unwrap_or_default()
    }

    /// Whether a decidable condition holds for this span.
    pub fn holds(&self, condition: &Condition) -> bool {
        match condition {
            Condition::StatusError => self.span.status.code == StatusCode::Error,
            Condition::Present(key) => self.span.attribute(key).is_some(),
            Condition::AnyPresent(keys) => keys.iter().any(|k| self.span.attribute(k).is_some()),
        }
    }

    /// A finding about this span, with the rule's default severity.
    pub fn finding(
        &self,
        info: &super::RuleInfo,
        message: String,
        help: Option<String>,
        attribute: Option<&str>,
        offset: Offset,
    ) -> Finding {
        Finding {
            rule: info.id,
            severity: info.default_severity,
            message,
            help,
            attribute: attribute.map(str::to_string),
            offset,
            span: self.identity.clone(),
        }
    }

    /// A short description of the span type for messages: "`chat` spans (gen_ai.inference.client)".
    pub fn span_type_label(&self) -> String {
        let span_type = self.span_type().map_or("?", |t| t.id.as_str());
        let refined = self
            .span_type
            .and_then(|t| self.rules.refinement_id(t, self.provider()));
        match (self.span.str_attribute("gen_ai.operation.name"), refined) {
            (Some(op), Some(r)) => format!("`{op}` spans ({r})"),
            (Some(op), None) => format!("`{op}` spans ({span_type})"),
            (None, _) => format!("{span_type} spans"),
        }
    }
}
