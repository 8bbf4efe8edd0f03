//! Metrics of a simulated run, the declared objectives computed from them,
//! and estimates over several seeds.
//!
//! Owns the aggregation only: samples arrive from the event loop (records,
//! span durations, executor-derived counters); percentiles come from an
//! hdrhistogram at 3 significant digits, so p99 of a latency is exact to
//! 0.1%.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::model::{Aggregate, Constraint, Direction, Objective};

/// Histogram units per metric unit: values are stored in millionths (µs for
/// a latency in seconds).
const SCALE: f64 = 1e6;

/// Samples of one metric.
#[derive(Clone, Debug)]
pub struct Series {
    hist: Histogram<u64>,
    count: u64,
    sum: f64,
    max: f64,
    /// `(time s, value)` samples kept for plots, at most `cap`.
    samples: Vec<(f32, f32)>,
    cap: usize,
}

impl Series {
    fn new(cap: usize) -> Self {
        Series {
            // Up to 10^6 metric units (11.6 days of latency) at 3 significant digits.
            hist: Histogram::new_with_bounds(1, 1_000_000_000_000, 3).expect("valid bounds"),
            count: 0,
            sum: 0.0,
            max: f64::NEG_INFINITY,
            samples: Vec::new(),
            cap,
        }
    }

    fn add(&mut self, at_secs: f64, value: f64) {
        self.count += 1;
        self.sum += value;
        self.max = self.max.max(value);
        let scaled = (value.max(0.0) * SCALE).round() as u64;
        self.hist.saturating_record(scaled);
        if self.samples.len() < self.cap {
            self.samples.push((at_secs as f32, value as f32));
        }
    }

    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Fraction of samples at most `value`.
    pub fn fraction_at_most(&self, value: f64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let bound = (value.max(0.0) * SCALE).round() as u64;
        self.hist.count_between(0, bound) as f64 / self.hist.len() as f64
    }

    /// The value at quantile `q` (0..=1).
    pub fn quantile(&self, q: f64) -> f64 {
        self.hist.value_at_quantile(q) as f64 / SCALE
    }

    /// Points of the empirical CDF: `(value, fraction ≤ value)`, at most `points`.
    pub fn cdf(&self, points: usize) -> Vec<(f64, f64)> {
        (0..=points)
            .map(|i| {
                let q = i as f64 / points.max(1) as f64;
                (self.quantile(q), q)
            })
            .collect()
    }

    /// The samples kept for plots, `(time s, value)`.
    pub fn samples(&self) -> &[(f32, f32)] {
        &self.samples
    }

    /// The summary over `elapsed_secs` of run time.
    pub fn summary(&self, elapsed_secs: f64, is_span: bool) -> Summary {
        let rate_base = if is_span { self.count as f64 } else { self.sum };
        Summary {
            count: self.count,
            mean: if self.count == 0 {
                0.0
            } else {
                self.sum / self.count as f64
            },
            p50: self.quantile(0.5),
            p99: self.quantile(0.99),
            p999: self.quantile(0.999),
            max: if self.count == 0 { 0.0 } else { self.max },
            sum: self.sum,
            rate: rate_base / elapsed_secs.max(1e-9),
        }
    }
}

/// The aggregates of one metric.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Samples.
    pub count: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest sample.
    pub max: f64,
    /// Sum of samples.
    pub sum: f64,
    /// For spans, samples per second; for records, sum per second.
    pub rate: f64,
}

impl Summary {
    /// The aggregate `a`.
    pub fn get(&self, a: Aggregate) -> f64 {
        match a {
            Aggregate::Mean => self.mean,
            Aggregate::P50 => self.p50,
            Aggregate::P99 => self.p99,
            Aggregate::P999 => self.p999,
            Aggregate::Max => self.max,
            Aggregate::Rate => self.rate,
            Aggregate::Count => self.count as f64,
        }
    }
}

/// Every metric of a run.
#[derive(Clone, Debug)]
pub struct Metrics {
    series: BTreeMap<String, Series>,
    spans: std::collections::BTreeSet<String>,
    cap: usize,
}

impl Metrics {
    /// No samples yet; at most `cap` plot samples kept per metric.
    pub fn new(cap: usize) -> Self {
        Metrics {
            series: BTreeMap::new(),
            spans: Default::default(),
            cap,
        }
    }

    /// Adds a recorded sample.
    pub fn record(&mut self, metric: &str, at_secs: f64, value: f64) {
        self.series_mut(metric).add(at_secs, value);
    }

