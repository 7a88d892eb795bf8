//! The relay's bodies an app reads and writes around the client's calls (PROTOCOL.md §8.3):
//! the app does the HTTP; these decode what the relay answered, strictly, and encode what it
//! posts.

use missive::relay_api::{Ack, DeliveredEnvelope, DeliveryPage, PrekeyStock, Undelivered};

use crate::error::{MissiveError, argument};

/// One stored delivery of `GET /v1/mailbox`: pass `delivery` to `MissiveClient.receive`,
/// then acknowledge `id`.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Delivered {
    pub id: Vec<u8>,
    pub seq: u64,
    pub received_at: u64,
    pub delivery: Vec<u8>,
}

/// The deliveries of a `GET /v1/mailbox` answer (or a WebSocket frame's), oldest first.
#[uniffi::export]
pub fn delivery_page(body: Vec<u8>) -> Result<Vec<Delivered>, MissiveError> {
    let page = DeliveryPage::from_bytes(&body)?;
    Ok(page
        .deliveries
        .into_iter()
        .map(|d| Delivered {
            id: d.id.to_vec(),
            seq: d.seq,
            received_at: d.received_at,
            delivery: d.delivery,
        })
        .collect())
}

/// The body of `POST /v1/mailbox/ack` for deliveries stored safely (their 16-byte ids).
#[uniffi::export]
pub fn ack_body(ids: Vec<Vec<u8>>) -> Result<Vec<u8>, MissiveError> {
    let ids = ids
        .iter()
        .map(|id| {
            <[u8; 16]>::try_from(id.as_slice()).map_err(|_| argument("an envelope id is 16 bytes"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Ack { ids }.to_bytes())
}

/// The recipients a `202` answer to a submission names as not reached yet (empty body: all
/// were).
#[uniffi::export]
pub fn undelivered(body: Vec<u8>) -> Result<Vec<Vec<u8>>, MissiveError> {
    if body.is_empty() {
        return Ok(Vec::new());
    }
    let missed = Undelivered::from_bytes(&body)?;
    Ok(missed.mailboxes.iter().map(|m| m.0.to_vec()).collect())
}

/// One-time prekeys left, from `GET /v1/directory/{user hex}/stock`.
#[uniffi::export]
pub fn prekey_stock(body: Vec<u8>) -> Result<u32, MissiveError> {
    Ok(PrekeyStock::from_bytes(&body)?.one_time)
}

/// The directory path of `user`: `/v1/directory/{user hex}`.
#[uniffi::export]
pub fn directory_path(user: Vec<u8>) -> String {
    let hex: String = user.iter().map(|b| format!("{b:02x}")).collect();
    format!("/v1/directory/{hex}")
}

/// One mailbox's part of an envelope, as a relay hands it over.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Addressed {
    pub mailbox: Vec<u8>,
    pub delivery: Vec<u8>,
}

/// What a relay hands each mailbox an envelope (`Outgoing.envelope`) names: for tools and
/// tests that carry envelopes between clients without a relay (a loopback in one process, the
/// boundary's benchmark). An app talking to a relay never needs it.
#[uniffi::export]
pub fn split_envelope(envelope: Vec<u8>) -> Result<Vec<Addressed>, MissiveError> {
    Ok(missive::envelope::split(&envelope)?
        .iter()
        .map(|d| Addressed {
            mailbox: d.mailbox().0.to_vec(),
            delivery: d.to_bytes(),
        })
        .collect())
}

/// The device directory path of `user`: `/v1/directory/{user hex}/devices` (`PUT` our
/// account's list, `GET` a contact's devices).
#[uniffi::export]
pub fn devices_path(user: Vec<u8>) -> String {
    format!("{}/devices", directory_path(user))
}

/// One frame the mailbox's WebSocket pushes (`GET /v1/mailbox/ws`): a single delivery.
#[uniffi::export]
pub fn delivered_frame(frame: Vec<u8>) -> Result<Delivered, MissiveError> {
    let d = DeliveredEnvelope::from_bytes(&frame)?;
    Ok(Delivered {
        id: d.id.to_vec(),
        seq: d.seq,
        received_at: d.received_at,
        delivery: d.delivery,
    })
}
