//! Storing envelopes: one group commit per batch, each envelope all or nothing (quota and
//! token spend included).

use rusqlite::{Transaction, params};

use super::super::spend::next_spend;
use super::super::{MailboxId, NewDelivery, StoreError};
use super::spends::SpentMap;
use super::sql::{backend, cached, int};
use super::usage::{Change, UsageMap, charge, merge};
use super::{SqliteStore, Writer};

/// What a batch adds to the writer's maps, applied once it has committed.
#[derive(Default)]
pub(super) struct Added {
    pub(super) usage: UsageMap,
    pub(super) spent: SpentMap,
    pub(super) stored: Change,
}

impl SqliteStore {
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

    pub(super) fn deliver_batch(
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
