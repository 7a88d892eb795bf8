//! RFC 9180 §4: `LabeledExtract` and `LabeledExpand`, and the two suite identifiers.
//!
//! ```text
//! def LabeledExtract(salt, label, ikm):
//!   labeled_ikm = concat("HPKE-v1", suite_id, label, ikm)
//!   return Extract(salt, labeled_ikm)
//!
//! def LabeledExpand(prk, label, info, L):
//!   labeled_info = concat(I2OSP(L, 2), "HPKE-v1", suite_id, label, info)
//!   return Expand(prk, labeled_info, L)
//! ```

use zeroize::Zeroizing;

use crate::crypto::kdf::{self, PRK_LEN, Prk};
use crate::error::UsageError;

/// The version label every labeled KDF input starts with.
const VERSION_LABEL: &[u8] = b"HPKE-v1";

/// The longest output `LabeledExpand` can produce: 255 blocks of SHA-256.
pub(crate) const MAX_EXPAND_LEN: usize = 255 * PRK_LEN;

/// `suite_id` inside the KEM: `"KEM" || I2OSP(kem_id, 2)`.
pub(crate) const KEM_SUITE_ID: [u8; 5] = *b"KEM\x00\x20";

/// `suite_id` for the key schedule and export:
/// `"HPKE" || I2OSP(kem_id, 2) || I2OSP(kdf_id, 2) || I2OSP(aead_id, 2)`.
pub(crate) const fn hpke_suite_id(kem_id: u16, aead_id: u16) -> [u8; 10] {
    let (kem, aead) = (kem_id.to_be_bytes(), aead_id.to_be_bytes());
    [
        b'H', b'P', b'K', b'E', kem[0], kem[1], 0x00, 0x01, aead[0], aead[1],
    ]
}

/// `LabeledExtract(salt, label, ikm)` where `ikm` is the concatenation of `ikm_parts`.
pub(crate) fn extract(suite_id: &[u8], salt: &[u8], label: &[u8], ikm_parts: &[&[u8]]) -> Prk {
    let mut parts: Vec<&[u8]> = Vec::with_capacity(3 + ikm_parts.len());
    parts.extend_from_slice(&[VERSION_LABEL, suite_id, label]);
    parts.extend_from_slice(ikm_parts);
    kdf::extract_multi(salt, &parts)
}

/// `LabeledExpand(prk, label, info, len(out))` into `out`, where `info` is the concatenation
/// of `info_parts`. Errors with [`UsageError::OutputTooLong`] above 255 × 32 bytes.
pub(crate) fn expand(
    suite_id: &[u8],
    prk: &[u8; PRK_LEN],
    label: &[u8],
    info_parts: &[&[u8]],
    out: &mut [u8],
) -> Result<(), UsageError> {
    let len = u16::try_from(out.len())
        .ok()
        .filter(|_| out.len() <= MAX_EXPAND_LEN)
        .ok_or(UsageError::OutputTooLong)?
        .to_be_bytes();
    let mut parts: Vec<&[u8]> = Vec::with_capacity(4 + info_parts.len());
    parts.extend_from_slice(&[&len, VERSION_LABEL, suite_id, label]);
    parts.extend_from_slice(info_parts);
    kdf::expand_multi(prk, &parts, out)
}

/// `LabeledExpand` to a fixed length `N`, known at compile time to be valid.
pub(crate) fn expand_array<const N: usize>(
    suite_id: &[u8],
    prk: &[u8; PRK_LEN],
    label: &[u8],
    info_parts: &[&[u8]],
) -> Zeroizing<[u8; N]> {
    const { assert!(N <= MAX_EXPAND_LEN) };
    #[allow(clippy::cast_possible_truncation)] // N <= 8160, checked at compile time above.
    let len = (N as u16).to_be_bytes();
    let mut parts: Vec<&[u8]> = Vec::with_capacity(4 + info_parts.len());
    parts.extend_from_slice(&[&len, VERSION_LABEL, suite_id, label]);
    parts.extend_from_slice(info_parts);
    kdf::expand_array(prk, &parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suite_ids_are_the_rfc_bytes() {
        assert_eq!(&KEM_SUITE_ID, b"KEM\x00\x20");
        assert_eq!(
            &hpke_suite_id(0x20, 0x0003),
            b"HPKE\x00\x20\x00\x01\x00\x03"
        );
        assert_eq!(
            &hpke_suite_id(0x20, 0xFFFF),
            b"HPKE\x00\x20\x00\x01\xff\xff"
        );
        assert_eq!(
            &hpke_suite_id(0x647a, 0x0003),
            b"HPKE\x64\x7a\x00\x01\x00\x03"
        );
    }

    #[test]
    fn expand_refuses_more_than_255_blocks() {
        let prk = [7u8; PRK_LEN];
        let mut ok = vec![0u8; MAX_EXPAND_LEN];
        assert_eq!(expand(b"s", &prk, b"l", &[], &mut ok), Ok(()));
        let mut long = vec![0u8; MAX_EXPAND_LEN + 1];
        assert_eq!(
            expand(b"s", &prk, b"l", &[], &mut long),
            Err(UsageError::OutputTooLong)
        );
    }

    #[test]
    fn expand_binds_the_length() {
        // I2OSP(L, 2) is part of the info, so a shorter output is not a prefix of a longer one.
        let prk = [7u8; PRK_LEN];
        let short: Zeroizing<[u8; 16]> = expand_array(b"s", &prk, b"l", &[]);
        let long: Zeroizing<[u8; 32]> = expand_array(b"s", &prk, b"l", &[]);
        assert_ne!(short[..], long[..16]);
    }
}
