//! The storage trait the relay is written against, and its backends: SQLite, the embedded
//! default, and PostgreSQL (feature `postgres`) for any number of relays on one database. The
//! trait is synchronous and object-safe; the relay calls it from blocking threads.

use core::fmt;

mod columns;
#[cfg(feature = "postgres")]
pub(crate) mod postgres;
mod spend;
pub(crate) mod sqlite;

pub use crate::mailbox::MailboxId;
/// An envelope's id, chosen by the sender; clients drop duplicates by it.
pub type EnvelopeId = [u8; 16];

/// What another relay sharing the store passed on (see [`RelayStore::watch_deliveries`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Passed {
    /// These mailboxes have new stored deliveries.
    Stored(Vec<MailboxId>),
    /// An ephemeral delivery as the relay that took it encoded it (untrusted until decoded).
    Ephemeral(Vec<u8>),
}

/// The largest encoded ephemeral delivery a store passes between relays: PostgreSQL's
/// notification payload (under 8,000 bytes) holds it in hex with the sender's name.
pub const MAX_PASSED: usize = 3_900;

/// An accepted envelope, already split: one body stored once, one small part per mailbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewDelivery {
    /// Envelope id.
    pub id: EnvelopeId,
    /// The shared ciphertext, stored once however many mailboxes it goes to.
    pub body: Vec<u8>,
    /// Each recipient mailbox and its own part (may be empty).
    pub parts: Vec<(MailboxId, Vec<u8>)>,
    /// Unix seconds after which the relay may drop it.
    pub expires_at: u64,
    /// The token it spends, if it came with one: recorded in the same commit.
    pub spend: Option<Spend>,
}

/// A token spent by an envelope. The same token may come back for the same recipients within
/// `window` seconds, up to `max_uses` envelopes in all (one send is a session set-up, a key
/// hand-off and a message); anything else is a double spend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spend {
    /// The token's id.
    pub token: [u8; 32],
    /// A hash of the recipient list it is spent on.
    pub recipients: [u8; 16],
    /// Seconds after the first spend during which the same recipients may see it again.
    pub window: u64,
    /// Most envelopes one token may carry.
    pub max_uses: u32,
    /// When the record of the spend may be dropped (the token has expired by then).
    pub expires_at: u64,
}

/// A stored delivery, as its mailbox owner fetches it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// Envelope id.
    pub id: EnvelopeId,
    /// The shared body.
    pub body: Vec<u8>,
    /// This mailbox's part.
    pub part: Vec<u8>,
    /// Unix seconds when the relay accepted it.
    pub received_at: u64,
    /// Unix seconds after which the relay drops it.
    pub expires_at: u64,
    /// Position in the mailbox, increasing; fetch pages with it.
    pub seq: u64,
}

/// What a directory lookup hands out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrekeyFetch {
    /// The mailbox of the device that published the bundle: where to deliver.
    pub mailbox: MailboxId,
    /// The published bundle (identity, signed prekey, last-resort prekey).
    pub bundle: Vec<u8>,
    /// One one-time prekey, never handed out again; `None` once they have run out, and the
    /// last-resort prekey in the bundle is used instead.
    pub one_time: Option<(u32, Vec<u8>)>,
}

/// Bounds the store enforces inside the same transaction as the write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Pending deliveries per mailbox.
    pub max_pending_per_mailbox: u64,
    /// Pending bytes (body plus part, counted per mailbox) per mailbox.
    pub max_pending_bytes_per_mailbox: u64,
    /// One-time prekeys a user may keep published.
    pub max_one_time_prekeys: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_pending_per_mailbox: 10_000,
            max_pending_bytes_per_mailbox: 256 * 1024 * 1024,
            max_one_time_prekeys: 1000,
        }
    }
}

/// Counters for observability.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Pending deliveries across all mailboxes.
    pub pending_deliveries: u64,
    /// Distinct bodies stored.
    pub bodies: u64,
    /// Bytes of bodies and parts stored.
    pub bytes_stored: u64,
}

/// What [`RelayStore::change_access`] makes of a mailbox's current access record: the record
/// to write, or `None` to write nothing.
pub type AccessChange<'a> = dyn FnMut(Option<&[u8]>) -> Option<Vec<u8>> + 'a;

