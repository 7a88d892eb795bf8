//! Deterministic vectors for delivery credentials (PROTOCOL.md §11): group access keys, their
//! combination, and the wire form of submissions and access updates. Another implementation
//! replays `vectors/access/access.json` from its inputs (`vectors/access/verify.py` does, in
//! Python); this test checks ours. The `#[ignore]`d `generate` test writes the file:
//! `cargo test --test access_vectors -- --ignored`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{hex_array, hex_field, load};
use missive::access::{
    AccessKey, AccessUpdate, Credential, MailboxSettings, MemberToken, Submission,
};
use missive::envelope::{Envelope, MailboxId};
use serde_json::{Value, json};

const FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/vectors/access/access.json");

fn key(byte: u8) -> AccessKey {
    AccessKey::from_bytes([byte; 16])
}

/// A token credential from its wire fields: kind 1 (credit), a period, input and output.
fn token_submission(envelope: &[u8]) -> Submission {
    let mut wire = vec![1u8, 2, 1]; // version, Credential::Token, TokenKind::Credit
    wire.extend([0xb7, 0x05]); // period 695, varint
    wire.extend([0x11; 32]);
    wire.push(64); // the output is a byte string: length, then bytes
    wire.extend([0x22; 64]);
    wire.push(u8::try_from(envelope.len()).unwrap());
    wire.extend(envelope);
    Submission::from_bytes(&wire).unwrap()
}

/// The token of [`token_submission`] paying for the account `alice`, to two of its devices.
fn member_submission(envelope: &[u8]) -> Submission {
    let Credential::Token(token) = token_submission(envelope).credential else {
        unreachable!("a token submission")
    };
    Submission {
        credential: Credential::Member(MemberToken {
            token,
            user: b"alice".to_vec(),
        }),
        envelope: envelope.to_vec(),
    }
}

fn cases() -> Value {
    let envelope = Envelope::to_mailboxes(
        1_800_000_000,
        &[MailboxId([0xa1; 16]), MailboxId([0xa2; 16])],
        b"ciphertext",
    )
    .unwrap()[0]
        .to_bytes();
    let one = Envelope::to_mailboxes(1_800_000_000, &[MailboxId([0xa1; 16])], b"ct").unwrap()[0]
        .to_bytes();
    let group: Vec<Value> = [(0x01u8, 0xa1u8), (0x01, 0xa2), (0x02, 0xa1)]
        .iter()
        .map(|(s, m)| {
            let k = AccessKey::for_group_member(&[*s; 32], &MailboxId([*m; 16]));
            json!({
                "secret": hex::encode([*s; 32]),
                "mailbox": hex::encode([*m; 16]),
                "key": hex::encode(k.as_bytes()),
            })
        })
        .collect();
    let combined = AccessKey::combine([&key(0x0f), &key(0xf1), &key(0x33)]);
    let submissions = [
        (
            "contacts",
            Submission {
                credential: Credential::Contacts(combined.clone()),
                envelope: envelope.clone(),
            },
        ),
        (
            "keys",
            Submission {
                credential: Credential::Keys(vec![vec![key(1), key(2)], vec![key(3)]]),
                envelope: envelope.clone(),
            },
        ),
        (
            "open",
            Submission {
                credential: Credential::Open,
                envelope: one.clone(),
            },
        ),
        ("token", token_submission(&one)),
        ("member", member_submission(&envelope)),
    ];
    let update = AccessUpdate {
        contact: Some(key(9)),
        add: vec![key(7)],
        remove: vec![key(8)],
        settings: Some(MailboxSettings {
            open_profile: true,
            sponsored: false,
            account: None,
        }),
    };
    json!({
        "description": "Delivery credentials (PROTOCOL.md §11): group access keys \
            HKDF-Expand(secret, \"missive/v1/group-access\" || mailbox, 16); the XOR of contact \
            keys; submissions with each credential; an access update.",
        "group_access": group,
        "combine": {
            "keys": [hex::encode([0x0f; 16]), hex::encode([0xf1; 16]), hex::encode([0x33; 16])],
            "combined": hex::encode(combined.as_bytes()),
        },
        "submissions": submissions.iter().map(|(name, s)| json!({
            "credential": name,
            "inputs": credential_inputs(&s.credential),
            "envelope": hex::encode(&s.envelope),
            "wire": hex::encode(s.to_bytes()),
        })).collect::<Vec<_>>(),
        "access_update": {
            "contact": hex::encode([9; 16]),
            "add": [hex::encode([7; 16])],
            "remove": [hex::encode([8; 16])],
            "open_profile": true,
            "sponsored": false,
            "wire": hex::encode(update.to_bytes()),
        },
    })
}

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

#[test]
fn the_file_is_what_the_generator_writes() {
    let on_disk = load("access/access.json");
    assert_eq!(on_disk, cases());
}

#[test]
#[ignore = "writes vectors/access/access.json"]
fn generate() {
    std::fs::create_dir_all(std::path::Path::new(FILE).parent().unwrap()).unwrap();
    let text = serde_json::to_string_pretty(&cases()).unwrap();
    std::fs::write(FILE, text + "\n").unwrap();
}
