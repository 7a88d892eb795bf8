//! Identity keys: the public wire form, secrets at rest, fingerprints and safety numbers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{hex_array, hex_field, json_files};
use missive::{DecodeError, Identity, PublicIdentity, SafetyNumber};

fn fixed_identity(seed: u8) -> Identity {
    let mut secret = vec![1u8];
    secret.extend([seed; 32]);
    secret.extend([seed.wrapping_add(1); 32]);
    Identity::from_secret_bytes(&secret).unwrap()
}

#[test]
fn public_identity_round_trips_in_65_bytes() {
    let id = Identity::generate(&mut rand::rng());
    let bytes = id.public().to_bytes();
    assert_eq!(bytes.len(), 65);
    assert_eq!(bytes[0], 1);
    assert_eq!(&PublicIdentity::from_bytes(&bytes).unwrap(), id.public());
}

#[test]
fn public_identity_decoding_is_strict() {
    let bytes = fixed_identity(7).public().to_bytes();
    let what = "public identity";
    assert_eq!(
        PublicIdentity::from_bytes(&[]),
        Err(DecodeError::Truncated { what })
    );
    assert_eq!(
        PublicIdentity::from_bytes(&bytes[..64]),
        Err(DecodeError::Truncated { what })
    );
    let mut long = bytes.clone();
    long.push(0);
    assert_eq!(
        PublicIdentity::from_bytes(&long),
        Err(DecodeError::TrailingBytes { what })
    );
    let mut v2 = bytes.clone();
    v2[0] = 2;
    assert_eq!(
        PublicIdentity::from_bytes(&v2),
        Err(DecodeError::UnknownVersion { what, got: 2 })
    );
}

#[test]
fn public_identity_rejects_bad_ed25519_keys() {
    let mut bytes = fixed_identity(7).public().to_bytes();
    // The identity point (small order) and a y-coordinate that is not on the curve.
    let mut identity_point = [0u8; 32];
    identity_point[0] = 1;
    let mut off_curve = [0u8; 32];
    off_curve[0] = 2;
    for bad in [identity_point, off_curve] {
        bytes[33..].copy_from_slice(&bad);
        assert!(matches!(
            PublicIdentity::from_bytes(&bytes),
            Err(DecodeError::Invalid { .. })
        ));
    }
}

#[test]
fn secrets_round_trip_and_are_strict() {
    let id = Identity::generate(&mut rand::rng());
    let secret = id.to_secret_bytes();
    assert_eq!(secret.len(), 65);
    let back = Identity::from_secret_bytes(&secret).unwrap();
    assert_eq!(back.public(), id.public());
    assert!(Identity::from_secret_bytes(&secret[..64]).is_err());
    let mut long = secret.to_vec();
    long.push(0);
    assert!(Identity::from_secret_bytes(&long).is_err());
}

#[test]
fn debug_never_shows_secrets() {
    let id = fixed_identity(0xab);
    let shown = format!("{id:?}");
    assert!(shown.contains("Identity"));
    // The secret bytes are 0xab.. and 0xac..; neither run may appear in any form.
    for needle in ["abab", "acac", "171, 171", "172, 172"] {
        assert!(!shown.to_lowercase().contains(needle), "{shown}");
    }
}

#[test]
fn signatures_verify_only_for_the_signer_and_message() {
    let (a, b) = (fixed_identity(1), fixed_identity(2));
    let sig = a.sign(b"hello");
    assert!(a.public().verify(b"hello", &sig).is_ok());
    assert!(a.public().verify(b"hellp", &sig).is_err());
    assert!(b.public().verify(b"hello", &sig).is_err());
}

#[test]
fn safety_number_is_symmetric_and_sensitive() {
    let (a, b, c) = (fixed_identity(1), fixed_identity(2), fixed_identity(3));
    let ab = SafetyNumber::new(b"alice", a.public(), b"bob", b.public());
    let ba = SafetyNumber::new(b"bob", b.public(), b"alice", a.public());
    assert_eq!(ab, ba);
    assert_ne!(
        ab,
        SafetyNumber::new(b"alice", a.public(), b"bob", c.public())
    );
    assert_ne!(
        ab,
        SafetyNumber::new(b"alice", a.public(), b"bobby", b.public())
    );
    assert!(ab.digits().iter().all(u8::is_ascii_digit));
    let shown = ab.to_string();
    assert_eq!(shown.len(), 60 + 11);
    assert_eq!(shown.split(' ').count(), 12);
}

/// Schema of `vectors/identity/*.json`: `cases[]` with `description`, `dh_secret`,
/// `ed25519_seed`, `user_id` (hex inputs) and `public_identity`, `fingerprint` (ASCII digits)
/// outputs, plus `safety_numbers[]` with two case indices and the expected 60 digits.
#[test]
fn identity_vectors() {
    let files = json_files("identity");
    assert!(!files.is_empty());
    for file in files {
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let ids: Vec<(Vec<u8>, Identity)> = doc["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|case| {
                let mut secret = vec![1u8];
                secret.extend(hex_array::<32>(case, "dh_secret"));
                secret.extend(hex_array::<32>(case, "ed25519_seed"));
                let id = Identity::from_secret_bytes(&secret).unwrap();
                let user = hex_field(case, "user_id");
                assert_eq!(
                    id.public().to_bytes(),
                    hex_field(case, "public_identity"),
                    "{}",
                    case["description"]
                );
                let fp = id.public().fingerprint(&user);
                assert_eq!(
                    fp.digits().as_slice(),
                    case["fingerprint"].as_str().unwrap().as_bytes()
                );
                (user, id)
            })
            .collect();
        for sn in doc["safety_numbers"].as_array().unwrap() {
            let (i, j) = (
                sn["a"].as_u64().unwrap() as usize,
                sn["b"].as_u64().unwrap() as usize,
            );
            let got = SafetyNumber::new(&ids[i].0, ids[i].1.public(), &ids[j].0, ids[j].1.public());
            assert_eq!(
                got.digits().as_slice(),
                sn["digits"].as_str().unwrap().as_bytes()
            );
        }
    }
}
