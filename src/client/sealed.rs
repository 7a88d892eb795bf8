//! Sealed sender for pairwise messages (PROTOCOL.md §9.2): the session message and who sent it
//! travel inside a layer only the recipient device opens, so the relay sees neither. Three
//! forms, by the body's first byte:
//!
//! - `0x01`, a session's opening messages: HPKE over X-Wing to the recipient's signed sealing
//!   key from its bundle, so an adversary who records them and later breaks X25519 still
//!   faces ML-KEM-768;
//! - `0x02`, every later message: HPKE DHKEM(X25519) to the identity key, as the relay's
//!   hiding layer, around the session's label and an inner seal keyed from PQXDH's secret
//!   (the recipient finds the session by the label, with one index lookup);
//! - `0x00`, from a session set up before sealing keys, or a typing indicator to a device we
//!   hold no session with: the DHKEM layer alone, as before.
//!
//! The layer only hides; it does not authenticate the sender. The claimed sender is
//! authenticated by the inner session message: a prekey message by X3DH's DH(IK_A, SPK_B), any
//! later one by the session's keys, both bound to the claimed identity through the session's
//! associated data. A forged claim therefore fails to decrypt.
use rand::CryptoRng;
use serde::{Deserialize, Serialize};

use crate::access::AccessKey;
use crate::conversation::ConversationId;
use crate::crypto::sign::Signature;
use crate::crypto::x25519::PublicKey;
use crate::crypto::xwing;
use crate::envelope::{MailboxId, padding};
use crate::error::{DecodeError, Error};
use crate::hpke;
use crate::identity::{Identity, PublicIdentity};
use crate::session::{PrekeyOwner, SEAL_LABEL_LEN, SealKeys, Sealing};
use crate::wire::Wire;

pub(crate) const INFO: &[u8] = b"missive/v1/sealed-sender";
pub(crate) const OPENING_INFO: &[u8] = b"missive/v2/sealed-opening";
pub(crate) const SESSION_INFO: &[u8] = b"missive/v2/sealed-session";
const CLASSICAL: u8 = 0x00;
const OPENING: u8 = 0x01;
const SESSION: u8 = 0x02;

/// What a sealed body holds: a pairwise session message and who claims to have sent it, or a
/// typing indicator signed by the sender's identity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum SealedContent {
    /// A pairwise session message (postcard variant 0).
    Session {
        sender_user: Vec<u8>,
        sender_mailbox: MailboxId,
        sender_identity: PublicIdentity,
        /// The sender's contact key, for a recipient it lets write back.
        access: Option<AccessKey>,
        #[serde(with = "serde_bytes")]
        message: Vec<u8>,
    },
    /// A typing indicator (variant 1): ephemeral, so it takes no session step; the signature
    /// by the sender's identity key over [`typing_statement`] authenticates it.
    Typing {
        sender_mailbox: MailboxId,
        conversation: ConversationId,
        typing: bool,
        timestamp: u64,
        signature: Signature,
    },
    /// A pairwise session message from a device that is not its account's first (variant 2,
    /// PROTOCOL.md §12.6): `member` is the account's id, and a session's first messages carry
    /// the account's signed device list naming the device, so a reader who has not fetched
    /// it yet can check the device is the account's.
    DeviceSession {
        member: MailboxId,
        list: Option<serde_bytes::ByteBuf>,
        sender_user: Vec<u8>,
        sender_mailbox: MailboxId,
        sender_identity: PublicIdentity,
        access: Option<AccessKey>,
        #[serde(with = "serde_bytes")]
        message: Vec<u8>,
    },
    /// A typing indicator from a device that is not its account's first (variant 3): as
    /// [`SealedContent::Typing`], naming the account, signed by the device's identity.
    DeviceTyping {
        member: MailboxId,
        sender_mailbox: MailboxId,
        conversation: ConversationId,
        typing: bool,
        timestamp: u64,
        signature: Signature,
    },
}

