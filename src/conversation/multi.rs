//! Multi-recipient first messages over fan-out chains (PROTOCOL.md §6.7).
//!
//! Each ordered pair of devices shares a fan-out chain, handed over once in their pairwise
//! session ([`FanOutGrant`]). A first message to `n` recipient devices (every device of up to 50
//! members, [`MAX_KEYED_RECIPIENTS`] at most) draws a fresh 32-byte seed, derives from it an
//! ad-hoc conversation and the sender's chain in it, and gives each recipient device the seed
//! XORed with the next step secret of their fan-out chain, under that step's label:
//! 16 + 8 + 32 = 56 bytes per recipient device, three HMACs of work, no public-key operation.

use std::collections::BTreeMap;

use rand::CryptoRng;
use zeroize::Zeroizing;

use serde::{Deserialize, Serialize};

use super::chain::{
    Binding, NextLabels, ReceiverChain, ReceiverState, Secret, SenderChain, SenderState, Slot,
};
use super::distribution::{FanOutGrant, SecretBytes};
use super::roster::{ConversationId, Kind, Member, Role, Roster};
use super::{Conversation, Decrypted, DeviceOf, Epoch};
use crate::crypto::kdf;
use crate::crypto::sign::{SigningKey, VerifyingKey};
use crate::envelope::{Delivery, Envelope, KeyPart, MAX_KEYED_RECIPIENTS, MailboxId};
use crate::error::{CryptoError, DecodeError, Error, UsageError};
use crate::wire::Wire;

/// Domain of fan-out chains; their binding is `sender || recipient`.
pub(crate) const FANOUT_DOMAIN: &[u8] = b"missive/v1/fanout";
/// HKDF-Extract salt of the seed.
pub(crate) const ADHOC_SALT: &[u8] = b"missive/v1/adhoc";
/// Info of the conversation-id mask.
pub(crate) const ADHOC_ID: &[u8] = b"missive/v1/adhoc-id";
/// Info prefix of a participant's first chain key.
pub(crate) const ADHOC_CHAIN: &[u8] = b"missive/v1/adhoc-chain";
/// Info of the conversation's access secret.
pub(crate) const ADHOC_ACCESS: &[u8] = b"missive/v1/adhoc-access";

/// One device's fan-out keys: the chains it granted to other devices and those granted to it,
/// and the signing key of its ad-hoc chains.
pub struct FanOut {
    me: MailboxId,
    signing: SigningKey,
    outgoing: BTreeMap<MailboxId, SenderChain>,
    incoming: Vec<Incoming>,
    next_labels: NextLabels,
}

/// A first message opened and the fan-out step it used, until it is committed.
pub(crate) struct FirstOpened {
    pub(crate) conversation: Conversation,
    pub(crate) decrypted: Decrypted,
    /// What the seed gives, to make the conversation one every participant answers in.
    pub(crate) seeded: Seeded,
    incoming: usize,
    slot: Slot,
}

struct Incoming {
    /// The granting device.
    sender: MailboxId,
    /// The member it speaks for (its own mailbox on an account's first device).
    member: MailboxId,
    chain: ReceiverChain,
    verifying: VerifyingKey,
}

fn fanout_binding(sender: &MailboxId, recipient: &MailboxId) -> Binding {
    Binding::new(FANOUT_DOMAIN, &sender.0, &recipient.0)
}

/// What a seed gives: the conversation-id mask and the prk every participant's first chain
/// key comes from.
pub(crate) struct Seeded {
    prk: Zeroizing<[u8; 32]>,
    id_mask: [u8; 16],
}

impl Seeded {
    fn new(seed: &[u8; 32]) -> Self {
        let prk = kdf::extract(ADHOC_SALT, seed);
        let mut id_mask = [0u8; 16];
        id_mask.copy_from_slice(&kdf::expand_array::<16>(&prk, &[ADHOC_ID])[..]);
        Self { prk, id_mask }
    }

    /// `CK_0 = HKDF-Expand(prk, "missive/v1/adhoc-chain" || roster_hash || sender, 32)`.
    fn chain_key(&self, roster_hash: &[u8; 32], sender: &MailboxId) -> Secret {
        kdf::expand_array::<32>(&self.prk, &[ADHOC_CHAIN, roster_hash, &sender.0])
    }

