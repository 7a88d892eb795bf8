//! Connected mailboxes: where a stored or ephemeral delivery is pushed the moment it arrives.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::mailbox::MailboxId;

/// Frames queued for one connection before it counts as too slow and misses pushes (it will
/// still fetch stored deliveries; only ephemeral ones are lost, as they may be).
const PER_CONNECTION: usize = 1024;

/// Encoded `DeliveredEnvelope` frames; cloning one shares its bytes.
pub(crate) type Frame = axum::body::Bytes;

/// Each mailbox's live connections, by connection number.
type Connections = HashMap<MailboxId, Vec<(u64, mpsc::Sender<Frame>)>>;

#[derive(Debug, Default)]
pub(crate) struct Hub {
    connections: Mutex<Connections>,
    next: Mutex<u64>,
}

/// Removes its connection from the hub when dropped.
pub(crate) struct Subscription {
    hub: Arc<Hub>,
    mailbox: MailboxId,
    id: u64,
    pub(crate) frames: mpsc::Receiver<Frame>,
}

impl Hub {
    pub(crate) fn subscribe(self: &Arc<Self>, mailbox: MailboxId) -> Subscription {
        let (tx, frames) = mpsc::channel(PER_CONNECTION);
        let id = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            *next += 1;
            *next
        };
        self.lock().entry(mailbox).or_default().push((id, tx));
        Subscription {
            hub: Arc::clone(self),
            mailbox,
            id,
            frames,
        }
    }

    /// Pushes `frame` to every connection of `mailbox`; returns how many took it.
    pub(crate) fn push(&self, mailbox: &MailboxId, frame: &Frame) -> usize {
        let connections = self.lock();
        connections
            .get(mailbox)
            .map(|conns| {
                conns
                    .iter()
                    .filter(|(_, tx)| tx.try_send(frame.clone()).is_ok())
                    .count()
            })
            .unwrap_or(0)
    }

    /// Whether `mailbox` has a live connection now.
    pub(crate) fn is_connected(&self, mailbox: &MailboxId) -> bool {
        self.lock().contains_key(mailbox)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connections> {
        self.connections.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut connections = self.hub.lock();
        if let Some(conns) = connections.get_mut(&self.mailbox) {
            conns.retain(|(id, _)| *id != self.id);
            if conns.is_empty() {
                connections.remove(&self.mailbox);
            }
        }
    }
}
