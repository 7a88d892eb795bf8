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
        let decoded = Submission::from_bytes(&wire).unwrap();
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
