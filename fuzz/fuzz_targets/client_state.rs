#![no_main]
//! A client's state at rest, as read from disk: whatever bytes load, saving them gives back the
//! same bytes (a state of the current version) or a state that loads and saves back to itself
//! (a version 2 or 3 state, or one holding sessions or prekeys saved before ML-KEM, read once
//! and saved in the current form). Nothing panics.

use missive::client::Client;

/// The version byte `Client::to_bytes` writes.
const CURRENT: u8 = 4;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(client) = Client::from_bytes(data) else {
        return;
    };
    let saved = client.to_bytes().expect("a client in memory saves");
    assert_eq!(saved[0], CURRENT);
    if data[0] == CURRENT && !client.holds_older_forms() {
        assert_eq!(&saved[..], data, "a loaded state saves back differently");
    }
    let again = Client::from_bytes(&saved).expect("a saved state loads");
    assert_eq!(
        *again.to_bytes().expect("a client in memory saves"),
        *saved,
        "a saved state saves back differently"
    );
});
