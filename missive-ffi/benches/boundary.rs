//! One 1 KiB direct message through `MissiveClient`'s own calls, from Rust: `send_text`, then
//! `split_envelope`, `receive` and `accepted` (four calls), the whole and each call. `missive-ffi/bench/boundary.py`
//! times the same four calls through the Python bindings; the difference is what the boundary
//! adds (BENCHMARKS.md, "Bindings").
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use missive::envelope::MailboxId;
use missive::relay_api::{PrekeyResponse, PublishPrekeys};
use missive_ffi::{MissiveClient, Outgoing, Tier, split_envelope};

const NOW: u64 = 1_800_000_000;

/// Hands `to` what `sent` addresses to it, as a relay would.
fn deliver(to: &MissiveClient, sent: &[Outgoing]) {
    let mailbox = to.mailbox_id().unwrap();
    for o in sent {
        for part in split_envelope(o.envelope.clone()).unwrap() {
            if part.mailbox == mailbox {
                to.receive(part.delivery, NOW).unwrap();
            }
        }
    }
}

/// Ana (premium, Open Profile on) and Ben, who looked her up (the answer a relay gives, built
/// from what she published) and wrote to her through a loopback: the conversation is open.
fn opened() -> (Arc<MissiveClient>, Arc<MissiveClient>) {
    let ana = MissiveClient::in_memory(b"ana".to_vec()).unwrap();
    let ben = MissiveClient::in_memory(b"ben".to_vec()).unwrap();
    ana.set_profile(Tier::PremiumCareer, true).unwrap();
    let published = PublishPrekeys::from_bytes(&ana.publish(1).unwrap()).unwrap();
    let id: [u8; 16] = ana.mailbox_id().unwrap().try_into().unwrap();
    let answer = PrekeyResponse {
        mailbox: MailboxId(id),
        bundle: published.bundle,
        one_time: published.one_time.into_iter().next(),
    };
    let ana_id = ben.add_contact(b"ana".to_vec(), answer.to_bytes()).unwrap();
    ben.set_contact_profile(ana_id.clone(), Tier::PremiumCareer, true)
        .unwrap();
    let first = ben
        .send_text(ana_id, "hello".into(), Vec::new(), NOW)
        .unwrap();
    deliver(&ana, &first);
    for o in first {
        ben.accepted(o.envelope).unwrap();
    }
    (ana, ben)
}

/// One message: Ben sends, the envelope is split as a relay would, Ana receives, and Ben's
/// outbox forgets it. What each call took.
fn message(ana: &MissiveClient, ben: &MissiveClient, ana_id: &[u8], text: &str) -> [Duration; 4] {
    let start = Instant::now();
    let sent = ben
        .send_text(ana_id.to_vec(), text.to_owned(), Vec::new(), NOW)
        .unwrap();
    let sent_at = Instant::now();
    let [o] = sent.as_slice() else {
        panic!("one envelope")
    };
    let [part] = split_envelope(o.envelope.clone())
        .unwrap()
        .try_into()
        .unwrap();
    let split_at = Instant::now();
    let events = ana.receive(part.delivery, NOW).unwrap();
    let received_at = Instant::now();
    assert!(ben.accepted(o.envelope.clone()).unwrap());
    let accepted_at = Instant::now();
    assert_eq!(events.len(), 1);
    [
        sent_at - start,
        split_at - sent_at,
        received_at - split_at,
        accepted_at - received_at,
    ]
}

fn boundary(c: &mut Criterion) {
    let (ana, ben) = opened();
    let ana_id = ana.mailbox_id().unwrap();
    let text = "x".repeat(1024);
    let mut group = c.benchmark_group("bindings_rust");
    // The whole message, then each call of it alone (timed inside the same four calls).
    for (name, pick) in [
        ("message_4_calls", None),
        ("send_text", Some(0)),
        ("split_envelope", Some(1)),
        ("receive", Some(2)),
        ("accepted", Some(3)),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iterations| {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    let calls = message(&ana, &ben, &ana_id, &text);
                    total += pick.map_or_else(|| calls.iter().sum(), |i| calls[i]);
                }
                total
            });
        });
    }
    group.finish();
    // The floor of a call: no argument, a number back.
    c.bench_function("bindings_rust/generation", |b| {
        b.iter(|| ben.generation().unwrap())
    });
}

criterion_group!(benches, boundary);
criterion_main!(benches);
