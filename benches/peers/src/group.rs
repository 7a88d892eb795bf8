//! Item 3: a message in a 50-member group after keys are handed out, 1 KiB, encrypt and
//! decrypt, bytes to bytes (vs vodozemac Megolm and OpenMLS application messages).

use std::time::Duration;

use vodozemac::megolm::{GroupSession, InboundGroupSession, MegolmMessage, SessionConfig};

use crate::KIB;
use crate::floors::Floors;
use crate::missive_setup;
use crate::mls;
use crate::table::{Figure::Time, Line, Row};
use crate::timer::{middle, rounds, time};

fn missive(n: usize) -> (Duration, Duration) {
    let (mut sender, mut reader, _) = missive_setup::group(n, 0);
    let (mut enc, mut dec) = (Vec::new(), Vec::new());
    rounds(|| {
        let (m, e) = time(|| sender.encrypt(&KIB).unwrap());
        let (_, d) = time(|| reader.decrypt(&m).unwrap());
        enc.push(e);
        dec.push(d);
    });
    (middle(enc), middle(dec))
}

fn megolm() -> (Duration, Duration) {
    let mut out = GroupSession::new(SessionConfig::default());
    let mut inb = InboundGroupSession::new(&out.session_key(), SessionConfig::default());
    let (mut enc, mut dec) = (Vec::new(), Vec::new());
    rounds(|| {
        let (m, e) = time(|| out.encrypt(KIB).to_bytes());
        let (_, d) = time(|| {
            inb.decrypt(&MegolmMessage::from_bytes(&m).unwrap())
                .unwrap()
        });
        enc.push(e);
        dec.push(d);
    });
    (middle(enc), middle(dec))
}

fn openmls(n: usize) -> (Duration, Duration) {
    let (mut sender, mut reader) = mls::group(n);
    let (mut enc, mut dec) = (Vec::new(), Vec::new());
    rounds(|| {
        let (m, e) = time(|| {
            let provider = &sender.provider;
            let signer = &sender.signer;
            let g = sender.group.as_mut().unwrap();
            g.create_message(provider, signer, &KIB)
                .unwrap()
                .to_bytes()
                .unwrap()
        });
        let (_, d) = time(|| reader.process(&m).unwrap());
        enc.push(e);
        dec.push(d);
    });
    (middle(enc), middle(dec))
}

pub fn run(f: &Floors, out: &mut Vec<Line>) {
    const N: usize = 50;
    out.push(Line::Section(
        "3. A message in a 50-member group, 1 KiB (vs Megolm and OpenMLS, 50 members)",
    ));
    let (me, md) = missive(N);
    let (ge, gd) = megolm();
    let (oe, od) = openmls(N);
    // Per message: one chain step and the message keys (≈ 2 chain steps), one AEAD pass,
    // SHA-256 of the ciphertext, one Ed25519 signature or verification. A reader derives the
    // step, advances and extends its window (3 chain steps) plus the message keys.
    let fe = f.sign + f.seal + f.sha256_kib + f.chain_step * 2;
    let fd = f.verify + f.open + f.sha256_kib + f.chain_step * 4;
    let rows = [
        (
            "encrypt",
            me,
            ge,
            oe,
            fe,
            "sign + AEAD + SHA-256 + 2 chain steps",
            None,
        ),
        (
            "decrypt",
            md,
            gd,
            od,
            fd,
            "verify + AEAD + SHA-256 + 4 chain steps",
            None,
        ),
        (
            "encrypt + decrypt",
            me + md,
            ge + gd,
            oe + od,
            fe + fd,
            "sum of the two",
            Some((0.75, 0.5)),
        ),
    ];
    for (what, m, g, o, fl, of, goal) in rows {
        let mut a = Row::new(format!("group {what}"), Time(m))
            .peer("Megolm", Time(g))
            .floor(fl, of);
        let mut b = Row::new(format!("group {what}"), Time(m))
            .peer("OpenMLS", Time(o))
            .floor(fl, of);
        if let Some((gm, go)) = goal {
            a = a.goal(gm);
            b = b.goal(go);
        }
        out.push(Line::Row(a));
        out.push(Line::Row(b));
    }
}
