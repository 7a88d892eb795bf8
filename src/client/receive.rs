//! Receiving: one delivery in, the events it produced out.
//!
//! Every delivery is one of: ours and opened (its events), ours and bad (a typed error), or not
//! opened by any key we hold yet. The last is either not for us at all or for keys still on
//! their way (a conversation chain, a fan-out grant); the two cannot be told apart (labels are
//! pseudorandom, sealed bodies anonymous), so it waits in a bounded queue. A delivery that is
//! ours and authentic but needs something that has not arrived (the welcome to the group whose
//! chain it carries, the epoch whose access secret it is) is early: nothing of it is taken,
//! and it waits too. Waiting deliveries are tried again after every delivery that opens.
//!
//! Opening and applying succeed or fail together: a message's key is used up, and a pairwise
//! session moves on, only once what the message says has been applied.

use crate::access::AccessKey;
use crate::conversation::{
    Accepted, Conversation, ConversationId, Decrypted, DeviceOf, KeyDistribution, Kind,
};
use crate::crypto::sign::VerifyingKey;
use crate::device::SignedDeviceList;
use crate::envelope::{Delivery, MailboxId};
use crate::error::{CryptoError, Error, UsageError};
use crate::identity::PublicIdentity;
use crate::session::{PrekeyOwner, SEAL_LABEL_LEN, Session, SessionMessage};

use super::access::GroupSecret;
use super::content::{Content, MessageRef};
use super::payload::Pairwise;
use super::post::{Access, FirstPost, Post};
use super::sealed::{self, Opened, SealedContent};
use super::sessions::PeerSessions;
use super::{Client, Contact, Event, MAX_PENDING, Waiting};

/// How old a typing indicator may be and still be shown, in seconds.
const TYPING_WINDOW: u64 = 30;

/// What one delivery turned out to be.
enum Outcome {
    /// Ours: opened and applied.
    Done(Vec<Event>),
    /// Ours, a message in a conversation we had: opened, and its chain moved on. Nothing
    /// else changed, so of what waits, only what that chain's window now covers may open.
    Message(Vec<Event>, ConversationId),
    /// No key we hold opens it (yet): kept.
    Unrecognised,
    /// Ours and authentic, but it needs something that has not arrived; nothing was taken:
    /// kept.
    Early,
}

/// What applying a pairwise payload did.
enum Applied {
    Done(Vec<Event>),
    /// It needs something that has not arrived: undo the session step, keep the delivery.
    Early,
}

/// What installing a staged session replaced, to put back if its payload cannot be applied.
struct Undo {
    peer: MailboxId,
    sessions: Option<PeerSessions>,
    prekeys: Option<PrekeyOwner>,
    /// The member whose contact or list was replaced, and what they were.
    member: MailboxId,
    contact: Option<Option<Contact>>,
    list: Option<Option<SignedDeviceList>>,
}

/// A pairwise message decrypted on copies of the state it changes.
struct Staged {
    sessions: PeerSessions,
    /// The prekeys without the one-time prekey a new session used.
    prekeys: Option<PrekeyOwner>,
    plaintext: Vec<u8>,
}

/// Who a sealed session message says it is from (PROTOCOL.md §9.2, §12.6).
struct Claim {
    /// The account: the member id in conversations.
    member: MailboxId,
    user: Vec<u8>,
    /// The device that sent it, with its identity.
    device: MailboxId,
    identity: PublicIdentity,
    /// The account's signed device list, if the message carries it.
    list: Option<Vec<u8>>,
}

/// What the account vouches for a device whose message opens: the contact to record (a
/// member first heard from), and a newer list of theirs to keep.
struct Vouched {
    contact: Option<Contact>,
    list: Option<SignedDeviceList>,
}

/// A message's reference is its chain's: the device that sent it, and its place there.
impl From<&Decrypted> for MessageRef {
    fn from(d: &Decrypted) -> Self {
        Self {
            sender: d.device,
            epoch: d.epoch,
            index: d.index,
        }
    }
}

impl Client {
    /// Handles one delivery (the `delivery` field of a `DeliveredEnvelope`) at local Unix time
    /// `now` (typing indicators older than 30 s are not shown). Duplicates are dropped
    /// silently; a delivery no key of ours opens yet, or one that is early, is kept (at most
    /// 256), reported as [`Event::Waiting`], and opened when what it needs arrives.
    ///
    /// # Errors
    /// [`UsageError::WrongMailbox`] for a delivery to another mailbox; malformed, forged or
    /// tampered deliveries (decoding or cryptographic errors), and authentic ones that break
    /// the protocol. A delivery that fails changes no state.
    pub fn receive(&mut self, delivery: &[u8], now: u64) -> Result<Vec<Event>, Error> {
        let parsed = Delivery::from_bytes(delivery)?;
        if parsed.mailbox() != *self.mailbox_id() {
            return Err(UsageError::WrongMailbox.into());
        }
        if self.seen.contains(&parsed.id()) {
            return Ok(Vec::new());
        }
        let (mut events, only) = match self.process(&parsed, now)? {
            Outcome::Done(events) => (events, None),
            Outcome::Message(events, id) => (events, Some(id)),
            Outcome::Unrecognised => {
                self.hold(delivery);
                return Ok(vec![Event::Waiting(Waiting::Unrecognised)]);
            }
            Outcome::Early => {
                self.hold(delivery);
                return Ok(vec![Event::Waiting(Waiting::Early)]);
            }
        };
        self.remember(&parsed);
        events.extend(self.retry_pending(now, only));
        Ok(events)
    }

    /// How many deliveries wait for keys or for what they need.
    pub fn waiting(&self) -> usize {
        self.pending.len()
    }

    fn hold(&mut self, delivery: &[u8]) {
        if self.pending.iter().any(|p| p == delivery) {
            return;
        }
        if self.pending.len() >= MAX_PENDING {
            self.pending.pop_front();
        }
        self.pending.push_back(delivery.to_vec());
    }

    fn remember(&mut self, delivery: &Delivery) {
        self.seen.remember(delivery.id());
    }

    /// Opens whatever waited and can be opened now: after a message in conversation `only`,
    /// just what that conversation recognises now; once anything opens, everything again.
    fn retry_pending(&mut self, now: u64, mut only: Option<ConversationId>) -> Vec<Event> {
        let mut events = Vec::new();
        while !self.pending.is_empty() {
            let mut progress = false;
            let waiting: Vec<Vec<u8>> = self.pending.iter().cloned().collect();
            let mut keep = Vec::with_capacity(waiting.len());
            for bytes in &waiting {
                let Ok(parsed) = Delivery::from_bytes(bytes) else {
                    keep.push(false); // it will never open: drop it
                    continue;
                };
                if let Some(id) = only
                    && !self.recognised_by(&parsed, &id)
                {
                    keep.push(true);
                    continue;
                }
                match self.process(&parsed, now) {
                    Ok(Outcome::Done(new) | Outcome::Message(new, _)) => {
                        self.remember(&parsed);
                        events.extend(new);
                        progress = true;
                        keep.push(false);
                    }
                    Ok(Outcome::Unrecognised | Outcome::Early) => keep.push(true),
                    Err(_) => keep.push(false),
                }
            }
            let mut flags = keep.into_iter();
            self.pending.retain(|_| flags.next().unwrap_or(true));
            if !progress {
                break;
            }
            only = None;
        }
        events
    }

    fn recognised_by(&self, delivery: &Delivery, id: &ConversationId) -> bool {
        delivery.part().is_none()
            && self
                .conversations
                .get(id)
                .is_some_and(|c| c.recognises(delivery.body()))
    }

    fn process(&mut self, delivery: &Delivery, now: u64) -> Result<Outcome, Error> {
        if let Some(part) = delivery.part() {
            if !self.fanout.recognises(part) {
                return Ok(Outcome::Unrecognised);
            }
            return self.first_message_in(delivery);
        }
        let body = delivery.body();
        if let Some(id) = self.conversation_for(body)? {
            return self.conversation_message_in(&id, body);
        }
        if let Some(events) = self.link_in(body, now)? {
            return Ok(Outcome::Done(events));
        }
        // Sealed messages first: one HPKE open, where a lead answer is tried under every form
        // key this (advertiser) client holds.
        match sealed::try_open(&self.identity, &self.prekeys, self.mailbox.id(), body) {
            None => match self.open_lead(body) {
                Some(lead) => Ok(Outcome::Done(vec![Event::Lead(lead?)])),
                None => Ok(Outcome::Unrecognised),
            },
            Some(Err(e)) => Err(e),
            Some(Ok(Opened::Content(content))) => self.sealed_in(*content, now),
            Some(Ok(Opened::Session { label, enc, inner })) => {
                let (device, content) = self.session_sealed(&label, &enc, &inner)?;
                if *content.sender_mailbox() != device {
                    return Err(CryptoError::WrongSender.into());
                }
                self.sealed_in(content, now)
            }
        }
    }

    /// Opens the inner seal of a form 0x02 message with the session its label names (one
    /// index lookup), returning the peer device and the content.
    fn session_sealed(
        &mut self,
        label: &[u8; SEAL_LABEL_LEN],
        enc: &[u8; 32],
        inner: &[u8],
    ) -> Result<(MailboxId, SealedContent), Error> {
        for device in self.sealed_by(label)? {
            self.load_sessions(&device)?;
            let Some(peer) = self.sessions.get(&device) else {
                continue;
            };
            let keys = peer.all().iter().filter_map(Session::peer_seal_keys);
            for keys in keys.filter(|k| k.label() == label) {
                if let Ok(content) = sealed::open_inner(&keys, enc, self.mailbox.id(), inner) {
                    return Ok((device, content));
                }
            }
        }
        Err(CryptoError::NoSession.into())
    }

    /// A sealed message's content, its outer layer opened.
    fn sealed_in(&mut self, content: SealedContent, now: u64) -> Result<Outcome, Error> {
        match content {
            SealedContent::Session {
                sender_user,
                sender_mailbox,
                sender_identity,
                access,
                message,
            } => {
                let claim = Claim {
                    member: sender_mailbox,
                    user: sender_user,
                    device: sender_mailbox,
                    identity: sender_identity,
                    list: None,
                };
                self.pairwise_in(&claim, &message, access)
            }
            SealedContent::DeviceSession {
                member,
                list,
                sender_user,
                sender_mailbox,
                sender_identity,
                access,
                message,
            } => {
                // An account's first device sends as itself (variant 0) unless it carries
                // its account's list.
                if member == sender_mailbox && list.is_none() {
                    return Err(CryptoError::WrongSender.into());
                }
                let claim = Claim {
                    member,
                    user: sender_user,
                    device: sender_mailbox,
                    identity: sender_identity,
                    list: list.map(serde_bytes::ByteBuf::into_vec),
                };
                self.pairwise_in(&claim, &message, access)
            }
            typing @ (SealedContent::Typing { .. } | SealedContent::DeviceTyping { .. }) => {
                let (member, conversation) = match &typing {
                    SealedContent::Typing {
                        sender_mailbox,
                        conversation,
                        ..
                    } => (sender_mailbox, conversation),
                    SealedContent::DeviceTyping {
                        member,
                        conversation,
                        ..
                    } => (member, conversation),
                    _ => return Ok(Outcome::Done(Vec::new())),
                };
                self.load_peer(member)?;
                self.load_conversation(conversation)?;
                Ok(Outcome::Done(self.typing_in(&typing, now)))
            }
        }
    }

