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
