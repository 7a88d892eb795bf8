//! HPKE single-shot seal and open of 1 KiB, base and auth modes, with one X25519 agreement and
//! one public-key derivation alongside as the floor they are made of (seal = 2 X25519 in base,
//! 3 in auth; open = 1 and 2); and the same base-mode seal and open over X-Wing (issue #17's
//! goal: within 1.5x of DHKEM), whose open expands the recipient's seed each time.

// A benchmark fails by panicking, like a test.
#![allow(clippy::unwrap_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use missive::crypto::x25519::SecretKey;
use missive::crypto::xwing;
use missive::hpke::{self, KeyPair, ReceiverMode, SenderMode};
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

criterion_group!(benches, bench);
criterion_main!(benches);
