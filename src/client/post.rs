//! What a conversation encrypts: the content and the access under which it is sent
//! (PROTOCOL.md §10.1). The access travels end to end, so the recipient's client checks the
//! product rules even against a modified sender.

use serde::{Deserialize, Serialize};

use super::content::Content;
use crate::conversation::ConversationId;
use crate::envelope::MailboxId;
use crate::error::DecodeError;
use crate::identity::PublicIdentity;
use crate::platform::{AdvertiserCertificate, InMailKind};
use crate::wire::Wire;

/// Why the sender may send this message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Access {
    /// The two are connected (variant 0).
    Connection,
    /// The conversation was opened before (by InMail, Open Profile or a shared group) (1).
    Opened,
    /// The recipient is a premium member with Open Profile on (2).
    OpenProfile,
    /// An InMail: the sender spent a credit token, or a premium token when both are premium
    /// (the relay checked the token) (3).
    InMail(InMailKind),
    /// Both are members of this group (4).
    GroupMember(ConversationId),
    /// A post to a group by one of its admins or managers (5).
    Group,
    /// A multi-recipient message to the sender's connections (6).
    Multi,
    /// A sponsored message from a registered advertiser (7).
    Sponsored(Box<AdvertiserCertificate>),
    /// An answer to everyone in a multi-recipient conversation, by one of its participants
    /// (8).
    Participant,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Post {
    pub(crate) access: Access,
    pub(crate) content: Content,
}

impl Wire for Post {
    const WHAT: &'static str = "post";
    const VERSION: u8 = 1;
}

impl Post {
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        self.to_wire()
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::from_wire(bytes)
    }
}

/// What a multi-recipient first message carries (PROTOCOL.md §10.1): its post and, for a
/// conversation every participant may answer in, each recipient's identity as the opener vouches
/// for it, in mailbox order. A sponsored message lists nobody: its audience neither sees each
/// other nor answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FirstPost {
    pub(crate) participants: Vec<(MailboxId, PublicIdentity)>,
    pub(crate) post: Post,
}

impl Wire for FirstPost {
    const WHAT: &'static str = "first post";
    const VERSION: u8 = 1;
}

impl FirstPost {
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        self.to_wire()
    }

    /// Decodes strictly: participants in increasing mailbox order, each once.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let first = Self::from_wire(bytes)?;
        if !first.participants.windows(2).all(|w| w[0].0 < w[1].0) {
            return Err(DecodeError::NonCanonical {
                what: "first post participant list",
            });
        }
        Ok(first)
    }
}
