//! Collections that remember which keys changed since the last save, so a save writes the
//! records of those keys only (PROTOCOL.md §9.6). Every way to change an entry goes through
//! a method that marks it; reading never does.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A map whose changed keys are noted: for the next save (`touched`), and for whoever keeps
/// an index of the values (`changed`).
pub(super) struct TrackedMap<K, V> {
    map: BTreeMap<K, V>,
    touched: BTreeSet<K>,
    changed: BTreeSet<K>,
}

impl<K: Ord + Copy, V> TrackedMap<K, V> {
    pub(super) fn get(&self, key: &K) -> Option<&V> {
        self.map.get(key)
    }

    pub(super) fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let value = self.map.get_mut(key)?;
        self.touched.insert(*key);
        self.changed.insert(*key);
        Some(value)
    }

    /// For a change whose caller brings the index up to date itself: marked for the save only.
    pub(super) fn get_mut_indexed(&mut self, key: &K) -> Option<&mut V> {
        let value = self.map.get_mut(key)?;
        self.touched.insert(*key);
        Some(value)
    }

    pub(super) fn insert(&mut self, key: K, value: V) -> Option<V> {
        self.touched.insert(key);
        self.changed.insert(key);
        self.map.insert(key, value)
    }

    pub(super) fn remove(&mut self, key: &K) -> Option<V> {
        let old = self.map.remove(key)?;
        self.touched.insert(*key);
        self.changed.insert(*key);
        Some(old)
    }

    pub(super) fn contains_key(&self, key: &K) -> bool {
        self.map.contains_key(key)
    }

    /// Keeps the entries `keep` says to; those it drops are marked.
    pub(super) fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        let (touched, changed) = (&mut self.touched, &mut self.changed);
        self.map.retain(|k, v| {
            let kept = keep(k, v);
            if !kept {
                touched.insert(*k);
                changed.insert(*k);
            }
            kept
        });
    }

    pub(super) fn iter(&self) -> std::collections::btree_map::Iter<'_, K, V> {
        self.map.iter()
    }

    pub(super) fn keys(&self) -> std::collections::btree_map::Keys<'_, K, V> {
        self.map.keys()
    }

    pub(super) fn values(&self) -> std::collections::btree_map::Values<'_, K, V> {
        self.map.values()
    }

    /// The keys changed since the last call.
    pub(super) fn take_touched(&mut self) -> BTreeSet<K> {
        core::mem::take(&mut self.touched)
    }

    /// Every key, as if all had changed (a first save to an empty store).
    pub(super) fn touch_all(&mut self) {
        self.touched.extend(self.map.keys().copied());
    }

    /// The keys changed, other than through [`TrackedMap::get_mut_indexed`], since the last
    /// call.
    pub(super) fn take_changed(&mut self) -> BTreeSet<K> {
        core::mem::take(&mut self.changed)
    }
}

impl<K, V> Default for TrackedMap<K, V> {
    fn default() -> Self {
        Self {
            map: BTreeMap::new(),
            touched: BTreeSet::new(),
            changed: BTreeSet::new(),
        }
    }
}

impl<K: Ord, V> FromIterator<(K, V)> for TrackedMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self {
            map: iter.into_iter().collect(),
            touched: BTreeSet::new(),
            changed: BTreeSet::new(),
        }
    }
}

impl<K: Clone, V: Clone> Clone for TrackedMap<K, V> {
    fn clone(&self) -> Self {
        Self {
            map: self.map.clone(),
            touched: self.touched.clone(),
            changed: self.changed.clone(),
        }
    }
}

impl<K: Serialize, V: Serialize> Serialize for TrackedMap<K, V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.map.serialize(s)
    }
}

impl<'de, K: Deserialize<'de> + Ord, V: Deserialize<'de>> Deserialize<'de> for TrackedMap<K, V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(BTreeMap::deserialize(d)?.into_iter().collect())
    }
}

/// A set whose changed members are noted.
pub(super) struct TrackedSet<K> {
    set: BTreeSet<K>,
    touched: BTreeSet<K>,
}

impl<K: Ord + Copy> TrackedSet<K> {
    pub(super) fn contains(&self, key: &K) -> bool {
        self.set.contains(key)
    }

    pub(super) fn insert(&mut self, key: K) -> bool {
        self.touched.insert(key);
        self.set.insert(key)
    }

    pub(super) fn remove(&mut self, key: &K) -> bool {
        let removed = self.set.remove(key);
        if removed {
            self.touched.insert(*key);
        }
        removed
    }

    pub(super) fn iter(&self) -> std::collections::btree_set::Iter<'_, K> {
        self.set.iter()
    }

    pub(super) fn take_touched(&mut self) -> BTreeSet<K> {
        core::mem::take(&mut self.touched)
    }

    pub(super) fn touch_all(&mut self) {
        self.touched.extend(self.set.iter().copied());
    }
}

