//! Sealed sender for pairwise messages (PROTOCOL.md §9.2): the session message and who sent it
//! travel inside HPKE to the recipient's identity key, so the relay sees neither.
//!
//! The outer layer only hides; it does not authenticate the sender. The claimed sender is
//! authenticated by the inner session message: a prekey message by X3DH's DH(IK_A, SPK_B), any
//! later one by the session's keys, both bound to the claimed identity through the session's
//! associated data. A forged claim therefore fails to decrypt.

use rand::CryptoRng;
use serde::{Deserialize, Serialize};

use crate::access::AccessKey;
use crate::conversation::ConversationId;
use crate::crypto::sign::Signature;
use crate::crypto::x25519::PublicKey;
use crate::envelope::{MailboxId, padding};
use crate::error::Error;
use crate::hpke;
use crate::identity::{Identity, PublicIdentity};
use crate::wire::Wire;

const INFO: &[u8] = b"missive/v1/sealed-sender";

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

/// `enc (32) || HPKE-Seal(pkR = recipient identity key, info, aad = recipient mailbox, pad(content))`.
pub(crate) fn seal<R: CryptoRng + ?Sized>(
    rng: &mut R,
    recipient: &PublicKey,
    recipient_mailbox: &MailboxId,
    content: &SealedContent,
) -> Result<Vec<u8>, Error> {
    let mut padded = Vec::new();
    padding::pad_into(&content.to_wire(), &mut padded)?;
    let (enc, ct) = hpke::seal_base(rng, recipient, INFO, &recipient_mailbox.0, &padded)?;
    let mut out = Vec::with_capacity(32 + ct.len());
    out.extend_from_slice(enc.as_bytes());
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Opens a sealed message addressed to `me` at `my_mailbox`: `None` when it is not sealed to
/// us (the HPKE layer does not open), `Some(Err)` when it is but its content is malformed.
pub(crate) fn try_open(
    identity: &Identity,
    my_mailbox: &MailboxId,
    body: &[u8],
) -> Option<Result<SealedContent, Error>> {
    let (enc, ct) = body.split_at_checked(32)?;
    let enc = hpke::Enc::from_bytes(enc).ok()?;
    let padded = hpke::open_base(&enc, &identity.hpke_key(), INFO, &my_mailbox.0, ct).ok()?;
    Some(content(&padded))
}

fn content(padded: &[u8]) -> Result<SealedContent, Error> {
    let content = padding::unpad(padded)?;
    Ok(SealedContent::from_wire(content)?)
}
