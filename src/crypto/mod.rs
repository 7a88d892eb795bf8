//! Thin, typed wrappers over the primitives we build on. Nothing here is hand-written
//! cryptography: each function forwards to a RustCrypto or dalek crate and adds the checks
//! the protocol needs (contributory DH, strict signatures, no silent truncation).

pub mod aead;
pub mod kdf;
pub mod mlkem;
pub mod sign;
pub mod x25519;
pub mod xwing;