    /// The conversation's access secret, `HKDF-Expand(prk, "missive/v1/adhoc-access", 32)`,
    /// from which each participant's access key derives as in a group epoch (PROTOCOL.md
    /// §11.1).
    pub(crate) fn access_secret(&self) -> Zeroizing<[u8; 32]> {
        kdf::expand_array::<32>(&self.prk, &[ADHOC_ACCESS])
    }
}

impl Conversation {
    /// Makes an ad-hoc conversation one every participant can answer in: from its seed, the
    /// chain of each participant device in `members` (other than ours and those already
    /// installed), with the member it speaks for, whose messages must verify under the key
    /// given with it, and, with `signing`, our own chain, whose messages we sign with it.
    /// Every participant can derive every chain, so each message is signed by its author's
    /// key; `members` are the keys the conversation's opener vouched for.
    ///
    /// # Errors
    /// [`UsageError::WrongConversation`] for a group; [`CryptoError::RosterMismatch`] when
    /// `members` is not exactly the other participant devices without a chain yet.
    pub(crate) fn open_replies(
        &mut self,
        seeded: &Seeded,
        members: &[(DeviceOf, VerifyingKey)],
        signing: Option<SigningKey>,
    ) -> Result<(), Error> {
        if self.kind != Kind::AdHoc || self.current.number != 0 {
            return Err(UsageError::WrongConversation.into());
        }
        let epoch = &self.current;
        let missing: Vec<MailboxId> = epoch
            .roster
            .members()
            .iter()
            .map(|m| m.id)
            .filter(|id| *id != self.device && epoch.peers.iter().all(|p| p.sender != *id))
            .collect();
        let given: Vec<MailboxId> = members
            .iter()
            .map(|(of, _)| of.device)
            .filter(|id| *id != self.device)
            .collect();
        if given != missing {
            return Err(CryptoError::RosterMismatch.into());
        }
        let hash = self.current.roster_hash;
        for (of, verifying) in members.iter().filter(|(of, _)| of.device != self.device) {
            let key = seeded.chain_key(&hash, &of.device);
            self.current.add_peer(*of, key, *verifying);
        }
        if let Some(signing) = signing {
            let device = self.device;
            self.current
                .set_own(&device, seeded.chain_key(&hash, &device), signing);
        }
        Ok(())
    }
}

fn adhoc_roster(sender: MailboxId, recipients: &[MailboxId]) -> Result<Roster, UsageError> {
    let member = |id| Member {
        id,
        role: Role::Member,
        identity: None,
    };
    Roster::checked(
        Kind::AdHoc,
        recipients
            .iter()
            .copied()
            .chain([sender])
            .map(member)
            .collect(),
    )
}

/// Each recipient's part: its next fan-out label and the seed under that step's secret.
fn wrap(
    chains: &mut [(MailboxId, SenderChain)],
    seed: &[u8; 32],
) -> Result<Vec<(MailboxId, KeyPart)>, UsageError> {
    let mut parts = Vec::with_capacity(chains.len());
    for (to, chain) in chains {
        let step = chain.next()?;
        let wrapped = xor32(seed, &step.secret);
        parts.push((
            *to,
            KeyPart {
                label: step.label,
                wrapped,
            },
        ));
    }
    Ok(parts)
}

fn adhoc(id: ConversationId, me: DeviceOf, current: Epoch) -> Conversation {
    Conversation {
        id,
        kind: Kind::AdHoc,
        me: me.member,
        device: me.device,
        current,
        previous: None,
        removed: false,
        early: Vec::new(),
    }
}

fn xor32(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    core::array::from_fn(|i| a[i] ^ b[i])
}

impl FanOut {
    /// Fan-out state for the local user `me`, with a fresh signing key for ad-hoc chains.
    pub fn new<R: CryptoRng + ?Sized>(rng: &mut R, me: MailboxId) -> Self {
        Self::with_signing(me, SigningKey::generate(rng))
    }

    /// [`FanOut::new`] with an explicit signing seed (for vectors).
    #[cfg(feature = "hazmat")]
    pub fn with_seed(me: MailboxId, signing_seed: &[u8; 32]) -> Self {
        Self::with_signing(me, SigningKey::from_seed(signing_seed))
    }

