//! The resolver's fast path: the policy named `prophet` (and its ablation
//! `prophet:fast`, deliberation off).
//!
//! A decision never waits for deliberation. It reads a table, per
//! candidate key, of a predicted cost with its spread and the marginal cost
//! of one more request of this node's own at that candidate; deliberation
//! (forward simulation under the node's learned performance model, in
//! [`crate::resolve`]) refreshes the table through [`Policy::advise`]
//! between events. Until the first advice, and always with deliberation
//! off, the table holds the node's own outcomes (an EWMA of each
//! candidate's cost, its standard error, and the smallest cost seen as the
//! marginal cost).
//!
//! Each decision draws one sample per candidate from its prediction
//! (Thompson sampling over the candidates whose predictions overlap) and
//! adds the marginal cost times the requests the node already has
//! outstanding there (a candidate's prediction is never below the time its
//! oldest outstanding request has waited); the least wins. A decision whose pick differs from
//! the least predicted is exploratory; at most [`EXPLORE_CAP`] of a
//! policy's decisions are (beyond it, the least predicted wins), and none
//! picks a candidate predicted more than [`EXPLORE_WITHIN`] times the least.
//!
//! Nothing here names a choice or a system: the table is keyed by the
//! candidates' stable keys, so renaming a choice or permuting its
//! candidates changes nothing.

use std::collections::VecDeque;
use std::time::Duration;

use rand::RngCore;
use rand_distr::{Distribution, StandardNormal};

use crate::choice::log::{Explanation, Prediction};
use crate::choice::policy::{ArmStats, ChoiceView, Outcome, Policy, argmin};

/// The largest share of decisions that may differ from the least predicted.
pub const EXPLORE_CAP: f64 = 0.02;

/// How many outcomes deliberation's prediction is worth against the
/// outcomes that arrive after it.
const ADVICE_WEIGHT: f64 = 4.0;

/// An exploratory pick's prediction is at most this multiple of the least
/// one: probing a candidate predicted far worse (a replica that stopped
/// answering) costs a tail outcome per probe.
const EXPLORE_WITHIN: f64 = 2.0;

/// Draws behind the explained probabilities.
const EXPLAIN_DRAWS: u32 = 256;

/// Deliberation's prediction for one candidate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Advised {
    /// The candidate's stable key.
    pub key: u64,
    /// Predicted cost of a decision for it (seconds, or the protocol's cost).
    pub mean: f64,
    /// The prediction's standard deviation (its uncertainty, not the
    /// spread of single outcomes).
    pub sd: f64,
    /// The predicted extra cost of each request already outstanding there.
    pub marginal: f64,
}

/// What deliberation tells a fast path: a prediction per candidate.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Advice {
    /// When the advice was made.
    pub at: Duration,
    /// Per candidate, in any order.
    pub candidates: Vec<Advised>,
}

/// The fast path of one (node, choice).
pub struct FastPath {
    deliberate: bool,
    arms: hashbrown::HashMap<u64, Arm, foldhash::fast::FixedState>,
    /// The candidates' keys at the last decision: what deliberation
    /// predicts for.
    keys: Vec<u64>,
    decisions: u64,
    explored: u64,
    /// Scratch: each candidate's (mean, sd, load) at a decision.
    scratch: Vec<(f64, f64, f64)>,
}

#[derive(Clone, Debug, Default)]
struct Arm {
    own: ArmStats,
    advised: Option<Advised>,
    /// When the decisions still waiting for their outcome were made,
    /// oldest first (at most [`PENDING_MAX`]): a request outstanding for
    /// `t` costs at least `t`, so a candidate that stopped answering is
    /// known to be slow before its first timeout comes back.
    pending: VecDeque<Duration>,
    /// Outcomes since the last advice: count and sum of costs.
    since: (u32, f64),
}

/// Pick times an arm remembers.
const PENDING_MAX: usize = 1_024;

impl FastPath {
    /// A fast path; `deliberate` says whether deliberation will advise it
    /// (without, it runs on its own outcomes only).
    pub fn new(deliberate: bool) -> Self {
        FastPath {
            deliberate,
            arms: hashbrown::HashMap::with_hasher(foldhash::fast::FixedState::with_seed(0)),
            keys: Vec::new(),
            decisions: 0,
            explored: 0,
            scratch: Vec::new(),
        }
    }

