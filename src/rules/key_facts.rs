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
    pub metric: Option<u32>,
    /// The index of the key's registry definition ([`Ruleset::attribute`](super::Ruleset::attribute)).
    pub attribute: Option<u32>,
    /// Whether `attribute` is a template's (`gen_ai.prompt.variable`) and the key one of its
    /// concrete keys (`gen_ai.prompt.variable.city`), not the registry key itself.
    pub template_key: bool,
    /// The index of the key's `[[deprecated-attribute]]`.
    pub deprecated: Option<u32>,
    /// Whether some of the key's values are deprecated (`[[deprecated-value]]`), so only those
    /// keys' values are looked up.
    pub deprecated_values: bool,
    /// [`Ruleset::is_resource_attribute`](super::Ruleset::is_resource_attribute).
    pub resource: bool,
}

// Indices are `u32` (a rules file has far fewer entries), so a span's facts are half the size
// they would be with `usize`: every rule copies them attribute by attribute.

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

/// The facts of each of `keys`, appended to `out` in order: [`memoized`] for each key, with
/// the memo borrowed once for a run of remembered keys instead of once per key (a span's keys
/// are nearly all remembered).
pub fn memoized_all<'k>(
    ruleset_id: u64,
    keys: impl IntoIterator<Item = &'k str>,
    compute: impl Fn(&str) -> KeyFacts,
    out: &mut Vec<KeyFacts>,
) {
    let mut keys = keys.into_iter();
    loop {
        // Remembered keys' facts, up to the first key that is not remembered.
        let unknown = MEMO.with_borrow(|memo| {
            if memo.ruleset != Some(ruleset_id) {
                return keys.next();
            }
            for key in keys.by_ref() {
                match memo.facts.get(key) {
                    Some(facts) => out.push(*facts),
                    None => return Some(key),
                }
            }
            None
        });
        let Some(key) = unknown else {
            return;
        };
        out.push(memoized(ruleset_id, key, &compute));
    }
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
        template_key: false,
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
        template_key: true,
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
    fn all_at_once_is_one_at_a_time() {
        let id = next_ruleset_id();
        let facts = |key: &str| if key.contains('y') { YES } else { NO };
        let long = "y".repeat(LONGEST_REMEMBERED_KEY + 1);
        let keys = ["a.y", "b", "a.y", long.as_str(), "c.y", "b", "d"];
        // Nothing remembered, some remembered, all remembered.
        for _ in 0..2 {
            let mut out = Vec::new();
            memoized_all(id, keys, facts, &mut out);
            let expected: Vec<KeyFacts> = keys.iter().map(|k| facts(k)).collect();
            assert_eq!(out, expected);
        }
        // Appends, and a memo of another ruleset is not read.
        let mut out = vec![YES];
        memoized_all(next_ruleset_id(), ["a.y", "b"], |_| NO, &mut out);
        assert_eq!(out, [YES, NO, NO]);
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
