//! The resolver's deliberation: predicting each candidate's consequence by
//! simulating forward from the deciding node's own view, under the
//! performance model the node learned from its own observations.
//!
//! It sits above `sim` (it runs simulations) and plugs into a run through
//! [`crate::sim::deliberate`], so the simulator never imports it. In a run,
//! every node whose choice is resolved by `prophet` gets a
//! [`PerformanceModel`] fed with what it saw (message arrivals with their
//! headers, its own decisions' outcomes: never the run's network model or
//! another node's memory). Every [`ResolverConfig::period`] of simulated
//! time, just before one of the node's handlers runs, deliberation builds
//! a global state from the node's local view (its own state; every other
//! node at its boot state), and for each candidate of each of its
//! `prophet` choices simulates, [`ResolverConfig::rollouts`] times, one
//! request of the protocol's workload arriving at the node with the
//! decision forced to that candidate, each under a network drawn from the
//! model's uncertainty (a bootstrap of its windows). The rollouts' costs
//! are blended with what the node measured of the candidate since its
//! last change (weight [`ResolverConfig::prior_weight`] for the
//! simulation against one per measured outcome) into a prediction with a
//! standard deviation and a marginal cost per outstanding request, handed
//! to the fast path ([`crate::choice::fast_path`]).
//!
//! Every random draw comes from a generator seeded by the run's seed, so
//! a seed reproduces a run with deliberation exactly. Nothing here names a
//! choice or a system.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::choice::{Advice, Advised, PolicySpec, PolicyTable};
use crate::model::{GlobalState, Node, NodeId, System, Workload};
use crate::predict::PerformanceModel;
use crate::sim::deliberate::{Deliberation, Deliberator};
use crate::sim::{Limits, Load, NetworkModel, Observation, Simulator};

/// How the resolver deliberates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ResolverConfig {
    /// Simulated time between a node's deliberations.
    pub period: Duration,
    /// Rollouts per candidate per deliberation.
    pub rollouts: u32,
    /// The longest a rollout runs (a request that takes longer costs this).
    pub horizon: Duration,
    /// Events a rollout runs at most.
    pub rollout_events: u64,
    /// How many measured outcomes the simulation's prediction is worth.
    pub prior_weight: f64,
    /// Measured outcomes a prediction uses at most (the latest of the
    /// candidate's current regime): queues at a candidate change within a
    /// second, and older outcomes describe queues that are gone.
    pub recent: usize,
    /// How fast measured outcomes age: one measured `memory` ago counts
    /// `1/e` of a fresh one against the simulation.
    pub memory: Duration,
}

impl Default for ResolverConfig {
    fn default() -> Self {
        ResolverConfig {
            period: Duration::from_millis(200),
            rollouts: 1,
            horizon: Duration::from_secs(10),
            rollout_events: 64,
            prior_weight: 4.0,
            recent: 16,
            memory: Duration::from_secs(10),
        }
    }
}

/// The resolver's deliberation for the runs of one simulator.
pub struct Resolver<'s, N: Node> {
    system: &'s System<N>,
    workload: Option<&'s dyn Workload<N>>,
    config: ResolverConfig,
}

impl<'s, N: Node> Resolver<'s, N> {
    /// Deliberation for `system`, whose rollouts issue requests of
    /// `workload` (without one, predictions rest on measurements alone).
    pub fn new(
        system: &'s System<N>,
        workload: Option<&'s dyn Workload<N>>,
        config: ResolverConfig,
    ) -> Self {
        Resolver {
            system,
            workload,
            config,
        }
    }

    /// The global state deliberation starts from: `node`'s own state, every
    /// other node as it boots, nothing in flight.
    fn local_view(&self, node: NodeId, state: &N::State) -> GlobalState<N> {
        let mut view = self.system.boot_state();
        view.nodes[node.index()].state = state.clone();
        view
    }
}

impl<N: Node> Deliberation<N> for Resolver<'_, N> {
    fn start(&self, seed: u64) -> Box<dyn Deliberator<N> + '_> {
        Box::new(RunDeliberator {
            resolver: self,
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x7265_736f_6c76_6572),
            models: hashbrown::HashMap::with_hasher(foldhash::fast::FixedState::with_seed(0)),
            due: hashbrown::HashMap::with_hasher(foldhash::fast::FixedState::with_seed(0)),
            wanted: Vec::new(),
            deliberations: 0,
        })
    }
}

struct RunDeliberator<'r, 's, N: Node> {
    resolver: &'r Resolver<'s, N>,
    rng: ChaCha8Rng,
    /// Per node that resolves a choice with `prophet`, what it learned.
    models: hashbrown::HashMap<NodeId, PerformanceModel, foldhash::fast::FixedState>,
    /// Per node, when it next deliberates.
    due: hashbrown::HashMap<NodeId, Duration, foldhash::fast::FixedState>,
    wanted: Vec<(&'static str, Vec<u64>)>,
    deliberations: u64,
}

impl<N: Node> Deliberator<N> for RunDeliberator<'_, '_, N> {
    fn observe(&mut self, seen: &Observation<'_>) {
        match seen {
            Observation::Message(m) => {
                if let Some(model) = self.models.get_mut(&m.node) {
                    model.observe_message(m.from, m.delay, m.service, m.queue, m.at);
                }
            }
            Observation::Outcome { outcome, .. } => {
                if let Some(model) = self.models.get_mut(&outcome.node) {
                    model.observe_outcome(outcome);
                }
            }
            Observation::Decision(_) => {}
        }
    }

