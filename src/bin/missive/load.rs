//! `missive load`: drives a relay over real sockets with many keep-alive connections and
//! reports deliveries per second and submit→202 latency (the 202 comes after the durable
//! commit) for 1 KiB envelopes: single-recipient and 50-recipient at full speed, then
//! single-recipient at half the full-speed rate, paced (latency measured from each request's
//! scheduled time, so queueing behind a slow request counts); last, how long a delivery takes
//! to reach an open socket (`push_load`).
//!
//! Every envelope carries a credential the relay checks: by default the recipients' contact
//! keys (registered first); `--credentials tokens` spends a fresh one-time token on every
//! envelope (issued first, on a local relay that is its own platform); `none` runs a local
//! relay with the checks off, the baseline the other two are measured against.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::Mutex;

use missive::access::{AccessKey, AccessUpdate, Credential, Submission};
use missive::envelope::{Envelope, MailboxId};
use missive::mailbox::MailboxKey;
use missive::platform::{AccountCertificate, Platform, Profile, month_of};
use missive::relay::{RelayConfig, RelayState, serve, system_clock};
use missive::relay_api::{TokenIssue, TokenIssued};
use missive::token::{MAX_BATCH, Token, TokenKind, request_tokens};

use crate::{backlog, push_load};
use rand::{Rng, RngExt};
use tokio::net::TcpStream;

/// What to run.
#[derive(Clone, Debug)]
pub(crate) struct Options {
    /// A relay's base URL; `None` starts one in this process on a temporary directory.
    pub(crate) relay: Option<String>,
    /// The local relay's PostgreSQL database, instead of SQLite in a temporary directory.
    pub(crate) store: Option<String>,
    /// Local relays started on that database; connections are spread over them.
    pub(crate) relays: usize,
    /// Concurrent keep-alive connections.
    pub(crate) connections: usize,
    /// Seconds per phase.
    pub(crate) seconds: u64,
    /// Envelope body size in bytes.
    pub(crate) size: usize,
    /// Only the paced single-recipient phase, at this many envelopes per second.
    pub(crate) rate: Option<f64>,
    /// What every envelope presents to the relay.
    pub(crate) credentials: Credentials,
    /// With token credentials, the share of envelopes that spend one (the rest present
    /// contact keys): traffic where invitations and InMail are a part, not the whole.
    pub(crate) token_share: f64,
    /// Deliveries left pending in mailboxes nobody reads before the phases start.
    pub(crate) pending: usize,
    /// Envelopes per second in the push phase (0: none).
    pub(crate) push_rate: f64,
    /// Distinct recipient mailboxes the load is spread over (each registers a contact key
    /// first): the fewer, the more often concurrent commits lock the same mailbox rows.
    pub(crate) mailboxes: usize,
}

/// What the load's envelopes present to the relay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Credentials {
    /// Nothing, to a local relay that checks nothing: the baseline.
    None,
    /// The recipients' contact keys (XORed for 50 recipients), registered beforehand.
    Keys,
    /// A fresh one-time token per envelope (sponsored tokens of an advertiser account).
    Tokens,
}

const EXPIRY: u64 = 4_000_000_000;
/// Tokens issued before each full-speed phase; a phase ends early if they run out.
const TOKENS_PER_PHASE: usize = 40_000;

/// A recipient mailbox and the contact key it registered.
type Recipient = (MailboxId, AccessKey);

