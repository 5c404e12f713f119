//! # foreign-namespace
//!
//! ## What it checks
//! GenAI spans that describe their LLM work only in another library's vocabulary and carry no
//! `gen_ai.*` attribute at all: OpenInference (`openinference.span.kind`, `llm.*`), OpenLLMetry
//! (`traceloop.*`, `llm.request.type`), the Vercel AI SDK (`ai.*`), as the rules file's
//! `[[foreign-namespace]]` lists them. Spans that mix both vocabularies are not reported here
//! (their `gen_ai.*` keys are checked by the other rules).
//!
//! This finding stands in for the missing `gen_ai.operation.name` on such spans:
//! `missing-required-attribute` does not report it again (the fix is the same, a migration, and
//! the help names the operation spanlint inferred). It is an error for that reason. Other
//! required attributes the span lacks are still `missing-required-attribute`'s.
//!
//! ## Why it matters
//! Backends built on the conventions see nothing on these spans: no operation, model, provider
//! or usage. The information is there, in the wrong vocabulary.
//!
//! ## Example
//! A span named `ChatCompletion` with `openinference.span.kind = LLM` and
//! `llm.model_name = gpt-4o-mini`, and no `gen_ai.*` key.
//!
//! ## Fix
//! Rewrite the dump with `spanlint migrate`, or switch the library to its GenAI-conventions
//! mode where it has one (OpenInference `enable_genai_semconv`, Vercel AI SDK v7
//! `OpenTelemetry()`).

use super::ruleset::Operation;
use super::{RuleInfo, SpanContext};
use crate::finding::{Finding, Severity};

pub const INFO: RuleInfo = RuleInfo {
    id: "foreign-namespace",
    summary: "a span describes LLM work only in another library's vocabulary",
    default_severity: Severity::Error,
};

pub fn check(ctx: &SpanContext<'_, '_>, out: &mut Vec<Finding>) {
    let Some((namespace, key)) = ctx.foreign_vocabulary() else {
        return;
    };
    let text = || {
        let mut help = String::from("rewrite the dump with `spanlint migrate`");
        if let Some(Operation {
            name,
            inferred_from: Some(from),
        }) = ctx.operation
        {
            help.extend([
                "; it would set `gen_ai.operation.name` to `",
                name,
                "` (from `",
                from,
                "`)",
            ]);
        }
        help.push_str(", or enable the library's GenAI-conventions mode");
        let message = [
            "the span describes its work only in ",
            &namespace.name,
            "'s vocabulary (`",
            &crate::report::truncate(key, 80),
            "`): no `gen_ai.*` attribute, not even the required `gen_ai.operation.name`",
        ]
        .concat();
        (message, Some(help))
    };
    out.push(ctx.finding(
        &INFO,
        Some("gen_ai.operation.name"),
        ctx.span.name_offset,
        text,
    ));
}
