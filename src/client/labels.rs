//! Receive by index: which conversation expects each label next (PROTOCOL.md §9.6).
//!
//! An in-order conversation message carries the label its sender's chain is at, so one hash
//! lookup finds its conversation, whatever the number of conversations. The index holds every
//! chain's next label (one per member we read, in both epochs kept), not the whole
//! 32-step windows: those would be 32 times the memory. A label that misses the index is
//! out of order, early, or not ours; only then are the windows looked through.

use std::collections::{BTreeMap, HashMap};

use super::store::StoreError;
use super::tracked::TrackedMap;
use crate::conversation::{Conversation, ConversationId};

/// Buckets the index is stored in, by the label's first 12 bits: a message moves one label,
/// so a save rewrites at most two buckets of a few entries each.
pub(super) const BUCKETS: u16 = 4096;

/// The labels of one bucket, each with the conversation expecting it.
pub(super) type Bucket = BTreeMap<[u8; 8], ConversationId>;

/// Reads a bucket as the store has it (`None`: empty).
pub(super) type Loader<'a> = dyn FnMut(u16) -> Result<Option<Bucket>, StoreError> + 'a;

pub(super) fn bucket_of(label: &[u8; 8]) -> u16 {
    u16::from_be_bytes([label[0], label[1]]) % BUCKETS
}

#[derive(Default)]
pub(super) struct LabelIndex {
    buckets: TrackedMap<u16, Bucket>,
    /// The labels listed for each conversation in memory.
    by_conversation: HashMap<ConversationId, Vec<[u8; 8]>>,
}

impl LabelIndex {
    /// An index whose buckets are read from the store when first used.
    pub(super) fn lazy() -> Self {
        Self {
            buckets: TrackedMap::lazy(),
            by_conversation: HashMap::new(),
        }
    }

    fn bucket(&mut self, label: &[u8; 8], load: &mut Loader<'_>) -> Result<u16, StoreError> {
        let b = bucket_of(label);
        if !self.buckets.is_resident(&b) {
            let stored = load(b)?;
            self.buckets.load(b, stored);
        }
        Ok(b)
    }

    /// The conversation expecting `label` next, if any.
    pub(super) fn get(
        &mut self,
        label: &[u8; 8],
        load: &mut Loader<'_>,
    ) -> Result<Option<ConversationId>, StoreError> {
        let b = self.bucket(label, load)?;
        Ok(self.buckets.get(&b).and_then(|l| l.get(label)).copied())
    }

    /// A conversation came in from the store: the index lists its next labels already.
    pub(super) fn loaded(&mut self, id: ConversationId, conversation: &Conversation) {
        let labels: Vec<[u8; 8]> = conversation.next_labels().collect();
        self.by_conversation.insert(id, labels);
    }

    /// A conversation left memory, as stored.
    pub(super) fn forget(&mut self, id: &ConversationId) {
        self.by_conversation.remove(id);
    }

    /// Puts `id`'s labels in, replacing what it had (none when it is gone).
    pub(super) fn refresh(
        &mut self,
        id: ConversationId,
        conversation: Option<&Conversation>,
        load: &mut Loader<'_>,
    ) -> Result<(), StoreError> {
        for old in self.by_conversation.remove(&id).unwrap_or_default() {
            self.unmap(&old, &id, load)?;
        }
        let Some(conversation) = conversation else {
            return Ok(());
        };
        let labels: Vec<[u8; 8]> = conversation.next_labels().collect();
        for label in &labels {
            self.map(*label, id, load)?;
        }
        if !labels.is_empty() {
            self.by_conversation.insert(id, labels);
        }
        Ok(())
    }

