//! Symmetric chains with labelled steps (PROTOCOL.md §6.3): a sender's chain in a conversation,
//! and a fan-out chain from one user to another.
//!
//! Step `i` turns the chain key `CK_i` into `CK_{i+1}`, a one-time secret `S_i` and an 8-byte
//! label `L_i` that the receiver finds the step by. The old chain key is overwritten at once
//! (forward secrecy). A receiver keeps the labels of the next [`LOOKAHEAD`] steps and at most
//! [`MAX_SKIPPED`] steps it jumped over; nothing else.

use std::collections::{HashMap, VecDeque};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use super::distribution::SecretBytes;
use crate::crypto::kdf;
use crate::error::{DecodeError, UsageError};

/// Steps a receiver derives ahead of the last one it accepted.
pub const LOOKAHEAD: u32 = 32;
/// Skipped steps a receiver keeps (oldest dropped first).
pub const MAX_SKIPPED: usize = 64;
/// Steps ahead whose labels a client indexes across conversations, so that a message is found
/// by its label while at most this many minus one messages before it on its chain are missing.
pub const INDEXED_AHEAD: usize = 4;

/// A 32-byte secret, zeroized on drop.
pub(crate) type Secret = Zeroizing<[u8; 32]>;

/// One step's output.
#[derive(Clone)]
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

/// Where a chain's steps are bound: its domain label and binding bytes, held inline (a chain is
/// cloned per recipient on every fan-out send; this way without touching the heap).
#[derive(Clone)]
pub(crate) struct Binding {
    pub(crate) domain: &'static [u8],
    bytes: [u8; BINDING_MAX],
    len: usize,
}

/// The longest binding: a roster hash and a sender id.
const BINDING_MAX: usize = 48;

impl Binding {
    /// `domain` with the binding `first || second`.
    pub(crate) fn new<const A: usize, const B: usize>(
        domain: &'static [u8],
        first: &[u8; A],
        second: &[u8; B],
    ) -> Self {
        const { assert!(A + B <= BINDING_MAX) };
        let mut bytes = [0u8; BINDING_MAX];
        let (head, tail) = bytes.split_at_mut(A);
        head.copy_from_slice(first);
        tail[..B].copy_from_slice(second);
        Self {
            domain,
            bytes,
            len: A + B,
        }
    }

    /// The binding bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
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
            self.binding.bytes(),
            self.index,
        );
        self.key = next;
        self.index = after;
        Ok(out)
    }
}

/// Where a pending step is: among the skipped ones (with its secret) or `k` steps after the
/// highest accepted one (only its label is kept; the secret is derived again when needed).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Slot {
    Skipped(usize),
    Ahead(u32),
}

/// The receiving end. It keeps the chain key at `high` (one past the highest accepted index),
/// the labels of the next [`LOOKAHEAD`] steps, the chain key after them, and at most
/// [`MAX_SKIPPED`] skipped steps with their secrets.
///
/// The window is derived lazily: a new chain derives only its next label (all an in-order
/// message needs), and the rest of the window the first time anything looks past it (an
/// out-of-order or unknown label, or the state being saved). Deriving it costs 32 chain steps,
/// which every member otherwise pays for each of the n - 1 chains it installs after a change.
/// The window it answers for, and the state it saves, are exactly the eager window's.
pub(crate) struct ReceiverChain {
    base: Secret,
    high: u32,
    /// Labels of steps `high ..`, derived so far: the whole window once `full`, else at least
    /// the next one.
    ahead: VecDeque<[u8; 8]>,
    /// The chain key after the last label in `ahead`.
    frontier: Secret,
    /// Whether `ahead` holds the whole window (and is kept whole as it slides).
    full: bool,
    /// The rest of the window past `ahead`, derived on demand by `&self` lookups.
    rest: OnceLock<Rest>,
    skipped: VecDeque<Step>,
    binding: Binding,
}

