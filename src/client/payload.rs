//! What travels inside pairwise sessions, and what a conversation message says.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::DecodeError;
use crate::wire::Wire;

/// A payload carried by a pairwise session (PROTOCOL.md §9.3). Never seen by the relay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Pairwise {
    /// A conversation's key distribution (welcome, sender chain or membership change).
    Distribution(#[serde(with = "serde_bytes")] Vec<u8>),
    /// A fan-out grant, so the receiver can open our multi-recipient first messages.
    Grant(#[serde(with = "serde_bytes")] Vec<u8>),
}

impl Wire for Pairwise {
    const WHAT: &'static str = "pairwise payload";
    const VERSION: u8 = 1;
}

impl Pairwise {
    /// The wire form, in a buffer wiped on drop (distributions carry chain keys).
    pub(crate) fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.to_wire())
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::from_wire(bytes)
    }
}

/// What a conversation message says: a typed, versioned content model.
///
/// Wire form: `0x01 || postcard(Content)` (PROTOCOL.md §9.4), encrypted by the conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Content {
    /// Plain text.
    Text {
        /// The text.
        text: String,
    },
}

impl Wire for Content {
    const WHAT: &'static str = "message content";
    const VERSION: u8 = 1;
}

impl Content {
    /// A text message.
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text { text: text.into() }
    }

    /// The wire form.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_wire()
    }

    /// Decodes strictly.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::from_wire(bytes)
    }
}
