//! Objectives and constraints: what executors measure and the resolver optimises.
//!
//! These are declarations only. The explorer ignores them; the simulator and
//! the live runtime compute them from the metrics nodes record.

use serde::{Deserialize, Serialize};

/// How samples of a metric are summarised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregate {
    /// Arithmetic mean.
    Mean,
    /// Median.
    P50,
    /// 99th percentile.
    P99,
    /// 99.9th percentile.
    P999,
    /// Largest sample.
    Max,
    /// Samples (or their sum, for byte counters) per second.
    Rate,
    /// Number of samples.
    Count,
    /// Fraction of samples at most a threshold (0 to 1), e.g. the share of
    /// reads answered within 1 s. The threshold is in millionths of the
    /// metric's unit (µs for a latency in seconds), so the aggregate stays
    /// `Copy`, `Eq` and `Hash`; build it with [`Aggregate::fraction_within`]
    /// or [`Aggregate::fraction_at_most`].
    FractionAtMost(u64),
}

/// Millionths of a metric unit per unit: the resolution of a
/// [`Aggregate::FractionAtMost`] threshold (and of the simulator's histograms).
pub const AGGREGATE_SCALE: f64 = 1e6;

impl Aggregate {
    /// The fraction of samples at most `threshold` (in the metric's unit).
    pub fn fraction_at_most(threshold: f64) -> Self {
        Aggregate::FractionAtMost((threshold.max(0.0) * AGGREGATE_SCALE).round() as u64)
    }

    /// The fraction of latency samples (in seconds) at most `within`.
    pub fn fraction_within(within: std::time::Duration) -> Self {
        Aggregate::FractionAtMost(u64::try_from(within.as_micros()).unwrap_or(u64::MAX))
    }

    /// The threshold of a [`Aggregate::FractionAtMost`], in the metric's unit.
    pub fn threshold(self) -> Option<f64> {
        match self {
            Aggregate::FractionAtMost(millionths) => Some(millionths as f64 / AGGREGATE_SCALE),
            _ => None,
        }
    }
}

impl std::fmt::Display for Aggregate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Aggregate::Mean => f.write_str("mean"),
            Aggregate::P50 => f.write_str("p50"),
            Aggregate::P99 => f.write_str("p99"),
            Aggregate::P999 => f.write_str("p99.9"),
            Aggregate::Max => f.write_str("max"),
            Aggregate::Rate => f.write_str("rate"),
            Aggregate::Count => f.write_str("count"),
            Aggregate::FractionAtMost(_) => {
                let t = self.threshold().unwrap_or_default();
                write!(f, "fraction <= {t}")
            }
        }
    }
}

/// Whether larger or smaller is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Smaller is better (latency).
    Minimize,
    /// Larger is better (throughput).
    Maximize,
}

/// A named objective: an aggregate of a metric and a direction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Objective {
    /// Stable name, e.g. `read_latency_p99`.
    pub name: String,
    /// The metric nodes record (or an executor derives, e.g. `bytes_sent`).
    pub metric: String,
    /// How samples are summarised.
    pub aggregate: Aggregate,
    /// Which way is better.
    pub direction: Direction,
    /// Weight when objectives are combined (default 1).
    pub weight: f64,
}

impl Objective {
    /// An objective with weight 1.
    pub fn new(
        name: impl Into<String>,
        metric: impl Into<String>,
        aggregate: Aggregate,
        direction: Direction,
    ) -> Self {
        Objective {
            name: name.into(),
            metric: metric.into(),
            aggregate,
            direction,
            weight: 1.0,
        }
    }

    /// Minimise `aggregate` of `metric`.
    pub fn minimize(
        name: impl Into<String>,
        metric: impl Into<String>,
        aggregate: Aggregate,
    ) -> Self {
        Self::new(name, metric, aggregate, Direction::Minimize)
    }

    /// Maximise `aggregate` of `metric`.
    pub fn maximize(
        name: impl Into<String>,
        metric: impl Into<String>,
        aggregate: Aggregate,
    ) -> Self {
        Self::new(name, metric, aggregate, Direction::Maximize)
    }
}

/// A bound on another metric: `aggregate(metric) <= bound` (or `>=`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Constraint {
    /// Stable name, e.g. `bandwidth_budget`.
    pub name: String,
    /// The metric constrained.
    pub metric: String,
    /// How samples are summarised.
    pub aggregate: Aggregate,
    /// The bound.
    pub bound: f64,
    /// `true` for an upper bound (`<=`), `false` for a lower bound (`>=`).
    pub at_most: bool,
}

impl Constraint {
    /// `aggregate(metric) <= bound`.
    pub fn at_most(
        name: impl Into<String>,
        metric: impl Into<String>,
        aggregate: Aggregate,
        bound: f64,
    ) -> Self {
        Constraint {
            name: name.into(),
            metric: metric.into(),
            aggregate,
            bound,
            at_most: true,
        }
    }

    /// Whether `value` satisfies the bound.
    pub fn satisfied_by(&self, value: f64) -> bool {
        if self.at_most {
            value <= self.bound
        } else {
            value >= self.bound
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_fraction_threshold_is_exact_in_millionths() {
        let within = Aggregate::fraction_within(Duration::from_secs(1));
        assert_eq!(within, Aggregate::FractionAtMost(1_000_000));
        assert_eq!(within, Aggregate::fraction_at_most(1.0));
        assert_eq!(within.threshold(), Some(1.0));
        assert_eq!(Aggregate::P99.threshold(), None);
        assert_eq!(within.to_string(), "fraction <= 1");
        assert_eq!(
            serde_json::to_string(&within).unwrap(),
            r#"{"fraction_at_most":1000000}"#
        );
    }
}
