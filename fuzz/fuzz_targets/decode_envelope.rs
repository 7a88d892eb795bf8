#![no_main]
//! Envelope, delivery, key distribution and state decoding: never panics; whatever decodes
//! re-encodes to the input, and every delivery of a split re-decodes to itself.

use libfuzzer_sys::fuzz_target;
use missive::conversation::{Conversation, FanOut, FanOutGrant, KeyDistribution};
use missive::envelope::{Delivery, Envelope, split};

fuzz_target!(|data: &[u8]| {
    if let Ok(envelope) = Envelope::from_bytes(data) {
        assert_eq!(envelope.to_bytes(), data);
        let deliveries = split(data).expect("an envelope that decoded splits");
        assert_eq!(deliveries.len(), envelope.mailboxes().len());
        for d in deliveries {
            assert_eq!(Delivery::from_bytes(&d.to_bytes()).expect("re-decodes"), d);
        }
    }
    if let Ok(delivery) = Delivery::from_bytes(data) {
        assert_eq!(delivery.to_bytes(), data);
    }
    // The conversation layer's other decoders: states at rest and pairwise payloads.
    if let Ok(state) = Conversation::from_bytes(data) {
        assert_eq!(*state.to_bytes(), data);
    }
    if let Ok(state) = FanOut::from_bytes(data) {
        assert_eq!(*state.to_bytes(), data);
    }
    if let Ok(d) = KeyDistribution::from_bytes(data) {
        assert_eq!(*d.to_bytes(), data);
    }
    if let Ok(g) = FanOutGrant::from_bytes(data) {
        assert_eq!(*g.to_bytes(), data);
    }
});
