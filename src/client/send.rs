//! Sending: every product kind ends in a conversation message, after its rules are checked and
//! before a byte is encrypted.

use rand::CryptoRng;

use super::access::GroupSecret;
use super::addressing::Target;
use super::content::{Content, MessageRef, Sponsored};
use super::payload::Pairwise;
use super::post::{Access, FirstPost, Post};
use super::sealed::{self, SealedContent};
use super::sessions::PeerSessions;
use super::{Client, ENVELOPE_LIFETIME, MAX_RECIPIENTS, Outgoing, Unsaved};
use crate::access::Credential;
use crate::conversation::{
    Conversation, ConversationId, DeviceOf, FanOut, KeyDistribution, Kind, Member, Role,
};
use crate::crypto::sign::VerifyingKey;
use crate::envelope::{Envelope, MailboxId};
use crate::error::{CryptoError, Error, PolicyError, UsageError};
use crate::platform::InMailKind;
use crate::session::{Sealing, Session};
use crate::token::TokenKind;

impl Client {
    /// Sends `content` to one member in our one-to-one conversation with them, creating it on
    /// first use. Allowed between connections, to a premium member with Open Profile, between
    /// members of a shared group, and in a conversation an InMail opened.
    ///
    /// # Errors
    /// [`PolicyError::NotConnected`] otherwise (use [`Client::send_inmail`]).
    pub fn send<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        to: &MailboxId,
        content: &Content,
        now: u64,
    ) -> Result<Unsaved<'_, Vec<Outgoing>>, Error> {
        self.outbox_room()?;
        self.check_plain_content(content)?;
        self.load_member(to)?;
        let access = self.direct_access(to)?;
        let post = Post {
            access,
            content: content.clone(),
        };
        // Writing to someone lets them write back: our contact key goes with it.
        let out = self.opening_to(to, |c| c.send_direct(rng, to, post, now))?;
        Ok(Unsaved::sent(self, out))
    }

    /// Opens a conversation with a non-connection by InMail. It spends one credit token, or
    /// a premium token when both sides are premium (as the app set `to`'s profile); the relay
    /// takes it without learning who spent it.
    ///
    /// # Errors
    /// [`PolicyError::NoToken`] when no token of that kind is left.
    pub fn send_inmail<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        to: &MailboxId,
        content: &Content,
        now: u64,
    ) -> Result<Unsaved<'_, Vec<Outgoing>>, Error> {
        self.outbox_room()?;
        self.check_plain_content(content)?;
        self.load_member(to)?;
        let premium_to_premium = self.profile.tier.is_premium()
            && self.profiles.get(to).is_some_and(|p| p.tier.is_premium());
        let (kind, token) = if premium_to_premium {
            (InMailKind::PremiumToPremium, TokenKind::Premium)
        } else {
            (InMailKind::Credit, TokenKind::Credit)
        };
        let post = Post {
            access: Access::InMail(kind),
            content: content.clone(),
        };
        let out = self.opening_to(to, |c| {
            c.paying(token, |c| c.send_direct(rng, to, post, now))
        })?;
        Ok(Unsaved::sent(self, out))
    }

    /// One message to up to 50 connections, readable only by them: an ad-hoc conversation
    /// opened by a single first message (the body once, 56 bytes per recipient).
    pub fn send_multi<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        to: &[MailboxId],
        content: &Content,
        now: u64,
    ) -> Result<Unsaved<'_, (ConversationId, Vec<Outgoing>)>, Error> {
        self.outbox_room()?;
        self.check_plain_content(content)?;
        if to.len() > MAX_RECIPIENTS {
            return Err(UsageError::TooManyRecipients {
                max: MAX_RECIPIENTS,
            }
            .into());
        }
        for m in to {
            self.load_member(m)?;
        }
        if !to.iter().all(|m| self.is_connected(m)) {
            return Err(PolicyError::NotAllConnections.into());
        }
        let post = Post {
            access: Access::Multi,
            content: content.clone(),
        };
        let sent = self.undone_on_error(to, |c| c.fan_out(rng, to, &post, true, now))?;
        Ok(Unsaved::sent(self, sent))
    }

    /// An advertiser's sponsored message to a targeted audience of contacts: one first message
    /// per 50 recipients. Recipients who switched sponsored messages off will not show it.
    pub fn send_sponsored<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        audience: &[MailboxId],
        sponsored: &Sponsored,
        now: u64,
    ) -> Result<Unsaved<'_, Vec<Outgoing>>, Error> {
        self.outbox_room()?;
        let certificate = self.advertiser.clone().ok_or(PolicyError::NotAdvertiser)?;
        for m in audience {
            self.load_member(m)?;
        }
        let post = Post {
            access: Access::Sponsored(Box::new(certificate)),
            content: Content::Sponsored(sponsored.clone()),
        };
        // Every envelope spends a sponsored token; our contact key goes with it, so the
        // audience can answer lead forms.
        let out = self.undone_on_error(audience, |c| {
            c.paying(TokenKind::Sponsored, |c| {
                let mut out = Vec::new();
                for chunk in audience.chunks(MAX_RECIPIENTS) {
                    chunk.iter().for_each(|m| c.open_to(m));
                    out.extend(c.fan_out(rng, chunk, &post, false, now)?.1);
                }
                Ok(out)
            })
        })?;
        Ok(Unsaved::sent(self, out))
    }

    /// Creates a group of us (its admin) and `members` (contacts, each with a role), handing
    /// each their keys and the epoch's access secret. Welcoming someone who gave us no key (not
    /// a connection) spends an invitation token.
    pub fn create_group<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        members: &[(MailboxId, Role)],
        now: u64,
    ) -> Result<Unsaved<'_, (ConversationId, Vec<Outgoing>)>, Error> {
        self.outbox_room()?;
        let created =
            self.with_tokens(TokenKind::Invite, |c| c.create_group_now(rng, members, now))?;
        Ok(Unsaved::sent(self, created))
    }

    fn create_group_now<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        members: &[(MailboxId, Role)],
        now: u64,
    ) -> Result<(ConversationId, Vec<Outgoing>), Error> {
        let others = self.roster_members(members)?;
        self.check_welcomes(others.iter().map(|m| &m.id))?;
        let me = Member::new(*self.member_id(), Role::Admin, *self.account_identity());
        let device = *self.mailbox_id();
        let (conversation, handoffs) =
            Conversation::create_for(rng, Kind::Group, me, device, others)?;
        let id = conversation.id();
        self.load_conversation(&id)?;
        self.conversations.insert(id, conversation);
        self.groups.insert(id);
        let mut out = Vec::new();
        let sent = self
            .hand_off(rng, handoffs, Some(&id), now, &mut out)
            .and_then(|()| self.hand_out_group_secret(rng, &id, now, &mut out));
        if let Err(e) = sent {
            // Nobody got a welcome: no group.
            self.conversations.remove(&id);
            self.groups.remove(&id);
            return Err(e);
        }
        Ok((id, out))
    }

    /// Contacts as roster members, with the identities our sessions are authenticated with.
    fn roster_members(&mut self, list: &[(MailboxId, Role)]) -> Result<Vec<Member>, Error> {
        for (m, _) in list {
            self.load_member(m)?;
        }
        list.iter()
            .map(|(m, role)| {
                let c = self.contacts.get(m).ok_or(UsageError::UnknownRecipient)?;
                Ok(Member::new(c.mailbox, *role, c.identity))
            })
            .collect()
    }

    /// Before a group changes: every new member who gave us no key takes an invitation token,
    /// and there must be enough of them, or the change would leave members without a welcome.
    fn check_welcomes<'a>(
        &self,
        new_members: impl Iterator<Item = &'a MailboxId>,
    ) -> Result<(), Error> {
        let without_key = new_members
            .filter(|m| !self.access.peers.contains_key(m))
            .count();
        if without_key > self.tokens(TokenKind::Invite) {
            return Err(PolicyError::NoToken.into());
        }
        Ok(())
    }

    /// A fresh access secret for the group's new epoch, sent to every other member before we
    /// switch to it (members who stay are reached with the previous epoch's keys).
    fn hand_out_group_secret<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        group: &ConversationId,
        now: u64,
        out: &mut Vec<Outgoing>,
    ) -> Result<(), Error> {
        let (secret, handoffs) = self.new_group_secret(rng, group)?;
        for (to, payload) in handoffs {
            out.extend(self.pairwise_within(rng, &to, &payload, Some(group), now)?);
        }
        let epoch = self
            .conversations
            .get(group)
            .ok_or(UsageError::WrongConversation)?
            .epoch();
        self.set_group_secret(group, epoch, secret);
        Ok(())
    }

    /// Adds and removes group members (admins only): a new epoch, so removed members read
    /// nothing from now on and new ones nothing from before, and a new access secret, so
    /// removed members' keys stop reaching anyone once each member has caught up.
    pub fn change_group<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        group: &ConversationId,
        added: &[(MailboxId, Role)],
        removed: &[MailboxId],
        now: u64,
    ) -> Result<Unsaved<'_, Vec<Outgoing>>, Error> {
        self.outbox_room()?;
        let out = self.with_tokens(TokenKind::Invite, |c| {
            c.change_group_now(rng, group, added, removed, now)
        })?;
        Ok(Unsaved::sent(self, out))
    }

    fn change_group_now<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        group: &ConversationId,
        added: &[(MailboxId, Role)],
        removed: &[MailboxId],
        now: u64,
    ) -> Result<Vec<Outgoing>, Error> {
        self.load_conversation(group)?;
        let added = self.roster_members(added)?;
        self.check_welcomes(added.iter().map(|m| &m.id))?;
        let conversation = self
            .conversations
            .get_mut(group)
            .ok_or(UsageError::WrongConversation)?;
        let handoffs = conversation.change_all(rng, &added, removed)?;
        let epoch = conversation.epoch();
        let mut out = Vec::new();
        self.hand_off(rng, handoffs, Some(group), now, &mut out)?;
        // Those removed are told, so their clients stop posting; one we cannot reach learns
        // it from the members who refuse what it sends.
        for member in removed {
            let notice = Pairwise::Removed {
                group: *group,
                epoch,
            };
            match self.pairwise_within(rng, member, &notice, Some(group), now) {
                Ok(o) => out.extend(o),
                Err(
                    Error::Policy(PolicyError::NoCredential)
                    | Error::Crypto(CryptoError::NoSession),
                ) => {}
                Err(e) => return Err(e),
            }
        }
        self.hand_out_group_secret(rng, group, now, &mut out)?;
        Ok(out)
    }

    /// A group post by an admin or manager, mentioning at most 20 members.
    pub fn post_to_group<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        group: &ConversationId,
        content: &Content,
        now: u64,
    ) -> Result<Unsaved<'_, Vec<Outgoing>>, Error> {
        self.outbox_room()?;
        self.check_plain_content(content)?;
        self.load_conversation(group)?;
        let conversation = self
            .conversations
            .get(group)
            .ok_or(UsageError::WrongConversation)?;
        if !self.groups.contains(group) {
            return Err(UsageError::WrongConversation.into());
        }
        if conversation.is_removed() {
            return Err(PolicyError::NotGroupMember.into());
        }
        super::policy::check_group_post(conversation, self.member_id(), content)?;
        let mut out = Vec::new();
        self.send_in(
            rng,
            group,
            &Post {
                access: Access::Group,
                content: content.clone(),
            },
            now,
            &mut out,
        )?;
        Ok(Unsaved::sent(self, out))
    }

    /// A read receipt for everything up to `up_to` in a conversation. Sends nothing when read
    /// receipts are switched off. Call it when the person has read the message, not on receipt.
    pub fn mark_read<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        conversation: &ConversationId,
        up_to: &MessageRef,
        now: u64,
    ) -> Result<Unsaved<'_, Vec<Outgoing>>, Error> {
        self.outbox_room()?;
        let mut out = Vec::new();
        if self.settings.read_receipts {
            let post = Post {
                access: Access::Opened,
                content: Content::Read(*up_to),
            };
            self.send_in(rng, conversation, &post, now, &mut out)?;
        }
        Ok(Unsaved::sent(self, out))
    }

    /// A typing indicator to the other members of a conversation: ephemeral (never stored),
    /// and nothing at all when typing indicators are switched off.
    pub fn typing<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        conversation: &ConversationId,
        typing: bool,
        now: u64,
    ) -> Result<Vec<Outgoing>, Error> {
        if !self.settings.typing_indicators {
            return Ok(Vec::new());
        }
        self.load_conversation(conversation)?;
        let c = (self.conversations.get(conversation)).ok_or(UsageError::WrongConversation)?;
        // An ad-hoc conversation's roster is its devices, each with a chain of its own there.
        let (mut members, adhoc) = match c.kind() {
            Kind::AdHoc => {
                let me = *self.member_id();
                let mut devices = c.peer_devices();
                devices.retain(|a| a.member != me);
                (devices.iter().map(|a| a.member).collect(), Some(devices))
            }
            _ => (c.recipients(), None),
        };
        members.sort_unstable();
        members.dedup();
        let mut targets = self.devices_of_all(&members)?;
        if let Some(devices) = adhoc {
            targets.retain(|t| devices.contains(&t.to));
        }
        let mut out = Vec::new();
        let (member, device) = (*self.member_id(), *self.mailbox_id());
        // Each device of each other member we know, signed for that device.
        for target in targets {
            let (Some(identity), to) = (target.identity, target.to) else {
                continue;
            };
            let signed = sealed::typing_statement(&to.device, conversation, typing, now);
            let signature = self.identity.sign(&signed);
            let content = if member == device {
                SealedContent::Typing {
                    sender_mailbox: device,
                    conversation: *conversation,
                    typing,
                    timestamp: now,
                    signature,
                }
            } else {
                SealedContent::DeviceTyping {
                    member,
                    sender_mailbox: device,
                    conversation: *conversation,
                    typing,
                    timestamp: now,
                    signature,
                }
            };
            // Typing is best effort: someone we hold no key for does not see it.
            let credential = match self.credential_to(&[to], Some(conversation)) {
                Ok(c) => c,
                Err(Error::Policy(PolicyError::NoCredential)) => continue,
                Err(e) => return Err(e),
            };
            self.load_sessions(&to.device)?;
            let sealing = self.sealing_to(&to.device);
            let body = sealed::seal(rng, &sealing, identity.dh_key(), &to.device, &content)?;
            out.push(single(
                &to.device,
                &body,
                now,
                true,
                credential,
                Some(conversation),
            )?);
        }
        Ok(out)
    }

    fn check_plain_content(&self, content: &Content) -> Result<(), Error> {
        match content {
            Content::Text(_) => Ok(()),
            _ => Err(UsageError::NotPermitted.into()),
        }
    }

    fn send_direct<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        to: &MailboxId,
        post: Post,
        now: u64,
    ) -> Result<Vec<Outgoing>, Error> {
        let mut out = Vec::new();
        let id = match self.direct.get(to) {
            Some(id) => {
                let id = *id;
                self.load_conversation(&id)?;
                id
            }
            None => self.create_direct(rng, to, now, &mut out)?,
        };
        self.send_in(rng, &id, &post, now, &mut out)?;
        // InMail and Open Profile open the conversation for good; a connection or a shared
        // group lets it be used only while it lasts.
        if matches!(post.access, Access::InMail(_) | Access::OpenProfile) {
            self.opened.insert(id);
        }
        Ok(out)
    }

    /// Runs a send to `peers` that may fail after some of its steps (grants to some of them,
    /// our contact key given to others): on error, everything it changed is as before, so no
    /// grant is taken for sent that never left.
    fn undone_on_error<T>(
        &mut self,
        peers: &[MailboxId],
        send: impl FnOnce(&mut Self) -> Result<T, Error>,
    ) -> Result<T, Error> {
        for m in peers {
            self.load_member(m)?;
        }
        let granted = self.granted.clone();
        let holders = self.access.holders.clone();
        let fanout = self.fanout.to_bytes();
        // Sessions are per device: every device of the peers, and our own other devices.
        let mut devices = vec![*self.member_id()];
        devices.extend(peers);
        let devices: Vec<MailboxId> = (self.devices_of_all(&devices)?.iter())
            .map(|t| t.to.device)
            .collect();
        for d in &devices {
            self.load_sessions(d)?;
        }
        let sessions: Vec<(MailboxId, Option<PeerSessions>)> = devices
            .iter()
            .map(|d| (*d, self.sessions.get(d).cloned()))
            .collect();
        let conversations = self.conversations.resident_keys();
        let result = send(self);
        if result.is_err() {
            self.granted = granted;
            self.access.holders = holders;
            if let Ok(fanout) = FanOut::from_bytes(&fanout) {
                self.fanout = fanout;
            }
            for (peer, saved) in sessions {
                match saved {
                    Some(s) => self.sessions.insert(peer, s),
                    None => self.sessions.remove(&peer),
                };
            }
            let came = self.conversations.resident_keys();
            for id in came.difference(&conversations) {
                self.conversations.discard(id);
            }
        }
        result
    }

    /// A first message to members `to` (granting fan-out keys first where needed): one part
    /// for every device of theirs we hold a session with and for each of our own other devices
    /// (PROTOCOL.md §12.6). With `replies`, the conversation is one every participant may
    /// answer in: the first message vouches for each recipient's identity and names the member
    /// of each device that is not its account's first, and the conversation's access secret
    /// reaches them all.
    fn fan_out<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        to: &[MailboxId],
        post: &Post,
        replies: bool,
        now: u64,
    ) -> Result<(ConversationId, Vec<Outgoing>), Error> {
        if to.len() > MAX_RECIPIENTS {
            return Err(UsageError::TooManyRecipients {
                max: MAX_RECIPIENTS,
            }
            .into());
        }
        let me = *self.member_id();
        let mut targets = Vec::new();
        for m in to {
            let reached = self.reachable(m)?;
            if reached.is_empty() {
                return Err(CryptoError::NoSession.into());
            }
            targets.extend(reached);
        }
        targets.extend(self.reachable(&me)?);
        targets.sort_unstable_by_key(|t| t.to.device);
        let mut first = FirstPost {
            participants: Vec::new(),
            devices: Vec::new(),
            post: post.clone(),
        };
        if replies {
            for m in to {
                let c = self.contacts.get(m).ok_or(UsageError::UnknownRecipient)?;
                first.participants.push((c.mailbox, c.identity));
            }
            first.participants.sort_unstable_by_key(|(m, _)| *m);
            let own = DeviceOf {
                member: me,
                device: *self.mailbox_id(),
            };
            let all = targets.iter().map(|t| t.to).chain([own]);
            first.devices = all
                .filter(|a| a.device != a.member)
                .map(|a| (a.device, a.member))
                .collect();
            first.devices.sort_unstable();
        }
        let mut out = Vec::new();
        for t in &targets {
            // Grants are kept per device, in the device's own record.
            self.load_peer(&t.to.device)?;
            if self.granted.contains(&t.to.device) {
                continue;
            }
            let grant = self.fanout.grant(rng, t.to.device)?;
            let payload = Pairwise::Grant(grant.to_bytes().to_vec());
            let device = Some(&t.to.device);
            out.extend(self.pairwise_to(rng, &t.to.member, device, &payload, None, now)?);
            self.granted.insert(t.to.device);
        }
        let expiry = now.saturating_add(ENVELOPE_LIFETIME);
        let devices: Vec<MailboxId> = targets.iter().map(|t| t.to.device).collect();
        let sender = DeviceOf {
            member: me,
            device: *self.mailbox_id(),
        };
        let (mut conversation, envelope, seeded) =
            self.fanout
                .send_first_seeded(rng, sender, &devices, &first.to_bytes(), expiry)?;
        let id = conversation.id();
        if replies {
            let vouched = |t: &Target| {
                let identity = if t.to.member == me {
                    Some(self.account_identity())
                } else {
                    (first.participants.iter())
                        .find(|(m, _)| *m == t.to.member)
                        .map(|(_, identity)| identity)
                };
                identity.map(|i| (t.to, *i.verifying_key()))
            };
            let members: Option<Vec<(DeviceOf, VerifyingKey)>> =
                targets.iter().map(vouched).collect();
            let members = members.ok_or(UsageError::UnknownRecipient)?;
            conversation.open_replies(&seeded, &members, None)?;
        }
        let addressees: Vec<DeviceOf> = targets.iter().map(|t| t.to).collect();
        let credential = self.credential_to(&addressees, None)?;
        out.push(Outgoing {
            envelope: envelope.to_bytes(),
            credential,
            ephemeral: false,
            conversation: None,
        });
        self.load_conversation(&id)?;
        self.conversations.insert(id, conversation);
        if replies {
            self.set_group_secret(&id, 0, GroupSecret::from(seeded.access_secret()));
        }
        Ok((id, out))
    }

    /// Answers everyone in a multi-recipient conversation we are in (opened it or received
    /// it): participants need not be connected, and the relay lets the answer through with the
    /// conversation's own access keys.
    ///
    /// # Errors
    /// [`UsageError::WrongConversation`] for anything but a multi-recipient conversation;
    /// [`UsageError::NotPermitted`] for one that is not answered in (a sponsored message).
    pub fn reply<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        conversation: &ConversationId,
        content: &Content,
        now: u64,
    ) -> Result<Unsaved<'_, Vec<Outgoing>>, Error> {
        self.outbox_room()?;
        self.check_plain_content(content)?;
        self.load_conversation(conversation)?;
        let c = self
            .conversations
            .get(conversation)
            .ok_or(UsageError::WrongConversation)?;
        if c.kind() != Kind::AdHoc {
            return Err(UsageError::WrongConversation.into());
        }
        // A sponsored message is answered by no one, its sender included (it holds no chain of
        // its audience's).
        if !c.has_sender_chain() || c.is_removed() || c.peer_devices().is_empty() {
            return Err(UsageError::NotPermitted.into());
        }
        let post = Post {
            access: Access::Participant,
            content: content.clone(),
        };
        let mut out = Vec::new();
        self.send_in(rng, conversation, &post, now, &mut out)?;
        Ok(Unsaved::sent(self, out))
    }

    fn create_direct<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        to: &MailboxId,
        now: u64,
        out: &mut Vec<Outgoing>,
    ) -> Result<ConversationId, Error> {
        let peer = self.contacts.get(to).ok_or(UsageError::UnknownRecipient)?;
        let me = Member::new(*self.member_id(), Role::Admin, *self.account_identity());
        let them = Member::new(peer.mailbox, Role::Member, peer.identity);
        let device = *self.mailbox_id();
        let (conversation, handoffs) =
            Conversation::create_for(rng, Kind::Direct, me, device, vec![them])?;
        let id = conversation.id();
        let first = out.len();
        self.hand_off(rng, handoffs, None, now, out)?;
        // The hand-off is the conversation's own first envelope: refused (a contact key
        // replaced before we read the notice), it is resent with the conversation's messages
        // (PROTOCOL.md §9.7), or every later message would wait for a chain never delivered.
        for o in &mut out[first..] {
            o.conversation = Some(id);
        }
        self.load_conversation(&id)?;
        self.conversations.insert(id, conversation);
        self.direct.insert(*to, id);
        Ok(id)
    }

    /// Encrypts `post` in a conversation, handing out our sender chain first if we have none.
    pub(super) fn send_in<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        id: &ConversationId,
        post: &Post,
        now: u64,
        out: &mut Vec<Outgoing>,
    ) -> Result<(), Error> {
        self.send_in_except(rng, id, post, None, now, out)
    }

    /// [`Client::send_in`], not addressing device `except` of an ad-hoc conversation.
    pub(super) fn send_in_except<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        id: &ConversationId,
        post: &Post,
        except: Option<&MailboxId>,
        now: u64,
        out: &mut Vec<Outgoing>,
    ) -> Result<(), Error> {
        self.load_conversation(id)?;
        let conversation = self
            .conversations
            .get_mut(id)
            .ok_or(UsageError::WrongConversation)?;
        if !conversation.has_sender_chain() {
            let handoffs = conversation.start_chain_all(rng)?;
            self.hand_off(rng, handoffs, Some(id), now, out)?;
        }
        let conversation = self
            .conversations
            .get(id)
            .ok_or(UsageError::WrongConversation)?;
        let mut members = conversation.recipients();
        // An ad-hoc conversation's roster is the devices its first message reached, each of
        // which holds a chain in it; any other goes to every device of every other member, and
        // to our own other devices.
        let adhoc = (conversation.kind() == Kind::AdHoc).then(|| {
            let mut devices = conversation.peer_devices();
            devices.retain(|a| except != Some(&a.device));
            devices
        });
        if let Some(devices) = &adhoc {
            self.none_removed(devices)?;
        }
        let conversation = self
            .conversations
            .get_mut(id)
            .ok_or(UsageError::WrongConversation)?;
        let message = conversation.encrypt(&post.to_bytes())?;
        members.push(*self.member_id());
        let mut devices: Vec<DeviceOf> = match adhoc {
            Some(devices) => devices,
            None => (self.devices_of_all(&members)?.iter())
                .map(|t| t.to)
                .collect(),
        };
        devices.sort_unstable_by_key(|a| a.device);
        devices.dedup_by_key(|a| a.device);
        // A token pays for one account (every device its hand-offs reached) or, for a member
        // we hold no list of, one mailbox; our own other devices then go apart, under our key.
        let me = *self.member_id();
        let groups: Vec<Vec<DeviceOf>> = if self.paid_send() {
            let (own, mut others): (Vec<DeviceOf>, Vec<DeviceOf>) =
                devices.into_iter().partition(|a| a.member == me);
            let mut paid = Vec::new();
            for member in members.iter().filter(|m| **m != me) {
                let reached = self.reachable(member)?;
                let all = self.paid_as_account(member)?.is_some();
                let take = if all { reached.len() } else { 1 };
                paid.extend(reached.iter().take(take).map(|t| t.to.device));
            }
            let reached = others.len();
            others.retain(|a| paid.contains(&a.device));
            // The devices left out get our chain with our next message.
            if others.len() < reached
                && let Some(c) = self.conversations.get_mut(id)
            {
                c.redraw_own_chain();
            }
            [others, own]
                .into_iter()
                .filter(|g| !g.is_empty())
                .collect()
        } else {
            vec![devices]
        };
        let expiry = now.saturating_add(ENVELOPE_LIFETIME);
        for devices in groups {
            let mailboxes: Vec<MailboxId> = devices.iter().map(|a| a.device).collect();
            for envelope in Envelope::to_mailboxes(expiry, &mailboxes, &message)? {
                let to: Vec<DeviceOf> = (envelope.mailboxes().iter())
                    .filter_map(|m| devices.iter().find(|a| a.device == *m).copied())
                    .collect();
                match self.credential_to(&to, Some(id)) {
                    Ok(credential) => out.push(Outgoing {
                        envelope: envelope.to_bytes(),
                        credential,
                        ephemeral: false,
                        conversation: Some(*id),
                    }),
                    Err(Error::Policy(PolicyError::NoCredential)) => {
                        self.apart(id, &to, &message, expiry, out)?;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    /// `message` to `to`, whom no one credential covers: the devices we hold a key for (our
    /// own other devices among them) in one envelope, each other device in one of its own (an
    /// Open Profile member's: the relay takes `Open` for one mailbox alone).
    fn apart(
        &mut self,
        id: &ConversationId,
        to: &[DeviceOf],
        message: &[u8],
        expiry: u64,
        out: &mut Vec<Outgoing>,
    ) -> Result<(), Error> {
        let me = *self.member_id();
        let mut keyed = Vec::new();
        let mut sets = Vec::new();
        for a in to {
            if a.member == me || !self.keys_for(a, Some(id))?.is_empty() {
                keyed.push(*a);
            } else {
                sets.push(vec![*a]);
            }
        }
        sets.push(keyed);
        for set in sets.into_iter().filter(|s| !s.is_empty()) {
            let mailboxes: Vec<MailboxId> = set.iter().map(|a| a.device).collect();
            let credential = self.credential_to(&set, Some(id))?;
            for envelope in Envelope::to_mailboxes(expiry, &mailboxes, message)? {
                out.push(Outgoing {
                    envelope: envelope.to_bytes(),
                    credential: credential.clone(),
                    ephemeral: false,
                    conversation: Some(*id),
                });
            }
        }
        Ok(())
    }

    /// Sends each distribution in its pairwise session; `within` is the conversation they are
    /// for, whose access keys reach its members.
    pub(super) fn hand_off<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        handoffs: Vec<(MailboxId, KeyDistribution)>,
        within: Option<&ConversationId>,
        now: u64,
        out: &mut Vec<Outgoing>,
    ) -> Result<(), Error> {
        for (to, distribution) in handoffs {
            let payload = Pairwise::Distribution(distribution.to_bytes().to_vec());
            out.extend(self.pairwise_within(rng, &to, &payload, within, now)?);
        }
        Ok(())
    }

    /// Encrypts `payload` in our session with each device of member `to` (our other devices
    /// for our own member), seals it, and addresses it.
    pub(super) fn pairwise<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        to: &MailboxId,
        payload: &Pairwise,
        now: u64,
    ) -> Result<Vec<Outgoing>, Error> {
        self.pairwise_within(rng, to, payload, None, now)
    }

    /// [`Client::pairwise`] for a conversation's sake: its access keys may reach `to`.
    pub(super) fn pairwise_within<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        to: &MailboxId,
        payload: &Pairwise,
        within: Option<&ConversationId>,
        now: u64,
    ) -> Result<Vec<Outgoing>, Error> {
        self.pairwise_to(rng, to, None, payload, within, now)
    }

    /// [`Client::pairwise_within`] to device `only` of `to` alone, if given.
    fn pairwise_to<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        to: &MailboxId,
        only: Option<&MailboxId>,
        payload: &Pairwise,
        within: Option<&ConversationId>,
        now: u64,
    ) -> Result<Vec<Outgoing>, Error> {
        self.load_member(to)?;
        let mut targets = self.reachable(to)?;
        targets.retain(|t| only.is_none_or(|d| t.to.device == *d));
        let own = to == self.member_id();
        if targets.is_empty() && !own {
            return Err(CryptoError::NoSession.into());
        }
        // The credentials first: without them nothing is encrypted, so no session step is
        // lost. A token paying for one mailbox reaches one device (PROTOCOL.md §12.6).
        let mut credentials = Vec::with_capacity(targets.len());
        for t in &targets {
            let credential = self.credential_to(&[t.to], within)?;
            let paid = matches!(credential, Credential::Token(_));
            credentials.push(credential);
            if paid && !own {
                break;
            }
        }
        targets.truncate(credentials.len());
        let access = self.key_for(to);
        let plaintext = payload.to_bytes();
        let mut out = Vec::with_capacity(targets.len());
        for (t, credential) in targets.iter().zip(credentials) {
            let session = (self.sessions.get_mut(&t.to.device))
                .and_then(|s| s.current_mut())
                .ok_or(CryptoError::NoSession)?;
            let message = session.encrypt(rng, &plaintext)?;
            let content = self.sealed_session(access.clone(), &message);
            let identity = t.identity.ok_or(CryptoError::NoSession)?;
            let sealing = self.sealing_to(&t.to.device);
            let body = sealed::seal(rng, &sealing, identity.dh_key(), &t.to.device, &content)?;
            out.push(single(&t.to.device, &body, now, false, credential, within)?);
        }
        Ok(out)
    }

    /// How a message to `device` is sealed: as its current session says, classically to a
    /// device we hold no session with (PROTOCOL.md §9.2).
    pub(super) fn sealing_to(&self, device: &MailboxId) -> Sealing<'_> {
        let session = self.sessions.get(device).and_then(|s| s.all().first());
        session.map_or(Sealing::Classical, Session::sealing)
    }

    /// A session message as sealed content: a session's first messages from a device of an
    /// account with several carry the account's list (so the peer learns of every device and
    /// answers each), naming the account; any other message from a first device seals as
    /// itself.
    fn sealed_session(
        &self,
        access: Option<crate::access::AccessKey>,
        message: &crate::session::SessionMessage,
    ) -> SealedContent {
        let (sender_user, sender_mailbox) = (self.user.clone(), *self.mailbox.id());
        let sender_identity = *self.identity.public();
        let first = message.prekey_identity().is_some();
        let list = (self.device_list().filter(|_| first))
            .map(|l| serde_bytes::ByteBuf::from(l.to_bytes()));
        if self.member_id() == self.mailbox_id() && list.is_none() {
            return SealedContent::Session {
                sender_user,
                sender_mailbox,
                sender_identity,
                access,
                message: message.to_bytes(),
            };
        }
        SealedContent::DeviceSession {
            member: *self.member_id(),
            list,
            sender_user,
            sender_mailbox,
            sender_identity,
            access,
            message: message.to_bytes(),
        }
    }
}

/// `body` in an envelope to one mailbox, kept at the relay for [`ENVELOPE_LIFETIME`].
pub(super) fn single(
    to: &MailboxId,
    body: &[u8],
    now: u64,
    ephemeral: bool,
    credential: Credential,
    within: Option<&ConversationId>,
) -> Result<Outgoing, Error> {
    let expiry = now.saturating_add(ENVELOPE_LIFETIME);
    let envelope = Envelope::to_mailboxes(expiry, &[*to], body)?
        .pop()
        .ok_or(UsageError::InvalidRoster)?;
    Ok(Outgoing {
        envelope: envelope.to_bytes(),
        credential,
        ephemeral,
        conversation: within.copied(),
    })
}
