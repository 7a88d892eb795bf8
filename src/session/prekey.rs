//! Prekey bundles: what a user publishes so others can open sessions while it is offline.
//! PROTOCOL.md §5.1–5.2.
//!
//! A bundle is parsed into a [`PrekeyBundle`] and only becomes usable as a
//! [`VerifiedBundle`], which exists only once both prekey signatures have verified.

use serde::{Deserialize, Serialize};

use crate::crypto::sign::Signature;
use crate::crypto::x25519::PublicKey;
use crate::error::{CryptoError, DecodeError, Error};
use crate::identity::{Identity, PublicIdentity};
use crate::wire::Wire;

/// Prefix of every prekey signature message.
pub const PREKEY_SIGNATURE_LABEL: &[u8] = b"missive/session/v1/prekey-signature";
const SIGNED_KIND: u8 = 0x01;
const LAST_RESORT_KIND: u8 = 0x02;
const SIGNATURE_MESSAGE_LEN: usize = PREKEY_SIGNATURE_LABEL.len() + 65 + 1 + 4 + 32;

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
/// Wire form: `0x01 || postcard(identity, signed_prekey, prekey)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrekeyBundle {
    identity: PublicIdentity,
    signed_prekey: SignedPrekey,
    prekey: BundlePrekey,
}

impl Wire for PrekeyBundle {
    const WHAT: &'static str = "prekey bundle";
    const VERSION: u8 = 1;
}

/// A [`PrekeyBundle`] whose signatures have verified under its identity. Only
/// [`PrekeyBundle::verify`] makes one, and only a verified bundle can start a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifiedBundle(PrekeyBundle);

/// Which of the two signed prekeys a signature is for.
#[derive(Clone, Copy)]
pub(crate) enum SignedKind {
    Signed,
    LastResort,
}

/// `PREKEY_SIGNATURE_LABEL || wire(owner identity) || kind || u32be(id) || key`.
///
/// The owner's whole identity is signed too: it binds the identity's X25519 key, which
/// nothing else ties to its Ed25519 key, to the bundle.
fn signature_message(
    owner: &PublicIdentity,
    kind: SignedKind,
    id: u32,
    key: &PublicKey,
) -> [u8; SIGNATURE_MESSAGE_LEN] {
    let mut out = [0u8; SIGNATURE_MESSAGE_LEN];
    let (label, rest) = out.split_at_mut(PREKEY_SIGNATURE_LABEL.len());
    label.copy_from_slice(PREKEY_SIGNATURE_LABEL);
    let (identity, rest) = rest.split_at_mut(65);
    identity.copy_from_slice(&owner.to_wire());
    rest[0] = match kind {
        SignedKind::Signed => SIGNED_KIND,
        SignedKind::LastResort => LAST_RESORT_KIND,
    };
    rest[1..5].copy_from_slice(&id.to_be_bytes());
    rest[5..].copy_from_slice(key.as_bytes());
    out
}

impl SignedPrekey {
    /// Signs `key` as prekey `id` of the given kind.
    pub(crate) fn sign(identity: &Identity, kind: SignedKind, id: u32, key: PublicKey) -> Self {
        let signature = identity.sign(&signature_message(identity.public(), kind, id, &key));
        Self { id, key, signature }
    }

    fn verify(&self, identity: &PublicIdentity, kind: SignedKind) -> Result<(), CryptoError> {
        identity.verify(
            &signature_message(identity, kind, self.id, &self.key),
            &self.signature,
        )
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
    ) -> Self {
        Self {
            identity,
            signed_prekey,
            prekey,
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

    /// Checks the signed prekey's signature (and the last-resort prekey's, if present)
    /// under the bundle's identity.
    pub fn verify(self) -> Result<VerifiedBundle, CryptoError> {
        self.signed_prekey
            .verify(&self.identity, SignedKind::Signed)?;
        if let BundlePrekey::LastResort(p) = &self.prekey {
            p.verify(&self.identity, SignedKind::LastResort)?;
        }
        Ok(VerifiedBundle(self))
    }

    /// The same bundle with one-time prekey `id` (its 32-byte public key as the relay handed
    /// it out separately) in place of the last-resort prekey.
    pub fn with_one_time(self, id: u32, key: &[u8]) -> Result<Self, DecodeError> {
        let key: [u8; 32] = key.try_into().map_err(|_| DecodeError::Invalid {
            what: "one-time prekey",
        })?;
        Ok(Self {
            prekey: BundlePrekey::OneTime(OneTimePrekey {
                id,
                key: PublicKey::from_bytes(key),
            }),
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
