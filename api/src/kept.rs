//! Small stores of what was worked out once and is asked for again.
//!
//! Clients choose the keys (a document's text, a token, a question), and can
//! send ever new ones: a store never grows past its bound. Each entry is kept
//! for a group (the tenant it was worked out for). When the next entry would
//! pass the bound, the heaviest group's entries make room: a tenant sending
//! ever new keys costs its own requests their work again, not other tenants',
//! and never memory.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use uuid::Uuid;

pub struct Kept<V> {
    max_weight: usize,
    entries: Mutex<Entries<V>>,
}

struct Entries<V> {
    by_key: HashMap<String, Entry<V>>,
    /// Each group's share of `weight`.
    groups: HashMap<Uuid, usize>,
    /// The sum of the kept entries' weights.
    weight: usize,
}

struct Entry<V> {
    value: V,
    weight: usize,
    group: Uuid,
}

impl<V: Clone> Kept<V> {
    /// A store of entries whose weights add up to `max_weight` at most.
    pub fn new(max_weight: usize) -> Self {
        Self { max_weight, entries: Mutex::new(Entries { by_key: HashMap::new(), groups: HashMap::new(), weight: 0 }) }
    }

    pub fn get(&self, key: &str) -> Option<V> {
        self.lock().by_key.get(key).map(|entry| entry.value.clone())
    }

    /// Keeps `value` under `key` for `group`, counting `weight` against the
    /// bound (an entry heavier than the whole bound is not kept). A key
    /// already kept keeps its value: a key names one value for good.
    pub fn keep(&self, key: &str, value: V, weight: usize, group: Uuid) {
        self.insert(key, Entry { value, weight, group }, false);
    }

    /// Keeps `value` under `key` in place of any value kept there before:
    /// for values that age.
    pub fn replace(&self, key: &str, value: V, weight: usize, group: Uuid) {
        self.insert(key, Entry { value, weight, group }, true);
    }

    fn insert(&self, key: &str, entry: Entry<V>, replace: bool) {
        if entry.weight > self.max_weight {
            return;
        }
        let mut entries = self.lock();
        if entries.by_key.contains_key(key) {
            if !replace {
                return;
            }
            if let Some(old) = entries.by_key.remove(key) {
                entries.release(old.group, old.weight);
            }
        }
        while entries.weight + entry.weight > self.max_weight {
            let Some(heaviest) = entries.groups.iter().max_by_key(|(_, weight)| **weight).map(|(group, _)| *group)
            else {
                break;
            };
            entries.by_key.retain(|_, kept| kept.group != heaviest);
            entries.weight -= entries.groups.remove(&heaviest).unwrap_or_default();
        }
        entries.weight += entry.weight;
        *entries.groups.entry(entry.group).or_default() += entry.weight;
        entries.by_key.insert(key.to_owned(), entry);
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

impl<V> Entries<V> {
    fn release(&mut self, group: Uuid, weight: usize) {
        self.weight -= weight;
        if let Some(share) = self.groups.get_mut(&group) {
            *share -= weight;
            if *share == 0 {
                self.groups.remove(&group);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::Kept;

    const A: Uuid = Uuid::from_u128(1);
    const B: Uuid = Uuid::from_u128(2);

    #[test]
    fn a_replaced_entry_counts_its_new_weight_only() {
        let kept = Kept::new(10);
        kept.keep("a", 1, 4, A);
        kept.keep("a", 2, 4, A);
        assert_eq!(kept.get("a"), Some(1), "keep leaves a kept key alone");
        kept.replace("a", 3, 6, A);
        assert_eq!((kept.get("a"), kept.size()), (Some(3), (1, 6)));
        kept.replace("b", 4, 4, A);
        assert_eq!(kept.size(), (2, 10));
        kept.keep("c", 5, 1, A);
        assert_eq!(
            (kept.get("a"), kept.get("c"), kept.size()),
            (None, Some(5), (1, 1)),
            "past the bound, the group's entries make room"
        );
        kept.replace("d", 6, 11, A);
        assert_eq!(kept.get("d"), None, "heavier than the bound: not kept");
    }

    #[test]
    fn the_heaviest_group_makes_room() {
        let kept = Kept::new(10);
        kept.keep("a1", 1, 2, A);
        kept.keep("a2", 2, 2, A);
        // B keeps asking new questions: past the bound, its own entries go.
        for n in 0..20 {
            kept.keep(&format!("b{n}"), 10 + n, 3, B);
            assert_eq!((kept.get("a1"), kept.get("a2")), (Some(1), Some(2)), "A's entries stay");
        }
        assert_eq!(kept.get("b19"), Some(29), "the newest is kept");
        // A grows: B, the heavier, makes room; then A, the heavier, for B.
        kept.replace("a1", 3, 5, A);
        assert_eq!((kept.get("a1"), kept.get("b19"), kept.size()), (Some(3), None, (2, 7)));
        kept.keep("b20", 30, 3, B);
        kept.keep("b21", 31, 3, B);
        assert_eq!(
            (kept.get("a1"), kept.get("a2"), kept.get("b20"), kept.get("b21")),
            (None, None, Some(30), Some(31))
        );
    }
}
