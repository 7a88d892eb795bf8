//! Backlogs for `missive load`: deliveries left pending in mailboxes nobody reads (so every
//! phase runs against a table of that size), and the owners' side of the load, fetching and
//! acknowledging what the phases delivered until their mailboxes are empty.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use missive::access::{AccessKey, AccessUpdate, Credential, Submission};
use missive::envelope::{Envelope, MailboxId};
use missive::mailbox::MailboxKey;
use missive::relay::system_clock;
use missive::relay_api::{Ack, DeliveryPage};
use rand::Rng;

use crate::load::{Connection, connect, request, submit_accepted};

/// Mailboxes holding the standing backlog; each holds at most a thousandth of it, well under
/// the relay's per-mailbox limit.
const IDLE_MAILBOXES: usize = 1000;
const EXPIRY: u64 = 4_000_000_000;

fn auth(key: &MailboxKey, method: &str, path: &str, body: &[u8]) -> String {
    let proof = key.prove(&mut rand::rng(), method, path, body, system_clock());
    format!("Missive {}", hex::encode(proof.to_bytes()))
}

/// Leaves `count` deliveries pending, in 50-recipient envelopes of `size` bytes to mailboxes
/// the load never reads.
pub(crate) async fn prefill(
    addr: SocketAddr,
    count: usize,
    size: usize,
    lanes: usize,
) -> Result<(), String> {
    let started = Instant::now();
    let mut rng = rand::rng();
    let idle: Vec<(MailboxKey, AccessKey)> = (0..IDLE_MAILBOXES)
        .map(|_| {
            (
                MailboxKey::generate(&mut rng),
                AccessKey::generate(&mut rng),
            )
        })
        .collect();
    let mut connection = connect(addr).await?;
    for (key, contact) in &idle {
        let body = AccessUpdate {
            contact: Some(contact.clone()),
            ..AccessUpdate::default()
        }
        .to_bytes();
        let path = "/v1/mailbox/access";
        let proof = auth(key, "PUT", path, &body);
        let (status, _) = request(&mut connection, addr, "PUT", path, Some(proof), body).await?;
        if status != hyper::StatusCode::NO_CONTENT {
            return Err(format!("registering an idle mailbox: {status}"));
        }
    }
    let mut idle: Vec<(MailboxId, AccessKey)> =
        idle.into_iter().map(|(k, c)| (*k.id(), c)).collect();
    idle.sort_unstable_by_key(|(m, _)| *m);
    let idle = Arc::new(idle);
    let envelopes = count.div_ceil(50);
    let lanes = lanes.clamp(1, 64);
    let mut tasks = Vec::new();
    for lane in 0..lanes {
        let idle = Arc::clone(&idle);
        tasks.push(tokio::spawn(async move {
            let mut connection = connect(addr).await?;
            for n in (lane..envelopes).step_by(lanes) {
                let start = (n * 50) % IDLE_MAILBOXES;
                let to = &idle[start..start + 50];
                let mailboxes: Vec<MailboxId> = to.iter().map(|(m, _)| *m).collect();
                let mut body = vec![0u8; size];
                rand::rng().fill_bytes(&mut body);
                let envelope = Envelope::to_mailboxes(EXPIRY, &mailboxes, &body)
                    .map_err(|e| e.to_string())?
                    .remove(0)
                    .to_bytes();
                let submission = Submission {
                    credential: Credential::Contacts(AccessKey::combine(to.iter().map(|r| &r.1))),
                    envelope,
                }
                .to_bytes();
                submit_accepted(&mut connection, addr, submission, "filling the backlog").await?;
            }
            Ok::<(), String>(())
        }));
    }
    for task in tasks {
        task.await.map_err(|e| e.to_string())??;
    }
    println!(
        "{} deliveries left pending in {IDLE_MAILBOXES} mailboxes nobody reads ({:.1} s)",
        envelopes * 50,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// What draining measured: deliveries fetched and acknowledged, and the time each
/// fetch-and-acknowledge round took.
pub(crate) struct Drained {
    deliveries: u64,
    elapsed: Duration,
    /// Microseconds per round (one page fetched, then acknowledged), sorted.
    rounds: Vec<u32>,
}

impl Drained {
    fn percentile(&self, p: f64) -> f64 {
        let i = ((self.rounds.len() as f64 - 1.0) * p).round() as usize;
        self.rounds.get(i).map_or(0.0, |us| f64::from(*us) / 1000.0)
    }

    pub(crate) fn print(&self) {
        println!(
            "  fetched and acknowledged: {:.0} deliveries/s ({} in {:.1} s); per page p50 {:.2} ms, p99 {:.2} ms",
            self.deliveries as f64 / self.elapsed.as_secs_f64(),
            self.deliveries,
            self.elapsed.as_secs_f64(),
            self.percentile(0.5),
            self.percentile(0.99),
        );
    }
}

/// Every owner fetches its mailbox page by page and acknowledges each page, over
/// `connections` keep-alive connections, until all are empty.
pub(crate) async fn drain(
    addr: SocketAddr,
    owners: &Arc<Vec<MailboxKey>>,
    connections: usize,
) -> Result<Drained, String> {
    let started = Instant::now();
    let lanes = connections.clamp(1, 64);
    let mut tasks = Vec::new();
    for lane in 0..lanes {
        let owners = Arc::clone(owners);
        tasks.push(tokio::spawn(async move {
            let mut connection = connect(addr).await?;
            let (mut count, mut rounds) = (0u64, Vec::new());
            for key in owners.iter().skip(lane).step_by(lanes) {
                loop {
                    let round = Instant::now();
                    let n = fetch_and_ack(&mut connection, addr, key).await?;
                    if n == 0 {
                        break;
                    }
                    count += n as u64;
                    rounds.push(u32::try_from(round.elapsed().as_micros()).unwrap_or(u32::MAX));
                }
            }
            Ok::<_, String>((count, rounds))
        }));
    }
    let mut drained = Drained {
        deliveries: 0,
        elapsed: Duration::ZERO,
        rounds: Vec::new(),
    };
    for task in tasks {
        let (count, rounds) = task.await.map_err(|e| e.to_string())??;
        drained.deliveries += count;
        drained.rounds.extend(rounds);
    }
    drained.elapsed = started.elapsed();
    drained.rounds.sort_unstable();
    Ok(drained)
}

/// One page of `key`'s mailbox, acknowledged; how many deliveries it held.
async fn fetch_and_ack(
    connection: &mut Connection,
    addr: SocketAddr,
    key: &MailboxKey,
) -> Result<usize, String> {
    let path = "/v1/mailbox";
    let proof = auth(key, "GET", path, b"");
    let (status, page) = request(connection, addr, "GET", path, Some(proof), Vec::new()).await?;
    if status != hyper::StatusCode::OK {
        return Err(format!("fetching: {status}"));
    }
    let page = DeliveryPage::from_bytes(&page).map_err(|e| e.to_string())?;
    if page.deliveries.is_empty() {
        return Ok(0);
    }
    let body = Ack {
        ids: page.deliveries.iter().map(|d| d.id).collect(),
    }
    .to_bytes();
    let path = "/v1/mailbox/ack";
    let proof = auth(key, "POST", path, &body);
    let (status, _) = request(connection, addr, "POST", path, Some(proof), body).await?;
    if status != hyper::StatusCode::NO_CONTENT {
        return Err(format!("acknowledging: {status}"));
    }
    Ok(page.deliveries.len())
}
