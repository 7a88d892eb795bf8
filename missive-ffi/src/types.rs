//! The values that cross the boundary: plain records and enums of bytes, strings and numbers.
//! Ids are bytes (mailbox and conversation ids 16, public identities 65); keys never cross,
//! except an attachment's, which is part of the message that carries it.

use missive::client::{self, Content as RustContent};
use missive::conversation::{ConversationId, Role as RustRole};
use missive::envelope::MailboxId;

use crate::advertising::Sponsored;
use crate::error::{MissiveError, argument};

pub(crate) fn mailbox(bytes: &[u8]) -> Result<MailboxId, MissiveError> {
    let id: [u8; 16] = bytes
        .try_into()
        .map_err(|_| argument(format!("a mailbox id is 16 bytes, not {}", bytes.len())))?;
    Ok(MailboxId(id))
}

pub(crate) fn conversation(bytes: &[u8]) -> Result<ConversationId, MissiveError> {
    let id: [u8; 16] = bytes.try_into().map_err(|_| {
        argument(format!(
            "a conversation id is 16 bytes, not {}",
            bytes.len()
        ))
    })?;
    Ok(ConversationId(id))
}

pub(crate) fn array32(bytes: &[u8], what: &str) -> Result<[u8; 32], MissiveError> {
    bytes
        .try_into()
        .map_err(|_| argument(format!("{what} is 32 bytes, not {}", bytes.len())))
}

/// An envelope to hand to the relay: `POST` `body` to `path` (`/v1/envelopes`, or
/// `/v1/ephemeral` for a typing indicator). Once the relay answered `202` (or refused it for
/// good), pass `envelope` to `MissiveClient.accepted` so the outbox forgets it. When the
/// answer names recipients it did not reach, or is a `403` to an envelope with a
/// `conversation` (a recipient's keys changed since), pass them to `MissiveClient.undelivered`
/// first: `resend` sends it again under the keys that reach them then.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Outgoing {
    pub path: String,
    pub body: Vec<u8>,
    pub envelope: Vec<u8>,
    /// The conversation it belongs to, if any (16 bytes).
    pub conversation: Option<Vec<u8>>,
}

impl From<&client::Outgoing> for Outgoing {
    fn from(o: &client::Outgoing) -> Self {
        let path = if o.ephemeral {
            "/v1/ephemeral"
        } else {
            "/v1/envelopes"
        };
        Self {
            path: path.to_owned(),
            body: o.submission(),
            envelope: o.envelope.clone(),
            conversation: o.conversation.map(|c| c.0.to_vec()),
        }
    }
}

pub(crate) fn outgoing(sent: &[client::Outgoing]) -> Vec<Outgoing> {
    sent.iter().map(Outgoing::from).collect()
}

/// A file kept outside the message, encrypted under `key`.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Attachment {
    pub reference: String,
    pub sha256: Vec<u8>,
    pub size: u64,
    pub media_type: String,
    pub key: Vec<u8>,
}

/// Which message: its sender (a mailbox id), epoch and index in the sender's chain (for read
/// receipts).
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct MessageRef {
    pub sender: Vec<u8>,
    pub epoch: u64,
    pub index: u32,
}

impl From<&client::MessageRef> for MessageRef {
    fn from(r: &client::MessageRef) -> Self {
        Self {
            sender: r.sender.0.to_vec(),
            epoch: r.epoch,
            index: r.index,
        }
    }
}

impl TryFrom<&MessageRef> for client::MessageRef {
    type Error = MissiveError;
    fn try_from(r: &MessageRef) -> Result<Self, MissiveError> {
        Ok(Self {
            sender: mailbox(&r.sender)?,
            epoch: r.epoch,
            index: r.index,
        })
    }
}

/// What a message says.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum Content {
    /// Text, mentioning members (mailbox ids) and carrying attachments.
    Text {
        text: String,
        mentions: Vec<Vec<u8>>,
        attachments: Vec<Attachment>,
    },
    /// An advertiser's sponsored message.
    Sponsored { message: Sponsored },
    /// A read receipt: its sender read up to `up_to`.
    Read { up_to: MessageRef },
    /// A device list the engine sends on its own (PROTOCOL.md §12.6).
    Devices { list: Vec<u8> },
    /// Content this version of the binding does not know.
    Other { debug: String },
}

impl From<&RustContent> for Content {
    fn from(c: &RustContent) -> Self {
        match c {
            RustContent::Text(t) => Self::Text {
                text: t.text.clone(),
                mentions: t.mentions.iter().map(|m| m.0.to_vec()).collect(),
                attachments: t
                    .attachments
                    .iter()
                    .map(|a| Attachment {
                        reference: a.reference.clone(),
                        sha256: a.sha256.to_vec(),
                        size: a.size,
                        media_type: a.media_type.clone(),
                        key: a.key.to_vec(),
                    })
                    .collect(),
            },
            RustContent::Sponsored(s) => Self::Sponsored { message: s.into() },
            RustContent::Read(r) => Self::Read { up_to: r.into() },
            RustContent::Devices(list) => Self::Devices { list: list.clone() },
            other => Self::Other {
                debug: format!("{other:?}"),
            },
        }
    }
}

