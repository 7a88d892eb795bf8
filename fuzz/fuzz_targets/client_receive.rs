#![no_main]
//! Whatever body a delivery carries, a client's `receive` never panics, and a delivery that
//! fails leaves the client's state exactly as it was.

use std::sync::OnceLock;

use missive::client::Client;
use missive::envelope::{Envelope, split};

fn client() -> &'static [u8] {
    static STATE: OnceLock<Vec<u8>> = OnceLock::new();
    STATE.get_or_init(|| {
        Client::new(&mut rand::rng(), b"fuzz")
            .to_bytes()
            .expect("a client in memory saves")
            .to_vec()
    })
}

libfuzzer_sys::fuzz_target!(|body: &[u8]| {
    let mut c = Client::from_bytes(client()).expect("own state restores");
    let Ok(envelopes) = Envelope::to_mailboxes(u64::MAX, &[*c.mailbox_id()], body) else {
        return;
    };
    for e in envelopes {
        for d in split(&e.to_bytes()).expect("own envelope splits") {
            let before = c.to_bytes().expect("a client in memory saves");
            if c.receive(&d.to_bytes(), 0).is_err() {
                let after = c.to_bytes().expect("a client in memory saves");
                assert_eq!(*before, *after, "a failed delivery changed state");
            }
        }
    }
});
