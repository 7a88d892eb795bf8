//! An account's devices through the boundary: linking a new device by its code, removing
//! one, the account's list as other devices change it, and a contact's devices (PROTOCOL.md
//! §12). The app carries the code (a QR code) and does the directory's HTTP.

use missive::device;
use missive::relay_api::DeviceDirectory;

use crate::client::{MissiveClient, saved};
use crate::error::MissiveError;
use crate::types::{Outgoing, mailbox, outgoing};

/// One device of an account: its number in the account's list, its mailbox (16 bytes) and
/// identity (65 bytes).
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Device {
    pub id: u32,
    pub mailbox: Vec<u8>,
    pub identity: Vec<u8>,
}

impl From<&device::Device> for Device {
    fn from(d: &device::Device) -> Self {
        Self {
            id: d.id,
            mailbox: d.mailbox.0.to_vec(),
            identity: d.identity.to_bytes().to_vec(),
        }
    }
}

fn devices(list: &[device::Device]) -> Vec<Device> {
    list.iter().map(Device::from).collect()
}

/// How a device list differs from the one before (for "X added a device").
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct DeviceChanges {
    pub added: Vec<Device>,
    pub removed: Vec<Device>,
}

impl From<&device::Changes> for DeviceChanges {
    fn from(c: &device::Changes) -> Self {
        Self {
            added: devices(&c.added),
            removed: devices(&c.removed),
        }
    }
}

/// A device linked: `PUT` `list` to `devices_path(user)`, then hand the relay `handover`.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct LinkedDevice {
    pub list: Vec<u8>,
    pub handover: Outgoing,
}

/// A device removed: `PUT` `list` to `devices_path(user)`, then hand the relay `notices`.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct RemovedDevice {
    pub list: Vec<u8>,
    pub notices: Vec<Outgoing>,
}

#[uniffi::export]
impl MissiveClient {
    /// This device's number in its account's list (1 for the first device).
    pub fn device_id(&self) -> Result<u32, MissiveError> {
        self.with(|c, _| Ok(c.device_id()))
    }

    /// The account's member id (16 bytes): the first device's mailbox, which contacts know.
    pub fn member_id(&self) -> Result<Vec<u8>, MissiveError> {
        self.with(|c, _| Ok(c.member_id().0.to_vec()))
    }

    /// The account's identity (65 bytes): the first device's, which signs the device list.
    pub fn account_identity(&self) -> Result<Vec<u8>, MissiveError> {
        self.with(|c, _| Ok(c.account_identity().to_bytes().to_vec()))
    }

    /// The account's devices, in id order (this device alone until one is linked).
    pub fn devices(&self) -> Result<Vec<Device>, MissiveError> {
        self.with(|c, _| {
            Ok(match c.device_list() {
                // Our own list, signed by this account: checking it again costs one
                // signature and needs no crate-private access.
                Some(list) => devices(list.verify(c.account_identity(), None)?.devices()),
                None => vec![Device {
                    id: c.device_id(),
                    mailbox: c.mailbox_id().0.to_vec(),
                    identity: c.identity().to_bytes().to_vec(),
                }],
            })
        })
    }

    /// A link code for a new device of this account (what a QR code shows): usable once,
    /// for ten minutes. It holds a one-time secret: show it, never log or send it. Run
    /// `access_sync` next, so the new device's answer may reach this one.
    pub fn link_code(&self, now: u64) -> Result<Vec<u8>, MissiveError> {
        self.with(|c, store| {
            let code = c.link_code(&mut rand::rng(), now)?;
            c.save_to(&mut rand::rng(), store.as_mut())?;
            Ok(code.to_vec())
        })
    }

    /// Answers a link code shown by another device of this user's account (only a fresh
    /// client may): the request to hand the relay. Run `access_sync` first; the handover
    /// arrives as a delivery, and `receive` reports `Event.Linked`.
    pub fn answer_link(&self, code: Vec<u8>, now: u64) -> Result<Vec<Outgoing>, MissiveError> {
        self.with(|c, store| {
            let sent = saved(c.answer_link(&mut rand::rng(), &code, now)?, store)?;
            Ok(outgoing(std::slice::from_ref(&sent)))
        })
    }

    /// Links the device that answered our code (after `Event.LinkAnswered`, once the user
    /// confirmed it): the new list and the handover of the account.
    pub fn link_device(&self, now: u64) -> Result<LinkedDevice, MissiveError> {
        self.with(|c, store| {
            let linked = saved(c.link_device(&mut rand::rng(), now)?, store)?;
            Ok(LinkedDevice {
                list: linked.list,
                handover: (&linked.handover).into(),
            })
        })
    }

    /// Removes device `id` from the account (a lost phone; never this device).
    pub fn remove_device(&self, id: u32, now: u64) -> Result<RemovedDevice, MissiveError> {
        self.with(|c, store| {
            let removed = saved(c.remove_device(&mut rand::rng(), id, now)?, store)?;
            Ok(RemovedDevice {
                list: removed.list,
                notices: outgoing(&removed.notices),
            })
        })
    }

    /// Takes a newer list of our account (another device changed it): what changed. Raises
    /// `Device` / `NotListed` when it no longer lists this device.
    pub fn update_device_list(&self, list: Vec<u8>) -> Result<DeviceChanges, MissiveError> {
        self.with(|c, store| Ok((&saved(c.update_device_list(&list)?, store)?).into()))
    }

    /// Takes the relay's answer to `GET devices_path(user)` for contact `member` (after
    /// `Event.DevicesToFetch`, or to look): sessions with each listed device, checked
    /// against the account's identity. What changed.
    pub fn add_contact_devices(
        &self,
        member: Vec<u8>,
        directory: Vec<u8>,
    ) -> Result<DeviceChanges, MissiveError> {
        let member = mailbox(&member)?;
        let found = DeviceDirectory::from_bytes(&directory)?;
        self.with(|c, store| {
            let changes = c.add_contact_devices(&mut rand::rng(), &member, &found)?;
            Ok((&saved(changes, store)?).into())
        })
    }

    /// Contact `member`'s devices as their newest verified list names them.
    pub fn contact_devices(&self, member: Vec<u8>) -> Result<Vec<Device>, MissiveError> {
        let member = mailbox(&member)?;
        self.with(|c, _| Ok(devices(&c.contact_devices(&member)?)))
    }
}
