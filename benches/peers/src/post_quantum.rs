//! Item 7 (issue #17): what post-quantum protection costs, against classical peers doing the
//! same work: the hybrid set-up against Olm's (X25519 only), a 100-message turn-by-turn
//! exchange with its post-quantum step against Olm's, the sealed layer's forms against
//! rust-hpke's DHKEM, and what a set-up fetches. The goals for the first two are
//! against Missive's own classical figures (BENCHMARKS.md), so those rows carry none here.

use std::hint::black_box;
use std::time::Duration;

use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Kem, OpModeR, OpModeS};
use missive::Identity;
use missive::crypto::xwing;
use missive::hpke::{self as mhpke, ReceiverMode, SenderMode};
use missive::session::{PrekeyOwner, Sealing, Session, SessionMessage, VerifiedBundle};
use vodozemac::olm::{Account, OlmMessage, SessionConfig};

use crate::KIB;
use crate::pairwise::{missive_pair, olm_pair};
use crate::table::{
    Figure::{Bytes, Time},
    Line, Row,
};
use crate::timer::{median, median_with};

/// Messages in the exchange: enough for one whole post-quantum step (PROTOCOL.md §5.5).
const EXCHANGE: usize = 100;

/// Bob's bundle with a one-time prekey, as a relay hands it out, and his identity and owner.
fn bundle() -> (Identity, PrekeyOwner, Vec<u8>) {
    let mut rng = rand::rng();
    let bob = Identity::generate(&mut rng);
    let mut owner = PrekeyOwner::new(&mut rng, &bob);
    let one_time = owner.generate_one_time(&mut rng, 1, &bob).unwrap();
    let bytes = owner.bundle(Some(&one_time[0])).unwrap().to_bytes();
    (bob, owner, bytes)
}

/// Verify the bundle, initiate, encrypt 1 KiB, respond (which decrypts it).
fn missive_setup() -> Duration {
    let mut rng = rand::rng();
    let alice = Identity::generate(&mut rng);
    median_with(bundle, |(bob, mut owner, bytes)| {
        let verified = VerifiedBundle::from_bytes(&bytes).unwrap();
        let mut a = Session::initiate(&mut rand::rng(), &alice, &verified).unwrap();
        let first = a.encrypt(&mut rand::rng(), &KIB).unwrap();
        Session::respond(&bob, &mut owner, &first).unwrap()
    })
}

/// Olm's outbound session from Bob's keys, a 1 KiB pre-key message, his inbound session.
fn olm_setup() -> Duration {
    let alice = Account::new();
    median_with(
        || {
            let mut bob = Account::new();
            bob.generate_one_time_keys(1);
            let otk = *bob.one_time_keys().values().next().unwrap();
            bob.mark_keys_as_published();
            (bob, otk)
        },
        |(mut bob, otk)| {
            let mut a =
                alice.create_outbound_session(SessionConfig::default(), bob.curve25519_key(), otk);
            let OlmMessage::PreKey(first) = a.encrypt(KIB) else {
                unreachable!("the first Olm message is a pre-key message")
            };
            bob.create_inbound_session(alice.curve25519_key(), &first)
                .unwrap()
        },
    )
}

/// Time and wire bytes per message of `EXCHANGE` 1 KiB messages in turns, each received at
/// once, from a session answered once.
fn missive_exchange() -> (Duration, f64) {
    let mut spent = Vec::new();
    let mut bytes = 0usize;
    let mut steps = 0;
    for _ in 0..5 {
        let (mut a, mut b) = missive_pair();
        let mut rng = rand::rng();
        let started = std::time::Instant::now();
        for i in 0..EXCHANGE {
            let (s, r) = if i % 2 == 0 {
                (&mut a, &mut b)
            } else {
                (&mut b, &mut a)
            };
            let wire = s.encrypt(&mut rng, &KIB).unwrap().to_bytes();
            bytes += wire.len() - KIB.len();
            black_box(
                r.decrypt(&SessionMessage::from_bytes(&wire).unwrap())
                    .unwrap(),
            );
        }
        spent.push(started.elapsed() / EXCHANGE as u32);
        steps = a.post_quantum_epoch();
    }
    assert!(steps >= 1, "the exchange includes a post-quantum step");
    spent.sort_unstable();
    (spent[2], bytes as f64 / (5 * EXCHANGE) as f64)
}

fn olm_exchange() -> (Duration, f64) {
    let mut spent = Vec::new();
    let mut bytes = 0usize;
    for _ in 0..5 {
        let (mut a, mut b) = olm_pair();
        let started = std::time::Instant::now();
        for i in 0..EXCHANGE {
            let (s, r) = if i % 2 == 0 {
                (&mut a, &mut b)
            } else {
                (&mut b, &mut a)
            };
            let (kind, body) = s.encrypt(KIB).to_parts();
            bytes += body.len() - KIB.len();
            black_box(
                r.decrypt(&OlmMessage::from_parts(kind, &body).unwrap())
                    .unwrap(),
            );
        }
        spent.push(started.elapsed() / EXCHANGE as u32);
    }
    spent.sort_unstable();
    (spent[2], bytes as f64 / (5 * EXCHANGE) as f64)
}