    fn with_signing(me: MailboxId, signing: SigningKey) -> Self {
        Self {
            me,
            signing,
            outgoing: BTreeMap::new(),
            incoming: Vec::new(),
            next_labels: NextLabels::default(),
        }
    }

    /// A fresh fan-out chain to device `to` (replacing any earlier one); send the grant's bytes
    /// to `to` inside your pairwise session, once.
    pub fn grant<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        to: MailboxId,
    ) -> Result<FanOutGrant, Error> {
        let mut key = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(key.as_mut());
        self.grant_from(to, &key)
    }

    /// [`FanOut::grant`] with an explicit key (for vectors).
    #[cfg(feature = "hazmat")]
    pub fn grant_with(&mut self, to: MailboxId, key: &[u8; 32]) -> Result<FanOutGrant, Error> {
        self.grant_from(to, key)
    }

    fn grant_from(&mut self, to: MailboxId, key: &[u8; 32]) -> Result<FanOutGrant, Error> {
        if to == self.me {
            return Err(UsageError::InvalidRoster.into());
        }
        let chain = SenderChain::new(Zeroizing::new(*key), fanout_binding(&self.me, &to));
        self.outgoing.insert(to, chain);
        let signing_public = *self.signing.verifying_key();
        Ok(FanOutGrant {
            sender: self.me,
            recipient: to,
            key: SecretBytes(*key),
            signing_public,
        })
    }

    /// Accepts a grant that `from` (an account's first device) sent inside its pairwise
    /// session (replacing any earlier one).
    pub fn accept_grant(&mut self, from: MailboxId, bytes: &[u8]) -> Result<(), Error> {
        self.accept_grant_from(DeviceOf::first(from), bytes)
    }

    /// [`FanOut::accept_grant`] from device `from.device` of member `from.member`.
    pub(crate) fn accept_grant_from(&mut self, from: DeviceOf, bytes: &[u8]) -> Result<(), Error> {
        let (member, from) = (from.member, from.device);
        let grant = FanOutGrant::from_bytes(bytes)?;
        if grant.sender != from || from == self.me {
            return Err(CryptoError::WrongSender.into());
        }
        if grant.recipient != self.me {
            return Err(UsageError::UnknownRecipient.into());
        }
        let chain =
            ReceiverChain::new(Zeroizing::new(grant.key.0), fanout_binding(&from, &self.me));
        self.incoming.retain(|i| i.sender != from);
        self.incoming.push(Incoming {
            sender: from,
            member,
            chain,
            verifying: grant.signing_public,
        });
        self.next_labels = NextLabels::rebuild(self.incoming.iter().map(|i| &i.chain));
        Ok(())
    }

    /// Opens an ad-hoc conversation with `recipients` (1 to [`MAX_KEYED_RECIPIENTS`] devices,
    /// each of which we granted a fan-out key) and sends `body` as its first message, in one
    /// keyed envelope. Later messages go through the returned conversation's
    /// [`Conversation::encrypt`]. How many members the devices belong to is the caller's
    /// rule (the product's 50, `Client::send_multi`).
    ///
    /// # Errors
    /// [`UsageError::TooManyRecipients`] above [`MAX_KEYED_RECIPIENTS`],
    /// [`UsageError::UnknownRecipient`] for a recipient without a fan-out key,
    /// [`UsageError::InvalidRoster`] for duplicates or self.
    pub fn send_first<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        recipients: &[MailboxId],
        body: &[u8],
        expiry: u64,
    ) -> Result<(Conversation, Envelope), Error> {
        let me = DeviceOf::first(self.me);
        self.send_first_seeded(rng, me, recipients, body, expiry)
            .map(|(c, e, _)| (c, e))
    }

    /// [`FanOut::send_first`] as `me` (our member, and this device), keeping what the seed
    /// gives, so the caller can make the conversation one every participant answers in
    /// ([`Conversation::open_replies`]).
    pub(crate) fn send_first_seeded<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        me: DeviceOf,
        recipients: &[MailboxId],
        body: &[u8],
        expiry: u64,
    ) -> Result<(Conversation, Envelope, Seeded), Error> {
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(seed.as_mut());
        let mut id = [0u8; 16];
        rng.fill_bytes(&mut id);
        self.send_first_from(
            &seed,
            ConversationId(id),
            me.member,
            recipients,
            body,
            expiry,
        )
    }

    /// [`FanOut::send_first`] with an explicit seed and id (for vectors).
    #[cfg(feature = "hazmat")]
    pub fn send_first_with(
        &mut self,
        seed: &[u8; 32],
        id: ConversationId,
        recipients: &[MailboxId],
        body: &[u8],
        expiry: u64,
    ) -> Result<(Conversation, Envelope), Error> {
        self.send_first_from(seed, id, self.me, recipients, body, expiry)
            .map(|(c, e, _)| (c, e))
    }

    fn send_first_from(
        &mut self,
        seed: &[u8; 32],
        id: ConversationId,
        member: MailboxId,
        recipients: &[MailboxId],
        body: &[u8],
        expiry: u64,
    ) -> Result<(Conversation, Envelope, Seeded), Error> {
        if recipients.len() > MAX_KEYED_RECIPIENTS {
            return Err(UsageError::TooManyRecipients {
                max: MAX_KEYED_RECIPIENTS,
            }
            .into());
        }
        let roster = adhoc_roster(self.me, recipients)?;
        // Step clones, so that an error leaves every chain as it was.
        let mut chains = self.chains_to(&roster)?;
        let seeded = Seeded::new(seed);
        let mut current = Epoch::new(&id, Kind::AdHoc, 0, roster);
        let chain_key = seeded.chain_key(&current.roster_hash, &self.me);
        current.set_own(&self.me, chain_key, self.signing.clone());
        let me = DeviceOf {
            member,
            device: self.me,
        };
        let mut conversation = adhoc(id, me, current);
        let message = conversation.encrypt(body)?;
        let parts = wrap(&mut chains, seed)?;
        let mut shared = Vec::with_capacity(16 + message.len());
        shared.extend(id.0.iter().zip(&seeded.id_mask).map(|(a, b)| a ^ b));
        shared.extend_from_slice(&message);
        self.outgoing.extend(chains);
        Ok((conversation, Envelope::keyed(expiry, parts, shared), seeded))
    }

    /// Copies of the fan-out chains to every member of `roster` but us.
    fn chains_to(&self, roster: &Roster) -> Result<Vec<(MailboxId, SenderChain)>, UsageError> {
        let others = roster
            .members()
            .iter()
            .map(|m| m.id)
            .filter(|id| *id != self.me);
        others
            .map(|to| {
                let chain = self.outgoing.get(&to).ok_or(UsageError::UnknownRecipient)?;
                Ok((to, chain.clone()))
            })
            .collect()
    }

    /// Opens a first message delivered to the local user: finds its key part by label, rebuilds
    /// the ad-hoc conversation from the seed, and decrypts. On error nothing changes.
    pub fn open_first(&mut self, delivery: &Delivery) -> Result<(Conversation, Decrypted), Error> {
        let opened = self.open_first_staged(delivery, self.me)?;
        let (conversation, decrypted, _) = self.commit_first(opened);
        Ok((conversation, decrypted))
    }

    /// Whether a pending fan-out step carries `part`'s label: whether a first message with
    /// this part can be ours with the grants we hold (else its grant has not arrived yet, or
    /// it is not for us).
    pub(crate) fn recognises(&self, part: &KeyPart) -> bool {
        let label = part.label;
        let in_order = self.next_labels.get(&label).is_some_and(|i| {
            self.incoming.get(i).and_then(|x| x.chain.next_label()) == Some(label)
        });
        in_order || !self.scan(&label, None).is_empty()
    }

    /// [`FanOut::open_first`] for a device of `member`, without using up the fan-out step:
    /// nothing changes until the result is passed to [`FanOut::commit_first`].
    pub(crate) fn open_first_staged(
        &self,
        delivery: &Delivery,
        member: MailboxId,
    ) -> Result<FirstOpened, Error> {
        let part = delivery.part().ok_or(DecodeError::Invalid {
            what: "first message",
        })?;
        if delivery.mailbox() != self.me {
            return Err(UsageError::UnknownRecipient.into());
        }
        let body = delivery.body();
        if body.len() < 16 {
            return Err(DecodeError::Truncated {
                what: "first message",
            }
            .into());
        }
        self.open_part(part, delivery.cohort(), body, member)
    }

    /// Uses up the fan-out step of a first message [`FanOut::open_first_staged`] opened (with
    /// no change in between); returns the conversation it opened and the message.
    pub(crate) fn commit_first(
        &mut self,
        opened: FirstOpened,
    ) -> (Conversation, Decrypted, Seeded) {
        self.consume(opened.incoming, opened.slot);
        (opened.conversation, opened.decrypted, opened.seeded)
    }

    /// Tries the pending fan-out steps labelled like `part`: the sender's next step first (one
    /// lookup), then every window. Changes nothing.
    fn open_part(
        &self,
        part: &KeyPart,
        cohort: &[MailboxId],
        body: &[u8],
        member: MailboxId,
    ) -> Result<FirstOpened, Error> {
        let mut error = Error::Crypto(CryptoError::NoMatchingKey);
        let label = part.label;
        let in_order = self
            .next_labels
            .get(&label)
            .filter(|&i| self.incoming.get(i).and_then(|x| x.chain.next_label()) == Some(label));
        let mut candidates = match in_order {
            Some(i) => vec![(i, Slot::Ahead(0))],
            None => self.scan(&label, None),
        };
        let mut scanned = in_order.is_none();
        loop {
            for (i, slot) in candidates {
                match self.try_first(i, slot, part, cohort, body, member) {
                    Ok((conversation, decrypted, seeded)) => {
                        return Ok(FirstOpened {
                            conversation,
                            decrypted,
                            seeded,
                            incoming: i,
                            slot,
                        });
                    }
                    Err(e) => error = e,
                }
            }
            if scanned {
                break;
            }
            candidates = self.scan(&label, in_order);
            scanned = true;
        }
        Err(error)
    }

    /// Every pending fan-out step with `label`, except the in-order one already tried.
    fn scan(&self, label: &[u8; 8], tried: Option<usize>) -> Vec<(usize, Slot)> {
        let all = self.incoming.iter().enumerate();
        all.flat_map(|(i, inc)| inc.chain.find(label).map(move |slot| (i, slot)))
            .filter(|&(i, slot)| tried != Some(i) || slot != Slot::Ahead(0))
            .collect()
    }

    fn consume(&mut self, i: usize, slot: Slot) {
        if let Some(inc) = self.incoming.get_mut(i) {
            let before = inc.chain.next_label();
            inc.chain.consume(slot);
            let index = u32::try_from(i).unwrap_or(u32::MAX);
            self.next_labels
                .update(index, before, inc.chain.next_label());
        }
    }

    fn try_first(
        &self,
        incoming: usize,
        slot: Slot,
        part: &KeyPart,
        cohort: &[MailboxId],
        body: &[u8],
        member: MailboxId,
    ) -> Result<(Conversation, Decrypted, Seeded), Error> {
        let inc = &self.incoming[incoming];
        let step = inc.chain.get(slot).ok_or(CryptoError::NoMatchingKey)?;
        let seed = Zeroizing::new(xor32(&part.wrapped, &step.secret));
        let seeded = Seeded::new(&seed);
        let id = ConversationId(core::array::from_fn(|i| body[i] ^ seeded.id_mask[i]));
        let roster = adhoc_roster(inc.sender, cohort).map_err(|_| CryptoError::RosterMismatch)?;
        let mut current = Epoch::new(&id, Kind::AdHoc, 0, roster);
        let chain_key = seeded.chain_key(&current.roster_hash, &inc.sender);
        let from = DeviceOf {
            member: inc.member,
            device: inc.sender,
        };
        current.add_peer(from, chain_key, inc.verifying);
        let me = DeviceOf {
            member,
            device: self.me,
        };
        let mut conversation = adhoc(id, me, current);
        let decrypted = conversation.decrypt(&body[16..])?;
        Ok((conversation, decrypted, seeded))
    }

    /// Approximate bytes of key state held.
    pub fn key_state_len(&self) -> usize {
        let out = self.outgoing.len() * (16 + 32 + 4 + 32);
        out + self
            .incoming
            .iter()
            .map(|i| 16 + 32 + i.chain.state_len())
            .sum::<usize>()
    }
}

