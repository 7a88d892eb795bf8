//! # Missive
//!
//! An end-to-end encrypted messaging engine. It does no I/O: you hand it bytes and it hands
//! you bytes. See `PROTOCOL.md` for the wire formats and the security argument.
//!
//! ```
//! use missive::hpke;
//! # fn main() -> Result<(), missive::Error> {
//! let mut rng = rand::rng();
//! let recipient = hpke::KeyPair::generate(&mut rng);
//! let (enc, ct) = hpke::seal_base(&mut rng, recipient.public_key(), b"info", b"aad", b"hello")?;
//! let pt = hpke::open_base(&enc, &recipient, b"info", b"aad", &ct)?;
//! assert_eq!(pt, b"hello");
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

// ---- Primitives and errors ----
pub mod crypto;
mod error;
pub use error::{CryptoError, DecodeError, DeviceError, Error, PolicyError, UsageError};

// ---- HPKE (RFC 9180) ----
pub mod hpke;

// ---- Identity ----
mod identity;
pub use identity::{FINGERPRINT_ITERATIONS, Fingerprint, Identity, PublicIdentity, SafetyNumber};

// ---- An account's devices: the signed list, and linking ----
pub mod device;

// ---- Pairwise sessions ----
pub mod session;

// ---- Conversations and what the relay sees ----
pub mod conversation;
pub mod envelope;

// ---- The client: sessions, conversations and sealed sender together (sans-IO) ----
pub mod client;

// ---- The platform's rules: tiers, InMail credits, advertisers ----
pub mod platform;

// ---- Mailboxes and relay authentication ----
pub mod access;
pub mod mailbox;
pub mod name;
pub mod relay_api;
pub mod token;

// ---- The relay's storage (feature `relay`) ----
#[cfg(feature = "relay")]
pub mod relay;

// ---- Our test vectors, written and checked by the engine (feature `vectors`) ----
#[cfg(feature = "vectors")]
pub mod vectors;

mod wire;
