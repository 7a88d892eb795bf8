//! `missive slow-readers`: what WebSocket clients that never read cost a relay. Starts a relay
//! in its own process, gives many mailboxes large backlogs, then holds open as many sockets on
//! them as the relay allows each mailbox, never reading and reconnecting whenever the relay
//! has had time to drop them, while another client, from another address, fetches its own
//! mailbox. Reports the relay process's resident memory and the other client's fetch latency,
//! before and during, and checks afterwards that every delivery is still stored.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

use missive::access::{AccessKey, AccessUpdate, Credential, Submission};
use missive::envelope::{Envelope, MailboxId};
use missive::mailbox::MailboxKey;
use missive::relay::system_clock;
use missive::relay_api::DeliveryPage;
use rand::Rng;

use crate::load::{Connection, handshake, request, submit_accepted};

/// What to run.
#[derive(Clone, Debug)]
pub(crate) struct Options {
    /// Sockets held open (eight per mailbox, the relay's default cap).
    pub(crate) sockets: usize,
    /// Deliveries waiting in each slow mailbox.
    pub(crate) backlog: usize,
    /// Bytes of each waiting envelope.
    pub(crate) size: usize,
    /// Seconds the sockets are held.
    pub(crate) seconds: u64,
}

const PER_MAILBOX: usize = 8;
const EXPIRY: u64 = 4_000_000_000;
/// Where the measured client comes from. The sockets come from [`attacker`] addresses, one per
/// mailbox: an attacker with many addresses, so per-source limits do not hide the memory cost.
const BYSTANDER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
/// A socket is reopened after this long: past the relay's 10 s write timeout, so the relay
/// has dropped it and the attacker keeps the count up.
const HOLD: Duration = Duration::from_secs(12);
/// Fetches per second by the bystander.
const FETCHES_PER_SECOND: u64 = 20;

