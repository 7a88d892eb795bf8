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

    /// Decodes strictly.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::from_wire(bytes)
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