/// Labels of the window past what a lazy chain has derived, and the chain key after them.
struct Rest {
    labels: Vec<[u8; 8]>,
    frontier: Secret,
}

impl ReceiverChain {
    pub(crate) fn new(key: Secret, binding: Binding) -> Self {
        let frontier = key.clone();
        let mut chain = Self {
            base: key,
            high: 0,
            ahead: VecDeque::with_capacity(1),
            frontier,
            full: false,
            rest: OnceLock::new(),
            skipped: VecDeque::new(),
            binding,
        };
        chain.extend();
        chain
    }

    /// Pending steps carrying `label` (almost always zero or one).
    pub(crate) fn find<'a>(&'a self, label: &'a [u8; 8]) -> impl Iterator<Item = Slot> + 'a {
        let skipped = self
            .skipped
            .iter()
            .enumerate()
            .filter(move |(_, s)| &s.label == label);
        let rest = self.rest().map(|r| r.labels.as_slice()).unwrap_or_default();
        let ahead = self
            .ahead
            .iter()
            .chain(rest)
            .enumerate()
            .filter(move |(_, l)| *l == label);
        let ahead = ahead.filter_map(|(k, _)| u32::try_from(k).ok().map(Slot::Ahead));
        skipped.map(|(i, _)| Slot::Skipped(i)).chain(ahead)
    }

    /// The step at `slot`, derived again if it lies ahead. Changes nothing.
    pub(crate) fn get(&self, slot: Slot) -> Option<Step> {
        match slot {
            Slot::Skipped(i) => self.skipped.get(i).cloned(),
            Slot::Ahead(k) if (k as usize) < self.window_len() => {
                let mut key = self.base.clone();
                for i in 0..k {
                    key = self.derive(&key, self.high + i).0;
                }
                Some(self.derive(&key, self.high + k).1)
            }
            Slot::Ahead(_) => None,
        }
    }

    /// Forgets the step at `slot` (it was used): steps jumped over become skipped, the window
    /// slides, and the oldest skipped steps beyond [`MAX_SKIPPED`] are dropped.
    pub(crate) fn consume(&mut self, slot: Slot) {
        match slot {
            Slot::Skipped(i) => {
                self.skipped.remove(i);
            }
            Slot::Ahead(k) if (k as usize) < self.window_len() => {
                // Past the in-order step, or after a lookup derived the rest: keep it all.
                if k > 0 || self.rest.get().is_some() {
                    self.fill();
                }
                for _ in 0..=k {
                    let (next, step) = self.derive(&self.base, self.high);
                    self.base = next;
                    self.high += 1;
                    self.ahead.pop_front();
                    self.skipped.push_back(step);
                }
                self.skipped.pop_back();
                self.extend();
                while self.skipped.len() > MAX_SKIPPED {
                    self.skipped.pop_front();
                }
            }
            Slot::Ahead(_) => {}
        }
    }

    /// The label of the next step in order (the one an in-order message carries).
    pub(crate) fn next_label(&self) -> Option<[u8; 8]> {
        self.ahead.front().copied()
    }

    /// The labels a message on this chain may carry that an index across conversations finds
    /// it by: those of the skipped steps, and of the next [`INDEXED_AHEAD`] steps (derived
    /// here, without widening a lazy window, when not derived yet).
    pub(crate) fn indexed_labels(&self) -> Vec<[u8; 8]> {
        let want = INDEXED_AHEAD.min(self.window_len());
        let mut out: Vec<[u8; 8]> = self.skipped.iter().map(|s| s.label).collect();
        out.extend(self.ahead.iter().take(want));
        let mut have = self.ahead.len().min(want);
        if let Some(rest) = self.rest.get() {
            out.extend(rest.labels.iter().take(want - have));
            return out;
        }
        let mut key = self.frontier.clone();
        let mut index = self.high + self.ahead.len() as u32;
        while have < want {
            let (next, step) = self.derive(&key, index);
            key = next;
            out.push(step.label);
            index += 1;
            have += 1;
        }
        out
    }

