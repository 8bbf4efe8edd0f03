//! A violation found in simulation, as the checker's counterexample: the
//! seed is rerun with every step recorded ([`Simulator::run_traced`]), the
//! steps are matched to the checker's successors from its start state, and
//! the checker replays the path ([`Explorer::replay`]), so the trace prints,
//! serialises and replays (`prophet check --replay`) like one the checker
//! found. This module sits above `sim` and `explore`, which never import
//! each other.

use serde::Serialize;

use crate::explore::{Explorer, Trace};
use crate::model::{Event, Expectation, GlobalState, Model, Node, Step, System, Workload};
use crate::registry::{SimDefaults, SimRequest, simulate::simulator};
use crate::sim::Simulator;

/// Steps of a simulation trace matched to the checker's successors at most:
/// each costs a successor expansion of the state it leaves.
pub const TRACE_STEPS_MAX: usize = 20_000;

/// Why a run driven by a workload has no checker trace.
const WORKLOAD: &str = "the run is driven by a workload, whose requests no checker step \
     produces (simulate with requests issued at boot and no load)";

/// A simulated violation with a trace the checker replays.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SimCounterexample {
    /// The seed of the run.
    pub seed: u64,
    /// The first property that fails in the trace's last state (the
    /// checker's view of it).
    pub property: String,
    /// Simulated nanoseconds at the violating event.
    pub at_ns: u64,
    /// Events the rerun processed, the violating one included.
    pub events: u64,
    /// The trace, in the checker's form: `trace.encoded()` is the path
    /// `prophet check --replay` takes.
    pub trace: Trace,
    /// Messages the simulated network lost (or a partition dropped) that
    /// stay in flight in the checker, whose network for this system is not
    /// lossy: the checker's last state carries them too.
    pub kept_in_flight: usize,
}

/// Reruns `seed` of the simulation `req` describes and returns its first
/// violation as a checker trace; an error says why there is none (no
/// violation, a violation beyond the bounds, or a step the checker cannot
/// take, such as a request injected by the workload).
pub fn sim_counterexample<N: Node>(
    system: &System<N>,
    workload: Option<&dyn Workload<N>>,
    defaults: SimDefaults,
    filterable: &[&str],
    req: &SimRequest<'_>,
    seed: u64,
) -> Result<SimCounterexample, String> {
    let resolver =
        crate::resolve::Resolver::new(system, workload, crate::resolve::ResolverConfig::default());
    let mut sim = simulator(system, workload, defaults, req)?.deliberate(&resolver);
    // A steered run is rerun steered: steering draws nothing from the run's
    // generator, so the rerun takes the same path.
    let steer = req
        .steer
        .map(|config| crate::steer::Steer::new(system, filterable.iter().copied(), config));
    if let Some(steer) = &steer {
        sim = sim.steer(steer);
    }
    counterexample(system, &sim, seed)
}

/// [`sim_counterexample`] for a configured simulator.
pub fn counterexample<N: Node>(
    system: &System<N>,
    sim: &Simulator<'_, N>,
    seed: u64,
) -> Result<SimCounterexample, String> {
    if sim.injects_requests() {
        // Known before the (costly) rerun: its first request has no checker step.
        return Err(WORKLOAD.to_string());
    }
    let run = sim.run_traced(seed).map_err(|e| e.to_string())?;
    let Some(violation) = run.report.violation else {
        return Err(format!(
            "seed {seed} breaks no invariant within {} events (a traced rerun checks after \
             every event and stops at {})",
            run.report.events,
            crate::sim::TRACE_EVENTS_MAX
        ));
    };
    let (init, path, kept_in_flight) = checker_path(system, &run.schedule)?;
    let explorer = Explorer::new(system);
    let trace = explorer.replay(init, &path)?;
    let last = explorer
        .state_at(init, &path)
        .ok_or("the checker cannot follow the trace it built")?;
    let property = first_failing(system, &last).ok_or_else(|| {
        format!(
            "the simulation broke \"{}\" at {:?}, but the checker's state after the {} \
             recorded steps satisfies every invariant",
            violation.property,
            violation.at,
            path.len()
        )
    })?;
    Ok(SimCounterexample {
        seed,
        property,
        at_ns: u64::try_from(violation.at.as_nanos()).unwrap_or(u64::MAX),
        events: violation.events,
        trace,
        kept_in_flight,
    })
}

/// The first `always` property that fails in `state`.
fn first_failing<N: Node>(system: &System<N>, state: &GlobalState<N>) -> Option<String> {
    Model::properties(system)
        .into_iter()
        .filter(|p| p.expectation == Expectation::Always)
        .find(|p| !p.holds(system, state))
        .map(|p| p.name)
}

/// Matches a simulation's schedule to the checker: the start state its
/// boot reached (each node's `on_start`, in id order, recorded as the
/// checker's restart of a running node) and the index of each later step
/// among the successors of the state before it. Returns (start index,
/// path, losses kept in flight).
pub fn checker_path<N: Node>(
    system: &System<N>,
    schedule: &[Step<N>],
) -> Result<(usize, Vec<usize>, usize), String> {
    let n = system.nodes().len();
    if schedule.len() > TRACE_STEPS_MAX + n {
        return Err(format!(
            "{} steps before the violation; traces are matched up to {TRACE_STEPS_MAX}",
            schedule.len()
        ));
    }
    let mut state = system.boot_state();
    for (i, step) in schedule.iter().take(n).enumerate() {
        let booted = matches!(step.event, Event::Restart(id) if id.index() == i);
        if !booted {
            return Err(format!(
                "the run did not start every node first (step {} is {step:?})",
                i + 1
            ));
        }
        state = system
            .next_state(&state, step)
            .map_err(|e| format!("booting node {i}: {e}"))?
            .ok_or("a boot step changed nothing")?;
    }
    let init = system
        .init_states()
        .iter()
        .position(|s| *s == state)
        .ok_or("the run's boot state is none of the checker's start states")?;
    let mut path = Vec::new();
    let mut kept = 0;
    let mut successors = Vec::new();
    for (k, step) in schedule.iter().enumerate().skip(n) {
        if matches!(&step.event, Event::Lose(e) if !system.may_lose(&e.msg)) {
            kept += 1;
            continue;
        }
        successors.clear();
        if let Err((action, error)) = system.successors(&state, &mut successors) {
            return Err(format!("step {}: {action:?} fails: {error}", k + 1));
        }
        let Some(index) = successors.iter().position(|(a, _)| a == step) else {
            let why = match &step.event {
                Event::Deliver(e) if e.src == e.dst => {
                    "a delivery from a node to itself of a message not in flight (a request \
                     a workload handed to its client?)"
                }
                Event::Crash(_) => "a crash beyond the system's crash budget",
                Event::Deliver(_) => "a delivery of a message not in flight (a duplicate?)",
                _ => "not among the checker's successors",
            };
            return Err(format!("step {} ({step:?}) is {why}", k + 1));
        };
        path.push(index);
        state = successors.swap_remove(index).1;
    }
    Ok((init, path, kept))
}
