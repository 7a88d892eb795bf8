//! The sealed layer of pairwise messages (PROTOCOL.md §9.2), through the client API: which form
//! each message takes, a heavy user finding each session by its label after reloading lazily,
//! and altered or misdelivered bodies refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::saved::Saved;
use common::users::{NOW, connect, deliver, deliveries_for, say, texts};
use missive::client::{Client, Event, MemoryStore};
use missive::crypto::xwing;
use missive::envelope::Delivery;

const OPENING: u8 = 0x01;
const SESSION: u8 = 0x02;

fn client(name: &str) -> Client {
    Client::new(&mut rand::rng(), name.as_bytes())
}

/// The bodies of what `outgoing` delivers to `to`.
fn bodies(outgoing: &[missive::client::Outgoing], to: &Client) -> Vec<Vec<u8>> {
    deliveries_for(outgoing, to.mailbox_id())
        .iter()
        .map(|d| Delivery::from_bytes(d).unwrap().body().to_vec())
        .collect()
}

#[test]
fn opening_messages_are_sealed_to_the_x_wing_key_and_later_ones_under_the_session() {
    let (mut ana, mut ben) = (client("ana"), client("ben"));
    let invitations = common::users::invitations;
    invitations(&mut ana);
    let ben_id = common::users::contact(&mut ana, &mut ben);
    let ana_id = *ana.mailbox_id();
    // Ana's invitation opens the session: X-Wing to Ben's sealing key, naming generation 0.
    let invite = ana
        .invite(&mut rand::rng(), &ben_id, None, NOW)
        .saved()
        .unwrap();
    let opening = bodies(&invite, &ben);
    assert_eq!(opening.len(), 1);
    assert_eq!(opening[0][0], OPENING);
    assert_eq!(opening[0][1..5], 0u32.to_be_bytes());
    assert!(opening[0].len() > 5 + xwing::CIPHERTEXT_LEN);
    deliver(&mut ben, &invite);
    // Ben answers within the session; so does Ana from then on.
    let accept = ben.accept(&mut rand::rng(), &ana_id, NOW).saved().unwrap();
    let answer = bodies(&accept, &ana);
    assert!(answer.iter().all(|b| b[0] == SESSION), "{:?}", answer[0][0]);
    deliver(&mut ana, &accept);
    let out = say(&mut ana, &ben_id, "within the session");
    let later = bodies(&out, &ben);
    assert_eq!(later[0][0], SESSION);
    // The X-Wing encapsulation (1,120 bytes) is paid once, not on every message.
    assert!(opening[0].len() > later[0].len() + xwing::CIPHERTEXT_LEN);
    assert_eq!(texts(&deliver(&mut ben, &out)), ["within the session"]);
    // Two messages of one session share no visible label: every body is fresh from byte 1.
    let again = bodies(&say(&mut ana, &ben_id, "again"), &ben);
    let common_run = (1..later[0].len().min(again[0].len()) - 8)
        .any(|i| later[0][i..i + 8] == again[0][i..i + 8]);
    assert!(!common_run, "no 8 bytes in common at one place");
}

#[test]
fn a_heavy_user_reloaded_lazily_finds_every_session_by_its_label() {
    const CONTACTS: usize = 40;
    let mut ben = client("ben");
    let ben_id = *ben.mailbox_id();
    let mut others: Vec<Client> = (0..CONTACTS).map(|i| client(&format!("c{i}"))).collect();
    for c in &mut others {
        connect(c, &mut ben);
    }
    let mut store = MemoryStore::default();
    ben.save_to(&mut rand::rng(), &mut store).unwrap();
    // Every contact writes within its session; a lazily loaded Ben reads each one.
    let mut ben = Client::load_from(&store).unwrap().unwrap();
    for (i, c) in others.iter_mut().enumerate() {
        let out = say(c, &ben_id, &format!("from {i}"));
        assert_eq!(bodies(&out, &ben)[0][0], SESSION);
        assert_eq!(texts(&deliver(&mut ben, &out)), [format!("from {i}")]);
        if i % 10 == 9 {
            ben.save_to(&mut rand::rng(), &mut store).unwrap();
            ben = Client::load_from(&store).unwrap().unwrap();
        }
    }
    // Ben answers each one, and each reads the answer.
    for c in &mut others {
        let id = *c.mailbox_id();
        let out = say(&mut ben, &id, "thanks");
        assert_eq!(texts(&deliver(c, &out)), ["thanks"]);
    }
}

#[test]
fn an_altered_or_misdelivered_sealed_body_opens_nothing() {
    let (mut ana, mut ben, mut eve) = (client("ana"), client("ben"), client("eve"));
    let ben_id = connect(&mut ana, &mut ben);
    connect(&mut eve, &mut ben);
    let out = say(&mut ana, &ben_id, "only for ben");
    let delivery = Delivery::from_bytes(&deliveries_for(&out, &ben_id)[0]).unwrap();
    let body = delivery.body().to_vec();
    assert_eq!(body[0], SESSION);
    let shown = |events: &[Event]| !texts(events).is_empty();
    // Every byte flipped in turn (the form, enc, the outer ciphertext holding the label and
    // the inner seal): no message comes out.
    for i in 0..body.len() {
        let mut altered = body.clone();
        altered[i] ^= 0x01;
        let envelope =
            missive::envelope::Envelope::to_mailboxes(u64::MAX, &[ben_id], &altered).unwrap();
        let bytes = envelope[0].split()[0].to_bytes();
        if let Ok(events) = ben.receive(&bytes, NOW) {
            assert!(!shown(&events), "byte {i}");
        }
    }
    // Re-addressed to Eve, it opens nothing there either.
    let eve_id = *eve.mailbox_id();
    let envelope = missive::envelope::Envelope::to_mailboxes(u64::MAX, &[eve_id], &body).unwrap();
    if let Ok(events) = eve.receive(&envelope[0].split()[0].to_bytes(), NOW) {
        assert!(!shown(&events));
    }
    // The genuine one still reads.
    assert_eq!(texts(&deliver(&mut ben, &out)), ["only for ben"]);
}
