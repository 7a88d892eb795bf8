//! The sans-IO client end to end, with the relay's split in between: direct messages both
//! ways, late keys, duplicates, multi-recipient messages, state at rest, forged senders.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::saved::Saved;
use common::users::{NOW, connect, contact, deliver, deliveries_for, directory, texts};
use missive::client::{Client, Content, Event, Waiting};
use missive::envelope::{self, MailboxId};
use missive::{CryptoError, Error, UsageError};

/// A user of its own free account, with invitation tokens.
fn user(name: &str) -> Client {
    let mut c = Client::new(&mut rand::rng(), name.as_bytes());
    common::users::invitations(&mut c);
    c
}

#[test]
fn direct_messages_flow_both_ways() {
    let (mut alice, mut bob) = (user("alice"), user("bob"));
    let bob_id = connect(&mut alice, &mut bob);
    let out = alice
        .send(&mut rand::rng(), &bob_id, &Content::text("hi bob"), NOW)
        .saved()
        .unwrap();
    let events = deliver(&mut bob, &out);
    assert_eq!(texts(&events), ["hi bob"]);
    let Event::Message {
        from_user, from, ..
    } = events
        .iter()
        .find(|e| matches!(e, Event::Message { .. }))
        .unwrap()
    else {
        unreachable!()
    };
    assert_eq!(
        (from_user.as_deref(), from),
        (Some(&b"alice"[..]), alice.mailbox_id())
    );

    let alice_id = *alice.mailbox_id();
    let reply = bob
        .send(&mut rand::rng(), &alice_id, &Content::text("hi alice"), NOW)
        .saved()
        .unwrap();
    assert_eq!(texts(&deliver(&mut alice, &reply)), ["hi alice"]);
    for i in 0..5 {
        let out = alice
            .send(
                &mut rand::rng(),
                &bob_id,
                &Content::text(format!("m{i}")),
                NOW,
            )
            .saved()
            .unwrap();
        assert_eq!(texts(&deliver(&mut bob, &out)), [format!("m{i}")]);
    }
}

#[test]
fn a_message_that_arrives_before_its_keys_waits_for_them() {
    let (mut alice, mut bob) = (user("alice"), user("bob"));
    let bob_id = connect(&mut alice, &mut bob);
    let out = alice
        .send(&mut rand::rng(), &bob_id, &Content::text("late keys"), NOW)
        .saved()
        .unwrap();
    let mut ds = deliveries_for(&out, &bob_id);
    assert_eq!(ds.len(), 2, "key distribution, then the message");
    ds.reverse();
    assert_eq!(
        bob.receive(&ds[0], NOW).unwrap(),
        [Event::Waiting(Waiting::Unrecognised)],
        "kept until its keys come"
    );
    assert_eq!(bob.waiting(), 1);
    assert_eq!(texts(&bob.receive(&ds[1], NOW).unwrap()), ["late keys"]);
}

#[test]
fn a_multi_recipient_message_that_arrives_before_its_grant_waits_for_it() {
    let (mut alice, mut bob, mut carol) = (user("alice"), user("bob"), user("carol"));
    let to = [
        connect(&mut alice, &mut bob),
        connect(&mut alice, &mut carol),
    ];
    let (_, out) = alice
        .send_multi(&mut rand::rng(), &to, &Content::text("to you both"), NOW)
        .saved()
        .unwrap();
    let mut ds = deliveries_for(&out, &to[0]);
    assert_eq!(
        ds.len(),
        2,
        "the grant of Alice's fan-out chain, then the message"
    );
    ds.reverse();
    assert_eq!(
        bob.receive(&ds[0], NOW).unwrap(),
        [Event::Waiting(Waiting::Unrecognised)]
    );
    assert_eq!(bob.waiting(), 1);
    assert_eq!(texts(&bob.receive(&ds[1], NOW).unwrap()), ["to you both"]);
    assert_eq!(bob.waiting(), 0);
}

