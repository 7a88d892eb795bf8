//! The floor every later figure is compared with: one X25519 agreement, a public key from its
//! secret, ChaCha20-Poly1305 at three sizes, one HKDF step, Ed25519 sign and verify, and the
//! post-quantum KEMs (ML-KEM-768 and X-Wing: key pair from seed, encapsulate, decapsulate,
//! decoding a public key with its checks).

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use missive::crypto::aead::AeadKey;
use missive::crypto::kdf;
use missive::crypto::sign::SigningKey;
use missive::crypto::x25519::SecretKey;
use missive::crypto::{mlkem, xwing};

fn x25519(c: &mut Criterion) {
    let mut rng = rand::rng();
    let (a, b) = (SecretKey::generate(&mut rng), SecretKey::generate(&mut rng));
    c.bench_function("floor/x25519_agreement", |bench| {
        bench.iter(|| black_box(&a).diffie_hellman(black_box(b.public_key())))
    });
    let bytes = a.to_bytes();
    c.bench_function("floor/x25519_public_from_secret", |bench| {
        bench.iter(|| SecretKey::from_bytes(black_box(&bytes)))
    });
}

fn kems(c: &mut Criterion) {
    let mut rng = rand::rng();
    let m = mlkem::SecretKey::generate(&mut rng);
    let (ct, _) = m.public_key().encapsulate(&mut rng);
    let mut g = c.benchmark_group("floor/mlkem768");
    g.bench_function("keypair_from_seed", |b| {
        b.iter(|| mlkem::SecretKey::from_seed(black_box(&[7; 64])))
    });
    g.bench_function("encapsulate", |b| {
        b.iter(|| black_box(m.public_key()).encapsulate(&mut rng))
    });
    g.bench_function("decapsulate", |b| b.iter(|| m.decapsulate(black_box(&ct))));
    let bytes = *m.public_key().as_bytes();
    g.bench_function("decode_public_key", |b| {
        b.iter(|| mlkem::PublicKey::from_bytes(black_box(&bytes)))
    });
    g.finish();
    let x = xwing::SecretKey::generate(&mut rng);
    let (ct, _) = x.public_key().encapsulate(&mut rng);
    let mut g = c.benchmark_group("floor/xwing");
    g.bench_function("keypair_from_seed", |b| {
        b.iter(|| xwing::SecretKey::from_seed(black_box(&[7; 32])))
    });
    g.bench_function("encapsulate", |b| {
        b.iter(|| black_box(x.public_key()).encapsulate(&mut rng))
    });
    g.bench_function("decapsulate", |b| b.iter(|| x.decapsulate(black_box(&ct))));
    let bytes = *x.public_key().as_bytes();
    g.bench_function("decode_public_key", |b| {
        b.iter(|| xwing::PublicKey::from_bytes(black_box(&bytes)))
    });
    g.finish();
}

fn chacha(c: &mut Criterion) {
    let key = AeadKey::new(&[7u8; 32]);
    let nonce = [1u8; 12];
    let mut group = c.benchmark_group("floor/chacha20poly1305");
    for size in [64usize, 1024, 64 * 1024] {
        let pt = vec![0x42u8; size];
        let ct = key.seal(&nonce, b"", &pt);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("seal", size), &pt, |bench, pt| {
            bench.iter(|| key.seal(&nonce, b"", black_box(pt)))
        });
        group.bench_with_input(BenchmarkId::new("open", size), &ct, |bench, ct| {
            bench.iter(|| key.open(&nonce, b"", black_box(ct)))
        });
    }
    group.finish();
}

fn hkdf(c: &mut Criterion) {
    let prk = kdf::extract(b"salt", b"input keying material");
    c.bench_function("floor/hkdf_expand_32", |bench| {
        bench.iter(|| {
            let mut out = [0u8; 32];
            kdf::expand(black_box(&prk), b"info", &mut out).map(|()| out)
        })
    });
}

fn ed25519(c: &mut Criterion) {
    let key = SigningKey::generate(&mut rand::rng());
    let msg = [0x42u8; 64];
    let sig = key.sign(&msg);
    c.bench_function("floor/ed25519_sign", |bench| {
        bench.iter(|| key.sign(black_box(&msg)))
    });
    c.bench_function("floor/ed25519_verify", |bench| {
        bench.iter(|| key.verifying_key().verify(black_box(&msg), &sig))
    });
}

criterion_group!(benches, x25519, kems, chacha, hkdf, ed25519);
criterion_main!(benches);
