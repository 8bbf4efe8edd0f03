//! A breadth-first search under a memory budget on small plain models:
//! what it refuses, what it leaves undecided, and the findings it shares
//! with the in-memory search.

use prophet::explore::spill::{FileId, MemoryStore, SpillError, SpillStore};
use prophet::explore::{Explorer, FindingKind};
use prophet::model::{Model, Property, StepError};

/// Three counters up to `max`; the step that would take the sum to `panic_at` panics.
struct Grid {
    max: u8,
    encodes: bool,
    panic_at: Option<u16>,
    /// `decode_state` gives back another state than was written.
    corrupt: bool,
}

impl Model for Grid {
    type State = [u8; 3];
    type Action = usize;

    fn init_states(&self) -> Vec<[u8; 3]> {
        vec![[0; 3]]
    }
    fn actions(&self, s: &[u8; 3], actions: &mut Vec<usize>) {
        actions.extend((0..3).filter(|&i| s[i] < self.max));
    }
    fn next_state(&self, s: &[u8; 3], &i: &usize) -> Result<Option<[u8; 3]>, StepError> {
        let mut next = *s;
        next[i] += 1;
        let sum: u16 = next.iter().map(|&c| u16::from(c)).sum();
        if self.panic_at == Some(sum) {
            panic!("sum reached {sum}");
        }
        Ok(Some(next))
    }
    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always("not all equal above 5", |_, s: &[u8; 3]| {
                !(s[0] > 5 && s[0] == s[1] && s[1] == s[2])
            }),
            Property::sometimes("first at max", |m: &Grid, s: &[u8; 3]| s[0] == m.max),
            Property::eventually("first moves", |_, s: &[u8; 3]| s[0] > 0),
        ]
    }
    fn encode_state(&self, s: &[u8; 3], out: &mut Vec<u8>) -> bool {
        out.extend_from_slice(s);
        self.encodes
    }
    fn decode_state(&self, bytes: &[u8]) -> Option<[u8; 3]> {
        let state: [u8; 3] = bytes.try_into().ok()?;
        Some(if self.corrupt {
            [state[1], state[0], state[2]]
        } else {
            state
        })
    }
}

const BUDGET: u64 = 1 << 20;

#[test]
fn violations_examples_and_depths_match_the_in_memory_search() {
    let grid = Grid {
        max: 40,
        encodes: true,
        panic_at: None,
        corrupt: false,
    };
    let store = MemoryStore::new();
    for keep_going in [false, true] {
        let memory = Explorer::new(&grid).keep_going(keep_going).run();
        let spilled = Explorer::new(&grid)
            .keep_going(keep_going)
            .spill(&store, BUDGET)
            .run();
        assert_eq!(spilled.unique_states, memory.unique_states);
        assert_eq!(spilled.total_states, memory.total_states);
        let violation = spilled
            .violation("not all equal above 5")
            .expect("violated");
        assert_eq!(violation.trace_len, 18);
        let trace = violation.trace.as_ref().expect("trace");
        assert_eq!(trace.last_state, "[6, 6, 6]");
        if keep_going {
            let example = spilled.example("first at max").expect("example");
            assert_eq!(example.trace_len, 40);
        } else {
            assert!(
                spilled.example("first at max").is_none(),
                "stopped at depth 18"
            );
        }
        assert_eq!(store.files(), 0);
    }
}

#[test]
fn liveness_is_left_undecided_and_said_why() {
    let grid = Grid {
        max: 30,
        encodes: true,
        panic_at: None,
        corrupt: false,
    };
    let store = MemoryStore::new();
    let report = Explorer::new(&grid)
        .keep_going(true)
        .spill(&store, BUDGET)
        .run();
    assert_eq!(report.unique_states, 31 * 31 * 31);
    assert!(
        report
            .undecided
            .iter()
            .any(|u| u.starts_with("\"first moves\"") && u.contains("memory budget")),
        "{:?}",
        report.undecided
    );
}

