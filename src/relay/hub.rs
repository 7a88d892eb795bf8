//! Connected mailboxes: where a stored or ephemeral delivery is pushed the moment it arrives.
//!
//! Each connection may have at most a set number of bytes queued for it. A connection that
//! falls further behind is dropped from the hub, which ends its stream: its client connects
//! again and fetches what is stored, so nothing stored is lost (ephemeral deliveries may be).
//! The number of connections is capped per mailbox and in all.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::mailbox::MailboxId;

/// Frames queued for one connection at most, whatever their bytes.
const PER_CONNECTION: usize = 1024;

/// Encoded `DeliveredEnvelope` frames; cloning one shares its bytes.
pub(crate) type Frame = axum::body::Bytes;

/// A live connection: where its frames go, and how many bytes wait for it.
#[derive(Debug)]
struct Connection {
    id: u64,
    tx: mpsc::Sender<Frame>,
    queued: Arc<AtomicUsize>,
}

/// The hub's limits.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HubLimits {
    /// Bytes queued for one connection before it counts as too slow and is dropped.
    pub(crate) queued_bytes: usize,
    /// Connections one mailbox may hold.
    pub(crate) per_mailbox: usize,
    /// Connections in all.
    pub(crate) total: usize,
}

#[derive(Debug)]
pub(crate) struct Hub {
    connections: Mutex<Connections>,
    limits: HubLimits,
}

#[derive(Debug, Default)]
struct Connections {
    by_mailbox: HashMap<MailboxId, Vec<Connection>>,
    count: usize,
    next: u64,
}

/// Why a connection was not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Full {
    /// The mailbox holds as many connections as it may.
    Mailbox,
    /// The relay holds as many connections as it may.
    Relay,
}

/// Removes its connection from the hub when dropped.
pub(crate) struct Subscription {
    hub: Arc<Hub>,
    mailbox: MailboxId,
    id: u64,
    frames: mpsc::Receiver<Frame>,
    queued: Arc<AtomicUsize>,
}

impl Subscription {
    /// The next frame; `None` once the hub dropped this connection (too slow) or closed.
    pub(crate) async fn recv(&mut self) -> Option<Frame> {
        let frame = self.frames.recv().await?;
        self.queued.fetch_sub(frame.len(), Ordering::Relaxed);
        Some(frame)
    }
}

impl Hub {
    pub(crate) fn new(limits: HubLimits) -> Self {
        Self {
            connections: Mutex::default(),
            limits,
        }
    }

    /// Whether `mailbox` may open one more connection now.
    pub(crate) fn has_room(&self, mailbox: &MailboxId) -> Result<(), Full> {
        let c = self.lock();
        if c.count >= self.limits.total {
            return Err(Full::Relay);
        }
        if c.by_mailbox.get(mailbox).map_or(0, Vec::len) >= self.limits.per_mailbox {
            return Err(Full::Mailbox);
        }
        Ok(())
    }

    pub(crate) fn subscribe(self: &Arc<Self>, mailbox: MailboxId) -> Result<Subscription, Full> {
        let mut c = self.lock();
        if c.count >= self.limits.total {
            return Err(Full::Relay);
        }
        let conns = c.by_mailbox.entry(mailbox).or_default();
        if conns.len() >= self.limits.per_mailbox {
            return Err(Full::Mailbox);
        }
        let (tx, frames) = mpsc::channel(PER_CONNECTION);
        let queued = Arc::new(AtomicUsize::new(0));
        let next = c.next + 1;
        c.by_mailbox.entry(mailbox).or_default().push(Connection {
            id: next,
            tx,
            queued: Arc::clone(&queued),
        });
        c.next = next;
        c.count += 1;
        Ok(Subscription {
            hub: Arc::clone(self),
            mailbox,
            id: next,
            frames,
            queued,
        })
    }

