//! What the store keeps in memory beside the database: per-mailbox quota counters and the
//! running totals `/metrics` reports, both rebuilt from the tables at open.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::Connection;

use super::super::{MailboxId, StoreError};
use super::sql::{Row, backend, mailbox, uint};

/// Pending deliveries and bytes of one mailbox, for its quota.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Usage {
    pub(super) pending: u64,
    pub(super) bytes: u64,
}

pub(super) type UsageMap = HashMap<MailboxId, Usage>;

/// Adds one delivery of each given size to its mailbox's counters.
pub(super) fn charge(map: &mut UsageMap, added: impl IntoIterator<Item = (MailboxId, u64)>) {
    for (mailbox, size) in added {
        let u = map.entry(mailbox).or_default();
        u.pending += 1;
        u.bytes += size;
    }
}

pub(super) fn merge(into: &mut UsageMap, from: UsageMap) {
    for (mailbox, add) in from {
        let u = into.entry(mailbox).or_default();
        u.pending += add.pending;
        u.bytes += add.bytes;
    }
}

/// Takes removed deliveries off their mailboxes' counters.
pub(super) fn release(map: &mut UsageMap, removed: &[Row]) {
    for (_, mailbox_bytes, _, size) in removed {
        let m = mailbox(mailbox_bytes);
        if let Some(u) = map.get_mut(&m) {
            u.pending = u.pending.saturating_sub(1);
            u.bytes = u.bytes.saturating_sub(uint(*size));
            if u.pending == 0 {
                map.remove(&m);
            }
        }
    }
}

/// The quota counters, rebuilt from what is stored.
pub(super) fn load_usage(conn: &Connection) -> Result<UsageMap, StoreError> {
    let mut stmt = conn
        .prepare("SELECT mailbox, COUNT(*), SUM(size) FROM deliveries GROUP BY mailbox")
        .map_err(backend)?;
    let rows = stmt
        .query_map([], |r| {
            let m: Vec<u8> = r.get(0)?;
            let usage = Usage {
                pending: uint(r.get(1)?),
                bytes: uint(r.get(2)?),
            };
            Ok((mailbox(&m), usage))
        })
        .map_err(backend)?;
    rows.collect::<Result<_, _>>().map_err(backend)
}

/// Running totals of what is stored.
#[derive(Default)]
pub(super) struct Totals {
    pub(super) deliveries: AtomicU64,
    pub(super) bodies: AtomicU64,
    pub(super) bytes: AtomicU64,
}

/// What a commit added to or removed from the totals.
#[derive(Clone, Copy, Default)]
pub(super) struct Change {
    pub(super) deliveries: u64,
    pub(super) bodies: u64,
    pub(super) bytes: u64,
}

impl Totals {
    pub(super) fn add(&self, c: Change) {
        self.deliveries.fetch_add(c.deliveries, Ordering::Relaxed);
        self.bodies.fetch_add(c.bodies, Ordering::Relaxed);
        self.bytes.fetch_add(c.bytes, Ordering::Relaxed);
    }

    pub(super) fn remove(&self, c: Change) {
        let sub = |a: &AtomicU64, n: u64| {
            let _ = a.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_sub(n))
            });
        };
        sub(&self.deliveries, c.deliveries);
        sub(&self.bodies, c.bodies);
        sub(&self.bytes, c.bytes);
    }
}

/// The totals, counted once at open.
pub(super) fn load_totals(conn: &Connection) -> Result<Change, StoreError> {
    conn.query_row(
        "SELECT (SELECT COUNT(*) FROM deliveries),
                (SELECT COUNT(*) FROM bodies),
                (SELECT COALESCE(SUM(length(bytes)), 0) FROM bodies)
              + (SELECT COALESCE(SUM(length(part)), 0) FROM deliveries)",
        [],
        |r| {
            Ok(Change {
                deliveries: uint(r.get(0)?),
                bodies: uint(r.get(1)?),
                bytes: uint(r.get(2)?),
            })
        },
    )
    .map_err(backend)
}
