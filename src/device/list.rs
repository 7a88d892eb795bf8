//! The device list: which devices speak for an account, signed by the account's identity key.
//! PROTOCOL.md §12.1.
//!
//! Peers send to, and accept from, only the devices of a list that verifies under the identity
//! key they know for the account, and never go back to an older list: the relay that serves
//! the list can neither add a device nor bring back a removed one.

use serde::{Deserialize, Serialize};

use crate::crypto::sign::Signature;
use crate::envelope::MailboxId;
use crate::error::{CryptoError, DecodeError, DeviceError, Error, UsageError};
use crate::identity::{Identity, PublicIdentity};
use crate::wire::Wire;

/// The most devices an account lists.
pub const MAX_DEVICES: usize = 8;

/// Prefix of the message a device list's signature covers.
pub const DEVICE_LIST_LABEL: &[u8] = b"missive/device-list/v1";

const WHAT: &str = "device list";

/// One device of an account: its mailbox and its own identity keys, which its pairwise
/// sessions are set up with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Device {
    /// The account's number for the device, never given to another device of the list's
    /// lineage (see [`DeviceList::next_id`]).
    pub id: u32,
    /// Where the device receives.
    pub mailbox: MailboxId,
    /// The device's identity keys.
    pub identity: PublicIdentity,
}

/// An account's devices at one version: 1 to [`MAX_DEVICES`] devices in increasing id order,
/// no mailbox or identity listed twice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceList {
    pub(super) version: u64,
    /// The id the next device added gets: above every id listed now or before.
    pub(super) next_id: u32,
    pub(super) devices: Vec<Device>,
}

impl DeviceList {
    /// Version 1 of an account's list: its first device, id 1.
    pub fn first(mailbox: MailboxId, identity: PublicIdentity) -> Self {
        Self {
            version: 1,
            next_id: 2,
            devices: vec![Device {
                id: 1,
                mailbox,
                identity,
            }],
        }
    }

    /// The list's version: every change raises it by one.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The id the next device added gets.
    pub fn next_id(&self) -> u32 {
        self.next_id
    }

    /// The devices, in id order.
    pub fn devices(&self) -> &[Device] {
        &self.devices
    }

    /// The device that receives at `mailbox`, if listed.
    pub fn by_mailbox(&self, mailbox: &MailboxId) -> Option<&Device> {
        self.devices.iter().find(|d| d.mailbox == *mailbox)
    }

    /// The next version, with a device added.
    ///
    /// # Errors
    /// [`UsageError::TooManyRecipients`] when the list is full; [`UsageError::InvalidRoster`]
    /// when the mailbox or identity is listed already.
    pub fn with_device(
        &self,
        mailbox: MailboxId,
        identity: PublicIdentity,
    ) -> Result<(Self, Device), Error> {
        if self.devices.len() >= MAX_DEVICES {
            return Err(UsageError::TooManyRecipients { max: MAX_DEVICES }.into());
        }
        let id = self.next_id;
        let device = Device {
            id,
            mailbox,
            identity,
        };
        let mut devices = self.devices.clone();
        devices.push(device);
        let next = Self {
            version: self
                .version
                .checked_add(1)
                .ok_or(UsageError::MessageLimitReached)?,
            next_id: id.checked_add(1).ok_or(UsageError::MessageLimitReached)?,
            devices,
        };
        next.check().map_err(|_| UsageError::InvalidRoster)?;
        Ok((next, device))
    }

    /// The next version, without device `id`.
    ///
    /// # Errors
    /// [`DeviceError::UnknownDevice`] if it is not listed; [`UsageError::InvalidRoster`] if it
    /// is the only device (an account keeps at least one).
    pub fn without(&self, id: u32) -> Result<Self, Error> {
        if !self.devices.iter().any(|d| d.id == id) {
            return Err(DeviceError::UnknownDevice.into());
        }
        if self.devices.len() == 1 {
            return Err(UsageError::InvalidRoster.into());
        }
        Ok(Self {
            version: self
                .version
                .checked_add(1)
                .ok_or(UsageError::MessageLimitReached)?,
            next_id: self.next_id,
            devices: self
                .devices
                .iter()
                .filter(|d| d.id != id)
                .copied()
                .collect(),
        })
    }

