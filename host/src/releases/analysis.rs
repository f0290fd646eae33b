//! Canary analysis data: each pod counts requests, 5xx answers and a latency
//! histogram per (app, version) and per second, and flushes completed
//! seconds to the [`bus`](super::bus), where the statistics of every pod add
//! up. The pod holding the analysis lock sums an interval of them and
//! [`judge`]s the canary against stable.

use super::model::Thresholds;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Histogram buckets: bucket `i` holds latencies up to `250 µs × 2^(i/4)`
/// (19 % apart), the last one everything above ~16 s.
pub const BUCKETS: usize = 65;
const BASE_MICROS: f64 = 250.0;

fn bucket_upper_micros(index: usize) -> f64 {
    BASE_MICROS * 2f64.powf(index as f64 / 4.0)
}

fn bucket_of(latency: Duration) -> usize {
    let micros = latency.as_secs_f64() * 1e6;
    if micros <= BASE_MICROS {
        return 0;
    }
    let index = (4.0 * (micros / BASE_MICROS).log2()).ceil();
    (index as usize).min(BUCKETS - 1)
}

/// Requests, 5xx answers and latencies of one (app, version) over some time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    pub requests: u64,
    pub errors: u64,
    pub latency: [u64; BUCKETS],
}

impl Default for Stats {
    fn default() -> Self {
        Self { requests: 0, errors: 0, latency: [0; BUCKETS] }
    }
}

impl Stats {
    pub fn record(&mut self, error: bool, latency: Duration) {
        self.requests += 1;
        self.errors += u64::from(error);
        self.latency[bucket_of(latency)] += 1;
    }

    pub fn add(&mut self, other: &Stats) {
        self.requests += other.requests;
        self.errors += other.errors;
        for (mine, theirs) in self.latency.iter_mut().zip(other.latency.iter()) {
            *mine += theirs;
        }
    }

    /// The upper bound of the bucket holding the 95th percentile, in ms.
    pub fn p95_ms(&self) -> Option<f64> {
        let total: u64 = self.latency.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = total - total / 20; // the ceil(0.95 × total)-th latency, 1-based
        let mut seen = 0;
        for (index, count) in self.latency.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Some(bucket_upper_micros(index) / 1000.0);
            }
        }
        None
    }

    pub fn error_rate(&self) -> f64 {
        if self.requests == 0 { 0.0 } else { self.errors as f64 / self.requests as f64 }
    }

    pub fn summary(&self) -> Summary {
        Summary { requests: self.requests, errors: self.errors, error_rate: self.error_rate(), p95_ms: self.p95_ms() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub requests: u64,
    pub errors: u64,
    pub error_rate: f64,
    pub p95_ms: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Too little canary traffic: neither pass nor fail.
    Waiting,
    Pass,
    Fail,
}

/// One judgement of a canary, as stored with the release and shown by `status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub outcome: Outcome,
    pub reason: String,
    pub canary: Summary,
    pub stable: Summary,
    /// The judged window, in Unix seconds (inclusive).
    pub window: [i64; 2],
}

/// Judges `canary` against `stable` over one interval.
pub fn judge(thresholds: &Thresholds, canary: &Stats, stable: &Stats) -> (Outcome, String) {
    if canary.requests < thresholds.min_requests {
        return (
            Outcome::Waiting,
            format!("{} canary requests, {} needed for a verdict", canary.requests, thresholds.min_requests),
        );
    }
    let rate = canary.error_rate();
    if rate > thresholds.max_error_rate {
        return (
            Outcome::Fail,
            format!(
                "canary error rate {:.1} % ({} of {}) is above {:.1} %",
                rate * 100.0,
                canary.errors,
                canary.requests,
                thresholds.max_error_rate * 100.0
            ),
        );
    }
    let floor = f64::from(thresholds.latency_floor_ms);
    if stable.requests >= thresholds.min_requests
        && let (Some(canary_p95), Some(stable_p95)) = (canary.p95_ms(), stable.p95_ms())
    {
        let ratio = canary_p95.max(floor) / stable_p95.max(floor);
        if ratio > thresholds.max_p95_ratio {
            return (
                Outcome::Fail,
                format!(
                    "canary p95 {canary_p95:.1} ms is {ratio:.2}× stable's {stable_p95:.1} ms (limit {:.2}×)",
                    thresholds.max_p95_ratio
                ),
            );
        }
    }
    (Outcome::Pass, format!("error rate {:.2} % over {} requests, p95 within limits", rate * 100.0, canary.requests))
}

