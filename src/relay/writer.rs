//! Group commit: one thread owns the writes, drains every delivery that is waiting, and makes
//! the whole batch durable with one commit. Under load this turns one fsync per envelope into
//! one fsync per batch; an envelope's request is answered only after its batch committed.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::store::{NewDelivery, RelayStore, StoreError};

/// Most envelopes committed together.
const MAX_BATCH: usize = 2048;

/// A delivery to store, and where to answer; the answer hands the delivery back, so the
/// caller can push it to connected mailboxes after the commit without having copied it.
type Job = (
    NewDelivery,
    oneshot::Sender<(Result<(), StoreError>, NewDelivery)>,
);

/// Handle to the writer thread.
#[derive(Clone, Debug)]
pub(crate) struct Writer {
    tx: mpsc::Sender<Job>,
}

impl Writer {
    /// A writer thread; at most `queue` envelopes wait for it (more are `Overloaded`).
    pub(crate) fn spawn(store: Arc<dyn RelayStore>, clock: super::Clock, queue: usize) -> Self {
        let (tx, rx) = mpsc::channel(queue.max(1));
        std::thread::Builder::new()
            .name("missive-relay-writer".into())
            .spawn(move || run(rx, store.as_ref(), clock))
            .map(|_| ())
            .unwrap_or_else(|_| tracing::error!("could not start the writer thread"));
        Self { tx }
    }

    /// Stores `delivery` durably; returns it once its batch has committed.
    pub(crate) async fn deliver(&self, delivery: NewDelivery) -> Result<NewDelivery, StoreError> {
        let (done, wait) = oneshot::channel();
        self.tx.try_send((delivery, done)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => StoreError::Overloaded,
            mpsc::error::TrySendError::Closed(_) => StoreError::Backend,
        })?;
        let (result, delivery) = wait.await.map_err(|_| StoreError::Backend)?;
        result.map(|()| delivery)
    }
}

fn run(mut rx: mpsc::Receiver<Job>, store: &dyn RelayStore, clock: super::Clock) {
    let mut jobs: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        jobs.push(first);
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let (deliveries, waiters): (Vec<_>, Vec<_>) = jobs.drain(..).unzip();
        let results = store.deliver(&deliveries, clock());
        for ((waiter, delivery), result) in waiters.into_iter().zip(deliveries).zip(results) {
            let _ = waiter.send((result, delivery));
        }
    }
}
