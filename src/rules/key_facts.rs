//! [`KeyFacts`]: what the rules ask about an attribute key that takes glob matching to answer
//! (is it content? does it squat a reserved namespace? is it ignored when recommended? does it
//! name a metric?) or a hash lookup (its registry and deprecation entries), remembered per
//! distinct key.
//!
//! Keys repeat on every span of a dump (`gen_ai.prompt.0.content` comes back thousands of
//! times), and the glob sets behind these answers cost far more than one hash lookup, so each
//! thread remembers the answers for the [`Ruleset`](super::Ruleset) it last checked with. The
//! memo is bounded: hostile input with millions of distinct keys empties it when it is full
//! instead of growing it, and very long keys are never remembered.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use foldhash::HashMap;

/// What the rules need to know about one attribute key under one ruleset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyFacts {
    /// [`Ruleset::is_content_attribute`](super::Ruleset::is_content_attribute).
    pub content: bool,
    /// [`Ruleset::is_squatter`](super::Ruleset::is_squatter).
    pub squatter: bool,
    /// Matches `[recommended] ignore`.
    pub recommended_ignored: bool,
    /// Matches `[recommended] aggregate-ignore`.
    pub aggregate_ignored: bool,
    /// The index of the metric name the key is or lies under (`[metrics] names`).
    pub metric: Option<usize>,
    /// The index of the key's registry definition ([`Ruleset::attribute`](super::Ruleset::attribute)).
    pub attribute: Option<usize>,
    /// The index of the key's `[[deprecated-attribute]]`.
    pub deprecated: Option<usize>,
    /// Whether some of the key's values are deprecated (`[[deprecated-value]]`), so only those
    /// keys' values are looked up.
    pub deprecated_values: bool,
    /// [`Ruleset::is_resource_attribute`](super::Ruleset::is_resource_attribute).
    pub resource: bool,
}

/// At most this many keys are remembered per thread (about 100 bytes each).
const MEMO_CAPACITY: usize = 16_384;
/// Longer keys are computed every time: remembering them would let a few huge keys hold
/// megabytes.
const LONGEST_REMEMBERED_KEY: usize = 256;

/// A number that tells rulesets apart for the memo (a new ruleset, new answers).
pub fn next_ruleset_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[derive(Default)]
struct Memo {
    ruleset: Option<u64>,
    facts: HashMap<Box<str>, KeyFacts>,
}

thread_local! {
    static MEMO: RefCell<Memo> = RefCell::new(Memo::default());
}

/// The facts of `key` under the ruleset `ruleset_id`: remembered ones, or `compute(key)`
/// (remembered for next time).
pub fn memoized(ruleset_id: u64, key: &str, compute: impl FnOnce(&str) -> KeyFacts) -> KeyFacts {
    if key.len() > LONGEST_REMEMBERED_KEY {
        return compute(key);
    }
    let known = MEMO.with_borrow(|memo| {
        (memo.ruleset == Some(ruleset_id))
            .then(|| memo.facts.get(key).copied())
            .flatten()
    });
    if let Some(facts) = known {
        return facts;
    }
    // Computed outside the borrow, so `compute` may itself ask the memo.
    let facts = compute(key);
    MEMO.with_borrow_mut(|memo| {
        if memo.ruleset != Some(ruleset_id) || memo.facts.len() >= MEMO_CAPACITY {
            memo.facts.clear();
            memo.ruleset = Some(ruleset_id);
        }
        memo.facts.insert(key.into(), facts);
    });
    facts
}

#[cfg(test)]
mod tests {
    use super::*;

    const YES: KeyFacts = KeyFacts {
        content: true,
        squatter: false,
        recommended_ignored: false,
        aggregate_ignored: false,
        metric: None,
        attribute: None,
        deprecated: None,
        deprecated_values: false,
        resource: false,
    };
    const NO: KeyFacts = KeyFacts {
        content: false,
        squatter: true,
        recommended_ignored: false,
        aggregate_ignored: false,
        metric: Some(1),
        attribute: Some(2),
        deprecated: None,
        deprecated_values: false,
        resource: true,
    };

    #[test]
    fn remembers_per_ruleset() {
        let (first, second) = (next_ruleset_id(), next_ruleset_id());
        assert_eq!(memoized(first, "a.b", |_| YES), YES);
        // Remembered: the second computation is not asked.
        assert_eq!(memoized(first, "a.b", |_| NO), YES);
        // Another ruleset has its own answers.
        assert_eq!(memoized(second, "a.b", |_| NO), NO);
        assert_eq!(memoized(first, "a.b", |_| YES), YES);
    }

    #[test]
    fn stays_bounded() {
        let id = next_ruleset_id();
        for i in 0..MEMO_CAPACITY * 2 + 10 {
            memoized(id, &format!("key.{i}"), |_| YES);
        }
        let remembered = MEMO.with_borrow(|memo| memo.facts.len());
        assert!(remembered <= MEMO_CAPACITY, "{remembered} keys remembered");
        let long = "k".repeat(LONGEST_REMEMBERED_KEY + 1);
        memoized(id, &long, |_| YES);
        assert_eq!(
            memoized(id, &long, |_| NO),
            NO,
            "long keys are not remembered"
        );
    }
}