impl SealedContent {
    /// The device that claims to have sealed it.
    pub(crate) fn sender_mailbox(&self) -> &MailboxId {
        match self {
            Self::Session { sender_mailbox, .. }
            | Self::Typing { sender_mailbox, .. }
            | Self::DeviceSession { sender_mailbox, .. }
            | Self::DeviceTyping { sender_mailbox, .. } => sender_mailbox,
        }
    }
}

/// `"missive/v1/typing" || recipient (16) || conversation (16) || typing (1) || u64_be(timestamp)`.
pub(crate) fn typing_statement(
    recipient: &MailboxId,
    conversation: &ConversationId,
    typing: bool,
    timestamp: u64,
) -> Vec<u8> {
    let mut out = b"missive/v1/typing".to_vec();
    out.extend_from_slice(&recipient.0);
    out.extend_from_slice(&conversation.0);
    out.push(u8::from(typing));
    out.extend_from_slice(&timestamp.to_be_bytes());
    out
}

impl Wire for SealedContent {
    const WHAT: &'static str = "sealed content";
    const VERSION: u8 = 1;
}

/// Seals `content` for device `recipient_mailbox` in the form `sealing` says:
///
/// ```text
/// 0x00 || enc (32)    || HPKE-DHKEM(identity key, "missive/v1/sealed-sender", aad, pad(content))
/// 0x01 || u32_be(id) || enc (1120)
///                     || HPKE-XWing(sealing key id, "missive/v2/sealed-opening", aad, pad(content))
/// 0x02 || enc (32)    || HPKE-DHKEM(identity key, "missive/v2/sealed-session", aad,
///                                   label (8) || inner(enc, aad, pad(content)))
/// ```
///
/// with `aad` the recipient's mailbox id (16).
pub(crate) fn seal<R: CryptoRng + ?Sized>(
    rng: &mut R,
    sealing: &Sealing<'_>,
    identity_key: &PublicKey,
    recipient_mailbox: &MailboxId,
    content: &SealedContent,
) -> Result<Vec<u8>, Error> {
    let padded = padded(content)?;
    let aad = &recipient_mailbox.0;
    let base = hpke::SenderMode::Base;
    match sealing {
        Sealing::Opening(key) => {
            let (enc, mut ctx) = hpke::xwing::setup_sender(rng, base, key.key(), OPENING_INFO)?;
            opening_body(key.id(), &enc, &mut ctx, aad, &padded)
        }
        Sealing::Session(keys) => {
            let (enc, mut ctx) = hpke::setup_sender(rng, base, identity_key, SESSION_INFO)?;
            session_body(keys, &enc, &mut ctx, aad, &padded)
        }
        Sealing::Classical => {
            let (enc, mut ctx) = hpke::setup_sender(rng, base, identity_key, INFO)?;
            classical_body(&enc, &mut ctx, aad, &padded)
        }
    }
}

/// `pad(0x01 || postcard(content))`: what every form seals.
pub(crate) fn padded(content: &SealedContent) -> Result<Vec<u8>, Error> {
    let mut padded = Vec::new();
    padding::pad_into(&content.to_wire(), &mut padded)?;
    Ok(padded)
}

