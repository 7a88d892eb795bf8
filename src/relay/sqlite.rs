//! The embedded default store: SQLite in WAL mode with `synchronous=FULL`, so a commit that
//! returned has reached the disk.
//!
//! Speed (see `missive load`): one group commit per batch; every statement prepared once and
//! cached; a body stored once however many mailboxes share it; per-mailbox quota counters kept
//! in memory (rebuilt from the deliveries at open) instead of a table whose random keys would
//! dirty a page per mailbox per batch; a separate read connection so fetches never wait for a
//! commit's fsync; and WAL checkpoints run by a background thread instead of in a commit.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::store::{
    Delivery, EnvelopeId, Limits, MailboxId, NewDelivery, PrekeyFetch, RelayStore, Spend,
    StoreError, StoreStats,
};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS bodies (
    body_id    INTEGER PRIMARY KEY,
    bytes      BLOB    NOT NULL,
    refs       INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    mailbox     BLOB    NOT NULL,
    envelope_id BLOB    NOT NULL,
    body_id     INTEGER NOT NULL REFERENCES bodies(body_id),
    part        BLOB    NOT NULL,
    size        INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    UNIQUE (mailbox, envelope_id)
);
CREATE INDEX IF NOT EXISTS deliveries_expiry ON deliveries (expires_at);
-- Freeing a body checks the foreign key from deliveries: without this index, a scan of every
-- pending delivery per acknowledgement.
CREATE INDEX IF NOT EXISTS deliveries_body ON deliveries (body_id);
-- Pages sort a mailbox's sequence numbers from the unique index instead (see fetch_bounded).
DROP INDEX IF EXISTS deliveries_mailbox;
DROP TABLE IF EXISTS mailbox_usage;
-- Proof nonces are remembered in memory now (relay::replay).
DROP TABLE IF EXISTS nonces;
CREATE TABLE IF NOT EXISTS bundles (
    user   BLOB PRIMARY KEY,
    owner  BLOB NOT NULL,
    bundle BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS mailbox_access (
    mailbox BLOB PRIMARY KEY,
    record  BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS token_spends (
    token      BLOB    NOT NULL,
    recipients BLOB    NOT NULL,
    spent_at   INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS token_spends_expiry ON token_spends (expires_at);
CREATE TABLE IF NOT EXISTS token_quota (
    mailbox BLOB    NOT NULL,
    kind    INTEGER NOT NULL,
    period  INTEGER NOT NULL,
    issued  INTEGER NOT NULL,
    PRIMARY KEY (mailbox, kind, period)
);
CREATE TABLE IF NOT EXISTS credit_purchases (
    id         BLOB    PRIMARY KEY,
    redeemed   INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS credit_purchases_expiry ON credit_purchases (expires_at);
CREATE TABLE IF NOT EXISTS secrets (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS one_time_prekeys (
    user   BLOB    NOT NULL,
    key_id INTEGER NOT NULL,
    prekey BLOB    NOT NULL,
    PRIMARY KEY (user, key_id)
);
";

/// Pending deliveries and bytes of one mailbox, for its quota.
#[derive(Clone, Copy, Debug, Default)]
struct Usage {
    pending: u64,
    bytes: u64,
}

type UsageMap = HashMap<MailboxId, Usage>;

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

/// A spent token's record.
#[derive(Clone, Copy, Debug)]
struct Spent {
    recipients: [u8; 16],
    first: u64,
    uses: u32,
    expires_at: u64,
}

type SpentMap = HashMap<[u8; 32], Spent>;

/// What a batch adds to the writer's maps, applied once it has committed.
#[derive(Default)]
struct Added {
    usage: UsageMap,
    spent: SpentMap,
    stored: Change,
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

/// Running totals of what is stored.
#[derive(Default)]
struct Totals {
    deliveries: AtomicU64,
    bodies: AtomicU64,
    bytes: AtomicU64,
}

/// What a commit added to or removed from the totals.
#[derive(Clone, Copy, Default)]
struct Change {
    deliveries: u64,
    bodies: u64,
    bytes: u64,
}

impl Totals {
    fn add(&self, c: Change) {
        self.deliveries.fetch_add(c.deliveries, Ordering::Relaxed);
        self.bodies.fetch_add(c.bodies, Ordering::Relaxed);
        self.bytes.fetch_add(c.bytes, Ordering::Relaxed);
    }

    fn remove(&self, c: Change) {
        let sub = |a: &AtomicU64, n: u64| {
            let _ = a.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_sub(n))
            });
        };
        sub(&self.deliveries, c.deliveries);
        sub(&self.bodies, c.bodies);
        sub(&self.bytes, c.bytes);
    }
}

fn backend<E>(_: E) -> StoreError {
    StoreError::Backend
}

fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn uint(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn mailbox(bytes: &[u8]) -> MailboxId {
    MailboxId(<[u8; 16]>::try_from(bytes).unwrap_or_default())
}

/// How often the background thread copies the WAL into the database. Each checkpoint's
/// writeback and fsync of the database delays the commit fsyncs queued behind it on the disk;
/// small, frequent checkpoints keep that delay short (100 ms measured a p99 commit latency of
/// 11 ms at 10,000 envelopes/s, against 20–25 ms checkpointing once a second).
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

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

    /// Whether `mailbox` has room for one more delivery of `size` bytes, counting what this
    /// batch has already added.
    fn room(&self, usage: &UsageMap, batch: &UsageMap, mailbox: &MailboxId, size: u64) -> bool {
        let [now, added] = [usage, batch].map(|m| m.get(mailbox).copied().unwrap_or_default());
        now.pending + added.pending < self.limits.max_pending_per_mailbox
            && now.bytes + added.bytes + size <= self.limits.max_pending_bytes_per_mailbox
    }

    /// Stores one envelope of a batch; its quota charges go into `batch`. A mailbox without
    /// room refuses the whole envelope: when the fast check cannot rule that out, the envelope
    /// is written under a savepoint and undone if a mailbox was really over (a re-delivered
    /// envelope already stored costs nothing).
    fn deliver_one(
        &self,
        tx: &Transaction<'_>,
        d: &NewDelivery,
        now: u64,
        usage: &UsageMap,
        spent: &SpentMap,
        added: &mut Added,
    ) -> Result<Result<(), StoreError>, StoreError> {
        let Added {
            usage: batch,
            spent: batch_spent,
            stored,
        } = added;
        let size = |part: &Vec<u8>| (d.body.len() + part.len()) as u64;
        let fits = d
            .parts
            .iter()
            .all(|(m, p)| self.room(usage, batch, m, size(p)));
        if !fits {
            cached(tx, "SAVEPOINT one", [])?;
        }
        // A token is spent in the same commit as its envelope; a refused spend wrote nothing,
        // and an envelope undone for quota undoes its spend with it.
        let spending = match &d.spend {
            Some(spend) => {
                let before = batch_spent.get(&spend.token).or(spent.get(&spend.token));
                let Some(after) = next_spend(before, spend, now) else {
                    if !fits {
                        cached(tx, "RELEASE one", [])?;
                    }
                    return Ok(Err(StoreError::TokenSpent));
                };
                cached(
                    tx,
                    "INSERT INTO token_spends (token, recipients, spent_at, expires_at)
                     VALUES (?1, ?2, ?3, ?4)",
                    params![
                        &spend.token[..],
                        &spend.recipients[..],
                        int(now),
                        int(spend.expires_at)
                    ],
                )?;
                Some((spend.token, after))
            }
            None => None,
        };
        let (added, change) = insert_delivery(tx, d, now)?;
        if !fits {
            if added.iter().any(|(m, s)| !self.room(usage, batch, m, *s)) {
                cached(tx, "ROLLBACK TO one", [])?;
                cached(tx, "RELEASE one", [])?;
                return Ok(Err(StoreError::QuotaExceeded));
            }
            cached(tx, "RELEASE one", [])?;
        }
        stored.deliveries += change.deliveries;
        stored.bodies += change.bodies;
        stored.bytes += change.bytes;
        charge(batch, added.iter().map(|(m, s)| (*m, *s)));
        if let Some((token, after)) = spending {
            batch_spent.insert(token, after);
        }
        Ok(Ok(()))
    }

    fn deliver_batch(
        &self,
        batch: &[NewDelivery],
        now: u64,
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        let mut writer = self.lock();
        let Writer { conn, usage, spent } = &mut *writer;
        let tx = conn.transaction().map_err(backend)?;
        let mut added = Added::default();
        let results = batch
            .iter()
            .map(|d| self.deliver_one(&tx, d, now, usage, spent, &mut added))
            .collect::<Result<Vec<_>, _>>()?;
        tx.commit().map_err(backend)?;
        merge(usage, added.usage);
        spent.extend(added.spent);
        self.totals.add(added.stored);
        Ok(results)
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.stop_checkpoints.store(true, Ordering::Relaxed);
    }
}

/// Inserts the body once and a row per mailbox not already holding this envelope; returns
/// each newly charged mailbox with its size (body plus part), and what was stored.
fn insert_delivery(
    tx: &Transaction<'_>,
    d: &NewDelivery,
    now: u64,
) -> Result<(Vec<(MailboxId, u64)>, Change), StoreError> {
    let parts = int(d.parts.len() as u64);
    cached(
        tx,
        "INSERT INTO bodies (bytes, refs) VALUES (?1, ?2)",
        params![d.body, parts],
    )?;
    let body_id = tx.last_insert_rowid();
    let mut added = Vec::with_capacity(d.parts.len());
    let mut change = Change::default();
    let mut insert = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO deliveries
             (mailbox, envelope_id, body_id, part, size, received_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .map_err(backend)?;
    for (mailbox, part) in &d.parts {
        let size = (d.body.len() + part.len()) as u64;
        let inserted = insert
            .execute(params![
                &mailbox.0[..],
                &d.id[..],
                body_id,
                part,
                int(size),
                int(now),
                int(d.expires_at)
            ])
            .map_err(backend)?;
        // 0 when already pending in this mailbox: at least once, stored once.
        if inserted == 1 {
            added.push((*mailbox, size));
            change.deliveries += 1;
            change.bytes += part.len() as u64;
        }
    }
    let refs = int(added.len() as u64);
    if refs == 0 {
        cached(tx, "DELETE FROM bodies WHERE body_id = ?1", [body_id])?;
    } else {
        change.bodies = 1;
        change.bytes += d.body.len() as u64;
        if refs != parts {
            cached(
                tx,
                "UPDATE bodies SET refs = ?1 WHERE body_id = ?2",
                params![refs, body_id],
            )?;
        }
    }
    Ok((added, change))
}

/// Adds one delivery of each given size to its mailbox's counters.
/// The token's record after `spend`, or `None` when it may not be spent: it was spent
/// before on other recipients, outside the window, or too often.
fn next_spend(before: Option<&Spent>, spend: &Spend, now: u64) -> Option<Spent> {
    match before {
        None => Some(Spent {
            recipients: spend.recipients,
            first: now,
            uses: 1,
            expires_at: spend.expires_at,
        }),
        Some(s) => {
            let again = s.recipients == spend.recipients
                && now.saturating_sub(s.first) <= spend.window
                && s.uses < spend.max_uses;
            again.then_some(Spent {
                uses: s.uses + 1,
                ..*s
            })
        }
    }
}

/// The spend log folded into one record per token.
fn load_spent(conn: &Connection) -> Result<SpentMap, StoreError> {
    let mut map = SpentMap::new();
    let mut stmt = conn
        .prepare("SELECT token, recipients, spent_at, expires_at FROM token_spends ORDER BY rowid")
        .map_err(backend)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })
        .map_err(backend)?;
    for row in rows {
        let (token, recipients, at, expires_at) = row.map_err(backend)?;
        let (Ok(token), Ok(recipients)) = (token.try_into(), recipients.try_into()) else {
            return Err(StoreError::Backend);
        };
        map.entry(token)
            .and_modify(|s: &mut Spent| s.uses += 1)
            .or_insert(Spent {
                recipients,
                first: uint(at),
                uses: 1,
                expires_at: uint(expires_at),
            });
    }
    Ok(map)
}

fn charge(map: &mut UsageMap, added: impl IntoIterator<Item = (MailboxId, u64)>) {
    for (mailbox, size) in added {
        let u = map.entry(mailbox).or_default();
        u.pending += 1;
        u.bytes += size;
    }
}

fn merge(into: &mut UsageMap, from: UsageMap) {
    for (mailbox, add) in from {
        let u = into.entry(mailbox).or_default();
        u.pending += add.pending;
        u.bytes += add.bytes;
    }
}

/// Takes removed deliveries off their mailboxes' counters.
fn release(map: &mut UsageMap, removed: &[Row]) {
    for (_, mailbox_bytes, _, size) in removed {
        let m = mailbox(mailbox_bytes);
        if let Some(u) = map.get_mut(&m) {
            u.pending = u.pending.saturating_sub(1);
            u.bytes = u.bytes.saturating_sub(uint(*size));
            if u.pending == 0 {
                map.remove(&m);
            }
        }
    }
}

/// The quota counters, rebuilt from what is stored.
fn load_usage(conn: &Connection) -> Result<UsageMap, StoreError> {
    let mut stmt = conn
        .prepare("SELECT mailbox, COUNT(*), SUM(size) FROM deliveries GROUP BY mailbox")
        .map_err(backend)?;
    let rows = stmt
        .query_map([], |r| {
            let m: Vec<u8> = r.get(0)?;
            let usage = Usage {
                pending: uint(r.get(1)?),
                bytes: uint(r.get(2)?),
            };
            Ok((mailbox(&m), usage))
        })
        .map_err(backend)?;
    rows.collect::<Result<_, _>>().map_err(backend)
}

/// Copies the WAL into the database in the background until the store is dropped. PASSIVE
/// never blocks the writer or readers; whatever it cannot copy yet waits for the next round.
///
/// The WAL starts over only when a write begins with every frame already copied, which a
/// steady stream of commits never allows: it would grow until the writer's own
/// autocheckpoint copied it inside a commit (a 30 ms stall every second at 12,000 deliveries
/// a second on a million pending). So once it is [`RESTART_FRAMES`] long, the frames the
/// last round missed are copied while the writer waits between batches, and its next commit
/// starts the WAL over.
fn checkpoints(conn: &Connection, writer: &Mutex<Writer>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(CHECKPOINT_EVERY);
        let copied = checkpoint(conn);
        if copied.is_ok_and(|frames| frames > RESTART_FRAMES) {
            let writer = writer.lock().unwrap_or_else(|p| p.into_inner());
            let _ = checkpoint(&writer.conn);
        }
    }
}

/// WAL frames past which a round also copies what it missed with the writer held.
const RESTART_FRAMES: i64 = 4096;

/// A PASSIVE checkpoint; how long the WAL is, in frames.
fn checkpoint(conn: &Connection) -> Result<i64, rusqlite::Error> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))
        .inspect_err(|e| tracing::warn!(error = %e, "checkpoint failed"))
}

