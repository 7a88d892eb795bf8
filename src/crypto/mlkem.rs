//! ML-KEM-768 (FIPS 203) over the `ml-kem` crate: keys from 64-byte seeds, encapsulation keys
//! checked on decoding (FIPS 203 §7.2's modulus check), ciphertexts checked for length.
//!
//! A secret key is kept and stored as its seed `d || z` (FIPS 203 §6.1): 64 bytes instead of
//! the 2400-byte expanded form, and always well formed.

use ml_kem::array::Array;
use ml_kem::kem::{Decapsulate, KeyExport};
use ml_kem::ml_kem_768::{DecapsulationKey, EncapsulationKey};
use rand::CryptoRng;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::DecodeError;

/// Length of an encapsulation (public) key.
pub const PUBLIC_KEY_LEN: usize = 1184;
/// Length of a ciphertext.
pub const CIPHERTEXT_LEN: usize = 1088;
/// Length of a secret key's seed `d || z`.
pub const SEED_LEN: usize = 64;
/// Length of a shared secret.
pub const SHARED_SECRET_LEN: usize = 32;

const PUBLIC_KEY: &str = "ML-KEM-768 encapsulation key";
const CIPHERTEXT: &str = "ML-KEM-768 ciphertext";
const SEED: &str = "ML-KEM-768 seed";

/// A shared secret. Zeroized on drop.
pub type SharedSecret = Zeroizing<[u8; SHARED_SECRET_LEN]>;

/// The error for `bytes` of the wrong length, saying which way it is wrong.
pub(crate) fn wrong_length(bytes: &[u8], expected: usize, what: &'static str) -> DecodeError {
    if bytes.len() < expected {
        DecodeError::Truncated { what }
    } else {
        DecodeError::TrailingBytes { what }
    }
}

/// `Name(0123456789abcdef…)`: the first 8 bytes of a public value, enough to tell keys apart.
pub(crate) fn short_hex(
    f: &mut core::fmt::Formatter<'_>,
    name: &str,
    bytes: &[u8],
) -> core::fmt::Result {
    write!(f, "{name}(")?;
    for b in bytes.iter().take(8) {
        write!(f, "{b:02x}")?;
    }
    write!(f, "…)")
}

/// Deserializes `bytes` and decodes them with `parse`, so a key or ciphertext inside a wire
/// structure passes the same checks as one decoded alone.
pub(crate) fn checked<'de, D, T>(
    d: D,
    parse: fn(&[u8]) -> Result<T, DecodeError>,
) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let bytes = serde_bytes::ByteBuf::deserialize(d)?;
    parse(&bytes).map_err(serde::de::Error::custom)
}

/// An ML-KEM-768 encapsulation key that passed FIPS 203's input check. Encoded as `bytes`
/// (a varint length, always 1184, then the key) inside wire structures.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    key: Box<EncapsulationKey>,
    bytes: Box<[u8; PUBLIC_KEY_LEN]>,
}

impl PublicKey {
    /// Decodes and checks an encapsulation key: exactly 1184 bytes, every coefficient reduced
    /// modulo q ([`DecodeError::NonCanonical`] otherwise).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let array: &[u8; PUBLIC_KEY_LEN] = bytes
            .try_into()
            .map_err(|_| wrong_length(bytes, PUBLIC_KEY_LEN, PUBLIC_KEY))?;
        let key = EncapsulationKey::new(&Array::from(*array))
            .map_err(|_| DecodeError::NonCanonical { what: PUBLIC_KEY })?;
        Ok(Self {
            key: Box::new(key),
            bytes: Box::new(*array),
        })
    }

    /// The 1184-byte encoding.
    pub fn as_bytes(&self) -> &[u8; PUBLIC_KEY_LEN] {
        &self.bytes
    }

    /// Encapsulates a fresh shared secret to this key.
    pub fn encapsulate<R: CryptoRng + ?Sized>(&self, rng: &mut R) -> (Ciphertext, SharedSecret) {
        let mut m = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(m.as_mut());
        self.encapsulate_with(&m)
    }

    /// Encapsulation with the message `m` given (FIPS 203's `ML-KEM.Encaps_internal`): for
    /// test vectors only, since a repeated `m` repeats the shared secret.
    #[cfg(any(test, feature = "hazmat"))]
    pub fn encapsulate_deterministic(&self, m: &[u8; 32]) -> (Ciphertext, SharedSecret) {
        self.encapsulate_with(m)
    }

    pub(crate) fn encapsulate_with(&self, m: &[u8; 32]) -> (Ciphertext, SharedSecret) {
        let (ct, mut ss) = self.key.encapsulate_deterministic(&Array::from(*m));
        let shared = Zeroizing::new(ss.0);
        zeroize::Zeroize::zeroize(&mut ss.0);
        (Ciphertext(Box::new(ct.0)), shared)
    }
}

