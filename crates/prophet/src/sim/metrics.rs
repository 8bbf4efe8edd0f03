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

use crate::model::{AGGREGATE_SCALE, Aggregate, Constraint, Direction, Objective};

/// Histogram units per metric unit: values are stored in millionths (µs for
/// a latency in seconds), the unit of a `FractionAtMost` threshold.
const SCALE: f64 = AGGREGATE_SCALE;

/// Thresholds (millionths) counted exactly per metric; a system declares a
/// handful, and each costs a comparison per sample.
pub const THRESHOLDS_MAX: usize = 16;

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
    /// `(threshold, samples at most it)` for each declared threshold: the
    /// histogram's buckets would blur a sample 0.1% above a threshold into it.
    at_most: Vec<(u64, u64)>,
}

impl Series {
    fn new(cap: usize, thresholds: &[u64]) -> Self {
        Series {
            // Up to 10^6 metric units (11.6 days of latency) at 3 significant digits.
            hist: Histogram::new_with_bounds(1, 1_000_000_000_000, 3).expect("valid bounds"),
            count: 0,
            sum: 0.0,
            max: f64::NEG_INFINITY,
            samples: Vec::new(),
            cap,
            at_most: thresholds.iter().map(|&t| (t, 0)).collect(),
        }
    }

    fn add(&mut self, at_secs: f64, value: f64) {
        self.count += 1;
        self.sum += value;
        self.max = self.max.max(value);
        let scaled = (value.max(0.0) * SCALE).round() as u64;
        self.hist.saturating_record(scaled);
        for (threshold, count) in &mut self.at_most {
            *count += u64::from(scaled <= *threshold);
        }
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

    /// Fraction of samples at most `millionths` of the unit: exact when the
    /// threshold was declared before the samples came
    /// ([`Metrics::count_at_most`]), else from the histogram (within its 0.1%).
    pub fn fraction_at_most_millionths(&self, millionths: u64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        match self.at_most.iter().find(|(t, _)| *t == millionths) {
            Some(&(_, under)) => under as f64 / self.count as f64,
            None => self.hist.count_between(0, millionths) as f64 / self.hist.len() as f64,
        }
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
    /// The aggregate `a`; `None` for a fraction under a threshold, which
    /// needs the samples ([`Metrics::aggregate`]).
    pub fn get(&self, a: Aggregate) -> Option<f64> {
        Some(match a {
            Aggregate::Mean => self.mean,
            Aggregate::P50 => self.p50,
            Aggregate::P99 => self.p99,
            Aggregate::P999 => self.p999,
            Aggregate::Max => self.max,
            Aggregate::Rate => self.rate,
            Aggregate::Count => self.count as f64,
            Aggregate::FractionAtMost(_) => return None,
        })
    }
}

/// Every metric of a run.
#[derive(Clone, Debug)]
pub struct Metrics {
    series: BTreeMap<String, Series>,
    spans: std::collections::BTreeSet<String>,
    cap: usize,
    /// Keeps nothing (a run whose caller reads only its observations, such
    /// as the resolver's rollouts: a histogram is 640 KB to allocate).
    off: bool,
    /// Thresholds counted exactly, by metric.
    thresholds: BTreeMap<String, Vec<u64>>,
}

impl Metrics {
    /// No samples yet; at most `cap` plot samples kept per metric.
    pub fn new(cap: usize) -> Self {
        Metrics {
            series: BTreeMap::new(),
            spans: Default::default(),
            cap,
            off: false,
            thresholds: BTreeMap::new(),
        }
    }

    /// Metrics that keep nothing.
    pub fn off() -> Self {
        Metrics {
            off: true,
            ..Metrics::new(0)
        }
    }

    /// Counts exactly the samples of `metric` at most `millionths` of its
    /// unit (at most [`THRESHOLDS_MAX`] per metric; beyond, the fraction
    /// comes from the histogram). Call before the first sample.
    pub fn count_at_most(&mut self, metric: &str, millionths: u64) {
        debug_assert!(!self.series.contains_key(metric), "declared after samples");
        let declared = self.thresholds.entry(metric.to_string()).or_default();
        if declared.len() < THRESHOLDS_MAX && !declared.contains(&millionths) {
            declared.push(millionths);
        }
    }

    /// Counts exactly every threshold `declared` objectives and constraints use.
    pub fn count_thresholds_of(&mut self, objectives: &[Objective], constraints: &[Constraint]) {
        let aggregates = objectives
            .iter()
            .map(|o| (&o.metric, o.aggregate))
            .chain(constraints.iter().map(|c| (&c.metric, c.aggregate)));
        for (metric, aggregate) in aggregates {
            if let Aggregate::FractionAtMost(millionths) = aggregate {
                self.count_at_most(metric, millionths);
            }
        }
    }

    /// The value of `aggregate` of `metric`, given the run's summaries;
    /// `None` when the metric had no samples.
    pub fn aggregate(
        &self,
        summaries: &BTreeMap<String, Summary>,
        metric: &str,
        aggregate: Aggregate,
    ) -> Option<f64> {
        match aggregate {
            Aggregate::FractionAtMost(millionths) => self
                .get(metric)
                .map(|s| s.fraction_at_most_millionths(millionths)),
            other => summaries.get(metric).and_then(|s| s.get(other)),
        }
    }

    /// Adds a recorded sample.
    pub fn record(&mut self, metric: &str, at_secs: f64, value: f64) {
        if self.off {
            return;
        }
        self.series_mut(metric).add(at_secs, value);
    }

    /// Adds a span's duration (seconds).
    pub fn span(&mut self, metric: &str, at_secs: f64, secs: f64) {
        if self.off {
            return;
        }
        if !self.spans.contains(metric) {
            self.spans.insert(metric.to_string());
        }
        self.series_mut(metric).add(at_secs, secs);
    }

    fn series_mut(&mut self, metric: &str) -> &mut Series {
        if !self.series.contains_key(metric) {
            let thresholds = self.thresholds.get(metric).map_or(&[][..], Vec::as_slice);
            let series = Series::new(self.cap, thresholds);
            self.series.insert(metric.to_string(), series);
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

/// Computes objectives from a run's metrics and their summaries.
pub fn objectives(
    declared: &[Objective],
    metrics: &Metrics,
    summaries: &BTreeMap<String, Summary>,
) -> Vec<ObjectiveValue> {
    declared
        .iter()
        .map(|o| ObjectiveValue {
            name: o.name.clone(),
            metric: o.metric.clone(),
            aggregate: o.aggregate,
            direction: o.direction,
            value: metrics.aggregate(summaries, &o.metric, o.aggregate),
        })
        .collect()
}

/// Computes constraints from a run's metrics and their summaries.
pub fn constraints(
    declared: &[Constraint],
    metrics: &Metrics,
    summaries: &BTreeMap<String, Summary>,
) -> Vec<ConstraintValue> {
    declared
        .iter()
        .map(|c| {
            let value = metrics.aggregate(summaries, &c.metric, c.aggregate);
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
    fn fraction_under_a_threshold_is_exact_on_declared_thresholds() {
        let within_1s = Objective::maximize(
            "within_1s",
            "lat",
            Aggregate::fraction_within(std::time::Duration::from_secs(1)),
        );
        let mut m = Metrics::new(10);
        m.count_thresholds_of(std::slice::from_ref(&within_1s), &[]);
        // 1.0005 s shares a histogram bucket with 1 s (3 significant
        // digits): only the exact count leaves it out.
        for secs in [0.2, 0.999_999, 1.0, 1.000_5, 1.001, 3.0, 0.5, 0.7] {
            m.span("lat", 0.0, secs);
        }
        let summaries = m.summaries(1.0);
        let values = objectives(std::slice::from_ref(&within_1s), &m, &summaries);
        assert_eq!(values[0].value, Some(5.0 / 8.0));
        let lat = m.get("lat").unwrap();
        assert_eq!(lat.fraction_at_most_millionths(1_000_000), 0.625);
        // An undeclared threshold comes from the histogram (here exact too).
        assert_eq!(lat.fraction_at_most_millionths(100_000), 0.0);
        assert_eq!(lat.fraction_at_most_millionths(5_000_000), 1.0);
        // No samples: no value, as for every aggregate.
        let none = objectives(
            &[Objective::maximize(
                "x",
                "other",
                Aggregate::fraction_at_most(1.0),
            )],
            &m,
            &summaries,
        );
        assert_eq!(none[0].value, None);
        // Across seeds it is an estimate like any other objective.
        let e = Estimate::from_values(&[0.625, 0.875]).unwrap();
        assert_eq!(e.mean, 0.75);
        assert!((e.ci95 - 12.706 * 0.125).abs() < 1e-9, "{}", e.ci95);
    }

    #[test]
    fn confidence_interval_of_known_values() {
        let e = Estimate::from_values(&[1.0, 2.0, 3.0]).unwrap();
        assert_eq!(e.mean, 2.0);
        // sd = 1, n = 3, t(2) = 4.303: 4.303 / sqrt(3).
        assert!((e.ci95 - 4.303 / 3f64.sqrt()).abs() < 1e-9);
    }
}
