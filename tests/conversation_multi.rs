//! Multi-recipient first messages: the body once plus 56 bytes per recipient device, labels
//! found at once, the 409th recipient device refused, sealed sender, and a relay that
//! re-addresses is caught.

#![allow(clippy::unwrap_used)]

mod conversation_support;

use conversation_support::mailbox;
use missive::conversation::FanOut;
use missive::envelope::{Delivery, Envelope, KEYED_RECIPIENT_LEN, MailboxId};
use missive::{CryptoError, Error, UsageError};

/// A sender (index 0) and `n` recipients, each granted the sender's fan-out key.
fn setup(n: usize) -> (FanOut, Vec<FanOut>) {
    let mut rng = rand::rng();
    let mut sender = FanOut::new(&mut rng, mailbox(0));
    let recipients = (1..=n)
        .map(|i| {
            let mut r = FanOut::new(&mut rng, mailbox(i));
            let grant = sender.grant(&mut rng, mailbox(i)).unwrap();
            r.accept_grant(mailbox(0), &grant.to_bytes()).unwrap();
            r
        })
        .collect();
    (sender, recipients)
}

fn ids(n: usize) -> Vec<MailboxId> {
    (1..=n).map(mailbox).collect()
}

#[test]
fn fifty_recipients_read_first_and_later_messages() {
    let (mut sender, mut recipients) = setup(50);
    let body = vec![7u8; 1024];
    let (mut conv, envelope) = sender
        .send_first(&mut rand::rng(), &ids(50), &body, 99)
        .unwrap();
    let deliveries = missive::envelope::split(&envelope.to_bytes()).unwrap();
    assert_eq!(deliveries.len(), 50);
    let mut opened = Vec::new();
    for (r, d) in recipients.iter_mut().zip(&deliveries) {
        let d = Delivery::from_bytes(&d.to_bytes()).unwrap();
        let (c, got) = r.open_first(&d).unwrap();
        assert_eq!(
            (got.sender, got.index, got.body.as_slice()),
            (mailbox(0), 0, &body[..])
        );
        assert_eq!(c.id(), conv.id());
        assert_eq!(c.roster_hash(), conv.roster_hash());
        opened.push(c);
    }
    let later = conv.encrypt(b"second").unwrap();
    let envelopes = conv.envelopes(99, &later).unwrap();
    assert_eq!(envelopes.len(), 1);
    for c in &mut opened {
        assert_eq!(c.decrypt(&later).unwrap().body, b"second");
    }
    // The replay of a first message finds no key.
    assert_eq!(
        recipients[0].open_first(&deliveries[0]).unwrap_err(),
        Error::Crypto(CryptoError::NoMatchingKey)
    );
}

#[test]
fn bytes_per_recipient_are_56() {
    let (mut sender, _) = setup(50);
    let mut rng = rand::rng();
    let (_, one) = sender.send_first(&mut rng, &ids(1), &[1; 1024], 0).unwrap();
    let (_, fifty) = sender
        .send_first(&mut rng, &ids(50), &[1; 1024], 0)
        .unwrap();
    let per = (fifty.to_bytes().len() - one.to_bytes().len()) / 49;
    assert_eq!(per, KEYED_RECIPIENT_LEN);
    assert_eq!(per, 56);
}

#[test]
fn the_409th_recipient_device_is_refused_and_nothing_changes() {
    // Every device of 50 members and of the sender, 8 each, is one envelope; one more is not.
    let (mut sender, mut recipients) = setup(409);
    let mut rng = rand::rng();
    assert_eq!(
        sender.send_first(&mut rng, &ids(409), b"x", 0).unwrap_err(),
        Error::Usage(UsageError::TooManyRecipients { max: 408 })
    );
    let (_, most) = sender.send_first(&mut rng, &ids(408), b"x", 0).unwrap();
    let deliveries = missive::envelope::split(&most.to_bytes()).unwrap();
    assert_eq!(deliveries.len(), 408);
    let last = deliveries
        .iter()
        .find(|d| d.mailbox() == mailbox(408))
        .unwrap();
    assert_eq!(recipients[407].open_first(last).unwrap().1.body, b"x");
    let mut unknown = ids(3);
    unknown.push(mailbox(500));
    assert_eq!(
        sender.send_first(&mut rng, &unknown, b"x", 0).unwrap_err(),
        Error::Usage(UsageError::UnknownRecipient)
    );
    // The refused sends stepped no fan-out chain: the next one opens at the first label.
    let (_, envelope) = sender.send_first(&mut rng, &ids(3), b"ok", 0).unwrap();
    for (r, d) in recipients.iter_mut().zip(envelope.split()) {
        assert_eq!(r.open_first(&d).unwrap().1.body, b"ok");
    }
}