    fn derive(&self, key: &[u8; 32], index: u32) -> (Secret, Step) {
        step(key, self.binding.domain, self.binding.bytes(), index)
    }

    /// Steps in the window: [`LOOKAHEAD`], fewer only at the end of the index space.
    fn window_len(&self) -> usize {
        (self.high.saturating_add(LOOKAHEAD) - self.high) as usize
    }

    /// Keeps labels for `[high, high + LOOKAHEAD)` once full (else for the next step), never
    /// past index `u32::MAX - 1`.
    fn extend(&mut self) {
        let want = if self.full { self.window_len() } else { 1 };
        let target = self.high.saturating_add(want.min(self.window_len()) as u32);
        let mut index = self.high + self.ahead.len() as u32;
        while index < target {
            let (next, out) = self.derive(&self.frontier, index);
            self.frontier = next;
            self.ahead.push_back(out.label);
            index += 1;
        }
    }

    /// The labels past `ahead` up to the end of the window, derived once (None when full).
    fn rest(&self) -> Option<&Rest> {
        if self.full {
            return None;
        }
        Some(self.rest.get_or_init(|| {
            let end = self.high.saturating_add(LOOKAHEAD);
            let mut frontier = self.frontier.clone();
            let mut labels = Vec::with_capacity(LOOKAHEAD as usize);
            for index in self.high + self.ahead.len() as u32..end {
                let (next, out) = self.derive(&frontier, index);
                frontier = next;
                labels.push(out.label);
            }
            Rest { labels, frontier }
        }))
    }

    /// Makes the window whole and keeps it so.
    fn fill(&mut self) {
        if self.full {
            return;
        }
        self.rest();
        if let Some(rest) = self.rest.take() {
            self.ahead.extend(rest.labels);
            self.frontier = rest.frontier;
        }
        self.full = true;
    }

    /// Bytes of key state held, for the state-size figure.
    pub(crate) fn state_len(&self) -> usize {
        2 * 32
            + 4
            + self.window_len() * 8
            + self.skipped.len() * (4 + 8 + 32)
            + self.binding.bytes().len()
    }
}

/// The next in-order label of each chain in a set, so that an in-order message (the common
/// case) finds its chain with one hash lookup; anything else falls back to scanning every
/// window. Purely an accelerator: a stale or colliding entry only costs the scan.
#[derive(Default)]
pub(crate) struct NextLabels(HashMap<[u8; 8], u32>);

impl NextLabels {
    /// Records that chain `chain` now expects `next` instead of `previous`.
    pub(crate) fn update(&mut self, chain: u32, previous: Option<[u8; 8]>, next: Option<[u8; 8]>) {
        if let Some(previous) = previous.filter(|p| self.0.get(p) == Some(&chain)) {
            self.0.remove(&previous);
        }
        if let Some(next) = next {
            self.0.insert(next, chain);
        }
    }

    /// The chain whose next label is `label`, if any.
    pub(crate) fn get(&self, label: &[u8; 8]) -> Option<usize> {
        self.0.get(label).map(|&c| c as usize)
    }

    /// Rebuilt over `chains`.
    pub(crate) fn rebuild<'a>(chains: impl Iterator<Item = &'a ReceiverChain>) -> Self {
        let mut index = Self::default();
        for (i, chain) in chains.enumerate() {
            index.update(
                u32::try_from(i).unwrap_or(u32::MAX),
                None,
                chain.next_label(),
            );
        }
        index
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        self.label.zeroize();
    }
}

/// A sender chain at rest.
#[derive(Serialize, Deserialize)]
pub(crate) struct SenderState {
    key: SecretBytes,
    index: u32,
    exhausted: bool,
}

