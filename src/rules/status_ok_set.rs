//! # status-ok-set
//!
//! ## What it checks
//! GenAI spans whose status is OK.
//!
//! ## Why it matters
//! The OpenTelemetry tracing API says instrumentation libraries SHOULD leave the status UNSET
//! on success and leave OK to the application (which may mark a span as definitely
//! successful). A library that sets OK takes that choice away and hides later failure marks.
//! It is an info, not a warning: an application or a configured instrumentation may set OK on
//! purpose, and a dump cannot tell who did, and backends treat UNSET and OK alike.
//!
//! ## Example
//! `"status": {"code": 1}` on a `ChatCompletion` span of an instrumentation library.
//!
//! ## Fix
//! Leave the status unset on success (set ERROR on failure).

use super::{RuleInfo, SpanContext};
use crate::finding::{Finding, Severity};
use crate::model::StatusCode;

pub const INFO: RuleInfo = RuleInfo {
    id: "status-ok-set",
    summary: "the span status was set to OK instead of being left unset",
    default_severity: Severity::Info,
};

pub fn check(ctx: &SpanContext<'_, '_>, out: &mut Vec<Finding>) {
    if ctx.span.status.code != StatusCode::Ok {
        return;
    }
    out.push(ctx.finding(&INFO, None, ctx.span.name_offset, || {
        (
            "the span status is OK: instrumentation should leave it unset on success".to_string(),
            Some(
                "leave the status unset on success; set ERROR with `error.type` on failure"
                    .to_string(),
            ),
        )
    }));
}
