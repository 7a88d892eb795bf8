//! The relay's request and response bodies (PROTOCOL.md §8.3, §7.1–7.2): `relay/bodies.json`.
//!
//! Inputs: each body's fields (bytes in hex, numbers, lists); outputs: its wire bytes. Then
//! wire bytes a decoder must refuse, each with the typed error: envelopes and deliveries out
//! of the rules of §7 (recipients unsorted, duplicated, none, too many; an empty body; a keyed
//! delivery without its cohort) and bodies that break §1 (trailing bytes, a non-minimal or
//! over-long varint, an option tag other than 0 or 1, a length past the end).

use serde_json::{Value, json};

use super::json::{Place, hex};
use super::{Failure, error_name, skeleton, with_outputs};
use crate::envelope::{Delivery, Envelope, MailboxId};
use crate::error::Error;
use crate::relay_api::{
    Ack, DeliveredEnvelope, DeliveryPage, DeviceDirectory, OneTimePrekey, PassedDelivery,
    PassedPart, PrekeyResponse, PrekeyStock, PublishPrekeys, Undelivered,
};

const DESCRIPTION: &str = "The relay's request and response bodies (PROTOCOL.md §8.3), each \
    0x01 || postcard(fields) from the fields given; then envelopes, deliveries and bodies a \
    decoder refuses, with the typed error.";

fn one_time(id: u32, byte: u8) -> Value {
    json!({"id": id, "key": hex([byte; 5])})
}

fn response(mailbox: u8, one_time: Option<Value>) -> Value {
    json!({"mailbox": hex([mailbox; 16]), "bundle": hex(b"a prekey bundle (PROTOCOL.md 5.2)"),
           "one_time": one_time})
}

fn delivered(id: u8, seq: u64) -> Value {
    json!({"id": hex([id; 16]), "seq": seq, "received_at": 1_800_000_000u64 + seq,
           "delivery": hex(b"a delivery (PROTOCOL.md 7.2)")})
}

