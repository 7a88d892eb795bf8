#![no_main]
//! Client-side decoders of bytes from the wire or the disk: message content, pairwise payloads,
//! first messages' posts (versions 1 and 2), advertiser certificates and credit purchases re-encode to their input, saved token requests
//! too (when their scalars and points are canonical). Stored client state has a target of its
//! own (`client_state`).

use missive::client::Content;
use missive::platform::{AdvertiserCertificate, CreditPurchase};
use missive::token::PendingTokens;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(content) = Content::from_bytes(data) {
        assert_eq!(content.to_bytes(), data);
    }
    if let Ok(payload) = missive::client::reencode_pairwise(data) {
        assert_eq!(payload, data);
    }
    if let Ok(first) = missive::client::reencode_first_post(data) {
        assert_eq!(first, data);
    }
    if let Ok(cert) = AdvertiserCertificate::from_bytes(data) {
        assert_eq!(cert.to_bytes(), data);
    }
    if let Ok(purchase) = CreditPurchase::from_bytes(data) {
        assert_eq!(purchase.to_bytes(), data);
    }
    if let Ok(pending) = PendingTokens::from_bytes(data) {
        assert_eq!(&pending.to_bytes()[..], data);
    }
});
