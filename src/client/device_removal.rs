//! A device leaves its account's list (PROTOCOL.md §12.6): in every conversation we share with
//! its member, its chains go and ours is drawn anew at the next message, handed only to the
//! devices listed now, so it can derive nothing sent after.

use super::Client;
use crate::conversation::ConversationId;
use crate::device::DeviceList;
use crate::envelope::MailboxId;
use crate::error::Error;

impl Client {
    /// The devices `before` listed for `member` that `after` no longer does, dropped from
    /// every conversation we share with the member (every conversation, for our own).
    pub(super) fn devices_left(
        &mut self,
        member: &MailboxId,
        before: &DeviceList,
        after: &DeviceList,
    ) -> Result<(), Error> {
        let gone: Vec<MailboxId> = (before.devices().iter())
            .map(|d| d.mailbox)
            .filter(|m| after.by_mailbox(m).is_none())
            .collect();
        if gone.is_empty() {
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
