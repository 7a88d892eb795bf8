//! Multi-recipient messages to members on several devices (PROTOCOL.md §6.7, §12.6): a first
//! message gives each recipient device, and each of the sender's other devices, a part of its
//! own (56 bytes, in one envelope), every one of them reads it and answers all, and nobody
//! else reads anything.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::devices::{meet, more_devices};
use common::saved::Saved;
use common::users::{NOW, connect, deliver, deliveries_for, member, say, senders, texts};
use missive::client::{Client, Content, Event, Outgoing};
use missive::envelope::{self, KEYED_RECIPIENT_LEN, MailboxId};
use missive::platform::{Platform, Profile};
use missive::{CryptoError, Error, UsageError};

/// Ann on a phone and a laptop, Bob on a phone and a laptop, Cat on one device, and Dan, a
/// connection of Ann's that no message here is for. Every device of Ann's holds a session with
/// every device of Bob's and with Cat.
struct People {
    ann: Client,
    ann_laptop: Client,
    bob: Client,
    bob_laptop: Client,
    cat: Client,
    dan: Client,
}

fn people() -> People {
    let mut platform = Platform::new(&mut rand::rng());
    let mut ann = member(&mut platform, "ann", Profile::FREE);
    let mut bob = member(&mut platform, "bob", Profile::FREE);
    let mut cat = member(&mut platform, "cat", Profile::FREE);
    let mut dan = member(&mut platform, "dan", Profile::FREE);
    connect(&mut ann, &mut bob);
    connect(&mut ann, &mut cat);
    connect(&mut ann, &mut dan);
    let mut bob_laptop = more_devices(&mut bob, 1, &mut [&mut ann]).remove(0);
    let mut ann_laptop = more_devices(&mut ann, 1, &mut [&mut bob, &mut cat]).remove(0);
    meet(&mut ann_laptop, &mut [&mut bob, &mut bob_laptop]);
    meet(&mut bob_laptop, &mut [&mut ann, &mut ann_laptop]);
    People {
        ann,
        ann_laptop,
        bob,
        bob_laptop,
        cat,
        dan,
    }
}

/// The first message among `out` (the one keyed envelope).
fn first_message(out: &[Outgoing]) -> envelope::Envelope {
    let keyed: Vec<envelope::Envelope> = out
        .iter()
        .map(|o| envelope::Envelope::from_bytes(&o.envelope).unwrap())
        .filter(|e| envelope::split(&e.to_bytes()).unwrap()[0].part().is_some())
        .collect();
    assert_eq!(keyed.len(), 1, "one first message");
    keyed.into_iter().next().unwrap()
}

fn participants(c: &Client, id: &missive::conversation::ConversationId) -> Vec<MailboxId> {
    let all = c.participants(id).unwrap();
    all.iter().map(|p| p.mailbox).collect()
}

#[test]
fn a_first_message_reaches_every_device_of_each_recipient_and_the_senders_other_devices() {
    let mut p = people();
    let (ann, bob, cat) = (*p.ann.member_id(), *p.bob.member_id(), *p.cat.member_id());
    let (id, out) = p
        .ann
        .send_multi(&mut rand::rng(), &[bob, cat], &Content::text("to all"), NOW)
        .saved()
        .unwrap();
    let first = first_message(&out);
    let mut expected = vec![
        *p.bob.mailbox_id(),
        *p.bob_laptop.mailbox_id(),
        *p.cat.mailbox_id(),
        *p.ann_laptop.mailbox_id(),
    ];
    expected.sort();
    assert_eq!(first.mailboxes(), expected, "one part for every device");
    for device in [&mut p.bob, &mut p.bob_laptop, &mut p.cat, &mut p.ann_laptop] {
        let events = deliver(device, &out);
        assert_eq!(events.first(), Some(&Event::Joined(id)), "{events:?}");
        assert_eq!(texts(&events), ["to all"]);
        assert_eq!(senders(&events), [ann]);
    }
    // Each device sees the members it went to, not their devices; Ann's laptop, her own.
    let mut bob_and_cat = vec![bob, cat];
    bob_and_cat.sort();
    let mut ann_and_cat = vec![ann, cat];
    ann_and_cat.sort();
    let mut ann_and_bob = vec![ann, bob];
    ann_and_bob.sort();
    assert_eq!(participants(&p.ann, &id), bob_and_cat);
    assert_eq!(participants(&p.ann_laptop, &id), bob_and_cat);
    assert_eq!(participants(&p.bob_laptop, &id), ann_and_cat);
    assert_eq!(participants(&p.cat, &id), ann_and_bob);
    // Dan gets nothing, and reads nothing of what he is handed.
    let dan_mailbox = *p.dan.mailbox_id();
    assert!(deliveries_for(&out, &dan_mailbox).is_empty());
    for o in &out {
        for d in envelope::split(&o.envelope).unwrap() {
            assert!(texts(&p.dan.receive(&d.to_bytes(), NOW).unwrap_or_default()).is_empty());
        }
    }
}

