//! The relay's tunable limits, with defaults a small deployment can run as they are.

use super::store::Limits;

/// Limits and timings of one relay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RelayConfig {
    /// Largest accepted envelope, in bytes.
    pub max_envelope_bytes: usize,
    /// Most recipients in one multi-recipient envelope.
    pub max_recipients: usize,
    /// Longest time an envelope is kept, in seconds: its own expiry, capped at its arrival
    /// plus this (thirty days by default).
    pub max_ttl: u64,
    /// Most deliveries returned by one fetch.
    pub page_size: usize,
    /// Sustained requests per second per client (by mailbox, or by address when anonymous).
    pub rate_per_second: u32,
    /// Requests a client may burst above the sustained rate.
    pub rate_burst: u32,
    /// How often expired envelopes are swept, in seconds.
    pub sweep_interval: u64,
    /// Storage quotas.
    pub limits: Limits,
}

/// Thirty days, the default lifetime of an unacknowledged envelope.
pub const THIRTY_DAYS: u64 = 30 * 24 * 60 * 60;

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            max_envelope_bytes: 256 * 1024,
            max_recipients: 50,
            max_ttl: THIRTY_DAYS,
            page_size: 256,
            rate_per_second: 100,
            rate_burst: 1000,
            sweep_interval: 60,
            limits: Limits::default(),
        }
    }
}
