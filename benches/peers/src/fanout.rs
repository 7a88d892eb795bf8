//! Item 4: the first message to 50 recipients with pairwise sessions in place (Missive: a
//! fan-out first message over existing grants) vs age encrypting to 50 X25519 recipients; and
//! item 6's bytes per recipient.

use std::io::Write;
use std::time::Duration;

use missive::envelope::{Delivery, MailboxId};

use crate::KIB;
use crate::floors::Floors;
use crate::missive_setup::{self, mailbox};
use crate::table::{Figure, Figure::Time, Line, Row};
use crate::timer::{median_with, middle, rounds, time};

const N: usize = 50;

struct Figures {
    send: Duration,
    last_opens: Duration,
    per_recipient: f64,
}

fn missive() -> Figures {
    let (mut sender, mut last) = missive_setup::fan_out(N);
    let mut rng = rand::rng();
    let to: Vec<MailboxId> = (1..=N).map(mailbox).collect();
    let (mut send, mut open) = (Vec::new(), Vec::new());
    rounds(|| {
        let (bytes, s) = time(|| {
            sender
                .send_first(&mut rng, &to, &KIB, 0)
                .unwrap()
                .1
                .to_bytes()
        });
        // The relay splits the envelope; the last recipient's delivery travels as bytes.
        let mine = missive::envelope::split(&bytes)
            .unwrap()
            .pop()
            .unwrap()
            .to_bytes();
        let (_, o) = time(|| {
            last.open_first(&Delivery::from_bytes(&mine).unwrap())
                .unwrap()
        });
        send.push(s);
        open.push(o);
    });
    let mut size = |n: usize| {
        let (_, env) = sender.send_first(&mut rng, &to[..n], &KIB, 0).unwrap();
        env.to_bytes().len()
    };
    Figures {
        send: middle(send),
        last_opens: middle(open),
        per_recipient: (size(N) - size(1)) as f64 / (N - 1) as f64,
    }
}

fn age_encrypt(recipients: &[age::x25519::Recipient]) -> Vec<u8> {
    let dyns = recipients.iter().map(|r| r as &dyn age::Recipient);
    let enc = age::Encryptor::with_recipients(dyns).unwrap();
    let mut out = Vec::new();
    let mut w = enc.wrap_output(&mut out).unwrap();
    w.write_all(&KIB).unwrap();
    w.finish().unwrap();
    out
}

fn age() -> Figures {
    let ids: Vec<_> = (0..N).map(|_| age::x25519::Identity::generate()).collect();
    let recipients: Vec<_> = ids.iter().map(|i| i.to_public()).collect();
    let send = median_with(|| (), |()| age_encrypt(&recipients));
    let ct = age_encrypt(&recipients);
    let last = &ids[N - 1];
    let last_opens = median_with(|| (), |()| age::decrypt(last, &ct).unwrap());
    let one = age_encrypt(&recipients[..1]).len();
    Figures {
        send,
        last_opens,
        per_recipient: (ct.len() - one) as f64 / (N - 1) as f64,
    }
}

pub fn run(f: &Floors, out: &mut Vec<Line>) -> (f64, f64) {
    out.push(Line::Section(
        "4. First message to 50 recipients, 1 KiB, pairwise keys in place (vs age, 50 X25519 recipients)",
    ));
    let m = missive();
    let a = age();
    // Sender: one signature and one AEAD pass for the body, SHA-256 of it, the roster hash
    // (51 × 82 bytes ≈ 4 KiB of SHA-256), the seed's KDF and the conversation's first step
    // (≈ 4 chain steps), then one fan-out chain step per recipient. Receiver: the same with a
    // verification and one fan-out step, plus the new conversation's next label (its receive
    // window is derived only when something looks past it).
    let fs = f.sign + f.seal + f.sha256_kib * 5 + f.chain_step * (4 + N as u32);
    let fo = f.verify + f.open + f.sha256_kib * 5 + f.chain_step * (5 + 1);
    out.push(Line::Row(
        Row::new("first message: sender, 50 recipients", Time(m.send))
            .peer("age", Time(a.send))
            .floor(fs, "sign + AEAD + 5 KiB SHA-256 + (4 + 50) chain steps")
            .goal(0.1),
    ));
    out.push(Line::Row(
        Row::new(
            "first message: the last recipient opens it",
            Time(m.last_opens),
        )
        .peer("age", Time(a.last_opens))
        .floor(fo, "verify + AEAD + 5 KiB SHA-256 + (5 + 1) chain steps")
        .goal(0.1),
    ));
    out.push(Line::Section("6. Sizes"));
    out.push(Line::Row(
        Row::new(
            "bytes on the wire per recipient (50 vs 1), mailbox included for Missive",
            Figure::Bytes(m.per_recipient),
        )
        .peer("age", Figure::Bytes(a.per_recipient))
        .limit(56.0),
    ));
    (m.per_recipient, a.per_recipient)
}
