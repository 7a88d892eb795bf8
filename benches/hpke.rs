//! HPKE single-shot seal and open of 1 KiB, base and auth modes, with one X25519 agreement and
//! one public-key derivation alongside as the floor they are made of (seal = 2 X25519 in base,
//! 3 in auth; open = 1 and 2); and the same base-mode seal and open over X-Wing (issue #17's
//! goal: within 1.5x of DHKEM), whose open expands the recipient's seed each time; and the
//! session form of the sealed layer (PROTOCOL.md §9.2: DHKEM around a label and an inner seal
//! under a session's keys), composed here as the client composes it, beside the DHKEM lines
//! (the classical form) and the X-Wing ones (the opening form).

// A benchmark fails by panicking, like a test.
#![allow(clippy::unwrap_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use missive::Identity;
use missive::crypto::x25519::SecretKey;
use missive::crypto::xwing;
use missive::hpke::{self, KeyPair, ReceiverMode, SenderMode};
use missive::session::{PrekeyOwner, SealKeys, Sealing, Session};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let rng = &mut rand::rng();
    let bob = KeyPair::generate(rng);
    let alice = KeyPair::generate(rng);
    let pt = vec![0x42u8; 1024];
    let (info, aad) = (b"bench info".as_slice(), b"bench aad".as_slice());
    let mut g = c.benchmark_group("hpke");

    let (enc, ct) = hpke::seal_base(rng, bob.public_key(), info, aad, &pt).unwrap();
    g.bench_function("seal_base_1KiB", |b| {
        b.iter(|| hpke::seal_base(rng, black_box(bob.public_key()), info, aad, &pt).unwrap())
    });
    g.bench_function("open_base_1KiB", |b| {
        b.iter(|| hpke::open_base(black_box(&enc), &bob, info, aad, &ct).unwrap())
    });

    let sm = SenderMode::Auth { sender: &alice };
    let rm = ReceiverMode::Auth {
        sender: alice.public_key(),
    };
    let (enc, ct) = hpke::seal(rng, sm, bob.public_key(), info, aad, &pt).unwrap();
    g.bench_function("seal_auth_1KiB", |b| {
        b.iter(|| hpke::seal(rng, sm, black_box(bob.public_key()), info, aad, &pt).unwrap())
    });
    g.bench_function("open_auth_1KiB", |b| {
        b.iter(|| hpke::open(black_box(&enc), rm, &bob, info, aad, &ct).unwrap())
    });

    let carol = xwing::SecretKey::generate(rng);
    let (enc, ct) = hpke::xwing::seal_base(rng, carol.public_key(), info, aad, &pt).unwrap();
    g.bench_function("xwing_seal_base_1KiB", |b| {
        b.iter(|| hpke::xwing::seal_base(rng, black_box(carol.public_key()), info, aad, &pt))
    });
    g.bench_function("xwing_open_base_1KiB", |b| {
        b.iter(|| hpke::xwing::open_base(black_box(&enc), &carol, info, aad, &ct).unwrap())
    });

    let (send, receive) = session_keys(rng);
    let session_info = b"missive/v2/sealed-session".as_slice();
    let seal_session = |rng: &mut rand::rngs::ThreadRng| {
        let (enc, mut ctx) =
            hpke::setup_sender(rng, SenderMode::Base, bob.public_key(), session_info).unwrap();
        let mut inner = send.label().to_vec();
        inner.extend_from_slice(&send.seal(enc.as_bytes(), aad, &pt));
        (enc, ctx.seal(aad, &inner).unwrap())
    };
    let (enc, ct) = seal_session(rng);
    g.bench_function("sealed_session_seal_1KiB", |b| b.iter(|| seal_session(rng)));
    g.bench_function("sealed_session_open_1KiB", |b| {
        b.iter(|| {
            let mut ctx =
                hpke::setup_receiver(black_box(&enc), ReceiverMode::Base, &bob, session_info)
                    .unwrap();
            let plain = ctx.open(aad, &ct).unwrap();
            let (label, inner) = plain.split_at(8);
            assert_eq!(label, receive.label());
            receive.open(enc.as_bytes(), aad, inner).unwrap()
        })
    });

    // The floor: one X25519 agreement, and one public key from a secret.
    let sk = SecretKey::generate(rng);
    g.bench_function("x25519_dh", |b| {
        b.iter(|| sk.diffie_hellman(black_box(bob.public_key())).unwrap())
    });
    g.bench_function("x25519_public_from_secret", |b| {
        b.iter(|| SecretKey::from_bytes(black_box(&[7u8; 32])))
    });
    g.finish();
}

/// The sealing keys of Alice's answered session with Bob: hers, and Bob's for her messages.
fn session_keys(rng: &mut rand::rngs::ThreadRng) -> (SealKeys, SealKeys) {
    let (alice, bob) = (Identity::generate(rng), Identity::generate(rng));
    let mut owner = PrekeyOwner::new(rng, &bob);
    let bundle = owner.bundle(None).unwrap().verify().unwrap();
    let mut a = Session::initiate(rng, &alice, &bundle).unwrap();
    let (mut b, _) = Session::respond(&bob, &mut owner, &a.encrypt(rng, b"hi").unwrap()).unwrap();
    a.decrypt(&b.encrypt(rng, b"hello").unwrap()).unwrap();
    let Sealing::Session(send) = a.sealing() else {
        unreachable!("an answered session seals within itself")
    };
    (send, b.peer_seal_keys().unwrap())
}

criterion_group!(benches, bench);
criterion_main!(benches);
