//! The primitives themselves, timed through their own crates (the same ones Missive links), so
//! each line of work can be set against what its design cannot avoid.

use std::hint::black_box;
use std::time::Duration;

use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce, Tag};
use ed25519_dalek::{Signer, SigningKey};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use x25519_dalek::{PublicKey, StaticSecret};

use crate::timer::median;

/// Medians of the primitive operations.
#[derive(Clone, Copy, Debug)]
pub struct Floors {
    /// One X25519 agreement.
    pub dh: Duration,
    /// One X25519 public key from its secret (the key-generation cost).
    pub keygen: Duration,
    /// One Ed25519 signature over 128 bytes.
    pub sign: Duration,
    /// One strict Ed25519 verification over 128 bytes.
    pub verify: Duration,
    /// One ChaCha20-Poly1305 seal of 1 KiB.
    pub seal: Duration,
    /// One ChaCha20-Poly1305 seal of 256 bytes (a key distribution).
    pub seal_256: Duration,
    /// One ChaCha20-Poly1305 open of 1 KiB.
    pub open: Duration,
    /// One HKDF-SHA256 step: Expand of 32 bytes from a pseudorandom key.
    pub hkdf: Duration,
    /// SHA-256 over 1 KiB.
    pub sha256_kib: Duration,
    /// One step of a Missive chain: HKDF-Expand of 72 bytes with a 68-byte info (PROTOCOL §6.3).
    pub chain_step: Duration,
    /// Parsing an Ed25519 public key (point decompression).
    pub key_parse: Duration,
}

pub fn measure() -> Floors {
    let a = StaticSecret::from([1u8; 32]);
    let b = PublicKey::from(&StaticSecret::from([2u8; 32]));
    let signing = SigningKey::from_bytes(&[3u8; 32]);
    let small = [5u8; 128];
    let sig = signing.sign(&small);
    let verifying = signing.verifying_key();
    let aead = ChaCha20Poly1305::new(&[4u8; 32].into());
    let nonce = Nonce::from([0u8; 12]);
    let mut buf = vec![6u8; 1024];
    let tag = aead
        .encrypt_inout_detached(&nonce, b"ad", buf.as_mut_slice().into())
        .unwrap();
    let sealed = buf.clone();
    let prk = [7u8; 32];
    Floors {
        dh: median(|| {
            black_box(black_box(&a).diffie_hellman(&b));
        }),
        keygen: median(|| {
            black_box(PublicKey::from(black_box(&a)));
        }),
        sign: median(|| {
            black_box(signing.sign(black_box(&small)));
        }),
        verify: median(|| verifying.verify_strict(black_box(&small), &sig).unwrap()),
        seal: median(|| {
            let mut m = [6u8; 1024];
            black_box(
                aead.encrypt_inout_detached(&nonce, b"ad", m.as_mut_slice().into())
                    .unwrap(),
            );
        }),
        seal_256: median(|| {
            let mut m = [6u8; 256];
            black_box(
                aead.encrypt_inout_detached(&nonce, b"ad", m.as_mut_slice().into())
                    .unwrap(),
            );
        }),
        open: median(|| {
            let mut m: [u8; 1024] = sealed.as_slice().try_into().unwrap();
            let t = Tag::from(tag);
            aead.decrypt_inout_detached(&nonce, b"ad", m.as_mut_slice().into(), &t)
                .unwrap();
            black_box(m);
        }),
        hkdf: median(|| {
            let mut out = [0u8; 32];
            Hkdf::<Sha256>::from_prk(black_box(&prk))
                .unwrap()
                .expand(b"missive/v1/chain step info......", &mut out)
                .unwrap();
            black_box(out);
        }),
        sha256_kib: median(|| {
            black_box(Sha256::digest(black_box(&buf)));
        }),
        chain_step: median(|| {
            let mut out = [0u8; 72];
            Hkdf::<Sha256>::from_prk(black_box(&prk))
                .unwrap()
                .expand(&[9u8; 68], &mut out)
                .unwrap();
            black_box(out);
        }),
        key_parse: median(|| {
            black_box(
                ed25519_dalek::VerifyingKey::from_bytes(black_box(verifying.as_bytes())).unwrap(),
            );
        }),
    }
}
