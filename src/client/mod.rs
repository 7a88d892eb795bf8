//! A sans-IO client: one per user. It ties identity, mailbox, prekeys, pairwise sessions,
//! conversations and sealed sender together with the product's rules, and does no I/O: every
//! method takes the bytes that arrived and returns the bytes to send, each with the credential
//! the relay checks ([`Outgoing::submission`]).
//!
//! ```
//! use missive::client::{Client, Content, Event, MemoryStore};
//! use missive::platform::{Platform, Profile};
//! use missive::relay_api::{PrekeyResponse, TokenIssued};
//! use missive::token::{Issuer, TokenKind};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut rng = rand::rng();
//! let (mut alice, mut bob) = (Client::new(&mut rng, b"alice"), Client::new(&mut rng, b"bob"));
//! // Where each app keeps its client's state: an app uses an encrypted store (`SqliteStore`
//! // with a key from the platform's keystore, or its own).
//! let (mut at_alice, mut at_bob) = (MemoryStore::default(), MemoryStore::default());
//! let now = 1_800_000_000;
//! // The platform certifies Alice's account; the relay (its issuer here) gives her this
//! // month's invitation tokens, which it will take back without learning whose they are.
//! let mut platform = Platform::new(&mut rng);
//! platform.register(*alice.mailbox_id(), Profile::FREE);
//! alice.set_account(platform.certify_account(alice.mailbox_id(), false, now + 86_400)?);
//! let relay = Issuer::generate(&mut rng);
//! // What goes to the relay comes out of `save`, once the state that made it is stored: a
//! // crash after sending can then never restart from a state that would reuse its keys.
//! let issue = alice
//!     .request_tokens(&mut rng, TokenKind::Invite, 5, now)?
//!     .save(&mut rng, &mut at_alice)?;
//! let issued = TokenIssued {
//!     key: relay.public_key(TokenKind::Invite, issue.request.period)?,
//!     response: relay.issue(&mut rng, &issue.request)?,
//! };
//! alice.add_tokens(&issued)?;
//! // Bob publishes prekeys; the relay would hand Alice this response for "bob".
//! let published = bob.publish(&mut rng, 1)?.save(&mut rng, &mut at_bob)?;
//! let response = PrekeyResponse {
//!     mailbox: *bob.mailbox_id(),
//!     bundle: published.bundle,
//!     one_time: published.one_time.into_iter().next(),
//! };
//! let bob_id = alice.add_contact(&mut rng, b"bob", &response)?;
//! // Direct messages need a connection: Alice invites (one token), Bob accepts.
//! let invite = alice
//!     .invite(&mut rng, &bob_id, Some("We met at the conference"), now)?
//!     .save(&mut rng, &mut at_alice)?;
//! let mut deliver = |to: &mut Client, out: &[missive::client::Outgoing]| -> Result<Vec<Event>, missive::Error> {
//!     let mut events = Vec::new();
//!     for o in out {
//!         for d in missive::envelope::split(&o.envelope)? {
//!             if d.mailbox() == *to.mailbox_id() {
//!                 events.extend(to.receive(&d.to_bytes(), now)?);
//!             }
//!         }
//!     }
//!     Ok(events)
//! };
//! deliver(&mut bob, &invite)?;
//! let alice_id = *alice.mailbox_id();
//! let accepted = bob.accept(&mut rng, &alice_id, now)?.save(&mut rng, &mut at_bob)?;
//! deliver(&mut alice, &accepted)?;
//! let message = alice
//!     .send(&mut rng, &bob_id, &Content::text("hi Bob"), now)?
//!     .save(&mut rng, &mut at_alice)?;
//! let events = deliver(&mut bob, &message)?;
//! assert!(events.iter().any(|e| matches!(e, Event::Message { content, .. } if content.as_text() == Some("hi Bob"))));
//! # Ok(()) }
//! ```

