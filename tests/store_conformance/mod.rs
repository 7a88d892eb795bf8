//! One conformance suite for every relay store backend: delivery, shared bodies,
//! acknowledgement, quotas, expiry, spends, the directory, and what survives reopening. Each
//! backend's test file runs every case through [`conformance!`].
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::collections::HashSet;
use std::sync::Arc;

use missive::mailbox::MailboxId;
use missive::relay::{Limits, NewDelivery, RelayStore, Spend, StoreError};

/// Where a test's data lives: each `open` is a store on the same data (a relay restarting, or
/// another relay on the same database).
pub trait Database {
    fn open(&self, limits: Limits) -> Arc<dyn RelayStore>;
}

/// A `#[test]` per conformance case, each on a fresh database from `$fresh`.
#[macro_export]
macro_rules! conformance {
    ($fresh:expr) => {
        $crate::conformance!(@cases $fresh, access_records_change_under_one_lock, tokens_spent_in_earlier_batches_stay_spent_in_a_batch_of_many, byte_quota_counts_everything_pending, a_token_is_spent_once_but_may_carry_one_send_to_the_same_recipients, in_one_batch_only_the_first_spend_of_a_token_wins, an_envelope_refused_for_quota_does_not_spend_its_token, spent_tokens_are_forgotten_only_after_they_expire, token_quotas_are_counted_per_account_kind_and_month, the_token_secret_access_records_and_spends_persist, multi_recipient_body_is_stored_once_and_each_mailbox_gets_its_part, ack_removes_and_the_body_goes_with_its_last_reference, redelivery_of_a_pending_envelope_is_stored_once, fetch_pages_by_sequence, quota_refuses_the_whole_envelope_and_keeps_the_rest_of_the_batch, byte_quota_counts_body_and_part, expiry_drops_expired_deliveries, one_time_prekeys_are_handed_out_at_most_once_under_concurrency, directory_errors_are_typed, deliveries_survive_reopening_the_database, quotas_are_rebuilt_when_the_database_is_reopened, a_device_list_is_replaced_only_by_a_newer_one_under_concurrency);
    };
    (@cases $fresh:expr, $($case:ident),*) => {
        $(
            #[test]
            fn $case() {
                if let Some(db) = $fresh {
                    store_conformance::$case(&db);
                }
            }
        )*
    };
}

pub fn envelope(id: u8, body: &[u8], mailboxes: &[u8]) -> NewDelivery {
    NewDelivery {
        id: [id; 16],
        body: body.to_vec(),
        parts: mailboxes
            .iter()
            .map(|&m| (MailboxId([m; 16]), vec![m; 40]))
            .collect(),
        expires_at: 1_000,
        spend: None,
    }
}

pub fn spending(id: u8, mailbox: u8, token: u8, recipients: u8) -> NewDelivery {
    NewDelivery {
        spend: Some(Spend {
            token: [token; 32],
            recipients: [recipients; 16],
            window: 600,
            max_uses: 3,
            expires_at: 5_000,
        }),
        ..envelope(id, b"paid", &[mailbox])
    }
}

pub fn a_token_is_spent_once_but_may_carry_one_send_to_the_same_recipients(db: &dyn Database) {
    let s = db.open(Limits::default());
    let ok = |d: NewDelivery, now| s.deliver(&[d], now).pop().unwrap();
    assert_eq!(ok(spending(1, 1, 7, 1), 100), Ok(()));
    // The same send's other envelopes, to the same recipients, within the window.
    assert_eq!(ok(spending(2, 1, 7, 1), 150), Ok(()));
    assert_eq!(ok(spending(3, 1, 7, 1), 200), Ok(()));
    // A fourth envelope is one too many; another recipient list is a double spend.
    assert_eq!(ok(spending(4, 1, 7, 1), 210), Err(StoreError::TokenSpent));
    assert_eq!(ok(spending(5, 2, 7, 2), 210), Err(StoreError::TokenSpent));
    // Outside the window even the same recipients are refused.
    assert_eq!(ok(spending(6, 3, 8, 3), 100), Ok(()));
    assert_eq!(ok(spending(7, 3, 8, 3), 701), Err(StoreError::TokenSpent));
    // Refused envelopes stored nothing.
    assert_eq!(s.fetch(&MailboxId([2; 16]), 0, 10).unwrap().len(), 0);
    assert_eq!(s.fetch(&MailboxId([1; 16]), 0, 10).unwrap().len(), 3);
}

