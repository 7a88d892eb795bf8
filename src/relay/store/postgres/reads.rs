//! A mailbox's page of deliveries: the rows by the mailbox's own sequence (one index range),
//! cut at the byte budget, then the bodies those rows name.

use std::collections::HashMap;

use deadpool_postgres::Client;

use super::super::{Delivery, MailboxId};
use super::sql::{Fault, fixed, int, query, uint};

pub(super) async fn page(
    c: &mut Client,
    mailbox: &MailboxId,
    after: u64,
    limit: usize,
    max_bytes: usize,
) -> Result<Vec<Delivery>, Fault> {
    let rows = query(
        &*c,
        "SELECT seq, envelope_id, body_id, part, size, received_at, expires_at
         FROM deliveries WHERE mailbox = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        &[&&mailbox.0[..], &int(after), &int(limit as u64)],
    )
    .await?;
    let mut bytes = 0u64;
    let mut keep = Vec::with_capacity(rows.len());
    for r in rows {
        bytes = bytes.saturating_add(uint(r.get(4)));
        keep.push(r);
        if bytes >= max_bytes as u64 {
            break;
        }
    }
    let mut body_ids: Vec<i64> = keep.iter().map(|r| r.get(2)).collect();
    body_ids.sort_unstable();
    body_ids.dedup();
    let bodies: HashMap<i64, Vec<u8>> = query(
        &*c,
        "SELECT body_id, bytes FROM bodies WHERE body_id = ANY($1)",
        &[&body_ids],
    )
    .await?
    .into_iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    let mut page = Vec::with_capacity(keep.len());
    for r in keep {
        // Acknowledged (its body freed) between the two reads: nothing left to hand out.
        let Some(body) = bodies.get(&r.get::<_, i64>(2)) else {
            continue;
        };
        page.push(Delivery {
            seq: uint(r.get(0)),
            id: fixed(r.get(1))?,
            body: body.clone(),
            part: r.get(3),
            received_at: uint(r.get(5)),
            expires_at: uint(r.get(6)),
        });
    }
    Ok(page)
}