mod access;
pub(crate) mod account_sync;
mod addressing;
mod at_rest;
mod connections;
mod contact_devices;
mod content;
mod device_changes;
mod devices;
mod handover;
mod index;
pub(crate) mod lead;
mod legacy;
mod outbox;
pub(crate) mod payload;
mod policy;
pub(crate) mod post;
mod receive;
pub(crate) mod records;
mod retry;
pub(crate) mod sealed;
mod seen;
mod send;
mod sessions;
mod state;
mod store;
mod tracked;
mod unsaved;
mod wallet;

use rand::CryptoRng;

pub use access::AccessSync;
pub use connections::MAX_NOTE;
pub use content::{
    Attachment, CallToAction, Content, ImageRef, LeadField, LeadForm, MessageRef, Sponsored, Text,
};
pub use devices::{LinkedDevice, RemovedDevice};
#[cfg(feature = "hazmat")]
#[doc(hidden)]
pub use handover::reencode_account_copy;
pub use lead::LeadAnswer;
pub use outbox::MAX_OUTBOX;
#[cfg(feature = "hazmat")]
#[doc(hidden)]
pub use payload::reencode_pairwise;
pub use post::Access;
#[cfg(feature = "hazmat")]
#[doc(hidden)]
pub use post::reencode_first_post;
#[cfg(feature = "sqlite-store")]
pub use store::SqliteStore;
pub use store::{ClientStore, MemoryStore, RecordReader, RowKey, StorageKey, StoreError};
pub use unsaved::Unsaved;

use crate::access::{Credential, Submission};
use crate::conversation::{Conversation, ConversationId, FanOut};
use crate::envelope::MailboxId;
use crate::error::{CryptoError, Error, PolicyError, UsageError};
use crate::identity::{Identity, PublicIdentity};
use crate::mailbox::{AuthProof, MailboxKey};
use crate::platform::{AdvertiserCertificate, PlatformKey, Profile};
use crate::relay_api::{
    OneTimePrekey as PublishedPrekey, PrekeyResponse, PrekeyStock, PublishPrekeys,
};
use crate::session::{PrekeyBundle, PrekeyOwner, Session};
use tracked::{Queue, TrackedMap, TrackedSet};

/// One-time prekeys left at the relay below which a client publishes more.
pub const PREKEYS_LOW: u32 = 20;
/// One-time prekeys a client keeps published after topping up.
pub const PREKEYS_FULL: u32 = 100;
/// How long an envelope may wait at the relay: 30 days.
pub const ENVELOPE_LIFETIME: u64 = 30 * 24 * 60 * 60;
/// The most members a group post mentions.
pub const MAX_MENTIONS: usize = 20;
/// The most recipients of one multi-recipient message.
pub const MAX_RECIPIENTS: usize = crate::envelope::MAX_RECIPIENTS;
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

/// Someone in a conversation with us.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Participant {
    /// Their mailbox: their id in the conversation.
    pub mailbox: MailboxId,
    /// Their account name, where they are a contact.
    pub user: Option<Vec<u8>>,
}

/// A conversation as the app may see it: who is in it and where it stands, without its keys
/// (which only the client's own steps may move on).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConversationInfo {
    /// Its id.
    pub id: ConversationId,
    /// Direct, group or ad hoc.
    pub kind: crate::conversation::Kind,
    /// Its current epoch (membership changes so far).
    pub epoch: u64,
    /// Its members with their roles, in mailbox order, us included.
    pub members: Vec<crate::conversation::Member>,
    /// We were removed from it: it shows nothing new.
    pub removed: bool,
}

impl ConversationInfo {
    fn of(c: &Conversation) -> Self {
        Self {
            id: c.id(),
            kind: c.kind(),
            epoch: c.epoch(),
            members: c.members().to_vec(),
            removed: c.is_removed(),
        }
    }
}

/// Where a connection between two members stands.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Connection {
    /// Not connected.
    #[default]
    None,
    /// We invited them; they have not answered.
    Invited,
    /// They invited us, with an optional note.
    InvitedUs(Option<String>),
    /// Connected: direct messages allowed both ways.
    Connected,
}

