//! Reports: findings → text. One module per output format. Every format is written piece by
//! piece through a [`Stream`] (findings as they become final, then what follows them), so a
//! run's memory does not grow with its findings (JUnit, whose counts come first, keeps them
//! in temporary files until the end); [`render`] renders a whole [`CheckOutcome`] into a
//! `String` the same way, for tests.
//!
//! | format | for | module |
//! | --- | --- | --- |
//! | `human` | people: miette diagnostics with snippets | [`human`] |
//! | `concise` | people and editors: `file:line:col: severity[rule] message (span)` | [`concise`] |
//! | `json`, `jsonl` | tools: one document / one object per line | [`json`], [`jsonl`] |
//! | `sarif` | GitHub code scanning and other SARIF 2.1.0 consumers | [`sarif`] |
//! | `github` | GitHub Actions annotations (workflow commands) | [`github`] |
//! | `gitlab` | GitLab Code Quality reports | [`gitlab`] |
//! | `junit` | test-report viewers (JUnit XML) | [`junit`] |
//!
//! **Invariant:** no format shows recorded content. Findings hold keys, span names and
//! enum-like values only; the (masked) JSON snippets appear only in the human format. Text that
//! comes from a dump (span names, keys) goes through [`sanitize`] before it reaches a terminal or
//! a line-based format, and every format escapes what its syntax needs.

pub mod concise;
pub mod github;
pub mod gitlab;
pub mod human;
pub mod json;
pub mod jsonl;
pub mod junit;
pub mod safe_diagnostic;
pub mod safe_json;
pub mod sarif;
pub mod statistics;

use std::fmt::Write as _;

use crate::check::{FileReport, LocatedFinding, Summary};
use crate::finding::Finding;

/// Everything a report shows.
pub struct CheckOutcome<'a> {
    pub files: &'a [FileReport],
    /// Inputs or messages that could not be read (also printed to stderr as they happen).
    pub errors: &'a [crate::input::InputError],
    pub summary: Summary,
}

impl CheckOutcome<'_> {
    /// Every finding with its file's name, in report order (files in argument order, findings
    /// in file order).
    pub fn findings(&self) -> impl Iterator<Item = (&str, &LocatedFinding)> {
        self.files
            .iter()
            .flat_map(|file| file.findings.iter().map(move |f| (file.name.as_str(), f)))
    }
}

/// Output formats of `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Diagnostics with source snippets, then a summary (for people).
    Human,
    /// One line per finding: `file:line:col: severity[rule] message (span name)`.
    Concise,
    /// One JSON document with every finding and the summary (for tools).
    Json,
    /// JSON Lines: one object per finding and per input error, then a summary object.
    Jsonl,
    /// SARIF 2.1.0, for GitHub code scanning and other SARIF viewers.
    Sarif,
    /// GitHub Actions workflow commands: one annotation per finding.
    Github,
    /// GitLab Code Quality report (a JSON array).
    Gitlab,
    /// JUnit XML: a test suite per file, a test case per span with findings.
    Junit,
}

impl Format {
    /// Whether a program reads this format: machine formats are never coloured, never
    /// shortened by `--quiet`, and get no progress bar.
    pub fn is_machine(self) -> bool {
        !matches!(self, Format::Human | Format::Concise)
    }
}

/// What a human-readable report shows besides the summary line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum View {
    /// Every finding (the default).
    #[default]
    Findings,
    /// Nothing but the summary line (`--quiet`).
    Quiet,
    /// Counts per rule instead of the findings (`--statistics`).
    Statistics,
}

/// How to render.
#[derive(Debug, Clone, Copy)]
pub struct RenderOptions {
    /// Colour the human format (ignored by every other format).
    pub color: bool,
    /// Terminal width used to wrap the human format.
    pub width: usize,
    /// Ignored by machine formats, which always show every finding.
    pub view: View,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            color: false,
            width: 100,
            view: View::Findings,
        }
    }
}

