//! What the relay keeps per account: access records, token issuance quotas, credit
//! purchases, and its own named secrets. Each count is one statement that checks and adds
//! together, so requests through different relays cannot both pass.

use deadpool_postgres::Client;

use super::super::{MailboxId, StoreError};
use super::sql::{Fault, execute, fixed, int, mailbox, query};

pub(super) async fn access_records(c: &mut Client) -> Result<Vec<(MailboxId, Vec<u8>)>, Fault> {
    Ok(
        query(&*c, "SELECT mailbox, record FROM mailbox_access", &[])
            .await?
            .into_iter()
            .map(|r| (mailbox(r.get(0)), r.get(1)))
            .collect(),
    )
}

pub(super) async fn put_access(
    c: &mut Client,
    mailbox: &MailboxId,
    record: &[u8],
) -> Result<(), Fault> {
    execute(
        &*c,
        "INSERT INTO mailbox_access (mailbox, record) VALUES ($1, $2)
         ON CONFLICT (mailbox) DO UPDATE SET record = excluded.record",
        &[&&mailbox.0[..], &record],
    )
    .await?;
    Ok(())
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
