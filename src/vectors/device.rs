//! Device lists and device linking (PROTOCOL.md §12): `device/device.json`.
//!
//! Inputs: the account's and three devices' identity secrets, the changes that make four
//! versions of the account's list, signed lists a verifier must refuse (with the account key
//! and the version it has seen), and a link's parts (the existing device's HPKE key, the link
//! secret, mailbox, expiry, the new device and its mailbox, each HPKE encapsulation's ikmE,
//! the state handed over). Outputs: the account's public identity, each list's contents and
//! signed wire, each refusal's typed error, and the link's code, request and handover, with
//! the refusals of a link answered twice or after its expiry.

use serde_json::{Value, json};

use super::json::{Place, hex};
use super::{Failure, error_name, skeleton, with_outputs};
use crate::device::{DEVICE_LIST_LABEL, DeviceList, Linking, PendingLink, SignedDeviceList};
use crate::envelope::MailboxId;
use crate::error::Error;
use crate::hpke::KeyPair;
use crate::{Identity, PublicIdentity};

const DESCRIPTION: &str = "Device lists and linking (PROTOCOL.md §12). Identities are given by \
    their secret bytes (0x01 || X25519 secret || Ed25519 seed). Lists: version 1 holds device \
    1; 2 adds device 2; 3 adds device 3; 4 removes device 2; each signed by the account. \
    Refusals: each wire verified against `account` having seen version `seen` (null: none). \
    Linking: the existing device's HPKE key from its secret, the link secret, mailbox and \
    expiry make the code; device_secrets[device] answers with ikmE_request at `now` (the \
    code's last second); the existing device accepts it, hands over lists[handover_list] and \
    the state with ikmE_handover, and the new device opens it; the same answer again, and a \
    fresh link answered a second past its expiry, are refused.";

const NOW: u64 = 1_800_000_000;

/// `0x01 || x25519 secret || ed25519 seed`, each 32 bytes of `x` and `s`.
fn secret(x: u8, s: u8) -> Vec<u8> {
    [vec![1u8], vec![x; 32], vec![s; 32]].concat()
}

fn identity(p: &Place<'_>) -> Result<Identity, Failure> {
    Identity::from_secret_bytes(&p.bytes()?)
        .map_err(|_| Failure::input(p.path(), "an identity secret"))
}

fn device_at<'a>(
    devices: &'a [Identity],
    p: &Place<'_>,
    key: &str,
) -> Result<&'a Identity, Failure> {
    devices
        .get(p.int::<usize>(key)?)
        .ok_or_else(|| Failure::input(p.path(), "the index of a listed device"))
}

fn failed(at: &str) -> impl Fn(Error) -> Failure + '_ {
    move |e| Failure::mismatch(at, "a result".into(), error_name(&e))
}

