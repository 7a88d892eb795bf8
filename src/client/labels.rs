//! Receive by index: which conversation expects each label next (PROTOCOL.md §9.6).
//!
//! An in-order conversation message carries the label its sender's chain is at, so one hash
//! lookup finds its conversation, whatever the number of conversations. The index holds every
//! chain's next label (one per member we read, in both epochs kept), not the whole
//! 32-step windows: those would be 32 times the memory. A label that misses the index is
//! out of order, early, or not ours; only then are the windows looked through.

use std::collections::HashMap;

use crate::conversation::{Conversation, ConversationId};

#[derive(Default)]
pub(super) struct LabelIndex {
    by_label: HashMap<[u8; 8], ConversationId>,
    by_conversation: HashMap<ConversationId, Vec<[u8; 8]>>,
}

impl LabelIndex {
    /// The conversation expecting `label` next, if any.
    pub(super) fn get(&self, label: &[u8; 8]) -> Option<ConversationId> {
        self.by_label.get(label).copied()
    }

    /// Puts `id`'s labels in, replacing what it had (none when it is gone).
    pub(super) fn refresh(&mut self, id: ConversationId, conversation: Option<&Conversation>) {
        for old in self.by_conversation.remove(&id).unwrap_or_default() {
            self.unmap(&old, &id);
        }
        let Some(conversation) = conversation else {
            return;
        };
        let labels: Vec<[u8; 8]> = conversation.next_labels().collect();
        for label in &labels {
            self.by_label.insert(*label, id);
        }
        if !labels.is_empty() {
            self.by_conversation.insert(id, labels);
        }
    }

    /// One chain of `id` moved on from `before` to `after`.
    pub(super) fn moved(
        &mut self,
        id: ConversationId,
        before: Option<[u8; 8]>,
        after: Option<[u8; 8]>,
    ) {
        let labels = self.by_conversation.entry(id).or_default();
        if let Some(before) = before
            && let Some(at) = labels.iter().position(|l| *l == before)
        {
            labels.swap_remove(at);
        }
        if let Some(after) = after {
            labels.push(after);
            self.by_label.insert(after, id);
        }
        if let Some(before) = before {
            self.unmap(&before, &id);
        }
    }

    fn unmap(&mut self, label: &[u8; 8], id: &ConversationId) {
        if self.by_label.get(label) == Some(id) {
            self.by_label.remove(label);
        }
    }

    /// How many labels `id` has listed (one per chain it reads).
    #[cfg(test)]
    fn listed(&self, id: &ConversationId) -> usize {
        self.by_conversation.get(id).map_or(0, Vec::len)
    }

    /// The labels indexed, for tests that compare with an index built from scratch.
    #[cfg(test)]
    pub(super) fn entries(&self) -> std::collections::BTreeMap<[u8; 8], ConversationId> {
        self.by_label.iter().map(|(l, c)| (*l, *c)).collect()
    }
}

#[cfg(test)]
mod tests {
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
        index.refresh(id, Some(&at_bob));
        let first = at_bob.next_labels().next().unwrap();
        assert_eq!(index.get(&first), Some(id));

        let message = at_alice.encrypt(b"one").unwrap();
        let opened = at_bob.open(&message).unwrap();
        let (_, before, after) = at_bob.commit_moving(opened);
        assert_eq!(before, Some(first));
        index.moved(id, before, after);
        let second = after.unwrap();
        assert_eq!((index.get(&first), index.get(&second)), (None, Some(id)));
        assert_eq!(
            index.listed(&id),
            1,
            "the label it moved from is no longer listed"
        );

        // Refreshing replaces what the conversation had; refreshing it away removes it all.
        index.refresh(id, Some(&at_bob));
        assert_eq!(index.entries().len(), 1);
        index.refresh(id, None);
        assert!(index.entries().is_empty() && index.get(&second).is_none());
    }
}
