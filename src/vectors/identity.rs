//! Identities, fingerprints and safety numbers (PROTOCOL.md §4): `identity/identity.json`.
//!
//! Laid out case by case: each `cases[i]` gives its secrets and user id, and the public
//! identity's wire form and fingerprint; each `safety_numbers[i]` names two cases and gives
//! their 60 digits; each `decodings[i]` gives 65 bytes (or not) and what decoding them as a
//! public identity gives: `ok`, or the refusal (a small-order or off-curve Ed25519 key is
//! `DecodeError::Invalid`; the X25519 half is any 32 bytes, checked at agreement, §1).

use serde_json::{Value, json};

use super::Failure;
use super::error_name;
use super::json::{Place, hex};
use crate::identity::{Identity, PublicIdentity, SafetyNumber};

const DESCRIPTION: &str = "Identity public wire form, fingerprints and safety numbers \
    (PROTOCOL.md 4.1, 4.3), and public identities that must not decode.";

/// Alice's public identity (secrets 0x11.. / 0x22..), as the decodings alter it.
const ALICE: &str = "017b4e909bbe7ffe44c465a220037d608ee35897d31ef972f07f74892cb0f73f13a09aa5f\
    47a6759802ff955f8dc2d2a14a5c99d23be97f864127ff9383455a4f0";

/// Our inputs.
pub(super) fn inputs() -> Value {
    let case = |description: &str, dh: Value, ed: Value, user: &[u8]| {
        json!({"description": description, "dh_secret": dh, "ed25519_seed": ed,
               "user_id": hex(user)})
    };
    let counting = |from: u8| hex(core::array::from_fn::<u8, 32, _>(|i| from + i as u8));
    let cases = [
        case(
            "alice: secrets 0x11.. / 0x22.., user id 'alice'",
            hex([0x11; 32]),
            hex([0x22; 32]),
            b"alice",
        ),
        case(
            "bob: secrets 0x33.. / 0x44.., user id 'bob'",
            hex([0x33; 32]),
            hex([0x44; 32]),
            b"bob",
        ),
        case(
            "bob's keys under another user id: a different fingerprint",
            hex([0x33; 32]),
            hex([0x44; 32]),
            b"bob2",
        ),
        case(
            "empty user id, counting secrets",
            counting(0),
            counting(0x20),
            b"",
        ),
    ];
    let pairs = [(0, 1), (1, 0), (0, 2), (3, 0)].map(|(a, b)| json!({"a": a, "b": b}));
    let with = |at: usize, bytes: &[u8]| {
        let mut b = hex::decode(ALICE).unwrap_or_default();
        if let Some(slot) = b.get_mut(at..at + bytes.len()) {
            slot.copy_from_slice(bytes);
        }
        hex(b)
    };
    let mut identity_point = [0u8; 32];
    identity_point[0] = 1;
    let mut not_canonical = [0xff; 32];
    not_canonical[0] = 0xed;
    not_canonical[31] = 0x7f;
    let decoding =
        |description: &str, bytes: Value| json!({"description": description, "bytes": bytes});
    let decodings = [
        decoding("alice's public identity", Value::from(ALICE)),
        decoding("version 2", with(0, &[2])),
        decoding("64 bytes", Value::from(&ALICE[..128])),
        decoding("a byte after the end", Value::from(format!("{ALICE}00"))),
        decoding(
            "an Ed25519 key of small order (the identity point)",
            with(33, &identity_point),
        ),
        decoding(
            "an Ed25519 key whose y is not below p (2^255 - 19 itself)",
            with(33, &not_canonical),
        ),
        decoding(
            "an X25519 key of small order (u = 0): decodes; agreement refuses it (1)",
            with(1, &[0; 32]),
        ),
    ];
    json!({"missive_format": "identity", "description": DESCRIPTION, "cases": cases,
           "safety_numbers": pairs, "decodings": decodings})
}

pub(super) fn recompute(file: &Value) -> Result<Value, Failure> {
    let root = Place::root(file);
    let mut cases = Vec::new();
    let mut identities = Vec::new();
    for c in root.list("cases")? {
        let mut secret = vec![1u8];
        secret.extend_from_slice(&c.array::<32>("dh_secret")?);
        secret.extend_from_slice(&c.array::<32>("ed25519_seed")?);
        let identity = Identity::from_secret_bytes(&secret)
            .map_err(|_| Failure::input(c.path(), "secrets of an identity"))?;
        let user = c.hex("user_id")?;
        let fingerprint = identity.public().fingerprint(&user);
        let digits = String::from_utf8_lossy(fingerprint.digits()).into_owned();
        cases.push(json!({
            "description": c.value().get("description"),
            "dh_secret": c.value().get("dh_secret"),
            "ed25519_seed": c.value().get("ed25519_seed"),
            "user_id": c.value().get("user_id"),
            "public_identity": hex(identity.public().to_bytes()),
            "fingerprint": digits,
        }));
        identities.push((user, *identity.public()));
    }
    let mut numbers = Vec::new();
    for n in root.list("safety_numbers")? {
        let (a, b) = (n.int::<usize>("a")?, n.int::<usize>("b")?);
        let (Some(x), Some(y)) = (identities.get(a), identities.get(b)) else {
            return Err(Failure::input(n.path(), "two case indices"));
        };
        let number = SafetyNumber::new(&x.0, &x.1, &y.0, &y.1);
        let digits = String::from_utf8_lossy(number.digits()).into_owned();
        numbers.push(json!({"a": a, "b": b, "digits": digits}));
    }
    let mut decodings = Vec::new();
    for d in root.list("decodings")? {
        let decoded = match PublicIdentity::from_bytes(&d.hex("bytes")?) {
            Ok(_) => "ok".to_owned(),
            Err(e) => error_name(&e.into()),
        };
        decodings.push(json!({"description": d.value().get("description"),
                              "bytes": d.value().get("bytes"), "decoded": decoded}));
    }
    Ok(
        json!({"missive_format": "identity", "description": file.get("description"),
              "cases": cases, "safety_numbers": numbers, "decodings": decodings}),
    )
}
