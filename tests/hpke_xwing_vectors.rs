//! Deterministic vectors for HPKE with the X-Wing KEM (PROTOCOL.md §3.12): RFC 9180's fields
//! for base and PSK mode, and the refusals. Another implementation replays
//! `vectors/hpke/xwing_hpke.json` from its inputs (`vectors/hpke/verify.py` does, in Python
//! with `kyber-py` for ML-KEM-768); this test opens every ciphertext with the recipient's key
//! and checks each refusal; `missive::vectors` writes the file and recomputes it from its
//! inputs (`tests/vectors_check.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{hex_array, hex_field, load};
use missive::crypto::xwing::{Ciphertext, SecretKey};
use missive::hpke::{self, Psk, ReceiverMode};
use missive::{CryptoError, Error};
use serde_json::Value;

fn receiver_mode<'a>(c: &Value, psk: &'a [u8], psk_id: &'a [u8]) -> ReceiverMode<'a> {
    match c["mode"].as_u64().unwrap() {
        0 => ReceiverMode::Base,
        _ => ReceiverMode::Psk(Psk::new(psk, psk_id).unwrap()),
    }
}

#[test]
fn every_ciphertext_opens_and_every_export_matches() {
    let doc = load("hpke/xwing_hpke.json");
    for c in doc["cases"].as_array().unwrap() {
        let recipient = SecretKey::from_seed(&hex_array(c, "seedR"));
        assert_eq!(
            recipient.public_key().as_bytes().to_vec(),
            hex_field(c, "pkRm")
        );
        let enc = Ciphertext::from_bytes(&hex_field(c, "enc")).unwrap();
        let (psk, psk_id) = (hex_field(c, "psk"), hex_field(c, "psk_id"));
        let mode = receiver_mode(c, &psk, &psk_id);
        let info = hex_field(c, "info");
        let mut ctx = hpke::xwing::setup_receiver(&enc, mode, &recipient, &info).unwrap();
        for e in c["encryptions"].as_array().unwrap() {
            let pt = ctx.open(&hex_field(e, "aad"), &hex_field(e, "ct")).unwrap();
            assert_eq!(pt, hex_field(e, "pt"));
        }
        for x in c["exports"].as_array().unwrap() {
            let len = x["L"].as_u64().unwrap() as usize;
            let got = ctx.export(&hex_field(x, "exporter_context"), len).unwrap();
            assert_eq!(got.to_vec(), hex_field(x, "exported_value"));
        }
    }
}

#[test]
fn every_refusal_is_refused_with_its_error() {
    let doc = load("hpke/xwing_hpke.json");
    let base = &doc["cases"][0];
    let recipient = SecretKey::from_seed(&hex_array(base, "seedR"));
    let info = hex_field(base, "info");
    for r in doc["refusals"].as_array().unwrap() {
        let enc = Ciphertext::from_bytes(&hex_field(r, "enc")).unwrap();
        let got = hpke::xwing::open_base(
            &enc,
            &recipient,
            &info,
            &hex_field(r, "aad"),
            &hex_field(r, "ct"),
        );
        let want = match r["error"].as_str().unwrap() {
            "CryptoError::NonContributory" => CryptoError::NonContributory,
            "CryptoError::DecryptionFailed" => CryptoError::DecryptionFailed,
            other => panic!("unknown error {other}"),
        };
        assert_eq!(got, Err(Error::Crypto(want)), "{}", r["description"]);
    }
}
