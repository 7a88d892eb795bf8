//! One-time delivery tokens (RFC 9497 VOPRF, ristretto255-SHA512) at a month's InMail credits
//! for Premium Business (15):
//! * relay: issue a batch of 15 (15 scalar mults and one batch DLEQ proof);
//! * client: blind a batch of 15, and finish it (verify the proof, unblind 15);
//! * relay: verify one spent token with its key cached (hash to the group, one scalar mult).
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use missive::token::{Issuer, TokenKind, request_tokens};

const BATCH: usize = 15;
const KIND: TokenKind = TokenKind::Credit;
const PERIOD: u32 = 671;

fn tokens(c: &mut Criterion) {
    let mut rng = rand::rng();
    let issuer = Issuer::generate(&mut rng);
    // Derives and caches the key, as a running relay has.
    let key = issuer.public_key(KIND, PERIOD).unwrap();
    let (pending, request) = request_tokens(&mut rng, KIND, PERIOD, BATCH).unwrap();
    let response = issuer.issue(&mut rng, &request).unwrap();
    let token = pending.finish(&response, &key).unwrap().remove(0);
    assert!(issuer.verify(&token));

    let mut g = c.benchmark_group("tokens");
    g.bench_function("relay issue 15", |x| {
        x.iter(|| black_box(issuer.issue(&mut rng, black_box(&request)).unwrap()))
    });
    g.bench_function("client request 15", |x| {
        x.iter(|| black_box(request_tokens(&mut rng, KIND, PERIOD, BATCH).unwrap()))
    });
    g.bench_function("client finish 15", |x| {
        x.iter_batched(
            || {
                let mut rng = rand::rng();
                let (pending, request) = request_tokens(&mut rng, KIND, PERIOD, BATCH).unwrap();
                (pending, issuer.issue(&mut rng, &request).unwrap())
            },
            |(pending, response)| black_box(pending.finish(&response, &key).unwrap()),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("relay verify 1", |x| {
        x.iter(|| black_box(issuer.verify(black_box(&token))))
    });
    g.finish();
}

criterion_group!(benches, tokens);
criterion_main!(benches);
