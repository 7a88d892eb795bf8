#![no_main]
//! Client-side decoders of bytes from the wire or the disk: message content and advertiser
//! certificates re-encode to their input, saved token requests too (when their scalars and
//! points are canonical); stored client state never panics.

use missive::client::{Client, Content};
use missive::platform::AdvertiserCertificate;
use missive::token::PendingTokens;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(content) = Content::from_bytes(data) {
        assert_eq!(content.to_bytes(), data);
    }
    if let Ok(cert) = AdvertiserCertificate::from_bytes(data) {
        assert_eq!(cert.to_bytes(), data);
    }
    if let Ok(pending) = PendingTokens::from_bytes(data) {
        assert_eq!(&pending.to_bytes()[..], data);
    }
    if let Ok(client) = Client::from_bytes(data) {
        // A restored state serialises and restores again.
        assert!(Client::from_bytes(&client.to_bytes()).is_ok());
    }
});
