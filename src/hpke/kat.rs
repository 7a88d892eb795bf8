//! Hooks for known-answer tests: deterministic setup from an explicit ephemeral `ikmE`, and
//! the key schedule's intermediate values. Hidden from the documentation and not part of the
//! supported API: replaying a published vector is the only legitimate use of a fixed
//! ephemeral key (reusing one breaks every security property HPKE has).

use zeroize::{Zeroize, ZeroizeOnDrop};

use super::context::{ExportOnlyContext, SenderContext};
use super::kem::{self, Enc, KeyPair};
use super::key_schedule::KeySchedule;
use super::mode::{ReceiverMode, SenderMode};
use super::setup::sender_schedule;
use super::{EXPORT_ONLY_AEAD_ID, KEM_ID};
use crate::crypto::x25519::PublicKey;
use crate::error::Error;

/// [`setup_sender`](super::setup_sender) with the ephemeral key pair `DeriveKeyPair(ikm_e)`.
pub fn setup_sender_with_ikm(
    ikm_e: &[u8],
    mode: SenderMode<'_>,
    recipient: &PublicKey,
    info: &[u8],
) -> Result<(Enc, SenderContext), Error> {
    super::setup::setup_sender_from(&KeyPair::derive(ikm_e), mode, recipient, info)
}

/// [`setup_sender_export_only`](super::setup_sender_export_only) with the ephemeral key pair
/// `DeriveKeyPair(ikm_e)`.
pub fn setup_sender_export_only_with_ikm(
    ikm_e: &[u8],
    mode: SenderMode<'_>,
    recipient: &PublicKey,
    info: &[u8],
) -> Result<(Enc, ExportOnlyContext), Error> {
    let ephemeral = KeyPair::derive(ikm_e);
    let (enc, schedule) = sender_schedule(&ephemeral, mode, recipient, info, EXPORT_ONLY_AEAD_ID)?;
    Ok((enc, ExportOnlyContext::from_schedule(&schedule)))
}

/// The values RFC 9180's test vectors print for one setup. `key` and `base_nonce` are empty
/// for the export-only AEAD, as in the vectors.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct Intermediates {
    /// The KEM's `shared_secret`.
    pub shared_secret: Vec<u8>,
    /// `key_schedule_context`.
    pub key_schedule_context: Vec<u8>,
    /// The key schedule's `secret`.
    pub secret: Vec<u8>,
    /// The AEAD `key` (empty for export-only).
    pub key: Vec<u8>,
    /// The AEAD `base_nonce` (empty for export-only).
    pub base_nonce: Vec<u8>,
    /// `exporter_secret`.
    pub exporter_secret: Vec<u8>,
}

/// The sender's intermediates for `aead_id`, with the ephemeral pair `DeriveKeyPair(ikm_e)`.
pub fn sender_intermediates(
    ikm_e: &[u8],
    mode: SenderMode<'_>,
    recipient: &PublicKey,
    info: &[u8],
    aead_id: u16,
) -> Result<(Enc, Intermediates), Error> {
    let ephemeral = KeyPair::derive(ikm_e);
    let (shared, enc) = kem::encap(&ephemeral, recipient, mode.sender())?;
    let schedule = KeySchedule::new(&mode.schedule(), &shared, info, (KEM_ID, aead_id));
    Ok((enc, intermediates(&shared, &schedule, aead_id)))
}

/// The receiver's intermediates for `aead_id`.
pub fn receiver_intermediates(
    enc: &Enc,
    mode: ReceiverMode<'_>,
    recipient: &KeyPair,
    info: &[u8],
    aead_id: u16,
) -> Result<Intermediates, Error> {
    let shared = kem::decap(enc, recipient, mode.sender())?;
    let schedule = KeySchedule::new(&mode.schedule(), &shared, info, (KEM_ID, aead_id));
    Ok(intermediates(&shared, &schedule, aead_id))
}

pub(crate) fn intermediates(
    shared: &kem::SharedSecret,
    schedule: &KeySchedule,
    aead_id: u16,
) -> Intermediates {
    let aead = aead_id != EXPORT_ONLY_AEAD_ID;
    Intermediates {
        shared_secret: shared.to_vec(),
        key_schedule_context: schedule.context().to_vec(),
        secret: schedule.secret().to_vec(),
        key: if aead {
            schedule.key().to_vec()
        } else {
            Vec::new()
        },
        base_nonce: if aead {
            schedule.base_nonce().to_vec()
        } else {
            Vec::new()
        },
        exporter_secret: schedule.exporter_secret().to_vec(),
    }
}
