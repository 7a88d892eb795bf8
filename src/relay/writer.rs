//! Group commit: one thread owns the writes, drains every delivery and acknowledgement that is
//! waiting, and makes each kind durable with one commit. Under load this turns one fsync per
//! envelope (or per acknowledgement) into one per batch; a request is answered only after its
//! batch committed.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::store::{EnvelopeId, MailboxId, NewDelivery, RelayStore, StoreError};

/// Most envelopes committed together.
const MAX_BATCH: usize = 2048;

/// A write, and where to answer.
enum Job {
    /// A delivery to store; the answer hands it back, so the caller can push it to connected
    /// mailboxes after the commit without having copied it.
    Deliver(
        NewDelivery,
        oneshot::Sender<(Result<(), StoreError>, NewDelivery)>,
    ),
    /// Acknowledged envelopes of a mailbox; the answer is how many were removed.
    Ack(
        MailboxId,
        Vec<EnvelopeId>,
        oneshot::Sender<Result<usize, StoreError>>,
    ),
}

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
        self.send(Job::Deliver(delivery, done))?;
        let (result, delivery) = wait.await.map_err(|_| StoreError::Backend)?;
        result.map(|()| delivery)
    }

    /// Removes `mailbox`'s acknowledged deliveries durably; how many there were.
    pub(crate) async fn ack(
        &self,
        mailbox: MailboxId,
        ids: Vec<EnvelopeId>,
    ) -> Result<usize, StoreError> {
        let (done, wait) = oneshot::channel();
        self.send(Job::Ack(mailbox, ids, done))?;
        wait.await.map_err(|_| StoreError::Backend)?
    }

    fn send(&self, job: Job) -> Result<(), StoreError> {
        self.tx.try_send(job).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => StoreError::Overloaded,
            mpsc::error::TrySendError::Closed(_) => StoreError::Backend,
        })
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
        let (mut deliveries, mut delivered) = (Vec::new(), Vec::new());
        let (mut acks, mut acked) = (Vec::new(), Vec::new());
        for job in jobs.drain(..) {
            match job {
                Job::Deliver(d, waiter) => {
                    deliveries.push(d);
                    delivered.push(waiter);
                }
                Job::Ack(mailbox, ids, waiter) => {
                    acks.push((mailbox, ids));
                    acked.push(waiter);
                }
            }
        }
        if !deliveries.is_empty() {
            let results = store.deliver(&deliveries, clock());
            for ((waiter, delivery), result) in delivered.into_iter().zip(deliveries).zip(results) {
                let _ = waiter.send((result, delivery));
            }
        }
        if !acks.is_empty() {
            match store.ack_many(&acks) {
                Ok(counts) => {
                    for (waiter, count) in acked.into_iter().zip(counts) {
                        let _ = waiter.send(Ok(count));
                    }
                }
                Err(e) => {
                    for waiter in acked {
                        let _ = waiter.send(Err(e));
                    }
                }
            }
        }
    }
}
