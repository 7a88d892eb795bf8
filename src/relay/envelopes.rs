//! What the relay does with an envelope: check it, split it for storage (the body once, a part
//! per mailbox), and rebuild each mailbox's [`Delivery`] when it is fetched. It reads only the
//! outer envelope; the body is ciphertext it cannot open.

use serde::{Deserialize, Serialize};

use super::access::{Admission, Checker};
use super::hub::Frame;
use super::refusal::Refusal;
use super::state::RelayState;
use super::store::{self, NewDelivery};
use crate::access::Submission;
use crate::envelope::{Delivery, Envelope, EnvelopeId, KeyPart, MailboxId};
use crate::error::DecodeError;
use crate::relay_api::DeliveredEnvelope;
use crate::wire::{self, Wire};

/// The part of a split envelope that every mailbox shares, as the relay stores it.
#[derive(Serialize, Deserialize)]
struct Shared {
    cohort: Vec<MailboxId>,
    #[serde(with = "serde_bytes")]
    body: Vec<u8>,
}

impl Wire for Shared {
    const WHAT: &'static str = "stored envelope body";
    const VERSION: u8 = 1;
}

/// [`Shared`] borrowing the envelope, so accepting one copies its body once, into storage.
#[derive(Serialize)]
struct SharedRef<'a> {
    cohort: &'a [MailboxId],
    #[serde(with = "serde_bytes")]
    body: &'a [u8],
}

impl SharedRef<'_> {
    fn to_wire(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + 16 * self.cohort.len() + 8);
        out.push(Shared::VERSION);
        wire::encode_into(self, &mut out);
        out
    }
}

/// What accepting a submission gives: the delivery to store (none when every recipient of a
/// sponsored message switched them off), and the recipients the credential did not reach.
pub(crate) struct Accepted {
    pub(crate) delivery: Option<NewDelivery>,
    pub(crate) denied: Vec<MailboxId>,
}

/// Checks a submission against the relay's limits and its credential against the
/// recipients, and splits the envelope for storage.
pub(crate) fn accept(
    state: &RelayState,
    bytes: &[u8],
    now: u64,
    ephemeral: bool,
) -> Result<Accepted, Refusal> {
    let config = &state.config;
    if bytes.len() > config.max_envelope_bytes {
        return Err(Refusal::TooLarge);
    }
    let submission = Submission::from_bytes(bytes)?;
    let envelope = Envelope::from_bytes(&submission.envelope)?;
    let parts = envelope.parts();
    if parts.len() > config.max_recipients {
        return Err(Refusal::TooManyRecipients);
    }
    if envelope.expiry() <= now {
        return Err(DecodeError::Invalid {
            what: "envelope expiry",
        }
        .into());
    }
    let admission = if config.check_access {
        let checker = Checker {
            book: &state.access,
            issuer: &state.issuer,
            open: &state.open,
            now,
        };
        let mailboxes: Vec<MailboxId> = parts.iter().map(|(m, _)| *m).collect();
        checker.check(&submission.credential, &mailboxes, ephemeral)?
    } else {
        Admission::default()
    };
    let parts: Vec<_> = parts
        .into_iter()
        .filter(|(m, _)| !admission.skip.contains(m))
        .collect();
    let denied = admission.denied;
    if parts.is_empty() {
        return Ok(Accepted {
            delivery: None,
            denied,
        });
    }
    let shared = SharedRef {
        cohort: &envelope.cohort(),
        body: envelope.body(),
    };
    let delivery = Some(NewDelivery {
        id: envelope.id().0,
        body: shared.to_wire(),
        parts: parts
            .into_iter()
            .map(|(m, p)| (m, part_bytes(p.as_ref())))
            .collect(),
        expires_at: envelope.expiry().min(now.saturating_add(config.max_ttl)),
        spend: admission.spend,
    });
    Ok(Accepted { delivery, denied })
}

fn part_bytes(part: Option<&KeyPart>) -> Vec<u8> {
    let mut out = Vec::new();
    if let Some(p) = part {
        wire::encode_into(p, &mut out);
    }
    out
}

/// The delivery a mailbox receives, rebuilt from what was stored.
fn rebuild(
    id: &store::EnvelopeId,
    expires_at: u64,
    mailbox: &MailboxId,
    shared: &[u8],
    part: &[u8],
) -> Result<Delivery, DecodeError> {
    let shared = Shared::from_wire(shared)?;
    let part = if part.is_empty() {
        None
    } else {
        Some(wire::decode_body::<KeyPart>(part, "stored key part")?)
    };
    Delivery::new(
        EnvelopeId(*id),
        expires_at,
        *mailbox,
        part,
        shared.cohort,
        shared.body,
    )
}

/// A stored delivery as the mailbox owner receives it.
pub(crate) fn delivered(
    d: &store::Delivery,
    mailbox: &MailboxId,
) -> Result<DeliveredEnvelope, Refusal> {
    let delivery = rebuild(&d.id, d.expires_at, mailbox, &d.body, &d.part).map_err(|e| {
        tracing::error!(error = %e, "stored envelope does not decode");
        Refusal::Unavailable
    })?;
    Ok(DeliveredEnvelope {
        id: d.id,
        seq: d.seq,
        received_at: d.received_at,
        delivery: delivery.to_bytes(),
    })
}

/// The frames to push for a just-accepted envelope, to those of its mailboxes `connected`
/// says have a live connection (building a frame copies the body, so only for those).
pub(crate) fn push_frames(
    d: &NewDelivery,
    now: u64,
    connected: impl Fn(&MailboxId) -> bool,
) -> Vec<(MailboxId, Frame)> {
    d.parts
        .iter()
        .filter(|(mailbox, _)| connected(mailbox))
        .filter_map(|(mailbox, part)| {
            let delivery = rebuild(&d.id, d.expires_at, mailbox, &d.body, part).ok()?;
            let frame = DeliveredEnvelope {
                id: d.id,
                seq: 0,
                received_at: now,
                delivery: delivery.to_bytes(),
            };
            Some((*mailbox, Frame::from(frame.to_bytes())))
        })
        .collect()
}
