//! A sans-IO client: one per user. It ties identity, mailbox, prekeys, pairwise sessions,
//! conversations and sealed sender together, and does no I/O: every method takes the bytes that
//! arrived and returns the bytes to send, so an app drives it over whatever transport it has.
//!
//! ```
//! use missive::client::{Client, Content, Event};
//! use missive::relay_api::PrekeyResponse;
//! # fn main() -> Result<(), missive::Error> {
//! let mut rng = rand::rng();
//! let (mut alice, mut bob) = (Client::new(&mut rng, b"alice"), Client::new(&mut rng, b"bob"));
//! // Bob publishes prekeys; the relay would hand Alice this response for "bob".
//! let published = bob.publish(&mut rng, 1)?;
//! let response = PrekeyResponse {
//!     mailbox: *bob.mailbox_id(),
//!     bundle: published.bundle,
//!     one_time: published.one_time.into_iter().next(),
//! };
//! let bob_id = alice.add_contact(&mut rng, b"bob", &response)?;
//! let now = 1_800_000_000;
//! let outgoing = alice.send(&mut rng, &bob_id, &Content::text("hi Bob"), now)?;
//! // The relay splits each envelope; Bob receives his deliveries.
//! let mut events = Vec::new();
//! for out in &outgoing {
//!     for delivery in missive::envelope::split(&out.envelope)? {
//!         events.extend(bob.receive(&delivery.to_bytes())?);
//!     }
//! }
//! assert!(events.iter().any(|e| matches!(e, Event::Message { content, .. } if *content == Content::text("hi Bob"))));
//! # Ok(()) }
//! ```

mod payload;
mod receive;
mod sealed;
mod state;

use std::collections::{HashMap, HashSet, VecDeque};

use rand::CryptoRng;

pub use payload::Content;

use crate::conversation::{Conversation, ConversationId, FanOut, KeyDistribution, Member, Role};
use crate::envelope::{Envelope, EnvelopeId, MailboxId};
use crate::error::{CryptoError, Error, UsageError};
use crate::identity::{Identity, PublicIdentity};
use crate::mailbox::{AuthProof, MailboxKey};
use crate::relay_api::{OneTimePrekey as PublishedPrekey, PrekeyResponse, PublishPrekeys};
use crate::session::{PrekeyBundle, PrekeyOwner, Session};
use payload::Pairwise;
use sealed::SealedContent;

/// How long an envelope may wait at the relay: 30 days.
pub const ENVELOPE_LIFETIME: u64 = 30 * 24 * 60 * 60;
/// Deliveries kept while the keys to open them have not arrived yet.
const MAX_PENDING: usize = 256;
/// Envelope ids remembered to drop duplicates (delivery is at least once).
const MAX_SEEN: usize = 4096;

/// Someone we have a pairwise session with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contact {
    /// Their account name.
    pub user: Vec<u8>,
    /// Their mailbox: where to deliver, and their id in conversations.
    pub mailbox: MailboxId,
    /// Their identity, as their session is authenticated with it.
    pub identity: PublicIdentity,
}

/// An envelope to hand to the relay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    /// The encoded [`Envelope`]: `POST /v1/envelopes` (or `/v1/ephemeral` when `ephemeral`).
    pub envelope: Vec<u8>,
    /// Push to connected recipients only; never stored.
    pub ephemeral: bool,
}

/// What receiving a delivery produced.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A conversation message.
    Message {
        /// The conversation.
        conversation: ConversationId,
        /// The sender's mailbox (authenticated by the message's signature).
        from: MailboxId,
        /// The sender's account name, when they are a contact.
        from_user: Option<Vec<u8>>,
        /// What it says.
        content: Content,
    },
    /// Someone new opened a pairwise session with us.
    NewContact(Contact),
    /// We were added to a conversation.
    Joined(ConversationId),
}

/// One user's messaging state.
pub struct Client {
    user: Vec<u8>,
    identity: Identity,
    mailbox: MailboxKey,
    prekeys: PrekeyOwner,
    contacts: HashMap<MailboxId, Contact>,
    sessions: HashMap<MailboxId, Session>,
    conversations: HashMap<ConversationId, Conversation>,
    direct: HashMap<MailboxId, ConversationId>,
    fanout: FanOut,
    granted: HashSet<MailboxId>,
    seen: VecDeque<EnvelopeId>,
    pending: VecDeque<Vec<u8>>,
}