/// Mailboxes' access records, as stored.
pub type AccessRecords = Vec<(MailboxId, Vec<u8>)>;

/// Where a relay's copy of the access records stands, for [`RelayStore::access_changes`]
/// (opaque to the relay).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AccessCursor(pub u64);

/// Why the store refused or failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreError {
    /// A recipient mailbox is over its quota; nothing of the envelope was stored.
    QuotaExceeded,
    /// Too many one-time prekeys.
    TooManyPrekeys,
    /// No bundle is published for that user.
    UnknownUser,
    /// Another mailbox published this user's bundle first.
    NotOwner,
    /// The database failed (disk full, I/O error). The write did not happen.
    Backend,
    /// Too many writes are already waiting; nothing was stored, retry later.
    Overloaded,
    /// The envelope's token was already spent (on other recipients, or too long ago).
    TokenSpent,
    /// The account has no tokens of that kind left this period.
    NoQuota,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::QuotaExceeded => "mailbox quota exceeded",
            Self::TooManyPrekeys => "too many one-time prekeys",
            Self::UnknownUser => "no prekeys published for that user",
            Self::NotOwner => "the user's bundle belongs to another mailbox",
            Self::Backend => "storage backend failure",
            Self::Overloaded => "too many writes waiting",
            Self::TokenSpent => "token already spent",
            Self::NoQuota => "no tokens left this period",
        })
    }
}

impl std::error::Error for StoreError {}

/// Durable storage for the relay. Every method that returns `Ok` after a write has made that
/// write durable (it survives `kill -9` and power loss, as far as the backend's fsync does).
pub trait RelayStore: Send + Sync {
    /// Stores a batch of envelopes in one durable commit (group commit). Each envelope is
    /// all-or-nothing; the result for each is in the same order. A re-delivered envelope id
    /// for a mailbox that still has it is accepted and stored once.
    fn deliver(&self, batch: &[NewDelivery], now: u64) -> Vec<Result<(), StoreError>>;

    /// Up to `limit` deliveries of `mailbox` with `seq > after`, oldest first.
    fn fetch(
        &self,
        mailbox: &MailboxId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.fetch_bounded(mailbox, after, limit, usize::MAX)
    }

