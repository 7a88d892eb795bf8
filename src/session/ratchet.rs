//! The Double Ratchet, as in Signal's specification (revision 1, 2016-11-20, §3), with
//! bounded skipped-message keys and decryption that changes nothing unless it succeeds.
//! PROTOCOL.md §5.4.
//!
//! One deviation in *when*, not *what*: the spec's `DHRatchet` generates the next sending
//! ratchet key as soon as a new peer key arrives. We generate it at the next send instead
//! (as vodozemac does), so decryption needs no randomness and a burst of incoming messages
//! costs no key generation. Every key derived is the same as the spec's.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::crypto::x25519::{PublicKey, SecretKey};
use crate::error::{CryptoError, Error, UsageError};

use super::KeySource;
use super::chain::{ChainKey, MessageKey, RootKey};
use super::message::Header;
use super::pq::PqRatchet;
use super::state::Secret;

/// The most message keys one message may make us skip in one chain (MAX_SKIP).
pub const MAX_SKIP: u32 = 1000;
/// The most skipped message keys a session stores; the oldest are evicted first.
pub const MAX_SKIPPED_KEYS: usize = 2000;
/// How many replaced receiving-chain keys are remembered, so that a late copy of a message on
/// one of them is reported as a replay without a DH computation.
pub(crate) const MAX_OLD_CHAINS: usize = 5;

/// The sending chain: CKs and Ns.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct SendChain {
    pub(crate) key: ChainKey,
    pub(crate) n: u32,
}

/// The receiving chain: DHr, CKr and Nr.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct RecvChain {
    pub(crate) their: PublicKey,
    pub(crate) key: ChainKey,
    pub(crate) n: u32,
}

/// A stored key of a message that has not arrived yet (MKSKIPPED).
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Skipped {
    pub(crate) their: PublicKey,
    pub(crate) n: u32,
    pub(crate) key: MessageKey,
}

/// The state of one side of a Double Ratchet.
///
/// `sending` is `None` when the peer's newest ratchet key has not been answered yet: the next
/// send generates our new ratchet key. At least one of `sending` and `receiving` is set once
/// the session exists.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Ratchet {
    pub(crate) root: RootKey,
    /// DHs: our current ratchet key pair.
    pub(crate) ours: Secret,
    pub(crate) sending: Option<SendChain>,
    pub(crate) receiving: Option<RecvChain>,
    /// PN: the length of our previous sending chain.
    pub(crate) previous_counter: u32,
    pub(crate) skipped: VecDeque<Skipped>,
    /// Ratchet keys of receiving chains since replaced, newest last.
    pub(crate) old_chains: VecDeque<PublicKey>,
    /// The post-quantum step (last, so that a version 2 state is a prefix of this one).
    pub(crate) pq: PqRatchet,
}

/// What a successful decryption will change, computed before anything is changed.
struct Staged {
    root: Option<RootKey>,
    /// Whether the new root took in our post-quantum secret.
    pq_step: bool,
    receiving: RecvChain,
    skipped: Vec<Skipped>,
}

impl Ratchet {
    /// Alice: `DHs = ours; DHr = SPK_B; RK, CKs = KDF_RK(SK, DH(DHs, DHr))`.
    pub(crate) fn initiator(
        sk: &RootKey,
        ours: SecretKey,
        their: &PublicKey,
    ) -> Result<Self, CryptoError> {
        let (root, key) = sk.step(&ours.diffie_hellman(their)?);
        let sending = Some(SendChain { key, n: 0 });
        Ok(Self {
            root,
            ours: Secret(ours),
            sending,
            receiving: None,
            previous_counter: 0,
            skipped: VecDeque::new(),
            old_chains: VecDeque::new(),
            pq: PqRatchet::new(),
        })
    }

    /// Bob: `DHs = SPK_B; RK = SK`; no chain until Alice's first message arrives.
    pub(crate) fn responder(sk: RootKey, signed_prekey: SecretKey) -> Self {
        Self {
            root: sk,
            ours: Secret(signed_prekey),
            sending: None,
            receiving: None,
            previous_counter: 0,
            skipped: VecDeque::new(),
            old_chains: VecDeque::new(),
            pq: PqRatchet::new(),
        }
    }

    /// The header and key of the next message we send: `CKs, mk = KDF_CK(CKs); Ns += 1`.
    /// The first message of a chain carries the post-quantum offer, if any.
    pub(crate) fn next_send(
        &mut self,
        keys: &mut dyn KeySource,
        initiator: bool,
    ) -> Result<(Header, MessageKey), Error> {
        if self.sending.is_none() {
            self.step_sending(keys, initiator)?;
        }
        let chain = self.sending.as_mut().ok_or(CryptoError::NoSession)?;
        let next = chain
            .n
            .checked_add(1)
            .ok_or(UsageError::MessageLimitReached)?;
        let (key, message_key) = chain.key.step();
        let header = Header {
            ratchet_key: *self.ours.0.public_key(),
            previous_counter: self.previous_counter,
            counter: chain.n,
            epoch: self.pq.epoch,
            offer: if chain.n == 0 { self.pq.offer() } else { None },
        };
        chain.key = key;
        chain.n = next;
        self.pq.count();
        Ok((header, message_key))
    }