pub fn run(out: &mut Vec<Line>) {
    out.push(Line::Section(
        "7. Post-quantum protection (Missive hybrid vs classical peers; issue #17)",
    ));
    out.push(Line::Row(
        Row::new(
            "set-up: verify bundle, initiate, 1 KiB first message, respond (PQXDH vs Olm's 3DH)",
            Time(missive_setup()),
        )
        .peer("Olm", Time(olm_setup())),
    ));
    let ((m_time, m_bytes), (o_time, o_bytes)) = (missive_exchange(), olm_exchange());
    out.push(Line::Row(
        Row::new(
            "1:1 exchange, 100 messages in turns, 1 KiB, per message (one post-quantum step included)",
            Time(m_time),
        )
        .peer("Olm", Time(o_time)),
    ));
    out.push(Line::Row(
        Row::new(
            "1:1 exchange, 100 messages in turns: bytes per message beyond the 1 KiB plaintext",
            Bytes(m_bytes),
        )
        .peer("Olm", Bytes(o_bytes)),
    ));

    // The sealed layer (PROTOCOL.md §9.2) against rust-hpke's base-mode DHKEM seal and open.
    let (info, aad) = (b"peers info".as_slice(), b"peers aad".as_slice());
    let rng = &mut rand::rng();
    let rng9 = &mut rand_09::rng();
    let (bob_sk, bob_pk) = X25519HkdfSha256::gen_keypair(rng9);
    let p_seal = median(|| {
        black_box(
            hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256, _>(
                &OpModeS::Base,
                &bob_pk,
                info,
                &KIB,
                aad,
                rng9,
            )
            .unwrap(),
        );
    });
    let (penc, pct) = hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256, _>(
        &OpModeS::Base,
        &bob_pk,
        info,
        &KIB,
        aad,
        rng9,
    )
    .unwrap();
    let p_open = median(|| {
        black_box(
            hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256>(
                &OpModeR::Base,
                &bob_sk,
                &penc,
                info,
                &pct,
                aad,
            )
            .unwrap(),
        );
    });
    let carol = xwing::SecretKey::generate(rng);
    let x_seal = median(|| {
        black_box(mhpke::xwing::seal_base(rng, carol.public_key(), info, aad, &KIB).unwrap());
    });
    let (xenc, xct) = mhpke::xwing::seal_base(rng, carol.public_key(), info, aad, &KIB).unwrap();
    let x_open = median(|| {
        black_box(mhpke::xwing::open_base(&xenc, &carol, info, aad, &xct).unwrap());
    });
    // The session form, composed as the client composes it.
    let (a, b) = missive_pair();
    let Sealing::Session(send) = a.sealing() else {
        unreachable!("an answered session seals within itself")
    };
    let receive = b.peer_seal_keys().unwrap();
    let dave = mhpke::KeyPair::generate(rng);
    let session_info = b"missive/v2/sealed-session".as_slice();
    let mut seal_session = || {
        let (enc, mut ctx) =
            mhpke::setup_sender(rng, SenderMode::Base, dave.public_key(), session_info).unwrap();
        let mut inner = send.label().to_vec();
        inner.extend_from_slice(&send.seal(enc.as_bytes(), aad, &KIB));
        (enc, ctx.seal(aad, &inner).unwrap())
    };
    let (senc, sct) = seal_session();
    let s_seal = median(|| {
        black_box(seal_session());
    });
    let s_open = median(|| {
        let mut ctx =
            mhpke::setup_receiver(&senc, ReceiverMode::Base, &dave, session_info).unwrap();
        let plain = ctx.open(aad, &sct).unwrap();
        let (label, inner) = plain.split_at(8);
        assert_eq!(label, receive.label());
        black_box(receive.open(senc.as_bytes(), aad, inner).unwrap());
    });
    for (work, missive, peer) in [
        (
            "sealed layer seal, opening form (HPKE over X-Wing)",
            x_seal,
            p_seal,
        ),
        (
            "sealed layer open, opening form (HPKE over X-Wing)",
            x_open,
            p_open,
        ),
        (
            "sealed layer seal, session form (DHKEM + inner seal)",
            s_seal,
            p_seal,
        ),
        (
            "sealed layer open, session form (DHKEM + inner seal)",
            s_open,
            p_open,
        ),
    ] {
        out.push(Line::Row(
            Row::new(work, Time(missive))
                .peer("rust-hpke DHKEM", Time(peer))
                .goal(1.5),
        ));
    }

    // What a set-up fetches: Missive's bundle with a one-time prekey; Olm's identity keys
    // (Curve25519 and Ed25519) and one one-time key.
    let (_, _, bytes) = bundle();
    out.push(Line::Row(
        Row::new(
            "prekey bundle with a one-time prekey",
            Bytes(bytes.len() as f64),
        )
        .peer("Olm", Bytes(32.0 * 3.0)),
    ));
}
