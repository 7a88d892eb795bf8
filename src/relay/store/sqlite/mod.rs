//! The embedded default store: SQLite in WAL mode with `synchronous=FULL`, so a commit that
//! returned has reached the disk.
//!
//! Speed (see `missive load`): one group commit per batch; every statement prepared once and
//! cached; a body stored once however many mailboxes share it; per-mailbox quota counters kept
//! in memory (rebuilt from the deliveries at open) instead of a table whose random keys would
//! dirty a page per mailbox per batch; a separate read connection so fetches never wait for a
//! commit's fsync; and WAL checkpoints run by a background thread instead of in a commit.

mod accounts;
mod checkpoint;
mod directory;
mod reads;
mod removal;
mod schema;
mod spends;
mod sql;
#[cfg(test)]
mod tests;
mod usage;
mod writes;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::Connection;

use super::{
    AccessChange, Delivery, EnvelopeId, Limits, MailboxId, NewDelivery, PrekeyFetch, RelayStore,
    StoreError, StoreStats,
};
use checkpoint::checkpoints;
use schema::SCHEMA;
use spends::{SpentMap, load_spent};
use sql::backend;
use usage::{Totals, UsageMap, load_totals, load_usage};

/// The write connection and the quota counters it keeps in step with it.
struct Writer {
    conn: Connection,
    usage: UsageMap,
    /// Every token spent and not yet expired. The table is an append-only log of spends
    /// (rows arrive in time order, so a commit writes a few sequential pages, where a
    /// table keyed by token would dirty one random page per spend); duplicates are found
    /// here, under the writer lock.
    spent: SpentMap,
}

/// SQLite-backed [`RelayStore`].
///
/// One connection writes (the group-commit writer, acks, the directory); a small pool of
/// others reads (fetches), so a fetch never waits for a batch's fsync, nor for another
/// fetch. WAL lets every reader see each committed write and nothing uncommitted.
pub struct SqliteStore {
    writer: Arc<Mutex<Writer>>,
    readers: Vec<Mutex<Connection>>,
    /// Where the next read starts looking for a free connection.
    next_reader: AtomicUsize,
    limits: Limits,
    stop_checkpoints: Arc<AtomicBool>,
    /// What `/metrics` reports, kept in step with each commit rather than counted by
    /// scanning tables on every scrape.
    totals: Totals,
}

/// Read connections: enough that slow fetches (large pages, many sockets opening at once) do
/// not queue the others.
const READERS: usize = 4;

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path, limits: Limits) -> Result<Self, StoreError> {
        let mut store = Self::with_connection(Connection::open(path).map_err(backend)?, limits)?;
        // Checkpoints run beside the writer, not inside a commit; the writer checkpoints
        // itself only if the WAL grows far (80 MB) because the thread fell behind.
        store
            .lock()
            .conn
            .execute_batch("PRAGMA wal_autocheckpoint=20000;")
            .map_err(backend)?;
        for _ in 0..READERS {
            let reader = Connection::open(path).map_err(backend)?;
            reader
                .execute_batch("PRAGMA query_only=ON; PRAGMA cache_size=-16384;")
                .map_err(backend)?;
            store.readers.push(Mutex::new(reader));
        }
        let checkpointer = Connection::open(path).map_err(backend)?;
        let stop = Arc::clone(&store.stop_checkpoints);
        let writer = Arc::clone(&store.writer);
        std::thread::Builder::new()
            .name("missive-relay-checkpoint".into())
            .spawn(move || checkpoints(&checkpointer, &writer, &stop))
            .map_err(backend)?;
        Ok(store)
    }

    /// A private in-memory database, for tests.
    pub fn in_memory(limits: Limits) -> Result<Self, StoreError> {
        Self::with_connection(Connection::open_in_memory().map_err(backend)?, limits)
    }

    fn with_connection(conn: Connection, limits: Limits) -> Result<Self, StoreError> {
        // secure_delete=ON zeroes acknowledged ciphertext wherever it was, freed overflow
        // pages included (FAST leaves a body over ~4 KB readable in the free list until the
        // page is reused); measured at 2-11% of throughput (BENCHMARKS.md).
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;
             PRAGMA cache_size=-65536; PRAGMA secure_delete=ON;",
        )
        .map_err(backend)?;
        conn.execute_batch(SCHEMA).map_err(backend)?;
        let usage = load_usage(&conn)?;
        let spent = load_spent(&conn)?;
        let totals = Totals::default();
        totals.add(load_totals(&conn)?);
        Ok(Self {
            writer: Arc::new(Mutex::new(Writer { conn, usage, spent })),
            readers: Vec::new(),
            next_reader: AtomicUsize::new(0),
            limits,
            stop_checkpoints: Arc::default(),
            totals,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Writer> {
        // A panic while holding the lock cannot leave SQLite inconsistent (transactions roll
        // back on drop) and the counters change only after a commit, so a poisoned lock is
        // safe to reuse.
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A free read connection (the write one for an in-memory database, which has no other):
    /// the first free one from a rotating start, else the one at the start once it frees.
    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let n = self.readers.len();
        if n == 0 {
            return f(&self.lock().conn);
        }
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed) % n;
        for i in 0..n {
            if let Ok(conn) = self.readers[(start + i) % n].try_lock() {
                return f(&conn);
            }
        }
        f(&self.readers[start]
            .lock()
            .unwrap_or_else(|p| p.into_inner()))
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.stop_checkpoints.store(true, Ordering::Relaxed);
    }
}

