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
        let mut created = administer(&admin, &format!("CREATE DATABASE {name}"));
        let mut admin = admin;
        if created.is_err() && std::env::var_os("MISSIVE_TEST_POSTGRES").is_none() {
            // No server at the default address: a cluster of this test process's own.
            if let Some(url) = throwaway() {
                admin = url;
                created = administer(&admin, &format!("CREATE DATABASE {name}"));
            }
        }
        if let Err(e) = created {
            assert!(
                std::env::var_os("CI").is_none(),
                "PostgreSQL at {admin} is required in CI: {e}"
            );
            eprintln!(
                "SKIPPED: no PostgreSQL at {admin} ({e}) and no binaries to start one; set MISSIVE_TEST_POSTGRES to a server's URL"
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
    /// Runs `sql` (several statements may be separated by `;`) on the test's database.
    pub fn execute(&self, sql: &str) {
        administer(&self.url, sql).unwrap();
    }

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

/// A PostgreSQL cluster of the test's own (`initdb` and `pg_ctl` from the installed binaries,
/// in a temporary directory, on a free port), for tests that stop and start the server.
/// Running as root, it runs them as the `postgres` user (the server refuses root). Stopped
/// and removed when dropped. Without the binaries the test says loudly that it was skipped,
/// except in CI, where it fails.
pub struct Cluster {
    dir: std::path::PathBuf,
    bin: std::path::PathBuf,
    port: u16,
    as_postgres: bool,
    /// The URL of its `postgres` database.
    pub url: String,
}

impl Cluster {
    pub fn start() -> Option<Self> {
        let cluster = Self::start_quietly();
        if cluster.is_none() {
            assert!(
                std::env::var_os("CI").is_none(),
                "PostgreSQL's binaries (initdb, pg_ctl) are required in CI"
            );
            eprintln!("SKIPPED: no PostgreSQL binaries (pg_config --bindir) to start a cluster");
        }
        cluster
    }

    /// Stops the server and removes its directory once process `pid` has exited.
    fn stop_after(&self, pid: u32) {
        let pg_ctl = self.bin.join("pg_ctl");
        let data = self.dir.join("data");
        let stop = if self.as_postgres {
            format!(
                "runuser -u postgres -- {} -D {} -m immediate stop",
                pg_ctl.display(),
                data.display()
            )
        } else {
            format!(
                "{} -D {} -m immediate stop",
                pg_ctl.display(),
                data.display()
            )
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf {}",
            self.dir.display()
        );
        // Not waited for: the watchdog is meant to outlive this process.
        #[allow(clippy::zombie_processes)]
        let _watchdog = std::process::Command::new("sh")
            .args(["-c", &script])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
    }

    fn start_quietly() -> Option<Self> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let bin = binaries()?;
        let as_postgres = command_output("id", &["-u"]).as_deref() == Some("0");
        let dir = std::env::temp_dir().join(format!(
            "missive-pg-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        if as_postgres {
            let owner = std::process::Command::new("chown")
                .arg("postgres:")
                .arg(&dir)
                .status()
                .unwrap();
            assert!(owner.success(), "chown postgres {}", dir.display());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cluster = Self {
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            dir,
            bin,
            port,
            as_postgres,
        };
        let data = cluster.dir.join("data");
        cluster.run(
            "initdb",
            &[
                "-D",
                &data.display().to_string(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        cluster.start_again();
        Some(cluster)
    }

    /// Starts the server (again), waiting until it accepts connections.
    pub fn start_again(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.display()
        );
        let (data, log) = (self.dir.join("data"), self.dir.join("log"));
        self.run(
            "pg_ctl",
            &[
                "-D",
                &data.display().to_string(),
                "-l",
                &log.display().to_string(),
                "-o",
                &options,
                "-w",
                "start",
            ],
        );
    }

    /// Stops the server the way a crash would (`immediate`: no checkpoint, recovery from the
    /// write-ahead log at the next start).
    pub fn crash(&self) {
        let data = self.dir.join("data");
        self.run(
            "pg_ctl",
            &[
                "-D",
                &data.display().to_string(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let path = self.bin.join(tool);
        let mut command = if self.as_postgres {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            std::process::Command::new(&path)
        };
        let out = command.args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{tool} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The URL of a cluster shared by this test process's tests, started on first use and
/// stopped by a watchdog once the process has exited (statics are never dropped); `None`
/// without PostgreSQL's binaries.
fn throwaway() -> Option<String> {
    static SHARED: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    SHARED
        .get_or_init(|| {
            let cluster = Cluster::start_quietly()?;
            eprintln!(
                "no PostgreSQL at the default address: started a throwaway cluster at {}",
                cluster.url
            );
            cluster.stop_after(std::process::id());
            let url = cluster.url.clone();
            // The watchdog owns it now.
            std::mem::forget(cluster);
            Some(url)
        })
        .clone()
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let path = self.bin.join("pg_ctl");
        let mut command = if self.as_postgres {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            std::process::Command::new(&path)
        };
        let _ = command
            .arg("-D")
            .arg(&data)
            .args(["-m", "immediate", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Where PostgreSQL's server binaries are: `pg_config --bindir`, or the newest Debian-style
/// `/usr/lib/postgresql/N/bin`.
fn binaries() -> Option<std::path::PathBuf> {
    let has_initdb = |p: &std::path::Path| p.join("initdb").is_file() && p.join("pg_ctl").is_file();
    if let Some(dir) = command_output("pg_config", &["--bindir"]).map(std::path::PathBuf::from)
        && has_initdb(&dir)
    {
        return Some(dir);
    }
    let mut versions: Vec<std::path::PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| has_initdb(p))
        .collect();
    versions.sort();
    versions.pop()
}

fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
