//! Several devices per account, the client's side: linking a new device through the relay's
//! mailboxes (the code, the answer, the handover), what the new device holds after, the
//! signed list, and the ways a link fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::devices::{answered, found, link};

use common::saved::Saved;
use common::users::{NOW, connect, deliver, directory, member};
use missive::Identity;
use missive::access::Credential;
use missive::client::{Client, Connection, Content, Event, MemoryStore, Outgoing, Waiting};
use missive::device::{DeviceList, LINK_LIFETIME, MAX_DEVICES, SignedDeviceList};
use missive::platform::{Platform, Profile};
use missive::relay_api::DeviceDirectory;
use missive::token::TokenKind;
use missive::{DeviceError, Error, UsageError};

/// The access key an outgoing link message presents.
fn link_key(out: &Outgoing) -> [u8; 16] {
    match &out.credential {
        Credential::Keys(keys) if keys.len() == 1 && keys[0].len() == 1 => *keys[0][0].as_bytes(),
        other => panic!("a link message presents one key, not {other:?}"),
    }
}

/// The keys `c` would register now.
fn registered(c: &mut Client, now: u64) -> Vec<[u8; 16]> {
    let sync = c.access_sync(&mut rand::rng(), now).saved().unwrap();
    sync.update
        .map(|u| u.add.iter().map(|k| *k.as_bytes()).collect())
        .unwrap_or_default()
}

fn alice_with_bob() -> (Client, Client, Platform) {
    let mut platform = Platform::new(&mut rand::rng());
    let mut alice = member(&mut platform, "alice", Profile::FREE);
    let mut bob = member(&mut platform, "bob", Profile::FREE);
    connect(&mut alice, &mut bob);
    (alice, bob, platform)
}

#[test]
fn a_linked_device_holds_the_account_and_its_contacts_but_no_session_key() {
    let (mut phone, bob, _) = alice_with_bob();
    let bob_id = *bob.mailbox_id();
    phone
        .send(&mut rand::rng(), &bob_id, &Content::text("before"), NOW)
        .saved()
        .unwrap();
    let invites = phone.tokens(TokenKind::Invite);
    let mut laptop = Client::new(&mut rand::rng(), b"someone");
    let device = answered(&mut phone, &mut laptop);
    assert_eq!(device.mailbox, *laptop.mailbox_id());
    assert_eq!(device.identity, *laptop.identity());
    let linked = phone.link_device(&mut rand::rng(), NOW).saved().unwrap();
    // Queued like anything sent, until the relay takes it.
    assert_eq!(phone.outbox().last(), Some(&linked.handover));
    let events = deliver(&mut laptop, &[linked.handover]);
    assert_eq!(events, vec![Event::Linked { device: 2 }]);

    // One account: the same identity (so the same safety numbers) and member id, the name
    // and what it agreed with others; each device keeps its own identity and mailbox.
    assert_eq!(laptop.account_identity(), phone.account_identity());
    assert_eq!(phone.account_identity(), phone.identity());
    assert_ne!(laptop.identity(), phone.identity());
    assert_eq!(laptop.member_id(), phone.mailbox_id());
    assert_eq!(laptop.user(), b"alice");
    assert_eq!((phone.device_id(), laptop.device_id()), (1, 2));
    assert_eq!(laptop.contacts().unwrap(), phone.contacts().unwrap());
    assert_eq!(
        laptop.connection(bob.mailbox_id()).unwrap(),
        Connection::Connected
    );
    // The unspent tokens are split, never copied: each can be spent once.
    let (kept, given) = (
        phone.tokens(TokenKind::Invite),
        laptop.tokens(TokenKind::Invite),
    );
    assert_eq!(kept + given, invites);
    assert_eq!(given, invites / 2);
    // No conversation comes along: the laptop reads only what is sent after it joined.
    assert!(
        laptop
            .direct_conversation(bob.mailbox_id())
            .unwrap()
            .is_none()
    );
    assert!(
        phone
            .direct_conversation(bob.mailbox_id())
            .unwrap()
            .is_some()
    );

    // Both hold the list the phone publishes, signed by the account, both devices in it.
    let list = SignedDeviceList::from_bytes(&linked.list).unwrap();
    assert_eq!(phone.device_list(), Some(&list));
    assert_eq!(laptop.device_list(), Some(&list));
    let verified = list.verify(phone.account_identity(), Some(1)).unwrap();
    assert_eq!(verified.version(), 2);
    let mailboxes: Vec<_> = verified.devices().iter().map(|d| d.mailbox).collect();
    assert_eq!(mailboxes, vec![*phone.mailbox_id(), *laptop.mailbox_id()]);
}

