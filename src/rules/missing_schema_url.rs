//! # missing-schema-url
//!
//! ## What it checks
//! Instrumentation scopes with GenAI spans whose `schemaUrl` is empty while their resource has
//! none either. Reported once per scope, at its first GenAI span.
//!
//! ## Why it matters
//! The schema URL says which conventions version the attribute names follow, so a backend or
//! `spanlint migrate` can translate old names. Without it the version has to be guessed from
//! the names themselves.
//!
//! ## Example
//! `{"scope": {"name": "demo.scenario"}, "spans": […]}` with no `"schemaUrl"`.
//!
//! ## Fix
//! Pass the schema URL when creating the tracer
//! (`get_tracer(name, version, schema_url="https://opentelemetry.io/schemas/1.37.0")`).

use super::{RuleInfo, SpanContext};
use crate::finding::{Finding, Severity};

pub const INFO: RuleInfo = RuleInfo {
    id: "missing-schema-url",
    summary: "a scope with GenAI spans has no schema URL",
    default_severity: Severity::Info,
};

pub fn check(ctx: &SpanContext<'_, '_>, out: &mut Vec<Finding>) {
    if !ctx.first_in_scope
        || !ctx.scope_schema_url.is_empty()
        || !ctx.resource.schema_url.is_empty()
    {
        return;
    }
    out.push(ctx.finding(&INFO, None, ctx.span.name_offset, || {
        let scope = crate::report::truncate(&ctx.scope.name, 80);
        let message = if scope.is_empty() {
            "an unnamed scope and its resource have no schema URL".to_string()
        } else {
            ["scope `", &scope, "` and its resource have no schema URL"].concat()
        };
        let help = [
            "create the tracer with the schema URL of the conventions version it follows \
             (e.g. `",
            &ctx.rules.file.conventions.schema_url,
            "`)",
        ]
        .concat();
        (message, Some(help))
    }));
}
