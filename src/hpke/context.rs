//! RFC 9180 §5.2 and §5.3: encryption contexts with sequence numbers, and the secret exporter.
//!
//! ```text
//! def ComputeNonce(seq):
//!   seq_bytes = I2OSP(seq, Nn)
//!   return xor(self.base_nonce, seq_bytes)
//!
//! def Context.Export(exporter_context, L):
//!   return LabeledExpand(self.exporter_secret, "sec", exporter_context, L)
//! ```
//!
//! The sequence number is a `u64`, as RFC 9180 §5.2 allows ("shorter than the nonce length,
//! padding on the left with zero"), so the nonce is `base_nonce XOR (0^32 || u64_be(seq))`.
//! Each of the 2^64 values is used at most once; after the last one the context is exhausted
//! and every further `seal`/`open` fails with [`UsageError::MessageLimitReached`], forever.

use zeroize::Zeroizing;

use super::key_schedule::KeySchedule;
use super::labeled::{self, MAX_EXPAND_LEN};
use crate::crypto::aead::{AeadKey, NONCE_LEN};
use crate::crypto::kdf::PRK_LEN;
use crate::error::{Error, UsageError};

/// The AEAD half of a context: key, base nonce and the next sequence number.
struct AeadState {
    key: AeadKey,
    base_nonce: Zeroizing<[u8; NONCE_LEN]>,
    /// The next sequence number; `None` once all 2^64 have been used. Not secret.
    seq: Option<u64>,
}

impl AeadState {
    fn from_schedule(schedule: &KeySchedule) -> Self {
        Self {
            key: AeadKey::new(&schedule.key()),
            base_nonce: schedule.base_nonce(),
            seq: Some(0),
        }
    }

    /// `ComputeNonce(seq)` for the current sequence number.
    fn nonce(&self) -> Result<[u8; NONCE_LEN], UsageError> {
        let seq = self.seq.ok_or(UsageError::MessageLimitReached)?;
        let mut nonce = *self.base_nonce;
        for (n, s) in nonce[NONCE_LEN - 8..].iter_mut().zip(seq.to_be_bytes()) {
            *n ^= s;
        }
        Ok(nonce)
    }

    /// `IncrementSeq`: the counter never wraps; past `u64::MAX` it is exhausted for good.
    fn advance(&mut self) {
        self.seq = self.seq.and_then(|s| s.checked_add(1));
    }
}

/// The exporter half of a context.
struct Exporter {
    suite_id: [u8; 10],
    secret: Zeroizing<[u8; PRK_LEN]>,
}

impl Exporter {
    fn from_schedule(schedule: &KeySchedule) -> Self {
        Self {
            suite_id: schedule.suite_id(),
            secret: schedule.exporter_secret(),
        }
    }

    fn export(&self, exporter_context: &[u8], len: usize) -> Result<Zeroizing<Vec<u8>>, Error> {
        if len > MAX_EXPAND_LEN {
            return Err(UsageError::OutputTooLong.into());
        }
        let mut out = Zeroizing::new(vec![0u8; len]);
        labeled::expand(
            &self.suite_id,
            &self.secret,
            b"sec",
            &[exporter_context],
            &mut out,
        )?;
        Ok(out)
    }
}

/// Docs shared by the three `export` methods.
macro_rules! export_doc {
    () => {
        "`Export(exporter_context, len)`: `len` bytes of secret derived from this context and \
         `exporter_context`. Both sides of a context get the same bytes; different \
         `exporter_context`s give independent secrets.\n\n\
         # Errors\n[`UsageError::OutputTooLong`] if `len` exceeds 255 × 32 = 8160 bytes."
    };
}

/// The sender's side of an HPKE context: seals messages in order, and exports secrets.
///
/// Made by [`setup_sender`](super::setup_sender). Sequence numbers start at 0 and increase
/// by one per [`seal`](Self::seal); the receiver must open the ciphertexts in the same order.
pub struct SenderContext {
    aead: AeadState,
    exporter: Exporter,
}

impl SenderContext {
    pub(crate) fn from_schedule(schedule: &KeySchedule) -> Self {
        Self {
            aead: AeadState::from_schedule(schedule),
            exporter: Exporter::from_schedule(schedule),
        }
    }