#[test]
fn both_devices_register_the_link_key_and_only_while_it_lives() {
    let (mut phone, _, _) = alice_with_bob();
    let mut laptop = Client::new(&mut rand::rng(), b"alice");
    let code = phone.link_code(&mut rand::rng(), NOW).unwrap();
    let shown = registered(&mut phone, NOW);
    let request = laptop
        .answer_link(&mut rand::rng(), &code, NOW)
        .saved()
        .unwrap();
    let key = link_key(&request);
    assert_eq!(shown, vec![key]);
    assert!(registered(&mut laptop, NOW).contains(&key));
    deliver(&mut phone, &[request]);
    let linked = phone.link_device(&mut rand::rng(), NOW).saved().unwrap();
    assert_eq!(link_key(&linked.handover), key);
    // Once handed over, the phone takes the key back; the laptop once linked.
    let sync = phone.access_sync(&mut rand::rng(), NOW).saved().unwrap();
    let removed: Vec<[u8; 16]> = sync
        .update
        .unwrap()
        .remove
        .iter()
        .map(|k| *k.as_bytes())
        .collect();
    assert_eq!(removed, vec![key]);
    deliver(&mut laptop, &[linked.handover]);
    let sync = laptop.access_sync(&mut rand::rng(), NOW).saved().unwrap();
    let update = sync.update.unwrap();
    assert!(update.remove.iter().any(|k| *k.as_bytes() == key));
    // And registers its own key derived from the contact key the account hands out (the one
    // its contacts hold), which the phone registers as it is: keys XORed over both devices
    // never cancel out.
    phone.reset_access_registration();
    let sync = phone.access_sync(&mut rand::rng(), NOW).saved().unwrap();
    let account_key = sync.update.unwrap().contact.unwrap();
    let laptop_key = update.contact.unwrap();
    assert_ne!(laptop_key, account_key);
    assert_eq!(
        laptop_key,
        account_key.for_device(phone.mailbox_id(), laptop.mailbox_id())
    );
    assert_eq!(
        account_key.for_device(phone.mailbox_id(), phone.mailbox_id()),
        account_key
    );
}

#[test]
fn a_link_survives_a_restart_of_either_device() {
    let (mut phone, _, _) = alice_with_bob();
    let mut laptop = Client::new(&mut rand::rng(), b"alice");
    let (mut at_phone, mut at_laptop) = (MemoryStore::default(), MemoryStore::default());
    let code = phone.link_code(&mut rand::rng(), NOW).unwrap();
    phone.save_to(&mut rand::rng(), &mut at_phone).unwrap();
    let request = laptop
        .answer_link(&mut rand::rng(), &code, NOW)
        .unwrap()
        .save(&mut rand::rng(), &mut at_laptop)
        .unwrap();
    let mut phone = Client::load_from(&at_phone).unwrap().unwrap();
    let mut laptop = Client::load_from(&at_laptop).unwrap().unwrap();
    assert!(matches!(
        deliver(&mut phone, &[request]).as_slice(),
        [Event::LinkAnswered(_)]
    ));
    phone.save_to(&mut rand::rng(), &mut at_phone).unwrap();
    let mut phone = Client::load_from(&at_phone).unwrap().unwrap();
    let linked = phone
        .link_device(&mut rand::rng(), NOW)
        .unwrap()
        .save(&mut rand::rng(), &mut at_phone)
        .unwrap();
    assert_eq!(
        deliver(&mut laptop, &[linked.handover]),
        vec![Event::Linked { device: 2 }]
    );
    laptop.save_to(&mut rand::rng(), &mut at_laptop).unwrap();
    // Each loads as a device of the account, whole and from its records.
    for (store, device) in [(&at_phone, 1), (&at_laptop, 2)] {
        let loaded = Client::load_from(store).unwrap().unwrap();
        assert_eq!(loaded.device_id(), device);
        assert_eq!(loaded.account_identity(), phone.account_identity());
        let whole = Client::from_bytes(&loaded.to_bytes().unwrap()).unwrap();
        assert_eq!(whole.device_list(), loaded.device_list());
        assert_eq!(whole.member_id(), phone.mailbox_id());
        assert_eq!(whole.account_identity(), phone.account_identity());
    }
}

