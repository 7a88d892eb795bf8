//! What an account hands a new device (PROTOCOL.md §12.3, the handover's `state`): who the
//! account is and what it has agreed with others, never a session or a conversation key (the
//! new device sets up its own, and reads only what is sent after it joins), nor the platform's
//! certificate of the first device's mailbox (the platform certifies each device's mailbox).

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::state::{ConnectionState, ContactState, SettingsState, connection, contact_state};
use super::{Client, Contact};
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
        Self {
            member: *client.member_id(),
            user: client.user.clone(),
            profile: client.profile,
            settings: SettingsState::of(&client.settings),
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
        client.settings = self.settings.settings();
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::device::DeviceList;
    use crate::identity::Identity;

    fn m(n: u8) -> MailboxId {
        MailboxId([n; 16])
    }

    /// A copy naming members 1 and 2 in every list.
    fn copy() -> (AccountCopy, Identity) {
        let rng = &mut rand::rng();
        let (one, two) = (Identity::generate(rng), Identity::generate(rng));
        let contact = |i: &Identity| ContactState {
            user: b"x".to_vec(),
            identity: *i.public(),
        };
        let list = |n: u8, i: &Identity| {
            let signed = DeviceList::first(m(n), *i.public()).sign(i);
            (m(n), serde_bytes::ByteBuf::from(signed.to_bytes()))
        };
        let copy = AccountCopy {
            member: m(9),
            user: b"ann".to_vec(),
            profile: Profile::FREE,
            settings: SettingsState {
                read_receipts: true,
                typing_indicators: false,
                sponsored_messages: true,
            },
            platform: None,
            contact_key: AccessKey::from_bytes([3; 16]),
            contacts: vec![(m(1), contact(&one)), (m(2), contact(&two))],
            connections: vec![
                (m(1), ConnectionState::Connected),
                (m(2), ConnectionState::Invited),
            ],
            profiles: vec![(m(1), Profile::FREE), (m(2), Profile::FREE)],
            keys: vec![
                (m(1), AccessKey::from_bytes([1; 16])),
                (m(2), AccessKey::from_bytes([2; 16])),
            ],
            holders: vec![m(1), m(2)],
            tokens: Vec::new(),
            lists: vec![list(1, &one), list(2, &two)],
        };
        (copy, one)
    }

    #[test]
    fn a_copy_is_read_only_with_every_list_in_increasing_order() {
        let (copy, _) = copy();
        let padded = copy.to_padded().unwrap();
        let read = AccountCopy::from_padded(&padded).unwrap();
        assert_eq!(read.to_wire(), copy.to_wire());
        let invalid = Err(INVALID);
        let check =
            |copy: &AccountCopy| AccountCopy::from_padded(&copy.to_padded().unwrap()).map(|_| ());
        // Each list, swapped and then repeated: refused.
        let edits: [fn(&mut AccountCopy); 6] = [
            |c| c.contacts.swap(0, 1),
            |c| c.connections.swap(0, 1),
            |c| c.profiles.swap(0, 1),
            |c| c.keys.swap(0, 1),
            |c| c.holders.swap(0, 1),
            |c| c.lists.swap(0, 1),
        ];
        for edit in edits {
            let (mut c, _) = self::copy();
            edit(&mut c);
            assert_eq!(check(&c), invalid);
        }
        let (mut c, _) = self::copy();
        c.holders[1] = c.holders[0];
        assert_eq!(check(&c), invalid);
        let (mut c, _) = self::copy();
        c.contacts[1].0 = c.contacts[0].0;
        assert_eq!(check(&c), invalid);
    }

    #[cfg(feature = "hazmat")]
    #[test]
    fn the_fuzz_hook_reads_a_copy_as_a_new_device_does() {
        let (copy, _) = copy();
        let padded = copy.to_padded().unwrap();
        assert_eq!(reencode_account_copy(&padded).unwrap(), copy.to_wire());
        assert_eq!(
            reencode_account_copy(&copy.to_wire()),
            Err(DecodeError::Invalid { what: "padding" })
        );
    }

    #[test]
    fn a_copy_naming_ourselves_or_a_list_of_no_contact_is_refused() {
        let rng = &mut rand::rng();
        let (copy, one) = copy();
        let mut client = Client::new(rng, b"fresh");
        assert_eq!(
            copy.apply(&mut client, one.public()),
            Err(CryptoError::RosterMismatch.into())
        );
        let (mut copy, _) = self::copy();
        copy.contacts.remove(1);
        assert_eq!(
            copy.apply(
                &mut Client::new(rng, b"fresh"),
                Identity::generate(rng).public()
            ),
            Err(INVALID.into())
        );
        let (copy, _) = self::copy();
        let mut client = Client::new(rng, b"fresh");
        copy.apply(&mut client, Identity::generate(rng).public())
            .unwrap();
        assert_eq!(client.user(), b"ann");
        assert_eq!(client.contacts().unwrap().len(), 2);
        assert!(!client.settings().typing_indicators);
        assert_eq!(
            client.peer_devices.get(&m(2)).map(|l| l.to_bytes()),
            Some(copy.lists[1].1.to_vec())
        );
    }
}