/// Version 1: every grant came from an account's first device (its mailbox is its member).
#[derive(Serialize, Deserialize)]
struct FanOutState {
    me: MailboxId,
    signing_seed: SecretBytes,
    outgoing: Vec<(MailboxId, SenderState)>,
    incoming: Vec<(MailboxId, VerifyingKey, ReceiverState)>,
}

impl Wire for FanOutState {
    const WHAT: &'static str = "fan-out state";
    const VERSION: u8 = 1;
}

/// Version 2, written once a grant came from a device that is not its account's first: each
/// incoming chain names the member it speaks for.
#[derive(Serialize, Deserialize)]
struct DeviceFanOutState {
    me: MailboxId,
    signing_seed: SecretBytes,
    outgoing: Vec<(MailboxId, SenderState)>,
    incoming: Vec<(MailboxId, MailboxId, VerifyingKey, ReceiverState)>,
}

impl Wire for DeviceFanOutState {
    const WHAT: &'static str = "fan-out state";
    const VERSION: u8 = 2;
}

impl FanOut {
    /// The whole state, for storage at rest (encrypt it; the buffer is zeroized on drop).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let outgoing = self.outgoing.iter().map(|(to, c)| (*to, c.to_state()));
        let signing_seed = SecretBytes(*self.signing.to_seed());
        if self.incoming.iter().all(|i| i.member == i.sender) {
            let incoming = self
                .incoming
                .iter()
                .map(|i| (i.sender, i.verifying, i.chain.to_state()));
            let state = FanOutState {
                me: self.me,
                signing_seed,
                outgoing: outgoing.collect(),
                incoming: incoming.collect(),
            };
            return Zeroizing::new(state.to_wire());
        }
        let incoming = self
            .incoming
            .iter()
            .map(|i| (i.sender, i.member, i.verifying, i.chain.to_state()));
        let state = DeviceFanOutState {
            me: self.me,
            signing_seed,
            outgoing: outgoing.collect(),
            incoming: incoming.collect(),
        };
        Zeroizing::new(state.to_wire())
    }

    /// Restores a state written by [`FanOut::to_bytes`], checking its invariants.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let s = match bytes.first() {
            Some(&FanOutState::VERSION) => {
                let s = FanOutState::from_wire(bytes)?;
                let incoming = s
                    .incoming
                    .into_iter()
                    .map(|(from, v, c)| (from, from, v, c));
                DeviceFanOutState {
                    me: s.me,
                    signing_seed: s.signing_seed,
                    outgoing: s.outgoing,
                    incoming: incoming.collect(),
                }
            }
            _ => {
                let s = DeviceFanOutState::from_wire(bytes)?;
                // One form per state: version 2 only when some grant needs it.
                if s.incoming.iter().all(|(from, member, _, _)| from == member) {
                    return Err(DecodeError::NonCanonical {
                        what: "fan-out state",
                    });
                }
                s
            }
        };
        Self::from_state(&s)
    }

    fn from_state(s: &DeviceFanOutState) -> Result<Self, DecodeError> {
        let invalid = DecodeError::Invalid {
            what: "fan-out state",
        };
        let signing = SigningKey::from_seed(&Zeroizing::new(s.signing_seed.0));
        let mut fan = Self::with_signing(s.me, signing);
        let ordered = s.outgoing.windows(2).all(|w| w[0].0 < w[1].0);
        if !ordered || s.outgoing.iter().any(|(to, _)| *to == s.me) {
            return Err(invalid);
        }
        for (to, chain) in &s.outgoing {
            let chain = SenderChain::from_state(chain, fanout_binding(&s.me, to));
            fan.outgoing.insert(*to, chain);
        }
        for (from, member, verifying, chain) in &s.incoming {
            if *from == s.me || fan.incoming.iter().any(|i| i.sender == *from) {
                return Err(invalid);
            }
            let chain = ReceiverChain::from_state(chain, fanout_binding(from, &s.me))?;
            fan.incoming.push(Incoming {
                sender: *from,
                member: *member,
                chain,
                verifying: *verifying,
            });
        }
        fan.next_labels = NextLabels::rebuild(fan.incoming.iter().map(|i| &i.chain));
        Ok(fan)
    }
}

