//! The decision log: what each decision saw, what the deciding policy
//! expected of every candidate and how likely it was to pick each, what it
//! picked, and later what came of it.
//!
//! A log is a sequence of [`LogLine`]s, written as JSON lines (one object
//! per line, `"type": "decision"` or `"type": "outcome"`): a decision when it
//! is made, its outcome when the executor pairs one with it (an outcome names
//! its decision by [`DecisionRecord::id`]). The simulator and the live
//! runtime write the same format, and `prophet evaluate` reads it back to
//! estimate offline how another policy would have done ([`crate::choice::evaluate`]):
//! that is why every decision carries its propensity and the whole
//! distribution it was drawn from.
//!
//! This module only defines the records and builds them; writing them is
//! the caller's (the library does no I/O).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::choice::policy::Outcome;

/// A policy's expectation of one candidate's cost, with a 95% interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// Expected cost (the unit of the outcome's cost: seconds of latency
    /// unless the protocol reports a `cost` sample).
    pub mean: f64,
    /// Lower end of the 95% interval.
    pub lo: f64,
    /// Upper end of the 95% interval.
    pub hi: f64,
}

/// What a policy can say about a decision before it makes it
/// ([`Policy::explain`](crate::choice::Policy::explain)).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Explanation {
    /// The probability of picking each candidate, in candidate order;
    /// empty when the policy cannot say.
    pub probabilities: Vec<f64>,
    /// The expected cost of each candidate (`None`: nothing known yet), in
    /// candidate order; empty when the policy makes no predictions.
    pub predicted: Vec<Option<Prediction>>,
}

impl Explanation {
    /// Empties both lists, keeping their memory.
    pub fn clear(&mut self) {
        self.probabilities.clear();
        self.predicted.clear();
    }

    /// Every candidate equally likely.
    pub fn uniform(&mut self, candidates: usize) {
        self.probabilities.clear();
        let p = 1.0 / candidates as f64;
        self.probabilities.resize(candidates, p);
    }

    /// Candidate `pick` certain.
    pub fn certain(&mut self, candidates: usize, pick: usize) {
        self.probabilities.clear();
        self.probabilities.resize(candidates, 0.0);
        if let Some(p) = self.probabilities.get_mut(pick) {
            *p = 1.0;
        }
    }
}

/// One decision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    /// The decision's number in its run (decisions of one run are numbered
    /// from 0 in the order they were made); outcomes name it.
    pub id: u64,
    /// The simulation seed (absent live).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Seconds since the run started.
    pub t: f64,
    /// The deciding node.
    pub node: u32,
    /// The choice's stable name.
    pub choice: String,
    /// The name of the policy that decided.
    pub policy: String,
    /// The decision's context, when the protocol gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<u64>,
    /// The candidates' stable keys, in the handler's order.
    pub candidates: Vec<u64>,
    /// The index of the candidate picked.
    pub pick: usize,
    /// The probability with which it was picked (`None`: the policy cannot
    /// say, and the log cannot be used to evaluate other policies).
    pub propensity: Option<f64>,
    /// Every candidate's probability (empty when unknown).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub probabilities: Vec<f64>,
    /// The policy's predicted cost per candidate (empty when it predicts none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub predicted: Vec<Option<Prediction>>,
}

impl crate::choice::PolicyTable {
    /// Resolves a choice and says how: the policy explains `view` into
    /// `scratch` (its buffers are moved into the record), picks, and the
    /// decision is returned as decision `id` of the run with `seed` (absent
    /// live). Explaining draws nothing from `rng`, so the pick is the one
    /// [`Self::choose`] would make.
    pub fn choose_recorded(
        &mut self,
        view: &crate::choice::ChoiceView<'_>,
        rng: &mut dyn rand::RngCore,
        scratch: &mut Explanation,
        id: u64,
        seed: Option<u64>,
    ) -> DecisionRecord {
        self.explain(view, scratch);
        let pick = self.choose(view, rng).min(view.candidates - 1);
        let propensity = scratch.probabilities.get(pick).copied();
        debug_assert!(
            propensity.is_none_or(|p| p > 0.0),
            "policy {} picked candidate {pick} of `{}` after giving it probability 0",
            self.spec(view.name).name(),
            view.name
        );
        DecisionRecord {
            id,
            seed,
            t: view.now.as_secs_f64(),
            node: view.node.0,
            choice: view.name.to_string(),
            policy: self.spec(view.name).name(),
            context: view.context,
            candidates: view.keys.to_vec(),
            pick,
            propensity: propensity.filter(|&p| p > 0.0),
            probabilities: std::mem::take(&mut scratch.probabilities),
            predicted: std::mem::take(&mut scratch.predicted),
        }
    }
}

