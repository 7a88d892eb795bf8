//! Storing a batch of envelopes in one transaction, in a fixed number of statements: lock the
//! recipients' mailbox rows and the spent tokens, decide every envelope in memory (quota,
//! re-delivery, token), then write the bodies, deliveries, counters and spends set-based.

use std::collections::{HashMap, HashSet};

use deadpool_postgres::Client;

use super::super::spend::{Spent, next_spend};
use super::super::{EnvelopeId, Limits, MailboxId, NewDelivery, StoreError};
use super::sql::{Fault, execute, fixed, int, mailbox, query, uint};

/// A mailbox row as locked for the batch, updated as envelopes are admitted.
#[derive(Clone, Copy)]
struct Counter {
    last_seq: i64,
    pending: u64,
    bytes: u64,
}

/// The rows a batch writes, column by column (each becomes one array parameter), borrowing
/// the batch's bytes rather than copying every body.
#[derive(Default)]
struct Rows<'b> {
    body_ids: Vec<i64>,
    bodies: Vec<&'b [u8]>,
    body_expiry: Vec<i64>,
    d_mailbox: Vec<&'b [u8]>,
    d_seq: Vec<i64>,
    d_envelope: Vec<&'b [u8]>,
    d_body: Vec<i64>,
    d_part: Vec<&'b [u8]>,
    d_size: Vec<i64>,
    d_expiry: Vec<i64>,
}

/// Stores `batch`; each envelope is admitted whole or refused whole.
pub(super) async fn deliver(
    c: &mut Client,
    batch: &[NewDelivery],
    now: u64,
    limits: &Limits,
    instance: &str,
) -> Result<Vec<Result<(), StoreError>>, Fault> {
    let tx = c.transaction().await?;
    let mut mailboxes: Vec<&[u8]> = batch
        .iter()
        .flat_map(|d| d.parts.iter().map(|(m, _)| &m.0[..]))
        .collect();
    mailboxes.sort_unstable();
    mailboxes.dedup();
    // Rows made and locked in key order: two batches sharing mailboxes queue, never deadlock.
    execute(
        &tx,
        "INSERT INTO mailboxes (mailbox, last_seq, pending, bytes)
         SELECT m, 0, 0, 0 FROM unnest($1::bytea[]) AS m ORDER BY m
         ON CONFLICT (mailbox) DO NOTHING",
        &[&mailboxes],
    )
    .await?;
    let mut counters: HashMap<MailboxId, Counter> = query(
        &tx,
        "SELECT mailbox, last_seq, pending, bytes FROM mailboxes
         WHERE mailbox = ANY($1) ORDER BY mailbox FOR UPDATE",
        &[&mailboxes],
    )
    .await?
    .iter()
    .map(|r| {
        let counter = Counter {
            last_seq: r.get(1),
            pending: uint(r.get(2)),
            bytes: uint(r.get(3)),
        };
        (mailbox(r.get(0)), counter)
    })
    .collect();
    let mut held = already_held(&tx, batch).await?;
    let mut spent = spends(&tx, batch).await?;
    let ids = query(
        &tx,
        "SELECT nextval('body_ids') FROM generate_series(1, $1::bigint)",
        &[&int(batch.len() as u64)],
    )
    .await?;
    let mut rows = Rows::default();
    let mut results = Vec::with_capacity(batch.len());
    let mut spends_written = HashMap::new();
    for (d, id) in batch.iter().zip(&ids) {
        let admitted = admit(d, &counters, &held, &spent, now, limits);
        let (new_parts, spend) = match admitted {
            Ok(admitted) => admitted,
            Err(e) => {
                results.push(Err(e));
                continue;
            }
        };
        if let Some((token, record)) = spend {
            spent.insert(token, record);
            spends_written.insert(token, record);
        }
        results.push(Ok(()));
        if new_parts.is_empty() {
            continue;
        }
        let body_id: i64 = id.get(0);
        rows.body_ids.push(body_id);
        rows.bodies.push(&d.body);
        rows.body_expiry.push(int(d.expires_at));
        for (m, part) in new_parts {
            let size = (d.body.len() + part.len()) as u64;
            let Some(counter) = counters.get_mut(m) else {
                return Err(Fault::Refused(StoreError::Backend));
            };
            counter.last_seq += 1;
            counter.pending += 1;
            counter.bytes += size;
            held.insert((*m, d.id));
            rows.d_mailbox.push(&m.0);
            rows.d_seq.push(counter.last_seq);
            rows.d_envelope.push(&d.id);
            rows.d_body.push(body_id);
            rows.d_part.push(part);
            rows.d_size.push(int(size));
            rows.d_expiry.push(int(d.expires_at));
        }
    }
    write(&tx, &rows, now, &counters, &spends_written).await?;
    super::notify::notify(&tx, instance, &rows.d_mailbox).await?;
    tx.commit().await?;
    Ok(results)
}