#[test]
fn each_recipient_device_costs_56_bytes_and_a_second_message_needs_no_grant() {
    let mut p = people();
    let (bob, cat) = (*p.bob.member_id(), *p.cat.member_id());
    let (_, to_cat) = p
        .ann
        .send_multi(&mut rand::rng(), &[cat], &Content::text("x"), NOW)
        .saved()
        .unwrap();
    let (_, to_both) = p
        .ann
        .send_multi(&mut rand::rng(), &[bob, cat], &Content::text("x"), NOW)
        .saved()
        .unwrap();
    let one = first_message(&to_cat);
    let both = first_message(&to_both);
    // Cat and Ann's laptop, then Bob's two devices as well: the same padded body.
    assert_eq!(one.mailboxes().len(), 2);
    assert_eq!(both.mailboxes().len(), 4);
    let per_device = (both.to_bytes().len() - one.to_bytes().len()) / 2;
    assert_eq!(per_device, KEYED_RECIPIENT_LEN);
    assert_eq!(per_device, 56);
    // Every device holds its grant now: the next first message is the envelope alone.
    let (_, again) = p
        .ann
        .send_multi(&mut rand::rng(), &[bob, cat], &Content::text("again"), NOW)
        .saved()
        .unwrap();
    assert_eq!(again.len(), 1, "{again:?}");
    for o in [&to_cat, &to_both] {
        deliver(&mut p.bob_laptop, o);
    }
    assert_eq!(texts(&deliver(&mut p.bob_laptop, &again)), ["again"]);
}

#[test]
fn every_device_answers_all_and_every_other_device_reads_it_as_its_members() {
    let mut p = people();
    let (ann, bob, cat) = (*p.ann.member_id(), *p.bob.member_id(), *p.cat.member_id());
    let (id, out) = p
        .ann
        .send_multi(&mut rand::rng(), &[bob, cat], &Content::text("lunch?"), NOW)
        .saved()
        .unwrap();
    for device in [&mut p.bob, &mut p.bob_laptop, &mut p.cat, &mut p.ann_laptop] {
        deliver(device, &out);
    }
    let People {
        ann: ann_phone,
        ann_laptop,
        bob: bob_phone,
        bob_laptop,
        cat: cat_device,
        dan,
    } = &mut p;
    let mut all: Vec<(&mut Client, MailboxId)> = vec![
        (ann_phone, ann),
        (ann_laptop, ann),
        (bob_phone, bob),
        (bob_laptop, bob),
        (cat_device, cat),
    ];
    for writer in 0..all.len() {
        let text = format!("answer {writer}");
        let member = all[writer].1;
        let answer = all[writer]
            .0
            .reply(&mut rand::rng(), &id, &Content::text(&text), NOW)
            .saved()
            .unwrap();
        for (reader, (device, _)) in all.iter_mut().enumerate() {
            let events = deliver(device, &answer);
            if reader == writer {
                assert!(events.is_empty());
                continue;
            }
            assert_eq!(
                texts(&events),
                std::slice::from_ref(&text),
                "{writer} to {reader}"
            );
            assert_eq!(senders(&events), [member]);
        }
        assert!(deliveries_for(&answer, dan.mailbox_id()).is_empty());
    }
}

