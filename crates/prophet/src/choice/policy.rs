//! Choice policies: how an executor resolves `choose` without branching.
//!
//! A [`Policy`] picks a candidate and learns from [`Outcome`]s. It sees
//! the candidates by their stable keys ([`ChoiceView::keys`]), so what it
//! learns about one candidate stays with that candidate when the list
//! changes order or length; the fixed, uniform and round-robin policies pick
//! by position. Outcomes reach a policy through the executor's
//! [`FeedbackTracker`](crate::choice::FeedbackTracker), which pairs them
//! with decisions by the handle the protocol gave (`Ctx::choose_with`,
//! `Ctx::outcome`).
//!
//! Policies are instantiated per (node, choice): each client balances on
//! its own view, as deployed balancers do.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rand::{Rng, RngCore, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

use crate::choice::fast_path::{Advice, FastPath};
use crate::choice::log::{Explanation, Prediction};
use crate::model::{ChoiceRequest, NodeId};

/// What a policy sees when asked to choose.
#[derive(Clone, Copy, Debug)]
pub struct ChoiceView<'a> {
    /// The node making the choice.
    pub node: NodeId,
    /// The choice's stable name.
    pub name: &'static str,
    /// Number of candidates (at least 1).
    pub candidates: usize,
    /// Each candidate's stable key, in the handler's order.
    pub keys: &'a [u64],
    /// The decision's context, when the protocol gave one.
    pub context: Option<u64>,
    /// The executor's current time.
    pub now: Duration,
}

impl<'a> ChoiceView<'a> {
    /// The view of `request` at time `now`.
    pub fn of(request: &ChoiceRequest<'a>, now: Duration) -> Self {
        ChoiceView {
            node: request.node,
            name: request.name,
            candidates: request.candidates(),
            keys: request.keys,
            context: request.context,
            now,
        }
    }
}

/// The observed result of one decision: a set of named samples.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// The decision's number in its run (what a decision log names it by).
    pub decision: u64,
    /// The node that decided.
    pub node: NodeId,
    /// The choice's name.
    pub name: &'static str,
    /// The chosen candidate's stable key.
    pub key: u64,
    /// The decision's context.
    pub context: Option<u64>,
    /// Named samples: `latency` (seconds from the decision to the outcome,
    /// measured by the executor) first, then what the protocol reported.
    pub samples: Vec<(&'static str, f64)>,
    /// When the outcome was observed.
    pub at: Duration,
}

impl Outcome {
    /// The sample named `metric`.
    pub fn sample(&self, metric: &str) -> Option<f64> {
        self.samples
            .iter()
            .find(|(m, _)| *m == metric)
            .map(|(_, v)| *v)
    }

    /// The latency from the decision to the outcome, in seconds.
    pub fn latency(&self) -> f64 {
        self.sample(LATENCY).unwrap_or(0.0)
    }

    /// What the policies minimise: the `cost` sample if the protocol
    /// reported one, else the latency.
    pub fn cost(&self) -> f64 {
        self.sample(COST).unwrap_or_else(|| self.latency())
    }
}

/// The sample every outcome carries: seconds from decision to outcome.
pub const LATENCY: &str = "latency";
/// A sample a protocol may report to replace latency as the cost.
pub const COST: &str = "cost";
/// A sample a protocol reports (as 1) when a decision's request got no
/// answer (it timed out, or its peer was unreachable): what the online
/// performance model counts as a candidate's losses.
pub const LOST: &str = "lost";

/// Resolves one choice at one node.
pub trait Policy: Send {
    /// Picks an index below `view.candidates`.
    fn choose(&mut self, view: &ChoiceView, rng: &mut dyn RngCore) -> usize;
    /// Learns from the outcome of an earlier decision.
    fn observe(&mut self, _outcome: &Outcome) {}
    /// What the next [`Policy::choose`] on `view` would do, without doing
    /// it: every candidate's probability and the policy's expected cost of
    /// each, as far as the policy can say (the default: nothing). Reads the
    /// policy's state and draws nothing from the run's generator, so a run
    /// that logs its decisions makes the same decisions as one that does not.
    fn explain(&self, _view: &ChoiceView, out: &mut Explanation) {
        out.clear();
    }
    /// Takes note that candidate `pick` was chosen on `view` (by whatever
    /// policy chose), as `choose` does for its own pick: how an offline
    /// evaluation keeps a policy's state in step with a logged run.
    fn record_pick(&mut self, _view: &ChoiceView, _pick: usize) {}
    /// The candidates' keys a policy wants predictions for (the resolver's
    /// fast path, once it has decided; `None` for every other policy).
    fn advice_wanted(&self) -> Option<&[u64]> {
        None
    }
    /// Takes deliberation's predictions ([`Advice`]); ignored by policies
    /// that want none.
    fn advise(&mut self, _advice: &Advice) {}
}