    /// Encrypts `plaintext` with `aad` under the next sequence number.
    ///
    /// # Errors
    /// [`UsageError::MessageLimitReached`] once 2^64 messages have been sealed.
    pub fn seal(&mut self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, Error> {
        let nonce = self.aead.nonce()?;
        let ct = self.aead.key.seal(&nonce, aad, plaintext);
        self.aead.advance();
        Ok(ct)
    }

    /// Like [`seal`](Self::seal), in place: `buf` holds the plaintext and receives the
    /// ciphertext and tag. On error `buf` is unchanged.
    ///
    /// # Errors
    /// [`UsageError::MessageLimitReached`] once 2^64 messages have been sealed.
    pub fn seal_in_place(&mut self, aad: &[u8], buf: &mut Vec<u8>) -> Result<(), Error> {
        let nonce = self.aead.nonce()?;
        self.aead.key.seal_in_place(&nonce, aad, buf);
        self.aead.advance();
        Ok(())
    }

    #[doc = export_doc!()]
    pub fn export(&self, exporter_context: &[u8], len: usize) -> Result<Zeroizing<Vec<u8>>, Error> {
        self.exporter.export(exporter_context, len)
    }
}

/// The recipient's side of an HPKE context: opens messages in order, and exports secrets.
///
/// Made by [`setup_receiver`](super::setup_receiver).
///
/// **A failed [`open`](Self::open) changes nothing**: the sequence number advances only when a
/// ciphertext authenticates. RFC 9180 §5.2 leaves this to the receiver; we choose it so that a
/// forged or corrupted message injected into the stream cannot desynchronise the context, and
/// the genuine message with that sequence number still opens afterwards.
pub struct ReceiverContext {
    aead: AeadState,
    exporter: Exporter,
}

impl ReceiverContext {
    pub(crate) fn from_schedule(schedule: &KeySchedule) -> Self {
        Self {
            aead: AeadState::from_schedule(schedule),
            exporter: Exporter::from_schedule(schedule),
        }
    }

    /// Decrypts the next ciphertext (ciphertext then 16-byte tag) with `aad`.
    ///
    /// # Errors
    /// [`CryptoError::DecryptionFailed`](crate::CryptoError::DecryptionFailed) if it does not
    /// authenticate (the context is unchanged);
    /// [`UsageError::MessageLimitReached`] once 2^64 messages have been opened.
    pub fn open(&mut self, aad: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, Error> {
        let nonce = self.aead.nonce()?;
        let pt = self.aead.key.open(&nonce, aad, ciphertext)?;
        self.aead.advance();
        Ok(pt)
    }

    /// Like [`open`](Self::open), in place: `buf` holds the ciphertext and receives the
    /// plaintext. On error both `buf` and the context are unchanged.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn open_in_place(&mut self, aad: &[u8], buf: &mut Vec<u8>) -> Result<(), Error> {
        let nonce = self.aead.nonce()?;
        self.aead.key.open_in_place(&nonce, aad, buf)?;
        self.aead.advance();
        Ok(())
    }

    #[doc = export_doc!()]
    pub fn export(&self, exporter_context: &[u8], len: usize) -> Result<Zeroizing<Vec<u8>>, Error> {
        self.exporter.export(exporter_context, len)
    }
}

/// A context of the export-only AEAD (`aead_id` 0xFFFF, RFC 9180 §5.3): it derives shared
/// secrets and nothing else. Both sides get the same type, made by
/// [`setup_sender_export_only`](super::setup_sender_export_only) and
/// [`setup_receiver_export_only`](super::setup_receiver_export_only).
///
/// It is a separate type, rather than a context whose `seal`/`open` return
/// [`UsageError::ExportOnly`] at run time, so that encrypting with a context that has no AEAD
/// key does not compile:
///
/// ```compile_fail
/// # use missive::hpke;
/// # let mut rng = rand::rng();
/// # let kp = hpke::KeyPair::generate(&mut rng);
/// let (_enc, mut ctx) =
///     hpke::setup_sender_export_only(&mut rng, hpke::SenderMode::Base, kp.public_key(), b"")?;
/// ctx.seal(b"aad", b"no AEAD here"); // error: no method named `seal`
/// # Ok::<(), missive::Error>(())
/// ```
pub struct ExportOnlyContext {
    exporter: Exporter,
}

impl ExportOnlyContext {
    pub(crate) fn from_schedule(schedule: &KeySchedule) -> Self {
        Self {
            exporter: Exporter::from_schedule(schedule),
        }
    }

    #[doc = export_doc!()]
    pub fn export(&self, exporter_context: &[u8], len: usize) -> Result<Zeroizing<Vec<u8>>, Error> {
        self.exporter.export(exporter_context, len)
    }
}

impl core::fmt::Debug for SenderContext {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SenderContext")
            .field("seq", &self.aead.seq)
            .finish_non_exhaustive()
    }
}

impl core::fmt::Debug for ReceiverContext {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ReceiverContext")
            .field("seq", &self.aead.seq)
            .finish_non_exhaustive()
    }
}

impl core::fmt::Debug for ExportOnlyContext {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ExportOnlyContext").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::super::kem::SharedSecret;
    use super::super::mode::ScheduleInputs;
    use super::*;
    use crate::error::CryptoError;

