//! What an account hands a new device (PROTOCOL.md §12.3, the handover's `state`): who the
//! account is and what it has agreed with others, never a session or a conversation key (the
//! new device sets up its own, and reads only what is sent after it joins), nor the platform's
//! certificate of the first device's mailbox (the platform certifies each device's mailbox).

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::state::{ConnectionState, ContactState, SettingsState, connection, contact_state};
use super::{Client, Contact, Settings};
use crate::access::AccessKey;
use crate::device::SignedDeviceList;
use crate::envelope::{MailboxId, padding};
use crate::error::{CryptoError, DecodeError, Error};
use crate::identity::PublicIdentity;
use crate::platform::{PlatformKey, Profile};
use crate::token::Token;
use crate::wire::Wire;

const INVALID: DecodeError = DecodeError::Invalid {
    what: "account copy",
};

/// The account's state for a new device. Every list is in strictly increasing mailbox order.
#[derive(Serialize, Deserialize)]
pub(super) struct AccountCopy {
    /// The account's id in conversations.
    member: MailboxId,
    #[serde(with = "serde_bytes")]
    user: Vec<u8>,
    profile: Profile,
    settings: SettingsState,
    platform: Option<PlatformKey>,
    /// The contact key the account hands out, which every device registers.
    contact_key: AccessKey,
    contacts: Vec<(MailboxId, ContactState)>,
    connections: Vec<(MailboxId, ConnectionState)>,
    profiles: Vec<(MailboxId, Profile)>,
    /// The contact keys others gave the account.
    keys: Vec<(MailboxId, AccessKey)>,
    /// Who holds the account's contact key.
    holders: Vec<MailboxId>,
    /// Unspent tokens given to the new device (the old one no longer holds them).
    tokens: Vec<Token>,
    /// Contacts' device lists as verified, so the new device refuses older ones too.
    lists: Vec<(MailboxId, serde_bytes::ByteBuf)>,
}

impl Wire for AccountCopy {
    const WHAT: &'static str = "account copy";
    const VERSION: u8 = 1;
}

impl AccountCopy {
    /// `client`'s account, with `tokens` for the new device; every member's record must be in
    /// memory.
    pub(super) fn of(client: &Client, tokens: Vec<Token>) -> Self {
        let s = &client.settings;
        Self {
            member: *client.member_id(),
            user: client.user.clone(),
            profile: client.profile,
            settings: SettingsState {
                read_receipts: s.read_receipts,
                typing_indicators: s.typing_indicators,
                sponsored_messages: s.sponsored_messages,
            },
            platform: client.platform,
            contact_key: client.access.contact.clone(),
            contacts: (client.contacts.resident())
                .map(|(m, c)| (*m, contact_state(c)))
                .collect(),
            connections: (client.connections.resident())
                .filter_map(|(m, c)| Some((*m, super::state::connection_state(c)?)))
                .collect(),
            profiles: client.profiles.resident().map(|(m, p)| (*m, *p)).collect(),
            keys: (client.access.peers.resident())
                .map(|(m, k)| (*m, k.clone()))
                .collect(),
            holders: client.access.holders.resident().copied().collect(),
            tokens,
            lists: (client.peer_devices.resident())
                .map(|(m, l)| (*m, serde_bytes::ByteBuf::from(l.to_bytes())))
                .collect(),
        }
    }

    /// Padded (PROTOCOL.md §7.3), so the handover's size says little about the account.
    pub(super) fn to_padded(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        let plain = Zeroizing::new(self.to_wire());
        let mut padded = Zeroizing::new(Vec::new());
        padding::pad_into(&plain, &mut padded)?;
        Ok(padded)
    }

    pub(super) fn from_padded(padded: &[u8]) -> Result<Self, DecodeError> {
        let copy = Self::from_wire(padding::unpad(padded)?)?;
        let increasing = |ids: &mut dyn Iterator<Item = &MailboxId>| {
            let ids: Vec<&MailboxId> = ids.collect();
            ids.windows(2).all(|w| w[0] < w[1])
        };
        if !(increasing(&mut copy.contacts.iter().map(|(m, _)| m))
            && increasing(&mut copy.connections.iter().map(|(m, _)| m))
            && increasing(&mut copy.profiles.iter().map(|(m, _)| m))
            && increasing(&mut copy.keys.iter().map(|(m, _)| m))
            && increasing(&mut copy.holders.iter())
            && increasing(&mut copy.lists.iter().map(|(m, _)| m)))
        {
            return Err(INVALID);
        }
        Ok(copy)
    }

    pub(super) fn member(&self) -> MailboxId {
        self.member
    }

    /// Makes `client` (a fresh one) a device of this account, whose identity is `account`.
    pub(super) fn apply(&self, client: &mut Client, account: &PublicIdentity) -> Result<(), Error> {
        // A contact with our own account's identity would be ourselves.
        if self.contacts.iter().any(|(_, c)| c.identity == *account) {
            return Err(CryptoError::RosterMismatch.into());
        }
        let mut lists = Vec::with_capacity(self.lists.len());
        for (m, list) in &self.lists {
            if !self.contacts.iter().any(|(c, _)| c == m) {
                return Err(INVALID.into());
            }
            lists.push((*m, SignedDeviceList::from_bytes(list)?));
        }
        let members = (self.contacts.iter().map(|(m, _)| m))
            .chain(self.connections.iter().map(|(m, _)| m))
            .chain(self.profiles.iter().map(|(m, _)| m))
            .chain(self.keys.iter().map(|(m, _)| m))
            .chain(self.holders.iter());
        for m in members {
            client.load_member(m)?;
        }
        client.user = self.user.clone();
        client.profile = self.profile;
        client.settings = Settings {
            read_receipts: self.settings.read_receipts,
            typing_indicators: self.settings.typing_indicators,
            sponsored_messages: self.settings.sponsored_messages,
        };
        client.platform = self.platform;
        client.access.contact = self.contact_key.clone();
        for (m, c) in &self.contacts {
            let contact = Contact {
                user: c.user.clone(),
                mailbox: *m,
                identity: c.identity,
            };
            client.contacts.insert(*m, contact);
        }
        for (m, c) in &self.connections {
            client.connections.insert(*m, connection(c));
        }
        for (m, p) in &self.profiles {
            client.profiles.insert(*m, *p);
        }
        for (m, k) in &self.keys {
            client.access.peers.insert(*m, k.clone());
        }
        for m in &self.holders {
            client.access.holders.insert(*m);
        }
        client.access.tokens.extend(self.tokens.iter().cloned());
        for (m, list) in lists {
            client.peer_devices.insert(m, list);
        }
        Ok(())
    }
}

/// Decodes a padded account copy as a new device does and encodes it again: the hook the
/// fuzz target drives (the copy is otherwise reached only inside an authenticated handover).
///
/// # Errors
/// The decoding error a new device would meet.
#[cfg(feature = "hazmat")]
#[doc(hidden)]
pub fn reencode_account_copy(padded: &[u8]) -> Result<Vec<u8>, DecodeError> {
    Ok(AccountCopy::from_padded(padded)?.to_wire())
}
