//! Published vectors for the primitives Missive builds on, run through Missive's own wrappers:
//! Wycheproof X25519 and ChaCha20-Poly1305, RFC 7748, RFC 8439, RFC 5869.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{hex_array, hex_field, load};
use missive::CryptoError;
use missive::crypto::aead::AeadKey;
use missive::crypto::kdf;
use missive::crypto::x25519::{PublicKey, SecretKey};

fn x25519(scalar: [u8; 32], u: [u8; 32]) -> Result<[u8; 32], CryptoError> {
    let shared = SecretKey::from_bytes(&scalar).diffie_hellman(&PublicKey::from_bytes(u))?;
    Ok(*shared.as_bytes())
}

#[test]
fn wycheproof_x25519() {
    let doc = load("third_party/wycheproof/x25519_test.json");
    let (mut matched, mut rejected_zero) = (0, 0);
    for group in doc["testGroups"].as_array().unwrap() {
        for t in group["tests"].as_array().unwrap() {
            let id = &t["tcId"];
            let flags: Vec<&str> = t["flags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_str().unwrap())
                .collect();
            let got = x25519(hex_array(t, "private"), hex_array(t, "public"));
            if flags.contains(&"ZeroSharedSecret") {
                // Our policy: a non-contributory agreement is a typed error, never a key.
                assert_eq!(got, Err(CryptoError::NonContributory), "tcId {id}");
                rejected_zero += 1;
            } else {
                // Valid and the other acceptable cases (twist points, non-canonical u) must match.
                assert_ne!(
                    t["result"], "invalid",
                    "tcId {id}: no invalid X25519 cases expected"
                );
                assert_eq!(got.unwrap().to_vec(), hex_field(t, "shared"), "tcId {id}");
                matched += 1;
            }
        }
    }
    assert_eq!((matched, rejected_zero), (518 - 31, 31));
}

#[test]
fn wycheproof_chacha20poly1305() {
    let doc = load("third_party/wycheproof/chacha20_poly1305_test.json");
    let (mut valid, mut invalid) = (0, 0);
    for group in doc["testGroups"].as_array().unwrap() {
        for t in group["tests"].as_array().unwrap() {
            let id = &t["tcId"];
            let key = AeadKey::new(&hex_array(t, "key"));
            let (aad, msg) = (hex_field(t, "aad"), hex_field(t, "msg"));
            let mut sealed = hex_field(t, "ct");
            sealed.extend(hex_field(t, "tag"));
            // A nonce that is not 12 bytes cannot even be expressed in our API: rejected.
            let Ok(nonce) = <[u8; 12]>::try_from(hex_field(t, "iv")) else {
                assert_eq!(t["result"], "invalid", "tcId {id}");
                invalid += 1;
                continue;
            };
            match t["result"].as_str().unwrap() {
                "valid" => {
                    assert_eq!(key.seal(&nonce, &aad, &msg), sealed, "tcId {id}");
                    assert_eq!(key.open(&nonce, &aad, &sealed).unwrap(), msg, "tcId {id}");
                    valid += 1;
                }
                "invalid" => {
                    assert_eq!(
                        key.open(&nonce, &aad, &sealed),
                        Err(CryptoError::DecryptionFailed),
                        "tcId {id}"
                    );
                    invalid += 1;
                }
                other => panic!("tcId {id}: unexpected result {other}"),
            }
        }
    }
    assert_eq!((valid, invalid), (256, 69));
}

#[test]
fn rfc7748_scalar_mult_and_dh() {
    let doc = load("rfc/rfc7748_x25519.json");
    for case in doc["scalar_mult"].as_array().unwrap() {
        let out = x25519(hex_array(case, "scalar"), hex_array(case, "u")).unwrap();
        assert_eq!(out, hex_array(case, "output"), "{}", case["name"]);
    }
    for case in doc["dh"].as_array().unwrap() {
        let alice = SecretKey::from_bytes(&hex_array(case, "alice_private"));
        let bob = SecretKey::from_bytes(&hex_array(case, "bob_private"));
        assert_eq!(
            alice.public_key().as_bytes(),
            &hex_array(case, "alice_public")
        );
        assert_eq!(bob.public_key().as_bytes(), &hex_array(case, "bob_public"));
        let shared: [u8; 32] = hex_array(case, "shared_secret");
        assert_eq!(
            alice.diffie_hellman(bob.public_key()).unwrap().as_bytes(),
            &shared
        );
        assert_eq!(
            bob.diffie_hellman(alice.public_key()).unwrap().as_bytes(),
            &shared
        );
    }
}

fn iterate(max: u64, include_slow: bool) -> usize {
    let doc = load("rfc/rfc7748_x25519.json");
    let it = &doc["iterated"];
    let (mut k, mut u): ([u8; 32], [u8; 32]) =
        (hex_array(it, "initial_k"), hex_array(it, "initial_u"));
    let mut done = 0u64;
    let mut checked = 0;
    for case in it["cases"].as_array().unwrap() {
        let n = case["iterations"].as_u64().unwrap();
        if n > max || (case["slow"] == true && !include_slow) {
            continue;
        }
        while done < n {
            let next = x25519(k, u).unwrap();
            (k, u) = (next, k);
            done += 1;
        }
        assert_eq!(k, hex_array(case, "output"), "{}", case["name"]);
        checked += 1;
    }
    checked
}

#[test]
fn rfc7748_iterated_1000() {
    assert_eq!(iterate(1000, false), 2);
}

#[test]
#[ignore = "one million X25519 operations; run with --ignored"]
fn rfc7748_iterated_1000000() {
    assert_eq!(iterate(1_000_000, true), 3);
}

#[test]
fn rfc8439_chacha20poly1305() {
    let doc = load("rfc/rfc8439_chacha20poly1305.json");
    let cases = doc["cases"].as_array().unwrap();
    for case in cases {
        let key = AeadKey::new(&hex_array(case, "key"));
        let nonce: [u8; 12] = hex_array(case, "nonce");
        let (aad, pt) = (hex_field(case, "aad"), hex_field(case, "plaintext"));
        let mut sealed = hex_field(case, "ciphertext");
        sealed.extend(hex_field(case, "tag"));
        assert_eq!(key.seal(&nonce, &aad, &pt), sealed, "{}", case["name"]);
        assert_eq!(
            key.open(&nonce, &aad, &sealed).unwrap(),
            pt,
            "{}",
            case["name"]
        );
        let mut tampered = sealed.clone();
        tampered[0] ^= 1;
        assert!(
            key.open(&nonce, &aad, &tampered).is_err(),
            "{}",
            case["name"]
        );
    }
    assert_eq!(cases.len(), 2);
}

#[test]
fn rfc5869_hkdf_sha256() {
    let doc = load("rfc/rfc5869_hkdf_sha256.json");
    let cases = doc["cases"].as_array().unwrap();
    for case in cases {
        let prk = kdf::extract(&hex_field(case, "salt"), &hex_field(case, "ikm"));
        assert_eq!(prk.to_vec(), hex_field(case, "prk"), "{}", case["name"]);
        let mut okm = vec![0u8; case["length"].as_u64().unwrap() as usize];
        kdf::expand(&prk, &hex_field(case, "info"), &mut okm).unwrap();
        assert_eq!(okm, hex_field(case, "okm"), "{}", case["name"]);
    }
    assert_eq!(cases.len(), 3);
}

#[test]
fn hkdf_refuses_overlong_output() {
    let prk = kdf::extract(b"salt", b"ikm");
    let mut okm = vec![0u8; 255 * 32 + 1];
    assert!(kdf::expand(&prk, b"", &mut okm).is_err());
}
