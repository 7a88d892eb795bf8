//! Stored indexes (PROTOCOL.md §9.6.1): from an 8-byte key to the owners that have it, kept
//! in 4,096 buckets stored as records and read when first used, so that a lookup costs one
//! bucket whatever the size of the state. A client keeps four:
//!
//! - labels: the label each chain of each conversation expects next, so an in-order message
//!   finds its conversation with one lookup (receive by index);
//! - names: a hash of each contact's account name (contact by name);
//! - rosters: the start of each member's mailbox id, for each group we are in (a group shared
//!   with someone);
//! - seals: the label of each session's sealed layer, to the peer device (a sealed message
//!   finds its session with one lookup, PROTOCOL.md §9.2).
//!
//! The index lists, for each owner, the keys its record gives now: a step that changes an
//! owner changes its keys, and the next lookup or save updates the buckets by the difference.

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;

use sha2::{Digest, Sha256};

use super::store::StoreError;
use super::tracked::TrackedMap;
use crate::conversation::Conversation;
use crate::envelope::MailboxId;

use super::sessions::PeerSessions;

/// Buckets of each index, by the key's first 12 bits: a message moves one label, so a save
/// rewrites at most two buckets of a few entries each.
pub(super) const BUCKETS: u16 = 4096;

pub(super) type Key = [u8; 8];

/// The entries of one bucket: each key with an owner that has it.
pub(super) type Bucket<O> = BTreeSet<(Key, O)>;

/// Reads a bucket as the store has it (`None`: empty).
pub(super) type Loader<'a, O> = dyn FnMut(u16) -> Result<Option<Bucket<O>>, StoreError> + 'a;

/// A contact's key in the names index: the start of a hash of their account name.
pub(super) fn name_key(user: &[u8]) -> Key {
    let digest = Sha256::new()
        .chain_update(b"missive/v1/name")
        .chain_update(user)
        .finalize();
    let mut key = [0u8; 8];
    key.copy_from_slice(&digest[..8]);
    key
}

/// What the seals index lists for a peer device: the label of the sealed layer of its
/// messages in each session we hold with it that has one.
pub(super) fn seal_keys(sessions: &PeerSessions) -> Vec<Key> {
    let labels = sessions.all().iter().filter_map(|s| s.peer_seal_keys());
    labels.map(|k| *k.label()).collect()
}

/// A member's key in the rosters index: the start of their mailbox id (pseudorandom).
pub(super) fn member_key(member: &MailboxId) -> Key {
    let mut key = [0u8; 8];
    key.copy_from_slice(&member.0[..8]);
    key
}

/// What the rosters index lists for a conversation: every other member of a group we are
/// still in, nothing for anything else.
pub(super) fn roster_keys(me: &MailboxId, group: bool, conversation: &Conversation) -> Vec<Key> {
    if !group || conversation.is_removed() {
        return Vec::new();
    }
    let members = conversation.members().iter().filter(|m| m.id != *me);
    members.map(|m| member_key(&m.id)).collect()
}

pub(super) fn bucket_of(key: &Key) -> u16 {
    u16::from_be_bytes([key[0], key[1]]) % BUCKETS
}

pub(super) struct Index<O> {
    buckets: TrackedMap<u16, Bucket<O>>,
    /// The keys listed for each owner in memory.
    by_owner: HashMap<O, Vec<Key>>,
}

impl<O> Default for Index<O> {
    fn default() -> Self {
        Self {
            buckets: TrackedMap::default(),
            by_owner: HashMap::new(),
        }
    }
}

impl<O: Ord + Copy + Hash> Index<O> {
    /// An index whose buckets are read from the store when first used.
    pub(super) fn lazy() -> Self {
        Self {
            buckets: TrackedMap::lazy(),
            by_owner: HashMap::new(),
        }
    }

    fn bucket(&mut self, key: &Key, load: &mut Loader<'_, O>) -> Result<u16, StoreError> {
        let b = bucket_of(key);
        if !self.buckets.is_resident(&b) {
            let stored = load(b)?;
            self.buckets.load(b, stored);
        }
        Ok(b)
    }

