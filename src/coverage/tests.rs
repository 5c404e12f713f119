//! Unit tests of every share, the score and the no-double-count usage sums, on hand-made
//! spans.

use super::*;
use crate::rules::Ruleset;
use crate::trace::TraceIndex;

fn req(attribute: &str, required: bool, present: bool) -> Requirement<'_> {
    Requirement {
        attribute,
        required,
        present,
    }
}

fn genai<'a>(service: &'a str, fired: &'a [&'static str]) -> GenAiView<'a> {
    GenAiView {
        service,
        operation: "chat",
        provider: "openai",
        scope: "lib",
        model: Some("m"),
        fired,
        ..GenAiView::default()
    }
}

fn span<'a>(
    trace: u128,
    id: u64,
    parent: Option<u64>,
    genai: Option<GenAiView<'a>>,
) -> SpanView<'a> {
    SpanView {
        trace_id: trace,
        span_id: id,
        parent_id: parent,
        genai,
    }
}

fn tokens(input: u64, output: u64, cache_read: u64) -> Tokens {
    Tokens {
        input,
        output,
        cache_read,
        ..Tokens::default()
    }
}

fn with_usage(mut g: GenAiView<'_>, t: Tokens) -> GenAiView<'_> {
    g.usage = Some(t);
    g
}

fn piece(spans: &[SpanView<'_>]) -> PieceFacts {
    let mut facts = PieceFacts::default();
    for span in spans {
        facts.push(span);
    }
    facts
}

/// Records `spans` in `index` as `PieceFacts::add_batch` does (ids written as hex).
fn record(index: &mut TraceIndex, spans: &[SpanView<'_>]) {
    let hex = |id: u128, digits: usize| {
        if id == 0 {
            crate::model::Id::default()
        } else {
            crate::model::Id::from(format!("{id:0digits$x}").as_str())
        }
    };
    for view in spans {
        let span = crate::model::Span {
            trace_id: hex(view.trace_id, 32),
            span_id: hex(view.span_id.into(), 16),
            parent_span_id: hex(view.parent_id.unwrap_or(0).into(), 16),
            ..crate::model::Span::default()
        };
        index.add(&span, None);
    }
}

/// Adds `spans` as one piece to `tally` and `index`.
fn add(tally: &mut Tally, index: &mut TraceIndex, spans: &[SpanView<'_>]) {
    record(index, spans);
    tally.add(&piece(spans), index);
}

/// The report of spans read as one piece.
fn compute(
    spans: &[SpanView<'_>],
    trace_findings: &[crate::trace::TraceFinding],
    pricing: Option<&Pricing>,
) -> Report {
    let mut tally = Tally::default();
    let mut index = TraceIndex::default();
    add(&mut tally, &mut index, spans);
    let health = TraceHealthCount::of(trace_findings.iter().map(|found| &found.finding));
    tally.settle(&index).report(health, pricing)
}

fn usage_sums(spans: &[SpanView<'_>], pricing: Option<&Pricing>) -> Vec<Usage> {
    compute(spans, &[], pricing).usage
}

#[test]
fn group_shares() {
    let mut a = genai("svc", &["span-name-format", "deprecated-attribute"]);
    let a_requirements = [
        req("gen_ai.provider.name", true, false),
        req("gen_ai.request.model", true, true),
        req("gen_ai.response.id", false, true),
    ];
    a.requirements = &a_requirements;
    a.content = true;
    let mut b = genai("svc", &["span-kind"]);
    let b_requirements = [
        req("gen_ai.provider.name", true, true),
        req("gen_ai.request.model", true, true),
        req("gen_ai.response.id", false, false),
    ];
    b.requirements = &b_requirements;
    let mut c = genai("svc", &["foreign-namespace"]);
    let c_requirements = [req("gen_ai.provider.name", true, true)];
    c.requirements = &c_requirements;
    let d = genai("svc", &[]);
    let records: Vec<SpanView> = [a, b, c, d]
        .into_iter()
        .enumerate()
        .map(|(i, g)| span(1, i as u64 + 1, None, Some(g)))
        .collect();
    let report = compute(&records, &[], None);
    assert_eq!(report.groups.len(), 1);
    let g = &report.groups[0];
    assert_eq!(g.spans, 4);
    assert_eq!(g.span_name_ok, 0.75);
    assert_eq!(g.span_kind_ok, 0.75);
    assert_eq!(g.deprecated_or_foreign, 0.5);
    assert_eq!(g.content, 0.25);
    let attr = |k: &str| g.attributes.iter().find(|a| a.attribute == k).unwrap();
    assert_eq!(
        (
            attr("gen_ai.provider.name").present,
            attr("gen_ai.provider.name").expected
        ),
        (2, 3)
    );
    assert_eq!(attr("gen_ai.request.model").share, 1.0);
    assert_eq!(attr("gen_ai.response.id").share, 0.5);
    assert_eq!(attr("gen_ai.response.id").level, "recommended");
    assert_eq!(attr("gen_ai.provider.name").level, "required");
}

#[test]
fn score_is_the_weighted_mean_of_the_parts_that_apply() {
    let all = ScoreParts {
        required: Some(1.0),
        span_name: Some(1.0),
        recommended: Some(1.0),
        span_kind: Some(1.0),
        current: Some(1.0),
    };
    assert_eq!(score(&all), Some(100.0));
    let half_required = ScoreParts {
        required: Some(0.5),
        ..all
    };
    // 100 - 35 × 0.5 = 82.5
    assert_eq!(score(&half_required), Some(82.5));
    let no_names = ScoreParts {
        span_name: Some(0.0),
        recommended: None,
        ..all
    };
    // (35 + 10 + 15) / (35 + 25 + 10 + 15) = 60 / 85
    assert_eq!(score(&no_names), Some(70.6));
    assert_eq!(score(&ScoreParts::default()), None);
}

#[test]
fn scores_per_service_and_overall() {
    let mut good = genai("good", &[]);
    let good_requirements = [req("gen_ai.provider.name", true, true)];
    good.requirements = &good_requirements;
    let mut bad = genai(
        "bad",
        &["span-name-format", "span-kind", "foreign-namespace"],
    );
    let bad_requirements = [req("gen_ai.provider.name", true, false)];
    bad.requirements = &bad_requirements;
    let records = vec![
        span(1, 1, None, Some(good)),
        span(2, 2, None, Some(bad)),
        span(2, 3, Some(2), None),
    ];
    let report = compute(&records, &[], None);
    let s = |name: &str| report.services.iter().find(|s| s.service == name).unwrap();
    assert_eq!(s("good").score, 100.0);
    assert_eq!(s("bad").score, 0.0);
    // Overall is over all spans: every part is 1/2.
    assert_eq!(report.score, Some(50.0));
    assert_eq!(report.spans, 3);
    assert_eq!(report.genai_spans, 2);
    assert_eq!(report.traces.traces, 2);
}

#[test]
fn usage_repeated_on_parents_counts_once() {
    // trace 1: agent (usage 30/20) → plain span → chat (10/5) and chat (20/15, 8 cached)
    // trace 2: a lone chat with usage; trace 3: an agent with usage and no usage below.
    let agent = with_usage(genai("svc", &[]), tokens(30, 20, 8));
    let records = vec![
        span(1, 1, None, Some(agent)),
        span(1, 2, Some(1), None),
        span(
            1,
            3,
            Some(2),
            Some(with_usage(genai("svc", &[]), tokens(10, 5, 0))),
        ),
        span(
            1,
            4,
            Some(2),
            Some(with_usage(genai("svc", &[]), tokens(20, 15, 8))),
        ),
        span(
            2,
            1,
            None,
            Some(with_usage(genai("svc", &[]), tokens(7, 3, 0))),
        ),
        span(3, 9, None, Some(agent)),
    ];
    let usage = usage_sums(&records, None);
    assert_eq!(usage.len(), 1);
    let u = &usage[0];
    assert_eq!(u.tokens, tokens(10 + 20 + 7 + 30, 5 + 15 + 3 + 20, 8 + 8));
    assert_eq!(u.spans, 4);
    assert_eq!(u.repeated_spans, 1);
}

#[test]
fn usage_beyond_32_bits_and_64_bit_span_ids_are_summed_exactly() {
    // Counts past u32::MAX are kept aside from the compact usage records; span ids with
    // their high half set still find their parents (the agent's usage repeats the chat's).
    let big = 5_000_000_000u64;
    let agent = 0xffff_0000_0000_0001u64;
    let chat = 0x8000_0000_0000_0002u64;
    let records = vec![
        span(
            1,
            agent,
            None,
            Some(with_usage(genai("svc", &[]), tokens(big, 1, 0))),
        ),
        span(
            1,
            chat,
            Some(agent),
            Some(with_usage(
                genai("svc", &[]),
                tokens(big, u64::from(u32::MAX), 3),
            )),
        ),
        span(
            2,
            chat,
            None,
            Some(with_usage(genai("svc", &[]), tokens(7, 3, u64::MAX / 4))),
        ),
    ];
    let usage = usage_sums(&records, None);
    assert_eq!(usage.len(), 1);
    let u = &usage[0];
    assert_eq!(
        u.tokens,
        tokens(big + 7, u64::from(u32::MAX) + 3, 3 + u64::MAX / 4)
    );
    assert_eq!((u.spans, u.repeated_spans), (2, 1));
}

#[test]
fn usage_is_grouped_by_provider_and_model_and_priced() {
    let mut other = with_usage(genai("svc", &[]), tokens(1_000_000, 0, 0));
    other.model = Some("n");
    let records = vec![
        span(
            1,
            1,
            None,
            Some(with_usage(
                genai("svc", &[]),
                tokens(2_000_000, 1_000_000, 1_000_000),
            )),
        ),
        span(1, 2, None, Some(other)),
    ];
    let pricing =
        Pricing::parse("[models.m]\ninput = 1.0\noutput = 2.0\ncached-input = 0.5\n").unwrap();
    let usage = usage_sums(&records, Some(&pricing));
    assert_eq!(usage.len(), 2);
    assert_eq!(usage[0].model, "m");
    assert_eq!(usage[0].estimated_cost, Some(1.0 + 0.5 + 2.0));
    assert_eq!(usage[1].model, "n");
    assert_eq!(usage[1].estimated_cost, None, "no price for n");
}

#[test]
fn spans_read_twice_are_one_span() {
    let g = with_usage(genai("svc", &[]), tokens(5, 5, 0));
    let records = [
        span(1, 1, None, Some(g)),
        span(1, 1, None, Some(g)),
        span(0, 0, None, None),
        span(0, 0, None, None),
    ];
    let report = compute(&records, &[], None);
    assert_eq!(report.spans, 3, "spans without ids are kept");
    assert_eq!(report.genai_spans, 1);
    assert_eq!(report.usage[0].tokens.input, 5);
    // The same when the copies are in different pieces (files, chunks): the first counts.
    let mut tally = Tally::default();
    let mut index = TraceIndex::default();
    add(&mut tally, &mut index, &records[..1]);
    let mut other = genai("other", &[]);
    other.usage = Some(tokens(9, 9, 0));
    add(
        &mut tally,
        &mut index,
        &[span(1, 1, None, Some(other)), records[2], records[3]],
    );
    let report = tally
        .settle(&index)
        .report(TraceHealthCount::default(), None);
    assert_eq!(report.spans, 3);
    assert_eq!(report.services.len(), 1);
    assert_eq!(report.services[0].service, "svc");
    assert_eq!(report.usage[0].tokens.input, 5);
}

#[test]
fn finish_reasons_errors_and_latency() {
    let mut records = Vec::new();
    for i in 0..10u64 {
        let mut g = genai("svc", &[]);
        g.finish_reasons = if i < 2 {
            &["length"]
        } else {
            &["stop", "stop"]
        };
        g.duration_ns = Some((i + 1) * 1_000_000);
        g.error_type = (i == 0).then_some("timeout");
        records.push(span(1, i + 1, None, Some(g)));
    }
    let mut streaming = genai("svc", &[]);
    streaming.time_to_first_chunk = Some(0.25);
    records.push(span(1, 99, None, Some(streaming)));
    let report = compute(&records, &[], None);
    let f = &report.finish_reasons[0];
    assert_eq!(f.spans, 10);
    assert_eq!(f.reasons["length"], 0.2);
    assert_eq!(
        f.reasons["stop"], 0.8,
        "a reason given twice by one span counts once"
    );
    let l = &report.latency[0];
    assert_eq!(
        (l.spans, l.p50_ms, l.p95_ms, l.p99_ms),
        (10, 5.0, 10.0, 10.0)
    );
    assert_eq!(report.time_to_first_chunk[0].p50_ms, 250.0);
    assert_eq!(report.errors.len(), 1);
    assert_eq!(report.errors[0].spans, 1);
    assert_eq!(report.errors[0].share, 1.0 / 11.0);
}

#[test]
fn nearest_rank_percentiles() {
    let v: Vec<f64> = (1..=100).map(f64::from).collect();
    assert_eq!(percentile(&v, 50.0), 50.0);
    assert_eq!(percentile(&v, 95.0), 95.0);
    assert_eq!(percentile(&v, 99.0), 99.0);
    assert_eq!(percentile(&[3.0], 99.0), 3.0);
    assert_eq!(percentile(&[], 50.0), 0.0);
}

#[test]
fn compare_shows_arrows() {
    let mut good = genai("svc", &[]);
    let good_requirements = [req("gen_ai.provider.name", true, true)];
    good.requirements = &good_requirements;
    let new = compute(&[span(1, 1, None, Some(good))], &[], None);
    let mut old = new.clone();
    old.score = Some(80.0);
    old.services[0].score = 90.0;
    old.spans = 3;
    let table = render::table(&new, Some(&old), false);
    assert!(table.contains("100 ↑ +20"), "{table}");
    assert!(table.contains("1 ↓ -2"), "{table}");
    let md = render::markdown(&new, Some(&old));
    assert!(md.contains("↑ +10"), "{md}");
}

#[test]
fn traces_of_spans_without_span_ids_count_too() {
    // Trace 7 has only a span without a span id (the trace index leaves it out); trace 1 has
    // one such span besides one with ids.
    let records = [
        span(7, 0, None, None),
        span(1, 0, None, None),
        span(1, 1, None, None),
        span(0, 0, None, None),
    ];
    let report = compute(&records, &[], None);
    assert_eq!(report.spans, 4);
    assert_eq!(report.traces.traces, 2);
}

#[test]
fn usage_below_is_found_across_pieces_and_copies() {
    // The parent with usage comes in the second piece, its usage child in the first; a copy
    // of the child in the third piece names another parent, which does not count (the first
    // copy does).
    let usage = |n| with_usage(genai("svc", &[]), tokens(n, n, 0));
    let mut tally = Tally::default();
    let mut index = TraceIndex::default();
    add(
        &mut tally,
        &mut index,
        &[span(1, 2, Some(1), Some(usage(10)))],
    );
    add(&mut tally, &mut index, &[span(1, 1, None, Some(usage(30)))]);
    add(
        &mut tally,
        &mut index,
        &[
            span(1, 2, Some(3), Some(usage(99))),
            span(1, 3, None, Some(usage(5))),
        ],
    );
    let report = tally
        .settle(&index)
        .report(TraceHealthCount::default(), None);
    assert_eq!(report.spans, 3);
    let u = &report.usage[0];
    assert_eq!((u.spans, u.repeated_spans), (2, 1));
    assert_eq!(u.tokens.input, 10 + 5);
}

#[test]
fn trace_health_counted_per_trace_equals_the_count_of_all_findings() {
    let rules = Ruleset::builtin();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/rules");
    let index = || {
        let mut index = TraceIndex::default();
        let rule_dirs = [
            "orphan-span",
            "tool-outside-agent",
            "shallow-trace",
            "missing-context",
        ];
        for (file, rule) in rule_dirs.iter().enumerate() {
            let mut paths: Vec<_> = std::fs::read_dir(dir.join(rule))
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            paths.sort();
            for path in paths {
                let bytes = std::fs::read(&path).unwrap();
                let loaded = crate::input::LoadedFile::from_bytes(
                    path.display().to_string(),
                    bytes,
                    crate::input::InputFormat::Json,
                )
                .unwrap();
                let (_, piece_index, errors) = piece_facts(loaded.piece(), &rules);
                assert!(errors.is_empty());
                index.merge(piece_index, file);
            }
        }
        index
    };
    let findings = index().evaluate(&rules);
    let all = TraceHealthCount::of(findings.iter().map(|f| &f.finding)).finish(0);
    let per_trace = TraceHealthCount::evaluate(index(), &rules).finish(0);
    assert_eq!(per_trace, all);
    // Each rule's fixtures have findings, so the test can tell the counts apart.
    assert!(all.orphan_spans > 0);
    assert!(all.traces_with_tool_outside_agent > 0);
    assert!(all.shallow_agent_traces > 0);
    assert!(all.traces_missing_context > 0);
}