    /// Whether the next decision may be exploratory (under the cap).
    fn may_explore(&self) -> bool {
        (self.explored + 1) as f64 <= EXPLORE_CAP * (self.decisions + 1) as f64
    }

    /// Each candidate's (mean, sd, load term) now, into `into`.
    fn predictions(&self, view: &ChoiceView, into: &mut Vec<(f64, f64, f64)>) {
        into.clear();
        for key in view.keys {
            let Some(arm) = self.arms.get(key) else {
                into.push((0.0, 0.0, 0.0));
                continue;
            };
            let own = arm.own;
            let (mean, sd, marginal) = match arm.advised {
                Some(a) => {
                    // The advice is a prior worth ADVICE_WEIGHT outcomes;
                    // outcomes since it move the prediction at once.
                    let (k, sum) = arm.since;
                    let k = f64::from(k);
                    (
                        (ADVICE_WEIGHT * a.mean + sum) / (ADVICE_WEIGHT + k),
                        a.sd,
                        a.marginal,
                    )
                }
                None if own.n == 0 => (0.0, 0.0, 0.0),
                None => {
                    let var = if own.n > 1 {
                        own.m2 / (own.n - 1) as f64
                    } else {
                        own.mean * own.mean
                    };
                    (own.ewma, (var / own.n as f64).sqrt(), own.min)
                }
            };
            let waited = arm
                .pending
                .front()
                .map_or(0.0, |&at| view.now.saturating_sub(at).as_secs_f64());
            into.push((mean.max(waited), sd, marginal * own.outstanding as f64));
        }
    }

    fn least(scratch: &[(f64, f64, f64)]) -> usize {
        argmin(scratch.iter().map(|(m, _, load)| m + load))
    }

    /// One Thompson draw per candidate; those predicted more than
    /// [`EXPLORE_WITHIN`] times the least are not drawn.
    fn draw(scratch: &[(f64, f64, f64)], rng: &mut dyn RngCore) -> usize {
        let least = scratch
            .iter()
            .map(|(m, _, load)| m + load)
            .fold(f64::INFINITY, f64::min);
        argmin(scratch.iter().map(|&(m, sd, load)| {
            let z: f64 = StandardNormal.sample(&mut *rng);
            if m + load > EXPLORE_WITHIN * least {
                f64::INFINITY
            } else {
                m + sd * z + load
            }
        }))
    }
}

impl Policy for FastPath {
    fn choose(&mut self, view: &ChoiceView, rng: &mut dyn RngCore) -> usize {
        let mut scratch = std::mem::take(&mut self.scratch);
        self.predictions(view, &mut scratch);
        let least = Self::least(&scratch);
        let drawn = Self::draw(&scratch, rng);
        self.scratch = scratch;
        let pick = if drawn != least && self.may_explore() {
            self.explored += 1;
            drawn
        } else {
            least
        };
        self.record_pick(view, pick);
        pick
    }

    fn observe(&mut self, outcome: &Outcome) {
        if let Some(arm) = self.arms.get_mut(&outcome.key) {
            arm.own.observe(outcome.cost(), outcome.at);
            arm.pending.pop_front();
            arm.since.0 = arm.since.0.saturating_add(1);
            arm.since.1 += outcome.cost();
        }
    }

    fn explain(&self, view: &ChoiceView, out: &mut Explanation) {
        out.clear();
        let mut scratch = Vec::with_capacity(view.candidates);
        self.predictions(view, &mut scratch);
        let least = Self::least(&scratch);
        let may_explore = self.may_explore();
        // A generator of its own, seeded by the decision count: explaining
        // draws nothing from the run's.
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(
            self.decisions ^ 0x7072_6f70_6865_7400,
        );
        let mut counts = vec![0.0f64; view.candidates];
        for _ in 0..EXPLAIN_DRAWS {
            let drawn = Self::draw(&scratch, &mut rng);
            counts[if may_explore { drawn } else { least }] += 1.0;
        }
        // The draws estimate the probabilities; a candidate the policy can
        // pick but no draw hit still has some (half a draw's worth), so no
        // pick is ever logged with probability 0 (which would make the log
        // useless for evaluating other policies).
        let best = scratch.get(least).map_or(f64::INFINITY, |(m, _, l)| m + l);
        for (i, count) in counts.iter_mut().enumerate() {
            let (m, _, load) = scratch[i];
            let pickable = match may_explore {
                true => m + load <= EXPLORE_WITHIN * best,
                false => i == least,
            };
            if pickable && *count == 0.0 {
                *count = 0.5;
            }
        }
        let total: f64 = counts.iter().sum();
        out.probabilities
            .extend(counts.iter().map(|&c| c / total.max(f64::MIN_POSITIVE)));
        out.predicted.extend(scratch.iter().map(|&(m, sd, load)| {
            Some(Prediction {
                mean: m + load,
                lo: (m + load - 1.96 * sd).max(0.0),
                hi: m + load + 1.96 * sd,
            })
        }));
    }

