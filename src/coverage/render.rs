//! Renders a coverage [`Report`] as aligned terminal tables, Markdown or JSON; the HTML page is
//! in [`super::html`]. All formats render the same [`Section`]s, so they show the same numbers.
//!
//! With `--compare OLD.json` every number that has a counterpart in the old report gets its
//! change: `↑ +4.5` or `↓ -2` (`=` when unchanged). Strings from the dump (service, scope and
//! model names, `error.type`) are sanitized here; HTML escapes them in `html.rs`.

use super::{Report, share};
use crate::report::{sanitize, truncate};

/// One cell of a table.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Text from the dump or spanlint's own.
    Text(String),
    /// A right-aligned number, already formatted, with its change against `--compare`.
    Num(String, Option<Delta>),
    /// A share from 0 to 1 (a bar in the terminal and HTML), with its change, and whether more
    /// is better (required attributes) or worse (deprecated keys, recorded content): the bar's
    /// colour says good or bad, not big or small.
    Share(f64, Option<Delta>, Goal),
    /// Nothing applies.
    Empty,
}

/// Whether a share should be high or low.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    High,
    Low,
}

impl Goal {
    /// How good a share is, from 0 (bad) to 1 (good).
    pub fn goodness(self, share: f64) -> f64 {
        match self {
            Goal::High => share,
            Goal::Low => 1.0 - share,
        }
    }
}

/// The change of a number against the old report.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Delta {
    pub change: f64,
    /// Shares are shown in percentage points.
    pub points: bool,
}

impl Delta {
    pub fn text(&self) -> String {
        let change = if self.points {
            self.change * 100.0
        } else {
            self.change
        };
        if change.abs() < 0.05 {
            "=".to_string()
        } else if change > 0.0 {
            format!("↑ +{}", num(change))
        } else {
            format!("↓ -{}", num(-change))
        }
    }
}

/// A titled table.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    pub title: String,
    /// A sentence under the title (how to read the table).
    pub note: Option<String>,
    pub headers: Vec<&'static str>,
    pub rows: Vec<Vec<Cell>>,
}

