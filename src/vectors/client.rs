//! Pairwise payloads (PROTOCOL.md §9.3) and a multi-recipient message's first post (§10.1):
//! `client/pairwise.json` and `client/first_post.json`. Each case gives its `inputs` (the
//! fields) and its `wire`; the file is recomputed case by case from the inputs.

use serde_json::{Value, json};

use super::Failure;
use super::json::{Place, hex};
use crate::access::AccessKey;
use crate::client::account_sync::Stamp;
use crate::client::payload::{Pairwise, Step};
use crate::client::post::{FirstPost, Post};
use crate::conversation::ConversationId;
use crate::envelope::MailboxId;
use crate::identity::PublicIdentity;

const PAIRWISE: &str = "Every pairwise payload kind (PROTOCOL.md §9.3): 0x01 || \
    postcard(Pairwise), each from the inputs given.";

const FIRST_POST: &str = "A multi-recipient first message's post (PROTOCOL.md §10.1): version \
    1 (0x01 || postcard(participants, post)) when no device is listed, else version 2 (0x02 || \
    postcard(participants, devices, post)). `identity` is the participant's 64 public bytes \
    (X25519 || Ed25519); `post` is postcard(Post) without its own version byte, as it sits \
    inside.";

fn stamp(time: u64, device: u8) -> Value {
    json!({"time": time, "device": hex([device; 16])})
}

/// Our pairwise inputs.
pub(super) fn pairwise_inputs() -> Value {
    let case = |kind: &str, inputs: Value| json!({"kind": kind, "inputs": inputs});
    let cases = vec![
        case("distribution", json!({"bytes": "0102ff"})),
        case("grant", json!({"bytes": "0a0b"})),
        case("invite", json!({"note": "Let's connect"})),
        case("invite", json!({"note": null})),
        case("accept", json!({})),
        case("decline", json!({})),
        case("withdraw", json!({})),
        case("remove", json!({})),
        case("key_update", json!({})),
        case(
            "group_access",
            json!({"group": hex([0xc1; 16]), "epoch": 300, "secret": hex([0x5e; 32])}),
        ),
        case("removed", json!({"group": hex([0xc1; 16]), "epoch": 2})),
        case(
            "contact_key",
            json!({"key": hex([0x4b; 16]), "stamp": stamp(1_800_000_060, 0xd2),
                   "replaces": stamp(1_800_000_000, 0xd1)}),
        ),
        case(
            "did",
            json!({"with": hex([0xb0; 16]), "step": 4, "key": hex([0x4c; 16]),
                   "seen": stamp(0, 0)}),
        ),
        case(
            "did",
            json!({"with": hex([0xb0; 16]), "step": 0, "key": null,
                   "seen": stamp(1_800_000_000, 0xd1)}),
        ),
        case(
            "settings",
            json!({"read_receipts": false, "typing_indicators": true,
                   "sponsored_messages": false, "stamp": stamp(1_800_000_061, 0xd2)}),
        ),
    ];
    json!({"missive_format": "pairwise", "description": PAIRWISE, "cases": cases})
}

fn stamp_of(p: &Place<'_>) -> Result<Stamp, Failure> {
    Ok(Stamp {
        time: p.u64("time")?,
        device: MailboxId(p.array("device")?),
    })
}

fn key(p: &Place<'_>, field: &str) -> Result<AccessKey, Failure> {
    Ok(AccessKey::from_bytes(p.array(field)?))
}

fn pairwise(kind: &str, i: &Place<'_>) -> Result<Pairwise, Failure> {
    Ok(match kind {
        "distribution" => Pairwise::Distribution(i.hex("bytes")?),
        "grant" => Pairwise::Grant(i.hex("bytes")?),
        "invite" => Pairwise::Invite {
            note: i.field("note").and_then(|_| {
                i.optional("note")
                    .map(|_| i.str("note").map(str::to_owned))
                    .transpose()
            })?,
        },
        "accept" => Pairwise::Accept,
        "decline" => Pairwise::Decline,
        "withdraw" => Pairwise::Withdraw,
        "remove" => Pairwise::Remove,
        "key_update" => Pairwise::KeyUpdate,
        "group_access" => Pairwise::group_access(
            ConversationId(i.array("group")?),
            i.u64("epoch")?,
            i.array("secret")?,
        ),
        "removed" => Pairwise::Removed {
            group: ConversationId(i.array("group")?),
            epoch: i.u64("epoch")?,
        },
        "contact_key" => Pairwise::ContactKey {
            key: key(i, "key")?,
            stamp: stamp_of(&i.field("stamp")?)?,
            replaces: stamp_of(&i.field("replaces")?)?,
        },
        "did" => Pairwise::Did {
            with: MailboxId(i.array("with")?),
            step: match i.u64("step")? {
                0 => Step::Invite,
                1 => Step::Accept,
                2 => Step::Decline,
                3 => Step::Withdraw,
                4 => Step::Remove,
                _ => return Err(Failure::input(i.path(), "a step from 0 to 4")),
            },
            key: i
                .field("key")
                .and_then(|_| i.optional("key").map(|_| key(i, "key")).transpose())?,
            seen: stamp_of(&i.field("seen")?)?,
        },
        "settings" => Pairwise::settings(
            [
                i.bool("read_receipts")?,
                i.bool("typing_indicators")?,
                i.bool("sponsored_messages")?,
            ],
            stamp_of(&i.field("stamp")?)?,
        ),
        _ => return Err(Failure::input(i.path(), "a pairwise payload kind of §9.3")),
    })
}

