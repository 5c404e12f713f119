//! The span name `migrate` gives a span: its span type's first `span-names` template (genai.toml)
//! that renders, filled from the span's attributes as migrated.
//!
//! The answer of a rules [`SpanContext`](crate::rules::ruleset::SpanContext) and
//! `span_name_format::render`, found without what a context builds for the rules (the ids as
//! text, the service, the provider) and without copying the span: a name depends on a few keys
//! only (the operation, the operation hints' keys, the span types' markers, the templates'
//! placeholders), so those attributes alone are handed to the [`Ruleset`]'s span-type lookup.
//! A unit test compares the two on every span of the fixtures, before and after migration.

use std::borrow::Cow;

use foldhash::{HashSet, HashSetExt};

use crate::model::{Attribute, Span, Value};
use crate::rules::Ruleset;

/// The keys a span's name depends on and the span types' templates, found once per
/// [`super::Migrator`].
#[derive(Debug)]
pub(super) struct Namer {
    /// `gen_ai.operation.name`, every operation hint's key, every span type's marker and every
    /// template placeholder.
    keys: HashSet<String>,
    /// Per span type, its `span-names` templates, parsed.
    templates: Vec<Vec<Template>>,
}

/// A `span-names` template cut at its placeholders; `None` for one with a `{` without its `}`
/// (it never renders).
type Template = Option<Vec<Piece>>;

#[derive(Debug)]
enum Piece {
    Text(String),
    Placeholder(String),
}

impl Namer {
    pub(super) fn new(rules: &Ruleset) -> Self {
        let templates: Vec<Vec<Template>> = (rules.file.span_types.iter())
            .map(|t| t.span_names.iter().map(|name| parse(name)).collect())
            .collect();
        let mut keys = HashSet::new();
        keys.insert("gen_ai.operation.name".to_string());
        keys.extend(
            rules
                .file
                .operation_hints
                .iter()
                .map(|h| h.attribute.clone()),
        );
        keys.extend(
            rules
                .file
                .span_types
                .iter()
                .filter_map(|t| t.marker.clone()),
        );
        for pieces in templates.iter().flatten().flatten() {
            keys.extend(pieces.iter().filter_map(|piece| match piece {
                Piece::Placeholder(key) => Some(key.clone()),
                Piece::Text(_) => None,
            }));
        }
        Namer { keys, templates }
    }

    /// Every key the name can depend on.
    pub(super) fn keys(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(String::as_str)
    }

    /// Whether the name can depend on this key.
    pub(super) fn decides(&self, key: &str) -> bool {
        self.keys.contains(key)
    }

    /// The name of a span whose attributes (as migrated) are `attributes`, when it differs from
    /// `span.name`; `None` also when the span is not a GenAI span, has no span type, or no
    /// template renders. Each attribute may come with whether the name depends on its key
    /// ([`Namer::decides`], when the caller knows it).
    pub(super) fn name<'v>(
        &self,
        rules: &Ruleset,
        span: &Span<'_>,
        attributes: impl Iterator<Item = (&'v str, &'v Value<'v>, Option<bool>)> + Clone,
    ) -> Option<String> {
        let prefixes = &rules.file.genai_spans.attribute_prefixes;
        let genai_key = attributes
            .clone()
            .any(|(key, _, _)| prefixes.iter().any(|p| key.starts_with(p.as_str())));
        // The attributes the name depends on, in order (every lookup below takes the first
        // attribute of a key, as it would on the whole span).
        let probe = Span {
            attributes: attributes
                .filter(|(key, _, decides)| decides.unwrap_or_else(|| self.decides(key)))
                .map(|(key, value, _)| Attribute {
                    key: Cow::Borrowed(key),
                    value: borrowed(value),
                    offset: 0,
                })
                .collect(),
            trace_id: Default::default(),
            span_id: Default::default(),
            parent_span_id: Default::default(),
            name: Cow::Borrowed(span.name.as_ref()),
            kind: span.kind,
            start_time_unix_nano: span.start_time_unix_nano,
            end_time_unix_nano: span.end_time_unix_nano,
            events: Vec::new(),
            status: Default::default(),
            offset: span.offset,
            name_offset: span.name_offset,
        };
        // The probe has no key under a GenAI prefix when the span has none: the ruleset then
        // tests the name alone.
        if !genai_key && !rules.is_genai_span(&probe) {
            return None;
        }
        let operation = match probe.str_attribute("gen_ai.operation.name") {
            Some(name) => Some(name),
            None => rules.hinted_operation(&probe).map(|(name, _)| name),
        };
        let templates = self.templates.get(rules.span_type_of(&probe, operation)?)?;
        let name = (templates.iter().flatten()).find_map(|t| render(t, &probe, operation))?;
        (name != span.name).then_some(name)
    }
}

/// A template cut at its placeholders, as `span_name_format` reads it.
fn parse(template: &str) -> Template {
    let mut pieces = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}')? + open;
        pieces.push(Piece::Text(rest[..open].to_string()));
        pieces.push(Piece::Placeholder(rest[open + 1..close].to_string()));
        rest = &rest[close + 1..];
    }
    pieces.push(Piece::Text(rest.to_string()));
    Some(pieces)
}