/// Runs the three phases and prints the figures.
pub(crate) fn run(options: &Options) -> Result<(), String> {
    let platform = Platform::new(&mut rand::rng());
    if options.relays > 1 && options.store.is_none() {
        return Err("several relays share a database: give --store postgres://…".into());
    }
    let local = match &options.relay {
        Some(_) if options.credentials == Credentials::Tokens => {
            return Err("token load needs the local relay (it is its own platform)".into());
        }
        Some(_) => Vec::new(),
        None => (0..options.relays.max(1))
            .map(|_| LocalRelay::start(&platform, options.credentials, options.store.as_deref()))
            .collect::<Result<Vec<_>, _>>()?,
    };
    let addrs: Vec<SocketAddr> = match &options.relay {
        Some(url) => vec![resolve(url)?],
        None => local.iter().map(|l| l.addr).collect(),
    };
    // Registrations and tokens go through the first; the others follow the database.
    let addr = *addrs.first().ok_or("no relay")?;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    println!(
        "relay {addr}: {} connections, {} s per phase, {}-byte envelope bodies, credentials: {:?}{}",
        options.connections,
        options.seconds,
        options.size,
        options.credentials,
        match options.credentials {
            Credentials::Tokens => format!(" on {:.0}% of envelopes", options.token_share * 100.0),
            _ => String::new(),
        }
    );
    let (pool, owners) = runtime.block_on(recipients(addr, options))?;
    if addrs.len() > 1 {
        // The other relays take the registrations within their follow interval.
        std::thread::sleep(Duration::from_secs(1));
    }
    let (pool, owners) = (Arc::new(pool), Arc::new(owners));
    if options.pending > 0 {
        runtime.block_on(backlog::prefill(
            addr,
            options.pending,
            options.size,
            options.connections,
        ))?;
    }
    // After each phase the owners fetch and acknowledge what it delivered.
    let drain = || -> Result<(), String> {
        runtime
            .block_on(backlog::drain(addr, &owners, options.connections))?
            .print();
        Ok(())
    };
    let advertiser = Advertiser::new(&platform)?;
    let tokens = |n| -> Result<Arc<Mutex<Vec<Token>>>, String> {
        let issued = match options.credentials {
            Credentials::Tokens => runtime.block_on(advertiser.tokens(addr, n))?,
            _ => Vec::new(),
        };
        Ok(Arc::new(Mutex::new(issued)))
    };
    if let Some(rate) = options.rate {
        let budget = tokens((rate * options.seconds as f64) as usize + 1)?;
        let paced = runtime.block_on(phase(&addrs, options, &pool, &budget, 1, Some(rate)))?;
        paced.print(&format!("1 recipient, paced at {rate:.0}/s"));
        return drain();
    }
    let single = runtime.block_on(phase(
        &addrs,
        options,
        &pool,
        &tokens(TOKENS_PER_PHASE)?,
        1,
        None,
    ))?;
    single.print("1 recipient, full speed");
    drain()?;
    let multi = runtime.block_on(phase(
        &addrs,
        options,
        &pool,
        &tokens(TOKENS_PER_PHASE)?,
        50,
        None,
    ))?;
    multi.print("50 recipients, full speed");
    drain()?;
    let half = single.envelopes_per_second() / 2.0;
    let budget = tokens((half * options.seconds as f64) as usize + 1)?;
    let paced = runtime.block_on(phase(&addrs, options, &pool, &budget, 1, Some(half)))?;
    paced.print(&format!("1 recipient, paced at {half:.0}/s"));
    drain()?;
    if options.push_rate > 0.0 {
        let keyed = needs_keys(options);
        if keyed || options.credentials == Credentials::None {
            let receivers: Vec<push_load::Receiver> = owners
                .iter()
                .zip(pool.iter())
                .map(|(key, (_, contact))| push_load::Receiver {
                    key: key.clone(),
                    contact: keyed.then(|| contact.clone()),
                })
                .collect();
            runtime.block_on(push_load::run(
                &addrs,
                &receivers,
                options.seconds,
                options.push_rate,
                options.size,
            ))?;
        }
    }
    drop(local);
    Ok(())
}

/// Whether the recipients register contact keys (some envelopes present them).
fn needs_keys(options: &Options) -> bool {
    match options.credentials {
        Credentials::Keys => true,
        Credentials::Tokens => options.token_share < 1.0,
        Credentials::None => false,
    }
}

/// The recipient mailboxes, each with a contact key registered at the relay (for the keys
/// load; the others skip the registration), and their owners' keys.
async fn recipients(
    addr: SocketAddr,
    options: &Options,
) -> Result<(Vec<Recipient>, Vec<MailboxKey>), String> {
    let mut rng = rand::rng();
    let keys: Vec<(MailboxKey, AccessKey)> = (0..options.mailboxes.max(50))
        .map(|_| {
            (
                MailboxKey::generate(&mut rng),
                AccessKey::generate(&mut rng),
            )
        })
        .collect();
    if needs_keys(options) {
        let keys = Arc::new(
            keys.iter()
                .map(|(m, k)| (m.to_seed(), k.clone()))
                .collect::<Vec<_>>(),
        );
        let lanes = options.connections.clamp(1, 32);
        let mut tasks = Vec::new();
        for lane in 0..lanes {
            let keys = Arc::clone(&keys);
            tasks.push(tokio::spawn(async move {
                let mut connection = connect(addr).await?;
                for (seed, contact) in keys.iter().skip(lane).step_by(lanes) {
                    let mailbox = MailboxKey::from_seed(seed);
                    let body = AccessUpdate {
                        contact: Some(contact.clone()),
                        ..AccessUpdate::default()
                    }
                    .to_bytes();
                    let path = "/v1/mailbox/access";
                    let proof = mailbox.prove(&mut rand::rng(), "PUT", path, &body, system_clock());
                    let auth = format!("Missive {}", hex::encode(proof.to_bytes()));
                    let (status, _) =
                        request(&mut connection, addr, "PUT", path, Some(auth), body).await?;
                    if status != hyper::StatusCode::NO_CONTENT {
                        return Err(format!("registering a contact key: {status}"));
                    }
                }
                Ok::<(), String>(())
            }));
        }
        for task in tasks {
            task.await.map_err(|e| e.to_string())??;
        }
        println!(
            "{} recipient mailboxes registered their contact keys",
            keys.len()
        );
    }
    let owners = keys.iter().map(|(m, _)| m.clone()).collect();
    Ok((
        keys.into_iter().map(|(m, k)| (*m.id(), k)).collect(),
        owners,
    ))
}

