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
    by_key: HashMap<String, V>,
    /// The sum of the kept entries' weights.
    weight: usize,
}

impl<V: Clone> Kept<V> {
    /// A store of entries whose weights add up to `max_weight` at most.
    pub fn new(max_weight: usize) -> Self {
        Self { max_weight, entries: Mutex::new(Entries { by_key: HashMap::new(), weight: 0 }) }
    }

    pub fn get(&self, key: &str) -> Option<V> {
        self.lock().by_key.get(key).cloned()
    }

    /// Keeps `value` under `key`, counting `weight` against the bound (an
    /// entry heavier than the whole bound is not kept).
    pub fn keep(&self, key: &str, value: V, weight: usize) {
        if weight > self.max_weight {
            return;
        }
        let mut entries = self.lock();
        if entries.by_key.contains_key(key) {
            return;
        }
        if entries.weight + weight > self.max_weight {
            entries.by_key.clear();
            entries.weight = 0;
        }
        entries.by_key.insert(key.to_owned(), value);
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
