//! Small stores of what was worked out once and is asked for again.
//!
//! Clients choose the keys (a document's text, a token), and can send ever
//! new ones: a store never grows past its bound. When the next entry would
//! pass it, the store starts over, which costs the next requests their work
//! again, never memory.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

pub struct Kept<V> {
    max_weight: usize,
    entries: Mutex<Entries<V>>,
}

struct Entries<V> {
    /// Each value with its weight.
    by_key: HashMap<String, (V, usize)>,
    /// The sum of the kept entries' weights.
    weight: usize,
}

impl<V: Clone> Kept<V> {
    /// A store of entries whose weights add up to `max_weight` at most.
    pub fn new(max_weight: usize) -> Self {
        Self { max_weight, entries: Mutex::new(Entries { by_key: HashMap::new(), weight: 0 }) }
    }

    pub fn get(&self, key: &str) -> Option<V> {
        self.lock().by_key.get(key).map(|(value, _)| value.clone())
    }

    /// Keeps `value` under `key`, counting `weight` against the bound (an
    /// entry heavier than the whole bound is not kept). A key already kept
    /// keeps its value: a key names one value for good.
    pub fn keep(&self, key: &str, value: V, weight: usize) {
        self.insert(key, value, weight, false);
    }

    /// Keeps `value` under `key` in place of any value kept there before:
    /// for values that age.
    pub fn replace(&self, key: &str, value: V, weight: usize) {
        self.insert(key, value, weight, true);
    }

    fn insert(&self, key: &str, value: V, weight: usize, replace: bool) {
        if weight > self.max_weight {
            return;
        }
        let mut entries = self.lock();
        if let Some((_, old)) = entries.by_key.get(key) {
            if !replace {
                return;
            }
            let old = *old;
            entries.by_key.remove(key);
            entries.weight -= old;
        }
        if entries.weight + weight > self.max_weight {
            entries.by_key.clear();
            entries.weight = 0;
        }
        entries.by_key.insert(key.to_owned(), (value, weight));
        entries.weight += weight;
    }

    /// How many entries are kept, and their weight.
    #[cfg(test)]
    pub fn size(&self) -> (usize, usize) {
        let entries = self.lock();
        (entries.by_key.len(), entries.weight)
    }

    fn lock(&self) -> MutexGuard<'_, Entries<V>> {
        // Every statement leaves the map consistent: a panic elsewhere leaves it usable.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::Kept;

    #[test]
    fn a_replaced_entry_counts_its_new_weight_only() {
        let kept = Kept::new(10);
        kept.keep("a", 1, 4);
        kept.keep("a", 2, 4);
        assert_eq!(kept.get("a"), Some(1), "keep leaves a kept key alone");
        kept.replace("a", 3, 6);
        assert_eq!((kept.get("a"), kept.size()), (Some(3), (1, 6)));
        kept.replace("b", 4, 4);
        assert_eq!(kept.size(), (2, 10));
        kept.keep("c", 5, 1);
        assert_eq!(
            (kept.get("a"), kept.get("c"), kept.size()),
            (None, Some(5), (1, 1)),
            "past the bound, it starts over"
        );
        kept.replace("d", 6, 11);
        assert_eq!(kept.get("d"), None, "heavier than the bound: not kept");
    }
}