/// Text content from the boundary's form (what an app sends; sponsored messages go through
/// `send_sponsored`, receipts through `mark_read`).
pub(crate) fn text_content(
    text: String,
    mentions: &[Vec<u8>],
    attachments: &[Attachment],
) -> Result<RustContent, MissiveError> {
    let mentions = mentions
        .iter()
        .map(|m| mailbox(m))
        .collect::<Result<_, _>>()?;
    let attachments = attachments
        .iter()
        .map(|a| {
            Ok(client::Attachment {
                reference: a.reference.clone(),
                sha256: array32(&a.sha256, "an attachment's SHA-256")?,
                size: a.size,
                media_type: a.media_type.clone(),
                key: array32(&a.key, "an attachment's key")?,
            })
        })
        .collect::<Result<_, MissiveError>>()?;
    Ok(RustContent::Text(client::Text {
        text,
        mentions,
        attachments,
    }))
}

/// A member's role in a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum Role {
    Member,
    Admin,
    Manager,
}

impl From<Role> for RustRole {
    fn from(r: Role) -> Self {
        match r {
            Role::Member => Self::Member,
            Role::Admin => Self::Admin,
            Role::Manager => Self::Manager,
        }
    }
}

/// A group member as its creator lists it.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Member {
    pub mailbox: Vec<u8>,
    pub role: Role,
}

/// A conversation started by a send, and what to hand the relay.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Started {
    pub conversation: Vec<u8>,
    pub outgoing: Vec<Outgoing>,
}

/// A member's tier on the platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum Tier {
    Free,
    PremiumCareer,
    PremiumBusiness,
}

impl From<Tier> for missive::platform::Tier {
    fn from(t: Tier) -> Self {
        match t {
            Tier::Free => Self::Free,
            Tier::PremiumCareer => Self::PremiumCareer,
            Tier::PremiumBusiness => Self::PremiumBusiness,
        }
    }
}

/// A member's tier and Open Profile switch, as the engine holds them.
pub(crate) fn profile(tier: Tier, open_profile: bool) -> missive::platform::Profile {
    missive::platform::Profile {
        tier: tier.into(),
        open_profile,
    }
}

/// What a token pays for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum TokenKind {
    Invite,
    Credit,
    Premium,
    Sponsored,
}

impl From<TokenKind> for missive::token::TokenKind {
    fn from(k: TokenKind) -> Self {
        match k {
            TokenKind::Invite => Self::Invite,
            TokenKind::Credit => Self::Credit,
            TokenKind::Premium => Self::Premium,
            TokenKind::Sponsored => Self::Sponsored,
        }
    }
}

/// Each user's switches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Settings {
    pub read_receipts: bool,
    pub typing_indicators: bool,
    pub sponsored_messages: bool,
}

/// A contact: someone we hold a session with.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Contact {
    pub user: Vec<u8>,
    pub mailbox: Vec<u8>,
    pub identity: Vec<u8>,
}

impl From<&client::Contact> for Contact {
    fn from(c: &client::Contact) -> Self {
        Self {
            user: c.user.clone(),
            mailbox: c.mailbox.0.to_vec(),
            identity: c.identity.to_bytes().to_vec(),
        }
    }
}

/// Where a connection with another member stands.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum Connection {
    None,
    Invited,
    InvitedUs { note: Option<String> },
    Connected,
}

impl From<&client::Connection> for Connection {
    fn from(c: &client::Connection) -> Self {
        match c {
            client::Connection::None => Self::None,
            client::Connection::Invited => Self::Invited,
            client::Connection::InvitedUs(note) => Self::InvitedUs { note: note.clone() },
            client::Connection::Connected => Self::Connected,
        }
    }
}

/// What registering our access keys needs: `update` to `PUT /v1/mailbox/access` first (if
/// any), then the notices to hand the relay.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct AccessSync {
    pub update: Option<Vec<u8>>,
    pub notices: Vec<Outgoing>,
}

impl From<client::Settings> for Settings {
    fn from(s: client::Settings) -> Self {
        Self {
            read_receipts: s.read_receipts,
            typing_indicators: s.typing_indicators,
            sponsored_messages: s.sponsored_messages,
        }
    }
}

impl From<Settings> for client::Settings {
    fn from(s: Settings) -> Self {
        Self {
            read_receipts: s.read_receipts,
            typing_indicators: s.typing_indicators,
            sponsored_messages: s.sponsored_messages,
        }
    }
}
