//! Sealed pairwise messages and typing indicators (PROTOCOL.md §9.2, §9.4):
//! `sealed/sealed.json`.
//!
//! Inputs: the recipient device (identity secret, mailbox, the X-Wing sealing seed of one
//! prekey generation), the sender (identity secret, account name, device mailbox, member id),
//! a session's `SEAL`, and cases: a form, the encapsulation randomness (`ikm_e` for DHKEM,
//! RFC 9180's `DeriveKeyPair` input; `eseed` for X-Wing), and the content (or padded bytes
//! as they are, for refusals). Each case is opened again by the recipient, at its mailbox or
//! at `open_at`, with the body's byte `flip` changed or not: `opened` is `ok`,
//! `unrecognised` (no layer opens: the client tries it as a lead answer, then drops it) or
//! the typed error.

use serde_json::{Value, json};

use super::json::{Place, hex};
use super::{Failure, error_name, skeleton, with_outputs};
use crate::access::AccessKey;
use crate::client::sealed::{
    self, INFO, OPENING_INFO, Opened, SESSION_INFO, SealedContent, typing_statement,
};
use crate::conversation::ConversationId;
use crate::crypto::sign::Signature;
use crate::crypto::xwing;
use crate::envelope::{MailboxId, padding};
use crate::error::Error;
use crate::hpke::{self, AEAD_ID, SenderMode};
use crate::identity::Identity;
use crate::session::{SealKeys, SealSecret};
use crate::wire::Wire;

const DESCRIPTION: &str = "Sealed pairwise messages (PROTOCOL.md §9.2) in their three forms \
    (0x01 opening: HPKE over X-Wing to the sealing key; 0x02 session: HPKE DHKEM to the \
    identity key around label_d || inner; 0x00 classical) and typing indicators (§9.4), each \
    opened again by the recipient; then bodies it must not open.";

/// `SHA-256("missive vectors " || tag)`: every secret input is a hash of a readable tag.
pub(super) fn tagged(tag: &str) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::new()
        .chain_update(b"missive vectors ")
        .chain_update(tag)
        .finalize()
        .into()
}

pub(super) fn identity_secret(tag: &str) -> Vec<u8> {
    let seed = tagged(tag);
    let mut bytes = vec![0x01];
    bytes.extend_from_slice(&tagged(&format!("{tag} x25519")));
    bytes.extend_from_slice(&seed);
    bytes
}

const RECIPIENT_MAILBOX: [u8; 16] = [0xb0; 16];
const GENERATION: u64 = 4;

