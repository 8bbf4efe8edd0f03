//! One measured quantity over time: a window of its recent values, their
//! quantiles with distribution-free intervals, and a change detector that
//! forgets the old regime when the quantity shifts.
//!
//! The window holds the last [`WINDOW`] values. Change detection is a
//! two-sided CUSUM (Page's test) on the logarithm of each value,
//! standardised against the window before it: each step adds the
//! standardised value clamped to ±[`Z_CAP`] minus the slack [`SLACK`], and
//! an alarm at [`ALARM`] means a sustained shift, up or down. Clamping makes
//! one outlier (a heavy tail's draw) unable to raise an alarm alone: a
//! shift needs at least three extreme values in a row, which is how fast a
//! replica turning five times slower is noticed. On an alarm the window
//! keeps only the values since the CUSUM last stood at zero (the new
//! regime), so its quantiles describe the quantity as it is now.

use std::collections::VecDeque;

use serde::Serialize;

/// Values kept per stream.
pub const WINDOW: usize = 256;
/// Values needed before change detection runs (a baseline to compare with).
pub const BASELINE_MIN: usize = 8;
/// The clamp on one standardised value's contribution.
pub const Z_CAP: f64 = 3.0;
/// The CUSUM's slack per step, in standard deviations.
pub const SLACK: f64 = 0.5;
/// The CUSUM's alarm threshold: three values at the clamp in a row.
pub const ALARM: f64 = 6.0;
/// The least standard deviation (of the logarithm) a baseline is given, so
/// a constant quantity still has a scale: a 5% step.
pub const SD_LOG_MIN: f64 = 0.05;
/// Added before taking a logarithm (values are seconds, so 1 µs).
const LOG_FLOOR: f64 = 1e-6;
/// The normal quantile of a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;

/// A quantile estimate with its 95% interval (order statistics of the
/// window: distribution-free, wide when the window is short).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Quantile {
    /// The estimate.
    pub value: f64,
    /// The interval's lower end.
    pub lo: f64,
    /// The interval's upper end.
    pub hi: f64,
}

/// What a stream says of itself.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StreamSummary {
    /// Values ever observed.
    pub count: u64,
    /// Values in the window.
    pub window: usize,
    /// Mean of the window.
    pub mean: f64,
    /// Median.
    pub p50: Quantile,
    /// 90th percentile.
    pub p90: Quantile,
    /// 99th percentile.
    pub p99: Quantile,
    /// Seconds since the last value (at the summary's time).
    pub age: f64,
    /// Seconds the window spans, from its oldest value to the summary's time.
    pub span: f64,
    /// Shifts detected.
    pub changes: u32,
    /// When the last shift was detected (seconds), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed_at: Option<f64>,
}

/// A stream of non-negative values (seconds, or counts).
#[derive(Clone, Debug, Default)]
pub struct Stream {
    /// `(value, at)`, oldest first.
    window: VecDeque<(f64, f64)>,
    /// Sum and sum of squares of `ln(value + floor)` over the window.
    sum: f64,
    sum_sq: f64,
    count: u64,
    up: f64,
    down: f64,
    /// Values since `up` (`down`) last stood at 0.
    up_run: usize,
    down_run: usize,
    changes: u32,
    changed_at: Option<f64>,
}

fn log_of(value: f64) -> f64 {
    (value.max(0.0) + LOG_FLOOR).ln()
}

impl Stream {
    /// An empty stream.
    pub fn new() -> Self {
        Stream::default()
    }