#[test]
fn a_lost_multi_recipient_message_does_not_hold_up_the_next() {
    let (mut alice, mut bob, mut carol) = (user("alice"), user("bob"), user("carol"));
    let to = [
        connect(&mut alice, &mut bob),
        connect(&mut alice, &mut carol),
    ];
    let outs: Vec<_> = ["one", "two", "three"]
        .iter()
        .map(|t| {
            let (_, out) = alice
                .send_multi(&mut rand::rng(), &to, &Content::text(*t), NOW)
                .saved()
                .unwrap();
            deliveries_for(&out, &to[0])
        })
        .collect();
    let grant = &outs[0][0];
    let (one, three) = (&outs[0][1], &outs[2][0]);
    assert!(bob.receive(grant, NOW).unwrap().is_empty());
    // "one" is late and "two" never comes: "three" opens at once, then "one" when it comes.
    assert_eq!(texts(&bob.receive(three, NOW).unwrap()), ["three"]);
    assert_eq!(texts(&bob.receive(one, NOW).unwrap()), ["one"]);
    assert_eq!(bob.waiting(), 0);
}

#[test]
fn duplicates_are_dropped() {
    let (mut alice, mut bob) = (user("alice"), user("bob"));
    let bob_id = connect(&mut alice, &mut bob);
    let out = alice
        .send(&mut rand::rng(), &bob_id, &Content::text("once"), NOW)
        .saved()
        .unwrap();
    let ds = deliveries_for(&out, &bob_id);
    let first: Vec<Event> = ds
        .iter()
        .flat_map(|d| bob.receive(d, NOW).unwrap())
        .collect();
    assert_eq!(texts(&first), ["once"]);
    for d in &ds {
        assert!(bob.receive(d, NOW).unwrap().is_empty());
    }
}

#[test]
fn multi_recipient_message_reaches_only_its_recipients() {
    let mut alice = user("alice");
    let mut others: Vec<Client> = ["bob", "carol", "dave", "erin"]
        .iter()
        .map(|n| user(n))
        .collect();
    let ids: Vec<MailboxId> = others.iter_mut().map(|o| connect(&mut alice, o)).collect();
    let (_, out) = alice
        .send_multi(&mut rand::rng(), &ids[..3], &Content::text("to three"), NOW)
        .saved()
        .unwrap();
    for o in &mut others[..3] {
        assert_eq!(texts(&deliver(o, &out)), ["to three"]);
    }
    let erin = &mut others[3];
    assert!(
        deliver(erin, &out).is_empty(),
        "nothing is addressed to erin"
    );
    // Even handed another recipient's delivery, erin cannot open it.
    let bobs = deliveries_for(&out, &ids[0]);
    for d in &bobs {
        assert_eq!(erin.receive(d, NOW), Err(UsageError::WrongMailbox.into()));
    }
}

#[test]
fn the_51st_recipient_is_refused() {
    let mut alice = user("alice");
    let mut ids = Vec::new();
    for i in 0..51 {
        let mut peer = user(&format!("peer{i}"));
        ids.push(connect(&mut alice, &mut peer));
    }
    let refused = alice
        .send_multi(&mut rand::rng(), &ids, &Content::text("too many"), NOW)
        .saved();
    assert_eq!(
        refused.unwrap_err(),
        Error::Usage(UsageError::TooManyRecipients { max: 50 })
    );
    assert!(
        alice
            .send_multi(&mut rand::rng(), &ids[..50], &Content::text("fifty"), NOW)
            .saved()
            .is_ok()
    );
}