#[test]
fn a_code_is_used_once_and_only_by_who_holds_it() {
    let (mut phone, _, _) = alice_with_bob();
    let mut laptop = Client::new(&mut rand::rng(), b"alice");
    let mut other = Client::new(&mut rand::rng(), b"mallory");
    let code = phone.link_code(&mut rand::rng(), NOW).unwrap();
    // Answered with another code (a third party who saw only the mailbox): not for us.
    let mut elsewhere = Client::new(&mut rand::rng(), b"x");
    let foreign = elsewhere.link_code(&mut rand::rng(), NOW).unwrap();
    let mut redirected = other
        .answer_link(&mut rand::rng(), &foreign, NOW)
        .saved()
        .unwrap();
    let phone_box = *phone.mailbox_id();
    redirected.envelope = missive::envelope::Envelope::to_mailboxes(
        NOW + 1000,
        &[phone_box],
        missive::envelope::Envelope::from_bytes(&redirected.envelope)
            .unwrap()
            .body(),
    )
    .unwrap()
    .remove(0)
    .to_bytes();
    assert_eq!(
        deliver(&mut phone, &[redirected]),
        vec![Event::Waiting(Waiting::Unrecognised)]
    );
    let first = laptop
        .answer_link(&mut rand::rng(), &code, NOW)
        .saved()
        .unwrap();
    let mut third = Client::new(&mut rand::rng(), b"mallory");
    let second = third
        .answer_link(&mut rand::rng(), &code, NOW)
        .saved()
        .unwrap();
    assert!(matches!(
        deliver(&mut phone, &[first]).as_slice(),
        [Event::LinkAnswered(d)] if d.mailbox == *laptop.mailbox_id()
    ));
    // The code is used up: a second answer is not taken.
    assert_eq!(
        deliver(&mut phone, &[second]),
        vec![Event::Waiting(Waiting::Unrecognised)]
    );
    let linked = phone.link_device(&mut rand::rng(), NOW).saved().unwrap();
    // Handed to the first device only: sealed to its key, it opens nowhere else.
    let sealed = missive::envelope::Envelope::from_bytes(&linked.handover.envelope)
        .unwrap()
        .body()
        .to_vec();
    let third_box = *third.mailbox_id();
    let misdirected = Outgoing {
        envelope: missive::envelope::Envelope::to_mailboxes(NOW + 1000, &[third_box], &sealed)
            .unwrap()
            .remove(0)
            .to_bytes(),
        ..linked.handover.clone()
    };
    assert_eq!(
        deliver(&mut third, &[misdirected]),
        vec![Event::Waiting(Waiting::Unrecognised)]
    );
    assert_eq!(third.device_list(), None);
    deliver(&mut laptop, &[linked.handover]);
    assert_eq!(laptop.device_id(), 2);
    // Nothing is left to hand over.
    assert_eq!(
        phone.link_device(&mut rand::rng(), NOW).err(),
        Some(Error::Usage(UsageError::NotPermitted))
    );
}