impl core::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        short_hex(f, "MlKemPublicKey", &self.bytes[..])
    }
}

impl Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.as_bytes())
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked(d, Self::from_bytes)
    }
}

/// An ML-KEM-768 ciphertext (1088 bytes). Encoded as `bytes` inside wire structures.
#[derive(Clone, PartialEq, Eq)]
pub struct Ciphertext(Box<[u8; CIPHERTEXT_LEN]>);

impl Ciphertext {
    /// Decodes a ciphertext: exactly 1088 bytes. Any such bytes decapsulate (to a pseudorandom
    /// secret when they were not made for the key: FIPS 203's implicit rejection).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let array: &[u8; CIPHERTEXT_LEN] = bytes
            .try_into()
            .map_err(|_| wrong_length(bytes, CIPHERTEXT_LEN, CIPHERTEXT))?;
        Ok(Self(Box::new(*array)))
    }

    /// The 1088-byte encoding.
    pub fn as_bytes(&self) -> &[u8; CIPHERTEXT_LEN] {
        &self.0
    }
}

impl core::fmt::Debug for Ciphertext {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        short_hex(f, "MlKemCiphertext", &self.0[..])
    }
}

impl Serialize for Ciphertext {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.as_bytes())
    }
}

impl<'de> Deserialize<'de> for Ciphertext {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked(d, Self::from_bytes)
    }
}

/// An ML-KEM-768 decapsulation key, kept with its seed and its public key. The `ml-kem`
/// crate zeroizes the expanded key on drop; the seed is zeroized here.
#[derive(Clone)]
pub struct SecretKey {
    key: Box<DecapsulationKey>,
    seed: Zeroizing<[u8; SEED_LEN]>,
    public: PublicKey,
}

impl SecretKey {
    /// A fresh random key pair.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut seed = Zeroizing::new([0u8; SEED_LEN]);
        rng.fill_bytes(seed.as_mut());
        Self::from_seed(&seed)
    }

    /// The key pair from its 64-byte seed `d || z` (FIPS 203 `ML-KEM.KeyGen_internal(d, z)`).
    pub fn from_seed(seed: &[u8; SEED_LEN]) -> Self {
        let key = DecapsulationKey::from_seed(Array::from(*seed));
        let ek = key.encapsulation_key();
        let mut bytes = Box::new([0u8; PUBLIC_KEY_LEN]);
        bytes.copy_from_slice(&ek.to_bytes());
        let public = PublicKey {
            key: Box::new(ek.clone()),
            bytes,
        };
        Self {
            key: Box::new(key),
            seed: Zeroizing::new(*seed),
            public,
        }
    }

    /// The key pair from an untrusted seed: exactly 64 bytes.
    pub fn from_seed_bytes(seed: &[u8]) -> Result<Self, DecodeError> {
        let seed: &[u8; SEED_LEN] = seed
            .try_into()
            .map_err(|_| wrong_length(seed, SEED_LEN, SEED))?;
        Ok(Self::from_seed(seed))
    }

    /// The 64-byte seed, for storage at rest.
    pub fn seed(&self) -> &Zeroizing<[u8; SEED_LEN]> {
        &self.seed
    }

    /// The encapsulation key, to publish.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// Decapsulates `ct`. Never fails: a ciphertext not made for this key gives a pseudorandom
    /// secret (implicit rejection), which then fails whatever key confirmation follows.
    pub fn decapsulate(&self, ct: &Ciphertext) -> SharedSecret {
        let mut ss = self.key.decapsulate(&Array::from(*ct.0));
        let shared = Zeroizing::new(ss.0);
        zeroize::Zeroize::zeroize(&mut ss.0);
        shared
    }
}

