//! The deterministic simulator: the same nodes the explorer checks, run in
//! virtual time under a network, fault and load model, with choices resolved
//! by policies and the system's objectives measured.
//!
//! ```
//! use prophet::prelude::*;
//! use prophet::sim::{NetworkModel, LatencyDist, Simulator};
//! use serde::{Deserialize, Serialize};
//! use std::time::Duration;
//!
//! /// Node 0 pings node 1 every 10 ms; the round trip is a span.
//! #[derive(Clone)]
//! struct Ping;
//! #[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
//! struct Count(u64);
//! impl Node for Ping {
//!     type State = Count;
//!     type Msg = u64;
//!     type Timer = ();
//!     type Durable = ();
//!     fn init(&self, _: NodeId, _: Option<()>) -> Count { Count(0) }
//!     fn on_start(&self, _: &mut Count, ctx: &mut Ctx<'_, Self>) {
//!         if ctx.id() == NodeId(0) { ctx.set_timer((), Duration::from_millis(10)); }
//!     }
//!     fn on_timer(&self, s: &mut Count, ctx: &mut Ctx<'_, Self>, _: ()) {
//!         s.0 += 1;
//!         ctx.begin_span("rtt", s.0);
//!         ctx.send(NodeId(1), s.0);
//!         ctx.set_timer((), Duration::from_millis(10));
//!     }
//!     fn on_message(&self, _: &mut Count, ctx: &mut Ctx<'_, Self>, from: NodeId, k: u64) {
//!         if ctx.id() == NodeId(1) { ctx.send(from, k) } else { ctx.end_span("rtt", k) }
//!     }
//!     fn durable(&self, _: &Count) {}
//! }
//!
//! let system = System::new("ping", vec![Ping, Ping])
//!     .objective(Objective::minimize("rtt_p99", "rtt", Aggregate::P99));
//! let report = Simulator::new(&system)
//!     .network(NetworkModel::uniform(LatencyDist::Constant { ms: 2.0 }))
//!     .horizon(Duration::from_secs(1))
//!     .run(7)
//!     .unwrap();
//! // 99 pings answered within the second (the 100th is still in flight).
//! assert_eq!(report.summaries["rtt"].count, 99);
//! assert!((report.objectives[0].value.unwrap() - 0.004).abs() < 1e-5, "{:?}", report.summaries);
//! ```
//!
//! Modules: [`network`] (links: latency, bandwidth, loss; service times),
//! [`dist`] (delay distributions), [`condition`] (slowdowns and partitions
//! over time), [`fault`] (crashes, churn, load), [`crate::choice`] (how `choose` is resolved
//! and the observation interface policies learn from), [`metrics`]
//! (objectives, percentiles, confidence intervals), [`scenario`] (the TOML
//! file format). This module owns no I/O, threads or async.

pub mod cache;
pub mod condition;
pub mod deliberate;
pub mod dist;
mod engine;
pub mod fault;
pub mod metrics;
pub mod network;
pub mod observe;
pub mod scenario;
pub mod steer;
pub mod zone;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::model::{GlobalState, Node, NodeId, System, Workload};

pub use engine::BYTES_SENT;
pub use fault::{Fault, Load, Phase, Stream};
pub use metrics::{ConstraintValue, Estimate, Metrics, ObjectiveValue, Summary};
pub use network::{
    LatencyDist, LinkModel, NetworkModel, Partition, Shape, Slowdown, Target, message_kind,
};
pub use observe::{MessageSeen, Observation, Observer};
// The policies live in `crate::choice`; re-exported here because the
// simulator is where most users meet them.
pub use crate::choice::{
    ChoiceView, FeedbackTracker, Outcome, Policy, PolicySpec, PolicyTable, UnknownPolicy,
};

/// A run with its schedule ([`Simulator::run_recorded`]).
pub struct RecordedRun<N: Node> {
    /// What the run measured.
    pub report: RunReport,
    /// The final global state (messages in flight not included).
    pub state: GlobalState<N>,
    /// Every handler run, crash and dropped message, as explorer steps, in
    /// order (a message dropped at a down node as its delivery there, one
    /// lost or cut off by a partition as its loss).
    pub schedule: Vec<crate::model::Step<N>>,
}