    /// Pushes `frame` to every connection of `mailbox`; returns how many took it. A connection
    /// that would exceed its queue is dropped instead (its stream ends; it fetches again).
    pub(crate) fn push(&self, mailbox: &MailboxId, frame: &Frame) -> usize {
        let mut c = self.lock();
        let Some(conns) = c.by_mailbox.get_mut(mailbox) else {
            return 0;
        };
        let budget = self.limits.queued_bytes;
        let before = conns.len();
        let mut taken = 0;
        conns.retain(|conn| {
            let queued = conn.queued.load(Ordering::Relaxed);
            if queued.saturating_add(frame.len()) > budget.max(frame.len()) && queued > 0 {
                return false;
            }
            match conn.tx.try_send(frame.clone()) {
                Ok(()) => {
                    conn.queued.fetch_add(frame.len(), Ordering::Relaxed);
                    taken += 1;
                    true
                }
                Err(_) => false,
            }
        });
        let dropped = before - conns.len();
        if conns.is_empty() {
            c.by_mailbox.remove(mailbox);
        }
        c.count -= dropped;
        taken
    }

    /// Pushes each frame to its mailbox's connections; returns how many connections took one.
    pub(crate) fn push_all(&self, pushes: &[(MailboxId, Frame)]) -> usize {
        pushes
            .iter()
            .map(|(mailbox, frame)| self.push(mailbox, frame))
            .sum()
    }

    /// Whether `mailbox` has a live connection now.
    pub(crate) fn is_connected(&self, mailbox: &MailboxId) -> bool {
        self.lock().by_mailbox.contains_key(mailbox)
    }

    /// Live connections.
    pub(crate) fn count(&self) -> usize {
        self.lock().count
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connections> {
        self.connections.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut c = self.hub.lock();
        let Some(conns) = c.by_mailbox.get_mut(&self.mailbox) else {
            return;
        };
        let before = conns.len();
        conns.retain(|conn| conn.id != self.id);
        let removed = before - conns.len();
        if conns.is_empty() {
            c.by_mailbox.remove(&self.mailbox);
        }
        c.count -= removed;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn hub(queued_bytes: usize, per_mailbox: usize, total: usize) -> Arc<Hub> {
        Arc::new(Hub::new(HubLimits {
            queued_bytes,
            per_mailbox,
            total,
        }))
    }

    #[tokio::test]
    async fn a_connection_that_falls_behind_in_bytes_is_dropped() {
        let hub = hub(1000, 4, 10);
        let m = MailboxId([1; 16]);
        let mut slow = hub.subscribe(m).unwrap();
        let mut fast = hub.subscribe(m).unwrap();
        let frame = Frame::from(vec![0u8; 400]);
        assert_eq!(hub.push(&m, &frame), 2);
        assert_eq!(fast.recv().await.unwrap().len(), 400);
        assert_eq!(hub.push(&m, &frame), 2); // slow: 800 queued
        assert_eq!(fast.recv().await.unwrap().len(), 400);
        assert_eq!(
            hub.push(&m, &frame),
            1,
            "1200 would be over: slow is dropped"
        );
        assert_eq!(hub.count(), 1);
        assert_eq!(fast.recv().await.unwrap().len(), 400);
        // The slow one still reads what it had, then its stream ends.
        assert!(slow.recv().await.is_some());
        assert!(slow.recv().await.is_some());
        assert!(slow.recv().await.is_none());
        // A frame larger than the budget still reaches an idle connection.
        let big = Frame::from(vec![0u8; 5000]);
        assert_eq!(hub.push(&m, &big), 1);
    }

    #[test]
    fn connections_are_capped_per_mailbox_and_in_all() {
        let hub = hub(1000, 2, 3);
        let (a, b) = (MailboxId([1; 16]), MailboxId([2; 16]));
        let first = hub.subscribe(a).unwrap();
        let _second = hub.subscribe(a).unwrap();
        assert_eq!(hub.subscribe(a).err(), Some(Full::Mailbox));
        assert_eq!(hub.has_room(&a), Err(Full::Mailbox));
        let _third = hub.subscribe(b).unwrap();
        assert_eq!(hub.subscribe(b).err(), Some(Full::Relay));
        drop(first);
        assert_eq!(hub.has_room(&b), Ok(()));
        assert!(hub.subscribe(b).is_ok());
    }
}