    fn pair() -> (SenderContext, ReceiverContext) {
        let inputs = ScheduleInputs { mode: 0, psk: None };
        let schedule = KeySchedule::new(&inputs, &SharedSecret::new([5; 32]), b"info", (0x20, 3));
        (
            SenderContext::from_schedule(&schedule),
            ReceiverContext::from_schedule(&schedule),
        )
    }

    const LIMIT: Error = Error::Usage(UsageError::MessageLimitReached);

    #[test]
    fn nonce_is_base_nonce_xor_big_endian_seq() {
        let (mut s, _) = pair();
        let base = *s.aead.base_nonce;
        s.aead.seq = Some(0x0102_0304_0506_0708);
        let nonce = s.aead.nonce().unwrap();
        assert_eq!(nonce[..4], base[..4]);
        let tail: Vec<u8> = base[4..].iter().zip(1u8..=8).map(|(b, s)| b ^ s).collect();
        assert_eq!(nonce[4..], tail[..]);
    }

    #[test]
    fn sender_counter_stops_at_its_limit_for_good() {
        let (mut s, mut r) = pair();
        s.aead.seq = Some(u64::MAX - 1);
        r.aead.seq = Some(u64::MAX - 1);
        for _ in 0..2 {
            let ct = s.seal(b"", b"m").unwrap();
            assert_eq!(r.open(b"", &ct).unwrap(), b"m");
        }
        assert_eq!(s.aead.seq, None);
        for _ in 0..3 {
            assert_eq!(s.seal(b"", b"m"), Err(LIMIT));
            let mut buf = b"m".to_vec();
            assert_eq!(s.seal_in_place(b"", &mut buf), Err(LIMIT));
            assert_eq!(buf, b"m");
        }
        // Export still works: it has no counter.
        assert_eq!(s.export(b"x", 8).unwrap(), r.export(b"x", 8).unwrap());
    }

    #[test]
    fn receiver_counter_stops_at_its_limit_for_good() {
        let (mut s, mut r) = pair();
        s.aead.seq = Some(u64::MAX);
        r.aead.seq = Some(u64::MAX);
        let last = s.seal(b"", b"last").unwrap();
        assert_eq!(r.open(b"", &last).unwrap(), b"last");
        for _ in 0..3 {
            assert_eq!(r.open(b"", &last), Err(LIMIT));
            let mut buf = last.clone();
            assert_eq!(r.open_in_place(b"", &mut buf), Err(LIMIT));
            assert_eq!(buf, last);
        }
    }

    #[test]
    fn failed_open_leaves_the_receiver_unchanged() {
        let (mut s, mut r) = pair();
        let c0 = s.seal(b"a", b"zero").unwrap();
        let c1 = s.seal(b"a", b"one").unwrap();
        let mut bad = c0.clone();
        bad[0] ^= 1;
        let failed = Error::Crypto(CryptoError::DecryptionFailed);
        assert_eq!(r.open(b"a", &bad), Err(failed));
        assert_eq!(r.open(b"a", &c1), Err(failed)); // out of order
        assert_eq!(r.open(b"b", &c0), Err(failed)); // wrong aad
        let mut buf = bad.clone();
        assert_eq!(r.open_in_place(b"a", &mut buf), Err(failed));
        assert_eq!(buf, bad);
        assert_eq!(r.aead.seq, Some(0));
        assert_eq!(r.open(b"a", &c0).unwrap(), b"zero");
        assert_eq!(r.open(b"a", &c1).unwrap(), b"one");
    }

    #[test]
    fn in_place_matches_allocating() {
        let (mut s1, mut r) = pair();
        let (mut s2, _) = pair();
        let mut buf = b"hello".to_vec();
        s1.seal_in_place(b"aad", &mut buf).unwrap();
        assert_eq!(buf, s2.seal(b"aad", b"hello").unwrap());
        r.open_in_place(b"aad", &mut buf).unwrap();
        assert_eq!(buf, b"hello");
    }

    #[test]
    fn export_length_limit() {
        let (s, _) = pair();
        assert_eq!(s.export(b"", MAX_EXPAND_LEN).unwrap().len(), 8160);
        assert_eq!(s.export(b"", 0).unwrap().len(), 0);
        assert_eq!(
            s.export(b"", MAX_EXPAND_LEN + 1),
            Err(Error::Usage(UsageError::OutputTooLong))
        );
        assert_eq!(
            s.export(b"", usize::MAX),
            Err(Error::Usage(UsageError::OutputTooLong))
        );
    }

    #[test]
    fn debug_shows_only_the_counter() {
        let (s, r) = pair();
        assert_eq!(format!("{s:?}"), "SenderContext { seq: Some(0), .. }");
        assert_eq!(format!("{r:?}"), "ReceiverContext { seq: Some(0), .. }");
    }
}
