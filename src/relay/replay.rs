//! Replay memory for mailbox proofs (PROTOCOL.md §8.2), in memory: every nonce seen while its
//! proof could still be accepted, so authenticating a request costs no durable write. A restart
//! forgets them; so that it opens no window for replaying a proof the relay accepted before it,
//! a proof made before the relay started is refused as stale (a client signs a fresh one).

use std::collections::HashMap;
use std::sync::Mutex;

use super::refusal::Refusal;
use crate::mailbox::{MAX_CLOCK_SKEW, MailboxId};

/// Nonces remembered at most; past that, new proofs are refused until old ones expire. With
/// the per-source and per-mailbox rate limits this is far above what honest traffic needs
/// (about 48 bytes each).
const MAX_REMEMBERED: usize = 4_000_000;

#[derive(Debug)]
pub(crate) struct ReplayGuard {
    /// When this relay process started (relay clock): proofs made before are refused.
    started: u64,
    seen: Mutex<HashMap<(MailboxId, [u8; 16]), u64>>,
}

impl ReplayGuard {
    pub(crate) fn new(started: u64) -> Self {
        Self {
            started,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Accepts a verified proof once: `Stale` for one made before the relay started,
    /// `Replayed` for a nonce seen before, `RateLimited` when the memory is full.
    pub(crate) fn check(
        &self,
        mailbox: MailboxId,
        nonce: [u8; 16],
        made: u64,
        now: u64,
    ) -> Result<(), Refusal> {
        if made < self.started {
            return Err(Refusal::Stale);
        }
        let mut seen = self.lock();
        if seen.contains_key(&(mailbox, nonce)) {
            return Err(Refusal::Replayed);
        }
        if seen.len() >= MAX_REMEMBERED {
            seen.retain(|_, until| *until > now);
            if seen.len() >= MAX_REMEMBERED {
                return Err(Refusal::RateLimited);
            }
        }
        // A proof is accepted until its timestamp is MAX_CLOCK_SKEW behind the relay's clock.
        seen.insert((mailbox, nonce), made.saturating_add(MAX_CLOCK_SKEW));
        Ok(())
    }

    /// Forgets nonces whose proofs can no longer be accepted.
    pub(crate) fn sweep(&self, now: u64) {
        self.lock().retain(|_, until| *until >= now);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(MailboxId, [u8; 16]), u64>> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }
}
