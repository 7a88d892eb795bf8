//! Where a client's state lives between runs (PROTOCOL.md §9.6). The engine does no I/O itself:
//! an app passes a [`ClientStore`]. [`MemoryStore`] keeps the state in memory (tests, ephemeral
//! sessions); [`SqliteStore`] (feature `sqlite-store`) keeps it in an SQLite file, encrypted
//! with a key the app supplies (from the platform's keystore).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use zeroize::Zeroizing;

pub use super::records::StorageKey;
pub use crate::error::StoreError;

/// Where a record is filed: 16 pseudorandom bytes (PROTOCOL.md §9.6).
pub type RowKey = [u8; 16];

/// A place for one client's state: sealed records under opaque row keys, and the key they are
/// sealed with. The engine seals, checks and decides what to write; a store only keeps bytes.
pub trait ClientStore {
    /// The key this store's records are sealed under.
    fn key(&self) -> &StorageKey;
    /// The bytes filed under `row`, if any.
    fn get(&self, row: &RowKey) -> Result<Option<Vec<u8>>, StoreError>;
    /// Files each value under its row (`None` deletes the row), all or nothing, if and only if
    /// row `check` holds exactly `expected` (`None`: no such row) when the commit takes
    /// effect; else changes nothing and returns [`StoreError::Conflict`]. The check and the
    /// writes are one atomic step, so of two writers that read the same state, one commits and
    /// the other gets `Conflict`. After a crash, `get` sees every change of the last `commit`
    /// that returned `Ok` and none of a commit that did not.
    fn commit(
        &mut self,
        check: &RowKey,
        expected: Option<&[u8]>,
        changes: &[(RowKey, Option<Vec<u8>>)],
    ) -> Result<(), StoreError>;
    /// Runs `read`, whose `get`s must all see one state: no commit may land among them. The
    /// default runs it as it is, for stores with one writer in one process; a store other
    /// processes write to reads from a snapshot (`SqliteStore`: one read transaction).
    fn consistent(
        &self,
        read: &mut dyn FnMut() -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        read()
    }

    /// A whole state saved before records existed, decrypted, if the store holds one and no
    /// records yet. It is read once and converted; the next `commit` may delete it.
    fn legacy(&self) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        Ok(None)
    }

    /// A reader of this store's rows that sees every later commit to it, for a client that
    /// loads its records when first used rather than all at start. `None` (the default):
    /// every record is loaded at start. A client keeps reading the store it was loaded from
    /// (or last saved whole to): save it there, not to a copy, or what it reads next is
    /// `StoreError::Conflict`.
    fn reader(&self) -> Option<Box<dyn RecordReader>> {
        None
    }
}

/// Reads a store's rows after a client loaded from it ([`ClientStore::reader`]).
pub trait RecordReader: Send {
    /// The key the store's records are sealed under.
    fn key(&self) -> &StorageKey;
    /// The bytes filed under `row`, if any, as the store's last commit left them.
    fn get(&self, row: &RowKey) -> Result<Option<Vec<u8>>, StoreError>;
}

type Rows = BTreeMap<RowKey, Vec<u8>>;

/// Keeps the state in memory.
pub struct MemoryStore {
    key: StorageKey,
    /// Shared with the readers handed out: they see every commit.
    rows: Arc<Mutex<Rows>>,
}

impl MemoryStore {
    /// An empty store whose records are sealed under `key`.
    pub fn new(key: StorageKey) -> Self {
        Self {
            key,
            rows: Arc::default(),
        }
    }

    /// Every row, for tests that tamper with a store.
    #[doc(hidden)]
    pub fn rows_mut(&mut self) -> MutexGuard<'_, Rows> {
        lock(&self.rows)
    }
}

// A panic while the lock was held cannot leave the map half-changed: every change under it
// is one insert or remove.
fn lock(rows: &Mutex<Rows>) -> MutexGuard<'_, Rows> {
    rows.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

struct MemoryReader {
    key: StorageKey,
    rows: Arc<Mutex<Rows>>,
}

impl RecordReader for MemoryReader {
    fn key(&self) -> &StorageKey {
        &self.key
    }

