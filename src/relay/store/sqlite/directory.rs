//! The prekey directory: bundles owned by the first mailbox to publish a name, and one-time
//! prekeys each handed out once.

use rusqlite::{OptionalExtension, params};

use super::super::{MailboxId, PrekeyFetch, StoreError};
use super::SqliteStore;
use super::sql::{backend, cached, mailbox, uint};

impl SqliteStore {
    pub(super) fn publish(
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

    pub(super) fn claim(&self, user: &[u8], one_time: bool) -> Result<PrekeyFetch, StoreError> {
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

    pub(super) fn stored_device_list(&self, user: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(|conn| {
            conn.query_row(
                "SELECT list FROM device_lists WHERE user = ?1",
                [user],
                |r| r.get(0),
            )
            .optional()
            .map_err(backend)
        })
    }

    pub(super) fn store_device_list(
        &self,
        user: &[u8],
        version: i64,
        list: &[u8],
    ) -> Result<bool, StoreError> {
        let writer = self.lock();
        let written = writer
            .conn
            .execute(
                "INSERT INTO device_lists (user, version, list) VALUES (?1, ?2, ?3)
                 ON CONFLICT (user) DO UPDATE SET version = excluded.version, list = excluded.list
                 WHERE device_lists.version < excluded.version",
                params![user, version, list],
            )
            .map_err(backend)?;
        Ok(written == 1)
    }

    pub(super) fn prekeys_left(&self, user: &[u8]) -> Result<u64, StoreError> {
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
}
