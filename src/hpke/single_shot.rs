//! RFC 9180 §6: single-shot APIs, a context used for exactly one message.

use rand::CryptoRng;

use super::kem::{Enc, KeyPair};
use super::mode::{ReceiverMode, SenderMode};
use super::setup::{setup_receiver, setup_sender};
use crate::crypto::x25519::PublicKey;
use crate::error::Error;

/// Encrypts one message to `recipient`: `Seal<MODE>(pkR, info, aad, pt)`. Send `enc` and the
/// ciphertext together.
///
/// # Errors
/// [`CryptoError::NonContributory`](crate::CryptoError::NonContributory) if a public key
/// involved is a low-order point.
pub fn seal<R: CryptoRng + ?Sized>(
    rng: &mut R,
    mode: SenderMode<'_>,
    recipient: &PublicKey,
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<(Enc, Vec<u8>), Error> {
    let (enc, mut ctx) = setup_sender(rng, mode, recipient, info)?;
    Ok((enc, ctx.seal(aad, plaintext)?))
}

/// Decrypts one message: `Open<MODE>(enc, skR, info, aad, ct)`.
///
/// # Errors
/// [`CryptoError::DecryptionFailed`](crate::CryptoError::DecryptionFailed) if the ciphertext,
/// `enc`, `info`, `aad` or the mode's inputs do not match what was sealed (no more detail is
/// given); [`CryptoError::NonContributory`](crate::CryptoError::NonContributory) if `enc` or the
/// sender's key is a low-order point.
pub fn open(
    enc: &Enc,
    mode: ReceiverMode<'_>,
    recipient: &KeyPair,
    info: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, Error> {
    setup_receiver(enc, mode, recipient, info)?.open(aad, ciphertext)
}

/// [`seal`] in base mode: anonymous sender.
///
/// # Errors
/// As [`seal`].
pub fn seal_base<R: CryptoRng + ?Sized>(
    rng: &mut R,
    recipient: &PublicKey,
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<(Enc, Vec<u8>), Error> {
    seal(rng, SenderMode::Base, recipient, info, aad, plaintext)
}

/// [`open`] in base mode.
///
/// # Errors
/// As [`open`].
pub fn open_base(
    enc: &Enc,
    recipient: &KeyPair,
    info: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, Error> {
    open(enc, ReceiverMode::Base, recipient, info, aad, ciphertext)
}
