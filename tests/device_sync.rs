//! What every device of an account agrees on (PROTOCOL.md §12.6): the switches (read
//! receipts, typing indicators and sponsored messages) changed on one device reach the others
//! at its next access sync, and a device's registration at the relay follows what it took; the
//! contact key one device replaces reaches the others. Of two devices changing either at once,
//! every device keeps the same; a contact one device removed holds none of the keys that stay.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::devices::more_devices;
use common::saved::Saved;
use common::users::{NOW, connect, deliver, member};
use missive::access::{AccessKey, Credential};
use missive::client::{Client, Content, Event, Outgoing, Settings};
use missive::envelope::MailboxId;
use missive::platform::{Platform, Profile};

const QUIET: Settings = Settings {
    read_receipts: false,
    typing_indicators: false,
    sponsored_messages: true,
};
const NO_ADS: Settings = Settings {
    read_receipts: true,
    typing_indicators: true,
    sponsored_messages: false,
};

/// Alice's account on three devices, each with a session with the others, their access
/// registered as it stands.
fn alice_on_three_devices() -> Vec<Client> {
    let mut platform = Platform::new(&mut rand::rng());
    let mut phone = member(&mut platform, "alice", Profile::FREE);
    let mut devices = more_devices(&mut phone, 2, &mut []);
    devices.insert(0, phone);
    for d in &mut devices {
        sync(d, NOW);
    }
    devices
}

/// `device`'s access sync at `now`: what it hands its other devices.
fn sync(device: &mut Client, now: u64) -> Vec<Outgoing> {
    device
        .access_sync(&mut rand::rng(), now)
        .saved()
        .unwrap()
        .notices
}

#[test]
fn switches_changed_on_one_device_reach_the_others_and_their_registration() {
    let mut devices = alice_on_three_devices();
    devices[1].set_settings(NO_ADS);
    // Nothing goes out before the sync, and nothing again after it.
    let shared = sync(&mut devices[1], NOW);
    assert_eq!(shared.len(), 2, "one to each other device");
    assert!(sync(&mut devices[1], NOW).is_empty());
    for i in [0, 2] {
        assert_eq!(
            deliver(&mut devices[i], &shared),
            [Event::SettingsChanged(NO_ADS)]
        );
        assert_eq!(*devices[i].settings(), NO_ADS);
        // Its mailbox no longer takes sponsored messages at the relay.
        let update = devices[i]
            .access_sync(&mut rand::rng(), NOW)
            .saved()
            .unwrap()
            .update
            .expect("the switch changed");
        assert!(!update.settings.unwrap().sponsored);
    }
    // The same switches set again change nothing and send nothing.
    devices[0].set_settings(NO_ADS);
    assert!(sync(&mut devices[0], NOW).is_empty());
}

#[test]
fn of_two_devices_changing_the_switches_at_once_every_device_keeps_the_same() {
    for (phone_at, laptop_at) in [(NOW, NOW), (NOW, NOW + 60), (NOW + 60, NOW)] {
        let mut devices = alice_on_three_devices();
        devices[0].set_settings(QUIET);
        devices[1].set_settings(NO_ADS);
        let from_phone = sync(&mut devices[0], phone_at);
        let from_laptop = sync(&mut devices[1], laptop_at);
        deliver(&mut devices[0], &from_laptop);
        deliver(&mut devices[1], &from_phone);
        // The tablet takes them in one order or the other: the same result.
        let mut tablet = devices.pop().unwrap();
        let mut tablet_again = Client::from_bytes(&tablet.to_bytes().unwrap()).unwrap();
        deliver(&mut tablet, &from_phone);
        deliver(&mut tablet, &from_laptop);
        deliver(&mut tablet_again, &from_laptop);
        deliver(&mut tablet_again, &from_phone);
        let kept = *devices[0].settings();
        assert!(kept == QUIET || kept == NO_ADS);
        if phone_at != laptop_at {
            let later = if phone_at > laptop_at { QUIET } else { NO_ADS };
            assert_eq!(kept, later, "the later change wins");
        }
        for d in [&devices[1], &tablet, &tablet_again] {
            assert_eq!(*d.settings(), kept);
        }
    }
}

#[test]
fn a_change_not_yet_shared_outlives_one_that_arrives_and_is_shared_after_it() {
    let mut devices = alice_on_three_devices();
    devices[1].set_settings(NO_ADS);
    let from_laptop = sync(&mut devices[1], NOW + 100);
    // The phone changed its switches and, before its sync, reads the laptop's: it keeps its
    // own, and shares them stamped after the laptop's, though its clock is behind.
    devices[0].set_settings(QUIET);
    assert!(deliver(&mut devices[0], &from_laptop).is_empty());
    assert_eq!(*devices[0].settings(), QUIET);
    let from_phone = sync(&mut devices[0], NOW);
    for i in [1, 2] {
        deliver(&mut devices[i], &from_laptop);
        deliver(&mut devices[i], &from_phone);
        assert_eq!(*devices[i].settings(), QUIET);
    }
}