    /// The owners listed under `key`, in order.
    pub(super) fn get(
        &mut self,
        key: &Key,
        load: &mut Loader<'_, O>,
    ) -> Result<Vec<O>, StoreError> {
        let b = self.bucket(key, load)?;
        Ok(self.buckets.get(&b).map_or(Vec::new(), |l| owners(l, key)))
    }

    /// As [`Index::get`], keeping no bucket it reads.
    pub(super) fn peek(&self, key: &Key, load: &mut Loader<'_, O>) -> Result<Vec<O>, StoreError> {
        let b = bucket_of(key);
        if self.buckets.is_resident(&b) {
            return Ok(self.buckets.get(&b).map_or(Vec::new(), |l| owners(l, key)));
        }
        Ok(load(b)?.map_or(Vec::new(), |l| owners(&l, key)))
    }

    /// An owner came in from the store: the index lists `keys` for it already.
    pub(super) fn loaded(&mut self, owner: O, keys: Vec<Key>) {
        self.by_owner.insert(owner, keys);
    }

    /// An owner left memory, as stored.
    pub(super) fn forget(&mut self, owner: &O) {
        self.by_owner.remove(owner);
    }

    /// Keys `before` of `owner` were replaced by `after` (a chain moved on). Reads the
    /// buckets first: if one fails, nothing changed.
    pub(super) fn moved(
        &mut self,
        owner: O,
        before: &[Key],
        after: &[Key],
        load: &mut Loader<'_, O>,
    ) -> Result<(), StoreError> {
        let gone: Vec<Key> = before
            .iter()
            .filter(|k| !after.contains(k))
            .copied()
            .collect();
        let new: Vec<Key> = after
            .iter()
            .filter(|k| !before.contains(k))
            .copied()
            .collect();
        self.change(owner, &gone, &new, load)?;
        let keys = self.by_owner.entry(owner).or_default();
        keys.retain(|k| !gone.contains(k));
        keys.extend(new);
        keys.sort_unstable();
        Ok(())
    }

    /// Lists `keys` for `owner` instead of what it had (none when it is gone), changing only
    /// the entries that differ. Reads the buckets first: if one fails, nothing changed.
    pub(super) fn set(
        &mut self,
        owner: O,
        mut keys: Vec<Key>,
        load: &mut Loader<'_, O>,
    ) -> Result<(), StoreError> {
        keys.sort_unstable();
        keys.dedup();
        let old = self.by_owner.get(&owner).map_or(&[][..], Vec::as_slice);
        let gone: Vec<Key> = old
            .iter()
            .filter(|k| keys.binary_search(k).is_err())
            .copied()
            .collect();
        let new: Vec<Key> = keys.iter().filter(|k| !old.contains(k)).copied().collect();
        self.change(owner, &gone, &new, load)?;
        if keys.is_empty() {
            self.by_owner.remove(&owner);
        } else {
            self.by_owner.insert(owner, keys);
        }
        Ok(())
    }

    /// Takes `owner` off the keys `gone` and lists it under the keys `new`, reading every
    /// bucket first: if one fails, nothing changed.
    fn change(
        &mut self,
        owner: O,
        gone: &[Key],
        new: &[Key],
        load: &mut Loader<'_, O>,
    ) -> Result<(), StoreError> {
        for key in gone.iter().chain(new) {
            self.bucket(key, load)?;
        }
        for key in gone {
            self.unmap(key, owner);
        }
        for key in new {
            self.map(*key, owner);
        }
        Ok(())
    }

    /// Lists `owner` under `key`, whose bucket is in memory.
    fn map(&mut self, key: Key, owner: O) {
        let b = bucket_of(&key);
        match self.buckets.get_mut(&b) {
            Some(bucket) => {
                bucket.insert((key, owner));
            }
            None => {
                self.buckets.insert(b, Bucket::from([(key, owner)]));
            }
        }
    }

    /// Takes `owner` off `key`, whose bucket is in memory.
    fn unmap(&mut self, key: &Key, owner: O) {
        let b = bucket_of(key);
        if !self
            .buckets
            .get(&b)
            .is_some_and(|l| l.contains(&(*key, owner)))
        {
            return;
        }
        let empty = self.buckets.get_mut(&b).is_some_and(|bucket| {
            bucket.remove(&(*key, owner));
            bucket.is_empty()
        });
        if empty {
            self.buckets.remove(&b);
        }
    }