/// The lists the changes make, in order.
fn lists(changes: &[Place<'_>], devices: &[Identity]) -> Result<Vec<DeviceList>, Failure> {
    let mut out: Vec<DeviceList> = Vec::new();
    for change in changes {
        let at = change.path();
        let next = match (out.last(), change.optional("first"), change.optional("add")) {
            (None, Some(first), None) => DeviceList::first(
                MailboxId(first.array("mailbox")?),
                *device_at(devices, &first, "device")?.public(),
            ),
            (Some(last), None, Some(add)) => {
                let identity = *device_at(devices, &add, "device")?.public();
                last.with_device(MailboxId(add.array("mailbox")?), identity)
                    .map_err(failed(at))?
                    .0
            }
            (Some(last), None, None) => last.without(change.int("remove")?).map_err(failed(at))?,
            _ => {
                return Err(Failure::input(
                    at,
                    "first (once, at the start), add or remove",
                ));
            }
        };
        out.push(next);
    }
    Ok(out)
}

/// The file recomputed from its inputs.
pub(super) fn recompute(file: &Value) -> Result<Value, Failure> {
    let inputs = Place::root(file).field("inputs")?;
    let account = identity(&inputs.field("account_secret")?)?;
    let devices = inputs
        .list("device_secrets")?
        .iter()
        .map(identity)
        .collect::<Result<Vec<_>, _>>()?;
    let signed: Vec<SignedDeviceList> = lists(&inputs.list("lists")?, &devices)?
        .iter()
        .map(|l| l.sign(&account))
        .collect();
    let mut list_out = Vec::new();
    for s in &signed {
        let list = s
            .verify(account.public(), None)
            .map_err(failed("inputs.lists"))?;
        list_out.push(json!({
            "version": list.version(),
            "next_id": list.next_id(),
            "devices": list.devices().iter().map(|d| json!({
                "id": d.id, "mailbox": hex(d.mailbox.0), "identity": hex(d.identity.to_bytes()),
            })).collect::<Vec<_>>(),
            "wire": hex(s.to_bytes()),
        }));
    }
    let mut refusals = Vec::new();
    for r in inputs.list("refusals")? {
        let key = r.field("account")?;
        let account = PublicIdentity::from_bytes(&key.bytes()?)
            .map_err(|_| Failure::input(key.path(), "a public identity"))?;
        let seen = r.optional("seen").and_then(|s| s.value().as_u64());
        let result = SignedDeviceList::from_bytes(&r.hex("wire")?)
            .map_err(Error::from)
            .and_then(|s| s.verify(&account, seen).map(|_| ()));
        refusals.push(json!({"result": result.map_or_else(|e| error_name(&e), |()| "ok".into())}));
    }
    let link = link(&inputs.field("link")?, &account, &devices, &signed)?;
    Ok(with_outputs(
        file,
        json!({"account": hex(account.public().to_bytes()), "lists": list_out,
               "refusals": refusals, "link": link}),
    ))
}

fn pending(l: &Place<'_>) -> Result<PendingLink, Failure> {
    Ok(PendingLink::with_parts(
        KeyPair::from_secret_bytes(&l.array("key_secret")?),
        l.array("secret")?,
        MailboxId(l.array("mailbox")?),
        l.u64("expires")?,
    ))
}

fn link(
    l: &Place<'_>,
    account: &Identity,
    devices: &[Identity],
    signed: &[SignedDeviceList],
) -> Result<Value, Failure> {
    let at = l.path();
    let mut pending_link = pending(l)?;
    let code = pending_link.code().to_bytes();
    let device = device_at(devices, l, "device")?;
    let now = l.u64("now")?;
    let (linking, request) = Linking::answer_with_ikm(
        &l.array("ikmE_request")?,
        &code,
        device.clone(),
        MailboxId(l.array("device_mailbox")?),
        now,
    )
    .map_err(failed(at))?;
    let new = pending_link.accept(&request, now).map_err(failed(at))?;
    let again = pending_link.accept(&request, now).err();
    let list = signed
        .get(l.int::<usize>("handover_list")?)
        .ok_or_else(|| Failure::input(at, "the index of a list"))?;
    let state = l.hex("state")?;
    let handover = pending_link
        .hand_over_with_ikm(&l.array("ikmE_handover")?, account, list, &state)
        .map_err(failed(at))?;
    let got = linking.finish(&handover).map_err(failed(at))?;
    if got.state[..] != state[..] || got.account.public() != account.public() {
        return Err(Failure::mismatch(
            at,
            "the state handed over".into(),
            "another".into(),
        ));
    }
    let late = pending(l)?
        .accept(&request, l.u64("expires")?.saturating_add(1))
        .err();
    let name = |e: Option<Error>| e.map_or_else(|| "ok".to_owned(), |e| error_name(&e));
    Ok(json!({
        "code": hex(&*code), "request": hex(&request), "accepted_identity": hex(new.identity.to_bytes()),
        "handover": hex(&handover), "device_id": got.device.id,
        "accepted_again": name(again), "answered_past_expiry": name(late),
    }))
}

/// A list body with its first two devices swapped, signed by the account: well signed, not
/// canonical.
fn unsorted(account: &Identity, v3: &SignedDeviceList) -> Vec<u8> {
    let wire = v3.to_bytes();
    // version || account (64) || list || signature (64); list = version, next id, count,
    // then 81 bytes a device (id varint of 1 byte, mailbox 16, identity 64).
    let list = &wire[65..wire.len() - 64];
    let (head, devices) = list.split_at(3);
    let body = [head, &devices[81..162], &devices[..81], &devices[162..]].concat();
    let message = [DEVICE_LIST_LABEL, &account.public().to_bytes()[..], &body].concat();
    [&wire[..65], &body, &account.sign(&message).to_bytes()[..]].concat()
}

/// The refusals, built from the lists the changes make.
fn our_refusals(
    account_secret: &[u8],
    devices: &[Vec<u8>],
    changes: &Value,
) -> Result<Vec<Value>, Failure> {
    let secrets = Place::root(changes);
    let account = identity(&Place::root(&hex(account_secret)))?;
    let ids = devices
        .iter()
        .map(|d| {
            Identity::from_secret_bytes(d)
                .map_err(|_| Failure::input("device_secrets", "identity secrets"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let signed: Vec<SignedDeviceList> = lists(&secrets.items()?, &ids)?
        .iter()
        .map(|l| l.sign(&account))
        .collect();
    let (Some(v2), Some(v3), Some(device_2)) = (signed.get(1), signed.get(2), ids.get(1)) else {
        return Err(Failure::input("lists", "four lists and three devices"));
    };
    let account_key = hex(account.public().to_bytes());
    let mut flipped = v3.to_bytes();
    if let Some(last) = flipped.last_mut() {
        *last ^= 1;
    }
    let refusal = |name: &str, wire: &[u8], account: &Value, seen: Option<u64>| json!({"name": name, "wire": hex(wire), "account": account, "seen": seen});
    Ok(vec![
        refusal("rolled back", &v2.to_bytes(), &account_key, Some(3)),
        refusal("same version again", &v3.to_bytes(), &account_key, Some(3)),
        refusal(
            "another account",
            &v3.to_bytes(),
            &hex(device_2.public().to_bytes()),
            None,
        ),
        refusal("signature changed", &flipped, &account_key, None),
        refusal(
            "devices out of order",
            &unsorted(&account, v3),
            &account_key,
            None,
        ),
    ])
}

/// Our inputs.
pub(super) fn inputs() -> Value {
    let account_secret = secret(0xa1, 0xa2);
    let devices = [secret(0xb1, 0xc1), secret(0xb2, 0xc2), secret(0xb3, 0xc3)];
    let changes = json!([
        {"first": {"mailbox": hex([1; 16]), "device": 0}},
        {"add": {"mailbox": hex([2; 16]), "device": 1}},
        {"add": {"mailbox": hex([3; 16]), "device": 2}},
        {"remove": 2},
    ]);
    let refusals = our_refusals(&account_secret, &devices, &changes)
        .unwrap_or_else(|e| vec![json!({"error": e.to_string()})]);
    skeleton(
        "device",
        DESCRIPTION,
        json!({
            "account_secret": hex(&account_secret),
            "device_secrets": devices.iter().map(hex).collect::<Vec<_>>(),
            "lists": changes,
            "refusals": refusals,
            "link": {
                "key_secret": hex([0xd1; 32]), "secret": hex([0xd2; 32]),
                "mailbox": hex([0xd3; 16]), "expires": NOW + 600, "now": NOW + 600, "device": 1,
                "device_mailbox": hex([2; 16]), "ikmE_request": hex([0xe1; 32]),
                "handover_list": 1, "state": hex(b"the account's state"),
                "ikmE_handover": hex([0xe2; 32]),
            },
        }),
    )
}
