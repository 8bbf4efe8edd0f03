//! Offline evaluation: how would another policy have done on the decisions
//! of a logged run? Estimated from the log alone, by inverse propensity
//! scoring (IPS, with its self-normalised variant) and the doubly robust
//! estimator (DR), each with a 95% interval.
//!
//! Each logged decision carries the logging policy's probability of every
//! candidate ([`DecisionRecord::probabilities`]). The policy under test is
//! replayed along the log: asked what it would do at each logged decision
//! ([`Policy::explain`](crate::choice::Policy::explain)), told what was
//! actually picked ([`Policy::record_pick`](crate::choice::Policy::record_pick))
//! and shown each outcome when the log shows it, so a learning policy learns
//! from the logged run as it would have online. Its estimated mean cost per
//! decision is then
//!
//! - IPS: the mean over decisions of `π(pick) / p(pick) · cost`;
//! - SNIPS: the same sum divided by the sum of the weights `π(pick) / p(pick)`;
//! - DR: the mean of `Σₐ π(a) r̂(a) + π(pick) / p(pick) · (cost − r̂(pick))`,
//!   with `r̂(a)` the mean logged cost of candidate `a` (the direct method's
//!   model, corrected by IPS where it is wrong).
//!
//! The estimates are unbiased only where the logging policy gave positive
//! probability to every candidate the evaluated one might pick: a log that
//! does not is refused for that estimate, naming the first decision where
//! it fails. And they ignore the policy's effect on the environment (a
//! replica it would have loaded more answers the same in the log): they
//! agree with simulating the policy where decisions barely change queues,
//! at low utilisation. Decisions without a logged outcome (still open when
//! the run ended) are left out and counted.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::Serialize;

use crate::choice::Explanation;
use crate::choice::log::{DecisionRecord, LogLine};
use crate::choice::policy::{COST, ChoiceView, LATENCY, Outcome, PolicySpec, PolicyTable};
use crate::model::NodeId;

/// An estimate with its 95% interval (normal approximation over decisions).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Interval {
    /// The estimate.
    pub mean: f64,
    /// Lower end of the 95% interval.
    pub lo: f64,
    /// Upper end of the 95% interval.
    pub hi: f64,
}

impl Interval {
    /// The mean of `terms` with a 95% interval (`None` for no terms).
    pub fn of(terms: &[f64]) -> Option<Interval> {
        if terms.is_empty() {
            return None;
        }
        let n = terms.len() as f64;
        let mean = terms.iter().sum::<f64>() / n;
        let var = if terms.len() > 1 {
            terms.iter().map(|t| (t - mean).powi(2)).sum::<f64>() / (n - 1.0)
        } else {
            0.0
        };
        let half = 1.96 * (var / n).sqrt();
        Some(Interval {
            mean,
            lo: mean - half,
            hi: mean + half,
        })
    }

    /// Whether `x` lies in the interval.
    pub fn contains(&self, x: f64) -> bool {
        self.lo <= x && x <= self.hi
    }
}

/// One choice's evaluation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChoiceEvaluation {
    /// The choice.
    pub choice: String,
    /// The evaluated policy.
    pub policy: String,
    /// The policies that logged the decisions.
    pub logged_by: Vec<String>,
    /// Decisions with an outcome (the estimates' sample).
    pub decisions: usize,
    /// Decisions left out: no outcome was logged for them.
    pub without_outcome: usize,
    /// The logged policy's own mean cost per decision.
    pub logged: Interval,
    /// Inverse propensity scoring.
    pub ips: Interval,
    /// Self-normalised IPS (point estimate).
    pub snips: f64,
    /// Doubly robust.
    pub dr: Interval,
    /// Effective sample size of the importance weights, `(Σw)² / Σw²`.
    pub effective_decisions: f64,
}

