//! Missive's client engine for Kotlin, Swift and Python, through UniFFI (proc-macro interface).
//!
//! Bytes in, bytes out: the app does the I/O (HTTP and WebSocket to the relay), the engine
//! decides what to send and what a delivery means, and saves its state to an encrypted store
//! before anything it produced may leave. Errors arrive as one exception type,
//! [`MissiveError`], whose variants are the engine's error families; a panic inside becomes
//! [`MissiveError::Internal`], never an abort of the app.
//!
//! Threads: a [`MissiveClient`] may be shared between threads; its calls take its lock and run
//! one at a time. Different clients run concurrently. Secrets stay inside: a client's keys
//! live in its store, sealed under the key the app gives (from the platform's keystore).
//!
//! Unlike the engine (`#![forbid(unsafe_code)]`), this crate cannot forbid `unsafe`: the
//! scaffolding UniFFI generates is the `extern "C"` boundary itself. None is written by hand.

#![deny(unsafe_op_in_unsafe_fn)]

mod advertising;
mod client;
mod devices;
mod error;
mod events;
mod platform;
mod relay;
mod types;

pub use advertising::{Button, Image, LeadField, LeadForm, Sponsored};
pub use client::{MissiveClient, check_identity, panic_for_tests};
pub use devices::{Device, DeviceChanges, LinkedDevice, RemovedDevice};
pub use error::MissiveError;
pub use events::{Access, Event, LeadAnswer};
pub use platform::Platform;
pub use relay::{
    Addressed, Delivered, ack_body, delivered_frame, delivery_page, devices_path, directory_path,
    prekey_stock, split_envelope, undelivered,
};
pub use types::{
    AccessSync, Attachment, Connection, Contact, Content, Member, MessageRef, Outgoing, Role,
    Settings, Started, Tier, TokenKind,
};

uniffi::setup_scaffolding!();
