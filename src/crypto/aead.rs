//! ChaCha20-Poly1305 (RFC 8439) over whole buffers, with a detail-free error.

use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce, Tag};

use crate::error::CryptoError;

/// Key length in bytes.
pub const KEY_LEN: usize = 32;
/// Nonce length in bytes.
pub const NONCE_LEN: usize = 12;
/// Tag length in bytes.
pub const TAG_LEN: usize = 16;

/// A ChaCha20-Poly1305 key, expanded once. The cipher zeroizes its key on drop.
#[derive(Clone)]
pub struct AeadKey(ChaCha20Poly1305);

impl AeadKey {
    /// The key from 32 bytes.
    pub fn new(key: &[u8; KEY_LEN]) -> Self {
        Self(ChaCha20Poly1305::new(key.into()))
    }

    /// Encrypts `buf` in place and appends the tag.
    pub fn seal_in_place(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], buf: &mut Vec<u8>) {
        let tag = self.encrypt_detached(nonce, aad, buf.as_mut_slice());
        buf.extend_from_slice(&tag);
    }

    /// `plaintext` encrypted, tag appended.
    pub fn seal(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut buf = Vec::with_capacity(plaintext.len() + TAG_LEN);
        buf.extend_from_slice(plaintext);
        self.seal_in_place(nonce, aad, &mut buf);
        buf
    }

    /// Verifies and decrypts `buf` (ciphertext then tag) in place, leaving the plaintext.
    /// On failure `buf` is left as it was.
    pub fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut Vec<u8>,
    ) -> Result<(), CryptoError> {
        let body_len = buf
            .len()
            .checked_sub(TAG_LEN)
            .ok_or(CryptoError::DecryptionFailed)?;
        let (body, tag) = buf.split_at_mut(body_len);
        let tag = Tag::try_from(&*tag).map_err(|_| CryptoError::DecryptionFailed)?;
        self.0
            .decrypt_inout_detached(&Nonce::from(*nonce), aad, body.into(), &tag)
            .map_err(|_| CryptoError::DecryptionFailed)?;
        buf.truncate(body_len);
        Ok(())
    }

    /// The plaintext of `ciphertext` (which ends with its tag).
    pub fn open(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let mut buf = ciphertext.to_vec();
        self.open_in_place(nonce, aad, &mut buf)?;
        Ok(buf)
    }

    fn encrypt_detached(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], buf: &mut [u8]) -> Tag {
        // The only failure is a message longer than 256 GiB, which no Vec on a client holds.
        #[allow(clippy::expect_used)]
        self.0
            .encrypt_inout_detached(&Nonce::from(*nonce), aad, buf.into())
            .expect("ChaCha20-Poly1305 input below 2^38 bytes")
    }
}

impl core::fmt::Debug for AeadKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("AeadKey(..)")
    }
}