impl RelayStore for SqliteStore {
    fn deliver(&self, batch: &[NewDelivery], now: u64) -> Vec<Result<(), StoreError>> {
        self.deliver_batch(batch, now).unwrap_or_else(|e| {
            tracing::error!(error = %e, "batch commit failed");
            vec![Err(e); batch.len()]
        })
    }

    fn fetch_bounded(
        &self,
        mailbox: &MailboxId,
        after: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.page(mailbox, after, limit, max_bytes)
    }

    fn ack(&self, mailbox: &MailboxId, ids: &[EnvelopeId]) -> Result<usize, StoreError> {
        let acks = [(*mailbox, ids.to_vec())];
        Ok(self.ack_many(&acks)?.into_iter().sum())
    }

    fn ack_many(&self, acks: &[(MailboxId, Vec<EnvelopeId>)]) -> Result<Vec<usize>, StoreError> {
        self.remove_acked(acks)
    }

    fn expire(&self, now: u64) -> Result<usize, StoreError> {
        self.sweep(now)
    }

    fn publish_prekeys(
        &self,
        user: &[u8],
        owner: &MailboxId,
        bundle: &[u8],
        one_time: &[(u32, Vec<u8>)],
    ) -> Result<(), StoreError> {
        self.publish(user, owner, bundle, one_time)
    }

    fn fetch_prekeys(&self, user: &[u8], one_time: bool) -> Result<PrekeyFetch, StoreError> {
        self.claim(user, one_time)
    }

    fn one_time_prekeys_left(&self, user: &[u8]) -> Result<u64, StoreError> {
        self.prekeys_left(user)
    }

    fn device_list(&self, user: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.stored_device_list(user)
    }

    fn put_device_list(&self, user: &[u8], version: i64, list: &[u8]) -> Result<bool, StoreError> {
        self.store_device_list(user, version, list)
    }

    fn access_records(
        &self,
        mailboxes: &[MailboxId],
    ) -> Result<Vec<(MailboxId, Vec<u8>)>, StoreError> {
        self.read_access(mailboxes)
    }

    fn change_access(
        &self,
        mailbox: &MailboxId,
        change: &mut AccessChange<'_>,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.modify_access(mailbox, change)
    }

    fn take_quota(
        &self,
        mailbox: &MailboxId,
        kind: u8,
        period: u32,
        count: u32,
        max: u32,
    ) -> Result<(), StoreError> {
        self.count_quota(mailbox, kind, period, count, max)
    }

    fn take_purchase(
        &self,
        id: &[u8; 16],
        count: u32,
        credits: u32,
        expires: u64,
    ) -> Result<(), StoreError> {
        self.count_purchase(id, count, credits, expires)
    }

    fn secret(&self, name: &str, fresh: [u8; 32]) -> Result<[u8; 32], StoreError> {
        self.named_secret(name, fresh)
    }

    fn ping(&self) -> Result<(), StoreError> {
        self.read(|conn| conn.query_row("SELECT 1", [], |_| Ok(())).map_err(backend))
    }

    fn stats(&self) -> Result<StoreStats, StoreError> {
        Ok(StoreStats {
            pending_deliveries: self.totals.deliveries.load(Ordering::Relaxed),
            bodies: self.totals.bodies.load(Ordering::Relaxed),
            bytes_stored: self.totals.bytes.load(Ordering::Relaxed),
        })
    }
}