/// A user heuristic: a function of the view and the per-candidate statistics.
pub type HeuristicFn = dyn Fn(&ChoiceView, &[ArmStats], &mut dyn RngCore) -> usize + Send + Sync;

/// A named way to build policies.
#[derive(Clone)]
pub enum PolicySpec {
    /// Candidate 0: the programmer's default.
    First,
    /// Candidate `i` (the last one when there are fewer).
    Fixed(usize),
    /// Uniformly at random.
    Random,
    /// 0, 1, 2, … cyclically.
    RoundRobin,
    /// The same context always to the same candidate: rendezvous hashing
    /// of the decision's context over the candidates' keys (a request's key
    /// to "its" replica, so a replica's cache sees the same keys); without a
    /// context, uniformly at random.
    Affinity,
    /// The candidate with the least mean cost; a random one with probability ε.
    EpsilonGreedy(f64),
    /// UCB1 on costs normalised by the largest seen.
    Ucb1,
    /// Thompson sampling with a Gaussian posterior on each candidate's mean cost.
    Thompson,
    /// Power of two choices: of two random candidates, the one with fewer
    /// requests outstanding.
    P2c,
    /// Power of two choices on Peak-EWMA cost: decayed peak response time ×
    /// (outstanding + 1) (Finagle / Linkerd).
    PeakEwma,
    /// C3's replica ranking (Suresh et al., NSDI 2015) with client-local
    /// estimates: `R − 1/μ + q̂³/μ`, `q̂ = 1 + outstanding`, `R` the EWMA
    /// response time and `1/μ` the smallest response time seen.
    C3,
    /// The resolver ([`crate::choice::fast_path`]): predictions refreshed
    /// by deliberation (forward simulation under the node's learned
    /// performance model), Thompson exploration capped at 5% of decisions.
    /// `deliberate: false` is its ablation `prophet:fast`: the same fast
    /// path on the node's own outcomes alone.
    Prophet {
        /// Whether deliberation advises the fast path.
        deliberate: bool,
    },
    /// A user heuristic under a name.
    Heuristic(&'static str, Arc<HeuristicFn>),
}

impl fmt::Debug for PolicySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())
    }
}

/// The names `PolicySpec::parse` accepts.
pub const POLICY_NAMES: &[&str] = &[
    "first",
    "fixed:<i>",
    "random",
    "round-robin",
    "affinity",
    "epsilon-greedy[:<eps>]",
    "ucb1",
    "thompson",
    "p2c",
    "peak-ewma",
    "c3",
    "prophet",
    "prophet:fast",
];

/// An unknown or malformed policy name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown policy `{given}`; valid policies: {valid}")]
pub struct UnknownPolicy {
    /// The name given.
    pub given: String,
    /// The valid names, comma-separated.
    pub valid: String,
}

impl PolicySpec {
    /// Parses a policy name (see [`POLICY_NAMES`]).
    pub fn parse(text: &str) -> Result<PolicySpec, UnknownPolicy> {
        let bad = || UnknownPolicy {
            given: text.to_string(),
            valid: POLICY_NAMES.join(", "),
        };
        let (head, arg) = match text.trim().split_once(':') {
            Some((h, a)) => (h, Some(a)),
            None => (text.trim(), None),
        };
        Ok(match (head, arg) {
            ("first", None) => PolicySpec::First,
            ("fixed", Some(a)) => PolicySpec::Fixed(a.parse().map_err(|_| bad())?),
            ("random", None) => PolicySpec::Random,
            ("round-robin", None) => PolicySpec::RoundRobin,
            ("affinity", None) => PolicySpec::Affinity,
            ("epsilon-greedy", None) => PolicySpec::EpsilonGreedy(0.1),
            ("epsilon-greedy", Some(a)) => match a.parse::<f64>() {
                Ok(e) if (0.0..=1.0).contains(&e) => PolicySpec::EpsilonGreedy(e),
                _ => return Err(bad()),
            },
            ("ucb1", None) => PolicySpec::Ucb1,
            ("thompson", None) => PolicySpec::Thompson,
            ("p2c", None) => PolicySpec::P2c,
            ("peak-ewma", None) => PolicySpec::PeakEwma,
            ("c3", None) => PolicySpec::C3,
            ("prophet", None) => PolicySpec::Prophet { deliberate: true },
            ("prophet", Some("fast")) => PolicySpec::Prophet { deliberate: false },
            _ => return Err(bad()),
        })
    }

