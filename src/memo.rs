//! The bounded map behind the detector's per-thread memo of what query texts say
//! (classification, secret kinds): logs repeat the same statements, so most answers are a
//! lookup. Each map holds at most [`ENTRIES`] keys and is emptied when full.
//!
//! Also the hasher of the maps the detector touches per event ([`FastState`]).

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hash};
use std::sync::OnceLock;

use foldhash::fast::SeedableRandomState;
use foldhash::SharedSeed;

/// Builds the hasher of the per-event maps: foldhash (a few instructions per 16 bytes where
/// SipHash takes a few per byte), keyed with per-process randomness. Log content is chosen
/// by whoever sends the queries, so a fixed key would let them flood one bucket.
///
/// The key comes from std's [`RandomState`] (the OS random source std already draws from
/// for every `HashMap`), not from foldhash's own `RandomState`, whose global seed reads the
/// clock and otherwise rests on addresses (fixed in wasm). The seeds shared by all maps are
/// drawn once per process; each map adds its own. So these maps are as keyed as std's:
/// where std has no random source (wasm32-unknown-unknown), neither is.
#[derive(Clone, Debug)]
pub(crate) struct FastState(SeedableRandomState);

impl Default for FastState {
    fn default() -> Self {
        static SHARED: OnceLock<SharedSeed> = OnceLock::new();
        let shared = SHARED.get_or_init(|| SharedSeed::from_u64(random_u64()));
        Self(SeedableRandomState::with_seed(random_u64(), shared))
    }
}

impl BuildHasher for FastState {
    type Hasher = foldhash::fast::FoldHasher<'static>;

    #[inline]
    fn build_hasher(&self) -> Self::Hasher {
        self.0.build_hasher()
    }
}

/// A hash of `parts` keyed with per-process randomness (one key for every thread): the
/// check beside a stable hash (FNV-1a) of log text, so that text crafted to collide with
/// another's stable hash is still told apart. Each part is length-prefixed.
pub(crate) fn keyed_hash(parts: &[&[u8]]) -> u64 {
    use std::hash::Hasher;
    static KEY: OnceLock<FastState> = OnceLock::new();
    let mut h = KEY.get_or_init(FastState::default).build_hasher();
    for part in parts {
        h.write_usize(part.len());
        h.write(part);
    }
    h.finish()
}

/// 64 random bits from a fresh std [`RandomState`] (each one is keyed differently).
fn random_u64() -> u64 {
    RandomState::new().hash_one(0x5eed_u64)
}

/// A `HashMap` with [`FastState`].
pub(crate) type FastMap<K, V> = HashMap<K, V, FastState>;
/// A `HashSet` with [`FastState`].
pub(crate) type FastSet<T> = HashSet<T, FastState>;

/// Keys one map holds at most.
pub(crate) const ENTRIES: usize = 4096;
/// Longer texts are answered every time (they are rare and would crowd the memo).
pub(crate) const MAX_TEXT: usize = 2048;

/// Key → answer, at most [`ENTRIES`] of them.
pub(crate) struct Bounded<K: ?Sized, V>(FastMap<Box<K>, V>);

impl<K: ?Sized, V> Default for Bounded<K, V> {
    fn default() -> Self {
        Self(HashMap::default())
    }
}

impl<K: ?Sized + Eq + Hash, V: Clone> Bounded<K, V>
where
    Box<K>: for<'a> From<&'a K>,
{
    /// The answer remembered for `key`.
    pub(crate) fn get(&self, key: &K) -> Option<V> {
        self.0.get(key).cloned()
    }

    /// Remembers `value` for `key`, emptying the map first when it is full.
    pub(crate) fn remember(&mut self, key: &K, value: &V) {
        if self.0.len() >= ENTRIES {
            self.0.clear();
        }
        self.0.insert(key.into(), value.clone());
    }

    /// Keys held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

/// `text` with every ASCII digit replaced by the next one (`9` by `0`): the same text with
/// other numbers, for testing that a memo keyed by blinded digits answers it right.
#[cfg(test)]
pub(crate) fn other_digits(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '0'..='8' => char::from(c as u8 + 1),
            '9' => '0',
            c => c,
        })
        .collect()
}

/// `text` with every run of ASCII digits replaced by one of another length and other digits
/// (`42` → `7`, `7` → `13`, `123` → `4096`): the same text with other numbers, for testing
/// memos keyed by number-blind text.
#[cfg(test)]
pub(crate) fn other_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = 0;
    for c in text.chars().map(Some).chain([None]) {
        if c.is_some_and(|c| c.is_ascii_digit()) {
            run += 1;
            continue;
        }
        if run > 0 {
            out.push_str(["4096", "13", "7"][run % 3]);
            run = 0;
        }
        out.extend(c);
    }
    out
}
