//! HPKE with the X-Wing KEM (draft-connolly-cfrg-xwing-kem-06 §5.3: `kem_id` 0x647A,
//! `Nsecret` 32, `Nenc` 1120, `Npk` 1216, `Nsk` 32): RFC 9180's key schedule as it is, X-Wing's
//! shared secret where DHKEM's would be. Base and PSK modes only: X-Wing has no `AuthEncap`.
//! PROTOCOL.md §3.12.
//!
//! This is what Missive seals to a static key with (sealed sender, lead-form answers): an
//! adversary who records the ciphertext and later breaks X25519 still faces ML-KEM-768.
//!
//! ```
//! use missive::crypto::xwing;
//! use missive::hpke;
//! # fn main() -> Result<(), missive::Error> {
//! let mut rng = rand::rng();
//! let advertiser = xwing::SecretKey::generate(&mut rng); // its public key is published
//! let (enc, ct) =
//!     hpke::xwing::seal_base(&mut rng, advertiser.public_key(), b"info", b"aad", b"call me")?;
//! let enc = xwing::Ciphertext::from_bytes(enc.as_bytes())?;
//! assert_eq!(hpke::xwing::open_base(&enc, &advertiser, b"info", b"aad", &ct)?, b"call me");
//! # Ok(()) }
//! ```

use rand::CryptoRng;

use super::AEAD_ID;
use super::context::{ReceiverContext, SenderContext};
use super::key_schedule::KeySchedule;
use super::mode::{ReceiverMode, SenderMode};
use crate::crypto::xwing::{Ciphertext, PublicKey, SecretKey};
use crate::error::{Error, UsageError};

/// `kem_id` of X-Wing.
pub const KEM_ID: u16 = 0x647A;