/// A registered advertiser whose sponsored tokens pay for the token load.
struct Advertiser {
    mailbox: MailboxKey,
    account: AccountCertificate,
}

impl Advertiser {
    fn new(platform: &Platform) -> Result<Self, String> {
        let mut platform_view = Platform::from_seed(&platform.to_seed());
        let mailbox = MailboxKey::generate(&mut rand::rng());
        platform_view.register(*mailbox.id(), Profile::FREE);
        let account = platform_view
            .certify_account(mailbox.id(), true, system_clock() + 86_400)
            .map_err(|e| e.to_string())?;
        Ok(Self { mailbox, account })
    }

    /// `n` sponsored tokens, issued in full batches.
    async fn tokens(&self, addr: SocketAddr, n: usize) -> Result<Vec<Token>, String> {
        let started = Instant::now();
        let mut connection = connect(addr).await?;
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let count = (n - out.len()).min(MAX_BATCH);
            let period = month_of(system_clock());
            let (pending, blinded) =
                request_tokens(&mut rand::rng(), TokenKind::Sponsored, period, count)
                    .map_err(|e| e.to_string())?;
            let body = TokenIssue {
                account: self.account.clone(),
                request: blinded,
                purchase: None,
            }
            .to_bytes();
            let path = "/v1/tokens";
            let proof = self
                .mailbox
                .prove(&mut rand::rng(), "POST", path, &body, system_clock());
            let auth = format!("Missive {}", hex::encode(proof.to_bytes()));
            let (status, bytes) =
                request(&mut connection, addr, "POST", path, Some(auth), body).await?;
            if status != hyper::StatusCode::OK {
                return Err(format!("token issuance: {status}"));
            }
            let issued = TokenIssued::from_bytes(&bytes).map_err(|e| e.to_string())?;
            out.extend(
                pending
                    .finish(&issued.response, &issued.key)
                    .map_err(|e| e.to_string())?,
            );
        }
        println!(
            "{n} tokens issued in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        Ok(out)
    }
}

fn resolve(url: &str) -> Result<SocketAddr, String> {
    let host = url
        .strip_prefix("http://")
        .ok_or("the load generator speaks plain http:// only")?
        .trim_end_matches('/');
    std::net::ToSocketAddrs::to_socket_addrs(host)
        .map_err(|e| format!("{host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host}: no address"))
}