/// A receiver chain at rest.
#[derive(Serialize, Deserialize)]
pub(crate) struct ReceiverState {
    base: SecretBytes,
    high: u32,
    ahead: Vec<[u8; 8]>,
    frontier: SecretBytes,
    skipped: Vec<(u32, [u8; 8], SecretBytes)>,
}

impl SenderChain {
    pub(crate) fn to_state(&self) -> SenderState {
        SenderState {
            key: SecretBytes(*self.key),
            index: self.index,
            exhausted: self.exhausted,
        }
    }

    pub(crate) fn from_state(state: &SenderState, binding: Binding) -> Self {
        let key = Zeroizing::new(state.key.0);
        Self {
            key,
            index: state.index,
            binding,
            exhausted: state.exhausted,
        }
    }
}

impl ReceiverChain {
    pub(crate) fn to_state(&self) -> ReceiverState {
        let skipped = self
            .skipped
            .iter()
            .map(|s| (s.index, s.label, SecretBytes(*s.secret)));
        // The whole window, as an eager chain would have it.
        let rest = self.rest();
        let labels = rest.map(|r| r.labels.as_slice()).unwrap_or_default();
        let frontier = rest.map_or(&self.frontier, |r| &r.frontier);
        ReceiverState {
            base: SecretBytes(*self.base),
            high: self.high,
            ahead: self.ahead.iter().chain(labels).copied().collect(),
            frontier: SecretBytes(**frontier),
            skipped: skipped.collect(),
        }
    }