/// Our inputs.
pub(super) fn inputs() -> Value {
    let session = json!({"kind": "session", "access": hex([0xac; 16]),
                         "message": hex(b"a session message (opaque here: PROTOCOL.md 5.6)")});
    let no_access = json!({"kind": "session", "access": null, "message": hex([0x5e; 40])});
    let device = json!({"kind": "device_session", "list": hex(b"a signed device list"),
                        "access": null, "message": hex([0x5d; 24])});
    let typing = json!({"kind": "typing", "conversation": hex([0xc0; 16]), "typing": true,
                        "timestamp": 1_800_000_000u64});
    let device_typing = json!({"kind": "device_typing", "conversation": hex([0xc0; 16]),
                               "typing": false, "timestamp": 1_800_000_007u64});
    let ikm = |n: &str| hex(tagged(&format!("ikm_e {n}")));
    let eseed = |n: &str| {
        let mut e = tagged(&format!("eseed {n} m")).to_vec();
        e.extend_from_slice(&tagged(&format!("eseed {n} x25519")));
        hex(e)
    };
    let content = |c: &Value| Some(c.clone());
    let case = |description: &str, form: &str, content: Option<Value>, extra: Value| {
        let mut case = json!({"description": description, "form": form});
        if let (Some(obj), Some(c)) = (case.as_object_mut(), content) {
            obj.insert("content".into(), c);
        }
        if let (Some(obj), Some(extra)) = (case.as_object_mut(), extra.as_object()) {
            obj.extend(extra.clone());
        }
        case
    };
    // Padded bytes that are not a padded content: the refusals of the layer inside.
    let mut unpadded = Vec::new();
    let _ = padding::pad_into(b"\x01", &mut unpadded);
    let no_marker = vec![0u8; 32];
    let cases = vec![
        case(
            "a session's opening message, with the sender's contact key",
            "opening",
            content(&session),
            json!({"generation": GENERATION, "eseed": eseed("1")}),
        ),
        case(
            "a later message from the initiator",
            "session",
            content(&no_access),
            json!({"direction": "initiator", "ikm_e": ikm("2")}),
        ),
        case(
            "a later message from the responder, a device that is not its account's first",
            "session",
            content(&device),
            json!({"direction": "responder", "ikm_e": ikm("3")}),
        ),
        case(
            "a message of a session set up before sealing keys",
            "classical",
            content(&session),
            json!({"ikm_e": ikm("4")}),
        ),
        case(
            "a typing indicator to a device we hold no session with",
            "classical",
            content(&typing),
            json!({"ikm_e": ikm("5")}),
        ),
        case(
            "a typing indicator in a session, from a device that is not the first",
            "session",
            content(&device_typing),
            json!({"direction": "initiator", "ikm_e": ikm("6")}),
        ),
        case(
            "refused: an opening message re-addressed to another mailbox",
            "opening",
            content(&session),
            json!({"generation": GENERATION, "eseed": eseed("7"),
                                       "open_at": hex([0xb1; 16])}),
        ),
        case(
            "refused: an opening message naming a generation the recipient does not hold",
            "opening",
            content(&session),
            json!({"generation": GENERATION + 1,
                                                  "eseed": eseed("8")}),
        ),
        case(
            "refused: a later message with its last byte changed",
            "session",
            content(&no_access),
            json!({"direction": "initiator", "ikm_e": ikm("9"),
                                         "flip": -1}),
        ),
        case(
            "refused: a later message of a session the recipient does not have",
            "session",
            content(&no_access),
            json!({"direction": "initiator", "ikm_e": ikm("10"),
                                         "seal": hex(tagged("another session's SEAL"))}),
        ),
        case(
            "refused: a body of an unknown form",
            "classical",
            content(&typing),
            json!({"ikm_e": ikm("11"), "flip": 0}),
        ),
        case(
            "refused: padding without its 0x80 marker",
            "classical",
            None,
            json!({"ikm_e": ikm("12"), "padded": hex(&no_marker)}),
        ),
        case(
            "refused: a padded content of version 2",
            "classical",
            None,
            json!({"ikm_e": ikm("13"),
                    "padded": hex({ let mut p = unpadded.clone(); p[0] = 2; p })}),
        ),
        case(
            "refused: a padded content that ends early",
            "opening",
            None,
            json!({"generation": GENERATION, "eseed": eseed("14"), "padded": hex(&unpadded)}),
        ),
    ];
    skeleton(
        "sealed",
        DESCRIPTION,
        json!({
            "recipient": {
                "identity_secret": hex(identity_secret("recipient identity")),
                "mailbox": hex(RECIPIENT_MAILBOX),
                "sealing_seed": hex(tagged("recipient sealing key")),
                "sealing_generation": GENERATION,
            },
            "sender": {
                "identity_secret": hex(identity_secret("sender identity")),
                "user": "alice",
                "mailbox": hex([0xa0; 16]),
                "member": hex([0xa1; 16]),
            },
            "seal": hex(tagged("SEAL")),
            "cases": cases,
        }),
    )
}

struct Parties {
    recipient: Identity,
    mailbox: MailboxId,
    sealing: xwing::SecretKey,
    generation: u32,
    sender: Identity,
    user: String,
    sender_mailbox: MailboxId,
    member: MailboxId,
    seal: [u8; 32],
}

fn identity(place: &Place<'_>) -> Result<Identity, Failure> {
    let bytes = place.hex("identity_secret")?;
    Identity::from_secret_bytes(&bytes)
        .map_err(|_| Failure::input(place.path(), "an identity secret (PROTOCOL.md 4.2)"))
}

fn parties(inputs: &Place<'_>) -> Result<Parties, Failure> {
    let recipient = inputs.field("recipient")?;
    let sender = inputs.field("sender")?;
    Ok(Parties {
        recipient: identity(&recipient)?,
        mailbox: MailboxId(recipient.array("mailbox")?),
        sealing: xwing::SecretKey::from_seed(&recipient.array("sealing_seed")?),
        generation: recipient.int("sealing_generation")?,
        sender: identity(&sender)?,
        user: sender.str("user")?.to_owned(),
        sender_mailbox: MailboxId(sender.array("mailbox")?),
        member: MailboxId(sender.array("member")?),
        seal: inputs.array("seal")?,
    })
}

fn keys(seal: &[u8; 32], direction: &str, at: &str) -> Result<SealKeys, Failure> {
    let secret = SealSecret(*seal);
    match direction {
        "initiator" => Ok(secret.keys(true)),
        "responder" => Ok(secret.keys(false)),
        _ => Err(Failure::input(at, "\"initiator\" or \"responder\"")),
    }
}

