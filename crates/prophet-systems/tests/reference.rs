//! The reference protocols under the explorer: published state counts, the
//! correct variants verified completely at small sizes, and every seeded bug
//! caught with a shortest counterexample of known length.

use prophet::explore::{Explorer, Report, Strategy};
use prophet::model::Model;
use prophet_systems::two_phase::TwoPhase;
use prophet_systems::{paxos, randtree};

fn bfs<M: Model>(model: &M) -> Report {
    Explorer::new(model).run()
}

fn passes(report: &Report) {
    assert!(report.complete, "incomplete: {:?}", report.unexplored);
    assert!(report.violations.is_empty(), "{:?}", report.violations);
}

/// The single violation found, as (property, trace length).
fn violation(report: &Report) -> (&str, usize) {
    assert_eq!(report.violations.len(), 1, "{:?}", report.violations);
    let finding = &report.violations[0];
    let trace = finding.trace.as_ref().expect("a violation has a trace");
    assert_eq!(trace.steps.len(), finding.trace_len);
    (finding.property.as_str(), finding.trace_len)
}

#[test]
fn two_phase_commit_matches_tlc_for_3_and_5_resource_managers() {
    for (rms, states) in [(3, 288), (5, 8_832)] {
        for strategy in [Strategy::Bfs, Strategy::Dfs] {
            let report = Explorer::new(&TwoPhase::new(rms)).strategy(strategy).run();
            passes(&report);
            assert_eq!(report.unique_states, states, "{rms} RMs, {strategy:?}");
        }
    }
}

#[test]
fn two_phase_commit_reaches_both_outcomes_by_shortest_paths() {
    let report = bfs(&TwoPhase::new(3));
    let examples: Vec<(&str, usize)> = report
        .examples
        .iter()
        .map(|e| (e.property.as_str(), e.trace_len))
        .collect();
    // Commit: 3 prepares, 3 receipts, commit, 3 deliveries. Abort: TM aborts
    // or an RM gives up, then everyone learns it.
    assert!(examples.contains(&("all committed", 10)), "{examples:?}");
    assert!(examples.contains(&("all aborted", 3)), "{examples:?}");
}

#[test]
fn two_phase_symmetry_keeps_one_state_per_permutation_class() {
    for (rms, classes) in [(3, 80), (5, 314)] {
        let report = Explorer::new(&TwoPhase::new(rms)).symmetry(true).run();
        passes(&report);
        assert_eq!(report.unique_states, classes, "{rms} RMs");
        let dfs = Explorer::new(&TwoPhase::new(rms))
            .strategy(Strategy::Dfs)
            .symmetry(true)
            .run();
        assert_eq!(dfs.unique_states, classes, "{rms} RMs, DFS");
    }
}

#[test]
fn correct_paxos_is_verified_completely_at_small_sizes() {
    let system = paxos::system(1, 3, paxos::Variant::Correct);
    let report = bfs(&system);
    passes(&report);
    assert_eq!(report.unique_states, 2_225);
    // Propose, 2 prepares, 2 promises, 2 accepts, 2 acceptances.
    assert_eq!(report.examples[0].property, "value chosen");
    assert_eq!(report.examples[0].trace_len, 9);
    let dfs = Explorer::new(&system).strategy(Strategy::Dfs).run();
    passes(&dfs);
    assert_eq!(dfs.unique_states, 2_225);
}

#[test]
fn paxos_ignoring_accepted_values_breaks_agreement_in_18_steps() {
    let report = bfs(&paxos::system(2, 3, paxos::Variant::IgnoreAccepted));
    // Two full ballots of 9 steps each, the second overwriting the first.
    assert_eq!(violation(&report), ("agreement", 18));
}

