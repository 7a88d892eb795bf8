//! Property tests of the conversation promises (modest case counts: each case builds groups).

#![allow(clippy::unwrap_used, clippy::panic)]

mod conversation_support;

use conversation_support::{Net, mailbox, member};
use missive::conversation::Role;
use missive::envelope::{Delivery, Envelope, MailboxId, split};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn every_member_reads_what_any_member_sends(n in 2usize..6, sender in 0usize..6, body in proptest::collection::vec(any::<u8>(), 0..3000)) {
        let sender = sender % n;
        let mut net = Net::group(n);
        let message = net.conv(sender).encrypt(&body).unwrap();
        for r in (0..n).filter(|r| *r != sender) {
            let got = net.conv(r).decrypt(&message).unwrap();
            prop_assert_eq!(&got.body, &body);
            prop_assert_eq!(got.sender, mailbox(sender));
        }
    }

    #[test]
    fn any_flipped_bit_is_rejected_and_changes_nothing(pos in any::<prop::sample::Index>(), bit in 0u8..8, len in 0usize..600) {
        let mut net = Net::group(2);
        let message = net.conv(0).encrypt(&vec![9; len]).unwrap();
        let mut bad = message.clone();
        let at = pos.index(bad.len());
        bad[at] ^= 1 << bit;
        prop_assert!(net.conv(1).decrypt(&bad).is_err());
        prop_assert_eq!(net.conv(1).decrypt(&message).unwrap().body, vec![9; len]);
    }

    /// Random sends and membership changes: current members read everything sent to them,
    /// removed members read nothing sent after their removal, joiners nothing from before.
    #[test]
    fn interaction(actions in proptest::collection::vec((0u8..4, 0usize..6), 1..16)) {
        let mut net = Net::group(3);
        let mut present: Vec<bool> = vec![true, true, true, false, false, false];
        let mut next_new = 3;
        let mut history: Vec<(Vec<u8>, Vec<bool>, u64, usize)> = Vec::new(); // message, readers, epoch, sender
        for (kind, who) in actions {
            match kind {
                0 | 1 => {
                    let s = who % 6;
                    if present[s] {
                        let message = net.conv(s).encrypt(&[s as u8; 10]).unwrap();
                        let mut readers = present.clone();
                        readers[s] = false;
                        history.push((message, readers, net.conv(0).epoch(), s));
                    }
                }
                2 if next_new < 6 => {
                    net.change(0, &[member(next_new, Role::Member)], &[]);
                    present[next_new] = true;
                    next_new += 1;
                }
                _ => {
                    let r = 1 + who % 5;
                    if present[r] && present.iter().filter(|p| **p).count() > 2 {
                        net.change(0, &[], &[r]);
                        present[r] = false;
                    }
                }
            }
        }
        let last_epoch = net.conv(0).epoch();
        for (message, readers, epoch, sender) in &history {
            for (i, reads) in readers.iter().enumerate() {
                if let Some(conv) = net.convs.get_mut(i).and_then(Option::as_mut) {
                    let ok = conv.decrypt(message).is_ok();
                    // Non-members never read. Members still in the group read everything from
                    // the current and the previous epoch (older epochs' keys are deleted) from
                    // senders still in the group (a removed sender's chains are dropped).
                    if !reads {
                        prop_assert!(!ok, "member {} read a message not meant for it", i);
                    } else if present[i] && present[*sender] && last_epoch - epoch <= 1 {
                        prop_assert!(ok, "member {} missed a message meant for it", i);
                    }
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn envelope_bytes_never_panic_and_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(e) = Envelope::from_bytes(&bytes) {
            prop_assert_eq!(e.to_bytes(), bytes.clone());
            for d in split(&bytes).unwrap() {
                prop_assert_eq!(Delivery::from_bytes(&d.to_bytes()).unwrap(), d);
            }
        }
        if let Ok(d) = Delivery::from_bytes(&bytes) {
            prop_assert_eq!(d.to_bytes(), bytes);
        }
    }

    #[test]
    fn envelopes_round_trip(ids in proptest::collection::btree_set(any::<[u8; 16]>(), 1..120), body in proptest::collection::vec(any::<u8>(), 1..500), expiry: u64) {
        let ids: Vec<MailboxId> = ids.into_iter().map(MailboxId).collect();
        let envelopes = Envelope::to_mailboxes(expiry, &ids, &body).unwrap();
        prop_assert_eq!(envelopes.len(), ids.len().div_ceil(50));
        let mut seen = Vec::new();
        for e in &envelopes {
            let bytes = e.to_bytes();
            prop_assert_eq!(&Envelope::from_bytes(&bytes).unwrap(), e);
            for d in split(&bytes).unwrap() {
                prop_assert_eq!(d.body(), &body[..]);
                seen.push(d.mailbox());
            }
        }
        prop_assert_eq!(seen, ids);
    }
}