/// Form 0x01 around an X-Wing HPKE context to the sealing key of generation `id`.
pub(crate) fn opening_body(
    id: u32,
    enc: &xwing::Ciphertext,
    ctx: &mut hpke::SenderContext,
    aad: &[u8],
    padded: &[u8],
) -> Result<Vec<u8>, Error> {
    let ct = ctx.seal(aad, padded)?;
    let mut out = Vec::with_capacity(5 + xwing::CIPHERTEXT_LEN + ct.len());
    out.push(OPENING);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(enc.as_bytes());
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Form 0x02 around a DHKEM HPKE context to the identity key (`SESSION_INFO`).
pub(crate) fn session_body(
    keys: &SealKeys,
    enc: &hpke::Enc,
    ctx: &mut hpke::SenderContext,
    aad: &[u8],
    padded: &[u8],
) -> Result<Vec<u8>, Error> {
    let mut inner = keys.label().to_vec();
    inner.extend_from_slice(&keys.seal(enc.as_bytes(), aad, padded));
    let ct = ctx.seal(aad, &inner)?;
    Ok(framed(SESSION, enc.as_bytes(), &ct))
}

/// Form 0x00 around a DHKEM HPKE context to the identity key (`INFO`).
pub(crate) fn classical_body(
    enc: &hpke::Enc,
    ctx: &mut hpke::SenderContext,
    aad: &[u8],
    padded: &[u8],
) -> Result<Vec<u8>, Error> {
    let ct = ctx.seal(aad, padded)?;
    Ok(framed(CLASSICAL, enc.as_bytes(), &ct))
}

fn framed(form: u8, enc: &[u8], ct: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + enc.len() + ct.len());
    out.push(form);
    out.extend_from_slice(enc);
    out.extend_from_slice(ct);
    out
}

/// What the outer layer of a sealed body held.
pub(crate) enum Opened {
    /// The content itself (forms 0x00 and 0x01).
    Content(Box<SealedContent>),
    /// A session's label and inner seal (form 0x02): the session opens the rest.
    Session {
        label: [u8; SEAL_LABEL_LEN],
        enc: [u8; 32],
        inner: Vec<u8>,
    },
}

/// Opens the outer layer of a sealed message addressed to `me` at `my_mailbox`: `None` when it
/// is not sealed to us (no layer opens: it may be a lead answer, or not ours at all),
/// `Some(Err)` when it is but what it holds is malformed.
pub(crate) fn try_open(
    identity: &Identity,
    prekeys: &PrekeyOwner,
    my_mailbox: &MailboxId,
    body: &[u8],
) -> Option<Result<Opened, Error>> {
    try_open_with(
        identity,
        &|id| prekeys.sealing_secret(id).ok(),
        my_mailbox,
        body,
    )
}

/// [`try_open`] with the sealing secret of a generation looked up by `sealing`.
pub(crate) fn try_open_with<'a>(
    identity: &Identity,
    sealing: &dyn Fn(u32) -> Option<&'a xwing::SecretKey>,
    my_mailbox: &MailboxId,
    body: &[u8],
) -> Option<Result<Opened, Error>> {
    let (&form, rest) = body.split_first()?;
    let aad = &my_mailbox.0;
    match form {
        CLASSICAL => {
            let (enc, ct) = rest.split_at_checked(32)?;
            let enc = hpke::Enc::from_bytes(enc).ok()?;
            let padded = hpke::open_base(&enc, &identity.hpke_key(), INFO, aad, ct).ok()?;
            Some(content(&padded).map(|c| Opened::Content(Box::new(c))))
        }
        OPENING => {
            let (id, rest) = rest.split_first_chunk::<4>()?;
            let (enc, ct) = rest.split_at_checked(xwing::CIPHERTEXT_LEN)?;
            let enc = xwing::Ciphertext::from_bytes(enc).ok()?;
            let key = sealing(u32::from_be_bytes(*id))?;
            let padded = hpke::xwing::open_base(&enc, key, OPENING_INFO, aad, ct).ok()?;
            Some(content(&padded).map(|c| Opened::Content(Box::new(c))))
        }
        SESSION => {
            let (enc, ct) = rest.split_first_chunk::<32>()?;
            let hpke_enc = hpke::Enc::from_bytes(enc).ok()?;
            let plain = hpke::open_base(&hpke_enc, &identity.hpke_key(), SESSION_INFO, aad, ct);
            let plain = plain.ok()?;
            let Some((label, inner)) = plain.split_first_chunk::<SEAL_LABEL_LEN>() else {
                return Some(Err(DecodeError::Truncated {
                    what: "sealed session layer",
                }
                .into()));
            };
            Some(Ok(Opened::Session {
                label: *label,
                enc: *enc,
                inner: inner.to_vec(),
            }))
        }
        _ => None,
    }
}