/// The parts of `d` to store (those whose mailbox does not hold it yet), and the token's
/// record after its spend; or why the envelope is refused.
#[allow(clippy::type_complexity)]
fn admit<'d>(
    d: &'d NewDelivery,
    counters: &HashMap<MailboxId, Counter>,
    held: &HashSet<(MailboxId, EnvelopeId)>,
    spent: &HashMap<[u8; 32], Spent>,
    now: u64,
    limits: &Limits,
) -> Result<(Vec<(&'d MailboxId, &'d Vec<u8>)>, Option<([u8; 32], Spent)>), StoreError> {
    let new_parts: Vec<_> = d
        .parts
        .iter()
        .filter(|(m, _)| !held.contains(&(*m, d.id)))
        .map(|(m, p)| (m, p))
        .collect();
    for (m, part) in &new_parts {
        let size = (d.body.len() + part.len()) as u64;
        let c = counters.get(m).ok_or(StoreError::Backend)?;
        if c.pending >= limits.max_pending_per_mailbox
            || c.bytes + size > limits.max_pending_bytes_per_mailbox
        {
            return Err(StoreError::QuotaExceeded);
        }
    }
    let spend = match &d.spend {
        Some(s) => {
            let after = next_spend(spent.get(&s.token), s, now).ok_or(StoreError::TokenSpent)?;
            Some((s.token, after))
        }
        None => None,
    };
    Ok((new_parts, spend))
}

/// Which of the batch's (mailbox, envelope) pairs are stored already: a re-delivery stores
/// nothing new.
async fn already_held(
    tx: &deadpool_postgres::Transaction<'_>,
    batch: &[NewDelivery],
) -> Result<HashSet<(MailboxId, EnvelopeId)>, Fault> {
    let (ms, es): (Vec<&[u8]>, Vec<&[u8]>) = batch
        .iter()
        .flat_map(|d| d.parts.iter().map(|(m, _)| (&m.0[..], &d.id[..])))
        .unzip();
    query(
        tx,
        "SELECT d.mailbox, d.envelope_id FROM deliveries d
         JOIN unnest($1::bytea[], $2::bytea[]) AS t(m, e)
           ON d.mailbox = t.m AND d.envelope_id = t.e",
        &[&ms, &es],
    )
    .await?
    .iter()
    .map(|r| Ok((mailbox(r.get(0)), fixed(r.get(1))?)))
    .collect()
}

/// The batch's tokens as spent so far, locked in key order.
async fn spends(
    tx: &deadpool_postgres::Transaction<'_>,
    batch: &[NewDelivery],
) -> Result<HashMap<[u8; 32], Spent>, Fault> {
    let mut tokens: Vec<(Vec<u8>, i64)> = batch
        .iter()
        .filter_map(|d| d.spend.map(|s| (s.token.to_vec(), int(s.expires_at))))
        .collect();
    if tokens.is_empty() {
        return Ok(HashMap::new());
    }
    tokens.sort_unstable();
    tokens.dedup_by(|a, b| a.0 == b.0);
    let (tokens, expiry): (Vec<Vec<u8>>, Vec<i64>) = tokens.into_iter().unzip();
    // A token never spent has no row to lock: an unspent one (no uses) is made first, in key
    // order, so concurrent first spends through different relays queue on it.
    execute(
        tx,
        "INSERT INTO token_spends (token, recipients, first_at, uses, expires_at)
         SELECT t, ''::bytea, 0, 0, x FROM unnest($1::bytea[], $2::bigint[]) AS u(t, x)
         ORDER BY t ON CONFLICT (token) DO NOTHING",
        &[&tokens, &expiry],
    )
    .await?;
    query(
        tx,
        "SELECT token, recipients, first_at, uses, expires_at FROM token_spends
         WHERE token = ANY($1) ORDER BY token FOR UPDATE",
        &[&tokens],
    )
    .await?
    .iter()
    .filter(|r| r.get::<_, i32>(3) > 0)
    .map(|r| {
        let spent = Spent {
            recipients: fixed(r.get(1))?,
            first: uint(r.get(2)),
            uses: u32::try_from(r.get::<_, i32>(3)).unwrap_or(u32::MAX),
            expires_at: uint(r.get(4)),
        };
        Ok((fixed(r.get(0))?, spent))
    })
    .collect()
}