/// A relay in this process on a temporary directory, with rate limits out of the way (all
/// the load comes from one address). Removed when dropped.
struct LocalRelay {
    addr: SocketAddr,
    dir: std::path::PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LocalRelay {
    fn start(
        platform: &Platform,
        credentials: Credentials,
        store: Option<&str>,
    ) -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!("missive-load-{}", std::process::id()));
        let config = RelayConfig {
            rate_per_second: u32::MAX,
            rate_burst: u32::MAX,
            source_rate_per_second: u32::MAX,
            source_burst: u32::MAX,
            platform: Some(platform.public_key()),
            check_access: credentials != Credentials::None,
            ..RelayConfig::default()
        };
        let state = match store {
            Some(url) => RelayState::open_postgres(url, config),
            None => RelayState::open(&dir, config),
        }
        .map_err(|e| e.to_string())?;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Runtime::new() else {
                return;
            };
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                let shutdown = async {
                    let _ = stopped.await;
                };
                let _ = serve(listener, state, shutdown).await;
            });
        });
        let data = store.map_or_else(|| dir.display().to_string(), |_| "PostgreSQL".into());
        println!("started a relay on {addr}, data in {data}");
        Ok(Self {
            addr,
            dir,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for LocalRelay {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What one phase measured.
struct Report {
    recipients: usize,
    elapsed: Duration,
    /// Submit→202 latencies in microseconds, sorted.
    latencies: Vec<u32>,
    refused: u64,
    /// Each relay's share, when there are several.
    relays: Vec<Report>,
}

impl Report {
    fn envelopes_per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> f64 {
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies
            .get(i)
            .map_or(0.0, |us| f64::from(*us) / 1000.0)
    }

    fn print(&self, what: &str) {
        let envelopes = self.envelopes_per_second();
        println!(
            "{what}: {envelopes:.0} envelopes/s = {:.0} deliveries/s; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {} accepted, {} refused",
            envelopes * self.recipients as f64,
            self.percentile(0.50),
            self.percentile(0.99),
            self.percentile(1.0),
            self.latencies.len(),
            self.refused,
        );
        for (i, relay) in self.relays.iter().enumerate() {
            relay.print(&format!("  relay {}", i + 1));
        }
    }
}

/// The load of one phase: `connections` tasks, each on its own keep-alive connection.
async fn phase(
    addrs: &[SocketAddr],
    options: &Options,
    pool: &Arc<Vec<Recipient>>,
    tokens: &Arc<Mutex<Vec<Token>>>,
    recipients: usize,
    rate: Option<f64>,
) -> Result<Report, String> {
    let duration = Duration::from_secs(options.seconds);
    let done = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let per_connection = rate.map(|r| Duration::from_secs_f64(options.connections as f64 / r));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(options.connections);
    for i in 0..options.connections {
        let sender = Sender {
            addr: addrs[i % addrs.len()],
            pool: Arc::clone(pool),
            tokens: Arc::clone(tokens),
            credentials: options.credentials,
            token_share: options.token_share,
            recipients,
            size: options.size,
            done: Arc::clone(&done),
            count: Arc::clone(&count),
        };
        tasks.push(tokio::spawn(sender.run(per_connection)));
    }
    progress(duration, recipients, &count, &done).await;
    done.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed();
    let mut relays: Vec<Report> = addrs
        .iter()
        .map(|_| Report {
            recipients,
            elapsed,
            latencies: Vec::new(),
            refused: 0,
            relays: Vec::new(),
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        let (l, r) = task.await.map_err(|e| e.to_string())??;
        let relay = &mut relays[i % addrs.len()];
        relay.latencies.extend(l);
        relay.refused += r;
    }
    let mut latencies: Vec<u32> = relays.iter().flat_map(|r| r.latencies.clone()).collect();
    latencies.sort_unstable();
    relays.iter_mut().for_each(|r| r.latencies.sort_unstable());
    Ok(Report {
        recipients,
        elapsed,
        latencies,
        refused: relays.iter().map(|r| r.refused).sum(),
        relays: if addrs.len() > 1 { relays } else { Vec::new() },
    })
}

/// A progress bar over the phase, showing the current delivery rate.
async fn progress(duration: Duration, recipients: usize, count: &AtomicU64, done: &AtomicBool) {
    let bar = ProgressBar::new(duration.as_millis() as u64);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {elapsed}/{duration} {msg}") {
        bar.set_style(style);
    }
    let start = Instant::now();
    let mut last = (0u64, start);
    // A sender that ran out of tokens ends the phase early.
    while start.elapsed() < duration && !done.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = (count.load(Ordering::Relaxed), Instant::now());
        let rate = (now.0 - last.0) as f64 / now.1.duration_since(last.1).as_secs_f64();
        bar.set_message(format!("{:.0} deliveries/s", rate * recipients as f64));
        bar.set_position(start.elapsed().as_millis() as u64);
        last = now;
    }
    bar.finish_and_clear();
}

/// One connection's worth of load.
struct Sender {
    addr: SocketAddr,
    pool: Arc<Vec<Recipient>>,
    tokens: Arc<Mutex<Vec<Token>>>,
    credentials: Credentials,
    token_share: f64,
    recipients: usize,
    size: usize,
    done: Arc<AtomicBool>,
    count: Arc<AtomicU64>,
}

pub(crate) type Connection = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

impl Sender {
    /// Sends back to back, or every `interval` when paced; returns latencies and refusals.
    async fn run(self, interval: Option<Duration>) -> Result<(Vec<u32>, u64), String> {
        let mut connection = self.connect().await?;
        let mut latencies = Vec::new();
        let mut refused = 0;
        let mut next = Instant::now() + jitter(interval);
        while !self.done.load(Ordering::Relaxed) {
            let Some(submission) = self.submission() else {
                self.done.store(true, Ordering::Relaxed);
                break;
            };
            let envelope = Bytes::from(submission);
            let scheduled = match interval {
                Some(every) => {
                    tokio::time::sleep_until(next.into()).await;
                    let at = next;
                    next += every;
                    at
                }
                None => Instant::now(),
            };
            if self.submit(&mut connection, envelope).await? {
                latencies.push(u32::try_from(scheduled.elapsed().as_micros()).unwrap_or(u32::MAX));
                self.count.fetch_add(1, Ordering::Relaxed);
            } else {
                refused += 1;
            }
        }
        Ok((latencies, refused))
    }

    async fn connect(&self) -> Result<Connection, String> {
        connect(self.addr).await
    }

    /// A fresh submission: random recipients from the pool, a body unique to it, and its
    /// credential; `None` when the tokens have run out.
    fn submission(&self) -> Option<Vec<u8>> {
        let mut rng = rand::rng();
        let mut to: Vec<&Recipient> = (0..self.recipients)
            .map(|_| &self.pool[rng.random_range(0..self.pool.len())])
            .collect();
        to.sort_unstable_by_key(|r| r.0);
        to.dedup_by_key(|r| r.0);
        let mailboxes: Vec<MailboxId> = to.iter().map(|r| r.0).collect();
        let mut body = vec![0u8; self.size];
        rng.fill_bytes(&mut body);
        let envelope = Envelope::to_mailboxes(EXPIRY, &mailboxes, &body)
            .ok()
            .and_then(|e| e.into_iter().next())
            .map(|e| e.to_bytes())
            .unwrap_or_default();
        let keys = || Credential::Contacts(AccessKey::combine(to.iter().map(|r| &r.1)));
        let credential = match self.credentials {
            Credentials::None => Credential::Open,
            Credentials::Keys => keys(),
            Credentials::Tokens if rng.random::<f64>() >= self.token_share => keys(),
            Credentials::Tokens => {
                let token = self
                    .tokens
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .pop()?;
                Credential::Token(token)
            }
        };
        Some(
            Submission {
                credential,
                envelope,
            }
            .to_bytes(),
        )
    }

    /// One `POST /v1/envelopes`; whether it was accepted.
    async fn submit(&self, connection: &mut Connection, envelope: Bytes) -> Result<bool, String> {
        let (status, _) = request(
            connection,
            self.addr,
            "POST",
            "/v1/envelopes",
            None,
            envelope.to_vec(),
        )
        .await?;
        Ok(status == hyper::StatusCode::ACCEPTED)
    }
}

pub(crate) async fn connect(addr: SocketAddr) -> Result<Connection, String> {
    handshake(TcpStream::connect(addr).await.map_err(|e| e.to_string())?).await
}

/// A keep-alive HTTP/1 connection over `stream`.
pub(crate) async fn handshake(stream: TcpStream) -> Result<Connection, String> {
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let io = hyper_util::rt::TokioIo::new(stream);
    let (sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    Ok(sender)
}

/// Submits `submission` on `connection`; an answer other than `202` is an error naming `what`.
pub(crate) async fn submit_accepted(
    connection: &mut Connection,
    addr: SocketAddr,
    submission: Vec<u8>,
    what: &str,
) -> Result<(), String> {
    let (status, reason) =
        request(connection, addr, "POST", "/v1/envelopes", None, submission).await?;
    if status == hyper::StatusCode::ACCEPTED {
        Ok(())
    } else {
        Err(format!(
            "{what}: {status} {}",
            String::from_utf8_lossy(&reason)
        ))
    }
}

/// One request on a keep-alive connection: the status and the body.
pub(crate) async fn request(
    connection: &mut Connection,
    addr: SocketAddr,
    method: &str,
    path: &str,
    auth: Option<String>,
    body: Vec<u8>,
) -> Result<(hyper::StatusCode, Bytes), String> {
    let mut builder = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, addr.to_string());
    if let Some(auth) = auth {
        builder = builder.header(hyper::header::AUTHORIZATION, auth);
    }
    let request = builder
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    connection.ready().await.map_err(|e| e.to_string())?;
    let response = connection
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, body))
}

/// A random start within one interval, so paced connections do not fire in lockstep.
fn jitter(interval: Option<Duration>) -> Duration {
    interval.map_or(Duration::ZERO, |every| {
        every.mul_f64(rand::rng().random_range(0.0..1.0))
    })
}