/// A user's switches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Send read receipts and show other people's.
    pub read_receipts: bool,
    /// Send typing indicators and show other people's.
    pub typing_indicators: bool,
    /// Receive sponsored messages.
    pub sponsored_messages: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            read_receipts: true,
            typing_indicators: true,
            sponsored_messages: true,
        }
    }
}

/// An envelope to hand to the relay, with the credential that lets it through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    /// The encoded [`crate::envelope::Envelope`].
    pub envelope: Vec<u8>,
    /// What lets us deliver it to its recipients.
    pub credential: Credential,
    /// Push to connected recipients only; never stored (typing indicators).
    pub ephemeral: bool,
    /// The conversation whose access keys reach its recipients, if any: what a resend to
    /// members who had not caught up presents again ([`Client::undelivered`]).
    pub conversation: Option<ConversationId>,
}

impl Outgoing {
    /// The body to `POST` to `/v1/envelopes`, or to `/v1/ephemeral` when `ephemeral`.
    pub fn submission(&self) -> Vec<u8> {
        Submission {
            credential: self.credential.clone(),
            envelope: self.envelope.clone(),
        }
        .to_bytes()
    }
}

/// What receiving a delivery produced.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
// Events are short-lived values handed straight to the app; boxing the message would only add
// an allocation to the common case.
#[allow(clippy::large_enum_variant)]
pub enum Event {
    /// A conversation message.
    Message {
        /// The conversation.
        conversation: ConversationId,
        /// Which message (for read receipts).
        id: MessageRef,
        /// The sender's mailbox (authenticated by the message's signature).
        from: MailboxId,
        /// The sender's account name, when they are a contact.
        from_user: Option<Vec<u8>>,
        /// Why the sender was allowed to send it.
        access: Access,
        /// What it says.
        content: Content,
    },
    /// A message that arrived but breaks a product rule (a modified sender); not shown.
    Refused {
        /// The conversation.
        conversation: ConversationId,
        /// The sender.
        from: MailboxId,
        /// The rule.
        reason: PolicyError,
    },
    /// Someone new opened a pairwise session with us.
    NewContact(Contact),
    /// We were added to a conversation.
    Joined(ConversationId),
    /// A connection invitation.
    Invitation {
        /// From whom.
        from: MailboxId,
        /// Their note.
        note: Option<String>,
    },
    /// Our invitation was accepted: connected.
    Connected(MailboxId),
    /// An admin removed us from a group: it shows nothing new, and we can no longer post.
    Removed {
        /// The group.
        group: ConversationId,
        /// The admin.
        by: MailboxId,
    },
    /// Our invitation was declined.
    Declined(MailboxId),
    /// An invitation to us was withdrawn.
    Withdrawn(MailboxId),
    /// A connection was removed by the other side.
    Disconnected(MailboxId),
    /// Another device of our account took a connection step with `with` (invited, accepted,
    /// declined, withdrew or removed): this device now stands with them as it does.
    ConnectionChanged {
        /// The other member.
        with: MailboxId,
        /// Where the connection stands now.
        standing: Connection,
    },
    /// Another device of our account changed the account's switches: this device now has
    /// these.
    SettingsChanged(Settings),
    /// Someone read a conversation up to a message.
    Read {
        /// The conversation.
        conversation: ConversationId,
        /// Who read it.
        by: MailboxId,
        /// The last message read.
        up_to: MessageRef,
    },
    /// Someone started or stopped typing.
    Typing {
        /// The conversation.
        conversation: ConversationId,
        /// Who.
        from: MailboxId,
        /// Typing now.
        typing: bool,
    },
    /// An answer to one of our lead forms (advertisers only).
    Lead(LeadAnswer),
    /// A new device answered the link code we showed: confirm with the user that it is
    /// theirs, then hand the account over ([`Client::link_device`]).
    LinkAnswered(crate::device::NewDevice),
    /// A message carried `member`'s device list, and it names devices we hold no session
    /// with: until we do, what we send reaches the others alone. Fetch
    /// `GET /v1/directory/{user}/devices` and pass the answer to
    /// [`Client::add_contact_devices`].
    DevicesToFetch {
        /// The contact.
        member: MailboxId,
        /// Their user name, for the directory.
        user: Vec<u8>,
    },
    /// This client is now device `device` of the account whose code it answered.
    Linked {
        /// Our id in the account's device list.
        device: u32,
    },
    /// The delivery was kept, to be opened when what it needs arrives: it is tried again
    /// after every delivery that opens (at most 256 wait; the oldest is dropped first).
    Waiting(Waiting),
}