#[test]
fn a_restarted_device_keeps_the_switches_it_took_and_their_stamp() {
    let mut devices = alice_on_three_devices();
    devices[1].set_settings(NO_ADS);
    let first = sync(&mut devices[1], NOW + 50);
    devices[2].set_settings(QUIET);
    let second = sync(&mut devices[2], NOW + 10);
    deliver(&mut devices[0], &first);
    // Restarted from its saved state: it still knows the switches it holds came at NOW + 50,
    // so the older change that arrives now is not taken.
    let mut phone = Client::from_bytes(&devices[0].to_bytes().unwrap()).unwrap();
    assert_eq!(*phone.settings(), NO_ADS);
    assert!(deliver(&mut phone, &second).is_empty());
    assert_eq!(*phone.settings(), NO_ADS);
    // Its own next change is stamped after both.
    phone.set_settings(QUIET);
    let third = sync(&mut phone, NOW);
    deliver(&mut devices[1], &second);
    deliver(&mut devices[1], &third);
    assert_eq!(*devices[1].settings(), QUIET);
}

/// Alice on a phone and a laptop, connected to Bob, Dan and Eve, who each hold her key and
/// her device list: `[phone, laptop]`, `[bob, dan, eve]`.
fn alice_with_three_connections() -> (Vec<Client>, Vec<Client>) {
    let mut platform = Platform::new(&mut rand::rng());
    let mut phone = member(&mut platform, "alice", Profile::FREE);
    let mut others: Vec<Client> = ["bob", "dan", "eve"]
        .iter()
        .map(|n| member(&mut platform, n, Profile::FREE))
        .collect();
    for o in &mut others {
        connect(&mut phone, o);
    }
    let mut contacts: Vec<&mut Client> = others.iter_mut().collect();
    let laptop = more_devices(&mut phone, 1, &mut contacts).remove(0);
    let mut alice = vec![phone, laptop];
    for c in alice.iter_mut().chain(&mut others) {
        sync(c, NOW);
    }
    (alice, others)
}

/// Delivers `pending` to everyone and everyone syncs, until nothing more is sent.
fn settle(clients: &mut [&mut Client], mut pending: Vec<Outgoing>) {
    for _ in 0..10 {
        if pending.is_empty() {
            return;
        }
        let mut next = Vec::new();
        for c in clients.iter_mut() {
            deliver(c, &pending);
        }
        for c in clients.iter_mut() {
            next.extend(sync(c, NOW));
        }
        pending = next;
    }
    panic!("still sending after ten rounds");
}

/// The contact key `device` registers, as a fresh registration would tell the relay.
fn registered(device: &mut Client) -> AccessKey {
    device.reset_access_registration();
    let sync = device.access_sync(&mut rand::rng(), NOW).saved().unwrap();
    assert!(sync.notices.is_empty(), "settled");
    sync.update.unwrap().contact.unwrap()
}

/// Whether `contact`'s next message to Alice presents what her devices registered.
fn reaches(contact: &mut Client, alice: &mut [Client]) -> bool {
    let to = *alice[0].member_id();
    let out = contact
        .send(&mut rand::rng(), &to, &Content::text("hi"), NOW)
        .saved()
        .unwrap();
    let keys: Vec<AccessKey> = alice.iter_mut().map(registered).collect();
    let expected = AccessKey::combine(&keys);
    out.iter()
        .any(|o| o.credential == Credential::Contacts(expected.clone()))
}

fn remove(device: &mut Client, whom: &MailboxId) -> Vec<Outgoing> {
    device
        .remove_connection(&mut rand::rng(), whom, NOW)
        .saved()
        .unwrap()
}

#[test]
fn a_key_replaced_on_one_device_is_the_key_of_every_device_and_no_one_is_told_twice() {
    let (mut alice, mut others) = alice_with_three_connections();
    let dan = *others[1].mailbox_id();
    let mut pending = remove(&mut alice[0], &dan);
    pending.extend(sync(&mut alice[0], NOW));
    // The laptop takes the step and the key; it hands out nothing of its own.
    deliver(&mut alice[1], &pending);
    assert!(sync(&mut alice[1], NOW).is_empty());
    let mut everyone: Vec<&mut Client> = alice.iter_mut().chain(&mut others).collect();
    settle(&mut everyone, pending);
    assert!(reaches(&mut others[0], &mut alice));
    assert!(reaches(&mut others[2], &mut alice));
}

