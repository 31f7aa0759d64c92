//! The bounded per-thread memo behind [`crate::sql::classify`] and
//! [`crate::redact::secret_kinds`]: logs repeat the same statements, so most answers are a
//! lookup. Each map holds at most [`ENTRIES`] keys and is emptied when full.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, DefaultHasher, Hash};

/// Keys one map holds at most.
pub(crate) const ENTRIES: usize = 4096;
/// Longer texts are answered every time (they are rare and would crowd the memo).
pub(crate) const MAX_TEXT: usize = 2048;

/// Key → answer, at most [`ENTRIES`] of them.
pub(crate) struct Bounded<K: ?Sized, V>(HashMap<Box<K>, V, BuildHasherDefault<DefaultHasher>>);

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