#[test]
fn state_survives_a_restart_on_both_sides() {
    let (mut alice, mut bob) = (user("alice"), user("bob"));
    let bob_id = connect(&mut alice, &mut bob);
    let out = alice
        .send(&mut rand::rng(), &bob_id, &Content::text("before"), NOW)
        .saved()
        .unwrap();
    assert_eq!(texts(&deliver(&mut bob, &out)), ["before"]);
    let mut alice = Client::from_bytes(&alice.to_bytes().unwrap()).unwrap();
    let mut bob = Client::from_bytes(&bob.to_bytes().unwrap()).unwrap();
    let out = alice
        .send(&mut rand::rng(), &bob_id, &Content::text("after"), NOW)
        .saved()
        .unwrap();
    assert_eq!(texts(&deliver(&mut bob, &out)), ["after"]);
    let alice_id = *alice.mailbox_id();
    let reply = bob
        .send(&mut rand::rng(), &alice_id, &Content::text("reply"), NOW)
        .saved()
        .unwrap();
    assert_eq!(texts(&deliver(&mut alice, &reply)), ["reply"]);
}

#[test]
fn a_third_party_reads_nothing_of_a_direct_conversation() {
    let (mut alice, mut bob, mut eve) = (user("alice"), user("bob"), user("eve"));
    let bob_id = connect(&mut alice, &mut bob);
    contact(&mut eve, &mut bob);
    let out = alice
        .send(&mut rand::rng(), &bob_id, &Content::text("private"), NOW)
        .saved()
        .unwrap();
    deliver(&mut bob, &out);
    // Eve re-addresses Bob's deliveries to herself, as a malicious relay could.
    for o in &out {
        let env = envelope::Envelope::from_bytes(&o.envelope).unwrap();
        let forged =
            envelope::Envelope::to_mailboxes(NOW + 60, &[*eve.mailbox_id()], env.body()).unwrap();
        for d in envelope::split(&forged[0].to_bytes()).unwrap() {
            assert!(texts(&eve.receive(&d.to_bytes(), NOW).unwrap_or_default()).is_empty());
        }
    }
}

#[test]
fn a_sealed_message_claiming_another_sender_is_refused() {
    let (mut alice, mut bob, mut mallory) = (user("alice"), user("bob"), user("mallory"));
    let bob_id = connect(&mut alice, &mut bob);
    let alice_id = *alice.mailbox_id();
    // Bob knows Alice.
    let out = alice
        .send(&mut rand::rng(), &bob_id, &Content::text("hello"), NOW)
        .saved()
        .unwrap();
    deliver(&mut bob, &out);
    // Mallory starts her own session with Bob, but cannot make it pass as Alice's: her first
    // message is a prekey message under her own identity, which Bob's client records as hers.
    connect(&mut mallory, &mut bob);
    let out = mallory
        .send(&mut rand::rng(), &bob_id, &Content::text("it's alice"), NOW)
        .saved()
        .unwrap();
    let events = deliver(&mut bob, &out);
    for e in &events {
        if let Event::Message {
            from, from_user, ..
        } = e
        {
            assert_ne!(*from, alice_id);
            assert_eq!(from_user.as_deref(), Some(&b"mallory"[..]));
        }
    }
    assert_eq!(bob.contact(&alice_id).unwrap().unwrap().user, b"alice");
}

#[test]
fn a_changed_identity_for_a_known_mailbox_is_refused() {
    let (mut alice, mut bob) = (user("alice"), user("bob"));
    contact(&mut alice, &mut bob);
    let mut impostor = user("bob");
    let mut response = directory(&mut impostor);
    response.mailbox = *bob.mailbox_id();
    assert_eq!(
        alice.add_contact(&mut rand::rng(), b"bob", &response),
        Err(Error::Crypto(CryptoError::IdentityChanged))
    );
}

