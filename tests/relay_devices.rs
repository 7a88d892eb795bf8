//! An account's devices at a real relay: linking a laptop to a phone through the relay's
//! mailboxes, the signed list in the directory (only the account's devices may replace it,
//! only with a newer list signed by the account), each device's bundle under its own entry,
//! and the lookup that hands a contact the list and every listed device's prekeys.
#![cfg(feature = "relay")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod relay_support;

use missive::Identity;
use missive::access::{AccessKey, Credential, MemberToken, Submission};
use missive::client::{Client, Content, Event};
use missive::conversation::Role;
use missive::device::{DeviceList, SignedDeviceList};
use missive::envelope::{Envelope, MailboxId};
use missive::platform::{Profile, Tier};
use missive::relay::system_clock;
use missive::relay_api::DeviceDirectory;
use missive::session::PrekeyBundle;
use missive::token::TokenKind;
use relay_support::opaque_raw;
use relay_support::saved::Saved;
use relay_support::users::{Net, texts};

const CAREER: Profile = Profile {
    tier: Tier::PremiumCareer,
    open_profile: false,
};

fn devices_path(user: &[u8]) -> String {
    format!("/v1/directory/{}/devices", hex::encode(user))
}

fn bundle_path(user: &[u8]) -> String {
    format!("/v1/directory/{}", hex::encode(user))
}

/// Links a fresh client to `phone`'s account through the relay and publishes the list and
/// the new device's bundle.
fn link_through(net: &Net, phone: &mut Client) -> Client {
    let now = system_clock();
    let mut laptop = Client::new(&mut rand::rng(), b"laptop");
    let code = phone.link_code(&mut rand::rng(), now).unwrap();
    net.sync(phone);
    let request = laptop
        .answer_link(&mut rand::rng(), &code, now)
        .saved()
        .unwrap();
    net.sync(&mut laptop);
    net.send(&[request]);
    let answered = net.read(phone);
    assert!(
        matches!(answered.as_slice(), [Event::LinkAnswered(_)]),
        "{answered:?}"
    );
    let linked = phone.link_device(&mut rand::rng(), now).saved().unwrap();
    let path = devices_path(phone.user());
    assert_eq!(net.authed(phone, "PUT", &path, &linked.list).0, 204);
    net.send(&[linked.handover]);
    let events = net.read(&mut laptop);
    assert!(
        matches!(events.as_slice(), [Event::Linked { .. }]),
        "{events:?}"
    );
    let body = laptop
        .publish(&mut rand::rng(), 3)
        .saved()
        .unwrap()
        .to_bytes();
    let path = bundle_path(laptop.user());
    assert_eq!(net.authed(&laptop, "PUT", &path, &body).0, 204);
    laptop
}

/// The account's contact key, as the phone (the first device) registers it.
fn phone_contact_key(phone: &mut Client) -> AccessKey {
    phone.reset_access_registration();
    let sync = phone
        .access_sync(&mut rand::rng(), system_clock())
        .saved()
        .unwrap();
    sync.update.unwrap().contact.unwrap()
}

fn lookup(net: &Net, by: &Client, user: &[u8]) -> (u16, Option<DeviceDirectory>) {
    let (status, body) = net.authed(by, "GET", &devices_path(user), b"");
    (
        status,
        (status == 200).then(|| DeviceDirectory::from_bytes(&body).unwrap()),
    )
}