/// Why a log cannot answer for a policy.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// The log holds no decision of the choice asked for.
    #[error("the log has no decision of choice `{choice}`; it has: {present}")]
    NoDecisions {
        /// The choice asked for.
        choice: String,
        /// The choices the log has, comma-separated.
        present: String,
    },
    /// A decision without the logging policy's probabilities.
    #[error(
        "decision {id} (choice `{choice}`, node {node}) was logged by `{policy}`, which gives no probabilities; log with a policy that does (every built-in but user heuristics)"
    )]
    NoPropensity {
        /// The decision.
        id: u64,
        /// Its choice.
        choice: String,
        /// Its node.
        node: u32,
        /// The logging policy.
        policy: String,
    },
    /// The evaluated policy cannot say what it would do.
    #[error("policy `{0}` gives no probabilities, so it cannot be evaluated offline")]
    Unexplained(String),
    /// The evaluated policy may pick a candidate the logging policy never would.
    #[error(
        "decision {id} (choice `{choice}`, node {node}, seed {seed}): the logging policy `{logged_by}` gave candidate {candidate} probability 0, and `{policy}` picks it with probability {target:.3}: inverse propensity scoring cannot estimate `{policy}` from this log. Log with a policy that gives every candidate some probability (random, epsilon-greedy, thompson)"
    )]
    Unsupported {
        /// The decision.
        id: u64,
        /// Its choice.
        choice: String,
        /// Its node.
        node: u32,
        /// Its seed (0 live).
        seed: u64,
        /// The logging policy.
        logged_by: String,
        /// The candidate's index.
        candidate: usize,
        /// The evaluated policy.
        policy: String,
        /// The evaluated policy's probability of that candidate.
        target: f64,
    },
}

/// Names interned for the policies' `&'static str` keys (one leak per
/// distinct choice name, of which a log has a handful).
struct Names(HashMap<String, &'static str>);

impl Names {
    fn get(&mut self, name: &str) -> &'static str {
        if let Some(&n) = self.0.get(name) {
            return n;
        }
        let leaked: &'static str = Box::leak(name.to_string().into_boxed_str());
        self.0.insert(name.to_string(), leaked);
        leaked
    }
}

/// What one logged decision contributes to the estimates.
struct Term {
    cost: f64,
    weight: f64,
    /// `Σₐ π(a) r̂(a)`.
    direct: f64,
    /// `r̂(pick)`.
    direct_pick: f64,
}

/// Evaluates `policy` on every logged decision of `choice` (every choice
/// when `None`), one [`ChoiceEvaluation`] per choice in name order.
pub fn evaluate(
    lines: &[LogLine],
    policy: &PolicySpec,
    choice: Option<&str>,
) -> Result<Vec<ChoiceEvaluation>, EvalError> {
    let present: std::collections::BTreeSet<&str> = lines
        .iter()
        .filter_map(|l| match l {
            LogLine::Decision(d) => Some(d.choice.as_str()),
            LogLine::Outcome(_) => None,
        })
        .collect();
    let wanted: Vec<&str> = match choice {
        Some(c) if present.contains(c) => vec![c],
        Some(c) => {
            return Err(EvalError::NoDecisions {
                choice: c.to_string(),
                present: present.iter().copied().collect::<Vec<_>>().join(", "),
            });
        }
        None => present.iter().copied().collect(),
    };
    wanted
        .into_iter()
        .map(|c| evaluate_choice(lines, policy, c))
        .collect()
}

