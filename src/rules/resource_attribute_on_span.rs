//! # resource-attribute-on-span
//!
//! ## What it checks
//! Resource identity attributes (`service.name`, `service.version`, `deployment.environment.name`,
//! `telemetry.sdk.*`, … as the rules file's `resource-attributes` lists them) set on a GenAI
//! span instead of on its resource.
//!
//! ## Why it matters
//! Backends read the service from the resource. A copy on the span is ignored at best, and at
//! worst disagrees with the resource and splits one service in two.
//!
//! ## Example
//! `{"key": "service.name", "value": {"stringValue": "checkout"}}` among a chat span's
//! attributes.
//!
//! ## Fix
//! Set it once on the SDK's resource (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`) and
//! remove it from the span.

use super::{RuleInfo, SpanContext};
use crate::finding::{Finding, Severity};

pub const INFO: RuleInfo = RuleInfo {
    id: "resource-attribute-on-span",
    summary: "a resource attribute such as `service.name` is set on a span",
    default_severity: Severity::Warning,
};

pub fn check(ctx: &SpanContext<'_, '_>, out: &mut Vec<Finding>) {
    if !ctx.own_keys().resource() {
        return;
    }
    for (attribute, facts) in ctx.attributes_with_facts() {
        if !facts.resource {
            continue;
        }
        out.push(ctx.finding(&INFO, Some(&attribute.key), attribute.offset, || {
            (
                format!(
                    "`{}` is resource identity but is set on the span",
                    attribute.key
                ),
                Some(format!(
                    "set `{}` on the resource (e.g. with `OTEL_RESOURCE_ATTRIBUTES`) and remove \
                     it from the span",
                    attribute.key
                )),
            )
        }));
    }
}
