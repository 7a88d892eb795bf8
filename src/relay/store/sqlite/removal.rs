//! Removing deliveries: acknowledgements (many mailboxes' in one commit) and expiry, and the
//! bodies no mailbox holds any more.

use rusqlite::{OptionalExtension, Transaction, params};

use super::super::{EnvelopeId, MailboxId, StoreError};
use super::sql::{Row, backend, cached, int, returning, row, uint};
use super::usage::{Change, release};
use super::{SqliteStore, Writer};

impl SqliteStore {
    pub(super) fn remove_acked(
        &self,
        acks: &[(MailboxId, Vec<EnvelopeId>)],
    ) -> Result<Vec<usize>, StoreError> {
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

    pub(super) fn sweep(&self, now: u64) -> Result<usize, StoreError> {
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
}

/// Deletes the given delivery rows (by seq) and bodies no longer referenced; returns what was
/// removed.
pub(super) fn remove_rows(tx: &Transaction<'_>, rows: &[Row]) -> Result<Change, StoreError> {
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