    fn before_handler(
        &mut self,
        node: NodeId,
        state: &N::State,
        now: Duration,
        policies: &mut PolicyTable,
    ) {
        if self.due.get(&node).is_some_and(|&due| due > now) {
            return;
        }
        self.due.insert(node, now + self.resolver.config.period);
        let mut wanted = std::mem::take(&mut self.wanted);
        wanted.clear();
        policies.advice_wanted(node, &mut wanted);
        if !wanted.is_empty() {
            self.models
                .entry(node)
                .or_insert_with(|| PerformanceModel::new(node));
            for (choice, keys) in &wanted {
                let advice = self.deliberate(node, state, choice, keys, now);
                policies.advise(node, choice, &advice);
            }
            self.deliberations += 1;
        }
        self.wanted = wanted;
    }
}

impl<N: Node> RunDeliberator<'_, '_, N> {
    /// Predicts each of `keys` for `choice` at `node`.
    fn deliberate(
        &mut self,
        node: NodeId,
        state: &N::State,
        choice: &'static str,
        keys: &[u64],
        now: Duration,
    ) -> Advice {
        let config = self.resolver.config;
        let view = self.resolver.local_view(node, state);
        let prior = NetworkModel::default();
        let mut advice = Advice {
            at: now,
            candidates: Vec::with_capacity(keys.len()),
        };
        // Simulate every candidate, then learn the simulation's systematic
        // error at this node (the median, over candidates measured in the
        // last `memory`, of measured minus simulated: what the model leaves
        // out, such as other nodes' load) and correct every candidate's
        // rollouts by it before judging each one against its measurements.
        let mut rows = Vec::with_capacity(keys.len());
        for &key in keys {
            let mut simulated: Vec<f64> = Vec::with_capacity(config.rollouts as usize);
            if self.resolver.workload.is_some() {
                for _ in 0..config.rollouts {
                    let model = &self.models[&node];
                    let network = model.sample_network_model(&prior, &mut self.rng);
                    let seed = self.rng.next_u64();
                    if let Some(cost) = self.rollout(&view, network, node, choice, key, seed) {
                        simulated.push(cost);
                    }
                }
            }
            let measured = self.models[&node].candidate(choice, key);
            let measured_costs: Vec<f64> = measured
                .map(|c| {
                    let regime = c.latency.values().len();
                    let costs: Vec<f64> = c.cost.values().collect();
                    costs[costs.len().saturating_sub(regime.min(config.recent))..].to_vec()
                })
                .unwrap_or_default();
            let age = measured
                .and_then(|c| c.cost.last_at())
                .map_or(Duration::MAX, |last| {
                    now.saturating_sub(Duration::from_secs_f64(last.max(0.0)))
                });
            rows.push((key, simulated, measured_costs, age));
        }
        let mut errors: Vec<f64> = rows
            .iter()
            .filter(|(_, sim, measured, age)| {
                !sim.is_empty() && !measured.is_empty() && *age <= config.memory
            })
            .map(|(_, sim, measured, _)| {
                measured.iter().sum::<f64>() / measured.len() as f64
                    - sim.iter().sum::<f64>() / sim.len() as f64
            })
            .collect();
        errors.sort_by(f64::total_cmp);
        let bias = errors.get(errors.len() / 2).copied().unwrap_or(0.0);
        for (key, mut simulated, measured, age) in rows {
            for x in &mut simulated {
                *x = (*x + bias).max(0.0);
            }
            advice
                .candidates
                .push(blend(key, &simulated, &measured, age, &config));
        }
        advice
    }

    /// The cost of one request at `node` whose decision of `choice` picks
    /// candidate `key`, simulated from `view` under `network`; `None` when
    /// no such decision was made within the rollout.
    fn rollout(
        &self,
        view: &GlobalState<N>,
        network: NetworkModel,
        node: NodeId,
        choice: &'static str,
        key: u64,
        seed: u64,
    ) -> Option<f64> {
        let workload = self.resolver.workload?;
        let config = self.resolver.config;
        let one = OneClient {
            inner: workload,
            client: node,
            offset: seed,
        };
        let found: Mutex<Option<f64>> = Mutex::new(None);
        let observer = |seen: &Observation<'_>| {
            if let Observation::Outcome { outcome, .. } = seen
                && outcome.node == node
                && outcome.name == choice
            {
                let mut slot = found.lock().unwrap_or_else(|p| p.into_inner());
                if slot.is_none() {
                    *slot = Some(outcome.cost());
                }
            }
        };
        let force: Arc<crate::choice::policy::HeuristicFn> =
            Arc::new(move |view, _, _| view.keys.iter().position(|&k| k == key).unwrap_or(0));
        let sim = Simulator::new(self.resolver.system)
            .network(network)
            .workload(
                &one,
                Load::Closed {
                    outstanding: 1,
                    think: crate::sim::LatencyDist::default(),
                },
            )
            .policy(choice, PolicySpec::Heuristic("prophet.rollout", force))
            .default_policy(PolicySpec::First)
            .limits(Limits {
                horizon: config.horizon,
                max_events: config.rollout_events,
                wall_budget: None,
            })
            .start_from(view.clone(), Vec::new())
            .without_metrics()
            .observe(&observer);
        let report = sim.run(seed).ok()?;
        let cost = *found.lock().unwrap_or_else(|p| p.into_inner());
        drop(report);
        cost
    }
}