impl DecisionRecord {
    /// The prediction made for the picked candidate.
    pub fn predicted_pick(&self) -> Option<Prediction> {
        self.predicted.get(self.pick).copied().flatten()
    }
}

/// The observed outcome of a decision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutcomeRecord {
    /// The decision's [`DecisionRecord::id`].
    pub id: u64,
    /// The simulation seed (absent live).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Seconds since the run started, when the outcome was observed.
    pub t: f64,
    /// The deciding node.
    pub node: u32,
    /// The choice's name.
    pub choice: String,
    /// What the policies minimise ([`Outcome::cost`]).
    pub cost: f64,
    /// Every sample of the outcome (`latency` and what the protocol reported).
    pub samples: BTreeMap<String, f64>,
}

impl OutcomeRecord {
    /// The record of `outcome`.
    pub fn of(outcome: &Outcome, seed: Option<u64>) -> Self {
        OutcomeRecord {
            id: outcome.decision,
            seed,
            t: outcome.at.as_secs_f64(),
            node: outcome.node.0,
            choice: outcome.name.to_string(),
            cost: outcome.cost(),
            samples: outcome
                .samples
                .iter()
                .map(|(k, v)| ((*k).to_string(), *v))
                .collect(),
        }
    }
}

/// One line of a decision log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LogLine {
    /// A decision, when it was made.
    Decision(DecisionRecord),
    /// An outcome, when it was observed.
    Outcome(OutcomeRecord),
}

/// A line to write, borrowed: serialises exactly as the [`LogLine`] it
/// names, without cloning the record.
#[derive(Clone, Copy, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LineRef<'a> {
    /// A decision.
    Decision(&'a DecisionRecord),
    /// An outcome.
    Outcome(&'a OutcomeRecord),
}

impl<'a> From<&'a LogLine> for LineRef<'a> {
    fn from(line: &'a LogLine) -> Self {
        match line {
            LogLine::Decision(d) => LineRef::Decision(d),
            LogLine::Outcome(o) => LineRef::Outcome(o),
        }
    }
}

/// A line that is not a decision-log record.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: not a decision-log record: {reason}")]
pub struct BadLine {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

/// Reads a log's JSON lines (blank lines are skipped); the first bad line
/// is an error that names it.
pub fn parse_log(text: &str) -> Result<Vec<LogLine>, BadLine> {
    let mut lines = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let parsed: LogLine = serde_json::from_str(line).map_err(|e| BadLine {
            line: i + 1,
            reason: e.to_string(),
        })?;
        if let LogLine::Decision(d) = &parsed {
            check_decision(d).map_err(|reason| BadLine {
                line: i + 1,
                reason,
            })?;
        }
        lines.push(parsed);
    }
    Ok(lines)
}

/// What a well-formed decision satisfies.
fn check_decision(d: &DecisionRecord) -> Result<(), String> {
    if d.candidates.is_empty() {
        return Err(format!("decision {} has no candidates", d.id));
    }
    if d.pick >= d.candidates.len() {
        return Err(format!(
            "decision {} picks candidate {} of {}",
            d.id,
            d.pick,
            d.candidates.len()
        ));
    }
    if !d.probabilities.is_empty() {
        if d.probabilities.len() != d.candidates.len() {
            return Err(format!(
                "decision {} has {} probabilities for {} candidates",
                d.id,
                d.probabilities.len(),
                d.candidates.len()
            ));
        }
        if d.probabilities.iter().any(|p| !(0.0..=1.0).contains(p)) {
            return Err(format!(
                "decision {} has a probability outside [0, 1]",
                d.id
            ));
        }
    }
    if let Some(p) = d.propensity
        && !(p > 0.0 && p <= 1.0)
    {
        return Err(format!(
            "decision {} was picked with propensity {p}, outside (0, 1]",
            d.id
        ));
    }
    Ok(())
}