#[test]
fn a_device_of_the_sender_sends_to_all_and_its_sibling_reads_it_as_its_own() {
    let mut p = people();
    let (ann, bob, cat) = (*p.ann.member_id(), *p.bob.member_id(), *p.cat.member_id());
    let (id, out) = p
        .ann_laptop
        .send_multi(
            &mut rand::rng(),
            &[bob, cat],
            &Content::text("from the laptop"),
            NOW,
        )
        .saved()
        .unwrap();
    let first = first_message(&out);
    assert!(first.mailboxes().contains(p.ann.mailbox_id()));
    for device in [&mut p.ann, &mut p.bob, &mut p.bob_laptop, &mut p.cat] {
        let events = deliver(device, &out);
        assert_eq!(texts(&events), ["from the laptop"]);
        assert_eq!(senders(&events), [ann]);
    }
    // The phone answers in it as Ann, and the laptop reads that too.
    let answer = p
        .ann
        .reply(&mut rand::rng(), &id, &Content::text("and the phone"), NOW)
        .saved()
        .unwrap();
    for device in [&mut p.ann_laptop, &mut p.bob_laptop, &mut p.cat] {
        assert_eq!(texts(&deliver(device, &answer)), ["and the phone"]);
    }
}

#[test]
fn a_conversation_with_a_removed_device_is_closed_to_every_participant() {
    let mut p = people();
    let (bob, cat) = (*p.bob.member_id(), *p.cat.member_id());
    let (id, out) = p
        .ann
        .send_multi(&mut rand::rng(), &[bob, cat], &Content::text("before"), NOW)
        .saved()
        .unwrap();
    for device in [&mut p.bob, &mut p.bob_laptop, &mut p.cat, &mut p.ann_laptop] {
        deliver(device, &out);
    }
    // A relay that kept the laptop's mailbox would hand it what was sent there after.
    let laptop_box = *p.bob_laptop.mailbox_id();
    let text = Content::text("after");
    let answered = p
        .cat
        .reply(&mut rand::rng(), &id, &text, NOW)
        .saved()
        .unwrap();
    assert!(!deliveries_for(&answered, &laptop_box).is_empty());
    for device in [&mut p.ann, &mut p.ann_laptop, &mut p.bob, &mut p.bob_laptop] {
        assert_eq!(texts(&deliver(device, &answered)), ["after"]);
    }

    // Bob's phone removes his laptop: the new list goes to every other device in the
    // conversation (the laptop's mailbox left out), in the conversation itself, and shows
    // nothing. Cat, who holds no list of Bob's and is no contact of his, takes it too.
    let removed = p
        .bob
        .remove_device(&mut rand::rng(), 2, NOW)
        .saved()
        .unwrap();
    assert!(deliveries_for(&removed.notices, &laptop_box).is_empty());
    for device in [&mut p.ann, &mut p.ann_laptop, &mut p.cat] {
        assert_eq!(deliver(device, &removed.notices), []);
    }
    assert!(p.cat.contact(&bob).unwrap().is_none());
    assert_eq!(p.cat.contact_devices(&bob).unwrap().len(), 1);
    // Every chain there comes from a seed the laptop holds: no one sends there any more.
    let closed = Some(Error::Usage(UsageError::NotPermitted));
    for device in [&mut p.ann, &mut p.ann_laptop, &mut p.bob, &mut p.cat] {
        assert_eq!(
            device.reply(&mut rand::rng(), &id, &text, NOW).err(),
            closed
        );
    }
    // What the laptop still writes there, no one takes, and nothing of theirs moved.
    let late = p
        .bob_laptop
        .reply(
            &mut rand::rng(),
            &id,
            &Content::text("from a lost laptop"),
            NOW,
        )
        .saved()
        .unwrap();
    for device in [&mut p.ann, &mut p.ann_laptop, &mut p.cat] {
        let at = deliveries_for(&late, device.mailbox_id());
        assert_eq!(at.len(), 1);
        let before = device.to_bytes().unwrap();
        assert_eq!(
            device.receive(&at[0], NOW),
            Err(Error::Crypto(CryptoError::WrongSender))
        );
        assert!(*device.to_bytes().unwrap() == *before);
    }
    // The notice again (a replay, or the same list once more) changes nothing.
    for device in [&mut p.ann, &mut p.cat] {
        assert_eq!(deliver(device, &removed.notices), []);
    }
}