/// A number without useless decimals: `12`, `12.5`, `0.125`.
pub fn num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else if x.abs() >= 100.0 {
        format!("{x:.1}")
    } else {
        let s = format!("{x:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn text(s: &str) -> Cell {
    Cell::Text(sanitize(&truncate(s, 60)).into_owned())
}

fn delta_of(new: f64, old: Option<f64>, points: bool) -> Option<Delta> {
    old.map(|old| Delta {
        change: new - old,
        points,
    })
}

fn count(n: usize, old: Option<usize>) -> Cell {
    Cell::Num(
        n.to_string(),
        delta_of(n as f64, old.map(|o| o as f64), false),
    )
}

fn share_cell(s: Option<f64>, old: Option<Option<f64>>) -> Cell {
    goal_cell(s, old, Goal::High)
}

/// A share that should be low (spans with deprecated keys, spans recording content).
fn burden_cell(s: Option<f64>, old: Option<Option<f64>>) -> Cell {
    goal_cell(s, old, Goal::Low)
}

fn goal_cell(s: Option<f64>, old: Option<Option<f64>>, goal: Goal) -> Cell {
    match s {
        Some(s) => Cell::Share(s, delta_of(s, old.flatten(), true), goal),
        None => Cell::Empty,
    }
}

/// The tables of a report, with changes against `old`.
pub fn sections(report: &Report, old: Option<&Report>) -> Vec<Section> {
    let mut out = Vec::new();
    let score_cell = |s: Option<f64>, o: Option<Option<f64>>| match s {
        Some(s) => Cell::Num(num(s), delta_of(s, o.flatten(), false)),
        None => Cell::Empty,
    };
    out.push(Section {
        title: "Summary".to_string(),
        note: None,
        headers: vec!["spans", "GenAI spans", "traces", "score (0–100)"],
        rows: vec![vec![
            count(report.spans, old.map(|o| o.spans)),
            count(report.genai_spans, old.map(|o| o.genai_spans)),
            count(report.traces.traces, old.map(|o| o.traces.traces)),
            score_cell(report.score, old.map(|o| o.score)),
        ]],
    });

    out.push(Section {
        title: "Score per service".to_string(),
        note: Some(
            "score = weighted mean of the shares: required attributes 35, span names 25, \
             recommended attributes 15, span kinds 10, no deprecated or foreign attributes 15"
                .to_string(),
        ),
        headers: vec![
            "service",
            "spans",
            "score",
            "required",
            "span name",
            "recommended",
            "span kind",
            "current",
        ],
        rows: report
            .services
            .iter()
            .map(|s| {
                let o = old.and_then(|o| o.services.iter().find(|x| x.service == s.service));
                vec![
                    text(&s.service),
                    count(s.spans, o.map(|o| o.spans)),
                    score_cell(Some(s.score), o.map(|o| Some(o.score))),
                    share_cell(s.parts.required, o.map(|o| o.parts.required)),
                    share_cell(s.parts.span_name, o.map(|o| o.parts.span_name)),
                    share_cell(s.parts.recommended, o.map(|o| o.parts.recommended)),
                    share_cell(s.parts.span_kind, o.map(|o| o.parts.span_kind)),
                    share_cell(s.parts.current, o.map(|o| o.parts.current)),
                ]
            })
            .collect(),
    });

    let same_group = |a: &super::Group, b: &super::Group| {
        a.service == b.service
            && a.operation == b.operation
            && a.provider == b.provider
            && a.scope == b.scope
    };
    let level_share = |g: &super::Group, level: &str| {
        let (ok, all) = g
            .attributes
            .iter()
            .filter(|a| a.level == level)
            .fold((0, 0), |(ok, all), a| (ok + a.present, all + a.expected));
        (all > 0).then(|| share(ok, all))
    };
    out.push(Section {
        title: "Coverage per service × operation × provider × scope".to_string(),
        note: Some(
            "shares of spans; required/recommended: attributes present of those expected"
                .to_string(),
        ),
        headers: vec![
            "service",
            "operation",
            "provider",
            "scope",
            "spans",
            "required",
            "recommended",
            "span name",
            "span kind",
            "deprecated/foreign",
            "content",
        ],
        rows: report
            .groups
            .iter()
            .map(|g| {
                let o = old.and_then(|o| o.groups.iter().find(|x| same_group(x, g)));
                vec![
                    text(&g.service),
                    text(&g.operation),
                    text(&g.provider),
                    text(&g.scope),
                    count(g.spans, o.map(|o| o.spans)),
                    share_cell(
                        level_share(g, "required"),
                        o.map(|o| level_share(o, "required")),
                    ),
                    share_cell(
                        level_share(g, "recommended"),
                        o.map(|o| level_share(o, "recommended")),
                    ),
                    share_cell(Some(g.span_name_ok), o.map(|o| Some(o.span_name_ok))),
                    share_cell(Some(g.span_kind_ok), o.map(|o| Some(o.span_kind_ok))),
                    burden_cell(
                        Some(g.deprecated_or_foreign),
                        o.map(|o| Some(o.deprecated_or_foreign)),
                    ),
                    burden_cell(Some(g.content), o.map(|o| Some(o.content))),
                ]
            })
            .collect(),
    });

    let mut attributes = Vec::new();
    for g in &report.groups {
        let o = old.and_then(|o| o.groups.iter().find(|x| same_group(x, g)));
        for a in &g.attributes {
            let oa = o.and_then(|o| o.attributes.iter().find(|x| x.attribute == a.attribute));
            attributes.push(vec![
                text(&format!(
                    "{} · {} · {} · {}",
                    g.service, g.operation, g.provider, g.scope
                )),
                text(&a.attribute),
                Cell::Text(a.level.clone()),
                Cell::Num(format!("{}/{}", a.present, a.expected), None),
                share_cell(Some(a.share), o.map(|_| oa.map(|x| x.share))),
            ]);
        }
    }
    out.push(Section {
        title: "Attributes".to_string(),
        note: Some(
            "each required and recommended attribute: spans with it / spans expecting it"
                .to_string(),
        ),
        headers: vec![
            "service · operation · provider · scope",
            "attribute",
            "level",
            "present",
            "share",
        ],
        rows: attributes,
    });

    let t = &report.traces;
    let ot = old.map(|o| &o.traces);
    out.push(Section {
        title: "Trace health".to_string(),
        note: None,
        headers: vec!["measure", "count"],
        rows: vec![
            vec![text("traces"), count(t.traces, ot.map(|o| o.traces))],
            vec![
                text("orphan spans (parent not in the input)"),
                count(t.orphan_spans, ot.map(|o| o.orphan_spans)),
            ],
            vec![
                text("traces with tool calls outside an agent"),
                count(
                    t.traces_with_tool_outside_agent,
                    ot.map(|o| o.traces_with_tool_outside_agent),
                ),
            ],
            vec![
                text("shallow agent traces"),
                count(t.shallow_agent_traces, ot.map(|o| o.shallow_agent_traces)),
            ],
            vec![
                text("traces without the expected context keys"),
                count(
                    t.traces_missing_context,
                    ot.map(|o| o.traces_missing_context),
                ),
            ],
        ],
    });

    let priced = report.pricing_currency.is_some();
    let mut headers = vec![
        "service",
        "provider",
        "model",
        "spans",
        "input",
        "output",
        "cache read",
        "cache write",
        "reasoning",
        "repeated",
    ];
    if priced {
        headers.push("estimated cost");
    }
    out.push(Section {
        title: "Token usage".to_string(),
        note: Some(format!(
            "usage of the innermost spans only: a span whose usage is repeated by a span below it \
             is counted under `repeated`, not summed; input includes cache read and write{}",
            match &report.pricing_currency {
                Some(c) => format!(
                    "; cost is an ESTIMATE in {} from the --pricing file, not a bill",
                    sanitize(c)
                ),
                None => String::new(),
            }
        )),
        headers,
        rows: report
            .usage
            .iter()
            .map(|u| {
                let o = old.and_then(|o| {
                    o.usage.iter().find(|x| {
                        x.service == u.service && x.provider == u.provider && x.model == u.model
                    })
                });
                let tok = |f: fn(&super::Tokens) -> u64| {
                    let n = f(&u.tokens);
                    Cell::Num(
                        n.to_string(),
                        delta_of(n as f64, o.map(|o| f(&o.tokens) as f64), false),
                    )
                };
                let mut row = vec![
                    text(&u.service),
                    text(&u.provider),
                    text(&u.model),
                    count(u.spans, o.map(|o| o.spans)),
                    tok(|t| t.input),
                    tok(|t| t.output),
                    tok(|t| t.cache_read),
                    tok(|t| t.cache_creation),
                    tok(|t| t.reasoning),
                    count(u.repeated_spans, o.map(|o| o.repeated_spans)),
                ];
                if priced {
                    row.push(match u.estimated_cost {
                        Some(c) => Cell::Num(
                            format!("~{}", cost(c)),
                            delta_of(c, o.and_then(|o| o.estimated_cost), false),
                        ),
                        None => Cell::Text("no price".to_string()),
                    });
                }
                row
            })
            .collect(),
    });

    out.push(Section {
        title: "Finish reasons by model".to_string(),
        note: Some("share of the model's spans giving each reason; a rising `length` means truncated answers".to_string()),
        headers: vec!["model", "spans", "reasons"],
        rows: report
            .finish_reasons
            .iter()
            .map(|f| {
                let reasons = f
                    .reasons
                    .iter()
                    .map(|(r, s)| format!("{} {}", truncate(r, 30), percent(*s)))
                    .collect::<Vec<_>>()
                    .join(", ");
                vec![text(&f.model), count(f.spans, None), text(&reasons)]
            })
            .collect(),
    });

    for (title, rows, old_rows) in [
        (
            "Latency per operation and model (ms, from span start and end)",
            &report.latency,
            old.map(|o| &o.latency),
        ),
        (
            "Time to first chunk of streaming spans (ms)",
            &report.time_to_first_chunk,
            old.map(|o| &o.time_to_first_chunk),
        ),
    ] {
        out.push(Section {
            title: title.to_string(),
            note: None,
            headers: vec!["operation", "model", "spans", "p50", "p95", "p99"],
            rows: rows
                .iter()
                .map(|l| {
                    let o = old_rows.and_then(|rows| {
                        rows.iter()
                            .find(|x| x.operation == l.operation && x.model == l.model)
                    });
                    let ms = |v: f64, ov: Option<f64>| Cell::Num(num(v), delta_of(v, ov, false));
                    vec![
                        text(&l.operation),
                        text(&l.model),
                        count(l.spans, o.map(|o| o.spans)),
                        ms(l.p50_ms, o.map(|o| o.p50_ms)),
                        ms(l.p95_ms, o.map(|o| o.p95_ms)),
                        ms(l.p99_ms, o.map(|o| o.p99_ms)),
                    ]
                })
                .collect(),
        });
    }

    out.push(Section {
        title: "Errors by error.type".to_string(),
        note: Some(
            "share of all GenAI spans; `_OTHER`: status ERROR without error.type".to_string(),
        ),
        headers: vec!["error.type", "spans", "share"],
        rows: report
            .errors
            .iter()
            .map(|e| {
                let o = old.and_then(|o| o.errors.iter().find(|x| x.error_type == e.error_type));
                vec![
                    text(&e.error_type),
                    count(e.spans, o.map(|o| o.spans)),
                    share_cell(Some(e.share), o.map(|o| Some(o.share))),
                ]
            })
            .collect(),
    });
    out
}

/// A cost with up to six decimals (small dumps cost fractions of a cent).
fn cost(c: f64) -> String {
    let s = format!("{c:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

pub fn percent(s: f64) -> String {
    format!("{}%", num((s * 1000.0).round() / 10.0))
}

const BAR: usize = 10;

/// A share as a bar of `BAR` cells, coloured by how good it is: green (≥ 90%), yellow (≥ 50%)
/// or red.
fn bar(s: f64, goodness: f64, color: bool) -> String {
    let full = (s.clamp(0.0, 1.0) * BAR as f64).round() as usize;
    let bar = format!("{}{}", "█".repeat(full), "░".repeat(BAR - full));
    if !color {
        return bar;
    }
    let code = if goodness >= 0.9 {
        32
    } else if goodness >= 0.5 {
        33
    } else {
        31
    };
    format!("\x1b[{code}m{bar}\x1b[0m")
}

fn with_delta(mut s: String, d: &Option<Delta>) -> String {
    if let Some(d) = d {
        s.push(' ');
        s.push_str(&d.text());
    }
    s
}

/// The cell's text, its visible width and whether it is right-aligned.
fn terminal_cell(cell: &Cell, color: bool) -> (String, usize, bool) {
    let plain = |s: String| {
        let w = s.chars().count();
        (s, w, false)
    };
    match cell {
        Cell::Text(s) => plain(s.clone()),
        Cell::Empty => plain("–".to_string()),
        Cell::Num(s, d) => {
            let s = with_delta(s.clone(), d);
            let w = s.chars().count();
            (s, w, true)
        }
        Cell::Share(s, d, goal) => {
            let label = with_delta(format!("{:>6}", percent(*s)), d);
            let w = BAR + 1 + label.chars().count();
            (
                format!("{} {label}", bar(*s, goal.goodness(*s), color)),
                w,
                false,
            )
        }
    }
}

/// Aligned terminal tables.
pub fn table(report: &Report, old: Option<&Report>, color: bool) -> String {
    let mut out = String::new();
    for section in sections(report, old) {
        let title = if color {
            format!("\x1b[1m{}\x1b[0m", section.title)
        } else {
            section.title.clone()
        };
        out.push_str(&title);
        out.push('\n');
        if let Some(note) = &section.note {
            out.push_str(&format!("  {note}\n"));
        }
        if section.rows.is_empty() {
            out.push_str("  (none)\n\n");
            continue;
        }
        let cells: Vec<Vec<(String, usize, bool)>> = section
            .rows
            .iter()
            .map(|r| r.iter().map(|c| terminal_cell(c, color)).collect())
            .collect();
        let mut widths: Vec<usize> = section.headers.iter().map(|h| h.chars().count()).collect();
        for row in &cells {
            for (i, (_, w, _)) in row.iter().enumerate() {
                widths[i] = widths[i].max(*w);
            }
        }
        let line = |out: &mut String, items: Vec<(String, usize, bool)>| {
            let mut l = String::from(" ");
            for (i, (s, w, right)) in items.into_iter().enumerate() {
                let pad = " ".repeat(widths[i] - w);
                l.push(' ');
                if right {
                    l.push_str(&pad);
                    l.push_str(&s);
                } else {
                    l.push_str(&s);
                    l.push_str(&pad);
                }
                l.push(' ');
            }
            out.push_str(l.trim_end());
            out.push('\n');
        };
        line(
            &mut out,
            section
                .headers
                .iter()
                .map(|h| (h.to_string(), h.chars().count(), false))
                .collect(),
        );
        line(
            &mut out,
            widths.iter().map(|&w| ("─".repeat(w), w, false)).collect(),
        );
        for row in cells {
            line(&mut out, row);
        }
        out.push('\n');
    }
    out
}

/// Escapes text for a Markdown table cell: pipes, HTML and Markdown punctuation.
fn md_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' | '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            c if crate::report::is_unsafe_char(c) => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Markdown tables, for a pull-request comment.
pub fn markdown(report: &Report, old: Option<&Report>) -> String {
    let mut out = String::from("# spanlint coverage\n\n");
    for section in sections(report, old) {
        out.push_str(&format!("## {}\n\n", section.title));
        if let Some(note) = &section.note {
            out.push_str(&format!("{}\n\n", md_escape(note)));
        }
        if section.rows.is_empty() {
            out.push_str("(none)\n\n");
            continue;
        }
        out.push_str(&format!("| {} |\n", section.headers.join(" | ")));
        let align: Vec<&str> = section.rows[0]
            .iter()
            .map(|c| match c {
                Cell::Num(..) | Cell::Share(..) => "---:",
                _ => "---",
            })
            .collect();
        out.push_str(&format!("| {} |\n", align.join(" | ")));
        for row in &section.rows {
            let cells: Vec<String> = row
                .iter()
                .map(|c| match c {
                    Cell::Text(s) => md_escape(s),
                    Cell::Empty => "–".to_string(),
                    Cell::Num(s, d) => md_escape(&with_delta(s.clone(), d)),
                    Cell::Share(s, d, _) => with_delta(percent(*s), d),
                })
                .collect();
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
        out.push('\n');
    }
    out
}

/// The JSON document (pretty-printed, newline-terminated).
pub fn json(report: &Report) -> String {
    let mut s = crate::report::safe_json::to_string_pretty(report).expect("a report serializes");
    s.push('\n');
    s
}

#[cfg(test)]
mod goal_tests {
    use super::{Goal, bar};

    #[test]
    fn a_high_burden_share_is_red_and_a_high_coverage_share_green() {
        // 100% of spans with deprecated keys is as bad as 0% with required attributes.
        let burden = bar(1.0, Goal::Low.goodness(1.0), true);
        let coverage = bar(1.0, Goal::High.goodness(1.0), true);
        assert!(burden.starts_with("\u{1b}[31m"), "{burden:?}");
        assert!(coverage.starts_with("\u{1b}[32m"), "{coverage:?}");
        assert_eq!(
            bar(0.0, Goal::Low.goodness(0.0), true),
            bar(1.0, 1.0, true).replace('█', "░")
        );
    }
}
