//! Sending to every device (PROTOCOL.md §12.6): a member with a phone and a laptop reads on
//! both what a contact sends, each device's messages reach the contact as the member's and
//! the member's other device too, and a device removed from the list is no longer addressed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::devices::{link, more_devices, take};

use common::saved::Saved;
use common::users::{
    CAREER, NOW, connect, contact, deliver, deliveries_for, directory, member, say, senders, texts,
};
use missive::access::Credential;
use missive::client::{Client, Connection, Content, Event, Waiting};
use missive::conversation::Role;
use missive::envelope::MailboxId;
use missive::platform::{Platform, Profile, Tier};
use missive::relay_api::DeviceDirectory;
use missive::token::TokenKind;

const OPEN: Profile = Profile {
    tier: Tier::PremiumBusiness,
    open_profile: true,
};

/// Alice's phone and laptop (linked, each with a session with the other and with Bob), and
/// Bob, who took Alice's device list.
fn alice_on_two_devices() -> (Client, Client, Client) {
    alice_on_two_devices_as(Profile::FREE).0
}

/// [`alice_on_two_devices`] with Alice's plan, and the platform.
fn alice_on_two_devices_as(profile: Profile) -> ((Client, Client, Client), Platform) {
    let mut platform = Platform::new(&mut rand::rng());
    let mut phone = member(&mut platform, "alice", profile);
    let mut bob = member(&mut platform, "bob", Profile::FREE);
    connect(&mut phone, &mut bob);
    let laptop = more_devices(&mut phone, 1, &mut [&mut bob]).remove(0);
    ((phone, laptop, bob), platform)
}

#[test]
fn a_member_reads_on_every_device_and_each_device_speaks_for_the_member() {
    let (mut phone, mut laptop, mut bob) = alice_on_two_devices();
    let (alice, bob_id) = (*phone.member_id(), *bob.mailbox_id());

    let hello = bob
        .send(&mut rand::rng(), &alice, &Content::text("hello both"), NOW)
        .saved()
        .unwrap();
    assert_eq!(texts(&deliver(&mut phone, &hello)), ["hello both"]);
    let at_laptop = deliver(&mut laptop, &hello);
    assert_eq!(texts(&at_laptop), ["hello both"]);

    // The laptop answers: Bob reads it as Alice's, and so does her phone.
    let answer = laptop
        .send(
            &mut rand::rng(),
            &bob_id,
            &Content::text("from the laptop"),
            NOW,
        )
        .saved()
        .unwrap();
    let at_bob = deliver(&mut bob, &answer);
    assert_eq!(texts(&at_bob), ["from the laptop"]);
    assert_eq!(senders(&at_bob), [alice]);
    let at_phone = deliver(&mut phone, &answer);
    assert_eq!(texts(&at_phone), ["from the laptop"]);
    assert_eq!(senders(&at_phone), [alice]);

    // Bob's message read on the laptop: the receipt reaches Bob and, as read by Alice, her
    // phone.
    let up_to = match at_laptop
        .iter()
        .find(|e| matches!(e, Event::Message { .. }))
    {
        Some(Event::Message { id, .. }) => *id,
        _ => panic!("no message"),
    };
    let conversation = laptop.direct_conversation(&bob_id).unwrap().unwrap();
    let read = laptop
        .mark_read(&mut rand::rng(), &conversation, &up_to, NOW)
        .saved()
        .unwrap();
    for reader in [&mut bob, &mut phone] {
        let events = deliver(reader, &read);
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::Read { by, .. } if *by == alice)),
            "{events:?}"
        );
    }

    // Typing on the laptop shows at Bob as Alice; Bob's typing shows on both her devices.
    let typing = laptop
        .typing(&mut rand::rng(), &conversation, true, NOW)
        .unwrap();
    let shown = |events: &[Event], who: MailboxId| {
        events
            .iter()
            .any(|e| matches!(e, Event::Typing { from, typing: true, .. } if *from == who))
    };
    assert!(shown(&deliver(&mut bob, &typing), alice));
    assert!(deliveries_for(&typing, phone.mailbox_id()).is_empty());
    let typing = bob
        .typing(&mut rand::rng(), &conversation, true, NOW)
        .unwrap();
    assert!(shown(&deliver(&mut phone, &typing), bob_id));
    assert!(shown(&deliver(&mut laptop, &typing), bob_id));

    // And the phone in the same conversation, read on the laptop too.
    let again = phone
        .send(
            &mut rand::rng(),
            &bob_id,
            &Content::text("from the phone"),
            NOW,
        )
        .saved()
        .unwrap();
    assert_eq!(texts(&deliver(&mut bob, &again)), ["from the phone"]);
    assert_eq!(texts(&deliver(&mut laptop, &again)), ["from the phone"]);

    // A group Bob opens with Alice reaches both her devices.
    let (group, welcome) = bob
        .create_group(&mut rand::rng(), &[(alice, Role::Member)], NOW)
        .saved()
        .unwrap();
    deliver(&mut phone, &welcome);
    deliver(&mut laptop, &welcome);
    let post = bob
        .post_to_group(
            &mut rand::rng(),
            &group,
            &Content::text("to the group"),
            NOW,
        )
        .saved()
        .unwrap();
    assert_eq!(texts(&deliver(&mut phone, &post)), ["to the group"]);
    // The relay did not reach the laptop yet (its keys were not registered): Bob resends to
    // that device alone.
    let laptop_id = *laptop.mailbox_id();
    for sent in post.iter().filter(|o| o.conversation == Some(group)) {
        bob.undelivered(sent, &[laptop_id], NOW);
    }
    let resent = bob.resend(NOW + 3600).saved().unwrap();
    assert!(deliveries_for(&resent, phone.mailbox_id()).is_empty());
    assert_eq!(texts(&deliver(&mut laptop, &resent)), ["to the group"]);

    // Both devices survive a restart of their state.
    let mut laptop = Client::from_bytes(&laptop.to_bytes().unwrap()).unwrap();
    let later = bob
        .send(&mut rand::rng(), &alice, &Content::text("later"), NOW)
        .saved()
        .unwrap();
    assert_eq!(texts(&deliver(&mut laptop, &later)), ["later"]);
    let reply = laptop
        .send(&mut rand::rng(), &bob_id, &Content::text("still here"), NOW)
        .saved()
        .unwrap();
    assert_eq!(texts(&deliver(&mut bob, &reply)), ["still here"]);
}

