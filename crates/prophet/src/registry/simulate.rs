//! Simulating a registered system: a request (parameters, scenario,
//! policies, bounds, seeds) laid over the protocol's simulator defaults.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::choice::PolicySpec;
use crate::model::{Node, System, Workload};
use crate::resolve::{Resolver, ResolverConfig};
use crate::sim::scenario::Scenario;
use crate::sim::{Fault, Limits, Load, NetworkModel, Observer, RunProgress, RunReport, Simulator};
use crate::steer::{Steer, SteerConfig};

/// The default horizon of a simulation that names none.
pub const DEFAULT_HORIZON: Duration = Duration::from_secs(60);

/// What to simulate and how.
pub struct SimRequest<'a> {
    /// A scenario laid over the system's defaults.
    pub scenario: Option<&'a Scenario>,
    /// Policy per choice (over the description's defaults and the scenario's).
    pub policies: BTreeMap<String, PolicySpec>,
    /// Policy for choices named nowhere (default: `first`).
    pub default_policy: Option<PolicySpec>,
    /// Bounds of each run.
    pub limits: Limits,
    /// Seeds to run.
    pub seeds: Vec<u64>,
    /// Check the `always` properties every this many events (and at the end).
    pub check_every: Option<u64>,
    /// Called after each run.
    pub progress: &'a mut dyn FnMut(&RunReport),
    /// Called during each run (every `prophet::sim::PROGRESS_EVENTS` events).
    pub run_progress: Option<&'a (dyn Fn(&RunProgress) + Sync)>,
    /// Shown every decision, outcome and message arrival of every run
    /// ([`crate::sim::observe`]).
    pub observer: Option<Observer<'a>>,
    /// Steer the runs ([`crate::steer`]), discarding only deliveries of the
    /// message kinds the description declares filterable.
    pub steer: Option<SteerConfig>,
}

/// A protocol's simulator defaults, which a scenario overrides.
#[derive(Clone, Debug, Default)]
pub struct SimDefaults {
    /// Network and node model.
    pub network: NetworkModel,
    /// Load (with the protocol's workload, if it has one).
    pub load: Load,
    /// Faults; a scenario that lists faults of its own replaces these.
    pub faults: Vec<Fault>,
}

/// Lays `req`'s scenario over `defaults` and runs every seed of `system`.
pub fn simulate_system<N: Node>(
    system: &System<N>,
    workload: Option<&dyn Workload<N>>,
    defaults: SimDefaults,
    filterable: &[&str],
    req: &mut SimRequest<'_>,
) -> Result<Vec<RunReport>, String> {
    let resolver = Resolver::new(system, workload, ResolverConfig::default());
    let mut sim = simulator(system, workload, defaults, req)?.deliberate(&resolver);
    let steer = req
        .steer
        .map(|config| Steer::new(system, filterable.iter().copied(), config));
    if let Some(steer) = &steer {
        sim = sim.steer(steer);
    }
    if let Some(progress) = req.run_progress {
        sim = sim.on_progress(progress);
    }
    if let Some(observer) = req.observer {
        sim = sim.observe(observer);
    }
    sim.run_seeds(req.seeds.iter().copied(), &mut *req.progress)
        .map_err(|e| e.to_string())
}

/// The simulator `req` describes over `defaults` (without progress).
pub(crate) fn simulator<'s, N: Node>(
    system: &'s System<N>,
    workload: Option<&'s dyn Workload<N>>,
    defaults: SimDefaults,
    req: &SimRequest<'_>,
) -> Result<Simulator<'s, N>, String> {
    let n = system.nodes().len();
    let (network, load, faults) = match req.scenario {
        Some(s) => {
            let scenario_faults = s.fault_list(n).map_err(|e| e.to_string())?;
            (
                s.network_model(defaults.network, n)
                    .map_err(|e| e.to_string())?,
                s.load()
                    .map_err(|e| e.to_string())?
                    .unwrap_or(defaults.load),
                if scenario_faults.is_empty() {
                    defaults.faults
                } else {
                    scenario_faults
                },
            )
        }
        None => (defaults.network, defaults.load, defaults.faults),
    };
    let mut sim = Simulator::new(system).network(network).limits(req.limits);
    if let Some(s) = req.scenario {
        for o in s
            .extra_objectives(system.objectives())
            .map_err(|e| e.to_string())?
        {
            sim = sim.objective(o);
        }
        for c in s
            .extra_constraints(system.constraints())
            .map_err(|e| e.to_string())?
        {
            sim = sim.constraint(c);
        }
    }
    if let Some(w) = workload {
        sim = sim.workload(w, load);
    }
    for f in faults {
        sim = sim.fault(f);
    }
    for (choice, spec) in &req.policies {
        sim = sim.policy(choice.clone(), spec.clone());
    }
    if let Some(d) = &req.default_policy {
        sim = sim.default_policy(d.clone());
    }
    if let Some(every) = req.check_every {
        sim = sim.check_invariants(every);
    }
    Ok(sim)
}
