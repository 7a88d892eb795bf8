//! The relay's tunable limits, with defaults a small deployment can run as they are.

use super::store::Limits;
use crate::platform::PlatformKey;

/// Limits and timings of one relay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RelayConfig {
    /// Largest accepted envelope, in bytes.
    pub max_envelope_bytes: usize,
    /// Most mailboxes one envelope may name; the wire's own limits (50 for a plain envelope,
    /// 408 for a first message to every device of its recipients) hold whatever this says.
    pub max_recipients: usize,
    /// Longest time an envelope is kept, in seconds: its own expiry, capped at its arrival
    /// plus this (thirty days by default).
    pub max_ttl: u64,
    /// Most deliveries returned by one fetch.
    pub page_size: usize,
    /// Bytes of bodies and parts one fetch returns at most (one delivery at least).
    pub page_bytes: usize,
    /// WebSocket connections one mailbox may hold open.
    pub max_sockets_per_mailbox: usize,
    /// WebSocket connections the relay holds open in all.
    pub max_sockets: usize,
    /// Bytes a WebSocket connection may have waiting to be written: the backlog is read in
    /// pages of this size, and a connection with this much of pushed deliveries queued is
    /// dropped (its client fetches again; nothing stored is lost).
    pub socket_queue_bytes: usize,
    /// Seconds a WebSocket write may take before the connection is dropped as too slow.
    pub socket_write_timeout: u64,
    /// Sustained requests per second per client (by mailbox, or by address when anonymous).
    pub rate_per_second: u32,
    /// Requests a client may burst above the sustained rate.
    pub rate_burst: u32,
    /// Sustained authenticated requests per second from one network source, whatever
    /// mailboxes sign them (mailbox keys cost nothing to make).
    pub source_rate_per_second: u32,
    /// ... and in a burst.
    pub source_burst: u32,
    /// IPv6 addresses count as one source per prefix of this many bits (a /64 is what one
    /// subscriber gets); IPv4 addresses count one by one.
    pub ipv6_prefix: u8,
    /// How often expired envelopes are swept, in seconds.
    pub sweep_interval: u64,
    /// Storage quotas.
    pub limits: Limits,
    /// The platform's key, to check account certificates (token issuance, Open Profile,
    /// premium). Without it the relay issues no tokens and honours no account.
    pub platform: Option<PlatformKey>,
    /// Check every submission's credential (PROTOCOL.md §11). Off only to measure what the
    /// checks cost.
    pub check_access: bool,
    /// Deliveries without a credential one Open Profile mailbox takes per hour.
    pub open_per_hour: u32,
    /// ... and in a burst.
    pub open_burst: u32,
    /// Envelopes that may wait for the writer; more are refused as `overloaded`.
    pub writer_queue: usize,
    /// Directory lookups one mailbox may make an hour (and in a burst).
    pub lookups_per_hour: u32,
    /// Lookups of one name by one mailbox an hour (and in a burst): a few are plenty.
    pub lookups_per_pair_per_hour: u32,
    /// One-time prekeys one name hands out an hour, whoever asks (and in a burst); past
    /// that, lookups answer with the last-resort prekey alone, so nobody drains the stock.
    pub one_time_per_hour: u32,
    /// Mailboxes' access records kept in memory at most (about): the others are read from the
    /// store when a submission names them.
    pub access_cache: usize,
}

/// Thirty days, the default lifetime of an unacknowledged envelope.
pub const THIRTY_DAYS: u64 = 30 * 24 * 60 * 60;

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            max_envelope_bytes: 256 * 1024,
            max_recipients: crate::envelope::MAX_KEYED_RECIPIENTS,
            max_ttl: THIRTY_DAYS,
            page_size: 256,
            page_bytes: 4 << 20,
            max_sockets_per_mailbox: 8,
            max_sockets: 20_000,
            socket_queue_bytes: 64 << 10,
            socket_write_timeout: 10,
            rate_per_second: 100,
            rate_burst: 1000,
            source_rate_per_second: 200,
            source_burst: 400,
            ipv6_prefix: 64,
            sweep_interval: 60,
            limits: Limits::default(),
            platform: None,
            check_access: true,
            open_per_hour: 60,
            open_burst: 20,
            writer_queue: 16 * 1024,
            lookups_per_hour: 200,
            lookups_per_pair_per_hour: 3,
            one_time_per_hour: 30,
            access_cache: 500_000,
        }
    }
}