#[test]
fn a_device_linked_later_joins_existing_conversations_and_reads_only_what_follows() {
    let mut platform = Platform::new(&mut rand::rng());
    let mut phone = member(&mut platform, "alice", Profile::FREE);
    let mut bob = member(&mut platform, "bob", Profile::FREE);
    let bob_id = connect(&mut phone, &mut bob);
    let alice = *phone.mailbox_id();
    let before = bob
        .send(
            &mut rand::rng(),
            &alice,
            &Content::text("before the laptop"),
            NOW,
        )
        .saved()
        .unwrap();
    assert_eq!(texts(&deliver(&mut phone, &before)), ["before the laptop"]);
    let reply = phone
        .send(&mut rand::rng(), &bob_id, &Content::text("phone only"), NOW)
        .saved()
        .unwrap();
    deliver(&mut bob, &reply);

    let mut laptop = more_devices(&mut phone, 1, &mut [&mut bob]).remove(0);
    // What was sent before the link opens nowhere on the laptop.
    for delivery in readdressed(&before, laptop.mailbox_id()) {
        assert!(texts(&laptop.receive(&delivery, NOW).unwrap()).is_empty());
    }

    // The phone's next message welcomes the laptop into the conversation; Bob's next reaches
    // both, in the same conversation.
    let next = phone
        .send(
            &mut rand::rng(),
            &bob_id,
            &Content::text("now on two devices"),
            NOW,
        )
        .saved()
        .unwrap();
    assert_eq!(texts(&deliver(&mut bob, &next)), ["now on two devices"]);
    let events = deliver(&mut laptop, &next);
    assert!(
        events.iter().any(|e| matches!(e, Event::Joined(_))),
        "{events:?}"
    );
    assert_eq!(texts(&events), ["now on two devices"]);
    let conversation = phone.direct_conversation(&bob_id).unwrap();
    assert_eq!(laptop.direct_conversation(&bob_id).unwrap(), conversation);
    let answer = bob
        .send(
            &mut rand::rng(),
            &alice,
            &Content::text("seen on both"),
            NOW,
        )
        .saved()
        .unwrap();
    assert_eq!(texts(&deliver(&mut phone, &answer)), ["seen on both"]);
    assert_eq!(texts(&deliver(&mut laptop, &answer)), ["seen on both"]);
}

#[test]
fn an_inmail_from_an_account_with_two_devices_costs_one_credit() {
    let ((mut phone, mut laptop, _), mut platform) = alice_on_two_devices_as(CAREER);
    let mut carol = member(&mut platform, "carol", Profile::FREE);
    let carol_id = contact(&mut phone, &mut carol);
    let credits = phone.tokens(TokenKind::Credit);
    let inmail = phone
        .send_inmail(
            &mut rand::rng(),
            &carol_id,
            &Content::text("an opening"),
            NOW,
        )
        .saved()
        .unwrap();
    assert_eq!(phone.tokens(TokenKind::Credit), credits - 1);
    // What a token pays for goes to the recipient alone (a relay takes a credit token for one
    // mailbox); the copies for the laptop go apart, under the account's own key.
    let paid: Vec<_> = (inmail.iter())
        .filter(|o| matches!(o.credential, Credential::Token(_)))
        .map(|o| missive::envelope::Envelope::from_bytes(&o.envelope).unwrap())
        .collect();
    assert!(!paid.is_empty());
    assert!(paid.iter().all(|e| e.mailboxes() == [carol_id]));
    assert_eq!(texts(&deliver(&mut carol, &inmail)), ["an opening"]);
    // The laptop has it too, as sent by its own account.
    let events = deliver(&mut laptop, &inmail);
    assert_eq!(texts(&events), ["an opening"]);
    assert_eq!(senders(&events), [*phone.member_id()]);
    // Every device of Carol's got the phone's chain: its next message hands out none.
    let alice = *phone.member_id();
    let reply = carol
        .send(&mut rand::rng(), &alice, &Content::text("go on"), NOW)
        .saved()
        .unwrap();
    deliver(&mut phone, &reply);
    let next = phone
        .send(&mut rand::rng(), &carol_id, &Content::text("details"), NOW)
        .saved()
        .unwrap();
    assert_eq!(next.len(), 1, "the message alone");
    assert_eq!(texts(&deliver(&mut carol, &next)), ["details"]);
}

