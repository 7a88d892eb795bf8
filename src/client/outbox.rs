//! The outbox: what was sent and saved but not yet taken by the relay (PROTOCOL.md §9.6).
//!
//! A send moves a ratchet on; if its envelopes never reach the relay (the network is down, the
//! app is killed between saving and submitting), they must still go, in order, or the
//! recipients lose the message and the keys it carried. So every send also queues its
//! envelopes in the state it saves, and they stay there until the app reports that the relay
//! accepted them. Submitting one twice is harmless: the relay stores an envelope id once per
//! mailbox, and recipients drop a replay.

use serde::{Deserialize, Serialize};

use super::{Client, Outgoing};
use crate::access::Submission;
use crate::conversation::ConversationId;
use crate::error::{Error, UsageError};

/// Envelopes the outbox holds before sends are refused (the relay has been away a long time,
/// or the app never reports what it accepted).
pub const MAX_OUTBOX: usize = 1024;

/// An outbox entry as saved.
#[derive(Serialize, Deserialize)]
pub(super) struct Queued {
    submission: Submission,
    conversation: Option<ConversationId>,
}

impl Queued {
    pub(super) fn from_outgoing(o: &Outgoing) -> Self {
        Self {
            submission: Submission {
                credential: o.credential.clone(),
                envelope: o.envelope.clone(),
            },
            conversation: o.conversation,
        }
    }

    pub(super) fn into_outgoing(self) -> Outgoing {
        Outgoing {
            envelope: self.submission.envelope,
            credential: self.submission.credential,
            ephemeral: false,
            conversation: self.conversation,
        }
    }
}

/// What a send hands back and queues: its envelopes, whatever else it returns.
pub(super) trait Outbound {
    /// The envelopes to submit.
    fn outgoing(&self) -> &[Outgoing];
}

impl Outbound for Vec<Outgoing> {
    fn outgoing(&self) -> &[Outgoing] {
        self
    }
}

impl Outbound for Outgoing {
    fn outgoing(&self) -> &[Outgoing] {
        core::slice::from_ref(self)
    }
}

impl<T> Outbound for (T, Vec<Outgoing>) {
    fn outgoing(&self) -> &[Outgoing] {
        &self.1
    }
}

impl Client {
    /// Envelopes sent and saved that the relay has not taken yet, oldest first: submit them
    /// in this order (after a restart, before anything new), reporting each with
    /// [`Client::accepted`].
    pub fn outbox(&self) -> Vec<Outgoing> {
        self.outbox.iter().cloned().collect()
    }

    /// The relay took `outgoing` (it answered `202`, even if some recipients still wait in
    /// the resend queue): it leaves the outbox. Save the state afterwards. Returns whether it
    /// was there.
    pub fn accepted(&mut self, outgoing: &Outgoing) -> bool {
        let found = self
            .outbox
            .iter()
            .position(|o| o.envelope == outgoing.envelope);
        if let Some(at) = found {
            self.outbox.remove(at);
        }
        found.is_some()
    }

    /// Queues what a send produced (never typing indicators, which are only worth sending now).
    pub(super) fn queue(&mut self, sent: &[Outgoing]) {
        for o in sent.iter().filter(|o| !o.ephemeral) {
            self.outbox.push_back(o.clone());
        }
    }

    /// Refuses a send while the outbox is full.
    pub(super) fn outbox_room(&self) -> Result<(), Error> {
        if self.outbox.len() >= MAX_OUTBOX {
            return Err(UsageError::OutboxFull { max: MAX_OUTBOX }.into());
        }
        Ok(())
    }
}