/// One prediction from the rollouts' costs and the measured ones.
///
/// Each measured outcome counts `f = exp(-age / memory)`, `age` the time
/// since the last one. The simulation counts as `prior_weight` outcomes,
/// less the more fresh measurements disagree with it (by
/// `1 / (1 + z²)^f`, `z` the difference of the two means in standard
/// errors): a candidate the model cannot explain (a slowdown on the path
/// to it that the node never sees in its peers' messages) is judged on
/// what was measured, and once those measurements are old, on the
/// simulation again (so it is tried again).
fn blend(
    key: u64,
    simulated: &[f64],
    measured: &[f64],
    age: Duration,
    config: &ResolverConfig,
) -> Advised {
    let mean_of = |xs: &[f64]| xs.iter().sum::<f64>() / xs.len().max(1) as f64;
    let var_of = |xs: &[f64], m: f64| {
        xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / xs.len().saturating_sub(1).max(1) as f64
    };
    let (ms, mm) = (mean_of(simulated), mean_of(measured));
    let (vs, vm) = (var_of(simulated, ms), var_of(measured, mm));
    let fresh = (-age.as_secs_f64() / config.memory.as_secs_f64().max(1e-9)).exp();
    let ws = if simulated.is_empty() {
        0.0
    } else if measured.len() >= 2 {
        let se2 = vm / measured.len() as f64 + vs / simulated.len() as f64;
        let z2 = (mm - ms).powi(2) / se2.max(1e-18);
        config.prior_weight / (1.0 + z2).powf(fresh)
    } else {
        config.prior_weight
    };
    let wm = measured.len() as f64 * fresh;
    let marginal = simulated
        .iter()
        .chain(measured)
        .copied()
        .fold(f64::INFINITY, f64::min);
    let marginal = if marginal.is_finite() { marginal } else { 0.0 };
    if ws + wm < 1e-12 {
        return Advised {
            key,
            mean: if measured.is_empty() { ms } else { mm },
            sd: vs.max(vm).sqrt(),
            marginal,
        };
    }
    let mean = (ws * ms + wm * mm) / (ws + wm);
    let var = (ws * (vs + (ms - mean).powi(2)) + wm * (vm + (mm - mean).powi(2))) / (ws + wm);
    Advised {
        key,
        mean,
        sd: (var / (ws + wm).max(1.0)).sqrt(),
        marginal,
    }
}

/// The protocol's workload with every request at one client.
struct OneClient<'w, N: Node> {
    inner: &'w dyn Workload<N>,
    client: NodeId,
    offset: u64,
}

impl<N: Node> Workload<N> for OneClient<'_, N> {
    fn clients(&self) -> Vec<NodeId> {
        vec![self.client]
    }
    fn request(&self, client: NodeId, seq: u64) -> N::Msg {
        self.inner.request(client, self.offset.wrapping_add(seq))
    }
    fn span_metric(&self) -> &'static str {
        self.inner.span_metric()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measurements_that_disagree_with_the_simulation_outweigh_it_until_they_age() {
        let config = ResolverConfig::default();
        let sim = [0.005, 0.005];
        // Agreeing measurements: the prediction stays near both.
        let agree = blend(1, &sim, &[0.0051, 0.0049, 0.005], Duration::ZERO, &config);
        assert!((agree.mean - 0.005).abs() < 1e-4, "{agree:?}");
        // Three outcomes 250 ms late (a slowdown the model cannot see): the
        // prediction follows them, not the simulation.
        let late = [0.255, 0.256, 0.254];
        let fresh = blend(1, &sim, &late, Duration::ZERO, &config);
        assert!(fresh.mean > 0.25, "{fresh:?}");
        // A minute later the measurements count e^-6 each: the simulation
        // is believed again (so the candidate gets tried again).
        let stale = blend(1, &sim, &late, Duration::from_secs(60), &config);
        assert!(stale.mean < 0.02, "{stale:?}");
        // Nothing simulated or measured: nothing predicted.
        assert_eq!(blend(1, &[], &[], Duration::ZERO, &config).mean, 0.0);
    }
}