    /// The second half of the spec's `DHRatchet`, deferred to the first send after it:
    /// `DHs = GENERATE_DH(); RK, CKs = KDF_RK(RK, DH(DHs, DHr))`, with a post-quantum secret
    /// beside the DH output when we hold one.
    fn step_sending(
        &mut self,
        keys: &mut dyn KeySource,
        initiator: bool,
    ) -> Result<(), CryptoError> {
        let their = self.receiving.as_ref().ok_or(CryptoError::NoSession)?.their;
        let ours = keys.next_key();
        let dh = ours.diffie_hellman(&their)?;
        let (root, key) = match self.pq.take_ready() {
            Some(shared) => self.root.step_hybrid(&dh, &shared.0),
            None => self.root.step(&dh),
        };
        self.root = root;
        self.ours = Secret(ours);
        self.sending = Some(SendChain { key, n: 0 });
        self.pq.start_chain(keys, initiator);
        Ok(())
    }

    /// `RatchetDecrypt`: on any error the state is exactly as before.
    pub(crate) fn decrypt(
        &mut self,
        header: &Header,
        aad: &[u8],
        ciphertext: &[u8],
        initiator: bool,
    ) -> Result<Vec<u8>, Error> {
        let plaintext = if let Some(i) = self.find_skipped(header) {
            let plaintext = open(&self.skipped[i].key, aad, ciphertext)?;
            // Deleting the key is what makes a replay fail (and gives forward secrecy).
            self.skipped.remove(i);
            plaintext
        } else {
            let (staged, message_key) = self.stage(header)?;
            let plaintext = open(&message_key, aad, ciphertext)?;
            self.commit(staged);
            plaintext
        };
        self.pq.count();
        self.pq.receive(header.offer.as_ref(), initiator);
        Ok(plaintext)
    }

    fn find_skipped(&self, header: &Header) -> Option<usize> {
        self.skipped
            .iter()
            .position(|s| s.n == header.counter && s.their == header.ratchet_key)
    }

    fn stage(&self, header: &Header) -> Result<(Staged, MessageKey), Error> {
        match &self.receiving {
            Some(chain) if chain.their == header.ratchet_key => {
                if header.counter < chain.n {
                    return Err(CryptoError::Replay.into());
                }
                let mut skipped = Vec::new();
                let (receiving, key) = advance(chain.clone(), header.counter, &mut skipped)?;
                Ok((
                    Staged {
                        root: None,
                        pq_step: false,
                        receiving,
                        skipped,
                    },
                    key,
                ))
            }
            // A chain we have replaced or still hold skipped keys of, but not this message's:
            // it was decrypted already, or its key was evicted.
            _ if self.old_chains.contains(&header.ratchet_key)
                || self.skipped.iter().any(|s| s.their == header.ratchet_key) =>
            {
                Err(CryptoError::Replay.into())
            }
            _ => self.stage_ratchet(header),
        }
    }

    /// The first half of `DHRatchet`, staged: skip the rest of the current receiving chain up
    /// to PN, then `RK, CKr = KDF_RK(RK, DH(DHs, header.dh))` and skip to N in the new chain.
    fn stage_ratchet(&self, header: &Header) -> Result<(Staged, MessageKey), Error> {
        let mut skipped = Vec::new();
        if let Some(chain) = &self.receiving {
            skip_until(chain.clone(), header.previous_counter, &mut skipped)?;
        }
        let dh = self.ours.0.diffie_hellman(&header.ratchet_key)?;
        let pq_secret = self.pq.secret_for(header.epoch)?;
        let (root, key) = match pq_secret {
            Some(shared) => self.root.step_hybrid(&dh, &shared.0),
            None => self.root.step(&dh),
        };
        let chain = RecvChain {
            their: header.ratchet_key,
            key,
            n: 0,
        };
        let (receiving, message_key) = advance(chain, header.counter, &mut skipped)?;
        Ok((
            Staged {
                root: Some(root),
                pq_step: pq_secret.is_some(),
                receiving,
                skipped,
            },
            message_key,
        ))
    }

    fn commit(&mut self, staged: Staged) {
        let replaced = self.receiving.replace(staged.receiving);
        if staged.pq_step {
            self.pq.advance();
        }
        if let Some(root) = staged.root {
            self.root = root;
            if let Some(sending) = self.sending.take() {
                self.previous_counter = sending.n;
            }
            if let Some(old) = replaced {
                self.old_chains.push_back(old.their);
            }
            if self.old_chains.len() > MAX_OLD_CHAINS {
                self.old_chains.pop_front();
            }
        }
        self.skipped.extend(staged.skipped);
        while self.skipped.len() > MAX_SKIPPED_KEYS {
            self.skipped.pop_front();
        }
    }
}

fn open(key: &MessageKey, aad: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut buf = ciphertext.to_vec();
    key.open(aad, &mut buf)?;
    Ok(buf)
}

/// Steps `chain` past message `counter`, collecting the keys skipped on the way; returns the
/// chain after it and message `counter`'s key.
fn advance(
    chain: RecvChain,
    counter: u32,
    skipped: &mut Vec<Skipped>,
) -> Result<(RecvChain, MessageKey), Error> {
    let mut chain = skip_until(chain, counter, skipped)?;
    let (key, message_key) = chain.key.step();
    chain.key = key;
    chain.n = counter
        .checked_add(1)
        .ok_or(UsageError::MessageLimitReached)?;
    Ok((chain, message_key))
}

/// `SkipMessageKeys(until)`: refuses to skip more than [`MAX_SKIP`] keys.
fn skip_until(
    mut chain: RecvChain,
    until: u32,
    skipped: &mut Vec<Skipped>,
) -> Result<RecvChain, CryptoError> {
    if until.saturating_sub(chain.n) > MAX_SKIP {
        return Err(CryptoError::TooManySkipped);
    }
    while chain.n < until {
        let (key, message_key) = chain.key.step();
        skipped.push(Skipped {
            their: chain.their,
            n: chain.n,
            key: message_key,
        });
        chain.key = key;
        chain.n += 1; // < until, so no overflow
    }
    Ok(chain)
}
