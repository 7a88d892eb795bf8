//! What the relay keeps per account: access records, token issuance quotas, credit
//! purchases, and its own named secrets.

use rusqlite::{OptionalExtension, params};

use super::super::{AccessChange, MailboxId, StoreError};
use super::SqliteStore;
use super::sql::{backend, cached, int};

impl SqliteStore {
    pub(super) fn modify_access(
        &self,
        mailbox: &MailboxId,
        change: &mut AccessChange<'_>,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let writer = self.lock();
        let current: Option<Vec<u8>> = writer
            .conn
            .prepare_cached("SELECT record FROM mailbox_access WHERE mailbox = ?1")
            .and_then(|mut s| s.query_row([&mailbox.0[..]], |r| r.get(0)).optional())
            .map_err(backend)?;
        let Some(next) = change(current.as_deref()) else {
            return Ok(None);
        };
        cached(
            &writer.conn,
            "INSERT OR REPLACE INTO mailbox_access (mailbox, record) VALUES (?1, ?2)",
            params![&mailbox.0[..], &next],
        )?;
        Ok(Some(next))
    }

    pub(super) fn read_access(
        &self,
        mailboxes: &[MailboxId],
    ) -> Result<Vec<(MailboxId, Vec<u8>)>, StoreError> {
        self.read(|conn| {
            let mut statement = conn
                .prepare_cached("SELECT record FROM mailbox_access WHERE mailbox = ?1")
                .map_err(backend)?;
            let mut out = Vec::new();
            for m in mailboxes {
                let record: Option<Vec<u8>> = statement
                    .query_row([&m.0[..]], |r| r.get(0))
                    .optional()
                    .map_err(backend)?;
                out.extend(record.map(|r| (*m, r)));
            }
            Ok(out)
        })
    }

    pub(super) fn count_quota(
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

    pub(super) fn count_purchase(
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

    pub(super) fn named_secret(&self, name: &str, fresh: [u8; 32]) -> Result<[u8; 32], StoreError> {
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
}