    /// The policy's name as `parse` takes it.
    pub fn name(&self) -> String {
        match self {
            PolicySpec::First => "first".into(),
            PolicySpec::Fixed(i) => format!("fixed:{i}"),
            PolicySpec::Random => "random".into(),
            PolicySpec::RoundRobin => "round-robin".into(),
            PolicySpec::Affinity => "affinity".into(),
            PolicySpec::EpsilonGreedy(e) => format!("epsilon-greedy:{e}"),
            PolicySpec::Ucb1 => "ucb1".into(),
            PolicySpec::Thompson => "thompson".into(),
            PolicySpec::P2c => "p2c".into(),
            PolicySpec::PeakEwma => "peak-ewma".into(),
            PolicySpec::C3 => "c3".into(),
            PolicySpec::Prophet { deliberate: true } => "prophet".into(),
            PolicySpec::Prophet { deliberate: false } => "prophet:fast".into(),
            PolicySpec::Heuristic(name, _) => (*name).into(),
        }
    }

    /// A fresh policy.
    pub fn build(&self) -> Box<dyn Policy> {
        let kind = match self {
            PolicySpec::First => return Box::new(Fixed(0)),
            PolicySpec::Fixed(i) => return Box::new(Fixed(*i)),
            PolicySpec::Random => return Box::new(Uniform),
            PolicySpec::RoundRobin => return Box::new(RoundRobin(0)),
            PolicySpec::Affinity => return Box::new(Affinity),
            PolicySpec::Prophet { deliberate } => return Box::new(FastPath::new(*deliberate)),
            PolicySpec::EpsilonGreedy(e) => Kind::EpsilonGreedy(*e),
            PolicySpec::Ucb1 => Kind::Ucb1,
            PolicySpec::Thompson => Kind::Thompson,
            PolicySpec::P2c => Kind::P2c,
            PolicySpec::PeakEwma => Kind::PeakEwma,
            PolicySpec::C3 => Kind::C3,
            PolicySpec::Heuristic(_, f) => Kind::Heuristic(Arc::clone(f)),
        };
        Box::new(Learning {
            kind,
            arms: hashbrown::HashMap::with_hasher(foldhash::fast::FixedState::with_seed(0)),
            view: Vec::new(),
            decisions: 0,
        })
    }
}

struct Fixed(usize);
impl Policy for Fixed {
    /// # Panics
    /// When candidate `i` does not exist: a policy that names a candidate
    /// the choice does not have is a configuration error, reported at the
    /// first decision (the checker, the simulator and the live runtime all
    /// stop there with this message), never silently replaced by another
    /// candidate.
    fn choose(&mut self, view: &ChoiceView, _: &mut dyn RngCore) -> usize {
        assert!(
            self.0 < view.candidates,
            "policy fixed:{} names candidate {} of choice `{}`, which has {} candidates (fixed:0 to fixed:{})",
            self.0,
            self.0,
            view.name,
            view.candidates,
            view.candidates - 1
        );
        self.0
    }

    fn explain(&self, view: &ChoiceView, out: &mut Explanation) {
        out.clear();
        out.certain(view.candidates, self.0);
    }
}

struct Uniform;
impl Policy for Uniform {
    fn choose(&mut self, view: &ChoiceView, rng: &mut dyn RngCore) -> usize {
        rng.random_range(0..view.candidates)
    }

    fn explain(&self, view: &ChoiceView, out: &mut Explanation) {
        out.clear();
        out.uniform(view.candidates);
    }
}

struct RoundRobin(usize);
impl Policy for RoundRobin {
    fn choose(&mut self, view: &ChoiceView, _: &mut dyn RngCore) -> usize {
        let i = self.0 % view.candidates;
        self.record_pick(view, i);
        i
    }

    fn explain(&self, view: &ChoiceView, out: &mut Explanation) {
        out.clear();
        out.certain(view.candidates, self.0 % view.candidates);
    }

    fn record_pick(&mut self, _: &ChoiceView, _: usize) {
        self.0 = self.0.wrapping_add(1);
    }
}

struct Affinity;
impl Affinity {
    /// Rendezvous (highest random weight): a candidate's score depends
    /// only on (context, its key), so removing one candidate moves only
    /// the contexts it had.
    fn owner(view: &ChoiceView, context: u64) -> usize {
        let score = |key: u64| crate::model::mix_seq(context ^ crate::model::mix_seq(key));
        let mut best = 0;
        for (i, &key) in view.keys.iter().enumerate() {
            if score(key) > score(view.keys[best]) {
                best = i;
            }
        }
        best
    }
}

impl Policy for Affinity {
    fn choose(&mut self, view: &ChoiceView, rng: &mut dyn RngCore) -> usize {
        match view.context {
            Some(context) => Affinity::owner(view, context),
            None => rng.random_range(0..view.candidates),
        }
    }

    fn explain(&self, view: &ChoiceView, out: &mut Explanation) {
        out.clear();
        match view.context {
            Some(context) => out.certain(view.candidates, Affinity::owner(view, context)),
            None => out.uniform(view.candidates),
        }
    }
}