#[test]
fn a_contact_who_never_fetched_the_list_takes_it_from_the_new_devices_first_message() {
    let mut platform = Platform::new(&mut rand::rng());
    let mut phone = member(&mut platform, "alice", Profile::FREE);
    let mut bob = member(&mut platform, "bob", Profile::FREE);
    let bob_id = connect(&mut phone, &mut bob);
    let mut laptop = Client::new(&mut rand::rng(), b"alice");
    link(&mut phone, &mut laptop);
    laptop
        .add_contact(&mut rand::rng(), b"bob", &directory(&mut bob))
        .unwrap();
    // Bob holds no list of Alice's: the laptop's first message carries it.
    let hello = laptop
        .send(
            &mut rand::rng(),
            &bob_id,
            &Content::text("from a new laptop"),
            NOW,
        )
        .saved()
        .unwrap();
    let events = deliver(&mut bob, &hello);
    assert_eq!(texts(&events), ["from a new laptop"]);
    assert_eq!(senders(&events), [*phone.member_id()]);
    // He holds a session with each device it names now: nothing to fetch.
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::DevicesToFetch { .. }))
    );
    let alice = *phone.member_id();
    assert_eq!(bob.contact_devices(&alice).unwrap().len(), 2);
}

/// Every body of `out` as a delivery to `to`: what a relay that kept a removed device's
/// mailbox could hand it.
fn readdressed(out: &[missive::client::Outgoing], to: &MailboxId) -> Vec<Vec<u8>> {
    let bodies = out.iter().map(|o| {
        let envelope = missive::envelope::Envelope::from_bytes(&o.envelope).unwrap();
        missive::envelope::Envelope::to_mailboxes(NOW + 1000, &[*to], envelope.body())
            .unwrap()
            .remove(0)
            .to_bytes()
    });
    bodies
        .flat_map(|e| missive::envelope::split(&e).unwrap())
        .map(|d| d.to_bytes())
        .collect()
}

#[test]
fn a_removed_device_reads_nothing_sent_after() {
    let (mut phone, mut laptop, mut bob) = alice_on_two_devices();
    let (alice, bob_id, gone) = (*phone.member_id(), *bob.mailbox_id(), *laptop.mailbox_id());
    // A direct conversation and a group, each read on both devices, each side with a chain.
    let hello = bob
        .send(&mut rand::rng(), &alice, &Content::text("before"), NOW)
        .saved()
        .unwrap();
    assert_eq!(texts(&deliver(&mut laptop, &hello)), ["before"]);
    deliver(&mut phone, &hello);
    let (group, welcome) = bob
        .create_group(&mut rand::rng(), &[(alice, Role::Member)], NOW)
        .saved()
        .unwrap();
    deliver(&mut phone, &welcome);
    deliver(&mut laptop, &welcome);
    let answer = phone
        .send(&mut rand::rng(), &bob_id, &Content::text("answer"), NOW)
        .saved()
        .unwrap();
    deliver(&mut bob, &answer);
    deliver(&mut laptop, &answer);

    // The phone removes the laptop; Bob takes the new list from the directory.
    let removed = phone
        .remove_device(&mut rand::rng(), 2, NOW)
        .saved()
        .unwrap()
        .list;
    let changes = bob
        .add_contact_devices(
            &mut rand::rng(),
            &alice,
            &DeviceDirectory {
                list: removed,
                devices: Vec::new(),
            },
        )
        .saved()
        .unwrap();
    assert_eq!(changes.removed.len(), 1);

    // Bob's messages, direct and in the group, go to the phone alone, on new chains: the
    // laptop is not addressed, and handed the bodies anyway it opens none.
    let direct = bob
        .send(&mut rand::rng(), &alice, &Content::text("after"), NOW)
        .saved()
        .unwrap();
    let post = bob
        .post_to_group(&mut rand::rng(), &group, &Content::text("group after"), NOW)
        .saved()
        .unwrap();
    // The phone's own chains are new too.
    let own = phone
        .send(
            &mut rand::rng(),
            &bob_id,
            &Content::text("phone after"),
            NOW,
        )
        .saved()
        .unwrap();
    for out in [&direct, &post, &own] {
        assert!(deliveries_for(out, &gone).is_empty());
        for delivery in readdressed(out, &gone) {
            let events = laptop.receive(&delivery, NOW).unwrap();
            assert!(texts(&events).is_empty(), "{events:?}");
        }
    }
    assert_eq!(texts(&deliver(&mut phone, &direct)), ["after"]);
    assert_eq!(texts(&deliver(&mut phone, &post)), ["group after"]);
    assert_eq!(texts(&deliver(&mut bob, &own)), ["phone after"]);
}

