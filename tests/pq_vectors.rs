//! Published post-quantum vectors through Missive's own wrappers: every Wycheproof ML-KEM-768
//! case (key generation from seeds, encapsulation with valid and invalid keys, decapsulation
//! with valid and malformed ciphertexts and keys) and every X-Wing draft-06 case.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{hex_array, hex_field, load};
use missive::DecodeError;
use missive::crypto::{mlkem, xwing};

fn tests(file: &str) -> Vec<serde_json::Value> {
    let doc = load(file);
    doc["testGroups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["tests"].as_array().unwrap().clone())
        .collect()
}

fn is_valid(t: &serde_json::Value) -> bool {
    match t["result"].as_str().unwrap() {
        "valid" => true,
        "invalid" => false,
        other => panic!("tcId {}: unexpected result {other}", t["tcId"]),
    }
}

#[test]
fn wycheproof_mlkem768_keygen_from_seed() {
    let cases = tests("third_party/mlkem/mlkem_768_keygen_seed_test.json");
    for t in &cases {
        assert!(is_valid(t));
        let seed = hex_field(t, "seed");
        let key = mlkem::SecretKey::from_seed_bytes(&seed).unwrap();
        let ek = hex_field(t, "ek");
        assert_eq!(
            key.public_key().as_bytes().to_vec(),
            ek,
            "tcId {}",
            t["tcId"]
        );
        // FIPS 203's expanded dk = dk_pke (1152) || ek (1184) || H(ek) (32) || z (32). We keep
        // only the seed; its parts that the seed and the key determine directly must agree.
        let dk = hex_field(t, "dk");
        assert_eq!(dk.len(), 2400);
        assert_eq!(&dk[1152..2336], &ek[..]);
        assert_eq!(&dk[2368..], &seed[32..]);
        assert_eq!(&key.seed()[..], &seed[..]);
    }
    assert_eq!(cases.len(), 100);
}

#[test]
fn wycheproof_mlkem768_encapsulation() {
    let cases = tests("third_party/mlkem/mlkem_768_encaps_test.json");
    let (mut valid, mut unreduced, mut wrong_length) = (0, 0, 0);
    for t in &cases {
        let id = &t["tcId"];
        let ek = hex_field(t, "ek");
        let parsed = mlkem::PublicKey::from_bytes(&ek);
        if is_valid(t) {
            let (ct, ss) = parsed
                .unwrap()
                .encapsulate_deterministic(&hex_array(t, "m"));
            assert_eq!(ct.as_bytes().to_vec(), hex_field(t, "c"), "tcId {id}");
            assert_eq!(ss.to_vec(), hex_field(t, "K"), "tcId {id}");
            valid += 1;
            continue;
        }
        let what = "ML-KEM-768 encapsulation key";
        match ek.len().cmp(&mlkem::PUBLIC_KEY_LEN) {
            std::cmp::Ordering::Equal => {
                assert_eq!(parsed, Err(DecodeError::NonCanonical { what }), "tcId {id}");
                unreduced += 1;
            }
            std::cmp::Ordering::Less => {
                assert_eq!(parsed, Err(DecodeError::Truncated { what }), "tcId {id}");
                wrong_length += 1;
            }
            std::cmp::Ordering::Greater => {
                assert_eq!(
                    parsed,
                    Err(DecodeError::TrailingBytes { what }),
                    "tcId {id}"
                );
                wrong_length += 1;
            }
        }
    }
    // 12 CCTV modulus-overflow keys and 100 Wycheproof unreduced keys; 20 of a wrong length.
    assert_eq!((valid, unreduced, wrong_length), (133, 112, 20));
}

#[test]
fn wycheproof_mlkem768_decapsulation() {
    let cases = tests("third_party/mlkem/mlkem_768_test.json");
    let (mut valid, mut bad_seed, mut bad_ct) = (0, 0, 0);
    for t in &cases {
        let id = &t["tcId"];
        let key = mlkem::SecretKey::from_seed_bytes(&hex_field(t, "seed"));
        let ct = mlkem::Ciphertext::from_bytes(&hex_field(t, "c"));
        if is_valid(t) {
            let key = key.unwrap();
            assert_eq!(
                key.public_key().as_bytes().to_vec(),
                hex_field(t, "ek"),
                "tcId {id}"
            );
            // Includes ciphertexts not made for the key: the implicit rejection secret.
            let ss = key.decapsulate(&ct.unwrap());
            assert_eq!(ss.to_vec(), hex_field(t, "K"), "tcId {id}");
            valid += 1;
        } else if let Err(e) = key {
            assert!(
                matches!(
                    e,
                    DecodeError::Truncated {
                        what: "ML-KEM-768 seed"
                    } | DecodeError::TrailingBytes {
                        what: "ML-KEM-768 seed"
                    }
                ),
                "tcId {id}: {e:?}"
            );
            bad_seed += 1;
        } else {
            let e = ct.unwrap_err();
            assert!(
                matches!(
                    e,
                    DecodeError::Truncated {
                        what: "ML-KEM-768 ciphertext"
                    } | DecodeError::TrailingBytes {
                        what: "ML-KEM-768 ciphertext"
                    }
                ),
                "tcId {id}: {e:?}"
            );
            bad_ct += 1;
        }
    }
    assert_eq!((valid, bad_seed, bad_ct), (153, 20, 20));
}

#[test]
fn xwing_draft06() {
    let doc = load("third_party/xwing/xwing_draft06_test_vectors.json");
    let cases = doc.as_array().unwrap();
    for (i, t) in cases.iter().enumerate() {
        let key = xwing::SecretKey::from_seed(&hex_array(t, "seed"));
        assert_eq!(key.seed().to_vec(), hex_field(t, "sk"), "case {i}");
        let pk = hex_field(t, "pk");
        assert_eq!(key.public_key().as_bytes().to_vec(), pk, "case {i}");
        let parsed = xwing::PublicKey::from_bytes(&pk).unwrap();
        let (ct, ss) = parsed.encapsulate_deterministic(&hex_array(t, "eseed"));
        assert_eq!(ct.as_bytes().to_vec(), hex_field(t, "ct"), "case {i}");
        assert_eq!(ss.to_vec(), hex_field(t, "ss"), "case {i}");
        let ct = xwing::Ciphertext::from_bytes(&hex_field(t, "ct")).unwrap();
        assert_eq!(key.decapsulate(&ct).unwrap().to_vec(), hex_field(t, "ss"));
    }
    assert_eq!(cases.len(), 3);
}
