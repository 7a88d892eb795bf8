//! One conversation message (PROTOCOL.md §6.4): encrypted once, key-committed, signed by the
//! sender's chain key, the signature itself encrypted.
//!
//! Layout: `label (8) || commitment (32) || masked signature (64) || AEAD ciphertext`.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::chain::Step;
use crate::crypto::aead::{AeadKey, NONCE_LEN, TAG_LEN};
use crate::crypto::kdf;
use crate::crypto::sign::{SIGNATURE_LEN, Signature, SigningKey, VerifyingKey};
use crate::envelope::{MailboxId, padding};
use crate::error::{CryptoError, DecodeError, Error};

/// Bytes a message adds before the ciphertext.
pub const HEADER_LEN: usize = 8 + 32 + SIGNATURE_LEN;
const NONCE: [u8; NONCE_LEN] = [0; NONCE_LEN];

/// Who sent a message where: bound into its associated data and signature.
pub(crate) struct Context<'a> {
    pub(crate) roster_hash: &'a [u8; 32],
    pub(crate) sender: &'a MailboxId,
}

/// The keys of one message: AEAD key, commitment, signature mask.
pub(crate) struct MessageKeys {
    key: Zeroizing<[u8; 96]>,
}

impl MessageKeys {
    /// `HKDF-Expand(S_i, "missive/v1/message" || roster_hash, 128) = K || C || M`.
    pub(crate) fn derive(secret: &[u8; 32], roster_hash: &[u8; 32]) -> (Self, [u8; 32]) {
        let out = kdf::expand_array::<128>(secret, &[b"missive/v1/message", roster_hash]);
        let mut key = Zeroizing::new([0u8; 96]);
        key[..32].copy_from_slice(&out[..32]);
        key[32..].copy_from_slice(&out[64..]);
        let mut commitment = [0u8; 32];
        commitment.copy_from_slice(&out[32..64]);
        (Self { key }, commitment)
    }

    fn aead(&self) -> AeadKey {
        let mut k = Zeroizing::new([0u8; 32]);
        k.copy_from_slice(&self.key[..32]);
        AeadKey::new(&k)
    }

    fn mask(&self, sig: &mut [u8; SIGNATURE_LEN]) {
        sig.iter_mut()
            .zip(&self.key[32..])
            .for_each(|(s, m)| *s ^= m);
    }

    /// The raw keys, for vectors.
    #[cfg(feature = "hazmat")]
    pub(crate) fn bytes(&self) -> &[u8; 96] {
        &self.key
    }
}

/// `ctx_bytes = roster_hash || sender || be32(index) || label || commitment`.
fn context_bytes(ctx: &Context<'_>, step: &Step, commitment: &[u8; 32]) -> [u8; 92] {
    let mut out = [0u8; 92];
    out[..32].copy_from_slice(ctx.roster_hash);
    out[32..48].copy_from_slice(&ctx.sender.0);
    out[48..52].copy_from_slice(&step.index.to_be_bytes());
    out[52..60].copy_from_slice(&step.label);
    out[60..].copy_from_slice(commitment);
    out
}

fn signed_bytes(context: &[u8; 92], ciphertext: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(14 + 92 + 32);
    out.extend_from_slice(b"missive/v1/sig");
    out.extend_from_slice(context);
    out.extend_from_slice(&Sha256::digest(ciphertext));
    out
}

/// Pads and encrypts `body` under step `step`, signs with `signing`.
pub(crate) fn seal(
    ctx: &Context<'_>,
    step: &Step,
    signing: &SigningKey,
    body: &[u8],
) -> Result<Vec<u8>, Error> {
    let (keys, commitment) = MessageKeys::derive(&step.secret, ctx.roster_hash);
    let context = context_bytes(ctx, step, &commitment);
    let mut out = Vec::with_capacity(HEADER_LEN + padding::bucket(body.len()) + TAG_LEN);
    out.extend_from_slice(&step.label);
    out.extend_from_slice(&commitment);
    out.extend_from_slice(&[0; SIGNATURE_LEN]);
    let mut ct = Vec::with_capacity(padding::bucket(body.len()) + TAG_LEN);
    padding::pad_into(body, &mut ct)?;
    keys.aead().seal_in_place(&NONCE, &ad(&context), &mut ct);
    let mut sig = signing.sign(&signed_bytes(&context, &ct)).to_bytes();
    keys.mask(&mut sig);
    out[40..HEADER_LEN].copy_from_slice(&sig);
    out.extend_from_slice(&ct);
    Ok(out)
}

fn ad(context: &[u8; 92]) -> Vec<u8> {
    let mut ad = Vec::with_capacity(14 + 92);
    ad.extend_from_slice(b"missive/v1/msg");
    ad.extend_from_slice(context);
    ad
}

/// The label a message carries, if it is long enough to be one.
pub(crate) fn label_of(message: &[u8]) -> Result<[u8; 8], DecodeError> {
    if message.len() < HEADER_LEN + padding::MIN_BUCKET + TAG_LEN {
        return Err(DecodeError::Truncated {
            what: "conversation message",
        });
    }
    let mut label = [0u8; 8];
    label.copy_from_slice(&message[..8]);
    Ok(label)
}

/// Checks and decrypts `message` under `step`; changes nothing. Order: commitment (constant
/// time), AEAD, signature, padding.
pub(crate) fn open(
    ctx: &Context<'_>,
    step: &Step,
    verifying: &VerifyingKey,
    message: &[u8],
) -> Result<Vec<u8>, Error> {
    label_of(message)?;
    let (keys, commitment) = MessageKeys::derive(&step.secret, ctx.roster_hash);
    if !bool::from(commitment.ct_eq(&message[8..40])) {
        return Err(CryptoError::CommitmentMismatch.into());
    }
    let context = context_bytes(ctx, step, &commitment);
    let ct = &message[HEADER_LEN..];
    let mut padded = keys.aead().open(&NONCE, &ad(&context), ct)?;
    let mut sig = [0u8; SIGNATURE_LEN];
    sig.copy_from_slice(&message[40..HEADER_LEN]);
    keys.mask(&mut sig);
    verifying.verify(&signed_bytes(&context, ct), &Signature::from_bytes(sig))?;
    let body_len = padding::unpad(&padded)?.len();
    padded.truncate(body_len);
    Ok(padded)
}