#[test]
fn a_contact_finds_every_device_of_an_account_under_its_signed_list() {
    let mut net = Net::start();
    let mut phone = net.join("alice", Profile::FREE, false);
    let bob = net.join("bob", Profile::FREE, false);
    // One device: no list yet.
    assert_eq!(lookup(&net, &bob, b"alice").0, 404);
    let laptop = link_through(&net, &mut phone);
    assert_eq!(laptop.user(), b"alice");

    let (_, found) = lookup(&net, &bob, b"alice");
    let found = found.unwrap();
    let list = SignedDeviceList::from_bytes(&found.list).unwrap();
    // Bob knows Alice's account identity from her bundle (or a safety number): the list is
    // checked against it, and each device's bundle against the identity the list gives it.
    let verified = list.verify(phone.account_identity(), None).unwrap();
    let mailboxes: Vec<_> = found.devices.iter().map(|d| d.mailbox).collect();
    assert_eq!(mailboxes, vec![*phone.mailbox_id(), *laptop.mailbox_id()]);
    for answer in &found.devices {
        let listed = verified.by_mailbox(&answer.mailbox).unwrap();
        let bundle = PrekeyBundle::from_bytes(&answer.bundle).unwrap();
        assert_eq!(*bundle.identity(), listed.identity);
        assert!(
            answer.one_time.is_some(),
            "each device hands out one-time prekeys"
        );
    }
    // Each device registered its own contact key: who holds the account's key reaches both,
    // and XORing the two devices' keys away (a credential of zero) reaches neither.
    let both = [*phone.mailbox_id(), *laptop.mailbox_id()];
    let envelope = Envelope::to_mailboxes(system_clock() + 3600, &both, b"hello").unwrap();
    let envelope = envelope[0].to_bytes();
    let zero = Credential::Contacts(AccessKey::from_bytes([0; 16]));
    let submit = |credential: Credential| {
        let body = Submission {
            credential,
            envelope: envelope.clone(),
        };
        net.post(&body.to_bytes(), false).0
    };
    assert_eq!(submit(zero), 403);
    let key = phone_contact_key(&mut phone);
    let held = AccessKey::combine([
        &key,
        &key.for_device(phone.mailbox_id(), laptop.mailbox_id()),
    ]);
    assert_eq!(submit(Credential::Contacts(held)), 202);
    // The name's own lookup still answers with the first device, as before.
    let (status, _) = net.authed(&bob, "GET", &bundle_path(b"alice"), b"");
    assert_eq!(status, 200);
}

#[test]
fn only_the_accounts_devices_replace_its_list_and_only_with_a_newer_one() {
    let mut net = Net::start();
    let mut phone = net.join("alice", Profile::FREE, false);
    let mallory = net.join("mallory", Profile::FREE, false);
    let mut laptop = link_through(&net, &mut phone);
    let path = devices_path(b"alice");
    let current = phone.device_list().unwrap().clone();

    // Someone else, even with a list signed by the account: refused.
    assert_eq!(
        net.authed(&mallory, "PUT", &path, &current.to_bytes()).0,
        403
    );
    // The same version again (a replay), or a list signed by another key: refused.
    assert_eq!(net.authed(&phone, "PUT", &path, &current.to_bytes()).0, 403);
    let forged = DeviceList::first(*mallory.mailbox_id(), *mallory.identity())
        .sign(&Identity::generate(&mut rand::rng()));
    assert_eq!(net.authed(&phone, "PUT", &path, &forged.to_bytes()).0, 403);
    // Bytes that are no list at all.
    assert_eq!(net.authed(&phone, "PUT", &path, b"\x01nonsense").0, 400);
    // A device not in the list may not publish a bundle under the name.
    let mut stranger = Client::new(&mut rand::rng(), b"alice");
    let body = stranger
        .publish(&mut rand::rng(), 1)
        .saved()
        .unwrap()
        .to_bytes();
    assert_eq!(
        net.authed(&stranger, "PUT", &bundle_path(b"alice"), &body)
            .0,
        403
    );

    // The laptop removes the phone: the newer list is taken, the phone's mailbox is revoked
    // (nothing reaches it with the key that reached it before, and it registers nothing
    // again), the lookup no longer hands it out, and it may no longer replace the list.
    let key = phone_contact_key(&mut phone);
    let to = |mailbox, credential| {
        let envelope = Envelope::to_mailboxes(system_clock() + 3600, &[mailbox], b"hi").unwrap();
        let body = Submission {
            credential,
            envelope: envelope[0].to_bytes(),
        };
        net.post(&body.to_bytes(), false).0
    };
    let (phone_box, laptop_box) = (*phone.mailbox_id(), *laptop.mailbox_id());
    let laptop_key = key.for_device(&phone_box, &laptop_box);
    assert_eq!(to(phone_box, Credential::Contacts(key.clone())), 202);
    let removed = laptop
        .remove_device(&mut rand::rng(), 1, system_clock())
        .saved()
        .unwrap()
        .list;
    assert_eq!(net.authed(&laptop, "PUT", &path, &removed).0, 204);
    assert_eq!(to(phone_box, Credential::Contacts(key.clone())), 403);
    assert_eq!(to(laptop_box, Credential::Contacts(laptop_key)), 202);
    phone.reset_access_registration();
    let sync = phone
        .access_sync(&mut rand::rng(), system_clock())
        .saved()
        .unwrap();
    let update = sync.update.unwrap().to_bytes();
    assert_eq!(
        net.authed(&phone, "PUT", "/v1/mailbox/access", &update).0,
        403
    );
    assert_eq!(to(phone_box, Credential::Contacts(key)), 403);
    let (_, found) = lookup(&net, &mallory, b"alice");
    let found = found.unwrap();
    assert_eq!(found.list, removed);
    let mailboxes: Vec<_> = found.devices.iter().map(|d| d.mailbox).collect();
    assert_eq!(mailboxes, vec![*laptop.mailbox_id()]);
    // Nor does the name's own lookup, which answered with the phone.
    assert_eq!(
        net.authed(&mallory, "GET", &bundle_path(b"alice"), b"").0,
        404
    );
    // The phone, removed, signs its own list without the laptop: it is no longer listed.
    let revenge = phone
        .remove_device(&mut rand::rng(), 2, system_clock())
        .saved()
        .unwrap()
        .list;
    assert_eq!(net.authed(&phone, "PUT", &path, &revenge).0, 403);
    assert_eq!(lookup(&net, &mallory, b"alice").1.unwrap().list, removed);
}