#[test]
fn a_removed_device_reads_nothing_sent_after_a_message_brings_the_list_without_it() {
    let (mut phone, mut laptop, mut bob) = alice_on_two_devices();
    let (alice, bob_id, gone) = (*phone.member_id(), *bob.mailbox_id(), *laptop.mailbox_id());
    let hello = bob
        .send(&mut rand::rng(), &alice, &Content::text("before"), NOW)
        .saved()
        .unwrap();
    assert_eq!(texts(&deliver(&mut laptop, &hello)), ["before"]);
    assert_eq!(texts(&deliver(&mut phone, &hello)), ["before"]);
    let from_laptop = laptop
        .send(&mut rand::rng(), &bob_id, &Content::text("laptop"), NOW)
        .saved()
        .unwrap();
    assert_eq!(texts(&deliver(&mut bob, &from_laptop)), ["laptop"]);

    // The phone drops the laptop and links a tablet, and speaks first (so the tablet holds
    // the conversation); Bob never asks the directory: the tablet's first message to him
    // carries the list, without the laptop.
    phone
        .remove_device(&mut rand::rng(), 2, NOW)
        .saved()
        .unwrap();
    let mut tablet = Client::new(&mut rand::rng(), b"alice");
    let list = link(&mut phone, &mut tablet);
    take(&mut phone, &alice, &list, &mut [&mut tablet]);
    take(&mut tablet, &alice, &list, &mut [&mut phone]);
    tablet
        .add_contact(&mut rand::rng(), b"bob", &directory(&mut bob))
        .unwrap();
    let again = phone
        .send(&mut rand::rng(), &bob_id, &Content::text("phone"), NOW)
        .saved()
        .unwrap();
    assert_eq!(texts(&deliver(&mut tablet, &again)), ["phone"]);
    assert_eq!(texts(&deliver(&mut bob, &again)), ["phone"]);
    assert_eq!(
        bob.contact_devices(&alice).unwrap().len(),
        2,
        "still the laptop's"
    );
    let hello = tablet
        .send(&mut rand::rng(), &bob_id, &Content::text("tablet"), NOW)
        .saved()
        .unwrap();
    assert_eq!(texts(&deliver(&mut bob, &hello)), ["tablet"]);
    let listed: Vec<MailboxId> = (bob.contact_devices(&alice).unwrap().iter())
        .map(|d| d.mailbox)
        .collect();
    assert_eq!(listed, [alice, *tablet.mailbox_id()]);
    assert!(!bob.has_session_with(&gone).unwrap());

    // Bob's next message is on a new chain the laptop does not hold, and what the laptop
    // still sends on its old one opens nowhere.
    let after = bob
        .send(&mut rand::rng(), &alice, &Content::text("after"), NOW)
        .saved()
        .unwrap();
    assert!(deliveries_for(&after, &gone).is_empty());
    for delivery in readdressed(&after, &gone) {
        let events = laptop.receive(&delivery, NOW).unwrap();
        assert!(texts(&events).is_empty(), "{events:?}");
    }
    let at_tablet = deliver(&mut tablet, &after);
    assert_eq!(texts(&at_tablet), ["after"], "{at_tablet:?}");
    let late = laptop
        .send(&mut rand::rng(), &bob_id, &Content::text("late"), NOW)
        .saved()
        .unwrap();
    for delivery in deliveries_for(&late, &bob_id) {
        let events = bob.receive(&delivery, NOW).unwrap();
        assert_eq!(events, [Event::Waiting(Waiting::Unrecognised)]);
    }
}

#[test]
fn a_linked_device_reads_every_conversation_once_its_account_hands_out_its_chains() {
    let mut platform = Platform::new(&mut rand::rng());
    let mut phone = member(&mut platform, "alice", Profile::FREE);
    let mut bob = member(&mut platform, "bob", Profile::FREE);
    let bob_id = connect(&mut phone, &mut bob);
    let alice = *phone.member_id();
    let hello = bob
        .send(&mut rand::rng(), &alice, &Content::text("hello"), NOW)
        .saved()
        .unwrap();
    deliver(&mut phone, &hello);
    let (group, welcome) = bob
        .create_group(&mut rand::rng(), &[(alice, Role::Member)], NOW)
        .saved()
        .unwrap();
    deliver(&mut phone, &welcome);

    // The tablet is linked; the phone has said nothing since, in either conversation.
    let mut tablet = more_devices(&mut phone, 1, &mut [&mut bob]).remove(0);
    let first = phone
        .hand_out_chains(&mut rand::rng(), 1, NOW)
        .saved()
        .unwrap();
    let second = phone
        .hand_out_chains(&mut rand::rng(), 1, NOW)
        .saved()
        .unwrap();
    let none = phone
        .hand_out_chains(&mut rand::rng(), 1, NOW)
        .saved()
        .unwrap();
    assert!(
        !first.is_empty() && !second.is_empty(),
        "one conversation a call"
    );
    assert!(none.is_empty());
    let mut joined = Vec::new();
    for out in [&first, &second] {
        joined.extend(deliver(&mut tablet, out));
        assert!(texts(&deliver(&mut bob, out)).is_empty());
    }
    let direct = tablet.direct_conversation(&bob_id).unwrap().unwrap();
    let mut expected = vec![Event::Joined(direct), Event::Joined(group)];
    expected.sort_by_key(|e| format!("{e:?}"));
    joined.sort_by_key(|e| format!("{e:?}"));
    assert_eq!(joined, expected);
    assert_eq!(Some(direct), phone.direct_conversation(&bob_id).unwrap());

    // Bob writes in both: the tablet reads it all, and so does the phone.
    let dm = bob
        .send(&mut rand::rng(), &alice, &Content::text("direct"), NOW)
        .saved()
        .unwrap();
    let post = bob
        .post_to_group(&mut rand::rng(), &group, &Content::text("posted"), NOW)
        .saved()
        .unwrap();
    for device in [&mut tablet, &mut phone] {
        assert_eq!(texts(&deliver(device, &dm)), ["direct"]);
        assert_eq!(texts(&deliver(device, &post)), ["posted"]);
    }
    // The phone's next message goes on the chain it handed out: nothing new to hand.
    let reply = phone
        .send(&mut rand::rng(), &bob_id, &Content::text("reply"), NOW)
        .saved()
        .unwrap();
    assert_eq!(reply.len(), 1, "the message alone, to Bob and the tablet");
    assert_eq!(texts(&deliver(&mut tablet, &reply)), ["reply"]);
    assert_eq!(texts(&deliver(&mut bob, &reply)), ["reply"]);
}

