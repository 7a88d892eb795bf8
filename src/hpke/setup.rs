//! RFC 9180 §5.1.1–§5.1.4: `Setup<MODE>S` and `Setup<MODE>R`, one function per role for all
//! four modes (the mode is a typed argument).

use rand::CryptoRng;

use super::context::{ExportOnlyContext, ReceiverContext, SenderContext};
use super::kem::{self, Enc, KeyPair};
use super::key_schedule::KeySchedule;
use super::mode::{ReceiverMode, SenderMode};
use super::{AEAD_ID, EXPORT_ONLY_AEAD_ID, KEM_ID};
use crate::crypto::x25519::PublicKey;
use crate::error::Error;

/// Sets up a sender context to `recipient`: returns the `enc` to send along with the
/// ciphertexts, and the context that seals them.
///
/// Costs two X25519 operations (three in the auth modes).
///
/// # Errors
/// [`CryptoError::NonContributory`](crate::CryptoError::NonContributory) if `recipient` (or,
/// in the auth modes, the pair with the sender's key) is a low-order point.
pub fn setup_sender<R: CryptoRng + ?Sized>(
    rng: &mut R,
    mode: SenderMode<'_>,
    recipient: &PublicKey,
    info: &[u8],
) -> Result<(Enc, SenderContext), Error> {
    setup_sender_from(&KeyPair::generate(rng), mode, recipient, info)
}

/// [`setup_sender`] with the ephemeral key pair given: fresh for every message, or derived
/// from a vector's `ikmE`.
pub(crate) fn setup_sender_from(
    ephemeral: &KeyPair,
    mode: SenderMode<'_>,
    recipient: &PublicKey,
    info: &[u8],
) -> Result<(Enc, SenderContext), Error> {
    let (enc, schedule) = sender_schedule(ephemeral, mode, recipient, info, AEAD_ID)?;
    Ok((enc, SenderContext::from_schedule(&schedule)))
}

/// Sets up the receiver context for `enc`, with the recipient's key pair. `mode` must match the
/// sender's, with the same PSK and (in the auth modes) the sender's public key; if it does not,
/// the context is made but opening fails.
///
/// Costs one X25519 operation (two in the auth modes).
///
/// # Errors
/// [`CryptoError::NonContributory`](crate::CryptoError::NonContributory) if `enc` (or the
/// sender's public key) is a low-order point.
pub fn setup_receiver(
    enc: &Enc,
    mode: ReceiverMode<'_>,
    recipient: &KeyPair,
    info: &[u8],
) -> Result<ReceiverContext, Error> {
    let schedule = receiver_schedule(enc, mode, recipient, info, AEAD_ID)?;
    Ok(ReceiverContext::from_schedule(&schedule))
}

/// As [`setup_sender`], with the export-only AEAD (`aead_id` 0xFFFF): the context only exports.
///
/// # Errors
/// As [`setup_sender`].
pub fn setup_sender_export_only<R: CryptoRng + ?Sized>(
    rng: &mut R,
    mode: SenderMode<'_>,
    recipient: &PublicKey,
    info: &[u8],
) -> Result<(Enc, ExportOnlyContext), Error> {
    let ephemeral = KeyPair::generate(rng);
    let (enc, schedule) = sender_schedule(&ephemeral, mode, recipient, info, EXPORT_ONLY_AEAD_ID)?;
    Ok((enc, ExportOnlyContext::from_schedule(&schedule)))
}

/// As [`setup_receiver`], with the export-only AEAD (`aead_id` 0xFFFF).
///
/// # Errors
/// As [`setup_receiver`].
pub fn setup_receiver_export_only(
    enc: &Enc,
    mode: ReceiverMode<'_>,
    recipient: &KeyPair,
    info: &[u8],
) -> Result<ExportOnlyContext, Error> {
    let schedule = receiver_schedule(enc, mode, recipient, info, EXPORT_ONLY_AEAD_ID)?;
    Ok(ExportOnlyContext::from_schedule(&schedule))
}

/// `(Auth)Encap` with a given ephemeral pair, then the key schedule for `aead_id`.
pub(crate) fn sender_schedule(
    ephemeral: &KeyPair,
    mode: SenderMode<'_>,
    recipient: &PublicKey,
    info: &[u8],
    aead_id: u16,
) -> Result<(Enc, KeySchedule), Error> {
    let (shared, enc) = kem::encap(ephemeral, recipient, mode.sender())?;
    Ok((
        enc,
        KeySchedule::new(&mode.schedule(), &shared, info, (KEM_ID, aead_id)),
    ))
}

/// `(Auth)Decap`, then the key schedule for `aead_id`.
pub(crate) fn receiver_schedule(
    enc: &Enc,
    mode: ReceiverMode<'_>,
    recipient: &KeyPair,
    info: &[u8],
    aead_id: u16,
) -> Result<KeySchedule, Error> {
    let shared = kem::decap(enc, recipient, mode.sender())?;
    Ok(KeySchedule::new(
        &mode.schedule(),
        &shared,
        info,
        (KEM_ID, aead_id),
    ))
}