    /// What `newer` added and removed, compared with this list (a device is the same one
    /// when its id, mailbox and keys all are).
    pub fn changes(&self, newer: &Self) -> Changes {
        let listed = |list: &Self, d: &Device| list.devices.iter().any(|o| o == d);
        Changes {
            added: newer
                .devices
                .iter()
                .filter(|d| !listed(self, d))
                .copied()
                .collect(),
            removed: self
                .devices
                .iter()
                .filter(|d| !listed(newer, d))
                .copied()
                .collect(),
        }
    }

    /// Signs this list as `account`'s.
    pub fn sign(&self, account: &Identity) -> SignedDeviceList {
        let signature = account.sign(&signature_message(account.public(), self));
        SignedDeviceList {
            account: *account.public(),
            list: self.clone(),
            signature,
        }
    }

    fn check(&self) -> Result<(), DecodeError> {
        let invalid = DecodeError::Invalid { what: WHAT };
        if self.version == 0 || self.devices.is_empty() || self.devices.len() > MAX_DEVICES {
            return Err(invalid);
        }
        if !self.devices.windows(2).all(|w| w[0].id < w[1].id) {
            return Err(DecodeError::NonCanonical { what: WHAT });
        }
        if self
            .devices
            .iter()
            .any(|d| d.id == 0 || d.id >= self.next_id)
        {
            return Err(invalid);
        }
        for (i, d) in self.devices.iter().enumerate() {
            let later = &self.devices[i + 1..];
            if later
                .iter()
                .any(|o| o.mailbox == d.mailbox || o.identity == d.identity)
            {
                return Err(invalid);
            }
        }
        Ok(())
    }
}

/// How a list differs from the one before it, for "X added a device".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Devices listed now and not before (a device whose keys changed counts as both).
    pub added: Vec<Device>,
    /// Devices listed before and not now.
    pub removed: Vec<Device>,
}

/// A device list as published, with the account's identity and its signature; not to be
/// used until [`SignedDeviceList::verify`] accepts it.
///
/// Wire form: `0x01 || postcard(account, list, signature)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedDeviceList {
    pub(super) account: PublicIdentity,
    list: DeviceList,
    signature: Signature,
}

impl Wire for SignedDeviceList {
    const WHAT: &'static str = WHAT;
    const VERSION: u8 = 1;
}

/// `DEVICE_LIST_LABEL || wire(account) || postcard(list)`.
fn signature_message(account: &PublicIdentity, list: &DeviceList) -> Vec<u8> {
    let mut out = DEVICE_LIST_LABEL.to_vec();
    out.extend_from_slice(&account.to_wire());
    crate::wire::encode_into(list, &mut out);
    out
}

impl SignedDeviceList {
    /// Decodes the wire form; the list must be well formed (ids increasing, no mailbox or
    /// identity twice, 1 to [`MAX_DEVICES`] devices).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let signed = Self::from_wire(bytes)?;
        signed.list.check()?;
        Ok(signed)
    }

    /// The wire form.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_wire()
    }

    /// The list without checking its signature: for a list this client signed or verified
    /// before.
    pub(crate) fn unverified(&self) -> &DeviceList {
        &self.list
    }

    /// The identity the list claims to be signed by (unchecked until verified).
    pub fn account(&self) -> &PublicIdentity {
        &self.account
    }

    /// The list, if signed by `account` and newer than version `seen` (the newest this
    /// reader has accepted for the account, if any).
    ///
    /// # Errors
    /// [`DeviceError::WrongAccount`] if it claims another identity;
    /// [`CryptoError::BadSignature`] if the signature does not verify;
    /// [`DeviceError::RolledBack`] if its version is not above `seen`.
    pub fn verify(
        &self,
        account: &PublicIdentity,
        seen: Option<u64>,
    ) -> Result<&DeviceList, Error> {
        if self.account != *account {
            return Err(DeviceError::WrongAccount.into());
        }
        account
            .verify(&signature_message(account, &self.list), &self.signature)
            .map_err(|_| CryptoError::BadSignature)?;
        if let Some(seen) = seen
            && self.list.version <= seen
        {
            return Err(DeviceError::RolledBack {
                seen,
                got: self.list.version,
            }
            .into());
        }
        Ok(&self.list)
    }
}
