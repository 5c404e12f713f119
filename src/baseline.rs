//! Baselines: accept today's findings, report only new ones (ESLint's bulk suppressions).
//!
//! `spanlint check --write-baseline FILE` records the findings of a run, counted by
//! [`Key`] = (rule, service, span name, attribute; indexed keys with `*` for their indices). Trace and span ids, files and lines are left
//! out on purpose: they change with every capture, so a baseline keyed on them would match
//! nothing the next day. `--baseline FILE` then absorbs up to `count` findings per key (the
//! first ones in report order) and reports the rest; entries that absorbed fewer findings than
//! their count are stale and reported as warnings pointing at their line.
//!
//! The file is TOML, sorted by key, one `[[finding]]` per key, with room for a `reason` that a
//! rewrite keeps:
//!
//! ```toml
//! version = 1
//!
//! [[finding]]
//! rule = "deprecated-attribute"
//! service = "billing"
//! span-name = "chat gpt-4o"
//! attribute = "gen_ai.system"
//! count = 2
//! reason = "the OpenAI instrumentation still sets it"
//! ```

use std::collections::BTreeMap;
use std::io::Write as _;
use std::ops::Range;
use std::path::Path;

use miette::{NamedSource, SourceSpan};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::check::FileReport;
use crate::finding::Finding;

/// The baseline file format version.
pub const VERSION: u32 = 1;

/// What identifies findings across captures.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    pub rule: String,
    pub service: Option<String>,
    pub span_name: String,
    pub attribute: Option<String>,
}

impl Key {
    pub fn of(finding: &Finding) -> Key {
        Key {
            rule: finding.rule.to_string(),
            service: finding.span.service.clone(),
            span_name: finding.span.name.clone(),
            attribute: finding.attribute_pattern(),
        }
    }
}

/// One `[[finding]]` of a baseline file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Entry {
    pub rule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    pub span_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute: Option<String>,
    /// How many findings with this key are accepted.
    pub count: usize,
    /// Why they are accepted (for people; kept when the baseline is rewritten).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Entry {
    pub fn key(&self) -> Key {
        Key {
            rule: self.rule.clone(),
            service: self.service.clone(),
            span_name: self.span_name.clone(),
            attribute: self.attribute.clone(),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, bound(deserialize = "E: Deserialize<'de>"))]
struct BaselineFile<E> {
    version: u32,
    #[serde(default, rename = "finding")]
    findings: Vec<E>,
}

/// A baseline read from a file.
#[derive(Debug, Clone)]
pub struct Baseline {
    name: String,
    text: String,
    entries: Vec<(Entry, Range<usize>)>,
}

/// A baseline file that cannot be used.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum BaselineError {
    #[error("cannot read baseline {path}: {error}")]
    #[diagnostic(code(spanlint::baseline::io))]
    Io {
        path: String,
        #[source]
        error: std::io::Error,
    },
    #[error("invalid baseline {path}: {message}")]
    #[diagnostic(
        code(spanlint::baseline::invalid),
        help("write a new one with `spanlint check --write-baseline {path} …`")
    )]
    Invalid {
        path: String,
        message: String,
        #[source_code]
        source_code: NamedSource<String>,
        #[label("here")]
        at: Option<SourceSpan>,
    },
    #[error("cannot write baseline {path}: {error}")]
    #[diagnostic(code(spanlint::baseline::write))]
    Write {
        path: String,
        #[source]
        error: std::io::Error,
    },
}

/// A baseline entry that absorbed fewer findings than its count.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("stale baseline entry: {count} `{rule}` finding(s) recorded {on}, {found} found")]
#[diagnostic(
    code(spanlint::baseline::stale),
    severity(Warning),
    help("the findings were fixed: lower the count or remove the entry (or rewrite the baseline)")
)]
pub struct StaleEntry {
    pub rule: String,
    /// "on span `…` (service `…`) for `attribute`".
    pub on: String,
    pub count: usize,
    pub found: usize,
    #[source_code]
    source_code: NamedSource<String>,
    #[label("no longer matches {count} finding(s)")]
    at: SourceSpan,
}

// A baseline error ends the run, once: the size of the error (it carries the file's text for
// the snippet) does not matter.
#[allow(clippy::result_large_err)]
impl Baseline {
    /// Reads a baseline file.
    pub fn load(path: &Path) -> Result<Baseline, BaselineError> {
        let text = std::fs::read_to_string(path).map_err(|error| BaselineError::Io {
            path: path.display().to_string(),
            error,
        })?;
        Baseline::parse(&path.display().to_string(), text)
    }

    /// Parses a baseline's text; `name` names it in diagnostics.
    pub fn parse(name: &str, text: String) -> Result<Baseline, BaselineError> {
        let invalid = |message: String, at: Option<Range<usize>>| BaselineError::Invalid {
            path: name.to_string(),
            message,
            source_code: NamedSource::new(name, text.clone()).with_language("toml"),
            at: at.map(SourceSpan::from),
        };
        let file: BaselineFile<Spanned<Entry>> =
            toml::from_str(&text).map_err(|err| invalid(err.message().to_string(), err.span()))?;
        if file.version != VERSION {
            return Err(invalid(
                format!(
                    "version {} is not supported (expected {VERSION})",
                    file.version
                ),
                text.find("version").map(|at| at..at + "version".len()),
            ));
        }
        let entries = file
            .findings
            .into_iter()
            .map(|e| {
                let span = e.span();
                (e.into_inner(), span)
            })
            .collect();
        Ok(Baseline {
            name: name.to_string(),
            text,
            entries,
        })
    }

    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().map(|(e, _)| e)
    }
}

/// Counts findings against a baseline during a run.
#[derive(Debug)]
pub struct Absorber<'b> {
    baseline: &'b Baseline,
    /// Key → (entry index, findings absorbed so far).
    remaining: BTreeMap<Key, (usize, usize)>,
}

