#![no_main]
//! Session wire structures and stored state decode only from their one canonical encoding.
//! The first byte picks the decoder; the rest is its input. Stored states of earlier versions
//! (sessions 1 to 3, owners 1 and 2) are read too, and written back as the current version, which
//! must then read and write back to itself.

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
        2 => Session::from_bytes(input).ok().map(|s| {
            let saved = s.to_bytes().to_vec();
            let reread = Session::from_bytes(&saved).expect("a saved session loads");
            assert_eq!(*reread.to_bytes(), saved[..], "a saved session saves back");
            saved
        }),
        _ => PrekeyOwner::from_bytes(input).ok().map(|o| {
            let saved = o.to_bytes().to_vec();
            let reread = PrekeyOwner::from_bytes(&saved).expect("a saved owner loads");
            assert_eq!(*reread.to_bytes(), saved[..], "a saved owner saves back");
            saved
        }),
    };
    let older = match which % 4 {
        2 => matches!(input.first(), Some(1..=3)),
        3 => matches!(input.first(), Some(1 | 2)),
        _ => false,
    };
    if let Some(again) = again
        && !older
    {
        assert_eq!(again, input, "decode then encode must reproduce the input");
    }
});