impl core::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MlKemSecretKey")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_trip_agrees_and_another_key_does_not() {
        let mut rng = rand::rng();
        let alice = SecretKey::generate(&mut rng);
        let eve = SecretKey::generate(&mut rng);
        let (ct, ss) = alice.public_key().encapsulate(&mut rng);
        assert_eq!(*alice.decapsulate(&ct), *ss);
        assert_ne!(*eve.decapsulate(&ct), *ss);
        let again = SecretKey::from_seed(alice.seed());
        assert_eq!(again.public_key(), alice.public_key());
        assert_eq!(*again.decapsulate(&ct), *ss);
    }

    #[test]
    fn lengths_are_exact_and_say_which_way_they_are_wrong() {
        let key = SecretKey::from_seed(&[7; SEED_LEN]);
        let pk = key.public_key().as_bytes();
        assert_eq!(PublicKey::from_bytes(pk).as_ref(), Ok(key.public_key()));
        let truncated = Err(DecodeError::Truncated { what: PUBLIC_KEY });
        assert_eq!(PublicKey::from_bytes(&pk[1..]).map(|_| ()), truncated);
        let mut long = pk.to_vec();
        long.push(0);
        let trailing = Err(DecodeError::TrailingBytes { what: PUBLIC_KEY });
        assert_eq!(PublicKey::from_bytes(&long).map(|_| ()), trailing);
        assert_eq!(
            Ciphertext::from_bytes(&[0; CIPHERTEXT_LEN - 1]),
            Err(DecodeError::Truncated { what: CIPHERTEXT })
        );
        assert_eq!(
            SecretKey::from_seed_bytes(&[0; SEED_LEN + 1]).map(|_| ()),
            Err(DecodeError::TrailingBytes { what: SEED })
        );
    }

    #[test]
    fn an_unreduced_coefficient_is_refused() {
        // 12-bit coefficients: 0xfff (4095) is at least q = 3329.
        let mut pk = *SecretKey::from_seed(&[1; SEED_LEN]).public_key().as_bytes();
        pk[0] = 0xff;
        pk[1] |= 0x0f;
        assert_eq!(
            PublicKey::from_bytes(&pk),
            Err(DecodeError::NonCanonical { what: PUBLIC_KEY })
        );
    }

    #[test]
    fn serde_round_trips_and_checks() {
        let key = SecretKey::from_seed(&[3; SEED_LEN]);
        let bytes = postcard::to_allocvec(key.public_key()).unwrap();
        assert_eq!(bytes.len(), 2 + PUBLIC_KEY_LEN);
        let back: PublicKey = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(&back, key.public_key());
        let short = postcard::to_allocvec(serde_bytes::Bytes::new(&[0; 10])).unwrap();
        assert!(postcard::from_bytes::<PublicKey>(&short).is_err());
        assert!(postcard::from_bytes::<Ciphertext>(&short).is_err());
    }

    #[test]
    fn debug_shows_no_secret() {
        let key = SecretKey::from_seed(&[0xab; SEED_LEN]);
        let debug = format!("{key:?}");
        assert!(debug.starts_with("MlKemSecretKey { public: MlKemPublicKey("));
        assert!(!debug.contains("abab"));
    }
}