#[test]
fn a_connection_step_on_one_device_holds_on_every_device_of_the_account() {
    let mut platform = Platform::new(&mut rand::rng());
    let mut phone = member(&mut platform, "alice", Profile::FREE);
    let mut bob = member(&mut platform, "bob", Profile::FREE);
    let bob_id = contact(&mut phone, &mut bob);
    let mut laptop = more_devices(&mut phone, 1, &mut [&mut bob]).remove(0);
    let alice = *phone.member_id();
    let changed = |events: &[Event], standing: Connection| {
        events.contains(&Event::ConnectionChanged {
            with: bob_id,
            standing,
        })
    };

    // The phone invites Bob: the laptop stands as the inviter; Bob's acceptance reaches both.
    let invite = phone
        .invite(&mut rand::rng(), &bob_id, None, NOW)
        .saved()
        .unwrap();
    assert!(changed(&deliver(&mut laptop, &invite), Connection::Invited));
    assert_eq!(laptop.connection(&bob_id).unwrap(), Connection::Invited);
    deliver(&mut bob, &invite);
    let accept = bob.accept(&mut rand::rng(), &alice, NOW).saved().unwrap();
    for device in [&mut phone, &mut laptop] {
        assert_eq!(deliver(device, &accept), [Event::Connected(bob_id)]);
    }
    let hello = laptop
        .send(&mut rand::rng(), &bob_id, &Content::text("connected"), NOW)
        .saved()
        .unwrap();
    assert_eq!(texts(&deliver(&mut bob, &hello)), ["connected"]);

    // The laptop removes the connection: the phone may no longer write either, and takes
    // the contact key the laptop replaced (registering its own from it, replacing none).
    let before = phone.access_sync(&mut rand::rng(), NOW).saved().unwrap();
    assert!(before.update.unwrap().contact.is_some());
    let removed = laptop
        .remove_connection(&mut rand::rng(), &bob_id, NOW)
        .saved()
        .unwrap();
    assert!(changed(&deliver(&mut phone, &removed), Connection::None));
    assert_eq!(
        phone
            .send(&mut rand::rng(), &bob_id, &Content::text("still?"), NOW)
            .saved()
            .err(),
        Some(missive::Error::Policy(missive::PolicyError::NotConnected))
    );
    deliver(&mut bob, &removed);
    let sync = laptop.access_sync(&mut rand::rng(), NOW).saved().unwrap();
    assert!(deliveries_for(&sync.notices, bob.mailbox_id()).is_empty());
    assert!(deliver(&mut phone, &sync.notices).is_empty());
    let at_phone = phone.access_sync(&mut rand::rng(), NOW).saved().unwrap();
    assert!(at_phone.notices.is_empty(), "the phone replaced nothing");
    let (ours, theirs) = (
        sync.update.unwrap().contact.unwrap(),
        at_phone.update.unwrap().contact.unwrap(),
    );
    assert_ne!(ours, theirs, "each device registers its own key");
    let unchanged = phone.access_sync(&mut rand::rng(), NOW).saved().unwrap();
    assert!(unchanged.update.is_none_or(|u| u.contact.is_none()));

    // Bob invites again; the laptop declines, and the phone holds no invitation any more.
    let again = bob
        .invite(&mut rand::rng(), &alice, None, NOW)
        .saved()
        .unwrap();
    deliver(&mut phone, &again);
    deliver(&mut laptop, &again);
    let declined = laptop
        .decline(&mut rand::rng(), &bob_id, NOW)
        .saved()
        .unwrap();
    assert!(changed(&deliver(&mut phone, &declined), Connection::None));
    assert_eq!(
        phone.accept(&mut rand::rng(), &bob_id, NOW).saved().err(),
        Some(missive::Error::Policy(missive::PolicyError::NoInvitation))
    );
}

#[test]
fn an_invitation_reaches_every_device_for_one_token_and_an_acceptance_on_one_connects_all() {
    let mut platform = Platform::new(&mut rand::rng());
    let mut alice = member(&mut platform, "alice", Profile::FREE);
    let mut phone = member(&mut platform, "bob", Profile::FREE);
    let bob = contact(&mut alice, &mut phone);
    let laptop = more_devices(&mut phone, 1, &mut [&mut alice]).remove(0);
    let alice_id = *alice.mailbox_id();
    let tokens = alice.tokens(TokenKind::Invite);
    let invite = alice
        .invite(&mut rand::rng(), &bob, None, NOW)
        .saved()
        .unwrap();
    assert_eq!(alice.tokens(TokenKind::Invite), tokens - 1);
    assert_paid_as_account(&invite, b"bob", TokenKind::Invite);
    let mut devices = [phone, laptop];
    for d in &mut devices {
        let invited = deliver(d, &invite);
        assert!(
            matches!(invited.last(), Some(Event::Invitation { from, .. }) if *from == alice_id),
            "{invited:?}"
        );
    }
    let accept = devices[1]
        .accept(&mut rand::rng(), &alice_id, NOW)
        .saved()
        .unwrap();
    assert_eq!(deliver(&mut alice, &accept), [Event::Connected(bob)]);
    assert_eq!(
        deliver(&mut devices[0], &accept),
        [Event::ConnectionChanged {
            with: alice_id,
            standing: Connection::Connected
        }]
    );
    // The phone, connected through its laptop's answer, has no invitation left to answer.
    assert_eq!(
        devices[0]
            .accept(&mut rand::rng(), &alice_id, NOW)
            .saved()
            .err(),
        Some(missive::Error::Policy(missive::PolicyError::NoInvitation))
    );
    let hello = devices[0]
        .send(&mut rand::rng(), &alice_id, &Content::text("hi"), NOW)
        .saved()
        .unwrap();
    assert_eq!(texts(&deliver(&mut alice, &hello)), ["hi"]);
}

