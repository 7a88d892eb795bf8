//! The prekey directory: a name belongs to the first mailbox to publish it, and each one-time
//! prekey is handed out once, whichever relay is asked (`FOR UPDATE SKIP LOCKED`: concurrent
//! lookups each take a different key, none waits for another).

use deadpool_postgres::Client;

use super::super::{MailboxId, PrekeyFetch, StoreError};
use super::sql::{Fault, execute, mailbox, query, uint};

pub(super) async fn publish(
    c: &mut Client,
    user: &[u8],
    owner: &MailboxId,
    bundle: &[u8],
    one_time: &[(u32, Vec<u8>)],
    max: usize,
) -> Result<(), Fault> {
    let tx = c.transaction().await?;
    let written = execute(
        &tx,
        "INSERT INTO bundles (name, owner, bundle) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET bundle = excluded.bundle
         WHERE bundles.owner = excluded.owner",
        &[&user, &&owner.0[..], &bundle],
    )
    .await?;
    if written == 0 {
        return Err(StoreError::NotOwner.into());
    }
    if !one_time.is_empty() {
        let ids: Vec<i64> = one_time.iter().map(|(id, _)| i64::from(*id)).collect();
        let keys: Vec<&[u8]> = one_time.iter().map(|(_, k)| k.as_slice()).collect();
        execute(
            &tx,
            "INSERT INTO one_time_prekeys (name, key_id, prekey)
             SELECT $1::bytea, k, p FROM unnest($2::bigint[], $3::bytea[]) AS t(k, p)
             ON CONFLICT (name, key_id) DO UPDATE SET prekey = excluded.prekey",
            &[&user, &ids, &keys],
        )
        .await?;
    }
    let count: i64 = query(
        &tx,
        "SELECT COUNT(*) FROM one_time_prekeys WHERE name = $1",
        &[&user],
    )
    .await?
    .first()
    .map_or(0, |r| r.get(0));
    if uint(count) > max as u64 {
        // Dropping `tx` rolls back.
        return Err(StoreError::TooManyPrekeys.into());
    }
    tx.commit().await?;
    Ok(())
}

pub(super) async fn claim(
    c: &mut Client,
    user: &[u8],
    one_time: bool,
) -> Result<PrekeyFetch, Fault> {
    let found = query(
        &*c,
        "SELECT owner, bundle FROM bundles WHERE name = $1",
        &[&user],
    )
    .await?;
    let row = found.first().ok_or(StoreError::UnknownUser)?;
    let (owner, bundle): (Vec<u8>, Vec<u8>) = (row.get(0), row.get(1));
    let one_time = if one_time {
        query(
            &*c,
            "DELETE FROM one_time_prekeys WHERE (name, key_id) = (
                 SELECT name, key_id FROM one_time_prekeys WHERE name = $1
                 ORDER BY key_id LIMIT 1 FOR UPDATE SKIP LOCKED)
             RETURNING key_id, prekey",
            &[&user],
        )
        .await?
        .first()
        .map(|r| {
            let id = u32::try_from(r.get::<_, i64>(0)).unwrap_or(u32::MAX);
            (id, r.get(1))
        })
    } else {
        None
    };
    Ok(PrekeyFetch {
        mailbox: mailbox(&owner),
        bundle,
        one_time,
    })
}

pub(super) async fn device_list(c: &mut Client, user: &[u8]) -> Result<Option<Vec<u8>>, Fault> {
    let rows = query(
        &*c,
        "SELECT list FROM device_lists WHERE name = $1",
        &[&user],
    )
    .await?;
    Ok(rows.first().map(|r| r.get(0)))
}

pub(super) async fn put_device_list(
    c: &mut Client,
    user: &[u8],
    version: i64,
    list: &[u8],
) -> Result<bool, Fault> {
    let written = execute(
        &*c,
        "INSERT INTO device_lists (name, version, list) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET version = excluded.version, list = excluded.list
         WHERE device_lists.version < excluded.version",
        &[&user, &version, &list],
    )
    .await?;
    Ok(written == 1)
}

pub(super) async fn left(c: &mut Client, user: &[u8]) -> Result<u64, Fault> {
    let rows = query(
        &*c,
        "SELECT COUNT(*) FROM one_time_prekeys WHERE name = $1",
        &[&user],
    )
    .await?;
    Ok(rows.first().map_or(0, |r| uint(r.get(0))))
}