    /// The conversation a pending key of which matches the message's label: by the index of
    /// next labels (an in-order message), else by looking through the windows of the
    /// conversations in memory (every one, in a client loaded whole).
    fn conversation_for(&mut self, body: &[u8]) -> Result<Option<ConversationId>, Error> {
        let Ok(label) = crate::conversation::label_of(body) else {
            return Ok(None);
        };
        for id in self.indexed(&label)? {
            self.load_conversation(&id)?;
            if self
                .conversations
                .get(&id)
                .is_some_and(|c| c.recognises(body))
            {
                return Ok(Some(id));
            }
        }
        let mut resident = self.conversations.resident();
        Ok(resident
            .find(|(_, c)| c.recognises(body))
            .map(|(id, _)| *id))
    }

    /// A multi-recipient first message: the fan-out step is used up only once the post
    /// decodes and, for a conversation everyone answers in, its participants check out.
    fn first_message_in(&mut self, delivery: &Delivery) -> Result<Outcome, Error> {
        let member = *self.member_id();
        let mut opened = self.fanout.open_first_staged(delivery, member)?;
        let first = FirstPost::from_bytes(&opened.decrypted.body)?;
        let replies = !first.participants.is_empty();
        if replies {
            let members = self.vouched(&opened.conversation, &opened.decrypted, &first)?;
            // Every device of an account answers as the account: it signs with its identity.
            let signing = self.account_key().signing_key().clone();
            opened
                .conversation
                .open_replies(&opened.seeded, &members, Some(signing))?;
        } else if !first.devices.is_empty() {
            return Err(CryptoError::RosterMismatch.into());
        }
        let id = opened.conversation.id();
        self.load_conversation(&id)?;
        self.load_for_post(&id, &opened.decrypted.sender, &first.post)?;
        let (conversation, decrypted, seeded) = self.fanout.commit_first(opened);
        let from = decrypted.sender;
        let id = conversation.id();
        self.conversations.insert(id, conversation);
        let mut events = Vec::new();
        if replies {
            self.set_group_secret(&id, 0, GroupSecret::from(seeded.access_secret()));
            events.push(Event::Joined(id));
        }
        events.extend(self.post_in(id, from, (&decrypted).into(), first.post));
        Ok(Outcome::Done(events))
    }

    /// Every other participant device of a first message everyone answers in, with the key its
    /// answers verify under (PROTOCOL.md §10.1): its member's identity as the opener vouched
    /// for it, or, for the opener's own other devices, as we know the opener. The opener must
    /// vouch for us as we are, name every device in the roster it lists, and name its own
    /// device as its own.
    fn vouched(
        &mut self,
        conversation: &Conversation,
        decrypted: &Decrypted,
        first: &FirstPost,
    ) -> Result<Vec<(DeviceOf, VerifyingKey)>, Error> {
        let mismatch = || Error::from(CryptoError::RosterMismatch);
        // The 50-recipient rule holds per member on this side too (PROTOCOL.md §10.3).
        if first.participants.len() > crate::envelope::MAX_RECIPIENTS {
            return Err(UsageError::TooManyRecipients {
                max: crate::envelope::MAX_RECIPIENTS,
            }
            .into());
        }
        let (me, device) = (*self.member_id(), *self.mailbox_id());
        let (opener, opener_device) = (decrypted.sender, decrypted.device);
        let roster: Vec<MailboxId> = conversation.members().iter().map(|m| m.id).collect();
        let listed = |d: &MailboxId| roster.binary_search(d).is_ok();
        if !first.devices.iter().all(|(d, _)| listed(d))
            || first.member_of(&device) != me
            || first.member_of(&opener_device) != opener
        {
            return Err(mismatch());
        }
        let vouched = |m: &MailboxId| {
            (first.participants.iter())
                .find(|(p, _)| p == m)
                .map(|(_, identity)| *identity)
        };
        if opener != me && vouched(&me).as_ref() != Some(self.account_identity()) {
            return Err(mismatch());
        }
        self.load_peer(&opener)?;
        let opener_identity = if opener == me {
            Some(*self.account_identity())
        } else {
            self.contacts.get(&opener).map(|c| c.identity)
        };
        let mut members = Vec::with_capacity(roster.len());
        for d in roster
            .iter()
            .filter(|d| **d != device && **d != opener_device)
        {
            let member = first.member_of(d);
            let identity = if member == opener {
                opener_identity
            } else {
                vouched(&member)
            };
            let identity = identity.ok_or_else(mismatch)?;
            let of = DeviceOf { member, device: *d };
            members.push((of, *identity.verifying_key()));
        }
        Ok(members)
    }

    /// A conversation message: its key is used up only once the post decodes.
    fn conversation_message_in(
        &mut self,
        id: &ConversationId,
        body: &[u8],
    ) -> Result<Outcome, Error> {
        let conversation = self
            .conversations
            .get(id)
            .ok_or(UsageError::WrongConversation)?;
        let adhoc = conversation.kind() == Kind::AdHoc;
        let opened = conversation.open(body)?;
        let from = DeviceOf {
            member: opened.decrypted.sender,
            device: opened.decrypted.device,
        };
        // In an ad-hoc conversation nothing can be kept from a device removed from its account
        // (every chain comes from the seed it holds): what it writes there is not taken either.
        if adhoc && !self.still_listed(&from)? {
            return Err(CryptoError::WrongSender.into());
        }
        let post = Post::from_bytes(&opened.decrypted.body)?;
        self.load_for_post(id, &opened.decrypted.sender, &post)?;
        if let Content::Devices(list) = &post.content {
            self.devices_notice(id, &from, list)?;
        }
        let conversation = self
            .conversations
            .get_mut_indexed(id)
            .ok_or(UsageError::WrongConversation)?;
        let (decrypted, before, after) = conversation.commit_moving(opened);
        if self.index_moved(*id, &before, &after).is_err() {
            // Indexed again, from the conversation itself, before the next lookup or save.
            self.conversations.mark_changed([*id].into());
        }
        let events = self.post_in(*id, decrypted.sender, (&decrypted).into(), post);
        Ok(Outcome::Message(events, *id))
    }

    /// A participant's device list sent in ad-hoc conversation `id` by its device `from`
    /// (PROTOCOL.md §12.6): signed by the account we know the member by (as a contact, or
    /// the key its chain there verifies under), naming `from` and none of our mailboxes.
    /// Newer than the one we hold, it is taken as one from the directory; older or the same,
    /// it changes nothing. Our own account's is ignored (ours comes from the directory).
    fn devices_notice(
        &mut self,
        id: &ConversationId,
        from: &DeviceOf,
        bytes: &[u8],
    ) -> Result<(), Error> {
        let refused = || Error::Crypto(CryptoError::WrongSender);
        let conversation = self.conversations.get(id);
        let adhoc = conversation.is_some_and(|c| c.kind() == Kind::AdHoc);
        if !adhoc || from.member == *self.member_id() {
            return Ok(());
        }
        let signer = conversation.and_then(|c| c.verifying_key_of(&from.device));
        let signed = SignedDeviceList::from_bytes(bytes)?;
        // The account a contact is known by (an opener always is: its grant came in a
        // session); any other participant's chain there verifies under its account's key.
        let account = match self.contacts.get(&from.member) {
            Some(contact) => contact.identity,
            None if signer == Some(signed.account().verifying_key()) => *signed.account(),
            None => return Err(refused()),
        };
        let held = self.peer_devices.get(&from.member).cloned();
        let newer = match signed.verify(&account, held.as_ref().map(|h| h.unverified().version())) {
            Ok(newer) => newer.clone(),
            Err(Error::Device(crate::error::DeviceError::RolledBack { .. })) => return Ok(()),
            Err(e) => return Err(e),
        };
        let mine = [*self.mailbox_id(), *self.member_id()];
        let ours = (newer.devices().iter()).any(|d| mine.contains(&d.mailbox));
        if newer.by_mailbox(&from.device).is_none() || ours {
            return Err(refused());
        }
        let before = match held {
            Some(h) => h.unverified().clone(),
            None => crate::device::DeviceList::first(from.member, account),
        };
        self.devices_changed(&from.member, &before, &newer)?;
        self.peer_devices.insert(from.member, signed);
        Ok(())
    }

    /// What the product rules read of a post from `from` in conversation `id`: their record,
    /// the group it names as shared, and, for one our own other device opened, the peer's.
    fn load_for_post(
        &mut self,
        id: &ConversationId,
        from: &MailboxId,
        post: &Post,
    ) -> Result<(), Error> {
        self.load_peer(from)?;
        if let Access::GroupMember(group) = &post.access {
            self.load_conversation(group)?;
        }
        if from == self.member_id() {
            for peer in self.direct_peers(id) {
                self.load_peer(&peer)?;
            }
        }
        Ok(())
    }

    /// A decrypted conversation message: apply the product rules, show.
    fn post_in(
        &mut self,
        conversation: ConversationId,
        from: MailboxId,
        id: MessageRef,
        post: Post,
    ) -> Vec<Event> {
        if let Err(reason) = self.admit(&conversation, &from, &post) {
            // A recipient who switched sponsored messages off gets none, not even a notice.
            if reason == crate::PolicyError::SponsoredOff {
                return Vec::new();
            }
            return vec![Event::Refused {
                conversation,
                from,
                reason,
            }];
        }
        if matches!(post.content, Content::Devices(_)) {
            return Vec::new();
        }
        if let Content::Read(up_to) = post.content {
            if !self.settings.read_receipts {
                return Vec::new();
            }
            return vec![Event::Read {
                conversation,
                by: from,
                up_to,
            }];
        }
        vec![Event::Message {
            conversation,
            id,
            from,
            from_user: self.contacts.get(&from).map(|c| c.user.clone()),
            access: post.access,
            content: post.content,
        }]
    }

    fn typing_in(&self, sealed: &SealedContent, now: u64) -> Vec<Event> {
        let (member, device, conversation, typing, timestamp, signature) = match sealed {
            SealedContent::Typing {
                sender_mailbox,
                conversation,
                typing,
                timestamp,
                signature,
            } => (
                sender_mailbox,
                sender_mailbox,
                conversation,
                typing,
                timestamp,
                signature,
            ),
            SealedContent::DeviceTyping {
                member,
                sender_mailbox,
                conversation,
                typing,
                timestamp,
                signature,
            } if member != sender_mailbox => (
                member,
                sender_mailbox,
                conversation,
                typing,
                timestamp,
                signature,
            ),
            _ => return Vec::new(),
        };
        let statement =
            sealed::typing_statement(self.mailbox_id(), conversation, *typing, *timestamp);
        // The device's identity, as the member's list (or, for a first device with none, the
        // contact) gives it; our own devices' typing is not shown.
        let listed = |d: &crate::device::Device| d.mailbox == *device;
        let identity = match self.peer_devices.get(member) {
            _ if member == self.member_id() => None,
            Some(list) => (list.unverified().devices().iter())
                .find(|d| listed(d))
                .map(|d| d.identity),
            None if device == member => self.contacts.get(member).map(|c| c.identity),
            None => None,
        };
        let authentic = identity.is_some_and(|i| i.verify(&statement, signature).is_ok());
        let in_it = self.conversations.get(conversation).is_some_and(|c| {
            c.members().iter().any(|m| m.id == *member) || c.kind() == Kind::AdHoc
        });
        let fresh = now.saturating_sub(*timestamp) <= TYPING_WINDOW;
        if !self.settings.typing_indicators || !authentic || !in_it || !fresh {
            return Vec::new();
        }
        vec![Event::Typing {
            conversation: *conversation,
            from: *member,
            typing: *typing,
        }]
    }

