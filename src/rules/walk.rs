//! Walking a batch the way the span rules see it: each span, in order, with (for a GenAI span)
//! its [`SpanContext`]: its resource, its scope and the scope's schema URL, and whether it is
//! its scope's first GenAI span. `check` and `coverage` both read a batch through
//! [`for_each_span`], so the two see the same GenAI spans with the same contexts.
//!
//! A function taking the visit rather than an iterator: an iterator over the three nested
//! lists moves each (large) context through two levels of `flat_map` and cost `coverage` 2 %
//! more instructions; plain loops around a closure compile to what the callers' own loops did
//! (with `enforced` and `recommended_ignored` marked `#[inline]`, which LLVM stopped inlining
//! into coverage's per-span closure on its own).

use super::{Ruleset, SpanContext};
use crate::model::{Batch, Span};

/// Calls `visit` on every span of `batch`, in order, with its [`SpanContext`] when `rules`
/// counts it as a GenAI span ([`Ruleset::is_genai_span`]), `None` when not.
#[inline]
pub fn for_each_span<'r, 'a>(
    rules: &'r Ruleset,
    batch: &'r Batch<'a>,
    mut visit: impl FnMut(&'r Span<'a>, Option<SpanContext<'r, 'a>>),
) {
    for resource in &batch.resource_spans {
        for scope_spans in &resource.scope_spans {
            // Scope-level rules report once, on the scope's first GenAI span.
            let mut first_in_scope = true;
            for span in &scope_spans.spans {
                if !rules.is_genai_span(span) {
                    visit(span, None);
                    continue;
                }
                let ctx = SpanContext::in_scope(
                    rules,
                    span,
                    resource,
                    &scope_spans.scope,
                    &scope_spans.schema_url,
                    std::mem::take(&mut first_in_scope),
                );
                visit(span, Some(ctx));
            }
        }
    }
}
