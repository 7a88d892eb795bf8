//! The one decoding path for untrusted bytes.
//!
//! Every top-level wire structure is `version byte || postcard(body)`. Decoding is strict:
//! an unknown version, truncation, trailing bytes or any encoding that postcard would not
//! produce itself (such as an over-long varint) is rejected, so decode-then-encode always
//! gives back the input. The fuzz targets hold us to that.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::DecodeError;

/// A versioned structure with one canonical encoding.
pub(crate) trait Wire: Serialize + DeserializeOwned {
    /// Name used in decode errors.
    const WHAT: &'static str;
    /// The version byte this build writes and accepts.
    const VERSION: u8;

    fn to_wire(&self) -> Vec<u8> {
        let mut out = vec![Self::VERSION];
        encode_into(self, &mut out);
        out
    }

    fn from_wire(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (&version, body) = bytes
            .split_first()
            .ok_or(DecodeError::Truncated { what: Self::WHAT })?;
        if version != Self::VERSION {
            return Err(DecodeError::UnknownVersion {
                what: Self::WHAT,
                got: version,
            });
        }
        decode_body(body, Self::WHAT)
    }
}

/// Appends the postcard encoding of `value` to `out`.
pub(crate) fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) {
    // Serializing our own derive types into a Vec cannot fail: no sequence has unknown length
    // and the writer grows as needed.
    #[allow(clippy::expect_used)]
    let taken = postcard::to_extend(value, core::mem::take(out)).expect("postcard into Vec");
    *out = taken;
}

/// Decodes exactly `bytes` as a `T`, rejecting trailing and non-canonical bytes.
pub(crate) fn decode_body<T: Serialize + DeserializeOwned>(
    bytes: &[u8],
    what: &'static str,
) -> Result<T, DecodeError> {
    let (value, rest) = postcard::take_from_bytes::<T>(bytes).map_err(|e| match e {
        postcard::Error::DeserializeUnexpectedEnd => DecodeError::Truncated { what },
        _ => DecodeError::Invalid { what },
    })?;
    if !rest.is_empty() {
        return Err(DecodeError::TrailingBytes { what });
    }
    // The re-encoding may hold secrets (stored session state): wipe it after the comparison.
    let mut again = zeroize::Zeroizing::new(Vec::with_capacity(bytes.len()));
    encode_into(&value, &mut again);
    if again.as_slice() != bytes {
        return Err(DecodeError::NonCanonical { what });
    }
    Ok(value)
}
