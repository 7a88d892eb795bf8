#![no_main]
//! Whatever body a delivery carries, a client's `receive` never panics, and a delivery that
//! fails leaves the client's state exactly as it was. By the first byte's low two bits, the
//! rest is first sealed to the client in one of the sealed layer's forms (PROTOCOL.md §9.2):
//! 1, the classical form to its identity key; 2, the session form's outer layer (the rest is
//! the label and inner seal); 3, the opening form to its X-Wing sealing key. Anyone can seal
//! anything to a client's published keys, so every kind of sealed content is untrusted too.

use std::sync::OnceLock;

use missive::client::{Client, MemoryStore};
use missive::envelope::{Envelope, split};
use missive::hpke;
use missive::session::VerifiedBundle;

/// The client's state, with its prekeys published, and its bundle.
fn client() -> &'static (Vec<u8>, VerifiedBundle) {
    static STATE: OnceLock<(Vec<u8>, VerifiedBundle)> = OnceLock::new();
    STATE.get_or_init(|| {
        let mut c = Client::new(&mut rand::rng(), b"fuzz");
        let published = c
            .publish(&mut rand::rng(), 0)
            .expect("a new client publishes")
            .save(&mut rand::rng(), &mut MemoryStore::default())
            .expect("the memory store saves");
        let bundle = VerifiedBundle::from_bytes(&published.bundle).expect("own bundle verifies");
        let state = c.to_bytes().expect("a client in memory saves").to_vec();
        (state, bundle)
    })
}

/// `form || enc || ct`.
fn framed(form: u8, enc: &[u8], ct: &[u8]) -> Vec<u8> {
    [&[form][..], enc, ct].concat()
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (state, bundle) = client();
    let mut c = Client::from_bytes(state).expect("own state restores");
    let sealed;
    let rng = &mut rand::rng();
    let key = *c.identity().dh_key();
    let mailbox = c.mailbox_id().0;
    let body = match data.split_first() {
        Some((flag, plain)) if flag & 3 != 0 => {
            sealed = match flag & 3 {
                1 => {
                    let info = b"missive/v1/sealed-sender";
                    let Ok((enc, ct)) = hpke::seal_base(rng, &key, info, &mailbox, plain) else {
                        return;
                    };
                    framed(0, enc.as_bytes(), &ct)
                }
                2 => {
                    let info = b"missive/v2/sealed-session";
                    let Ok((enc, ct)) = hpke::seal_base(rng, &key, info, &mailbox, plain) else {
                        return;
                    };
                    framed(2, enc.as_bytes(), &ct)
                }
                _ => {
                    let sealing = bundle.bundle().sealing_key();
                    let info = b"missive/v2/sealed-opening";
                    let Ok((enc, ct)) =
                        hpke::xwing::seal_base(rng, sealing.key(), info, &mailbox, plain)
                    else {
                        return;
                    };
                    let id = sealing.id().to_be_bytes();
                    framed(1, &[&id[..], enc.as_bytes()].concat(), &ct)
                }
            };
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
