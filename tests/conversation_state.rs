//! State at rest: a conversation or fan-out state restored from its bytes carries on exactly
//! where it stopped, and its encoding is canonical and strictly checked.

#![allow(clippy::unwrap_used)]

mod conversation_support;

use conversation_support::{Net, mailbox, member};
use missive::conversation::{Conversation, FanOut, Role};
use proptest::prelude::*;

fn reload(conv: &Conversation) -> Conversation {
    let bytes = conv.to_bytes();
    let again = Conversation::from_bytes(&bytes).unwrap();
    assert_eq!(*again.to_bytes(), *bytes, "canonical");
    again
}

#[test]
fn a_restored_member_carries_on() {
    let mut net = Net::group(3);
    let messages: Vec<_> = (0..6u8)
        .map(|i| net.conv(0).encrypt(&[i]).unwrap())
        .collect();
    assert!(net.conv(1).decrypt(&messages[3]).is_ok()); // 0..2 skipped, 4.. ahead
    net.change(0, &[member(3, Role::Member)], &[]); // epoch 0 becomes the previous one
    let mut restored = reload(net.conv(1));
    for i in [0usize, 2, 4, 5, 1] {
        assert_eq!(restored.decrypt(&messages[i]).unwrap().body, [i as u8]);
    }
    assert!(
        restored.decrypt(&messages[3]).is_err(),
        "still a replay after a restart"
    );
    let mut sender = reload(net.conv(2));
    let next = sender.encrypt(b"after restart").unwrap();
    assert_eq!(restored.decrypt(&next).unwrap().body, b"after restart");
    assert_eq!(restored.epoch(), 1);
}

#[test]
fn a_restored_sender_does_not_reuse_an_index() {
    let mut net = Net::group(2);
    let first = net.conv(0).encrypt(b"one").unwrap();
    let mut sender = reload(net.conv(0));
    let second = sender.encrypt(b"two").unwrap();
    assert_ne!(first[..8], second[..8]);
    assert_eq!(net.conv(1).decrypt(&second).unwrap().index, 1);
}

#[test]
fn fan_out_state_round_trips() {
    let mut rng = rand::rng();
    let mut sender = FanOut::new(&mut rng, mailbox(0));
    let mut r = FanOut::new(&mut rng, mailbox(1));
    r.accept_grant(
        mailbox(0),
        &sender.grant(&mut rng, mailbox(1)).unwrap().to_bytes(),
    )
    .unwrap();
    let (_, first) = sender
        .send_first(&mut rng, &[mailbox(1)], b"one", 0)
        .unwrap();
    let mut sender = FanOut::from_bytes(&sender.to_bytes()).unwrap();
    let (_, second) = sender
        .send_first(&mut rng, &[mailbox(1)], b"two", 0)
        .unwrap();
    let bytes = r.to_bytes();
    let mut r = FanOut::from_bytes(&bytes).unwrap();
    assert_eq!(*r.to_bytes(), *bytes);
    assert_eq!(r.open_first(&second.split()[0]).unwrap().1.body, b"two");
    assert_eq!(r.open_first(&first.split()[0]).unwrap().1.body, b"one");
}

#[test]
fn truncated_or_extended_states_are_refused() {
    let mut net = Net::group(3);
    let bytes = net.conv(1).to_bytes();
    for cut in (0..bytes.len()).step_by(17) {
        assert!(Conversation::from_bytes(&bytes[..cut]).is_err());
    }
    let mut longer = bytes.to_vec();
    longer.push(0);
    assert!(Conversation::from_bytes(&longer).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_state_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(c) = Conversation::from_bytes(&bytes) {
            prop_assert_eq!(c.to_bytes().to_vec(), bytes.clone());
        }
        if let Ok(f) = FanOut::from_bytes(&bytes) {
            prop_assert_eq!(f.to_bytes().to_vec(), bytes);
        }
    }
}

#[test]
fn a_state_whose_owner_is_not_in_its_roster_is_refused() {
    let mut net = Net::group(3);
    let conv = net.conv(1);
    let bytes = conv.to_bytes().to_vec();
    // Version, conversation id, kind, then the owner's mailbox.
    let me = 1 + 16 + 1;
    assert_eq!(bytes[me..me + 16], conv.me().0);
    let mut outsider = bytes.clone();
    outsider[me..me + 16].copy_from_slice(&mailbox(9).0);
    assert!(Conversation::from_bytes(&outsider).is_err());
    assert!(Conversation::from_bytes(&bytes).is_ok());
}
