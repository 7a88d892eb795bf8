//! RFC 9180 §5.1: the key schedule, from the KEM's shared secret to the AEAD key, the base
//! nonce and the exporter secret.
//!
//! ```text
//! def KeySchedule<ROLE>(mode, shared_secret, info, psk, psk_id):
//!   VerifyPSKInputs(mode, psk, psk_id)        # by construction: see `mode.rs`
//!   psk_id_hash = LabeledExtract("", "psk_id_hash", psk_id)
//!   info_hash = LabeledExtract("", "info_hash", info)
//!   key_schedule_context = concat(mode, psk_id_hash, info_hash)
//!   secret = LabeledExtract(shared_secret, "secret", psk)
//!   key = LabeledExpand(secret, "key", key_schedule_context, Nk)
//!   base_nonce = LabeledExpand(secret, "base_nonce", key_schedule_context, Nn)
//!   exporter_secret = LabeledExpand(secret, "exp", key_schedule_context, Nh)
//! ```
//!
//! `psk` and `psk_id` are empty in the modes without a PSK. The export-only AEAD skips `key`
//! and `base_nonce`; its `suite_id` differs, so its exporter secret differs too.

use zeroize::Zeroizing;

use super::kem::SharedSecret;
use super::labeled;
use super::mode::ScheduleInputs;
use crate::crypto::aead::{KEY_LEN, NONCE_LEN};
use crate::crypto::kdf::{PRK_LEN, Prk};

/// Length of `key_schedule_context`: the mode byte and two SHA-256 outputs.
pub(crate) const CONTEXT_LEN: usize = 1 + 2 * PRK_LEN;

/// The schedule's `secret` and `key_schedule_context`, from which every key is expanded.
pub(crate) struct KeySchedule {
    suite_id: [u8; 10],
    secret: Prk,
    context: [u8; CONTEXT_LEN],
}

impl KeySchedule {
    /// Runs the extract half of `KeySchedule` for the KEM `kem_id` and the AEAD `aead_id`.
    pub(crate) fn new(
        inputs: &ScheduleInputs<'_>,
        shared_secret: &SharedSecret,
        info: &[u8],
        (kem_id, aead_id): (u16, u16),
    ) -> Self {
        let suite_id = labeled::hpke_suite_id(kem_id, aead_id);
        let (psk, psk_id) = inputs.psk.map_or((&[][..], &[][..]), |p| (p.key(), p.id()));
        let psk_id_hash = labeled::extract(&suite_id, b"", b"psk_id_hash", &[psk_id]);
        let info_hash = labeled::extract(&suite_id, b"", b"info_hash", &[info]);
        let mut context = [0u8; CONTEXT_LEN];
        context[0] = inputs.mode;
        context[1..1 + PRK_LEN].copy_from_slice(psk_id_hash.as_ref());
        context[1 + PRK_LEN..].copy_from_slice(info_hash.as_ref());
        let secret = labeled::extract(&suite_id, shared_secret.as_ref(), b"secret", &[psk]);
        Self {
            suite_id,
            secret,
            context,
        }
    }

    /// `key = LabeledExpand(secret, "key", key_schedule_context, Nk)`.
    pub(crate) fn key(&self) -> Zeroizing<[u8; KEY_LEN]> {
        self.expand(b"key")
    }

    /// `base_nonce = LabeledExpand(secret, "base_nonce", key_schedule_context, Nn)`.
    pub(crate) fn base_nonce(&self) -> Zeroizing<[u8; NONCE_LEN]> {
        self.expand(b"base_nonce")
    }

    /// `exporter_secret = LabeledExpand(secret, "exp", key_schedule_context, Nh)`.
    pub(crate) fn exporter_secret(&self) -> Zeroizing<[u8; PRK_LEN]> {
        self.expand(b"exp")
    }

    /// The `suite_id` this schedule ran under (export uses it too).
    pub(crate) fn suite_id(&self) -> [u8; 10] {
        self.suite_id
    }

    /// `secret`, for the known-answer tests only.
    #[cfg(any(test, feature = "hazmat"))]
    pub(crate) fn secret(&self) -> &[u8; PRK_LEN] {
        &self.secret
    }

    /// `key_schedule_context`, for the known-answer tests only.
    #[cfg(any(test, feature = "hazmat"))]
    pub(crate) fn context(&self) -> &[u8; CONTEXT_LEN] {
        &self.context
    }

    fn expand<const N: usize>(&self, label: &[u8]) -> Zeroizing<[u8; N]> {
        labeled::expand_array(&self.suite_id, &self.secret, label, &[&self.context])
    }
}
