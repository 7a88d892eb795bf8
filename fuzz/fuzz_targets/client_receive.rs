#![no_main]
//! Whatever body a delivery carries, a client's `receive` never panics, and a delivery that
//! fails leaves the client's state exactly as it was. With the first byte odd, the rest is
//! sealed to the client as sealed-sender content (PROTOCOL.md §9.2) first: anyone can seal
//! anything to a client's identity key, so every kind of sealed content is untrusted too.

use std::sync::OnceLock;

use missive::client::Client;
use missive::envelope::{Envelope, split};
use missive::hpke;

fn client() -> &'static [u8] {
    static STATE: OnceLock<Vec<u8>> = OnceLock::new();
    STATE.get_or_init(|| {
        Client::new(&mut rand::rng(), b"fuzz")
            .to_bytes()
            .expect("a client in memory saves")
            .to_vec()
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut c = Client::from_bytes(client()).expect("own state restores");
    let sealed;
    let body = match data.split_first() {
        Some((flag, padded)) if flag & 1 == 1 => {
            let key = c.identity().dh_key();
            let info = b"missive/v1/sealed-sender";
            let mailbox = c.mailbox_id().0;
            let Ok((enc, ct)) = hpke::seal_base(&mut rand::rng(), key, info, &mailbox, padded)
            else {
                return;
            };
            sealed = [enc.as_bytes().as_slice(), &ct].concat();
            &sealed[..]
        }
        _ => data,
    };
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
