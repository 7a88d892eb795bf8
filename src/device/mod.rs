//! Several devices per account (PROTOCOL.md §12): the device list the account's identity key
//! signs, and linking a new device through the relay.

mod link;
mod list;

pub use link::{Handover, LINK_LIFETIME, LinkCode, Linking, NewDevice, PendingLink};
pub use list::{Changes, DEVICE_LIST_LABEL, Device, DeviceList, MAX_DEVICES, SignedDeviceList};

#[cfg(test)]
pub(crate) use link::forged as link_forged;
#[cfg(test)]
mod tests;
