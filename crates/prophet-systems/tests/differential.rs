//! The same schedule in two executors: a simulated run records every
//! handler it ran (input and choice outcomes) as explorer steps; the
//! explorer's `next_state` replays them from the boot state and must reach
//! the same node states, pending timers and up/down flags. Both go through
//! `prophet::model::execute` and `apply_effects`; this is what would catch
//! them drifting apart.

use std::time::Duration;

use prophet::model::{GlobalState, Model, Node, Step, System};
use prophet::sim::{Fault, LatencyDist, NetworkModel, PolicySpec, Simulator};
use prophet_systems::{paxos, randtree};

fn replay_in_explorer<N: Node>(system: &System<N>, schedule: &[Step<N>]) -> GlobalState<N> {
    let mut state = system.boot_state();
    for (i, step) in schedule.iter().enumerate() {
        state = system
            .next_state(&state, step)
            .unwrap_or_else(|e| panic!("step {i} ({step:?}) fails in the explorer: {e}"))
            .unwrap_or_else(|| panic!("step {i} ({step:?}) is not enabled in the explorer"));
    }
    state
}

fn assert_same_nodes<N: Node>(simulated: &GlobalState<N>, explored: &GlobalState<N>) {
    assert_eq!(simulated.nodes.len(), explored.nodes.len());
    for (i, (s, e)) in simulated.nodes.iter().zip(&explored.nodes).enumerate() {
        assert_eq!(s, e, "node {i} differs");
    }
    assert_eq!(simulated.crashes, explored.crashes);
}

#[test]
fn paxos_with_random_choices_and_a_crash_replays_identically() {
    let system = paxos::system_with_rounds(3, 5, paxos::Variant::Correct, 20);
    for seed in 1..=5 {
        let run = Simulator::new(&system)
            .network(NetworkModel::uniform(LatencyDist::LogNormal {
                median_ms: 5.0,
                sigma: 0.5,
            }))
            .default_policy(PolicySpec::Random)
            .fault(Fault::Crash {
                node: prophet::model::NodeId(7),
                at: Duration::from_millis(12),
                restart_after: Some(Duration::from_millis(30)),
            })
            .horizon(Duration::from_secs(5))
            .run_recorded(seed)
            .expect("runs");
        let (report, simulated, schedule) = (run.report, run.state, run.schedule);
        assert!(schedule.len() > 50, "seed {seed}: {} steps", schedule.len());
        assert!(
            schedule.iter().any(|s| !s.choices.is_empty()),
            "the schedule has choice outcomes"
        );
        assert_eq!(report.crashes, 1);
        assert_same_nodes(&simulated, &replay_in_explorer(&system, &schedule));
    }
}

#[test]
fn randtree_under_churn_replays_identically() {
    let system = randtree::system(8, 2, randtree::Variant::Correct);
    let horizon = Duration::from_secs(20);
    for seed in 1..=3 {
        let run = Simulator::new(&system)
            .network(NetworkModel::uniform(LatencyDist::LogNormal {
                median_ms: 10.0,
                sigma: 0.5,
            }))
            .policy("randtree.forward_join", PolicySpec::Random)
            .fault(randtree::churn(8, horizon))
            .horizon(horizon)
            .run_recorded(seed)
            .expect("runs");
        let (report, simulated, schedule) = (run.report, run.state, run.schedule);
        assert!(report.crashes > 3, "seed {seed}: churn crashed nodes");
        assert_same_nodes(&simulated, &replay_in_explorer(&system, &schedule));
    }
}