pub(crate) fn run(options: &Options) -> Result<(), String> {
    let relay = ChildRelay::start()?;
    let addr = relay.addr;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let mailboxes = options.sockets.div_ceil(PER_MAILBOX).max(1);
    println!(
        "relay {addr} (pid {}): {mailboxes} mailboxes with {} deliveries of {} bytes each, {} sockets that never read",
        relay.pid(),
        options.backlog,
        options.size,
        options.sockets
    );
    let slow: Vec<Recipient> = (0..mailboxes).map(|_| Recipient::new()).collect();
    let bystander = Recipient::new();
    runtime.block_on(async {
        let mut all: Vec<&Recipient> = slow.iter().collect();
        all.push(&bystander);
        register(addr, &all).await?;
        let started = Instant::now();
        fill(addr, &slow, options.backlog, options.size).await?;
        fill(addr, std::slice::from_ref(&bystander), 10, 1024).await?;
        println!(
            "stored {} MB in {:.1} s; relay resident {} MB",
            mailboxes * options.backlog * options.size / 1_000_000,
            started.elapsed().as_secs_f64(),
            relay.resident_kb() / 1024
        );
        let quiet = fetches(addr, &bystander, Duration::from_secs(5)).await?;
        quiet.print("bystander fetch, no slow sockets", relay.resident_kb());
        let slow = Arc::new(slow);
        let done = Arc::new(AtomicBool::new(false));
        let counts = Arc::new(Counts::default());
        let mut holders = Vec::new();
        for i in 0..options.sockets {
            let (slow, done, counts) = (Arc::clone(&slow), Arc::clone(&done), Arc::clone(&counts));
            holders.push(tokio::spawn(async move {
                let key = &slow[i / PER_MAILBOX].key;
                hold(addr, key, attacker(i / PER_MAILBOX), &done, &counts).await;
            }));
        }
        let peak = Arc::new(AtomicU64::new(0));
        let sampler = {
            let (peak, done, pid) = (Arc::clone(&peak), Arc::clone(&done), relay.pid());
            tokio::spawn(async move {
                while !done.load(Ordering::Relaxed) {
                    peak.fetch_max(resident_kb(pid), Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        };
        // Let the sockets open and the relay fill its queues before measuring.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let attacked = fetches(addr, &bystander, Duration::from_secs(options.seconds)).await?;
        done.store(true, Ordering::Relaxed);
        let _ = sampler.await;
        for holder in holders {
            let _ = holder.await;
        }
        attacked.print(
            "bystander fetch, slow sockets held",
            peak.load(Ordering::Relaxed),
        );
        println!(
            "slow sockets: {} opened ({} held at once at most), {} failed",
            counts.opened.load(Ordering::Relaxed),
            counts.most_held.load(Ordering::Relaxed),
            counts.failed.load(Ordering::Relaxed)
        );
        let refused = counts
            .refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for (why, n) in &refused {
            println!("  {n} refused: {why}");
        }
        let mut stored = 0;
        for r in slow.iter() {
            stored += count(addr, r).await?;
        }
        let expected = slow.len() * options.backlog;
        println!("afterwards: {stored} of {expected} slow deliveries still stored");
        if stored == expected {
            Ok(())
        } else {
            Err(format!("{} deliveries lost", expected - stored))
        }
    })
}

/// A mailbox and the contact key it registered.
struct Recipient {
    key: MailboxKey,
    contact: AccessKey,
}

impl Recipient {
    fn new() -> Self {
        let mut rng = rand::rng();
        Self {
            key: MailboxKey::generate(&mut rng),
            contact: AccessKey::generate(&mut rng),
        }
    }

    fn id(&self) -> MailboxId {
        *self.key.id()
    }
}

#[derive(Default)]
struct Counts {
    opened: AtomicU64,
    failed: AtomicU64,
    /// Sockets open now, and the most open at once.
    held: AtomicU64,
    most_held: AtomicU64,
    /// Refusals by the relay's answer ("label: reason").
    refused: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
}

/// The relay under test, in its own process so its memory is its own.
struct ChildRelay {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl ChildRelay {
    fn start() -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!("missive-slow-{}", std::process::id()));
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        // Anonymous submissions are limited per address; the backlog is filled from one
        // address, so that limit is raised. Everything the slow sockets meet is the default.
        let mut child = Command::new(exe)
            .args(["relay", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&dir)
            .args(["--rate-per-second", "100000", "--rate-burst", "100000"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut line)
                .map_err(|e| e.to_string())?;
        }
        let addr = line
            .trim()
            .strip_prefix("relay listening on http://")
            .and_then(|a| a.parse().ok());
        let Some(addr) = addr else {
            let _ = child.kill();
            return Err(format!("the relay did not start: {line:?}"));
        };
        Ok(Self { child, addr, dir })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn resident_kb(&self) -> u64 {
        resident_kb(self.pid())
    }
}

impl Drop for ChildRelay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The process's resident set in KiB (0 where /proc has no answer).
fn resident_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

async fn connect_from(addr: SocketAddr, from: IpAddr) -> Result<tokio::net::TcpStream, String> {
    let socket = TcpSocket::new_v4().map_err(|e| e.to_string())?;
    socket
        .bind(SocketAddr::new(from, 0))
        .map_err(|e| e.to_string())?;
    socket.connect(addr).await.map_err(|e| e.to_string())
}

async fn http_from(addr: SocketAddr, from: IpAddr) -> Result<Connection, String> {
    handshake(connect_from(addr, from).await?).await
}

fn auth(key: &MailboxKey, method: &str, path: &str, body: &[u8]) -> String {
    let proof = key.prove(&mut rand::rng(), method, path, body, system_clock());
    format!("Missive {}", hex::encode(proof.to_bytes()))
}

async fn register(addr: SocketAddr, all: &[&Recipient]) -> Result<(), String> {
    let mut connection = http_from(addr, BYSTANDER).await?;
    for r in all {
        let body = AccessUpdate {
            contact: Some(r.contact.clone()),
            ..AccessUpdate::default()
        }
        .to_bytes();
        let path = "/v1/mailbox/access";
        let proof = auth(&r.key, "PUT", path, &body);
        let (status, _) = request(&mut connection, addr, "PUT", path, Some(proof), body).await?;
        if status != hyper::StatusCode::NO_CONTENT {
            return Err(format!("registering a contact key: {status}"));
        }
    }
    Ok(())
}

/// `backlog` deliveries of `size` bytes to each mailbox, over a few connections.
async fn fill(
    addr: SocketAddr,
    mailboxes: &[Recipient],
    backlog: usize,
    size: usize,
) -> Result<(), String> {
    let lanes = 4;
    let jobs: Arc<Vec<(MailboxId, AccessKey)>> = Arc::new(
        mailboxes
            .iter()
            .flat_map(|r| std::iter::repeat_n((r.id(), r.contact.clone()), backlog))
            .collect(),
    );
    let mut tasks = Vec::new();
    for lane in 0..lanes {
        let jobs = Arc::clone(&jobs);
        tasks.push(tokio::spawn(async move {
            let mut connection = http_from(addr, BYSTANDER).await?;
            for (mailbox, contact) in jobs.iter().skip(lane).step_by(lanes) {
                let mut body = vec![0u8; size];
                rand::rng().fill_bytes(&mut body);
                let envelope = Envelope::to_mailboxes(EXPIRY, &[*mailbox], &body)
                    .map_err(|e| e.to_string())?
                    .remove(0)
                    .to_bytes();
                let submission = Submission {
                    credential: Credential::Contacts(contact.clone()),
                    envelope,
                }
                .to_bytes();
                submit_accepted(&mut connection, addr, submission, "submitting").await?;
            }
            Ok::<(), String>(())
        }));
    }
    for task in tasks {
        task.await.map_err(|e| e.to_string())??;
    }
    Ok(())
}

/// The attacker's address for its `mailbox`th mailbox (all of 127.0.0.0/8 is loopback).
fn attacker(mailbox: usize) -> IpAddr {
    let [_, _, b, c] = (mailbox as u32 + 256).to_be_bytes();
    IpAddr::V4(Ipv4Addr::new(127, 1, b, c))
}

/// Opens a WebSocket on `key`'s mailbox and never reads it; reopens it after [`HOLD`], until
/// `done`.
async fn hold(
    addr: SocketAddr,
    key: &MailboxKey,
    from: IpAddr,
    done: &AtomicBool,
    counts: &Counts,
) {
    while !done.load(Ordering::Relaxed) {
        let until = Instant::now() + HOLD;
        let opened = tokio::time::timeout(Duration::from_secs(5), open_idle(addr, key, from)).await;
        match opened.unwrap_or_else(|_| Err("no answer in 5 s".into())) {
            Ok(Ok(socket)) => {
                counts.opened.fetch_add(1, Ordering::Relaxed);
                let now = counts.held.fetch_add(1, Ordering::Relaxed) + 1;
                counts.most_held.fetch_max(now, Ordering::Relaxed);
                while Instant::now() < until && !done.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                drop(socket);
                counts.held.fetch_sub(1, Ordering::Relaxed);
            }
            Ok(Err(why)) => {
                {
                    let mut refused = counts.refused.lock().unwrap_or_else(|p| p.into_inner());
                    *refused.entry(why).or_default() += 1;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(_) => {
                counts.failed.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// A WebSocket upgrade on a socket with a small receive buffer; reads the response head and
/// nothing more. `Ok(Err(answer))` when the relay refused it.
async fn open_idle(
    addr: SocketAddr,
    key: &MailboxKey,
    from: IpAddr,
) -> Result<Result<tokio::net::TcpStream, String>, String> {
    let socket = TcpSocket::new_v4().map_err(|e| e.to_string())?;
    socket
        .set_recv_buffer_size(4096)
        .map_err(|e| e.to_string())?;
    socket
        .bind(SocketAddr::new(from, 0))
        .map_err(|e| e.to_string())?;
    let mut stream = socket.connect(addr).await.map_err(|e| e.to_string())?;
    let path = "/v1/mailbox/ws";
    let head = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Authorization: {}\r\n\r\n",
        auth(key, "GET", path, b"")
    );
    stream
        .write_all(head.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    while !response.ends_with(b"\r\n\r\n") {
        if response.len() > 4096 {
            return Err("response head too long".into());
        }
        response.push(stream.read_u8().await.map_err(|e| e.to_string())?);
    }
    if response.starts_with(b"HTTP/1.1 101") {
        return Ok(Ok(stream));
    }
    let head = String::from_utf8_lossy(&response).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0)
        .min(1024);
    let mut body = vec![0u8; length];
    stream
        .read_exact(&mut body)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Err(String::from_utf8_lossy(&body).into_owned()))
}

/// The bystander's fetch latencies in microseconds, sorted, with the failures.
struct Fetches {
    latencies: Vec<u64>,
    failed: u64,
}

impl Fetches {
    fn percentile(&self, p: f64) -> f64 {
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies.get(i).map_or(0.0, |us| *us as f64 / 1000.0)
    }

    fn print(&self, what: &str, resident_kb: u64) {
        println!(
            "{what}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms over {} fetches ({} failed); relay resident {} MB{}",
            self.percentile(0.5),
            self.percentile(0.99),
            self.percentile(1.0),
            self.latencies.len(),
            self.failed,
            resident_kb / 1024,
            if what.contains("held") {
                " at most"
            } else {
                ""
            }
        );
    }
}

/// Fetches the bystander's mailbox [`FETCHES_PER_SECOND`] times a second for `duration`.
async fn fetches(
    addr: SocketAddr,
    bystander: &Recipient,
    duration: Duration,
) -> Result<Fetches, String> {
    let mut connection = http_from(addr, BYSTANDER).await?;
    let every = Duration::from_micros(1_000_000 / FETCHES_PER_SECOND);
    let end = Instant::now() + duration;
    let mut next = Instant::now();
    let mut result = Fetches {
        latencies: Vec::new(),
        failed: 0,
    };
    while next < end {
        tokio::time::sleep_until(next.into()).await;
        let scheduled = next;
        next += every;
        let path = "/v1/mailbox";
        let proof = auth(&bystander.key, "GET", path, b"");
        let answer = request(&mut connection, addr, "GET", path, Some(proof), Vec::new());
        let answer = tokio::time::timeout(Duration::from_secs(30), answer)
            .await
            .unwrap_or_else(|_| Err("no answer in 30 s".into()));
        match answer {
            Ok((status, page)) if status == hyper::StatusCode::OK => {
                let found = DeliveryPage::from_bytes(&page).map_or(0, |p| p.deliveries.len());
                if found == 10 {
                    result
                        .latencies
                        .push(scheduled.elapsed().as_micros() as u64);
                } else {
                    result.failed += 1;
                }
            }
            Ok(_) => result.failed += 1,
            Err(_) => {
                result.failed += 1;
                connection = http_from(addr, BYSTANDER).await?;
            }
        }
    }
    result.latencies.sort_unstable();
    Ok(result)
}

/// How many deliveries `r`'s mailbox holds, fetched page by page.
async fn count(addr: SocketAddr, r: &Recipient) -> Result<usize, String> {
    let mut connection = http_from(addr, BYSTANDER).await?;
    let (mut after, mut total) = (0, 0);
    loop {
        let path = format!("/v1/mailbox?after={after}");
        let proof = auth(&r.key, "GET", &path, b"");
        let (status, page) =
            request(&mut connection, addr, "GET", &path, Some(proof), Vec::new()).await?;
        if status != hyper::StatusCode::OK {
            return Err(format!("fetching: {status}"));
        }
        let page = DeliveryPage::from_bytes(&page).map_err(|e| e.to_string())?;
        let Some(last) = page.deliveries.last() else {
            return Ok(total);
        };
        after = last.seq;
        total += page.deliveries.len();
    }
}