impl<K> Default for TrackedSet<K> {
    fn default() -> Self {
        Self {
            set: BTreeSet::new(),
            touched: BTreeSet::new(),
        }
    }
}

impl<K: Ord> FromIterator<K> for TrackedSet<K> {
    fn from_iter<I: IntoIterator<Item = K>>(iter: I) -> Self {
        Self {
            set: iter.into_iter().collect(),
            touched: BTreeSet::new(),
        }
    }
}

impl<K: Clone> Clone for TrackedSet<K> {
    fn clone(&self) -> Self {
        Self {
            set: self.set.clone(),
            touched: self.touched.clone(),
        }
    }
}

impl<K: Serialize> Serialize for TrackedSet<K> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.set.serialize(s)
    }
}

impl<'de, K: Deserialize<'de> + Ord> Deserialize<'de> for TrackedSet<K> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(BTreeSet::deserialize(d)?.into_iter().collect())
    }
}

/// A queue whose entries never change once in it, each with a number of its own (increasing),
/// so a save writes the entries that came and deletes those that went.
pub(super) struct Queue<T> {
    items: VecDeque<(u64, T)>,
    next: u64,
}

impl<T> Queue<T> {
    pub(super) fn push_back(&mut self, item: T) {
        self.items.push_back((self.next, item));
        self.next += 1;
    }

    pub(super) fn pop_front(&mut self) -> Option<T> {
        self.items.pop_front().map(|(_, item)| item)
    }

    pub(super) fn remove(&mut self, at: usize) -> Option<T> {
        self.items.remove(at).map(|(_, item)| item)
    }

    pub(super) fn iter(&self) -> impl DoubleEndedIterator<Item = &T> + ExactSizeIterator {
        self.items.iter().map(|(_, item)| item)
    }

    /// The entries with their numbers, oldest first.
    pub(super) fn numbered(&self) -> impl Iterator<Item = (u64, &T)> {
        self.items.iter().map(|(n, item)| (*n, item))
    }

    pub(super) fn len(&self) -> usize {
        self.items.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Keeps the entries `keep` says to, in order.
    pub(super) fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        self.items.retain(|(_, item)| keep(item));
    }

    /// Restores entries with their numbers (sorted, unique).
    pub(super) fn from_numbered(items: Vec<(u64, T)>) -> Self {
        let next = items.last().map_or(0, |(n, _)| n + 1);
        Self {
            items: items.into(),
            next,
        }
    }
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Self {
            items: VecDeque::new(),
            next: 0,
        }
    }
}

impl<T> FromIterator<T> for Queue<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let mut queue = Self::default();
        iter.into_iter().for_each(|item| queue.push_back(item));
        queue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_marks_nothing_and_every_change_marks_its_key() {
        let mut map: TrackedMap<u8, u8> = [(1, 1), (2, 2)].into_iter().collect();
        assert!(map.get(&1).is_some() && map.contains_key(&2));
        assert_eq!(map.iter().count(), 2);
        assert!(map.take_touched().is_empty());
        *map.get_mut(&1).unwrap() = 9;
        map.insert(3, 3);
        map.remove(&2);
        assert!(map.get_mut(&7).is_none() && map.remove(&7).is_none());
        assert_eq!(map.take_changed(), BTreeSet::from([1, 2, 3]));
        *map.get_mut_indexed(&3).unwrap() = 4;
        assert!(map.take_changed().is_empty());
        assert_eq!(map.take_touched(), BTreeSet::from([1, 2, 3]));
        assert!(map.take_touched().is_empty());
        map.touch_all();
        assert_eq!(map.take_touched(), BTreeSet::from([1, 3]));

        let mut set: TrackedSet<u8> = [1, 2].into_iter().collect();
        assert!(set.contains(&1) && !set.remove(&5));
        assert!(set.take_touched().is_empty());
        set.insert(3);
        set.remove(&1);
        assert_eq!(set.take_touched(), BTreeSet::from([1, 3]));
        set.touch_all();
        assert_eq!(set.take_touched(), BTreeSet::from([2, 3]));
    }

    #[test]
    fn a_queue_numbers_entries_in_order_and_keeps_numbers_when_restored() {
        let mut q: Queue<&str> = ["a", "b", "c"].into_iter().collect();
        assert_eq!(q.pop_front(), Some("a"));
        assert_eq!(q.remove(1), Some("c"));
        q.push_back("d");
        let numbered: Vec<(u64, &str)> = q.numbered().map(|(n, s)| (n, *s)).collect();
        assert_eq!(numbered, [(1, "b"), (3, "d")]);
        let mut again = Queue::from_numbered(numbered);
        again.push_back("e");
        let numbers: Vec<u64> = again.numbered().map(|(n, _)| n).collect();
        assert_eq!(numbers, [1, 3, 4]);
        again.retain(|s| *s != "d");
        assert_eq!(again.iter().copied().collect::<Vec<_>>(), ["b", "e"]);
        assert_eq!((again.len(), again.is_empty()), (2, false));
    }
}
