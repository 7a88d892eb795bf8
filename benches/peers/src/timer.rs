//! A median timer: short operations are timed in batches long enough for the clock, long ones
//! one call per sample; each figure is the median of the samples, so a neighbour's burst on a
//! shared machine moves it little.

use std::time::{Duration, Instant};

/// Time spent on one figure (after warm-up), and the sample count bounds.
const BUDGET: Duration = Duration::from_millis(400);
const MIN_SAMPLES: usize = 7;
const MAX_SAMPLES: usize = 301;
/// A batch of calls is made at least this long, so the clock's own cost is negligible.
const MIN_BATCH_TIME: Duration = Duration::from_micros(40);

/// Median time per call of `f`.
pub fn median(mut f: impl FnMut()) -> Duration {
    let batch = batch_size(&mut f);
    let started = Instant::now();
    let mut samples = Vec::new();
    while samples.len() < MIN_SAMPLES || (samples.len() < MAX_SAMPLES && started.elapsed() < BUDGET)
    {
        let t = Instant::now();
        for _ in 0..batch {
            f();
        }
        samples.push(t.elapsed() / batch);
    }
    middle(samples)
}

/// Median time of `op` alone, each call on a fresh input from the untimed `setup`.
pub fn median_with<T, U>(mut setup: impl FnMut() -> T, mut op: impl FnMut(T) -> U) -> Duration {
    std::hint::black_box(op(setup()));
    let started = Instant::now();
    let mut samples = Vec::new();
    while samples.len() < MIN_SAMPLES || (samples.len() < MAX_SAMPLES && started.elapsed() < BUDGET)
    {
        let input = setup();
        let t = Instant::now();
        let out = op(input);
        samples.push(t.elapsed());
        drop(std::hint::black_box(out));
    }
    middle(samples)
}

/// Median of samples already taken by the caller (e.g. interleaved operations).
pub fn middle(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

/// Calls per timed batch, found while warming up.
fn batch_size(f: &mut impl FnMut()) -> u32 {
    let mut n = 1u32;
    loop {
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        if t.elapsed() >= MIN_BATCH_TIME || n >= 1 << 16 {
            return n;
        }
        n *= 2;
    }
}

/// Repeats `round` (which pushes its own timed samples) within the budget.
pub fn rounds(mut round: impl FnMut()) {
    round();
    let started = Instant::now();
    let mut n = 0;
    // Rounds are the slow, noisy operations (membership changes): take a few more.
    while n < 2 * MIN_SAMPLES || (n < MAX_SAMPLES && started.elapsed() < BUDGET) {
        round();
        n += 1;
    }
}

/// Times one call.
pub fn time<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t = Instant::now();
    let out = f();
    (out, t.elapsed())
}