/// Renders a whole run in one format.
pub fn render(format: Format, outcome: &CheckOutcome<'_>, options: RenderOptions) -> String {
    let mut stream = Stream::new(format, options);
    let mut out = String::new();
    for (index, file) in outcome.files.iter().enumerate() {
        stream.file(index, &file.name, file.genai_spans);
        stream.findings(&file.name, &file.findings, &mut out);
    }
    let mut tail = Vec::new();
    if let Err(err) = stream.finish(outcome.errors, outcome.summary, &mut out, &mut tail) {
        out.push_str(&format!("{err:?}"));
    }
    out.push_str(&String::from_utf8_lossy(&tail));
    out
}

/// A report written piece by piece while the files are checked: `findings` renders findings as
/// soon as they are final, `finish` what follows them (input errors, the summary, the end of a
/// JSON document). What it keeps in memory does not grow with the findings (`--statistics`
/// keeps one count per rule and severity; `sarif` and `gitlab` one occurrence count per
/// fingerprint; `junit`, whose counts come first, keeps its findings in temporary files and
/// writes the whole report at the end).
pub struct Stream {
    kind: StreamKind,
}

enum StreamKind {
    Human(Box<miette::GraphicalReportHandler>),
    Concise,
    Json(json::JsonStream),
    Jsonl,
    Sarif(sarif::SarifStream),
    Github,
    Gitlab(gitlab::GitlabStream),
    Quiet,
    Statistics(statistics::Counts),
    Junit(Box<junit::JunitStream>),
}

impl Stream {
    /// A report in `format`.
    pub fn new(format: Format, options: RenderOptions) -> Stream {
        let human = !format.is_machine();
        let kind = match (format, options.view) {
            (_, View::Quiet) if human => StreamKind::Quiet,
            (_, View::Statistics) if human => StreamKind::Statistics(statistics::Counts::new()),
            (Format::Human, _) => {
                StreamKind::Human(Box::new(human::handler(human::HumanOptions {
                    color: options.color,
                    width: options.width,
                })))
            }
            (Format::Concise, _) => StreamKind::Concise,
            (Format::Json, _) => StreamKind::Json(json::JsonStream::default()),
            (Format::Jsonl, _) => StreamKind::Jsonl,
            (Format::Sarif, _) => StreamKind::Sarif(sarif::SarifStream::default()),
            (Format::Github, _) => StreamKind::Github,
            (Format::Gitlab, _) => StreamKind::Gitlab(gitlab::GitlabStream::new()),
            (Format::Junit, _) => StreamKind::Junit(Box::default()),
        };
        Stream { kind }
    }

    /// The findings given next are of file number `file` (counted from 0 in the order the
    /// files are reported), which has `genai_spans` more GenAI spans.
    pub fn file(&mut self, file: usize, name: &str, genai_spans: usize) {
        if let StreamKind::Junit(junit) = &mut self.kind {
            junit.file(file, name, genai_spans);
        }
    }

    /// The findings given from now on are the trace-level ones, after every file's span-level
    /// findings.
    pub fn traces_follow(&mut self) {
        if let StreamKind::Junit(junit) = &mut self.kind {
            junit.traces_follow();
        }
    }

    /// Renders findings of `file` (final: after severities, ignores and the baseline).
    pub fn findings(&mut self, file: &str, findings: &[LocatedFinding], out: &mut String) {
        if let StreamKind::Junit(junit) = &mut self.kind {
            return junit.findings(findings);
        }
        for located in findings {
            match &mut self.kind {
                StreamKind::Human(handler) => human::render_finding(handler, file, located, out),
                StreamKind::Concise => concise::write_finding(out, file, located),
                StreamKind::Json(json) => json.write_finding(out, file, located),
                StreamKind::Jsonl => jsonl::write_finding(out, file, located),
                StreamKind::Sarif(sarif) => sarif.write_finding(out, file, located),
                StreamKind::Github => github::write_finding(out, file, located),
                StreamKind::Gitlab(gitlab) => gitlab.write_finding(out, file, located),
                StreamKind::Quiet => {}
                StreamKind::Statistics(counts) => statistics::count(counts, located),
                StreamKind::Junit(_) => {}
            }
        }
    }