    /// Adds a span's duration (seconds).
    pub fn span(&mut self, metric: &str, at_secs: f64, secs: f64) {
        if !self.spans.contains(metric) {
            self.spans.insert(metric.to_string());
        }
        self.series_mut(metric).add(at_secs, secs);
    }

    fn series_mut(&mut self, metric: &str) -> &mut Series {
        if !self.series.contains_key(metric) {
            self.series
                .insert(metric.to_string(), Series::new(self.cap));
        }
        self.series.get_mut(metric).expect("inserted above")
    }

    /// The samples of `metric`, if any were taken.
    pub fn get(&self, metric: &str) -> Option<&Series> {
        self.series.get(metric)
    }

    /// Every metric's summary.
    pub fn summaries(&self, elapsed_secs: f64) -> BTreeMap<String, Summary> {
        self.series
            .iter()
            .map(|(k, s)| (k.clone(), s.summary(elapsed_secs, self.spans.contains(k))))
            .collect()
    }
}

/// An objective's value in one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ObjectiveValue {
    /// The objective's name.
    pub name: String,
    /// Its metric.
    pub metric: String,
    /// Its aggregate.
    pub aggregate: Aggregate,
    /// Which way is better.
    pub direction: Direction,
    /// The value; `None` when the metric had no samples.
    pub value: Option<f64>,
}

/// A constraint's value in one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConstraintValue {
    /// The constraint's name.
    pub name: String,
    /// The value measured (`None`: no samples, counted as satisfied).
    pub value: Option<f64>,
    /// The bound.
    pub bound: f64,
    /// Whether the bound held.
    pub satisfied: bool,
}

/// Computes objectives from summaries.
pub fn objectives(
    declared: &[Objective],
    summaries: &BTreeMap<String, Summary>,
) -> Vec<ObjectiveValue> {
    declared
        .iter()
        .map(|o| ObjectiveValue {
            name: o.name.clone(),
            metric: o.metric.clone(),
            aggregate: o.aggregate,
            direction: o.direction,
            value: summaries.get(&o.metric).map(|s| s.get(o.aggregate)),
        })
        .collect()
}

/// Computes constraints from summaries.
pub fn constraints(
    declared: &[Constraint],
    summaries: &BTreeMap<String, Summary>,
) -> Vec<ConstraintValue> {
    declared
        .iter()
        .map(|c| {
            let value = summaries.get(&c.metric).map(|s| s.get(c.aggregate));
            ConstraintValue {
                name: c.name.clone(),
                value,
                bound: c.bound,
                satisfied: value.is_none_or(|v| c.satisfied_by(v)),
            }
        })
        .collect()
}

/// A quantity estimated over several seeds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// Number of runs with a value.
    pub n: usize,
    /// Mean over runs.
    pub mean: f64,
    /// Half-width of the 95% confidence interval of the mean (Student's t);
    /// 0 for one run.
    pub ci95: f64,
    /// Smallest run value.
    pub min: f64,
    /// Largest run value.
    pub max: f64,
}

/// Two-sided 95% Student t quantiles for 1..=30 degrees of freedom.
const T95: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
    2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
    2.052, 2.048, 2.045, 2.042,
];

impl Estimate {
    /// The estimate from per-run values.
    pub fn from_values(values: &[f64]) -> Option<Estimate> {
        let n = values.len();
        if n == 0 {
            return None;
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let ci95 = if n < 2 {
            0.0
        } else {
            let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            let t = T95.get(n - 2).copied().unwrap_or(1.96);
            t * (var / n as f64).sqrt()
        };
        Some(Estimate {
            n,
            mean,
            ci95,
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_rates() {
        let mut m = Metrics::new(10);
        for i in 1..=1000 {
            m.span("lat", 0.0, i as f64 / 1000.0);
        }
        let s = m.summaries(10.0)["lat"];
        assert_eq!(s.count, 1000);
        assert!((s.mean - 0.5005).abs() < 1e-9);
        assert!((s.p99 - 0.990).abs() < 0.001, "{}", s.p99);
        assert!((s.rate - 100.0).abs() < 1e-9);
        let f = m.get("lat").unwrap().fraction_at_most(0.25);
        assert!((f - 0.25).abs() < 0.002, "{f}");
        assert_eq!(m.get("lat").unwrap().samples().len(), 10);
    }

    #[test]
    fn confidence_interval_of_known_values() {
        let e = Estimate::from_values(&[1.0, 2.0, 3.0]).unwrap();
        assert_eq!(e.mean, 2.0);
        // sd = 1, n = 3, t(2) = 4.303: 4.303 / sqrt(3).
        assert!((e.ci95 - 4.303 / 3f64.sqrt()).abs() < 1e-9);
    }
}