/// Our inputs.
pub(super) fn inputs() -> Value {
    let body = |description: &str, kind: &str, fields: Value| json!({"description": description, "kind": kind, "fields": fields});
    let bodies = vec![
        body(
            "PUT /v1/directory/{user}: a bundle and two one-time prekeys",
            "publish_prekeys",
            json!({"bundle": hex(b"a prekey bundle (PROTOCOL.md 5.2)"),
                    "one_time": [one_time(7, 0x11), one_time(300, 0x12)]}),
        ),
        body(
            "GET /v1/directory/{user}, with a one-time prekey",
            "prekey_response",
            response(0xa1, Some(one_time(7, 0x11))),
        ),
        body(
            "GET /v1/directory/{user}, the one-time prekeys used up",
            "prekey_response",
            response(0xa1, None),
        ),
        body(
            "GET /v1/directory/{user}/devices",
            "device_directory",
            json!({"list": hex(b"a signed device list (PROTOCOL.md 12.2)"),
                    "devices": [response(0xa1, Some(one_time(7, 0x11))), response(0xa2, None)]}),
        ),
        body(
            "GET /v1/directory/{user}/stock",
            "prekey_stock",
            json!({"one_time": 130}),
        ),
        body(
            "a WebSocket frame: one delivery, pushed (seq 0)",
            "delivered_envelope",
            delivered(0xe1, 0),
        ),
        body(
            "GET /v1/mailbox: a page of two",
            "delivery_page",
            json!({"deliveries": [delivered(0xe1, 1), delivered(0xe2, 200)]}),
        ),
        body(
            "POST /v1/mailbox/ack (or a WebSocket frame)",
            "ack",
            json!({"ids": [hex([0xe1; 16]), hex([0xe2; 16])]}),
        ),
        body(
            "POST /v1/envelopes' answer: recipients the credential did not reach",
            "undelivered",
            json!({"mailboxes": [hex([0xb1; 16]), hex([0xb2; 16])]}),
        ),
        body(
            "an ephemeral delivery passed between relays (PROTOCOL.md 8.6)",
            "passed_delivery",
            json!({"id": hex([0xe3; 16]), "expires_at": 1_800_000_300u64,
                    "received_at": 1_800_000_000u64, "body": hex(b"shared part"),
                    "parts": [{"mailbox": hex([0xb1; 16]), "part": ""},
                              {"mailbox": hex([0xb2; 16]), "part": hex([0x40; 40])}]}),
        ),
    ];
    let refusal = |description: &str, kind: &str, wire: Vec<u8>| json!({"description": description, "kind": kind, "wire": hex(wire)});
    // 0x01 || expiry || plain (0x00) || n || n × mailbox || body.
    let plain = |mailboxes: &[u8], body: &[u8]| {
        let mut w = vec![
            1,
            0x80,
            0x01,
            0x00,
            u8::try_from(mailboxes.len()).unwrap_or(0),
        ];
        mailboxes.iter().for_each(|m| w.extend([*m; 16]));
        w.push(u8::try_from(body.len()).unwrap_or(0));
        w.extend(body);
        w
    };
    let fifty_one: Vec<u8> = (1..=51).collect();
    // A keyed delivery whose cohort is empty: 0x01 || id || expiry || mailbox || Some(part) ||
    // cohort [] || body.
    let mut keyed_alone = vec![1];
    keyed_alone.extend([0xe1; 16]);
    keyed_alone.extend([0x80, 0x01]);
    keyed_alone.extend([0xb1; 16]);
    keyed_alone.push(1);
    keyed_alone.extend([0x40; 40]);
    keyed_alone.extend([0, 2, 0xc7, 0xc7]);
    let refusals = vec![
        refusal(
            "an envelope to two mailboxes, in order",
            "envelope",
            plain(&[1, 2], b"ct"),
        ),
        refusal("recipients out of order", "envelope", plain(&[2, 1], b"ct")),
        refusal("a recipient twice", "envelope", plain(&[1, 1], b"ct")),
        refusal("no recipient", "envelope", plain(&[], b"ct")),
        refusal(
            "51 recipients in a plain envelope",
            "envelope",
            plain(&fifty_one, b"ct"),
        ),
        refusal("an empty body", "envelope", plain(&[1], b"")),
        refusal("the body's length runs past the end", "envelope", {
            let mut w = plain(&[1], b"ct");
            let n = w.len();
            w[n - 3] = 3;
            w
        }),
        refusal(
            "a keyed delivery without its cohort",
            "delivery",
            keyed_alone,
        ),
        refusal(
            "a stock with a byte after it",
            "prekey_stock",
            vec![1, 0x82, 0x01, 0x00],
        ),
        refusal(
            "a stock whose count takes two bytes for one",
            "prekey_stock",
            vec![1, 0x85, 0x00],
        ),
        refusal(
            "a u32 varint of six bytes",
            "prekey_stock",
            vec![1, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
        ),
        refusal(
            "a u32 varint past 2^32 - 1",
            "prekey_stock",
            vec![1, 0xff, 0xff, 0xff, 0xff, 0x1f],
        ),
        refusal("an option tag of 2", "prekey_response", {
            let mut w = vec![1];
            w.extend([0xa1; 16]);
            w.extend([1, 0x42, 2]);
            w
        }),
        refusal("an ack whose list is longer than the bytes", "ack", {
            let mut w = vec![1, 3];
            w.extend([0xe1; 32]);
            w
        }),
        refusal("a body of version 2", "ack", vec![2, 0]),
    ];
    skeleton(
        "relay_bodies",
        DESCRIPTION,
        json!({"bodies": bodies, "refusals": refusals}),
    )
}

fn bytes16(p: &Place<'_>, key: &str) -> Result<[u8; 16], Failure> {
    p.array(key)
}

fn one_time_of(p: &Place<'_>) -> Result<OneTimePrekey, Failure> {
    Ok(OneTimePrekey {
        id: p.int("id")?,
        key: p.hex("key")?,
    })
}

fn response_of(p: &Place<'_>) -> Result<PrekeyResponse, Failure> {
    Ok(PrekeyResponse {
        mailbox: MailboxId(bytes16(p, "mailbox")?),
        bundle: p.hex("bundle")?,
        one_time: p
            .field("one_time")
            .and_then(|_| p.optional("one_time").map(|o| one_time_of(&o)).transpose())?,
    })
}

fn delivered_of(p: &Place<'_>) -> Result<DeliveredEnvelope, Failure> {
    Ok(DeliveredEnvelope {
        id: bytes16(p, "id")?,
        seq: p.u64("seq")?,
        received_at: p.u64("received_at")?,
        delivery: p.hex("delivery")?,
    })
}

fn mailboxes(p: &Place<'_>, key: &str) -> Result<Vec<MailboxId>, Failure> {
    p.list(key)?
        .iter()
        .map(|m| {
            let b = m.bytes()?;
            b.try_into()
                .map(MailboxId)
                .map_err(|_| Failure::input(m.path(), "16 bytes"))
        })
        .collect()
}

/// The wire bytes of a body of `kind` with the fields given.
fn encode(kind: &str, f: &Place<'_>) -> Result<Vec<u8>, Failure> {
    Ok(match kind {
        "publish_prekeys" => PublishPrekeys {
            bundle: f.hex("bundle")?,
            one_time: f
                .list("one_time")?
                .iter()
                .map(one_time_of)
                .collect::<Result<_, _>>()?,
        }
        .to_bytes(),
        "prekey_response" => response_of(f)?.to_bytes(),
        "device_directory" => DeviceDirectory {
            list: f.hex("list")?,
            devices: f
                .list("devices")?
                .iter()
                .map(response_of)
                .collect::<Result<_, _>>()?,
        }
        .to_bytes(),
        "prekey_stock" => PrekeyStock {
            one_time: f.int("one_time")?,
        }
        .to_bytes(),
        "delivered_envelope" => delivered_of(f)?.to_bytes(),
        "delivery_page" => DeliveryPage {
            deliveries: f
                .list("deliveries")?
                .iter()
                .map(delivered_of)
                .collect::<Result<_, _>>()?,
        }
        .to_bytes(),
        "ack" => Ack {
            ids: mailboxes(f, "ids")?.into_iter().map(|m| m.0).collect(),
        }
        .to_bytes(),
        "undelivered" => Undelivered {
            mailboxes: mailboxes(f, "mailboxes")?,
        }
        .to_bytes(),
        "passed_delivery" => PassedDelivery {
            id: bytes16(f, "id")?,
            expires_at: f.u64("expires_at")?,
            received_at: f.u64("received_at")?,
            body: f.hex("body")?,
            parts: f
                .list("parts")?
                .iter()
                .map(|p| {
                    Ok(PassedPart {
                        mailbox: MailboxId(bytes16(p, "mailbox")?),
                        part: p.hex("part")?,
                    })
                })
                .collect::<Result<_, Failure>>()?,
        }
        .to_bytes(),
        _ => return Err(Failure::input(f.path(), "a body kind this format names")),
    })
}

/// Decodes `wire` as a `kind`: the re-encoding (equal to the input when it is accepted), or
/// the error.
fn decode(kind: &str, wire: &[u8], at: &str) -> Result<Result<Vec<u8>, Error>, Failure> {
    fn again<T, E: Into<Error>>(
        r: Result<T, E>,
        to: impl Fn(&T) -> Vec<u8>,
    ) -> Result<Vec<u8>, Error> {
        r.map(|v| to(&v)).map_err(Into::into)
    }
    Ok(match kind {
        "envelope" => again(Envelope::from_bytes(wire), Envelope::to_bytes),
        "delivery" => again(Delivery::from_bytes(wire), Delivery::to_bytes),
        "publish_prekeys" => again(PublishPrekeys::from_bytes(wire), PublishPrekeys::to_bytes),
        "prekey_response" => again(PrekeyResponse::from_bytes(wire), PrekeyResponse::to_bytes),
        "device_directory" => again(DeviceDirectory::from_bytes(wire), DeviceDirectory::to_bytes),
        "prekey_stock" => again(PrekeyStock::from_bytes(wire), PrekeyStock::to_bytes),
        "delivered_envelope" => again(
            DeliveredEnvelope::from_bytes(wire),
            DeliveredEnvelope::to_bytes,
        ),
        "delivery_page" => again(DeliveryPage::from_bytes(wire), DeliveryPage::to_bytes),
        "ack" => again(Ack::from_bytes(wire), Ack::to_bytes),
        "undelivered" => again(Undelivered::from_bytes(wire), Undelivered::to_bytes),
        "passed_delivery" => again(PassedDelivery::from_bytes(wire), PassedDelivery::to_bytes),
        _ => return Err(Failure::input(at, "a body kind this format names")),
    })
}

/// The file recomputed from its inputs.
pub(super) fn recompute(file: &Value) -> Result<Value, Failure> {
    let root = Place::root(file);
    let inputs = root.field("inputs")?;
    let mut bodies = Vec::new();
    for b in inputs.list("bodies")? {
        let kind = b.str("kind")?;
        let wire = encode(kind, &b.field("fields")?)?;
        // What a receiver decodes must be the same body.
        match decode(kind, &wire, b.path())? {
            Ok(again) if again == wire => {}
            other => {
                let got = other.map_or_else(|e| error_name(&e), hex::encode);
                return Err(Failure::mismatch(b.path(), hex::encode(&wire), got));
            }
        }
        bodies.push(json!({"wire": hex(&wire)}));
    }
    let mut refusals = Vec::new();
    for r in inputs.list("refusals")? {
        let wire = r.hex("wire")?;
        let result = match decode(r.str("kind")?, &wire, r.path())? {
            Ok(_) => "ok".to_owned(),
            Err(e) => error_name(&e),
        };
        refusals.push(json!({"result": result}));
    }
    Ok(with_outputs(
        file,
        json!({"bodies": bodies, "refusals": refusals}),
    ))
}
