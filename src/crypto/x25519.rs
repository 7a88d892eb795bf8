//! X25519 key agreement (RFC 7748) with non-contributory results rejected.

use rand::CryptoRng;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::CryptoError;

/// Length of an X25519 public key, secret key and shared secret.
pub const KEY_LEN: usize = 32;

/// An X25519 public key. Any 32 bytes are accepted; a low-order key is caught at agreement time.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "[u8; 32]", into = "[u8; 32]")]
pub struct PublicKey(x25519_dalek::PublicKey);

impl PublicKey {
    /// The key from its 32-byte encoding.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(x25519_dalek::PublicKey::from(bytes))
    }

    /// The 32-byte encoding.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        self.0.as_bytes()
    }
}

impl From<[u8; 32]> for PublicKey {
    fn from(bytes: [u8; 32]) -> Self {
        Self::from_bytes(bytes)
    }
}

impl From<PublicKey> for [u8; 32] {
    fn from(key: PublicKey) -> Self {
        key.0.to_bytes()
    }
}

impl core::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "PublicKey(")?;
        for b in &self.as_bytes()[..8] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "…)")
    }
}

/// An X25519 secret key, boxed so moves leave no copies, stored with its public key so the
/// public half is never recomputed on a hot path.
pub struct SecretKey {
    secret: Box<x25519_dalek::StaticSecret>,
    public: PublicKey,
}

impl SecretKey {
    /// A fresh random key.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        rng.fill_bytes(bytes.as_mut());
        Self::from_bytes(&bytes)
    }

    /// The key from its 32 secret bytes (clamped on use, as RFC 7748 says).
    pub fn from_bytes(bytes: &[u8; KEY_LEN]) -> Self {
        let secret = Box::new(x25519_dalek::StaticSecret::from(*bytes));
        let public = PublicKey(x25519_dalek::PublicKey::from(&*secret));
        Self { secret, public }
    }

    /// The 32 secret bytes, for storage at rest.
    pub fn to_bytes(&self) -> Zeroizing<[u8; KEY_LEN]> {
        Zeroizing::new(self.secret.to_bytes())
    }

    /// The public half.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// X25519(self, their). Errors with [`CryptoError::NonContributory`] when the result is
    /// all zeros, which only a low-order `their` can cause.
    pub fn diffie_hellman(&self, their: &PublicKey) -> Result<SharedSecret, CryptoError> {
        let shared = self.secret.diffie_hellman(&their.0);
        if !shared.was_contributory() {
            return Err(CryptoError::NonContributory);
        }
        Ok(SharedSecret(Zeroizing::new(shared.to_bytes())))
    }
}

impl Clone for SecretKey {
    fn clone(&self) -> Self {
        Self {
            secret: self.secret.clone(),
            public: self.public,
        }
    }
}

impl core::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SecretKey")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// The output of a contributory X25519 agreement. Zeroized on drop.
pub struct SharedSecret(Zeroizing<[u8; KEY_LEN]>);

impl SharedSecret {
    /// The 32 shared bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl core::fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SharedSecret(..)")
    }
}