/// Why a delivery waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Waiting {
    /// No key we hold opens it: its keys are still on their way (a group chain, a fan-out
    /// grant), or it is not for us at all. The two look alike by design: labels are
    /// pseudorandom and sealed messages anonymous.
    Unrecognised,
    /// Ours, from an authenticated sender, but it needs something that has not arrived yet (a
    /// group's welcome, the change that starts an epoch); nothing of it was taken.
    Early,
}

/// One user's messaging state.
pub struct Client {
    user: Vec<u8>,
    identity: Identity,
    mailbox: MailboxKey,
    prekeys: PrekeyOwner,
    profile: Profile,
    settings: Settings,
    /// Where our switches stand among our devices.
    account_sync: account_sync::AccountSync,
    platform: Option<PlatformKey>,
    advertiser: Option<AdvertiserCertificate>,
    lead_keys: Vec<([u8; 16], lead::LeadKey)>,
    contacts: TrackedMap<MailboxId, Contact>,
    profiles: TrackedMap<MailboxId, Profile>,
    connections: TrackedMap<MailboxId, Connection>,
    sessions: TrackedMap<MailboxId, sessions::PeerSessions>,
    /// Each contact's device list, as last verified (accounts with several devices).
    peer_devices: TrackedMap<MailboxId, crate::device::SignedDeviceList>,
    conversations: TrackedMap<ConversationId, Conversation>,
    direct: TrackedMap<MailboxId, ConversationId>,
    groups: TrackedSet<ConversationId>,
    opened: TrackedSet<ConversationId>,
    access: access::AccessState,
    fanout: FanOut,
    granted: TrackedSet<MailboxId>,
    seen: seen::Seen,
    pending: Queue<Vec<u8>>,
    retries: Vec<retry::Retry>,
    /// Sent and saved, not yet taken by the relay, oldest first.
    outbox: Queue<Outgoing>,
    /// Which conversation expects each label (receive by index).
    labels: index::Index<ConversationId>,
    /// Which contacts have each name (by a hash of it).
    names: index::Index<MailboxId>,
    /// The label of each session's sealed layer to the peer device (PROTOCOL.md §9.2).
    seals: index::Index<MailboxId>,
    /// Which groups each member is in (by the start of their mailbox id).
    rosters: index::Index<ConversationId>,
    /// What the store holds, to write only what changed since.
    saved: at_rest::Saved,
    /// The account this client is a device of, once it has more than one.
    devices: Option<devices::AccountKeys>,
    /// Codes shown or answered (in memory only).
    links: devices::Links,
}

impl Client {
    /// A new user with fresh identity, mailbox and prekeys, a free profile and default settings.
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
            profile: Profile::FREE,
            settings: Settings::default(),
            account_sync: account_sync::AccountSync::default(),
            platform: None,
            advertiser: None,
            lead_keys: Vec::new(),
            contacts: TrackedMap::default(),
            profiles: TrackedMap::default(),
            connections: TrackedMap::default(),
            sessions: TrackedMap::default(),
            peer_devices: TrackedMap::default(),
            conversations: TrackedMap::default(),
            direct: TrackedMap::default(),
            groups: TrackedSet::default(),
            opened: TrackedSet::default(),
            access: access::AccessState::new(rng),
            fanout,
            granted: TrackedSet::default(),
            seen: seen::Seen::default(),
            pending: Queue::default(),
            retries: Vec::new(),
            outbox: Queue::default(),
            labels: index::Index::default(),
            names: index::Index::default(),
            seals: index::Index::default(),
            rosters: index::Index::default(),
            saved: at_rest::Saved::default(),
            devices: None,
            links: devices::Links::default(),
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

