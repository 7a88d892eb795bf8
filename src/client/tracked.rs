//! Collections that remember which keys changed since the last save, so a save writes the
//! records of those keys only (PROTOCOL.md §9.6). Every way to change an entry goes through
//! a method that marks it; reading never does.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A map whose changed keys are noted: for the next save (`touched`), and for whoever keeps
/// an index of the values (`changed`).
///
/// A lazy map holds only the keys loaded from the store (`resident`); the client loads a key
/// before it touches it, and a debug build panics on a key used unloaded, so a test that
/// misses a load fails instead of treating a stored entry as absent.
pub(super) struct TrackedMap<K, V> {
    map: BTreeMap<K, V>,
    touched: BTreeSet<K>,
    changed: BTreeSet<K>,
    /// The keys in memory, present or known absent; `None`: every key.
    resident: Option<BTreeSet<K>>,
}

impl<K: Ord + Copy, V> TrackedMap<K, V> {
    /// An empty map whose keys are all in the store until loaded.
    pub(super) fn lazy() -> Self {
        Self {
            resident: Some(BTreeSet::new()),
            ..Self::default()
        }
    }

    pub(super) fn is_resident(&self, key: &K) -> bool {
        self.resident.as_ref().is_none_or(|r| r.contains(key))
    }

    pub(super) fn is_complete(&self) -> bool {
        self.resident.is_none()
    }

    fn check(&self, key: &K) {
        debug_assert!(
            self.is_resident(key),
            "a lazy entry used before it was loaded"
        );
    }

    fn check_complete(&self) {
        debug_assert!(self.is_complete(), "a lazy map listed before it was loaded");
    }

    /// Puts in `key` as the store has it (`None`: it has none), unless it is in already.
    pub(super) fn load(&mut self, key: K, value: Option<V>) {
        let Some(resident) = &mut self.resident else {
            return;
        };
        if resident.insert(key)
            && let Some(value) = value
        {
            self.map.insert(key, value);
        }
    }

    /// Puts in every entry not in yet: the map is complete from now on.
    pub(super) fn load_all(&mut self, entries: impl IntoIterator<Item = (K, V)>) {
        let Some(resident) = self.resident.take() else {
            return;
        };
        for (key, value) in entries {
            if !resident.contains(&key) {
                self.map.insert(key, value);
            }
        }
    }

    /// Makes a complete map lazy, every entry in memory as the store has it: what a whole
    /// save to a store that reads back leaves, so that eviction applies from then on.
    /// `known`: the keys of the record this map is part of (a member's, a conversation's),
    /// present or absent here; they stay known.
    pub(super) fn relax(&mut self, known: &BTreeSet<K>) {
        if self.resident.is_none() {
            debug_assert!(self.touched.is_empty(), "relaxed before it was saved");
            let mut resident = known.clone();
            resident.extend(self.map.keys().copied());
            self.resident = Some(resident);
        }
    }

    /// Drops from memory the entries of a lazy map that are as stored (none touched since
    /// the last save); they are loaded again when next used.
    pub(super) fn evict(&mut self) {
        let Some(resident) = &mut self.resident else {
            return;
        };
        let keep = &self.touched;
        self.map.retain(|k, _| keep.contains(k));
        resident.retain(|k| keep.contains(k));
        self.changed.retain(|k| keep.contains(k));
    }

    /// How many keys are in memory, present or known absent (all present ones when
    /// complete).
    pub(super) fn resident_len(&self) -> usize {
        self.resident.as_ref().map_or(self.map.len(), BTreeSet::len)
    }

    /// Undoes a key's changes since it came in, for a step that failed: a lazy map forgets
    /// it (the store has it as it was); a complete one removes it.
    pub(super) fn discard(&mut self, key: &K) {
        match &mut self.resident {
            Some(resident) => {
                resident.remove(key);
                self.map.remove(key);
                self.touched.remove(key);
                self.changed.remove(key);
            }
            None => {
                self.remove(key);
            }
        }
    }

    pub(super) fn get(&self, key: &K) -> Option<&V> {
        self.check(key);
        self.map.get(key)
    }

