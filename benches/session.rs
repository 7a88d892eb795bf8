//! Pairwise sessions against the raw floor, measured in the same run.
//!
//! Floors are the primitive operations the protocol cannot avoid:
//! * same direction: one AEAD seal and one open of 1 KiB;
//! * with a DH ratchet step (per message): one key generation (scalar mult for the public
//!   key) and two X25519 agreements (sender and receiver), plus the seal and open;
//! * setup: one Ed25519 verification (the bundle), two key generations (EK_A and Alice's
//!   first ratchet key), 2 × 4 X3DH agreements, 2 ratchet agreements, plus one seal and open.
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use missive::Identity;
use missive::crypto::aead::AeadKey;
use missive::crypto::x25519::SecretKey;
use missive::session::{PrekeyOwner, Session, VerifiedBundle};

const KIB: [u8; 1024] = [7; 1024];

fn seal_open(key: &AeadKey) {
    let ct = key.seal(&[0; 12], b"aad", &KIB);
    black_box(key.open(&[0; 12], b"aad", &ct).unwrap());
}

fn floor(c: &mut Criterion) {
    let mut rng = rand::rng();
    let (a, b) = (SecretKey::generate(&mut rng), SecretKey::generate(&mut rng));
    let aead = AeadKey::new(&[1; 32]);
    let id = Identity::generate(&mut rng);
    let sig = id.sign(b"message");
    let mut g = c.benchmark_group("floor");
    g.bench_function("x25519 agreement", |x| {
        x.iter(|| black_box(a.diffie_hellman(b.public_key()).unwrap()))
    });
    g.bench_function("x25519 keygen", |x| {
        x.iter(|| black_box(SecretKey::generate(&mut rng)))
    });
    g.bench_function("aead seal+open 1KiB", |x| x.iter(|| seal_open(&aead)));
    g.bench_function("ed25519 verify", |x| {
        x.iter(|| id.public().verify(b"message", &sig).unwrap())
    });
    g.bench_function("same direction (1 seal+open)", |x| {
        x.iter(|| seal_open(&aead))
    });
    g.bench_function("ratchet step (keygen + 2 dh + seal+open)", |x| {
        x.iter(|| {
            let k = SecretKey::generate(&mut rng);
            black_box(k.diffie_hellman(b.public_key()).unwrap());
            black_box(b.diffie_hellman(k.public_key()).unwrap());
            seal_open(&aead);
        })
    });
    g.bench_function("setup (verify + 2 keygen + 10 dh + seal+open)", |x| {
        x.iter(|| {
            id.public().verify(b"message", &sig).unwrap();
            for _ in 0..2 {
                black_box(SecretKey::generate(&mut rng));
            }
            for _ in 0..10 {
                black_box(a.diffie_hellman(b.public_key()).unwrap());
            }
            seal_open(&aead);
        })
    });
    g.finish();
}

fn established() -> (Session, Session) {
    let mut rng = rand::rng();
    let (alice, bob) = (Identity::generate(&mut rng), Identity::generate(&mut rng));
    let mut owner = PrekeyOwner::new(&mut rng, &bob);
    let bundle = owner.bundle(None).unwrap().verify().unwrap();
    let mut a = Session::initiate(&mut rng, &alice, &bundle).unwrap();
    let first = a.encrypt(&mut rng, b"hi").unwrap();
    let (mut b, _) = Session::respond(&bob, &mut owner, &first).unwrap();
    a.decrypt(&b.encrypt(&mut rng, b"hi").unwrap()).unwrap();
    (a, b)
}

fn session(c: &mut Criterion) {
    let mut rng = rand::rng();
    let mut g = c.benchmark_group("session");
    let (mut a, mut b) = established();
    g.bench_function("same direction: encrypt+decrypt 1KiB", |x| {
        x.iter(|| {
            let m = a.encrypt(&mut rng, &KIB).unwrap();
            black_box(b.decrypt(&m).unwrap());
        })
    });
    let (mut a, mut b) = established();
    g.bench_function("ratchet step: encrypt+decrypt 1KiB", |x| {
        // Each iteration sends one message each way, so every message carries a new
        // ratchet key; half the time of this pair is one message's cost.
        x.iter(|| {
            let m = a.encrypt(&mut rng, &KIB).unwrap();
            black_box(b.decrypt(&m).unwrap());
            let r = b.encrypt(&mut rng, &KIB).unwrap();
            black_box(a.decrypt(&r).unwrap());
        })
    });
    // Turn-by-turn talk from a session pair whose last post-quantum step is just behind
    // (a fresh pair): the first 48 messages take no step (no offer is due before 50), so
    // they measure the Double Ratchet alone; 100 messages take one whole step (PROTOCOL.md
    // §5.5). Both are reported per message by dividing the median by the count.
    for count in [48usize, 100] {
        let (a0, b0) = established();
        g.bench_function(format!("turn by turn: {count} messages of 1KiB"), |x| {
            x.iter_batched(
                || (a0.clone(), b0.clone()),
                |(mut a, mut b)| {
                    for i in 0..count {
                        let (from, to) = if i % 2 == 0 {
                            (&mut a, &mut b)
                        } else {
                            (&mut b, &mut a)
                        };
                        let m = from.encrypt(&mut rng, &KIB).unwrap();
                        black_box(to.decrypt(&m).unwrap());
                    }
                    (a, b)
                },
                criterion::BatchSize::SmallInput,
            )
        });
    }
    g.bench_function("encrypt 1KiB (same chain)", |x| {
        x.iter(|| black_box(a.encrypt(&mut rng, &KIB).unwrap()))
    });
    let (alice, bob) = (Identity::generate(&mut rng), Identity::generate(&mut rng));
    let mut owner = PrekeyOwner::new(&mut rng, &bob);
    let bundle_bytes = owner.bundle(None).unwrap().to_bytes();
    g.bench_function(
        "setup: verify bundle, initiate, encrypt, respond 1KiB",
        |x| {
            x.iter(|| {
                let bundle = VerifiedBundle::from_bytes(&bundle_bytes).unwrap();
                let mut s = Session::initiate(&mut rng, &alice, &bundle).unwrap();
                let m = s.encrypt(&mut rng, &KIB).unwrap();
                black_box(Session::respond(&bob, &mut owner, &m).unwrap());
            })
        },
    );
    g.finish();
}

criterion_group!(benches, floor, session);
criterion_main!(benches);