    /// Values ever observed.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The window's values, oldest first.
    pub fn values(&self) -> impl ExactSizeIterator<Item = f64> + '_ {
        self.window.iter().map(|&(v, _)| v)
    }

    /// When the last value arrived.
    pub fn last_at(&self) -> Option<f64> {
        self.window.back().map(|&(_, at)| at)
    }

    /// Shifts detected so far.
    pub fn changes(&self) -> u32 {
        self.changes
    }

    /// Adds `value` observed at `at` (seconds); returns whether it completed
    /// a shift (the window then holds only the new regime). Non-finite
    /// values are ignored.
    pub fn push(&mut self, value: f64, at: f64) -> bool {
        if !value.is_finite() {
            return false;
        }
        let value = value.max(0.0);
        let x = log_of(value);
        let mut shifted = false;
        let n = self.window.len();
        if n >= BASELINE_MIN {
            let mean = self.sum / n as f64;
            let var = (self.sum_sq / n as f64 - mean * mean).max(0.0);
            let z = ((x - mean) / var.sqrt().max(SD_LOG_MIN)).clamp(-Z_CAP, Z_CAP);
            self.up = (self.up + z - SLACK).max(0.0);
            self.down = (self.down - z - SLACK).max(0.0);
            self.up_run = if self.up > 0.0 { self.up_run + 1 } else { 0 };
            self.down_run = if self.down > 0.0 {
                self.down_run + 1
            } else {
                0
            };
            shifted = self.up > ALARM || self.down > ALARM;
        }
        if self.window.len() == WINDOW
            && let Some((old, _)) = self.window.pop_front()
        {
            let y = log_of(old);
            self.sum -= y;
            self.sum_sq -= y * y;
        }
        self.window.push_back((value, at));
        self.sum += x;
        self.sum_sq += x * x;
        self.count += 1;
        if shifted {
            let keep = if self.up > ALARM {
                self.up_run
            } else {
                self.down_run
            };
            let drop = self.window.len().saturating_sub(keep.max(1));
            self.window.drain(..drop);
            self.resum();
            self.up = 0.0;
            self.down = 0.0;
            self.up_run = 0;
            self.down_run = 0;
            self.changes += 1;
            self.changed_at = Some(at);
        }
        shifted
    }

    /// Recomputes the sums from the window (after dropping a regime, and so
    /// that rounding never accumulates past one window).
    fn resum(&mut self) {
        self.sum = 0.0;
        self.sum_sq = 0.0;
        for &(v, _) in &self.window {
            let y = log_of(v);
            self.sum += y;
            self.sum_sq += y * y;
        }
    }

    /// The window's mean, if it holds anything.
    pub fn mean(&self) -> Option<f64> {
        if self.window.is_empty() {
            return None;
        }
        Some(self.values().sum::<f64>() / self.window.len() as f64)
    }

    /// The `q` quantile of the window with its 95% interval, if the window
    /// holds anything.
    pub fn quantile(&self, q: f64) -> Option<Quantile> {
        let mut sorted: Vec<f64> = self.values().collect();
        sorted.sort_by(f64::total_cmp);
        quantile_of(&sorted, q)
    }

    /// The stream at time `now` (seconds); `None` while it is empty.
    pub fn summary(&self, now: f64) -> Option<StreamSummary> {
        let mut sorted: Vec<f64> = self.values().collect();
        sorted.sort_by(f64::total_cmp);
        let oldest = self.window.front()?.1;
        Some(StreamSummary {
            count: self.count,
            window: sorted.len(),
            mean: sorted.iter().sum::<f64>() / sorted.len() as f64,
            p50: quantile_of(&sorted, 0.5)?,
            p90: quantile_of(&sorted, 0.9)?,
            p99: quantile_of(&sorted, 0.99)?,
            age: (now - self.last_at()?).max(0.0),
            span: (now - oldest).max(0.0),
            changes: self.changes,
            changed_at: self.changed_at,
        })
    }
}

/// The `q` quantile of `sorted` (nearest rank) and the ranks a binomial
/// 95% interval gives around it.
fn quantile_of(sorted: &[f64], q: f64) -> Option<Quantile> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let q = q.clamp(0.0, 1.0);
    let rank = |r: f64| sorted[(r.ceil().max(1.0) as usize).min(n) - 1];
    let centre = n as f64 * q;
    let half = Z95 * (n as f64 * q * (1.0 - q)).sqrt();
    Some(Quantile {
        value: rank(centre),
        lo: rank((centre - half).floor()),
        hi: rank(centre + half + 1.0),
    })
}

/// A share of events (losses among requests) over the last [`WINDOW`].
#[derive(Clone, Debug, Default)]
pub struct Rate {
    window: VecDeque<bool>,
    hits: usize,
    count: u64,
}

/// A share with its 95% (Wilson) interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Share {
    /// Events in the window that were hits.
    pub hits: usize,
    /// Events in the window.
    pub of: usize,
    /// `hits / of`.
    pub rate: f64,
    /// The interval's lower end.
    pub lo: f64,
    /// The interval's upper end.
    pub hi: f64,
}

impl Rate {
    /// Records one event.
    pub fn push(&mut self, hit: bool) {
        if self.window.len() == WINDOW && self.window.pop_front() == Some(true) {
            self.hits -= 1;
        }
        self.window.push_back(hit);
        self.hits += usize::from(hit);
        self.count += 1;
    }

    /// Forgets all but the last `n` events (when the quantity they go with
    /// shifted, and its earlier regime no longer describes it).
    pub fn keep_last(&mut self, n: usize) {
        while self.window.len() > n {
            if self.window.pop_front() == Some(true) {
                self.hits -= 1;
            }
        }
    }

