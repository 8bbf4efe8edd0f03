//! Checking a registered system: the explorer's options as one value, so
//! that every front end (the command line, tests, a user's own tool) drives
//! the explorer the same way.

use std::time::Duration;

use crate::explore::spill::SpillStore;
use crate::explore::{Explorer, Progress, Report, Strategy, Trace};
use crate::model::{Expectation, Fairness, Model};

/// How to check a system: strategy, bounds, and what to do with progress.
#[derive(Clone, Copy)]
pub struct CheckOptions<'a> {
    /// BFS, DFS or random walk.
    pub strategy: Strategy,
    /// Depth bound (walk length for walks).
    pub max_depth: Option<usize>,
    /// Distinct-state bound.
    pub max_states: Option<u64>,
    /// Wall-time bound.
    pub time_limit: Option<Duration>,
    /// Symmetry reduction.
    pub symmetry: bool,
    /// Worker threads (default: every core).
    pub threads: Option<usize>,
    /// Continue after the first violation.
    pub keep_going: bool,
    /// Number of random walks.
    pub walks: Option<u64>,
    /// Replay this encoded path instead of exploring.
    pub replay: Option<(usize, &'a [usize])>,
    /// Progress callback.
    pub progress: Option<&'a (dyn Fn(&Progress) + Sync)>,
    /// Fairness added to a node system's own (the classes of
    /// [`System::fair`](crate::model::System::fair)); plain models declare
    /// theirs in code and refuse this.
    pub fairness: &'a [Fairness],
    /// Random walks keep a fingerprint sample (a swarm worker's coverage).
    pub fingerprint_sample: bool,
    /// BFS under a memory budget in bytes, spilling to this store
    /// ([`Explorer::spill`]).
    pub spill: Option<(&'a dyn SpillStore, u64)>,
}

impl Default for CheckOptions<'_> {
    fn default() -> Self {
        CheckOptions {
            strategy: Strategy::Bfs,
            max_depth: None,
            max_states: None,
            time_limit: None,
            symmetry: false,
            threads: None,
            keep_going: false,
            walks: None,
            replay: None,
            progress: None,
            fairness: &[],
            fingerprint_sample: false,
            spill: None,
        }
    }
}

/// What a check produced.
#[derive(Debug)]
pub enum CheckOutcome {
    /// The exploration's report.
    Report(Report),
    /// The trace of a replayed path, and the `always` properties that fail
    /// in its last state (a counterexample's, from the checker or from a
    /// simulation, ends in one).
    Replay {
        /// The trace.
        trace: Trace,
        /// The `always` properties its last state breaks.
        violated: Vec<String>,
    },
}

/// Checks `model` as `options` say.
pub fn check_model<M: Model>(
    model: &M,
    options: &CheckOptions<'_>,
) -> Result<CheckOutcome, String> {
    let mut explorer = Explorer::new(model)
        .strategy(options.strategy)
        .symmetry(options.symmetry)
        .keep_going(options.keep_going)
        .fingerprint_sample(options.fingerprint_sample);
    if let Some(depth) = options.max_depth {
        explorer = explorer.max_depth(depth);
    }
    if let Some(states) = options.max_states {
        explorer = explorer.max_states(states);
    }
    if let Some(limit) = options.time_limit {
        explorer = explorer.time_limit(limit);
    }
    if let Some(threads) = options.threads {
        explorer = explorer.threads(threads);
    }
    if let Some(walks) = options.walks {
        explorer = explorer.walks(walks);
    }
    if let Some(progress) = options.progress {
        explorer = explorer.on_progress(progress);
    }
    if let Some((store, budget)) = options.spill {
        explorer = explorer.spill(store, budget);
    }
    match options.replay {
        Some((init, path)) => {
            let trace = explorer.replay(init, path)?;
            let violated = match explorer.state_at(init, path) {
                Some(last) => model
                    .properties()
                    .into_iter()
                    .filter(|p| p.expectation == Expectation::Always && !p.holds(model, &last))
                    .map(|p| p.name)
                    .collect(),
                // The trace ends in a failing step (a panic): no last state.
                None => Vec::new(),
            };
            Ok(CheckOutcome::Replay { trace, violated })
        }
        None => Ok(CheckOutcome::Report(explorer.run())),
    }
}
