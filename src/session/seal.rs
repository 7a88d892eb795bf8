//! A session's sealing keys (PROTOCOL.md §9.2): once both sides hold a session, the sealed
//! layer of a message between them is keyed from the set-up secret, so who sent it stays
//! hidden from an adversary who later breaks X25519, without an X-Wing encapsulation (1,120
//! bytes) on every message.
//!
//! ```text
//! SEAL               = HKDF-Expand(PRK, SEAL_LABEL || AD, 32)        (PRK: PQXDH's extract)
//! label_d || key_d   = HKDF-Expand(SEAL, "missive/session/v4/seal-keys" || d, 8 + 32)
//!                      (d = 0x01 for what the initiator sends, 0x02 for the responder)
//! k                  = HKDF-Expand(key_d, "missive/session/v4/seal-message" || enc, 32)
//! inner              = ChaCha20-Poly1305(k, 0^12, aad, plaintext)
//! ```
//!
//! `enc` is the outer HPKE layer's fresh encapsulation, so `k` is new for every message.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::crypto::aead::{AeadKey, NONCE_LEN};
use crate::crypto::kdf;
use crate::error::CryptoError;

/// Domain-separation label of the sealing secret, beside PQXDH's own.
pub(crate) const SEAL_LABEL: &[u8] = b"missive/session/v4/seal";
const KEYS_LABEL: &[u8] = b"missive/session/v4/seal-keys";
const MESSAGE_LABEL: &[u8] = b"missive/session/v4/seal-message";
/// Length of the label a sealed message carries inside its outer layer.
pub const SEAL_LABEL_LEN: usize = 8;

/// The sealing secret both sides derive at set-up.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct SealSecret(pub(crate) [u8; 32]);

impl Serialize for SealSecret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for SealSecret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        super::state::from_secret_bytes(deserializer, |b| Self(*b))
    }
}

/// The keys of one direction of a session's sealed layer: the label the receiver finds the
/// session by, and the key of every message's inner seal.
pub struct SealKeys {
    label: [u8; SEAL_LABEL_LEN],
    key: Zeroizing<[u8; 32]>,
}

impl SealSecret {
    /// The keys of messages sent by the initiator (`true`) or by the responder.
    pub(crate) fn keys(&self, from_initiator: bool) -> SealKeys {
        let direction = [if from_initiator { 0x01 } else { 0x02 }];
        let out = kdf::expand_array::<{ SEAL_LABEL_LEN + 32 }>(&self.0, &[KEYS_LABEL, &direction]);
        let mut label = [0u8; SEAL_LABEL_LEN];
        label.copy_from_slice(&out[..SEAL_LABEL_LEN]);
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&out[SEAL_LABEL_LEN..]);
        SealKeys { label, key }
    }
}

impl SealKeys {
    /// The label: the same for every message of this direction of the session.
    pub fn label(&self) -> &[u8; SEAL_LABEL_LEN] {
        &self.label
    }

    /// `key_d`, for vectors.
    #[cfg(feature = "vectors")]
    pub(crate) fn key_bytes(&self) -> &[u8; 32] {
        &self.key
    }

    /// `k` for the message whose outer encapsulation is `enc`, for vectors.
    #[cfg(feature = "vectors")]
    pub(crate) fn message_key_bytes(&self, enc: &[u8]) -> Zeroizing<[u8; 32]> {
        kdf::expand_array::<32>(&self.key, &[MESSAGE_LABEL, enc])
    }

    fn message_key(&self, enc: &[u8]) -> AeadKey {
        AeadKey::new(&kdf::expand_array::<32>(&self.key, &[MESSAGE_LABEL, enc]))
    }

    /// The inner seal of `plaintext` for the message whose outer encapsulation is `enc`.
    pub fn seal(&self, enc: &[u8], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        self.message_key(enc)
            .seal(&[0u8; NONCE_LEN], aad, plaintext)
    }

    /// Opens what [`SealKeys::seal`] made.
    ///
    /// # Errors
    /// [`CryptoError::DecryptionFailed`] if anything differs.
    pub fn open(&self, enc: &[u8], aad: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.message_key(enc)
            .open(&[0u8; NONCE_LEN], aad, ciphertext)
    }
}

impl core::fmt::Debug for SealKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SealKeys").finish_non_exhaustive()
    }
}