#[test]
fn a_code_answered_late_or_handed_over_late_fails() {
    let (mut phone, _, _) = alice_with_bob();
    let mut laptop = Client::new(&mut rand::rng(), b"alice");
    let code = phone.link_code(&mut rand::rng(), NOW).unwrap();
    let late = NOW + LINK_LIFETIME + 1;
    assert_eq!(
        laptop.answer_link(&mut rand::rng(), &code, late).err(),
        Some(Error::Device(DeviceError::LinkExpired))
    );
    let request = laptop
        .answer_link(&mut rand::rng(), &code, NOW + LINK_LIFETIME)
        .saved()
        .unwrap();
    // Arriving at its last second, it is taken.
    let mut phone_copy = Client::from_bytes(&phone.to_bytes().unwrap()).unwrap();
    let in_time = phone_copy.link_code(&mut rand::rng(), NOW).unwrap();
    let mut laptop_copy = Client::new(&mut rand::rng(), b"alice");
    let answer = laptop_copy
        .answer_link(&mut rand::rng(), &in_time, NOW)
        .saved()
        .unwrap();
    let to_copy = *phone_copy.mailbox_id();
    let delivery = &common::users::deliveries_for(std::slice::from_ref(&answer), &to_copy)[0];
    assert!(matches!(
        phone_copy
            .receive(delivery, NOW + LINK_LIFETIME)
            .unwrap()
            .as_slice(),
        [Event::LinkAnswered(_)]
    ));
    // Arriving after the expiry, the answer is not taken, and the code is forgotten.
    let mailbox = *phone.mailbox_id();
    let delivery = &common::users::deliveries_for(std::slice::from_ref(&request), &mailbox)[0];
    assert_eq!(
        phone.receive(delivery, late).unwrap(),
        vec![Event::Waiting(Waiting::Unrecognised)]
    );
    assert!(registered(&mut phone, late).is_empty());
    // Answered in time but handed over late: refused.
    let code = phone.link_code(&mut rand::rng(), NOW).unwrap();
    let mut laptop = Client::new(&mut rand::rng(), b"alice");
    let request = laptop
        .answer_link(&mut rand::rng(), &code, NOW)
        .saved()
        .unwrap();
    deliver(&mut phone, &[request]);
    assert_eq!(
        phone.link_device(&mut rand::rng(), late).err(),
        Some(Error::Device(DeviceError::LinkExpired))
    );
    // At its last second it is still in time.
    let linked = phone
        .link_device(&mut rand::rng(), NOW + LINK_LIFETIME)
        .saved()
        .unwrap();
    assert_eq!(
        deliver(&mut laptop, &[linked.handover]),
        vec![Event::Linked { device: 2 }]
    );
}

#[test]
fn only_a_fresh_client_joins_an_account() {
    let (mut phone, mut bob, _) = alice_with_bob();
    let code = phone.link_code(&mut rand::rng(), NOW).unwrap();
    assert_eq!(
        bob.answer_link(&mut rand::rng(), &code, NOW).err(),
        Some(Error::Usage(UsageError::NotPermitted))
    );
    let mut laptop = Client::new(&mut rand::rng(), b"alice");
    link(&mut phone, &mut laptop);
    let code = phone.link_code(&mut rand::rng(), NOW).unwrap();
    assert_eq!(
        laptop.answer_link(&mut rand::rng(), &code, NOW).err(),
        Some(Error::Usage(UsageError::NotPermitted))
    );
}

#[test]
fn devices_are_added_up_to_the_most_and_removed_by_another() {
    let (mut phone, _, _) = alice_with_bob();
    let mut devices = Vec::new();
    for n in 2..=MAX_DEVICES {
        let mut device = Client::new(&mut rand::rng(), b"alice");
        let list = SignedDeviceList::from_bytes(&link(&mut phone, &mut device)).unwrap();
        let verified = list.verify(phone.account_identity(), None).unwrap();
        assert_eq!(
            (verified.version(), verified.devices().len()),
            (n as u64, n)
        );
        devices.push(device);
    }
    assert_eq!(
        phone.link_code(&mut rand::rng(), NOW).err(),
        Some(Error::Usage(UsageError::TooManyRecipients {
            max: MAX_DEVICES
        }))
    );
    // A linked device may link and remove others, not itself.
    let mut laptop = devices.remove(0);
    assert_eq!(
        laptop.remove_device(&mut rand::rng(), 2, NOW).err(),
        Some(Error::Usage(UsageError::NotPermitted))
    );
    let removed = *devices[0].mailbox_id();
    // It changes only the newest list: the one it holds is from when it joined.
    assert_eq!(
        laptop
            .device_list()
            .unwrap()
            .verify(phone.account_identity(), None)
            .unwrap()
            .version(),
        2
    );
    let newest = phone.device_list().unwrap().to_bytes();
    let changes = laptop.update_device_list(&newest).saved().unwrap();
    assert_eq!(changes.added.len(), MAX_DEVICES - 2);
    assert!(changes.removed.is_empty());
    let list = laptop
        .remove_device(&mut rand::rng(), 3, NOW)
        .saved()
        .unwrap()
        .list;
    let list = SignedDeviceList::from_bytes(&list).unwrap();
    let verified = list.verify(phone.account_identity(), Some(8)).unwrap();
    assert_eq!(verified.version(), 9);
    assert!(verified.by_mailbox(&removed).is_none());
    assert_eq!(verified.devices().len(), MAX_DEVICES - 1);
    assert_eq!(
        laptop.remove_device(&mut rand::rng(), 3, NOW).err(),
        Some(Error::Device(DeviceError::UnknownDevice))
    );
    // A list older than ours, one signed by another account, one without us: refused, and
    // nothing changes.
    let newest = laptop.device_list().unwrap().to_bytes();
    assert_eq!(
        phone
            .update_device_list(&newest)
            .saved()
            .unwrap()
            .removed
            .len(),
        1
    );
    let older = devices[1].device_list().unwrap().to_bytes();
    assert!(matches!(
        phone.update_device_list(&older).err(),
        Some(Error::Device(DeviceError::RolledBack { seen: 9, got: 4 }))
    ));
    let stranger = Identity::generate(&mut rand::rng());
    let forged = DeviceList::first(*phone.mailbox_id(), *phone.identity()).sign(&stranger);
    assert_eq!(
        phone.update_device_list(&forged.to_bytes()).err(),
        Some(Error::Device(DeviceError::WrongAccount))
    );
    let mut gone = devices.remove(0);
    assert_eq!(
        gone.update_device_list(&newest).err(),
        Some(Error::Device(DeviceError::NotListed))
    );
    assert_eq!(phone.device_list().unwrap().to_bytes(), newest);
}