/// Every envelope of `out` that spends a token spends the same one, of `kind`, for the account
/// `user` (`Credential::Member`): what a relay takes once for all of the account's devices.
fn assert_paid_as_account(out: &[missive::client::Outgoing], user: &[u8], kind: TokenKind) {
    let paid: Vec<_> = (out.iter())
        .filter(|o| !matches!(o.credential, Credential::Contacts(_) | Credential::Keys(_)))
        .map(|o| &o.credential)
        .collect();
    assert!(!paid.is_empty());
    for credential in &paid {
        assert_eq!(*credential, paid[0]);
        assert!(
            matches!(credential, Credential::Member(m) if m.user == user && m.token.kind == kind),
            "{credential:?}"
        );
    }
}

#[test]
fn an_inmail_to_an_account_with_two_devices_costs_one_credit_and_reaches_both() {
    let mut platform = Platform::new(&mut rand::rng());
    let mut ben = member(&mut platform, "ben", CAREER);
    let mut phone = member(&mut platform, "alice", Profile::FREE);
    let alice = contact(&mut ben, &mut phone);
    let laptop = more_devices(&mut phone, 1, &mut [&mut ben]).remove(0);
    let credits = ben.tokens(TokenKind::Credit);
    let inmail = ben
        .send_inmail(&mut rand::rng(), &alice, &Content::text("a role?"), NOW)
        .saved()
        .unwrap();
    assert_eq!(ben.tokens(TokenKind::Credit), credits - 1);
    assert_paid_as_account(&inmail, b"alice", TokenKind::Credit);
    let mut devices = [phone, laptop];
    for device in &mut devices {
        assert_eq!(texts(&deliver(device, &inmail)), ["a role?"]);
    }
    // Alice answers on either device: Ben reads it, and so does her other device.
    let ben_id = *ben.mailbox_id();
    let reply = devices[1]
        .send(
            &mut rand::rng(),
            &ben_id,
            &Content::text("tell me more"),
            NOW,
        )
        .saved()
        .unwrap();
    assert_eq!(texts(&deliver(&mut ben, &reply)), ["tell me more"]);
    assert_eq!(texts(&deliver(&mut devices[0], &reply)), ["tell me more"]);
    let more = ben
        .send(&mut rand::rng(), &alice, &Content::text("here it is"), NOW)
        .saved()
        .unwrap();
    assert_eq!(
        more.len(),
        1,
        "the message alone: both devices hold Ben's chain"
    );
    assert_eq!(ben.tokens(TokenKind::Credit), credits - 1);
    for device in &mut devices {
        assert_eq!(texts(&deliver(device, &more)), ["here it is"]);
    }
}

#[test]
fn a_connection_removed_on_one_device_leaves_no_key_of_theirs_on_another() {
    let mut platform = Platform::new(&mut rand::rng());
    let mut phone = member(&mut platform, "alice", Profile::FREE);
    let mut bob = member(&mut platform, "bob", OPEN);
    let bob_id = connect(&mut phone, &mut bob);
    let mut laptop = more_devices(&mut phone, 1, &mut [&mut bob]).remove(0);
    let removed = laptop
        .remove_connection(&mut rand::rng(), &bob_id, NOW)
        .saved()
        .unwrap();
    deliver(&mut phone, &removed);
    // Bob's Open Profile still lets both devices write to him, with no key of his: his
    // contact key went with the connection on the phone too.
    for device in [&mut phone, &mut laptop] {
        device.set_contact_profile(bob_id, OPEN).unwrap();
        let out = device
            .send(
                &mut rand::rng(),
                &bob_id,
                &Content::text("still open?"),
                NOW,
            )
            .saved()
            .unwrap();
        let to_bob: Vec<&Credential> = (out.iter())
            .filter(|o| !deliveries_for(std::slice::from_ref(*o), &bob_id).is_empty())
            .map(|o| &o.credential)
            .collect();
        assert!(!to_bob.is_empty());
        assert!(
            to_bob.iter().all(|c| matches!(c, Credential::Open)),
            "{to_bob:?}"
        );
    }
}

#[test]
fn an_open_profile_message_reaches_every_device_of_its_recipient_each_alone() {
    let mut platform = Platform::new(&mut rand::rng());
    let mut ana = member(&mut platform, "ana", Profile::FREE);
    let mut phone = member(&mut platform, "bob", OPEN);
    let bob = contact(&mut ana, &mut phone);
    let laptop = more_devices(&mut phone, 1, &mut [&mut ana]).remove(0);
    ana.set_contact_profile(bob, OPEN).unwrap();
    let out = ana
        .send(&mut rand::rng(), &bob, &Content::text("hello"), NOW)
        .saved()
        .unwrap();
    // The relay takes `Open` for one mailbox: one envelope per device, for the hand-off of
    // Ana's chain and for the message.
    let open_to: Vec<Vec<MailboxId>> = (out.iter())
        .filter(|o| matches!(o.credential, Credential::Open))
        .map(|o| {
            let envelope = missive::envelope::Envelope::from_bytes(&o.envelope).unwrap();
            envelope.mailboxes().to_vec()
        })
        .collect();
    assert_eq!(open_to.len(), 4, "{open_to:?}");
    assert!(open_to.iter().all(|m| m.len() == 1));
    for device in [&mut phone, &mut { laptop }] {
        assert_eq!(texts(&deliver(device, &out)), ["hello"]);
    }
}

