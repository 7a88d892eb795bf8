#![no_main]
//! A public identity decodes only from its one canonical encoding.

use missive::PublicIdentity;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(identity) = PublicIdentity::from_bytes(data) {
        assert_eq!(
            identity.to_bytes(),
            data,
            "decode then encode must reproduce the input"
        );
    }
});