#[test]
fn typing_in_a_conversation_to_all_reaches_each_device_we_know_of_the_others() {
    let mut p = people();
    let (ann, bob, cat) = (*p.ann.member_id(), *p.bob.member_id(), *p.cat.member_id());
    let (id, out) = p
        .ann
        .send_multi(
            &mut rand::rng(),
            &[bob, cat],
            &Content::text("typing?"),
            NOW,
        )
        .saved()
        .unwrap();
    for device in [&mut p.bob, &mut p.bob_laptop, &mut p.cat, &mut p.ann_laptop] {
        deliver(device, &out);
    }
    // A tablet Bob links afterwards is not in this conversation: it is told nothing of it.
    let tablet = more_devices(&mut p.bob, 1, &mut [&mut p.ann]).remove(0);
    let typing = p.ann.typing(&mut rand::rng(), &id, true, NOW).unwrap();
    let mut to: Vec<MailboxId> = typing
        .iter()
        .flat_map(|o| {
            envelope::Envelope::from_bytes(&o.envelope)
                .unwrap()
                .mailboxes()
        })
        .collect();
    to.sort();
    let mut expected = vec![*p.bob.mailbox_id(), *p.bob_laptop.mailbox_id(), cat];
    expected.sort();
    assert_eq!(
        to, expected,
        "each other member's devices in it, not our own"
    );
    assert!(!to.contains(tablet.mailbox_id()));
    for device in [&mut p.bob, &mut p.bob_laptop, &mut p.cat] {
        let events = deliver(device, &typing);
        assert!(
            matches!(events.as_slice(), [Event::Typing { from, typing: true, .. }] if *from == ann),
            "{events:?}"
        );
    }
}

#[test]
fn a_removal_closes_only_the_ad_hoc_conversations_the_removed_device_is_in() {
    let mut platform = Platform::new(&mut rand::rng());
    let mut ann = member(&mut platform, "ann", Profile::FREE);
    let mut bob = member(&mut platform, "bob", Profile::FREE);
    let mut cat = member(&mut platform, "cat", Profile::FREE);
    let (bob_id, cat_id) = (connect(&mut ann, &mut bob), connect(&mut ann, &mut cat));
    let ann_id = *ann.member_id();
    // One conversation from before Bob's laptop, one after; and a direct one the laptop
    // wrote in.
    let (early, out) = ann
        .send_multi(
            &mut rand::rng(),
            &[bob_id, cat_id],
            &Content::text("early"),
            NOW,
        )
        .saved()
        .unwrap();
    deliver(&mut bob, &out);
    deliver(&mut cat, &out);
    let mut laptop = more_devices(&mut bob, 1, &mut [&mut ann]).remove(0);
    let (later, out) = ann
        .send_multi(
            &mut rand::rng(),
            &[bob_id, cat_id],
            &Content::text("later"),
            NOW,
        )
        .saved()
        .unwrap();
    for device in [&mut bob, &mut laptop, &mut cat] {
        let events = deliver(device, &out);
        assert_eq!(texts(&events), ["later"], "{events:?}");
    }
    let direct = say(&mut laptop, &ann_id, "from the laptop");
    assert_eq!(texts(&deliver(&mut bob, &direct)), ["from the laptop"]);
    let direct = say(&mut bob, &ann_id, "and from the phone");
    assert_eq!(
        texts(&deliver(&mut laptop, &direct)),
        ["and from the phone"]
    );

    let queued = bob.outbox().len();
    let removed = bob.remove_device(&mut rand::rng(), 2, NOW).saved().unwrap();
    assert!(!removed.notices.is_empty());
    assert!(
        removed
            .notices
            .iter()
            .all(|o| o.conversation == Some(later))
    );
    // Sent and saved: in the outbox until the relay takes them.
    assert_eq!(bob.outbox()[queued..], removed.notices[..]);
    assert_eq!(deliver(&mut cat, &removed.notices), []);
    let text = Content::text("after");
    let closed = Some(Error::Usage(UsageError::NotPermitted));
    assert_eq!(
        cat.reply(&mut rand::rng(), &later, &text, NOW).err(),
        closed
    );
    // The conversation from before the laptop goes on, on Bob's side too (linking and
    // removing a device left his chain there as it was).
    let answer = cat
        .reply(&mut rand::rng(), &early, &text, NOW)
        .saved()
        .unwrap();
    assert_eq!(texts(&deliver(&mut bob, &answer)), ["after"]);
}