    pub(super) fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.check(key);
        let value = self.map.get_mut(key)?;
        self.touched.insert(*key);
        self.changed.insert(*key);
        Some(value)
    }

    /// For a change whose caller brings the index up to date itself: marked for the save only.
    pub(super) fn get_mut_indexed(&mut self, key: &K) -> Option<&mut V> {
        self.check(key);
        let value = self.map.get_mut(key)?;
        self.touched.insert(*key);
        Some(value)
    }

    pub(super) fn insert(&mut self, key: K, value: V) -> Option<V> {
        self.check(&key);
        self.touched.insert(key);
        self.changed.insert(key);
        self.map.insert(key, value)
    }

    pub(super) fn remove(&mut self, key: &K) -> Option<V> {
        self.check(key);
        let old = self.map.remove(key)?;
        self.touched.insert(*key);
        self.changed.insert(*key);
        Some(old)
    }

    pub(super) fn contains_key(&self, key: &K) -> bool {
        self.check(key);
        self.map.contains_key(key)
    }

    pub(super) fn keys(&self) -> std::collections::btree_map::Keys<'_, K, V> {
        self.check_complete();
        self.map.keys()
    }

    pub(super) fn values(&self) -> std::collections::btree_map::Values<'_, K, V> {
        self.check_complete();
        self.map.values()
    }

    /// The entries in memory, whether or not the map is complete.
    pub(super) fn resident(&self) -> impl Iterator<Item = (&K, &V)> {
        self.map.iter()
    }

    /// The keys in memory, present or known absent.
    pub(super) fn resident_keys(&self) -> BTreeSet<K> {
        match &self.resident {
            Some(r) => r.clone(),
            None => self.map.keys().copied().collect(),
        }
    }

    /// The keys changed since the last call.
    pub(super) fn take_touched(&mut self) -> BTreeSet<K> {
        core::mem::take(&mut self.touched)
    }

    /// Every key, as if all had changed (a first save to an empty store).
    pub(super) fn touch_all(&mut self) {
        self.check_complete();
        self.touched.extend(self.map.keys().copied());
    }

    /// Marks `keys` changed again, for an index that could not take them in.
    pub(super) fn mark_changed(&mut self, keys: BTreeSet<K>) {
        self.changed.extend(keys);
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
            resident: None,
        }
    }
}

impl<K: Ord, V> FromIterator<(K, V)> for TrackedMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self {
            map: iter.into_iter().collect(),
            ..Self::default()
        }
    }
}

impl<K: Clone, V: Clone> Clone for TrackedMap<K, V> {
    fn clone(&self) -> Self {
        Self {
            map: self.map.clone(),
            touched: self.touched.clone(),
            changed: self.changed.clone(),
            resident: self.resident.clone(),
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

/// A set whose changed members are noted: a [`TrackedMap`] to nothing.
#[derive(Clone)]
pub(super) struct TrackedSet<K>(TrackedMap<K, ()>);

impl<K> Default for TrackedSet<K> {
    fn default() -> Self {
        Self(TrackedMap::default())
    }
}

impl<K: Ord + Copy> TrackedSet<K> {
    pub(super) fn lazy() -> Self {
        Self(TrackedMap::lazy())
    }

    pub(super) fn contains(&self, key: &K) -> bool {
        self.0.contains_key(key)
    }

    pub(super) fn insert(&mut self, key: K) -> bool {
        self.0.insert(key, ()).is_none()
    }

    pub(super) fn remove(&mut self, key: &K) -> bool {
        self.0.remove(key).is_some()
    }

    pub(super) fn iter(&self) -> std::collections::btree_map::Keys<'_, K, ()> {
        self.0.keys()
    }

    pub(super) fn take_touched(&mut self) -> BTreeSet<K> {
        self.0.take_touched()
    }

    pub(super) fn touch_all(&mut self) {
        self.0.touch_all();
    }

    pub(super) fn load(&mut self, key: K, present: bool) {
        self.0.load(key, present.then_some(()));
    }

    pub(super) fn relax(&mut self, known: &BTreeSet<K>) {
        self.0.relax(known);
    }

    pub(super) fn load_all(&mut self, keys: impl IntoIterator<Item = K>) {
        self.0.load_all(keys.into_iter().map(|k| (k, ())));
    }

    pub(super) fn evict(&mut self) {
        self.0.evict();
    }

    pub(super) fn resident(&self) -> impl Iterator<Item = &K> {
        self.0.resident().map(|(k, _)| k)
    }
}

impl<K: Ord> FromIterator<K> for TrackedSet<K> {
    fn from_iter<I: IntoIterator<Item = K>>(iter: I) -> Self {
        Self(iter.into_iter().map(|k| (k, ())).collect())
    }
}

impl<K: Serialize> Serialize for TrackedSet<K> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.map.keys())
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
        assert_eq!(map.resident().count(), 2);
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

    /// A lazy map holds what was loaded and what changed; loading all of it keeps what is
    /// in memory (it may be newer than the store) and adds the rest.
    #[test]
    fn a_lazy_map_loads_keys_once_and_completes_without_overwriting() {
        let mut map: TrackedMap<u8, u8> = TrackedMap::lazy();
        assert!(!map.is_resident(&1) && !map.is_complete());
        map.load(1, Some(10));
        map.load(1, Some(99));
        map.load(2, None);
        assert_eq!((map.get(&1), map.get(&2)), (Some(&10), None));
        assert!(map.take_touched().is_empty(), "loading changes nothing");
        *map.get_mut(&1).unwrap() = 11;
        map.load_all([(1, 50), (3, 30)]);
        assert!(map.is_complete());
        assert_eq!(map.values().copied().collect::<Vec<_>>(), [11, 30]);
    }

    /// A debug build refuses a lazy entry used before it was loaded, and a lazy map listed.
    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "a lazy entry used before it was loaded")]
    fn a_lazy_entry_used_unloaded_panics_in_a_debug_build() {
        let map: TrackedMap<u8, u8> = TrackedMap::lazy();
        map.get(&1);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "a lazy map listed before it was loaded")]
    fn a_lazy_map_listed_panics_in_a_debug_build() {
        let map: TrackedMap<u8, u8> = TrackedMap::lazy();
        let _ = map.keys();
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