pub fn in_one_batch_only_the_first_spend_of_a_token_wins(db: &dyn Database) {
    let s = db.open(Limits::default());
    let batch = [
        spending(1, 1, 9, 1),
        spending(2, 2, 9, 2),
        spending(3, 3, 9, 3),
    ];
    let results = s.deliver(&batch, 100);
    assert_eq!(
        results,
        [
            Ok(()),
            Err(StoreError::TokenSpent),
            Err(StoreError::TokenSpent)
        ]
    );
}

pub fn an_envelope_refused_for_quota_does_not_spend_its_token(db: &dyn Database) {
    let s = db.open(Limits {
        max_pending_per_mailbox: 1,
        ..Limits::default()
    });
    assert_eq!(s.deliver(&[envelope(1, b"x", &[1])], 100), [Ok(())]);
    assert_eq!(
        s.deliver(&[spending(2, 1, 5, 1)], 100),
        [Err(StoreError::QuotaExceeded)]
    );
    // The token is still unspent: another mailbox can take it.
    assert_eq!(s.deliver(&[spending(3, 2, 5, 2)], 100), [Ok(())]);
}

pub fn spent_tokens_are_forgotten_only_after_they_expire(db: &dyn Database) {
    let s = db.open(Limits::default());
    assert_eq!(s.deliver(&[spending(1, 1, 4, 1)], 100), [Ok(())]);
    s.expire(4_999).unwrap();
    assert_eq!(
        s.deliver(&[spending(2, 2, 4, 2)], 4_999),
        [Err(StoreError::TokenSpent)]
    );
    s.expire(5_000).unwrap();
    assert_eq!(s.deliver(&[spending(3, 2, 4, 2)], 5_000), [Ok(())]);
}

pub fn token_quotas_are_counted_per_account_kind_and_month(db: &dyn Database) {
    let s = db.open(Limits::default());
    let m = MailboxId([1; 16]);
    assert_eq!(s.take_quota(&m, 1, 600, 3, 5), Ok(()));
    assert_eq!(s.take_quota(&m, 1, 600, 3, 5), Err(StoreError::NoQuota));
    assert_eq!(s.take_quota(&m, 1, 600, 2, 5), Ok(()));
    assert_eq!(s.take_quota(&m, 1, 600, 1, 5), Err(StoreError::NoQuota));
    // Another kind, another month, another account: counted apart.
    assert_eq!(s.take_quota(&m, 2, 600, 5, 5), Ok(()));
    assert_eq!(s.take_quota(&m, 1, 601, 5, 5), Ok(()));
    assert_eq!(s.take_quota(&MailboxId([2; 16]), 1, 600, 5, 5), Ok(()));
    // Counts of past months are dropped by the sweep; this month's stay.
    let now = 1_800_000_000; // January 2027, month 684
    let current = missive::platform::month_of(now);
    assert_eq!(s.take_quota(&m, 3, current, 5, 5), Ok(()));
    s.expire(now).unwrap();
    assert_eq!(s.take_quota(&m, 3, current, 1, 5), Err(StoreError::NoQuota));
    assert_eq!(
        s.take_quota(&m, 1, 600, 5, 5),
        Ok(()),
        "month 600 was swept"
    );
    // More than the whole quota at once is refused, even the first time.
    assert_eq!(
        s.take_quota(&MailboxId([3; 16]), 1, 600, 6, 5),
        Err(StoreError::NoQuota)
    );
}

pub fn the_token_secret_access_records_and_spends_persist(db: &dyn Database) {
    {
        let s = db.open(Limits::default());
        assert_eq!(s.secret("issuer", [1; 32]), Ok([1; 32]));
        assert_eq!(s.secret("issuer", [2; 32]), Ok([1; 32]));
        let written = s.change_access(&MailboxId([5; 16]), &mut |current| {
            assert_eq!(current, None);
            Some(b"record".to_vec())
        });
        assert_eq!(written, Ok(Some(b"record".to_vec())));
        assert_eq!(s.deliver(&[spending(1, 1, 6, 1)], 100), [Ok(())]);
        assert_eq!(s.deliver(&[spending(2, 1, 6, 1)], 100), [Ok(())]);
    }
    let s = db.open(Limits::default());
    assert_eq!(s.secret("issuer", [3; 32]), Ok([1; 32]));
    assert_eq!(
        s.access_records(&[MailboxId([4; 16]), MailboxId([5; 16])])
            .unwrap(),
        [(MailboxId([5; 16]), b"record".to_vec())]
    );
    // Spends survive a restart, uses counted: another recipient is a double spend, and the
    // same recipients get only the one use left of three.
    assert_eq!(
        s.deliver(&[spending(3, 2, 6, 2)], 200),
        [Err(StoreError::TokenSpent)]
    );
    assert_eq!(s.deliver(&[spending(4, 1, 6, 1)], 200), [Ok(())]);
    assert_eq!(
        s.deliver(&[spending(5, 1, 6, 1)], 200),
        [Err(StoreError::TokenSpent)]
    );
    drop(s);
}

