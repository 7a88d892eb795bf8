//! A device joins or leaves its account's list (PROTOCOL.md §12.6): in every conversation we
//! share with its member, a removed device's chains go, and ours is drawn anew at the next
//! message, handed to the devices listed now: a removed device can derive nothing sent after,
//! and an added one reads from then on. Our sessions with a removed device go too.

use rand::CryptoRng;

use super::content::Content;
use super::post::{Access, Post};
use super::{Client, Outgoing, Unsaved};
use crate::conversation::{ConversationId, Kind};
use crate::device::{DeviceList, SignedDeviceList};
use crate::envelope::MailboxId;
use crate::error::Error;

impl Client {
    /// `member`'s list changed from `before` to `after`: in every conversation we share with
    /// the member (every conversation, for our own), the devices it no longer lists are
    /// dropped and, if any device left or joined, our own chain too (an ad-hoc conversation
    /// keeps its chains: it is closed instead); so are our sessions with the devices gone.
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
        for device in &gone {
            self.load_sessions(device)?;
            self.sessions.remove(device);
        }
        for id in self.conversations_with(member)? {
            self.load_conversation(&id)?;
            if let Some(c) = self.conversations.get_mut(&id) {
                c.drop_devices(&gone);
            }
        }
        Ok(())
    }

    /// Our account is about to stop listing our device `gone`: in each ad-hoc conversation it
    /// is in, every chain comes from a seed it holds, so we tell the others there, in the
    /// conversation itself, the list without it (PROTOCOL.md §12.6); each then sends nothing
    /// more there and takes nothing `gone` writes. A conversation we cannot send in is left
    /// out: removing a lost device does not wait for it.
    ///
    /// # Errors
    /// The store's, loading the conversations.
    pub(super) fn tell_ad_hoc<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        gone: &MailboxId,
        list: &SignedDeviceList,
        now: u64,
    ) -> Result<Vec<Outgoing>, Error> {
        self.load_everything()?;
        let mut ids: Vec<ConversationId> = (self.conversations.resident())
            .filter(|(_, c)| c.kind() == Kind::AdHoc && c.has_sender_chain() && !c.is_removed())
            .filter(|(_, c)| c.peer_devices().iter().any(|a| a.device == *gone))
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        let post = Post {
            access: Access::Participant,
            content: Content::Devices(list.to_bytes()),
        };
        let mut out = Vec::new();
        for id in ids {
            let mut sent = Vec::new();
            if (self.send_in_except(rng, &id, &post, Some(gone), now, &mut sent)).is_ok() {
                out.extend(sent);
            }
        }
        Ok(out)
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

    /// Draws and hands out our chain in up to `most` direct conversations and groups where we
    /// hold none (a device change dropped it, or we never wrote there), to every device of
    /// every member,
    /// our own other devices included. A device just linked to our account then holds every
    /// conversation at once, not only at our next message in each, and reads what anyone
    /// sends there from then on. Call it after taking the new device's bundle
    /// ([`Client::add_contact_devices`] for our own member), until it hands out nothing. A
    /// conversation one of whose members we hold no session with is left for our next
    /// message there (which then fails the same way).
    ///
    /// # Errors
    /// [`crate::UsageError::OutboxFull`]; the store's, loading the conversations.
    pub fn hand_out_chains<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        most: usize,
        now: u64,
    ) -> Result<Unsaved<'_, Vec<Outgoing>>, Error> {
        self.outbox_room()?;
        self.load_everything()?;
        let mut waiting: Vec<ConversationId> = (self.conversations.resident())
            .filter(|(_, c)| matches!(c.kind(), Kind::Direct | Kind::Group))
            .filter(|(_, c)| !c.has_sender_chain() && !c.is_removed())
            .map(|(id, _)| *id)
            .collect();
        waiting.sort_unstable();
        let mut out = Vec::new();
        let mut handed_out = 0;
        for id in waiting {
            if handed_out == most {
                break;
            }
            let Some(conversation) = self.conversations.get_mut(&id) else {
                continue;
            };
            let handoffs = conversation.start_chain_all(rng)?;
            let mut handed = Vec::new();
            if self
                .hand_off(rng, handoffs, Some(&id), now, &mut handed)
                .is_err()
            {
                // Undrawn: the next message there draws and hands out a chain again.
                if let Some(c) = self.conversations.get_mut(&id) {
                    c.redraw_own_chain();
                }
                continue;
            }
            out.extend(handed);
            handed_out += 1;
        }
        Ok(Unsaved::sent(self, out))
    }
}
