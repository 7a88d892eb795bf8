//! X-Wing (draft-connolly-cfrg-xwing-kem-06): the hybrid KEM of X25519 and ML-KEM-768, over
//! the `x-wing` crate. Its shared secret is safe while either component is.
//!
//! Checks added here, as for plain X25519: an encapsulation key whose X25519 half is of low
//! order is refused when decoded, and a ciphertext whose X25519 half gives the all-zero
//! output is refused when decapsulated ([`CryptoError::NonContributory`]).

use rand::CryptoRng;
use serde::{Deserialize, Serialize};
use x_wing::{Decapsulator, KeyExport, KeyInit, TryDecapsulate};
use zeroize::Zeroizing;

use super::mlkem::wrong_length;
use crate::error::{CryptoError, DecodeError};

/// Length of an encapsulation (public) key: ML-KEM-768's (1184) then X25519's (32).
pub const PUBLIC_KEY_LEN: usize = x_wing::ENCAPSULATION_KEY_SIZE;
/// Length of a ciphertext: ML-KEM-768's (1088) then X25519's (32).
pub const CIPHERTEXT_LEN: usize = x_wing::CIPHERTEXT_SIZE;
/// Length of a secret key (a seed, expanded with SHAKE256 into both halves).
pub const SECRET_KEY_LEN: usize = x_wing::DECAPSULATION_KEY_SIZE;
/// Length of the encapsulation randomness.
pub const ENCAPSULATION_SEED_LEN: usize = x_wing::ENCAPSULATION_RANDOMNESS_SIZE;

const PUBLIC_KEY: &str = "X-Wing encapsulation key";
const CIPHERTEXT: &str = "X-Wing ciphertext";

/// A shared secret. Zeroized on drop.
pub type SharedSecret = Zeroizing<[u8; 32]>;

/// An X-Wing encapsulation key: its ML-KEM-768 half passed FIPS 203's input check and its
/// X25519 half is not of low order. Encoded as `bytes` (always 1216) in wire structures.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    key: Box<x_wing::EncapsulationKey>,
    bytes: Box<[u8; PUBLIC_KEY_LEN]>,
}

impl PublicKey {
    /// Decodes and checks an encapsulation key: exactly 1216 bytes, ML-KEM coefficients
    /// reduced ([`DecodeError::NonCanonical`]), X25519 point not of low order
    /// ([`DecodeError::Invalid`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let array: &[u8; PUBLIC_KEY_LEN] = bytes
            .try_into()
            .map_err(|_| wrong_length(bytes, PUBLIC_KEY_LEN, PUBLIC_KEY))?;
        let key = x_wing::EncapsulationKey::try_from(bytes)
            .map_err(|_| DecodeError::NonCanonical { what: PUBLIC_KEY })?;
        let mut x = [0u8; 32];
        x.copy_from_slice(&array[super::mlkem::PUBLIC_KEY_LEN..]);
        if is_low_order(x) {
            return Err(DecodeError::Invalid { what: PUBLIC_KEY });
        }
        Ok(Self {
            key: Box::new(key),
            bytes: Box::new(*array),
        })
    }

    /// The 1216-byte encoding.
    pub fn as_bytes(&self) -> &[u8; PUBLIC_KEY_LEN] {
        &self.bytes
    }

    /// Encapsulates a fresh shared secret to this key.
    pub fn encapsulate<R: CryptoRng + ?Sized>(&self, rng: &mut R) -> (Ciphertext, SharedSecret) {
        let mut eseed = Zeroizing::new([0u8; ENCAPSULATION_SEED_LEN]);
        rng.fill_bytes(eseed.as_mut());
        self.encapsulate_with(&eseed)
    }

    /// Encapsulation with its 64 bytes of randomness given: for test vectors only.
    #[cfg(any(test, feature = "hazmat"))]
    pub fn encapsulate_deterministic(
        &self,
        eseed: &[u8; ENCAPSULATION_SEED_LEN],
    ) -> (Ciphertext, SharedSecret) {
        self.encapsulate_with(eseed)
    }

    fn encapsulate_with(&self, eseed: &[u8; ENCAPSULATION_SEED_LEN]) -> (Ciphertext, SharedSecret) {
        let mut randomness = ml_kem::array::Array::from(*eseed);
        let (ct, mut ss) = self.key.encapsulate_deterministic(&randomness);
        zeroize::Zeroize::zeroize(&mut randomness.0);
        let shared = Zeroizing::new(ss.0);
        zeroize::Zeroize::zeroize(&mut ss.0);
        (Ciphertext(Box::new(ct.0)), shared)
    }
}

/// Whether X25519 with `point` gives all zeros: the clamped scalar is a multiple of the
/// cofactor, so this holds exactly for the points of small order, whatever the scalar.
fn is_low_order(point: [u8; 32]) -> bool {
    let out = x25519_dalek::x25519([9; 32], point);
    out == [0; 32]
}

impl core::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        super::mlkem::short_hex(f, "XWingPublicKey", &self.bytes[..])
    }
}

impl Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.as_bytes())
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        super::mlkem::checked(d, Self::from_bytes)
    }
}

/// An X-Wing ciphertext (1120 bytes).
#[derive(Clone, PartialEq, Eq)]
pub struct Ciphertext(Box<[u8; CIPHERTEXT_LEN]>);

