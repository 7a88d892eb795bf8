//! Everything a running relay shares between requests.

use std::path::Path;
use std::sync::Arc;

use zeroize::Zeroize;

use super::access::AccessBook;
use super::config::RelayConfig;
use super::hub::{Hub, HubLimits};
use super::metrics::Metrics;
use super::ratelimit::RateLimiter;
use super::replay::ReplayGuard;
use super::store::sqlite::SqliteStore;
use super::store::{AccessCursor, RelayStore, StoreError};
use super::writer::Writer;
use crate::token::Issuer;

/// The relay's clock: Unix seconds. Injected so tests can move time.
pub type Clock = fn() -> u64;

/// The system clock.
pub fn system_clock() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Shared relay state; cheap to clone.
#[derive(Clone)]
pub struct RelayState {
    pub(crate) store: Arc<dyn RelayStore>,
    pub(crate) writer: Writer,
    pub(crate) hub: Arc<Hub>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) limiter: Arc<RateLimiter>,
    /// Failed proofs by network address, apart from `limiter` so a peer's anonymous sends do
    /// not lock out its mailboxes, nor the reverse.
    pub(crate) failures: Arc<RateLimiter>,
    /// Authenticated requests by network source, whatever mailboxes sign them.
    pub(crate) sources: Arc<RateLimiter>,
    /// Proof nonces seen, in memory.
    pub(crate) replay: Arc<ReplayGuard>,
    pub(crate) config: RelayConfig,
    pub(crate) clock: Clock,
    pub(crate) access: Arc<AccessBook>,
    /// Where the access book stands against a shared store (see `serve::follow_access`).
    pub(crate) access_cursor: AccessCursor,
    pub(crate) issuer: Arc<Issuer>,
    /// Credential-less deliveries by Open Profile mailbox.
    pub(crate) open: Arc<RateLimiter>,
    /// Directory lookups by requesting mailbox, by requester and name, and one-time prekeys
    /// handed out by name.
    pub(crate) lookups: Arc<Lookups>,
    /// WebSocket backlog pages being read at once: a crowd of sockets opening together waits
    /// here, not in the blocking pool in front of everyone's fetches.
    pub(crate) backlog_reads: Arc<tokio::sync::Semaphore>,
}

/// Backlog pages read at once: half the read connections, so fetches always find one.
const BACKLOG_READS: usize = 2;

/// The directory's limits (PROTOCOL.md §8.3).
#[derive(Debug)]
pub(crate) struct Lookups {
    pub(crate) by_requester: RateLimiter,
    pub(crate) by_pair: RateLimiter,
    pub(crate) one_time: RateLimiter,
}

fn per_hour(n: u32) -> RateLimiter {
    RateLimiter::with_rate(f64::from(n) / 3600.0, n)
}

impl RelayState {
    /// A relay over `store`: loads its token secret (creating the secret
    /// the first time), and starts the writer thread.
    pub fn new(
        store: Arc<dyn RelayStore>,
        config: RelayConfig,
        clock: Clock,
    ) -> Result<Self, StoreError> {
        // Records are read when first needed; changes other relays write after this cursor
        // are followed.
        let access_cursor = store.access_cursor()?;
        let access = AccessBook::new(config.access_cache);
        let mut fresh = [0u8; 32];
        rand::Rng::fill_bytes(&mut rand::rng(), &mut fresh);
        let issuer = Issuer::new(store.secret("token-issuer", fresh)?);
        fresh.zeroize();
        Ok(Self {
            writer: Writer::spawn(Arc::clone(&store), clock, config.writer_queue),
            store,
            access: Arc::new(access),
            access_cursor,
            issuer: Arc::new(issuer),
            open: Arc::new(RateLimiter::with_rate(
                f64::from(config.open_per_hour) / 3600.0,
                config.open_burst,
            )),
            lookups: Arc::new(Lookups {
                by_requester: per_hour(config.lookups_per_hour),
                by_pair: per_hour(config.lookups_per_pair_per_hour),
                one_time: per_hour(config.one_time_per_hour),
            }),
            hub: Arc::new(Hub::new(HubLimits {
                queued_bytes: config.socket_queue_bytes,
                per_mailbox: config.max_sockets_per_mailbox,
                total: config.max_sockets,
            })),
            metrics: Arc::default(),
            limiter: Arc::new(RateLimiter::new(config.rate_per_second, config.rate_burst)),
            failures: Arc::new(RateLimiter::new(config.rate_per_second, config.rate_burst)),
            sources: Arc::new(RateLimiter::new(
                config.source_rate_per_second,
                config.source_burst,
            )),
            replay: Arc::new(ReplayGuard::new(clock())),
            backlog_reads: Arc::new(tokio::sync::Semaphore::new(BACKLOG_READS)),
            config,
            clock,
        })
    }

    /// A relay storing into `data_dir/relay.db` (created if missing), on the system clock.
    pub fn open(data_dir: &Path, config: RelayConfig) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|_| StoreError::Backend)?;
        let store = SqliteStore::open(&data_dir.join("relay.db"), config.limits)?;
        Self::new(Arc::new(store), config, system_clock)
    }

    /// A relay storing into the PostgreSQL database at `url` (schema migrated if needed), on
    /// the system clock. Not from inside an async runtime: the store runs its own.
    #[cfg(feature = "postgres")]
    pub fn open_postgres(url: &str, config: RelayConfig) -> Result<Self, StoreError> {
        let store = super::store::postgres::PostgresStore::connect(url, config.limits)?;
        Self::new(Arc::new(store), config, system_clock)
    }

    /// The counters.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub(crate) fn now(&self) -> u64 {
        (self.clock)()
    }
}

impl core::fmt::Debug for RelayState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RelayState")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}
