//! `--format html`: one self-contained page: inline CSS, inline SVG charts (per-attribute
//! coverage, score per service) and the tables of [`super::render::sections`]. No scripts, no
//! fonts, no network. **Every string from the dump is escaped** (span, service, scope, model
//! names and `error.type` are untrusted).

use std::collections::BTreeMap;

use super::Report;
use super::render::{Cell, percent, sections};

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if crate::report::is_unsafe_char(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn colour(s: f64) -> &'static str {
    if s >= 0.9 {
        "#2e7d32"
    } else if s >= 0.5 {
        "#f9a825"
    } else {
        "#c62828"
    }
}

/// A horizontal bar chart: one labelled bar per item, value from 0 to 1.
fn bar_chart(title: &str, items: &[(String, f64, String)]) -> String {
    const LABEL: usize = 340;
    const WIDTH: usize = 420;
    const ROW: usize = 22;
    let height = 30 + items.len() * ROW;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" width=\"{}\" height=\"{height}\" \
         viewBox=\"0 0 {} {height}\"><title>{}</title>",
        LABEL + WIDTH + 80,
        LABEL + WIDTH + 80,
        escape(title)
    );
    for (i, (label, value, shown)) in items.iter().enumerate() {
        let y = 20 + i * ROW;
        let w = (value.clamp(0.0, 1.0) * WIDTH as f64).round();
        svg.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-size=\"12\">{}</text>\
             <rect x=\"{}\" y=\"{}\" width=\"{WIDTH}\" height=\"14\" fill=\"#eee\"/>\
             <rect x=\"{}\" y=\"{}\" width=\"{w}\" height=\"14\" fill=\"{}\"/>\
             <text x=\"{}\" y=\"{}\" font-size=\"12\">{}</text>",
            LABEL - 6,
            y + 11,
            escape(&crate::report::truncate(label, 52)),
            LABEL,
            y,
            LABEL,
            y,
            colour(*value),
            LABEL + WIDTH + 6,
            y + 11,
            escape(shown),
        ));
    }
    svg.push_str("</svg>");
    svg
}

/// The page.
pub fn html(report: &Report, old: Option<&Report>) -> String {
    let mut page = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\
         <title>spanlint coverage</title><style>\
         body{font-family:system-ui,sans-serif;margin:2em;color:#222}\
         table{border-collapse:collapse;margin:.5em 0 2em}\
         th,td{border:1px solid #ccc;padding:3px 8px;font-size:13px}\
         th{background:#f4f4f4;text-align:left}td.n{text-align:right}\
         .bar{display:inline-block;width:60px;height:9px;background:#eee;margin-right:6px}\
         .bar span{display:block;height:9px}.note{color:#555;font-size:13px}\
         </style></head><body><h1>spanlint coverage</h1>\n",
    );
    if let Some(score) = report.score {
        page.push_str(&format!(
            "<p><strong>Overall score: {} / 100</strong> over {} GenAI spans of {} spans.</p>\n",
            super::render::num(score),
            report.genai_spans,
            report.spans
        ));
    }
    let services: Vec<(String, f64, String)> = report
        .services
        .iter()
        .map(|s| {
            (
                s.service.clone(),
                s.score / 100.0,
                super::render::num(s.score),
            )
        })
        .collect();
    page.push_str("<h2>Score per service</h2>\n");
    page.push_str(&bar_chart("Score per service", &services));
    // Per-attribute coverage over all groups.
    // Required first: (not required, level, attribute).
    let mut attributes: BTreeMap<(bool, &str, &str), (usize, usize)> = BTreeMap::new();
    for g in &report.groups {
        for a in &g.attributes {
            let e = attributes
                .entry((
                    a.level != "required",
                    a.level.as_str(),
                    a.attribute.as_str(),
                ))
                .or_default();
            e.0 += a.present;
            e.1 += a.expected;
        }
    }
    let attributes: Vec<(String, f64, String)> = attributes
        .into_iter()
        .map(|((_, level, a), (ok, all))| {
            let s = super::share(ok, all);
            (format!("{a} ({level})"), s, percent(s))
        })
        .collect();
    page.push_str("\n<h2>Attribute coverage (all spans)</h2>\n");
    page.push_str(&bar_chart("Attribute coverage", &attributes));
    page.push('\n');
    for section in sections(report, old) {
        page.push_str(&format!("<h2>{}</h2>\n", escape(&section.title)));
        if let Some(note) = &section.note {
            page.push_str(&format!("<p class=\"note\">{}</p>\n", escape(note)));
        }
        if section.rows.is_empty() {
            page.push_str("<p>(none)</p>\n");
            continue;
        }
        page.push_str("<table><tr>");
        for h in &section.headers {
            page.push_str(&format!("<th>{}</th>", escape(h)));
        }
        page.push_str("</tr>\n");
        for row in &section.rows {
            page.push_str("<tr>");
            for cell in row {
                let delta = |d: &Option<super::render::Delta>| {
                    d.map(|d| format!(" {}", escape(&d.text())))
                        .unwrap_or_default()
                };
                match cell {
                    Cell::Text(s) => page.push_str(&format!("<td>{}</td>", escape(s))),
                    Cell::Empty => page.push_str("<td>–</td>"),
                    Cell::Num(s, d) => {
                        page.push_str(&format!("<td class=\"n\">{}{}</td>", escape(s), delta(d)))
                    }
                    Cell::Share(s, d, goal) => page.push_str(&format!(
                        "<td class=\"n\"><span class=\"bar\"><span style=\"width:{:.0}%;background:{}\"></span></span>{}{}</td>",
                        s.clamp(0.0, 1.0) * 100.0,
                        colour(goal.goodness(*s)),
                        percent(*s),
                        delta(d)
                    )),
                }
            }
            page.push_str("</tr>\n");
        }
        page.push_str("</table>\n");
    }
    page.push_str("</body></html>\n");
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dump_strings_are_escaped() {
        let report = Report {
            score: Some(50.0),
            services: vec![super::super::ServiceCoverage {
                service: "<script>alert(1)</script>\"'&".to_string(),
                spans: 1,
                score: 50.0,
                ..Default::default()
            }],
            ..Report::default()
        };
        let page = html(&report, None);
        assert!(!page.contains("<script"));
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;"));
    }
}