/// Why a run stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// Simulated time reached the horizon.
    Horizon,
    /// No event left.
    Quiescent,
    /// The event bound was hit.
    EventLimit,
    /// The wall-clock budget ran out.
    WallBudget,
    /// An `always` property failed (see [`RunReport::violation`]).
    Violation,
}

/// An invariant that failed during a run: rerun the seed to reproduce it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SimViolation {
    /// The property's name.
    pub property: String,
    /// Simulated time of the check that failed.
    pub at: Duration,
    /// Events processed by then.
    pub events: u64,
}

/// Bounds of one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Simulated time at which the run stops.
    pub horizon: Duration,
    /// Events after which the run stops.
    pub max_events: u64,
    /// Wall-clock time after which the run stops (checked every 4096 events).
    pub wall_budget: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            horizon: Duration::from_secs(60),
            max_events: 100_000_000,
            wall_budget: None,
        }
    }
}

/// Why a simulation could not run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// The network, fault, load or start configuration is invalid.
    #[error("invalid simulation setup: {0}")]
    Config(String),
    /// A handler panicked.
    #[error("{node} panicked at t={at:?}: {message}")]
    Panic {
        /// The node.
        node: NodeId,
        /// Simulated time.
        at: Duration,
        /// The panic message.
        message: String,
    },
}

/// What one run measured.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    /// The seed.
    pub seed: u64,
    /// Why it stopped.
    pub stop: StopReason,
    /// Simulated time covered.
    pub sim_time: Duration,
    /// Wall-clock time taken.
    pub wall: Duration,
    /// Events processed.
    pub events: u64,
    /// Events put on the scheduler's queue (its cost: a heap push and pop
    /// each). An input that finds its node busy waits in the node's own
    /// queue, so an overloaded node costs a constant number per message.
    pub scheduled: u64,
    /// Fingerprint of the whole event trace (time, kind, node, payload of
    /// every event): equal seeds give equal hashes.
    pub trace_hash: u64,
    /// Messages handed to the network.
    pub messages_sent: u64,
    /// Messages handled by their destination.
    pub messages_delivered: u64,
    /// Messages lost, blocked by a partition, or addressed to a down node.
    pub messages_dropped: u64,
    /// `choose` calls resolved.
    pub decisions: u64,
    /// Crashes injected.
    pub crashes: u64,
    /// Restarts.
    pub restarts: u64,
    /// The first `always` property that failed, when invariants are checked.
    pub violation: Option<SimViolation>,
    /// Every metric's aggregates.
    pub summaries: BTreeMap<String, Summary>,
    /// The system's objectives.
    pub objectives: Vec<ObjectiveValue>,
    /// The system's constraints.
    pub constraints: Vec<ConstraintValue>,
    /// The samples (histograms and plot samples).
    #[serde(skip)]
    pub metrics: Metrics,
    /// Handlers of a message with a cache key at a node with a cache
    /// ([`cache`]).
    pub cache_lookups: u64,
    /// Of those, the ones whose key was cached.
    pub cache_hits: u64,
    /// Bytes sent per ordered pair of zones, keyed `"from->to"` (empty
    /// without zones; [`zone`]).
    pub zone_bytes: BTreeMap<String, u64>,
    /// Bytes sent between different zones.
    pub cross_zone_bytes: u64,
    /// What steering did, when the run was steered ([`Simulator::steer`]).
    pub steering: Option<steer::SteeringReport>,
}

