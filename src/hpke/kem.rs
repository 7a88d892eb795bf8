//! RFC 9180 §4.1 and §7.1.3: DHKEM(X25519, HKDF-SHA256), key pairs and the encapsulated key.
//!
//! ```text
//! def ExtractAndExpand(dh, kem_context):
//!   eae_prk = LabeledExtract("", "eae_prk", dh)
//!   shared_secret = LabeledExpand(eae_prk, "shared_secret", kem_context, Nsecret)
//!
//! def Encap(pkR):                         def AuthEncap(pkR, skS):
//!   skE, pkE = GenerateKeyPair()            skE, pkE = GenerateKeyPair()
//!   dh = DH(skE, pkR)                       dh = concat(DH(skE, pkR), DH(skS, pkR))
//!   enc = SerializePublicKey(pkE)           enc = SerializePublicKey(pkE)
//!   kem_context = concat(enc, pkRm)         kem_context = concat(enc, pkRm, pkSm)
//! ```
//!
//! Every public key is stored next to its secret, so sealing costs exactly the scalar
//! multiplications the RFC needs (ephemeral public key + one DH per `DH(·)` above) and opening
//! one per `DH(·)`: no public key is ever recomputed from a secret.

use rand::CryptoRng;
use zeroize::Zeroizing;

use super::labeled::{self, KEM_SUITE_ID};
use crate::crypto::x25519::{PublicKey, SecretKey};
use crate::error::{CryptoError, DecodeError};

/// Length of an encapsulated key (`Nenc`), a public key (`Npk`) and a secret key (`Nsk`).
pub const KEY_LEN: usize = 32;

/// The KEM's shared secret (`Nsecret` = 32 bytes). Zeroized on drop.
pub(crate) type SharedSecret = Zeroizing<[u8; 32]>;

/// An HPKE recipient (or authenticating sender) key pair.
///
/// The secret is boxed and zeroized on drop; the public key is computed once, when the pair
/// is made, and cached.
#[derive(Clone)]
pub struct KeyPair(SecretKey);

impl KeyPair {
    /// A fresh random key pair (`GenerateKeyPair`).
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self(SecretKey::generate(rng))
    }

    /// `DeriveKeyPair(ikm)` (RFC 9180 §7.1.3): the same `ikm` always gives the same pair.
    /// `ikm` should hold at least 32 bytes of entropy.
    ///
    /// ```text
    /// dkp_prk = LabeledExtract("", "dkp_prk", ikm)
    /// sk = LabeledExpand(dkp_prk, "sk", "", 32)
    /// ```
    pub fn derive(ikm: &[u8]) -> Self {
        let dkp_prk = labeled::extract(&KEM_SUITE_ID, b"", b"dkp_prk", &[ikm]);
        let sk: Zeroizing<[u8; KEY_LEN]> =
            labeled::expand_array(&KEM_SUITE_ID, &dkp_prk, b"sk", &[]);
        Self::from_secret_bytes(&sk)
    }

    /// Restores a key pair from the 32 bytes of [`KeyPair::to_secret_bytes`]
    /// (`DeserializePrivateKey`).
    pub fn from_secret_bytes(secret: &[u8; KEY_LEN]) -> Self {
        Self(SecretKey::from_bytes(secret))
    }

    /// The 32 secret bytes (`SerializePrivateKey`), for storage at rest.
    pub fn to_secret_bytes(&self) -> Zeroizing<[u8; KEY_LEN]> {
        self.0.to_bytes()
    }

    /// The public key, to publish to senders.
    pub fn public_key(&self) -> &PublicKey {
        self.0.public_key()
    }
}

impl From<SecretKey> for KeyPair {
    /// Uses an existing X25519 key (with its cached public key) as an HPKE key pair.
    fn from(secret: SecretKey) -> Self {
        Self(secret)
    }
}

impl core::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KeyPair")
            .field("public", self.public_key())
            .finish_non_exhaustive()
    }
}

/// The encapsulated key a sender transmits with its ciphertext: the ephemeral X25519 public
/// key (`enc`, 32 bytes). Not secret.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Enc([u8; KEY_LEN]);

impl Enc {
    /// Parses `enc` from untrusted bytes: exactly 32 bytes. Any 32 bytes are accepted here; a
    /// low-order key is rejected when opening, with [`CryptoError::NonContributory`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let bytes = <[u8; KEY_LEN]>::try_from(bytes).map_err(|_| {
            if bytes.len() < KEY_LEN {
                DecodeError::Truncated { what: "HPKE enc" }
            } else {
                DecodeError::TrailingBytes { what: "HPKE enc" }
            }
        })?;
        Ok(Self(bytes))
    }

    /// The 32-byte encoding.
    pub fn to_bytes(&self) -> [u8; KEY_LEN] {
        self.0
    }

    /// The 32-byte encoding, borrowed.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl From<[u8; KEY_LEN]> for Enc {
    fn from(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }
}

impl core::fmt::Debug for Enc {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Enc(")?;
        for b in &self.0[..8] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "…)")
    }
}

