//! Small stores of what was worked out once and is asked for again.
//!
//! Clients choose the keys (a document's text, a token, a question), and can
//! send ever new ones: a store never grows past its bound. Each entry is kept
//! for a group (the tenant it was worked out for). When the next entry would
//! pass the bound, the group holding the most gives up its oldest entries
//! until it fits: a tenant sending ever new keys ends up evicting its own,
//! and every tenant keeps an even share of the store (or all it uses, if
//! less) however many keys another sends. It costs requests their work
//! again, never memory.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use uuid::Uuid;

pub struct Kept<V> {
    max_weight: usize,
    entries: Mutex<Entries<V>>,
}

struct Entries<V> {
    by_key: HashMap<String, Entry<V>>,
    groups: HashMap<Uuid, Group>,
    /// The sum of the kept entries' weights.
    weight: usize,
    /// Numbers the entries as they are kept.
    next: u64,
}

struct Entry<V> {
    value: V,
    weight: usize,
    group: Uuid,
    number: u64,
}

#[derive(Default)]
struct Group {
    weight: usize,
    /// How many of the group's entries are kept.
    live: usize,
    /// Its entries' keys and numbers, oldest first; a key replaced since
    /// stays behind with its old number and is skipped.
    order: VecDeque<(String, u64)>,
}

impl<V: Clone> Kept<V> {
    /// A store of entries whose weights add up to `max_weight` at most.
    pub fn new(max_weight: usize) -> Self {
        let entries = Entries { by_key: HashMap::new(), groups: HashMap::new(), weight: 0, next: 0 };
        Self { max_weight, entries: Mutex::new(entries) }
    }

    pub fn get(&self, key: &str) -> Option<V> {
        self.lock().by_key.get(key).map(|entry| entry.value.clone())
    }

    /// Keeps `value` under `key` for `group`, counting `weight` against the
    /// bound (an entry heavier than the whole bound is not kept). A key
    /// already kept keeps its value: a key names one value for good.
    pub fn keep(&self, key: &str, value: V, weight: usize, group: Uuid) {
        self.insert(key, value, weight, group, false);
    }

    /// Keeps `value` under `key` in place of any value kept there before:
    /// for values that age.
    pub fn replace(&self, key: &str, value: V, weight: usize, group: Uuid) {
        self.insert(key, value, weight, group, true);
    }

    fn insert(&self, key: &str, value: V, weight: usize, group: Uuid, replace: bool) {
        if weight > self.max_weight {
            return;
        }
        let mut entries = self.lock();
        if entries.by_key.contains_key(key) {
            if !replace {
                return;
            }
            entries.remove(key);
        }
        while entries.weight + weight > self.max_weight && entries.evict_oldest_of_heaviest() {}
        let number = entries.next;
        entries.next += 1;
        entries.weight += weight;
        entries.by_key.insert(key.to_owned(), Entry { value, weight, group, number });
        let Entries { by_key, groups, .. } = &mut *entries;
        let kept = groups.entry(group).or_default();
        kept.weight += weight;
        kept.live += 1;
        kept.order.push_back((key.to_owned(), number));
        // Keys replaced again and again (answers that age) leave their old
        // numbers behind: dropped before they outnumber the live ones.
        if kept.order.len() > 2 * kept.live + 16 {
            kept.order.retain(|(key, number)| by_key.get(key).is_some_and(|entry| entry.number == *number));
        }
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
    fn remove(&mut self, key: &str) {
        let Some(entry) = self.by_key.remove(key) else { return };
        self.weight -= entry.weight;
        if let Some(group) = self.groups.get_mut(&entry.group) {
            group.weight -= entry.weight;
            group.live -= 1;
            if group.live == 0 {
                self.groups.remove(&entry.group);
            }
        }
    }

    /// Removes the oldest entry of the group holding the most; false when
    /// there is none.
    fn evict_oldest_of_heaviest(&mut self) -> bool {
        let Some(heaviest) = self.groups.iter().max_by_key(|(_, group)| group.weight).map(|(id, _)| *id) else {
            return false;
        };
        loop {
            let Some((key, number)) = self.groups.get_mut(&heaviest).and_then(|group| group.order.pop_front()) else {
                // A group has an entry in its order for each live one: not reached.
                self.groups.remove(&heaviest);
                return false;
            };
            if self.by_key.get(&key).is_some_and(|entry| entry.number == number) {
                self.remove(&key);
                return true;
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
            (kept.get("a"), kept.get("b"), kept.get("c"), kept.size()),
            (None, Some(4), Some(5), (2, 5)),
            "past the bound, the oldest entry makes room"
        );
        kept.replace("d", 6, 11, A);
        assert_eq!(kept.get("d"), None, "heavier than the bound: not kept");
    }

    #[test]
    fn a_group_sending_ever_new_keys_evicts_its_own() {
        let kept = Kept::new(10);
        kept.keep("a1", 1, 2, A);
        kept.keep("a2", 2, 2, A);
        for n in 0..100 {
            kept.keep(&format!("b{n}"), n, 3, B);
            assert_eq!((kept.get("a1"), kept.get("a2")), (Some(1), Some(2)), "A's entries stay");
            assert!(kept.size().1 <= 10);
        }
        assert_eq!((kept.get("b98"), kept.get("b99")), (Some(98), Some(99)), "the newest are kept");
    }

    #[test]
    fn a_group_over_its_share_gives_up_its_oldest_first() {
        let kept = Kept::new(10);
        for n in 0..4 {
            kept.keep(&format!("a{n}"), n, 2, A);
        }
        for n in 0..4 {
            kept.keep(&format!("b{n}"), 10 + n, 2, B);
        }
        let a: Vec<_> = (0..4).map(|n| kept.get(&format!("a{n}"))).collect();
        let b: Vec<_> = (0..4).map(|n| kept.get(&format!("b{n}"))).collect();
        assert_eq!(a, [None, None, Some(2), Some(3)], "A, heavier, gave up its oldest");
        assert_eq!(b, [None, Some(11), Some(12), Some(13)], "then B, heavier, its own");
    }

    #[test]
    fn keys_replaced_again_and_again_leave_no_trail() {
        let kept = Kept::new(1_000);
        kept.keep("steady", 0, 10, A);
        for n in 0..10_000 {
            kept.replace("dashboard", n, 10, A);
        }
        let entries = kept.lock();
        assert!(entries.groups[&A].order.len() <= 2 * 2 + 17, "compacted as it went");
        assert_eq!((entries.by_key.len(), entries.weight), (2, 20));
    }
}
