//! `[[objectives]]` in a scenario: objectives measured besides the
//! system's own, so that a scenario can compare policies on a metric the
//! system does not declare (an executor-derived one such as
//! `cross_zone_bytes`, `cache_hit` or `bytes_sent`, or any metric the nodes
//! record).

use serde::Deserialize;

use crate::model::{Aggregate, Direction, Objective};
use crate::sim::scenario::{Scenario, ScenarioError};

/// `[[objectives]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectiveSpec {
    /// The objective's name (unique among the system's and the scenario's).
    pub name: String,
    /// The metric.
    pub metric: String,
    /// `mean`, `p50`, `p99`, `p999`, `max`, `rate` or `count`.
    pub aggregate: Aggregate,
    /// `minimize` or `maximize`.
    pub direction: Direction,
    /// Weight when objectives are combined (default 1).
    #[serde(default = "unit")]
    pub weight: f64,
}

fn unit() -> f64 {
    1.0
}

impl Scenario {
    /// The file's `[[objectives]]`, checked against the system's own
    /// objective names (`declared`): names must be new and non-empty.
    pub fn extra_objectives(
        &self,
        declared: &[Objective],
    ) -> Result<Vec<Objective>, ScenarioError> {
        let mut out: Vec<Objective> = Vec::new();
        for o in &self.objectives {
            if o.name.trim().is_empty() || o.metric.trim().is_empty() {
                return Err(self.invalid("objectives", "`name` and `metric` must not be empty"));
            }
            if declared.iter().chain(&out).any(|d| d.name == o.name) {
                return Err(self.invalid(
                    "objectives.name",
                    format!(
                        "an objective named `{}` exists already: give another name",
                        o.name
                    ),
                ));
            }
            if !(o.weight.is_finite() && o.weight >= 0.0) {
                return Err(self.invalid(
                    "objectives.weight",
                    format!("{} must be a number ≥ 0", o.weight),
                ));
            }
            let mut objective = Objective::new(&o.name, &o.metric, o.aggregate, o.direction);
            objective.weight = o.weight;
            out.push(objective);
        }
        Ok(out)
    }
}