#[test]
fn a_panicking_step_is_found_at_the_same_depth_with_its_trace() {
    let grid = Grid {
        max: 20,
        encodes: true,
        panic_at: Some(12),
        corrupt: false,
    };
    let memory = Explorer::new(&grid).run();
    let store = MemoryStore::new();
    let spilled = Explorer::new(&grid).spill(&store, BUDGET).run();
    let find = |r: &prophet::explore::Report| {
        r.violations
            .iter()
            .find(|f| f.kind == FindingKind::Panic)
            .map(|f| f.trace_len)
    };
    assert_eq!(find(&spilled), Some(12));
    assert_eq!(find(&spilled), find(&memory));
    assert_eq!(spilled.unique_states, memory.unique_states);
}

#[test]
fn a_model_that_cannot_write_its_states_is_refused_with_the_reason() {
    let grid = Grid {
        max: 3,
        encodes: false,
        panic_at: None,
        corrupt: false,
    };
    let store = MemoryStore::new();
    let report = Explorer::new(&grid).spill(&store, BUDGET).run();
    assert_eq!(report.unique_states, 0);
    assert!(!report.complete);
    assert!(
        report
            .unexplored
            .iter()
            .any(|u| u.contains("Model::encode_state")),
        "{:?}",
        report.unexplored
    );
}

/// A store whose appends fail after `budget` bytes: a full disk.
struct Full {
    inner: MemoryStore,
    left: std::sync::atomic::AtomicI64,
}

impl SpillStore for Full {
    fn create(&self) -> Result<FileId, SpillError> {
        self.inner.create()
    }
    fn append(&self, file: FileId, bytes: &[u8]) -> Result<(), SpillError> {
        let left = self
            .left
            .fetch_sub(bytes.len() as i64, std::sync::atomic::Ordering::Relaxed);
        if left < bytes.len() as i64 {
            return Err(SpillError("no space left on device".into()));
        }
        self.inner.append(file, bytes)
    }
    fn read_at(&self, file: FileId, offset: u64, buf: &mut [u8]) -> Result<(), SpillError> {
        self.inner.read_at(file, offset, buf)
    }
    fn remove(&self, file: FileId) -> Result<(), SpillError> {
        self.inner.remove(file)
    }
}

#[test]
fn a_failing_store_stops_the_search_and_the_report_says_so() {
    let grid = Grid {
        max: 40,
        encodes: true,
        panic_at: None,
        corrupt: false,
    };
    let store = Full {
        inner: MemoryStore::new(),
        left: 200_000.into(),
    };
    let report = Explorer::new(&grid)
        .keep_going(true)
        .spill(&store, BUDGET)
        .run();
    assert!(!report.complete);
    assert!(report.unique_states < 41 * 41 * 41);
    assert!(
        report
            .unexplored
            .iter()
            .any(|u| u.contains("no space left on device")),
        "{:?}",
        report.unexplored
    );
    assert!(
        report.undecided.iter().any(|u| u.contains("first at max")),
        "an example not reached is undecided, not missing: {:?}",
        report.undecided
    );
    let failure = report.spill.and_then(|s| s.failure);
    assert!(
        failure
            .as_deref()
            .is_some_and(|f| f.contains("no space left")),
        "{failure:?}"
    );
    assert_eq!(store.inner.files(), 0, "files removed after the failure");
}

#[test]
fn a_codec_that_does_not_give_back_its_states_is_caught() {
    let grid = Grid {
        max: 5,
        encodes: true,
        panic_at: None,
        corrupt: true,
    };
    let store = MemoryStore::new();
    let report = Explorer::new(&grid).spill(&store, BUDGET).run();
    assert!(!report.complete);
    let failure = report.spill.and_then(|s| s.failure).expect("a failure");
    assert!(
        failure.contains("decode_state did not give back"),
        "{failure}"
    );
    assert!(
        report.unexplored.iter().any(|u| u.contains("decode_state")),
        "{:?}",
        report.unexplored
    );
}
