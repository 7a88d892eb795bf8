//! Long-term identity keys, their public bundle, and safety numbers.

use rand::CryptoRng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha512};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::crypto::sign::{Signature, SigningKey, VerifyingKey};
use crate::crypto::x25519::{PublicKey, SecretKey, SharedSecret};
use crate::error::{CryptoError, DecodeError};
use crate::wire::Wire;

/// A user's long-term keys: X25519 for key agreement, Ed25519 for signatures.
#[derive(Clone)]
pub struct Identity {
    dh: SecretKey,
    signing: SigningKey,
    public: PublicIdentity,
}

/// The public half of an [`Identity`], as published and as bound into every session.
///
/// Wire form (65 bytes): `0x01 || X25519 public key (32) || Ed25519 verifying key (32)`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct PublicIdentity {
    dh: PublicKey,
    signing: VerifyingKey,
}

impl Wire for PublicIdentity {
    const WHAT: &'static str = "public identity";
    const VERSION: u8 = 1;
}

const SECRET_VERSION: u8 = 1;
const SECRET_LEN: usize = 1 + 32 + 32;

impl Identity {
    /// A fresh identity.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self::from_parts(SecretKey::generate(rng), SigningKey::generate(rng))
    }

    fn from_parts(dh: SecretKey, signing: SigningKey) -> Self {
        let public = PublicIdentity {
            dh: *dh.public_key(),
            signing: *signing.verifying_key(),
        };
        Self {
            dh,
            signing,
            public,
        }
    }

    /// The public half.
    pub fn public(&self) -> &PublicIdentity {
        &self.public
    }

    /// The identity's signing key, for what is signed as this identity (answers in
    /// multi-recipient conversations, whose participants know it).
    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// Signs `message` with the identity's signing key.
    pub fn sign(&self, message: &[u8]) -> Signature {
        self.signing.sign(message)
    }

    /// X25519 between the identity key and `their`.
    pub fn diffie_hellman(&self, their: &PublicKey) -> Result<SharedSecret, CryptoError> {
        self.dh.diffie_hellman(their)
    }

    /// The secret keys for storage at rest: `0x01 || X25519 secret (32) || Ed25519 seed (32)`.
    /// Store them encrypted; the buffer is zeroized on drop.
    pub fn to_secret_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(SECRET_LEN));
        out.push(SECRET_VERSION);
        out.extend_from_slice(self.dh.to_bytes().as_ref());
        out.extend_from_slice(self.signing.to_seed().as_ref());
        out
    }

    /// Restores an identity written by [`Identity::to_secret_bytes`].
    pub fn from_secret_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        const WHAT: &str = "identity secret";
        let (&version, rest) = bytes
            .split_first()
            .ok_or(DecodeError::Truncated { what: WHAT })?;
        if version != SECRET_VERSION {
            return Err(DecodeError::UnknownVersion {
                what: WHAT,
                got: version,
            });
        }
        if rest.len() < 64 {
            return Err(DecodeError::Truncated { what: WHAT });
        }
        if rest.len() > 64 {
            return Err(DecodeError::TrailingBytes { what: WHAT });
        }
        let mut dh = Zeroizing::new([0u8; 32]);
        let mut seed = Zeroizing::new([0u8; 32]);
        dh.copy_from_slice(&rest[..32]);
        seed.copy_from_slice(&rest[32..]);
        Ok(Self::from_parts(
            SecretKey::from_bytes(&dh),
            SigningKey::from_seed(&seed),
        ))
    }

    pub(crate) fn dh_secret(&self) -> &SecretKey {
        &self.dh
    }

    /// The identity's X25519 key as an HPKE recipient key (sealed sender opens with it).
    pub(crate) fn hpke_key(&self) -> crate::hpke::KeyPair {
        crate::hpke::KeyPair::from(self.dh.clone())
    }
}

impl core::fmt::Debug for Identity {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Identity")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl PublicIdentity {
    /// The X25519 key-agreement key.
    pub fn dh_key(&self) -> &PublicKey {
        &self.dh
    }

    /// The Ed25519 verifying key.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.signing
    }

    /// Verifies a signature made with [`Identity::sign`].
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), CryptoError> {
        self.signing.verify(message, signature)
    }

    /// The 65-byte wire form.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_wire()
    }

    /// Decodes the wire form; the Ed25519 key must be a valid, non-small-order point.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::from_wire(bytes)
    }

    /// This identity's half of a safety number, for the user `user_id` (a stable account id).
    pub fn fingerprint(&self, user_id: &[u8]) -> Fingerprint {
        Fingerprint::compute(&self.to_wire(), user_id)
    }
}

/// SHA-512 iterations per fingerprint, as in Signal: it makes a second identity with the
/// same 30 digits about 2^13 times harder to grind.
pub const FINGERPRINT_ITERATIONS: u32 = 5200;
const FINGERPRINT_VERSION: [u8; 2] = [0, 1];
const FINGERPRINT_DIGITS: usize = 30;

/// One party's 30 decimal digits of a safety number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fingerprint([u8; FINGERPRINT_DIGITS]);

impl Fingerprint {
    fn compute(identity_wire: &[u8], user_id: &[u8]) -> Self {
        // PROTOCOL.md §Fingerprint: H = SHA-512(version || id_key || user_id), then
        // H = SHA-512(H || id_key) another 5199 times.
        let mut hash = Sha512::new()
            .chain_update(FINGERPRINT_VERSION)
            .chain_update(identity_wire)
            .chain_update(user_id)
            .finalize();
        for _ in 1..FINGERPRINT_ITERATIONS {
            hash = Sha512::new()
                .chain_update(hash)
                .chain_update(identity_wire)
                .finalize();
        }
        let mut digits = [0u8; FINGERPRINT_DIGITS];
        for (chunk, out) in hash[..30].chunks_exact(5).zip(digits.chunks_exact_mut(5)) {
            let mut n = chunk.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)) % 100_000;
            for d in out.iter_mut().rev() {
                *d = b'0' + (n % 10) as u8;
                n /= 10;
            }
        }
        Self(digits)
    }

    /// The 30 ASCII digits.
    pub fn digits(&self) -> &[u8; FINGERPRINT_DIGITS] {
        &self.0
    }
}

/// A safety number: both parties' fingerprints, lower one first, so both sides show the same
/// 60 digits. Two people compare it out of band (read aloud or as a QR code).
#[derive(Clone, Copy, Debug)]
pub struct SafetyNumber([u8; 2 * FINGERPRINT_DIGITS]);

impl SafetyNumber {
    /// The safety number between `(local_id, local)` and `(remote_id, remote)`.
    pub fn new(
        local_id: &[u8],
        local: &PublicIdentity,
        remote_id: &[u8],
        remote: &PublicIdentity,
    ) -> Self {
        let a = local.fingerprint(local_id);
        let b = remote.fingerprint(remote_id);
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        let mut out = [0u8; 2 * FINGERPRINT_DIGITS];
        out[..FINGERPRINT_DIGITS].copy_from_slice(&lo.0);
        out[FINGERPRINT_DIGITS..].copy_from_slice(&hi.0);
        Self(out)
    }

    /// The 60 ASCII digits.
    pub fn digits(&self) -> &[u8; 2 * FINGERPRINT_DIGITS] {
        &self.0
    }
}

impl PartialEq for SafetyNumber {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}
impl Eq for SafetyNumber {}

impl core::fmt::Display for SafetyNumber {
    /// Twelve groups of five digits separated by spaces.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (i, group) in self.0.chunks_exact(5).enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            for &d in group {
                write!(f, "{}", char::from(d))?;
            }
        }
        Ok(())
    }
}