fn evaluate_choice(
    lines: &[LogLine],
    policy: &PolicySpec,
    choice: &str,
) -> Result<ChoiceEvaluation, EvalError> {
    // Pass 1: each decision's outcome, and the direct method's model.
    let mut cost_of: HashMap<(Option<u64>, u64), f64> = HashMap::new();
    for line in lines {
        if let LogLine::Outcome(o) = line
            && o.choice == choice
        {
            cost_of.insert((o.seed, o.id), o.cost);
        }
    }
    let mut per_key: HashMap<u64, (f64, u64)> = HashMap::new();
    let mut logged_by = std::collections::BTreeSet::new();
    for line in lines {
        if let LogLine::Decision(d) = line
            && d.choice == choice
        {
            logged_by.insert(d.policy.clone());
            if let Some(&cost) = cost_of.get(&(d.seed, d.id)) {
                let e = per_key.entry(d.candidates[d.pick]).or_default();
                e.0 += cost;
                e.1 += 1;
            }
        }
    }
    let overall = {
        let (sum, n) = per_key
            .values()
            .fold((0.0, 0), |a, v| (a.0 + v.0, a.1 + v.1));
        if n == 0 { 0.0 } else { sum / n as f64 }
    };
    let model = |key: u64| per_key.get(&key).map_or(overall, |(s, n)| s / *n as f64);

    // Pass 2: replay the policy under test along the log.
    let mut names = Names(HashMap::new());
    let mut tables: HashMap<Option<u64>, PolicyTable> = HashMap::new();
    // (seed, decision id) → (node, picked key, context): what its outcome updates.
    type Decided = HashMap<(Option<u64>, u64), (u32, u64, Option<u64>)>;
    let mut decided: Decided = HashMap::new();
    let mut explanation = Explanation::default();
    let mut terms = Vec::new();
    let mut without_outcome = 0;
    for line in lines {
        match line {
            LogLine::Decision(d) if d.choice == choice => {
                let name = names.get(&d.choice);
                let table = tables
                    .entry(d.seed)
                    .or_insert_with(|| PolicyTable::new(policy.clone(), BTreeMap::new()));
                let view = view_of(d, name);
                table.explain(&view, &mut explanation);
                let target = &explanation.probabilities;
                if target.is_empty() {
                    return Err(EvalError::Unexplained(policy.name()));
                }
                let logged = logged_probabilities(d)?;
                if let Some(a) = (0..target.len()).find(|&a| target[a] > 0.0 && logged[a] <= 0.0) {
                    return Err(EvalError::Unsupported {
                        id: d.id,
                        choice: d.choice.clone(),
                        node: d.node,
                        seed: d.seed.unwrap_or(0),
                        logged_by: d.policy.clone(),
                        candidate: a,
                        policy: policy.name(),
                        target: target[a],
                    });
                }
                table.record_pick(&view, d.pick);
                decided.insert((d.seed, d.id), (d.node, d.candidates[d.pick], d.context));
                match cost_of.get(&(d.seed, d.id)) {
                    Some(&cost) => terms.push(Term {
                        cost,
                        weight: target[d.pick] / logged[d.pick],
                        direct: (d.candidates.iter())
                            .zip(target)
                            .map(|(&k, p)| p * model(k))
                            .sum(),
                        direct_pick: model(d.candidates[d.pick]),
                    }),
                    None => without_outcome += 1,
                }
            }
            LogLine::Outcome(o) if o.choice == choice => {
                let Some(&(node, key, context)) = decided.get(&(o.seed, o.id)) else {
                    continue;
                };
                let Some(table) = tables.get_mut(&o.seed) else {
                    continue;
                };
                let name = names.get(&o.choice);
                let mut samples: Vec<(&'static str, f64)> = vec![(LATENCY, o.cost)];
                if let Some(&latency) = o.samples.get(LATENCY) {
                    samples[0].1 = latency;
                }
                // The cost the policies learn from is the logged cost.
                samples.push((COST, o.cost));
                table.observe(&Outcome {
                    decision: o.id,
                    node: NodeId(node),
                    name,
                    key,
                    context,
                    samples,
                    at: Duration::from_secs_f64(o.t.max(0.0)),
                });
            }
            _ => {}
        }
    }
    let costs: Vec<f64> = terms.iter().map(|t| t.cost).collect();
    let ips: Vec<f64> = terms.iter().map(|t| t.weight * t.cost).collect();
    let dr: Vec<f64> = (terms.iter())
        .map(|t| t.direct + t.weight * (t.cost - t.direct_pick))
        .collect();
    let weights: f64 = terms.iter().map(|t| t.weight).sum();
    let squares: f64 = terms.iter().map(|t| t.weight * t.weight).sum();
    let empty = Interval {
        mean: f64::NAN,
        lo: f64::NAN,
        hi: f64::NAN,
    };
    Ok(ChoiceEvaluation {
        choice: choice.to_string(),
        policy: policy.name(),
        logged_by: logged_by.into_iter().collect(),
        decisions: terms.len(),
        without_outcome,
        logged: Interval::of(&costs).unwrap_or(empty),
        ips: Interval::of(&ips).unwrap_or(empty),
        snips: if weights > 0.0 {
            ips.iter().sum::<f64>() / weights
        } else {
            f64::NAN
        },
        dr: Interval::of(&dr).unwrap_or(empty),
        effective_decisions: if squares > 0.0 {
            weights * weights / squares
        } else {
            0.0
        },
    })
}

fn view_of<'d>(d: &'d DecisionRecord, name: &'static str) -> ChoiceView<'d> {
    ChoiceView {
        node: NodeId(d.node),
        name,
        candidates: d.candidates.len(),
        keys: &d.candidates,
        context: d.context,
        now: Duration::from_secs_f64(d.t.max(0.0)),
    }
}

/// The logging policy's probability of each candidate.
fn logged_probabilities(d: &DecisionRecord) -> Result<&[f64], EvalError> {
    if d.probabilities.len() == d.candidates.len() && d.propensity.is_some() {
        Ok(&d.probabilities)
    } else {
        Err(EvalError::NoPropensity {
            id: d.id,
            choice: d.choice.clone(),
            node: d.node,
            policy: d.policy.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::choice::log::OutcomeRecord;

    /// Two candidates logged uniformly; candidate 1 costs 3, candidate 0 costs 1.
    fn uniform_log(decisions: u64) -> Vec<LogLine> {
        let mut lines = Vec::new();
        for id in 0..decisions {
            let pick = (id % 2) as usize;
            lines.push(LogLine::Decision(DecisionRecord {
                id,
                seed: Some(1),
                t: id as f64,
                node: 0,
                choice: "c".into(),
                policy: "random".into(),
                context: None,
                candidates: vec![10, 11],
                pick,
                propensity: Some(0.5),
                probabilities: vec![0.5, 0.5],
                predicted: vec![],
            }));
            lines.push(LogLine::Outcome(OutcomeRecord {
                id,
                seed: Some(1),
                t: id as f64 + 0.5,
                node: 0,
                choice: "c".into(),
                cost: if pick == 0 { 1.0 } else { 3.0 },
                samples: BTreeMap::new(),
            }));
        }
        lines
    }

    #[test]
    fn a_fixed_policy_is_estimated_at_its_candidates_cost() {
        let lines = uniform_log(100);
        let [e] = &evaluate(&lines, &PolicySpec::Fixed(1), None).unwrap()[..] else {
            panic!("one choice")
        };
        assert_eq!((e.decisions, e.without_outcome), (100, 0));
        assert_eq!(e.logged.mean, 2.0);
        // Half the decisions picked candidate 1 (weight 2, cost 3): 3 exactly.
        assert_eq!(e.ips.mean, 3.0);
        assert_eq!(e.snips, 3.0);
        assert_eq!(e.dr.mean, 3.0);
        assert_eq!(e.effective_decisions, 50.0);
        // A learner shown the outcomes settles on the cheap candidate.
        let greedy = &evaluate(&lines, &PolicySpec::EpsilonGreedy(0.0), Some("c")).unwrap()[0];
        assert!(greedy.dr.mean < 1.1, "{greedy:?}");
    }

    #[test]
    fn a_log_without_support_for_the_policy_is_refused() {
        let mut lines = uniform_log(4);
        if let LogLine::Decision(d) = &mut lines[2] {
            d.policy = "c3".into();
            d.probabilities = vec![1.0, 0.0];
            d.pick = 0;
            d.propensity = Some(1.0);
        }
        let e = evaluate(&lines, &PolicySpec::Random, None).unwrap_err();
        assert!(
            matches!(
                e,
                EvalError::Unsupported {
                    id: 1,
                    candidate: 1,
                    ..
                }
            ),
            "{e}"
        );
        assert!(
            e.to_string().contains("gave candidate 1 probability 0"),
            "{e}"
        );
        // A policy that never picks candidate 1 there is fine.
        assert!(evaluate(&lines, &PolicySpec::Fixed(0), None).is_ok());
        let e = evaluate(&lines, &PolicySpec::Random, Some("d")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the log has no decision of choice `d`; it has: c"
        );
    }
}
