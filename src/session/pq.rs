//! The post-quantum step of the ratchet. PROTOCOL.md §5.5.
//!
//! The sides take turns owning an epoch. Once [`PQ_INTERVAL`] messages have passed since the
//! last step, the owner of the next epoch offers a fresh ML-KEM-768 key on the first message
//! of its next sending chain; the peer encapsulates to it when it next starts a chain and
//! sends the ciphertext the same way; the owner decapsulates, and its next DH step takes the
//! shared secret into the root key beside the DH output. That chain's headers name the new
//! epoch, so the peer knows to take the same secret into the same step.
//!
//! Why this shape and not a per-message chunked exchange (SPQR) or a re-key in one message
//! (PQ3): the secret enters the root exactly where a DH step already happens, so no message
//! needs anything but a one-byte epoch to be decrypted; offers and ciphertexts ride along
//! once per chain, so a lost or late message only delays a step; and a step's key and
//! ciphertext cost about 46 bytes a message in steady turn-by-turn talk (BENCHMARKS.md).

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::crypto::mlkem;
use crate::error::CryptoError;

use super::KeySource;
use super::state::KemSeed;

/// Messages, sent and received, after a post-quantum step before the next one is offered.
pub const PQ_INTERVAL: u32 = 50;

/// An ML-KEM shared secret waiting to join the root key.
#[derive(Clone, Zeroize, ZeroizeOnDrop, Serialize, Deserialize)]
pub(crate) struct KemShared(pub(crate) [u8; 32]);

/// One side's part of the post-quantum ratchet.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct PqRatchet {
    /// How many post-quantum steps the root key has taken since set-up.
    pub(crate) epoch: u32,
    /// Messages sent and received since the last step (saturating).
    pub(crate) since: u32,
    pub(crate) stage: Stage,
}

/// Where the step towards epoch `epoch + 1` stands.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) enum Stage {
    /// Nothing under way.
    Idle,
    /// We own the next epoch and offer this key until its ciphertext arrives.
    Offered(KemSeed),
    /// The peer offered this key; we encapsulate to it when we next start a chain.
    Received(mlkem::PublicKey),
    /// We encapsulated; the ciphertext goes out until the peer's chain taking it in arrives.
    Encapsulated {
        ciphertext: mlkem::Ciphertext,
        shared: KemShared,
    },
    /// We decapsulated; the secret joins the root at our next DH step.
    Ready(KemShared),
}

/// What the first message of a sending chain carries towards the next epoch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Offer {
    /// The owner's fresh encapsulation key for `epoch`.
    Key { epoch: u32, key: mlkem::PublicKey },
    /// The encapsulation to that key.
    Ciphertext {
        epoch: u32,
        ciphertext: mlkem::Ciphertext,
    },
}

/// Whether the initiator's side (or else the responder's) owns `epoch`: the responder owns
/// the odd epochs, the initiator the even ones.
fn owns(initiator: bool, epoch: u32) -> bool {
    initiator == epoch.is_multiple_of(2)
}

impl PqRatchet {
    /// Right after set-up, whose ML-KEM secret counts as epoch 0.
    pub(crate) fn new() -> Self {
        Self {
            epoch: 0,
            since: 0,
            stage: Stage::Idle,
        }
    }

    /// Counts one message sent or received.
    pub(crate) fn count(&mut self) {
        self.since = self.since.saturating_add(1);
    }

    /// At our DH sending step: the secret to take in, if we hold one; the epoch advances.
    pub(crate) fn take_ready(&mut self) -> Option<KemShared> {
        match std::mem::replace(&mut self.stage, Stage::Idle) {
            Stage::Ready(shared) => {
                self.advance();
                Some(shared)
            }
            other => {
                self.stage = other;
                None
            }
        }
    }

    /// At the start of each of our sending chains: offer a key when one is due, or
    /// encapsulate to the key the peer offered.
    pub(crate) fn start_chain(&mut self, keys: &mut dyn KeySource, initiator: bool) {
        match &self.stage {
            Stage::Idle if self.since >= PQ_INTERVAL && owns(initiator, self.next()) => {
                self.stage = Stage::Offered(KemSeed(keys.next_kem_key()));
            }
            Stage::Received(key) => {
                let (ciphertext, shared) = key.encapsulate_with(&keys.next_kem_coins());
                self.stage = Stage::Encapsulated {
                    ciphertext,
                    shared: KemShared(*shared),
                };
            }
            _ => {}
        }
    }

    /// What the first message of a sending chain carries.
    pub(crate) fn offer(&self) -> Option<Offer> {
        let epoch = self.next();
        match &self.stage {
            Stage::Offered(seed) => Some(Offer::Key {
                epoch,
                key: seed.0.public_key().clone(),
            }),
            Stage::Encapsulated { ciphertext, .. } => Some(Offer::Ciphertext {
                epoch,
                ciphertext: ciphertext.clone(),
            }),
            _ => None,
        }
    }

    /// The secret that the peer's new chain, whose headers name `epoch`, took in: none for
    /// the current epoch, ours for the next when we encapsulated to its key. Any other epoch
    /// cannot be the peer's.
    pub(crate) fn secret_for(&self, epoch: u32) -> Result<Option<&KemShared>, CryptoError> {
        if epoch == self.epoch {
            return Ok(None);
        }
        match &self.stage {
            Stage::Encapsulated { shared, .. } if epoch == self.next() => Ok(Some(shared)),
            _ => Err(CryptoError::DecryptionFailed),
        }
    }

    /// After the peer's chain that took in our secret.
    pub(crate) fn advance(&mut self) {
        self.epoch = self.next();
        self.since = 0;
        self.stage = Stage::Idle;
    }

    /// Takes in what a decrypted message carried; offers for any other epoch, or repeated
    /// ones, are ignored.
    pub(crate) fn receive(&mut self, offer: Option<&Offer>, initiator: bool) {
        let next = self.next();
        match (offer, &self.stage) {
            (Some(Offer::Key { epoch, key }), Stage::Idle)
                if *epoch == next && !owns(initiator, next) =>
            {
                self.stage = Stage::Received(key.clone());
            }
            (Some(Offer::Ciphertext { epoch, ciphertext }), Stage::Offered(seed))
                if *epoch == next =>
            {
                self.stage = Stage::Ready(KemShared(*seed.0.decapsulate(ciphertext)));
            }
            _ => {}
        }
    }

    fn next(&self) -> u32 {
        self.epoch.wrapping_add(1)
    }
}
