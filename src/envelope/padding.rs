//! Padding of every plaintext before encryption (PROTOCOL.md §7.3).
//!
//! `pad(body) = body || 0x80 || 0x00…` up to `bucket(len(body) + 1)`, where a bucket is at least
//! [`MIN_BUCKET`] bytes and above that the Padmé length of the input (Nikitin et al., PETS 2019):
//! short chat messages, most of the traffic, all look alike, and a longer one leaks at most
//! O(log log n) bits of its length for at most 12 % overhead.

use crate::error::{DecodeError, UsageError};

/// The smallest padded size: every body of up to 255 bytes pads to 256.
pub const MIN_BUCKET: usize = 256;
/// The largest body a message carries (1 MiB); attachments travel elsewhere.
pub const MAX_BODY: usize = 1 << 20;

const WHAT: &str = "padding";

/// The padded length of a body of `len` bytes.
pub fn bucket(len: usize) -> usize {
    padme(len + 1).max(MIN_BUCKET)
}

/// Padmé: keep the top `floor(log2 e) + 1` bits of `n`, where `e = floor(log2 n)`; round up.
fn padme(n: usize) -> usize {
    if n < 2 {
        return n;
    }
    let e = usize::BITS - 1 - n.leading_zeros();
    let s = u32::BITS - e.leading_zeros();
    let mask = (1usize << (e - s)) - 1;
    (n + mask) & !mask
}

/// Appends `body`, padded, to `out`.
pub(crate) fn pad_into(body: &[u8], out: &mut Vec<u8>) -> Result<(), UsageError> {
    if body.len() > MAX_BODY {
        return Err(UsageError::TooLarge {
            what: "message body",
        });
    }
    let total = bucket(body.len());
    out.reserve(total);
    out.extend_from_slice(body);
    out.push(0x80);
    out.resize(out.len() + total - body.len() - 1, 0);
    Ok(())
}

/// The body inside `padded`, which must be exactly `bucket(len(body))` long and end
/// `0x80 0x00…`. Runs after authentication, so it need not be constant time.
pub(crate) fn unpad(padded: &[u8]) -> Result<&[u8], DecodeError> {
    let end = padded
        .iter()
        .rposition(|&b| b != 0)
        .ok_or(DecodeError::Invalid { what: WHAT })?;
    if padded[end] != 0x80 || bucket(end) != padded.len() {
        return Err(DecodeError::Invalid { what: WHAT });
    }
    Ok(&padded[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets() {
        assert_eq!(bucket(0), 256);
        assert_eq!(bucket(255), 256);
        assert_eq!(bucket(256), 272);
        assert_eq!(bucket(1024), 1088);
        assert_eq!(padme(1_000_000), 1_015_808);
        for n in 2..100_000 {
            let p = padme(n);
            assert!(p >= n && (p - n) * 100 <= n * 12, "{n} -> {p}");
        }
    }

    #[test]
    fn round_trip_and_rejects() {
        for len in [0, 1, 254, 255, 256, 1000, 5000] {
            let body = vec![0xa5; len];
            let mut out = Vec::new();
            pad_into(&body, &mut out).unwrap();
            assert_eq!(out.len(), bucket(len));
            assert_eq!(unpad(&out).unwrap(), &body[..]);
            let mut longer = out.clone();
            longer.push(0);
            assert!(unpad(&longer).is_err());
        }
        assert!(unpad(&[0; 256]).is_err());
        let mut bad = vec![0u8; 256];
        bad[10] = 0x81;
        assert!(unpad(&bad).is_err());
        assert!(pad_into(&vec![0; MAX_BODY + 1], &mut Vec::new()).is_err());
    }
}
