//! Chord under the explorer and the simulator: the correct variant verified
//! completely at the checker's default size, each seeded bug caught with a
//! shortest counterexample that replays, and simulated churn that keeps the
//! invariants and lets the ring form.

use std::time::Duration;

use prophet::explore::{Explorer, Report};
use prophet::model::Model;
use prophet::sim::Simulator;
use prophet_systems::chord::{self, Config, Variant};

fn explore(variant: Variant) -> (prophet::model::System<chord::Chord>, Report) {
    let system = chord::system(&Config {
        variant,
        ..Config::default()
    });
    let report = Explorer::new(&system).run();
    (system, report)
}

/// The single violation found, as (property, trace length), after checking
/// that its trace replays step for step.
fn violation(system: &prophet::model::System<chord::Chord>, report: &Report) -> (String, usize) {
    assert_eq!(report.violations.len(), 1, "{:?}", report.violations);
    let finding = &report.violations[0];
    let trace = finding.trace.as_ref().expect("a violation has a trace");
    assert_eq!(trace.steps.len(), finding.trace_len);
    let replayed = Explorer::new(system)
        .replay(trace.init, &trace.path)
        .expect("the encoded path replays");
    assert_eq!(replayed.steps, trace.steps);
    (finding.property.clone(), finding.trace_len)
}

#[test]
fn correct_chord_is_verified_completely_with_a_crash() {
    let (_, report) = explore(Variant::Correct);
    assert!(report.complete, "incomplete: {:?}", report.unexplored);
    assert!(report.violations.is_empty(), "{:?}", report.violations);
    assert_eq!(report.unique_states, 271_870);
    // Node 2's lookup (2 hops), its answer, its notify; node 1's stabilize
    // (request, answer: adopt node 2), node 2's own notify to node 0 arrives
    // and node 1's to node 2; node 0's stabilize needs nothing, so 8 steps.
    let ring = report
        .examples
        .iter()
        .find(|e| e.property == "ring formed")
        .expect("the ring forms");
    assert_eq!(ring.trace_len, 8);
}

#[test]
fn unchecked_notify_lets_a_late_farther_notifier_replace_the_predecessor_in_8_steps() {
    let (system, report) = explore(Variant::UncheckedNotify);
    // Node 2 joins and notifies node 0; node 1's stabilize notifies node 0
    // too; node 0 takes node 2, then node 1, which lies farther away.
    assert_eq!(
        violation(&system, &report),
        ("predecessor is the closest notifier".to_string(), 8)
    );
}

#[test]
fn forgetful_rejoin_makes_a_ring_of_one_in_4_steps() {
    let (system, report) = explore(Variant::ForgetfulRejoin);
    // Node 1 crashes, restarts with nothing and rejoins through node 0,
    // whose successor it still is: it is told it is its own successor.
    assert_eq!(
        violation(&system, &report),
        ("alone only as the ring's creator".to_string(), 4)
    );
    let steps = &report.violations[0].trace.as_ref().expect("trace").steps;
    assert!(steps[0].description.contains("crashes"), "{steps:#?}");
    assert!(steps[1].description.contains("restarts"), "{steps:#?}");
}

/// Every node joins at boot (no formed ring to start from) under churn
/// among nodes 1..6 until 20 s, then 10 s without faults.
fn simulate(variant: Variant, seed: u64) -> (prophet::sim::RunReport, bool) {
    let nodes = 6;
    let system = chord::system(&Config {
        nodes,
        bits: 4,
        members: 1,
        successors: 2,
        rounds: 100_000,
        finger_rounds: 100_000,
        crashes: 0,
        all_crash: true,
        variant,
    });
    let run = Simulator::new(&system)
        .network(chord::network())
        .fault(chord::churn(nodes, Duration::from_secs(20)))
        .check_invariants(1)
        .horizon(Duration::from_secs(30))
        .run_recorded(seed)
        .expect("runs");
    let formed = chord::ring_formed(&run.state);
    (run.report, formed)
}

#[test]
fn simulated_churn_keeps_the_invariants_and_the_ring_forms() {
    for seed in 1..=4 {
        let (report, formed) = simulate(Variant::Correct, seed);
        assert!(
            report.violation.is_none(),
            "seed {seed}: {:?}",
            report.violation
        );
        assert!(report.crashes > 0, "seed {seed}: no churn");
        assert!(formed, "seed {seed}: the ring did not form");
        assert!(
            report.objectives.iter().any(|o| o.name == "lookup hops"),
            "{:?}",
            report.objectives
        );
    }
}

#[test]
fn simulated_churn_may_catch_a_seeded_bug() {
    // Allowed, not required: the run must at least complete.
    for variant in [Variant::UncheckedNotify, Variant::ForgetfulRejoin] {
        let (report, _) = simulate(variant, 1);
        if let Some(found) = &report.violation {
            let known = Model::properties(&chord::system(&Config::default()))
                .iter()
                .any(|p| p.name == found.property);
            assert!(known, "{found:?}");
        }
    }
}

/// The registry declares that Chord tolerates losing `Notify` and `Found`
/// (what steering may discard). The checker holds the declarations to the
/// invariants by exploring with only those kinds lossy. Losing a `Found`
/// breaks nothing in any reachable state. Losing a `Notify` breaks
/// "predecessor is the closest notifier" at once: the invariant counts a
/// notification as owed until it arrives, so a lost one reads as a
/// predecessor that skipped its notifier (the protocol repairs it at the
/// notifier's next stabilize, which liveness needs, not this invariant).
/// Steering only discards a notify whose acceptance would itself break the
/// invariant, which a lost one from a farther node cannot, but the
/// declaration claims more than the invariant grants.
#[test]
fn losing_the_kinds_declared_filterable_is_checked_against_the_invariants() {
    use prophet::registry::Protocol;
    let kinds = chord::ChordProtocol.describe().filterable_kinds();
    assert_eq!(kinds, ["Notify", "Found"]);
    let found = chord::system(&Config::default()).lossy_kinds(["Found"]);
    let report = Explorer::new(&found).run();
    assert!(report.complete, "{:?}", report.unexplored);
    assert!(report.violations.is_empty(), "{:?}", report.violations);
    // 275,922 states: 4,052 more than without losses (271,870).
    assert_eq!(report.unique_states, 275_922, "the space with Found lossy");
    let notify = chord::system(&Config::default()).lossy_kinds(["Notify"]);
    let report = Explorer::new(&notify).run();
    let (property, steps) = violation(&notify, &report);
    assert_eq!(property, "predecessor is the closest notifier");
    assert_eq!(steps, 4);
    let trace = report.violations[0].trace.as_ref().expect("a trace");
    assert_eq!(
        trace.steps.last().map(|s| s.description.as_str()),
        Some("network loses Notify from n2 to n0")
    );
}
