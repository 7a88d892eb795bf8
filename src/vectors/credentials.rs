//! Delivery credentials (PROTOCOL.md §11.1, §11.2, §11.5): `access/access.json`, laid out by
//! section: group access keys (`secret`, `mailbox` → `key`), the XOR of contact keys (`keys`
//! → `combined`), submissions with each credential (`credential`, `inputs`, `envelope` →
//! `wire`) and an access update (its fields → `wire`).

use serde_json::{Value, json};

use super::Failure;
use super::json::{Place, hex};
use crate::access::{
    AccessKey, AccessUpdate, Credential, MailboxSettings, MemberToken, Submission,
};
use crate::envelope::{Envelope, MailboxId};
use crate::token::{Token, TokenKind};

const DESCRIPTION: &str = "Delivery credentials (PROTOCOL.md §11): group access keys \
    HKDF-Expand(secret, \"missive/v1/group-access\" || mailbox, 16); the XOR of contact keys; \
    submissions with each credential; an access update.";

/// Our inputs: the file without what is computed.
pub(super) fn inputs() -> Value {
    let envelope = |to: &[MailboxId], body: &[u8]| {
        Envelope::to_mailboxes(1_800_000_000, to, body)
            .ok()
            .and_then(|e| e.first().map(Envelope::to_bytes))
            .unwrap_or_default()
    };
    let two = envelope(
        &[MailboxId([0xa1; 16]), MailboxId([0xa2; 16])],
        b"ciphertext",
    );
    let one = envelope(&[MailboxId([0xa1; 16])], b"ct");
    let token =
        json!({"kind": 1, "period": 695, "input": hex([0x11; 32]), "output": hex([0x22; 64])});
    let submission = |credential: &str, inputs: Value, envelope: &[u8]| json!({"credential": credential, "inputs": inputs, "envelope": hex(envelope)});
    let key = |b: u8| hex([b; 16]);
    let group: Vec<Value> = [(0x01u8, 0xa1u8), (0x01, 0xa2), (0x02, 0xa1)]
        .iter()
        .map(|(s, m)| json!({"secret": hex([*s; 32]), "mailbox": hex([*m; 16])}))
        .collect();
    json!({
        "missive_format": "access",
        "description": DESCRIPTION,
        "group_access": group,
        "combine": {"keys": [key(0x0f), key(0xf1), key(0x33)]},
        "submissions": [
            submission("contacts", json!({"combined": hex([0x0f ^ 0xf1 ^ 0x33; 16])}), &two),
            submission("keys", json!({"keys": [[key(1), key(2)], [key(3)]]}), &two),
            submission("open", json!({}), &one),
            submission("token", json!({"token": token}), &one),
            submission("member", json!({"token": token, "user": "alice"}), &two),
        ],
        "access_update": {"contact": key(9), "add": [key(7)], "remove": [key(8)],
                          "open_profile": true, "sponsored": false},
    })
}

fn key(p: &Place<'_>) -> Result<AccessKey, Failure> {
    p.bytes()?
        .try_into()
        .map(AccessKey::from_bytes)
        .map_err(|_| Failure::input(p.path(), "a 16-byte key"))
}

fn token(t: &Place<'_>) -> Result<Token, Failure> {
    let kind = match t.u64("kind")? {
        0 => TokenKind::Invite,
        1 => TokenKind::Credit,
        2 => TokenKind::Premium,
        3 => TokenKind::Sponsored,
        _ => return Err(Failure::input(t.path(), "a token kind from 0 to 3")),
    };
    Ok(Token::from_parts(
        kind,
        t.int("period")?,
        t.array("input")?,
        t.array("output")?,
    ))
}

fn credential(name: &str, i: &Place<'_>) -> Result<Credential, Failure> {
    Ok(match name {
        "contacts" => Credential::Contacts(AccessKey::from_bytes(i.array("combined")?)),
        "keys" => Credential::Keys(
            i.list("keys")?
                .iter()
                .map(|list| list.items()?.iter().map(key).collect())
                .collect::<Result<_, _>>()?,
        ),
        "open" => Credential::Open,
        "token" => Credential::Token(token(&i.field("token")?)?),
        "member" => Credential::Member(MemberToken {
            token: token(&i.field("token")?)?,
            user: i.str("user")?.as_bytes().to_vec(),
        }),
        _ => {
            return Err(Failure::input(
                i.path(),
                "contacts, keys, open, token or member",
            ));
        }
    })
}

/// `access/access.json` recomputed from its inputs.
pub(super) fn recompute(file: &Value) -> Result<Value, Failure> {
    let root = Place::root(file);
    let mut group = Vec::new();
    for g in root.list("group_access")? {
        let (secret, mailbox) = (g.array("secret")?, MailboxId(g.array("mailbox")?));
        let k = AccessKey::for_group_member(&secret, &mailbox);
        group.push(
            json!({"secret": hex(secret), "mailbox": hex(mailbox.0), "key": hex(k.as_bytes())}),
        );
    }
    let c = root.field("combine")?;
    let keys = c
        .list("keys")?
        .iter()
        .map(key)
        .collect::<Result<Vec<_>, _>>()?;
    let combined = AccessKey::combine(&keys);
    let mut submissions = Vec::new();
    for s in root.list("submissions")? {
        let name = s.str("credential")?;
        let inputs = s.field("inputs")?;
        let envelope = s.hex("envelope")?;
        let wire = Submission {
            credential: credential(name, &inputs)?,
            envelope: envelope.clone(),
        }
        .to_bytes();
        submissions.push(
            json!({"credential": name, "inputs": inputs.value(), "envelope": hex(&envelope),
                                "wire": hex(wire)}),
        );
    }
    let u = root.field("access_update")?;
    let (open_profile, sponsored) = (u.bool("open_profile")?, u.bool("sponsored")?);
    let update = AccessUpdate {
        contact: Some(AccessKey::from_bytes(u.array("contact")?)),
        add: u.list("add")?.iter().map(key).collect::<Result<_, _>>()?,
        remove: u
            .list("remove")?
            .iter()
            .map(key)
            .collect::<Result<_, _>>()?,
        settings: Some(MailboxSettings {
            open_profile,
            sponsored,
            account: None,
        }),
    };
    Ok(json!({
        "missive_format": "access",
        "description": file.get("description"),
        "group_access": group,
        "combine": {"keys": c.field("keys")?.value(), "combined": hex(combined.as_bytes())},
        "submissions": submissions,
        "access_update": {"contact": u.field("contact")?.value(), "add": u.field("add")?.value(),
                          "remove": u.field("remove")?.value(), "open_profile": open_profile,
                          "sponsored": sponsored, "wire": hex(update.to_bytes())},
    }))
}