impl Client {
    /// A new user with fresh identity, mailbox and prekeys.
    pub fn new<R: CryptoRng + ?Sized>(rng: &mut R, user: &[u8]) -> Self {
        let identity = Identity::generate(rng);
        let mailbox = MailboxKey::generate(rng);
        let prekeys = PrekeyOwner::new(rng, &identity);
        let fanout = FanOut::new(rng, *mailbox.id());
        Self {
            user: user.to_vec(),
            identity,
            mailbox,
            prekeys,
            contacts: HashMap::new(),
            sessions: HashMap::new(),
            conversations: HashMap::new(),
            direct: HashMap::new(),
            fanout,
            granted: HashSet::new(),
            seen: VecDeque::new(),
            pending: VecDeque::new(),
        }
    }

    /// The account name.
    pub fn user(&self) -> &[u8] {
        &self.user
    }

    /// Our mailbox address.
    pub fn mailbox_id(&self) -> &MailboxId {
        self.mailbox.id()
    }

    /// Our public identity.
    pub fn identity(&self) -> &PublicIdentity {
        self.identity.public()
    }

    /// A contact by mailbox.
    pub fn contact(&self, mailbox: &MailboxId) -> Option<&Contact> {
        self.contacts.get(mailbox)
    }

    /// A contact by account name.
    pub fn contact_by_user(&self, user: &[u8]) -> Option<&Contact> {
        self.contacts.values().find(|c| c.user == user)
    }

    /// A conversation we are in.
    pub fn conversation(&self, id: &ConversationId) -> Option<&Conversation> {
        self.conversations.get(id)
    }

