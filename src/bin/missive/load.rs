//! `missive load`: drives a relay over real sockets with many keep-alive connections and
//! reports deliveries per second and submit→202 latency (the 202 comes after the durable
//! commit) for 1 KiB envelopes: single-recipient and 50-recipient at full speed, then
//! single-recipient at half the full-speed rate, paced (latency measured from each request's
//! scheduled time, so queueing behind a slow request counts).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use indicatif::{ProgressBar, ProgressStyle};
use missive::envelope::{Envelope, MailboxId};
use missive::relay::{RelayConfig, RelayState, serve};
use rand::{Rng, RngExt};
use tokio::net::TcpStream;

/// What to run.
#[derive(Clone, Debug)]
pub(crate) struct Options {
    /// A relay's base URL; `None` starts one in this process on a temporary directory.
    pub(crate) relay: Option<String>,
    /// Concurrent keep-alive connections.
    pub(crate) connections: usize,
    /// Seconds per phase.
    pub(crate) seconds: u64,
    /// Envelope body size in bytes.
    pub(crate) size: usize,
    /// Only the paced single-recipient phase, at this many envelopes per second.
    pub(crate) rate: Option<f64>,
}

/// Distinct recipient mailboxes the load is spread over.
const MAILBOXES: usize = 20_000;
const EXPIRY: u64 = 4_000_000_000;

/// Runs the three phases and prints the figures.
pub(crate) fn run(options: &Options) -> Result<(), String> {
    let local = match &options.relay {
        Some(_) => None,
        None => Some(LocalRelay::start()?),
    };
    let addr = match (&options.relay, &local) {
        (Some(url), _) => resolve(url)?,
        (None, Some(l)) => l.addr,
        (None, None) => return Err("no relay".into()),
    };
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let pool: Arc<Vec<MailboxId>> = Arc::new(random_mailboxes(MAILBOXES));
    println!(
        "relay {addr}: {} connections, {} s per phase, {}-byte envelope bodies",
        options.connections, options.seconds, options.size
    );
    if let Some(rate) = options.rate {
        let paced = runtime.block_on(phase(addr, options, &pool, 1, Some(rate)))?;
        paced.print(&format!("1 recipient, paced at {rate:.0}/s"));
        return Ok(());
    }
    let single = runtime.block_on(phase(addr, options, &pool, 1, None))?;
    single.print("1 recipient, full speed");
    let multi = runtime.block_on(phase(addr, options, &pool, 50, None))?;
    multi.print("50 recipients, full speed");
    let half = single.envelopes_per_second() / 2.0;
    let paced = runtime.block_on(phase(addr, options, &pool, 1, Some(half)))?;
    paced.print(&format!("1 recipient, paced at {half:.0}/s"));
    drop(local);
    Ok(())
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

fn random_mailboxes(n: usize) -> Vec<MailboxId> {
    let mut rng = rand::rng();
    (0..n).map(|_| MailboxId(rng.random())).collect()
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
    fn start() -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!("missive-load-{}", std::process::id()));
        let config = RelayConfig {
            rate_per_second: u32::MAX,
            rate_burst: u32::MAX,
            ..RelayConfig::default()
        };
        let state = RelayState::open(&dir, config).map_err(|e| e.to_string())?;
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
        println!("started a relay on {addr}, data in {}", dir.display());
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
    }
}

/// The load of one phase: `connections` tasks, each on its own keep-alive connection.
async fn phase(
    addr: SocketAddr,
    options: &Options,
    pool: &Arc<Vec<MailboxId>>,
    recipients: usize,
    rate: Option<f64>,
) -> Result<Report, String> {
    let duration = Duration::from_secs(options.seconds);
    let done = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let per_connection = rate.map(|r| Duration::from_secs_f64(options.connections as f64 / r));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(options.connections);
    for _ in 0..options.connections {
        let sender = Sender {
            addr,
            pool: Arc::clone(pool),
            recipients,
            size: options.size,
            done: Arc::clone(&done),
            count: Arc::clone(&count),
        };
        tasks.push(tokio::spawn(sender.run(per_connection)));
    }
    progress(duration, recipients, &count).await;
    done.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed();
    let (mut latencies, mut refused) = (Vec::new(), 0);
    for task in tasks {
        let (l, r) = task.await.map_err(|e| e.to_string())??;
        latencies.extend(l);
        refused += r;
    }
    latencies.sort_unstable();
    Ok(Report {
        recipients,
        elapsed,
        latencies,
        refused,
    })
}

/// A progress bar over the phase, showing the current delivery rate.
async fn progress(duration: Duration, recipients: usize, count: &AtomicU64) {
    let bar = ProgressBar::new(duration.as_millis() as u64);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {elapsed}/{duration} {msg}") {
        bar.set_style(style);
    }
    let start = Instant::now();
    let mut last = (0u64, start);
    while start.elapsed() < duration {
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
    pool: Arc<Vec<MailboxId>>,
    recipients: usize,
    size: usize,
    done: Arc<AtomicBool>,
    count: Arc<AtomicU64>,
}

type Connection = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

impl Sender {
    /// Sends back to back, or every `interval` when paced; returns latencies and refusals.
    async fn run(self, interval: Option<Duration>) -> Result<(Vec<u32>, u64), String> {
        let mut connection = self.connect().await?;
        let mut latencies = Vec::new();
        let mut refused = 0;
        let mut next = Instant::now() + jitter(interval);
        while !self.done.load(Ordering::Relaxed) {
            let envelope = Bytes::from(self.envelope());
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
        let stream = TcpStream::connect(self.addr)
            .await
            .map_err(|e| e.to_string())?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let io = hyper_util::rt::TokioIo::new(stream);
        let (sender, connection) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(connection);
        Ok(sender)
    }

    /// A fresh envelope: random recipients from the pool, a body unique to it.
    fn envelope(&self) -> Vec<u8> {
        let mut rng = rand::rng();
        let mut to: Vec<MailboxId> = (0..self.recipients)
            .map(|_| self.pool[rng.random_range(0..self.pool.len())])
            .collect();
        to.sort_unstable();
        to.dedup();
        let mut body = vec![0u8; self.size];
        rng.fill_bytes(&mut body);
        Envelope::to_mailboxes(EXPIRY, &to, &body)
            .ok()
            .and_then(|e| e.into_iter().next())
            .map(|e| e.to_bytes())
            .unwrap_or_default()
    }

    /// One `POST /v1/envelopes`; whether it was accepted.
    async fn submit(&self, connection: &mut Connection, envelope: Bytes) -> Result<bool, String> {
        let request = hyper::Request::post("/v1/envelopes")
            .header(hyper::header::HOST, self.addr.to_string())
            .body(Full::new(envelope))
            .map_err(|e| e.to_string())?;
        connection.ready().await.map_err(|e| e.to_string())?;
        let response = connection
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        let accepted = response.status() == hyper::StatusCode::ACCEPTED;
        response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?;
        Ok(accepted)
    }
}

/// A random start within one interval, so paced connections do not fire in lockstep.
fn jitter(interval: Option<Duration>) -> Duration {
    interval.map_or(Duration::ZERO, |every| {
        every.mul_f64(rand::rng().random_range(0.0..1.0))
    })
}
