//! A PostgreSQL database of its own for each test: created on the server named by
//! `MISSIVE_TEST_POSTGRES` (a URL; `postgres://postgres@127.0.0.1:5432/postgres` when unset),
//! dropped when the test ends. Without a server the tests say loudly that they were skipped,
//! except in CI (`CI` set), where they fail: there they are mandatory.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::sync::atomic::{AtomicUsize, Ordering};

const DEFAULT: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A database created for one test.
pub struct Scratch {
    admin: String,
    name: String,
    /// The URL of the test's database.
    pub url: String,
}

fn admin_url() -> String {
    std::env::var("MISSIVE_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT.into())
}

/// Runs `work` to completion on a runtime of its own, in a thread of its own (the caller
/// may be inside an async test).
fn apart<T: Send>(work: impl Future<Output = T> + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(work)
        })
        .join()
        .unwrap()
    })
}

/// Runs `sql` on the server's administrative database.
fn administer(url: &str, sql: &str) -> Result<(), String> {
    apart(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .map_err(|e| e.to_string())?;
        let driver = tokio::spawn(connection);
        let result = client.batch_execute(sql).await.map_err(|e| e.to_string());
        drop(client);
        let _ = driver.await;
        result
    })
}

impl Scratch {
    /// A fresh, empty database; `None` (after saying so) when no server is reachable outside
    /// CI.
    pub fn fresh() -> Option<Self> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let admin = admin_url();
        let name = format!(
            "missive_test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        if let Err(e) = administer(&admin, &format!("CREATE DATABASE {name}")) {
            assert!(
                std::env::var_os("CI").is_none(),
                "PostgreSQL at {admin} is required in CI: {e}"
            );
            eprintln!(
                "SKIPPED: no PostgreSQL at {admin} ({e}); set MISSIVE_TEST_POSTGRES to a server's URL"
            );
            return None;
        }
        let url = match admin.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{name}"),
            None => panic!("MISSIVE_TEST_POSTGRES {admin:?} names no database"),
        };
        Some(Self { admin, name, url })
    }
}

impl Scratch {
    /// Every byte string and text the database holds, concatenated: what an audit of the
    /// stored data searches.
    pub fn dump(&self) -> Vec<u8> {
        apart(async {
            let (client, connection) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
                .await
                .unwrap();
            let driver = tokio::spawn(connection);
            let columns = client
                .query(
                    "SELECT table_name::text, column_name::text, data_type::text
                     FROM information_schema.columns
                     WHERE table_schema = 'public' AND data_type IN ('bytea', 'text')",
                    &[],
                )
                .await
                .unwrap();
            assert!(!columns.is_empty(), "no tables to dump");
            let mut out = Vec::new();
            for c in columns {
                let (table, column, kind): (String, String, String) =
                    (c.get(0), c.get(1), c.get(2));
                for row in client
                    .query(&format!("SELECT \"{column}\" FROM \"{table}\""), &[])
                    .await
                    .unwrap()
                {
                    if kind == "bytea" {
                        out.extend(row.get::<_, Vec<u8>>(0));
                    } else {
                        out.extend(row.get::<_, String>(0).into_bytes());
                    }
                }
            }
            drop(client);
            let _ = driver.await;
            out
        })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = administer(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}
