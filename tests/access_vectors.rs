//! Deterministic vectors for delivery credentials (PROTOCOL.md §11): group access keys, their
//! combination, and the wire form of submissions and access updates. Another implementation
//! replays `vectors/access/access.json` from its inputs (`vectors/access/verify.py` does, in
//! Python); `missive::vectors` writes it and recomputes it from its inputs
//! (`tests/vectors_check.rs`); this test checks it again against a reference of §11.2 written
//! here, and that what the engine decodes from each wire is what the inputs say.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{hex_array, hex_field, load};
use missive::access::{AccessKey, AccessUpdate, Credential, Submission};
use missive::envelope::MailboxId;
use serde_json::{Value, json};

/// What each credential is made of, so that a reimplementer needs nothing from the wire.
fn credential_inputs(credential: &Credential) -> Value {
    // A token's secret fields are private; its postcard form ends with `input (32) || 0x40 ||
    // output (64)`, and starts with the kind's variant index (one byte, below 128).
    let token = |t: &missive::token::Token| {
        let encoded = postcard::to_allocvec(t).unwrap();
        let n = encoded.len();
        json!({"kind": encoded[0], "period": t.period,
               "input": hex::encode(&encoded[n - 97..n - 65]),
               "output": hex::encode(&encoded[n - 64..])})
    };
    match credential {
        Credential::Contacts(k) => json!({"combined": hex::encode(k.as_bytes())}),
        Credential::Keys(lists) => json!({"keys": lists.iter().map(|l| l.iter()
            .map(|k| hex::encode(k.as_bytes())).collect::<Vec<_>>()).collect::<Vec<_>>()}),
        Credential::Token(t) => json!({"token": token(t)}),
        Credential::Open => json!({}),
        Credential::Member(m) => json!({"token": token(&m.token),
            "user": String::from_utf8(m.user.clone()).unwrap()}),
    }
}

/// PROTOCOL.md §11.2 written out from a case's inputs: `0x01 || credential || bytes(envelope)`.
fn reference_submission(case: &Value) -> Vec<u8> {
    let inputs = &case["inputs"];
    let bytes = |v: &Value| hex::decode(v.as_str().unwrap()).unwrap();
    let varint = |mut n: u64, out: &mut Vec<u8>| {
        while n >= 0x80 {
            out.push((n as u8) | 0x80);
            n >>= 7;
        }
        out.push(n as u8);
    };
    let token = |t: &Value, out: &mut Vec<u8>| {
        varint(t["kind"].as_u64().unwrap(), out);
        varint(t["period"].as_u64().unwrap(), out);
        out.extend(bytes(&t["input"]));
        let output = bytes(&t["output"]);
        varint(output.len() as u64, out);
        out.extend(output);
    };
    let mut out = vec![1];
    match case["credential"].as_str().unwrap() {
        "contacts" => {
            out.push(0);
            out.extend(bytes(&inputs["combined"]));
        }
        "keys" => {
            out.push(1);
            let lists = inputs["keys"].as_array().unwrap();
            varint(lists.len() as u64, &mut out);
            for list in lists {
                let list = list.as_array().unwrap();
                varint(list.len() as u64, &mut out);
                list.iter().for_each(|k| out.extend(bytes(k)));
            }
        }
        "token" => {
            out.push(2);
            token(&inputs["token"], &mut out);
        }
        "open" => out.push(3),
        "member" => {
            out.push(4);
            token(&inputs["token"], &mut out);
            let user = inputs["user"].as_str().unwrap().as_bytes();
            varint(user.len() as u64, &mut out);
            out.extend(user);
        }
        other => panic!("unknown credential {other}"),
    }
    let envelope = bytes(&case["envelope"]);
    varint(envelope.len() as u64, &mut out);
    out.extend(envelope);
    out
}

#[test]
fn group_access_keys_and_combination_match_the_vectors() {
    let v = load("access/access.json");
    for case in v["group_access"].as_array().unwrap() {
        let secret: [u8; 32] = hex_array(case, "secret");
        let mailbox = MailboxId(hex_array(case, "mailbox"));
        let key = AccessKey::for_group_member(&secret, &mailbox);
        assert_eq!(key.as_bytes().to_vec(), hex_field(case, "key"));
    }
    let c = &v["combine"];
    let keys: Vec<AccessKey> = c["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            AccessKey::from_bytes(
                hex::decode(k.as_str().unwrap())
                    .unwrap()
                    .try_into()
                    .unwrap(),
            )
        })
        .collect();
    assert_eq!(
        AccessKey::combine(&keys).as_bytes().to_vec(),
        hex_field(c, "combined")
    );
}

#[test]
fn submissions_and_updates_decode_and_re_encode_byte_for_byte() {
    let v = load("access/access.json");
    let submissions = v["submissions"].as_array().unwrap();
    assert_eq!(submissions.len(), 5);
    for case in submissions {
        let wire = hex_field(case, "wire");
        assert_eq!(reference_submission(case), wire, "{case}");
        let decoded = Submission::from_bytes(&wire).unwrap();
        assert_eq!(credential_inputs(&decoded.credential), case["inputs"]);
        assert_eq!(decoded.envelope, hex_field(case, "envelope"));
        assert_eq!(decoded.to_bytes(), wire);
        // A flipped version byte or a byte too many is refused.
        let mut bad = wire.clone();
        bad[0] ^= 0x02;
        assert!(Submission::from_bytes(&bad).is_err());
        let mut long = wire;
        long.push(0);
        assert!(Submission::from_bytes(&long).is_err());
    }
    let u = &v["access_update"];
    let update = AccessUpdate::from_bytes(&hex_field(u, "wire")).unwrap();
    assert_eq!(
        update.contact,
        Some(AccessKey::from_bytes(hex_array(u, "contact")))
    );
    assert_eq!(update.to_bytes(), hex_field(u, "wire"));
}
