//! # provider-attribute-mismatch
//!
//! ## What it checks
//! Provider-specific attributes (`openai.*`, `aws.bedrock.*`, … as the rules file's
//! `[[provider-namespace]]` lists them) on a span whose provider (`gen_ai.provider.name`, or the
//! deprecated `gen_ai.system`) is another one. A span without a provider is not checked.
//!
//! ## Why it matters
//! The provider is the discriminator of the telemetry's flavour: a span of provider
//! `aws.bedrock` should carry `aws.bedrock.*` attributes and no other provider's. `openai.*` on
//! a Bedrock span usually means an OpenAI-compatible client is pointed at another provider and
//! labels everything as OpenAI's, or the provider is wrong.
//!
//! ## Example
//! `gen_ai.provider.name = "anthropic"` with `openai.response.service_tier = "default"`.
//!
//! ## Fix
//! Set `gen_ai.provider.name` to the provider actually called, and record only that provider's
//! attributes.

use super::ruleset::provider_namespace_bit;
use super::{RuleInfo, SpanContext, keys};
use crate::finding::{Finding, Severity};

pub const INFO: RuleInfo = RuleInfo {
    id: "provider-attribute-mismatch",
    summary: "another provider's attributes on a span (e.g. `openai.*` when the provider is not OpenAI)",
    default_severity: Severity::Warning,
};

pub fn check(ctx: &SpanContext<'_, '_>, out: &mut Vec<Finding>) {
    let Some(provider) = ctx.provider() else {
        return;
    };
    // Which namespaces some key lies under, known from the keys' facts.
    let present = ctx.own_keys().provider_namespaces;
    for (i, namespace) in ctx.rules.file.provider_namespaces.iter().enumerate() {
        if present & provider_namespace_bit(i) == 0
            || namespace.providers.iter().any(|p| p == provider)
        {
            continue;
        }
        let foreign = ctx
            .attributes_with_facts()
            .filter(|(a, _)| a.key.starts_with(namespace.prefix.as_str()));
        let prefix = namespace.prefix.trim_end_matches('.');
        if let Some(group) = keys::group(foreign, keys::Label::Fixed(prefix))
            .into_iter()
            .next()
        {
            out.push(ctx.finding(&INFO, Some(&group.first.key), group.first.offset, || {
                let what = if group.count > 1 {
                    format!(
                        "{} `{prefix}.*` attributes (e.g. `{}`)",
                        group.count, group.first.key
                    )
                } else {
                    format!("`{}`", group.first.key)
                };
                (
                    format!(
                        "{what} on a span whose provider is `{}`, not {}",
                        crate::report::truncate(provider, 40),
                        namespace
                            .providers
                            .iter()
                            .map(|p| format!("`{p}`"))
                            .collect::<Vec<_>>()
                            .join(" or ")
                    ),
                    Some(format!(
                        "set `gen_ai.provider.name` to the provider actually called, and record \
                         only its attributes (`{prefix}.*` belongs to {})",
                        namespace.providers.join(", ")
                    )),
                )
            }));
        }
    }
}
