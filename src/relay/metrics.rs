//! Counters in the Prometheus text format. Only aggregates: no mailbox ids, no sizes per client.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use super::refusal::Refusal;
use super::store::StoreStats;

/// The relay's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    envelopes: AtomicU64,
    deliveries: AtomicU64,
    ephemeral: AtomicU64,
    pushed: AtomicU64,
    acked: AtomicU64,
    tokens: AtomicU64,
    refusals: [AtomicU64; Refusal::ALL.len()],
}

impl Metrics {
    pub(crate) fn accepted(&self, mailboxes: usize) {
        self.envelopes.fetch_add(1, Ordering::Relaxed);
        self.deliveries
            .fetch_add(mailboxes as u64, Ordering::Relaxed);
    }

    pub(crate) fn ephemeral(&self, mailboxes: usize) {
        self.ephemeral
            .fetch_add(mailboxes as u64, Ordering::Relaxed);
    }

    pub(crate) fn pushed(&self, frames: usize) {
        self.pushed.fetch_add(frames as u64, Ordering::Relaxed);
    }

    pub(crate) fn acked(&self, n: usize) {
        self.acked.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn issued(&self, tokens: usize) {
        self.tokens.fetch_add(tokens as u64, Ordering::Relaxed);
    }

    pub(crate) fn refused(&self, refusal: &Refusal) {
        self.refusals[refusal.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// The exposition text for `GET /metrics`.
    pub fn render(&self, stats: Option<StoreStats>, sockets: usize) -> String {
        let mut out = String::new();
        let counters = [
            (
                "missive_envelopes_accepted_total",
                "Envelopes accepted for storage.",
                &self.envelopes,
            ),
            (
                "missive_deliveries_total",
                "Per-mailbox deliveries stored.",
                &self.deliveries,
            ),
            (
                "missive_ephemeral_deliveries_total",
                "Ephemeral deliveries handed to a live connection, never stored.",
                &self.ephemeral,
            ),
            (
                "missive_pushes_total",
                "Frames sent over mailbox WebSockets (backlog, live and ephemeral).",
                &self.pushed,
            ),
            (
                "missive_acks_total",
                "Deliveries acknowledged and deleted.",
                &self.acked,
            ),
            (
                "missive_tokens_issued_total",
                "Tokens issued (blinded evaluations).",
                &self.tokens,
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                value.load(Ordering::Relaxed)
            );
        }
        let name = "missive_refusals_total";
        let _ = writeln!(
            out,
            "# HELP {name} Requests refused, by reason.\n# TYPE {name} counter"
        );
        for (r, count) in Refusal::ALL.iter().zip(&self.refusals) {
            let _ = writeln!(
                out,
                "{name}{{reason=\"{}\"}} {}",
                r.label(),
                count.load(Ordering::Relaxed)
            );
        }
        if let Some(s) = stats {
            let gauges = [
                (
                    "missive_pending_deliveries",
                    "Deliveries waiting for acknowledgement.",
                    s.pending_deliveries,
                ),
                (
                    "missive_bodies_stored",
                    "Distinct envelope bodies stored.",
                    s.bodies,
                ),
                (
                    "missive_bytes_stored",
                    "Bytes of ciphertext stored.",
                    s.bytes_stored,
                ),
            ];
            for (name, help, value) in gauges {
                let _ = writeln!(
                    out,
                    "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP missive_sockets_open WebSocket connections open.\n\
             # TYPE missive_sockets_open gauge\nmissive_sockets_open {sockets}"
        );
        out
    }
}
