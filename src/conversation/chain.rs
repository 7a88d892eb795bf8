//! Symmetric chains with labelled steps (PROTOCOL.md §6.3): a sender's chain in a conversation,
//! and a fan-out chain from one user to another.
//!
//! Step `i` turns the chain key `CK_i` into `CK_{i+1}`, a one-time secret `S_i` and an 8-byte
//! label `L_i` that the receiver finds the step by. The old chain key is overwritten at once
//! (forward secrecy). A receiver keeps the next [`LOOKAHEAD`] steps ready and at most
//! [`MAX_SKIPPED`] steps it jumped over; nothing else.

use std::collections::VecDeque;

use zeroize::{Zeroize, Zeroizing};

use crate::crypto::kdf;
use crate::error::UsageError;

/// Steps a receiver derives ahead of the last one it accepted.
pub const LOOKAHEAD: u32 = 32;
/// Skipped steps a receiver keeps (oldest dropped first).
pub const MAX_SKIPPED: usize = 64;

/// A 32-byte secret, zeroized on drop.
pub(crate) type Secret = Zeroizing<[u8; 32]>;

/// One step's output.
pub(crate) struct Step {
    pub(crate) index: u32,
    pub(crate) label: [u8; 8],
    pub(crate) secret: Secret,
}

/// `HKDF-Expand(CK_i, domain || binding || be32(i), 72) = CK_{i+1} || S_i || L_i`.
pub(crate) fn step(key: &[u8; 32], domain: &[u8], binding: &[u8], index: u32) -> (Secret, Step) {
    let out = kdf::expand_array::<72>(key, &[domain, binding, &index.to_be_bytes()]);
    let mut next = Zeroizing::new([0u8; 32]);
    let mut secret = Zeroizing::new([0u8; 32]);
    let mut label = [0u8; 8];
    next.copy_from_slice(&out[..32]);
    secret.copy_from_slice(&out[32..64]);
    label.copy_from_slice(&out[64..]);
    (
        next,
        Step {
            index,
            label,
            secret,
        },
    )
}

/// Where a chain's steps are bound: its domain label and binding bytes.
#[derive(Clone)]
pub(crate) struct Binding {
    pub(crate) domain: &'static [u8],
    pub(crate) bytes: Vec<u8>,
}

/// The sending end: the current chain key and index.
#[derive(Clone)]
pub(crate) struct SenderChain {
    key: Secret,
    index: u32,
    binding: Binding,
    exhausted: bool,
}

impl SenderChain {
    pub(crate) fn new(key: Secret, binding: Binding) -> Self {
        Self {
            key,
            index: 0,
            binding,
            exhausted: false,
        }
    }

    /// The next step. After step `u32::MAX - 1` the chain refuses forever (sticky).
    pub(crate) fn next(&mut self) -> Result<Step, UsageError> {
        let after = self.index.checked_add(1).filter(|_| !self.exhausted);
        let Some(after) = after else {
            self.exhausted = true;
            return Err(UsageError::MessageLimitReached);
        };
        let (next, out) = step(
            &self.key,
            self.binding.domain,
            &self.binding.bytes,
            self.index,
        );
        self.key = next;
        self.index = after;
        Ok(out)
    }
}

/// The receiving end: pending steps (skipped and lookahead) and the key after the last one.
pub(crate) struct ReceiverChain {
    frontier: Secret,
    frontier_index: u32,
    /// One past the highest index accepted (0 before any).
    high: u32,
    pending: VecDeque<Step>,
    binding: Binding,
}

impl ReceiverChain {
    pub(crate) fn new(key: Secret, binding: Binding) -> Self {
        let mut chain = Self {
            frontier: key,
            frontier_index: 0,
            high: 0,
            pending: VecDeque::new(),
            binding,
        };
        chain.extend();
        chain
    }

    /// Positions of pending steps carrying `label` (almost always zero or one).
    pub(crate) fn find<'a>(&'a self, label: &'a [u8; 8]) -> impl Iterator<Item = usize> + 'a {
        self.pending
            .iter()
            .enumerate()
            .filter(move |(_, s)| &s.label == label)
            .map(|(i, _)| i)
    }

    pub(crate) fn get(&self, position: usize) -> Option<&Step> {
        self.pending.get(position)
    }

    /// Forgets the step at `position` (it was used), derives ahead, drops the oldest skipped.
    pub(crate) fn consume(&mut self, position: usize) {
        let Some(used) = self.pending.remove(position) else {
            return;
        };
        self.high = self.high.max(used.index.saturating_add(1));
        self.extend();
        let skipped = self
            .pending
            .iter()
            .take_while(|s| s.index < self.high)
            .count();
        for _ in MAX_SKIPPED..skipped {
            self.pending.pop_front();
        }
    }

    fn extend(&mut self) {
        let target = self.high.saturating_add(LOOKAHEAD);
        while self.frontier_index < target {
            let (next, out) = step(
                &self.frontier,
                self.binding.domain,
                &self.binding.bytes,
                self.frontier_index,
            );
            self.frontier = next;
            self.frontier_index += 1;
            self.pending.push_back(out);
        }
    }

    /// Bytes of secret state held, for the state-size figure.
    pub(crate) fn state_len(&self) -> usize {
        32 + self.pending.len() * (4 + 8 + 32) + self.binding.bytes.len()
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        self.label.zeroize();
    }
}
