//! A device joins or leaves its account's list (PROTOCOL.md §12.6): in every conversation we
//! share with its member, a removed device's chains go, and ours is drawn anew at the next
//! message, handed to the devices listed now: a removed device can derive nothing sent after,
//! and an added one reads from then on.

use super::Client;
use crate::conversation::ConversationId;
use crate::device::DeviceList;
use crate::envelope::MailboxId;
use crate::error::Error;

impl Client {
    /// `member`'s list changed from `before` to `after`: in every conversation we share with
    /// the member (every conversation, for our own), the devices it no longer lists are
    /// dropped and, if any device left or joined, our own chain too.
    pub(super) fn devices_changed(
        &mut self,
        member: &MailboxId,
        before: &DeviceList,
        after: &DeviceList,
    ) -> Result<(), Error> {
        let gone: Vec<MailboxId> = (before.devices().iter())
            .map(|d| d.mailbox)
            .filter(|m| after.by_mailbox(m).is_none())
            .collect();
        let joined = (after.devices().iter()).any(|d| before.by_mailbox(&d.mailbox).is_none());
        if gone.is_empty() && !joined {
            return Ok(());
        }
        for id in self.conversations_with(member)? {
            self.load_conversation(&id)?;
            if let Some(c) = self.conversations.get_mut(&id) {
                c.drop_devices(&gone);
            }
        }
        Ok(())
    }

    /// The conversations `member` is in with us: our direct one and our groups, or all of
    /// them for our own member.
    fn conversations_with(&mut self, member: &MailboxId) -> Result<Vec<ConversationId>, Error> {
        if member == self.member_id() {
            self.load_everything()?;
            return Ok(self.conversations.resident_keys().into_iter().collect());
        }
        self.load_member(member)?;
        let mut ids = self.groups_with(member, usize::MAX)?;
        ids.extend(self.direct.get(member).copied());
        Ok(ids)
    }
}
