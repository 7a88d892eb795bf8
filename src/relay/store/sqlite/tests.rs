//! The store's own invariants: no hot statement scans a table, foreign keys are indexed, and
//! the running totals agree with the tables.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod plans {
    use rusqlite::Connection;

    use super::super::super::Limits;
    use super::super::SqliteStore;

    /// The store's code: every file of it but this one.
    const SOURCES: [&str; 10] = [
        include_str!("mod.rs"),
        include_str!("accounts.rs"),
        include_str!("checkpoint.rs"),
        include_str!("directory.rs"),
        include_str!("reads.rs"),
        include_str!("removal.rs"),
        include_str!("spends.rs"),
        include_str!("sql.rs"),
        include_str!("usage.rs"),
        include_str!("writes.rs"),
    ];

    /// Every SQL statement in the store's code: its string literals that start with a
    /// statement keyword.
    fn statements() -> Vec<String> {
        let mut out = Vec::new();
        for (i, piece) in SOURCES.iter().flat_map(|code| code.split('"').enumerate()) {
            let sql = piece.trim_start();
            let keyword = ["SELECT ", "INSERT ", "UPDATE ", "DELETE "]
                .iter()
                .any(|k| sql.starts_with(k));
            // Odd pieces are inside a literal (the code has no escaped quote).
            if i % 2 == 1 && keyword {
                out.push(sql.replace("\\\n", " "));
            }
        }
        out
    }

    /// The query plan's lines of `sql`.
    fn plan(conn: &Connection, sql: &str) -> Vec<String> {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let nulls = std::iter::repeat_n(rusqlite::types::Null, stmt.parameter_count());
        stmt.query_map(rusqlite::params_from_iter(nulls), |r| r.get::<_, String>(3))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    /// Statements that read a whole table on purpose: once at open, rebuilding what the relay
    /// keeps in memory, and the periodic sweep of a table small by construction.
    const WHOLE_TABLE: [&str; 5] = [
        "SELECT (SELECT COUNT(*) FROM deliveries),",
        "SELECT mailbox, COUNT(*), SUM(size) FROM deliveries GROUP BY mailbox",
        "SELECT token, recipients, spent_at, expires_at FROM token_spends ORDER BY rowid",
        "SELECT mailbox, record FROM mailbox_access",
        "DELETE FROM token_quota WHERE period < ?1",
    ];

    /// The one statement that may sort: a page's sequence numbers.
    const PAGE_KEYS: &str = "SELECT seq FROM deliveries WHERE mailbox = ?1";

    #[test]
    fn no_statement_scans_a_table_on_the_hot_path() {
        let store = SqliteStore::in_memory(Limits::default()).unwrap();
        let conn = &store.lock().conn;
        let all = statements();
        assert!(all.len() > 25, "found only {} statements", all.len());
        for sql in all {
            let plan = plan(conn, &sql);
            let scans: Vec<&String> = plan
                .iter()
                .filter(|l| l.starts_with("SCAN ") && !l.starts_with("SCAN CONSTANT ROW"))
                .collect();
            let expected = WHOLE_TABLE.iter().any(|w| sql.starts_with(w));
            assert!(scans.is_empty() || expected, "{sql}\n  scans: {scans:?}");
            // A sort in a temporary tree reads every matching row before the first comes out:
            // only a mailbox's sequence numbers may be sorted, from an index alone (never
            // its rows or bodies), which the mailbox's quota bounds.
            let sorts: Vec<&String> = plan.iter().filter(|l| l.contains("TEMP B-TREE")).collect();
            let keys_only = sql.starts_with(PAGE_KEYS)
                && plan.iter().any(|l| l.contains("USING COVERING INDEX"));
            assert!(
                sorts.is_empty() || expected || keys_only,
                "{sql}\n  sorts: {sorts:?}"
            );
        }
    }

    #[test]
    fn every_foreign_key_has_an_index_on_its_child_column() {
        let store = SqliteStore::in_memory(Limits::default()).unwrap();
        let conn = &store.lock().conn;
        let tables: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let mut checked = 0;
        for table in tables {
            let keys: Vec<String> = conn
                .prepare(&format!(
                    "SELECT \"from\" FROM pragma_foreign_key_list('{table}')"
                ))
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            for column in keys {
                let indexed: i64 = conn
                    .query_row(
                        &format!(
                            "SELECT COUNT(*) FROM pragma_index_list('{table}') AS l
                             WHERE (SELECT name FROM pragma_index_info(l.name) WHERE seqno = 0) = ?1"
                        ),
                        [&column],
                        |r| r.get(0),
                    )
                    .unwrap();
                assert!(
                    indexed > 0,
                    "{table}.{column} references another table unindexed"
                );
                checked += 1;
            }
        }
        assert!(checked > 0);
    }
}