pub fn multi_recipient_body_is_stored_once_and_each_mailbox_gets_its_part(db: &dyn Database) {
    let s = db.open(Limits::default());
    let results = s.deliver(&[envelope(1, &[9; 1024], &[1, 2, 3])], 10);
    assert_eq!(results, vec![Ok(())]);
    let stats = s.stats().unwrap();
    assert_eq!((stats.pending_deliveries, stats.bodies), (3, 1));
    assert_eq!(stats.bytes_stored, 1024 + 3 * 40);
    for m in [1u8, 2, 3] {
        let got = s.fetch(&MailboxId([m; 16]), 0, 10).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].id, got[0].part.clone(), got[0].received_at),
            ([1; 16], vec![m; 40], 10)
        );
        assert_eq!(got[0].body, vec![9; 1024]);
    }
    assert!(s.fetch(&MailboxId([4; 16]), 0, 10).unwrap().is_empty());
}

pub fn ack_removes_and_the_body_goes_with_its_last_reference(db: &dyn Database) {
    let s = db.open(Limits::default());
    s.deliver(&[envelope(1, b"body", &[1, 2])], 0);
    assert_eq!(s.ack(&MailboxId([1; 16]), &[[1; 16]]).unwrap(), 1);
    assert_eq!(
        s.ack(&MailboxId([1; 16]), &[[1; 16]]).unwrap(),
        0,
        "a second ack finds nothing"
    );
    assert_eq!(
        s.stats().unwrap().bodies,
        1,
        "mailbox 2 still holds the body"
    );
    // A mailbox cannot acknowledge another mailbox's delivery.
    assert_eq!(s.ack(&MailboxId([3; 16]), &[[1; 16]]).unwrap(), 0);
    assert_eq!(s.ack(&MailboxId([2; 16]), &[[1; 16]]).unwrap(), 1);
    assert_eq!(s.stats().unwrap(), Default::default());
}

pub fn redelivery_of_a_pending_envelope_is_stored_once(db: &dyn Database) {
    let s = db.open(Limits::default());
    s.deliver(&[envelope(1, b"x", &[1])], 0);
    assert_eq!(s.deliver(&[envelope(1, b"x", &[1])], 0), vec![Ok(())]);
    assert_eq!(s.fetch(&MailboxId([1; 16]), 0, 10).unwrap().len(), 1);
    assert_eq!(s.stats().unwrap().bodies, 1);
}

pub fn fetch_pages_by_sequence(db: &dyn Database) {
    let s = db.open(Limits::default());
    let batch: Vec<_> = (0..5).map(|i| envelope(i, b"b", &[1])).collect();
    assert!(s.deliver(&batch, 0).iter().all(Result::is_ok));
    let first = s.fetch(&MailboxId([1; 16]), 0, 2).unwrap();
    assert_eq!(first.len(), 2);
    let rest = s.fetch(&MailboxId([1; 16]), first[1].seq, 10).unwrap();
    assert_eq!(
        rest.iter().map(|d| d.id[0]).collect::<Vec<_>>(),
        vec![2, 3, 4]
    );
}

pub fn quota_refuses_the_whole_envelope_and_keeps_the_rest_of_the_batch(db: &dyn Database) {
    let limits = Limits {
        max_pending_per_mailbox: 2,
        ..Limits::default()
    };
    let s = db.open(limits);
    let results = s.deliver(
        &[
            envelope(1, b"a", &[1]),
            envelope(2, b"b", &[1]),
            envelope(3, b"c", &[2, 1]),
            envelope(4, b"d", &[2]),
        ],
        0,
    );
    assert_eq!(
        results,
        vec![Ok(()), Ok(()), Err(StoreError::QuotaExceeded), Ok(())]
    );
    assert_eq!(
        s.fetch(&MailboxId([2; 16]), 0, 10)
            .unwrap()
            .iter()
            .map(|d| d.id[0])
            .collect::<Vec<_>>(),
        vec![4]
    );
    assert_eq!(s.stats().unwrap().bodies, 3);
    s.ack(&MailboxId([1; 16]), &[[1; 16]]).unwrap();
    assert_eq!(
        s.deliver(&[envelope(5, b"e", &[1])], 0),
        vec![Ok(())],
        "room again after an ack"
    );
}

