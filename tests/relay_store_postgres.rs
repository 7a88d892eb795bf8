//! The relay's PostgreSQL store: the conformance suite every backend passes, and what only a
//! shared database must also hold: several stores (relays) writing one mailbox at once
//! without a gap in its sequence, spending one token, and handing out one-time prekeys.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg(feature = "postgres")]

mod pg_support;
mod store_conformance;

use std::collections::HashSet;
use std::sync::Arc;

use missive::mailbox::MailboxId;
use missive::relay::{
    AccessCursor, Limits, NewDelivery, PostgresStore, RelayStore, Spend, StoreError,
};
use pg_support::Scratch;
use store_conformance::{Database, envelope};

impl Database for Scratch {
    fn open(&self, limits: Limits) -> Arc<dyn RelayStore> {
        Arc::new(PostgresStore::connect(&self.url, limits).unwrap())
    }
}

conformance!(Scratch::fresh());

/// Three relays on one database.
fn relays(db: &Scratch) -> Vec<Arc<dyn RelayStore>> {
    (0..3).map(|_| db.open(Limits::default())).collect()
}

#[test]
fn relays_writing_one_mailbox_at_once_leave_no_gap_in_its_sequence() {
    let Some(db) = Scratch::fresh() else { return };
    let relays = relays(&db);
    let mailbox = MailboxId([1; 16]);
    // Each relay commits batches of envelopes to the shared mailbox (and others), at once.
    let writers: Vec<_> = relays
        .iter()
        .enumerate()
        .map(|(r, store)| {
            let store = Arc::clone(store);
            std::thread::spawn(move || {
                for batch in 0..20u8 {
                    let envelopes: Vec<NewDelivery> = (0..5u8)
                        .map(|i| {
                            let mut d = envelope(0, b"body", &[1, 2 + r as u8]);
                            d.id = [r as u8, batch, i, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
                            d
                        })
                        .collect();
                    assert!(store.deliver(&envelopes, 0).iter().all(Result::is_ok));
                }
            })
        })
        .collect();
    // A reader pages through the mailbox as it fills, acknowledging as it goes: it must see
    // every envelope exactly once.
    let reader = Arc::clone(&relays[0]);
    let mut seen = HashSet::new();
    let mut after = 0;
    let mut last_seq = 0;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while seen.len() < 300 {
        assert!(
            std::time::Instant::now() < deadline,
            "saw only {}",
            seen.len()
        );
        let page = reader.fetch(&mailbox, after, 7).unwrap();
        for d in &page {
            assert!(d.seq > last_seq, "sequence went back");
            last_seq = d.seq;
            assert!(seen.insert(d.id), "delivered twice");
        }
        if let Some(d) = page.last() {
            after = d.seq;
            let ids: Vec<_> = page.iter().map(|d| d.id).collect();
            assert_eq!(reader.ack(&mailbox, &ids).unwrap(), ids.len());
        }
    }
    for w in writers {
        w.join().unwrap();
    }
    assert!(reader.fetch(&mailbox, 0, 10).unwrap().is_empty());
    // Each relay's other mailbox got its 100.
    for r in 0..3u8 {
        let other = relays[usize::from(r)]
            .fetch(&MailboxId([2 + r; 16]), 0, 1000)
            .unwrap();
        assert_eq!(other.len(), 100);
    }
}

#[test]
fn a_token_is_spent_once_across_relays_under_concurrency() {
    let Some(db) = Scratch::fresh() else { return };
    let relays = relays(&db);
    // 32 senders through three relays each try to spend the same token on other recipients.
    let spends: Vec<_> = (0..32u8)
        .map(|i| {
            let store = Arc::clone(&relays[usize::from(i % 3)]);
            std::thread::spawn(move || {
                let mut d = envelope(i, b"paid", &[i + 1]);
                d.spend = Some(Spend {
                    token: [7; 32],
                    recipients: [i; 16],
                    window: 600,
                    max_uses: 3,
                    expires_at: 5_000,
                });
                store.deliver(&[d], 100).pop().unwrap()
            })
        })
        .collect();
    let results: Vec<_> = spends.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert!(
        results
            .iter()
            .all(|r| r.is_ok() || *r == Err(StoreError::TokenSpent))
    );
}

#[test]
fn one_time_prekeys_are_handed_out_once_across_relays() {
    let Some(db) = Scratch::fresh() else { return };
    let relays = relays(&db);
    let keys: Vec<(u32, Vec<u8>)> = (0..60).map(|i| (i, vec![i as u8; 32])).collect();
    relays[0]
        .publish_prekeys(b"bob", &MailboxId([9; 16]), b"bundle", &keys)
        .unwrap();
    let claims: Vec<_> = (0..12)
        .map(|i| {
            let store = Arc::clone(&relays[i % 3]);
            std::thread::spawn(move || {
                (0..6)
                    .filter_map(|_| store.fetch_prekeys(b"bob", true).unwrap().one_time)
                    .map(|(id, _)| id)
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let ids: Vec<u32> = claims.into_iter().flat_map(|h| h.join().unwrap()).collect();
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        ids.len(),
        "no key twice"
    );
    // Claims never wait on one another: a few may find every remaining key locked by others
    // and take the last-resort key instead, but what is handed out and what is left add up.
    let left = relays[1].one_time_prekeys_left(b"bob").unwrap();
    assert_eq!(ids.len() as u64 + left, 60);
}

#[test]
fn access_records_changed_through_three_relays_lose_nothing_and_reach_each() {
    let Some(db) = Scratch::fresh() else { return };
    let relays = relays(&db);
    let m = MailboxId([5; 16]);
    let (_, cursor) = relays[2].access_changes(AccessCursor::default()).unwrap();
    let writers: Vec<_> = (0..24u8)
        .map(|t| {
            let s = Arc::clone(&relays[usize::from(t % 3)]);
            std::thread::spawn(move || store_conformance::append(s.as_ref(), &m, t))
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    // The third relay follows: the record as it ended, from where it stood.
    let (changed, next) = relays[2].access_changes(cursor).unwrap();
    let mut bytes = changed.last().unwrap().1.clone();
    bytes.sort_unstable();
    assert_eq!(bytes, (0..24u8).collect::<Vec<_>>());
    assert!(next.0 >= cursor.0);
    // Nothing new since: at most records seen again, never a different one.
    let (again, _) = relays[2].access_changes(next).unwrap();
    assert!(
        again
            .iter()
            .all(|(k, r)| *k == m && *r == changed.last().unwrap().1)
    );
}

#[test]
fn a_proof_nonce_is_taken_once_across_relays() {
    let Some(db) = Scratch::fresh() else { return };
    let relays = relays(&db);
    let m = MailboxId([3; 16]);
    assert_eq!(relays[0].fresh_nonce(&m, &[1; 16], 100), Ok(true));
    assert_eq!(relays[1].fresh_nonce(&m, &[1; 16], 100), Ok(false));
    assert_eq!(
        relays[2].fresh_nonce(&MailboxId([4; 16]), &[1; 16], 100),
        Ok(true)
    );
    // Forgotten once no proof carrying it could be accepted.
    relays[2].expire(101).unwrap();
    assert_eq!(relays[1].fresh_nonce(&m, &[1; 16], 200), Ok(true));
}

#[test]
fn relays_starting_together_migrate_the_schema_once() {
    let Some(db) = Scratch::fresh() else { return };
    let url = db.url.clone();
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || PostgresStore::connect(&url, Limits::default()).is_ok())
        })
        .collect();
    assert!(starts.into_iter().all(|h| h.join().unwrap()));
    let s = db.open(Limits::default());
    assert_eq!(s.deliver(&[envelope(1, b"x", &[1])], 0), [Ok(())]);
}

#[test]
fn an_unreachable_database_is_a_typed_error_not_a_hang() {
    // Nothing listens on port 1.
    let started = std::time::Instant::now();
    let refused = PostgresStore::connect("postgres://postgres@127.0.0.1:1/none", Limits::default());
    assert_eq!(refused.err(), Some(StoreError::Backend));
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
fn a_version_1_database_holding_data_is_migrated_and_keeps_it() {
    let Some(db) = Scratch::fresh() else { return };
    let m = MailboxId([7; 16]);
    {
        let s = db.open(Limits::default());
        assert_eq!(s.deliver(&[envelope(1, b"kept", &[7])], 0), [Ok(())]);
        s.change_access(&m, &mut |_| Some(b"record".to_vec()))
            .unwrap();
    }
    // The database as a version 1 relay left it: no `writer` column, no `proof_nonces`, no
    // `device_lists`.
    db.execute(
        "ALTER TABLE mailbox_access DROP COLUMN writer;
         DROP TABLE proof_nonces;
         DROP TABLE device_lists;
         DELETE FROM missive_schema WHERE version >= 2",
    );
    let s = db.open(Limits::default());
    let page = s.fetch_bounded(&m, 0, 10, 1 << 20).unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].body, b"kept");
    assert_eq!(s.access_records(&[m]).unwrap(), [(m, b"record".to_vec())]);
    // Existing records are followed like new ones, and nonces are remembered again.
    let (changed, _) = s.access_changes(AccessCursor::default()).unwrap();
    assert!(changed.contains(&(m, b"record".to_vec())));
    assert_eq!(s.fresh_nonce(&m, &[1; 16], 100), Ok(true));
    assert_eq!(s.fresh_nonce(&m, &[1; 16], 100), Ok(false));
    assert!(s.put_device_list(b"ann", 1, b"list").unwrap());
    // And new writes go on after what was there.
    assert_eq!(s.deliver(&[envelope(2, b"new", &[7])], 0), [Ok(())]);
    let page = s.fetch_bounded(&m, 0, 10, 1 << 20).unwrap();
    assert_eq!(page.len(), 2);
    assert!(page[1].seq > page[0].seq);
}
