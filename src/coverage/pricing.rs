//! `--pricing FILE`: per-model prices per million tokens, for an **estimated** cost.
//!
//! The file is the user's own (an example ships as `rules/pricing.example.toml`); spanlint
//! knows no prices. Parsing is pure: the command reads the file.
//!
//! ```toml
//! currency = "USD"
//! [models."gpt-4o-mini"]
//! input = 0.15          # per million input tokens that were not served from the cache
//! output = 0.60         # per million output tokens (reasoning included)
//! cached-input = 0.075  # per million input tokens read from the cache (defaults to `input`)
//! ```
//!
//! Cost = (input − cache_read) × input + cache_read × cached-input + output × output, over a
//! million. Cache writes are priced as input. A model is looked up by its exact name, else by
//! the longest `models` key that is a prefix of it (`gpt-4o-mini-2024-07-18` → `gpt-4o-mini`).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::Tokens;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Pricing {
    #[serde(default = "default_currency")]
    pub currency: String,
    #[serde(default)]
    pub models: BTreeMap<String, Price>,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Price {
    pub input: f64,
    pub output: f64,
    pub cached_input: Option<f64>,
}

fn default_currency() -> String {
    "USD".to_string()
}

impl Pricing {
    /// Parses a pricing file's text.
    pub fn parse(text: &str) -> Result<Pricing, toml::de::Error> {
        toml::from_str(text)
    }

    /// The price of a model: exact name, else the longest key that prefixes it.
    pub fn price(&self, model: &str) -> Option<&Price> {
        self.models.get(model).or_else(|| {
            self.models
                .iter()
                .filter(|(k, _)| model.starts_with(k.as_str()))
                .max_by_key(|(k, _)| k.len())
                .map(|(_, p)| p)
        })
    }

    /// The estimated cost of some tokens of a model, when the model has a price.
    pub fn cost(&self, model: &str, tokens: &Tokens) -> Option<f64> {
        let p = self.price(model)?;
        let cached = tokens.cache_read.min(tokens.input);
        let fresh = tokens.input - cached;
        let cost = fresh as f64 * p.input
            + cached as f64 * p.cached_input.unwrap_or(p.input)
            + tokens.output as f64 * p.output;
        // Rounded to a millionth of the currency.
        Some(cost.round() / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_tokens_are_part_of_input_and_priced_apart() {
        let pricing = Pricing::parse(
            "currency = \"EUR\"\n[models.\"m\"]\ninput = 2.0\noutput = 10.0\ncached-input = 1.0\n",
        )
        .unwrap();
        let tokens = Tokens {
            input: 1_000_000,
            output: 100_000,
            cache_read: 400_000,
            ..Tokens::default()
        };
        // 600k fresh × 2 + 400k cached × 1 + 100k out × 10 = 1.2 + 0.4 + 1.0
        assert_eq!(pricing.cost("m", &tokens), Some(2.6));
        assert_eq!(pricing.cost("m-2025-01-01", &tokens), Some(2.6), "prefix");
        assert_eq!(pricing.cost("other", &tokens), None);
        assert_eq!(pricing.currency, "EUR");
    }

    #[test]
    fn example_file_parses() {
        let pricing = Pricing::parse(include_str!("../../rules/pricing.example.toml")).unwrap();
        assert!(!pricing.models.is_empty());
    }
}
