//! Explorer semantics on small models whose state spaces are known exactly.

use std::time::Duration;

use prophet::explore::{Explorer, FindingKind, Strategy};
use prophet::model::{Model, Property, StepError};

/// Two counters that each count up to `max`; `a + b` must stay below `limit`.
struct Counters {
    max: u8,
    limit: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Inc {
    A,
    B,
}

impl Model for Counters {
    type State = (u8, u8);
    type Action = Inc;

    fn init_states(&self) -> Vec<(u8, u8)> {
        vec![(0, 0)]
    }
    fn actions(&self, &(a, b): &(u8, u8), actions: &mut Vec<Inc>) {
        if a < self.max {
            actions.push(Inc::A);
        }
        if b < self.max {
            actions.push(Inc::B);
        }
    }
    fn next_state(&self, &(a, b): &(u8, u8), action: &Inc) -> Result<Option<(u8, u8)>, StepError> {
        Ok(Some(match action {
            Inc::A => (a + 1, b),
            Inc::B => (a, b + 1),
        }))
    }
    fn properties(&self) -> Vec<Property<Self>> {
        let limit = self.limit;
        vec![
            Property::always("sum below limit", move |_, &(a, b)| a + b < limit),
            Property::sometimes("a is 2", |_, &(a, _)| a == 2),
            Property::sometimes("a is 200", |_, &(a, _)| a == 200),
        ]
    }
}

#[test]
fn bfs_counts_every_state_once_and_reports_unreachable_examples() {
    let model = Counters { max: 3, limit: 100 };
    for threads in [1, 2] {
        let report = Explorer::new(&model).threads(threads).run();
        assert!(report.complete);
        assert_eq!(report.unique_states, 16);
        assert_eq!(report.total_states, 1 + 24, "16 states, 24 edges");
        assert_eq!(report.max_depth, 6);
        assert_eq!(report.example("a is 2").map(|f| f.trace_len), Some(2));
        let missing = report
            .violation("a is 200")
            .expect("unreachable example is a violation");
        assert_eq!(missing.kind, FindingKind::Sometimes);
        assert!(missing.trace.is_none());
    }
}

#[test]
fn bfs_reports_the_shortest_counterexample_and_it_replays() {
    let model = Counters { max: 3, limit: 5 };
    let explorer = Explorer::new(&model);
    let report = explorer.run();
    let violation = report.violation("sum below limit").expect("violated");
    assert_eq!(violation.kind, FindingKind::Always);
    assert_eq!(violation.trace_len, 5);
    assert!(!report.complete, "stopped at the first violation");
    let trace = violation.trace.as_ref().expect("trace");
    let (init, path) = prophet::explore::Trace::decode(&trace.encoded()).expect("decodes");
    let state = explorer.state_at(init, &path).expect("path replays");
    assert_eq!(state.0 + state.1, 5);
    assert_eq!(
        explorer.replay(init, &path).expect("replays").steps,
        trace.steps
    );
}

#[test]
fn dfs_finds_the_same_states_and_a_counterexample() {
    let model = Counters { max: 3, limit: 100 };
    for threads in [1, 2] {
        let report = Explorer::new(&model)
            .strategy(Strategy::Dfs)
            .threads(threads)
            .run();
        assert!(report.complete);
        assert_eq!(report.unique_states, 16);
    }
    let buggy = Counters { max: 3, limit: 5 };
    let report = Explorer::new(&buggy)
        .strategy(Strategy::Dfs)
        .threads(1)
        .run();
    let violation = report.violation("sum below limit").expect("violated");
    assert_eq!(violation.trace_len, 5, "every path to a+b=5 has 5 steps");
}

#[test]
fn bounds_are_reported_never_silent() {
    let model = Counters { max: 3, limit: 100 };
    let report = Explorer::new(&model).max_depth(2).run();
    assert!(!report.complete);
    assert_eq!(report.unique_states, 6, "depths 0, 1 and 2");
    assert_eq!(
        report.unexplored,
        vec!["3 state(s) at depth 2 not expanded (--max-depth)".to_string()]
    );
    assert!(
        report
            .undecided
            .iter()
            .any(|u| u.contains("sum below limit"))
    );

    let report = Explorer::new(&model).max_states(4).threads(1).run();
    assert!(!report.complete);
    assert!(report.unexplored[0].contains("state limit of 4"));

    let report = Explorer::new(&model).time_limit(Duration::ZERO).run();
    assert!(!report.complete);
    assert!(report.unexplored[0].contains("time limit"));
}

#[test]
fn exploration_starts_from_any_given_state() {
    let model = Counters { max: 3, limit: 100 };
    let report = Explorer::new(&model).start_from(vec![(2, 2)]).run();
    assert!(report.complete);
    assert_eq!(report.unique_states, 4, "(2,2) (3,2) (2,3) (3,3)");
}

#[test]
fn random_walks_are_reproducible_from_their_seed() {
    let model = Counters {
        max: 30,
        limit: 255,
    };
    let run = |seed| {
        Explorer::new(&model)
            .strategy(Strategy::Walk { seed })
            .walks(20)
            .max_depth(30)
            .run()
    };
    let (a, b, c) = (run(7), run(7), run(8));
    assert_eq!(
        (a.unique_states, a.total_states),
        (b.unique_states, b.total_states)
    );
    assert_ne!(
        a.unique_states, c.unique_states,
        "a different seed walks elsewhere"
    );
    assert!(!a.complete, "walks never claim completeness");
    let buggy = Counters { max: 3, limit: 4 };
    let report = Explorer::new(&buggy)
        .strategy(Strategy::Walk { seed: 1 })
        .run();
    assert!(report.violation("sum below limit").is_some());
}

/// A counter on a ring `0 → 1 → … → n-1`, with optional extra edges.
struct Ring {
    n: u8,
    back_edge: Option<(u8, u8)>,
    dead_end: Option<u8>,
    goal: u8,
}

impl Model for Ring {
    type State = u8;
    type Action = u8;
    fn init_states(&self) -> Vec<u8> {
        vec![0]
    }
    fn actions(&self, &s: &u8, actions: &mut Vec<u8>) {
        if self.dead_end == Some(s) {
            actions.push(s); // only a stuttering step
            return;
        }
        if s + 1 < self.n {
            actions.push(s + 1);
        }
        if let Some((from, to)) = self.back_edge
            && from == s
        {
            actions.push(to);
        }
    }
    fn next_state(&self, _: &u8, &to: &u8) -> Result<Option<u8>, StepError> {
        Ok(Some(to))
    }
    fn properties(&self) -> Vec<Property<Self>> {
        let goal = self.goal;
        vec![Property::eventually("reaches goal", move |_, &s| s == goal)]
    }
}

#[test]
fn eventually_holds_when_every_path_reaches_the_goal() {
    let report = Explorer::new(&Ring {
        n: 4,
        back_edge: Some((2, 1)),
        dead_end: None,
        goal: 1,
    })
    .run();
    assert!(report.ok(), "{report}");
    assert!(report.complete);
}

#[test]
fn eventually_is_violated_by_a_lasso() {
    let report = Explorer::new(&Ring {
        n: 5,
        back_edge: Some((3, 1)),
        dead_end: None,
        goal: 4,
    })
    .run();
    let violation = report.violation("reaches goal").expect("lasso");
    assert_eq!(violation.kind, FindingKind::Eventually);
    let trace = violation.trace.as_ref().expect("trace");
    // 0 → 1 → 2 → 3 → 1: the loop closes back at the state after step 1.
    assert_eq!(trace.len(), 4);
    assert_eq!(trace.loop_start, Some(1));
}

#[test]
fn eventually_is_violated_by_a_dead_end_and_stuttering_is_not_a_loop() {
    let report = Explorer::new(&Ring {
        n: 5,
        back_edge: None,
        dead_end: Some(2),
        goal: 4,
    })
    .run();
    let violation = report.violation("reaches goal").expect("dead end");
    assert_eq!(violation.trace_len, 2);
    assert!(violation.detail.as_deref().unwrap_or("").contains("ends"));
}

#[test]
fn eventually_under_a_depth_bound_is_undecided_not_passed() {
    let report = Explorer::new(&Ring {
        n: 10,
        back_edge: None,
        dead_end: None,
        goal: 9,
    })
    .max_depth(3)
    .run();
    assert!(report.violations.is_empty());
    assert!(
        report.undecided.iter().any(|u| u.contains("reaches goal")),
        "{:?}",
        report.undecided
    );
}