/// Writes what the batch admitted.
async fn write(
    tx: &deadpool_postgres::Transaction<'_>,
    rows: &Rows<'_>,
    now: u64,
    counters: &HashMap<MailboxId, Counter>,
    spends: &HashMap<[u8; 32], Spent>,
) -> Result<(), Fault> {
    if !rows.body_ids.is_empty() {
        execute(
            tx,
            "INSERT INTO bodies (body_id, bytes, expires_at)
             SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::bigint[])",
            &[&rows.body_ids, &rows.bodies, &rows.body_expiry],
        )
        .await?;
        execute(
            tx,
            "INSERT INTO deliveries
               (mailbox, seq, envelope_id, body_id, part, size, received_at, expires_at)
             SELECT m, s, e, b, p, z, $7, x FROM unnest($1::bytea[], $2::bigint[],
               $3::bytea[], $4::bigint[], $5::bytea[], $6::bigint[], $8::bigint[])
               AS t(m, s, e, b, p, z, x)",
            &[
                &rows.d_mailbox,
                &rows.d_seq,
                &rows.d_envelope,
                &rows.d_body,
                &rows.d_part,
                &rows.d_size,
                &int(now),
                &rows.d_expiry,
            ],
        )
        .await?;
        let mut changed: Vec<(&MailboxId, &Counter)> = counters.iter().collect();
        changed.sort_unstable_by_key(|(m, _)| **m);
        let (ms, cs): (Vec<Vec<u8>>, Vec<&Counter>) =
            changed.into_iter().map(|(m, c)| (m.0.to_vec(), c)).unzip();
        let seqs: Vec<i64> = cs.iter().map(|c| c.last_seq).collect();
        let pending: Vec<i64> = cs.iter().map(|c| int(c.pending)).collect();
        let bytes: Vec<i64> = cs.iter().map(|c| int(c.bytes)).collect();
        execute(
            tx,
            "UPDATE mailboxes AS m SET last_seq = u.s, pending = u.p, bytes = u.b
             FROM unnest($1::bytea[], $2::bigint[], $3::bigint[], $4::bigint[]) AS u(k, s, p, b)
             WHERE m.mailbox = u.k",
            &[&ms, &seqs, &pending, &bytes],
        )
        .await?;
    }
    if !spends.is_empty() {
        let mut tokens = Vec::new();
        let mut recipients = Vec::new();
        let mut first = Vec::new();
        let mut uses = Vec::new();
        let mut expiry = Vec::new();
        for (token, s) in spends {
            tokens.push(token.to_vec());
            recipients.push(s.recipients.to_vec());
            first.push(int(s.first));
            uses.push(i32::try_from(s.uses).unwrap_or(i32::MAX));
            expiry.push(int(s.expires_at));
        }
        execute(
            tx,
            "INSERT INTO token_spends (token, recipients, first_at, uses, expires_at)
             SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::bigint[], $4::integer[],
               $5::bigint[])
             ON CONFLICT (token) DO UPDATE SET recipients = excluded.recipients,
               first_at = excluded.first_at, uses = excluded.uses,
               expires_at = excluded.expires_at",
            &[&tokens, &recipients, &first, &uses, &expiry],
        )
        .await?;
    }
    Ok(())
}
