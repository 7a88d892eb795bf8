//! The typed, versioned content of a conversation message (PROTOCOL.md §9.4).

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::envelope::MailboxId;
use crate::error::DecodeError;
use crate::wire::Wire;

/// What a conversation message says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Content {
    /// Text, with mentions and attachments (postcard variant 0).
    Text(Text),
    /// An advertiser's sponsored message (variant 1).
    Sponsored(Sponsored),
    /// A read receipt (variant 2).
    Read(MessageRef),
    /// The sender's account's signed device list, in an ad-hoc conversation one of whose
    /// devices it no longer names (variant 3, PROTOCOL.md §12.6): the engine sends it, an
    /// app cannot.
    Devices(#[serde(with = "serde_bytes")] Vec<u8>),
}

/// A text message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Text {
    /// The text.
    pub text: String,
    /// Members mentioned (a group post names at most 20).
    pub mentions: Vec<MailboxId>,
    /// Files stored elsewhere, by reference.
    pub attachments: Vec<Attachment>,
}

/// A file kept outside the message (for example in a blob store), encrypted under `key`; the
/// message carries what is needed to fetch and check it. The key is wiped on drop and never
/// shown by `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct Attachment {
    /// Where to fetch the encrypted file.
    pub reference: String,
    /// SHA-256 of the encrypted file, checked before decrypting it.
    pub sha256: [u8; 32],
    /// Size of the plaintext in bytes.
    pub size: u64,
    /// Media type, such as `application/pdf`.
    pub media_type: String,
    /// The file's ChaCha20-Poly1305 key.
    pub key: [u8; 32],
}

impl core::fmt::Debug for Attachment {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Attachment")
            .field("reference", &self.reference)
            .field("size", &self.size)
            .field("media_type", &self.media_type)
            .finish_non_exhaustive()
    }
}

/// A sponsored message: headline, body, buttons, an image banner and an optional lead form.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sponsored {
    /// Headline.
    pub headline: String,
    /// Body text.
    pub body: String,
    /// Call-to-action buttons.
    pub buttons: Vec<CallToAction>,
    /// Image banner, by reference and hash.
    pub banner: Option<ImageRef>,
    /// A form whose answers only the advertiser can read.
    pub lead_form: Option<LeadForm>,
}

/// A call-to-action button.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallToAction {
    /// Button label.
    pub label: String,
    /// Where it leads (a URL).
    pub target: String,
}

/// An image by reference and hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRef {
    /// Where to fetch it.
    pub reference: String,
    /// SHA-256 of the image, checked before showing it.
    pub sha256: [u8; 32],
}

/// A lead form. Answers are sealed to `key` (the advertiser's), so only the advertiser reads them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadForm {
    /// The form's id, bound into every answer.
    pub id: [u8; 16],
    /// The fields asked for.
    pub fields: Vec<LeadField>,
    /// The advertiser's X-Wing public key for this form (HPKE over X-Wing, PROTOCOL.md §10.4).
    pub key: crate::crypto::xwing::PublicKey,
}

/// One field of a lead form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadField {
    /// Machine name, such as `email`.
    pub name: String,
    /// What the person is asked.
    pub label: String,
    /// Whether an answer is required.
    pub required: bool,
}

/// A message's identity: who sent it, in which epoch, at which index of their chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MessageRef {
    /// The sender.
    pub sender: MailboxId,
    /// The epoch.
    pub epoch: u64,
    /// The index in the sender's chain.
    pub index: u32,
}

impl Content {
    /// A plain text message.
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text(Text {
            text: text.into(),
            ..Text::default()
        })
    }

    /// The text, if this is a text message.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Text(t) => Some(&t.text),
            _ => None,
        }
    }
}

impl Wire for Content {
    const WHAT: &'static str = "message content";
    const VERSION: u8 = 1;
}

impl Content {
    /// The wire form.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_wire()
    }

    /// Decodes strictly.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::from_wire(bytes)
    }
}