/// Deletes the given delivery rows (by seq) and bodies no longer referenced; returns what was
/// removed.
fn remove_rows(tx: &Transaction<'_>, rows: &[Row]) -> Result<Change, StoreError> {
    let mut removed = Change::default();
    for (seq, _, body_id, _) in rows {
        let part: Option<i64> = returning(
            tx,
            "DELETE FROM deliveries WHERE seq = ?1 RETURNING length(part)",
            [seq],
        )?;
        if let Some(len) = part {
            removed.deliveries += 1;
            removed.bytes += uint(len);
        }
        cached(
            tx,
            "UPDATE bodies SET refs = refs - 1 WHERE body_id = ?1",
            [body_id],
        )?;
        let body: Option<i64> = returning(
            tx,
            "DELETE FROM bodies WHERE body_id = ?1 AND refs <= 0 RETURNING length(bytes)",
            [body_id],
        )?;
        if let Some(len) = body {
            removed.bodies += 1;
            removed.bytes += uint(len);
        }
    }
    Ok(removed)
}

/// Runs a statement that returns at most one integer, through the statement cache.
fn returning(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Option<i64>, StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.query_row(params, |r| r.get(0)).optional())
        .map_err(backend)
}

/// The totals, counted once at open.
fn load_totals(conn: &Connection) -> Result<Change, StoreError> {
    conn.query_row(
        "SELECT (SELECT COUNT(*) FROM deliveries),
                (SELECT COUNT(*) FROM bodies),
                (SELECT COALESCE(SUM(length(bytes)), 0) FROM bodies)
              + (SELECT COALESCE(SUM(length(part)), 0) FROM deliveries)",
        [],
        |r| {
            Ok(Change {
                deliveries: uint(r.get(0)?),
                bodies: uint(r.get(1)?),
                bytes: uint(r.get(2)?),
            })
        },
    )
    .map_err(backend)
}

