//! Conversations: roster-bound sender chains, group membership by epochs, and multi-recipient
//! first messages (PROTOCOL.md §6).
//!
//! * A [`Conversation`] has an id, a [`Kind`], a roster of [`Member`]s and an epoch. The hash of
//!   all four is bound into every key derivation, associated data and signature.
//! * Every member sends on its own chain. Its key goes to every other member inside their
//!   pairwise sessions as a [`KeyDistribution`]; then each message costs one AEAD pass over the
//!   body, one Ed25519 signature and a few HMACs, whatever the group size.
//! * Adding or removing members ([`Conversation::change`]) starts a new epoch: every chain is
//!   replaced and handed only to the new roster.
//! * A [`FanOut`] opens an ad-hoc conversation with up to 50 recipients in one message: the body
//!   once, plus 56 bytes per recipient, with symmetric work only.
//!
//! * [`Conversation::to_bytes`] and [`FanOut::to_bytes`] give the state at rest (encrypt it,
//!   and store it after every `encrypt` before the message leaves).
//!
//! The sender of a message cannot decrypt it again: store what you send.
//!
//! ```
//! use missive::conversation::{Conversation, Member, Role};
//! use missive::envelope::MailboxId;
//! use missive::Identity;
//! # fn main() -> Result<(), missive::Error> {
//! let mut rng = rand::rng();
//! let (alice, bob) = (Identity::generate(&mut rng), Identity::generate(&mut rng));
//! let a = Member::new(MailboxId([1; 16]), Role::Admin, *alice.public());
//! let b = Member::new(MailboxId([2; 16]), Role::Member, *bob.public());
//! let (mut at_alice, handoffs) = Conversation::create(&mut rng, a, vec![b])?;
//! // Alice sends `handoffs[0].1.to_bytes()` to Bob inside their pairwise session.
//! let mut at_bob = Conversation::join(b.id, a.id, &handoffs[0].1.to_bytes())?;
//! let message = at_alice.encrypt(b"hello")?;
//! assert_eq!(at_bob.decrypt(&message)?.body, b"hello");
//! # Ok(()) }
//! ```

mod chain;
mod distribution;
mod group;
mod message;
mod multi;
mod roster;
mod state;

pub use chain::{INDEXED_AHEAD, LOOKAHEAD, MAX_SKIPPED};
pub use distribution::{FanOutGrant, KeyDistribution};
pub use group::{Accepted, Handoffs, MAX_EARLY};
pub use message::HEADER_LEN;
pub(crate) use message::label_of;
pub use multi::FanOut;
pub use roster::{ConversationId, Kind, MAX_MEMBERS, Member, Role};

use chain::{Binding, NextLabels, ReceiverChain, Secret, SenderChain, Slot};
use message::Context;
use roster::Roster;

use crate::crypto::sign::{SigningKey, VerifyingKey};
use crate::envelope::{Envelope, MailboxId, padding};
use crate::error::{CryptoError, Error, UsageError};
use zeroize::Zeroizing;

/// A decrypted message.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Decrypted {
    /// The member who sent it (authenticated by its signature).
    pub sender: MailboxId,
    /// The member's device that sent it: the member id for an account's first device
    /// (PROTOCOL.md §12.6).
    pub device: MailboxId,
    /// The epoch it was sent in.
    pub epoch: u64,
    /// Its index in the sender's chain: the sender's order, to detect reordering and gaps.
    pub index: u32,
    /// The body.
    pub body: Vec<u8>,
}

/// A message [`Conversation::open`] opened, and where its key is, until it is committed.
pub(crate) struct Opened {
    pub(crate) decrypted: Decrypted,
    previous: bool,
    peer: usize,
    slot: Slot,
}

/// A device of a roster member: its chain is bound to the device's mailbox, and it speaks
/// for the member (PROTOCOL.md §12.6). An account's first device is its member id.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct DeviceOf {
    pub(crate) member: MailboxId,
    pub(crate) device: MailboxId,
}