    fn record_pick(&mut self, view: &ChoiceView, pick: usize) {
        self.decisions += 1;
        if self.keys.as_slice() != view.keys {
            self.keys.clear();
            self.keys.extend_from_slice(view.keys);
        }
        if let Some(&key) = view.keys.get(pick) {
            let arm = self.arms.entry(key).or_default();
            arm.own.outstanding += 1;
            if arm.pending.len() == PENDING_MAX {
                arm.pending.pop_front();
            }
            arm.pending.push_back(view.now);
        }
    }

    fn advice_wanted(&self) -> Option<&[u64]> {
        (self.deliberate && !self.keys.is_empty()).then_some(self.keys.as_slice())
    }

    fn advise(&mut self, advice: &Advice) {
        for a in &advice.candidates {
            let arm = self.arms.entry(a.key).or_default();
            arm.advised = Some(*a);
            arm.since = (0, 0.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::choice::policy::LATENCY;
    use crate::model::NodeId;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    const KEYS: [u64; 3] = [10, 11, 12];

    fn view(now_ms: u64) -> ChoiceView<'static> {
        ChoiceView {
            node: NodeId(0),
            name: "c",
            candidates: 3,
            keys: &KEYS,
            context: None,
            now: Duration::from_millis(now_ms),
        }
    }

    fn outcome(key: u64, cost: f64, at_ms: u64) -> Outcome {
        Outcome {
            decision: 0,
            node: NodeId(0),
            name: "c",
            key,
            context: None,
            samples: vec![(LATENCY, cost)],
            at: Duration::from_millis(at_ms),
        }
    }

    #[test]
    fn a_candidate_whose_request_is_overdue_is_avoided_before_it_answers() {
        let mut p = FastPath::new(false);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        // Each candidate answers once in 5 ms; then a request goes to 10
        // and never returns.
        for (i, &k) in KEYS.iter().enumerate() {
            p.record_pick(&view(i as u64), i);
            p.observe(&outcome(k, 0.005, i as u64 + 5));
        }
        p.record_pick(&view(10), 0);
        // 1 s later, 10's outstanding request has waited 1 s: nothing goes
        // there (exploration never picks a candidate predicted 2x the least).
        for d in 0..200 {
            let pick = p.choose(&view(1_010 + d), &mut rng);
            assert_ne!(KEYS[pick], 10, "decision {d}");
            p.observe(&outcome(KEYS[pick], 0.005, 1_011 + d));
        }
    }

    #[test]
    fn exploration_stays_under_its_cap_and_advice_replaces_own_estimates() {
        let mut p = FastPath::new(true);
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        assert!(
            p.advice_wanted().is_none(),
            "nothing to advise before a decision"
        );
        p.choose(&view(0), &mut rng);
        assert_eq!(p.advice_wanted(), Some(&KEYS[..]));
        // Advice: 12 is best, the others overlap it.
        let advised = |key, mean| Advised {
            key,
            mean,
            sd: 0.002,
            marginal: 0.0,
        };
        p.advise(&Advice {
            at: Duration::ZERO,
            candidates: vec![advised(10, 0.011), advised(11, 0.010), advised(12, 0.009)],
        });
        let mut picks = [0u32; 3];
        for d in 0..2_000 {
            let pick = p.choose(&view(d), &mut rng);
            p.observe(&outcome(KEYS[pick], 0.009, d));
            picks[pick] += 1;
        }
        let explored = picks[0] + picks[1];
        assert!(explored > 0, "some exploration: {picks:?}");
        assert!(
            f64::from(explored) <= EXPLORE_CAP * 2_001.0 + 1.0,
            "{explored} exploratory of 2,000 (cap {EXPLORE_CAP})"
        );
        let mut out = Explanation::default();
        p.explain(&view(2_000), &mut out);
        assert_eq!(out.probabilities.len(), 3);
        assert!((out.probabilities.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert!(out.probabilities[2] > 0.9, "{:?}", out.probabilities);
    }
}