/// Per-candidate statistics kept by the learning policies and given to heuristics.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ArmStats {
    /// Outcomes observed.
    pub n: u64,
    /// Mean cost (seconds).
    pub mean: f64,
    /// Sum of squared deviations (Welford), for the variance.
    pub m2: f64,
    /// Decisions for this candidate without an outcome yet.
    pub outstanding: u64,
    /// Peak-EWMA response time (seconds); 0 before the first outcome.
    pub peak_ewma: f64,
    /// EWMA response time, α = 0.1 per outcome.
    pub ewma: f64,
    /// Smallest cost seen.
    pub min: f64,
    /// Time of the last Peak-EWMA update.
    pub updated: Duration,
}

/// Peak-EWMA decay time constant (Finagle and Linkerd use 10 s).
pub const PEAK_EWMA_DECAY: Duration = Duration::from_secs(10);
/// Cost of a candidate with requests outstanding and no response yet.
const UNKNOWN_PENALTY: f64 = 1e3;

impl ArmStats {
    pub(crate) fn observe(&mut self, cost: f64, at: Duration) {
        self.outstanding = self.outstanding.saturating_sub(1);
        self.n += 1;
        let delta = cost - self.mean;
        self.mean += delta / self.n as f64;
        self.m2 += delta * (cost - self.mean);
        if self.n == 1 {
            self.ewma = cost;
            self.min = cost;
            self.peak_ewma = cost;
        } else {
            self.ewma = 0.9 * self.ewma + 0.1 * cost;
            self.min = self.min.min(cost);
            if cost > self.peak_ewma {
                self.peak_ewma = cost;
            } else {
                let w = self.weight(at);
                self.peak_ewma = self.peak_ewma * w + cost * (1.0 - w);
            }
        }
        self.updated = at;
    }

    fn weight(&self, at: Duration) -> f64 {
        let dt = at.saturating_sub(self.updated).as_secs_f64();
        (-dt / PEAK_EWMA_DECAY.as_secs_f64()).exp()
    }

    fn peak_ewma_cost(&self) -> f64 {
        if self.n == 0 {
            if self.outstanding == 0 {
                0.0
            } else {
                UNKNOWN_PENALTY + self.outstanding as f64
            }
        } else {
            self.peak_ewma * (self.outstanding as f64 + 1.0)
        }
    }

    fn c3_score(&self) -> f64 {
        if self.n == 0 {
            return if self.outstanding == 0 {
                0.0
            } else {
                UNKNOWN_PENALTY + self.outstanding as f64
            };
        }
        let q = 1.0 + self.outstanding as f64;
        let service = self.min.max(1e-9);
        self.ewma - service + q * q * q * service
    }
}

enum Kind {
    EpsilonGreedy(f64),
    Ucb1,
    Thompson,
    P2c,
    PeakEwma,
    C3,
    Heuristic(Arc<HeuristicFn>),
}

struct Learning {
    kind: Kind,
    /// Statistics by candidate key.
    arms: hashbrown::HashMap<u64, ArmStats, foldhash::fast::FixedState>,
    /// The current candidates' statistics, in candidate order (reused).
    view: Vec<ArmStats>,
    decisions: u64,
}

/// The index of the least score (the first of equals; 0 when empty).
pub(crate) fn argmin(scores: impl Iterator<Item = f64>) -> usize {
    let mut best = (0, f64::INFINITY);
    for (i, s) in scores.enumerate() {
        if s < best.1 {
            best = (i, s);
        }
    }
    best.0
}

fn two_distinct(rng: &mut dyn RngCore, n: usize) -> (usize, usize) {
    let a = rng.random_range(0..n);
    if n == 1 {
        return (a, a);
    }
    let b = (a + 1 + rng.random_range(0..n - 1)) % n;
    (a, b)
}

/// Draws behind a Thompson sampler's explained probabilities.
const THOMPSON_EXPLAIN_DRAWS: u32 = 1024;

impl Learning {
    /// The current candidates' statistics, in candidate order.
    fn arms_of(&self, view: &ChoiceView, into: &mut Vec<ArmStats>) {
        debug_assert_eq!(view.keys.len(), view.candidates);
        into.clear();
        into.extend(
            view.keys
                .iter()
                .map(|k| self.arms.get(k).copied().unwrap_or_default()),
        );
    }