#[test]
fn two_devices_replacing_the_key_at_once_agree_and_no_removed_contact_holds_it() {
    for (phone_at, laptop_at) in [(NOW, NOW + 5), (NOW + 5, NOW), (NOW, NOW)] {
        let (mut alice, mut others) = alice_with_three_connections();
        let (dan, eve) = (*others[1].mailbox_id(), *others[2].mailbox_id());
        // Each device removes a contact and replaces the key before hearing of the other:
        // each hands its new key to the contact the other removed.
        let mut pending = remove(&mut alice[0], &dan);
        pending.extend(remove(&mut alice[1], &eve));
        let from_phone = alice[0]
            .access_sync(&mut rand::rng(), phone_at)
            .saved()
            .unwrap();
        let from_laptop = alice[1]
            .access_sync(&mut rand::rng(), laptop_at)
            .saved()
            .unwrap();
        let handed = [
            from_phone.update.unwrap().contact.unwrap(),
            from_laptop.update.unwrap().contact.unwrap(),
        ];
        pending.extend(from_phone.notices);
        pending.extend(from_laptop.notices);
        let mut everyone: Vec<&mut Client> = alice.iter_mut().chain(&mut others).collect();
        settle(&mut everyone, pending);
        // Bob, who stays, reaches both devices; the keys Dan and Eve were handed are gone.
        assert!(reaches(&mut others[0], &mut alice));
        let now = [registered(&mut alice[0]), registered(&mut alice[1])];
        for key in &handed {
            assert!(
                !now.contains(key),
                "a key a removed contact was handed stays"
            );
        }
    }
}

#[test]
fn the_device_whose_key_lost_hands_its_contacts_the_one_that_won() {
    for (phone_at, laptop_at) in [(NOW + 5, NOW), (NOW, NOW + 5)] {
        let (mut alice, mut others) = alice_with_three_connections();
        let dan = *others[1].mailbox_id();
        // Both devices remove Dan before hearing of the other: neither step is news to the
        // other device, and each hands Bob and Eve a key of its own.
        let mut pending = remove(&mut alice[0], &dan);
        pending.extend(remove(&mut alice[1], &dan));
        pending.extend(sync(&mut alice[0], phone_at));
        pending.extend(sync(&mut alice[1], laptop_at));
        // Bob and Eve take the phone's key, then the laptop's: whichever won, they end with it.
        let mut everyone: Vec<&mut Client> = alice.iter_mut().chain(&mut others).collect();
        settle(&mut everyone, pending);
        assert!(reaches(&mut others[0], &mut alice));
        assert!(reaches(&mut others[2], &mut alice));
    }
}

#[test]
fn a_member_one_device_wrote_to_is_handed_the_key_another_device_draws() {
    let mut platform = Platform::new(&mut rand::rng());
    let mut phone = member(&mut platform, "alice", common::users::CAREER);
    let mut bob = member(&mut platform, "bob", Profile::FREE);
    let mut carol = member(&mut platform, "carol", Profile::FREE);
    connect(&mut phone, &mut bob);
    let carol_id = common::users::contact(&mut phone, &mut carol);
    let laptop = more_devices(&mut phone, 1, &mut [&mut bob, &mut carol]).remove(0);
    let mut alice = vec![phone, laptop];
    // The phone writes to Carol, who is no connection: she holds the account's key now. The
    // laptop sees the message, and so knows she does.
    let inmail = alice[0]
        .send_inmail(&mut rand::rng(), &carol_id, &Content::text("a role?"), NOW)
        .saved()
        .unwrap();
    let mut everyone: Vec<&mut Client> = alice.iter_mut().collect();
    everyone.extend([&mut bob, &mut carol]);
    settle(&mut everyone, inmail);
    // Her answer reaches both devices, with her own key for them to write back with.
    let alice_id = *alice[0].member_id();
    let answer = carol
        .send(
            &mut rand::rng(),
            &alice_id,
            &Content::text("tell me more"),
            NOW,
        )
        .saved()
        .unwrap();
    let mut everyone: Vec<&mut Client> = alice.iter_mut().collect();
    everyone.extend([&mut bob, &mut carol]);
    settle(&mut everyone, answer);
    // The laptop removes Bob and replaces the key: Carol is handed the new one.
    let bob_id = *bob.mailbox_id();
    let removed = remove(&mut alice[1], &bob_id);
    let mut everyone: Vec<&mut Client> = alice.iter_mut().collect();
    everyone.extend([&mut bob, &mut carol]);
    settle(&mut everyone, removed);
    assert!(reaches(&mut carol, &mut alice));
}

#[test]
fn a_single_device_that_changes_its_switches_saves_them_as_before() {
    let (mut alice, mut others) = alice_with_three_connections();
    let bob = &mut others[0];
    // Bob holds Alice's device list but has no other device: nothing of the switches'
    // sharing is kept, and his state stays at version 5, saved and loaded alike.
    bob.set_settings(QUIET);
    let to = *alice[0].member_id();
    let out = bob
        .send(&mut rand::rng(), &to, &Content::text("quiet now"), NOW)
        .saved()
        .unwrap();
    assert_eq!(bob.to_bytes().unwrap()[0], 5);
    assert!(sync(bob, NOW).is_empty());
    assert_eq!(*bob.settings(), QUIET);
    deliver(&mut alice[0], &out);
}
