//! Prekey bundles: what a user publishes so others can open sessions while it is offline.
//! PROTOCOL.md §5.1–5.2.
//!
//! Every one-time and last-resort X25519 prekey comes with an ML-KEM-768 prekey of the same id
//! (PQXDH's post-quantum prekey), signed by the identity, so a relay can neither strip nor swap
//! it: a bundle without one does not decode, and one with another key does not verify.
//!
//! A bundle is parsed into a [`PrekeyBundle`] and only becomes usable as a
//! [`VerifiedBundle`], which exists only once both prekey signatures have verified.

use serde::{Deserialize, Serialize};

use crate::crypto::sign::Signature;
use crate::crypto::x25519::PublicKey;
use crate::crypto::{mlkem, xwing};
use crate::error::{CryptoError, DecodeError, Error};
use crate::identity::{Identity, PublicIdentity};
use crate::wire::Wire;

/// Prefix of every prekey signature message.
pub const PREKEY_SIGNATURE_LABEL: &[u8] = b"missive/session/v1/prekey-signature";
const SIGNED_KIND: u8 = 0x01;
const LAST_RESORT_KIND: u8 = 0x02;
const KEM_ONE_TIME_KIND: u8 = 0x03;
const KEM_LAST_RESORT_KIND: u8 = 0x04;
const SEALING_KIND: u8 = 0x05;
/// The longest signed message: an X-Wing key's.
const SIGNATURE_MESSAGE_MAX: usize = PREKEY_SIGNATURE_LABEL.len() + 65 + 1 + 4 + 1216;
/// Length of a one-time prekey as uploaded and handed out (PROTOCOL.md §5.2):
/// `X25519 key (32) || ML-KEM-768 key (1184) || its signature (64)`.
pub const ONE_TIME_PREKEY_LEN: usize = 32 + mlkem::PUBLIC_KEY_LEN + 64;

/// A prekey signed by its owner's identity: the medium-term signed prekey or the
/// last-resort prekey (the two are signed under different domain separators).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedPrekey {
    id: u32,
    key: PublicKey,
    signature: Signature,
}

/// A one-time prekey: used by at most one session, then its secret is deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OneTimePrekey {
    pub(crate) id: u32,
    pub(crate) key: PublicKey,
}

/// An ML-KEM-768 prekey signed by its owner's identity: the post-quantum half of a one-time or
/// last-resort prekey, with the same id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KemPrekey {
    id: u32,
    key: mlkem::PublicKey,
    signature: Signature,
}

/// An X-Wing key signed by its owner's identity, of the same id (generation) as the signed
/// prekey: sealed messages that open a session are sealed to it (PROTOCOL.md §9.2), so who
/// sends them stays hidden from an adversary who later breaks X25519.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealingKey {
    id: u32,
    key: xwing::PublicKey,
    signature: Signature,
}

/// The fourth key of a bundle: a one-time prekey, or the last-resort prekey once the relay
/// has run out of one-time prekeys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BundlePrekey {
    /// A one-time prekey (postcard variant 0).
    OneTime(OneTimePrekey),
    /// The signed last-resort prekey (postcard variant 1).
    LastResort(SignedPrekey),
}

/// A prekey bundle as fetched from the relay, not yet verified.
///
/// Wire form: `0x03 || postcard(identity, signed_prekey, prekey, kem_prekey, sealing_key)`;
/// the KEM prekey is the one-time or last-resort one as `prekey` is, with its id; the sealing
/// key is of the signed prekey's generation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrekeyBundle {
    identity: PublicIdentity,
    signed_prekey: SignedPrekey,
    prekey: BundlePrekey,
    kem_prekey: KemPrekey,
    sealing_key: SealingKey,
}

impl Wire for PrekeyBundle {
    const WHAT: &'static str = "prekey bundle";
    const VERSION: u8 = 3;
}

/// A [`PrekeyBundle`] whose signatures have verified under its identity. Only
/// [`PrekeyBundle::verify`] makes one, and only a verified bundle can start a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedBundle(PrekeyBundle);

/// What a prekey signature is for.
#[derive(Clone, Copy)]
pub(crate) enum SignedKind {
    Signed,
    LastResort,
    KemOneTime,
    KemLastResort,
    Sealing,
}

