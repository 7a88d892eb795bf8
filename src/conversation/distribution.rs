//! Payloads that travel inside a pairwise session (PROTOCOL.md §6.5): a sender's chain for a
//! conversation epoch, with the roster change that starts the epoch, and a fan-out key.
//!
//! The engine hands the application `(recipient, payload)` pairs; the application encrypts
//! `payload.to_bytes()` in its pairwise session with that recipient and, on the other side,
//! passes the decrypted bytes and the session's peer to `accept_distribution` / `accept_grant`.
//! The pairwise session is what authenticates the sender and keeps the keys secret.

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::roster::{ConversationId, Kind, Member};
use crate::crypto::sign::VerifyingKey;
use crate::envelope::MailboxId;
use crate::error::DecodeError;
use crate::wire::Wire;

/// A 32-byte secret in a wire structure, zeroized on drop.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub(crate) struct SecretBytes(pub(crate) [u8; 32]);

/// The roster change a distribution carries when it starts a new epoch.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub(crate) enum Change {
    /// To a new member: the whole roster.
    Welcome {
        /// Every member of the new epoch.
        roster: Vec<Member>,
    },
    /// To a member who stays: what changed since the previous epoch.
    Commit {
        /// Members added.
        added: Vec<Member>,
        /// Members removed.
        removed: Vec<MailboxId>,
    },
}

/// A sender's chain for one epoch of one conversation, for one recipient.
/// Wire: `0x01 || postcard(conversation, kind, epoch, roster_hash, sender, change, chain_key,
/// chain_public)`. Secret: send it only inside a pairwise session.
#[derive(Clone, Serialize, Deserialize)]
pub struct KeyDistribution {
    pub(crate) conversation: ConversationId,
    pub(crate) kind: Kind,
    pub(crate) epoch: u64,
    pub(crate) roster_hash: [u8; 32],
    pub(crate) sender: MailboxId,
    pub(crate) change: Option<Change>,
    pub(crate) chain_key: SecretBytes,
    pub(crate) chain_public: VerifyingKey,
}

impl Wire for KeyDistribution {
    const WHAT: &'static str = "key distribution";
    const VERSION: u8 = 1;
}

impl KeyDistribution {
    /// The bytes to send over the pairwise session (zeroized on drop).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.to_wire())
    }

    /// Decodes strictly: a change lists its members in increasing id order, each once, so
    /// that one change has one encoding.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let dist = Self::from_wire(bytes)?;
        let increasing = |ids: &mut dyn Iterator<Item = MailboxId>| {
            let ids: Vec<MailboxId> = ids.collect();
            ids.windows(2).all(|w| w[0] < w[1])
        };
        let sorted = match &dist.change {
            None => true,
            Some(Change::Welcome { roster }) => increasing(&mut roster.iter().map(|m| m.id)),
            Some(Change::Commit { added, removed }) => {
                increasing(&mut added.iter().map(|m| m.id))
                    && increasing(&mut removed.iter().copied())
            }
        };
        if !sorted {
            return Err(DecodeError::NonCanonical {
                what: "key distribution member list",
            });
        }
        Ok(dist)
    }

    /// The conversation it belongs to.
    pub fn conversation(&self) -> ConversationId {
        self.conversation
    }

    /// The epoch it is for.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Whether it welcomes the recipient into a conversation (use `Conversation::join`).
    pub fn is_welcome(&self) -> bool {
        matches!(self.change, Some(Change::Welcome { .. }))
    }
}

impl core::fmt::Debug for KeyDistribution {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KeyDistribution")
            .field("conversation", &self.conversation)
            .field("epoch", &self.epoch)
            .field("sender", &self.sender)
            .field("change", &self.change)
            .finish_non_exhaustive()
    }
}

/// A fan-out key from one user to another, sent once per ordered pair: it lets the sender open
/// ad-hoc conversations with the recipient without public-key work per recipient.
/// Wire: `0x01 || postcard(sender, recipient, key, signing_public)`.
#[derive(Clone, Serialize, Deserialize)]
pub struct FanOutGrant {
    pub(crate) sender: MailboxId,
    pub(crate) recipient: MailboxId,
    pub(crate) key: SecretBytes,
    pub(crate) signing_public: VerifyingKey,
}

impl Wire for FanOutGrant {
    const WHAT: &'static str = "fan-out grant";
    const VERSION: u8 = 1;
}

impl FanOutGrant {
    /// The bytes to send over the pairwise session (zeroized on drop).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.to_wire())
    }

    /// Decodes strictly.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::from_wire(bytes)
    }
}

impl core::fmt::Debug for FanOutGrant {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FanOutGrant")
            .field("sender", &self.sender)
            .field("recipient", &self.recipient)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::conversation::Role;
    use crate::crypto::sign::SigningKey;
    use crate::identity::Identity;

    fn member(i: u8) -> Member {
        let identity = Identity::generate(&mut rand::rng());
        Member::new(MailboxId([i; 16]), Role::Member, *identity.public())
    }

    fn distribution(change: Change) -> KeyDistribution {
        KeyDistribution {
            conversation: ConversationId([1; 16]),
            kind: Kind::Group,
            epoch: 1,
            roster_hash: [0; 32],
            sender: MailboxId([1; 16]),
            change: Some(change),
            chain_key: SecretBytes([2; 32]),
            chain_public: *SigningKey::from_seed(&[3; 32]).verifying_key(),
        }
    }

    fn decodes(change: Change) -> Result<(), DecodeError> {
        KeyDistribution::from_bytes(&distribution(change).to_bytes()).map(|_| ())
    }

    #[test]
    fn member_lists_must_be_in_increasing_order_without_repeats() {
        let (a, b) = (member(1), member(2));
        let unordered = Err(DecodeError::NonCanonical {
            what: "key distribution member list",
        });
        let welcome = |roster: Vec<Member>| Change::Welcome { roster };
        assert_eq!(decodes(welcome(vec![a, b])), Ok(()));
        assert_eq!(decodes(welcome(vec![b, a])), unordered);
        assert_eq!(decodes(welcome(vec![a, a])), unordered);
        let commit =
            |added: Vec<Member>, removed: Vec<MailboxId>| Change::Commit { added, removed };
        let (x, y) = (MailboxId([5; 16]), MailboxId([6; 16]));
        assert_eq!(decodes(commit(vec![a, b], vec![x, y])), Ok(()));
        assert_eq!(decodes(commit(vec![b, a], vec![x, y])), unordered);
        assert_eq!(decodes(commit(vec![a, b], vec![y, x])), unordered);
        assert_eq!(decodes(commit(vec![a], vec![x, x])), unordered);
        assert_eq!(decodes(commit(vec![b, b], vec![])), unordered);
    }
}
