//! Mailboxes and the proofs that let only a mailbox's owner read it.
//!
//! A mailbox key is an Ed25519 key a device creates for its mailbox alone, unrelated to its
//! identity key, so the relay cannot link a mailbox to an identity by its keys. The mailbox id
//! is derived from the key, so no registration is needed: whoever can sign for the key owns the
//! id. Every request that reads, acknowledges or deletes carries an [`AuthProof`]: a signature
//! over the request, a timestamp and a fresh nonce, which the relay remembers to refuse replays.

use rand::CryptoRng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::crypto::sign::{Signature, SigningKey, VerifyingKey};
use crate::error::{CryptoError, DecodeError, Error};
use crate::wire::Wire;

pub use crate::envelope::MailboxId;

/// How far a proof's timestamp may be from the relay's clock, in seconds.
pub const MAX_CLOCK_SKEW: u64 = 300;

const ID_LABEL: &[u8] = b"missive/mailbox/v1";
const AUTH_LABEL: &[u8] = b"missive/relay-auth/v1";

/// The mailbox id that belongs to a mailbox verifying key:
/// `SHA-256("missive/mailbox/v1" || mailbox_verifying_key)[..16]`.
pub fn mailbox_id(key: &VerifyingKey) -> MailboxId {
    let digest = Sha256::new()
        .chain_update(ID_LABEL)
        .chain_update(key.as_bytes())
        .finalize();
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest[..16]);
    MailboxId(id)
}

/// A device's mailbox key.
#[derive(Clone)]
pub struct MailboxKey {
    key: SigningKey,
    id: MailboxId,
}

impl MailboxKey {
    /// A fresh mailbox key.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self::from_signing_key(SigningKey::generate(rng))
    }

    /// Restores a key from its 32-byte seed.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self::from_signing_key(SigningKey::from_seed(seed))
    }

    fn from_signing_key(key: SigningKey) -> Self {
        let id = mailbox_id(key.verifying_key());
        Self { key, id }
    }

    /// The seed, for storage at rest.
    pub fn to_seed(&self) -> zeroize::Zeroizing<[u8; 32]> {
        self.key.to_seed()
    }

    /// The verifying key its id is derived from.
    #[cfg(feature = "vectors")]
    pub(crate) fn verifying_key(&self) -> &VerifyingKey {
        self.key.verifying_key()
    }

    /// This mailbox's address.
    pub fn id(&self) -> &MailboxId {
        &self.id
    }

    /// A proof for one request: `method` and `path` as sent (path with its query), `body` the
    /// exact request body, `now` the client's Unix time in seconds.
    pub fn prove<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        method: &str,
        path: &str,
        body: &[u8],
        now: u64,
    ) -> AuthProof {
        let mut nonce = [0u8; 16];
        rng.fill_bytes(&mut nonce);
        self.prove_with_nonce(method, path, body, now, nonce)
    }

    /// [`MailboxKey::prove`] with the nonce given: for vectors (a repeated nonce is refused).
    pub(crate) fn prove_with_nonce(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        now: u64,
        nonce: [u8; 16],
    ) -> AuthProof {
        let message = signed_message(method, path, body, now, &nonce);
        AuthProof {
            key: *self.key.verifying_key(),
            timestamp: now,
            nonce,
            signature: self.key.sign(&message),
        }
    }
}

impl core::fmt::Debug for MailboxKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MailboxKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A signed statement "the owner of this mailbox sends this request now".
///
/// Wire form: `0x01 || key (32) || varint(timestamp) || nonce (16) || signature (64)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthProof {
    key: VerifyingKey,
    timestamp: u64,
    nonce: [u8; 16],
    signature: Signature,
}

impl Wire for AuthProof {
    const WHAT: &'static str = "mailbox auth proof";
    const VERSION: u8 = 1;
}

/// What a verified proof establishes. The caller must still check that `nonce` was not seen
/// before for `mailbox` (the relay keeps them for twice [`MAX_CLOCK_SKEW`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifiedRequest {
    /// The mailbox the signer owns.
    pub mailbox: MailboxId,
    /// The proof's nonce, to be remembered.
    pub nonce: [u8; 16],
    /// When the signer made the proof (its clock, within [`MAX_CLOCK_SKEW`] of the
    /// verifier's).
    pub timestamp: u64,
}

impl AuthProof {
    /// The wire form.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_wire()
    }

    /// Decodes the wire form strictly.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::from_wire(bytes)
    }

    /// Checks the proof against the request the relay received, at the relay's time `now`.
    pub fn verify(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        now: u64,
    ) -> Result<VerifiedRequest, Error> {
        if self.timestamp.abs_diff(now) > MAX_CLOCK_SKEW {
            return Err(CryptoError::Expired.into());
        }
        let message = signed_message(method, path, body, self.timestamp, &self.nonce);
        self.key.verify(&message, &self.signature)?;
        Ok(VerifiedRequest {
            mailbox: mailbox_id(&self.key),
            nonce: self.nonce,
            timestamp: self.timestamp,
        })
    }
}

pub(crate) fn signed_message(
    method: &str,
    path: &str,
    body: &[u8],
    timestamp: u64,
    nonce: &[u8; 16],
) -> Vec<u8> {
    let mut m = Vec::with_capacity(AUTH_LABEL.len() + method.len() + path.len() + 3 + 8 + 16 + 32);
    for part in [AUTH_LABEL, method.as_bytes(), path.as_bytes()] {
        m.extend_from_slice(part);
        m.push(0);
    }
    m.extend_from_slice(&timestamp.to_be_bytes());
    m.extend_from_slice(nonce);
    m.extend_from_slice(&Sha256::digest(body));
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> MailboxKey {
        MailboxKey::from_seed(&[5; 32])
    }

    #[test]
    fn a_proof_verifies_for_its_request_only() {
        let k = key();
        let proof = k.prove(&mut rand::rng(), "GET", "/v1/mailbox?after=0", b"", 1000);
        let ok = proof
            .verify("GET", "/v1/mailbox?after=0", b"", 1100)
            .unwrap();
        assert_eq!(ok.mailbox, *k.id());
        for (m, p, b) in [
            ("POST", "/v1/mailbox?after=0", &b""[..]),
            ("GET", "/v1/mailbox?after=1", b""),
            ("GET", "/v1/mailbox?after=0", b"x"),
        ] {
            assert_eq!(
                proof.verify(m, p, b, 1000),
                Err(CryptoError::BadSignature.into())
            );
        }
    }

    #[test]
    fn stale_or_future_proofs_are_refused() {
        let proof = key().prove(&mut rand::rng(), "GET", "/", b"", 1000);
        assert_eq!(
            proof.verify("GET", "/", b"", 1000 + MAX_CLOCK_SKEW + 1),
            Err(CryptoError::Expired.into())
        );
        assert_eq!(
            proof.verify("GET", "/", b"", 1000 - MAX_CLOCK_SKEW - 1),
            Err(CryptoError::Expired.into())
        );
    }

    #[test]
    fn wire_round_trip_and_tamper() {
        let proof = key().prove(&mut rand::rng(), "GET", "/", b"", 1000);
        let bytes = proof.to_bytes();
        assert_eq!(AuthProof::from_bytes(&bytes).unwrap(), proof);
        let mut bad = bytes.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        let decoded = AuthProof::from_bytes(&bad).unwrap();
        assert!(decoded.verify("GET", "/", b"", 1000).is_err());
    }
}
