//! `--format sarif`: SARIF 2.1.0, for GitHub code scanning (`github/codeql-action/upload-sarif`)
//! and other SARIF viewers. The structs are written by hand for exactly what spanlint emits;
//! `tests/formats.rs` validates the output against the official SARIF 2.1.0 JSON schema.
//!
//! - One run. `tool.driver.rules` lists every rule kind of [`all_rules`] (all of them, so a result's
//!   `ruleIndex` is stable across runs): `id`, `shortDescription` (the one-line summary),
//!   `fullDescription` and `help` (the rule's documentation from its source file, see
//!   [`crate::rules::documentation`]) and `defaultConfiguration.level`.
//! - One result per finding: `ruleId`, `ruleIndex`, `level` (`error`, `warning`, `note`), the
//!   message (with the help on a second line), and one location: for JSON input a physical
//!   location with `region.startLine`/`startColumn` (columns in characters, SARIF's default
//!   `columnKind` `unicodeCodePoints`); for protobuf the `region.byteOffset`. Every location
//!   also has a logical location naming the service, span and attribute.
//! - `partialFingerprints."spanlint/v1"` is a hash of (rule, service, span name, attribute),
//!   never trace or span ids, lines or offsets, which change with every capture; repeats within
//!   one file are numbered (`hash:1`, `hash:2`) as GitHub numbers its own line hashes. GitHub
//!   matches alerts across runs with it.
//! - Inputs that could not be read are `toolExecutionNotifications` of the invocation, whose
//!   `executionSuccessful` is then `false`.
//!
//! Artifact URIs are the paths as given, percent-encoded: run spanlint from
//! the repository root with relative paths so code scanning can place them. GitHub accepts at
//! most 25,000 results per run and 10 MB of gzipped SARIF per upload.

use serde::Serialize;

use super::safe_json::{self, ObjectWriter, PrettyArray};
use super::{Occurrences, identity_fields, stable_hash};
use crate::check::LocatedFinding;
use crate::finding::Severity;
use crate::input::{InputError, Position};
use crate::rules::{all_rules, documentation};

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