impl RunReport {
    fn empty(seed: u64) -> Self {
        RunReport {
            seed,
            stop: StopReason::Quiescent,
            sim_time: Duration::ZERO,
            wall: Duration::ZERO,
            events: 0,
            scheduled: 0,
            trace_hash: 0,
            messages_sent: 0,
            messages_delivered: 0,
            messages_dropped: 0,
            decisions: 0,
            crashes: 0,
            restarts: 0,
            violation: None,
            summaries: BTreeMap::new(),
            objectives: Vec::new(),
            constraints: Vec::new(),
            metrics: Metrics::new(0),
            cache_lookups: 0,
            cache_hits: 0,
            zone_bytes: BTreeMap::new(),
            cross_zone_bytes: 0,
            steering: None,
        }
    }

    /// The value of the objective `name`, if it had samples.
    pub fn objective(&self, name: &str) -> Option<f64> {
        self.objectives
            .iter()
            .find(|o| o.name == name)
            .and_then(|o| o.value)
    }
}

/// Objectives and constraints over several seeds.
#[derive(Clone, Debug, Serialize)]
pub struct SeedsReport {
    /// The seeds run.
    pub seeds: Vec<u64>,
    /// Per objective: its estimate over the seeds.
    pub objectives: BTreeMap<String, Estimate>,
    /// Per constraint: in how many runs it held.
    pub constraints_satisfied: BTreeMap<String, usize>,
    /// Events over all runs.
    pub events: u64,
    /// Simulated seconds over all runs.
    pub sim_secs: f64,
    /// Wall seconds over all runs.
    pub wall_secs: f64,
}

impl SeedsReport {
    /// Combines per-seed reports.
    pub fn from_runs(runs: &[RunReport]) -> Self {
        let mut values: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        let mut satisfied: BTreeMap<String, usize> = BTreeMap::new();
        for run in runs {
            for o in &run.objectives {
                let entry = values.entry(o.name.clone()).or_default();
                if let Some(v) = o.value {
                    entry.push(v);
                }
            }
            for c in &run.constraints {
                *satisfied.entry(c.name.clone()).or_default() += usize::from(c.satisfied);
            }
        }
        SeedsReport {
            seeds: runs.iter().map(|r| r.seed).collect(),
            objectives: values
                .into_iter()
                .filter_map(|(k, v)| Estimate::from_values(&v).map(|e| (k, e)))
                .collect(),
            constraints_satisfied: satisfied,
            events: runs.iter().map(|r| r.events).sum(),
            sim_secs: runs.iter().map(|r| r.sim_time.as_secs_f64()).sum(),
            wall_secs: runs.iter().map(|r| r.wall.as_secs_f64()).sum(),
        }
    }
}

type StartState<N> = (GlobalState<N>, Vec<(NodeId, <N as Node>::Timer, Duration)>);

/// A configured simulation of a system; [`Simulator::run`] runs one seed.
pub struct Simulator<'a, N: Node> {
    system: &'a System<N>,
    network: NetworkModel,
    faults: Vec<Fault>,
    workload: Option<&'a dyn Workload<N>>,
    load: Load,
    policies: BTreeMap<String, PolicySpec>,
    default_policy: PolicySpec,
    limits: Limits,
    sample_cap: usize,
    /// Whether runs keep metrics (see [`Simulator::without_metrics`]).
    keep_metrics: bool,
    start: Option<StartState<N>>,
    check_every: Option<u64>,
    progress: Option<&'a (dyn Fn(&RunProgress) + Sync)>,
    /// Where each run's observations go ([`observe`]).
    observer: Option<Observer<'a>>,
    /// Who deliberates for `prophet` policies ([`deliberate`]).
    deliberation: Option<&'a dyn deliberate::Deliberation<N>>,
    steering: Option<&'a dyn steer::Steering<N>>,
    /// Objectives measured besides the system's (a scenario's `[[objectives]]`).
    objectives: Vec<crate::model::Objective>,
    /// Constraints checked besides the system's (a scenario's `[[constraints]]`).
    constraints: Vec<crate::model::Constraint>,
}

/// Where a run is, reported every [`PROGRESS_EVENTS`] events.
#[derive(Clone, Copy, Debug)]
pub struct RunProgress {
    /// The run's seed.
    pub seed: u64,
    /// Simulated time reached.
    pub sim_time: Duration,
    /// The horizon.
    pub horizon: Duration,
    /// Events so far.
    pub events: u64,
}