impl DeviceOf {
    /// An account's first device: its mailbox is the member id.
    pub(crate) fn first(member: MailboxId) -> Self {
        Self {
            member,
            device: member,
        }
    }
}

/// One member's view of a conversation and its keys.
pub struct Conversation {
    id: ConversationId,
    kind: Kind,
    me: MailboxId,
    /// The local device, whose chain we send on (`me` on an account's first device).
    device: MailboxId,
    current: Epoch,
    /// The epoch before, receive-only, so messages in flight across a change still open.
    previous: Option<Box<Epoch>>,
    removed: bool,
    /// Distributions for epochs not reached yet, in arrival order.
    early: Vec<Early>,
}

/// A distribution kept until the change that starts its epoch arrives.
struct Early {
    from: DeviceOf,
    epoch: u64,
    commit: bool,
    /// The distribution's wire bytes (it holds a chain key).
    bytes: Zeroizing<Vec<u8>>,
}

struct Epoch {
    number: u64,
    roster: Roster,
    roster_hash: [u8; 32],
    own: Option<OwnChain>,
    peers: Vec<PeerChain>,
    next_labels: NextLabels,
}

struct OwnChain {
    chain: SenderChain,
    signing: SigningKey,
}

struct PeerChain {
    /// The sending device.
    sender: MailboxId,
    /// The member it speaks for.
    member: MailboxId,
    chain: ReceiverChain,
    verifying: VerifyingKey,
}

/// Domain of conversation chains; their binding is `roster_hash || sender`.
const CHAIN_DOMAIN: &[u8] = b"missive/v1/chain";

fn chain_binding(roster_hash: &[u8; 32], sender: &MailboxId) -> Binding {
    Binding::new(CHAIN_DOMAIN, roster_hash, &sender.0)
}

impl Epoch {
    fn new(id: &ConversationId, kind: Kind, number: u64, roster: Roster) -> Self {
        let roster_hash = roster.hash(id, kind, number);
        Self {
            number,
            roster,
            roster_hash,
            own: None,
            peers: Vec::new(),
            next_labels: NextLabels::default(),
        }
    }

    fn add_peer(&mut self, from: DeviceOf, key: Secret, verifying: VerifyingKey) {
        let chain = ReceiverChain::new(key, chain_binding(&self.roster_hash, &from.device));
        let slot = u32::try_from(self.peers.len()).unwrap_or(u32::MAX);
        self.next_labels.update(slot, None, chain.next_label());
        self.peers.push(PeerChain {
            sender: from.device,
            member: from.member,
            chain,
            verifying,
        });
    }

    fn set_own(&mut self, me: &MailboxId, key: Secret, signing: SigningKey) {
        let chain = SenderChain::new(key, chain_binding(&self.roster_hash, me));
        self.own = Some(OwnChain { chain, signing });
    }

    /// Tries pending step `slot` of peer `peer`; changes nothing.
    fn try_open(&self, peer: usize, slot: Slot, message: &[u8]) -> Result<Decrypted, Error> {
        let p = self.peers.get(peer).ok_or(CryptoError::NoMatchingKey)?;
        let step = p.chain.get(slot).ok_or(CryptoError::NoMatchingKey)?;
        let ctx = Context {
            roster_hash: &self.roster_hash,
            sender: &p.sender,
        };
        let body = message::open(&ctx, &step, &p.verifying, message)?;
        Ok(Decrypted {
            sender: p.member,
            device: p.sender,
            epoch: self.number,
            index: step.index,
            body,
        })
    }