    /// The buckets changed since the last call, each with what it holds now.
    pub(super) fn take_touched(&mut self) -> Vec<(u16, Option<&Bucket<O>>)> {
        let touched = self.buckets.take_touched();
        touched
            .into_iter()
            .map(|b| (b, self.buckets.get(&b)))
            .collect()
    }

    /// Every bucket, as if all had changed (a whole save).
    pub(super) fn touch_all(&mut self) {
        self.buckets.touch_all();
    }

    /// Makes a complete index lazy, every bucket in memory as stored (after a whole save).
    pub(super) fn relax(&mut self) {
        self.buckets.relax(&BTreeSet::new());
    }

    /// Drops the buckets as stored from memory, once more than `bound` are in.
    pub(super) fn evict(&mut self, bound: usize) {
        if self.buckets.resident_len() > bound {
            self.buckets.evict();
        }
    }

    /// Reads every bucket not in memory yet.
    pub(super) fn load_all(&mut self, load: &mut Loader<'_, O>) -> Result<(), StoreError> {
        if self.buckets.is_complete() {
            return Ok(());
        }
        let mut all = Vec::new();
        for b in 0..BUCKETS {
            if !self.buckets.is_resident(&b)
                && let Some(bucket) = load(b)?
            {
                all.push((b, bucket));
            }
        }
        self.buckets.load_all(all);
        Ok(())
    }

    /// The entries in memory, for tests that compare with an index built from scratch.
    #[cfg(test)]
    pub(super) fn entries(&self) -> BTreeSet<(Key, O)> {
        let buckets = self.buckets.resident();
        buckets.flat_map(|(_, l)| l.iter().copied()).collect()
    }

    /// How many keys `owner` has listed.
    #[cfg(test)]
    pub(super) fn listed(&self, owner: &O) -> usize {
        self.by_owner.get(owner).map_or(0, Vec::len)
    }

    /// The buckets in memory.
    #[cfg(test)]
    pub(super) fn resident(&self) -> BTreeSet<u16> {
        self.buckets.resident_keys()
    }
}

