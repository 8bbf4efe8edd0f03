//! The reference systems under a memory budget (`Explorer::spill`): the
//! same counts, findings and shortest traces as in memory, with the
//! buffers held within the budget while the state space outgrows it.

use prophet::explore::spill::MemoryStore;
use prophet::explore::{Explorer, Report};
use prophet::model::Model;
use prophet_systems::paxos;
use prophet_systems::two_phase::TwoPhase;

const BUDGET: u64 = 1 << 20;

fn both<M: Model>(model: &M, threads: usize) -> (Report, Report) {
    let memory = Explorer::new(model).threads(threads).run();
    let store = MemoryStore::new();
    let spilled = Explorer::new(model)
        .threads(threads)
        .spill(&store, BUDGET)
        .run();
    assert_eq!(store.files(), 0, "files left behind");
    (memory, spilled)
}

fn same_findings(memory: &Report, spilled: &Report) {
    assert_eq!(spilled.unique_states, memory.unique_states);
    assert_eq!(spilled.total_states, memory.total_states);
    assert_eq!(spilled.max_depth, memory.max_depth);
    assert_eq!(spilled.complete, memory.complete, "{spilled}");
    // A violation is the smallest fingerprint of the first violating level
    // in both; an example is whichever state of its level was met first.
    let violations = |r: &Report| -> Vec<(String, usize, Option<String>)> {
        r.violations
            .iter()
            .map(|f| {
                let last = f.trace.as_ref().map(|t| t.last_state.clone());
                (f.property.clone(), f.trace_len, last)
            })
            .collect()
    };
    let examples = |r: &Report| -> Vec<(String, usize)> {
        r.examples
            .iter()
            .map(|f| (f.property.clone(), f.trace_len))
            .collect()
    };
    assert_eq!(violations(spilled), violations(memory));
    assert_eq!(examples(spilled), examples(memory));
}

#[test]
fn two_phase_counts_the_same_under_a_budget_smaller_than_its_state_space() {
    let model = TwoPhase::new(7);
    for threads in [1, 2] {
        let (memory, spilled) = both(&model, threads);
        assert_eq!(memory.unique_states, 296_448);
        same_findings(&memory, &spilled);
        assert!(spilled.complete);
        let spill = spilled.spill.expect("spill report");
        assert!(spill.buffered_bytes_max <= BUDGET, "{spill:?}");
        assert!(
            spill.stored_bytes_max > BUDGET,
            "the state space outgrew the budget: {spill:?}"
        );
        assert!(spill.candidate_runs > 20, "{spill:?}");
    }
}

#[test]
fn paxos_finds_the_same_shortest_counterexample_under_a_budget() {
    let system = paxos::system(2, 3, paxos::Variant::IgnoreAccepted);
    let (memory, spilled) = both(&system, 2);
    same_findings(&memory, &spilled);
    let violation = spilled.violation("agreement").expect("agreement broken");
    assert_eq!(violation.trace_len, 18);
    // The trace was rebuilt from the parent records and replays.
    let trace = violation.trace.as_ref().expect("trace");
    let explorer = Explorer::new(&system);
    let replayed = explorer.replay(trace.init, &trace.path).expect("replays");
    assert_eq!(&replayed, trace);
    assert!(spilled.spill.expect("spill").buffered_bytes_max <= BUDGET);
}

#[test]
fn a_correct_node_system_is_verified_completely_under_a_budget() {
    let system = paxos::system(1, 3, paxos::Variant::Correct);
    let (memory, spilled) = both(&system, 2);
    assert_eq!(memory.unique_states, 2_225);
    same_findings(&memory, &spilled);
    assert!(spilled.violations.is_empty());
}

#[test]
fn bounds_cut_a_spilled_search_where_they_cut_one_in_memory() {
    let model = TwoPhase::new(6);
    let store = MemoryStore::new();
    let memory = Explorer::new(&model).max_depth(7).run();
    let spilled = Explorer::new(&model)
        .max_depth(7)
        .spill(&store, BUDGET)
        .run();
    assert_eq!(spilled.unique_states, memory.unique_states);
    assert_eq!(spilled.unexplored, memory.unexplored);
    assert!(!spilled.complete);
    let capped = Explorer::new(&model)
        .max_states(10_000)
        .spill(&store, BUDGET)
        .run();
    assert_eq!(capped.unique_states, 10_000);
    assert_eq!(capped.unexplored, ["stopped at the state limit of 10000"]);
    assert_eq!(store.files(), 0);
}