    /// Each arm's UCB1 score (lower is better).
    fn ucb1_scores(arms: &[ArmStats]) -> impl Iterator<Item = f64> + '_ {
        // Pulls include decisions still waiting for their outcome: counting
        // only outcomes, an arm whose outcomes stop coming (a crashed
        // replica, until its timeouts come back) gains bonus with every
        // other arm's outcome and takes nearly every decision.
        let pulls = |a: &ArmStats| (a.n + a.outstanding).max(1);
        let scale = arms.iter().map(|a| a.mean).fold(1e-9, f64::max);
        let total: u64 = arms.iter().map(pulls).sum();
        let ln = (total as f64).ln();
        arms.iter().map(move |a| {
            let m = pulls(a) as f64;
            a.mean / scale - (2.0 * ln / m).sqrt()
        })
    }

    /// One Thompson draw per arm (lower is better).
    fn thompson_draws<'r>(
        arms: &'r [ArmStats],
        rng: &'r mut dyn RngCore,
    ) -> impl Iterator<Item = f64> + 'r {
        let spread = arms.iter().map(|a| a.mean).fold(1e-9, f64::max);
        arms.iter().map(move |a| {
            let m = a.n.max(1) as f64;
            let var = if a.n > 1 {
                a.m2 / (m - 1.0)
            } else {
                spread * spread
            };
            let z: f64 = StandardNormal.sample(rng);
            a.mean + z * (var / m).sqrt()
        })
    }

    /// The cost a power-of-two-choices policy compares, if this is one.
    fn pair_cost(&self) -> Option<fn(&ArmStats) -> f64> {
        match self.kind {
            Kind::P2c => Some(|a| a.outstanding as f64),
            Kind::PeakEwma => Some(ArmStats::peak_ewma_cost),
            _ => None,
        }
    }

    /// The arm's current cost as this policy estimates it.
    fn predicted(&self, a: &ArmStats) -> Option<Prediction> {
        if a.n == 0 {
            return None;
        }
        let mean = match self.kind {
            Kind::C3 => a.ewma,
            Kind::PeakEwma => a.peak_ewma,
            _ => a.mean,
        };
        // One observation says nothing of the spread: [0, 2 × mean].
        let half = if a.n > 1 {
            1.96 * (a.m2 / (a.n - 1) as f64 / a.n as f64).sqrt()
        } else {
            mean
        };
        Some(Prediction {
            mean,
            lo: (mean - half).max(0.0),
            hi: mean + half,
        })
    }
}

impl Policy for Learning {
    fn choose(&mut self, view: &ChoiceView, rng: &mut dyn RngCore) -> usize {
        let n = view.candidates;
        let mut arms = std::mem::take(&mut self.view);
        self.arms_of(view, &mut arms);
        self.decisions += 1;
        let untried = arms.iter().position(|a| a.n == 0 && a.outstanding == 0);
        let chosen = match &self.kind {
            Kind::EpsilonGreedy(eps) => {
                if let Some(i) = untried {
                    i
                } else if rng.random_bool(*eps) {
                    rng.random_range(0..n)
                } else {
                    argmin(
                        arms.iter()
                            .map(|a| if a.n == 0 { f64::INFINITY } else { a.mean }),
                    )
                }
            }
            Kind::Ucb1 => untried.unwrap_or_else(|| argmin(Learning::ucb1_scores(&arms))),
            Kind::Thompson => match untried {
                Some(i) => i,
                None => {
                    let scores: Vec<f64> = Learning::thompson_draws(&arms, rng).collect();
                    argmin(scores.into_iter())
                }
            },
            Kind::P2c | Kind::PeakEwma => {
                let cost = self.pair_cost().unwrap_or(|_| 0.0);
                let (a, b) = two_distinct(rng, n);
                if cost(&arms[b]) < cost(&arms[a]) {
                    b
                } else {
                    a
                }
            }
            Kind::C3 => {
                let scores: Vec<f64> = arms.iter().map(ArmStats::c3_score).collect();
                // Ties (e.g. all idle at start) broken at random, not by index.
                let best = scores.iter().copied().fold(f64::INFINITY, f64::min);
                let tied: Vec<usize> = (0..n).filter(|&i| scores[i] <= best).collect();
                tied[rng.random_range(0..tied.len())]
            }
            Kind::Heuristic(f) => f(view, &arms, rng).min(n - 1),
        };
        self.view = arms;
        self.record_pick(view, chosen);
        chosen
    }

    fn observe(&mut self, outcome: &Outcome) {
        self.arms
            .entry(outcome.key)
            .or_default()
            .observe(outcome.cost(), outcome.at);
    }

    fn record_pick(&mut self, view: &ChoiceView, pick: usize) {
        self.arms.entry(view.keys[pick]).or_default().outstanding += 1;
    }