/// The content a case describes, and (for typing indicators) the statement signed.
fn content(p: &Parties, c: &Place<'_>) -> Result<(SealedContent, Option<Vec<u8>>), Failure> {
    let access = |c: &Place<'_>| -> Result<Option<AccessKey>, Failure> {
        let key = c.hex_or_null("access")?;
        key.map(|k| {
            <[u8; 16]>::try_from(k.as_slice())
                .map(AccessKey::from_bytes)
                .map_err(|_| Failure::input(c.path(), "a 16-byte access key"))
        })
        .transpose()
    };
    let typing = |c: &Place<'_>| -> Result<(ConversationId, bool, u64, Vec<u8>), Failure> {
        let conversation = ConversationId(c.array("conversation")?);
        let (typing, timestamp) = (c.bool("typing")?, c.u64("timestamp")?);
        let statement = typing_statement(&p.mailbox, &conversation, typing, timestamp);
        Ok((conversation, typing, timestamp, statement))
    };
    let sign = |statement: &[u8]| -> Signature { p.sender.sign(statement) };
    Ok(match c.str("kind")? {
        "session" => (
            SealedContent::Session {
                sender_user: p.user.as_bytes().to_vec(),
                sender_mailbox: p.sender_mailbox,
                sender_identity: *p.sender.public(),
                access: access(c)?,
                message: c.hex("message")?,
            },
            None,
        ),
        "device_session" => (
            SealedContent::DeviceSession {
                member: p.member,
                list: c.hex_or_null("list")?.map(serde_bytes::ByteBuf::from),
                sender_user: p.user.as_bytes().to_vec(),
                sender_mailbox: p.sender_mailbox,
                sender_identity: *p.sender.public(),
                access: access(c)?,
                message: c.hex("message")?,
            },
            None,
        ),
        "typing" => {
            let (conversation, typing, timestamp, statement) = typing(c)?;
            let signature = sign(&statement);
            (
                SealedContent::Typing {
                    sender_mailbox: p.sender_mailbox,
                    conversation,
                    typing,
                    timestamp,
                    signature,
                },
                Some(statement),
            )
        }
        "device_typing" => {
            let (conversation, typing, timestamp, statement) = typing(c)?;
            let signature = sign(&statement);
            (
                SealedContent::DeviceTyping {
                    member: p.member,
                    sender_mailbox: p.sender_mailbox,
                    conversation,
                    typing,
                    timestamp,
                    signature,
                },
                Some(statement),
            )
        }
        _ => {
            return Err(Failure::input(
                c.path(),
                "session, device_session, typing or device_typing",
            ));
        }
    })
}

/// The file recomputed from its inputs.
pub(super) fn recompute(file: &Value) -> Result<Value, Failure> {
    let root = Place::root(file);
    let inputs = root.field("inputs")?;
    let p = parties(&inputs)?;
    let direction_keys = |d: bool| {
        let k = SealSecret(p.seal).keys(d);
        json!({"label": hex(k.label()), "key": hex(k.key_bytes())})
    };
    let mut cases = Vec::new();
    for case in inputs.list("cases")? {
        cases.push(seal_case(&p, &case)?);
    }
    Ok(with_outputs(
        file,
        json!({
            "recipient_identity": hex(p.recipient.public().to_bytes()),
            "sealing_public_key": hex(p.sealing.public_key().as_bytes()),
            "sender_identity": hex(p.sender.public().to_bytes()),
            "session_keys": {"initiator": direction_keys(true), "responder": direction_keys(false)},
            "cases": cases,
        }),
    ))
}

