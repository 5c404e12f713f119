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
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
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
    /// Some segment of the key is a number (`gen_ai.prompt.0.content`: see
    /// [`super::keys::indexed_pattern`]).
    pub indexed: bool,
    /// One of the message attributes ([`super::messages::MESSAGE_KEYS`]).
    pub message: bool,
    /// The key starts with `gen_ai.`.
    pub genai: bool,
    /// Bit `i` set: the key starts with the `i`-th prefix of the rules file's
    /// `[[foreign-namespace]]`s (their prefixes one after the other; see
    /// [`super::ruleset::foreign_prefixes`]).
    pub foreign_prefixes: u64,
    /// The facts above that a span's [`KeysSummary`] gathers, for this one key.
    pub summary: KeysSummary,
}

/// Which of a few facts some key of a span has (its own keys, or all its keys, its events'
/// included), so a rule with nothing to look at returns without going through the keys. Each
/// key's is worked out once, with its [`KeyFacts`]; a span's is their union.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct KeysSummary {
    flags: u8,
    /// Bit `i` set: some key lies under the prefix of the rules file's `i`-th
    /// `[[provider-namespace]]` (the 32nd and later set bit 31, which then means "maybe":
    /// see [`super::ruleset::provider_namespace_bit`]).
    pub provider_namespaces: u32,
}

impl KeysSummary {
    const CONTENT: u8 = 1;
    const SQUATTER: u8 = 1 << 1;
    const METRIC: u8 = 1 << 2;
    const DEPRECATED: u8 = 1 << 3;
    const DEPRECATED_VALUES: u8 = 1 << 4;
    const RESOURCE: u8 = 1 << 5;

    /// One key's summary, from its facts and the provider namespaces it lies under.
    pub fn of_key(facts: &KeyFacts, provider_namespaces: u32) -> Self {
        let flag = |set: bool, flag: u8| if set { flag } else { 0 };
        KeysSummary {
            flags: flag(facts.content, Self::CONTENT)
                | flag(facts.squatter && facts.metric.is_none(), Self::SQUATTER)
                | flag(facts.metric.is_some(), Self::METRIC)
                | flag(facts.deprecated.is_some(), Self::DEPRECATED)
                | flag(
                    facts.deprecated.is_none() && facts.deprecated_values,
                    Self::DEPRECATED_VALUES,
                )
                | flag(facts.resource, Self::RESOURCE),
            provider_namespaces,
        }
    }

    /// The summary of the keys of both.
    pub fn union(self, other: Self) -> Self {
        KeysSummary {
            flags: self.flags | other.flags,
            provider_namespaces: self.provider_namespaces | other.provider_namespaces,
        }
    }

    /// Some key is content ([`KeyFacts::content`]).
    pub fn content(self) -> bool {
        self.flags & Self::CONTENT != 0
    }

    /// Some key squats a reserved namespace without naming a metric.
    pub fn squatter(self) -> bool {
        self.flags & Self::SQUATTER != 0
    }

    /// Some key names a metric ([`KeyFacts::metric`]).
    pub fn metric(self) -> bool {
        self.flags & Self::METRIC != 0
    }

    /// Some key is deprecated ([`KeyFacts::deprecated`]).
    pub fn deprecated(self) -> bool {
        self.flags & Self::DEPRECATED != 0
    }

    /// Some key is not deprecated itself but has deprecated values.
    pub fn deprecated_values(self) -> bool {
        self.flags & Self::DEPRECATED_VALUES != 0
    }

