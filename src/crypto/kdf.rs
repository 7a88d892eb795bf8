//! HKDF-SHA256 (RFC 5869).

use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::UsageError;

/// Length of a pseudorandom key (the SHA-256 output).
pub const PRK_LEN: usize = 32;

/// A pseudorandom key from HKDF-Extract. Zeroized on drop.
pub type Prk = Zeroizing<[u8; PRK_LEN]>;

/// HKDF-Extract(salt, ikm). An empty salt means 32 zero bytes, as RFC 5869 says.
pub fn extract(salt: &[u8], ikm: &[u8]) -> Prk {
    extract_multi(salt, &[ikm])
}

/// HKDF-Extract over the concatenation of `ikm_parts`, without building it.
pub fn extract_multi(salt: &[u8], ikm_parts: &[&[u8]]) -> Prk {
    let mut ctx = hkdf::HkdfExtract::<Sha256>::new(Some(salt));
    for part in ikm_parts {
        ctx.input_ikm(part);
    }
    let (prk, _) = ctx.finalize();
    let mut out = Zeroizing::new([0u8; PRK_LEN]);
    out.copy_from_slice(&prk);
    out
}

/// HKDF-Expand(prk, concatenation of `info_parts`, out.len()).
pub fn expand_multi(
    prk: &[u8; PRK_LEN],
    info_parts: &[&[u8]],
    out: &mut [u8],
) -> Result<(), UsageError> {
    let hk = Hkdf::<Sha256>::from_prk(prk).map_err(|_| UsageError::OutputTooLong)?;
    hk.expand_multi_info(info_parts, out)
        .map_err(|_| UsageError::OutputTooLong)
}

/// HKDF-Expand(prk, info, out.len()).
pub fn expand(prk: &[u8; PRK_LEN], info: &[u8], out: &mut [u8]) -> Result<(), UsageError> {
    expand_multi(prk, &[info], out)
}

/// A fixed-length expansion whose length is known to be valid (at most 255 × 32 bytes).
pub(crate) fn expand_array<const N: usize>(
    prk: &[u8; PRK_LEN],
    info_parts: &[&[u8]],
) -> Zeroizing<[u8; N]> {
    const { assert!(N <= 255 * PRK_LEN) };
    let mut out = Zeroizing::new([0u8; N]);
    // Cannot fail: N is checked at compile time and the PRK has the hash length.
    let _ = expand_multi(prk, info_parts, out.as_mut());
    out
}
