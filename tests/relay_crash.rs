//! Crash safety: the relay runs as its own process, several threads deliver to it, and it is
//! killed with SIGKILL at a random moment, several times over one data directory. Every
//! envelope it answered 202 for must be fetchable after the restart.
#![cfg(feature = "cli")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod relay_support;

use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use missive::access::{AccessKey, Credential, Submission};
use missive::envelope::Envelope;
use missive::mailbox::MailboxKey;
use rand::RngExt;
use relay_support::{TempDir, free_port, mailbox_key, opaque_raw, register_contact, stored_ids};

fn start(dir: &TempDir) -> (Child, String) {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_missive"))
        .args(["relay", "--data-dir"])
        .arg(dir.path())
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "relay did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    (child, base)
}

/// Delivers to `key`'s mailbox until the relay stops answering; records what got a 202.
fn deliver_until_down(
    base: &str,
    key: &MailboxKey,
    contact: &AccessKey,
    acked: &Mutex<Vec<[u8; 16]>>,
    down: &AtomicBool,
) {
    let url = format!("{base}/v1/envelopes");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    while !down.load(Ordering::Relaxed) {
        let envelope = opaque_raw(&[*key.id()], 400);
        let submission = Submission {
            credential: Credential::Contacts(contact.clone()),
            envelope: envelope.clone(),
        }
        .to_bytes();
        let Ok(response) = agent.post(&url).send(&submission[..]) else {
            return; // killed mid-request: not acknowledged, not counted
        };
        if response.status() == 202 {
            acked
                .lock()
                .unwrap()
                .push(Envelope::from_bytes(&envelope).unwrap().id().0);
        }
    }
}

#[test]
fn acknowledged_deliveries_survive_kill_9() {
    let dir = TempDir::new("crash");
    let keys: Vec<MailboxKey> = (0..4).map(|_| mailbox_key()).collect();
    let acked: Vec<Mutex<Vec<[u8; 16]>>> = keys.iter().map(|_| Mutex::default()).collect();
    let mut contacts = Vec::new();
    for round in 0..4 {
        let (mut relay, base) = start(&dir);
        // Registered once: an access key the relay acknowledged must survive the kills too.
        if round == 0 {
            contacts = keys.iter().map(|k| register_contact(&base, k)).collect();
        }
        let down = AtomicBool::new(false);
        std::thread::scope(|s| {
            for ((key, acked), contact) in keys.iter().zip(&acked).zip(&contacts) {
                let (base, down) = (&base, &down);
                s.spawn(move || deliver_until_down(base, key, contact, acked, down));
            }
            std::thread::sleep(Duration::from_millis(rand::rng().random_range(100..400)));
            relay.kill().unwrap(); // SIGKILL
            relay.wait().unwrap();
            down.store(true, Ordering::Relaxed);
        });
    }
    let (mut relay, base) = start(&dir);
    let mut total = 0;
    for (key, acked) in keys.iter().zip(&acked) {
        let stored = stored_ids(&base, key);
        let acked = acked.lock().unwrap();
        total += acked.len();
        let lost = acked.iter().filter(|id| !stored.contains(*id)).count();
        assert_eq!(
            lost,
            0,
            "{lost} of {} acknowledged envelopes lost",
            acked.len()
        );
    }
    eprintln!("{total} acknowledged envelopes, all still stored after 4 kills");
    assert!(total > 0, "the load reached the relay");
    relay.kill().unwrap();
    relay.wait().unwrap();
}
