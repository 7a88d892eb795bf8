//! Resending to recipients the relay did not reach (PROTOCOL.md §9.7).
//!
//! A group member who has not yet processed a change has not registered the new epoch's access
//! key, so the relay stores a message of the new epoch for everyone else and names that member
//! in its `202` ([`crate::relay_api::Undelivered`]). The sender keeps the envelope and sends it
//! again, to those members only, with backoff, until the relay takes it for them, the envelope
//! expires, or they leave the conversation.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Client, Outgoing, Unsaved};
use crate::conversation::{ConversationId, DeviceOf};
use crate::envelope::{Envelope, MailboxId};
use crate::error::{Error, PolicyError};

/// Resends kept at most; a new one replaces the oldest.
pub(super) const MAX_RETRIES: usize = 64;
/// Attempts per envelope before it is given up.
const MAX_ATTEMPTS: u32 = 8;
/// The first wait, doubled after each attempt.
const FIRST_WAIT: u64 = 60;

/// An envelope still owed to some of its recipients.
#[derive(Clone, Serialize, Deserialize)]
pub(super) struct Retry {
    /// `SHA-256` of the envelope's body: a resend carries the same body, so the relay's answer
    /// to it finds this entry.
    body_hash: [u8; 32],
    expiry: u64,
    #[serde(with = "serde_bytes")]
    body: Vec<u8>,
    conversation: ConversationId,
    mailboxes: Vec<MailboxId>,
    due: u64,
    attempts: u32,
}

#[cfg(test)]
impl Retry {
    /// An entry as a state might hold it.
    pub(super) fn sample(n: u8) -> Self {
        Self {
            body_hash: [n; 32],
            expiry: u64::MAX,
            body: vec![n; 8],
            conversation: ConversationId([n; 16]),
            mailboxes: vec![MailboxId([n; 16])],
            due: 0,
            attempts: 0,
        }
    }
}

fn body_hash(body: &[u8]) -> [u8; 32] {
    Sha256::digest(body).into()
}

impl Client {
    /// What the relay answered to `sent` (a `202` whose body names recipients it did not
    /// reach, [`crate::relay_api::Undelivered`]; or a `403` to a conversation message, which
    /// reached none of them: pass them all). Those who are still members of `sent`'s
    /// conversation are resent to by [`Client::resend`], after 1, 2, 4 … minutes; an empty list
    /// (everyone reached) clears what was kept for that envelope. Only conversation messages
    /// are kept: others have no conversation key a late member could register.
    pub fn undelivered(&mut self, sent: &Outgoing, mailboxes: &[MailboxId], now: u64) {
        let (Some(conversation), Ok(envelope)) =
            (sent.conversation, Envelope::from_bytes(&sent.envelope))
        else {
            return;
        };
        let hash = body_hash(envelope.body());
        // The answer names who is still owed, of the recipients of `sent`: those of them still
        // in the conversation replace what was kept for the same body.
        let attempts = match self.retries.iter().position(|r| r.body_hash == hash) {
            Some(at) => self.retries.remove(at).attempts,
            None => 0,
        };
        // A store that fails to read the conversation now: owed to all, checked at resend.
        let owed = self.still_members(&conversation, mailboxes).map_or_else(
            || mailboxes.to_vec(),
            |owed| owed.iter().map(|a| a.device).collect(),
        );
        if owed.is_empty() || attempts >= MAX_ATTEMPTS || now >= envelope.expiry() {
            return;
        }
        if self.retries.len() >= MAX_RETRIES {
            self.retries.remove(0);
        }
        let wait = FIRST_WAIT.saturating_mul(1 << attempts.min(20));
        self.retries.push(Retry {
            body_hash: hash,
            expiry: envelope.expiry(),
            body: envelope.body().to_vec(),
            conversation,
            mailboxes: owed,
            due: now.saturating_add(wait),
            attempts,
        });
    }

    /// The envelopes due again for members who had not caught up, each to those members only
    /// and with the credential that reaches them now. Hand the relay's answers back to
    /// [`Client::undelivered`]; an envelope not answered is tried again after the next wait.
    pub fn resend(&mut self, now: u64) -> Unsaved<'_, Vec<Outgoing>> {
        let mut out = Vec::new();
        let mut kept = Vec::with_capacity(self.retries.len());
        for mut retry in core::mem::take(&mut self.retries) {
            let Some(members) = self.still_members(&retry.conversation, &retry.mailboxes) else {
                // The store failed to read the conversation: tried again next time.
                kept.push(retry);
                continue;
            };
            retry.mailboxes = members.iter().map(|a| a.device).collect();
            if retry.mailboxes.is_empty() || now >= retry.expiry {
                continue;
            }
            if retry.due <= now {
                let envelopes = Envelope::to_mailboxes(retry.expiry, &retry.mailboxes, &retry.body);
                match (
                    self.credential_to(&members, Some(&retry.conversation)),
                    envelopes,
                ) {
                    (Ok(credential), Ok(envelopes)) => {
                        out.extend(envelopes.into_iter().map(|envelope| Outgoing {
                            envelope: envelope.to_bytes(),
                            credential: credential.clone(),
                            ephemeral: false,
                            conversation: Some(retry.conversation),
                        }));
                    }
                    // Nothing reaches them yet: wait longer.
                    (Err(Error::Policy(PolicyError::NoCredential)), _) => {}
                    // It cannot be sent again at all: give it up.
                    _ => continue,
                }
                retry.attempts += 1;
                if retry.attempts >= MAX_ATTEMPTS {
                    continue;
                }
                let wait = FIRST_WAIT.saturating_mul(1 << retry.attempts.min(20));
                retry.due = now.saturating_add(wait);
            }
            kept.push(retry);
        }
        self.retries = kept;
        Unsaved::sent(self, out)
    }

    /// Resends waiting.
    pub fn pending_resends(&self) -> usize {
        self.retries.len()
    }

    /// Those of `mailboxes` that are still, besides this device, devices of `conversation`'s
    /// members (our own other devices too), in mailbox order.
    fn still_members(
        &mut self,
        conversation: &ConversationId,
        mailboxes: &[MailboxId],
    ) -> Option<Vec<DeviceOf>> {
        self.load_conversation(conversation).ok()?;
        let Some(c) = self
            .conversations
            .get(conversation)
            .filter(|c| !c.is_removed())
        else {
            return Some(Vec::new());
        };
        let mut members: Vec<MailboxId> = c.members().iter().map(|m| m.id).collect();
        members.retain(|m| m != self.member_id());
        members.push(*self.member_id());
        let devices = self.devices_of_all(&members).ok()?;
        let mut owed: Vec<DeviceOf> = (devices.iter())
            .map(|t| t.to)
            .filter(|a| mailboxes.contains(&a.device) && a.device != *self.mailbox_id())
            .collect();
        owed.sort_unstable_by_key(|a| a.device);
        owed.dedup_by_key(|a| a.device);
        Some(owed)
    }
}