    fn get(&self, row: &RowKey) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(lock(&self.rows).get(row).cloned())
    }
}

impl Default for MemoryStore {
    /// An empty store with a random key.
    fn default() -> Self {
        Self::new(StorageKey::generate(&mut rand::rng()))
    }
}

impl Clone for MemoryStore {
    /// A copy of the rows as they are now, which later commits to either do not change.
    fn clone(&self) -> Self {
        Self {
            key: self.key.clone(),
            rows: Arc::new(Mutex::new(lock(&self.rows).clone())),
        }
    }
}

impl ClientStore for MemoryStore {
    fn key(&self) -> &StorageKey {
        &self.key
    }

    fn get(&self, row: &RowKey) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(lock(&self.rows).get(row).cloned())
    }

    fn commit(
        &mut self,
        check: &RowKey,
        expected: Option<&[u8]>,
        changes: &[(RowKey, Option<Vec<u8>>)],
    ) -> Result<(), StoreError> {
        let mut rows = lock(&self.rows);
        if rows.get(check).map(Vec::as_slice) != expected {
            return Err(StoreError::Conflict);
        }
        for (row, value) in changes {
            match value {
                Some(v) => rows.insert(*row, v.clone()),
                None => rows.remove(row),
            };
        }
        Ok(())
    }

    fn reader(&self) -> Option<Box<dyn RecordReader>> {
        Some(Box::new(MemoryReader {
            key: self.key.clone(),
            rows: Arc::clone(&self.rows),
        }))
    }
}

impl core::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("MemoryStore(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_takes_effect_only_while_its_check_holds() {
        let mut store = MemoryStore::default();
        let (row, other) = ([1; 16], [2; 16]);
        let put = |v: u8| vec![(other, Some(vec![v]))];
        assert_eq!(
            store.commit(&row, Some(&[0]), &put(1)),
            Err(StoreError::Conflict)
        );
        assert_eq!(store.get(&other), Ok(None));
        store.commit(&row, None, &[(row, Some(vec![7]))]).unwrap();
        assert_eq!(store.commit(&row, None, &put(1)), Err(StoreError::Conflict));
        assert_eq!(
            store.commit(&row, Some(&[8]), &put(1)),
            Err(StoreError::Conflict)
        );
        assert_eq!(store.get(&other), Ok(None));
        store.commit(&row, Some(&[7]), &put(1)).unwrap();
        assert_eq!(store.get(&other), Ok(Some(vec![1])));
        store.commit(&row, Some(&[7]), &[(other, None)]).unwrap();
        assert_eq!(store.get(&other), Ok(None));
    }
}

#[cfg(feature = "sqlite-store")]
pub use sqlite::SqliteStore;

#[cfg(feature = "sqlite-store")]
mod sqlite {
    use std::path::Path;

    use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
    use zeroize::Zeroizing;

    use super::{ClientStore, RecordReader, RowKey, StorageKey, StoreError};
    use crate::crypto::aead::NONCE_LEN;

    /// What a whole state saved before records was sealed with.
    const LEGACY_AAD: &[u8] = b"missive/v1/client-state";

    /// The client's records in an SQLite file (WAL, `synchronous=FULL`), each commit one
    /// transaction. A state saved whole by an earlier version (table `client_state`) is read
    /// once by [`ClientStore::legacy`] and dropped by the first commit.
    pub struct SqliteStore {
        conn: Connection,
        key: StorageKey,
    }

    fn backend<E>(_: E) -> StoreError {
        StoreError::Backend
    }

    impl SqliteStore {
        /// Opens (creating) the store at `path` with the app's key.
        pub fn open(path: &Path, key: &[u8; 32]) -> Result<Self, StoreError> {
            let conn = Connection::open(path).map_err(backend)?;
            conn.execute_batch(
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000;
                 CREATE TABLE IF NOT EXISTS client_records (
                     row BLOB PRIMARY KEY,
                     value BLOB NOT NULL) WITHOUT ROWID",
            )
            .map_err(backend)?;
            Ok(Self {
                conn,
                key: StorageKey::new(key),
            })
        }
    }