    /// A proof for one relay request on our mailbox (see [`AuthProof`]).
    pub fn prove<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        method: &str,
        path: &str,
        body: &[u8],
        now: u64,
    ) -> AuthProof {
        self.mailbox.prove(rng, method, path, body, now)
    }

    /// A directory upload: our bundle and `count` new one-time prekeys.
    pub fn publish<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        count: usize,
    ) -> Result<PublishPrekeys, Error> {
        let one_time = self.prekeys.generate_one_time(rng, count)?;
        Ok(PublishPrekeys {
            bundle: self.prekeys.bundle(None).to_bytes(),
            one_time: one_time
                .iter()
                .map(|p| PublishedPrekey {
                    id: p.id(),
                    key: p.key().as_bytes().to_vec(),
                })
                .collect(),
        })
    }

    /// Starts a pairwise session with `user` from the relay's directory answer.
    ///
    /// # Errors
    /// A bundle that does not decode or verify; [`CryptoError::IdentityChanged`] when we
    /// already know that mailbox under another identity (compare safety numbers first).
    pub fn add_contact<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        user: &[u8],
        response: &PrekeyResponse,
    ) -> Result<MailboxId, Error> {
        let mut bundle = PrekeyBundle::from_bytes(&response.bundle)?;
        if let Some(p) = &response.one_time {
            bundle = bundle.with_one_time(p.id, &p.key)?;
        }
        let verified = bundle.verify()?;
        let contact = Contact {
            user: user.to_vec(),
            mailbox: response.mailbox,
            identity: *verified.bundle().identity(),
        };
        self.check_contact(&contact)?;
        let session = Session::initiate(rng, &self.identity, &verified)?;
        self.sessions.insert(contact.mailbox, session);
        self.contacts.insert(contact.mailbox, contact);
        Ok(response.mailbox)
    }

    fn check_contact(&self, contact: &Contact) -> Result<(), Error> {
        match self.contacts.get(&contact.mailbox) {
            Some(known) if known.identity != contact.identity => {
                Err(CryptoError::IdentityChanged.into())
            }
            _ => Ok(()),
        }
    }

    /// Sends `content` to a contact in our one-to-one conversation with them, creating it
    /// (and handing over its keys) on first use.
    pub fn send<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        to: &MailboxId,
        content: &Content,
        now: u64,
    ) -> Result<Vec<Outgoing>, Error> {
        let mut out = Vec::new();
        let id = match self.direct.get(to) {
            Some(id) => *id,
            None => self.create_direct(rng, to, now, &mut out)?,
        };
        self.send_in(rng, &id, content, now, &mut out)?;
        Ok(out)
    }

    /// Sends `content` in a conversation we are a member of.
    pub fn send_to_conversation<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        id: &ConversationId,
        content: &Content,
        now: u64,
    ) -> Result<Vec<Outgoing>, Error> {
        let mut out = Vec::new();
        self.send_in(rng, id, content, now, &mut out)?;
        Ok(out)
    }

    /// One message to up to 50 contacts, readable only by them: an ad-hoc conversation opened
    /// by a single first message (the body once, 56 bytes per recipient).
    pub fn send_multi<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        to: &[MailboxId],
        content: &Content,
        now: u64,
    ) -> Result<(ConversationId, Vec<Outgoing>), Error> {
        let mut out = Vec::new();
        for recipient in to {
            if self.granted.contains(recipient) {
                continue;
            }
            let grant = self.fanout.grant(rng, *recipient)?;
            let payload = Pairwise::Grant(grant.to_bytes().to_vec());
            out.push(self.pairwise(rng, recipient, &payload, now)?);
            self.granted.insert(*recipient);
        }
        let expiry = now.saturating_add(ENVELOPE_LIFETIME);
        let (conversation, envelope) =
            self.fanout
                .send_first(rng, to, &content.to_bytes(), expiry)?;
        out.push(Outgoing {
            envelope: envelope.to_bytes(),
            ephemeral: false,
        });
        let id = conversation.id();
        self.conversations.insert(id, conversation);
        Ok((id, out))
    }

    /// Creates a group of us (its admin) and `members` (contacts), handing each their keys.
    pub fn create_group<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        members: &[MailboxId],
        now: u64,
    ) -> Result<(ConversationId, Vec<Outgoing>), Error> {
        let others = members
            .iter()
            .map(|m| {
                let c = self.contacts.get(m).ok_or(UsageError::UnknownRecipient)?;
                Ok(Member::new(c.mailbox, Role::Member, c.identity))
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let me = Member::new(*self.mailbox_id(), Role::Admin, *self.identity());
        let (conversation, handoffs) = Conversation::create(rng, me, others)?;
        let mut out = Vec::new();
        self.hand_off(rng, handoffs, now, &mut out)?;
        let id = conversation.id();
        self.conversations.insert(id, conversation);
        Ok((id, out))
    }

    fn create_direct<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        to: &MailboxId,
        now: u64,
        out: &mut Vec<Outgoing>,
    ) -> Result<ConversationId, Error> {
        let peer = self.contacts.get(to).ok_or(UsageError::UnknownRecipient)?;
        let me = Member::new(*self.mailbox_id(), Role::Admin, *self.identity());
        let them = Member::new(peer.mailbox, Role::Member, peer.identity);
        let (conversation, handoffs) = Conversation::create(rng, me, vec![them])?;
        self.hand_off(rng, handoffs, now, out)?;
        let id = conversation.id();
        self.conversations.insert(id, conversation);
        self.direct.insert(*to, id);
        Ok(id)
    }

    fn send_in<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        id: &ConversationId,
        content: &Content,
        now: u64,
        out: &mut Vec<Outgoing>,
    ) -> Result<(), Error> {
        let conversation = self
            .conversations
            .get_mut(id)
            .ok_or(UsageError::WrongConversation)?;
        if !conversation.has_sender_chain() {
            let handoffs = conversation.start_chain(rng)?;
            self.hand_off(rng, handoffs, now, out)?;
        }
        let conversation = self
            .conversations
            .get_mut(id)
            .ok_or(UsageError::WrongConversation)?;
        let message = conversation.encrypt(&content.to_bytes())?;
        let expiry = now.saturating_add(ENVELOPE_LIFETIME);
        for envelope in conversation.envelopes(expiry, &message)? {
            out.push(Outgoing {
                envelope: envelope.to_bytes(),
                ephemeral: false,
            });
        }
        Ok(())
    }

    fn hand_off<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        handoffs: Vec<(MailboxId, KeyDistribution)>,
        now: u64,
        out: &mut Vec<Outgoing>,
    ) -> Result<(), Error> {
        for (to, distribution) in handoffs {
            let payload = Pairwise::Distribution(distribution.to_bytes().to_vec());
            out.push(self.pairwise(rng, &to, &payload, now)?);
        }
        Ok(())
    }

    /// Encrypts `payload` in our session with `to`, seals it, and addresses it.
    fn pairwise<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        to: &MailboxId,
        payload: &Pairwise,
        now: u64,
    ) -> Result<Outgoing, Error> {
        let contact = self.contacts.get(to).ok_or(UsageError::UnknownRecipient)?;
        let session = self.sessions.get_mut(to).ok_or(CryptoError::NoSession)?;
        let message = session.encrypt(rng, &payload.to_bytes())?;
        let content = SealedContent {
            sender_user: self.user.clone(),
            sender_mailbox: *self.mailbox.id(),
            sender_identity: *self.identity.public(),
            message: message.to_bytes(),
        };
        let body = sealed::seal(rng, contact.identity.dh_key(), to, &content)?;
        let expiry = now.saturating_add(ENVELOPE_LIFETIME);
        let envelope = Envelope::to_mailboxes(expiry, &[*to], &body)?
            .pop()
            .ok_or(UsageError::InvalidRoster)?;
        Ok(Outgoing {
            envelope: envelope.to_bytes(),
            ephemeral: false,
        })
    }
}

impl core::fmt::Debug for Client {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Client")
            .field("mailbox", self.mailbox.id())
            .field("identity", self.identity.public())
            .finish_non_exhaustive()
    }
}