#[derive(Serialize)]
struct Tool {
    driver: Driver,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver {
    name: &'static str,
    semantic_version: &'static str,
    rules: Vec<ReportingDescriptor>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReportingDescriptor {
    id: &'static str,
    short_description: Message,
    #[serde(skip_serializing_if = "Option::is_none")]
    full_description: Option<Message>,
    #[serde(skip_serializing_if = "Option::is_none")]
    help: Option<MultiformatMessage>,
    default_configuration: Configuration,
}

#[derive(Serialize)]
struct Configuration {
    level: &'static str,
}

#[derive(Serialize)]
struct Message {
    text: String,
}

#[derive(Serialize)]
struct MultiformatMessage {
    text: String,
    markdown: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Invocation {
    execution_successful: bool,
    tool_execution_notifications: Vec<Notification>,
}

#[derive(Serialize)]
struct Notification {
    level: &'static str,
    message: Message,
    locations: Vec<NotificationLocation>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NotificationLocation {
    physical_location: PhysicalLocation,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult<'a> {
    rule_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    rule_index: Option<usize>,
    level: &'static str,
    message: Message,
    locations: Vec<Location>,
    partial_fingerprints: Fingerprints,
    properties: Properties<'a>,
}

#[derive(Serialize)]
struct Fingerprints {
    #[serde(rename = "spanlint/v1")]
    v1: String,
}

/// Where to find the span in a trace backend (ids are not part of the fingerprint).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Properties<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    trace_id: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    span_id: &'a str,
    span_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    service: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    attribute: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location {
    physical_location: PhysicalLocation,
    logical_locations: Vec<LogicalLocation>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: ArtifactLocation,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<Region>,
}

#[derive(Serialize)]
struct ArtifactLocation {
    uri: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    #[serde(skip_serializing_if = "Option::is_none")]
    start_line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_column: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    byte_offset: Option<usize>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LogicalLocation {
    name: String,
    fully_qualified_name: String,
    kind: &'static str,
}

impl Region {
    /// A line and column in a JSON dump, a byte offset in a protobuf one.
    fn at(position: Position) -> Self {
        match position {
            Position::LineColumn { line, column } => Region {
                start_line: Some(line),
                start_column: Some(column),
                byte_offset: None,
            },
            // A protobuf dump has no lines, but GitHub code scanning places a result only with a
            // `startLine`: line 1 stands for the file, the byte offset says where.
            Position::Byte(offset) => Region {
                start_line: Some(1),
                start_column: None,
                byte_offset: Some(offset),
            },
        }
    }
}

/// The SARIF log written result by result (see [`super::Stream`]): the run's `tool`, then its
/// `results` array element by element, then its `invocations` (which need the input errors,
/// known only at the end). The bytes are those of pretty-printing the whole log, with a
/// trailing newline.
#[derive(Default)]
pub(super) struct SarifStream {
    occurrences: Occurrences,
    results: Option<PrettyArray>,
    /// The last file a result was written for, and its URI.
    last_uri: (String, String),
}

impl SarifStream {
    pub fn write_finding(&mut self, out: &mut String, file: &str, located: &LocatedFinding) {
        let result = self.result(file, located);
        let results = self.results.get_or_insert_with(|| open(out));
        results.push_object(out, |object| result.write(object));
    }

    pub fn finish(self, out: &mut String, errors: &[InputError]) {
        self.results.unwrap_or_else(|| open(out)).close(out);
        out.push_str(",\n      \"invocations\": ");
        safe_json::write_nested(&[invocation(errors)], 3, out);
        out.push_str("\n    }\n  ]\n}\n");
    }

    /// The file's URI: the last one made, when the finding is of the same file (they come
    /// file by file).
    fn uri_of(&mut self, file: &str) -> String {
        if self.last_uri.0 != file {
            self.last_uri = (file.to_string(), uri(file));
        }
        self.last_uri.1.clone()
    }

    fn result<'a>(&mut self, file: &str, located: &'a LocatedFinding) -> SarifResult<'a> {
        let f = &located.finding;
        let fields = identity_fields(f);
        let hash = stable_hash(&fields.each_ref().map(String::as_str));
        let n = self.occurrences.next(&format!("{file}\u{0}{hash}"));
        let region = Region::at(located.position);
        let mut text = f.message.clone();
        if let Some(help) = &f.help {
            text.push_str("\nhelp: ");
            text.push_str(help);
        }
        let name = f.attribute.as_deref().unwrap_or(&f.span.name);
        let service = f.span.service.as_deref().unwrap_or("-");
        let mut qualified = format!("{service}/{}", f.span.name);
        if let Some(attribute) = &f.attribute {
            qualified.push('/');
            qualified.push_str(attribute);
        }
        SarifResult {
            rule_id: f.rule,
            rule_index: all_rules().position(|r| r.id == f.rule),
            level: level(f.severity),
            message: Message { text },
            locations: vec![Location {
                physical_location: PhysicalLocation {
                    artifact_location: ArtifactLocation {
                        uri: self.uri_of(file),
                    },
                    region: Some(region),
                },
                logical_locations: vec![LogicalLocation {
                    name: name.to_string(),
                    fully_qualified_name: qualified,
                    kind: if f.attribute.is_some() {
                        "member"
                    } else {
                        "object"
                    },
                }],
            }],
            partial_fingerprints: Fingerprints {
                v1: format!("{hash}:{n}"),
            },
            properties: Properties {
                trace_id: &f.span.trace_id,
                span_id: &f.span.span_id,
                span_name: &f.span.name,
                service: f.span.service.as_deref(),
                attribute: f.attribute.as_deref(),
            },
        }
    }
}

impl SarifResult<'_> {
    /// Writes the fields as serde would (a log has a result per finding: see
    /// [`ObjectWriter`]).
    fn write(&self, object: &mut ObjectWriter<'_>) {
        object.string("ruleId", self.rule_id);
        if let Some(index) = self.rule_index {
            object.number("ruleIndex", index);
        }
        object.string("level", self.level);
        object.object("message", |m| m.string("text", &self.message.text));
        object.objects("locations", &self.locations, |object, location| {
            object.object("physicalLocation", |object| {
                location.physical_location.write(object);
            });
            let logical = &location.logical_locations;
            object.objects("logicalLocations", logical, |object, logical| {
                object.string("name", &logical.name);
                object.string("fullyQualifiedName", &logical.fully_qualified_name);
                object.string("kind", logical.kind);
            });
        });
        object.object("partialFingerprints", |object| {
            object.string("spanlint/v1", &self.partial_fingerprints.v1);
        });
        object.object("properties", |object| {
            let p = &self.properties;
            if !p.trace_id.is_empty() {
                object.string("traceId", p.trace_id);
            }
            if !p.span_id.is_empty() {
                object.string("spanId", p.span_id);
            }
            object.string("spanName", p.span_name);
            if let Some(service) = p.service {
                object.string("service", service);
            }
            if let Some(attribute) = p.attribute {
                object.string("attribute", attribute);
            }
        });
    }
}

impl PhysicalLocation {
    fn write(&self, object: &mut ObjectWriter<'_>) {
        object.object("artifactLocation", |object| {
            object.string("uri", &self.artifact_location.uri);
        });
        if let Some(region) = &self.region {
            object.object("region", |object| {
                let fields = [
                    ("startLine", region.start_line),
                    ("startColumn", region.start_column),
                    ("byteOffset", region.byte_offset),
                ];
                for (key, value) in fields {
                    if let Some(value) = value {
                        object.number(key, value);
                    }
                }
            });
        }
    }
}

/// Writes the log's start, up to the run's `results` array, and opens it.
fn open(out: &mut String) -> PrettyArray {
    out.push_str("{\n  \"$schema\": ");
    safe_json::write_nested(SCHEMA, 1, out);
    out.push_str(",\n  \"version\": \"2.1.0\",\n  \"runs\": [\n    {\n      \"tool\": ");
    safe_json::write_nested(&tool(), 3, out);
    out.push_str(",\n      \"results\": ");
    PrettyArray::open(3, out)
}

fn tool() -> Tool {
    let rules = all_rules()
        .map(|info| {
            let doc = documentation(info.id);
            ReportingDescriptor {
                id: info.id,
                short_description: Message {
                    text: info.summary.to_string(),
                },
                full_description: doc.map(|doc| Message {
                    text: without_title(doc).to_string(),
                }),
                help: doc.map(|doc| MultiformatMessage {
                    text: without_title(doc).to_string(),
                    markdown: without_title(doc).to_string(),
                }),
                default_configuration: Configuration {
                    level: level(info.default_severity),
                },
            }
        })
        .collect();
    Tool {
        driver: Driver {
            name: "spanlint",
            semantic_version: env!("CARGO_PKG_VERSION"),
            rules,
        },
    }
}

/// The run's one invocation: inputs that could not be read are its notifications.
fn invocation(errors: &[InputError]) -> Invocation {
    let notifications: Vec<Notification> = errors
        .iter()
        .map(|err| Notification {
            level: "error",
            message: Message {
                text: err.to_string(),
            },
            locations: vec![NotificationLocation {
                physical_location: PhysicalLocation {
                    artifact_location: ArtifactLocation {
                        uri: uri(err.file()),
                    },
                    region: err.position().map(Region::at),
                },
            }],
        })
        .collect();
    Invocation {
        execution_successful: notifications.is_empty(),
        tool_execution_notifications: notifications,
    }
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

/// The documentation without its `# rule-id` title (the id is already the descriptor's).
fn without_title(doc: &str) -> &str {
    match doc.strip_prefix("# ") {
        Some(rest) => rest.split_once('\n').map_or("", |(_, body)| body).trim(),
        None => doc.trim(),
    }
}

/// A file name as a relative URI reference: every byte outside RFC 3986's unreserved set and
/// `/` percent-encoded (`<stdin>` becomes `%3Cstdin%3E`).
fn uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_percent_encoded() {
        assert_eq!(uri("dumps/a b.jsonl"), "dumps/a%20b.jsonl");
        assert_eq!(uri("<stdin>"), "%3Cstdin%3E");
        assert_eq!(uri("dir\\x.pb"), "dir%5Cx.pb");
        assert_eq!(uri("é"), "%C3%A9");
    }

    /// Results written field by field are serde_json's bytes, escapes and skipped fields
    /// included.
    #[test]
    fn hand_written_results_match_serde() {
        use crate::finding::{Finding, SpanIdentity};
        let hostile = "a\u{9b}\"\n\u{202e}é x";
        let mut stream = SarifStream::default();
        for (i, text) in ["", "plain", hostile].into_iter().enumerate() {
            for position in [
                Position::LineColumn { line: 2, column: 9 },
                Position::Byte(77),
            ] {
                let located = LocatedFinding {
                    finding: Finding {
                        rule: if i == 0 { "no-such-rule" } else { "span-kind" },
                        severity: Severity::Warning,
                        message: format!("m {text}"),
                        help: (i > 0).then(|| text.to_string()),
                        attribute: (i > 0).then(|| text.to_string()),
                        offset: 77,
                        span: std::sync::Arc::new(SpanIdentity {
                            trace_id: text.to_string(),
                            span_id: text.to_string(),
                            name: text.to_string(),
                            service: (i > 0).then(|| text.to_string()),
                            scope: String::new(),
                        }),
                    },
                    position,
                    snippet: None,
                };
                let result = stream.result(text, &located);
                safe_json::assert_written_as_serde(&result, &[0, 3], |result, object| {
                    result.write(object)
                });
            }
        }
    }

    #[test]
    fn rule_help_drops_the_title() {
        assert_eq!(without_title("# a-rule\n\n## What\nx\n"), "## What\nx");
    }
}
