//! The relay's request and response bodies. They live in the engine, not behind the `relay`
//! feature, because clients build and read them; the engine still does no I/O.
//!
//! Each is a wire structure (PROTOCOL.md §1, §8): `version || postcard(body)`, strictly parsed.

use serde::{Deserialize, Serialize};

use crate::error::DecodeError;
use crate::mailbox::MailboxId;
use crate::platform::{AccountCertificate, CreditPurchase};
use crate::token::{IssuerPublicKey, TokenRequest, TokenResponse};
use crate::wire::Wire;

/// `PUT /v1/directory/{user}`: publish a bundle and top up one-time prekeys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishPrekeys {
    /// The encoded prekey bundle (identity, signed prekey, last-resort prekey). Opaque to the relay.
    #[serde(with = "serde_bytes")]
    pub bundle: Vec<u8>,
    /// One-time prekeys: id and encoded public key. Opaque to the relay.
    pub one_time: Vec<OneTimePrekey>,
}

/// One published one-time prekey.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OneTimePrekey {
    /// The owner's id for the key.
    pub id: u32,
    /// The encoded public key.
    #[serde(with = "serde_bytes")]
    pub key: Vec<u8>,
}

/// `GET /v1/directory/{user}`: where to deliver, and what to set up a session with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrekeyResponse {
    /// The user's mailbox.
    pub mailbox: MailboxId,
    /// The published bundle.
    #[serde(with = "serde_bytes")]
    pub bundle: Vec<u8>,
    /// A one-time prekey nobody else was given, or none when they ran out.
    pub one_time: Option<OneTimePrekey>,
}

/// `GET /v1/directory/{user}/devices`: the account's signed device list as its devices
/// published it, and the prekeys of each listed device that published a bundle (each with a
/// one-time prekey nobody else was given, while they last). Trust nothing in it before the
/// list verifies under the account's identity (PROTOCOL.md §12.2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceDirectory {
    /// The `SignedDeviceList`.
    #[serde(with = "serde_bytes")]
    pub list: Vec<u8>,
    /// One answer per listed device with a bundle, in the list's order.
    pub devices: Vec<PrekeyResponse>,
}

/// `GET /v1/directory/{user}/stock` (authenticated by the name's owner): how many one-time
/// prekeys are left to hand out, so the owner publishes more before they run out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrekeyStock {
    /// One-time prekeys left.
    pub one_time: u32,
}

/// One stored envelope as its mailbox owner receives it (over HTTP or WebSocket).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveredEnvelope {
    /// Envelope id, for acknowledgement and duplicate suppression.
    pub id: [u8; 16],
    /// Position in the mailbox; fetch pages with it. Pushed frames carry 0.
    pub seq: u64,
    /// Unix seconds when the relay accepted it.
    pub received_at: u64,
    /// The encoded [`crate::envelope::Delivery`] for this mailbox.
    #[serde(with = "serde_bytes")]
    pub delivery: Vec<u8>,
}

/// `GET /v1/mailbox`: a page of deliveries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryPage {
    /// Oldest first.
    pub deliveries: Vec<DeliveredEnvelope>,
}

/// `POST /v1/mailbox/ack`: envelopes the owner has safely stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// Envelope ids.
    pub ids: Vec<[u8; 16]>,
}

/// `POST /v1/tokens` (authenticated by the mailbox): blinded token inputs to evaluate,
/// with the platform's certificate of the account they count against.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenIssue {
    /// The account; its mailbox must be the one the request is authenticated by.
    pub account: AccountCertificate,
    /// What to evaluate.
    pub request: TokenRequest,
    /// Credits bought from the platform: the request is for credit tokens counted against
    /// this purchase instead of the monthly quota.
    pub purchase: Option<CreditPurchase>,
}

/// The answer to [`TokenIssue`]: the evaluations, proven to be under `key`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenIssued {
    /// The issuer's public key for the request's kind and period (the same for everyone:
    /// `GET /v1/tokens/{kind}/{period}`).
    pub key: IssuerPublicKey,
    /// Evaluated elements and the batch proof.
    pub response: TokenResponse,
}

/// The body of a `202 Accepted` for a submission some of whose recipients the credential
/// did not reach (empty body when it reached them all): the envelope was stored for the
/// others; submit it again later for these.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Undelivered {
    /// Recipients that got nothing.
    pub mailboxes: Vec<MailboxId>,
}

/// An ephemeral delivery (a typing indicator) one relay passes to the others sharing its
/// database, so a socket held by another relay gets it too; never stored (PROTOCOL.md §8.6).
/// Relays read it from each other only, but through the database: it is decoded strictly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassedDelivery {
    /// Envelope id.
    pub id: [u8; 16],
    /// Unix seconds after which it means nothing.
    pub expires_at: u64,
    /// Unix seconds when the first relay accepted it.
    pub received_at: u64,
    /// The stored form of the envelope's shared part (cohort and body).
    #[serde(with = "serde_bytes")]
    pub body: Vec<u8>,
    /// Some of its recipients, each with its own part: a large cohort is passed in several.
    pub parts: Vec<PassedPart>,
}

/// One recipient of a [`PassedDelivery`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassedPart {
    /// The recipient mailbox.
    pub mailbox: MailboxId,
    /// Its key part as the relay stores it (may be empty).
    #[serde(with = "serde_bytes")]
    pub part: Vec<u8>,
}

macro_rules! wire_api {
    ($($ty:ident => $what:literal),* $(,)?) => {$(
        impl Wire for $ty {
            const WHAT: &'static str = $what;
            const VERSION: u8 = 1;
        }
        impl $ty {
            /// The wire form.
            pub fn to_bytes(&self) -> Vec<u8> {
                self.to_wire()
            }
            /// Decodes the wire form strictly.
            pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
                Self::from_wire(bytes)
            }
        }
    )*};
}

wire_api! {
    PublishPrekeys => "publish prekeys request",
    PrekeyResponse => "prekey response",
    PrekeyStock => "prekey stock",
    DeviceDirectory => "device directory",
    DeliveredEnvelope => "delivered envelope",
    DeliveryPage => "delivery page",
    Ack => "ack request",
    TokenIssue => "token issue request",
    TokenIssued => "token issue response",
    Undelivered => "undelivered list",
    PassedDelivery => "ephemeral delivery passed between relays",
}
