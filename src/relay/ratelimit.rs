//! Token buckets per client key (a mailbox id, or a network address for anonymous senders).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// A map of token buckets, pruned when it grows large.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    buckets: Mutex<HashMap<[u8; 16], Bucket>>,
    rate: f64,
    burst: f64,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

const MAX_TRACKED: usize = 100_000;

impl RateLimiter {
    pub(crate) fn new(rate_per_second: u32, burst: u32) -> Self {
        Self::with_rate(f64::from(rate_per_second), burst)
    }

    /// Buckets refilled at `rate` tokens a second (a fraction for hourly limits).
    pub(crate) fn with_rate(rate: f64, burst: u32) -> Self {
        Self {
            buckets: Mutex::new(HashMap::new()),
            rate,
            burst: f64::from(burst.max(1)),
        }
    }

    /// Whether `key`'s bucket is empty now (takes nothing).
    pub(crate) fn exhausted(&self, key: [u8; 16]) -> bool {
        let buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        buckets.get(&key).is_some_and(|b| {
            b.tokens + self.rate * Instant::now().duration_since(b.at).as_secs_f64() < 1.0
        })
    }

    /// Takes one token for `key`; false when the bucket is empty.
    pub(crate) fn allow(&self, key: [u8; 16]) -> bool {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_TRACKED {
            // Full buckets carry no information; dropping them forgets nobody's debt.
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, b| b.tokens + rate * now.duration_since(b.at).as_secs_f64() < burst);
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let refill = self.rate * now.duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + refill).min(self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}
