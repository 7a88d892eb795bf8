//! HPKE open of arbitrary `enc`, ciphertext, `info` and `aad` against a fixed receiver, in base
//! and auth modes: it must never panic, and must fail (with a typed error) unless the input is
//! a genuine ciphertext. With the round-trip flag set, the input's ciphertext bytes are instead
//! sealed as a plaintext (ephemeral key derived from the input) and must open to themselves,
//! and not open with the input's `aad` changed.
//!
//! With flag 4, the same with HPKE over X-Wing (base mode, `enc` 1120 bytes), and the
//! ciphertext bytes also go through the ML-KEM-768 and X-Wing key decoders, which must
//! re-encode whatever they accept to itself.
//!
//! Input: `flags (1) || info_len (1) || aad_len (1) || info || aad || enc (32 or 1120) ||
//! ciphertext`, any part cut short by the end of the input.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use missive::crypto::{mlkem, xwing};
use missive::hpke::{self, Enc, KeyPair, ReceiverMode, SenderMode, kat};

struct Keys {
    receiver: KeyPair,
    sender: KeyPair,
    xwing: xwing::SecretKey,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys {
        receiver: KeyPair::derive(b"missive fuzz: fixed HPKE receiver ikm"),
        sender: KeyPair::derive(b"missive fuzz: fixed HPKE sender ikm"),
        xwing: xwing::SecretKey::from_seed(&[0x5a; 32]),
    })
}

/// Splits `n` bytes off the front of `data` (fewer if it is shorter).
fn take<'a>(data: &mut &'a [u8], n: usize) -> &'a [u8] {
    let (head, tail) = data.split_at(n.min(data.len()));
    *data = tail;
    head
}

fuzz_target!(|data: &[u8]| {
    let mut data = data;
    let header = take(&mut data, 3);
    let [flags, info_len, aad_len] = <[u8; 3]>::try_from(header).unwrap_or([0; 3]);
    let info = take(&mut data, usize::from(info_len));
    let aad = take(&mut data, usize::from(aad_len));
    if flags & 4 != 0 {
        return over_xwing(flags, info, aad, data);
    }
    let enc_bytes = take(&mut data, 32);
    let ct = data;
    let k = keys();
    let auth = flags & 1 == 1;
    let rm = if auth {
        ReceiverMode::Auth {
            sender: k.sender.public_key(),
        }
    } else {
        ReceiverMode::Base
    };

    if flags & 2 == 0 {
        let Ok(enc) = Enc::from_bytes(enc_bytes) else {
            assert!(enc_bytes.len() != 32);
            return;
        };
        // Single shot, then as a stream: a failed open must leave the context usable.
        let _ = hpke::open(&enc, rm, &k.receiver, info, aad, ct);
        if let Ok(mut ctx) = hpke::setup_receiver(&enc, rm, &k.receiver, info) {
            let first = ctx.open(aad, ct);
            let _ = ctx.open(aad, ct);
            let _ = ctx.export(aad, usize::from(info_len) * 40);
            assert!(first.is_err() || ctx.open(aad, ct).is_err());
        }
    } else {
        let sm = if auth {
            SenderMode::Auth { sender: &k.sender }
        } else {
            SenderMode::Base
        };
        let pk = k.receiver.public_key();
        let (enc, mut sender) = kat::setup_sender_with_ikm(enc_bytes, sm, pk, info).unwrap();
        let sealed = sender.seal(aad, ct).unwrap();
        assert_eq!(
            hpke::open(&enc, rm, &k.receiver, info, aad, &sealed).unwrap(),
            ct
        );
        let mut other_aad = aad.to_vec();
        other_aad.push(flags);
        assert!(hpke::open(&enc, rm, &k.receiver, info, &other_aad, &sealed).is_err());
    }
});

fn over_xwing(flags: u8, info: &[u8], aad: &[u8], mut data: &[u8]) {
    let key = &keys().xwing;
    let enc_bytes = take(&mut data, xwing::CIPHERTEXT_LEN);
    let ct = data;
    if let Ok(pk) = mlkem::PublicKey::from_bytes(ct) {
        assert_eq!(&pk.as_bytes()[..], ct);
    }
    if let Ok(pk) = xwing::PublicKey::from_bytes(ct) {
        assert_eq!(&pk.as_bytes()[..], ct);
    }
    if flags & 2 == 0 {
        let Ok(enc) = xwing::Ciphertext::from_bytes(enc_bytes) else {
            assert!(enc_bytes.len() != xwing::CIPHERTEXT_LEN);
            return;
        };
        let _ = mlkem::Ciphertext::from_bytes(&enc_bytes[..mlkem::CIPHERTEXT_LEN]);
        let _ = hpke::xwing::open_base(&enc, key, info, aad, ct);
    } else {
        let mut eseed = [0u8; xwing::ENCAPSULATION_SEED_LEN];
        let n = enc_bytes.len().min(eseed.len());
        eseed[..n].copy_from_slice(&enc_bytes[..n]);
        let (enc, mut sender, _) =
            hpke::xwing::sender_intermediates(&eseed, SenderMode::Base, key.public_key(), info)
                .unwrap();
        let sealed = sender.seal(aad, ct).unwrap();
        assert_eq!(
            hpke::xwing::open_base(&enc, key, info, aad, &sealed).unwrap(),
            ct
        );
        let mut other_aad = aad.to_vec();
        other_aad.push(flags);
        assert!(hpke::xwing::open_base(&enc, key, info, &other_aad, &sealed).is_err());
    }
}
