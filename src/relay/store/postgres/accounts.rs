//! What the relay keeps per account: access records, token issuance quotas, credit
//! purchases, and its own named secrets. Each count is one statement that checks and adds
//! together, so requests through different relays cannot both pass.

use deadpool_postgres::Client;

use super::super::{AccessChange, AccessRecords, MailboxId, StoreError};
use super::sql::{Fault, execute, fixed, int, mailbox, query};

pub(super) async fn access_records(
    c: &mut Client,
    mailboxes: &[MailboxId],
) -> Result<Vec<(MailboxId, Vec<u8>)>, Fault> {
    let keys: Vec<&[u8]> = mailboxes.iter().map(|m| &m.0[..]).collect();
    Ok(query(
        &*c,
        "SELECT mailbox, record FROM mailbox_access
         WHERE mailbox = ANY($1) AND record <> ''::bytea",
        &[&keys],
    )
    .await?
    .into_iter()
    .map(|r| (mailbox(r.get(0)), r.get(1)))
    .collect())
}

/// Read, change and write one record under its row lock (a first record's row is made empty
/// first, so two first registrations queue on it too).
pub(super) async fn change_access(
    c: &mut Client,
    mailbox: &MailboxId,
    change: &mut AccessChange<'_>,
) -> Result<Option<Vec<u8>>, Fault> {
    let tx = c.transaction().await?;
    let key = &mailbox.0[..];
    execute(
        &tx,
        "INSERT INTO mailbox_access (mailbox, record) VALUES ($1, ''::bytea)
         ON CONFLICT (mailbox) DO NOTHING",
        &[&key],
    )
    .await?;
    let rows = query(
        &tx,
        "SELECT record FROM mailbox_access WHERE mailbox = $1 FOR UPDATE",
        &[&key],
    )
    .await?;
    let current: Option<Vec<u8>> = rows
        .first()
        .map(|r| r.get(0))
        .filter(|r: &Vec<u8>| !r.is_empty());
    // Nothing to write: dropping `tx` takes back the empty row, if it made one.
    let Some(next) = change(current.as_deref()) else {
        return Ok(None);
    };
    execute(
        &tx,
        "UPDATE mailbox_access SET record = $2, writer = pg_current_xact_id()
         WHERE mailbox = $1",
        &[&key, &next],
    )
    .await?;
    tx.commit().await?;
    Ok(Some(next))
}

/// Records written since `cursor`: by every transaction that had not finished when the last
/// call's snapshot was taken (its `xmin`), so none committing out of order is missed; some
/// come twice.
/// Where to follow access changes from: the oldest transaction still running now (one that
/// commits later is in the changes asked from here).
pub(super) async fn access_cursor(c: &mut Client) -> Result<u64, Fault> {
    let rows = query(
        &*c,
        "SELECT pg_snapshot_xmin(pg_current_snapshot())::text",
        &[],
    )
    .await?;
    rows.first()
        .and_then(|r| r.get::<_, String>(0).parse().ok())
        .ok_or(Fault::Refused(StoreError::Backend))
}

pub(super) async fn access_changes(
    c: &mut Client,
    cursor: u64,
) -> Result<(AccessRecords, u64), Fault> {
    let rows = query(
        &*c,
        "WITH s AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin)
         SELECT s.xmin::text, a.mailbox, a.record FROM s
         LEFT JOIN mailbox_access a ON a.writer >= $1::text::xid8 AND a.record <> ''::bytea",
        &[&cursor.to_string()],
    )
    .await?;
    let next = rows
        .first()
        .and_then(|r| r.get::<_, String>(0).parse().ok())
        .unwrap_or(cursor);
    let changed = rows
        .iter()
        .filter_map(|r| {
            let key: Option<Vec<u8>> = r.get(1);
            key.map(|k| (mailbox(&k), r.get(2)))
        })
        .collect();
    Ok((changed, next))
}

/// Whether a proof's nonce is new to every relay (and remembers it until `until`).
pub(super) async fn fresh_nonce(
    c: &mut Client,
    mailbox: &MailboxId,
    nonce: &[u8; 16],
    until: u64,
) -> Result<bool, Fault> {
    let added = execute(
        &*c,
        "INSERT INTO proof_nonces (mailbox, nonce, until) VALUES ($1, $2, $3)
         ON CONFLICT (mailbox, nonce) DO NOTHING",
        &[&&mailbox.0[..], &&nonce[..], &int(until)],
    )
    .await?;
    Ok(added == 1)
}

pub(super) async fn quota(
    c: &mut Client,
    mailbox: &MailboxId,
    kind: u8,
    period: u32,
    count: u32,
    max: u32,
) -> Result<(), Fault> {
    let period = i32::try_from(period).unwrap_or(i32::MAX);
    let counted = execute(
        &*c,
        "INSERT INTO token_quota (mailbox, kind, period, issued)
         SELECT $1::bytea, $2::smallint, $3::integer, $4::bigint WHERE $4::bigint <= $5::bigint
         ON CONFLICT (mailbox, kind, period)
         DO UPDATE SET issued = token_quota.issued + excluded.issued
         WHERE token_quota.issued + excluded.issued <= $5::bigint",
        &[
            &&mailbox.0[..],
            &i16::from(kind),
            &period,
            &i64::from(count),
            &i64::from(max),
        ],
    )
    .await?;
    if counted == 1 {
        Ok(())
    } else {
        Err(StoreError::NoQuota.into())
    }
}

pub(super) async fn purchase(
    c: &mut Client,
    id: &[u8; 16],
    count: u32,
    credits: u32,
    expires: u64,
) -> Result<(), Fault> {
    let counted = execute(
        &*c,
        "INSERT INTO credit_purchases (id, redeemed, expires_at)
         SELECT $1::bytea, $2::bigint, $4::bigint WHERE $2::bigint <= $3::bigint
         ON CONFLICT (id) DO UPDATE SET redeemed = credit_purchases.redeemed + excluded.redeemed
         WHERE credit_purchases.redeemed + excluded.redeemed <= $3::bigint",
        &[
            &&id[..],
            &i64::from(count),
            &i64::from(credits),
            &int(expires),
        ],
    )
    .await?;
    if counted == 1 {
        Ok(())
    } else {
        Err(StoreError::NoQuota.into())
    }
}

pub(super) async fn secret(c: &mut Client, name: &str, fresh: [u8; 32]) -> Result<[u8; 32], Fault> {
    execute(
        &*c,
        "INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        &[&name, &&fresh[..]],
    )
    .await?;
    let rows = query(&*c, "SELECT value FROM secrets WHERE name = $1", &[&name]).await?;
    let row = rows.first().ok_or(StoreError::Backend)?;
    fixed(row.get(0))
}