    /// [`RelayStore::fetch`], stopping at the first delivery that brings the bytes of bodies
    /// and parts returned to `max_bytes` or more (one at least): what a page may hold in
    /// memory.
    fn fetch_bounded(
        &self,
        mailbox: &MailboxId,
        after: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<Delivery>, StoreError>;

    /// Removes acknowledged deliveries; returns how many were removed. A body is deleted once
    /// no mailbox holds it.
    fn ack(&self, mailbox: &MailboxId, ids: &[EnvelopeId]) -> Result<usize, StoreError>;

    /// Several mailboxes' acknowledgements in one durable commit (the writer's group commit);
    /// how many each removed, in order. All or nothing.
    fn ack_many(&self, acks: &[(MailboxId, Vec<EnvelopeId>)]) -> Result<Vec<usize>, StoreError> {
        acks.iter().map(|(m, ids)| self.ack(m, ids)).collect()
    }

    /// Drops deliveries (and spends, purchases and quota counts) that expired at or before
    /// `now`.
    fn expire(&self, now: u64) -> Result<usize, StoreError>;

    /// Publishes (replaces) a user's bundle and adds one-time prekeys. The first mailbox to
    /// publish for `user` owns the name; any other gets [`StoreError::NotOwner`].
    fn publish_prekeys(
        &self,
        user: &[u8],
        owner: &MailboxId,
        bundle: &[u8],
        one_time: &[(u32, Vec<u8>)],
    ) -> Result<(), StoreError>;

    /// The bundle and, with `one_time`, one one-time prekey, removed atomically so no two
    /// callers get the same.
    fn fetch_prekeys(&self, user: &[u8], one_time: bool) -> Result<PrekeyFetch, StoreError>;

    /// Counts one-time prekeys left for `user`, so its client knows when to top them up.
    fn one_time_prekeys_left(&self, user: &[u8]) -> Result<u64, StoreError>;

    /// The device list published for `user`, if any (PROTOCOL.md §12.5).
    fn device_list(&self, user: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Stores `list`, of version `version`, as `user`'s device list if no list of that version
    /// or newer is stored (checked and written in one statement, so of two relays racing the
    /// newer list wins); whether it was stored.
    fn put_device_list(&self, user: &[u8], version: i64, list: &[u8]) -> Result<bool, StoreError>;

    /// The access records (keys and switches) of those of `mailboxes` that have one: a relay
    /// reads them when it first needs them, not all at start.
    fn access_records(
        &self,
        mailboxes: &[MailboxId],
    ) -> Result<Vec<(MailboxId, Vec<u8>)>, StoreError>;
    /// Replaces a mailbox's access record with what `change` makes of the current one (`None`
    /// if there is none), reading and writing under one lock, so that updates through
    /// different relays never lose one another. `change` returning `None` writes nothing.
    /// Returns the record written, durably.
    fn change_access(
        &self,
        mailbox: &MailboxId,
        change: &mut AccessChange<'_>,
    ) -> Result<Option<Vec<u8>>, StoreError>;
    /// Whether other relays share this store: then the relay follows their access changes
    /// ([`RelayStore::access_changes`]) and checks proof nonces here too
    /// ([`RelayStore::fresh_nonce`]).
    fn shared(&self) -> bool {
        false
    }
    /// Where to follow access records from: every record written after this is in
    /// [`RelayStore::access_changes`] from it. A store no other relay shares has nothing to
    /// tell.
    fn access_cursor(&self) -> Result<AccessCursor, StoreError> {
        Ok(AccessCursor::default())
    }
    /// Access records written (by any relay) since `cursor`, and the cursor to ask from next;
    /// a record may come again (applying it twice is harmless). From the default cursor:
    /// every record. A store no other relay shares has nothing to tell.
    fn access_changes(
        &self,
        cursor: AccessCursor,
    ) -> Result<(AccessRecords, AccessCursor), StoreError> {
        Ok((Vec::new(), cursor))
    }
    /// Sends what other relays sharing this store pass on: as their deliveries commit, the
    /// mailboxes they delivered to, so that this relay's sockets on them fetch (a lost one
    /// costs latency only: sockets also look again every so often); and the ephemeral
    /// deliveries they took. A store no other relay shares sends nothing.
    fn watch_deliveries(&self, _passed: tokio::sync::mpsc::UnboundedSender<Passed>) {}
    /// Hands an encoded ephemeral delivery (at most [`MAX_PASSED`] bytes) to the other relays
    /// sharing this store, without storing it. A store no other relay shares has no one to
    /// hand it to.
    fn pass_ephemeral(&self, _delivery: &[u8]) -> Result<(), StoreError> {
        Ok(())
    }
    /// Remembers a proof's nonce until `until` (Unix seconds): `false` if it was seen before,
    /// through any relay (a replay). A store no other relay shares says `true`: the relay's
    /// own memory decides.
    fn fresh_nonce(
        &self,
        _mailbox: &MailboxId,
        _nonce: &[u8; 16],
        _until: u64,
    ) -> Result<bool, StoreError> {
        Ok(true)
    }
    /// Counts `count` more tokens of `kind` issued to `mailbox` in `period` if that keeps the
    /// total at most `max`; [`StoreError::NoQuota`] otherwise (nothing counted).
    fn take_quota(
        &self,
        mailbox: &MailboxId,
        kind: u8,
        period: u32,
        count: u32,
        max: u32,
    ) -> Result<(), StoreError>;
    /// Counts `count` more credit tokens issued against the purchase `id` of `credits`, if
    /// that keeps the total at most `credits`; [`StoreError::NoQuota`] otherwise (nothing
    /// counted). The count is kept until `expires`, after which the purchase is refused anyway.
    fn take_purchase(
        &self,
        id: &[u8; 16],
        count: u32,
        credits: u32,
        expires: u64,
    ) -> Result<(), StoreError>;
    /// The relay's secret named `name`, created from `fresh` the first time it is asked for.
    fn secret(&self, name: &str, fresh: [u8; 32]) -> Result<[u8; 32], StoreError>;
    /// Whether the backend answers; cheap, for health checks.
    fn ping(&self) -> Result<(), StoreError>;

    /// Current counters. May scan; for metrics, not for every request.
    fn stats(&self) -> Result<StoreStats, StoreError>;
}
