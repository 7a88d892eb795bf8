//! Item 2: an established 1:1 session, 1 KiB, encrypt and decrypt, bytes to bytes, same
//! direction and with a ratchet step on every message (vs vodozemac Olm).

use std::time::Duration;

use missive::Identity;
use missive::session::{PrekeyOwner, Session, SessionMessage};
use vodozemac::olm::{Account, OlmMessage, Session as OlmSession, SessionConfig};

use crate::KIB;
use crate::floors::Floors;
use crate::table::{Figure::Time, Line, Row};
use crate::timer::{middle, rounds, time};

/// A Missive session pair after one message each way.
pub fn missive_pair() -> (Session, Session) {
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

/// An Olm session pair after one message each way.
pub fn olm_pair() -> (OlmSession, OlmSession) {
    let alice = Account::new();
    let mut bob = Account::new();
    bob.generate_one_time_keys(1);
    let otk = *bob.one_time_keys().values().next().unwrap();
    bob.mark_keys_as_published();
    let mut a = alice.create_outbound_session(SessionConfig::default(), bob.curve25519_key(), otk);
    let OlmMessage::PreKey(first) = a.encrypt(b"hi") else {
        unreachable!("the first Olm message is a pre-key message")
    };
    let mut b = bob
        .create_inbound_session(alice.curve25519_key(), &first)
        .unwrap()
        .session;
    a.decrypt(&b.encrypt(b"hi")).unwrap();
    (a, b)
}

/// Encrypt and decrypt samples; with `ping_pong` every message turns the ratchet.
fn missive(ping_pong: bool) -> (Duration, Duration) {
    let (mut a, mut b) = missive_pair();
    let mut rng = rand::rng();
    let (mut enc, mut dec) = (Vec::new(), Vec::new());
    let mut one = |s: &mut Session, r: &mut Session| {
        let (bytes, e) = time(|| s.encrypt(&mut rng, &KIB).unwrap().to_bytes());
        let (_, d) = time(|| {
            r.decrypt(&SessionMessage::from_bytes(&bytes).unwrap())
                .unwrap()
        });
        enc.push(e);
        dec.push(d);
    };
    rounds(|| {
        one(&mut a, &mut b);
        if ping_pong {
            one(&mut b, &mut a);
        }
    });
    (middle(enc), middle(dec))
}

fn olm(ping_pong: bool) -> (Duration, Duration) {
    let (mut a, mut b) = olm_pair();
    let (mut enc, mut dec) = (Vec::new(), Vec::new());
    let mut one = |s: &mut OlmSession, r: &mut OlmSession| {
        let (parts, e) = time(|| s.encrypt(KIB).to_parts());
        let (_, d) = time(|| {
            r.decrypt(&OlmMessage::from_parts(parts.0, &parts.1).unwrap())
                .unwrap()
        });
        enc.push(e);
        dec.push(d);
    };
    rounds(|| {
        one(&mut a, &mut b);
        if ping_pong {
            one(&mut b, &mut a);
        }
    });
    (middle(enc), middle(dec))
}

pub fn run(f: &Floors, out: &mut Vec<Line>) {
    out.push(Line::Section(
        "2. Established 1:1 session, 1 KiB (vs vodozemac Olm)",
    ));
    for ping_pong in [false, true] {
        let (me, md) = missive(ping_pong);
        let (pe, pd) = olm(ping_pong);
        let how = if ping_pong {
            "with a ratchet step"
        } else {
            "same direction"
        };
        // Same direction: one chain step (2 HKDF) and one AEAD pass each side. A ratchet step
        // adds a key generation and an agreement for the sender, one agreement for the
        // receiver (the next sending chain is set up lazily, on the next send).
        let (fe, fe_of, fd, fd_of) = if ping_pong {
            (
                f.keygen + f.dh + f.seal + f.hkdf * 4,
                "keygen + DH + AEAD + 4 HKDF",
                f.dh + f.open + f.hkdf * 4,
                "DH + AEAD + 4 HKDF",
            )
        } else {
            (
                f.seal + f.hkdf * 2,
                "AEAD + 2 HKDF",
                f.open + f.hkdf * 2,
                "AEAD + 2 HKDF",
            )
        };
        out.push(Line::Row(
            Row::new(format!("1:1 encrypt, {how}"), Time(me))
                .peer("Olm", Time(pe))
                .floor(fe, fe_of)
                .goal(1.0),
        ));
        out.push(Line::Row(
            Row::new(format!("1:1 decrypt, {how}"), Time(md))
                .peer("Olm", Time(pd))
                .floor(fd, fd_of)
                .goal(1.0),
        ));
        out.push(Line::Row(
            Row::new(format!("1:1 encrypt + decrypt, {how}"), Time(me + md))
                .peer("Olm", Time(pe + pd))
                .floor(fe + fd, "sum of the two")
                .goal(1.0),
        ));
    }
}