/// Opens a form 0x02 inner seal with the keys of the session its label named.
pub(crate) fn open_inner(
    keys: &SealKeys,
    enc: &[u8; 32],
    my_mailbox: &MailboxId,
    inner: &[u8],
) -> Result<SealedContent, Error> {
    let padded = keys.open(enc, &my_mailbox.0, inner)?;
    content(&padded)
}

fn content(padded: &[u8]) -> Result<SealedContent, Error> {
    let content = padding::unpad(padded)?;
    Ok(SealedContent::from_wire(content)?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::panic)]

    use super::*;
    use crate::session::{Session, SessionMessage};

    struct Pair {
        alice: Identity,
        bob: Identity,
        owner: PrekeyOwner,
        a: Session,
        b: Session,
        first: SessionMessage,
    }

    /// Alice's session with Bob, answered; `first` her opening message.
    fn pair() -> Pair {
        let mut rng = rand::rng();
        let (alice, bob) = (Identity::generate(&mut rng), Identity::generate(&mut rng));
        let mut owner = PrekeyOwner::new(&mut rng, &bob);
        let bundle = owner.bundle(None).unwrap().verify().unwrap();
        let mut a = Session::initiate(&mut rng, &alice, &bundle).unwrap();
        let first = a.encrypt(&mut rng, b"hi").unwrap();
        let (mut b, _) = Session::respond(&bob, &mut owner, &first).unwrap();
        a.decrypt(&b.encrypt(&mut rng, b"hello").unwrap()).unwrap();
        Pair {
            alice,
            bob,
            owner,
            a,
            b,
            first,
        }
    }

    fn from(who: &Identity, message: &SessionMessage) -> SealedContent {
        SealedContent::Session {
            sender_user: b"alice".to_vec(),
            sender_mailbox: MailboxId([0xa1; 16]),
            sender_identity: *who.public(),
            access: None,
            message: message.to_bytes(),
        }
    }

    const BOB: MailboxId = MailboxId([0xb0; 16]);

    #[test]
    fn an_adversary_who_breaks_x25519_learns_only_a_label_from_a_later_message() {
        let mut rng = rand::rng();
        let p = pair();
        let content = from(&p.alice, &p.first);
        let sealing = p.a.sealing();
        assert!(matches!(sealing, Sealing::Session(_)));
        let body = seal(&mut rng, &sealing, p.bob.public().dh_key(), &BOB, &content).unwrap();
        // The form, enc, the label, the padded content and two tags: 41 bytes more than the
        // classical form (below).
        let padded = padding::bucket(content.to_wire().len());
        assert_eq!(body.len(), 1 + 32 + 8 + padded + 16 + 16);
        // Bob's identity secret opens the outer layer (as an adversary who recovers it from
        // the public key would): a label and an inner seal, nothing that names Alice.
        let Some(Ok(Opened::Session { label, enc, inner })) =
            try_open(&p.bob, &p.owner, &BOB, &body)
        else {
            panic!("the outer layer opens with the identity key")
        };
        assert_eq!(label, *p.b.peer_seal_keys().unwrap().label());
        let alice_key = p.alice.public().dh_key().as_bytes();
        assert!(!inner.windows(32).any(|w| w == alice_key));
        // The inner seal needs the session's keys: Bob's open it, any other session's do not,
        // nor Bob's own sending keys (the other direction).
        assert_eq!(
            open_inner(&p.b.peer_seal_keys().unwrap(), &enc, &BOB, &inner).unwrap(),
            content
        );
        let other = pair();
        let wrong = other.b.peer_seal_keys().unwrap();
        assert!(open_inner(&wrong, &enc, &BOB, &inner).is_err());
        let Sealing::Session(own) = p.b.sealing() else {
            panic!("Bob seals within the session")
        };
        assert!(open_inner(&own, &enc, &BOB, &inner).is_err());
        // Bound to the mailbox and to this message's enc.
        let mut other_enc = enc;
        other_enc[0] ^= 1;
        assert!(open_inner(&p.b.peer_seal_keys().unwrap(), &other_enc, &BOB, &inner).is_err());
        let eve = MailboxId([0xee; 16]);
        assert!(open_inner(&p.b.peer_seal_keys().unwrap(), &enc, &eve, &inner).is_err());
        // The classical form, by contrast, hands that adversary the sender's identity.
        let classical = seal(
            &mut rng,
            &Sealing::Classical,
            p.bob.public().dh_key(),
            &BOB,
            &content,
        );
        let classical = classical.unwrap();
        assert_eq!(classical.len(), 1 + 32 + padded + 16);
        let Some(Ok(Opened::Content(opened))) = try_open(&p.bob, &p.owner, &BOB, &classical) else {
            panic!("the classical form opens with the identity key alone")
        };
        assert_eq!(*opened, content);
    }

    #[test]
    fn an_opening_message_needs_the_sealing_key_of_its_generation() {
        let mut rng = rand::rng();
        let mut p = pair();
        let bundle = p.owner.bundle(None).unwrap();
        let key = bundle.sealing_key();
        let content = from(&p.alice, &p.first);
        let opening = Sealing::Opening(key);
        let body = seal(&mut rng, &opening, p.bob.public().dh_key(), &BOB, &content).unwrap();
        let padded = padding::bucket(content.to_wire().len());
        assert_eq!(body.len(), 5 + xwing::CIPHERTEXT_LEN + padded + 16);
        let Some(Ok(Opened::Content(opened))) = try_open(&p.bob, &p.owner, &BOB, &body) else {
            panic!("Bob opens it")
        };
        assert_eq!(*opened, content);
        // Not at another mailbox, not by another owner of the same identity, not once
        // generation 0 is rotated out (two rotations), not with another generation named.
        assert!(try_open(&p.bob, &p.owner, &MailboxId([0xee; 16]), &body).is_none());
        let stranger = PrekeyOwner::new(&mut rng, &p.bob);
        assert!(try_open(&p.bob, &stranger, &BOB, &body).is_none());
        let mut renamed = body.clone();
        renamed[4] = 1;
        p.owner.rotate(&mut rng, &p.bob).unwrap();
        assert!(try_open(&p.bob, &p.owner, &BOB, &renamed).is_none());
        assert!(try_open(&p.bob, &p.owner, &BOB, &body).is_some());
        p.owner.rotate(&mut rng, &p.bob).unwrap();
        assert!(try_open(&p.bob, &p.owner, &BOB, &body).is_none());
    }

    #[test]
    fn every_form_altered_anywhere_opens_nothing() {
        let mut rng = rand::rng();
        let p = pair();
        let bundle = p.owner.bundle(None).unwrap();
        let content = from(&p.alice, &p.first);
        let identity_key = p.bob.public().dh_key();
        let forms = [
            Sealing::Classical,
            Sealing::Opening(bundle.sealing_key()),
            p.a.sealing(),
        ];
        for sealing in &forms {
            let body = seal(&mut rng, sealing, identity_key, &BOB, &content).unwrap();
            let keys = p.b.peer_seal_keys().unwrap();
            let opens = |b: &[u8]| match try_open(&p.bob, &p.owner, &BOB, b) {
                None | Some(Err(_)) => false,
                Some(Ok(Opened::Content(c))) => *c == content,
                Some(Ok(Opened::Session { label, enc, inner })) => {
                    label == *keys.label() && open_inner(&keys, &enc, &BOB, &inner).is_ok()
                }
            };
            assert!(opens(&body));
            // The form byte, and a sample of every other region (an X-Wing body is long).
            let step = if body.len() > 600 { 7 } else { 1 };
            for i in (0..body.len()).step_by(step) {
                let mut altered = body.clone();
                altered[i] ^= 0x01;
                assert!(!opens(&altered), "byte {i} of form {}", body[0]);
            }
            assert!(!opens(&body[..body.len() - 1]));
            assert!(try_open(&p.bob, &p.owner, &BOB, &[]).is_none());
        }
    }
}