/// Open decisions whose prediction a [`LogSummary`] remembers; beyond
/// this, later predictions go unscored (and are counted as such).
pub const SUMMARY_OPEN_MAX: usize = 1 << 20;
/// Prediction errors a [`LogSummary`] keeps per choice for its median.
pub const SUMMARY_ERRORS_MAX: usize = 1 << 20;

/// One choice in a log, summarised.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ChoiceSummary {
    /// Decisions logged.
    pub decisions: u64,
    /// Outcomes logged.
    pub outcomes: u64,
    /// Mean cost of the outcomes.
    pub mean_cost: Option<f64>,
    /// Outcomes whose decision predicted the picked candidate's cost.
    pub predicted: u64,
    /// Median absolute error of those predictions (the outcome's cost
    /// against the predicted mean).
    pub prediction_error_median: Option<f64>,
    /// Of those predictions, the share whose 95% interval held the cost.
    pub prediction_coverage: Option<f64>,
    /// The median absolute error of each tenth of the scored predictions,
    /// in the order their outcomes were logged: how the error falls as
    /// the policy learns (empty with fewer than 10).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub prediction_error_by_tenth: Vec<f64>,
    /// Predictions not scored: more than [`SUMMARY_OPEN_MAX`] were open.
    pub unscored: u64,
    #[serde(skip)]
    cost_sum: f64,
    #[serde(skip)]
    covered: u64,
    #[serde(skip)]
    errors: Vec<f64>,
}

/// Per-choice counts, mean cost and prediction error of a log, fed one
/// line at a time (so a writer can summarise what it writes).
#[derive(Clone, Debug, Default)]
pub struct LogSummary {
    choices: BTreeMap<String, ChoiceSummary>,
    /// Open decisions' predictions for their pick, by (seed, id).
    open: std::collections::HashMap<(Option<u64>, u64), Prediction>,
}

impl LogSummary {
    /// Takes one line into account.
    pub fn add(&mut self, line: LineRef<'_>) {
        match line {
            LineRef::Decision(d) => {
                let c = self.choices.entry(d.choice.clone()).or_default();
                c.decisions += 1;
                if let Some(p) = d.predicted_pick() {
                    if self.open.len() < SUMMARY_OPEN_MAX {
                        self.open.insert((d.seed, d.id), p);
                    } else {
                        c.unscored += 1;
                    }
                }
            }
            LineRef::Outcome(o) => {
                let c = self.choices.entry(o.choice.clone()).or_default();
                c.outcomes += 1;
                c.cost_sum += o.cost;
                if let Some(p) = self.open.remove(&(o.seed, o.id)) {
                    c.predicted += 1;
                    c.covered += u64::from(p.lo <= o.cost && o.cost <= p.hi);
                    if c.errors.len() < SUMMARY_ERRORS_MAX {
                        c.errors.push((o.cost - p.mean).abs());
                    }
                }
            }
        }
    }

