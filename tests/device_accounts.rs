//! Members on one, two and three devices at once (PROTOCOL.md §12.6): every device of every
//! member reads what each device of the others and of its own account sends, in direct
//! conversations and in a group, when the devices write at the same time and their messages
//! arrive in any order; a member outside reads none of it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::devices::{acquaint, more_devices};
use common::saved::Saved;
use common::users::{NOW, connect, deliver, deliveries_for, member, texts};
use missive::client::{Client, Content, Outgoing};
use missive::conversation::{ConversationId, Role};
use missive::envelope::MailboxId;
use missive::platform::{Platform, Profile};

/// `name`'s account on `n` devices, the first device first.
fn account(first: Client, n: usize) -> Vec<Client> {
    let mut first = first;
    let more = more_devices(&mut first, n - 1, &mut []);
    std::iter::once(first).chain(more).collect()
}

/// Alice on `a` devices and Bob on `b`, connected, and Carol on one, connected to Alice;
/// every device holds a session with every device of the others.
fn three(a: usize, b: usize) -> (Vec<Client>, Vec<Client>, Vec<Client>) {
    let mut platform = Platform::new(&mut rand::rng());
    let mut alice = member(&mut platform, "alice", Profile::FREE);
    let mut bob = member(&mut platform, "bob", Profile::FREE);
    let mut carol = member(&mut platform, "carol", Profile::FREE);
    connect(&mut alice, &mut bob);
    connect(&mut alice, &mut carol);
    let (mut alice, mut bob, mut carol) = (account(alice, a), account(bob, b), vec![carol]);
    acquaint(&mut alice, &mut bob);
    acquaint(&mut alice, &mut carol);
    acquaint(&mut bob, &mut carol);
    (alice, bob, carol)
}

/// What each device sent in a round: its mailbox, its text, and what went out.
type Sent = Vec<(MailboxId, String, Vec<Outgoing>)>;

/// What each device sent, delivered to every device of `readers` last sent first; for each
/// reader, the texts it read, sorted.
fn crossed(sent: &Sent, readers: &mut [Client]) -> Vec<Vec<String>> {
    readers
        .iter_mut()
        .map(|reader| {
            let me = *reader.mailbox_id();
            let mut read: Vec<String> = (sent.iter().rev())
                .filter(|(from, ..)| *from != me)
                .flat_map(|(_, _, out)| texts(&deliver(reader, out)))
                .collect();
            read.sort();
            read
        })
        .collect()
}

/// Every device of `readers` reads every text `sent` holds but its own.
fn each_reads_all_but_its_own(sent: &Sent, readers: &mut [Client], case: &str) {
    let mut all: Vec<String> = sent.iter().map(|(_, t, _)| t.clone()).collect();
    all.sort();
    let read = crossed(sent, readers);
    for (device, read) in readers.iter().zip(read) {
        let own = (sent.iter().find(|(m, ..)| m == device.mailbox_id()))
            .map_or("", |(_, t, _)| t.as_str());
        let others: Vec<String> = all.iter().filter(|t| *t != own).cloned().collect();
        assert_eq!(read, others, "{case}");
    }
}

/// Every device of Alice and Bob writes to the other member at once, twice: every device
/// reads every message but its own, whatever the order, and Carol reads none.
fn direct_at_once(a: usize, b: usize) {
    let (mut alice, mut bob, mut carol) = three(a, b);
    let (alice_id, bob_id) = (*alice[0].member_id(), *bob[0].member_id());
    for round in 0..2 {
        let mut sent = Sent::new();
        for (devices, to, name) in [(&mut alice, bob_id, "a"), (&mut bob, alice_id, "b")] {
            for (i, device) in devices.iter_mut().enumerate() {
                let text = format!("{name}{i} r{round}");
                let out = device
                    .send(&mut rand::rng(), &to, &Content::text(&text), NOW)
                    .saved()
                    .unwrap();
                sent.push((*device.mailbox_id(), text, out));
            }
        }
        for devices in [&mut alice, &mut bob] {
            each_reads_all_but_its_own(&sent, devices, &format!("({a}, {b}) round {round}"));
        }
        for (_, _, out) in &sent {
            assert!(deliveries_for(out, carol[0].mailbox_id()).is_empty());
        }
        assert!(crossed(&sent, &mut carol)[0].is_empty());
    }
}