    /// A sealed session message: decrypted on copies of the sessions (and prekeys) it changes,
    /// checking that the session is the claimed sender's; the copies replace the originals only
    /// once its payload is applied.
    fn pairwise_in(
        &mut self,
        claim: &Claim,
        message: &[u8],
        access: Option<AccessKey>,
    ) -> Result<Outcome, Error> {
        let message = SessionMessage::from_bytes(message)?;
        self.load_member(&claim.member)?;
        self.load_member(&claim.device)?;
        let vouched = self.vouch(claim)?;
        let device = Contact {
            user: claim.user.clone(),
            mailbox: claim.device,
            identity: claim.identity,
        };
        let staged = self.stage(&device, &message)?;
        let payload = Pairwise::from_bytes(&staged.plaintext)?;
        let contact = vouched.contact.clone();
        let undo = self.install(&device, claim.member, vouched, staged);
        let new_contact = undo.contact == Some(None);
        let from = DeviceOf {
            member: claim.member,
            device: claim.device,
        };
        match self.apply(from, &payload) {
            Ok(Applied::Done(mut events)) => {
                if let Some(before) = &undo.list {
                    self.carried_list_taken(&claim.member, before.as_ref())?;
                    if self.unreached(&claim.member)? {
                        events.push(Event::DevicesToFetch {
                            member: claim.member,
                            user: claim.user.clone(),
                        });
                    }
                }
                if let Some(contact) = contact.filter(|_| new_contact) {
                    events.insert(0, Event::NewContact(contact));
                }
                // Only once the session authenticated the sender is its key taken.
                if let Some(key) = access.filter(|_| claim.member != *self.member_id()) {
                    self.peer_key(&claim.member, key);
                }
                Ok(Outcome::Done(events))
            }
            Ok(Applied::Early) => {
                self.undo(undo);
                Ok(Outcome::Early)
            }
            Err(e) => {
                self.undo(undo);
                Err(e)
            }
        }
    }

    /// A newer list of `member`'s that a message carried was taken: what it no longer lists
    /// is dropped as when the directory answers it.
    fn carried_list_taken(
        &mut self,
        member: &MailboxId,
        before: Option<&SignedDeviceList>,
    ) -> Result<(), Error> {
        let identity = self.contacts.get(member).map(|c| c.identity);
        let after = self
            .peer_devices
            .get(member)
            .map(|l| l.unverified().clone());
        let before = match (before, identity) {
            (Some(list), _) => list.unverified().clone(),
            (None, Some(identity)) => crate::device::DeviceList::first(*member, identity),
            (None, None) => return Ok(()),
        };
        match after {
            Some(after) => self.devices_changed(member, &before, &after),
            None => Ok(()),
        }
    }

