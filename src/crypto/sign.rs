//! Ed25519 signatures (RFC 8032), verified strictly (no malleable or small-order keys).

use rand::CryptoRng;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{CryptoError, DecodeError};

/// Length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

/// An Ed25519 signing key, boxed, stored with its verifying key.
pub struct SigningKey {
    key: Box<ed25519_dalek::SigningKey>,
    public: VerifyingKey,
}

impl SigningKey {
    /// A fresh random key.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(seed.as_mut());
        Self::from_seed(&seed)
    }

    /// The key from its 32-byte seed (RFC 8032's private key).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let key = Box::new(ed25519_dalek::SigningKey::from_bytes(seed));
        let public = VerifyingKey(key.verifying_key());
        Self { key, public }
    }

    /// The 32-byte seed, for storage at rest.
    pub fn to_seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.key.to_bytes())
    }

    /// The verifying key.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.public
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> Signature {
        use ed25519_dalek::Signer;
        Signature(self.key.sign(message).to_bytes())
    }
}

impl Clone for SigningKey {
    fn clone(&self) -> Self {
        Self {
            key: self.key.clone(),
            public: self.public,
        }
    }
}

impl core::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SigningKey")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// An Ed25519 verifying key: a valid, non-small-order curve point.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "[u8; 32]", into = "[u8; 32]")]
pub struct VerifyingKey(ed25519_dalek::VerifyingKey);

impl VerifyingKey {
    /// Decodes and validates a verifying key.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, DecodeError> {
        let key =
            ed25519_dalek::VerifyingKey::from_bytes(bytes).map_err(|_| DecodeError::Invalid {
                what: "Ed25519 public key",
            })?;
        if key.is_weak() {
            return Err(DecodeError::Invalid {
                what: "Ed25519 public key",
            });
        }
        Ok(Self(key))
    }

    /// The 32-byte encoding.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    /// Verifies `signature` over `message` with RFC 8032's strict rules.
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), CryptoError> {
        let sig = ed25519_dalek::Signature::from_bytes(&signature.0);
        self.0
            .verify_strict(message, &sig)
            .map_err(|_| CryptoError::BadSignature)
    }
}

impl TryFrom<[u8; 32]> for VerifyingKey {
    type Error = DecodeError;
    fn try_from(bytes: [u8; 32]) -> Result<Self, DecodeError> {
        Self::from_bytes(&bytes)
    }
}

impl From<VerifyingKey> for [u8; 32] {
    fn from(key: VerifyingKey) -> Self {
        key.0.to_bytes()
    }
}

impl core::hash::Hash for VerifyingKey {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl core::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "VerifyingKey(")?;
        for b in &self.as_bytes()[..8] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "…)")
    }
}

/// An Ed25519 signature.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "([u8; 32], [u8; 32])", into = "([u8; 32], [u8; 32])")]
pub struct Signature([u8; SIGNATURE_LEN]);

impl Signature {
    /// The signature from its 64 bytes (checked only when verified).
    pub fn from_bytes(bytes: [u8; SIGNATURE_LEN]) -> Self {
        Self(bytes)
    }

    /// The 64-byte encoding.
    pub fn to_bytes(&self) -> [u8; SIGNATURE_LEN] {
        self.0
    }
}

// Serde has no impls for arrays longer than 32; two halves encode as the same 64 raw bytes.
impl From<([u8; 32], [u8; 32])> for Signature {
    fn from((r, s): ([u8; 32], [u8; 32])) -> Self {
        let mut out = [0u8; SIGNATURE_LEN];
        out[..32].copy_from_slice(&r);
        out[32..].copy_from_slice(&s);
        Self(out)
    }
}

impl From<Signature> for ([u8; 32], [u8; 32]) {
    fn from(sig: Signature) -> Self {
        let mut r = [0u8; 32];
        let mut s = [0u8; 32];
        r.copy_from_slice(&sig.0[..32]);
        s.copy_from_slice(&sig.0[32..]);
        (r, s)
    }
}

impl core::fmt::Debug for Signature {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Signature(..)")
    }
}