    /// Opens `message` with a pending step carrying `label`: first the chain whose next
    /// in-order step has it (one hash lookup), then any window (a scan). Changes nothing: the
    /// step is used up by [`Epoch::consume`].
    fn open(&self, label: &[u8; 8], message: &[u8]) -> Result<(usize, Slot, Decrypted), Error> {
        let mut error = Error::Crypto(CryptoError::NoMatchingKey);
        let in_order = self
            .next_labels
            .get(label)
            .filter(|&p| self.peers.get(p).and_then(|x| x.chain.next_label()) == Some(*label));
        if let Some(peer) = in_order {
            match self.try_open(peer, Slot::Ahead(0), message) {
                Ok(done) => return Ok((peer, Slot::Ahead(0), done)),
                Err(e) => error = e,
            }
        }
        let per_peer = self.peers.iter().enumerate();
        let candidates: Vec<(usize, Slot)> = per_peer
            .flat_map(|(i, p)| p.chain.find(label).map(move |slot| (i, slot)))
            .filter(|&(i, slot)| in_order != Some(i) || slot != Slot::Ahead(0))
            .collect();
        for (peer, slot) in candidates {
            match self.try_open(peer, slot, message) {
                Ok(done) => return Ok((peer, slot, done)),
                Err(e) => error = e,
            }
        }
        Err(error)
    }

    fn consume(&mut self, peer: usize, slot: Slot) {
        if let Some(p) = self.peers.get_mut(peer) {
            let before = p.chain.next_label();
            p.chain.consume(slot);
            let index = u32::try_from(peer).unwrap_or(u32::MAX);
            self.next_labels.update(index, before, p.chain.next_label());
        }
    }

    fn state_len(&self) -> usize {
        let own = self.own.as_ref().map_or(0, |_| 32 + 4 + 48 + 32);
        own + self
            .peers
            .iter()
            .map(|p| 16 + 32 + p.chain.state_len())
            .sum::<usize>()
    }
}

impl Conversation {
    /// The conversation id.
    pub fn id(&self) -> ConversationId {
        self.id
    }

    /// Its kind.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The current epoch.
    pub fn epoch(&self) -> u64 {
        self.current.number
    }

    /// The local member's id.
    pub fn me(&self) -> MailboxId {
        self.me
    }

    /// The local device (the member id on an account's first device).
    #[cfg(test)]
    pub(crate) fn device(&self) -> MailboxId {
        self.device
    }

    /// The current roster, sorted by member id.
    pub fn members(&self) -> &[Member] {
        self.current.roster.members()
    }

    /// The current roster hash (PROTOCOL.md §6.2).
    pub fn roster_hash(&self) -> &[u8; 32] {
        &self.current.roster_hash
    }

    /// Whether a commit removed the local member: it can no longer send.
    pub fn is_removed(&self) -> bool {
        self.removed
    }

    /// Whether the local member has a sender chain for the current epoch.
    pub fn has_sender_chain(&self) -> bool {
        self.current.own.is_some()
    }

