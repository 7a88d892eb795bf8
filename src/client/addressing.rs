//! Where a member's messages go (PROTOCOL.md §12.6): every device its newest verified list
//! names (its first device alone while we hold no list), and, for our own member, our other
//! devices.

use super::Client;
use crate::conversation::DeviceOf;
use crate::envelope::MailboxId;
use crate::error::Error;
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
}