#[test]
fn sessions_started_by_both_sides_at_once_converge() {
    let (mut alice, mut bob) = (user("alice"), user("bob"));
    // Each looks the other up and invites before seeing the other's invitation.
    let bob_id = contact(&mut alice, &mut bob);
    let alice_id = contact(&mut bob, &mut alice);
    let from_alice = alice
        .invite(&mut rand::rng(), &bob_id, None, NOW)
        .saved()
        .unwrap();
    let from_bob = bob
        .invite(&mut rand::rng(), &alice_id, None, NOW)
        .saved()
        .unwrap();
    deliver(&mut bob, &from_alice);
    deliver(&mut alice, &from_bob);
    // Crossing invitations connect; messages now flow both ways, several times.
    for i in 0..3 {
        let out = alice
            .send(
                &mut rand::rng(),
                &bob_id,
                &Content::text(format!("a{i}")),
                NOW,
            )
            .saved()
            .unwrap();
        assert_eq!(texts(&deliver(&mut bob, &out)), [format!("a{i}")]);
        let out = bob
            .send(
                &mut rand::rng(),
                &alice_id,
                &Content::text(format!("b{i}")),
                NOW,
            )
            .saved()
            .unwrap();
        assert_eq!(texts(&deliver(&mut alice, &out)), [format!("b{i}")]);
    }
    // And after a restart of both.
    let mut alice = Client::from_bytes(&alice.to_bytes().unwrap()).unwrap();
    let mut bob = Client::from_bytes(&bob.to_bytes().unwrap()).unwrap();
    let out = alice
        .send(&mut rand::rng(), &bob_id, &Content::text("later"), NOW)
        .saved()
        .unwrap();
    assert_eq!(texts(&deliver(&mut bob, &out)), ["later"]);
}

#[test]
fn a_sync_with_nothing_to_change_registers_nothing() {
    let (mut alice, mut bob) = (user("alice"), user("bob"));
    connect(&mut alice, &mut bob);
    let first = alice.access_sync(&mut rand::rng(), NOW).saved().unwrap();
    assert!(first.update.is_some(), "the first sync registers the keys");
    let again = alice.access_sync(&mut rand::rng(), NOW).saved().unwrap();
    assert!(again.update.is_none() && again.notices.is_empty());
}

#[test]
fn a_client_tops_up_its_one_time_prekeys_when_they_run_low() {
    use missive::client::{PREKEYS_FULL, PREKEYS_LOW};
    use missive::relay_api::PrekeyStock;
    let alice = user("alice");
    let wanted = |left| alice.prekeys_wanted(&PrekeyStock { one_time: left });
    assert_eq!(wanted(PREKEYS_FULL), 0);
    assert_eq!(wanted(PREKEYS_LOW), 0);
    assert_eq!(
        wanted(PREKEYS_LOW - 1),
        (PREKEYS_FULL - PREKEYS_LOW + 1) as usize
    );
    assert_eq!(wanted(0), PREKEYS_FULL as usize);
}

#[test]
fn a_client_cannot_take_its_own_account_as_a_contact() {
    let mut ana = user("ana");
    let own = directory(&mut ana);
    let refused = ana.add_contact(&mut rand::rng(), b"ana", &own);
    assert_eq!(refused, Err(Error::Usage(UsageError::OwnAccount)));
    assert!(ana.contact(ana.mailbox_id()).unwrap().is_none());
    // Another account that presents ana's identity key under its own mailbox is refused too.
    let mut copy = own.clone();
    copy.mailbox = *user("ben").mailbox_id();
    assert_eq!(
        ana.add_contact(&mut rand::rng(), b"ben", &copy),
        Err(Error::Usage(UsageError::OwnAccount))
    );
}