/// Events a [`Simulator::run_traced`] rerun processes at most: the steps it
/// records (a clone of each message handled) stay within memory, and a
/// violation later than this has no trace.
pub const TRACE_EVENTS_MAX: u64 = 1_000_000;

/// How often (in events) a run reports progress.
pub const PROGRESS_EVENTS: u64 = 1 << 16;

impl<'a, N: Node> Simulator<'a, N> {
    /// Simulates `system` from boot on a 1 ms network with no faults or
    /// load, every choice resolved by `first`, for 60 s.
    pub fn new(system: &'a System<N>) -> Self {
        Simulator {
            system,
            network: NetworkModel::default(),
            faults: Vec::new(),
            workload: None,
            load: Load::None,
            policies: BTreeMap::new(),
            default_policy: PolicySpec::First,
            limits: Limits::default(),
            sample_cap: 200_000,
            keep_metrics: true,
            start: None,
            check_every: None,
            progress: None,
            observer: None,
            deliberation: None,
            steering: None,
            objectives: Vec::new(),
            constraints: Vec::new(),
        }
    }

    /// Also checks `constraint` (reported after the system's own).
    pub fn constraint(mut self, constraint: crate::model::Constraint) -> Self {
        self.constraints.push(constraint);
        self
    }

    /// Also measures `objective` (reported after the system's own).
    pub fn objective(mut self, objective: crate::model::Objective) -> Self {
        self.objectives.push(objective);
        self
    }

    /// Sets the network and node-performance model.
    pub fn network(mut self, network: NetworkModel) -> Self {
        self.network = network;
        self
    }

    /// Adds a fault.
    pub fn fault(mut self, fault: Fault) -> Self {
        self.faults.push(fault);
        self
    }

    /// Drives the system with `workload` under `load`.
    pub fn workload(mut self, workload: &'a dyn Workload<N>, load: Load) -> Self {
        self.workload = Some(workload);
        self.load = load;
        self
    }

    /// Resolves choice `name` with `policy`.
    pub fn policy(mut self, name: impl Into<String>, policy: PolicySpec) -> Self {
        self.policies.insert(name.into(), policy);
        self
    }

    /// The policy for choices not named with [`Simulator::policy`].
    pub fn default_policy(mut self, policy: PolicySpec) -> Self {
        self.default_policy = policy;
        self
    }

    /// Sets every bound.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the simulated horizon.
    pub fn horizon(mut self, horizon: Duration) -> Self {
        self.limits.horizon = horizon;
        self
    }

    /// Evaluates the system's `always` properties every `events` events and
    /// at the end; the run stops at the first that fails
    /// ([`StopReason::Violation`]). Off by default.
    pub fn check_invariants(mut self, events: u64) -> Self {
        self.check_every = Some(events.max(1));
        self
    }

    /// Calls `progress` every [`PROGRESS_EVENTS`] events of a run.
    pub fn on_progress(mut self, progress: &'a (dyn Fn(&RunProgress) + Sync)) -> Self {
        self.progress = Some(progress);
        self
    }

