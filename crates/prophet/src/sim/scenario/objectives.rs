//! `[[objectives]]` and `[[constraints]]` in a scenario: objectives
//! measured and bounds checked besides the system's own, so that a
//! scenario can compare policies on a metric the system does not declare
//! (an executor-derived one such as `cross_zone_bytes`, `cache_hit` or
//! `bytes_sent`, or any metric the nodes record) or hold them to a budget.

use serde::Deserialize;

use crate::model::{Aggregate, Constraint, Direction, Objective};
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

/// `[[constraints]]`: exactly one of `at_most` and `at_least`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConstraintSpec {
    /// The constraint's name (unique among the system's and the scenario's).
    pub name: String,
    /// The metric.
    pub metric: String,
    /// How its samples are summarised.
    pub aggregate: Aggregate,
    /// Upper bound.
    #[serde(default)]
    pub at_most: Option<f64>,
    /// Lower bound.
    #[serde(default)]
    pub at_least: Option<f64>,
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

    /// The file's `[[constraints]]`, checked against the system's own
    /// constraint names (`declared`).
    pub fn extra_constraints(
        &self,
        declared: &[Constraint],
    ) -> Result<Vec<Constraint>, ScenarioError> {
        let mut out: Vec<Constraint> = Vec::new();
        for c in &self.constraints {
            if c.name.trim().is_empty() || c.metric.trim().is_empty() {
                return Err(self.invalid("constraints", "`name` and `metric` must not be empty"));
            }
            if declared.iter().chain(&out).any(|d| d.name == c.name) {
                return Err(self.invalid(
                    "constraints.name",
                    format!(
                        "a constraint named `{}` exists already: give another name",
                        c.name
                    ),
                ));
            }
            let (bound, at_most) = match (c.at_most, c.at_least) {
                (Some(b), None) => (b, true),
                (None, Some(b)) => (b, false),
                _ => {
                    return Err(self.invalid(
                        "constraints",
                        format!("`{}`: give exactly one of `at_most` and `at_least`", c.name),
                    ));
                }
            };
            if !bound.is_finite() {
                return Err(self.invalid(
                    "constraints",
                    format!("`{}`: the bound must be a finite number", c.name),
                ));
            }
            out.push(Constraint {
                name: c.name.clone(),
                metric: c.metric.clone(),
                aggregate: c.aggregate,
                bound,
                at_most,
            });
        }
        Ok(out)
    }
}