    impl ClientStore for SqliteStore {
        fn key(&self) -> &StorageKey {
            &self.key
        }

        fn get(&self, row: &RowKey) -> Result<Option<Vec<u8>>, StoreError> {
            select(&self.conn, row)
        }

        fn commit(
            &mut self,
            check: &RowKey,
            expected: Option<&[u8]>,
            changes: &[(RowKey, Option<Vec<u8>>)],
        ) -> Result<(), StoreError> {
            // IMMEDIATE takes the write lock before the check is read: no other connection
            // can commit between the check and the writes.
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(backend)?;
            let current: Option<Vec<u8>> = tx
                .query_row(
                    "SELECT value FROM client_records WHERE row = ?1",
                    [&check[..]],
                    |r| r.get(0),
                )
                .optional()
                .map_err(backend)?;
            if current.as_deref() != expected {
                return Err(StoreError::Conflict);
            }
            {
                let mut put = tx
                    .prepare_cached(
                        "INSERT INTO client_records (row, value) VALUES (?1, ?2)
                         ON CONFLICT (row) DO UPDATE SET value = excluded.value",
                    )
                    .map_err(backend)?;
                let mut delete = tx
                    .prepare_cached("DELETE FROM client_records WHERE row = ?1")
                    .map_err(backend)?;
                for (row, value) in changes {
                    match value {
                        Some(v) => put.execute(params![&row[..], v]),
                        None => delete.execute([&row[..]]),
                    }
                    .map_err(backend)?;
                }
            }
            tx.execute_batch("DROP TABLE IF EXISTS client_state")
                .map_err(backend)?;
            tx.commit().map_err(backend)
        }

        fn consistent(
            &self,
            read: &mut dyn FnMut() -> Result<(), StoreError>,
        ) -> Result<(), StoreError> {
            // In WAL mode a read transaction sees one snapshot from its first read on.
            self.conn.execute_batch("BEGIN DEFERRED").map_err(backend)?;
            let result = read();
            self.conn.execute_batch("COMMIT").map_err(backend)?;
            result
        }

        fn reader(&self) -> Option<Box<dyn RecordReader>> {
            // An in-memory database has no name a second connection could open.
            let path = self.conn.path().filter(|p| !p.is_empty())?;
            let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).ok()?;
            conn.busy_timeout(std::time::Duration::from_secs(5)).ok()?;
            Some(Box::new(SqliteReader {
                conn,
                key: self.key.clone(),
            }))
        }

        fn legacy(&self) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
            let exists: bool = self
                .conn
                .query_row(
                    "SELECT count(*) > 0 FROM sqlite_master WHERE name = 'client_state'",
                    [],
                    |r| r.get(0),
                )
                .map_err(backend)?;
            if !exists {
                return Ok(None);
            }
            let row: Option<(Vec<u8>, Vec<u8>)> = self
                .conn
                .query_row(
                    "SELECT nonce, sealed FROM client_state WHERE slot = 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(backend)?;
            let Some((nonce, sealed)) = row else {
                return Ok(None);
            };
            let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| StoreError::Tampered)?;
            let mut buf = Zeroizing::new(sealed);
            self.key
                .legacy()
                .open_in_place(&nonce, LEGACY_AAD, &mut buf)
                .map_err(|_| StoreError::Tampered)?;
            Ok(Some(buf))
        }
    }

    /// A second, read-only connection to the store's file.
    struct SqliteReader {
        conn: Connection,
        key: StorageKey,
    }

    impl RecordReader for SqliteReader {
        fn key(&self) -> &StorageKey {
            &self.key
        }

        fn get(&self, row: &RowKey) -> Result<Option<Vec<u8>>, StoreError> {
            select(&self.conn, row)
        }
    }

    fn select(conn: &Connection, row: &RowKey) -> Result<Option<Vec<u8>>, StoreError> {
        conn.prepare_cached("SELECT value FROM client_records WHERE row = ?1")
            .and_then(|mut s| s.query_row([&row[..]], |r| r.get(0)).optional())
            .map_err(backend)
    }

    impl core::fmt::Debug for SqliteStore {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.write_str("SqliteStore(..)")
        }
    }
}