/// A template with its placeholders filled (as `span_name_format::render` fills them): the
/// operation for `gen_ai.operation.name` (inferred or not), else the attribute, when it is a
/// non-empty string; `None` when one is not.
fn render(template: &[Piece], span: &Span<'_>, operation: Option<&str>) -> Option<String> {
    let mut out = String::with_capacity(32);
    for piece in template {
        let text = match (piece, operation) {
            (Piece::Text(text), _) => text,
            (Piece::Placeholder(key), Some(operation)) if key == "gen_ai.operation.name" => {
                operation
            }
            (Piece::Placeholder(key), _) => match &span.attribute(key)?.value {
                Value::String(s) if !s.is_empty() => s,
                _ => return None,
            },
        };
        out.push_str(text);
    }
    Some(out)
}

/// A value borrowing the strings of `value` (byte values are copied).
pub(super) fn borrowed<'b>(value: &'b Value<'_>) -> Value<'b> {
    match value {
        Value::Empty => Value::Empty,
        Value::String(s) => Value::String(Cow::Borrowed(s.as_ref())),
        Value::Bool(b) => Value::Bool(*b),
        Value::Int(i) => Value::Int(*i),
        Value::Double(d) => Value::Double(*d),
        Value::Bytes(b) => Value::Bytes(b.clone()),
        Value::Array(items) => Value::Array(items.iter().map(borrowed).collect()),
        Value::KvList(kvs) => Value::KvList(
            kvs.iter()
                .map(|kv| Attribute {
                    key: Cow::Borrowed(kv.key.as_ref()),
                    value: borrowed(&kv.value),
                    offset: kv.offset,
                })
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::LoadedFile;
    use crate::migrate::mapping::MappingFile;
    use crate::migrate::{Migrator, Options};
    use crate::rules::ruleset::SpanContext;

    /// The name a rules span context gives (what `migrate` computed before the [`Namer`]).
    fn name_by_context(
        rules: &Ruleset,
        span: &Span<'_>,
        resource: &crate::model::ResourceSpans<'_>,
        scope: &crate::model::Scope<'_>,
    ) -> Option<String> {
        if !rules.is_genai_span(span) {
            return None;
        }
        let ctx = SpanContext::new(rules, span, resource, scope);
        let name = ctx
            .span_type()?
            .span_names
            .iter()
            .find_map(|t| crate::rules::span_name_format::render(t, &ctx))?;
        (name != span.name).then_some(name)
    }

    #[test]
    fn templates_are_cut_at_their_placeholders() {
        let shown = |t: &str| {
            parse(t).map(|pieces| {
                (pieces.iter())
                    .map(|p| match p {
                        Piece::Text(text) => format!("[{text}]"),
                        Piece::Placeholder(key) => format!("{{{key}}}"),
                    })
                    .collect::<String>()
            })
        };
        assert_eq!(shown("{a.b} x {c}{d}").unwrap(), "[]{a.b}[ x ]{c}[]{d}[]");
        assert_eq!(shown("plan").unwrap(), "[plan]");
        assert_eq!(shown("{a} {b"), None);
    }

    /// Every span of every fixture, as read and as `migrate` writes it (under options that
    /// rename, add operations, move squatters), is named as a rules span context names it.
    #[test]
    fn names_are_the_rules_span_contexts_names() {
        let rules = Ruleset::builtin();
        let namer = Namer::new(&rules);
        let paths = crate::migrate::fixture_dumps();
        let options = [
            Options::default(),
            Options {
                dual_emit: true,
                target: Some("1.37".into()),
                squatter_namespace: Some("myapp".into()),
                ..Options::default()
            },
        ];
        let (mut named, mut compared) = (0, 0);
        for path in &paths {
            let file = LoadedFile::fixture(path);
            let mut copies = vec![file.bytes().to_vec()];
            for options in &options {
                let migrator =
                    Migrator::new(Ruleset::builtin(), MappingFile::builtin(), options.clone())
                        .unwrap();
                copies.push(
                    crate::migrate::migrate_file(&file, &migrator)
                        .unwrap()
                        .content,
                );
            }
            for copy in copies {
                let copy = LoadedFile::from_bytes("copy", copy, file.format).unwrap();
                for batch in copy.batches() {
                    let batch = batch.unwrap();
                    for rs in &batch.resource_spans {
                        for ss in &rs.scope_spans {
                            for span in &ss.spans {
                                let attributes = (span.attributes.iter())
                                    .map(|a| (a.key.as_ref(), &a.value, None));
                                let name = namer.name(&rules, span, attributes);
                                let expected = name_by_context(&rules, span, rs, &ss.scope);
                                assert_eq!(name, expected, "{}: {}", path.display(), span.name);
                                named += usize::from(name.is_some());
                                compared += 1;
                            }
                        }
                    }
                }
            }
        }
        assert!(named > 20 && compared > 150, "{named} of {compared}");
    }
}
