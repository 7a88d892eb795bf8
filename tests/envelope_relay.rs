//! What a relay can do to envelopes, and that every client detects it: swap, truncate,
//! reorder, replay, re-address. And the strict codec.

#![allow(clippy::unwrap_used)]

mod conversation_support;

use conversation_support::{Net, mailbox};
use missive::envelope::{Delivery, Envelope, padding, split};
use missive::{CryptoError, DecodeError, Error};

/// A message from member 0 as member 1 receives it from the relay.
fn via_relay(net: &mut Net, body: &[u8]) -> Delivery {
    let message = net.conv(0).encrypt(body).unwrap();
    let envelopes = net.conv(0).envelopes(1_900_000_000, &message).unwrap();
    let deliveries = split(&envelopes[0].to_bytes()).unwrap();
    deliveries
        .into_iter()
        .find(|d| d.mailbox() == mailbox(1))
        .unwrap()
}

#[test]
fn split_stores_the_body_once_and_round_trips() {
    let mut net = Net::group(5);
    let message = net.conv(0).encrypt(&[3; 1000]).unwrap();
    let envelope = &net.conv(0).envelopes(7, &message).unwrap()[0];
    let bytes = envelope.to_bytes();
    assert_eq!(Envelope::from_bytes(&bytes).unwrap().to_bytes(), bytes);
    let deliveries = split(&bytes).unwrap();
    assert_eq!(deliveries.len(), 4);
    for d in &deliveries {
        assert_eq!(d.id(), envelope.id());
        assert_eq!(d.body(), envelope.body());
        assert_eq!(Delivery::from_bytes(&d.to_bytes()).unwrap(), *d);
        let i = conversation_support::index(d.mailbox());
        assert_eq!(net.conv(i).decrypt(d.body()).unwrap().body, [3; 1000]);
    }
}

#[test]
fn the_relay_sees_only_bucket_sizes() {
    let mut net = Net::group(2);
    let sizes: Vec<usize> = [0usize, 1, 100, 255]
        .iter()
        .map(|n| net.conv(0).encrypt(&vec![1; *n]).unwrap().len())
        .collect();
    assert!(sizes.iter().all(|s| *s == sizes[0]));
    let big = net.conv(0).encrypt(&[1; 1024]).unwrap().len();
    assert_eq!(
        big,
        missive::conversation::HEADER_LEN + padding::bucket(1024) + 16
    );
}

#[test]
fn swapped_truncated_replayed_and_readdressed_deliveries_are_detected() {
    let mut net = Net::group(3);
    let a = via_relay(&mut net, b"first");
    let b = via_relay(&mut net, b"second");
    let mut other = Net::group(3);
    let foreign = via_relay(&mut other, b"elsewhere");
    // Swapped in from another conversation.
    assert_eq!(
        net.conv(1).decrypt(foreign.body()),
        Err(Error::Crypto(CryptoError::NoMatchingKey))
    );
    // Truncated.
    let body = a.body();
    assert!(net.conv(1).decrypt(&body[..body.len() - 1]).is_err());
    assert!(net.conv(1).decrypt(&body[..100]).is_err());
    // Reordered: both open, and the indices give the sender's order back.
    let second = net.conv(1).decrypt(b.body()).unwrap();
    let first = net.conv(1).decrypt(a.body()).unwrap();
    assert!(first.index < second.index);
    // Replayed.
    assert!(net.conv(1).decrypt(a.body()).is_err());
    // Re-addressed to a mailbox outside the conversation: nothing there opens it.
    assert!(!other.conv(2).recognises(b.body()));
}

#[test]
fn envelope_decoding_is_strict() {
    let mut net = Net::group(3);
    let message = net.conv(0).encrypt(b"x").unwrap();
    let bytes = net.conv(0).envelopes(5, &message).unwrap()[0].to_bytes();
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert_eq!(
        Envelope::from_bytes(&trailing),
        Err(DecodeError::TrailingBytes { what: "envelope" })
    );
    assert!(matches!(
        Envelope::from_bytes(&bytes[..bytes.len() - 1]),
        Err(DecodeError::Truncated { .. })
    ));
    let mut version = bytes.clone();
    version[0] = 2;
    assert!(matches!(
        Envelope::from_bytes(&version),
        Err(DecodeError::UnknownVersion { got: 2, .. })
    ));
    for cut in 0..bytes.len() {
        assert!(Envelope::from_bytes(&bytes[..cut]).is_err());
    }
}

#[test]
fn a_relay_can_store_the_body_once_and_reassemble_deliveries() {
    let mut net = Net::group(3);
    let message = net.conv(0).encrypt(b"stored once").unwrap();
    let envelope = &net.conv(0).envelopes(9, &message).unwrap()[0];
    assert!(!envelope.is_keyed());
    let shared = envelope.body().to_vec();
    for d in envelope.split() {
        let again = Delivery::new(
            d.id(),
            d.expiry(),
            d.mailbox(),
            None,
            Vec::new(),
            shared.clone(),
        )
        .unwrap();
        assert_eq!(again, d);
    }
    let bad = Delivery::new(envelope.id(), 9, mailbox(1), None, vec![mailbox(1)], shared);
    assert!(bad.is_err(), "a plain delivery has no cohort");
}
