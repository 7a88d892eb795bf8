//! Fetching a mailbox's page of deliveries, on a read connection.

use rusqlite::{OptionalExtension, params};

use super::super::{Delivery, EnvelopeId, MailboxId, StoreError};
use super::SqliteStore;
use super::sql::{backend, int, uint};

impl SqliteStore {
    pub(super) fn page(
        &self,
        mailbox: &MailboxId,
        after: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.read(|conn| {
            // The page's sequence numbers first, from the (mailbox, envelope_id) index alone:
            // sorting at most a mailbox's quota of integers costs less than a second index
            // on (mailbox, seq) would cost every delivery (one more random page per row:
            // 17% of the submit rate, and most of the commit tail on a million pending).
            // `+seq` keeps the planner off a walk of the whole table in sequence order.
            let seqs = conn
                .prepare_cached(
                    "SELECT seq FROM deliveries WHERE mailbox = ?1 AND +seq > ?2
                     ORDER BY seq LIMIT ?3",
                )
                .and_then(|mut s| {
                    s.query_map(
                        params![&mailbox.0[..], int(after), int(limit as u64)],
                        |r| r.get::<_, i64>(0),
                    )?
                    .collect::<Result<Vec<_>, _>>()
                })
                .map_err(backend)?;
            let mut row = conn
                .prepare_cached(
                    "SELECT d.envelope_id, b.bytes, d.part, d.received_at, d.expires_at
                     FROM deliveries d JOIN bodies b ON b.body_id = d.body_id
                     WHERE d.seq = ?1",
                )
                .map_err(backend)?;
            // Rows are read one by one: a page stops at its byte budget without loading more.
            // One acknowledged since the first query is simply not there.
            let mut page = Vec::new();
            let mut bytes = 0usize;
            for seq in seqs {
                let found = row
                    .query_row([seq], |r| {
                        let id: Vec<u8> = r.get(0)?;
                        Ok(Delivery {
                            seq: uint(seq),
                            id: EnvelopeId::try_from(id.as_slice()).unwrap_or_default(),
                            body: r.get(1)?,
                            part: r.get(2)?,
                            received_at: uint(r.get(3)?),
                            expires_at: uint(r.get(4)?),
                        })
                    })
                    .optional()
                    .map_err(backend)?;
                let Some(d) = found else { continue };
                bytes = bytes.saturating_add(d.body.len() + d.part.len());
                page.push(d);
                if bytes >= max_bytes {
                    break;
                }
            }
            Ok(page)
        })
    }
}
