#![no_main]
//! Session wire structures and stored state decode only from their one canonical encoding.
//! The first byte picks the decoder; the rest is its input.

use missive::session::{PrekeyBundle, PrekeyOwner, Session, SessionMessage};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&which, input)) = data.split_first() else {
        return;
    };
    let again = match which % 4 {
        0 => PrekeyBundle::from_bytes(input).ok().map(|b| {
            // Verification must not panic either, whatever the keys.
            let _ = b.clone().verify();
            b.to_bytes()
        }),
        1 => SessionMessage::from_bytes(input).ok().map(|m| m.to_bytes()),
        2 => Session::from_bytes(input)
            .ok()
            .map(|s| s.to_bytes().to_vec()),
        _ => PrekeyOwner::from_bytes(input)
            .ok()
            .map(|o| o.to_bytes().to_vec()),
    };
    if let Some(again) = again {
        assert_eq!(again, input, "decode then encode must reproduce the input");
    }
});