    /// Some key is resource identity ([`KeyFacts::resource`]).
    pub fn resource(self) -> bool {
        self.flags & Self::RESOURCE != 0
    }
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
/// are nearly all remembered). `key` gives an item's key (items are a span's attributes: a
/// slice walks faster than a chain of iterators).
pub fn memoized_all<T>(
    ruleset_id: u64,
    items: &[T],
    key: impl Fn(&T) -> &str,
    compute: impl Fn(&str) -> KeyFacts,
    out: &mut Vec<KeyFacts>,
) {
    let mut rest = items;
    while !rest.is_empty() {
        // Remembered keys' facts, up to the first key that is not remembered.
        let remembered = MEMO.with_borrow(|memo| {
            if memo.ruleset != Some(ruleset_id) {
                return 0;
            }
            let mut count = 0;
            for item in rest {
                match memo.facts.get(key(item)) {
                    Some(facts) => out.push(*facts),
                    None => break,
                }
                count += 1;
            }
            count
        });
        rest = &rest[remembered..];
        let Some((first, after)) = rest.split_first() else {
            return;
        };
        out.push(memoized(ruleset_id, key(first), &compute));
        rest = after;
    }
}

/// At most this many key lists are remembered per thread (a dump has a few dozen distinct
/// ones; each list has one place, so there are many more places than lists).
const LISTS: usize = 256;
/// Lists with more keys, or more key text, than these are looked up key by key each time
/// (a remembered list then takes at most about 7 KiB).
const LONGEST_REMEMBERED_LIST: usize = 96;
const LONGEST_REMEMBERED_LIST_TEXT: usize = 3072;

/// One remembered key list (a span's keys, its events' included) and its keys' facts.
#[derive(Default)]
struct RememberedList {
    ruleset: u64,
    hash: u64,
    /// The keys, one after the other; `ends[i]`: where key `i` ends.
    keys: String,
    ends: Vec<u32>,
    facts: Vec<KeyFacts>,
}

impl RememberedList {
    /// Whether the keys of `lists` are exactly the remembered ones.
    fn holds<'i, T: 'i>(
        &self,
        lists: impl Iterator<Item = &'i [T]>,
        key: impl Fn(&T) -> &str,
    ) -> bool {
        let (mut at, mut start) = (0, 0);
        for list in lists {
            for item in list {
                let Some(&end) = self.ends.get(at) else {
                    return false;
                };
                let end = end as usize;
                if !same_bytes(key(item).as_bytes(), &self.keys.as_bytes()[start..end]) {
                    return false;
                }
                (at, start) = (at + 1, end);
            }
        }
        at == self.ends.len()
    }
}

thread_local! {
    /// Key lists by [`list_hash`], one per slot (a new list takes its slot's place).
    static LIST_MEMO: RefCell<Vec<RememberedList>> = const { RefCell::new(Vec::new()) };
}

/// The facts of every key of `lists` (a span's attributes, then each event's), appended to
/// `out` in order: [`memoized_all`] of each list, remembered for the whole sequence of keys.
/// Spans of one kind carry the same keys in the same order, so a span's keys are then
/// compared with the list remembered (a hash picks it) instead of being looked up one by one.
pub fn memoized_lists<'i, T: 'i>(
    ruleset_id: u64,
    lists: impl Iterator<Item = &'i [T]> + Clone,
    key: impl Fn(&T) -> &str,
    compute: impl Fn(&str) -> KeyFacts,
    out: &mut Vec<KeyFacts>,
) {
    let keys = || lists.clone().flatten().map(&key);
    let hash = list_hash(lists.clone(), &key);
    let slot = (hash % LISTS as u64) as usize;
    let remembered = LIST_MEMO.with_borrow(|memo| {
        let list = memo.get(slot)?;
        let known =
            list.ruleset == ruleset_id && list.hash == hash && list.holds(lists.clone(), &key);
        known.then(|| out.extend_from_slice(&list.facts))
    });
    if remembered.is_some() {
        return;
    }
    let start = out.len();
    for list in lists.clone() {
        memoized_all(ruleset_id, list, &key, &compute, out);
    }
    let count = out.len() - start;
    let text: usize = keys().map(str::len).sum();
    if count > LONGEST_REMEMBERED_LIST || text > LONGEST_REMEMBERED_LIST_TEXT {
        return;
    }
    LIST_MEMO.with_borrow_mut(|memo| {
        if memo.is_empty() {
            memo.resize_with(LISTS, RememberedList::default);
        }
        // The slot's buffers are reused: no allocation once they are large enough.
        let list = &mut memo[slot];
        list.ruleset = ruleset_id;
        list.hash = hash;
        list.keys.clear();
        list.ends.clear();
        for key in keys() {
            list.keys.push_str(key);
            // At most `LONGEST_REMEMBERED_LIST_TEXT` bytes: the offset fits.
            list.ends.push(list.keys.len() as u32);
        }
        list.facts.clear();
        list.facts.extend_from_slice(&out[start..]);
    });
}

/// A hash of a key list that only picks where it is remembered (the keys are compared
/// anyway): each key's length and its first and last 8 bytes.
fn list_hash<'i, T: 'i>(lists: impl Iterator<Item = &'i [T]>, key: impl Fn(&T) -> &str) -> u64 {
    const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut hash = 0u64;
    for list in lists {
        for item in list {
            let bytes = key(item).as_bytes();
            let (first, last) = if bytes.len() >= 8 {
                (word_at(bytes, 0), word_at(bytes, bytes.len() - 8))
            } else {
                let mut word = [0u8; 8];
                word[..bytes.len()].copy_from_slice(bytes);
                (u64::from_le_bytes(word), 0)
            };
            hash = (hash.rotate_left(27) ^ first ^ last.rotate_left(31) ^ bytes.len() as u64)
                .wrapping_mul(MULTIPLIER);
        }
    }
    hash ^ (hash >> 29)
}

/// The 8 bytes of `bytes` from `at`, as a number.
fn word_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

/// `a == b`, a word at a time (keys are short: cheaper than a call to `memcmp`).
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let len = a.len();
    if len != b.len() {
        return false;
    }
    if len < 8 {
        return a == b;
    }
    let mut at = 0;
    while at + 8 < len {
        if word_at(a, at) != word_at(b, at) {
            return false;
        }
        at += 8;
    }
    word_at(a, len - 8) == word_at(b, len - 8)
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
        indexed: false,
        message: false,
        genai: false,
        foreign_prefixes: 0,
        summary: KeysSummary {
            flags: KeysSummary::CONTENT,
            provider_namespaces: 0,
        },
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
        indexed: true,
        message: true,
        genai: true,
        foreign_prefixes: 5,
        summary: KeysSummary {
            flags: KeysSummary::RESOURCE,
            provider_namespaces: 1,
        },
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
            memoized_all(id, &keys, |k: &&str| *k, facts, &mut out);
            let expected: Vec<KeyFacts> = keys.iter().map(|k| facts(k)).collect();
            assert_eq!(out, expected);
        }
        // Appends, and a memo of another ruleset is not read.
        let mut out = vec![YES];
        memoized_all(
            next_ruleset_id(),
            &["a.y", "b"],
            |k: &&str| *k,
            |_| NO,
            &mut out,
        );
        assert_eq!(out, [YES, NO, NO]);
    }

    /// Lists answer as their keys one by one: lists that share hashes (keys that differ only
    /// in their middle), that differ in where events start, that are too long to remember,
    /// and another ruleset's.
    #[test]
    fn lists_answer_as_their_keys() {
        let facts = |key: &str| {
            let mut facts = if key.contains('1') { YES } else { NO };
            facts.attribute = Some(key.len() as u32);
            facts
        };
        let long = format!("a.{}", "x".repeat(LONGEST_REMEMBERED_LIST_TEXT));
        let many: Vec<String> = (0..=LONGEST_REMEMBERED_LIST)
            .map(|i| format!("k{i}"))
            .collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let lists: [&[&[&str]]; 8] = [
            &[&["gen_ai.prompt.0.content", "b"], &["c"]],
            &[&["gen_ai.prompt.1.content", "b"], &["c"]],
            &[&["gen_ai.prompt.0.content"], &["b", "c"]],
            &[&["gen_ai.prompt.0.content", "b", "c"]],
            &[&["gen_ai.prompt.0.content", "b"]],
            &[&[], &[]],
            &[&[long.as_str(), "1"]],
            &[&many],
        ];
        for id in [next_ruleset_id(), next_ruleset_id()] {
            for _ in 0..3 {
                for list in lists {
                    let mut out = vec![YES];
                    memoized_lists(id, list.iter().copied(), |k: &&str| *k, facts, &mut out);
                    let expected: Vec<KeyFacts> = std::iter::once(YES)
                        .chain(list.iter().copied().flatten().map(|k| facts(k)))
                        .collect();
                    assert_eq!(out, expected, "{list:?}");
                }
            }
        }
        // A remembered list of another ruleset is not read.
        let mut out = Vec::new();
        let list: &[&[&str]] = &[&["b"]];
        memoized_lists(
            next_ruleset_id(),
            list.iter().copied(),
            |k: &&str| *k,
            |_| YES,
            &mut out,
        );
        assert_eq!(out, [YES]);
    }

    #[test]
    fn word_compare_is_byte_compare() {
        let base: Vec<u8> = (0..40u8).map(|b| b'a' + b % 26).collect();
        for len in 0..base.len() {
            let a = &base[..len];
            assert!(same_bytes(a, a));
            assert!(!same_bytes(a, &base[..len + 1]));
            for at in 0..len {
                let mut b = a.to_vec();
                b[at] ^= 1;
                assert!(!same_bytes(a, &b), "{len} {at}");
            }
        }
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