impl core::fmt::Debug for FanOut {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FanOut")
            .field("me", &self.me)
            .field("granted", &self.outgoing.len())
            .field("received", &self.incoming.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::conversation::message::{self, Context};
    use crate::envelope::split;
    use crate::error::CryptoError;
    use crate::identity::Identity;

    struct Participant {
        id: MailboxId,
        identity: Identity,
        fan: FanOut,
    }

    fn participant(i: u8) -> Participant {
        let id = MailboxId([i; 16]);
        let mut rng = rand::rng();
        Participant {
            id,
            identity: Identity::generate(&mut rng),
            fan: FanOut::new(&mut rng, id),
        }
    }

    /// Ana opens an answerable conversation with Ben and Chloe; each installs every chain.
    fn opened() -> (Vec<Participant>, Vec<Conversation>, Vec<Seeded>) {
        let mut rng = rand::rng();
        let mut people: Vec<Participant> = (1..=3).map(participant).collect();
        for i in 1..3 {
            let to = people[i].id;
            let grant = people[0].fan.grant(&mut rng, to).unwrap();
            let from = people[0].id;
            people[i].fan.accept_grant(from, &grant.to_bytes()).unwrap();
        }
        let members: Vec<(DeviceOf, VerifyingKey)> = people[1..]
            .iter()
            .map(|p| (DeviceOf::first(p.id), *p.identity.public().verifying_key()))
            .collect();
        let to: Vec<MailboxId> = people[1..].iter().map(|p| p.id).collect();
        let ana = DeviceOf::first(people[0].id);
        let (mut at_ana, envelope, seeded) = people[0]
            .fan
            .send_first_seeded(&mut rng, ana, &to, b"hello", u64::MAX)
            .unwrap();
        at_ana.open_replies(&seeded, &members, None).unwrap();
        let mut conversations = vec![at_ana];
        let mut seeds = vec![seeded];
        for d in split(&envelope.to_bytes()).unwrap() {
            let i = people.iter().position(|p| p.id == d.mailbox()).unwrap();
            let mut staged = people[i].fan.open_first_staged(&d, people[i].id).unwrap();
            let signing = people[i].identity.signing_key().clone();
            staged
                .conversation
                .open_replies(&staged.seeded, &members, Some(signing))
                .unwrap();
            let (c, decrypted, seeded) = people[i].fan.commit_first(staged);
            assert_eq!(decrypted.body, b"hello");
            conversations.push(c);
            seeds.push(seeded);
        }
        (people, conversations, seeds)
    }

    #[test]
    fn a_grant_from_a_second_device_is_kept_with_its_member_in_state_version_two() {
        let mut rng = rand::rng();
        let (phone, laptop) = (MailboxId([1; 16]), MailboxId([2; 16]));
        let mut from_laptop = FanOut::new(&mut rng, laptop);
        let mut at_ben = participant(3).fan;
        let ben = at_ben.me;
        let grant = from_laptop.grant(&mut rng, ben).unwrap().to_bytes();
        let version_one = at_ben.to_bytes();
        assert_eq!(version_one[0], 1, "nothing but first devices yet");
        let laptop_of_ana = DeviceOf {
            member: phone,
            device: laptop,
        };
        at_ben.accept_grant_from(laptop_of_ana, &grant).unwrap();
        let bytes = at_ben.to_bytes();
        assert_eq!(bytes[0], 2);
        let mut at_ben = FanOut::from_bytes(&bytes).unwrap();
        assert!(*at_ben.to_bytes() == *bytes);
        let (_, envelope) = from_laptop.send_first(&mut rng, &[ben], b"hi", 9).unwrap();
        let (c, got) = at_ben.open_first(&envelope.split()[0]).unwrap();
        assert_eq!((got.sender, got.device), (phone, laptop));
        assert_eq!(c.peer_devices(), [laptop_of_ana]);
        // Version 2 is only for what version 1 cannot say.
        let canonical = FanOut::from_bytes(&version_one).unwrap();
        let state = FanOutState::from_wire(&canonical.to_bytes()).unwrap();
        let padded = DeviceFanOutState {
            me: state.me,
            signing_seed: state.signing_seed,
            outgoing: state.outgoing,
            incoming: Vec::new(),
        };
        assert_eq!(
            FanOut::from_bytes(&padded.to_wire()).unwrap_err(),
            DecodeError::NonCanonical {
                what: "fan-out state"
            }
        );
    }

    #[test]
    fn every_participant_answers_everyone() {
        let (people, mut convs, _) = opened();
        for sender in 0..3 {
            let message = convs[sender].encrypt(b"answer").unwrap();
            for reader in (0..3).filter(|r| *r != sender) {
                let got = convs[reader].decrypt(&message).unwrap();
                assert_eq!(
                    (got.sender, got.body.as_slice()),
                    (people[sender].id, &b"answer"[..])
                );
            }
        }
    }

    #[test]
    fn a_participant_cannot_write_as_another() {
        let (people, mut convs, seeds) = opened();
        // Ben holds the seed, so he can derive Chloe's chain; he cannot sign as Chloe.
        let (ben, chloe) = (&people[1], &people[2]);
        let hash = *convs[1].roster_hash();
        let mut chain = SenderChain::new(
            seeds[1].chain_key(&hash, &chloe.id),
            crate::conversation::chain_binding(&hash, &chloe.id),
        );
        let step = chain.next().unwrap();
        let ctx = Context {
            roster_hash: &hash,
            sender: &chloe.id,
        };
        let forged = message::seal(&ctx, &step, ben.identity.signing_key(), b"from Chloe").unwrap();
        let before = convs[0].to_bytes();
        assert_eq!(
            convs[0].decrypt(&forged),
            Err(CryptoError::BadSignature.into())
        );
        assert!(*convs[0].to_bytes() == *before, "a forgery changes nothing");
        // Chloe's own first answer, on the same step, opens.
        let genuine = convs[2].encrypt(b"from Chloe").unwrap();
        assert_eq!(convs[0].decrypt(&genuine).unwrap().sender, chloe.id);
    }

    #[test]
    fn the_access_secret_is_the_seeds_and_nobody_elses() {
        let seed = [7u8; 32];
        let seeded = Seeded::new(&seed);
        // HKDF-SHA256 computed here directly: Extract(salt, seed), then Expand(info, 32).
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(ADHOC_SALT), &seed);
        let mut expected = [0u8; 32];
        hk.expand(ADHOC_ACCESS, &mut expected).unwrap();
        assert_eq!(*seeded.access_secret(), expected);
        assert_ne!(*Seeded::new(&[8; 32]).access_secret(), expected);
    }

