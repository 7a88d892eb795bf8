//! Storing a batch of envelopes in one transaction, in a fixed number of statements: lock the
//! recipients' mailbox rows and the spent tokens, decide every envelope in memory (quota,
//! re-delivery, token), then write the bodies, deliveries, counters and spends set-based.

use std::collections::{HashMap, HashSet};

use deadpool_postgres::Client;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::super::spend::{Spent, next_spend};
use super::super::{EnvelopeId, Limits, MailboxId, NewDelivery, StoreError};
use super::sql::{Fault, fixed, int, mailbox, statements, uint};

/// A statement parameter.
type Param<'a> = dyn ToSql + Sync + 'a;

/// A mailbox row as locked for the batch, updated as envelopes are admitted.
#[derive(Clone, Copy)]
struct Counter {
    last_seq: i64,
    pending: u64,
    bytes: u64,
    /// Whether the batch stored anything for it (only those rows are written back).
    changed: bool,
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

/// Makes the batch's mailbox rows that do not exist yet, in key order.
const MAKE_MAILBOXES: &str = "INSERT INTO mailboxes (mailbox, last_seq, pending, bytes)
     SELECT m, 0, 0, 0 FROM unnest($1::bytea[]) AS m ORDER BY m
     ON CONFLICT (mailbox) DO NOTHING";
/// Locks them, in key order.
const LOCK_MAILBOXES: &str = "SELECT mailbox, last_seq, pending, bytes FROM mailboxes
     WHERE mailbox = ANY($1) ORDER BY mailbox FOR UPDATE";
/// Which (mailbox, envelope) pairs are stored already: a re-delivery stores nothing new.
const ALREADY_HELD: &str = "SELECT d.mailbox, d.envelope_id FROM deliveries d
     JOIN unnest($1::bytea[], $2::bytea[]) AS t(m, e)
       ON d.mailbox = t.m AND d.envelope_id = t.e";
/// Body ids, one per envelope.
const BODY_IDS: &str = "SELECT nextval('body_ids') FROM generate_series(1, $1::bigint)";
/// A token never spent has no row to lock: an unspent one (no uses) is made first, in key
/// order, so concurrent first spends through different relays queue on it.
const MAKE_TOKENS: &str = "INSERT INTO token_spends (token, recipients, first_at, uses, expires_at)
     SELECT t, ''::bytea, 0, 0, x FROM unnest($1::bytea[], $2::bigint[]) AS u(t, x)
     ORDER BY t ON CONFLICT (token) DO NOTHING";
/// Locks the batch's tokens, in key order.
const LOCK_TOKENS: &str = "SELECT token, recipients, first_at, uses, expires_at FROM token_spends
     WHERE token = ANY($1) ORDER BY token FOR UPDATE";

/// Stores `batch`; each envelope is admitted whole or refused whole.
///
/// Three round trips while the mailbox rows are locked, whatever the batch's size: the
/// statements that lock and read are issued together (pipelined, run in order), the batch is
/// decided in memory, the writes are issued together, then the commit. Every other relay
/// writing to one of these mailboxes waits that long, so it is kept short.
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
    let (pairs_m, pairs_e): (Vec<&[u8]>, Vec<&[u8]>) = batch
        .iter()
        .flat_map(|d| d.parts.iter().map(|(m, _)| (&m.0[..], &d.id[..])))
        .unzip();
    let (tokens, token_expiry) = batch_tokens(batch);
    let [make, lock, held, ids, make_tokens, lock_tokens] = statements(
        &tx,
        [
            MAKE_MAILBOXES,
            LOCK_MAILBOXES,
            ALREADY_HELD,
            BODY_IDS,
            MAKE_TOKENS,
            LOCK_TOKENS,
        ],
    )
    .await?;
    let spending = !tokens.is_empty();
    let count = int(batch.len() as u64);
    let by_mailbox: [&Param<'_>; 1] = [&mailboxes];
    let pairs: [&Param<'_>; 2] = [&pairs_m, &pairs_e];
    let made_tokens: [&Param<'_>; 2] = [&tokens, &token_expiry];
    let by_token: [&Param<'_>; 1] = [&tokens];
    let by_count: [&Param<'_>; 1] = [&count];
    // Rows made and locked in key order: two batches sharing mailboxes queue, never deadlock.
    let (_, locked, held, ids, _, spent) = tokio::try_join!(
        tx.execute(&make, &by_mailbox),
        tx.query(&lock, &by_mailbox),
        tx.query(&held, &pairs),
        tx.query(&ids, &by_count),
        async {
            match spending {
                true => tx.execute(&make_tokens, &made_tokens).await,
                false => Ok(0),
            }
        },
        async {
            match spending {
                true => tx.query(&lock_tokens, &by_token).await,
                false => Ok(Vec::new()),
            }
        },
    )?;
    let mut counters: HashMap<MailboxId, Counter> = locked
        .iter()
        .map(|r| {
            let counter = Counter {
                last_seq: r.get(1),
                pending: uint(r.get(2)),
                bytes: uint(r.get(3)),
                changed: false,
            };
            (mailbox(r.get(0)), counter)
        })
        .collect();
    let mut held: HashSet<(MailboxId, EnvelopeId)> = held
        .iter()
        .map(|r| Ok((mailbox(r.get(0)), fixed(r.get(1))?)))
        .collect::<Result<_, Fault>>()?;
    let mut spent = spent_tokens(&spent)?;
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
            counter.changed = true;
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
    write(&tx, &rows, now, &counters, &spends_written, instance).await?;
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

/// The batch's tokens, sorted and once each, with their expiry.
fn batch_tokens(batch: &[NewDelivery]) -> (Vec<Vec<u8>>, Vec<i64>) {
    let mut tokens: Vec<(Vec<u8>, i64)> = batch
        .iter()
        .filter_map(|d| d.spend.map(|s| (s.token.to_vec(), int(s.expires_at))))
        .collect();
    tokens.sort_unstable();
    tokens.dedup_by(|a, b| a.0 == b.0);
    tokens.into_iter().unzip()
}

/// The locked tokens' records, for those spent before (an unspent placeholder has no uses).
fn spent_tokens(rows: &[Row]) -> Result<HashMap<[u8; 32], Spent>, Fault> {
    rows.iter()
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

const INSERT_BODIES: &str = "INSERT INTO bodies (body_id, bytes, expires_at)
     SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::bigint[])";
const INSERT_DELIVERIES: &str = "INSERT INTO deliveries
       (mailbox, seq, envelope_id, body_id, part, size, received_at, expires_at)
     SELECT m, s, e, b, p, z, $7, x FROM unnest($1::bytea[], $2::bigint[],
       $3::bytea[], $4::bigint[], $5::bytea[], $6::bigint[], $8::bigint[])
       AS t(m, s, e, b, p, z, x)";
const UPDATE_COUNTERS: &str = "UPDATE mailboxes AS m SET last_seq = u.s, pending = u.p, bytes = u.b
     FROM unnest($1::bytea[], $2::bigint[], $3::bigint[], $4::bigint[]) AS u(k, s, p, b)
     WHERE m.mailbox = u.k";
const WRITE_SPENDS: &str =
    "INSERT INTO token_spends (token, recipients, first_at, uses, expires_at)
     SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::bigint[], $4::integer[], $5::bigint[])
     ON CONFLICT (token) DO UPDATE SET recipients = excluded.recipients,
       first_at = excluded.first_at, uses = excluded.uses, expires_at = excluded.expires_at";

/// Writes what the batch admitted, and notifies the relays listening, in one round trip.
async fn write(
    tx: &deadpool_postgres::Transaction<'_>,
    rows: &Rows<'_>,
    now: u64,
    counters: &HashMap<MailboxId, Counter>,
    spends: &HashMap<[u8; 32], Spent>,
    instance: &str,
) -> Result<(), Fault> {
    let mut changed: Vec<(&MailboxId, &Counter)> =
        counters.iter().filter(|(_, c)| c.changed).collect();
    changed.sort_unstable_by_key(|(m, _)| **m);
    let ms: Vec<&[u8]> = changed.iter().map(|(m, _)| &m.0[..]).collect();
    let seqs: Vec<i64> = changed.iter().map(|(_, c)| c.last_seq).collect();
    let pending: Vec<i64> = changed.iter().map(|(_, c)| int(c.pending)).collect();
    let bytes: Vec<i64> = changed.iter().map(|(_, c)| int(c.bytes)).collect();
    let mut tokens = Vec::new();
    let mut recipients = Vec::new();
    let mut first = Vec::new();
    let mut uses = Vec::new();
    let mut expiry = Vec::new();
    for (token, s) in spends {
        tokens.push(&token[..]);
        recipients.push(&s.recipients[..]);
        first.push(int(s.first));
        uses.push(i32::try_from(s.uses).unwrap_or(i32::MAX));
        expiry.push(int(s.expires_at));
    }
    let payloads = super::notify::payloads(instance, &rows.d_mailbox);
    let [bodies, deliveries, update, write_spends, notify] = statements(
        tx,
        [
            INSERT_BODIES,
            INSERT_DELIVERIES,
            UPDATE_COUNTERS,
            WRITE_SPENDS,
            super::notify::NOTIFY,
        ],
    )
    .await?;
    let storing = !rows.body_ids.is_empty();
    let when = |yes: bool, work| async move {
        match yes {
            true => work.await,
            false => Ok(0),
        }
    };
    let body_rows: [&Param<'_>; 3] = [&rows.body_ids, &rows.bodies, &rows.body_expiry];
    let at = int(now);
    let delivery_rows: [&Param<'_>; 8] = [
        &rows.d_mailbox,
        &rows.d_seq,
        &rows.d_envelope,
        &rows.d_body,
        &rows.d_part,
        &rows.d_size,
        &at,
        &rows.d_expiry,
    ];
    let counter_rows: [&Param<'_>; 4] = [&ms, &seqs, &pending, &bytes];
    let spend_rows: [&Param<'_>; 5] = [&tokens, &recipients, &first, &uses, &expiry];
    let notifications: [&Param<'_>; 1] = [&payloads];
    tokio::try_join!(
        when(storing, tx.execute(&bodies, &body_rows)),
        when(storing, tx.execute(&deliveries, &delivery_rows)),
        when(!ms.is_empty(), tx.execute(&update, &counter_rows)),
        when(!tokens.is_empty(), tx.execute(&write_spends, &spend_rows)),
        when(!payloads.is_empty(), tx.execute(&notify, &notifications)),
    )?;
    Ok(())
}