#[test]
fn a_contact_sets_up_a_session_with_each_listed_device_and_drops_a_removed_one() {
    let (mut phone, mut bob, _) = alice_with_bob();
    let alice = *phone.mailbox_id();
    let mut laptop = Client::new(&mut rand::rng(), b"alice");
    link(&mut phone, &mut laptop);
    let found = found(&phone.device_list().unwrap().to_bytes(), &mut [&mut laptop]);
    let changes = bob
        .add_contact_devices(&mut rand::rng(), &alice, &found)
        .saved()
        .unwrap();
    assert_eq!(changes.added.len(), 1);
    assert_eq!(changes.added[0].mailbox, *laptop.mailbox_id());
    assert!(changes.removed.is_empty());
    assert!(bob.has_session_with(laptop.mailbox_id()).unwrap());
    let devices: Vec<_> = bob
        .contact_devices(&alice)
        .unwrap()
        .iter()
        .map(|d| d.mailbox)
        .collect();
    assert_eq!(devices, vec![alice, *laptop.mailbox_id()]);
    // The same answer again changes nothing; the list is kept with the state.
    let again = bob
        .add_contact_devices(&mut rand::rng(), &alice, &found)
        .saved()
        .unwrap();
    assert_eq!(again, Default::default());
    let whole = Client::from_bytes(&bob.to_bytes().unwrap()).unwrap();
    assert_eq!(whole.to_bytes().unwrap(), bob.to_bytes().unwrap());

    // The phone removes the laptop: Bob drops its session.
    let removed = phone
        .remove_device(&mut rand::rng(), 2, NOW)
        .saved()
        .unwrap()
        .list;
    let found = DeviceDirectory {
        list: removed,
        devices: Vec::new(),
    };
    let changes = bob
        .add_contact_devices(&mut rand::rng(), &alice, &found)
        .saved()
        .unwrap();
    assert_eq!(changes.removed.len(), 1);
    assert!(!bob.has_session_with(laptop.mailbox_id()).unwrap());
    assert_eq!(bob.contact_devices(&alice).unwrap().len(), 1);
}