/// The chart a viewer draws from the trace: a lane per node, and each
/// step's node, sender, message and sends structured, agreeing with its
/// one-line description.
#[test]
fn paxos_counterexample_steps_carry_their_chart() {
    use prophet::model::ChartKind;
    let report = bfs(&paxos::system(2, 3, paxos::Variant::IgnoreAccepted));
    let trace = report.violations[0].trace.as_ref().expect("trace");
    // Two clients, two proposers, three acceptors.
    assert_eq!(trace.nodes.len(), 7);
    assert!(trace.nodes[4].contains("Acceptor"), "{:?}", trace.nodes);
    let charts: Vec<_> = trace
        .steps
        .iter()
        .map(|s| {
            s.chart
                .as_ref()
                .expect("every step of a node system is charted")
        })
        .collect();
    assert_eq!(charts.len(), 18);
    // The first step: proposer n2 handles the client's Propose, picks the
    // quorum {n5, n6} (choice 2) and sends each a Prepare.
    let first = charts[0];
    assert_eq!(first.kind, ChartKind::Deliver);
    assert_eq!((first.node, first.from), (2, Some(0)));
    assert_eq!(first.label, "Propose(1)");
    assert_eq!(first.choices, [2]);
    let to: Vec<u32> = first.sends.iter().map(|s| s.to).collect();
    assert_eq!(to, [5, 6]);
    assert!(first.sends.iter().all(|s| s.message == "Prepare(b1.0)"));
    assert_ne!(first.before, first.after);
    for (step, chart) in trace.steps.iter().zip(&charts) {
        assert!(
            step.description
                .starts_with(&format!("n{} handles", chart.node)),
            "{step:?}"
        );
        assert_eq!(
            step.description.contains("; sends"),
            !chart.sends.is_empty(),
            "{step:?}"
        );
        for send in &chart.sends {
            let shown = format!("n{} ← {}", send.to, send.message);
            assert!(step.description.contains(&shown), "{step:?}");
        }
    }
    // The JSON form round-trips, so `prophet view` reads what `check --json`
    // writes.
    let json = serde_json::to_string(trace).expect("serialises");
    let back: prophet::explore::Trace = serde_json::from_str(&json).expect("parses");
    assert_eq!(&back, trace);
}

#[test]
fn paxos_acceptor_forgetting_its_promise_breaks_agreement_in_20_steps() {
    let report = bfs(&paxos::system(2, 3, paxos::Variant::ForgetfulAcceptor));
    // The same two ballots plus the acceptor's crash and restart.
    assert_eq!(violation(&report), ("agreement", 20));
    let steps = &report.violations[0].trace.as_ref().expect("trace").steps;
    assert!(
        steps.iter().any(|s| s.description.contains("crashes")),
        "{steps:#?}"
    );
    assert!(
        steps.iter().any(|s| s.description.contains("restarts")),
        "{steps:#?}"
    );
}

#[test]
fn correct_randtree_is_verified_completely_with_a_crash() {
    for (nodes, max_children, states) in [(3, 1, 271), (4, 2, 9_253)] {
        let system = randtree::system(nodes, max_children, randtree::Variant::Correct);
        let report = bfs(&system);
        passes(&report);
        assert_eq!(report.unique_states, states, "{nodes} nodes");
        assert!(
            report
                .examples
                .iter()
                .any(|e| e.property == "everyone joined"),
            "{:?}",
            report.examples
        );
    }
}

#[test]
fn randtree_symmetry_merges_permutations_of_the_non_root_nodes() {
    let system = randtree::system(4, 2, randtree::Variant::Correct);
    let reduced = Explorer::new(&system).symmetry(true).run();
    passes(&reduced);
    assert!(reduced.symmetry);
    // At most 3! = 6 states per class, at least one.
    assert!(reduced.unique_states < 9_253 && reduced.unique_states * 6 >= 9_253);
    let buggy = Explorer::new(&randtree::system(4, 2, randtree::Variant::ForgetfulRejoin))
        .symmetry(true)
        .run();
    assert_eq!(violation(&buggy), ("parent/child consistency", 5));
}

#[test]
fn randtree_forgetting_its_links_on_restart_is_caught_in_5_steps() {
    let report = bfs(&randtree::system(4, 2, randtree::Variant::ForgetfulRejoin));
    // Join, offer, ack, crash, restart: the root still lists the node.
    assert_eq!(violation(&report), ("parent/child consistency", 5));
    let last = report.violations[0]
        .trace
        .as_ref()
        .and_then(|t| t.steps.last().map(|s| s.description.clone()))
        .unwrap_or_default();
    assert!(last.contains("restarts"), "{last}");
}

#[test]
fn dfs_counterexamples_replay_without_stored_parents() {
    // DFS keeps only fingerprints; its traces come from the search's own
    // trail and must still replay step for step.
    let system = paxos::system(2, 3, paxos::Variant::IgnoreAccepted);
    let report = Explorer::new(&system).strategy(Strategy::Dfs).run();
    let (property, len) = violation(&report);
    assert_eq!(property, "agreement");
    assert!(len >= 18, "no trace can be shorter than the BFS one: {len}");
    let trace = report.violations[0].trace.as_ref().expect("trace");
    let replayed = Explorer::new(&system)
        .replay(trace.init, &trace.path)
        .expect("the encoded path replays");
    assert_eq!(replayed.steps, trace.steps);
}
