//! Deterministic vectors for HPKE with the X-Wing KEM (PROTOCOL.md §3.12): RFC 9180's fields
//! for base and PSK mode, and the refusals. Another implementation replays
//! `vectors/hpke/xwing_hpke.json` from its inputs (`vectors/hpke/verify.py` does, in Python
//! with `kyber-py` for ML-KEM-768); this test opens every ciphertext with the recipient's key
//! and checks each refusal. The `#[ignore]`d `generate` test writes the file:
//! `cargo test --test hpke_xwing_vectors -- --ignored`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{hex_array, hex_field, load};
use missive::crypto::xwing::{Ciphertext, SecretKey};
use missive::hpke::{self, Psk, ReceiverMode, SenderMode};
use missive::{CryptoError, Error};
use serde_json::{Value, json};

const FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/vectors/hpke/xwing_hpke.json");

/// A point of order 8 on Curve25519.
const LOW_ORDER: &str = "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800";

fn bytes(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| seed.wrapping_add(i as u8)).collect()
}

fn case(mode: u8, seed: u8) -> Value {
    let sk_seed: [u8; 32] = bytes(seed, 32).try_into().unwrap();
    let eseed: [u8; 64] = bytes(seed.wrapping_mul(3), 64).try_into().unwrap();
    let recipient = SecretKey::from_seed(&sk_seed);
    let info = b"missive x-wing hpke vector".to_vec();
    let (psk, psk_id) = (bytes(0x50, 32), b"psk id".to_vec());
    let sender_mode = match mode {
        0 => SenderMode::Base,
        _ => SenderMode::Psk(Psk::new(&psk, &psk_id).unwrap()),
    };
    let (enc, mut ctx, v) =
        hpke::xwing::sender_intermediates(&eseed, sender_mode, recipient.public_key(), &info)
            .unwrap();
    let encryptions: Vec<Value> = (0..3u8)
        .map(|i| {
            let aad = format!("Count-{i}").into_bytes();
            let pt = format!("Message {i} sealed to an X-Wing key").into_bytes();
            let ct = ctx.seal(&aad, &pt).unwrap();
            json!({ "aad": hex::encode(&aad), "pt": hex::encode(&pt), "ct": hex::encode(ct) })
        })
        .collect();
    let exports: Vec<Value> = [(&b""[..], 32), (b"lead form", 64)]
        .iter()
        .map(|(context, len)| {
            let value = ctx.export(context, *len).unwrap();
            json!({ "exporter_context": hex::encode(context), "L": len,
                    "exported_value": hex::encode(&*value) })
        })
        .collect();
    let (psk, psk_id) = if mode == 0 {
        (Vec::new(), Vec::new())
    } else {
        (psk, psk_id)
    };
    json!({
        "mode": mode, "kem_id": hpke::xwing::KEM_ID, "kdf_id": hpke::KDF_ID,
        "aead_id": hpke::AEAD_ID,
        "info": hex::encode(&info), "psk": hex::encode(&psk), "psk_id": hex::encode(&psk_id),
        "seedR": hex::encode(sk_seed), "eseed": hex::encode(eseed),
        "pkRm": hex::encode(recipient.public_key().as_bytes()),
        "enc": hex::encode(enc.as_bytes()),
        "shared_secret": hex::encode(&v.shared_secret),
        "key_schedule_context": hex::encode(&v.key_schedule_context),
        "secret": hex::encode(&v.secret), "key": hex::encode(&v.key),
        "base_nonce": hex::encode(&v.base_nonce),
        "exporter_secret": hex::encode(&v.exporter_secret),
        "encryptions": encryptions, "exports": exports,
    })
}

/// Inputs that must be refused: an `enc` whose X25519 half is of low order, and an `enc`
/// whose ML-KEM half was changed (implicit rejection: the tag then fails).
fn refusals(good: &Value) -> Value {
    let enc = hex_field(good, "enc");
    let mut low = enc.clone();
    low[1088..].copy_from_slice(&hex::decode(LOW_ORDER).unwrap());
    let mut flipped = enc;
    flipped[100] ^= 0x01;
    let first = &good["encryptions"][0];
    json!([
        { "comment": "enc's X25519 half is of low order", "enc": hex::encode(low),
          "aad": first["aad"], "ct": first["ct"], "error": "NonContributory" },
        { "comment": "one bit of enc's ML-KEM half flipped", "enc": hex::encode(flipped),
          "aad": first["aad"], "ct": first["ct"], "error": "DecryptionFailed" },
    ])
}

fn cases() -> Value {
    let base = case(0, 0x11);
    let refused = refusals(&base);
    json!({
        "source": "Missive tests/hpke_xwing_vectors.rs; PROTOCOL.md §3.12",
        "suite": "X-Wing (draft-connolly-cfrg-xwing-kem-06, kem_id 0x647a), HKDF-SHA256, ChaCha20-Poly1305",
        "cases": [base, case(1, 0x7a)],
        "refusals": refused,
    })
}

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
            "NonContributory" => CryptoError::NonContributory,
            "DecryptionFailed" => CryptoError::DecryptionFailed,
            other => panic!("unknown error {other}"),
        };
        assert_eq!(got, Err(Error::Crypto(want)), "{}", r["comment"]);
    }
}

#[test]
fn the_file_is_what_the_generator_writes() {
    assert_eq!(load("hpke/xwing_hpke.json"), cases());
}

#[test]
#[ignore = "writes vectors/hpke/xwing_hpke.json"]
fn generate() {
    std::fs::create_dir_all(std::path::Path::new(FILE).parent().unwrap()).unwrap();
    let text = serde_json::to_string_pretty(&cases()).unwrap();
    std::fs::write(FILE, text + "\n").unwrap();
}