#[test]
fn a_contact_takes_nothing_a_relay_adds_to_an_accounts_devices() {
    let (mut phone, mut bob, mut platform) = alice_with_bob();
    let alice = *phone.mailbox_id();
    let mut laptop = Client::new(&mut rand::rng(), b"alice");
    link(&mut phone, &mut laptop);
    let mut mallory = member(&mut platform, "mallory", Profile::FREE);
    let genuine = found(&phone.device_list().unwrap().to_bytes(), &mut [&mut laptop]);
    let refused = |bob: &mut Client, found: &DeviceDirectory| {
        let result = bob.add_contact_devices(&mut rand::rng(), &alice, found);
        match result {
            Err(e) => e,
            Ok(_) => panic!("taken"),
        }
    };
    // A bundle for a mailbox the list does not name.
    let mut added = genuine.clone();
    added.devices.push(directory(&mut mallory));
    assert_eq!(
        refused(&mut bob, &added),
        Error::Device(DeviceError::NotListed)
    );
    // The laptop's mailbox with another device's bundle.
    let mut swapped = genuine.clone();
    swapped.devices[0].bundle = directory(&mut mallory).bundle;
    assert_eq!(
        refused(&mut bob, &swapped),
        Error::Device(DeviceError::NotListed)
    );
    // A list that adds a device, signed by another key, or claiming another account.
    let list = SignedDeviceList::from_bytes(&genuine.list).unwrap();
    let verified = list.verify(phone.account_identity(), None).unwrap();
    let (more, _) = verified
        .with_device(*mallory.mailbox_id(), *mallory.identity())
        .unwrap();
    let forged = DeviceDirectory {
        list: more.sign(&Identity::generate(&mut rand::rng())).to_bytes(),
        ..genuine.clone()
    };
    assert_eq!(
        refused(&mut bob, &forged),
        Error::Device(DeviceError::WrongAccount)
    );
    let mut tampered = genuine.list.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let tampered = DeviceDirectory {
        list: tampered,
        ..genuine.clone()
    };
    assert_eq!(
        refused(&mut bob, &tampered),
        Error::Crypto(missive::CryptoError::BadSignature)
    );
    // Nothing of it was taken.
    assert!(!bob.has_session_with(mallory.mailbox_id()).unwrap());
    assert!(!bob.has_session_with(laptop.mailbox_id()).unwrap());
    assert_eq!(bob.contact_devices(&alice).unwrap().len(), 1);

    // The genuine answer is taken; an older list after it is refused.
    bob.add_contact_devices(&mut rand::rng(), &alice, &genuine)
        .saved()
        .unwrap();
    let mut tablet = Client::new(&mut rand::rng(), b"alice");
    link(&mut phone, &mut tablet);
    let newer = found(&phone.device_list().unwrap().to_bytes(), &mut [&mut tablet]);
    bob.add_contact_devices(&mut rand::rng(), &alice, &newer)
        .saved()
        .unwrap();
    assert!(bob.has_session_with(tablet.mailbox_id()).unwrap());
    assert_eq!(
        refused(&mut bob, &genuine),
        Error::Device(DeviceError::RolledBack { seen: 3, got: 2 })
    );
    // Not a contact: nothing to check the list against.
    let stranger = *mallory.mailbox_id();
    assert_eq!(
        bob.add_contact_devices(&mut rand::rng(), &stranger, &genuine)
            .err(),
        Some(Error::Usage(UsageError::UnknownRecipient))
    );
}

#[test]
fn a_linked_device_inherits_the_device_lists_its_account_verified() {
    let (mut phone, mut bob, _) = alice_with_bob();
    let bob_id = *bob.mailbox_id();
    let (mut bob_laptop, mut bob_tablet) = (
        Client::new(&mut rand::rng(), b"bob"),
        Client::new(&mut rand::rng(), b"bob"),
    );
    link(&mut bob, &mut bob_laptop);
    let older = found(
        &bob.device_list().unwrap().to_bytes(),
        &mut [&mut bob_laptop],
    );
    link(&mut bob, &mut bob_tablet);
    let found = found(
        &bob.device_list().unwrap().to_bytes(),
        &mut [&mut bob_laptop, &mut bob_tablet],
    );
    phone
        .add_contact_devices(&mut rand::rng(), &bob_id, &found)
        .saved()
        .unwrap();
    let mut laptop = Client::new(&mut rand::rng(), b"alice");
    link(&mut phone, &mut laptop);
    assert_eq!(
        laptop.contact_devices(&bob_id).unwrap(),
        phone.contact_devices(&bob_id).unwrap()
    );
    assert_eq!(laptop.contact_devices(&bob_id).unwrap().len(), 3);
    // And so refuses the list from before, as the phone would.
    assert_eq!(
        laptop
            .add_contact_devices(&mut rand::rng(), &bob_id, &older)
            .err(),
        Some(Error::Device(DeviceError::RolledBack { seen: 3, got: 2 }))
    );
    // It has no session with Bob's devices yet: it sets up its own.
    assert!(!laptop.has_session_with(bob_laptop.mailbox_id()).unwrap());
    assert!(phone.has_session_with(bob_laptop.mailbox_id()).unwrap());
}