#[test]
fn every_device_reads_what_every_other_device_writes_at_the_same_time() {
    for (a, b) in [(1, 2), (2, 1), (2, 2), (3, 2), (3, 3)] {
        direct_at_once(a, b);
    }
}

/// Alice's last device opens a group with Bob (manager) and Carol; every device of Alice and
/// Bob then posts at once, twice: every device of the three reads every post but its own.
fn group_at_once(a: usize, b: usize) {
    let (mut alice, mut bob, mut carol) = three(a, b);
    let members = [
        (*bob[0].member_id(), Role::Manager),
        (*carol[0].member_id(), Role::Member),
    ];
    let opener = alice.len() - 1;
    let (group, welcome): (ConversationId, _) = alice[opener]
        .create_group(&mut rand::rng(), &members, NOW)
        .saved()
        .unwrap();
    let opened_on = *alice[opener].mailbox_id();
    for device in alice.iter_mut().chain(&mut bob).chain(&mut carol) {
        if *device.mailbox_id() != opened_on {
            deliver(device, &welcome);
        }
    }
    for round in 0..2 {
        let mut sent = Sent::new();
        for (devices, name) in [(&mut alice, "a"), (&mut bob, "b")] {
            for (i, device) in devices.iter_mut().enumerate() {
                let text = format!("{name}{i} r{round}");
                let out = device
                    .post_to_group(&mut rand::rng(), &group, &Content::text(&text), NOW)
                    .saved()
                    .unwrap();
                sent.push((*device.mailbox_id(), text, out));
            }
        }
        for devices in [&mut alice, &mut bob, &mut carol] {
            each_reads_all_but_its_own(&sent, devices, &format!("({a}, {b}) round {round}"));
        }
    }
}

#[test]
fn every_device_reads_every_post_to_a_group_written_at_the_same_time() {
    for (a, b) in [(1, 2), (2, 1), (3, 2), (3, 3)] {
        group_at_once(a, b);
    }
}

#[test]
fn a_post_to_fifty_members_on_two_devices_each_reaches_every_device_and_no_one_else() {
    let mut platform = Platform::new(&mut rand::rng());
    let admin = member(&mut platform, "admin", Profile::FREE);
    let mut outsider = member(&mut platform, "outsider", Profile::FREE);
    let mut admin = account(admin, 2);
    let mut members: Vec<Vec<Client>> = Vec::new();
    for i in 1..50 {
        let mut first = member(&mut platform, &format!("m{i}"), Profile::FREE);
        connect(&mut admin[0], &mut first);
        let mut devices = account(first, 2);
        acquaint(&mut admin, &mut devices);
        members.push(devices);
    }
    connect(&mut admin[0], &mut outsider);
    let roster: Vec<(MailboxId, Role)> = (members.iter())
        .map(|d| (*d[0].member_id(), Role::Member))
        .collect();
    let (group, welcome) = admin[0]
        .create_group(&mut rand::rng(), &roster, NOW)
        .saved()
        .unwrap();
    deliver(&mut admin[1], &welcome);
    for devices in &mut members {
        for d in devices.iter_mut() {
            deliver(d, &welcome);
        }
    }
    let post = admin[0]
        .post_to_group(&mut rand::rng(), &group, &Content::text("to all"), NOW)
        .saved()
        .unwrap();
    // 99 other devices: the body goes out in envelopes of at most 50 mailboxes, each once.
    let mut reached: Vec<MailboxId> = (post.iter())
        .flat_map(|o| {
            let envelope = missive::envelope::Envelope::from_bytes(&o.envelope).unwrap();
            assert!(envelope.mailboxes().len() <= 50);
            envelope.mailboxes().to_vec()
        })
        .collect();
    reached.sort();
    reached.dedup();
    assert!(reached.len() >= 99, "{} mailboxes", reached.len());
    assert_eq!(texts(&deliver(&mut admin[1], &post)), ["to all"]);
    for devices in &mut members {
        for d in devices.iter_mut() {
            assert_eq!(texts(&deliver(d, &post)), ["to all"]);
        }
    }
    assert!(deliveries_for(&post, outsider.mailbox_id()).is_empty());
    assert!(texts(&deliver(&mut outsider, &post)).is_empty());
}
