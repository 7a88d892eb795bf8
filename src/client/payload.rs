//! What travels inside pairwise sessions, and what a conversation message says.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::access::GroupSecret;
use super::settings_sync::Stamp;
use super::state::SettingsState;
use crate::access::AccessKey;
use crate::conversation::ConversationId;
use crate::envelope::MailboxId;
use crate::error::DecodeError;
use crate::wire::Wire;

/// A payload carried by a pairwise session (PROTOCOL.md §9.3). Never seen by the relay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Pairwise {
    /// A conversation's key distribution (welcome, sender chain or membership change).
    Distribution(#[serde(with = "serde_bytes")] Vec<u8>),
    /// A fan-out grant, so the receiver can open our multi-recipient first messages.
    Grant(#[serde(with = "serde_bytes")] Vec<u8>),
    /// A connection invitation, with an optional note.
    Invite {
        /// The note shown with the invitation.
        note: Option<String>,
    },
    /// The invitation was accepted: the two are connected.
    Accept,
    /// The invitation was declined.
    Decline,
    /// The inviter withdrew the invitation.
    Withdraw,
    /// The connection was removed.
    Remove,
    /// Our contact key changed (it travels in the sealed header, like with every message).
    KeyUpdate,
    /// A group epoch's access secret, from the admin who started the epoch.
    GroupAccess {
        /// The group.
        group: ConversationId,
        /// The epoch it is for.
        epoch: u64,
        /// The secret every member derives every member's access key from (wiped on drop).
        secret: GroupSecret,
    },
    /// To a member an admin removed from a group: the group's epoch `epoch` goes on without it.
    Removed {
        /// The group.
        group: ConversationId,
        /// The first epoch without the receiver.
        epoch: u64,
    },
    /// To our own other devices: the account's contact key, which this device replaced (each
    /// device registers its own key derived from it, PROTOCOL.md §11.1).
    ContactKey(AccessKey),
    /// To our own other devices: this device took a connection step with member `with`, so
    /// each of them stands with `with` as this one does.
    Did {
        /// The other member.
        with: MailboxId,
        /// The step.
        step: Step,
        /// The contact key `with` gave us, if we hold one (a paid invitation that carried it
        /// reached only one of our devices).
        key: Option<AccessKey>,
    },
    /// To our own other devices: the account's switches as this device changed them.
    Settings {
        /// The switches.
        settings: SettingsState,
        /// When and where they were changed; the highest stamp wins on every device.
        stamp: Stamp,
    },
}

/// A connection step one of our devices took (PROTOCOL.md §9.3, §12.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Step {
    /// Invited them.
    Invite,
    /// Accepted their invitation (or invited them back).
    Accept,
    /// Declined their invitation.
    Decline,
    /// Withdrew our invitation.
    Withdraw,
    /// Removed the connection.
    Remove,
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
