//! Item 1: HPKE single-shot seal and open of 1 KiB, base and auth modes, against rust-hpke
//! (same suite: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305).

use std::hint::black_box;

use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Kem, OpModeR, OpModeS};
use missive::hpke::{self as mhpke, KeyPair, ReceiverMode, SenderMode};

use crate::KIB;
use crate::floors::Floors;
use crate::table::{Figure::Time, Line, Row};
use crate::timer::median;

pub fn run(f: &Floors, out: &mut Vec<Line>) {
    out.push(Line::Section("1. HPKE single shot, 1 KiB (vs rust-hpke)"));
    let (info, aad) = (b"peers info".as_slice(), b"peers aad".as_slice());
    let rng = &mut rand::rng();
    let (bob, alice) = (KeyPair::generate(rng), KeyPair::generate(rng));
    let rng9 = &mut rand_09::rng();
    let (bob_sk, bob_pk) = X25519HkdfSha256::gen_keypair(rng9);
    let (alice_sk, alice_pk) = X25519HkdfSha256::gen_keypair(rng9);
    let aead_hkdf = f.seal.max(f.open); // one AEAD pass each way is the same work
    let kdf8 = f.hkdf * 8;

    for auth in [false, true] {
        let (sm, rm) = if auth {
            (
                SenderMode::Auth { sender: &alice },
                ReceiverMode::Auth {
                    sender: alice.public_key(),
                },
            )
        } else {
            (SenderMode::Base, ReceiverMode::Base)
        };
        let (psm, prm) = if auth {
            (
                OpModeS::<X25519HkdfSha256>::Auth((alice_sk.clone(), alice_pk.clone())),
                OpModeR::<X25519HkdfSha256>::Auth(alice_pk.clone()),
            )
        } else {
            (OpModeS::Base, OpModeR::Base)
        };
        let m_seal = median(|| {
            black_box(mhpke::seal(rng, sm, bob.public_key(), info, aad, &KIB).unwrap());
        });
        let p_seal = median(|| {
            black_box(
                hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256, _>(
                    &psm, &bob_pk, info, &KIB, aad, rng9,
                )
                .unwrap(),
            );
        });
        let (enc, ct) = mhpke::seal(rng, sm, bob.public_key(), info, aad, &KIB).unwrap();
        let m_open = median(|| {
            black_box(mhpke::open(&enc, rm, &bob, info, aad, &ct).unwrap());
        });
        let (penc, pct) =
            hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256, _>(
                &psm, &bob_pk, info, &KIB, aad, rng9,
            )
            .unwrap();
        let p_open = median(|| {
            black_box(
                hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256>(
                    &prm, &bob_sk, &penc, info, &pct, aad,
                )
                .unwrap(),
            );
        });
        let dh = if auth { 2 } else { 1 };
        let mode = if auth { "auth" } else { "base" };
        out.push(Line::Row(
            Row::new(format!("HPKE seal, {mode}"), Time(m_seal))
                .peer("rust-hpke", Time(p_seal))
                .floor(
                    f.keygen + f.dh * dh + aead_hkdf + kdf8,
                    format!("keygen + {dh} DH + AEAD + 8 HKDF"),
                )
                .goal(1.0),
        ));
        out.push(Line::Row(
            Row::new(format!("HPKE open, {mode}"), Time(m_open))
                .peer("rust-hpke", Time(p_open))
                .floor(
                    f.dh * dh + aead_hkdf + kdf8,
                    format!("{dh} DH + AEAD + 8 HKDF"),
                )
                .goal(1.0),
        ));
    }
}
