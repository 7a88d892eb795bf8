//! The Double Ratchet's key derivation functions (KDF_RK and KDF_CK) and its three kinds of
//! symmetric key. PROTOCOL.md §5.4–5.5.

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::crypto::aead::{AeadKey, NONCE_LEN};
use crate::crypto::kdf;
use crate::crypto::x25519::SharedSecret;
use crate::error::CryptoError;

/// `info` of KDF_RK.
pub(crate) const ROOT_LABEL: &[u8] = b"missive/session/v1/root";
/// `info` of KDF_RK at a step that also takes in a post-quantum shared secret.
pub(crate) const HYBRID_ROOT_LABEL: &[u8] = b"missive/session/v3/root+kem";
/// `info` of KDF_CK.
pub(crate) const CHAIN_LABEL: &[u8] = b"missive/session/v1/chain";
/// Every message key encrypts exactly one message, so a fixed nonce never repeats under a key.
const NONCE: [u8; NONCE_LEN] = [0; NONCE_LEN];

/// RK: the root key. The PQXDH output is the first one.
#[derive(Clone, Zeroize, ZeroizeOnDrop, Serialize, Deserialize)]
pub(crate) struct RootKey(pub(crate) [u8; 32]);

/// CK: a sending or receiving chain key.
#[derive(Clone, Zeroize, ZeroizeOnDrop, Serialize, Deserialize)]
pub(crate) struct ChainKey(pub(crate) [u8; 32]);

/// MK: the key of exactly one message.
#[derive(Clone, Zeroize, ZeroizeOnDrop, Serialize, Deserialize)]
pub(crate) struct MessageKey(pub(crate) [u8; 32]);

/// Splits 64 bytes of key material into two 32-byte keys, written straight into the key
/// types so no unzeroized copy is left behind.
fn halves<A, B>(okm: &[u8; 64], a: fn([u8; 32]) -> A, b: fn([u8; 32]) -> B) -> (A, B)
where
    A: AsMut<[u8; 32]>,
    B: AsMut<[u8; 32]>,
{
    let (mut first, mut second) = (a([0; 32]), b([0; 32]));
    first.as_mut().copy_from_slice(&okm[..32]);
    second.as_mut().copy_from_slice(&okm[32..]);
    (first, second)
}

macro_rules! as_mut_key {
    ($($t:ident),*) => {$(
        impl AsMut<[u8; 32]> for $t {
            fn as_mut(&mut self) -> &mut [u8; 32] {
                &mut self.0
            }
        }
    )*};
}
as_mut_key!(RootKey, ChainKey, MessageKey);

impl RootKey {
    /// KDF_RK(RK, dh_out) = HKDF(salt = RK, ikm = dh_out, info = ROOT_LABEL, L = 64),
    /// split into (RK', CK).
    pub(crate) fn step(&self, dh_out: &SharedSecret) -> (RootKey, ChainKey) {
        let prk = kdf::extract(&self.0, dh_out.as_bytes());
        let okm = kdf::expand_array::<64>(&prk, &[ROOT_LABEL]);
        halves(&okm, RootKey, ChainKey)
    }

    /// KDF_RK at a post-quantum step: HKDF(salt = RK, ikm = dh_out || kem_out,
    /// info = HYBRID_ROOT_LABEL, L = 64), split into (RK', CK). The new root is secret if
    /// either input is.
    pub(crate) fn step_hybrid(
        &self,
        dh_out: &SharedSecret,
        kem_out: &[u8; 32],
    ) -> (RootKey, ChainKey) {
        let prk = kdf::extract_multi(&self.0, &[dh_out.as_bytes(), kem_out]);
        let okm = kdf::expand_array::<64>(&prk, &[HYBRID_ROOT_LABEL]);
        halves(&okm, RootKey, ChainKey)
    }
}

impl ChainKey {
    /// KDF_CK(CK) = HKDF-Expand(prk = CK, info = CHAIN_LABEL, L = 64), split into (CK', MK).
    pub(crate) fn step(&self) -> (ChainKey, MessageKey) {
        let okm = kdf::expand_array::<64>(&self.0, &[CHAIN_LABEL]);
        halves(&okm, ChainKey, MessageKey)
    }
}

impl MessageKey {
    /// Encrypts `buf` in place under this key (nonce all zero), appending the tag.
    pub(crate) fn seal(&self, aad: &[u8], buf: &mut Vec<u8>) {
        AeadKey::new(&self.0).seal_in_place(&NONCE, aad, buf);
    }

    /// Decrypts `buf` in place; on failure `buf` is unchanged.
    pub(crate) fn open(&self, aad: &[u8], buf: &mut Vec<u8>) -> Result<(), CryptoError> {
        AeadKey::new(&self.0).open_in_place(&NONCE, aad, buf)
    }
}