    /// Renders what follows the findings into `out`: input errors, the statistics table, the
    /// summary (line or object), the end of the JSON document; `junit` writes its whole report
    /// to `to` instead.
    pub fn finish(
        self,
        errors: &[crate::input::InputError],
        summary: Summary,
        out: &mut String,
        to: &mut dyn std::io::Write,
    ) -> Result<(), junit::JunitError> {
        match self.kind {
            StreamKind::Statistics(counts) => {
                out.push_str(&statistics::render_counts(counts));
                out.push_str(&summary_line(&summary));
                out.push('\n');
            }
            StreamKind::Json(json) => json.finish(out, errors, summary),
            StreamKind::Jsonl => jsonl::write_tail(out, errors, summary),
            StreamKind::Sarif(sarif) => sarif.finish(out, errors),
            StreamKind::Github => github::write_errors(out, errors),
            StreamKind::Gitlab(gitlab) => gitlab.finish(out),
            StreamKind::Junit(junit) => return junit.finish(errors, to),
            StreamKind::Human(_) | StreamKind::Concise | StreamKind::Quiet => {
                out.push_str(&summary_line(&summary));
                out.push('\n');
            }
        }
        Ok(())
    }
}

/// The one-line summary: `N spans (G GenAI) in M files: E errors, W warnings, I infos`.
pub fn summary_line(s: &Summary) -> String {
    let mut line = format!(
        "{} ({} GenAI) in {}: {}, {}, {}",
        plural(s.spans, "span"),
        s.genai_spans,
        plural(s.files, "file"),
        plural(s.errors, "error"),
        plural(s.warnings, "warning"),
        plural(s.infos, "info")
    );
    if s.input_errors > 0 {
        let _ = write!(
            line,
            "; {} could not be read",
            plural(s.input_errors, "input")
        );
    }
    line
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Shortens a string for a message, on a character boundary, marking the cut with `…`.
pub fn truncate(text: &str, max_chars: usize) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]).into(),
        None => text.into(),
    }
}

/// Whether a character must not reach a terminal or a viewer raw: the C0 and C1 controls
/// (ESC starts ANSI sequences, U+009B is a one-character CSI, U+0085 a line break) and DEL, the
/// bidirectional marks, embeddings, overrides and isolates that reorder what is shown
/// ("Trojan Source": U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069), and the Unicode
/// line and paragraph separators U+2028/U+2029.
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

/// How many bytes at the start of `bytes` are `plain`. The escapers copy such a run at once:
/// nearly every byte of a report is plain, and most strings are plain to their end. Tested
/// 16 bytes at a time (a test without an early exit, which the compiler vectorizes), the
/// last few padded with spaces to a whole block, byte by byte only in the block that holds
/// the first other byte.
pub(crate) fn plain_run(bytes: &[u8], plain: impl Fn(u8) -> bool) -> usize {
    let all_plain = |block: &[u8]| block.iter().fold(true, |all, &b| all & plain(b));
    let first_other = |block: &[u8]| block.iter().position(|&b| !plain(b));
    let mut blocks = bytes.chunks_exact(16);
    let mut run = 0;
    for block in &mut blocks {
        if !all_plain(block) {
            return run + first_other(block).unwrap_or(block.len());
        }
        run += 16;
    }
    let rest = blocks.remainder();
    let mut last = [b' '; 16];
    last[..rest.len()].copy_from_slice(rest);
    if plain(b' ') && all_plain(&last) {
        return bytes.len();
    }
    run + first_other(rest).unwrap_or(rest.len())
}