/// Encrypts one message to `recipient` in base mode. Send the ciphertext after the 1120-byte
/// `enc`.
///
/// # Errors
/// Only an AEAD length limit: the recipient key was checked when it was decoded.
pub fn seal_base<R: CryptoRng + ?Sized>(
    rng: &mut R,
    recipient: &PublicKey,
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<(Ciphertext, Vec<u8>), Error> {
    let (enc, mut ctx) = setup_sender(rng, SenderMode::Base, recipient, info)?;
    Ok((enc, ctx.seal(aad, plaintext)?))
}

/// Decrypts one base-mode message.
///
/// # Errors
/// [`CryptoError::DecryptionFailed`](crate::CryptoError::DecryptionFailed) if anything sealed
/// differs (a ciphertext not made for this key decapsulates to a pseudorandom secret, so it
/// fails here too); [`CryptoError::NonContributory`](crate::CryptoError::NonContributory) for
/// an `enc` whose X25519 half is of low order.
pub fn open_base(
    enc: &Ciphertext,
    recipient: &SecretKey,
    info: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, Error> {
    setup_receiver(enc, ReceiverMode::Base, recipient, info)?.open(aad, ciphertext)
}

/// Sets up a sender context to `recipient` (base or PSK mode).
///
/// # Errors
/// [`UsageError::ModeNotSupported`] for the auth modes.
pub fn setup_sender<R: CryptoRng + ?Sized>(
    rng: &mut R,
    mode: SenderMode<'_>,
    recipient: &PublicKey,
    info: &[u8],
) -> Result<(Ciphertext, SenderContext), Error> {
    if mode.sender().is_some() {
        return Err(UsageError::ModeNotSupported.into());
    }
    let (enc, shared) = recipient.encapsulate(rng);
    let schedule = KeySchedule::new(&mode.schedule(), &shared, info, (KEM_ID, AEAD_ID));
    Ok((enc, SenderContext::from_schedule(&schedule)))
}

/// Sets up the receiver context for `enc` (base or PSK mode).
///
/// # Errors
/// [`UsageError::ModeNotSupported`] for the auth modes;
/// [`CryptoError::NonContributory`](crate::CryptoError::NonContributory) as in [`open_base`].
pub fn setup_receiver(
    enc: &Ciphertext,
    mode: ReceiverMode<'_>,
    recipient: &SecretKey,
    info: &[u8],
) -> Result<ReceiverContext, Error> {
    if mode.sender().is_some() {
        return Err(UsageError::ModeNotSupported.into());
    }
    let shared = recipient.decapsulate(enc)?;
    let schedule = KeySchedule::new(&mode.schedule(), &shared, info, (KEM_ID, AEAD_ID));
    Ok(ReceiverContext::from_schedule(&schedule))
}

/// The sender's setup with the encapsulation randomness given, and the values a vector
/// prints: for known-answer tests only (a repeated `eseed` repeats every key).
#[cfg(any(test, feature = "hazmat"))]
pub fn sender_intermediates(
    eseed: &[u8; crate::crypto::xwing::ENCAPSULATION_SEED_LEN],
    mode: SenderMode<'_>,
    recipient: &PublicKey,
    info: &[u8],
) -> Result<(Ciphertext, SenderContext, super::kat::Intermediates), Error> {
    if mode.sender().is_some() {
        return Err(UsageError::ModeNotSupported.into());
    }
    let (enc, shared) = recipient.encapsulate_deterministic(eseed);
    let schedule = KeySchedule::new(&mode.schedule(), &shared, info, (KEM_ID, AEAD_ID));
    let values = super::kat::intermediates(&shared, &schedule, AEAD_ID);
    Ok((enc, SenderContext::from_schedule(&schedule), values))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CryptoError;
    use crate::hpke::Psk;

    #[test]
    fn base_and_psk_round_trip_and_refuse_what_differs() {
        let mut rng = rand::rng();
        let bob = SecretKey::generate(&mut rng);
        let (enc, ct) = seal_base(&mut rng, bob.public_key(), b"info", b"aad", b"hi").unwrap();
        assert_eq!(open_base(&enc, &bob, b"info", b"aad", &ct).unwrap(), b"hi");
        let failed = Err(Error::Crypto(CryptoError::DecryptionFailed));
        assert_eq!(open_base(&enc, &bob, b"infx", b"aad", &ct), failed);
        assert_eq!(open_base(&enc, &bob, b"info", b"aax", &ct), failed);
        let eve = SecretKey::generate(&mut rng);
        assert_eq!(open_base(&enc, &eve, b"info", b"aad", &ct), failed);
        let mut flipped = *enc.as_bytes();
        flipped[0] ^= 1; // the ML-KEM half: implicit rejection, then the tag fails
        let flipped = Ciphertext::from_bytes(&flipped).unwrap();
        assert_eq!(open_base(&flipped, &bob, b"info", b"aad", &ct), failed);

        let psk = Psk::new(&[9; 32], b"id").unwrap();
        let (enc, mut s) =
            setup_sender(&mut rng, SenderMode::Psk(psk), bob.public_key(), b"i").unwrap();
        let c = s.seal(b"", b"x").unwrap();
        let mut r = setup_receiver(&enc, ReceiverMode::Psk(psk), &bob, b"i").unwrap();
        assert_eq!(r.open(b"", &c).unwrap(), b"x");
        let mut base = setup_receiver(&enc, ReceiverMode::Base, &bob, b"i").unwrap();
        assert_eq!(base.open(b"", &c), failed);
    }

    #[test]
    fn the_auth_modes_are_refused() {
        let mut rng = rand::rng();
        let bob = SecretKey::generate(&mut rng);
        let alice = crate::hpke::KeyPair::generate(&mut rng);
        let refused = Error::Usage(UsageError::ModeNotSupported);
        let mode = SenderMode::Auth { sender: &alice };
        let got = setup_sender(&mut rng, mode, bob.public_key(), b"").map(|_| ());
        assert_eq!(got, Err(refused));
        let (enc, _) = seal_base(&mut rng, bob.public_key(), b"", b"", b"").unwrap();
        let mode = ReceiverMode::Auth {
            sender: alice.public_key(),
        };
        assert_eq!(
            setup_receiver(&enc, mode, &bob, b"").map(|_| ()),
            Err(refused)
        );
    }

    #[test]
    fn the_suite_differs_from_dhkem() {
        // Same shared secret through both suites: different keys.
        let inputs = SenderMode::Base.schedule();
        let shared = zeroize::Zeroizing::new([4; 32]);
        let x = KeySchedule::new(&inputs, &shared, b"", (KEM_ID, AEAD_ID));
        let d = KeySchedule::new(&inputs, &shared, b"", (super::super::KEM_ID, AEAD_ID));
        assert_ne!(*x.key(), *d.key());
    }
}