#[test]
fn a_member_on_two_devices_talks_through_a_real_relay() {
    let mut net = Net::start();
    let mut phone = net.join("alice", Profile::FREE, false);
    let mut bob = net.join("bob", Profile::FREE, false);
    let bob_id = net.connect(&mut phone, &mut bob);
    let mut laptop = link_through(&net, &mut phone);
    net.read(&mut laptop);
    let alice = *phone.member_id();
    // Bob takes Alice's devices from the directory; each of her devices takes the other.
    for c in [&mut bob, &mut phone, &mut laptop] {
        let found = lookup(&net, c, b"alice").1.unwrap();
        c.add_contact_devices(&mut rand::rng(), &alice, &found)
            .saved()
            .unwrap();
    }
    net.lookup(&mut laptop, &bob);
    let now = system_clock();

    // Every envelope reaches every mailbox it names: each device's credential is its own.
    let hello = bob
        .send(&mut rand::rng(), &alice, &Content::text("hello both"), now)
        .saved()
        .unwrap();
    net.send(&hello);
    assert_eq!(texts(&net.read(&mut phone)), ["hello both"]);
    assert_eq!(texts(&net.read(&mut laptop)), ["hello both"]);
    let answer = laptop
        .send(
            &mut rand::rng(),
            &bob_id,
            &Content::text("from the laptop"),
            now,
        )
        .saved()
        .unwrap();
    net.send(&answer);
    assert_eq!(texts(&net.read(&mut bob)), ["from the laptop"]);
    assert_eq!(texts(&net.read(&mut phone)), ["from the laptop"]);

    // A group's keys reach both devices, and so do its posts.
    let (group, welcome) = bob
        .create_group(&mut rand::rng(), &[(alice, Role::Member)], now)
        .saved()
        .unwrap();
    net.send(&welcome);
    net.read(&mut phone);
    net.read(&mut laptop);
    let post = bob
        .post_to_group(
            &mut rand::rng(),
            &group,
            &Content::text("to the group"),
            now,
        )
        .saved()
        .unwrap();
    net.send(&post);
    assert_eq!(texts(&net.read(&mut phone)), ["to the group"]);
    assert_eq!(texts(&net.read(&mut laptop)), ["to the group"]);

    // A multi-recipient message gives each of her devices a part of its own, and each device
    // answers all under the conversation's keys, which each registered for its own mailbox.
    let (adhoc, first) = bob
        .send_multi(&mut rand::rng(), &[alice], &Content::text("to all"), now)
        .saved()
        .unwrap();
    net.send(&first);
    assert_eq!(texts(&net.read(&mut phone)), ["to all"]);
    assert_eq!(texts(&net.read(&mut laptop)), ["to all"]);
    net.read(&mut bob);
    let answer = laptop
        .reply(
            &mut rand::rng(),
            &adhoc,
            &Content::text("laptop to all"),
            now,
        )
        .saved()
        .unwrap();
    net.send(&answer);
    assert_eq!(texts(&net.read(&mut bob)), ["laptop to all"]);
    assert_eq!(texts(&net.read(&mut phone)), ["laptop to all"]);
}