#[test]
fn sent_envelopes_wait_in_the_outbox_until_the_relay_takes_them() {
    let (mut alice, mut bob) = (user("alice"), user("bob"));
    let bob_id = connect(&mut alice, &mut bob);
    // The connection's own envelopes were taken.
    for o in alice.outbox().to_vec() {
        assert!(alice.accepted(&o));
    }
    assert!(alice.outbox().is_empty());
    let mut store = missive::client::MemoryStore::default();
    let first = alice
        .send(&mut rand::rng(), &bob_id, &Content::text("one"), NOW)
        .unwrap()
        .save(&mut rand::rng(), &mut store)
        .unwrap();
    let second = alice
        .send(&mut rand::rng(), &bob_id, &Content::text("two"), NOW)
        .unwrap()
        .save(&mut rand::rng(), &mut store)
        .unwrap();
    let both = [&first[..], &second[..]].concat();
    assert!(alice.outbox() == both, "both sends queued, in order");
    // The app dies before submitting anything: what it saved still holds both, in order.
    let restarted = Client::load_from(&store).unwrap().unwrap();
    let queued = restarted.outbox().to_vec();
    assert!(queued == both, "the saved state holds the outbox");
    assert_eq!(texts(&deliver(&mut bob, &queued)), ["one", "two"]);
    // Reported one by one as the relay takes them.
    for o in &first {
        assert!(alice.accepted(o));
        assert!(!alice.accepted(o), "taken once");
    }
    assert!(alice.outbox() == second, "what is left is the second send");
    for o in &second {
        assert!(alice.accepted(o));
    }
    assert!(alice.outbox().is_empty());
    // A typing indicator is worth sending only now: it is never queued.
    let conversation = alice.direct_conversation(&bob_id).unwrap().unwrap();
    let typing = alice
        .typing(&mut rand::rng(), &conversation, true, NOW)
        .unwrap();
    assert!(!typing.is_empty() && alice.outbox().is_empty());
    // A multi-recipient message queues every envelope it made.
    let contacts: Vec<Vec<u8>> = alice
        .contacts()
        .unwrap()
        .into_iter()
        .map(|c| c.user)
        .collect();
    assert_eq!(contacts, [b"bob".to_vec()]);
    let mut carol = user("carol");
    let carol_id = connect(&mut alice, &mut carol);
    for o in alice.outbox().to_vec() {
        alice.accepted(&o);
    }
    let (_, multi) = alice
        .send_multi(
            &mut rand::rng(),
            &[bob_id, carol_id],
            &Content::text("all"),
            NOW,
        )
        .saved()
        .unwrap();
    assert!(!multi.is_empty() && alice.outbox() == multi);
}

#[test]
fn a_full_outbox_refuses_sends_and_changes_nothing() {
    let (mut alice, mut bob) = (user("alice"), user("bob"));
    let bob_id = connect(&mut alice, &mut bob);
    for o in alice.outbox().to_vec() {
        alice.accepted(&o);
    }
    // A store of its own, without the reload check of `.saved()`: 1,024 sends would make it
    // quadratic.
    let mut store = missive::client::MemoryStore::default();
    let mut sent = 0;
    while alice.outbox().len() < missive::client::MAX_OUTBOX {
        alice
            .send(
                &mut rand::rng(),
                &bob_id,
                &Content::text(format!("{sent}")),
                NOW,
            )
            .unwrap()
            .save(&mut rand::rng(), &mut store)
            .unwrap();
        sent += 1;
        assert!(sent <= missive::client::MAX_OUTBOX, "every send is queued");
    }
    let before = alice.to_bytes().unwrap();
    let refused = alice.send(
        &mut rand::rng(),
        &bob_id,
        &Content::text("one too many"),
        NOW,
    );
    assert_eq!(
        refused.err(),
        Some(Error::Usage(UsageError::OutboxFull {
            max: missive::client::MAX_OUTBOX
        }))
    );
    assert!(
        alice.to_bytes().unwrap() == before,
        "a refused send moved nothing on"
    );
    // The relay takes them all, bob reads every one, and sending works again.
    let queued = alice.outbox().to_vec();
    let read = texts(&deliver(&mut bob, &queued));
    assert_eq!(read.len(), sent);
    assert_eq!(
        read.last().map(String::as_str),
        Some(format!("{}", sent - 1).as_str())
    );
    for o in &queued {
        assert!(alice.accepted(o));
    }
    let next = alice
        .send(&mut rand::rng(), &bob_id, &Content::text("after"), NOW)
        .saved()
        .unwrap();
    assert_eq!(texts(&deliver(&mut bob, &next)), ["after"]);
}
