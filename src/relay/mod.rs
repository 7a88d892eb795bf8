//! The relay's storage layer: mailboxes of opaque ciphertext, a prekey directory, and the
//! replay memory for mailbox authentication. The relay never parses more than the outer
//! envelope; everything stored here is ciphertext or public keys.
//!
//! Behind the `relay` feature so client apps that link the engine do not build SQLite.

mod sqlite;
mod store;

pub use sqlite::SqliteStore;
pub use store::{
    Delivery, EnvelopeId, Limits, MailboxId, NewDelivery, PrekeyFetch, RelayStore, StoreError,
    StoreStats,
};