    /// One chain of `id` moved on from `before` to `after`.
    pub(super) fn moved(
        &mut self,
        id: ConversationId,
        before: Option<[u8; 8]>,
        after: Option<[u8; 8]>,
        load: &mut Loader<'_>,
    ) -> Result<(), StoreError> {
        let labels = self.by_conversation.entry(id).or_default();
        if let Some(before) = before
            && let Some(at) = labels.iter().position(|l| *l == before)
        {
            labels.swap_remove(at);
        }
        if let Some(after) = after {
            labels.push(after);
            self.map(after, id, load)?;
        }
        if let Some(before) = before {
            self.unmap(&before, &id, load)?;
        }
        Ok(())
    }

    fn map(
        &mut self,
        label: [u8; 8],
        id: ConversationId,
        load: &mut Loader<'_>,
    ) -> Result<(), StoreError> {
        let b = self.bucket(&label, load)?;
        match self.buckets.get_mut(&b) {
            Some(bucket) => {
                bucket.insert(label, id);
            }
            None => {
                self.buckets.insert(b, Bucket::from([(label, id)]));
            }
        }
        Ok(())
    }

    fn unmap(
        &mut self,
        label: &[u8; 8],
        id: &ConversationId,
        load: &mut Loader<'_>,
    ) -> Result<(), StoreError> {
        let b = self.bucket(label, load)?;
        if self.buckets.get(&b).and_then(|l| l.get(label)) != Some(id) {
            return Ok(());
        }
        let empty = self.buckets.get_mut(&b).is_some_and(|bucket| {
            bucket.remove(label);
            bucket.is_empty()
        });
        if empty {
            self.buckets.remove(&b);
        }
        Ok(())
    }

    /// The buckets changed since the last call, each with what it holds now.
    pub(super) fn take_touched(&mut self) -> Vec<(u16, Option<&Bucket>)> {
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

    /// Drops the buckets as stored from memory, once more than `bound` are in.
    pub(super) fn evict(&mut self, bound: usize) {
        if self.buckets.resident_len() > bound {
            self.buckets.evict();
        }
    }

    /// Reads every bucket not in memory yet.
    pub(super) fn load_all(&mut self, load: &mut Loader<'_>) -> Result<(), StoreError> {
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

    /// The labels indexed, for tests that compare with an index built from scratch.
    #[cfg(test)]
    pub(super) fn entries(&self) -> BTreeMap<[u8; 8], ConversationId> {
        self.buckets
            .resident()
            .flat_map(|(_, l)| l.iter().map(|(l, c)| (*l, *c)))
            .collect()
    }

    /// How many labels `id` has listed (one per chain it reads).
    #[cfg(test)]
    fn listed(&self, id: &ConversationId) -> usize {
        self.by_conversation.get(id).map_or(0, Vec::len)
    }

    /// The buckets in memory.
    #[cfg(test)]
    pub(super) fn resident(&self) -> std::collections::BTreeSet<u16> {
        self.buckets.resident_keys()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::panic)]

    use super::*;
    use crate::Identity;
    use crate::conversation::{Member, Role};
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
        let mut index = LabelIndex::default();
        let none: &mut Loader<'_> = &mut |_| panic!("a complete index reads nothing");
        index.refresh(id, Some(&at_bob), none).unwrap();
        let first = at_bob.next_labels().next().unwrap();
        assert_eq!(index.get(&first, none).unwrap(), Some(id));

        let message = at_alice.encrypt(b"one").unwrap();
        let opened = at_bob.open(&message).unwrap();
        let (_, before, after) = at_bob.commit_moving(opened);
        assert_eq!(before, Some(first));
        index.moved(id, before, after, none).unwrap();
        let second = after.unwrap();
        assert_eq!(
            (
                index.get(&first, none).unwrap(),
                index.get(&second, none).unwrap()
            ),
            (None, Some(id))
        );
        assert_eq!(
            index.listed(&id),
            1,
            "the label it moved from is no longer listed"
        );

        // Refreshing replaces what the conversation had; refreshing it away removes it all.
        index.refresh(id, Some(&at_bob), none).unwrap();
        assert_eq!(index.entries().len(), 1);
        index.refresh(id, None, none).unwrap();
        assert!(index.entries().is_empty() && index.get(&second, none).unwrap().is_none());
    }
}