impl Ciphertext {
    /// Decodes a ciphertext: exactly 1120 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let array: &[u8; CIPHERTEXT_LEN] = bytes
            .try_into()
            .map_err(|_| wrong_length(bytes, CIPHERTEXT_LEN, CIPHERTEXT))?;
        Ok(Self(Box::new(*array)))
    }

    /// The 1120-byte encoding.
    pub fn as_bytes(&self) -> &[u8; CIPHERTEXT_LEN] {
        &self.0
    }
}

impl core::fmt::Debug for Ciphertext {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        super::mlkem::short_hex(f, "XWingCiphertext", &self.0[..])
    }
}

/// An X-Wing decapsulation key, with its public key. The crate zeroizes the seed on drop.
#[derive(Clone)]
pub struct SecretKey {
    key: Box<x_wing::DecapsulationKeyRejectNonContrib>,
    public: PublicKey,
}

impl SecretKey {
    /// A fresh random key pair.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut seed = Zeroizing::new([0u8; SECRET_KEY_LEN]);
        rng.fill_bytes(seed.as_mut());
        Self::from_seed(&seed)
    }

    /// The key pair from its 32-byte seed (the draft's `GenerateKeyPairDerand`).
    pub fn from_seed(seed: &[u8; SECRET_KEY_LEN]) -> Self {
        let key = x_wing::DecapsulationKeyRejectNonContrib::new(&(*seed).into());
        let ek = key.encapsulation_key();
        let mut bytes = Box::new([0u8; PUBLIC_KEY_LEN]);
        bytes.copy_from_slice(&ek.to_bytes());
        let public = PublicKey {
            key: Box::new(ek.clone()),
            bytes,
        };
        Self {
            key: Box::new(key),
            public,
        }
    }

    /// The 32-byte seed, for storage at rest.
    pub fn seed(&self) -> Zeroizing<[u8; SECRET_KEY_LEN]> {
        let mut bytes = self.key.to_bytes();
        let seed = Zeroizing::new(bytes.0);
        zeroize::Zeroize::zeroize(&mut bytes.0);
        seed
    }

    /// The encapsulation key, to publish.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// Decapsulates `ct`; an all-zero X25519 half is [`CryptoError::NonContributory`]. A
    /// ciphertext not made for this key otherwise gives a pseudorandom secret.
    pub fn decapsulate(&self, ct: &Ciphertext) -> Result<SharedSecret, CryptoError> {
        let ct = x_wing::Ciphertext::from(*ct.0);
        let mut ss = self
            .key
            .try_decapsulate(&ct)
            .map_err(|_| CryptoError::NonContributory)?;
        let shared = Zeroizing::new(ss.0);
        zeroize::Zeroize::zeroize(&mut ss.0);
        Ok(shared)
    }
}

impl core::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("XWingSecretKey")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A point of order 8 (as in the HPKE tests).
    const LOW_ORDER: [u8; 32] = [
        0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4,
        0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49,
        0xb8, 0x00,
    ];

    #[test]
    fn a_round_trip_agrees_and_another_key_does_not() {
        let mut rng = rand::rng();
        let alice = SecretKey::generate(&mut rng);
        let eve = SecretKey::generate(&mut rng);
        let (ct, ss) = alice.public_key().encapsulate(&mut rng);
        assert_eq!(*alice.decapsulate(&ct).unwrap(), *ss);
        assert_ne!(*eve.decapsulate(&ct).unwrap(), *ss);
        let again = SecretKey::from_seed(&alice.seed());
        assert_eq!(again.public_key(), alice.public_key());
    }

    #[test]
    fn low_order_x25519_halves_are_refused_both_ways() {
        let key = SecretKey::from_seed(&[5; 32]);
        let mut pk = *key.public_key().as_bytes();
        pk[1184..].copy_from_slice(&LOW_ORDER);
        assert_eq!(
            PublicKey::from_bytes(&pk),
            Err(DecodeError::Invalid { what: PUBLIC_KEY })
        );
        let (ct, _) = key.public_key().encapsulate(&mut rand::rng());
        let mut bad = *ct.as_bytes();
        bad[1088..].copy_from_slice(&LOW_ORDER);
        let bad = Ciphertext::from_bytes(&bad).unwrap();
        assert_eq!(key.decapsulate(&bad), Err(CryptoError::NonContributory));
        assert!(!is_low_order(
            *key.public_key().as_bytes()[1184..].first_chunk().unwrap()
        ));
    }

    #[test]
    fn lengths_and_coefficients_are_checked() {
        let key = SecretKey::from_seed(&[6; 32]);
        let pk = key.public_key().as_bytes();
        assert_eq!(
            PublicKey::from_bytes(&pk[..PUBLIC_KEY_LEN - 1]),
            Err(DecodeError::Truncated { what: PUBLIC_KEY })
        );
        let mut unreduced = *pk;
        unreduced[0] = 0xff;
        unreduced[1] |= 0x0f;
        assert_eq!(
            PublicKey::from_bytes(&unreduced),
            Err(DecodeError::NonCanonical { what: PUBLIC_KEY })
        );
        assert_eq!(
            Ciphertext::from_bytes(&[0; CIPHERTEXT_LEN + 1]),
            Err(DecodeError::TrailingBytes { what: CIPHERTEXT })
        );
    }

    #[test]
    fn debug_shows_no_secret() {
        let key = SecretKey::from_seed(&[0xcd; 32]);
        let debug = format!("{key:?}");
        assert!(debug.starts_with("XWingSecretKey { public: XWingPublicKey("));
        assert!(!debug.contains("cdcd"));
    }
}