/// `client/pairwise.json` recomputed from its cases' inputs.
pub(super) fn pairwise_recompute(file: &Value) -> Result<Value, Failure> {
    let root = Place::root(file);
    let mut cases = Vec::new();
    for c in root.list("cases")? {
        let kind = c.str("kind")?;
        let inputs = c.field("inputs")?;
        let wire = pairwise(kind, &inputs)?.to_bytes();
        cases.push(json!({"kind": kind, "inputs": inputs.value(), "wire": hex(&*wire)}));
    }
    Ok(
        json!({"missive_format": "pairwise", "description": file.get("description"), "cases": cases}),
    )
}

/// A public identity from fixed secrets, as its 64 bytes.
fn fixed_identity(b: u8) -> Result<String, Failure> {
    let mut secret = vec![1u8];
    secret.extend([b; 32]);
    secret.extend([b.wrapping_add(1); 32]);
    let identity = crate::Identity::from_secret_bytes(&secret)
        .map_err(|_| Failure::input("", "a fixed identity"))?;
    Ok(hex::encode(&identity.public().to_bytes()[1..]))
}

/// Our first-post inputs.
pub(super) fn first_post_inputs() -> Value {
    let post = Post {
        access: crate::client::Access::Multi,
        content: crate::client::Content::text("Lunch on Friday?"),
    };
    let post = hex(&post.to_bytes()[1..]);
    let (ben, cem) = (
        fixed_identity(0x11).unwrap_or_default(),
        fixed_identity(0x22).unwrap_or_default(),
    );
    let participants = json!([{"member": hex([0xb0; 16]), "identity": ben},
                              {"member": hex([0xc0; 16]), "identity": cem}]);
    let case = |name: &str, devices: Value| {
        json!({"name": name, "inputs": {"participants": participants, "devices": devices,
                                         "post": post}})
    };
    json!({
        "missive_format": "first_post",
        "description": FIRST_POST,
        "cases": [
            case("first devices only (version 1)", json!([])),
            case("a recipient's second device and the opener's (version 2)", json!([
                {"device": hex([0xa1; 16]), "member": hex([0xa0; 16])},
                {"device": hex([0xb1; 16]), "member": hex([0xb0; 16])}])),
        ],
    })
}

/// `client/first_post.json` recomputed from its cases' inputs.
pub(super) fn first_post_recompute(file: &Value) -> Result<Value, Failure> {
    let root = Place::root(file);
    let mut cases = Vec::new();
    for c in root.list("cases")? {
        let i = c.field("inputs")?;
        let mut participants = Vec::new();
        for p in i.list("participants")? {
            let mut wire = vec![1u8];
            wire.extend(p.hex("identity")?);
            let identity = PublicIdentity::from_bytes(&wire)
                .map_err(|_| Failure::input(p.path(), "an identity's 64 public bytes"))?;
            participants.push((MailboxId(p.array("member")?), identity));
        }
        let mut devices = Vec::new();
        for d in i.list("devices")? {
            devices.push((MailboxId(d.array("device")?), MailboxId(d.array("member")?)));
        }
        let mut post = vec![1u8];
        post.extend(i.hex("post")?);
        let post = Post::from_bytes(&post)
            .map_err(|_| Failure::input(i.path(), "a post's postcard bytes (§10.1)"))?;
        let first = FirstPost {
            participants,
            devices,
            post,
        };
        cases.push(
            json!({"name": c.str("name")?, "inputs": i.value(), "wire": hex(first.to_bytes())}),
        );
    }
    Ok(
        json!({"missive_format": "first_post", "description": file.get("description"), "cases": cases}),
    )
}