    /// Whether `member`'s list names a device we hold no session with.
    fn unreached(&mut self, member: &MailboxId) -> Result<bool, Error> {
        let devices: Vec<MailboxId> = (self.peer_devices.get(member).into_iter())
            .flat_map(|l| l.unverified().devices().iter().map(|d| d.mailbox))
            .collect();
        for device in devices {
            if !self.has_session_with(&device)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Decrypts `message` without changing the client.
    fn stage(&self, contact: &Contact, message: &SessionMessage) -> Result<Staged, Error> {
        let from = contact.mailbox;
        let known = self.sessions.get(&from);
        if let Some(peer) = known.filter(|p| p.accept(message)) {
            if peer
                .all()
                .iter()
                .any(|s| s.remote_identity() != &contact.identity)
            {
                return Err(CryptoError::WrongSender.into());
            }
            let mut sessions = peer.clone();
            let plaintext = sessions.decrypt(message)?;
            return Ok(Staged {
                sessions,
                prekeys: None,
                plaintext,
            });
        }
        if message.prekey_identity() != Some(&contact.identity) {
            return Err(CryptoError::WrongSender.into());
        }
        self.check_contact(contact)?;
        let mut prekeys = self.prekeys.clone();
        let (session, plaintext) = Session::respond(&self.identity, &mut prekeys, message)?;
        // Both sides started a session at once: keep ours too, theirs is newer.
        let sessions = match known {
            Some(peer) => {
                let mut sessions = peer.clone();
                sessions.push_front(session);
                sessions
            }
            None => PeerSessions::new(session),
        };
        Ok(Staged {
            sessions,
            prekeys: Some(prekeys),
            plaintext,
        })
    }

    fn install(
        &mut self,
        device: &Contact,
        member: MailboxId,
        vouched: Vouched,
        staged: Staged,
    ) -> Undo {
        let peer = device.mailbox;
        let new = staged.prekeys.is_some();
        let contact = vouched.contact.filter(|_| new);
        Undo {
            peer,
            sessions: self.sessions.insert(peer, staged.sessions),
            prekeys: staged
                .prekeys
                .map(|p| core::mem::replace(&mut self.prekeys, p)),
            member,
            contact: contact.map(|c| self.contacts.insert(member, c)),
            list: vouched.list.map(|l| self.peer_devices.insert(member, l)),
        }
    }

    /// Whether the account a session message names vouches for the device that sent it: our
    /// own list for our other devices; for any other device, the list of its member's we
    /// hold, or a newer one the message carries (verified under the account's identity),
    /// names it and none of our mailboxes; for another account's first device, no such list
    /// is also enough.
    fn vouch(&self, claim: &Claim) -> Result<Vouched, Error> {
        let named = |list: &crate::device::DeviceList| {
            (list.by_mailbox(&claim.device)).is_some_and(|d| d.identity == claim.identity)
        };
        let refused = Error::Crypto(CryptoError::WrongSender);
        if claim.member == *self.member_id() {
            let ours = self.device_list().map(SignedDeviceList::unverified);
            return match ours {
                Some(list) if claim.device != *self.mailbox_id() && named(list) => Ok(Vouched {
                    contact: None,
                    list: None,
                }),
                _ => Err(refused),
            };
        }
        let held = self.peer_devices.get(&claim.member);
        let known = self.contacts.get(&claim.member).cloned();
        let carried = match &claim.list {
            Some(bytes) if held.is_none_or(|h| h.to_bytes() != *bytes) => {
                Some(SignedDeviceList::from_bytes(bytes)?)
            }
            _ => None,
        };
        let first = claim.device == claim.member;
        // A first device's identity is its account's (its session checks it against the
        // contact's); another device's account is the contact's, or, for a member first
        // heard from, the one its list names.
        let account = match (&known, &carried) {
            _ if first => claim.identity,
            (Some(c), _) => c.identity,
            (None, Some(list)) => *list.account(),
            (None, None) => return Err(refused),
        };
        let newer = match &carried {
            Some(list) => match list.verify(&account, held.map(|h| h.unverified().version())) {
                Ok(_) => Some(list.clone()),
                Err(Error::Device(crate::error::DeviceError::RolledBack { .. })) => None,
                Err(e) => return Err(e),
            },
            None => None,
        };
        let mine = [*self.mailbox_id(), *self.member_id()];
        match newer.as_ref().or(held) {
            Some(list) => {
                let list = list.unverified();
                let ours = list.devices().iter().any(|d| mine.contains(&d.mailbox));
                if !named(list) || ours {
                    return Err(refused);
                }
            }
            None if first => {}
            None => return Err(refused),
        }
        let contact = Contact {
            user: claim.user.clone(),
            mailbox: claim.member,
            identity: account,
        };
        // A contact we know stays as it is (a claimed name changes nothing).
        let contact = match known {
            Some(_) => None,
            None => {
                self.check_contact(&contact)?;
                Some(contact)
            }
        };
        Ok(Vouched {
            contact,
            list: newer,
        })
    }

    fn undo(&mut self, undo: Undo) {
        match undo.sessions {
            Some(sessions) => self.sessions.insert(undo.peer, sessions),
            None => self.sessions.remove(&undo.peer),
        };
        if let Some(prekeys) = undo.prekeys {
            self.prekeys = prekeys;
        }
        match undo.contact {
            Some(Some(contact)) => {
                self.contacts.insert(undo.member, contact);
            }
            Some(None) => {
                self.contacts.remove(&undo.member);
            }
            None => {}
        }
        match undo.list {
            Some(Some(list)) => {
                self.peer_devices.insert(undo.member, list);
            }
            Some(None) => {
                self.peer_devices.remove(&undo.member);
            }
            None => {}
        }
    }

    /// Applies a pairwise payload; on error or when early, nothing changed.
    /// Applies a pairwise payload from device `from` of a member; on error or when early,
    /// nothing changed. Our own other devices hand us their chains and welcomes only.
    fn apply(&mut self, from: DeviceOf, payload: &Pairwise) -> Result<Applied, Error> {
        let sibling = from.member == *self.member_id();
        match payload {
            Pairwise::Distribution(bytes) => self.distribution(from, bytes),
            Pairwise::GroupAccess {
                group,
                epoch,
                secret,
            } => self.group_access(&from.member, group, *epoch, secret),
            Pairwise::ContactKey {
                key,
                stamp,
                replaces,
            } if sibling => {
                self.sibling_key(key, *stamp, *replaces);
                Ok(Applied::Done(Vec::new()))
            }
            Pairwise::Did {
                with,
                step,
                key,
                seen,
            } if sibling => Ok(Applied::Done(self.sibling_did(
                with,
                *step,
                key.as_ref(),
                *seen,
            )?)),
            Pairwise::Settings { settings, stamp } if sibling => {
                Ok(Applied::Done(self.sibling_settings(settings, *stamp)))
            }
            // Our own other devices grant us fan-out keys too: their first messages reach us.
            Pairwise::Grant(bytes) => {
                self.fanout.accept_grant_from(from, bytes)?;
                Ok(Applied::Done(Vec::new()))
            }
            _ if sibling => Ok(Applied::Done(Vec::new())),
            Pairwise::Removed { group, epoch } => self.removed_from(&from.member, group, *epoch),
            Pairwise::KeyUpdate => Ok(Applied::Done(Vec::new())),
            Pairwise::Accept | Pairwise::Decline if self.answer_before_our_step(&from.member) => {
                Ok(Applied::Early)
            }
            other => Ok(Applied::Done(self.connection_in(&from.member, other))),
        }
    }

    fn distribution(&mut self, from: DeviceOf, bytes: &[u8]) -> Result<Applied, Error> {
        let dist = KeyDistribution::from_bytes(bytes)?;
        let id = dist.conversation();
        self.load_conversation(&id)?;
        if let Some(conversation) = self.conversations.get_mut(&id) {
            return match conversation.accept_from(from, bytes)? {
                Accepted::Chain | Accepted::NewEpoch(_) | Accepted::Removed | Accepted::Kept => {
                    Ok(Applied::Done(Vec::new()))
                }
            };
        }
        // A member's chain for a group whose welcome has not arrived yet.
        if !dist.is_welcome() {
            return Ok(Applied::Early);
        }
        let me = DeviceOf {
            member: *self.member_id(),
            device: *self.mailbox_id(),
        };
        let conversation = Conversation::join_as(me, from, bytes)?;
        self.check_roster(&conversation, &from.member)?;
        match conversation.kind() {
            // Both sides may open one at once: each then sends in the one with the smaller id.
            Kind::Direct => {
                let peer = (conversation.members().iter())
                    .map(|m| m.id)
                    .find(|m| *m != me.member)
                    .ok_or(CryptoError::RosterMismatch)?;
                self.load_peer(&peer)?;
                if self.direct.get(&peer).is_none_or(|known| id < *known) {
                    self.direct.insert(peer, id);
                }
            }
            Kind::Group | Kind::AdHoc => {
                self.groups.insert(id);
            }
        }
        self.conversations.insert(id, conversation);
        Ok(Applied::Done(vec![Event::Joined(id)]))
    }

    /// An admin's notice that a change removed us. Early before the welcome; ignored for an
    /// epoch we are in, or from anyone but an admin.
    fn removed_from(
        &mut self,
        from: &MailboxId,
        group: &ConversationId,
        epoch: u64,
    ) -> Result<Applied, Error> {
        self.load_conversation(group)?;
        let Some(conversation) = self.conversations.get_mut(group) else {
            return Ok(Applied::Early);
        };
        let admin = conversation
            .members()
            .iter()
            .any(|m| m.id == *from && m.role == crate::conversation::Role::Admin);
        if !self.groups.contains(group) || !admin {
            return Err(crate::PolicyError::NotGroupMember.into());
        }
        if epoch <= conversation.epoch() || conversation.is_removed() {
            return Ok(Applied::Done(Vec::new()));
        }
        conversation.leave();
        self.access.groups.remove(group);
        Ok(Applied::Done(vec![Event::Removed {
            group: *group,
            by: *from,
        }]))
    }

    /// A group epoch's access secret: early before the welcome or the change that starts its
    /// epoch, ignored once a later epoch has begun.
    fn group_access(
        &mut self,
        from: &MailboxId,
        group: &ConversationId,
        epoch: u64,
        secret: &GroupSecret,
    ) -> Result<Applied, Error> {
        self.load_conversation(group)?;
        let current = self.conversations.get(group).map(Conversation::epoch);
        match current {
            None => Ok(Applied::Early),
            Some(current) if epoch > current => Ok(Applied::Early),
            Some(current) if epoch < current => Ok(Applied::Done(Vec::new())),
            Some(_) => {
                self.group_access_in(from, group, epoch, secret)?;
                Ok(Applied::Done(Vec::new()))
            }
        }
    }

    /// The roster's identities for us and for the admin who welcomed us must be the ones our
    /// sessions are authenticated with, or the roster lies about who is in it.
    fn check_roster(&self, conversation: &Conversation, from: &MailboxId) -> Result<(), Error> {
        let identity_of = |id: &MailboxId| {
            conversation
                .members()
                .iter()
                .find(|m| m.id == *id)
                .and_then(|m| m.identity)
        };
        let me = (*self.member_id(), *self.account_identity());
        let sender = if *from == me.0 {
            Some(me.1)
        } else {
            self.contacts.get(from).map(|c| c.identity)
        };
        let sender_ok = sender.is_some() && sender == identity_of(from);
        let me_ok = identity_of(&me.0) == Some(me.1);
        if sender_ok && me_ok {
            Ok(())
        } else {
            Err(CryptoError::RosterMismatch.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::index::Index;
    use crate::client::{ClientStore, RecordReader, RowKey, StorageKey, StoreError};
    use crate::client::{Connection, Outgoing, Settings};
    use crate::conversation::INDEXED_AHEAD;
    use crate::envelope::Envelope;
    use crate::identity::Identity;
    use crate::relay_api::PrekeyResponse;
    use std::collections::BTreeSet;
    use std::sync::{Arc, Mutex};

    /// Invitation tokens for `c`, from a platform and issuer of its own.
    fn fund(c: &mut Client) {
        let mut platform = crate::platform::Platform::new(&mut rand::rng());
        platform.register(*c.mailbox_id(), crate::platform::Profile::FREE);
        let account = platform
            .certify_account(c.mailbox_id(), false, u64::MAX)
            .unwrap();
        c.set_account(account);
        let issuer = crate::token::Issuer::generate(&mut rand::rng());
        let kind = crate::token::TokenKind::Invite;
        let issue = crate::client::unsaved::saved(c.request_tokens(&mut rand::rng(), kind, 4, 0));
        let issued = crate::relay_api::TokenIssued {
            key: issuer.public_key(kind, issue.request.period).unwrap(),
            response: issuer.issue(&mut rand::rng(), &issue.request).unwrap(),
        };
        c.add_tokens(&issued).unwrap();
    }

    fn connect(a: &mut Client, b: &mut Client) -> MailboxId {
        fund(a);
        let published = crate::client::unsaved::saved(b.publish(&mut rand::rng(), 1));
        let response = PrekeyResponse {
            mailbox: *b.mailbox_id(),
            bundle: published.bundle,
            one_time: published.one_time.into_iter().next(),
        };
        a.add_contact(&mut rand::rng(), b.user(), &response)
            .unwrap()
    }

    /// Mallory's own sealed message to Bob, re-sealed claiming to come from `claimed`.
    fn forged(bob: &Client, claimed: &Client, out: &Outgoing) -> Vec<u8> {
        resealed(bob, out, |message| SealedContent::Session {
            sender_user: claimed.user.clone(),
            sender_mailbox: *claimed.mailbox_id(),
            sender_identity: *claimed.identity(),
            access: None,
            message,
        })
    }

    /// Delivers what is addressed to `to`; the first error stops it.
    fn deliver(to: &mut Client, out: &[Outgoing]) -> Result<Vec<Event>, Error> {
        let me = *to.mailbox_id();
        let mut events = Vec::new();
        for o in out {
            for d in Envelope::from_bytes(&o.envelope).unwrap().split() {
                if d.mailbox() == me {
                    events.extend(to.receive(&d.to_bytes(), 0)?);
                }
            }
        }
        Ok(events)
    }

    /// Dan's group with Ana (a member) and Ben (`ben_role`), all three connected, the welcome
    /// delivered.
    fn group_of_three(
        ben_role: crate::conversation::Role,
    ) -> (Client, Client, Client, ConversationId) {
        let mut rng = rand::rng();
        let (mut dan, mut ana, mut ben) = (
            Client::new(&mut rng, b"dan"),
            Client::new(&mut rng, b"ana"),
            Client::new(&mut rng, b"ben"),
        );
        let ana_id = connect(&mut dan, &mut ana);
        let ben_id = connect(&mut dan, &mut ben);
        connect(&mut ben, &mut ana);
        let members = [
            (ana_id, crate::conversation::Role::Member),
            (ben_id, ben_role),
        ];
        let (group, out) = crate::client::unsaved::saved(dan.create_group(&mut rng, &members, 0));
        deliver(&mut ana, &out).unwrap();
        deliver(&mut ben, &out).unwrap();
        (dan, ana, ben, group)
    }

    /// A client loaded from its store holds nothing per member or per conversation until a
    /// step needs it: a group message loads its conversation, its sender and the index
    /// buckets of its labels, nothing else; a save drops what is as stored beyond the cache's
    /// bound, and the next message reads it again.
    #[test]
    fn a_lazily_loaded_client_reads_only_what_a_message_needs() {
        let rng = &mut rand::rng();
        let (mut dan, mut ana, mut ben, group) = group_of_three(crate::conversation::Role::Manager);
        let dan_id = *dan.mailbox_id();
        // A session to Ben too, so that Ana can send in the group; and Ben's chain.
        connect(&mut ana, &mut ben);
        let text = Content::text("from Ben");
        let from_ben = crate::client::unsaved::saved(ben.post_to_group(rng, &group, &text, 0));
        deliver(&mut ana, &from_ben).unwrap();
        let mut store = crate::client::MemoryStore::default();
        ana.save_to(rng, &mut store).unwrap();
        let mut ana = Client::load_from(&store).unwrap().unwrap();
        let resident = |c: &Client| {
            (
                c.contacts.resident_len(),
                c.sessions.resident_len(),
                c.conversations.resident_len(),
                c.labels.resident().len(),
            )
        };
        assert_eq!(resident(&ana), (0, 0, 0, 0));
        for round in 0..2 {
            let text = Content::text("hi");
            let out = crate::client::unsaved::saved(dan.post_to_group(rng, &group, &text, 0));
            let events = deliver(&mut ana, &out).unwrap();
            assert!(
                matches!(&events[..], [Event::Message { from, .. }] if *from == dan_id),
                "round {round}: {events:?}"
            );
            assert_eq!(ana.conversations.resident_keys(), [group].into());
            assert_eq!(ana.contacts.resident_keys(), [dan_id].into());
            assert_eq!(ana.sessions.resident_len(), 0);
            let buckets = ana.labels.resident().len();
            assert!((1..=2).contains(&buckets), "{buckets} buckets read");
            let chains = ana.conversations.get(&group).unwrap().next_labels().count();
            assert_eq!(chains, 2, "Dan's chain and Ben's");
            let indexed = ana
                .conversations
                .get(&group)
                .unwrap()
                .indexed_labels()
                .len();
            assert_eq!(indexed, chains * INDEXED_AHEAD);
            assert_eq!(
                ana.labels.listed(&group),
                indexed,
                "what it loaded is listed"
            );
            ana.set_cache(1);
            ana.save_to(rng, &mut store).unwrap();
            assert_eq!(ana.conversations.resident_len(), 1, "at the bound: kept");
            ana.set_cache(0);
            ana.save_to(rng, &mut store).unwrap();
            assert_eq!(resident(&ana), (0, 0, 0, 0), "round {round}");
            assert_eq!(
                ana.labels.listed(&group),
                0,
                "what left memory is forgotten"
            );
        }
        // A step that changes the conversation (her own chain starts, for a receipt) updates
        // the stored index by the difference: it is the index built from scratch.
        let up_to = MessageRef {
            sender: dan_id,
            epoch: 0,
            index: 1,
        };
        let receipt = ana.mark_read(rng, &group, &up_to, 0).unwrap();
        assert!(!receipt.save(rng, &mut store).unwrap().is_empty());
        let mut again = Client::load_from(&store).unwrap().unwrap();
        assert!(again.indexes_as_built());
    }

    /// A lazily loaded client finds a contact by name through the names index and a group it
    /// shares with someone through the rosters index, reading one bucket and the records
    /// they name, not every contact or group.
    #[test]
    fn names_and_shared_groups_are_found_by_index() {
        let rng = &mut rand::rng();
        let (_dan, mut ana, mut ben, group) = group_of_three(crate::conversation::Role::Member);
        // A session, not a connection.
        let ben_id = connect(&mut ana, &mut ben);
        for i in 0..5 {
            let mut other = Client::new(rng, format!("other{i}").as_bytes());
            connect(&mut ana, &mut other);
        }
        let mut store = crate::client::MemoryStore::default();
        ana.save_to(rng, &mut store).unwrap();
        let mut ana = Client::load_from(&store).unwrap().unwrap();
        let found = ana.contact_by_user(b"ben").unwrap().unwrap();
        assert_eq!(found.mailbox, ben_id);
        assert_eq!(ana.contact_by_user(b"nobody").unwrap(), None);
        assert_eq!(
            ana.contact_by_user(b"other3").unwrap().unwrap().user,
            b"other3"
        );
        assert_eq!(
            ana.contacts.resident_len(),
            0,
            "a lookup by name keeps nothing"
        );
        ana.load_member(&ben_id).unwrap();
        assert_eq!(ana.shared_group(&ben_id).unwrap(), Some(group));
        assert_eq!(ana.conversations.resident_keys(), [group].into());
        let stranger = MailboxId([0xab; 16]);
        ana.load_member(&stranger).unwrap();
        assert_eq!(ana.shared_group(&stranger).unwrap(), None);
        // Someone filed under Ben's key (the first 8 bytes of his mailbox) is not Ben: the
        // group found by the key is checked for them.
        let mut twin = ben_id;
        twin.0[15] ^= 1;
        ana.load_member(&twin).unwrap();
        assert_eq!(ana.shared_group(&twin).unwrap(), None);
        // With Ben's record in memory, a lookup by another name finds that one only.
        assert_eq!(ana.contact_by_user(b"nobody").unwrap(), None);
        assert_eq!(
            ana.contact_by_user(b"other3").unwrap().unwrap().user,
            b"other3"
        );
        // Ana and Ben are not connected: the group they share is what lets her write to him.
        let hello = Content::text("hello from the group");
        let out = crate::client::unsaved::saved(ana.send(rng, &ben_id, &hello, 0));
        assert!(!out.is_empty());
    }

    /// A lazily loaded client saved to a store that holds no state writes everything there,
    /// its indexes included: loaded from that store, it finds the next message by its label.
    #[test]
    fn a_lazy_client_saved_to_a_new_store_takes_its_indexes_along() {
        let rng = &mut rand::rng();
        let (mut dan, mut ana, _ben, group) = group_of_three(crate::conversation::Role::Member);
        let mut first = crate::client::MemoryStore::default();
        ana.save_to(rng, &mut first).unwrap();
        let mut lazy = Client::load_from(&first).unwrap().unwrap();
        let mut second = crate::client::MemoryStore::default();
        lazy.save_to(rng, &mut second).unwrap();
        let mut moved = Client::load_from(&second).unwrap().unwrap();
        assert_eq!(moved.conversations.resident_len(), 0);
        let text = Content::text("found by its label");
        let out = crate::client::unsaved::saved(dan.post_to_group(rng, &group, &text, 0));
        let events = deliver(&mut moved, &out).unwrap();
        assert!(matches!(&events[..], [Event::Message { .. }]), "{events:?}");
        assert!(moved.indexes_as_built());
    }

    /// A record altered in the store is found when a step first reads it: the step fails
    /// with the store's typed error and changes nothing.
    #[test]
    fn a_record_altered_after_a_lazy_load_fails_the_step_that_reads_it() {
        let rng = &mut rand::rng();
        let (mut ana, mut ben) = (Client::new(rng, b"ana"), Client::new(rng, b"ben"));
        let ben_id = connect(&mut ana, &mut ben);
        let ana_id = *ana.mailbox_id();
        let invite = crate::client::unsaved::saved(ana.invite(rng, &ben_id, None, 0));
        deliver(&mut ben, &invite).unwrap();
        let mut store = crate::client::MemoryStore::default();
        ben.save_to(rng, &mut store).unwrap();
        let mut lazy = Client::load_from(&store).unwrap().unwrap();
        let key = ClientStore::key(&store).clone();
        let row = key.row(&super::super::records::Record::Sessions(ana_id));
        let mut rows = store.rows_mut();
        let value = rows.get_mut(&row).unwrap();
        let last = value.len() - 1;
        value[last] ^= 1;
        drop(rows);
        let hello = crate::client::unsaved::saved(ana.withdraw(rng, &ben_id, 0));
        let before = crate::wire::Wire::to_wire(&lazy.state(false));
        assert_eq!(
            deliver(&mut lazy, &hello),
            Err(Error::Store(StoreError::Tampered))
        );
        let after = crate::wire::Wire::to_wire(&lazy.state(false));
        assert!(after == before, "a failed step changes nothing");
        assert_eq!(lazy.sessions.resident_len(), 0);
    }

    /// A memory store whose reader fails to read one row while `failing` names it.
    struct Flaky {
        store: crate::client::MemoryStore,
        failing: Arc<Mutex<Option<RowKey>>>,
    }

    struct FlakyReader {
        inner: Box<dyn RecordReader>,
        failing: Arc<Mutex<Option<RowKey>>>,
    }

    impl RecordReader for FlakyReader {
        fn key(&self) -> &StorageKey {
            self.inner.key()
        }

        fn get(&self, row: &RowKey) -> Result<Option<Vec<u8>>, StoreError> {
            if *self.failing.lock().unwrap() == Some(*row) {
                return Err(StoreError::Missing);
            }
            self.inner.get(row)
        }
    }

    impl ClientStore for Flaky {
        fn key(&self) -> &StorageKey {
            self.store.key()
        }

        fn get(&self, row: &RowKey) -> Result<Option<Vec<u8>>, StoreError> {
            self.store.get(row)
        }

        fn commit(
            &mut self,
            check: &RowKey,
            expected: Option<&[u8]>,
            changes: &[(RowKey, Option<Vec<u8>>)],
        ) -> Result<(), StoreError> {
            self.store.commit(check, expected, changes)
        }

        fn reader(&self) -> Option<Box<dyn RecordReader>> {
            Some(Box::new(FlakyReader {
                inner: self.store.reader()?,
                failing: Arc::clone(&self.failing),
            }))
        }
    }

    /// A message whose chain moves to a label in an index bucket the store cannot read at
    /// that moment is still taken; the conversation is indexed again from its chains before
    /// the next lookup, so the message after it is found by its label.
    #[test]
    fn a_message_taken_while_its_next_bucket_cannot_be_read_does_not_stall_its_chain() {
        let rng = &mut rand::rng();
        let (mut dan, mut ana, _ben, group) = group_of_three(crate::conversation::Role::Member);
        let post = |dan: &mut Client, text: &str| {
            let text = Content::text(text);
            crate::client::unsaved::saved(dan.post_to_group(&mut rand::rng(), &group, &text, 0))
        };
        let first = post(&mut dan, "first");
        let later: Vec<_> = (0..INDEXED_AHEAD)
            .map(|i| post(&mut dan, &format!("{i}")))
            .collect();
        // The label Ana indexes once she takes the first message (the one it brings into the
        // indexed steps ahead).
        let mut ahead = Client::from_bytes(&ana.to_bytes().unwrap()).unwrap();
        deliver(&mut ahead, &first).unwrap();
        let labels = |c: &Client| -> BTreeSet<crate::client::index::Key> {
            c.conversations
                .get(&group)
                .unwrap()
                .indexed_labels()
                .into_iter()
                .collect()
        };
        let new: Vec<_> = labels(&ahead).difference(&labels(&ana)).copied().collect();
        let [next] = new[..] else { panic!("{new:?}") };
        // Another entry shares its bucket, so that bucket is a stored row.
        let other = ConversationId([0x55; 16]);
        let saved = &mut ana.saved;
        let load = &mut |b| saved.bucket(super::super::records::Record::Labels(b), b);
        ana.labels.set(other, vec![next], load).unwrap();
        let failing = Arc::new(Mutex::new(None));
        let mut store = Flaky {
            store: crate::client::MemoryStore::default(),
            failing: Arc::clone(&failing),
        };
        ana.save_to(rng, &mut store).unwrap();
        let mut lazy = Client::load_from(&store).unwrap().unwrap();
        let bucket = crate::client::index::bucket_of(&next);
        let row = store
            .key()
            .row(&super::super::records::Record::Labels(bucket));
        *failing.lock().unwrap() = Some(row);
        assert_eq!(texts(&deliver(&mut lazy, &first).unwrap()), ["first"]);
        *failing.lock().unwrap() = None;
        // Saved, and out of memory after each: every later message, the last of them carrying
        // the label the first could not index, is found by the index alone.
        for (i, message) in later.iter().enumerate() {
            lazy.set_cache(0);
            lazy.save_to(rng, &mut store).unwrap();
            assert_eq!(lazy.conversations.resident_len(), 0);
            assert_eq!(
                texts(&deliver(&mut lazy, message).unwrap()),
                [i.to_string()]
            );
        }
        assert_eq!(
            lazy.indexed(&next).unwrap(),
            [other],
            "the chain moved past it"
        );
        for label in labels(&lazy) {
            assert!(lazy.indexed(&label).unwrap().contains(&group));
        }
    }

    /// A lazily loaded client, holding no conversation in memory, finds a group message by
    /// its label while at most `INDEXED_AHEAD - 1` messages before it on its chain are
    /// missing, and a missing one that comes late by the label its skipped step keeps. Past
    /// that bound the message waits until its conversation is in memory.
    #[test]
    fn a_lazy_client_reads_past_lost_messages_and_late_ones() {
        let rng = &mut rand::rng();
        let (mut dan, mut ana, _ben, group) = group_of_three(crate::conversation::Role::Member);
        let mut store = crate::client::MemoryStore::default();
        ana.save_to(rng, &mut store).unwrap();
        let mut lazy = Client::load_from(&store).unwrap().unwrap();
        let mut post = |text: &str| {
            let text = Content::text(text);
            crate::client::unsaved::saved(dan.post_to_group(&mut rand::rng(), &group, &text, 0))
        };
        let late: Vec<_> = (1..INDEXED_AHEAD)
            .map(|i| post(&format!("late {i}")))
            .collect();
        let found = post("found");
        let mut cold = |lazy: &mut Client, out: &[Outgoing]| {
            lazy.set_cache(0);
            lazy.save_to(&mut rand::rng(), &mut store).unwrap();
            assert_eq!(lazy.conversations.resident_len(), 0);
            texts(&deliver(lazy, out).unwrap())
        };
        assert_eq!(cold(&mut lazy, &found), ["found"]);
        for (i, out) in late.iter().enumerate().rev() {
            assert_eq!(cold(&mut lazy, out), [format!("late {}", i + 1)]);
        }
        // INDEXED_AHEAD missing in a row: the next is beyond what the index lists.
        let missing: Vec<_> = (0..INDEXED_AHEAD).map(|_| post("missing")).collect();
        let beyond = post("beyond");
        assert!(cold(&mut lazy, &beyond).is_empty());
        assert_eq!(lazy.waiting(), 1);
        // A missing one arrives: the conversation is in memory, and the one that waited opens.
        let events = deliver(&mut lazy, &missing[0]).unwrap();
        assert_eq!(texts(&events), ["missing", "beyond"]);
        assert_eq!(lazy.waiting(), 0);
    }

    /// What the app reads of a lazily loaded client (every contact, a conversation) is what
    /// the client loaded whole reads, and reading keeps nothing in memory; saved to a store of
    /// its own, the client keeps its generation counting up and its cache bound.
    #[test]
    fn a_lazy_clients_accessors_read_what_is_stored_and_keep_nothing() {
        let rng = &mut rand::rng();
        let (_dan, mut ana, _ben, group) = group_of_three(crate::conversation::Role::Member);
        for i in 0..3 {
            let mut other = Client::new(rng, format!("other{i}").as_bytes());
            connect(&mut ana, &mut other);
        }
        let mut store = crate::client::MemoryStore::default();
        ana.save_to(rng, &mut store).unwrap();
        ana.save_to(rng, &mut store).unwrap();
        let lazy = Client::load_from(&store).unwrap().unwrap();
        let mut contacts = lazy.contacts().unwrap();
        contacts.sort_by_key(|c| c.mailbox);
        let mut whole = ana.contacts().unwrap();
        whole.sort_by_key(|c| c.mailbox);
        assert_eq!(contacts.len(), 4, "Dan and the three others");
        assert_eq!(contacts, whole);
        assert_eq!(
            lazy.conversation(&group).unwrap(),
            ana.conversation(&group).unwrap()
        );
        assert!(lazy.conversation(&group).unwrap().is_some());
        assert_eq!(lazy.contacts.resident_len(), 0);
        assert_eq!(lazy.conversations.resident_len(), 0);
        // To a new store: the generation goes on from where it was, the cache bound stays.
        let mut lazy = lazy;
        let before = lazy.generation();
        assert!(before > 1);
        let _ = lazy.contact_by_user(b"ben").unwrap();
        lazy.load_conversation(&group).unwrap();
        lazy.set_cache(0);
        let mut fresh = crate::client::MemoryStore::default();
        lazy.save_to(rng, &mut fresh).unwrap();
        assert_eq!(lazy.generation(), before + 1);
        assert_eq!(lazy.conversations.resident_len(), 0, "the bound of 0 held");
        let again = Client::load_from(&fresh).unwrap().unwrap();
        assert_eq!(again.generation(), before + 1);
    }

    /// A lazily loaded client registers the same keys at the relay as the client loaded
    /// whole: its groups' keys included, read from what the catalog lists.
    #[test]
    fn a_lazy_client_registers_every_groups_keys() {
        let rng = &mut rand::rng();
        let (_dan, mut ana, _ben, _group) = group_of_three(crate::conversation::Role::Member);
        let mut store = crate::client::MemoryStore::default();
        ana.save_to(rng, &mut store).unwrap();
        let mut lazy = Client::load_from(&store).unwrap().unwrap();
        let register = |c: &mut Client| {
            c.reset_access_registration();
            let sync = crate::client::unsaved::saved(c.access_sync(&mut rand::rng(), 0));
            sync.update.unwrap()
        };
        let mut whole = Client::from_bytes(&ana.to_bytes().unwrap()).unwrap();
        assert!(whole.access.groups.is_complete());
        let (whole, from_store) = (register(&mut whole), register(&mut lazy));
        assert!(!whole.add.is_empty(), "the group's keys");
        assert_eq!(whole.add, from_store.add);
    }

    /// After a save, each kind keeps in memory at most the cache's bound of records as
    /// stored: up to the bound, all are kept; past it, all of them go.
    #[test]
    fn a_save_keeps_each_kind_within_the_cache_bound() {
        let rng = &mut rand::rng();
        let (mut ana, mut ben) = (Client::new(rng, b"ana"), Client::new(rng, b"ben"));
        let ben_id = connect(&mut ana, &mut ben);
        let invite = crate::client::unsaved::saved(ana.invite(rng, &ben_id, None, 0));
        deliver(&mut ben, &invite).unwrap();
        let mut store = crate::client::MemoryStore::default();
        ben.save_to(rng, &mut store).unwrap();
        let mut lazy = Client::load_from(&store).unwrap().unwrap();
        let resident = |c: &Client| (c.contacts.resident_len(), c.sessions.resident_len());
        let hello = crate::client::unsaved::saved(ana.withdraw(rng, &ben_id, 0));
        deliver(&mut lazy, &hello).unwrap();
        assert_eq!(
            resident(&lazy),
            (1, 1),
            "Ana's records, read for her message"
        );
        lazy.set_cache(1);
        lazy.save_to(rng, &mut store).unwrap();
        assert_eq!(resident(&lazy), (1, 1), "at the bound: kept");
        lazy.set_cache(0);
        lazy.save_to(rng, &mut store).unwrap();
        assert_eq!(resident(&lazy), (0, 0), "past it: dropped");
    }

    fn texts(events: &[Event]) -> Vec<String> {
        let text = |e: &Event| match e {
            Event::Message { content, .. } => content.as_text().map(str::to_string),
            _ => None,
        };
        events.iter().filter_map(text).collect()
    }

    /// A removal notice from anyone but an admin of a group the reader is in is refused, and
    /// refusing it changes nothing (the session step it took is undone).
    #[test]
    fn only_a_groups_admin_tells_a_member_it_was_removed() {
        let mut rng = rand::rng();
        let (mut dan, mut ana, mut ben, group) = group_of_three(crate::conversation::Role::Member);
        let ana_id = *ana.mailbox_id();
        // Ben, a member, claims Ana was removed; then Ben, as admin of a one-to-one
        // conversation with Ana, claims the same of it.
        let notice = Pairwise::Removed { group, epoch: 1 };
        let forged = ben
            .pairwise_within(&mut rng, &ana_id, &notice, Some(&group), 0)
            .unwrap();
        let before = ana.to_bytes().unwrap();
        assert_eq!(
            deliver(&mut ana, &forged),
            Err(crate::PolicyError::NotGroupMember.into())
        );
        assert!(
            *ana.to_bytes().unwrap() == *before,
            "a refused notice changes nothing"
        );
        assert!(!ana.conversation(&group).unwrap().unwrap().removed);
        // Dan's notice for the epoch Ana is in says nothing new (a change she has seen).
        let stale = Pairwise::Removed { group, epoch: 0 };
        let stale = dan
            .pairwise_within(&mut rng, &ana_id, &stale, Some(&group), 0)
            .unwrap();
        assert_eq!(deliver(&mut ana, &stale).unwrap(), []);
        assert!(!ana.conversation(&group).unwrap().unwrap().removed);
        // His notice of a later epoch is taken, once.
        for expected in [
            vec![Event::Removed {
                group,
                by: *dan.mailbox_id(),
            }],
            vec![],
        ] {
            let genuine = dan
                .pairwise_within(&mut rng, &ana_id, &notice, Some(&group), 0)
                .unwrap();
            assert_eq!(deliver(&mut ana, &genuine).unwrap(), expected);
            assert!(ana.conversation(&group).unwrap().unwrap().removed);
        }
    }

    #[test]
    fn what_only_our_own_devices_may_say_is_ignored_from_anyone_else() {
        let mut rng = rand::rng();
        let (_, mut ana, mut ben, _) = group_of_three(crate::conversation::Role::Member);
        let (ana_id, ben_id) = (*ana.mailbox_id(), *ben.mailbox_id());
        let settings = super::super::state::SettingsState::of(&Settings {
            read_receipts: false,
            typing_indicators: false,
            sponsored_messages: false,
        });
        let stamp = super::super::account_sync::Stamp {
            time: u64::MAX,
            device: ben_id,
        };
        let key = AccessKey::generate(&mut rng);
        ana.load_member(&ben_id).unwrap();
        assert_eq!(ana.standing(&ben_id), Connection::None);
        let before_key = ana.access.contact.clone();
        for claim in [
            Pairwise::Settings { settings, stamp },
            Pairwise::ContactKey {
                key,
                stamp,
                replaces: stamp,
            },
            Pairwise::Did {
                with: ben_id,
                step: super::super::payload::Step::Accept,
                key: None,
                seen: stamp,
            },
        ] {
            let out = ben.pairwise(&mut rng, &ana_id, &claim, 0).unwrap();
            let events = deliver(&mut ana, &out).unwrap();
            assert!(
                events.iter().all(|e| matches!(e, Event::NewContact(_))),
                "{events:?}"
            );
        }
        assert_eq!(*ana.settings(), Settings::default());
        assert!(ana.access.contact == before_key);
        ana.load_member(&ben_id).unwrap();
        assert_eq!(ana.standing(&ben_id), Connection::None);
    }

    /// The index of next labels, followed message by message, is the one built from scratch.
    /// A first message from Ana to Ben and Cem carrying `first`, as Ben's delivery.
    fn crafted(ana: &mut Client, ben: &MailboxId, cem: &MailboxId, first: &FirstPost) -> Vec<u8> {
        let ana_id = DeviceOf::first(*ana.mailbox_id());
        let (_, envelope, _) = ana
            .fanout
            .send_first_seeded(
                &mut rand::rng(),
                ana_id,
                &[*ben, *cem],
                &first.to_bytes(),
                9,
            )
            .unwrap();
        let deliveries = envelope.split();
        let at_ben = deliveries.iter().find(|d| d.mailbox() == *ben).unwrap();
        at_ben.to_bytes()
    }

    #[test]
    fn a_first_message_that_maps_a_device_to_the_wrong_member_is_refused_and_keeps_its_step() {
        let mut rng = rand::rng();
        let (mut ana, mut ben, mut cem) = (
            Client::new(&mut rng, b"ana"),
            Client::new(&mut rng, b"ben"),
            Client::new(&mut rng, b"cem"),
        );
        let (ana_id, ben_id, cem_id) = (*ana.mailbox_id(), *ben.mailbox_id(), *cem.mailbox_id());
        connect(&mut ben, &mut ana);
        for (to, at) in [(ben_id, &mut ben), (cem_id, &mut cem)] {
            let grant = ana.fanout.grant(&mut rng, to).unwrap().to_bytes();
            at.fanout
                .accept_grant_from(DeviceOf::first(ana_id), &grant)
                .unwrap();
        }
        let mut participants = vec![
            (ben_id, *ben.account_identity()),
            (cem_id, *cem.account_identity()),
        ];
        participants.sort_unstable_by_key(|(m, _)| *m);
        let post = Post {
            access: Access::Multi,
            content: Content::text("hi"),
        };
        let first = |devices: Vec<(MailboxId, MailboxId)>| FirstPost {
            participants: participants.clone(),
            devices,
            post: post.clone(),
        };
        let mismatch = Err(Error::Crypto(CryptoError::RosterMismatch));
        let outsider = MailboxId([0xee; 16]);
        let refused = [
            // Ben's own mailbox as Cem's device.
            first(vec![(ben_id, cem_id)]),
            // Ana's device as someone else's.
            first(vec![(ana_id, cem_id)]),
            // A device the first message did not go to.
            first(vec![(outsider, cem_id)]),
        ];
        for crafted_first in &refused {
            let delivery = crafted(&mut ana, &ben_id, &cem_id, crafted_first);
            assert_eq!(ben.receive(&delivery, 0), mismatch, "{crafted_first:?}");
        }
        // Ben vouched for under another identity.
        let mut wrong = first(Vec::new());
        wrong.participants.retain(|(m, _)| *m != ben_id);
        wrong.participants.push((ben_id, *cem.account_identity()));
        wrong.participants.sort_unstable_by_key(|(m, _)| *m);
        let delivery = crafted(&mut ana, &ben_id, &cem_id, &wrong);
        assert_eq!(ben.receive(&delivery, 0), mismatch);
        // A sponsored message naming devices.
        let mut listed = first(vec![(outsider, cem_id)]);
        listed.participants.clear();
        let delivery = crafted(&mut ana, &ben_id, &cem_id, &listed);
        assert_eq!(ben.receive(&delivery, 0), mismatch);
        // Fifty-one members vouched for: the rule holds per member on this side too.
        let many = |n: u8| {
            let mut many = first(Vec::new());
            many.participants
                .extend((0..n).map(|i| (MailboxId([i; 16]), *cem.account_identity())));
            many.participants.sort_unstable_by_key(|(m, _)| *m);
            many
        };
        let delivery = crafted(&mut ana, &ben_id, &cem_id, &many(49));
        assert_eq!(
            ben.receive(&delivery, 0),
            Err(Error::Usage(UsageError::TooManyRecipients { max: 50 }))
        );
        // None of them used up a step: one with fifty, eight steps on, still opens.
        let delivery = crafted(&mut ana, &ben_id, &cem_id, &many(48));
        let events = ben.receive(&delivery, 0).unwrap();
        assert!(
            matches!(events.first(), Some(Event::Joined(_))),
            "{events:?}"
        );
    }

    #[test]
    fn the_label_index_follows_every_chain_as_it_moves() {
        let (mut dan, mut ana, mut ben, group) = group_of_three(crate::conversation::Role::Manager);
        let post = |c: &mut Client| {
            let text = Content::text("x");
            crate::client::unsaved::saved(c.post_to_group(&mut rand::rng(), &group, &text, 0))
        };
        for round in 0..5 {
            let from_dan = post(&mut dan);
            deliver(&mut ana, &from_dan).unwrap();
            let from_ben = post(&mut ben);
            // Ana misses one of Ben's messages now and then: her index must still follow.
            if round != 2 {
                deliver(&mut ana, &from_ben).unwrap();
            }
            deliver(&mut dan, &from_ben).unwrap();
            let mut rebuilt: Index<ConversationId> = Index::default();
            let none = &mut |_| panic!("a complete index reads nothing");
            for (id, c) in ana.conversations.resident() {
                rebuilt.set(*id, c.indexed_labels(), none).unwrap();
            }
            ana.refresh_indexes().unwrap();
            assert_eq!(ana.labels.entries(), rebuilt.entries(), "round {round}");
            assert!(!rebuilt.entries().is_empty());
        }
    }

    #[test]
    fn a_one_to_one_conversation_cannot_be_left_by_notice() {
        let mut rng = rand::rng();
        let (mut ana, mut ben) = (Client::new(&mut rng, b"ana"), Client::new(&mut rng, b"ben"));
        let ben_id = connect(&mut ana, &mut ben);
        let ana_id = *ana.mailbox_id();
        let invite = crate::client::unsaved::saved(ana.invite(&mut rng, &ben_id, None, 0));
        deliver(&mut ben, &invite).unwrap();
        let accept = crate::client::unsaved::saved(ben.accept(&mut rng, &ana_id, 0));
        deliver(&mut ana, &accept).unwrap();
        let hello =
            crate::client::unsaved::saved(ana.send(&mut rng, &ben_id, &Content::text("hi"), 0));
        deliver(&mut ben, &hello).unwrap();
        let direct = ben.direct_conversation(&ana_id).unwrap().unwrap();
        // Ana opened it, so she is its admin; it is no group, so no notice removes Ben.
        let notice = Pairwise::Removed {
            group: direct,
            epoch: 1,
        };
        let forged = ana
            .pairwise_within(&mut rng, &ben_id, &notice, Some(&direct), 0)
            .unwrap();
        let before = ben.to_bytes().unwrap();
        assert_eq!(
            deliver(&mut ben, &forged),
            Err(crate::PolicyError::NotGroupMember.into())
        );
        assert!(*ben.to_bytes().unwrap() == *before);
        assert!(!ben.conversation(&direct).unwrap().unwrap().removed);
    }

    #[test]
    fn a_message_sealed_within_a_session_may_claim_that_session_s_device_only() {
        let mut rng = rand::rng();
        let (mut ana, mut ben, mut eve) = (
            Client::new(&mut rng, b"ana"),
            Client::new(&mut rng, b"ben"),
            Client::new(&mut rng, b"eve"),
        );
        let ben_id = connect(&mut eve, &mut ben);
        connect(&mut ana, &mut ben);
        let eve_id = *eve.mailbox_id();
        let hello = crate::client::unsaved::saved(eve.invite(&mut rng, &ben_id, None, 0));
        deliver(&mut ben, &hello).unwrap();
        let accept = crate::client::unsaved::saved(ben.accept(&mut rng, &eve_id, 0));
        deliver(&mut eve, &accept).unwrap();
        // Eve's next message is sealed within her session with Ben.
        let text = Content::text("from eve");
        let out = crate::client::unsaved::saved(eve.send(&mut rng, &ben_id, &text, 0));
        let body = Envelope::from_bytes(&out[0].envelope).unwrap().split()[0]
            .body()
            .to_vec();
        let Some(Ok(Opened::Session { label, enc, inner })) =
            sealed::try_open(&ben.identity, &ben.prekeys, &ben_id, &body)
        else {
            panic!("a message within the session")
        };
        let (device, content) = ben.session_sealed(&label, &enc, &inner).unwrap();
        assert_eq!(device, eve_id);
        let SealedContent::Session { message, .. } = content else {
            panic!("a session message")
        };
        // The same message, sealed again within Eve's session, claiming Ana's device: refused
        // before any session is tried, and nothing changes.
        let claim = SealedContent::Session {
            sender_user: ana.user.clone(),
            sender_mailbox: *ana.mailbox_id(),
            sender_identity: *ana.identity(),
            access: None,
            message,
        };
        let sealing = eve.sealing_to(&ben_id);
        let forged =
            sealed::seal(&mut rng, &sealing, ben.identity().dh_key(), &ben_id, &claim).unwrap();
        let env = Envelope::to_mailboxes(u64::MAX, &[ben_id], &forged).unwrap();
        let before = ben.to_bytes().unwrap();
        assert_eq!(
            ben.receive(&env[0].split()[0].to_bytes(), 0),
            Err(CryptoError::WrongSender.into())
        );
        assert_eq!(*ben.to_bytes().unwrap(), *before);
        assert_eq!(texts(&deliver(&mut ben, &out).unwrap()), ["from eve"]);
    }

    #[test]
    fn a_sealed_claim_of_another_identity_is_refused() {
        let mut rng = rand::rng();
        let (mut alice, mut bob, mut mallory) = (
            Client::new(&mut rng, b"alice"),
            Client::new(&mut rng, b"bob"),
            Client::new(&mut rng, b"mallory"),
        );
        let bob_id = connect(&mut mallory, &mut bob);
        connect(&mut alice, &mut bob);
        let out =
            crate::client::unsaved::saved(mallory.invite(&mut rng, &bob_id, Some("I am alice"), 0));
        // A prekey message under Mallory's identity, claiming Alice's: refused, nothing changes.
        let first = forged(&bob, &alice, &out[0]);
        assert_eq!(bob.receive(&first, 0), Err(CryptoError::WrongSender.into()));
        assert!(
            bob.contacts.resident().next().is_none() && bob.sessions.resident().next().is_none()
        );

        // Once Bob and Alice have a session, a later message claiming Alice fails to decrypt.
        let alice_id = *alice.mailbox_id();
        let hello = crate::client::unsaved::saved(alice.invite(&mut rng, &bob_id, None, 0));
        for o in &hello {
            for d in Envelope::from_bytes(&o.envelope).unwrap().split() {
                bob.receive(&d.to_bytes(), 0).unwrap();
            }
        }
        let bob_state = bob.to_bytes().unwrap();
        // Withdrawing is Mallory's next pairwise (sealed) message to Bob.
        let later = crate::client::unsaved::saved(mallory.withdraw(&mut rng, &bob_id, 0));
        let second = forged(&bob, &alice, &later[0]);
        assert!(bob.receive(&second, 0).is_err());
        assert_eq!(
            *bob.to_bytes().unwrap(),
            *bob_state,
            "a refused delivery changes nothing"
        );
        assert_eq!(
            bob.contact(&alice_id).unwrap().map(|c| c.identity),
            Some(*alice.identity())
        );
    }

    /// `out`'s session message to Bob, sealed again as `content` makes it.
    fn resealed(
        bob: &Client,
        out: &Outgoing,
        content: impl FnOnce(Vec<u8>) -> SealedContent,
    ) -> Vec<u8> {
        let envelope = Envelope::from_bytes(&out.envelope).unwrap();
        let bob_id = *bob.mailbox_id();
        let delivery = &envelope.split()[0];
        let Opened::Content(opened) =
            sealed::try_open(&bob.identity, &bob.prekeys, &bob_id, delivery.body())
                .unwrap()
                .unwrap()
        else {
            panic!("not a session's opening message")
        };
        let SealedContent::Session { message, .. } = *opened else {
            panic!("not a session message")
        };
        let body = sealed::seal(
            &mut rand::rng(),
            &crate::session::Sealing::Classical,
            bob.identity().dh_key(),
            &bob_id,
            &content(message),
        )
        .unwrap();
        let env = Envelope::to_mailboxes(u64::MAX, &[bob_id], &body).unwrap();
        env[0].split()[0].to_bytes()
    }

    #[test]
    fn a_device_its_account_does_not_vouch_for_is_refused() {
        let mut rng = rand::rng();
        let (mut alice, mut bob, mut mallory) = (
            Client::new(&mut rng, b"alice"),
            Client::new(&mut rng, b"bob"),
            Client::new(&mut rng, b"mallory"),
        );
        let bob_id = connect(&mut mallory, &mut bob);
        // Bob knows Alice (her account identity).
        let alice_id = connect(&mut bob, &mut alice);
        let mallory_id = *mallory.mailbox_id();
        let out = crate::client::unsaved::saved(mallory.invite(&mut rng, &bob_id, None, 0));
        let own = crate::device::DeviceList::first(mallory_id, *mallory.identity());
        let own_list = own.sign(&mallory.identity).to_bytes();
        let signed_by_alice = own.sign(&alice.identity).to_bytes();
        let other = Identity::generate(&mut rng);
        let (with_bob, _) = own.with_device(bob_id, *other.public()).unwrap();
        let naming_bob = with_bob.sign(&mallory.identity).to_bytes();
        let (with_laptop, _) = own
            .with_device(MailboxId([9; 16]), *other.public())
            .unwrap();
        let not_naming_her = with_laptop
            .without(1)
            .unwrap()
            .with_device(mallory_id, *Identity::generate(&mut rng).public())
            .unwrap()
            .0
            .sign(&mallory.identity)
            .to_bytes();
        let claim = |member: MailboxId, list: Option<Vec<u8>>| {
            let (user, identity) = (mallory.user.clone(), *mallory.identity());
            move |message| SealedContent::DeviceSession {
                member,
                list: list.map(serde_bytes::ByteBuf::from),
                sender_user: user,
                sender_mailbox: mallory_id,
                sender_identity: identity,
                access: None,
                message,
            }
        };
        let before = bob.to_bytes().unwrap();
        let refused = [
            // A device of Alice's, says Mallory's device: no list of Alice's names it.
            (
                claim(alice_id, None),
                Error::Crypto(CryptoError::WrongSender),
            ),
            // With a list that Alice's identity did not sign.
            (
                claim(alice_id, Some(own_list.clone())),
                Error::Device(crate::error::DeviceError::WrongAccount),
            ),
            // An account's first device seals as itself, or carrying its account's list.
            (
                claim(mallory_id, None),
                Error::Crypto(CryptoError::WrongSender),
            ),
            // A first device's list is its own identity's.
            (
                claim(mallory_id, Some(signed_by_alice)),
                Error::Device(crate::error::DeviceError::WrongAccount),
            ),
            // A list of Mallory's that names one of Bob's mailboxes among her devices.
            (
                claim(mallory_id, Some(naming_bob)),
                Error::Crypto(CryptoError::WrongSender),
            ),
            // A list of Mallory's that names another device under her mailbox.
            (
                claim(mallory_id, Some(not_naming_her)),
                Error::Crypto(CryptoError::WrongSender),
            ),
            // One of Bob's own devices, says a stranger.
            (claim(bob_id, None), Error::Crypto(CryptoError::WrongSender)),
        ];
        for (make, error) in refused {
            let delivery = resealed(&bob, &out[0], make);
            assert_eq!(bob.receive(&delivery, 0), Err(error));
            assert!(*bob.to_bytes().unwrap() == *before, "nothing changed");
        }
        // Bob holds a list of Alice's with two devices, neither Mallory's: still refused.
        let laptop = Identity::generate(&mut rng);
        let (list, _) = crate::device::DeviceList::first(alice_id, *alice.identity())
            .with_device(MailboxId([7; 16]), *laptop.public())
            .unwrap();
        bob.peer_devices
            .insert(alice_id, list.sign(&alice.identity));
        let delivery = resealed(&bob, &out[0], claim(alice_id, None));
        assert_eq!(
            bob.receive(&delivery, 0),
            Err(Error::Crypto(CryptoError::WrongSender))
        );
        // Bob on two devices of his own, neither Mallory's: she is still no device of his.
        let (own, _) = crate::device::DeviceList::first(bob_id, *bob.identity())
            .with_device(MailboxId([8; 16]), *laptop.public())
            .unwrap();
        bob.set_list(own.sign(&bob.identity));
        let delivery = resealed(&bob, &out[0], claim(bob_id, None));
        assert_eq!(
            bob.receive(&delivery, 0),
            Err(Error::Crypto(CryptoError::WrongSender))
        );
    }

    #[test]
    fn a_typing_indicator_shows_only_from_a_device_its_member_lists() {
        let mut rng = rand::rng();
        let (mut alice, mut bob, mallory) = (
            Client::new(&mut rng, b"alice"),
            Client::new(&mut rng, b"bob"),
            Client::new(&mut rng, b"mallory"),
        );
        let alice_id = connect(&mut bob, &mut alice);
        let (group, _) = crate::client::unsaved::saved(bob.create_group(
            &mut rng,
            &[(alice_id, crate::conversation::Role::Member)],
            0,
        ));
        let bob_id = *bob.mailbox_id();
        let bob_key = *bob.identity().dh_key();
        let sealed_to_bob = |content: &SealedContent| {
            let classical = crate::session::Sealing::Classical;
            let body =
                sealed::seal(&mut rand::rng(), &classical, &bob_key, &bob_id, content).unwrap();
            Envelope::to_mailboxes(u64::MAX, &[bob_id], &body).unwrap()[0].split()[0].to_bytes()
        };
        let statement = sealed::typing_statement(&bob_id, &group, true, 0);
        let shown = |events: Vec<Event>| events.iter().any(|e| matches!(e, Event::Typing { .. }));
        // Alice's own device: shown.
        let genuine = SealedContent::Typing {
            sender_mailbox: alice_id,
            conversation: group,
            typing: true,
            timestamp: 0,
            signature: alice.identity.sign(&statement),
        };
        assert!(shown(bob.receive(&sealed_to_bob(&genuine), 0).unwrap()));
        // Mallory's device, claiming to be one of Alice's: no list of hers names it.
        let forged = SealedContent::DeviceTyping {
            member: alice_id,
            sender_mailbox: *mallory.mailbox_id(),
            conversation: group,
            typing: true,
            timestamp: 0,
            signature: mallory.identity.sign(&statement),
        };
        assert!(!shown(bob.receive(&sealed_to_bob(&forged), 0).unwrap()));
        // A first device never sends the device variant.
        let first = SealedContent::DeviceTyping {
            member: alice_id,
            sender_mailbox: alice_id,
            conversation: group,
            typing: true,
            timestamp: 0,
            signature: alice.identity.sign(&statement),
        };
        assert!(!shown(bob.receive(&sealed_to_bob(&first), 0).unwrap()));
    }

    #[test]
    fn a_device_list_sent_in_an_ad_hoc_conversation_is_taken_only_as_its_senders_account_signed_it()
    {
        let mut rng = rand::rng();
        let (mut ana, mut ben, mut cem, mallory) = (
            Client::new(&mut rng, b"ana"),
            Client::new(&mut rng, b"ben"),
            Client::new(&mut rng, b"cem"),
            Identity::generate(&mut rng),
        );
        let ana_id = *ana.mailbox_id();
        let (ben_id, cem_id) = (connect(&mut ana, &mut ben), connect(&mut ana, &mut cem));
        for (peer, at) in [(ben_id, &mut ben), (cem_id, &mut cem)] {
            ana.connections.insert(peer, Connection::Connected);
            connect(at, &mut ana);
            at.connections.insert(ana_id, Connection::Connected);
            ana.peer_key(&peer, at.access.contact.clone());
            at.peer_key(&ana_id, ana.access.contact.clone());
        }
        let (id, out) = crate::client::unsaved::saved(ana.send_multi(
            &mut rng,
            &[ben_id, cem_id],
            &Content::text("hi"),
            0,
        ));
        deliver(&mut ben, &out).unwrap();
        deliver(&mut cem, &out).unwrap();
        let notice = |sender: &mut Client, list: Vec<u8>| {
            let post = Post {
                access: Access::Participant,
                content: Content::Devices(list),
            };
            let mut out = Vec::new();
            sender
                .send_in(&mut rand::rng(), &id, &post, 0, &mut out)
                .unwrap();
            out
        };
        let own = crate::device::DeviceList::first(ana_id, *ana.identity());
        // Outside an ad-hoc conversation a list is no notice: not taken.
        let hello =
            crate::client::unsaved::saved(ana.send(&mut rng, &ben_id, &Content::text("hello"), 0));
        deliver(&mut ben, &hello).unwrap();
        let direct = *ana.direct.get(&ben_id).unwrap();
        let post = Post {
            access: Access::Connection,
            content: Content::Devices(own.sign(&ana.identity).to_bytes()),
        };
        let mut out = Vec::new();
        ana.send_in(&mut rng, &direct, &post, 0, &mut out).unwrap();
        assert_eq!(deliver(&mut ben, &out), Ok(Vec::new()));
        ben.load_member(&ana_id).unwrap();
        assert!(ben.peer_devices.get(&ana_id).is_none());
        let other = *Identity::generate(&mut rng).public();
        let refused = [
            // Another account's list, under Ana's mailbox.
            (
                crate::device::DeviceList::first(ana_id, *mallory.public())
                    .sign(&mallory)
                    .to_bytes(),
                Error::Device(crate::error::DeviceError::WrongAccount),
            ),
            // Ana's, not naming the device that sent it.
            (
                crate::device::DeviceList::first(MailboxId([5; 16]), *ana.identity())
                    .sign(&ana.identity)
                    .to_bytes(),
                Error::Crypto(CryptoError::WrongSender),
            ),
            // Ana's, naming Ben's mailbox as a device of hers.
            (
                own.with_device(ben_id, other)
                    .unwrap()
                    .0
                    .sign(&ana.identity)
                    .to_bytes(),
                Error::Crypto(CryptoError::WrongSender),
            ),
            // Not a list at all.
            (
                vec![1, 2, 3],
                Error::Decode(crate::error::DecodeError::Truncated {
                    what: "device list",
                }),
            ),
        ];
        let before = ben.to_bytes().unwrap();
        for (list, error) in refused {
            let out = notice(&mut ana, list);
            assert_eq!(deliver(&mut ben, &out), Err(error));
            assert!(*ben.to_bytes().unwrap() == *before, "nothing changed");
        }
        // Ana's own list: taken (Ben holds it since), and shown as nothing.
        let genuine = own.sign(&ana.identity).to_bytes();
        let out = notice(&mut ana, genuine);
        assert_eq!(deliver(&mut ben, &out), Ok(Vec::new()));
        ben.load_member(&ana_id).unwrap();
        assert!(ben.peer_devices.get(&ana_id).is_some());
        // The conversation goes on: a text after them opens.
        let post = Post {
            access: Access::Participant,
            content: Content::text("still here"),
        };
        let mut out = Vec::new();
        ana.send_in(&mut rng, &id, &post, 0, &mut out).unwrap();
        let events = deliver(&mut ben, &out).unwrap();
        assert!(
            matches!(events.as_slice(), [Event::Message { .. }]),
            "{events:?}"
        );

        // Cem is no contact of Ben's: his list is taken under the key his chain there
        // verifies under, and no other.
        let forged = crate::device::DeviceList::first(cem_id, *mallory.public())
            .sign(&mallory)
            .to_bytes();
        let out = notice(&mut cem, forged);
        let before = ben.to_bytes().unwrap();
        assert_eq!(
            deliver(&mut ben, &out),
            Err(Error::Crypto(CryptoError::WrongSender))
        );
        assert!(*ben.to_bytes().unwrap() == *before, "nothing changed");
        let genuine = crate::device::DeviceList::first(cem_id, *cem.identity())
            .sign(&cem.identity)
            .to_bytes();
        let out = notice(&mut cem, genuine);
        assert_eq!(deliver(&mut ben, &out), Ok(Vec::new()));
        ben.load_member(&cem_id).unwrap();
        assert!(ben.contacts.get(&cem_id).is_none());
        assert!(ben.peer_devices.get(&cem_id).is_some());
    }

    #[test]
    fn what_only_another_member_sends_is_ignored_from_our_own_other_device() {
        let rng = &mut rand::rng();
        let (mut phone, mut laptop) = (Client::new(rng, b"ann"), Client::new(rng, b"ann"));
        let code = phone.link_code(rng, 0).unwrap();
        let request = crate::client::unsaved::saved(laptop.answer_link(rng, &code, 0));
        deliver(&mut phone, &[request]).unwrap();
        let linked = crate::client::unsaved::saved(phone.link_device(rng, 0));
        deliver(&mut laptop, &[linked.handover]).unwrap();
        let published = crate::client::unsaved::saved(laptop.publish(rng, 1));
        let found = crate::relay_api::DeviceDirectory {
            list: linked.list,
            devices: vec![PrekeyResponse {
                mailbox: *laptop.mailbox_id(),
                bundle: published.bundle,
                one_time: published.one_time.into_iter().next(),
            }],
        };
        let member = *phone.member_id();
        crate::client::unsaved::saved(phone.add_contact_devices(rng, &member, &found));
        for payload in [
            Pairwise::Invite { note: None },
            Pairwise::Accept,
            Pairwise::Remove,
            Pairwise::Removed {
                group: ConversationId([3; 16]),
                epoch: 1,
            },
        ] {
            let out = phone.pairwise(rng, &member, &payload, 0).unwrap();
            assert_eq!(out.len(), 1, "to the laptop");
            assert_eq!(deliver(&mut laptop, &out), Ok(Vec::new()), "{payload:?}");
            laptop.load_member(&member).unwrap();
            assert_eq!(laptop.standing(&member), Connection::None);
        }
        assert!(laptop.connections.get(&member).is_none());
    }
}
