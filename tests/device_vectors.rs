//! Deterministic vectors for device lists and device linking (PROTOCOL.md §12). Another
//! implementation replays `vectors/device/device.json` from its inputs
//! (`vectors/device/verify.py` does, in Python); this test checks ours, and that each refusal
//! the file lists is refused with its error. The `#[ignore]`d `generate` test writes the file:
//! `cargo test --test device_vectors -- --ignored`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{hex_array, hex_field, load};
use missive::device::{DEVICE_LIST_LABEL, DeviceList, Linking, PendingLink, SignedDeviceList};
use missive::envelope::MailboxId;
use missive::hpke::KeyPair;
use missive::{CryptoError, DecodeError, DeviceError, Error, Identity};
use serde_json::{Value, json};

const FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/vectors/device/device.json");
const NOW: u64 = 1_800_000_000;

/// `0x01 || x25519 secret || ed25519 seed`, each 32 bytes of `x` and `s`.
fn secret(x: u8, s: u8) -> Vec<u8> {
    let mut out = vec![1u8];
    out.extend([x; 32]);
    out.extend([s; 32]);
    out
}

fn identity(secret: &[u8]) -> Identity {
    Identity::from_secret_bytes(secret).unwrap()
}

fn secrets() -> (Vec<u8>, [Vec<u8>; 3]) {
    (
        secret(0xa1, 0xa2),
        [secret(0xb1, 0xc1), secret(0xb2, 0xc2), secret(0xb3, 0xc3)],
    )
}

/// Versions 1 to 4: device 1; then 2 added; then 3 added; then 2 removed.
fn lists() -> Vec<DeviceList> {
    let (_, devices) = secrets();
    let d: Vec<Identity> = devices.iter().map(|s| identity(s)).collect();
    let v1 = DeviceList::first(MailboxId([1; 16]), *d[0].public());
    let v2 = v1
        .with_device(MailboxId([2; 16]), *d[1].public())
        .unwrap()
        .0;
    let v3 = v2
        .with_device(MailboxId([3; 16]), *d[2].public())
        .unwrap()
        .0;
    let v4 = v3.without(2).unwrap();
    vec![v1, v2, v3, v4]
}

/// A list body with its first two devices swapped, signed by the account: well signed, not
/// canonical.
fn unsorted(account: &Identity, v3: &SignedDeviceList) -> Vec<u8> {
    let wire = v3.to_bytes();
    // version || account (64) || list || signature (64); list = version, next id, count,
    // then 81 bytes a device (id varint of 1 byte, mailbox 16, identity 64).
    let list = &wire[65..wire.len() - 64];
    let (head, devices) = list.split_at(3);
    let mut body = head.to_vec();
    body.extend(&devices[81..162]);
    body.extend(&devices[..81]);
    body.extend(&devices[162..]);
    let mut message = DEVICE_LIST_LABEL.to_vec();
    message.extend(account.public().to_bytes());
    message.extend(&body);
    let mut out = wire[..65].to_vec();
    out.extend(&body);
    out.extend(account.sign(&message).to_bytes());
    out
}

fn link() -> PendingLink {
    PendingLink::with_parts(
        KeyPair::from_secret_bytes(&[0xd1; 32]),
        [0xd2; 32],
        MailboxId([0xd3; 16]),
        NOW + 600,
    )
}