pub fn byte_quota_counts_body_and_part(db: &dyn Database) {
    let limits = Limits {
        max_pending_bytes_per_mailbox: 100,
        ..Limits::default()
    };
    let s = db.open(limits);
    assert_eq!(
        s.deliver(&[envelope(1, &[0; 61], &[1])], 0),
        vec![Err(StoreError::QuotaExceeded)]
    );
    assert_eq!(s.deliver(&[envelope(1, &[0; 60], &[1])], 0), vec![Ok(())]);
}

pub fn expiry_drops_expired_deliveries(db: &dyn Database) {
    let s = db.open(Limits::default());
    let mut short = envelope(1, b"a", &[1]);
    short.expires_at = 100;
    s.deliver(&[short, envelope(2, b"b", &[1])], 0);
    assert_eq!(s.expire(100).unwrap(), 1);
    assert_eq!(s.fetch(&MailboxId([1; 16]), 0, 10).unwrap().len(), 1);
}

pub fn one_time_prekeys_are_handed_out_at_most_once_under_concurrency(db: &dyn Database) {
    let s = db.open(Limits::default());
    let keys: Vec<(u32, Vec<u8>)> = (0..50).map(|i| (i, vec![i as u8; 32])).collect();
    s.publish_prekeys(b"bob", &MailboxId([9; 16]), b"bundle", &keys)
        .unwrap();
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || {
                (0..10)
                    .map(|_| s.fetch_prekeys(b"bob", true).unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let fetched: Vec<_> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    assert!(
        fetched
            .iter()
            .all(|f| f.bundle == b"bundle" && f.mailbox == MailboxId([9; 16]))
    );
    let ids: Vec<u32> = fetched
        .iter()
        .filter_map(|f| f.one_time.as_ref().map(|k| k.0))
        .collect();
    assert_eq!(
        ids.len(),
        50,
        "every key handed out, and 30 fetches fell back to the last resort"
    );
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        50,
        "no key handed out twice"
    );
    assert_eq!(s.one_time_prekeys_left(b"bob").unwrap(), 0);
}

pub fn a_device_list_is_replaced_only_by_a_newer_one_under_concurrency(db: &dyn Database) {
    let s = db.open(Limits::default());
    assert_eq!(s.device_list(b"ann").unwrap(), None);
    assert!(s.put_device_list(b"ann", 1, b"v1").unwrap());
    assert!(!s.put_device_list(b"ann", 1, b"v1 again").unwrap());
    assert!(s.put_device_list(b"ann", 3, b"v3").unwrap());
    assert!(!s.put_device_list(b"ann", 2, b"v2").unwrap());
    assert_eq!(s.device_list(b"ann").unwrap().as_deref(), Some(&b"v3"[..]));
    // Another name is its own.
    assert_eq!(s.device_list(b"ben").unwrap(), None);
    // Writers racing with versions 4..=43 in any order: the newest is what stays, and each
    // version is taken at most once.
    let handles: Vec<_> = (0..4)
        .map(|w| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || {
                (0..10)
                    .map(|i| {
                        let step = if w % 2 == 0 { i } else { 9 - i };
                        let v = 4 + w + 4 * step;
                        let taken = s.put_device_list(b"ann", v, &v.to_be_bytes()).unwrap();
                        (v, taken)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let results: Vec<(i64, bool)> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let mut versions: Vec<i64> = results.iter().map(|(v, _)| *v).collect();
    versions.sort_unstable();
    assert_eq!(versions, (4..44).collect::<Vec<_>>());
    assert!(results.iter().any(|(v, taken)| *v == 43 && *taken));
    assert_eq!(
        s.device_list(b"ann").unwrap().as_deref(),
        Some(&43i64.to_be_bytes()[..])
    );
    drop(s);
    // And it is durable.
    let s = db.open(Limits::default());
    assert_eq!(
        s.device_list(b"ann").unwrap().as_deref(),
        Some(&43i64.to_be_bytes()[..])
    );
}

pub fn directory_errors_are_typed(db: &dyn Database) {
    let limits = Limits {
        max_one_time_prekeys: 3,
        ..Limits::default()
    };
    let s = db.open(limits);
    assert_eq!(
        s.fetch_prekeys(b"nobody", true),
        Err(StoreError::UnknownUser)
    );
    let keys: Vec<(u32, Vec<u8>)> = (0..4).map(|i| (i, vec![0; 32])).collect();
    assert_eq!(
        s.publish_prekeys(b"bob", &MailboxId([9; 16]), b"bundle", &keys),
        Err(StoreError::TooManyPrekeys)
    );
    assert_eq!(
        s.fetch_prekeys(b"bob", true),
        Err(StoreError::UnknownUser),
        "refused publish rolled back"
    );
}

pub fn deliveries_survive_reopening_the_database(db: &dyn Database) {
    {
        let s = db.open(Limits::default());
        assert_eq!(s.deliver(&[envelope(1, b"durable", &[1])], 0), vec![Ok(())]);
    }
    let s = db.open(Limits::default());
    assert_eq!(
        s.fetch(&MailboxId([1; 16]), 0, 10).unwrap()[0].body,
        b"durable"
    );
    drop(s);
}

pub fn quotas_are_rebuilt_when_the_database_is_reopened(db: &dyn Database) {
    let limits = Limits {
        max_pending_per_mailbox: 2,
        ..Limits::default()
    };
    {
        let s = db.open(limits);
        let batch = [envelope(1, b"a", &[1]), envelope(2, b"b", &[1])];
        assert_eq!(s.deliver(&batch, 0), vec![Ok(()), Ok(())]);
    }
    let s = db.open(limits);
    assert_eq!(
        s.deliver(&[envelope(3, b"c", &[1])], 0),
        vec![Err(StoreError::QuotaExceeded)]
    );
    // A full mailbox still accepts a re-delivery of what it holds (stored once, no charge).
    assert_eq!(s.deliver(&[envelope(2, b"b", &[1])], 0), vec![Ok(())]);
    s.ack(&MailboxId([1; 16]), &[[1; 16]]).unwrap();
    assert_eq!(s.deliver(&[envelope(3, b"c", &[1])], 0), vec![Ok(())]);
    drop(s);
}

/// Appends `byte` to a mailbox's record.
pub fn append(store: &dyn RelayStore, mailbox: &MailboxId, byte: u8) {
    let written = store.change_access(mailbox, &mut |current| {
        let mut next = current.unwrap_or_default().to_vec();
        next.push(byte);
        Some(next)
    });
    assert!(matches!(written, Ok(Some(_))), "{written:?}");
}

pub fn access_records_change_under_one_lock(db: &dyn Database) {
    let s = db.open(Limits::default());
    let m = MailboxId([5; 16]);
    // A change that decides to write nothing writes nothing.
    assert_eq!(s.change_access(&m, &mut |_| None), Ok(None));
    assert!(s.access_records(&[m]).unwrap().is_empty());
    // Eight writers appending at once lose none of one another's bytes.
    let writers: Vec<_> = (0..8u8)
        .map(|t| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || {
                for _ in 0..10 {
                    append(s.as_ref(), &m, t);
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let records = s.access_records(&[m]).unwrap();
    assert_eq!(records.len(), 1);
    let mut bytes = records[0].1.clone();
    bytes.sort_unstable();
    let expected: Vec<u8> = (0..8u8).flat_map(|t| [t; 10]).collect();
    assert_eq!(bytes, expected);
}

pub fn byte_quota_counts_everything_pending(db: &dyn Database) {
    // Each envelope is 60 bytes of body and a 40-byte part: two fit in 200 bytes, not three.
    let s = db.open(Limits {
        max_pending_bytes_per_mailbox: 200,
        ..Limits::default()
    });
    assert_eq!(s.deliver(&[envelope(1, &[0; 60], &[1])], 0), [Ok(())]);
    assert_eq!(s.deliver(&[envelope(2, &[0; 60], &[1])], 0), [Ok(())]);
    assert_eq!(
        s.deliver(&[envelope(3, &[0; 60], &[1])], 0),
        [Err(StoreError::QuotaExceeded)]
    );
    // An acknowledgement frees exactly what it held.
    assert_eq!(s.ack(&MailboxId([1; 16]), &[[1; 16]]), Ok(1));
    assert_eq!(s.deliver(&[envelope(3, &[0; 60], &[1])], 0), [Ok(())]);
    assert_eq!(
        s.deliver(&[envelope(4, &[0; 1], &[1])], 0),
        [Err(StoreError::QuotaExceeded)]
    );
}

pub fn tokens_spent_in_earlier_batches_stay_spent_in_a_batch_of_many(db: &dyn Database) {
    let s = db.open(Limits::default());
    let first: Vec<NewDelivery> = (0..4).map(|t| spending(t, t, t + 10, t)).collect();
    assert!(s.deliver(&first, 100).iter().all(Result::is_ok));
    // The same four tokens, on other recipients, together in one batch: each a double spend.
    let again: Vec<NewDelivery> = (0..4)
        .map(|t| spending(t + 20, t + 20, t + 10, t + 20))
        .collect();
    assert_eq!(s.deliver(&again, 100), vec![Err(StoreError::TokenSpent); 4]);
}
