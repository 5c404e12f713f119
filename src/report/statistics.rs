//! `--statistics`: how many findings each rule produced, most frequent first, like ruff's
//! `--statistics`:
//!
//! ```text
//!    12  error    missing-required-attribute  a required attribute of the span type is missing
//! ```
//!
//! A rule whose findings have several severities (a rules file can give one rule kind several)
//! gets one row per severity.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::check::LocatedFinding;
use crate::finding::Severity;
use crate::rules::rule as rule_info;

/// Findings per (rule, severity): all `--statistics` keeps of a streamed run.
pub(super) type Counts = BTreeMap<(&'static str, Severity), usize>;

pub(super) fn count(counts: &mut Counts, located: &LocatedFinding) {
    let f = &located.finding;
    *counts.entry((f.rule, f.severity)).or_default() += 1;
}

/// The table of [`render`] from counts.
pub(super) fn render_counts(counts: Counts) -> String {
    let mut rows: Vec<_> = counts.into_iter().collect();
    // Most findings first; ties by severity (worst first), then rule id.
    rows.sort_by(|((rule_a, sev_a), n_a), ((rule_b, sev_b), n_b)| {
        n_b.cmp(n_a).then(sev_b.cmp(sev_a)).then(rule_a.cmp(rule_b))
    });
    let id_width = rows
        .iter()
        .map(|((rule, _), _)| rule.len())
        .max()
        .unwrap_or(0);
    let count_width = rows
        .iter()
        .map(|(_, n)| n.to_string().len())
        .max()
        .unwrap_or(0)
        .max(5);
    let mut out = String::new();
    for ((rule, severity), n) in rows {
        let summary = rule_info(rule).map_or("", |r| r.summary);
        let severity = severity.as_str();
        let _ = writeln!(
            out,
            "{n:>count_width$}  {severity:<7}  {rule:<id_width$}  {summary}"
        );
    }
    out
}