    /// Trusts `key` as the platform's, for InMail receipts and advertiser certificates.
    pub fn set_platform_key(&mut self, key: PlatformKey) {
        self.platform = Some(key);
    }

    /// Our own profile, as the platform has it (tier, Open Profile).
    pub fn set_profile(&mut self, profile: Profile) {
        self.profile = profile;
    }

    /// Our profile.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// A member's public profile, as the app learnt it from the platform.
    ///
    /// # Errors
    /// The store's, reading the member's record.
    pub fn set_contact_profile(
        &mut self,
        member: MailboxId,
        profile: Profile,
    ) -> Result<(), StoreError> {
        self.load_peer(&member)?;
        self.profiles.insert(member, profile);
        Ok(())
    }

    /// Our switches.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Makes this client an advertiser with the platform's certificate for it.
    pub fn set_advertiser_certificate(&mut self, certificate: AdvertiserCertificate) {
        self.advertiser = Some(certificate);
    }

    /// A contact by mailbox.
    ///
    /// # Errors
    /// The store's, reading a record not in memory.
    pub fn contact(&self, mailbox: &MailboxId) -> Result<Option<Contact>, StoreError> {
        if self.contacts.is_resident(mailbox) {
            return Ok(self.contacts.get(mailbox).cloned());
        }
        Ok(self.stored_peer(mailbox)?.contact)
    }

    /// Every contact, in mailbox order: for a client loaded lazily, every member's record is
    /// read (and not kept).
    ///
    /// # Errors
    /// The store's, reading a record not in memory.
    pub fn contacts(&self) -> Result<Vec<Contact>, StoreError> {
        if self.contacts.is_complete() {
            return Ok(self.contacts.values().cloned().collect());
        }
        let mut all = Vec::new();
        for m in self.stored_members()? {
            if let Some(c) = self.contact(&m)? {
                all.push(c);
            }
        }
        Ok(all)
    }

    /// A contact by account name (the first by mailbox, should several have it), by an
    /// index of names.
    ///
    /// # Errors
    /// The store's, reading a record not in memory.
    pub fn contact_by_user(&self, user: &[u8]) -> Result<Option<Contact>, StoreError> {
        for m in self.named(user)? {
            if let Some(c) = self.contact(&m)?
                && c.user == user
            {
                return Ok(Some(c));
            }
        }
        Ok(None)
    }

    /// Where our connection with `member` stands.
    ///
    /// # Errors
    /// The store's, reading a record not in memory.
    pub fn connection(&self, member: &MailboxId) -> Result<Connection, StoreError> {
        if self.connections.is_resident(member) {
            return Ok(self.connections.get(member).cloned().unwrap_or_default());
        }
        Ok(self.stored_peer(member)?.connection)
    }

    /// Where our connection with `member` stands, from memory (loaded before).
    pub(super) fn standing(&self, member: &MailboxId) -> Connection {
        self.connections.get(member).cloned().unwrap_or_default()
    }

    /// A conversation we are in: what it is, not its keys.
    ///
    /// # Errors
    /// The store's, reading a record not in memory.
    pub fn conversation(
        &self,
        id: &ConversationId,
    ) -> Result<Option<ConversationInfo>, StoreError> {
        if self.conversations.is_resident(id) {
            return Ok(self.conversations.get(id).map(ConversationInfo::of));
        }
        Ok(self
            .stored_conversation(id)?
            .as_ref()
            .map(ConversationInfo::of))
    }