impl<'b> Absorber<'b> {
    pub fn new(baseline: &'b Baseline) -> Self {
        // A key listed twice: the later entry wins, as in the rules file.
        let remaining = baseline
            .entries
            .iter()
            .enumerate()
            .map(|(i, (e, _))| (e.key(), (i, 0)))
            .collect();
        Absorber {
            baseline,
            remaining,
        }
    }

    /// Whether the baseline accepts this finding (and counts it).
    pub fn absorb(&mut self, finding: &Finding) -> bool {
        let Some((index, absorbed)) = self.remaining.get_mut(&Key::of(finding)) else {
            return false;
        };
        if *absorbed < self.baseline.entries[*index].0.count {
            *absorbed += 1;
            true
        } else {
            false
        }
    }

    /// The entries that absorbed fewer findings than their count, in file order.
    pub fn stale(&self) -> Vec<StaleEntry> {
        let mut stale: Vec<(usize, usize)> = self
            .remaining
            .values()
            .filter(|&&(i, absorbed)| absorbed < self.baseline.entries[i].0.count)
            .copied()
            .collect();
        stale.sort_unstable();
        stale
            .into_iter()
            .map(|(i, found)| {
                let (entry, span) = &self.baseline.entries[i];
                let mut on = format!("on span `{}`", entry.span_name);
                if let Some(service) = &entry.service {
                    on.push_str(&format!(" of `{service}`"));
                }
                if let Some(attribute) = &entry.attribute {
                    on.push_str(&format!(" for `{attribute}`"));
                }
                StaleEntry {
                    rule: entry.rule.clone(),
                    on,
                    count: entry.count,
                    found,
                    source_code: NamedSource::new(&self.baseline.name, self.baseline.text.clone())
                        .with_language("toml"),
                    at: span.clone().into(),
                }
            })
            .collect()
    }
}

/// Counts a run's findings by baseline key as they pass (`--write-baseline`), so the findings
/// themselves need not be kept.
#[derive(Default)]
pub struct Recorder {
    counts: BTreeMap<Key, usize>,
    findings: usize,
}

impl Recorder {
    pub fn add(&mut self, finding: &Finding) {
        *self.counts.entry(Key::of(finding)).or_default() += 1;
        self.findings += 1;
    }

    /// How many findings were recorded.
    pub fn findings(&self) -> usize {
        self.findings
    }

    /// The baseline entries, sorted by key; reasons of `previous` entries with the same key are
    /// kept.
    pub fn entries(self, previous: Option<&Baseline>) -> Vec<Entry> {
        let reasons: BTreeMap<Key, String> = previous
            .into_iter()
            .flat_map(Baseline::entries)
            .filter_map(|e| Some((e.key(), e.reason.clone()?)))
            .collect();
        self.counts
            .into_iter()
            .map(|(key, count)| Entry {
                reason: reasons.get(&key).cloned(),
                rule: key.rule,
                service: key.service,
                span_name: key.span_name,
                attribute: key.attribute,
                count,
            })
            .collect()
    }
}

/// The baseline entries for a run's findings, sorted by key; reasons of `previous` entries
/// with the same key are kept.
pub fn record(files: &[FileReport], previous: Option<&Baseline>) -> Vec<Entry> {
    let mut recorder = Recorder::default();
    for located in files.iter().flat_map(|f| &f.findings) {
        recorder.add(&located.finding);
    }
    recorder.entries(previous)
}

/// The text of a baseline file.
pub fn render(entries: &[Entry]) -> String {
    let file = BaselineFile {
        version: VERSION,
        findings: entries.to_vec(),
    };
    let body = toml::to_string(&file).expect("a baseline serializes to TOML");
    format!(
        "# spanlint baseline: findings accepted for now. `spanlint check --baseline <this file>`\n\
         # reports only findings beyond these counts. Keyed by rule, service, span name and\n\
         # attribute; add `reason = \"…\"` to an entry to say why (rewrites keep it).\n\n{body}"
    )
}

/// Writes a baseline atomically: a temporary file in the target's directory, renamed over it,
/// so an interrupted write never leaves half a baseline.
#[allow(clippy::result_large_err)] // See `impl Baseline`.
pub fn write(path: &Path, entries: &[Entry]) -> Result<(), BaselineError> {
    let error = |error: std::io::Error| BaselineError::Write {
        path: path.display().to_string(),
        error,
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(error)?;
    file.write_all(render(entries).as_bytes()).map_err(error)?;
    file.as_file().sync_all().map_err(error)?;
    file.persist(path).map_err(|e| error(e.error))?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    fn entry(rule: &str, span_name: &str, count: usize) -> Entry {
        Entry {
            rule: rule.to_string(),
            service: Some("svc".to_string()),
            span_name: span_name.to_string(),
            attribute: None,
            count,
            reason: None,
        }
    }

    #[test]
    fn a_rendered_baseline_reads_back() {
        let entries = vec![entry("a", "chat x", 2), entry("b", "chat \"y\"", 1)];
        let text = render(&entries);
        let baseline = Baseline::parse("b.toml", text).expect("reads back");
        assert_eq!(baseline.entries().cloned().collect::<Vec<_>>(), entries);
    }

    #[test]
    fn a_wrong_version_or_unknown_key_is_an_error() {
        assert!(Baseline::parse("b", "version = 2\n".to_string()).is_err());
        let err = Baseline::parse(
            "b",
            "version = 1\n[[finding]]\nrule = \"a\"\nspan-name = \"s\"\ncount = 1\nline = 3\n"
                .to_string(),
        )
        .expect_err("unknown key");
        assert!(err.to_string().contains("line"), "{err}");
    }
}