    /// Restores a chain, checking the window's invariants (a full lookahead, bounded and
    /// increasing skipped steps below `high`).
    pub(crate) fn from_state(state: &ReceiverState, binding: Binding) -> Result<Self, DecodeError> {
        let invalid = DecodeError::Invalid {
            what: "receiver chain",
        };
        let full = (state.high.saturating_add(LOOKAHEAD) - state.high) as usize;
        let skipped_ok = state.skipped.windows(2).all(|w| w[0].0 < w[1].0)
            && state.skipped.last().is_none_or(|s| s.0 < state.high);
        if state.ahead.len() != full || state.skipped.len() > MAX_SKIPPED || !skipped_ok {
            return Err(invalid);
        }
        let skipped = state.skipped.iter().map(|(index, label, secret)| Step {
            index: *index,
            label: *label,
            secret: Zeroizing::new(secret.0),
        });
        Ok(Self {
            base: Zeroizing::new(state.base.0),
            high: state.high,
            ahead: state.ahead.iter().copied().collect(),
            frontier: Zeroizing::new(state.frontier.0),
            full: true,
            rest: OnceLock::new(),
            skipped: skipped.collect(),
            binding,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding() -> Binding {
        Binding::new(b"test", &[1, 2], &[3])
    }

    fn find(r: &ReceiverChain, step: &Step) -> Option<Slot> {
        r.find(&step.label).next()
    }

    #[test]
    fn receiver_follows_sender_within_bounded_state() {
        let mut s = SenderChain::new(Zeroizing::new([5; 32]), binding());
        let mut r = ReceiverChain::new(Zeroizing::new([5; 32]), binding());
        let steps: Vec<Step> = (0..400).map(|_| s.next().unwrap()).collect();
        for step in &steps[..3] {
            let slot = find(&r, step).unwrap();
            assert_eq!(*r.get(slot).unwrap().secret, *step.secret);
            r.consume(slot);
            assert!(find(&r, step).is_none(), "consumed steps are gone");
        }
        let far = &steps[3 + LOOKAHEAD as usize];
        assert!(find(&r, far).is_none(), "beyond the lookahead");
        let jump = &steps[2 + LOOKAHEAD as usize];
        let slot = find(&r, jump).unwrap();
        assert_eq!(r.get(slot).unwrap().index, jump.index);
        r.consume(slot);
        assert_eq!(r.skipped.len(), LOOKAHEAD as usize - 1);
        let skipped = &steps[10];
        let slot = find(&r, skipped).unwrap();
        assert_eq!(*r.get(slot).unwrap().secret, *skipped.secret);
        r.consume(slot);
        for i in (40..400).step_by(30) {
            let slot = find(&r, &steps[i]).unwrap();
            r.consume(slot);
        }
        assert!(r.skipped.len() <= MAX_SKIPPED);
        assert!(find(&r, &steps[4]).is_none(), "oldest skipped dropped");
        assert!(r.state_len() <= 2 * 32 + 4 + 8 * 32 + 44 * MAX_SKIPPED + 3);
    }

    fn saved(r: &ReceiverChain) -> Vec<u8> {
        let mut out = Vec::new();
        crate::wire::encode_into(&r.to_state(), &mut out);
        out
    }

    /// A lazily derived window behaves and saves exactly like a whole one: a new chain, and the
    /// same chain restored from its (whole) state, go through the same steps side by side.
    #[test]
    fn lazy_window_is_the_whole_window() {
        let mut s = SenderChain::new(Zeroizing::new([6; 32]), binding());
        let steps: Vec<Step> = (0..200).map(|_| s.next().unwrap()).collect();
        let mut lazy = ReceiverChain::new(Zeroizing::new([6; 32]), binding());
        let whole = ReceiverChain::from_state(&lazy.to_state(), binding()).unwrap();
        let mut whole = whole;
        assert!(!lazy.full && whole.full);
        let expected: Vec<[u8; 8]> = steps[..LOOKAHEAD as usize]
            .iter()
            .map(|s| s.label)
            .collect();
        assert_eq!(lazy.to_state().ahead, expected);
        // In order, then a jump, a late one, an unknown label, then in order again.
        let order = [0usize, 1, 2, 9, 5, 3, 10, 11, 40, 41, 42, 70, 60];
        for i in order {
            assert_eq!(lazy.next_label(), whole.next_label());
            let (a, b) = (find(&lazy, &steps[i]), find(&whole, &steps[i]));
            assert_eq!(a, b, "step {i}");
            if let Some(slot) = a {
                assert_eq!(*lazy.get(slot).unwrap().secret, *steps[i].secret);
                lazy.consume(slot);
                whole.consume(slot);
            }
            assert_eq!(saved(&lazy), saved(&whole), "after step {i}");
            assert_eq!(lazy.state_len(), whole.state_len());
        }
        let unknown = [0xAA; 8];
        assert!(lazy.find(&unknown).next().is_none());
        assert_eq!(saved(&lazy), saved(&whole));

        // Read in order without looking further: the window stays underived, and saves the same.
        let mut lazy = ReceiverChain::new(Zeroizing::new([6; 32]), binding());
        let mut whole = ReceiverChain::from_state(&saved_state(&lazy), binding()).unwrap();
        for step in &steps[..100] {
            assert_eq!(lazy.next_label(), Some(step.label));
            lazy.consume(Slot::Ahead(0));
            whole.consume(Slot::Ahead(0));
        }
        assert!(!lazy.full && lazy.ahead.len() == 1);
        assert_eq!(saved(&lazy), saved(&whole));
    }

    /// The state without caching the lazy window in `r`.
    fn saved_state(r: &ReceiverChain) -> ReceiverState {
        let copy = ReceiverChain {
            base: r.base.clone(),
            high: r.high,
            ahead: r.ahead.clone(),
            frontier: r.frontier.clone(),
            full: r.full,
            rest: OnceLock::new(),
            skipped: VecDeque::new(),
            binding: r.binding.clone(),
        };
        copy.to_state()
    }

    #[test]
    fn sender_chain_limit_is_sticky() {
        let mut s = SenderChain::new(Zeroizing::new([5; 32]), binding());
        s.index = u32::MAX - 1;
        assert_eq!(s.next().unwrap().index, u32::MAX - 1);
        assert_eq!(s.next().err(), Some(UsageError::MessageLimitReached));
        assert_eq!(s.next().err(), Some(UsageError::MessageLimitReached));
    }
}
