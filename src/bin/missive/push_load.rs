//! `missive load`'s push phase: how long a delivery takes from its submission to its
//! recipient's open socket, for stored deliveries and for ephemeral ones (typing indicators).
//! With several relays each recipient's socket is on one relay and its deliveries are
//! submitted to another, so every push crosses relays through the database.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::body::Bytes;
use missive::access::{AccessKey, Credential, Submission};
use missive::envelope::{Delivery, Envelope, MailboxId};
use missive::mailbox::MailboxKey;
use missive::relay::system_clock;
use rand::Rng;

use crate::load::{Connection, connect, request};
use crate::socket::{PATH, Socket};

/// Recipients holding a socket open during the phase.
const RECEIVERS: usize = 64;
/// Connections submitting, each paced at its share of the rate.
const LANES: usize = 8;
/// What marks a body as this phase's (earlier phases' bodies are random).
const MARK: &[u8; 8] = b"pushload";
/// How long after the last submission a push may still arrive to count.
const GRACE: Duration = Duration::from_secs(2);
const EXPIRY: u64 = 4_000_000_000;

/// A recipient: its mailbox key (to open its socket) and the contact key senders present.
pub(crate) struct Receiver {
    pub(crate) key: MailboxKey,
    pub(crate) contact: Option<AccessKey>,
}

/// Submission→socket latencies of one kind of delivery.
struct Pushes {
    sent: usize,
    /// Microseconds, sorted.
    latencies: Vec<u32>,
}

impl Pushes {
    fn percentile(&self, p: f64) -> f64 {
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies
            .get(i)
            .map_or(0.0, |us| f64::from(*us) / 1000.0)
    }

    fn print(&self, what: &str, crossing: bool) {
        println!(
            "push of {what}{}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {} of {} arrived",
            if crossing { " across relays" } else { "" },
            self.percentile(0.50),
            self.percentile(0.99),
            self.percentile(1.0),
            self.latencies.len(),
            self.sent,
        );
    }
}

/// Runs the phase: `rate` envelopes per second for `seconds`, stored then ephemeral, to
/// sockets of the first [`RECEIVERS`] of `receivers`.
pub(crate) async fn run(
    addrs: &[SocketAddr],
    receivers: &[Receiver],
    seconds: u64,
    rate: f64,
    size: usize,
) -> Result<(), String> {
    let receivers = &receivers[..RECEIVERS.min(receivers.len())];
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    // [stored, ephemeral]
    let arrived = Arc::new(Mutex::new([Vec::new(), Vec::new()]));
    let mut listening = Vec::new();
    for (i, receiver) in receivers.iter().enumerate() {
        let base = format!("http://{}", addrs[i % addrs.len()]);
        let proof = receiver
            .key
            .prove(&mut rand::rng(), "GET", PATH, b"", system_clock());
        let authorization = format!("Missive {}", hex::encode(proof.to_bytes()));
        let socket = Socket::connect(&base, &authorization)?;
        let (stop, arrived) = (Arc::clone(&stop), Arc::clone(&arrived));
        listening.push(std::thread::spawn(move || {
            listen(socket, started, &stop, &arrived);
        }));
    }
    let crossing = addrs.len() > 1;
    for (kind, what) in ["stored deliveries", "typing indicators"]
        .iter()
        .enumerate()
    {
        let sent = send(addrs, receivers, kind, seconds, rate, size, started).await?;
        tokio::time::sleep(GRACE).await;
        let mut latencies = std::mem::take(&mut arrived.lock().map_err(|_| "poisoned")?[kind]);
        latencies.sort_unstable();
        Pushes { sent, latencies }.print(what, crossing);
    }
    stop.store(true, Ordering::Relaxed);
    for thread in listening {
        let _ = thread.join();
    }
    Ok(())
}

