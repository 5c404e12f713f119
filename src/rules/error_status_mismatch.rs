//! # error-status-mismatch
//!
//! ## What it checks
//! Spans with `error.type` set whose status is not ERROR.
//!
//! ## Why it matters
//! The conventions record a failed operation with status ERROR *and* `error.type`. Backends
//! count errors by status: a span with `error.type` but status UNSET or OK is counted as a
//! success, and error-rate alerts never fire.
//!
//! ## Example
//! `{"key": "error.type", "value": {"stringValue": "RateLimitError"}}` on a span with
//! `"status": {}`.
//!
//! ## Fix
//! Set the status to ERROR when the operation failed, or do not set `error.type` when it did
//! not.

use super::{RuleInfo, SpanContext};
use crate::finding::{Finding, Severity};
use crate::model::StatusCode;

pub const INFO: RuleInfo = RuleInfo {
    id: "error-status-mismatch",
    summary: "`error.type` is set but the span status is not ERROR",
    default_severity: Severity::Warning,
};

pub fn check(ctx: &SpanContext<'_, '_>, out: &mut Vec<Finding>) {
    if ctx.span.status.code == StatusCode::Error {
        return;
    }
    let Some(attribute) = ctx.span.attribute("error.type") else {
        return;
    };
    let status = match ctx.span.status.code {
        StatusCode::Ok => "OK",
        _ => "UNSET",
    };
    out.push(
        ctx.finding(&INFO, Some("error.type"), attribute.offset, || {
            (
                format!("`error.type` is set but the span status is {status}, not ERROR"),
                Some(
                    "set the span status to ERROR when the operation failed; otherwise do not set \
             `error.type`"
                        .to_string(),
                ),
            )
        }),
    );
}
