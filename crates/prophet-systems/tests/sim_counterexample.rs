//! Violations found in simulation come with a trace the checker replays.

use std::time::Duration;

use prophet::explore::{Explorer, Trace};
use prophet::model::{Model, NodeId};
use prophet::registry::{CheckOptions, CheckOutcome, Entry, Purpose, SimRequest, counterexample};
use prophet::sim::{Fault, Simulator, StopReason};
use prophet_systems::{kv, paxos};

const COUNTER: &str = "no value is ahead of its writer's counter";

/// The seeded bug of `volatile-client-counter`: the client (n2) writes at
/// boot and crashes at 1 s, when its counter would restart from 0 while its
/// first value is stored on the replicas. (It stays down: restarted, it
/// would issue its boot write again and count back up to that value.)
/// Invariants are checked every 1,000 events, more than this run has, so
/// the simulation notices at its end; the traced rerun checks after every
/// event and stops at the crash itself.
#[test]
fn a_kv_violation_in_simulation_replays_in_the_checker() {
    let system = kv::system(2, 1, 2, kv::Variant::VolatileClientCounter);
    let config = kv::Config::new(2, 1);
    let sim = Simulator::new(&system)
        .network(kv::network(&config))
        .fault(Fault::Crash {
            node: NodeId(2),
            at: Duration::from_secs(1),
            restart_after: None,
        })
        .check_invariants(1_000)
        .horizon(Duration::from_secs(3));
    let report = sim.run(7).expect("runs");
    // Found by the check at the end of the run.
    assert_eq!(report.stop, StopReason::Horizon);
    let found = report.violation.as_ref().expect("found");
    assert_eq!(
        (found.property.as_str(), found.at),
        (COUNTER, Duration::from_secs(3))
    );

    let cx = counterexample(&system, &sim, 7).expect("a checker trace");
    assert_eq!(cx.property, COUNTER);
    assert_eq!(cx.at_ns, 1_000_000_000, "the crash is the violating step");
    assert_eq!(cx.kept_in_flight, 0);
    // Boot, both requests through the replicas, then the crash.
    let trace = &cx.trace;
    assert_eq!(trace.steps.last().expect("steps").action, "n2 crashes");
    assert!(trace.len() > 4, "{trace}");
    // The checker replays the encoded path to the same trace, and its last
    // state breaks the invariant; one step earlier, nothing is broken.
    let (init, path) = Trace::decode(&trace.encoded()).expect("decodes");
    let explorer = Explorer::new(&system);
    assert_eq!(&explorer.replay(init, &path).expect("replays"), trace);
    let holds = |steps: usize| {
        let state = explorer.state_at(init, &path[..steps]).expect("reachable");
        Model::properties(&system)
            .iter()
            .find(|p| p.name == COUNTER)
            .expect("declared")
            .holds(&system, &state)
    };
    assert!(!holds(path.len()));
    assert!(holds(path.len() - 1));
}

#[test]
fn a_run_driven_by_a_workload_says_why_it_has_no_checker_trace() {
    let mut config = kv::Config::new(2, 1);
    config.variant = kv::Variant::VolatileClientCounter;
    let system = kv::system_with(&config);
    let workload = kv::workload(&config);
    let sim = Simulator::new(&system)
        .network(kv::network(&config))
        .workload(
            &workload,
            prophet::sim::Load::Open {
                rate_per_sec: 100.0,
            },
        )
        .fault(Fault::Crash {
            node: NodeId(2),
            at: Duration::from_secs(1),
            restart_after: None,
        })
        .check_invariants(100)
        .horizon(Duration::from_secs(2));
    let why = counterexample(&system, &sim, 1).expect_err("requests are not checker steps");
    assert!(why.contains("driven by a workload"), "{why}");
}

/// `prophet sim paxos --param variant=ignore-accepted --seeds 20` through
/// the registry, as the command line runs it: some seed breaks agreement,
/// and its trace, replayed by the checker on the same parameters, ends in a
/// state that breaks it too.
#[test]
fn a_paxos_agreement_violation_in_simulation_replays_in_the_checker() {
    let entry = Entry::nodes(paxos::Paxos);
    let params = entry
        .params(Purpose::Sim, &["variant=ignore-accepted".to_string()])
        .expect("params");
    let mut progress = |_: &prophet::sim::RunReport| {};
    let mut request = SimRequest {
        scenario: None,
        policies: Default::default(),
        default_policy: None,
        limits: prophet::sim::Limits::default(),
        seeds: (0..20).collect(),
        check_every: Some(10_000),
        progress: &mut progress,
        run_progress: None,
        observer: None,
        steer: None,
    };
    let runs = entry.simulate(&params, &mut request).expect("simulates");
    let run = runs
        .iter()
        .find(|r| r.violation.is_some())
        .expect("some seed of 20 breaks agreement");
    let cx = entry
        .sim_counterexample(&params, &request, run.seed)
        .expect("a checker trace");
    assert_eq!(
        Some(cx.property.as_str()),
        run.violation.as_ref().map(|v| v.property.as_str())
    );
    let (init, path) = Trace::decode(&cx.trace.encoded()).expect("decodes");
    let options = CheckOptions {
        replay: Some((init, &path)),
        ..CheckOptions::default()
    };
    match entry.check(&params, &options).expect("replays") {
        CheckOutcome::Replay { trace, violated } => {
            assert_eq!(trace, cx.trace);
            assert_eq!(violated, std::slice::from_ref(&cx.property));
        }
        other => panic!("not a replay: {other:?}"),
    }
    // The trace is the simulation's run, messages handled one by one.
    assert!(
        cx.trace
            .steps
            .iter()
            .any(|s| s.action.contains(" handles ")),
        "{}",
        cx.trace
    );
}
