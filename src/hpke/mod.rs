//! HPKE (RFC 9180) for one suite: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305
//! (`kem_id` 0x0020, `kdf_id` 0x0001, `aead_id` 0x0003), plus the export-only AEAD (0xFFFF).
//!
//! Client apps use this directly to encrypt to a public key, for example to seal a lead-form
//! reply to an advertiser's published key. All four modes are supported; the mode is a typed
//! argument ([`SenderMode`], [`ReceiverMode`]) carrying exactly its inputs. `PROTOCOL.md` §3
//! gives every byte.
//!
//! * One message: [`seal`] / [`open`] (or [`seal_base`] / [`open_base`]).
//! * A stream of ordered messages under one `enc`: [`setup_sender`] gives a [`SenderContext`],
//!   [`setup_receiver`] a [`ReceiverContext`]; both [`export`](SenderContext::export) secrets.
//! * Shared secrets only: [`setup_sender_export_only`] / [`setup_receiver_export_only`] give an
//!   [`ExportOnlyContext`], which cannot encrypt at all.
//!
//! Opening reports only [`CryptoError::DecryptionFailed`](crate::CryptoError::DecryptionFailed),
//! whatever did not match. An all-zero X25519 result (a low-order `enc` or public key) is
//! [`CryptoError::NonContributory`](crate::CryptoError::NonContributory).
//!
//! # Single shot, base mode: an anonymous reply to an advertiser
//!
//! ```
//! use missive::hpke;
//! # fn main() -> Result<(), missive::Error> {
//! let mut rng = rand::rng();
//! let advertiser = hpke::KeyPair::generate(&mut rng); // its public key is published
//!
//! let info = b"lead-form v1 campaign 42";
//! let (enc, ct) = hpke::seal_base(&mut rng, advertiser.public_key(), info, b"", b"call me")?;
//! // send enc.to_bytes() and ct; the advertiser parses enc with Enc::from_bytes
//! let enc = hpke::Enc::from_bytes(&enc.to_bytes())?;
//! assert_eq!(hpke::open_base(&enc, &advertiser, info, b"", &ct)?, b"call me");
//! # Ok(()) }
//! ```
//!
//! # Single shot, auth mode: the recipient learns who sent it
//!
//! ```
//! use missive::hpke::{self, ReceiverMode, SenderMode};
//! # fn main() -> Result<(), missive::Error> {
//! let mut rng = rand::rng();
//! let alice = hpke::KeyPair::generate(&mut rng);
//! let bob = hpke::KeyPair::generate(&mut rng);
//!
//! let mode = SenderMode::Auth { sender: &alice };
//! let (enc, ct) = hpke::seal(&mut rng, mode, bob.public_key(), b"info", b"aad", b"hi Bob")?;
//!
//! let from_alice = ReceiverMode::Auth { sender: alice.public_key() };
//! assert_eq!(hpke::open(&enc, from_alice, &bob, b"info", b"aad", &ct)?, b"hi Bob");
//! // Claiming another sender fails.
//! let from_bob = ReceiverMode::Auth { sender: bob.public_key() };
//! assert!(hpke::open(&enc, from_bob, &bob, b"info", b"aad", &ct).is_err());
//! # Ok(()) }
//! ```
//!
//! # A context for several messages (here with a PSK)
//!
//! ```
//! use missive::hpke::{self, Psk, ReceiverMode, SenderMode};
//! # fn main() -> Result<(), missive::Error> {
//! let mut rng = rand::rng();
//! let bob = hpke::KeyPair::generate(&mut rng);
//! let psk = Psk::new(&[7; 32], b"our shared key")?;
//!
//! let (enc, mut sender) =
//!     hpke::setup_sender(&mut rng, SenderMode::Psk(psk), bob.public_key(), b"info")?;
//! let c0 = sender.seal(b"", b"first")?;
//! let c1 = sender.seal(b"", b"second")?;
//!
//! let mut receiver = hpke::setup_receiver(&enc, ReceiverMode::Psk(psk), &bob, b"info")?;
//! assert!(receiver.open(b"", &c1).is_err()); // out of order: refused, and nothing changes
//! assert_eq!(receiver.open(b"", &c0)?, b"first");
//! assert_eq!(receiver.open(b"", &c1)?, b"second");
//! # Ok(()) }
//! ```
//!
//! # Exporting a shared secret
//!
//! ```
//! use missive::hpke::{self, ReceiverMode, SenderMode};
//! # fn main() -> Result<(), missive::Error> {
//! let mut rng = rand::rng();
//! let bob = hpke::KeyPair::generate(&mut rng);
//!
//! let (enc, sender) =
//!     hpke::setup_sender_export_only(&mut rng, SenderMode::Base, bob.public_key(), b"info")?;
//! let receiver = hpke::setup_receiver_export_only(&enc, ReceiverMode::Base, &bob, b"info")?;
//! let key = sender.export(b"attachment key", 32)?;
//! assert_eq!(key, receiver.export(b"attachment key", 32)?);
//! assert_ne!(key, sender.export(b"another purpose", 32)?);
//! # Ok(()) }
//! ```

mod context;
mod kem;
mod key_schedule;
mod labeled;
mod mode;
mod setup;
mod single_shot;
pub mod xwing;

#[cfg(any(test, feature = "hazmat"))]
pub mod kat;

pub use crate::crypto::x25519::PublicKey;
pub use context::{ExportOnlyContext, ReceiverContext, SenderContext};
pub use kem::{Enc, KEY_LEN, KeyPair};
pub use mode::{Psk, ReceiverMode, SenderMode};
pub(crate) use setup::setup_sender_from;
pub use setup::{
    setup_receiver, setup_receiver_export_only, setup_sender, setup_sender_export_only,
};
pub use single_shot::{open, open_base, seal, seal_base};

/// `kem_id` of DHKEM(X25519, HKDF-SHA256).
pub const KEM_ID: u16 = 0x0020;
/// `kdf_id` of HKDF-SHA256.
pub const KDF_ID: u16 = 0x0001;
/// `aead_id` of ChaCha20-Poly1305.
pub const AEAD_ID: u16 = 0x0003;
/// `aead_id` of the export-only AEAD.
pub const EXPORT_ONLY_AEAD_ID: u16 = 0xFFFF;
/// The longest [`export`](SenderContext::export): 255 × 32 bytes.
pub const MAX_EXPORT_LEN: usize = labeled::MAX_EXPAND_LEN;

#[cfg(test)]
mod tests;
