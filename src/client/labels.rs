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

    /// The labels indexed, for tests that compare with an index built from scratch.
    #[cfg(test)]
    pub(super) fn entries(&self) -> std::collections::BTreeMap<[u8; 8], ConversationId> {
        self.by_label.iter().map(|(l, c)| (*l, *c)).collect()
    }
}
