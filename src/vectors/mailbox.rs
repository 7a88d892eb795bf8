//! Mailbox ids and request proofs (PROTOCOL.md §8.1–8.2): `relay/mailbox.json`.
//!
//! Inputs: mailbox seeds (Ed25519 secret keys), requests (method, path with query, body,
//! timestamp, nonce) and proofs to verify, valid and refused. Outputs: each mailbox's
//! verifying key and id, each request's signed message, proof and `Authorization` header,
//! and each verification's result: the mailbox id, or the typed error.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::json::{Place, hex};
use super::{Failure, error_name, skeleton, with_outputs};
use crate::mailbox::{AuthProof, MailboxKey, signed_message};

const DESCRIPTION: &str = "Mailbox ids SHA-256(\"missive/mailbox/v1\" || key)[0..16] and \
    request proofs 0x01 || key || varint(timestamp) || nonce || Sign(key, m) (PROTOCOL.md \
    §8.1-8.2), and proofs verified or refused with the typed error.";

/// The mailbox every request is signed by.
const SEED: [u8; 32] = [0x4d; 32];
const TIME: u64 = 1_800_000_000;

struct Request {
    description: &'static str,
    method: &'static str,
    path: &'static str,
    body: &'static [u8],
    nonce: u8,
}

const REQUESTS: [Request; 3] = [
    Request {
        description: "a mailbox fetch: the query is part of what is signed, the body is empty",
        method: "GET",
        path: "/v1/mailbox?after=0&limit=100",
        body: b"",
        nonce: 0x01,
    },
    Request {
        description: "an acknowledgement: the body's SHA-256 is signed",
        method: "POST",
        path: "/v1/mailbox/ack",
        body: b"\x01\x01\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa",
        nonce: 0x02,
    },
    Request {
        description: "a directory publication under the hex of the name \"alice\"",
        method: "PUT",
        path: "/v1/directory/616c696365",
        body: b"\x01prekeys",
        nonce: 0x03,
    },
];

/// Our inputs.
pub(super) fn inputs() -> Value {
    let mailbox = MailboxKey::from_seed(&SEED);
    let valid = |r: &Request| {
        mailbox
            .prove_with_nonce(r.method, r.path, r.body, TIME, [r.nonce; 16])
            .to_bytes()
    };
    let fetch = valid(&REQUESTS[0]);
    let get = |description: &str, proof: &[u8], now: u64| {
        json!({"description": description, "proof": hex(proof), "method": "GET",
               "path": REQUESTS[0].path, "body": "", "now": now})
    };
    let altered = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut proof = fetch.clone();
        f(&mut proof);
        proof
    };
    // The timestamp is the varint after the version and the key: five bytes for TIME.
    let varint_at = 33;
    let non_minimal = altered(&|p| {
        p[varint_at + 4] |= 0x80;
        p.insert(varint_at + 5, 0x00);
    });
    let over_long = altered(&|p| {
        p.splice(varint_at..varint_at + 5, [0xff; 11]);
    });
    let mut small_order = fetch.clone();
    small_order[1..33].copy_from_slice(&{
        let mut identity = [0u8; 32];
        identity[0] = 1;
        identity
    });
    let refusals = vec![
        get(
            "valid, 300 s after it was made: the edge of the window",
            &fetch,
            TIME + 300,
        ),
        get("valid, 300 s before it was made", &fetch, TIME - 300),
        get("301 s old: stale", &fetch, TIME + 301),
        get("301 s in the future", &fetch, TIME - 301),
        json!({"description": "presented for another query", "proof": hex(&fetch),
               "method": "GET", "path": "/v1/mailbox?after=1&limit=100", "body": "",
               "now": TIME}),
        json!({"description": "presented for another method", "proof": hex(&fetch),
               "method": "POST", "path": REQUESTS[0].path, "body": "", "now": TIME}),
        json!({"description": "presented with a body", "proof": hex(&fetch), "method": "GET",
               "path": REQUESTS[0].path, "body": "00", "now": TIME}),
        get(
            "the signature's last bit flipped",
            &altered(&|p| {
                let last = p.len() - 1;
                p[last] ^= 0x80;
            }),
            TIME,
        ),
        get("version 2", &altered(&|p| p[0] = 2), TIME),
        get("a byte too many", &altered(&|p| p.push(0)), TIME),
        get(
            "a byte too few",
            &altered(&|p| p.truncate(p.len() - 1)),
            TIME,
        ),
        get("empty", &[], TIME),
        get(
            "the timestamp's varint in six bytes, not five",
            &non_minimal,
            TIME,
        ),
        get("an eleven-byte varint", &over_long, TIME),
        get(
            "the key is a small-order point (the identity)",
            &small_order,
            TIME,
        ),
    ];
    skeleton(
        "mailbox",
        DESCRIPTION,
        json!({
            "mailbox_seeds": [hex(SEED), hex([0u8; 32]), hex([0xff; 32])],
            "requests": REQUESTS.iter().map(|r| json!({
                "description": r.description, "seed": hex(SEED), "method": r.method,
                "path": r.path, "body": hex(r.body), "timestamp": TIME,
                "nonce": hex([r.nonce; 16]),
            })).collect::<Vec<_>>(),
            "verifications": refusals,
        }),
    )
}

/// The file recomputed from its inputs.
pub(super) fn recompute(file: &Value) -> Result<Value, Failure> {
    let root = Place::root(file);
    let inputs = root.field("inputs")?;
    let mut mailboxes = Vec::new();
    for seed in inputs.list("mailbox_seeds")? {
        let seed: [u8; 32] = seed
            .bytes()?
            .try_into()
            .map_err(|_| Failure::input(seed.path(), "32 bytes"))?;
        let key = MailboxKey::from_seed(&seed);
        mailboxes.push(json!({
            "verifying_key": hex(key.verifying_key().as_bytes()),
            "id": hex(key.id().0),
        }));
    }
    let mut requests = Vec::new();
    for r in inputs.list("requests")? {
        let key = MailboxKey::from_seed(&r.array("seed")?);
        let (method, path) = (r.str("method")?, r.str("path")?);
        let (body, timestamp, nonce) = (r.hex("body")?, r.u64("timestamp")?, r.array("nonce")?);
        let proof = key
            .prove_with_nonce(method, path, &body, timestamp, nonce)
            .to_bytes();
        requests.push(json!({
            "body_sha256": hex(Sha256::digest(&body)),
            "signed_message": hex(signed_message(method, path, &body, timestamp, &nonce)),
            "proof": hex(&proof),
            "authorization": format!("Missive {}", hex::encode(&proof)),
        }));
    }
    let mut verifications = Vec::new();
    for v in inputs.list("verifications")? {
        let proof = v.hex("proof")?;
        let (method, path, body, now) = (
            v.str("method")?,
            v.str("path")?,
            v.hex("body")?,
            v.u64("now")?,
        );
        let result = AuthProof::from_bytes(&proof)
            .map_err(Into::into)
            .and_then(|p| p.verify(method, path, &body, now));
        verifications.push(match result {
            Ok(ok) => json!({"result": "ok", "mailbox": hex(ok.mailbox.0)}),
            Err(e) => json!({"result": error_name(&e)}),
        });
    }
    Ok(with_outputs(
        file,
        json!({"mailboxes": mailboxes, "requests": requests, "verifications": verifications}),
    ))
}
