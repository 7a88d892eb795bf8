//! The PostgreSQL store: any number of relays on one database (feature `postgres`).
//!
//! Every decision that must hold across relays is taken under row locks in the committing
//! transaction: a batch locks its recipients' mailbox rows in key order (so two batches never
//! wait on each other in a cycle), checks quotas and assigns each mailbox's next sequence
//! numbers from them, and locks the tokens it spends. A mailbox's deliveries therefore commit
//! in sequence order, and a fetch by `seq > after` skips none. Writes are set-based (a handful
//! of statements per batch, whatever its size); commits are durable
//! (`synchronous_commit=on`). Bodies carry no reference count (a hot row under concurrent
//! acknowledgements): an acknowledgement frees a body no delivery holds any more, and a sweep
//! frees any that two concurrent acknowledgements both left behind.
//!
//! The trait is synchronous; the store runs its queries on a small runtime of its own, so the
//! relay's blocking threads and its writer thread call it as they call SQLite.

mod accounts;
mod directory;
mod notify;
mod reads;
mod removal;
mod schema;
mod sql;
mod writes;

use std::time::Duration;

use deadpool_postgres::{Client, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};

use super::{
    AccessChange, AccessCursor, AccessRecords, Delivery, EnvelopeId, Limits, MailboxId,
    NewDelivery, Passed, PrekeyFetch, RelayStore, StoreError, StoreStats,
};
use sql::{Fault, query, uint};

/// Connections per relay: the writer's, acknowledgements', and the fetches on blocking threads.
const CONNECTIONS: usize = 16;
/// How long a request waits for a connection, or for one to be made, before failing: an
/// unreachable database answers 503 quickly rather than holding requests.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Attempts at a transaction that lost a deadlock or serialization race (it did nothing).
const ATTEMPTS: usize = 5;

/// PostgreSQL-backed [`RelayStore`].
pub struct PostgresStore {
    /// `None` only while dropping.
    runtime: Option<tokio::runtime::Runtime>,
    pool: Pool,
    limits: Limits,
    /// How this store names itself in delivery notifications, to skip its own.
    instance: String,
    /// For the listening connection, apart from the pool.
    config: tokio_postgres::Config,
}