fn owners<O: Ord + Copy>(bucket: &Bucket<O>, key: &Key) -> Vec<O> {
    let from = bucket.iter().skip_while(|(k, _)| k < key);
    from.take_while(|(k, _)| k == key)
        .map(|(_, o)| *o)
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::panic)]

    use super::*;
    use crate::Identity;
    use crate::conversation::{ConversationId, INDEXED_AHEAD, Member, Role};
    use crate::envelope::MailboxId;

    /// Bob's side of a conversation Alice opened, and Alice's, to send from.
    fn pair() -> (Conversation, Conversation) {
        let mut rng = rand::rng();
        let (alice, bob) = (Identity::generate(&mut rng), Identity::generate(&mut rng));
        let a = Member::new(MailboxId([1; 16]), Role::Admin, *alice.public());
        let b = Member::new(MailboxId([2; 16]), Role::Member, *bob.public());
        let (at_alice, handoffs) = Conversation::create(&mut rng, a, vec![b]).unwrap();
        let at_bob = Conversation::join(b.id, a.id, &handoffs[0].1.to_bytes()).unwrap();
        (at_bob, at_alice)
    }

    #[test]
    fn the_index_finds_the_next_label_and_forgets_what_moved_or_went() {
        let (mut at_bob, mut at_alice) = pair();
        let id = at_bob.id();
        let mut index: Index<ConversationId> = Index::default();
        let none: &mut Loader<'_, ConversationId> =
            &mut |_| panic!("a complete index reads nothing");
        index.set(id, at_bob.indexed_labels(), none).unwrap();
        let first = at_bob.next_labels().next().unwrap();
        assert_eq!(index.get(&first, none).unwrap(), [id]);

        let message = at_alice.encrypt(b"one").unwrap();
        let opened = at_bob.open(&message).unwrap();
        let (_, before, after) = at_bob.commit_moving(opened);
        assert_eq!(before.len(), INDEXED_AHEAD);
        assert_eq!(before[0], first);
        assert_eq!(
            after[..INDEXED_AHEAD - 1],
            before[1..],
            "the window slid by one"
        );
        index.moved(id, &before, &after, none).unwrap();
        let newest = after[INDEXED_AHEAD - 1];
        assert!(index.get(&first, none).unwrap().is_empty());
        for label in &after {
            assert_eq!(index.get(label, none).unwrap(), [id]);
        }
        assert_eq!(
            index.listed(&id),
            INDEXED_AHEAD,
            "the label it moved from is no longer listed"
        );
        assert_eq!(index.entries().len(), INDEXED_AHEAD);

        // A message two steps ahead leaves the one it jumped over indexed: it may come late.
        at_alice.encrypt(b"lost").unwrap();
        let message = at_alice.encrypt(b"three").unwrap();
        let opened = at_bob.open(&message).unwrap();
        let (_, before, after) = at_bob.commit_moving(opened);
        index.moved(id, &before, &after, none).unwrap();
        assert_eq!(after.len(), INDEXED_AHEAD + 1, "one skipped, four ahead");
        assert_eq!(after[0], before[0], "the skipped step keeps its label");
        assert_eq!(index.get(&before[0], none).unwrap(), [id]);
        assert!(index.get(&before[1], none).unwrap().is_empty(), "taken");
        assert_eq!(index.listed(&id), INDEXED_AHEAD + 1);
        let second = newest;

        // Setting what it has changes nothing; setting nothing removes it all.
        index.take_touched();
        index.set(id, at_bob.indexed_labels(), none).unwrap();
        assert!(
            index.take_touched().is_empty(),
            "an unchanged owner rewrites no bucket"
        );
        assert_eq!(index.entries().len(), INDEXED_AHEAD + 1);
        index.set(id, Vec::new(), none).unwrap();
        assert!(index.entries().is_empty() && index.get(&second, none).unwrap().is_empty());
    }

    /// The keys as PROTOCOL.md §9.6.1 gives them: another client must file names and members
    /// under the same buckets to read a state.
    #[test]
    fn name_and_member_keys_are_as_specified() {
        let name = name_key(b"ben@example.com");
        assert_eq!(name, [0xfc, 0x8d, 0x64, 0xb3, 0x1b, 0x58, 0xcd, 0xb0]);
        assert_eq!(bucket_of(&name), 0xfc8d % BUCKETS);
        let mut id = [0u8; 16];
        id.iter_mut().zip(1u8..).for_each(|(b, i)| *b = i);
        assert_eq!(member_key(&MailboxId(id)), [1, 2, 3, 4, 5, 6, 7, 8]);
    }

    /// A group we are in lists its other members; a conversation that is no group, or a
    /// group we were removed from, lists nobody.
    #[test]
    fn roster_keys_are_the_other_members_of_a_group_we_are_in() {
        let (mut at_bob, _) = pair();
        let bob = MailboxId([2; 16]);
        assert_eq!(roster_keys(&bob, true, &at_bob), [[1; 8]]);
        assert!(roster_keys(&bob, false, &at_bob).is_empty());
        at_bob.leave();
        assert!(roster_keys(&bob, true, &at_bob).is_empty());
    }

    /// Owners sharing a key are all listed, in order; each leaves only its own entry.
    #[test]
    fn a_key_lists_every_owner_that_has_it() {
        let none: &mut Loader<'_, u8> = &mut |_| panic!("a complete index reads nothing");
        let mut index: Index<u8> = Index::default();
        // Two keys of one bucket: the larger is found past the smaller.
        let (k, other) = ([0x12; 8], [0x12, 0x12, 0x13, 0, 0, 0, 0, 1]);
        assert_eq!(bucket_of(&k), bucket_of(&other));
        index.set(3, vec![k, other], none).unwrap();
        index.set(1, vec![k], none).unwrap();
        assert_eq!(index.get(&k, none).unwrap(), [1, 3]);
        assert_eq!(index.peek(&other, none).unwrap(), [3]);
        index.set(3, vec![other], none).unwrap();
        assert_eq!(index.get(&k, none).unwrap(), [1]);
        assert_eq!(index.get(&other, none).unwrap(), [3]);
        assert_eq!(bucket_of(&k), 0x1212 % BUCKETS);
    }

    /// A lazy index reads a bucket once, keeps what it read up to the bound, and reads every
    /// bucket not in memory when asked for all of them.
    #[test]
    fn a_lazy_index_reads_each_bucket_once_and_evicts_beyond_its_bound() {
        let stored: Bucket<u8> = Bucket::from([([0, 1, 0, 0, 0, 0, 0, 0], 7)]);
        let mut reads = Vec::new();
        let mut index: Index<u8> = Index::lazy();
        let mut load = |b: u16| {
            reads.push(b);
            Ok((b == 1).then(|| stored.clone()))
        };
        assert_eq!(
            index.get(&[0, 1, 0, 0, 0, 0, 0, 0], &mut load).unwrap(),
            [7]
        );
        assert!((index.get(&[0, 1, 9, 0, 0, 0, 0, 0], &mut load).unwrap()).is_empty());
        assert!(
            index
                .get(&[0, 2, 0, 0, 0, 0, 0, 0], &mut load)
                .unwrap()
                .is_empty()
        );
        assert_eq!(index.resident(), [1, 2].into());
        index.evict(2);
        assert_eq!(index.resident(), [1, 2].into(), "within the bound, kept");
        index.evict(1);
        assert!(index.resident().is_empty(), "beyond it, dropped");
        index.load_all(&mut load).unwrap();
        assert_eq!(index.entries().len(), 1, "what load_all read is in");
        assert_eq!(reads.len(), 2 + usize::from(BUCKETS), "{reads:?}");
    }

    /// A change whose bucket cannot be read changes nothing, so setting the owner's keys
    /// again once the store reads makes the index what it should be: no key is listed in
    /// memory that no bucket holds, nor left in a bucket after it went.
    #[test]
    fn a_change_that_cannot_read_its_bucket_changes_nothing() {
        let (a, b, c) = (
            [0, 1, 0, 0, 0, 0, 0, 0],
            [0, 2, 0, 0, 0, 0, 0, 0],
            [0, 3, 0, 0, 0, 0, 0, 0],
        );
        let stored: Bucket<u8> = Bucket::from([(a, 7)]);
        let mut failing = Some(2u16);
        let mut index: Index<u8> = Index::lazy();
        let load = |bucket: u16, failing: Option<u16>| {
            if failing == Some(bucket) {
                return Err(StoreError::Missing);
            }
            Ok((bucket == 1).then(|| stored.clone()))
        };
        index.loaded(7, vec![a]);
        assert_eq!(index.get(&a, &mut |x| load(x, failing)).unwrap(), [7]);
        let before = |index: &Index<u8>| (index.entries(), index.by_owner.clone());
        for step in 0..2 {
            let kept = before(&index);
            let moved = index.moved(7, &[a], &[b], &mut |x| load(x, failing));
            assert_eq!(moved, Err(StoreError::Missing), "step {step}");
            assert_eq!(before(&index), kept, "a failed move changes nothing");
            let set = index.set(7, vec![c, b], &mut |x| load(x, failing));
            assert_eq!(set, Err(StoreError::Missing));
            assert_eq!(before(&index), kept, "a failed set changes nothing");
        }
        failing = None;
        index.set(7, vec![b, c], &mut |x| load(x, failing)).unwrap();
        assert_eq!(index.entries(), [(b, 7), (c, 7)].into());
        assert!((index.get(&a, &mut |x| load(x, failing)).unwrap()).is_empty());
        assert_eq!(index.listed(&7), 2);
        // Saved, then dropped from memory: the old key's bucket is read first.
        index.take_touched();
        index.evict(0);
        failing = Some(3);
        let kept = index.by_owner.clone();
        let moved = index.moved(7, &[c], &[a], &mut |x| load(x, failing));
        assert_eq!(moved, Err(StoreError::Missing));
        assert_eq!(index.by_owner, kept);
        assert!(index.resident().is_empty());
    }
}