    /// The summary of every choice seen, by name.
    pub fn finish(mut self) -> BTreeMap<String, ChoiceSummary> {
        for c in self.choices.values_mut() {
            c.mean_cost = (c.outcomes > 0).then(|| c.cost_sum / c.outcomes as f64);
            if c.errors.len() >= 10 {
                let n = c.errors.len();
                c.prediction_error_by_tenth = (0..10)
                    .map(|t| {
                        let mut part = c.errors[t * n / 10..(t + 1) * n / 10].to_vec();
                        part.sort_by(f64::total_cmp);
                        part[part.len() / 2]
                    })
                    .collect();
            }
            if !c.errors.is_empty() {
                c.errors.sort_by(f64::total_cmp);
                c.prediction_error_median = Some(c.errors[c.errors.len() / 2]);
                c.prediction_coverage = Some(c.covered as f64 / c.predicted as f64);
            }
        }
        self.choices
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision() -> DecisionRecord {
        DecisionRecord {
            id: 3,
            seed: Some(1),
            t: 0.5,
            node: 11,
            choice: "kv.read_replica".into(),
            policy: "random".into(),
            context: Some(42),
            candidates: vec![7, 8],
            pick: 1,
            propensity: Some(0.5),
            probabilities: vec![0.5, 0.5],
            predicted: vec![
                None,
                Some(Prediction {
                    mean: 0.01,
                    lo: 0.008,
                    hi: 0.012,
                }),
            ],
        }
    }

    #[test]
    fn lines_round_trip_through_json() {
        let d = LogLine::Decision(decision());
        let text = serde_json::to_string(&d).unwrap();
        assert!(
            text.starts_with(r#"{"type":"decision","id":3,"seed":1,"#),
            "{text}"
        );
        let o = LogLine::Outcome(OutcomeRecord {
            id: 3,
            seed: None,
            t: 0.6,
            node: 11,
            choice: "kv.read_replica".into(),
            cost: 0.1,
            samples: [("latency".to_string(), 0.1)].into(),
        });
        let both = format!("{text}\n\n{}\n", serde_json::to_string(&o).unwrap());
        assert_eq!(parse_log(&both).unwrap(), vec![d, o]);
    }

    #[test]
    fn a_summary_scores_predictions_against_outcomes() {
        let mut summary = LogSummary::default();
        let d = decision();
        summary.add(LineRef::Decision(&d));
        summary.add(LineRef::Decision(&DecisionRecord { id: 4, ..d.clone() }));
        for (id, cost) in [(3, 0.011), (4, 0.02)] {
            summary.add(LineRef::Outcome(&OutcomeRecord {
                id,
                seed: Some(1),
                t: 1.0,
                node: 11,
                choice: "kv.read_replica".into(),
                cost,
                samples: BTreeMap::new(),
            }));
        }
        let s = &summary.finish()["kv.read_replica"];
        assert_eq!((s.decisions, s.outcomes, s.predicted), (2, 2, 2));
        assert!((s.mean_cost.unwrap() - 0.0155).abs() < 1e-12);
        // Errors 0.001 and 0.01: the median of two is the larger.
        assert!((s.prediction_error_median.unwrap() - 0.01).abs() < 1e-12);
        assert_eq!(s.prediction_coverage, Some(0.5));
        assert!(s.prediction_error_by_tenth.is_empty(), "fewer than 10");
    }

    #[test]
    fn the_summary_shows_how_the_error_falls_tenth_by_tenth() {
        let mut summary = LogSummary::default();
        let d = decision();
        // 100 decisions whose errors fall from 0.1 to 0.001.
        for id in 0..100u64 {
            summary.add(LineRef::Decision(&DecisionRecord { id, ..d.clone() }));
            let error = 0.1 / (1 + id / 10 * 11) as f64;
            let predicted = d.predicted_pick().expect("predicted").mean;
            summary.add(LineRef::Outcome(&OutcomeRecord {
                id,
                seed: d.seed,
                t: id as f64,
                node: 11,
                choice: "kv.read_replica".into(),
                cost: predicted + error,
                samples: BTreeMap::new(),
            }));
        }
        let s = &summary.finish()["kv.read_replica"];
        assert_eq!(s.prediction_error_by_tenth.len(), 10);
        assert!((s.prediction_error_by_tenth[0] - 0.1).abs() < 1e-9);
        assert!((s.prediction_error_by_tenth[9] - 0.1 / 100.0).abs() < 1e-9);
        assert!(s.prediction_error_by_tenth.windows(2).all(|w| w[1] < w[0]));
    }

    #[test]
    fn a_malformed_decision_is_refused_with_its_line() {
        let mut d = decision();
        d.pick = 2;
        let bad = serde_json::to_string(&LogLine::Decision(d)).unwrap();
        let e = parse_log(&format!("\n{bad}")).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.reason.contains("picks candidate 2 of 2"), "{e}");
        let e = parse_log("{\"type\":\"decision\"}").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("line 1: not a decision-log record"),
            "{e}"
        );
        let mut d = decision();
        d.propensity = Some(0.0);
        let e = parse_log(&serde_json::to_string(&LogLine::Decision(d)).unwrap()).unwrap_err();
        assert!(e.reason.contains("propensity 0"), "{e}");
    }
}