#[test]
fn sender_is_sealed() {
    let mut rng = rand::rng();
    let mut sender = FanOut::new(&mut rng, MailboxId([0xee; 16]));
    let mut r = FanOut::new(&mut rng, mailbox(1));
    r.accept_grant(
        MailboxId([0xee; 16]),
        &sender.grant(&mut rng, mailbox(1)).unwrap().to_bytes(),
    )
    .unwrap();
    let (_, envelope) = sender
        .send_first(&mut rng, &[mailbox(1)], b"who?", 0)
        .unwrap();
    let bytes = envelope.to_bytes();
    assert!(
        !bytes.windows(16).any(|w| w == [0xee; 16]),
        "sender mailbox in clear"
    );
    assert!(!bytes.windows(4).any(|w| w == b"who?"));
    let (_, got) = r.open_first(&envelope.split()[0]).unwrap();
    assert_eq!(got.sender, MailboxId([0xee; 16]));
}

#[test]
fn relay_readdressing_and_tampering_are_detected() {
    let (mut sender, mut recipients) = setup(3);
    let (_, envelope) = sender
        .send_first(&mut rand::rng(), &ids(3), b"for 1, 2, 3", 0)
        .unwrap();
    let deliveries = envelope.split();
    // Recipient 2's delivery handed to recipient 1.
    assert_eq!(
        recipients[0].open_first(&deliveries[1]).unwrap_err(),
        Error::Usage(UsageError::UnknownRecipient)
    );
    // Recipient 2's part re-addressed to recipient 1's mailbox.
    let mut bytes = deliveries[1].to_bytes();
    let at = bytes.windows(16).position(|w| w == mailbox(2).0).unwrap();
    bytes[at..at + 16].copy_from_slice(&mailbox(1).0);
    let readdressed = Delivery::from_bytes(&bytes).unwrap();
    assert!(recipients[0].open_first(&readdressed).is_err());
    // A recipient dropped from the list, or a flipped bit anywhere: rejected.
    let mut env = envelope.to_bytes();
    let last = env.len() - 1;
    env[last] ^= 1;
    let tampered = Envelope::from_bytes(&env).unwrap().split();
    assert!(recipients[0].open_first(&tampered[0]).is_err());
    for (i, d) in deliveries.iter().enumerate() {
        let good = d.to_bytes();
        for pos in (40..good.len()).step_by(13) {
            let mut bad = good.clone();
            bad[pos] ^= 0x20;
            if let Ok(bad) = Delivery::from_bytes(&bad) {
                assert!(recipients[i].open_first(&bad).is_err(), "flip at {pos}");
            }
        }
        assert_eq!(recipients[i].open_first(d).unwrap().1.body, b"for 1, 2, 3");
    }
}

#[test]
fn grants_are_bound_to_their_pair() {
    let mut rng = rand::rng();
    let mut a = FanOut::new(&mut rng, mailbox(0));
    let mut b = FanOut::new(&mut rng, mailbox(1));
    let mut c = FanOut::new(&mut rng, mailbox(2));
    let grant = a.grant(&mut rng, mailbox(1)).unwrap().to_bytes();
    assert_eq!(
        c.accept_grant(mailbox(0), &grant).unwrap_err(),
        Error::Usage(UsageError::UnknownRecipient)
    );
    assert_eq!(
        b.accept_grant(mailbox(2), &grant).unwrap_err(),
        Error::Crypto(CryptoError::WrongSender)
    );
    assert!(a.grant(&mut rng, mailbox(0)).is_err());
}

/// A sender who gives two recipients different seeds for one body: each part only opens the
/// message it was made with, so no two recipients accept different plaintexts for one message.
#[test]
fn spliced_parts_from_another_seed_are_rejected() {
    let (mut sender, mut recipients) = setup(2);
    let mut rng = rand::rng();
    let (_, one) = sender
        .send_first(&mut rng, &ids(2), b"version one", 0)
        .unwrap();
    let (_, two) = sender
        .send_first(&mut rng, &ids(2), b"version two", 0)
        .unwrap();
    // Recipient 2's delivery of `two`, carrying the body of `one`.
    let d_two = &two.split()[1];
    let d_one = &one.split()[1];
    let spliced = Delivery::new(
        d_two.id(),
        0,
        d_two.mailbox(),
        d_two.part().copied(),
        d_two.cohort().to_vec(),
        d_one.body().to_vec(),
    )
    .unwrap();
    assert!(recipients[1].open_first(&spliced).is_err());
    // Recipient 1 reads `one` as sent; nothing was consumed by the failed splice for 2.
    assert_eq!(
        recipients[0].open_first(&one.split()[0]).unwrap().1.body,
        b"version one"
    );
    assert_eq!(
        recipients[1].open_first(d_two).unwrap().1.body,
        b"version two"
    );
}

#[test]
fn a_replaced_commitment_is_caught_before_decryption() {
    let (mut sender, mut recipients) = setup(1);
    let (mut conv, envelope) = sender
        .send_first(&mut rand::rng(), &ids(1), b"a", 0)
        .unwrap();
    let (mut at_r, _) = recipients[0].open_first(&envelope.split()[0]).unwrap();
    let mut message = conv.encrypt(b"b").unwrap();
    message[8..40].copy_from_slice(&[0u8; 32]);
    assert_eq!(
        at_r.decrypt(&message),
        Err(Error::Crypto(CryptoError::CommitmentMismatch))
    );
}