fn cases() -> Value {
    let (account_secret, devices) = secrets();
    let account = identity(&account_secret);
    let lists = lists();
    let signed: Vec<SignedDeviceList> = lists.iter().map(|l| l.sign(&account)).collect();
    let list_cases: Vec<Value> = signed
        .iter()
        .map(|s| {
            let list = s.verify(account.public(), None).unwrap();
            json!({
                "version": list.version(),
                "next_id": list.next_id(),
                "devices": list.devices().iter().map(|d| json!({
                    "id": d.id,
                    "mailbox": hex::encode(d.mailbox.0),
                    "identity": hex::encode(d.identity.to_bytes()),
                })).collect::<Vec<_>>(),
                "wire": hex::encode(s.to_bytes()),
            })
        })
        .collect();
    let mut flipped = signed[2].to_bytes();
    *flipped.last_mut().unwrap() ^= 1;
    let d2 = identity(&devices[1]);
    let refusals = json!([
        {"name": "rolled back", "wire": hex::encode(signed[1].to_bytes()),
         "account": hex::encode(account.public().to_bytes()), "seen": 3,
         "error": "RolledBack"},
        {"name": "same version again", "wire": hex::encode(signed[2].to_bytes()),
         "account": hex::encode(account.public().to_bytes()), "seen": 3,
         "error": "RolledBack"},
        {"name": "another account", "wire": hex::encode(signed[2].to_bytes()),
         "account": hex::encode(d2.public().to_bytes()), "seen": null,
         "error": "WrongAccount"},
        {"name": "signature changed", "wire": hex::encode(&flipped),
         "account": hex::encode(account.public().to_bytes()), "seen": null,
         "error": "BadSignature"},
        {"name": "devices out of order", "wire": hex::encode(unsorted(&account, &signed[2])),
         "account": hex::encode(account.public().to_bytes()), "seen": null,
         "error": "NonCanonical"},
    ]);
    let mut pending = link();
    let code = pending.code().to_bytes();
    let (linking, request) =
        Linking::answer_with_ikm(&[0xe1; 32], &code, d2.clone(), MailboxId([2; 16]), NOW).unwrap();
    pending.accept(&request, NOW).unwrap();
    let state = b"the account's state";
    let handover = pending
        .hand_over_with_ikm(&[0xe2; 32], &account, &signed[1], state)
        .unwrap();
    assert_eq!(&linking.finish(&handover).unwrap().state[..], state);
    json!({
        "description": "Device lists and linking (PROTOCOL.md §12). Identities are given by \
            their secret bytes (0x01 || X25519 secret || Ed25519 seed). Lists: version 1 holds \
            device 1; 2 adds device 2; 3 adds device 3; 4 removes device 2; each signed by the \
            account. Linking: the existing device's HPKE key from its secret, the link secret, \
            mailbox and expiry make the code; the new device (device 2) answers with ikmE_request \
            at `now`; the existing device hands over list version 2 and the state with \
            ikmE_handover.",
        "account_secret": hex::encode(&account_secret),
        "account": hex::encode(account.public().to_bytes()),
        "device_secrets": devices.iter().map(hex::encode).collect::<Vec<_>>(),
        "lists": list_cases,
        "refusals": refusals,
        "link": {
            "key_secret": hex::encode([0xd1; 32]),
            "secret": hex::encode([0xd2; 32]),
            "mailbox": hex::encode([0xd3; 16]),
            "expires": NOW + 600,
            "code": hex::encode(&*code),
            "now": NOW,
            "device_mailbox": hex::encode([2; 16]),
            "ikmE_request": hex::encode([0xe1; 32]),
            "request": hex::encode(&request),
            "state": hex::encode(state),
            "ikmE_handover": hex::encode([0xe2; 32]),
            "handover": hex::encode(&handover),
        },
    })
}

