//! The product's rules, checked twice: by the sender before a byte is encrypted, and by the
//! recipient on what arrives, so a modified sender gains nothing (PROTOCOL.md §10.3).

use super::content::Content;
use super::post::{Access, Post};
use super::{Client, Connection, MAX_MENTIONS};
use crate::conversation::{Conversation, ConversationId, Kind, Role};
use crate::envelope::MailboxId;
use crate::error::PolicyError;

/// A group post: the poster is an admin or manager, and names at most 20 members, all in the
/// group.
pub(super) fn check_group_post(
    group: &Conversation,
    poster: &MailboxId,
    content: &Content,
) -> Result<(), PolicyError> {
    let role = |m: &MailboxId| group.members().iter().find(|x| x.id == *m).map(|x| x.role);
    match role(poster) {
        Some(Role::Admin | Role::Manager) => {}
        Some(_) => return Err(PolicyError::NotGroupPoster),
        None => return Err(PolicyError::NotGroupMember),
    }
    let Content::Text(text) = content else {
        return Ok(());
    };
    if text.mentions.len() > MAX_MENTIONS {
        return Err(PolicyError::TooManyMentions);
    }
    if !text.mentions.iter().all(|m| role(m).is_some()) {
        return Err(PolicyError::NotGroupMember);
    }
    Ok(())
}

impl Client {
    pub(super) fn is_connected(&self, member: &MailboxId) -> bool {
        self.connections.get(member) == Some(&Connection::Connected)
    }

    /// Why we may message `to` directly, if we may.
    pub(super) fn direct_access(&mut self, to: &MailboxId) -> Result<Access, crate::Error> {
        if self.is_connected(to) {
            return Ok(Access::Connection);
        }
        if let Some(&c) = self.direct.get(to) {
            self.load_conversation(&c)?;
            if self.opened.contains(&c) {
                return Ok(Access::Opened);
            }
        }
        if self.profiles.get(to).is_some_and(|p| p.accepts_anyone()) {
            return Ok(Access::OpenProfile);
        }
        let shared = self.shared_group(to)?.map(Access::GroupMember);
        Ok(shared.ok_or(PolicyError::NotConnected)?)
    }

    /// The other member of `conversation` if it is a direct one.
    pub(super) fn direct_peers(&self, conversation: &ConversationId) -> Vec<MailboxId> {
        (self.conversations.get(conversation))
            .filter(|c| c.kind() == Kind::Direct)
            .map_or_else(Vec::new, Conversation::recipients)
    }

    /// The recipient's check of a decrypted post from `from` in `conversation`; on success it
    /// records what the post opened.
    pub(super) fn admit(
        &mut self,
        conversation: &ConversationId,
        from: &MailboxId,
        post: &Post,
    ) -> Result<(), PolicyError> {
        if matches!(post.content, Content::Read(_)) {
            // The conversation authenticated the sender as a member; receipts need no more.
            return Ok(());
        }
        if from == self.member_id() {
            // Our own other device sent it, under the rules it checked as we would (in a
            // conversation it knows is open, one that opened on it alone).
            if matches!(
                post.access,
                Access::InMail(_) | Access::OpenProfile | Access::Opened
            ) {
                self.opened.insert(*conversation);
            }
            // A direct message carries our contact key: the peer holds it, and is handed
            // the key that replaces it from this device too (PROTOCOL.md §12.6).
            for peer in self.direct_peers(conversation) {
                self.open_to(&peer);
            }
            return Ok(());
        }
        let sponsored_content = matches!(post.content, Content::Sponsored(_));
        if sponsored_content != matches!(post.access, Access::Sponsored(_)) {
            return Err(PolicyError::NotAdvertiser);
        }
        let kind = self.conversations.get(conversation).map(Conversation::kind);
        // Our direct conversation with them, or one they opened at the same time as ours (a
        // direct conversation has exactly the two of us).
        let is_direct = self.direct.get(from) == Some(conversation) || kind == Some(Kind::Direct);
        match &post.access {
            Access::Connection if is_direct && self.is_connected(from) => Ok(()),
            Access::Connection => Err(PolicyError::NotConnected),
            Access::Opened if self.opened.contains(conversation) => Ok(()),
            Access::Opened => Err(PolicyError::NotConnected),
            Access::OpenProfile if is_direct => self.open(
                conversation,
                self.profile.accepts_anyone(),
                PolicyError::NotOpenProfile,
            ),
            Access::InMail(kind) if is_direct => self.admit_inmail(conversation, *kind),
            // Only while both are in the group: leaving it closes the conversation.
            Access::GroupMember(group) if is_direct && self.in_group(group, from) => Ok(()),
            Access::GroupMember(_) => Err(PolicyError::NotGroupMember),
            Access::Group if self.groups.contains(conversation) => {
                let group = self
                    .conversations
                    .get(conversation)
                    .ok_or(PolicyError::NotGroupMember)?;
                check_group_post(group, from, &post.content)
            }
            Access::Multi if kind == Some(Kind::AdHoc) && self.is_connected(from) => Ok(()),
            // The conversation's chains authenticated the sender as one of its participants;
            // only a conversation everyone answers in (we hold a chain of our own) takes it.
            Access::Participant
                if kind == Some(Kind::AdHoc)
                    && self
                        .conversations
                        .get(conversation)
                        .is_some_and(Conversation::has_sender_chain) =>
            {
                Ok(())
            }
            Access::Participant => Err(PolicyError::NotConnected),
            Access::Multi => Err(PolicyError::NotConnected),
            Access::Sponsored(cert) if kind == Some(Kind::AdHoc) => {
                self.admit_sponsored(from, cert)
            }
            Access::Group => Err(PolicyError::NotGroupMember),
            _ => Err(PolicyError::NotConnected),
        }
    }

    /// Whether we and `member` are both in `group` (we were not removed from it).
    fn in_group(&self, group: &ConversationId, member: &MailboxId) -> bool {
        self.groups.contains(group)
            && self
                .conversations
                .get(group)
                .is_some_and(|c| !c.is_removed() && c.members().iter().any(|m| m.id == *member))
    }

    fn open(
        &mut self,
        conversation: &ConversationId,
        allowed: bool,
        otherwise: PolicyError,
    ) -> Result<(), PolicyError> {
        if !allowed {
            return Err(otherwise);
        }
        self.opened.insert(*conversation);
        Ok(())
    }

    /// The relay took the sender's token, so the credit was paid where nobody learns who
    /// paid; a premium-to-premium claim must at least be true of us.
    fn admit_inmail(
        &mut self,
        conversation: &ConversationId,
        kind: crate::platform::InMailKind,
    ) -> Result<(), PolicyError> {
        let free = kind == crate::platform::InMailKind::PremiumToPremium;
        if free && !self.profile.tier.is_premium() {
            return Err(PolicyError::NotConnected);
        }
        self.opened.insert(*conversation);
        Ok(())
    }

    fn admit_sponsored(
        &self,
        from: &MailboxId,
        cert: &crate::platform::AdvertiserCertificate,
    ) -> Result<(), PolicyError> {
        let platform = self.platform.ok_or(PolicyError::NoPlatformKey)?;
        cert.verify(&platform)
            .map_err(|_| PolicyError::NotAdvertiser)?;
        let identity_matches = self
            .contacts
            .get(from)
            .is_some_and(|c| c.identity == cert.identity);
        if cert.mailbox != *from || !identity_matches {
            return Err(PolicyError::NotAdvertiser);
        }
        if !self.settings.sponsored_messages {
            return Err(PolicyError::SponsoredOff);
        }
        Ok(())
    }
}