    fn explain(&self, view: &ChoiceView, out: &mut Explanation) {
        out.clear();
        let n = view.candidates;
        let mut arms = Vec::with_capacity(n);
        self.arms_of(view, &mut arms);
        out.predicted.extend(arms.iter().map(|a| self.predicted(a)));
        let untried = arms.iter().position(|a| a.n == 0 && a.outstanding == 0);
        match (&self.kind, untried) {
            (Kind::Heuristic(_), _) => {}
            (Kind::P2c | Kind::PeakEwma | Kind::C3, _) | (_, None) => {}
            (_, Some(i)) => return out.certain(n, i),
        }
        match &self.kind {
            Kind::EpsilonGreedy(eps) => {
                let greedy = argmin(
                    arms.iter()
                        .map(|a| if a.n == 0 { f64::INFINITY } else { a.mean }),
                );
                out.probabilities.resize(n, eps / n as f64);
                out.probabilities[greedy] += 1.0 - eps;
            }
            Kind::Ucb1 => out.certain(n, argmin(Learning::ucb1_scores(&arms))),
            Kind::Thompson => {
                // Estimated from draws of a generator of its own (the run's
                // is not touched), with half a draw added to every arm: a
                // Gaussian posterior gives every arm some probability, and
                // an estimate of 0 would hide that.
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(
                    self.decisions ^ u64::from(view.node.0) << 40,
                );
                let mut wins = vec![0.5f64; n];
                for _ in 0..THOMPSON_EXPLAIN_DRAWS {
                    wins[argmin(Learning::thompson_draws(&arms, &mut rng))] += 1.0;
                }
                let total: f64 = wins.iter().sum();
                out.probabilities.extend(wins.iter().map(|w| w / total));
            }
            Kind::P2c | Kind::PeakEwma => {
                let cost = self.pair_cost().unwrap_or(|_| 0.0);
                if n == 1 {
                    return out.certain(1, 0);
                }
                // Every ordered pair (a, b ≠ a) is drawn with probability
                // 1 / (n (n − 1)); b wins only when strictly cheaper.
                out.probabilities.resize(n, 0.0);
                let pair = 1.0 / (n * (n - 1)) as f64;
                for a in 0..n {
                    for b in (0..n).filter(|&b| b != a) {
                        let winner = if cost(&arms[b]) < cost(&arms[a]) {
                            b
                        } else {
                            a
                        };
                        out.probabilities[winner] += pair;
                    }
                }
            }
            Kind::C3 => {
                let scores: Vec<f64> = arms.iter().map(ArmStats::c3_score).collect();
                let best = scores.iter().copied().fold(f64::INFINITY, f64::min);
                let tied = scores.iter().filter(|&&s| s <= best).count();
                out.probabilities.extend(
                    scores
                        .iter()
                        .map(|&s| if s <= best { 1.0 / tied as f64 } else { 0.0 }),
                );
            }
            Kind::Heuristic(_) => {}
        }
        debug_assert!(
            out.probabilities.is_empty()
                || (out.probabilities.iter().sum::<f64>() - 1.0).abs() < 1e-9
        );
    }
}

/// The policies of a run: a spec per choice name, instantiated per node.
pub struct PolicyTable {
    specs: BTreeMap<String, PolicySpec>,
    default: PolicySpec,
    live: hashbrown::HashMap<(NodeId, &'static str), Box<dyn Policy>, foldhash::fast::FixedState>,
}

impl PolicyTable {
    /// Every choice resolved by `default` unless named in `specs`.
    pub fn new(default: PolicySpec, specs: BTreeMap<String, PolicySpec>) -> Self {
        PolicyTable {
            specs,
            default,
            live: hashbrown::HashMap::with_hasher(foldhash::fast::FixedState::with_seed(0)),
        }
    }

    /// The spec used for choice `name`.
    pub fn spec(&self, name: &str) -> &PolicySpec {
        self.specs.get(name).unwrap_or(&self.default)
    }

    /// The policy that resolves `view`'s choice at its node (built at its
    /// first use).
    fn policy(&mut self, view: &ChoiceView<'_>) -> &mut Box<dyn Policy> {
        let key = (view.node, view.name);
        if !self.live.contains_key(&key) {
            let built = self.spec(view.name).build();
            self.live.insert(key, built);
        }
        self.live.get_mut(&key).expect("inserted above")
    }

    /// Resolves a choice.
    pub fn choose(&mut self, view: &ChoiceView<'_>, rng: &mut dyn RngCore) -> usize {
        match self.live.get_mut(&(view.node, view.name)) {
            Some(p) => p.choose(view, rng),
            None => self.policy(view).choose(view, rng),
        }
    }

    /// What the policy of `view`'s choice would do ([`Policy::explain`]).
    pub fn explain(&mut self, view: &ChoiceView<'_>, out: &mut Explanation) {
        self.policy(view).explain(view, out);
    }

    /// Tells the policy of `view`'s choice that `pick` was chosen
    /// ([`Policy::record_pick`]).
    pub fn record_pick(&mut self, view: &ChoiceView<'_>, pick: usize) {
        self.policy(view).record_pick(view, pick);
    }