mod totals {
    use super::super::super::{Limits, MailboxId, NewDelivery, RelayStore, StoreStats};
    use super::super::SqliteStore;
    use super::super::usage::load_totals;

    fn envelope(id: u8, body: usize, to: &[u8], expires_at: u64) -> NewDelivery {
        NewDelivery {
            id: [id; 16],
            body: vec![id; body],
            parts: to
                .iter()
                .map(|m| (MailboxId([*m; 16]), vec![*m; usize::from(*m)]))
                .collect(),
            expires_at,
            spend: None,
        }
    }

    /// The running totals agree with counting the tables.
    fn check(s: &SqliteStore) {
        let counted = load_totals(&s.lock().conn).unwrap();
        let stats = s.stats().unwrap();
        assert_eq!(
            (stats.pending_deliveries, stats.bodies, stats.bytes_stored),
            (counted.deliveries, counted.bodies, counted.bytes)
        );
    }

    #[test]
    fn metrics_totals_follow_every_write_without_counting_rows() {
        let s = SqliteStore::in_memory(Limits::default()).unwrap();
        check(&s);
        let batch = [
            envelope(1, 300, &[1, 2, 3], 100),
            envelope(2, 500, &[2], 50),
            envelope(1, 300, &[1, 2, 3], 100), // redelivered: stored once
            envelope(3, 700, &[4, 5], 1_000),
        ];
        s.deliver(&batch, 10);
        check(&s);
        assert_eq!(s.stats().unwrap().pending_deliveries, 6);
        s.ack(&MailboxId([2; 16]), &[[1; 16], [2; 16]]).unwrap();
        check(&s);
        s.ack(&MailboxId([9; 16]), &[[3; 16]]).unwrap();
        check(&s);
        s.expire(100).unwrap();
        check(&s);
        assert_eq!(s.stats().unwrap().pending_deliveries, 2);
        // Everything expired: nothing counted.
        s.expire(1_000).unwrap();
        check(&s);
        assert_eq!(s.stats().unwrap(), StoreStats::default());
    }

    #[test]
    fn acknowledgements_committed_together_remove_each_delivery_once() {
        let s = SqliteStore::in_memory(Limits::default()).unwrap();
        s.deliver(
            &[envelope(1, 300, &[1, 2], 100), envelope(2, 300, &[1], 100)],
            10,
        );
        // Mailbox 1 lists envelope 1 twice, and again in a second acknowledgement of the same
        // commit: removed once, and mailbox 2's copy of the shared body stays.
        let (one, two) = (MailboxId([1; 16]), MailboxId([2; 16]));
        let acks = [
            (one, vec![[1; 16], [1; 16], [2; 16]]),
            (one, vec![[1; 16]]),
            (two, vec![[9; 16]]),
        ];
        assert_eq!(s.ack_many(&acks).unwrap(), [2, 0, 0]);
        check(&s);
        let left = s.fetch(&two, 0, 10).unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].body, vec![1; 300]);
        assert!(s.fetch(&one, 0, 10).unwrap().is_empty());
        assert_eq!(s.ack(&two, &[[1; 16], [1; 16]]).unwrap(), 1);
        check(&s);
        assert_eq!(s.stats().unwrap(), StoreStats::default());
    }
}