/// `PREKEY_SIGNATURE_LABEL || wire(owner identity) || kind || u32be(id) || key`, the key 32
/// bytes (X25519), 1184 (ML-KEM-768) or 1216 (X-Wing).
///
/// The owner's whole identity is signed too: it binds the identity's X25519 key, which
/// nothing else ties to its Ed25519 key, to the bundle.
fn signature_message(owner: &PublicIdentity, kind: SignedKind, id: u32, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(SIGNATURE_MESSAGE_MAX);
    out.extend_from_slice(PREKEY_SIGNATURE_LABEL);
    out.extend_from_slice(&owner.to_wire());
    out.push(match kind {
        SignedKind::Signed => SIGNED_KIND,
        SignedKind::LastResort => LAST_RESORT_KIND,
        SignedKind::KemOneTime => KEM_ONE_TIME_KIND,
        SignedKind::KemLastResort => KEM_LAST_RESORT_KIND,
        SignedKind::Sealing => SEALING_KIND,
    });
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(key);
    out
}

/// The owner's signature over prekey `id` of `kind`.
fn sign_prekey(identity: &Identity, kind: SignedKind, id: u32, key: &[u8]) -> Signature {
    identity.sign(&signature_message(identity.public(), kind, id, key))
}

/// A signed prekey's id, key and signature, whatever the key's kind.
trait Signed {
    fn parts(&self) -> (u32, &[u8], &Signature);

    fn check(&self, identity: &PublicIdentity, kind: SignedKind) -> Result<(), CryptoError> {
        let (id, key, signature) = self.parts();
        identity.verify(&signature_message(identity, kind, id, key), signature)
    }
}

impl Signed for SignedPrekey {
    fn parts(&self) -> (u32, &[u8], &Signature) {
        (self.id, self.key.as_bytes(), &self.signature)
    }
}

impl Signed for KemPrekey {
    fn parts(&self) -> (u32, &[u8], &Signature) {
        (self.id, self.key.as_bytes(), &self.signature)
    }
}

impl Signed for SealingKey {
    fn parts(&self) -> (u32, &[u8], &Signature) {
        (self.id, self.key.as_bytes(), &self.signature)
    }
}

impl SealingKey {
    /// Signs `key` as the sealing key of generation `id`.
    pub(crate) fn sign(identity: &Identity, id: u32, key: xwing::PublicKey) -> Self {
        let signature = sign_prekey(identity, SignedKind::Sealing, id, key.as_bytes());
        Self { id, key, signature }
    }

    /// The generation: its signed prekey's id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The X-Wing encapsulation key.
    pub fn key(&self) -> &xwing::PublicKey {
        &self.key
    }
}

impl SignedPrekey {
    /// Signs `key` as prekey `id` of the given kind.
    pub(crate) fn sign(identity: &Identity, kind: SignedKind, id: u32, key: PublicKey) -> Self {
        let signature = sign_prekey(identity, kind, id, key.as_bytes());
        Self { id, key, signature }
    }

    /// The prekey's id, unique among its owner's signed prekeys.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The X25519 public key.
    pub fn key(&self) -> &PublicKey {
        &self.key
    }
}

impl KemPrekey {
    /// Signs `key` as KEM prekey `id` (one-time or last-resort, as `kind` says).
    pub(crate) fn sign(
        identity: &Identity,
        kind: SignedKind,
        id: u32,
        key: mlkem::PublicKey,
    ) -> Self {
        let signature = sign_prekey(identity, kind, id, key.as_bytes());
        Self { id, key, signature }
    }

    /// The prekey's id: its X25519 partner's.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The ML-KEM-768 encapsulation key.
    pub fn key(&self) -> &mlkem::PublicKey {
        &self.key
    }
}

impl OneTimePrekey {
    /// The prekey's id, unique among its owner's one-time prekeys.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The X25519 public key.
    pub fn key(&self) -> &PublicKey {
        &self.key
    }
}

/// A one-time prekey with its ML-KEM-768 partner: what an owner uploads and a relay hands out,
/// once, as the 1280 bytes of [`OneTimePair::to_bytes`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OneTimePair {
    /// The X25519 one-time prekey.
    pub prekey: OneTimePrekey,
    /// Its signed ML-KEM-768 partner, with the same id.
    pub kem: KemPrekey,
}

impl OneTimePair {
    /// The id both halves share.
    pub fn id(&self) -> u32 {
        self.prekey.id
    }