    /// The other members of a conversation, in mailbox order (none for one we are not in):
    /// for a multi-recipient message, every member it went to, each of whom may answer all
    /// ([`Client::reply`]); named where they are contacts. For a sponsored message: its sender
    /// at a recipient, and at the sender the mailboxes it went to (its audience's devices).
    ///
    /// # Errors
    /// The store's, reading a record not in memory.
    pub fn participants(
        &self,
        conversation: &ConversationId,
    ) -> Result<Vec<Participant>, StoreError> {
        let stored;
        let c = if self.conversations.is_resident(conversation) {
            self.conversations.get(conversation)
        } else {
            stored = self.stored_conversation(conversation)?;
            stored.as_ref()
        };
        let Some(c) = c else {
            return Ok(Vec::new());
        };
        let participant = |mailbox: MailboxId| -> Result<Participant, StoreError> {
            Ok(Participant {
                mailbox,
                user: self.contact(&mailbox)?.map(|c| c.user),
            })
        };
        let me = *self.member_id();
        if c.kind() == crate::conversation::Kind::AdHoc {
            // Its roster is devices; each chain we hold names its member. A sponsored message
            // we receive holds only its sender's; one we sent, none: the mailboxes it went to.
            let mut members: Vec<MailboxId> = c.senders().filter(|m| *m != me).collect();
            if !c.has_sender_chain() || !members.is_empty() {
                members.sort_unstable();
                members.dedup();
                return members.into_iter().map(participant).collect();
            }
        }
        c.members()
            .iter()
            .filter(|m| m.id != me && !self.is_own_device(&m.id))
            .map(|m| participant(m.id))
            .collect()
    }

    /// The groups we are in, in id order.
    pub fn groups(&self) -> Vec<ConversationId> {
        self.groups.iter().copied().collect()
    }

    /// Our one-to-one conversation with `member`, if there is one.
    ///
    /// # Errors
    /// The store's, reading a record not in memory.
    pub fn direct_conversation(
        &self,
        member: &MailboxId,
    ) -> Result<Option<ConversationId>, StoreError> {
        if self.direct.is_resident(member) {
            return Ok(self.direct.get(member).copied());
        }
        Ok(self.stored_peer(member)?.direct)
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

    /// A directory upload: our bundle and `count` new one-time prekeys. A state saved before
    /// post-quantum prekeys rotates its signed prekeys first, so its bundle has them.
    pub fn publish<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        count: usize,
    ) -> Result<Unsaved<'_, PublishPrekeys>, Error> {
        if self.prekeys.needs_rotation() {
            self.prekeys.rotate(rng, &self.identity)?;
        }
        let one_time = self.prekeys.generate_one_time(rng, count, &self.identity)?;
        let published = PublishPrekeys {
            bundle: self.prekeys.bundle(None)?.to_bytes(),
            one_time: one_time
                .iter()
                .map(|p| PublishedPrekey {
                    id: p.id(),
                    key: p.to_bytes(),
                })
                .collect(),
        };
        Ok(Unsaved::new(self, published))
    }

    /// How many one-time prekeys to publish now, given how many the relay has left
    /// (`GET /v1/directory/{user}/stock`): none while at least [`PREKEYS_LOW`] are left, else
    /// enough to have [`PREKEYS_FULL`] again.
    pub fn prekeys_wanted(&self, stock: &PrekeyStock) -> usize {
        if stock.one_time >= PREKEYS_LOW {
            return 0;
        }
        (PREKEYS_FULL - stock.one_time) as usize
    }

    /// Starts a pairwise session with `user` from the relay's directory answer. A session is
    /// not a connection: it only makes invitations, InMail and the like possible.
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
        self.load_member(&response.mailbox)?;
        if let Some(known) = self.contacts.get(&response.mailbox)
            && self.sessions.contains_key(&known.mailbox)
        {
            let bundle = PrekeyBundle::from_bytes(&response.bundle)?;
            if *bundle.identity() != known.identity {
                return Err(CryptoError::IdentityChanged.into());
            }
            return Ok(known.mailbox);
        }
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
        self.sessions
            .insert(contact.mailbox, sessions::PeerSessions::new(session));
        self.contacts.insert(contact.mailbox, contact);
        Ok(response.mailbox)
    }

    fn check_contact(&self, contact: &Contact) -> Result<(), Error> {
        // A session with oneself would spend tokens and connect an account to itself.
        if contact.mailbox == *self.mailbox.id() || contact.identity == *self.identity.public() {
            return Err(UsageError::OwnAccount.into());
        }
        match self.contacts.get(&contact.mailbox) {
            Some(known) if known.identity != contact.identity => {
                Err(CryptoError::IdentityChanged.into())
            }
            _ => Ok(()),
        }
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