/// `Encap` (no sender) or `AuthEncap` (with the sender's key pair), with the ephemeral key
/// pair supplied by the caller. Two scalar multiplications were spent making `ephemeral`;
/// this adds one per DH.
pub(crate) fn encap(
    ephemeral: &KeyPair,
    recipient: &PublicKey,
    sender: Option<&KeyPair>,
) -> Result<(SharedSecret, Enc), CryptoError> {
    let enc = Enc(*ephemeral.public_key().as_bytes());
    let dh1 = ephemeral.0.diffie_hellman(recipient)?;
    let shared = match sender {
        None => extract_and_expand(&[dh1.as_bytes()], &[&enc.0, recipient.as_bytes()]),
        Some(sender) => {
            let dh2 = sender.0.diffie_hellman(recipient)?;
            let pk_s = sender.public_key().as_bytes();
            extract_and_expand(
                &[dh1.as_bytes(), dh2.as_bytes()],
                &[&enc.0, recipient.as_bytes(), pk_s],
            )
        }
    };
    Ok((shared, enc))
}

/// `Decap` (no sender) or `AuthDecap` (with the sender's public key).
pub(crate) fn decap(
    enc: &Enc,
    recipient: &KeyPair,
    sender: Option<&PublicKey>,
) -> Result<SharedSecret, CryptoError> {
    let pk_e = PublicKey::from_bytes(enc.0);
    let pk_r = recipient.public_key().as_bytes();
    let dh1 = recipient.0.diffie_hellman(&pk_e)?;
    Ok(match sender {
        None => extract_and_expand(&[dh1.as_bytes()], &[&enc.0, pk_r]),
        Some(pk_s) => {
            let dh2 = recipient.0.diffie_hellman(pk_s)?;
            extract_and_expand(
                &[dh1.as_bytes(), dh2.as_bytes()],
                &[&enc.0, pk_r, pk_s.as_bytes()],
            )
        }
    })
}

/// `ExtractAndExpand(concat(dh_parts), concat(kem_context_parts))`.
fn extract_and_expand(dh_parts: &[&[u8]], kem_context_parts: &[&[u8]]) -> SharedSecret {
    let eae_prk = labeled::extract(&KEM_SUITE_ID, b"", b"eae_prk", dh_parts);
    labeled::expand_array(&KEM_SUITE_ID, &eae_prk, b"shared_secret", kem_context_parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A low-order point (order 8 on Curve25519): X25519 with it is all zeros for every key.
    pub(crate) const LOW_ORDER: [u8; 32] = [
        0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4,
        0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49,
        0xb8, 0x00,
    ];

    #[test]
    fn encap_and_decap_agree_in_both_kems() {
        let r = KeyPair::derive(b"recipient ikm, 32 bytes or more.");
        let s = KeyPair::derive(b"sender ikm, also 32 bytes or more");
        let e = KeyPair::derive(b"ephemeral ikm, 32 bytes or more..");
        let (ss, enc) = encap(&e, r.public_key(), None).unwrap();
        assert_eq!(*decap(&enc, &r, None).unwrap(), *ss);
        let (auth_ss, enc) = encap(&e, r.public_key(), Some(&s)).unwrap();
        assert_eq!(*decap(&enc, &r, Some(s.public_key())).unwrap(), *auth_ss);
        assert_ne!(*ss, *auth_ss);
        // A different claimed sender gives a different secret.
        assert_ne!(*decap(&enc, &r, Some(e.public_key())).unwrap(), *auth_ss);
    }

    #[test]
    fn low_order_points_are_rejected_everywhere() {
        let r = KeyPair::derive(b"recipient ikm, 32 bytes or more.");
        let e = KeyPair::derive(b"ephemeral ikm, 32 bytes or more..");
        let bad = PublicKey::from_bytes(LOW_ORDER);
        let nc = Err(CryptoError::NonContributory);
        assert_eq!(encap(&e, &bad, None).map(|_| ()), nc);
        assert_eq!(encap(&e, &bad, Some(&r)).map(|_| ()), nc);
        assert_eq!(decap(&Enc(LOW_ORDER), &r, None).map(|_| ()), nc);
        assert_eq!(
            decap(&Enc(LOW_ORDER), &r, Some(e.public_key())).map(|_| ()),
            nc
        );
        // AuthDecap with a good enc but a low-order sender key: the second DH is caught too.
        let (_, enc) = encap(&e, r.public_key(), None).unwrap();
        assert_eq!(decap(&enc, &r, Some(&bad)).map(|_| ()), nc);
    }

    #[test]
    fn enc_parsing_is_exact() {
        assert_eq!(Enc::from_bytes(&[1; 32]).unwrap().to_bytes(), [1; 32]);
        assert_eq!(
            Enc::from_bytes(&[1; 31]),
            Err(DecodeError::Truncated { what: "HPKE enc" })
        );
        assert_eq!(
            Enc::from_bytes(&[1; 33]),
            Err(DecodeError::TrailingBytes { what: "HPKE enc" })
        );
    }

    #[test]
    fn key_pair_round_trips_and_hides_its_secret() {
        let kp = KeyPair::derive(b"some ikm that is long enough.....");
        let back = KeyPair::from_secret_bytes(&kp.to_secret_bytes());
        assert_eq!(back.public_key(), kp.public_key());
        let debug = format!("{kp:?}");
        let secret_hex: String = kp
            .to_secret_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(debug.starts_with("KeyPair { public: PublicKey("));
        assert!(!debug.contains(&secret_hex[..16]));
    }
}
