//! The embedded default store: SQLite in WAL mode with `synchronous=FULL`, so a commit that
//! returned has reached the disk.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::store::{
    Delivery, EnvelopeId, Limits, MailboxId, NewDelivery, PrekeyFetch, RelayStore, StoreError,
    StoreStats,
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
CREATE TABLE IF NOT EXISTS mailbox_usage (
    mailbox BLOB PRIMARY KEY,
    pending INTEGER NOT NULL,
    bytes   INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS nonces (
    scope      BLOB    NOT NULL,
    nonce      BLOB    NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (scope, nonce)
);
CREATE INDEX IF NOT EXISTS nonces_expiry ON nonces (expires_at);
CREATE TABLE IF NOT EXISTS bundles (
    user   BLOB PRIMARY KEY,
    owner  BLOB NOT NULL,
    bundle BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS one_time_prekeys (
    user   BLOB    NOT NULL,
    key_id INTEGER NOT NULL,
    prekey BLOB    NOT NULL,
    PRIMARY KEY (user, key_id)
);
";

/// SQLite-backed [`RelayStore`].
///
/// One connection writes (the group-commit writer, acks, nonces, the directory); a second one
/// reads (fetches, counters), so a fetch never waits for a batch's fsync. WAL lets the reader
/// see every committed write and nothing uncommitted.
pub struct SqliteStore {
    conn: Mutex<Connection>,
    reader: Option<Mutex<Connection>>,
    limits: Limits,
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

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path, limits: Limits) -> Result<Self, StoreError> {
        let mut store = Self::with_connection(Connection::open(path).map_err(backend)?, limits)?;
        let reader = Connection::open(path).map_err(backend)?;
        reader
            .execute_batch("PRAGMA query_only=ON;")
            .map_err(backend)?;
        store.reader = Some(Mutex::new(reader));
        Ok(store)
    }

    /// A private in-memory database, for tests.
    pub fn in_memory(limits: Limits) -> Result<Self, StoreError> {
        Self::with_connection(Connection::open_in_memory().map_err(backend)?, limits)
    }

    fn with_connection(conn: Connection, limits: Limits) -> Result<Self, StoreError> {
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
        )
        .map_err(backend)?;
        conn.execute_batch(SCHEMA).map_err(backend)?;
        Ok(Self {
            conn: Mutex::new(conn),
            reader: None,
            limits,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (transactions roll
        // back on drop), so a poisoned lock is safe to reuse.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The read connection (the write one for an in-memory database, which has no other).
    fn read(&self) -> MutexGuard<'_, Connection> {
        self.reader
            .as_ref()
            .unwrap_or(&self.conn)
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn deliver_one(
        &self,
        tx: &Transaction<'_>,
        d: &NewDelivery,
        now: u64,
    ) -> Result<(), StoreError> {
        // A savepoint per envelope, so a quota refusal undoes that envelope alone.
        cached(tx, "SAVEPOINT one", [])?;
        let result = self.insert_delivery(tx, d, now);
        if result.is_err() {
            cached(tx, "ROLLBACK TO one", [])?;
        }
        cached(tx, "RELEASE one", [])?;
        result
    }

    fn insert_delivery(
        &self,
        tx: &Transaction<'_>,
        d: &NewDelivery,
        now: u64,
    ) -> Result<(), StoreError> {
        let parts = int(d.parts.len() as u64);
        cached(
            tx,
            "INSERT INTO bodies (bytes, refs) VALUES (?1, ?2)",
            params![d.body, parts],
        )?;
        let body_id = tx.last_insert_rowid();
        let mut refs = 0i64;
        for (mailbox, part) in &d.parts {
            let size = int((d.body.len() + part.len()) as u64);
            let inserted = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO deliveries
                     (mailbox, envelope_id, body_id, part, size, received_at, expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        &mailbox.0[..],
                        &d.id[..],
                        body_id,
                        part,
                        size,
                        int(now),
                        int(d.expires_at)
                    ])
                })
                .map_err(backend)?;
            if inserted == 0 {
                continue; // already pending in this mailbox: at-least-once, stored once
            }
            refs += 1;
            self.charge(tx, mailbox, size)?;
        }
        if refs == 0 {
            cached(tx, "DELETE FROM bodies WHERE body_id = ?1", [body_id])?;
        } else if refs != parts {
            cached(
                tx,
                "UPDATE bodies SET refs = ?1 WHERE body_id = ?2",
                params![refs, body_id],
            )?;
        }
        Ok(())
    }

    fn charge(
        &self,
        tx: &Transaction<'_>,
        mailbox: &MailboxId,
        size: i64,
    ) -> Result<(), StoreError> {
        let (pending, bytes): (i64, i64) = tx
            .prepare_cached(
                "INSERT INTO mailbox_usage (mailbox, pending, bytes) VALUES (?1, 1, ?2)
                 ON CONFLICT (mailbox) DO UPDATE SET pending = pending + 1, bytes = bytes + ?2
                 RETURNING pending, bytes",
            )
            .and_then(|mut s| {
                s.query_row(params![&mailbox.0[..], size], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
            })
            .map_err(backend)?;
        if uint(pending) > self.limits.max_pending_per_mailbox
            || uint(bytes) > self.limits.max_pending_bytes_per_mailbox
        {
            return Err(StoreError::QuotaExceeded);
        }
        Ok(())
    }

    /// Deletes the given delivery rows (by seq), releasing usage and orphaned bodies.
    fn remove_rows(
        tx: &Transaction<'_>,
        rows: &[(i64, Vec<u8>, i64, i64)],
    ) -> Result<(), StoreError> {
        for (seq, mailbox, body_id, size) in rows {
            cached(tx, "DELETE FROM deliveries WHERE seq = ?1", [seq])?;
            cached(
                tx,
                "UPDATE mailbox_usage SET pending = pending - 1, bytes = bytes - ?2 WHERE mailbox = ?1",
                params![mailbox, size],
            )?;
            // By key, not a scan of every mailbox's usage.
            cached(
                tx,
                "DELETE FROM mailbox_usage WHERE mailbox = ?1 AND pending <= 0",
                [mailbox],
            )?;
            cached(
                tx,
                "UPDATE bodies SET refs = refs - 1 WHERE body_id = ?1",
                [body_id],
            )?;
            cached(
                tx,
                "DELETE FROM bodies WHERE body_id = ?1 AND refs <= 0",
                [body_id],
            )?;
        }
        Ok(())
    }
}

type Row = (i64, Vec<u8>, i64, i64);

/// Runs a statement through the connection's prepared-statement cache.
fn cached(tx: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<usize, StoreError> {
    tx.prepare_cached(sql)
        .and_then(|mut s| s.execute(params))
        .map_err(backend)
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

impl RelayStore for SqliteStore {
    fn deliver(&self, batch: &[NewDelivery], now: u64) -> Vec<Result<(), StoreError>> {
        let mut conn = self.lock();
        let Ok(tx) = conn.transaction() else {
            return vec![Err(StoreError::Backend); batch.len()];
        };
        let results: Vec<_> = batch
            .iter()
            .map(|d| self.deliver_one(&tx, d, now))
            .collect();
        match tx.commit() {
            Ok(()) => results,
            Err(_) => vec![Err(StoreError::Backend); batch.len()],
        }
    }

    fn fetch(
        &self,
        mailbox: &MailboxId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let conn = self.read();
        let mut stmt = conn
            .prepare_cached(
                "SELECT d.seq, d.envelope_id, b.bytes, d.part, d.received_at, d.expires_at
                 FROM deliveries d JOIN bodies b ON b.body_id = d.body_id
                 WHERE d.mailbox = ?1 AND d.seq > ?2 ORDER BY d.seq LIMIT ?3",
            )
            .map_err(backend)?;
        let rows = stmt
            .query_map(
                params![&mailbox.0[..], int(after), int(limit as u64)],
                |r| {
                    let id: Vec<u8> = r.get(1)?;
                    Ok(Delivery {
                        seq: uint(r.get(0)?),
                        id: EnvelopeId::try_from(id.as_slice()).unwrap_or_default(),
                        body: r.get(2)?,
                        part: r.get(3)?,
                        received_at: uint(r.get(4)?),
                        expires_at: uint(r.get(5)?),
                    })
                },
            )
            .map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(backend)
    }

    fn ack(&self, mailbox: &MailboxId, ids: &[EnvelopeId]) -> Result<usize, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(backend)?;
        let mut rows = Vec::with_capacity(ids.len());
        for id in ids {
            let found = tx
                .prepare_cached(
                    "SELECT seq, mailbox, body_id, size FROM deliveries WHERE mailbox = ?1 AND envelope_id = ?2",
                )
                .and_then(|mut s| s.query_row(params![&mailbox.0[..], &id[..]], row).optional())
                .map_err(backend)?;
            rows.extend(found);
        }
        Self::remove_rows(&tx, &rows)?;
        tx.commit().map_err(backend)?;
        Ok(rows.len())
    }

    fn expire(&self, now: u64) -> Result<usize, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(backend)?;
        let rows: Vec<Row> = tx
            .prepare("SELECT seq, mailbox, body_id, size FROM deliveries WHERE expires_at <= ?1")
            .and_then(|mut s| s.query_map([int(now)], row)?.collect())
            .map_err(backend)?;
        Self::remove_rows(&tx, &rows)?;
        tx.execute("DELETE FROM nonces WHERE expires_at <= ?1", [int(now)])
            .map_err(backend)?;
        tx.commit().map_err(backend)?;
        Ok(rows.len())
    }

    fn remember_nonce(
        &self,
        scope: &[u8],
        nonce: &[u8; 16],
        expires_at: u64,
    ) -> Result<bool, StoreError> {
        let conn = self.lock();
        let inserted = conn
            .prepare_cached(
                "INSERT OR IGNORE INTO nonces (scope, nonce, expires_at) VALUES (?1, ?2, ?3)",
            )
            .and_then(|mut s| s.execute(params![scope, &nonce[..], int(expires_at)]))
            .map_err(backend)?;
        Ok(inserted == 1)
    }

    fn publish_prekeys(
        &self,
        user: &[u8],
        owner: &MailboxId,
        bundle: &[u8],
        one_time: &[(u32, Vec<u8>)],
    ) -> Result<(), StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(backend)?;
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
            tx.execute(
                "INSERT OR REPLACE INTO one_time_prekeys (user, key_id, prekey) VALUES (?1, ?2, ?3)",
                params![user, id, key],
            )
            .map_err(backend)?;
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

    fn fetch_prekeys(&self, user: &[u8]) -> Result<PrekeyFetch, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(backend)?;
        let (owner, bundle): (Vec<u8>, Vec<u8>) = tx
            .query_row(
                "SELECT owner, bundle FROM bundles WHERE user = ?1",
                [user],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(backend)?
            .ok_or(StoreError::UnknownUser)?;
        let mailbox = MailboxId(<[u8; 16]>::try_from(owner.as_slice()).map_err(backend)?);
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
            mailbox,
            bundle,
            one_time,
        })
    }

    fn one_time_prekeys_left(&self, user: &[u8]) -> Result<u64, StoreError> {
        let conn = self.read();
        conn.query_row(
            "SELECT COUNT(*) FROM one_time_prekeys WHERE user = ?1",
            [user],
            |r| r.get(0),
        )
        .map(uint)
        .map_err(backend)
    }

    fn ping(&self) -> Result<(), StoreError> {
        self.read()
            .query_row("SELECT 1", [], |_| Ok(()))
            .map_err(backend)
    }

    fn stats(&self) -> Result<StoreStats, StoreError> {
        let conn = self.read();
        conn.query_row(
            "SELECT (SELECT COUNT(*) FROM deliveries),
                    (SELECT COUNT(*) FROM bodies),
                    (SELECT COALESCE(SUM(length(bytes)), 0) FROM bodies)
                  + (SELECT COALESCE(SUM(length(part)), 0) FROM deliveries)",
            [],
            |r| {
                Ok(StoreStats {
                    pending_deliveries: uint(r.get(0)?),
                    bodies: uint(r.get(1)?),
                    bytes_stored: uint(r.get(2)?),
                })
            },
        )
        .map_err(backend)
    }
}
