//! Removing deliveries (acknowledgements, expiry) and freeing the bodies no delivery holds.

use std::collections::{BTreeMap, HashSet};

use deadpool_postgres::{Client, Transaction};

use super::super::{EnvelopeId, MailboxId};
use super::sql::{Fault, execute, fixed, int, mailbox, query};

/// Several mailboxes' acknowledgements in one commit; how many each removed, in order (an
/// id listed twice is counted once, where it first appears).
pub(super) async fn ack(
    c: &mut Client,
    acks: &[(MailboxId, Vec<EnvelopeId>)],
) -> Result<Vec<usize>, Fault> {
    let tx = c.transaction().await?;
    let (ms, es): (Vec<Vec<u8>>, Vec<Vec<u8>>) = acks
        .iter()
        .flat_map(|(m, ids)| ids.iter().map(|id| (m.0.to_vec(), id.to_vec())))
        .unzip();
    let mut locked = ms.clone();
    locked.sort_unstable();
    locked.dedup();
    lock(&tx, &locked).await?;
    let removed = query(
        &tx,
        "DELETE FROM deliveries d USING unnest($1::bytea[], $2::bytea[]) AS t(m, e)
         WHERE d.mailbox = t.m AND d.envelope_id = t.e
         RETURNING d.mailbox, d.envelope_id, d.body_id, d.size",
        &[&ms, &es],
    )
    .await?;
    let mut gone = HashSet::new();
    let mut per_mailbox: BTreeMap<MailboxId, (i64, i64)> = BTreeMap::new();
    let mut bodies = Vec::with_capacity(removed.len());
    for r in &removed {
        let (m, id): (MailboxId, EnvelopeId) = (mailbox(r.get(0)), fixed(r.get(1))?);
        gone.insert((m, id));
        bodies.push(r.get::<_, i64>(2));
        let entry = per_mailbox.entry(m).or_default();
        entry.0 += 1;
        entry.1 += r.get::<_, i64>(3);
    }
    release(&tx, &per_mailbox).await?;
    free(&tx, bodies).await?;
    tx.commit().await?;
    Ok(acks
        .iter()
        .map(|(m, ids)| ids.iter().filter(|id| gone.remove(&(*m, **id))).count())
        .collect())
}

/// Drops what expired at or before `now`: deliveries, bodies, spends, purchases, and quota
/// counts of months past. Returns how many deliveries went.
pub(super) async fn expire(c: &mut Client, now: u64) -> Result<usize, Fault> {
    let tx = c.transaction().await?;
    let at = int(now);
    let affected: Vec<Vec<u8>> = query(
        &tx,
        "SELECT DISTINCT mailbox FROM deliveries WHERE expires_at <= $1 ORDER BY mailbox",
        &[&at],
    )
    .await?
    .into_iter()
    .map(|r| r.get(0))
    .collect();
    lock(&tx, &affected).await?;
    let removed = query(
        &tx,
        "DELETE FROM deliveries WHERE expires_at <= $1 RETURNING mailbox, size",
        &[&at],
    )
    .await?;
    let mut per_mailbox: BTreeMap<MailboxId, (i64, i64)> = BTreeMap::new();
    for r in &removed {
        let entry = per_mailbox.entry(mailbox(r.get(0))).or_default();
        entry.0 += 1;
        entry.1 += r.get::<_, i64>(1);
    }
    release(&tx, &per_mailbox).await?;
    execute(&tx, "DELETE FROM bodies WHERE expires_at <= $1", &[&at]).await?;
    sweep(&tx).await?;
    execute(
        &tx,
        "DELETE FROM token_spends WHERE expires_at <= $1",
        &[&at],
    )
    .await?;
    execute(&tx, "DELETE FROM proof_nonces WHERE until < $1", &[&at]).await?;
    // A purchase past its expiry is refused before its count is looked at.
    execute(
        &tx,
        "DELETE FROM credit_purchases WHERE expires_at < $1",
        &[&at],
    )
    .await?;
    // Issuance counts matter only for the month being issued.
    let month = i32::try_from(crate::platform::month_of(now)).unwrap_or(i32::MAX);
    execute(&tx, "DELETE FROM token_quota WHERE period < $1", &[&month]).await?;
    tx.commit().await?;
    Ok(removed.len())
}

/// Locks mailbox rows in key order (`mailboxes` sorted), as every writer does.
async fn lock(tx: &Transaction<'_>, mailboxes: &[Vec<u8>]) -> Result<(), Fault> {
    if !mailboxes.is_empty() {
        query(
            tx,
            "SELECT 1 FROM mailboxes WHERE mailbox = ANY($1) ORDER BY mailbox FOR UPDATE",
            &[&mailboxes],
        )
        .await?;
    }
    Ok(())
}

/// Takes removed deliveries (count and bytes per mailbox) off their mailboxes' counters.
async fn release(
    tx: &Transaction<'_>,
    per_mailbox: &BTreeMap<MailboxId, (i64, i64)>,
) -> Result<(), Fault> {
    if per_mailbox.is_empty() {
        return Ok(());
    }
    let ms: Vec<Vec<u8>> = per_mailbox.keys().map(|m| m.0.to_vec()).collect();
    let counts: Vec<i64> = per_mailbox.values().map(|v| v.0).collect();
    let bytes: Vec<i64> = per_mailbox.values().map(|v| v.1).collect();
    execute(
        tx,
        "UPDATE mailboxes AS m SET pending = m.pending - u.n, bytes = m.bytes - u.b
         FROM unnest($1::bytea[], $2::bigint[], $3::bigint[]) AS u(k, n, b)
         WHERE m.mailbox = u.k",
        &[&ms, &counts, &bytes],
    )
    .await?;
    Ok(())
}

/// Deletes the bodies among `ids` that no delivery holds; the others wait for the sweep (a
/// concurrent acknowledgement of the same body may be removing the last other delivery).
async fn free(tx: &Transaction<'_>, mut ids: Vec<i64>) -> Result<(), Fault> {
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(());
    }
    let deleted: HashSet<i64> = query(
        tx,
        "DELETE FROM bodies b WHERE b.body_id = ANY($1)
           AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.body_id = b.body_id)
         RETURNING b.body_id",
        &[&ids],
    )
    .await?
    .into_iter()
    .map(|r| r.get(0))
    .collect();
    let kept: Vec<i64> = ids.into_iter().filter(|id| !deleted.contains(id)).collect();
    if !kept.is_empty() {
        execute(
            tx,
            "INSERT INTO body_sweep (body_id) SELECT unnest($1::bigint[])
             ON CONFLICT (body_id) DO NOTHING",
            &[&kept],
        )
        .await?;
    }
    Ok(())
}

/// Frees the swept bodies no delivery holds any more. Each candidate is taken once; one
/// whose last delivery an uncommitted acknowledgement is removing comes back from it.
async fn sweep(tx: &Transaction<'_>) -> Result<(), Fault> {
    let taken: Vec<i64> = query(tx, "DELETE FROM body_sweep RETURNING body_id", &[])
        .await?
        .into_iter()
        .map(|r| r.get(0))
        .collect();
    if !taken.is_empty() {
        execute(
            tx,
            "DELETE FROM bodies b WHERE b.body_id = ANY($1)
               AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.body_id = b.body_id)",
            &[&taken],
        )
        .await?;
    }
    Ok(())
}