    /// The members whose messages we can read in the current epoch (whose chain we hold).
    pub(crate) fn senders(&self) -> impl Iterator<Item = MailboxId> + '_ {
        self.current.peers.iter().map(|p| p.member)
    }

    /// The device of each peer chain of the current epoch, with its member: in an ad-hoc
    /// conversation, every other participant device (PROTOCOL.md §12.6).
    pub(crate) fn peer_devices(&self) -> Vec<DeviceOf> {
        let peers = self.current.peers.iter();
        peers
            .map(|p| DeviceOf {
                member: p.member,
                device: p.sender,
            })
            .collect()
    }

    /// The key that verifies what `device` sends in the current epoch, if we hold its chain
    /// (in an ad-hoc conversation, a participant's account key; the opener's device signs
    /// with its fan-out key).
    pub(crate) fn verifying_key_of(&self, device: &MailboxId) -> Option<&VerifyingKey> {
        let mut peers = self.current.peers.iter();
        peers.find(|p| p.sender == *device).map(|p| &p.verifying)
    }

    /// Every member but the local one: where a message goes.
    pub fn recipients(&self) -> Vec<MailboxId> {
        let all = self.members().iter().map(|m| m.id);
        all.filter(|id| *id != self.me).collect()
    }

    /// Encrypts `body` once for every member, as the next step of the local sender chain.
    ///
    /// # Errors
    /// [`UsageError::SenderChain`] before [`Conversation::start_chain`] in this epoch,
    /// [`UsageError::NotPermitted`] once removed, [`UsageError::TooLarge`] above
    /// [`padding::MAX_BODY`], [`UsageError::MessageLimitReached`] after 2^32 − 1 messages.
    pub fn encrypt(&mut self, body: &[u8]) -> Result<Vec<u8>, Error> {
        if self.removed {
            return Err(UsageError::NotPermitted.into());
        }
        if body.len() > padding::MAX_BODY {
            return Err(UsageError::TooLarge {
                what: "message body",
            }
            .into());
        }
        let own = self.current.own.as_mut().ok_or(UsageError::SenderChain)?;
        let step = own.chain.next()?;
        let ctx = Context {
            roster_hash: &self.current.roster_hash,
            sender: &self.device,
        };
        message::seal(&ctx, &step, &own.signing, body)
    }

    /// The envelopes that carry `message` to every other member (50 mailboxes per envelope).
    pub fn envelopes(&self, expiry: u64, message: &[u8]) -> Result<Vec<Envelope>, Error> {
        Envelope::to_mailboxes(expiry, &self.recipients(), message)
    }

    /// Decrypts a message from another member of the current or the previous epoch.
    /// On any error the state is exactly as before.
    ///
    /// # Errors
    /// [`CryptoError::NoMatchingKey`] when no pending key has the message's label (not for
    /// us, from before we joined, already read, or older than the skipped-key window);
    /// [`CryptoError::CommitmentMismatch`], [`CryptoError::DecryptionFailed`] or
    /// [`CryptoError::BadSignature`] when it was tampered with or forged.
    pub fn decrypt(&mut self, message: &[u8]) -> Result<Decrypted, Error> {
        let opened = self.open(message)?;
        Ok(self.commit(opened))
    }

    /// [`Conversation::decrypt`] without using up the message's key: nothing changes until
    /// the result is passed to [`Conversation::commit`], so a caller can check what the message
    /// says before it is taken.
    pub(crate) fn open(&self, message: &[u8]) -> Result<Opened, Error> {
        let label = label_of(message)?;
        let error = match self.current.open(&label, message) {
            Ok((peer, slot, decrypted)) => {
                return Ok(Opened {
                    decrypted,
                    previous: false,
                    peer,
                    slot,
                });
            }
            Err(e) => e,
        };
        match self.previous.as_deref() {
            Some(previous) => match previous.open(&label, message) {
                Ok((peer, slot, decrypted)) => Ok(Opened {
                    decrypted,
                    previous: true,
                    peer,
                    slot,
                }),
                Err(Error::Crypto(CryptoError::NoMatchingKey)) => Err(error),
                Err(e) => Err(e),
            },
            None => Err(error),
        }
    }

    /// Uses up the key of a message [`Conversation::open`] opened (with no change in between).
    pub(crate) fn commit(&mut self, opened: Opened) -> Decrypted {
        let epoch = if opened.previous {
            self.previous.as_deref_mut()
        } else {
            Some(&mut self.current)
        };
        if let Some(epoch) = epoch {
            epoch.consume(opened.peer, opened.slot);
        }
        opened.decrypted
    }

    /// The label each chain we hold expects next, in both epochs: what an in-order message
    /// carries, for an index across conversations.
    pub fn next_labels(&self) -> impl Iterator<Item = [u8; 8]> + '_ {
        let epochs = core::iter::once(&self.current).chain(self.previous.as_deref());
        epochs.flat_map(|e| e.peers.iter().filter_map(|p| p.chain.next_label()))
    }

    /// The labels a client indexes this conversation by, in both epochs: for each chain we
    /// hold, those of its skipped steps and of its next [`INDEXED_AHEAD`] steps.
    pub fn indexed_labels(&self) -> Vec<[u8; 8]> {
        let epochs = core::iter::once(&self.current).chain(self.previous.as_deref());
        epochs
            .flat_map(|e| e.peers.iter().flat_map(|p| p.chain.indexed_labels()))
            .collect()
    }

    /// [`Conversation::commit`], also giving the indexed labels of the chain the message was
    /// on, before and after: all an index of those labels needs to follow it.
    pub(crate) fn commit_moving(
        &mut self,
        opened: Opened,
    ) -> (Decrypted, Vec<[u8; 8]>, Vec<[u8; 8]>) {
        let (previous, peer) = (opened.previous, opened.peer);
        let labels = |c: &Self| {
            let epoch = if previous {
                c.previous.as_deref()
            } else {
                Some(&c.current)
            };
            epoch
                .and_then(|e| e.peers.get(peer))
                .map_or_else(Vec::new, |p| p.chain.indexed_labels())
        };
        let before = labels(self);
        let decrypted = self.commit(opened);
        (decrypted, before, labels(self))
    }

    /// Whether a pending key of this conversation matches the message's label: a cheap test
    /// to find which conversation a delivery belongs to.
    pub fn recognises(&self, message: &[u8]) -> bool {
        let Ok(label) = label_of(message) else {
            return false;
        };
        let epochs = core::iter::once(&self.current).chain(self.previous.as_deref());
        // An in-order message is found by one lookup (and leaves lazy windows underived).
        let in_order = |e: &Epoch| {
            let peer = e.next_labels.get(&label).and_then(|p| e.peers.get(p));
            peer.is_some_and(|p| p.chain.next_label() == Some(label))
        };
        epochs.clone().any(in_order)
            || epochs
                .flat_map(|e| e.peers.iter())
                .any(|p| p.chain.find(&label).next().is_some())
    }

    /// Approximate bytes of key state held (chains, windows, verifying keys), not the roster.
    pub fn key_state_len(&self) -> usize {
        self.current.state_len() + self.previous.as_ref().map_or(0, |p| p.state_len())
    }
}