/// `(seq, mailbox, body_id, size)` of a stored delivery.
type Row = (i64, Vec<u8>, i64, i64);

/// Runs a statement through the connection's prepared-statement cache.
fn cached(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<usize, StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute(params))
        .map_err(backend)
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
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
        self.read(|conn| {
            // The page's sequence numbers first, from the (mailbox, envelope_id) index alone:
            // sorting at most a mailbox's quota of integers costs less than a second index
            // on (mailbox, seq) would cost every delivery (one more random page per row:
            // 17% of the submit rate, and most of the commit tail on a million pending).
            // `+seq` keeps the planner off a walk of the whole table in sequence order.
            let seqs = conn
                .prepare_cached(
                    "SELECT seq FROM deliveries WHERE mailbox = ?1 AND +seq > ?2
                     ORDER BY seq LIMIT ?3",
                )
                .and_then(|mut s| {
                    s.query_map(
                        params![&mailbox.0[..], int(after), int(limit as u64)],
                        |r| r.get::<_, i64>(0),
                    )?
                    .collect::<Result<Vec<_>, _>>()
                })
                .map_err(backend)?;
            let mut row = conn
                .prepare_cached(
                    "SELECT d.envelope_id, b.bytes, d.part, d.received_at, d.expires_at
                     FROM deliveries d JOIN bodies b ON b.body_id = d.body_id
                     WHERE d.seq = ?1",
                )
                .map_err(backend)?;
            // Rows are read one by one: a page stops at its byte budget without loading more.
            // One acknowledged since the first query is simply not there.
            let mut page = Vec::new();
            let mut bytes = 0usize;
            for seq in seqs {
                let found = row
                    .query_row([seq], |r| {
                        let id: Vec<u8> = r.get(0)?;
                        Ok(Delivery {
                            seq: uint(seq),
                            id: EnvelopeId::try_from(id.as_slice()).unwrap_or_default(),
                            body: r.get(1)?,
                            part: r.get(2)?,
                            received_at: uint(r.get(3)?),
                            expires_at: uint(r.get(4)?),
                        })
                    })
                    .optional()
                    .map_err(backend)?;
                let Some(d) = found else { continue };
                bytes = bytes.saturating_add(d.body.len() + d.part.len());
                page.push(d);
                if bytes >= max_bytes {
                    break;
                }
            }
            Ok(page)
        })
    }

    fn ack(&self, mailbox: &MailboxId, ids: &[EnvelopeId]) -> Result<usize, StoreError> {
        let acks = [(*mailbox, ids.to_vec())];
        Ok(self.ack_many(&acks)?.into_iter().sum())
    }

    fn ack_many(&self, acks: &[(MailboxId, Vec<EnvelopeId>)]) -> Result<Vec<usize>, StoreError> {
        let mut writer = self.lock();
        let Writer { conn, usage, .. } = &mut *writer;
        let tx = conn.transaction().map_err(backend)?;
        let mut rows = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut counts = Vec::with_capacity(acks.len());
        {
            let mut find = tx
                .prepare_cached(
                    "SELECT seq, mailbox, body_id, size FROM deliveries
                     WHERE mailbox = ?1 AND envelope_id = ?2",
                )
                .map_err(backend)?;
            for (mailbox, ids) in acks {
                let before = rows.len();
                for id in ids {
                    let found = find
                        .query_row(params![&mailbox.0[..], &id[..]], row)
                        .optional()
                        .map_err(backend)?;
                    // An id listed twice, in one acknowledgement or two, is removed once.
                    if let Some(r) = found.filter(|r| seen.insert(r.0)) {
                        rows.push(r);
                    }
                }
                counts.push(rows.len() - before);
            }
        }
        let removed = remove_rows(&tx, &rows)?;
        tx.commit().map_err(backend)?;
        release(usage, &rows);
        self.totals.remove(removed);
        Ok(counts)
    }

    fn expire(&self, now: u64) -> Result<usize, StoreError> {
        let mut writer = self.lock();
        let Writer { conn, usage, spent } = &mut *writer;
        let tx = conn.transaction().map_err(backend)?;
        let rows: Vec<Row> = tx
            .prepare("SELECT seq, mailbox, body_id, size FROM deliveries WHERE expires_at <= ?1")
            .and_then(|mut s| s.query_map([int(now)], row)?.collect())
            .map_err(backend)?;
        let removed = remove_rows(&tx, &rows)?;
        tx.execute(
            "DELETE FROM token_spends WHERE expires_at <= ?1",
            [int(now)],
        )
        .map_err(backend)?;
        // A purchase past its expiry is refused before its count is looked at.
        tx.execute(
            "DELETE FROM credit_purchases WHERE expires_at < ?1",
            [int(now)],
        )
        .map_err(backend)?;
        // Issuance counts matter only for the month being issued.
        tx.execute(
            "DELETE FROM token_quota WHERE period < ?1",
            [crate::platform::month_of(now)],
        )
        .map_err(backend)?;
        tx.commit().map_err(backend)?;
        release(usage, &rows);
        self.totals.remove(removed);
        spent.retain(|_, s| s.expires_at > now);
        Ok(rows.len())
    }

    fn publish_prekeys(
        &self,
        user: &[u8],
        owner: &MailboxId,
        bundle: &[u8],
        one_time: &[(u32, Vec<u8>)],
    ) -> Result<(), StoreError> {
        let mut writer = self.lock();
        let tx = writer.conn.transaction().map_err(backend)?;
        let written = tx
            .execute(
                "INSERT INTO bundles (user, owner, bundle) VALUES (?1, ?2, ?3)
                 ON CONFLICT (user) DO UPDATE SET bundle = excluded.bundle
                 WHERE owner = excluded.owner",
                params![user, &owner.0[..], bundle],
            )
            .map_err(backend)?;
        if written == 0 {
            return Err(StoreError::NotOwner);
        }
        for (id, key) in one_time {
            cached(
                &tx,
                "INSERT OR REPLACE INTO one_time_prekeys (user, key_id, prekey) VALUES (?1, ?2, ?3)",
                params![user, id, key],
            )?;
        }
        let count: i64 = tx
            .query_row(
                "SELECT COUNT(*) FROM one_time_prekeys WHERE user = ?1",
                [user],
                |r| r.get(0),
            )
            .map_err(backend)?;
        if uint(count) > self.limits.max_one_time_prekeys as u64 {
            return Err(StoreError::TooManyPrekeys); // dropping `tx` rolls back
        }
        tx.commit().map_err(backend)
    }

    fn fetch_prekeys(&self, user: &[u8], one_time: bool) -> Result<PrekeyFetch, StoreError> {
        let mut writer = self.lock();
        let tx = writer.conn.transaction().map_err(backend)?;
        let (owner, bundle): (Vec<u8>, Vec<u8>) = tx
            .query_row(
                "SELECT owner, bundle FROM bundles WHERE user = ?1",
                [user],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(backend)?
            .ok_or(StoreError::UnknownUser)?;
        if !one_time {
            return Ok(PrekeyFetch {
                mailbox: mailbox(&owner),
                bundle,
                one_time: None,
            });
        }
        let one_time: Option<(u32, Vec<u8>)> = tx
            .query_row(
                "DELETE FROM one_time_prekeys WHERE rowid =
                   (SELECT rowid FROM one_time_prekeys WHERE user = ?1 ORDER BY key_id LIMIT 1)
                 RETURNING key_id, prekey",
                [user],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(backend)?;
        tx.commit().map_err(backend)?;
        Ok(PrekeyFetch {
            mailbox: mailbox(&owner),
            bundle,
            one_time,
        })
    }

    fn one_time_prekeys_left(&self, user: &[u8]) -> Result<u64, StoreError> {
        self.read(|conn| {
            conn.query_row(
                "SELECT COUNT(*) FROM one_time_prekeys WHERE user = ?1",
                [user],
                |r| r.get(0),
            )
            .map(uint)
            .map_err(backend)
        })
    }

    fn load_access(&self) -> Result<Vec<(MailboxId, Vec<u8>)>, StoreError> {
        self.read(|conn| {
            conn.prepare("SELECT mailbox, record FROM mailbox_access")
                .and_then(|mut s| {
                    s.query_map([], |r| Ok((mailbox(&r.get::<_, Vec<u8>>(0)?), r.get(1)?)))?
                        .collect()
                })
                .map_err(backend)
        })
    }

    fn save_access(&self, mailbox: &MailboxId, record: &[u8]) -> Result<(), StoreError> {
        cached(
            &self.lock().conn,
            "INSERT OR REPLACE INTO mailbox_access (mailbox, record) VALUES (?1, ?2)",
            params![&mailbox.0[..], record],
        )
        .map(|_| ())
    }

    fn take_quota(
        &self,
        mailbox: &MailboxId,
        kind: u8,
        period: u32,
        count: u32,
        max: u32,
    ) -> Result<(), StoreError> {
        // One statement: concurrent requests cannot both pass the check.
        let counted = cached(
            &self.lock().conn,
            "INSERT INTO token_quota (mailbox, kind, period, issued) SELECT ?1, ?2, ?3, ?4
             WHERE ?4 <= ?5
             ON CONFLICT (mailbox, kind, period) DO UPDATE SET issued = issued + excluded.issued
             WHERE issued + excluded.issued <= ?5",
            params![&mailbox.0[..], kind, period, count, max],
        )?;
        if counted == 1 {
            Ok(())
        } else {
            Err(StoreError::NoQuota)
        }
    }

    fn take_purchase(
        &self,
        id: &[u8; 16],
        count: u32,
        credits: u32,
        expires: u64,
    ) -> Result<(), StoreError> {
        // One statement, as for the monthly quota: concurrent redemptions cannot both pass.
        let counted = cached(
            &self.lock().conn,
            "INSERT INTO credit_purchases (id, redeemed, expires_at) SELECT ?1, ?2, ?4
             WHERE ?2 <= ?3
             ON CONFLICT (id) DO UPDATE SET redeemed = redeemed + excluded.redeemed
             WHERE redeemed + excluded.redeemed <= ?3",
            params![&id[..], count, credits, int(expires)],
        )?;
        if counted == 1 {
            Ok(())
        } else {
            Err(StoreError::NoQuota)
        }
    }

    fn secret(&self, name: &str, fresh: [u8; 32]) -> Result<[u8; 32], StoreError> {
        let conn = &self.lock().conn;
        cached(
            conn,
            "INSERT OR IGNORE INTO secrets (name, value) VALUES (?1, ?2)",
            params![name, &fresh[..]],
        )?;
        let value: Vec<u8> = conn
            .query_row("SELECT value FROM secrets WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .map_err(backend)?;
        value.try_into().map_err(|_| StoreError::Backend)
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    /// Every SQL statement in this file: its string literals that start with a statement
    /// keyword.
    fn statements() -> Vec<String> {
        let source = include_str!("sqlite.rs");
        // The code above this test module.
        let code = source
            .split("#[cfg(test)]\nmod tests")
            .next()
            .unwrap_or_default();
        let mut out = Vec::new();
        for (i, piece) in code.split('"').enumerate() {
            let sql = piece.trim_start();
            let keyword = ["SELECT ", "INSERT ", "UPDATE ", "DELETE "]
                .iter()
                .any(|k| sql.starts_with(k));
            // Odd pieces are inside a literal (the code has no escaped quote).
            if i % 2 == 1 && keyword {
                out.push(sql.replace("\\\n", " "));
            }
        }
        out
    }

    /// The query plan's lines of `sql`.
    fn plan(conn: &Connection, sql: &str) -> Vec<String> {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let nulls = std::iter::repeat_n(rusqlite::types::Null, stmt.parameter_count());
        stmt.query_map(rusqlite::params_from_iter(nulls), |r| r.get::<_, String>(3))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    /// Statements that read a whole table on purpose: once at open, rebuilding what the relay
    /// keeps in memory, and the periodic sweep of a table small by construction.
    const WHOLE_TABLE: [&str; 5] = [
        "SELECT (SELECT COUNT(*) FROM deliveries),",
        "SELECT mailbox, COUNT(*), SUM(size) FROM deliveries GROUP BY mailbox",
        "SELECT token, recipients, spent_at, expires_at FROM token_spends ORDER BY rowid",
        "SELECT mailbox, record FROM mailbox_access",
        "DELETE FROM token_quota WHERE period < ?1",
    ];

    /// The one statement that may sort: a page's sequence numbers.
    const PAGE_KEYS: &str = "SELECT seq FROM deliveries WHERE mailbox = ?1";

    #[test]
    fn no_statement_scans_a_table_on_the_hot_path() {
        let store = SqliteStore::in_memory(Limits::default()).unwrap();
        let conn = &store.lock().conn;
        let all = statements();
        assert!(all.len() > 25, "found only {} statements", all.len());
        for sql in all {
            let plan = plan(conn, &sql);
            let scans: Vec<&String> = plan
                .iter()
                .filter(|l| l.starts_with("SCAN ") && !l.starts_with("SCAN CONSTANT ROW"))
                .collect();
            let expected = WHOLE_TABLE.iter().any(|w| sql.starts_with(w));
            assert!(scans.is_empty() || expected, "{sql}\n  scans: {scans:?}");
            // A sort in a temporary tree reads every matching row before the first comes out:
            // only a mailbox's sequence numbers may be sorted, from an index alone (never
            // its rows or bodies), which the mailbox's quota bounds.
            let sorts: Vec<&String> = plan.iter().filter(|l| l.contains("TEMP B-TREE")).collect();
            let keys_only = sql.starts_with(PAGE_KEYS)
                && plan.iter().any(|l| l.contains("USING COVERING INDEX"));
            assert!(
                sorts.is_empty() || expected || keys_only,
                "{sql}\n  sorts: {sorts:?}"
            );
        }
    }

    #[test]
    fn every_foreign_key_has_an_index_on_its_child_column() {
        let store = SqliteStore::in_memory(Limits::default()).unwrap();
        let conn = &store.lock().conn;
        let tables: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let mut checked = 0;
        for table in tables {
            let keys: Vec<String> = conn
                .prepare(&format!(
                    "SELECT \"from\" FROM pragma_foreign_key_list('{table}')"
                ))
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            for column in keys {
                let indexed: i64 = conn
                    .query_row(
                        &format!(
                            "SELECT COUNT(*) FROM pragma_index_list('{table}') AS l
                             WHERE (SELECT name FROM pragma_index_info(l.name) WHERE seqno = 0) = ?1"
                        ),
                        [&column],
                        |r| r.get(0),
                    )
                    .unwrap();
                assert!(
                    indexed > 0,
                    "{table}.{column} references another table unindexed"
                );
                checked += 1;
            }
        }
        assert!(checked > 0);
    }
}

#[cfg(test)]
mod totals {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn envelope(id: u8, body: usize, to: &[u8], expires_at: u64) -> NewDelivery {
        NewDelivery {
            id: [id; 16],
            body: vec![id; body],
            parts: to
                .iter()
                .map(|m| (MailboxId([*m; 16]), vec![*m; usize::from(*m)]))
                .collect(),
            expires_at,
            spend: None,
        }
    }

    /// The running totals agree with counting the tables.
    fn check(s: &SqliteStore) {
        let counted = load_totals(&s.lock().conn).unwrap();
        let stats = s.stats().unwrap();
        assert_eq!(
            (stats.pending_deliveries, stats.bodies, stats.bytes_stored),
            (counted.deliveries, counted.bodies, counted.bytes)
        );
    }

    #[test]
    fn metrics_totals_follow_every_write_without_counting_rows() {
        let s = SqliteStore::in_memory(Limits::default()).unwrap();
        check(&s);
        let batch = [
            envelope(1, 300, &[1, 2, 3], 100),
            envelope(2, 500, &[2], 50),
            envelope(1, 300, &[1, 2, 3], 100), // redelivered: stored once
            envelope(3, 700, &[4, 5], 1_000),
        ];
        s.deliver(&batch, 10);
        check(&s);
        assert_eq!(s.stats().unwrap().pending_deliveries, 6);
        s.ack(&MailboxId([2; 16]), &[[1; 16], [2; 16]]).unwrap();
        check(&s);
        s.ack(&MailboxId([9; 16]), &[[3; 16]]).unwrap();
        check(&s);
        s.expire(100).unwrap();
        check(&s);
        assert_eq!(s.stats().unwrap().pending_deliveries, 2);
        // Everything expired: nothing counted.
        s.expire(1_000).unwrap();
        check(&s);
        assert_eq!(s.stats().unwrap(), StoreStats::default());
    }

    #[test]
    fn acknowledgements_committed_together_remove_each_delivery_once() {
        let s = SqliteStore::in_memory(Limits::default()).unwrap();
        s.deliver(
            &[envelope(1, 300, &[1, 2], 100), envelope(2, 300, &[1], 100)],
            10,
        );
        // Mailbox 1 lists envelope 1 twice, and again in a second acknowledgement of the same
        // commit: removed once, and mailbox 2's copy of the shared body stays.
        let (one, two) = (MailboxId([1; 16]), MailboxId([2; 16]));
        let acks = [
            (one, vec![[1; 16], [1; 16], [2; 16]]),
            (one, vec![[1; 16]]),
            (two, vec![[9; 16]]),
        ];
        assert_eq!(s.ack_many(&acks).unwrap(), [2, 0, 0]);
        check(&s);
        let left = s.fetch(&two, 0, 10).unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].body, vec![1; 300]);
        assert!(s.fetch(&one, 0, 10).unwrap().is_empty());
        assert_eq!(s.ack(&two, &[[1; 16], [1; 16]]).unwrap(), 1);
        check(&s);
        assert_eq!(s.stats().unwrap(), StoreStats::default());
    }
}
