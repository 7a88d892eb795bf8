//! Where a member's messages go (PROTOCOL.md §12.6): every device its newest verified list
//! names (its first device alone while we hold no list), and, for our own member, our other
//! devices.

use super::Client;
use crate::conversation::DeviceOf;
use crate::envelope::MailboxId;
use crate::error::{Error, UsageError};
use crate::identity::PublicIdentity;

/// A device we deliver to, with the identity its sessions and sealed messages use (unknown
/// for someone who is not a contact: a conversation's message still reaches them).
#[derive(Clone, Copy, Debug)]
pub(super) struct Target {
    pub(super) to: DeviceOf,
    pub(super) identity: Option<PublicIdentity>,
}

impl Client {
    /// The devices of `member` we address: ours but this one for our own member.
    ///
    /// # Errors
    /// The store's, reading the member's record.
    pub(super) fn devices_of(&mut self, member: &MailboxId) -> Result<Vec<Target>, Error> {
        let target = |device: &crate::device::Device| Target {
            to: DeviceOf {
                member: *member,
                device: device.mailbox,
            },
            identity: Some(device.identity),
        };
        if member == self.member_id() {
            let me = *self.mailbox_id();
            return Ok((self.device_list().into_iter())
                .flat_map(|l| l.unverified().devices())
                .filter(|d| d.mailbox != me)
                .map(target)
                .collect());
        }
        self.load_peer(member)?;
        if let Some(list) = self.peer_devices.get(member) {
            return Ok(list.unverified().devices().iter().map(target).collect());
        }
        Ok(vec![Target {
            to: DeviceOf::first(*member),
            identity: self.contacts.get(member).map(|c| c.identity),
        }])
    }

    /// Every device of every member in `members` (our own other devices with our member),
    /// each once, in member order.
    ///
    /// # Errors
    /// The store's, reading a member's record.
    pub(super) fn devices_of_all(&mut self, members: &[MailboxId]) -> Result<Vec<Target>, Error> {
        let mut out = Vec::with_capacity(members.len());
        for m in members {
            out.extend(self.devices_of(m)?);
        }
        Ok(out)
    }

    /// The devices of `member` we can set up keys with (a session and a known identity), in
    /// its list's order; a paid send reaches the first of them alone (PROTOCOL.md §12.6).
    pub(super) fn reachable(&mut self, member: &MailboxId) -> Result<Vec<Target>, Error> {
        let mut targets = self.devices_of(member)?;
        for t in &targets {
            self.load_sessions(&t.to.device)?;
        }
        targets.retain(|t| t.identity.is_some() && self.sessions.contains_key(&t.to.device));
        Ok(targets)
    }

    /// Whether the account of `a` still lists its device, as far as we know: our own list for
    /// our own devices, the newest list we hold of a contact's; a device of a member whose list
    /// we do not hold is taken as listed.
    ///
    /// # Errors
    /// The store's, reading the member's record.
    pub(super) fn still_listed(&mut self, a: &DeviceOf) -> Result<bool, Error> {
        if a.member == *self.member_id() {
            return Ok(self.is_own_device(&a.device));
        }
        self.load_peer(&a.member)?;
        Ok(match self.peer_devices.get(&a.member) {
            Some(list) => (list.unverified().devices().iter()).any(|d| d.mailbox == a.device),
            None => true,
        })
    }

    /// Refuses to send in an ad-hoc conversation to `devices` if its account no longer lists
    /// one of them: every chain there comes from one seed that device holds, so nothing sent
    /// in it could be kept from it (PROTOCOL.md §12.6). A new conversation is the way on.
    ///
    /// # Errors
    /// [`UsageError::NotPermitted`] for a device removed; the store's.
    pub(super) fn none_removed(&mut self, devices: &[DeviceOf]) -> Result<(), Error> {
        for a in devices {
            if !self.still_listed(a)? {
                return Err(UsageError::NotPermitted.into());
            }
        }
        Ok(())
    }
}