    /// Events ever recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The share in the window; `None` before any event.
    pub fn share(&self) -> Option<Share> {
        let n = self.window.len();
        if n == 0 {
            return None;
        }
        let (nf, p) = (n as f64, self.hits as f64 / n as f64);
        let z2 = Z95 * Z95;
        let centre = (p + z2 / (2.0 * nf)) / (1.0 + z2 / nf);
        let half = Z95 * (p * (1.0 - p) / nf + z2 / (4.0 * nf * nf)).sqrt() / (1.0 + z2 / nf);
        Some(Share {
            hits: self.hits,
            of: n,
            rate: p,
            lo: (centre - half).max(0.0),
            hi: (centre + half).min(1.0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic spread of values around `centre` (±20%).
    fn jittered(i: usize, centre: f64) -> f64 {
        centre * (0.8 + 0.4 * ((i * 37 % 101) as f64 / 100.0))
    }

    #[test]
    fn quantiles_come_from_the_window_with_intervals_that_hold_them() {
        let mut s = Stream::new();
        // 1..=100 in a scrambled order (a rising sequence is a shift).
        for i in 0..100 {
            s.push((i * 37 % 100 + 1) as f64, i as f64);
        }
        let p50 = s.quantile(0.5).expect("values");
        assert_eq!(p50.value, 50.0);
        assert!(p50.lo <= 50.0 && p50.hi >= 50.0 && p50.hi - p50.lo >= 10.0);
        let p99 = s.quantile(0.99).expect("values");
        assert_eq!(p99.value, 99.0);
        assert_eq!(p99.hi, 100.0);
        let summary = s.summary(100.0).expect("values");
        assert_eq!((summary.count, summary.window), (100, 100));
        assert_eq!(summary.age, 1.0);
        assert_eq!(summary.span, 100.0);
        assert_eq!(summary.mean, 50.5);
        // The window keeps the last WINDOW values only.
        for i in 0..1_000 {
            s.push(7.0, 100.0 + i as f64);
        }
        assert_eq!(s.values().len(), WINDOW);
        assert_eq!(s.quantile(0.99).map(|q| q.value), Some(7.0));
    }

    #[test]
    fn a_five_fold_slowdown_is_noticed_within_three_values_and_the_old_regime_forgotten() {
        let mut s = Stream::new();
        for i in 0..200 {
            assert!(!s.push(jittered(i, 0.001), i as f64), "no shift at {i}");
        }
        let noticed = (200..210)
            .position(|i| s.push(jittered(i, 0.005), i as f64))
            .expect("noticed");
        assert!(noticed < 3, "noticed after {} values", noticed + 1);
        assert_eq!(s.changes(), 1);
        // Only the new regime is left (from where the CUSUM last left 0,
        // which noise may put a value early): its median is the slow one.
        let left: Vec<f64> = s.values().collect();
        assert!(left.len() <= 4, "{left:?}");
        assert!(
            s.quantile(0.5).is_some_and(|q| q.value >= 0.004),
            "{left:?}"
        );
        // And the way back is noticed as fast.
        for i in 210..240 {
            s.push(jittered(i, 0.005), i as f64);
        }
        let back = (240..250)
            .position(|i| s.push(jittered(i, 0.001), i as f64))
            .expect("noticed");
        assert!(back < 3, "recovery noticed after {} values", back + 1);
        assert_eq!(s.changes(), 2);
    }

    #[test]
    fn a_lone_outlier_in_a_steady_stream_is_no_shift() {
        let mut s = Stream::new();
        for i in 0..1_000 {
            let v = if i % 97 == 50 {
                0.5
            } else {
                jittered(i, 0.001)
            };
            s.push(v, i as f64);
        }
        assert_eq!(s.changes(), 0);
        assert_eq!(s.values().len(), WINDOW);
    }

    #[test]
    fn a_rate_has_a_wilson_interval_and_forgets_beyond_its_window() {
        let mut r = Rate::default();
        assert_eq!(r.share(), None);
        for i in 0..100 {
            r.push(i % 10 == 0);
        }
        let share = r.share().expect("events");
        assert_eq!((share.hits, share.of), (10, 100));
        assert!((share.rate - 0.1).abs() < 1e-12);
        assert!(share.lo > 0.04 && share.lo < 0.1 && share.hi > 0.1 && share.hi < 0.18);
        for _ in 0..WINDOW {
            r.push(false);
        }
        assert_eq!(r.share().map(|s| s.hits), Some(0));
        assert_eq!(r.count(), 100 + WINDOW as u64);
    }
}
