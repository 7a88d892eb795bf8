//! Where a client's state lives between runs (PROTOCOL.md §9.6). The engine does no I/O itself:
//! an app passes a [`ClientStore`]. [`MemoryStore`] keeps the state in memory (tests, ephemeral
//! sessions); [`SqliteStore`] (feature `sqlite-store`) keeps it in an SQLite file, encrypted
//! with a key the app supplies (from the platform's keystore).

use rand::CryptoRng;
use zeroize::Zeroizing;

use super::Client;
use crate::error::{DecodeError, Error};

/// Why a store failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreError {
    /// The storage itself failed (I/O, disk full, locked).
    Backend,
    /// The stored state did not decrypt under the key given: wrong key, or tampered.
    Tampered,
    /// The stored state decrypted but does not decode.
    Corrupt(DecodeError),
    /// The engine refused to serialise or restore.
    Engine(Error),
}

impl core::fmt::Display for StoreError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Backend => f.write_str("client store backend failed"),
            Self::Tampered => {
                f.write_str("stored client state does not authenticate under this key")
            }
            Self::Corrupt(e) => write!(f, "stored client state is corrupt: {e}"),
            Self::Engine(e) => write!(f, "client state: {e}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// A place for one client's state. `save` must be atomic: after a crash, `load` returns the
/// last state whose `save` returned `Ok`.
pub trait ClientStore {
    /// The last saved state, if any.
    fn load(&self) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError>;
    /// Replaces the state.
    fn save(&mut self, rng: &mut dyn CryptoRng, state: &[u8]) -> Result<(), StoreError>;
}

/// Keeps the state in memory.
#[derive(Default)]
pub struct MemoryStore(Option<Zeroizing<Vec<u8>>>);

impl ClientStore for MemoryStore {
    fn load(&self) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        Ok(self.0.clone())
    }

    fn save(&mut self, _: &mut dyn CryptoRng, state: &[u8]) -> Result<(), StoreError> {
        self.0 = Some(Zeroizing::new(state.to_vec()));
        Ok(())
    }
}

impl core::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("MemoryStore(..)")
    }
}

impl Client {
    /// Saves the whole state to `store`. Call it after every operation that sent or received,
    /// and before handing what was sent to the relay.
    pub fn save_to<R: CryptoRng>(
        &self,
        rng: &mut R,
        store: &mut dyn ClientStore,
    ) -> Result<(), StoreError> {
        store.save(rng, &self.to_bytes())
    }

    /// Restores a client from `store`, or `None` if nothing was saved.
    pub fn load_from(store: &dyn ClientStore) -> Result<Option<Self>, StoreError> {
        match store.load()? {
            Some(bytes) => Self::from_bytes(&bytes)
                .map(Some)
                .map_err(StoreError::Corrupt),
            None => Ok(None),
        }
    }
}

#[cfg(feature = "sqlite-store")]
pub use sqlite::SqliteStore;

#[cfg(feature = "sqlite-store")]
mod sqlite {
    use std::path::Path;

    use rusqlite::{Connection, OptionalExtension, params};
    use zeroize::Zeroizing;

    use rand::CryptoRng;

    use super::{ClientStore, StoreError};
    use crate::crypto::aead::{AeadKey, NONCE_LEN};

    const AAD: &[u8] = b"missive/v1/client-state";

    /// The client's state in an SQLite file (WAL, `synchronous=FULL`), sealed with
    /// ChaCha20-Poly1305 under the app's 32-byte key and a fresh random nonce per save.
    pub struct SqliteStore {
        conn: Connection,
        key: AeadKey,
    }

    fn backend<E>(_: E) -> StoreError {
        StoreError::Backend
    }

    impl SqliteStore {
        /// Opens (creating) the store at `path` with the app's key.
        pub fn open(path: &Path, key: &[u8; 32]) -> Result<Self, StoreError> {
            let conn = Connection::open(path).map_err(backend)?;
            conn.execute_batch(
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
                 CREATE TABLE IF NOT EXISTS client_state (
                     slot INTEGER PRIMARY KEY CHECK (slot = 1),
                     nonce BLOB NOT NULL,
                     sealed BLOB NOT NULL)",
            )
            .map_err(backend)?;
            Ok(Self {
                conn,
                key: AeadKey::new(key),
            })
        }
    }

    impl ClientStore for SqliteStore {
        fn load(&self) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
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
                .open_in_place(&nonce, AAD, &mut buf)
                .map_err(|_| StoreError::Tampered)?;
            Ok(Some(buf))
        }

        fn save(&mut self, rng: &mut dyn CryptoRng, state: &[u8]) -> Result<(), StoreError> {
            let mut nonce = [0u8; NONCE_LEN];
            rng.fill_bytes(&mut nonce);
            let sealed = self.key.seal(&nonce, AAD, state);
            self.conn
                .execute(
                    "INSERT INTO client_state (slot, nonce, sealed) VALUES (1, ?1, ?2)
                     ON CONFLICT (slot) DO UPDATE SET nonce = excluded.nonce, sealed = excluded.sealed",
                    params![&nonce[..], sealed],
                )
                .map_err(backend)?;
            Ok(())
        }
    }

    impl core::fmt::Debug for SqliteStore {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.write_str("SqliteStore(..)")
        }
    }
}