/// Replaces the [unsafe characters](is_unsafe_char) (ANSI escapes, newlines, bidi overrides)
/// with U+FFFD, so a dump or a file name cannot rewrite the terminal, reorder what it shows,
/// or break a line-based format.
pub fn sanitize(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(is_unsafe_char) {
        return text.into();
    }
    text.chars()
        .map(|c| if is_unsafe_char(c) { '\u{FFFD}' } else { c })
        .collect::<String>()
        .into()
}

/// A path as shown in a message, [`sanitize`]d.
pub fn shown_path(path: &std::path::Path) -> String {
    sanitize(&path.display().to_string()).into_owned()
}

/// A stable 64-bit FNV-1a hash of some fields, as 16 hex digits. Stable across Rust versions
/// and platforms (unlike `std`'s `DefaultHasher`), so fingerprints survive upgrades. Fields are
/// separated by a 0xFF byte, which UTF-8 text never contains, so `("ab", "c")` and `("a", "bc")`
/// differ.
pub fn stable_hash(fields: &[&str]) -> String {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = OFFSET;
    for field in fields {
        for &byte in field.as_bytes().iter().chain(&[0xFF]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(PRIME);
        }
    }
    format!("{hash:016x}")
}

/// The fields that identify a finding across captures: rule, service, span name and
/// attribute. Never trace or span ids, lines or offsets, which change with every capture.
pub fn identity_fields(finding: &Finding) -> [String; 4] {
    [
        finding.rule.to_string(),
        finding.span.service.clone().unwrap_or_default(),
        finding.span.name.clone(),
        finding.attribute_pattern().unwrap_or_default(),
    ]
}

/// Counts repeats of a key, so findings that share a fingerprint in one file still get unique
/// ones (`hash:1`, `hash:2`, … in file order, the way GitHub numbers repeated line hashes).
#[derive(Default)]
pub struct Occurrences(std::collections::HashMap<String, usize>);

impl Occurrences {
    /// The 1-based occurrence of `key` so far.
    pub fn next(&mut self, key: &str) -> usize {
        let n = self.0.entry(key.to_string()).or_default();
        *n += 1;
        *n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_cuts_on_characters() {
        assert_eq!(truncate("héllo", 10), "héllo");
        assert_eq!(truncate("héllo", 2), "hé…");
    }

    #[test]
    fn stable_hash_is_fnv1a_and_separates_fields() {
        // FNV-1a 64 of the empty input is the offset basis; one field adds the separator.
        assert_ne!(stable_hash(&["ab", "c"]), stable_hash(&["a", "bc"]));
        assert_eq!(stable_hash(&["a"]), stable_hash(&["a"]));
        assert_eq!(stable_hash(&[]), "cbf29ce484222325");
        assert_eq!(stable_hash(&["a"]).len(), 16);
    }

    #[test]
    fn sanitize_replaces_control_characters() {
        assert_eq!(sanitize("a\u{1b}[31mb\nc"), "a\u{FFFD}[31mb\u{FFFD}c");
        assert!(matches!(sanitize("plain"), std::borrow::Cow::Borrowed(_)));
        // C1 CSI, NEL, DEL, bidi override and isolate, line separator.
        assert_eq!(
            sanitize("a\u{9b}b\u{85}c\u{7f}d\u{202e}e\u{2067}f\u{2028}g"),
            "a\u{FFFD}b\u{FFFD}c\u{FFFD}d\u{FFFD}e\u{FFFD}f\u{FFFD}g"
        );
        assert_eq!(sanitize("é 😀 \u{200d}"), "é 😀 \u{200d}");
    }

    #[test]
    fn occurrences_count_per_key() {
        let mut seen = Occurrences::default();
        assert_eq!(seen.next("a"), 1);
        assert_eq!(seen.next("b"), 1);
        assert_eq!(seen.next("a"), 2);
    }
}