    /// Whether some choice is resolved by `prophet` with deliberation on
    /// (which needs an executor that deliberates).
    pub fn deliberates(&self) -> bool {
        std::iter::once(&self.default)
            .chain(self.specs.values())
            .any(|s| matches!(s, PolicySpec::Prophet { deliberate: true }))
    }

    /// The choices at `node` whose policies want predictions, with the
    /// candidates' keys of their last decision (appended to `into`).
    pub fn advice_wanted(&self, node: NodeId, into: &mut Vec<(&'static str, Vec<u64>)>) {
        for ((at, name), policy) in &self.live {
            if *at == node
                && let Some(keys) = policy.advice_wanted()
            {
                into.push((name, keys.to_vec()));
            }
        }
        into.sort_by_key(|(name, _)| *name);
    }

    /// Hands deliberation's predictions to the policy of `name` at `node`.
    pub fn advise(&mut self, node: NodeId, name: &'static str, advice: &Advice) {
        if let Some(p) = self.live.get_mut(&(node, name)) {
            p.advise(advice);
        }
    }

    /// Feeds an outcome to the policy that made the decision.
    pub fn observe(&mut self, outcome: &Outcome) {
        if let Some(p) = self.live.get_mut(&(outcome.node, outcome.name)) {
            p.observe(outcome);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    const KEYS: [u64; 4] = [70, 71, 72, 73];

    fn view(candidates: usize) -> ChoiceView<'static> {
        ChoiceView {
            node: NodeId(0),
            name: "c",
            candidates,
            keys: &KEYS[..candidates],
            context: None,
            now: Duration::ZERO,
        }
    }

    fn outcome(key: u64, cost: f64, at: Duration) -> Outcome {
        Outcome {
            decision: 0,
            node: NodeId(0),
            name: "c",
            key,
            context: None,
            samples: vec![(LATENCY, cost)],
            at,
        }
    }

    #[test]
    fn affinity_keeps_a_context_on_one_candidate_and_moves_few_when_one_goes() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut p = PolicySpec::parse("affinity").expect("known").build();
        let pick = |p: &mut Box<dyn Policy>, rng: &mut ChaCha8Rng, n: usize, c: u64| {
            let mut v = view(n);
            v.context = Some(c);
            p.choose(&v, rng)
        };
        let four: Vec<usize> = (0..1000).map(|c| pick(&mut p, &mut rng, 4, c)).collect();
        let again: Vec<usize> = (0..1000).map(|c| pick(&mut p, &mut rng, 4, c)).collect();
        assert_eq!(four, again);
        // 1000 contexts over 4 candidates: 250 each, ±5 standard deviations.
        for i in 0..4 {
            let n = four.iter().filter(|&&x| x == i).count();
            assert!((180..=320).contains(&n), "candidate {i}: {n}");
        }
        // Without the last candidate, only its contexts move.
        let three: Vec<usize> = (0..1000).map(|c| pick(&mut p, &mut rng, 3, c)).collect();
        for (a, b) in four.iter().zip(&three) {
            assert!(a == b || *a == 3);
        }
    }

    #[test]
    fn unknown_policy_names_the_valid_ones() {
        let e = PolicySpec::parse("fastest").unwrap_err();
        assert!(e.to_string().contains("unknown policy `fastest`"), "{e}");
        assert!(e.to_string().contains("peak-ewma"), "{e}");
        assert!(PolicySpec::parse("fixed:x").is_err());
        assert_eq!(PolicySpec::parse("fixed:2").unwrap().name(), "fixed:2");
    }

    #[test]
    fn bandits_find_the_cheap_arm() {
        // Arm 2 costs 1 ms, the others 10 ms; after 500 rounds with feedback
        // each bandit picks arm 2 in at least 80% of the last 100 rounds.
        for spec in [
            PolicySpec::EpsilonGreedy(0.1),
            PolicySpec::Ucb1,
            PolicySpec::Thompson,
        ] {
            let mut rng = ChaCha8Rng::seed_from_u64(3);
            let mut p = spec.build();
            let mut late_hits = 0;
            for round in 0..500 {
                let i = p.choose(&view(4), &mut rng);
                let cost = if i == 2 { 0.001 } else { 0.010 };
                p.observe(&outcome(KEYS[i], cost, Duration::from_millis(round)));
                if round >= 400 && i == 2 {
                    late_hits += 1;
                }
            }
            assert!(late_hits >= 80, "{spec:?}: {late_hits}");
        }
    }

    #[test]
    fn ucb1_spreads_decisions_whose_outcomes_are_late() {
        // Four arms seen once each at the same cost, then 100 decisions
        // with no outcome yet: counting only outcomes, UCB1 gave all 100 to
        // arm 0 (equal scores, first wins); counting the waiting decisions
        // as pulls, each arm gets 25.
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut p = PolicySpec::Ucb1.build();
        for round in 0..4 {
            let i = p.choose(&view(4), &mut rng);
            p.observe(&outcome(KEYS[i], 0.010, Duration::from_millis(round)));
        }
        let mut picks = [0; 4];
        for _ in 0..100 {
            picks[p.choose(&view(4), &mut rng)] += 1;
        }
        assert_eq!(picks, [25; 4]);
    }

    #[test]
    fn what_a_learner_knows_stays_with_the_candidate_key() {
        // Candidate 72 is cheap. The list then shrinks and reorders: the
        // learner follows the key, not the position it had.
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut p = PolicySpec::EpsilonGreedy(0.0).build();
        for round in 0..40 {
            let i = p.choose(&view(4), &mut rng);
            let cost = if KEYS[i] == 72 { 0.001 } else { 0.010 };
            p.observe(&outcome(KEYS[i], cost, Duration::from_millis(round)));
        }
        let reordered = [73, 72];
        let view = ChoiceView {
            keys: &reordered,
            candidates: 2,
            ..view(4)
        };
        assert_eq!(p.choose(&view, &mut rng), 1, "key 72 is now at index 1");
    }

    #[test]
    fn a_reported_cost_replaces_latency() {
        let mut o = outcome(1, 0.5, Duration::ZERO);
        assert_eq!(o.cost(), 0.5);
        o.samples.push((COST, 2.0));
        assert_eq!((o.latency(), o.cost()), (0.5, 2.0));
    }

    /// A policy that has seen arms 70..73 at costs 4, 1, 2, 1 ms, with
    /// decisions outstanding on some.
    fn prepared(spec: &PolicySpec) -> Box<dyn Policy> {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let mut p = spec.build();
        let v = view(4);
        for (round, (i, cost)) in [(0, 4.0), (1, 1.0), (2, 2.0), (3, 1.0), (1, 1.2)]
            .into_iter()
            .enumerate()
        {
            p.record_pick(&v, i);
            p.observe(&outcome(
                KEYS[i],
                cost * 1e-3,
                Duration::from_millis(round as u64),
            ));
        }
        p.record_pick(&v, 3);
        p.record_pick(&v, 3);
        let _ = p.choose(&v, &mut rng);
        p
    }

    #[test]
    fn explained_probabilities_are_the_frequencies_of_the_picks() {
        // For every built-in: the explanation of the next pick against
        // 4,000 picks made from the same state (each from a fresh copy),
        // within 0.03 (over 4 standard deviations at p = 0.5).
        for spec in [
            PolicySpec::Fixed(2),
            PolicySpec::Random,
            PolicySpec::RoundRobin,
            PolicySpec::EpsilonGreedy(0.2),
            PolicySpec::Ucb1,
            PolicySpec::Thompson,
            PolicySpec::P2c,
            PolicySpec::PeakEwma,
            PolicySpec::C3,
        ] {
            let mut explained = Explanation::default();
            prepared(&spec).explain(&view(4), &mut explained);
            assert_eq!(explained.probabilities.len(), 4, "{spec:?}");
            let mut rng = ChaCha8Rng::seed_from_u64(11);
            let mut counts = [0u32; 4];
            const PICKS: u32 = 4000;
            for _ in 0..PICKS {
                counts[prepared(&spec).choose(&view(4), &mut rng)] += 1;
            }
            for (i, &c) in counts.iter().enumerate() {
                let seen = f64::from(c) / f64::from(PICKS);
                assert!(
                    (seen - explained.probabilities[i]).abs() < 0.03,
                    "{spec:?}: candidate {i} picked {seen}, explained {:?}",
                    explained.probabilities
                );
            }
        }
    }

    #[test]
    fn learners_predict_each_seen_candidate_with_an_interval() {
        let mut explained = Explanation::default();
        prepared(&PolicySpec::EpsilonGreedy(0.1)).explain(&view(4), &mut explained);
        let p = explained.predicted;
        assert_eq!(p.len(), 4);
        // Arm 71 was seen twice (1 and 1.2 ms): mean 1.1 ms, interval around it.
        let two = p[1].expect("seen");
        assert!((two.mean - 0.0011).abs() < 1e-12);
        assert!(two.lo < two.mean && two.mean < two.hi);
        // Seen once: [0, 2 × mean].
        let once = p[0].expect("seen");
        assert_eq!((once.lo, once.hi), (0.0, 0.008));
        let mut explained = Explanation::default();
        PolicySpec::Random.build().explain(&view(4), &mut explained);
        assert!(explained.predicted.is_empty());
    }

    #[test]
    fn round_robin_cycles() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let mut p = PolicySpec::RoundRobin.build();
        let picks: Vec<usize> = (0..5).map(|_| p.choose(&view(3), &mut rng)).collect();
        assert_eq!(picks, vec![0, 1, 2, 0, 1]);
    }
}