    /// `X25519 key (32) || ML-KEM-768 key (1184) || signature (64)`: the relay stores and hands
    /// out these bytes under the id, and never looks inside.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(ONE_TIME_PREKEY_LEN);
        out.extend_from_slice(self.prekey.key.as_bytes());
        out.extend_from_slice(self.kem.key.as_bytes());
        out.extend_from_slice(&self.kem.signature.to_bytes());
        out
    }

    /// Decodes what [`OneTimePair::to_bytes`] wrote, for one-time prekey `id`. The signature is
    /// checked when the bundle it joins is verified.
    pub fn from_bytes(id: u32, bytes: &[u8]) -> Result<Self, DecodeError> {
        const WHAT: &str = "one-time prekey";
        if bytes.len() != ONE_TIME_PREKEY_LEN {
            return Err(mlkem::wrong_length(bytes, ONE_TIME_PREKEY_LEN, WHAT));
        }
        let (x, rest) = bytes.split_at(32);
        let (kem, signature) = rest.split_at(mlkem::PUBLIC_KEY_LEN);
        let x: [u8; 32] = x
            .try_into()
            .map_err(|_| DecodeError::Invalid { what: WHAT })?;
        let signature: [u8; 64] = signature
            .try_into()
            .map_err(|_| DecodeError::Invalid { what: WHAT })?;
        Ok(Self {
            prekey: OneTimePrekey {
                id,
                key: PublicKey::from_bytes(x),
            },
            kem: KemPrekey {
                id,
                key: mlkem::PublicKey::from_bytes(kem)?,
                signature: Signature::from_bytes(signature),
            },
        })
    }
}

impl BundlePrekey {
    /// The X25519 public key.
    pub fn key(&self) -> &PublicKey {
        match self {
            Self::OneTime(p) => &p.key,
            Self::LastResort(p) => &p.key,
        }
    }
}

impl PrekeyBundle {
    /// Assembles a bundle (a relay does this from what the owner uploaded).
    pub fn new(
        identity: PublicIdentity,
        signed_prekey: SignedPrekey,
        prekey: BundlePrekey,
        kem_prekey: KemPrekey,
        sealing_key: SealingKey,
    ) -> Self {
        Self {
            identity,
            signed_prekey,
            prekey,
            kem_prekey,
            sealing_key,
        }
    }

    /// Decodes the wire form. This does not verify it: see [`VerifiedBundle::from_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::from_wire(bytes)
    }

    /// The wire form.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_wire()
    }

    /// Checks the signatures under the bundle's identity: the signed prekey's, the last-resort
    /// prekey's if present, the KEM prekey's as the partner (same kind, same id) of the
    /// one-time or last-resort prekey, and the sealing key's as of the signed prekey's
    /// generation.
    pub fn verify(self) -> Result<VerifiedBundle, CryptoError> {
        self.signed_prekey
            .check(&self.identity, SignedKind::Signed)?;
        if self.sealing_key.id != self.signed_prekey.id {
            return Err(CryptoError::BadSignature);
        }
        self.sealing_key
            .check(&self.identity, SignedKind::Sealing)?;
        let (id, kem_kind) = match &self.prekey {
            BundlePrekey::LastResort(p) => {
                p.check(&self.identity, SignedKind::LastResort)?;
                (p.id, SignedKind::KemLastResort)
            }
            BundlePrekey::OneTime(p) => (p.id, SignedKind::KemOneTime),
        };
        if self.kem_prekey.id != id {
            return Err(CryptoError::BadSignature);
        }
        self.kem_prekey.check(&self.identity, kem_kind)?;
        Ok(VerifiedBundle(self))
    }

    /// The same bundle with the one-time pair `id` (the bytes of [`OneTimePair::to_bytes`], as
    /// the relay handed them out separately) in place of the last-resort prekeys.
    pub fn with_one_time(self, id: u32, key: &[u8]) -> Result<Self, DecodeError> {
        let pair = OneTimePair::from_bytes(id, key)?;
        Ok(Self {
            prekey: BundlePrekey::OneTime(pair.prekey),
            kem_prekey: pair.kem,
            ..self
        })
    }

    /// The owner's identity.
    pub fn identity(&self) -> &PublicIdentity {
        &self.identity
    }

    /// The signed prekey.
    pub fn signed_prekey(&self) -> &SignedPrekey {
        &self.signed_prekey
    }

    /// The one-time or last-resort prekey.
    pub fn prekey(&self) -> &BundlePrekey {
        &self.prekey
    }

    /// The ML-KEM-768 partner of [`PrekeyBundle::prekey`].
    pub fn kem_prekey(&self) -> &KemPrekey {
        &self.kem_prekey
    }

    /// The X-Wing key that messages opening a session are sealed to.
    pub fn sealing_key(&self) -> &SealingKey {
        &self.sealing_key
    }
}

impl VerifiedBundle {
    /// Decodes and verifies a bundle in one step.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        Ok(PrekeyBundle::from_bytes(bytes)?.verify()?)
    }

    /// The verified bundle.
    pub fn bundle(&self) -> &PrekeyBundle {
        &self.0
    }
}