fn seal_case(p: &Parties, case: &Place<'_>) -> Result<Value, Failure> {
    let mut out = serde_json::Map::new();
    let padded = match case.optional("padded") {
        Some(padded) => padded.bytes()?,
        None => {
            let (content, statement) = content(p, &case.field("content")?)?;
            if let Some(statement) = statement {
                let (SealedContent::Typing { signature, .. }
                | SealedContent::DeviceTyping { signature, .. }) = &content
                else {
                    return Err(Failure::input(case.path(), "a typing indicator"));
                };
                out.insert("statement".into(), hex(&statement));
                out.insert("signature".into(), hex(signature.to_bytes()));
            }
            out.insert("content".into(), hex(content.to_wire()));
            sealed::padded(&content)
                .map_err(|_| Failure::input(case.path(), "a smaller content"))?
        }
    };
    out.insert("padded".into(), hex(&padded));
    let aad = p.mailbox.0;
    let failed = |e: Error| Failure::mismatch(case.path(), "a sealed body".into(), error_name(&e));
    let base = SenderMode::Base;
    let identity_key = p.recipient.public().dh_key();
    let body = match case.str("form")? {
        "opening" => {
            let eseed: [u8; 64] = case.array("eseed")?;
            let generation: u32 = case.int("generation")?;
            let key = p.sealing.public_key();
            let (enc, mut ctx, values) =
                hpke::xwing::sender_intermediates(&eseed, base, key, OPENING_INFO)
                    .map_err(failed)?;
            schedule(&mut out, enc.as_bytes(), &values);
            sealed::opening_body(generation, &enc, &mut ctx, &aad, &padded).map_err(failed)?
        }
        form @ ("session" | "classical") => {
            let ikm_e = case.hex("ikm_e")?;
            let info = if form == "session" {
                SESSION_INFO
            } else {
                INFO
            };
            let (enc, values) =
                hpke::kat::sender_intermediates(&ikm_e, base, identity_key, info, AEAD_ID)
                    .map_err(failed)?;
            let (_, mut ctx) = hpke::kat::setup_sender_with_ikm(&ikm_e, base, identity_key, info)
                .map_err(failed)?;
            schedule(&mut out, enc.as_bytes(), &values);
            if form == "session" {
                let seal = match case.optional("seal") {
                    Some(_) => case.array("seal")?,
                    None => p.seal,
                };
                let keys = keys(&seal, case.str("direction")?, case.path())?;
                let inner = keys.seal(enc.as_bytes(), &aad, &padded);
                out.insert("label".into(), hex(keys.label()));
                out.insert(
                    "message_key".into(),
                    hex(*keys.message_key_bytes(enc.as_bytes())),
                );
                out.insert("inner".into(), hex(&inner));
                sealed::session_body(&keys, &enc, &mut ctx, &aad, &padded).map_err(failed)?
            } else {
                sealed::classical_body(&enc, &mut ctx, &aad, &padded).map_err(failed)?
            }
        }
        _ => return Err(Failure::input(case.path(), "opening, session or classical")),
    };
    out.insert("body".into(), hex(&body));
    out.insert("opened".into(), Value::String(open(p, case, body)?));
    Ok(Value::Object(out))
}

fn schedule(out: &mut serde_json::Map<String, Value>, enc: &[u8], v: &hpke::kat::Intermediates) {
    out.insert("enc".into(), hex(enc));
    out.insert("shared_secret".into(), hex(&v.shared_secret));
    out.insert("key".into(), hex(&v.key));
    out.insert("base_nonce".into(), hex(&v.base_nonce));
}

/// The recipient opens the body (changed as the case says): `ok`, `unrecognised` or the error.
fn open(p: &Parties, case: &Place<'_>, mut body: Vec<u8>) -> Result<String, Failure> {
    if let Some(flip) = case.optional("flip") {
        let i = flip
            .value()
            .as_i64()
            .and_then(|i| {
                usize::try_from(i.rem_euclid(i64::try_from(body.len()).unwrap_or(1))).ok()
            })
            .ok_or_else(|| Failure::input(flip.path(), "a byte index (negative from the end)"))?;
        if let Some(byte) = body.get_mut(i) {
            *byte ^= if i == 0 { 0x03 } else { 0x01 };
        }
    }
    let at = match case.optional("open_at") {
        Some(_) => MailboxId(case.array("open_at")?),
        None => p.mailbox,
    };
    let lookup = |g: u32| (g == p.generation).then_some(&p.sealing);
    let opened = match sealed::try_open_with(&p.recipient, &lookup, &at, &body) {
        None => return Ok("unrecognised".into()),
        Some(Err(e)) => Err(e),
        Some(Ok(Opened::Content(_))) => Ok(()),
        Some(Ok(Opened::Session { label, enc, inner })) => {
            // The recipient's sessions: the one with `SEAL`, in both directions.
            let secret = SealSecret(p.seal);
            let found = [secret.keys(true), secret.keys(false)]
                .into_iter()
                .filter(|k| *k.label() == label)
                .find_map(|k| sealed::open_inner(&k, &enc, &at, &inner).ok());
            found
                .map(|_| ())
                .ok_or(crate::error::CryptoError::NoSession.into())
        }
    };
    Ok(match opened {
        Ok(()) => "ok".into(),
        Err(e) => error_name(&e),
    })
}