#[test]
fn a_sponsored_message_to_a_member_on_two_devices_spends_sponsored_tokens_per_envelope() {
    let mut platform = Platform::new(&mut rand::rng());
    let mut acme = member(&mut platform, "acme", Profile::FREE);
    acme.set_advertiser_certificate(platform.certify_advertiser(
        "Acme Recruiting",
        acme.mailbox_id(),
        acme.identity(),
    ));
    common::users::certify(&platform, &mut acme, true);
    common::users::fund(&mut acme, TokenKind::Sponsored, 10);
    let mut ana = member(&mut platform, "ana", Profile::FREE);
    let ana_id = contact(&mut acme, &mut ana);
    let mut laptop = more_devices(&mut ana, 1, &mut [&mut acme]).remove(0);
    let ad = missive::client::Sponsored {
        headline: "We are hiring".into(),
        body: "Rust roles".into(),
        buttons: Vec::new(),
        banner: None,
        lead_form: None,
    };
    let out = acme
        .send_sponsored(&mut rand::rng(), &[ana_id], &ad, NOW)
        .saved()
        .unwrap();
    // A sponsored token pays for one envelope, whatever it reaches: never for an account.
    for o in &out {
        assert!(
            matches!(&o.credential, Credential::Token(t) if t.kind == TokenKind::Sponsored),
            "{:?}",
            o.credential
        );
    }
    // Both of Ana's devices read it.
    for device in [&mut ana, &mut laptop] {
        let events = deliver(device, &out);
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::Message { content, .. } if matches!(content, Content::Sponsored(_)))),
            "{events:?}"
        );
    }
}

#[test]
fn a_sponsored_message_reaches_the_advertisers_other_device_and_its_audience_is_the_audience() {
    let mut platform = Platform::new(&mut rand::rng());
    let mut acme = member(&mut platform, "acme", Profile::FREE);
    acme.set_advertiser_certificate(platform.certify_advertiser(
        "Acme Recruiting",
        acme.mailbox_id(),
        acme.identity(),
    ));
    common::users::certify(&platform, &mut acme, true);
    common::users::fund(&mut acme, TokenKind::Sponsored, 10);
    let mut ana = member(&mut platform, "ana", Profile::FREE);
    let ana_id = contact(&mut acme, &mut ana);
    let mut laptop = more_devices(&mut acme, 1, &mut [&mut ana]).remove(0);
    common::users::fund(&mut acme, TokenKind::Sponsored, 10);
    let ad = missive::client::Sponsored {
        headline: "We are hiring".into(),
        body: "Rust roles".into(),
        buttons: Vec::new(),
        banner: None,
        lead_form: None,
    };
    let out = acme
        .send_sponsored(&mut rand::rng(), &[ana_id], &ad, NOW)
        .saved()
        .unwrap();
    let sponsored = |events: &[Event]| {
        events.iter().find_map(|e| match e {
            Event::Message {
                conversation,
                from,
                content: Content::Sponsored(_),
                ..
            } => Some((*conversation, *from)),
            _ => None,
        })
    };
    let acme_id = *acme.member_id();
    let (id, from) = sponsored(&deliver(&mut ana, &out)).unwrap();
    assert_eq!(from, acme_id);
    // The advertiser's laptop reads what its phone sent, as the account's.
    assert_eq!(sponsored(&deliver(&mut laptop, &out)), Some((id, acme_id)));
    // At the phone, the conversation went to Ana: not to the account's own laptop.
    let went_to: Vec<MailboxId> = (acme.participants(&id).unwrap().iter())
        .map(|p| p.mailbox)
        .collect();
    assert_eq!(went_to, [ana_id]);
    // The laptop removes the phone: no one answers a sponsored message, so there is nothing
    // to close, and nothing is drawn there.
    let removed = laptop
        .remove_device(&mut rand::rng(), 1, NOW)
        .saved()
        .unwrap();
    assert!(removed.notices.is_empty());
}

#[test]
fn a_conversation_with_a_member_we_hold_no_session_with_waits_and_the_others_are_handed_out() {
    let mut platform = Platform::new(&mut rand::rng());
    let mut phone = member(&mut platform, "alice", Profile::FREE);
    let mut bob = member(&mut platform, "bob", Profile::FREE);
    let mut carl = member(&mut platform, "carl", Profile::FREE);
    let bob_id = connect(&mut phone, &mut bob);
    connect(&mut bob, &mut carl);
    let alice = *phone.member_id();
    let carl_id = *carl.member_id();
    let hello = bob
        .send(&mut rand::rng(), &alice, &Content::text("hello"), NOW)
        .saved()
        .unwrap();
    deliver(&mut phone, &hello);
    // Bob's group has Carl in it, with whom Alice has no session.
    let (group, welcome) = bob
        .create_group(
            &mut rand::rng(),
            &[(alice, Role::Member), (carl_id, Role::Member)],
            NOW,
        )
        .saved()
        .unwrap();
    deliver(&mut phone, &welcome);
    deliver(&mut carl, &welcome);
    let mut tablet = more_devices(&mut phone, 1, &mut [&mut bob]).remove(0);
    // The direct conversation is handed out; the group waits, and asks for nothing again.
    let out = phone
        .hand_out_chains(&mut rand::rng(), 10, NOW)
        .saved()
        .unwrap();
    let direct = tablet.direct_conversation(&bob_id).unwrap();
    assert!(direct.is_none());
    assert_eq!(
        deliver(&mut tablet, &out),
        [Event::Joined(
            phone.direct_conversation(&bob_id).unwrap().unwrap()
        )]
    );
    assert!(deliveries_for(&out, &carl_id).is_empty());
    let again = phone
        .hand_out_chains(&mut rand::rng(), 10, NOW)
        .saved()
        .unwrap();
    assert!(again.is_empty(), "nothing more it can hand out");
    // Once Alice holds a session with Carl, the group is handed out too.
    contact(&mut phone, &mut carl);
    let group_out = phone
        .hand_out_chains(&mut rand::rng(), 10, NOW)
        .saved()
        .unwrap();
    assert_eq!(deliver(&mut tablet, &group_out), [Event::Joined(group)]);
    assert!(!deliveries_for(&group_out, &carl_id).is_empty());
}