    #[test]
    fn a_stale_index_entry_does_not_make_a_label_ours() {
        let (people, _, _) = opened();
        let mut ben = people.into_iter().nth(1).unwrap().fan;
        let next = ben.incoming[0].chain.next_label().unwrap();
        let part = |label| KeyPart {
            label,
            wrapped: [0; 32],
        };
        assert!(ben.recognises(&part(next)));
        // An entry the chain no longer matches (a collision left behind) is only a hint.
        let stale = [0xee; 8];
        ben.next_labels.update(0, None, Some(stale));
        assert!(!ben.recognises(&part(stale)));
        assert!(ben.recognises(&part(next)));
    }

    #[test]
    fn a_group_takes_no_reply_chains() {
        let mut rng = rand::rng();
        let (people, _, seeds) = opened();
        let member = |p: &Participant, role| Member::new(p.id, role, *p.identity.public());
        let (mut group, _) = Conversation::create(
            &mut rng,
            member(&people[0], Role::Admin),
            vec![member(&people[1], Role::Member)],
        )
        .unwrap();
        let vouched = [(
            DeviceOf::first(people[1].id),
            *people[1].identity.public().verifying_key(),
        )];
        let before = group.to_bytes();
        assert_eq!(
            group.open_replies(&seeds[0], &vouched, None),
            Err(UsageError::WrongConversation.into())
        );
        assert!(*group.to_bytes() == *before);
    }

    #[test]
    fn the_vouched_members_must_be_exactly_the_others() {
        let (people, _, _) = opened();
        let mut rng = rand::rng();
        let mut ana = participant(1);
        let grant = ana.fan.grant(&mut rng, people[1].id).unwrap();
        drop(grant);
        let (mut c, _, seeded) = ana
            .fan
            .send_first_seeded(
                &mut rng,
                DeviceOf::first(ana.id),
                &[people[1].id],
                b"x",
                u64::MAX,
            )
            .unwrap();
        let outsider = (
            DeviceOf::first(MailboxId([9; 16])),
            *people[2].identity.public().verifying_key(),
        );
        assert_eq!(
            c.open_replies(&seeded, &[outsider], None),
            Err(CryptoError::RosterMismatch.into())
        );
        assert_eq!(
            c.open_replies(&seeded, &[], None),
            Err(CryptoError::RosterMismatch.into())
        );
    }
}