impl core::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user@host:port/db`) and brings its
    /// schema up to date.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the URL does not parse, the database cannot be reached,
    /// or its schema is newer than this relay knows.
    pub fn connect(url: &str, limits: Limits) -> Result<Self, StoreError> {
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| {
            tracing::error!(error = %e, "database URL");
            StoreError::Backend
        })?;
        // An acknowledged write is on disk (and on synchronous replicas), whatever the
        // server's default.
        config.options("-c synchronous_commit=on");
        config.connect_timeout(CONNECT_TIMEOUT);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("missive-postgres")
            .enable_all()
            .build()
            .map_err(|_| StoreError::Backend)?;
        let manager = Manager::from_config(
            config.clone(),
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(CONNECTIONS)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|_| StoreError::Backend)?;
        let mut instance = [0u8; 8];
        rand::Rng::fill_bytes(&mut rand::rng(), &mut instance);
        let store = Self {
            runtime: Some(runtime),
            pool,
            limits,
            instance: instance.iter().map(|b| format!("{b:02x}")).collect(),
            config,
        };
        store.run(async |c| schema::migrate(c).await)?;
        Ok(store)
    }

    /// Runs `work` on a pooled connection, again if it lost a deadlock or serialization race
    /// (a transaction that lost did nothing).
    fn run<T>(&self, work: impl AsyncFn(&mut Client) -> Result<T, Fault>) -> Result<T, StoreError> {
        self.run_once(async |c| {
            let mut attempt = 1;
            loop {
                match work(c).await {
                    Err(Fault::Db(e)) if sql::lost_race(&e) && attempt < ATTEMPTS => attempt += 1,
                    done => return done,
                }
            }
        })
    }

    /// Runs `work` once on a pooled connection.
    fn run_once<T>(
        &self,
        work: impl AsyncFnOnce(&mut Client) -> Result<T, Fault>,
    ) -> Result<T, StoreError> {
        let Some(runtime) = &self.runtime else {
            return Err(StoreError::Backend);
        };
        runtime.block_on(async {
            let mut client = self.pool.get().await.map_err(|e| {
                tracing::warn!(error = %e, "no database connection");
                StoreError::Backend
            })?;
            work(&mut client).await.map_err(|fault| match fault {
                Fault::Refused(e) => e,
                Fault::Db(e) => {
                    tracing::warn!(error = %e, "database failure");
                    StoreError::Backend
                }
            })
        })
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        // Without waiting: the last relay handle may go inside an async context, where a
        // runtime may not block to shut down.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl RelayStore for PostgresStore {
    fn deliver(&self, batch: &[NewDelivery], now: u64) -> Vec<Result<(), StoreError>> {
        self.run(async |c| writes::deliver(c, batch, now, &self.limits, &self.instance).await)
            .unwrap_or_else(|e| vec![Err(e); batch.len()])
    }

    fn fetch_bounded(
        &self,
        mailbox: &MailboxId,
        after: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.run(async |c| reads::page(c, mailbox, after, limit, max_bytes).await)
    }

    fn ack(&self, mailbox: &MailboxId, ids: &[EnvelopeId]) -> Result<usize, StoreError> {
        let acks = [(*mailbox, ids.to_vec())];
        Ok(self.ack_many(&acks)?.into_iter().sum())
    }

    fn ack_many(&self, acks: &[(MailboxId, Vec<EnvelopeId>)]) -> Result<Vec<usize>, StoreError> {
        self.run(async |c| removal::ack(c, acks).await)
    }

    fn expire(&self, now: u64) -> Result<usize, StoreError> {
        self.run(async |c| removal::expire(c, now).await)
    }

    fn publish_prekeys(
        &self,
        user: &[u8],
        owner: &MailboxId,
        bundle: &[u8],
        one_time: &[(u32, Vec<u8>)],
    ) -> Result<(), StoreError> {
        let max = self.limits.max_one_time_prekeys;
        self.run(async |c| directory::publish(c, user, owner, bundle, one_time, max).await)
    }

    fn fetch_prekeys(&self, user: &[u8], one_time: bool) -> Result<PrekeyFetch, StoreError> {
        self.run(async |c| directory::claim(c, user, one_time).await)
    }

    fn one_time_prekeys_left(&self, user: &[u8]) -> Result<u64, StoreError> {
        self.run(async |c| directory::left(c, user).await)
    }

    fn device_list(&self, user: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.run(async |c| directory::device_list(c, user).await)
    }

    fn put_device_list(&self, user: &[u8], version: i64, list: &[u8]) -> Result<bool, StoreError> {
        self.run(async |c| directory::put_device_list(c, user, version, list).await)
    }

    fn access_records(
        &self,
        mailboxes: &[MailboxId],
    ) -> Result<Vec<(MailboxId, Vec<u8>)>, StoreError> {
        self.run(async |c| accounts::access_records(c, mailboxes).await)
    }

    fn access_cursor(&self) -> Result<AccessCursor, StoreError> {
        self.run(async |c| accounts::access_cursor(c).await)
            .map(AccessCursor)
    }

    fn change_access(
        &self,
        mailbox: &MailboxId,
        change: &mut AccessChange<'_>,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        // One attempt: `change` may have been called already (a lost race is a 503 the
        // client retries).
        self.run_once(async |c| accounts::change_access(c, mailbox, change).await)
    }

    fn shared(&self) -> bool {
        true
    }

    fn watch_deliveries(&self, passed: tokio::sync::mpsc::UnboundedSender<Passed>) {
        if let Some(runtime) = &self.runtime {
            runtime.spawn(notify::listen(
                self.config.clone(),
                self.instance.clone(),
                passed,
            ));
        }
    }

    fn pass_ephemeral(&self, delivery: &[u8]) -> Result<(), StoreError> {
        self.run_once(async |c| notify::pass(c, &self.instance, delivery).await)
    }

    fn access_changes(
        &self,
        cursor: AccessCursor,
    ) -> Result<(AccessRecords, AccessCursor), StoreError> {
        self.run(async |c| accounts::access_changes(c, cursor.0).await)
            .map(|(changed, next)| (changed, AccessCursor(next)))
    }

    fn fresh_nonce(
        &self,
        mailbox: &MailboxId,
        nonce: &[u8; 16],
        until: u64,
    ) -> Result<bool, StoreError> {
        self.run(async |c| accounts::fresh_nonce(c, mailbox, nonce, until).await)
    }

    fn take_quota(
        &self,
        mailbox: &MailboxId,
        kind: u8,
        period: u32,
        count: u32,
        max: u32,
    ) -> Result<(), StoreError> {
        self.run(async |c| accounts::quota(c, mailbox, kind, period, count, max).await)
    }

    fn take_purchase(
        &self,
        id: &[u8; 16],
        count: u32,
        credits: u32,
        expires: u64,
    ) -> Result<(), StoreError> {
        self.run(async |c| accounts::purchase(c, id, count, credits, expires).await)
    }

    fn secret(&self, name: &str, fresh: [u8; 32]) -> Result<[u8; 32], StoreError> {
        self.run(async |c| accounts::secret(c, name, fresh).await)
    }

    fn ping(&self) -> Result<(), StoreError> {
        self.run(async |c| query(&*c, "SELECT 1", &[]).await.map(drop))
    }

    fn stats(&self) -> Result<StoreStats, StoreError> {
        self.run(async |c| {
            let row = query(
                &*c,
                "SELECT (SELECT COALESCE(SUM(pending), 0)::bigint FROM mailboxes),
                        (SELECT COUNT(*) FROM bodies),
                        (SELECT COALESCE(SUM(length(bytes)), 0)::bigint FROM bodies)
                      + (SELECT COALESCE(SUM(length(part)), 0)::bigint FROM deliveries)",
                &[],
            )
            .await?;
            let r = row.first().ok_or(Fault::Refused(StoreError::Backend))?;
            Ok(StoreStats {
                pending_deliveries: uint(r.get(0)),
                bodies: uint(r.get(1)),
                bytes_stored: uint(r.get(2)),
            })
        })
    }
}