/// Reads one socket until `stop`, recording each marked delivery's latency by its kind and
/// acknowledging the stored ones.
fn listen(mut socket: Socket, started: Instant, stop: &AtomicBool, arrived: &Mutex<[Vec<u32>; 2]>) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(next) = socket.next() else { return };
        let Some(delivered) = next else { continue };
        let now = started.elapsed().as_micros();
        let Ok(delivery) = Delivery::from_bytes(&delivered.delivery) else {
            continue;
        };
        let body = delivery.body();
        if body.get(..8) != Some(MARK.as_slice()) {
            let _ = socket.ack(vec![delivered.id]);
            continue;
        }
        let stamp = body
            .get(8..16)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map_or(0, u64::from_le_bytes);
        let kind = usize::from(body.get(16) == Some(&1));
        let latency = u32::try_from(now.saturating_sub(u128::from(stamp))).unwrap_or(u32::MAX);
        if let Ok(mut arrived) = arrived.lock() {
            arrived[kind].push(latency);
        }
        if kind == 0 {
            let _ = socket.ack(vec![delivered.id]);
        }
    }
    socket.close();
}

/// Submits `kind` (0 stored, 1 ephemeral) deliveries at `rate` per second for `seconds`,
/// each to the relay after its recipient's; returns how many were accepted.
async fn send(
    addrs: &[SocketAddr],
    receivers: &[Receiver],
    kind: usize,
    seconds: u64,
    rate: f64,
    size: usize,
    started: Instant,
) -> Result<usize, String> {
    let every = Duration::from_secs_f64(LANES as f64 / rate.max(1.0));
    let end = Instant::now() + Duration::from_secs(seconds);
    let targets: Vec<(SocketAddr, MailboxId, Option<AccessKey>)> = receivers
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let relay = addrs[(i + 1) % addrs.len()];
            (relay, *r.key.id(), r.contact.clone())
        })
        .collect();
    let targets = Arc::new(targets);
    let mut lanes = Vec::new();
    for lane in 0..LANES {
        let targets = Arc::clone(&targets);
        let addrs = addrs.to_vec();
        lanes.push(tokio::spawn(async move {
            let mut connections: Vec<Option<Connection>> = addrs.iter().map(|_| None).collect();
            let mut next = Instant::now() + every.mul_f64(lane as f64 / LANES as f64);
            let mut accepted = 0;
            let mut turn = lane;
            while next < end {
                tokio::time::sleep_until(next.into()).await;
                next += every;
                let (relay, mailbox, contact) = &targets[turn % targets.len()];
                turn += LANES;
                let slot = addrs.iter().position(|a| a == relay).unwrap_or(0);
                if connections[slot].is_none() {
                    connections[slot] = Some(connect(*relay).await?);
                }
                let Some(connection) = connections[slot].as_mut() else {
                    continue;
                };
                let stamp = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                let submission = submission(*mailbox, contact.as_ref(), kind, stamp, size);
                let path = if kind == 0 {
                    "/v1/envelopes"
                } else {
                    "/v1/ephemeral"
                };
                let (status, _) =
                    request(connection, *relay, "POST", path, None, submission.to_vec()).await?;
                if status == hyper::StatusCode::ACCEPTED {
                    accepted += 1;
                }
            }
            Ok::<usize, String>(accepted)
        }));
    }
    let mut accepted = 0;
    for lane in lanes {
        accepted += lane.await.map_err(|e| e.to_string())??;
    }
    Ok(accepted)
}

/// A marked body (mark, submission time, kind, random rest) to `mailbox`.
fn submission(
    mailbox: MailboxId,
    contact: Option<&AccessKey>,
    kind: usize,
    stamp: u64,
    size: usize,
) -> Bytes {
    let mut body = vec![0u8; size.max(17)];
    rand::rng().fill_bytes(&mut body[17..]);
    body[..8].copy_from_slice(MARK);
    body[8..16].copy_from_slice(&stamp.to_le_bytes());
    body[16] = u8::from(kind == 1);
    let envelope = Envelope::to_mailboxes(EXPIRY, &[mailbox], &body)
        .ok()
        .and_then(|e| e.into_iter().next())
        .map(|e| e.to_bytes())
        .unwrap_or_default();
    let credential = contact.map_or(Credential::Open, |k| Credential::Contacts(k.clone()));
    Bytes::from(
        Submission {
            credential,
            envelope,
        }
        .to_bytes(),
    )
}
