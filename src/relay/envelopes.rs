//! What the relay does with an envelope: check it, split it for storage (the body once, a part
//! per mailbox), and rebuild each mailbox's [`Delivery`] when it is fetched. It reads only the
//! outer envelope; the body is ciphertext it cannot open.

use serde::{Deserialize, Serialize};

use super::access::{AccessBook, Admission, Checker};
use super::devices;
use super::hub::Frame;
use super::refusal::Refusal;
use super::server::{blocking, malformed};
use super::state::RelayState;
use super::store::{self, NewDelivery, StoreError};
use crate::access::{Credential, Submission};
use crate::envelope::{Delivery, Envelope, EnvelopeId, KeyPart, MailboxId};
use crate::error::DecodeError;
use crate::relay_api::{DeliveredEnvelope, PassedDelivery, PassedPart};
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
pub(crate) async fn accept(
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
        let mailboxes: Vec<MailboxId> = parts.iter().map(|(m, _)| *m).collect();
        let listed = match &submission.credential {
            Credential::Member(paid) if !ephemeral => account_devices(state, &paid.user).await?,
            _ => Vec::new(),
        };
        read_access(state, &[mailboxes.as_slice(), &listed].concat()).await?;
        let checker = Checker {
            book: &state.access,
            issuer: &state.issuer,
            open: &state.open,
            listed: &listed,
            now,
        };
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

/// The mailboxes account `user` lists as its devices (PROTOCOL.md §12.5), or its own entry's
/// while it has published no list; none for a name no one holds.
async fn account_devices(state: &RelayState, user: &[u8]) -> Result<Vec<MailboxId>, Refusal> {
    crate::name::check(user).map_err(|_| malformed("member token account name"))?;
    let user = user.to_vec();
    let listed = blocking(state, move |s| {
        if let Some(list) = devices::listed(s, &user)? {
            return Ok(list.devices().iter().map(|d| d.mailbox).collect());
        }
        match s.fetch_prekeys(&user, false) {
            Ok(found) => Ok(vec![found.mailbox]),
            Err(StoreError::UnknownUser) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    })
    .await?;
    Ok(listed)
}

/// Reads into the access book the records of `mailboxes` it does not hold.
async fn read_access(state: &RelayState, mailboxes: &[MailboxId]) -> Result<(), Refusal> {
    read_missing(&state.access, mailboxes, |asked| {
        blocking(state, move |s| s.access_records(&asked))
    })
    .await
}

/// Reads with `read` the records of those of `mailboxes` not in `book`. A mailbox whose record
/// changed while it was read is read again (twice more at most; then the check finds it
/// missing and refuses, and the sender retries).
async fn read_missing<F, Fut>(
    book: &AccessBook,
    mailboxes: &[MailboxId],
    mut read: F,
) -> Result<(), Refusal>
where
    F: FnMut(Vec<MailboxId>) -> Fut,
    Fut: Future<Output = Result<Vec<(MailboxId, Vec<u8>)>, StoreError>>,
{
    for _ in 0..3 {
        let (missing, since) = book.missing(mailboxes);
        if missing.is_empty() {
            break;
        }
        let found = read(missing.clone()).await?;
        if book.fill(&missing, found, since) == 0 {
            break;
        }
    }
    Ok(())
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

/// `d` encoded for the other relays sharing the store, in as many pieces as keep each within
/// `max` bytes (a piece carries the body and some of the parts); none if even one part with
/// the body is over (such an ephemeral delivery reaches this relay's sockets only).
pub(crate) fn passed(d: &NewDelivery, received_at: u64, max: usize) -> Vec<Vec<u8>> {
    let piece = |parts: &[(MailboxId, Vec<u8>)]| {
        PassedDelivery {
            id: d.id,
            expires_at: d.expires_at,
            received_at,
            body: d.body.clone(),
            parts: parts
                .iter()
                .map(|(mailbox, part)| PassedPart {
                    mailbox: *mailbox,
                    part: part.clone(),
                })
                .collect(),
        }
        .to_bytes()
    };
    let mut pieces = Vec::new();
    let mut rest = d.parts.as_slice();
    while !rest.is_empty() {
        // The most parts that fit, by halving: a handful of encodings per piece.
        let mut take = rest.len();
        let mut bytes = piece(rest);
        while bytes.len() > max && take > 1 {
            take = take.div_ceil(2);
            bytes = piece(&rest[..take]);
        }
        if bytes.len() > max {
            return Vec::new();
        }
        pieces.push(bytes);
        rest = &rest[take..];
    }
    pieces
}

/// The frames to push for an ephemeral delivery another relay passed on, to the mailboxes
/// `connected` says have a live connection here.
pub(crate) fn passed_frames(
    bytes: &[u8],
    connected: impl Fn(&MailboxId) -> bool,
) -> Result<Vec<(MailboxId, Frame)>, DecodeError> {
    let passed = PassedDelivery::from_bytes(bytes)?;
    let d = NewDelivery {
        id: passed.id,
        body: passed.body,
        parts: passed
            .parts
            .into_iter()
            .map(|p| (p.mailbox, p.part))
            .collect(),
        expires_at: passed.expires_at,
        spend: None,
    };
    Ok(push_frames(&d, passed.received_at, connected))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::access::AccessKey;
    use crate::relay::access::record_with_contact;

    fn delivery(parts: usize, body: usize) -> NewDelivery {
        let mailboxes: Vec<MailboxId> = (0..parts)
            .map(|i| MailboxId([u8::try_from(i).unwrap(); 16]))
            .collect();
        let envelope = Envelope::to_mailboxes(4_000_000_000, &mailboxes, &vec![9; body])
            .unwrap()
            .remove(0);
        let shared = SharedRef {
            cohort: &envelope.cohort(),
            body: envelope.body(),
        };
        NewDelivery {
            id: envelope.id().0,
            body: shared.to_wire(),
            parts: envelope
                .parts()
                .into_iter()
                .map(|(m, p)| (m, part_bytes(p.as_ref())))
                .collect(),
            expires_at: 4_000_000_000,
            spend: None,
        }
    }

    #[test]
    fn a_large_cohort_is_passed_in_pieces_that_fit_and_rebuild_every_frame() {
        let d = delivery(50, 300);
        let whole = passed(&d, 7, usize::MAX);
        assert_eq!(whole.len(), 1);
        let max = 1_000;
        let pieces = passed(&d, 7, max);
        assert!(pieces.len() > 1, "{} bytes in one piece", whole[0].len());
        let mut frames = Vec::new();
        for piece in &pieces {
            assert!(piece.len() <= max, "{} > {max}", piece.len());
            frames.extend(passed_frames(piece, |_| true).unwrap());
        }
        // Exactly the frames the accepting relay would push itself, each once.
        assert_eq!(frames, push_frames(&d, 7, |_| true));
        // Only to the mailboxes connected here.
        let first = d.parts[0].0;
        let here = passed_frames(&whole[0], |m| *m == first).unwrap();
        assert_eq!(here.len(), 1);
        assert_eq!(here[0].0, first);
    }

    #[tokio::test]
    async fn a_record_changed_while_it_was_read_is_read_again() {
        let book = AccessBook::new(10);
        let m = MailboxId([4; 16]);
        let (old, new) = (record_with_contact([1; 16]), record_with_contact([2; 16]));
        let mut reads = 0;
        read_missing(&book, &[m], |asked| {
            reads += 1;
            assert_eq!(asked, [m]);
            // The first read races a change another relay wrote, which is followed here.
            let found = if reads == 1 {
                book.apply(vec![(m, new.clone())]);
                old.clone()
            } else {
                new.clone()
            };
            std::future::ready(Ok(vec![(m, found)]))
        })
        .await
        .unwrap();
        assert_eq!(reads, 2);
        assert!(book.missing(&[m]).0.is_empty());
        assert_eq!(book.contact(&m), Some(AccessKey::from_bytes([2; 16])));
        // What is cached is not read again.
        read_missing(&book, &[m], |_| -> std::future::Ready<_> { panic!("read") })
            .await
            .unwrap();
    }

    #[test]
    fn a_delivery_whose_body_alone_is_over_the_bound_is_not_passed() {
        let d = delivery(1, 2_000);
        assert!(passed(&d, 7, 1_000).is_empty());
        assert_eq!(passed(&d, 7, 4_000).len(), 1);
        // Exactly at the bound is within it, for one part and for many.
        for d in [delivery(1, 2_000), delivery(50, 300)] {
            let size = passed(&d, 7, usize::MAX)[0].len();
            assert_eq!(passed(&d, 7, size).len(), 1, "{size} bytes");
            assert_eq!(
                passed(&d, 7, size - 1).len(),
                usize::from(d.parts.len() > 1) * 2
            );
        }
        assert!(passed_frames(&[1, 2, 3], |_| true).is_err());
    }
}
