//! The one place where configuration meets findings (cargo-deny's diagnostic sink).
//!
//! Rules report every finding with their default severity; after they ran, [`Sink::apply`]
//! takes each finding through, in this order:
//!
//! 1. `[rules.<id>] severity`: `off` drops the finding, a severity replaces its own;
//! 2. `[[ignore]]`: a finding that any entry matches is dropped (every matching entry counts as
//!    used);
//! 3. `--baseline`: a finding the baseline still has room for is dropped.
//!
//! Rules never read severities or ignores, so a rule's output does not depend on the project.
//! Afterwards the sink knows which ignore entries matched nothing and which baseline entries are
//! stale, and the command warns about them.

use crate::baseline::{Absorber, Baseline, StaleEntry};
use crate::check::{FileReport, LocatedFinding};
use crate::config::{Config, Ignore};
use crate::finding::Finding;

/// Applies a configuration (and maybe a baseline) to a run's findings.
#[derive(Debug)]
pub struct Sink<'a> {
    config: &'a Config,
    /// Findings matched by each `[[ignore]]` entry.
    ignore_hits: Vec<usize>,
    baseline: Option<Absorber<'a>>,
    /// Findings dropped by `[[ignore]]` entries.
    pub ignored: usize,
    /// Findings absorbed by the baseline.
    pub baselined: usize,
}

impl<'a> Sink<'a> {
    pub fn new(config: &'a Config, baseline: Option<&'a Baseline>) -> Self {
        Sink {
            config,
            ignore_hits: vec![0; config.ignores.len()],
            baseline: baseline.map(Absorber::new),
            ignored: 0,
            baselined: 0,
        }
    }

    /// Applies severities, ignores and the baseline to every file's findings, in report order.
    pub fn apply(&mut self, files: &mut [FileReport]) {
        for file in files {
            self.apply_findings(&mut file.findings);
        }
    }

    /// [`Sink::apply`] for some findings, for a report that streams: call it in report order.
    pub fn apply_findings(&mut self, findings: &mut Vec<LocatedFinding>) {
        findings.retain_mut(|located| self.keep(&mut located.finding));
    }

    fn keep(&mut self, finding: &mut Finding) -> bool {
        if let Some(level) = self.config.levels.get(finding.rule) {
            match level.severity() {
                None => return false,
                Some(severity) => finding.severity = severity,
            }
        }
        let mut ignored = false;
        for (ignore, hits) in self.config.ignores.iter().zip(&mut self.ignore_hits) {
            if ignore.matches(finding) {
                *hits += 1;
                ignored = true;
            }
        }
        if ignored {
            self.ignored += 1;
            return false;
        }
        if self.baseline.as_mut().is_some_and(|b| b.absorb(finding)) {
            self.baselined += 1;
            return false;
        }
        true
    }

    /// The `[[ignore]]` entries that matched no finding, in file order.
    pub fn unmatched_ignores(&self) -> impl Iterator<Item = &'a Ignore> + '_ {
        self.config
            .ignores
            .iter()
            .zip(&self.ignore_hits)
            .filter(|&(_, &hits)| hits == 0)
            .map(|(ignore, _)| ignore)
    }

    /// Baseline entries that absorbed fewer findings than their count.
    pub fn stale_baseline_entries(&self) -> Vec<StaleEntry> {
        self.baseline
            .as_ref()
            .map(Absorber::stale)
            .unwrap_or_default()
    }
}