fn error_name(e: &Error) -> &'static str {
    match e {
        Error::Device(DeviceError::RolledBack { .. }) => "RolledBack",
        Error::Device(DeviceError::WrongAccount) => "WrongAccount",
        Error::Crypto(CryptoError::BadSignature) => "BadSignature",
        Error::Decode(DecodeError::NonCanonical { .. }) => "NonCanonical",
        Error::Decode(DecodeError::Invalid { .. }) => "Invalid",
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn lists_decode_verify_and_re_encode_byte_for_byte() {
    let v = load("device/device.json");
    let account = identity(&hex_field(&v, "account_secret"));
    assert_eq!(account.public().to_bytes(), hex_field(&v, "account"));
    let lists = v["lists"].as_array().unwrap();
    assert_eq!(lists.len(), 4);
    let mut seen = None;
    for case in lists {
        let wire = hex_field(case, "wire");
        let signed = SignedDeviceList::from_bytes(&wire).unwrap();
        assert_eq!(signed.to_bytes(), wire);
        let list = signed.verify(account.public(), seen).unwrap();
        assert_eq!(Some(list.version()), case["version"].as_u64());
        let ids: Vec<u64> = list.devices().iter().map(|d| u64::from(d.id)).collect();
        let listed: Vec<u64> = case["devices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["id"].as_u64().unwrap())
            .collect();
        assert_eq!(ids, listed);
        seen = Some(list.version());
    }
}

#[test]
fn every_refusal_in_the_file_is_refused_with_its_error() {
    let v = load("device/device.json");
    let refusals = v["refusals"].as_array().unwrap();
    assert_eq!(refusals.len(), 5);
    for case in refusals {
        let account = missive::PublicIdentity::from_bytes(&hex_field(case, "account")).unwrap();
        let got = SignedDeviceList::from_bytes(&hex_field(case, "wire"))
            .map_err(Error::from)
            .and_then(|s| s.verify(&account, case["seen"].as_u64()).map(|_| ()));
        let err = got.expect_err(case["name"].as_str().unwrap());
        assert_eq!(error_name(&err), case["error"], "{}", case["name"]);
    }
}

#[test]
fn the_link_replays_from_its_inputs() {
    let v = load("device/device.json");
    let l = &v["link"];
    let mut pending = PendingLink::with_parts(
        KeyPair::from_secret_bytes(&hex_array(l, "key_secret")),
        hex_array(l, "secret"),
        MailboxId(hex_array(l, "mailbox")),
        l["expires"].as_u64().unwrap(),
    );
    assert_eq!(*pending.code().to_bytes(), hex_field(l, "code"));
    let hex = |v: &Value| hex::decode(v.as_str().unwrap()).unwrap();
    let device = identity(&hex(&v["device_secrets"][1]));
    let now = l["now"].as_u64().unwrap();
    let (linking, request) = Linking::answer_with_ikm(
        &hex_array(l, "ikmE_request"),
        &hex_field(l, "code"),
        device.clone(),
        MailboxId(hex_array(l, "device_mailbox")),
        now,
    )
    .unwrap();
    assert_eq!(request, hex_field(l, "request"));
    let new = pending.accept(&request, now).unwrap();
    assert_eq!(new.identity, *device.public());
    assert_eq!(
        pending.accept(&request, now),
        Err(DeviceError::LinkUsed.into())
    );
    let account = identity(&hex_field(&v, "account_secret"));
    let list = SignedDeviceList::from_bytes(&hex(&v["lists"][1]["wire"])).unwrap();
    let handover = pending
        .hand_over_with_ikm(
            &hex_array(l, "ikmE_handover"),
            &account,
            &list,
            &hex_field(l, "state"),
        )
        .unwrap();
    assert_eq!(handover, hex_field(l, "handover"));
    let got = linking.finish(&handover).unwrap();
    assert_eq!(got.device.id, 2);
    assert_eq!(&got.state[..], hex_field(l, "state"));
    assert_eq!(got.account.public(), account.public());
    // The same answer, a second past the code's expiry, is refused.
    let mut fresh = link();
    assert_eq!(
        fresh.accept(&request, l["expires"].as_u64().unwrap() + 1),
        Err(DeviceError::LinkExpired.into())
    );
    assert!(fresh.accept(&request, now).is_ok());
}

#[test]
fn the_file_is_what_the_generator_writes() {
    let on_disk = load("device/device.json");
    assert_eq!(on_disk, cases());
}

#[test]
#[ignore = "writes vectors/device/device.json"]
fn generate() {
    std::fs::create_dir_all(std::path::Path::new(FILE).parent().unwrap()).unwrap();
    let text = serde_json::to_string_pretty(&cases()).unwrap();
    std::fs::write(FILE, text + "\n").unwrap();
}
