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
        let mut out = Vec::with_capacity(1 + encoded_len(self));
        out.push(Self::VERSION);
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
    // Sized first, so the writer never reallocates: postcard writes most fields a byte at a
    // time, and every reallocation would copy (and free unwiped) what was written so far.
    out.reserve(encoded_len(value));
    // Serializing our own derive types into a Vec cannot fail: no sequence has unknown length
    // and the writer grows as needed.
    #[allow(clippy::expect_used)]
    let taken = postcard::to_extend(value, core::mem::take(out)).expect("postcard into Vec");
    *out = taken;
}

/// The length of `value`'s postcard encoding (0 if it cannot be encoded; then nothing is
/// reserved and the encoder reports the error).
fn encoded_len<T: Serialize + ?Sized>(value: &T) -> usize {
    postcard::serialize_with_flavor(value, Count(0)).unwrap_or(0)
}

/// A postcard output that only counts bytes.
struct Count(usize);

impl postcard::ser_flavors::Flavor for Count {
    type Output = usize;

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.0 += data.len();
        Ok(())
    }

    fn try_push(&mut self, _: u8) -> postcard::Result<()> {
        self.0 += 1;
        Ok(())
    }

    fn finalize(self) -> postcard::Result<usize> {
        Ok(self.0)
    }
}

/// Decodes exactly `bytes` as a `T`, rejecting trailing bytes but not a non-canonical order.
/// Only for reading, once, formats written before they had one canonical encoding; whatever
/// is read this way is written back canonically.
pub(crate) fn decode_lenient<T: DeserializeOwned>(
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
    Ok(value)
}

/// Decodes exactly `bytes` as a `T`, rejecting trailing and non-canonical bytes.
pub(crate) fn decode_body<T: Serialize + DeserializeOwned>(
    bytes: &[u8],
    what: &'static str,
) -> Result<T, DecodeError> {
    let value: T = decode_lenient(bytes, what)?;
    // Re-encode, comparing as we go: no copy of the input (which may hold secrets, or a whole
    // ciphertext) is made.
    let same = postcard::serialize_with_flavor(&value, SameAs { expected: bytes })
        .is_ok_and(|rest| rest.is_empty());
    if !same {
        return Err(DecodeError::NonCanonical { what });
    }
    Ok(value)
}

/// A postcard output that writes nothing: it checks each byte against `expected` and fails at
/// the first difference, or when the encoding is longer.
struct SameAs<'a> {
    expected: &'a [u8],
}

impl<'a> postcard::ser_flavors::Flavor for SameAs<'a> {
    /// What is left of `expected` after the encoding (empty when they are equal).
    type Output = &'a [u8];

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        match self.expected.split_at_checked(data.len()) {
            Some((head, tail)) if head == data => {
                self.expected = tail;
                Ok(())
            }
            _ => Err(postcard::Error::SerializeBufferFull),
        }
    }

    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        match self.expected.split_first() {
            Some((&head, tail)) if head == data => {
                self.expected = tail;
                Ok(())
            }
            _ => Err(postcard::Error::SerializeBufferFull),
        }
    }

    fn finalize(self) -> postcard::Result<Self::Output> {
        Ok(self.expected)
    }
}