#[test]
fn one_token_pays_for_every_device_of_an_account_and_for_no_other_account() {
    let mut net = Net::start();
    let mut phone = net.join("alice", Profile::FREE, false);
    let mut ben = net.join("ben", CAREER, false);
    let mut eve = net.join("eve", Profile::FREE, false);
    let alice = net.lookup(&mut ben, &phone);
    let mut laptop = link_through(&net, &mut phone);
    net.read(&mut laptop);
    let found = lookup(&net, &ben, b"alice").1.unwrap();
    ben.add_contact_devices(&mut rand::rng(), &alice, &found)
        .saved()
        .unwrap();
    let now = system_clock();
    let credits = ben.tokens(TokenKind::Credit);
    let inmail = ben
        .send_inmail(&mut rand::rng(), &alice, &Content::text("a role?"), now)
        .saved()
        .unwrap();
    assert_eq!(ben.tokens(TokenKind::Credit), credits - 1);
    // Each device's hand-off in an envelope of its own, and the message to both: one token,
    // every envelope accepted for every mailbox it names.
    assert!(inmail.len() >= 3, "{} envelopes", inmail.len());
    let Credential::Member(paid) = &inmail[0].credential else {
        panic!("{:?}", inmail[0].credential)
    };
    net.send(&inmail);
    assert_eq!(texts(&net.read(&mut phone)), ["a role?"]);
    assert_eq!(texts(&net.read(&mut laptop)), ["a role?"]);

    // The token again, for the account's devices: still within what one send may carry.
    let again = |user: &[u8], to: &[MailboxId]| {
        let credential = Credential::Member(MemberToken {
            token: paid.token.clone(),
            user: user.to_vec(),
        });
        let submission = Submission {
            credential,
            envelope: opaque_raw(to, 300),
        };
        net.post(&submission.to_bytes(), false)
    };
    assert_eq!(again(b"alice", &[*laptop.mailbox_id()]).0, 202);
    // Not for a mailbox the account does not list, nor for another account's.
    let eve_id = *eve.mailbox_id();
    assert_eq!(again(b"alice", &[eve_id]).0, 403);
    let (status, body) = again(b"eve", &[eve_id]);
    assert_eq!(status, 409, "{}", String::from_utf8_lossy(&body));
    assert!(net.read(&mut eve).is_empty());
    // A name no one holds lists nothing; a name no one may hold is malformed.
    assert_eq!(again(b"nobody", &[eve_id]).0, 403);
    assert_eq!(again(b"ali\0ce", &[eve_id]).0, 400);
    // A token spent on one mailbox does not come back for its account.
    let dan = net.join("dan", Profile::FREE, false);
    let dan_id = net.lookup(&mut ben, &dan);
    let single = ben
        .send_inmail(&mut rand::rng(), &dan_id, &Content::text("hello"), now)
        .saved()
        .unwrap();
    let Credential::Token(token) = &single[0].credential else {
        panic!("a member we hold no list of is paid per mailbox")
    };
    net.send(&single);
    let as_account = Submission {
        credential: Credential::Member(MemberToken {
            token: token.clone(),
            user: b"dan".to_vec(),
        }),
        envelope: opaque_raw(&[dan_id], 300),
    };
    assert_eq!(net.post(&as_account.to_bytes(), false).0, 409);
}
