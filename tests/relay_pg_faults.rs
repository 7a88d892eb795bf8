//! Faults under load with relays on PostgreSQL, each relay its own process: one of three
//! relays killed with SIGKILL, and the database itself crashing and coming back. Clients
//! carry on through the relays that remain, every refusal meanwhile is a 503 with
//! `Retry-After`, and every envelope a relay answered 202 for is there afterwards.
#![cfg(feature = "cli")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod relay_support;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use missive::access::{AccessKey, Credential, Submission};
use missive::envelope::Envelope;
use missive::mailbox::MailboxKey;
use rand::RngExt;
use relay_support::pg::{Cluster, Scratch};
use relay_support::{TempDir, free_port, mailbox_key, opaque_raw, register_contact, stored_ids};

/// A relay process on a database.
struct Relay {
    child: Child,
    base: String,
    _dir: TempDir,
}

impl Relay {
    fn start(store: &str) -> Self {
        let dir = TempDir::new("pg-fault");
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_missive"))
            .args(["relay", "--store", store, "--data-dir"])
            .arg(dir.path())
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--rate-per-second", "1000000", "--rate-burst", "1000000"])
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Made first, so a relay that does not come up is still killed when this panics.
        let relay = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while health(&relay.base) != Some(200) {
            assert!(Instant::now() < deadline, "relay did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        relay
    }

    fn kill(&mut self) {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
    }
}

/// `/health`'s status, or `None` when nothing answers.
fn health(base: &str) -> Option<u16> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let response = agent.get(&format!("{base}/health")).call().ok()?;
    Some(response.status().as_u16())
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the senders saw.
#[derive(Default)]
struct Seen {
    /// Envelope ids answered 202, per mailbox.
    acked: Vec<Mutex<Vec<[u8; 16]>>>,
    /// How many answers of each status (0: no answer, the relay was gone).
    statuses: Mutex<BTreeMap<u16, usize>>,
    /// 503s without `Retry-After`.
    without_retry_after: AtomicUsize,
}

impl Seen {
    fn new(mailboxes: usize) -> Self {
        Self {
            acked: (0..mailboxes).map(|_| Mutex::default()).collect(),
            ..Self::default()
        }
    }

    fn acked(&self) -> usize {
        self.acked.iter().map(|a| a.lock().unwrap().len()).sum()
    }

    fn statuses(&self) -> BTreeMap<u16, usize> {
        self.statuses.lock().unwrap().clone()
    }
}

/// Delivers to mailbox `i` through `bases` in turn, one request per relay, until `stop`: a
/// relay that does not answer is skipped for the next.
fn deliver(
    bases: &[String],
    i: usize,
    key: &MailboxKey,
    contact: &AccessKey,
    seen: &Seen,
    stop: &AtomicBool,
) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let mut turn = i;
    while !stop.load(Ordering::Relaxed) {
        let base = &bases[turn % bases.len()];
        turn += 1;
        let envelope = opaque_raw(&[*key.id()], 300);
        let submission = Submission {
            credential: Credential::Contacts(contact.clone()),
            envelope: envelope.clone(),
        }
        .to_bytes();
        let status = match agent
            .post(&format!("{base}/v1/envelopes"))
            .send(&submission[..])
        {
            Ok(response) => {
                let status = response.status().as_u16();
                if status == 503 && response.headers().get("retry-after").is_none() {
                    seen.without_retry_after.fetch_add(1, Ordering::Relaxed);
                }
                if status == 202 {
                    let id = Envelope::from_bytes(&envelope).unwrap().id().0;
                    seen.acked[i].lock().unwrap().push(id);
                }
                status
            }
            Err(_) => 0,
        };
        *seen.statuses.lock().unwrap().entry(status).or_default() += 1;
        if status != 202 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Asserts that `base` holds every envelope `seen` was answered 202 for.
fn nothing_lost(base: &str, keys: &[MailboxKey], seen: &Seen) {
    for (key, acked) in keys.iter().zip(&seen.acked) {
        let stored = stored_ids(base, key);
        let acked = acked.lock().unwrap();
        let lost = acked.iter().filter(|id| !stored.contains(*id)).count();
        assert_eq!(lost, 0, "{lost} of {} acknowledged lost", acked.len());
    }
}

/// Mailboxes with contact keys registered through `base`, once every relay follows them.
fn registered(base: &str, n: usize) -> (Vec<MailboxKey>, Vec<AccessKey>) {
    let keys: Vec<MailboxKey> = (0..n).map(|_| mailbox_key()).collect();
    let contacts = keys.iter().map(|k| register_contact(base, k)).collect();
    // Other relays take registrations within their follow interval (250 ms).
    std::thread::sleep(Duration::from_millis(600));
    (keys, contacts)
}

/// Waits until `check` holds, at most `limit`.
fn within(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "not within {limit:?}: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn clients_carry_on_when_one_of_three_relays_is_killed_and_nothing_acknowledged_is_lost() {
    let Some(db) = Scratch::fresh() else { return };
    let mut relays: Vec<Relay> = (0..3).map(|_| Relay::start(&db.url)).collect();
    let bases: Vec<String> = relays.iter().map(|r| r.base.clone()).collect();
    let (keys, contacts) = registered(&bases[0], 4);
    let seen = Seen::new(keys.len());
    let stop = AtomicBool::new(false);
    let after_kill = std::thread::scope(|s| {
        for (i, (key, contact)) in keys.iter().zip(&contacts).enumerate() {
            let (bases, seen, stop) = (&bases, &seen, &stop);
            s.spawn(move || deliver(bases, i, key, contact, seen, stop));
        }
        std::thread::sleep(Duration::from_millis(rand::rng().random_range(300..600)));
        relays[1].kill();
        let at_kill = seen.acked();
        // The clients go on through the other two.
        within(Duration::from_secs(10), "deliveries after the kill", || {
            seen.acked() > at_kill + 100
        });
        stop.store(true, Ordering::Relaxed);
        seen.acked() - at_kill
    });
    let statuses = seen.statuses();
    eprintln!(
        "{} acknowledged ({after_kill} after the kill); answers {statuses:?}",
        seen.acked()
    );
    assert!(
        statuses.keys().all(|s| [0, 202].contains(s)),
        "answers other than 202 (or none, from the killed relay): {statuses:?}"
    );
    assert!(statuses.contains_key(&0), "the killed relay was being used");
    for base in [&bases[0], &bases[2]] {
        nothing_lost(base, &keys, &seen);
    }
    // Started again on the same database, it serves all of it.
    let again = Relay::start(&db.url);
    nothing_lost(&again.base, &keys, &seen);
}

#[test]
fn relays_answer_503_while_the_database_is_down_recover_by_themselves_and_lose_nothing() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let relays: Vec<Relay> = (0..2).map(|_| Relay::start(&cluster.url)).collect();
    let bases: Vec<String> = relays.iter().map(|r| r.base.clone()).collect();
    let (keys, contacts) = registered(&bases[0], 4);
    let seen = Seen::new(keys.len());
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        for (i, (key, contact)) in keys.iter().zip(&contacts).enumerate() {
            let (bases, seen, stop) = (&bases, &seen, &stop);
            s.spawn(move || deliver(bases, i, key, contact, seen, stop));
        }
        std::thread::sleep(Duration::from_millis(rand::rng().random_range(300..600)));
        cluster.crash();
        for base in &bases {
            within(Duration::from_secs(10), "health says unavailable", || {
                health(base) == Some(503)
            });
        }
        let refused = || seen.statuses().get(&503).copied().unwrap_or(0);
        within(Duration::from_secs(10), "submissions refused", || {
            refused() > 4
        });
        std::thread::sleep(Duration::from_millis(500));
        cluster.start_again();
        let at_restart = seen.acked();
        within(
            Duration::from_secs(20),
            "deliveries after the restart",
            || seen.acked() > at_restart + 100,
        );
        for base in &bases {
            within(Duration::from_secs(10), "health says ok", || {
                health(base) == Some(200)
            });
        }
        stop.store(true, Ordering::Relaxed);
    });
    let statuses = seen.statuses();
    eprintln!("{} acknowledged; answers {statuses:?}", seen.acked());
    assert!(
        statuses.keys().all(|s| [202, 503].contains(s)),
        "answers other than 202 and 503: {statuses:?}"
    );
    assert_eq!(seen.without_retry_after.load(Ordering::Relaxed), 0);
    for base in &bases {
        nothing_lost(base, &keys, &seen);
    }
}