impl core::fmt::Debug for Conversation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Conversation")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("me", &self.me)
            .field("device", &self.device)
            .field("epoch", &self.current.number)
            .field("members", &self.current.roster.members().len())
            .finish_non_exhaustive()
    }
}

/// Raw derivations, exposed for the deterministic vectors and for second implementations'
/// cross-checks (feature `hazmat`). Not a stable API.
#[cfg(feature = "hazmat")]
pub mod hazmat {
    use zeroize::Zeroizing;

    /// Domain of fan-out chains.
    pub const FANOUT_DOMAIN: &[u8] = super::multi::FANOUT_DOMAIN;
    /// HKDF-Extract salt of an ad-hoc seed.
    pub const ADHOC_SALT: &[u8] = super::multi::ADHOC_SALT;
    /// Info of the ad-hoc conversation-id mask.
    pub const ADHOC_ID: &[u8] = super::multi::ADHOC_ID;
    /// Info prefix of an ad-hoc sender's first chain key.
    pub const ADHOC_CHAIN: &[u8] = super::multi::ADHOC_CHAIN;

    /// One chain step: `(CK_{i+1}, S_i, L_i)`.
    pub fn chain_step(
        key: &[u8; 32],
        domain: &[u8],
        binding: &[u8],
        index: u32,
    ) -> (Zeroizing<[u8; 32]>, Zeroizing<[u8; 32]>, [u8; 8]) {
        let (next, step) = super::chain::step(key, domain, binding, index);
        (next, Zeroizing::new(*step.secret), step.label)
    }

    /// The conversation chain domain.
    pub const CHAIN_DOMAIN: &[u8] = super::CHAIN_DOMAIN;

    /// A message's keys `K || C || M` (32 + 32 + 64) from its step secret.
    pub fn message_keys(secret: &[u8; 32], roster_hash: &[u8; 32]) -> Zeroizing<[u8; 128]> {
        let (keys, commitment) = super::message::MessageKeys::derive(secret, roster_hash);
        let mut out = Zeroizing::new([0u8; 128]);
        out[..32].copy_from_slice(&keys.bytes()[..32]);
        out[32..64].copy_from_slice(&commitment);
        out[64..].copy_from_slice(&keys.bytes()[32..]);
        out
    }
}
