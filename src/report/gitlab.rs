//! `--format gitlab`: a GitLab Code Quality report (`artifacts: reports: codequality:`), a JSON
//! array of issues in the subset of the Code Climate format GitLab reads:
//!
//! ```json
//! [{"description": "…", "check_name": "deprecated-attribute",
//!   "fingerprint": "<32 hex digits>", "severity": "minor",
//!   "location": {"path": "dumps/chat.jsonl", "lines": {"begin": 1}}}]
//! ```
//!
//! Severities: `error` → `major`, `warning` → `minor`, `info` → `info` (`critical` and
//! `blocker` are left for security tools). Protobuf findings are put on line 1, with the byte
//! offset in the description. `fingerprint` must be unique per issue, or GitLab merges issues:
//! it hashes the file, rule, service, span name and attribute (never ids or lines, which change
//! with each capture) and counts repeats in file order. GitLab matches `path` against the
//! repository, so an absolute path under `CI_PROJECT_DIR` (set in every GitLab job) is made
//! relative to it; other paths are kept as given on the command line.

use serde::Serialize;

use super::safe_json::{ObjectWriter, PrettyArray};
use super::{Occurrences, identity_fields, stable_hash};
use crate::check::LocatedFinding;
use crate::finding::Severity;
use crate::input::Position;

#[derive(Serialize)]
struct Issue<'a> {
    description: String,
    check_name: &'a str,
    fingerprint: String,
    severity: &'static str,
    location: Location<'a>,
}

#[derive(Serialize)]
struct Location<'a> {
    path: &'a str,
    lines: Lines,
}

#[derive(Serialize)]
struct Lines {
    begin: usize,
}

/// The issue array written issue by issue (see [`super::Stream`]); the bytes are those of
/// pretty-printing the whole array, with a trailing newline.
pub(super) struct GitlabStream {
    project_dir: Option<String>,
    occurrences: Occurrences,
    issues: Option<PrettyArray>,
}

impl GitlabStream {
    pub fn new() -> GitlabStream {
        GitlabStream {
            project_dir: std::env::var("CI_PROJECT_DIR").ok(),
            occurrences: Occurrences::default(),
            issues: None,
        }
    }

    pub fn write_finding(&mut self, out: &mut String, file: &str, located: &LocatedFinding) {
        let issue = self.issue(file, located);
        let issues = self.issues.get_or_insert_with(|| PrettyArray::open(0, out));
        issues.push_object(out, |object| issue.write(object));
    }

    pub fn finish(self, out: &mut String) {
        self.issues
            .unwrap_or_else(|| PrettyArray::open(0, out))
            .close(out);
        out.push('\n');
    }

    fn issue<'a>(&mut self, file: &'a str, located: &LocatedFinding) -> Issue<'a> {
        let f = &located.finding;
        let [rule, service, span, attribute] = identity_fields(f);
        let key = stable_hash(&[file, &rule, &service, &span, &attribute]);
        let n = self.occurrences.next(&key);
        let (line, place) = match located.position {
            Position::LineColumn { line, .. } => (line, String::new()),
            Position::Byte(offset) => (1, format!(", byte {offset}")),
        };
        Issue {
            description: format!(
                "{} (span `{}`{place})",
                f.message,
                super::truncate(&f.span.name, 80)
            ),
            check_name: f.rule,
            fingerprint: format!("{key}{}", stable_hash(&[&key, &n.to_string()])),
            severity: match f.severity {
                Severity::Error => "major",
                Severity::Warning => "minor",
                Severity::Info => "info",
            },
            location: Location {
                path: repository_path(file, self.project_dir.as_deref()),
                lines: Lines { begin: line },
            },
        }
    }
}

impl Issue<'_> {
    /// Writes the fields as serde would (a report has an issue per finding: see
    /// [`ObjectWriter`]).
    fn write(&self, object: &mut ObjectWriter<'_>) {
        object.string("description", &self.description);
        object.string("check_name", self.check_name);
        object.string("fingerprint", &self.fingerprint);
        object.string("severity", self.severity);
        object.object("location", |object| {
            object.string("path", self.location.path);
            object.object("lines", |object| {
                object.number("begin", self.location.lines.begin);
            });
        });
    }
}

/// `file` relative to the project directory when it lies under it (GitLab shows issues only
/// for paths of the repository).
fn repository_path<'a>(file: &'a str, project_dir: Option<&str>) -> &'a str {
    let Some(dir) = project_dir
        .map(|d| d.trim_end_matches('/'))
        .filter(|d| !d.is_empty())
    else {
        return file;
    };
    file.strip_prefix(dir)
        .and_then(|rest| rest.strip_prefix('/'))
        .unwrap_or(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issues written field by field are serde_json's bytes, escapes included.
    #[test]
    fn hand_written_issues_match_serde() {
        for text in ["", "plain", "a\u{9b}\"\n\u{202e}é x"] {
            let issue = Issue {
                description: format!("d {text}"),
                check_name: "span-kind",
                fingerprint: text.to_string(),
                severity: "minor",
                location: Location {
                    path: text,
                    lines: Lines { begin: 12 },
                },
            };
            super::super::safe_json::assert_written_as_serde(&issue, &[0, 1], |issue, object| {
                issue.write(object)
            });
        }
    }

    #[test]
    fn paths_under_the_project_directory_become_relative() {
        let dir = Some("/builds/team/app");
        assert_eq!(
            repository_path("/builds/team/app/dumps/a.jsonl", dir),
            "dumps/a.jsonl"
        );
        assert_eq!(
            repository_path("/builds/team/app/dumps/a.jsonl", Some("/builds/team/app/")),
            "dumps/a.jsonl"
        );
        assert_eq!(repository_path("dumps/a.jsonl", dir), "dumps/a.jsonl");
        assert_eq!(
            repository_path("/builds/team/application/x.jsonl", dir),
            "/builds/team/application/x.jsonl"
        );
        assert_eq!(repository_path("/tmp/x.jsonl", None), "/tmp/x.jsonl");
    }
}
