//! The relay: a dumb, durable store-and-forward service for envelopes it cannot read.
//!
//! It parses only the outer envelope (recipient mailboxes, expiry, padded ciphertext), stores
//! the shared body once per envelope and a small part per mailbox, pushes to connected
//! mailboxes over WebSocket, and lets only a mailbox's owner (proven with a
//! [`crate::mailbox::AuthProof`]) fetch, acknowledge or stream it.
//!
//! Behind the `relay` feature so client apps that link the engine build none of this.

mod access;
mod auth;
mod config;
mod devices;
mod envelopes;
mod hub;
mod metrics;
mod ratelimit;
mod refusal;
mod replay;
mod serve;
mod server;
mod state;
mod store;
mod tokens;
mod writer;
mod ws;

pub use config::{RelayConfig, THIRTY_DAYS};
pub use metrics::Metrics;
pub use refusal::Refusal;
pub use serve::serve;
pub use server::{MAX_BUNDLE_LEN, MAX_PREKEY_LEN, MAX_USER_LEN, app};
pub use state::{Clock, RelayState, system_clock};
#[cfg(feature = "postgres")]
pub use store::postgres::PostgresStore;
pub use store::sqlite::SqliteStore;
pub use store::{
    AccessChange, AccessCursor, AccessRecords, Delivery, EnvelopeId, Limits, MAX_PASSED, MailboxId,
    NewDelivery, Passed, PrekeyFetch, RelayStore, Spend, StoreError, StoreStats,
};