/// (app, version, Unix second).
pub type StatsKey = (String, String, i64);

/// This pod's statistics not yet flushed to the bus.
#[derive(Default)]
pub struct Recorder {
    pending: Mutex<HashMap<StatsKey, Stats>>,
}

impl Recorder {
    pub fn record(&self, app: &str, version: &str, second: i64, error: bool, latency: Duration) {
        let mut pending = self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let key = (app.to_string(), version.to_string(), second);
        pending.entry(key).or_default().record(error, latency);
    }

    /// Takes the seconds before `before`: those are complete.
    pub fn take_complete(&self, before: i64) -> Vec<(StatsKey, Stats)> {
        let mut pending = self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let keys: Vec<StatsKey> = pending.keys().filter(|(_, _, second)| *second < before).cloned().collect();
        keys.into_iter().filter_map(|key| pending.remove(&key).map(|stats| (key, stats))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(requests: u64, errors: u64, latency_ms: u64) -> Stats {
        let mut stats = Stats::default();
        for i in 0..requests {
            stats.record(i < errors, Duration::from_millis(latency_ms));
        }
        stats
    }

    #[test]
    fn p95_is_the_bucket_bound_above_the_95th_latency() {
        let mut s = stats(95, 0, 2);
        s.add(&stats(5, 0, 400));
        let p95 = s.p95_ms().expect("data");
        assert!((2.0..2.4).contains(&p95), "{p95}");
        s.add(&stats(1, 0, 400));
        assert!(s.p95_ms().expect("data") >= 400.0);
        assert_eq!(Stats::default().p95_ms(), None);
        assert_eq!(bucket_of(Duration::from_secs(3600)), BUCKETS - 1);
    }

    #[test]
    fn verdicts() {
        let t = Thresholds {
            interval_s: 1,
            max_error_rate: 0.05,
            max_p95_ratio: 1.5,
            min_requests: 20,
            latency_floor_ms: 5,
        };
        assert_eq!(judge(&t, &stats(19, 19, 1), &stats(100, 0, 1)).0, Outcome::Waiting);
        assert_eq!(judge(&t, &stats(20, 1, 1), &stats(100, 0, 1)).0, Outcome::Pass);
        let (outcome, reason) = judge(&t, &stats(20, 2, 1), &stats(100, 0, 1));
        assert_eq!(outcome, Outcome::Fail);
        assert!(reason.contains("error rate 10.0 %"), "{reason}");
        assert_eq!(judge(&t, &stats(20, 0, 100), &stats(100, 0, 10)).0, Outcome::Fail);
        // Under the floor, 3× slower is still noise.
        assert_eq!(judge(&t, &stats(20, 0, 3), &stats(100, 0, 1)).0, Outcome::Pass);
        // Without enough stable traffic, latency is not compared.
        assert_eq!(judge(&t, &stats(20, 0, 100), &stats(5, 0, 10)).0, Outcome::Pass);
    }

    #[test]
    fn recorder_hands_over_complete_seconds_once() {
        let recorder = Recorder::default();
        recorder.record("a", "1", 10, false, Duration::from_millis(1));
        recorder.record("a", "1", 10, true, Duration::from_millis(1));
        recorder.record("a", "1", 11, false, Duration::from_millis(1));
        let taken = recorder.take_complete(11);
        assert_eq!(taken.len(), 1);
        assert_eq!((taken[0].1.requests, taken[0].1.errors), (2, 1));
        assert!(recorder.take_complete(11).is_empty());
        assert_eq!(recorder.take_complete(12).len(), 1);
    }
}