    /// Shows `observer` every decision (explained by its policy), outcome
    /// and message arrival of every run, as it happens ([`observe`]): what
    /// decision logs and the online performance model are fed from.
    pub fn observe(mut self, observer: Observer<'a>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Lets `deliberation` refresh the `prophet` policies' predictions
    /// between events ([`deliberate`]); a run with a `prophet` policy and
    /// no deliberation is refused.
    pub fn deliberate(mut self, deliberation: &'a dyn deliberate::Deliberation<N>) -> Self {
        self.deliberation = Some(deliberation);
        self
    }

    /// Steers the nodes with `steering` ([`steer`]): checkpoints travel as
    /// messages, and reviewed deliveries may be discarded as lost.
    pub fn steer(mut self, steering: &'a dyn steer::Steering<N>) -> Self {
        self.steering = Some(steering);
        self
    }

    /// Keeps no metrics (reports carry none, objectives are empty): for a
    /// caller that reads only its observations, such as the resolver's
    /// rollouts, thousands of short runs whose histograms would cost more
    /// than the runs.
    pub fn without_metrics(mut self) -> Self {
        self.keep_metrics = false;
        self
    }

    /// Plot samples kept per metric (histograms keep every sample).
    pub fn sample_cap(mut self, cap: usize) -> Self {
        self.sample_cap = cap;
        self
    }

    /// Starts from `state` (a snapshot) instead of booting: no `on_start`
    /// runs, messages in flight leave at time 0, and each `(node, timer,
    /// due)` fires at `due` unless reset or cancelled.
    pub fn start_from(
        mut self,
        state: GlobalState<N>,
        timers: Vec<(NodeId, N::Timer, Duration)>,
    ) -> Self {
        self.start = Some((state, timers));
        self
    }

    /// Runs one seed.
    pub fn run(&self, seed: u64) -> Result<RunReport, SimError> {
        self.run_to_state(seed).map(|(report, _)| report)
    }

    /// Runs one seed and also returns the final global state (timers as the
    /// explorer keeps them; messages still in flight are not included).
    pub fn run_to_state(&self, seed: u64) -> Result<(RunReport, GlobalState<N>), SimError> {
        engine::Run::new(self, seed)?.run()
    }

    /// Runs one seed and also returns every handler run (and crash, and
    /// dropped message) as an explorer [`Step`](crate::model::Step), in the
    /// order they happened:
    /// from the system's boot state (a boot is `Event::Restart` of a running
    /// node, which runs `on_start`), the explorer's `next_state` over these
    /// steps reaches the same node states. Requests a workload injects are
    /// not explorer events, so a run with a workload records steps the
    /// explorer cannot replay.
    pub fn run_recorded(&self, seed: u64) -> Result<RecordedRun<N>, SimError> {
        engine::Run::new(self, seed)?.record().run_recorded()
    }

    /// Reruns `seed` to obtain the steps behind a violation: recording
    /// every handler run, crash and dropped message, and checking the
    /// `always` properties after every event, so the run stops at the first
    /// event that breaks one (runs are functions of their seed, and checking
    /// draws nothing from the generator). The rerun has no wall-clock
    /// budget and stops after at most [`TRACE_EVENTS_MAX`] events, which
    /// bounds the schedule it keeps.
    pub fn run_traced(&self, seed: u64) -> Result<RecordedRun<N>, SimError> {
        let traced = Simulator {
            system: self.system,
            network: self.network.clone(),
            faults: self.faults.clone(),
            workload: self.workload,
            load: self.load.clone(),
            policies: self.policies.clone(),
            default_policy: self.default_policy.clone(),
            limits: Limits {
                max_events: self.limits.max_events.min(TRACE_EVENTS_MAX),
                wall_budget: None,
                ..self.limits
            },
            sample_cap: self.sample_cap,
            keep_metrics: self.keep_metrics,
            start: self.start.clone(),
            check_every: Some(1),
            progress: None,
            observer: None,
            deliberation: self.deliberation,
            steering: self.steering,
            objectives: self.objectives.clone(),
            constraints: self.constraints.clone(),
        };
        traced.run_recorded(seed)
    }

    /// Whether a workload hands requests to the clients (which no explorer
    /// step does).
    pub fn injects_requests(&self) -> bool {
        self.workload.is_some() && !matches!(self.load, Load::None)
    }

    /// Runs `seeds` one after the other, calling `progress` after each.
    pub fn run_seeds(
        &self,
        seeds: impl IntoIterator<Item = u64>,
        mut progress: impl FnMut(&RunReport),
    ) -> Result<Vec<RunReport>, SimError> {
        let mut runs = Vec::new();
        for seed in seeds {
            let run = self.run(seed)?;
            progress(&run);
            runs.push(run);
        }
        Ok(runs)
    }
}
