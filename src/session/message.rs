//! The session message on the wire. PROTOCOL.md §5.6.

use serde::{Deserialize, Serialize};

use crate::crypto::mlkem;
use crate::crypto::x25519::PublicKey;
use crate::error::DecodeError;
use crate::identity::PublicIdentity;
use crate::wire::{self, Wire};

use super::pq::Offer;

/// The Double Ratchet header: (DH ratchet public key, PN, N), then the post-quantum step's
/// epoch and offer (PROTOCOL.md §5.4–5.5).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Header {
    /// The sender's current ratchet public key.
    pub(crate) ratchet_key: PublicKey,
    /// PN: the number of messages in the sender's previous sending chain.
    pub(crate) previous_counter: u32,
    /// N: this message's number in its sending chain.
    pub(crate) counter: u32,
    /// The post-quantum epoch of the root key this message's chain came from.
    pub(crate) epoch: u32,
    /// A key or ciphertext towards the next epoch, on the first message of a chain.
    pub(crate) offer: Option<Offer>,
}

/// Which prekey of the responder's bundle the initiator used besides the signed prekey.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum PrekeyRef {
    /// A one-time prekey, by id.
    OneTime(u32),
    /// The last-resort prekey, by id.
    LastResort(u32),
}

/// What the responder needs to create its side of a session: sent with every message of the
/// initiator until the initiator first decrypts a reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PrekeyHeader {
    /// IK_A.
    pub(crate) identity: PublicIdentity,
    /// EK_A, the initiator's ephemeral (base) key.
    pub(crate) base_key: PublicKey,
    /// Id of SPK_B.
    pub(crate) signed_prekey_id: u32,
    /// The one-time or last-resort prekey used; its ML-KEM partner is the KEM prekey.
    pub(crate) prekey: PrekeyRef,
    /// CT: the encapsulation to that ML-KEM prekey.
    pub(crate) kem_ciphertext: mlkem::Ciphertext,
}

/// A message of a pairwise session.
///
/// Wire form: `0x02 || postcard(Option<prekey header>, header, ciphertext bytes)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionMessage {
    pub(crate) prekey: Option<Box<PrekeyHeader>>,
    pub(crate) header: Header,
    #[serde(with = "serde_bytes")]
    pub(crate) ciphertext: Vec<u8>,
}

impl Wire for SessionMessage {
    const WHAT: &'static str = "session message";
    const VERSION: u8 = 3;
}

impl SessionMessage {
    /// Decodes the wire form.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::from_wire(bytes)
    }

    /// The wire form.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_wire()
    }

    /// The sender's identity if this message can start a session (a prekey message).
    /// Decryption authenticates it; until then it is only a claim.
    pub fn prekey_identity(&self) -> Option<&PublicIdentity> {
        self.prekey.as_ref().map(|p| &p.identity)
    }

    /// AEAD associated data: `ad || 0x02 || postcard(prekey header option) || postcard(header)`,
    /// that is, the session's AD followed by the message's wire form up to the ciphertext.
    pub(crate) fn associated_data(&self, ad: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(ad.len() + 160);
        out.extend_from_slice(ad);
        out.push(Self::VERSION);
        match &self.prekey {
            // Every message after the first reply: the same bytes as postcard's (None is
            // 0x00), written directly rather than byte by byte through serde.
            None => {
                out.push(0);
                self.header.encode_into(&mut out);
            }
            Some(_) => wire::encode_into(&(&self.prekey, &self.header), &mut out),
        }
        out
    }
}

impl Header {
    /// Appends postcard's encoding of the header: the key's 32 bytes, then PN, N and the
    /// epoch as LEB128 varints, then the offer option (0x00 for none).
    fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.ratchet_key.as_bytes());
        for mut n in [self.previous_counter, self.counter, self.epoch] {
            while n >= 0x80 {
                out.push((n as u8) | 0x80);
                n >>= 7;
            }
            out.push(n as u8);
        }
        match &self.offer {
            None => out.push(0),
            Some(_) => wire::encode_into(&self.offer, out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_encoding_is_postcards() {
        let counters = [
            0,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            1 << 21,
            u32::MAX - 1,
            u32::MAX,
        ];
        let kem = mlkem::SecretKey::from_seed(&[7; mlkem::SEED_LEN]);
        let (ciphertext, _) = kem.public_key().encapsulate_with(&[9; 32]);
        for (i, &pn) in counters.iter().enumerate() {
            let n = counters[(i * 7 + 3) % counters.len()];
            let header = Header {
                ratchet_key: PublicKey::from_bytes([i as u8 + 1; 32]),
                previous_counter: pn,
                counter: n,
                epoch: counters[(i * 3 + 5) % counters.len()],
                offer: match i % 3 {
                    0 => None,
                    1 => Some(Offer::Key {
                        epoch: pn,
                        key: kem.public_key().clone(),
                    }),
                    _ => Some(Offer::Ciphertext {
                        epoch: n,
                        ciphertext: ciphertext.clone(),
                    }),
                },
            };
            let mut ours = Vec::new();
            header.encode_into(&mut ours);
            let mut theirs = Vec::new();
            wire::encode_into(&(&None::<PrekeyHeader>, &header), &mut theirs);
            assert_eq!([&[0][..], &ours].concat(), theirs, "PN {pn}, N {n}");
        }
    }
}