#[test]
fn an_answer_that_overtakes_our_own_devices_step_waits_for_it() {
    let mut platform = Platform::new(&mut rand::rng());
    let mut phone = member(&mut platform, "alice", Profile::FREE);
    let mut bob = member(&mut platform, "bob", Profile::FREE);
    let bob_id = contact(&mut phone, &mut bob);
    let mut laptop = more_devices(&mut phone, 1, &mut [&mut bob]).remove(0);
    let alice = *phone.member_id();
    let invite = phone
        .invite(&mut rand::rng(), &bob_id, None, NOW)
        .saved()
        .unwrap();
    deliver(&mut bob, &invite);
    let accept = bob.accept(&mut rand::rng(), &alice, NOW).saved().unwrap();
    assert_eq!(deliver(&mut phone, &accept), [Event::Connected(bob_id)]);
    // Bob's acceptance reaches the laptop before the phone's word that it invited him: it
    // waits, and applies once that word arrives.
    let early = deliver(&mut laptop, &accept);
    assert!(
        early.iter().all(|e| matches!(e, Event::Waiting(_))),
        "{early:?}"
    );
    let events = deliver(&mut laptop, &invite);
    assert!(events.contains(&Event::Connected(bob_id)), "{events:?}");
    let hello = laptop
        .send(&mut rand::rng(), &bob_id, &Content::text("hi"), NOW)
        .saved()
        .unwrap();
    assert_eq!(texts(&deliver(&mut bob, &hello)), ["hi"]);
}

#[test]
fn an_answer_to_a_withdrawn_invitation_waits_for_nothing_on_an_account_with_one_device_left() {
    let mut platform = Platform::new(&mut rand::rng());
    let mut phone = member(&mut platform, "alice", Profile::FREE);
    let mut bob = member(&mut platform, "bob", Profile::FREE);
    let bob_id = contact(&mut phone, &mut bob);
    more_devices(&mut phone, 1, &mut [&mut bob]);
    phone
        .remove_device(&mut rand::rng(), 2, NOW)
        .saved()
        .unwrap();
    let alice = *phone.member_id();
    let invite = phone
        .invite(&mut rand::rng(), &bob_id, None, NOW)
        .saved()
        .unwrap();
    deliver(&mut bob, &invite);
    // The invitation is withdrawn as Bob accepts it: his answer finds no invitation, and with
    // no other device of Alice's to have sent one, nothing waits for it.
    phone
        .withdraw(&mut rand::rng(), &bob_id, NOW)
        .saved()
        .unwrap();
    let accept = bob.accept(&mut rand::rng(), &alice, NOW).saved().unwrap();
    assert_eq!(deliver(&mut phone, &accept), []);
    assert_eq!(phone.connection(&bob_id).unwrap(), Connection::None);
}

#[test]
fn a_contact_the_first_device_invites_learns_every_device_and_answers_each() {
    let mut platform = Platform::new(&mut rand::rng());
    let mut phone = member(&mut platform, "alice", Profile::FREE);
    let mut laptop = Client::new(&mut rand::rng(), b"alice");
    let list = link(&mut phone, &mut laptop);
    let alice = *phone.member_id();
    take(&mut phone, &alice, &list, &mut [&mut laptop]);
    let mut bob = member(&mut platform, "bob", Profile::FREE);
    let bob_id = *bob.mailbox_id();
    phone
        .add_contact(&mut rand::rng(), b"bob", &directory(&mut bob))
        .unwrap();

    // Bob has never heard of Alice: the phone's invitation carries her list, and Bob is
    // told to fetch the devices he holds no session with.
    let invite = phone
        .invite(&mut rand::rng(), &bob_id, None, NOW)
        .saved()
        .unwrap();
    deliver(&mut laptop, &invite);
    let events = deliver(&mut bob, &invite);
    assert!(events.contains(&Event::DevicesToFetch {
        member: alice,
        user: b"alice".to_vec(),
    }));
    assert_eq!(bob.contact_devices(&alice).unwrap().len(), 2);
    take(&mut bob, &alice, &list, &mut [&mut phone, &mut laptop]);

    // His acceptance connects both of Alice's devices, not the phone alone.
    let accept = bob.accept(&mut rand::rng(), &alice, NOW).saved().unwrap();
    for device in [&mut phone, &mut laptop] {
        assert!(deliver(device, &accept).contains(&Event::Connected(bob_id)));
        assert_eq!(device.connection(&bob_id).unwrap(), Connection::Connected);
    }
    // The laptop (which met Bob through his acceptance) and the phone write to him; their
    // later messages carry no list, and there is nothing more to fetch.
    let hello = say(&mut laptop, &bob_id, "from the laptop");
    assert_eq!(texts(&deliver(&mut bob, &hello)), ["from the laptop"]);
    let hello = say(&mut phone, &bob_id, "hello");
    let events = deliver(&mut bob, &hello);
    assert_eq!(texts(&events), ["hello"]);
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::DevicesToFetch { .. }))
    );
}
