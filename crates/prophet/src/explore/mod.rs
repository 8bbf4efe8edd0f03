//! The explorer: exhaustive and random exploration of a [`Model`]'s states.
//!
//! Breadth-first search reports shortest counterexamples; depth-first search
//! reaches deep states with little memory; random walks sample spaces too
//! large to exhaust. BFS and DFS run on every core. Visited states are kept as
//! 64-bit fingerprints with the fingerprint of their parent, and a trace is
//! rebuilt by replaying steps, so memory grows by tens of bytes per state
//! whatever the size of a state. Every bound (depth, states, time) that cuts
//! the search is reported in [`Report::unexplored`], never silently applied.
//!
//! Exploration can start from the model's initial states or from any given
//! states ([`Explorer::start_from`]), which is how the live resolver checks
//! the consequences of a choice from a snapshot.

mod bfs;
mod dfs;
mod expand;
mod external;
mod fair;
mod liveness;
mod report;
mod search;
pub mod spill;
pub mod swarm;
mod trace;
mod visited;
mod walk;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

pub use external::{MIN_BUDGET_BYTES, SpillReport, collision_probability};
pub use report::{Finding, FindingKind, Report, Trace, TraceStep};
pub use visited::{Fingerprint, fingerprint};

use crate::model::{Expectation, Model, StepError};
use search::{Bounds, Hit, Search};

/// What the liveness checks assume of `model`'s executions, for the report.
fn assumed<M: Model>(model: &M) -> Vec<String> {
    let mut assumed: Vec<String> = model.fairness().iter().map(ToString::to_string).collect();
    if model.may_stutter() {
        assumed.push("stuttering".into());
    }
    assumed
}

/// How the state space is traversed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Breadth first: shortest counterexamples.
    Bfs,
    /// Depth first.
    Dfs,
    /// Random walks, reproducible from `seed`.
    Walk {
        /// Seed of the walk's random generator.
        seed: u64,
    },
}

impl Strategy {
    /// `bfs`, `dfs` or `walk`.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Bfs => "bfs",
            Strategy::Dfs => "dfs",
            Strategy::Walk { .. } => "walk",
        }
    }
}

/// A progress report, delivered about four times a second on long runs.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// Distinct states so far.
    pub unique_states: u64,
    /// Generated states so far.
    pub total_states: u64,
    /// Deepest level so far.
    pub depth: usize,
    /// Time since the start.
    pub elapsed: Duration,
}

/// A callback receiving [`Progress`].
pub type ProgressFn<'a> = dyn Fn(&Progress) + Sync + 'a;

/// Default number of random walks.
pub const DEFAULT_WALKS: u64 = 1_000;
/// Default length of one random walk when no depth bound is given.
pub const DEFAULT_WALK_LEN: usize = 200;

/// Configures and runs an exploration of a model.
pub struct Explorer<'m, M: Model> {
    model: &'m M,
    strategy: Strategy,
    max_depth: Option<usize>,
    max_states: Option<u64>,
    time_limit: Option<Duration>,
    symmetry: bool,
    threads: usize,
    keep_going: bool,
    walks: u64,
    start: Option<Vec<M::State>>,
    progress: Option<Box<ProgressFn<'m>>>,
    sample: bool,
    spill: Option<(&'m dyn spill::SpillStore, u64)>,
}

impl<'m, M: Model> Explorer<'m, M> {
    /// A breadth-first exploration on every core, without bounds.
    pub fn new(model: &'m M) -> Self {
        Explorer {
            model,
            strategy: Strategy::Bfs,
            max_depth: None,
            max_states: None,
            time_limit: None,
            symmetry: false,
            threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            keep_going: false,
            walks: DEFAULT_WALKS,
            start: None,
            progress: None,
            sample: false,
            spill: None,
        }
    }

    /// Sets the traversal strategy.
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// Bounds the search depth, counted in steps (transitions) from a start
    /// state: start states are at depth 0, their successors at depth 1.
    /// States at depth `depth` are checked but not expanded, and their
    /// number is reported in [`Report::unexplored`]. TLC's depth counts
    /// states, so for the same path it is one more.
    ///
    /// BFS checks every state within `depth` steps. Under DFS a state's
    /// depth is the length of the path by which it was first reached, not
    /// necessarily the shortest, and a state met again by a shorter path is
    /// already visited and is not expanded again (the visited set keeps no
    /// depths): a depth-bounded DFS can miss states within the bound that
    /// BFS reaches. The liveness search follows paths of at most `depth`
    /// steps. For random walks: the length of each walk, in steps.
    pub fn max_depth(mut self, depth: usize) -> Self {
        self.max_depth = Some(depth);
        self
    }

    /// Stops after about this many distinct states.
    pub fn max_states(mut self, states: u64) -> Self {
        self.max_states = Some(states);
        self
    }

    /// Stops after this much wall time.
    pub fn time_limit(mut self, limit: Duration) -> Self {
        self.time_limit = Some(limit);
        self
    }

    /// Turns symmetry reduction on (when the model declares a symmetry):
    /// states with the same [`Model::representative`] are explored once.
    /// Sound (every reachable state has a permutation explored), but the
    /// count is one per symmetry class only when the representative is a
    /// canonical form, which `System::symmetric`'s is not in general.
    pub fn symmetry(mut self, on: bool) -> Self {
        self.symmetry = on;
        self
    }

    /// Number of worker threads for BFS and DFS (default: every core).
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Keeps exploring after the first violation, until every safety and
    /// reachability property is decided or the space is exhausted.
    pub fn keep_going(mut self, on: bool) -> Self {
        self.keep_going = on;
        self
    }

    /// Number of random walks (walk strategy only).
    pub fn walks(mut self, walks: u64) -> Self {
        self.walks = walks;
        self
    }

    /// Starts from these states instead of the model's initial states (a
    /// snapshot of a live system, say).
    pub fn start_from(mut self, states: Vec<M::State>) -> Self {
        self.start = Some(states);
        self
    }

    /// Random walks keep a sample of the fingerprints they visit, for a
    /// swarm's coverage estimate ([`swarm`]); in [`Report::fingerprint_sample`].
    pub fn fingerprint_sample(mut self, on: bool) -> Self {
        self.sample = on;
        self
    }

    /// Bounds a breadth-first search's memory to about `max_memory_bytes`
    /// (at least [`MIN_BUDGET_BYTES`]): the visited set and the frontier go
    /// to `store`, and memory holds only buffers within the budget. Counts,
    /// findings and shortest counterexamples are those of the in-memory
    /// search; the report's `spill` says what was held and moved. The model
    /// must write its states out ([`Model::encode_state`]); node systems do.
    /// Liveness properties are left undecided (their check holds the whole
    /// graph). Depth-first search and random walks ignore the budget: their
    /// memory is already a fingerprint per state, or none.
    ///
    /// ```
    /// # use prophet::prelude::*;
    /// # use prophet::explore::spill::MemoryStore;
    /// # #[derive(Clone)]
    /// # struct Counter;
    /// # impl Node for Counter {
    /// #     type State = u16; type Msg = u16; type Timer = (); type Durable = ();
    /// #     fn init(&self, _: NodeId, _: Option<()>) -> u16 { 0 }
    /// #     fn on_start(&self, _: &mut u16, ctx: &mut Ctx<'_, Self>) { ctx.send(ctx.id(), 1) }
    /// #     fn on_message(&self, s: &mut u16, ctx: &mut Ctx<'_, Self>, _: NodeId, m: u16) {
    /// #         *s = m;
    /// #         if m < 500 { ctx.send(ctx.id(), m + 1) }
    /// #     }
    /// #     fn durable(&self, _: &u16) {}
    /// # }
    /// let system = System::new("counter", vec![Counter]);
    /// let store = MemoryStore::new();
    /// let report = Explorer::new(&system).spill(&store, 1 << 20).run();
    /// assert_eq!(report.unique_states, Explorer::new(&system).run().unique_states);
    /// assert!(report.spill.unwrap().buffered_bytes_max <= 1 << 20);
    /// assert_eq!(store.files(), 0, "every file is removed at the end");
    /// ```
    pub fn spill(mut self, store: &'m dyn spill::SpillStore, max_memory_bytes: u64) -> Self {
        self.spill = Some((store, max_memory_bytes));
        self
    }

    /// Calls `progress` about four times a second during the run.
    pub fn on_progress(mut self, progress: impl Fn(&Progress) + Sync + 'm) -> Self {
        self.progress = Some(Box::new(progress));
        self
    }

    fn starts(&self) -> Vec<M::State> {
        self.start
            .clone()
            .unwrap_or_else(|| self.model.init_states())
    }

    /// Rebuilds the trace of an encoded path: `init` is the start state's
    /// index, `path` the successor index taken at each step (the parts of
    /// [`Trace::encoded`]; [`Trace::decode`] parses the text form). The
    /// path of a panic or nondeterminism finding ends with the failing
    /// step, which the rebuilt trace shows as its last.
    ///
    /// ```
    /// # use prophet::prelude::*;
    /// # use prophet::explore::Trace;
    /// # use serde::{Deserialize, Serialize};
    /// #[derive(Clone)]
    /// struct Counter;
    /// impl Node for Counter {
    ///     type State = u8; type Msg = u8; type Timer = (); type Durable = ();
    ///     fn init(&self, _: NodeId, _: Option<()>) -> u8 { 0 }
    ///     fn on_start(&self, _: &mut u8, ctx: &mut Ctx<'_, Self>) { ctx.send(ctx.id(), 1) }
    ///     fn on_message(&self, s: &mut u8, ctx: &mut Ctx<'_, Self>, _: NodeId, m: u8) {
    ///         *s = m;
    ///         if m < 3 { ctx.send(ctx.id(), m + 1) }
    ///     }
    ///     fn durable(&self, _: &u8) {}
    /// }
    /// let system = System::new("counter", vec![Counter]).always("below 3", |_, s| *s.node(NodeId(0)) < 3);
    /// let explorer = Explorer::new(&system);
    /// let report = explorer.run();
    /// let trace = report.violations[0].trace.as_ref().unwrap();
    /// assert_eq!(trace.encoded(), "0:0.0.0");
    /// // Later, from the text a user kept:
    /// let (init, path) = Trace::decode("0:0.0.0").unwrap();
    /// let again = explorer.replay(init, &path).unwrap();
    /// assert_eq!(&again, trace);
    /// assert_eq!(explorer.state_at(init, &path).map(|s| *s.node(NodeId(0))), Some(3));
    /// ```
    pub fn replay(&self, init: usize, path: &[usize]) -> Result<Trace, String> {
        trace::trace_from_path(self.model, &self.starts(), init, path)
    }

    /// The state an encoded path leads to.
    pub fn state_at(&self, init: usize, path: &[usize]) -> Option<M::State> {
        trace::state_at(self.model, &self.starts(), init, path)
    }

    /// Runs the exploration.
    pub fn run(&self) -> Report {
        let started = Instant::now();
        let starts = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.starts()))
        {
            Ok(starts) => starts,
            Err(payload) => return self.init_failure(expand::panic_text(&payload), started),
        };
        let deadline = self.time_limit.map(|limit| started + limit);
        let bounds = Bounds {
            max_depth: if matches!(self.strategy, Strategy::Walk { .. }) {
                None
            } else {
                self.max_depth
            },
            max_states: self.max_states,
            deadline,
        };
        let threads = if matches!(self.strategy, Strategy::Walk { .. }) {
            1
        } else {
            self.threads
        };
        let symmetry = self.symmetry
            && starts
                .first()
                .is_some_and(|s| self.model.representative(s).is_some());
        let spill = self.spill.filter(|_| self.strategy == Strategy::Bfs);
        let mut search = Search::new(
            self.model,
            symmetry,
            threads,
            self.keep_going,
            bounds,
            self.progress.as_deref(),
            match self.strategy {
                Strategy::Dfs => visited::Layout::FingerprintsOnly,
                _ => visited::Layout::WithParents,
            },
        );
        search.spilling = spill.is_some();
        let mut sample = hashbrown::HashSet::new();
        let mut spilled = None;
        match self.strategy {
            Strategy::Bfs => match spill {
                Some((store, budget)) => {
                    spilled = Some(external::run(&search, &starts, store, budget));
                }
                None => bfs::run(&search, &starts),
            },
            Strategy::Dfs => dfs::run(&search, &starts),
            Strategy::Walk { seed } => {
                let len = self.max_depth.unwrap_or(DEFAULT_WALK_LEN);
                let sample = self.sample.then_some(&mut sample);
                walk::run(&search, &starts, seed, self.walks, len, sample)
            }
        }
        let mut report = self.report(&search, &starts, started);
        report.spill = spilled;
        report.fingerprint_sample = sample.into_iter().collect();
        report.fingerprint_sample.sort_unstable();
        report
    }

    fn report(&self, search: &Search<'_, M>, starts: &[M::State], started: Instant) -> Report {
        let mut unexplored = Vec::new();
        let depth_cut = search.depth_cut.load(Ordering::Relaxed);
        if depth_cut > 0 {
            unexplored.push(format!(
                "{depth_cut} state(s) at depth {} not expanded (--max-depth)",
                self.max_depth.unwrap_or(0)
            ));
        }
        if search.states_cut.load(Ordering::Relaxed) {
            unexplored.push(format!(
                "stopped at the state limit of {}",
                self.max_states.unwrap_or(0)
            ));
        }
        if search.time_cut.load(Ordering::Relaxed) {
            unexplored.push(format!(
                "stopped at the time limit of {:?}",
                self.time_limit.unwrap_or_default()
            ));
        }
        if let Some(reason) = search
            .halted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            unexplored.push(reason);
        }
        if let Strategy::Walk { seed } = self.strategy {
            unexplored.push(format!(
                "random walks (seed {seed}) sample the space; they never exhaust it"
            ));
        }
        let stopped_on_finding = search.found_stop.load(Ordering::Relaxed);
        let exhaustive = unexplored.is_empty() && !stopped_on_finding;
        if stopped_on_finding && unexplored.is_empty() {
            unexplored.push("stopped at the first violation (use keep-going to continue)".into());
        }
        let mut violations = Vec::new();
        let mut examples = Vec::new();
        let mut undecided = Vec::new();
        let findings = std::mem::take(&mut *search.lock());
        let symmetry = search.symmetry;
        let limits = liveness::Limits {
            max_depth: self.max_depth,
            max_states: self.max_states,
            deadline: search.bounds.deadline,
        };
        // One graph serves every property checked under fairness.
        let fairness = self.model.fairness();
        let fair_properties: Vec<&crate::model::Property<M>> = search
            .properties
            .iter()
            .filter(|p| fair::needed(self.model, p, &fairness))
            .collect();
        let walking = matches!(self.strategy, Strategy::Walk { .. });
        let mut graph: Option<fair::Graph> = None;
        if let Some(hit) = &findings.step_error {
            violations.push(self.step_error_finding(search, starts, hit));
        }
        for (i, property) in search.properties.iter().enumerate() {
            match property.expectation {
                Expectation::Always => match &findings.violations[i] {
                    Some(hit) => violations.push(self.finding(
                        search,
                        starts,
                        &property.name,
                        FindingKind::Always,
                        hit,
                    )),
                    None if !exhaustive => undecided.push(format!(
                        "\"{}\" held in every state explored, but the exploration was incomplete",
                        property.name
                    )),
                    None => {}
                },
                Expectation::Sometimes => match &findings.examples[i] {
                    Some(hit) => examples.push(self.finding(
                        search,
                        starts,
                        &property.name,
                        FindingKind::Sometimes,
                        hit,
                    )),
                    None if exhaustive => violations.push(Finding {
                        property: property.name.clone(),
                        kind: FindingKind::Sometimes,
                        detail: Some("no reachable state satisfies it".into()),
                        trace_len: 0,
                        trace: None,
                    }),
                    None => undecided.push(format!(
                        "\"{}\": no example found in the states explored",
                        property.name
                    )),
                },
                Expectation::Eventually | Expectation::LeadsTo | Expectation::AlwaysEventually => {
                    if stopped_on_finding {
                        undecided.push(format!(
                            "\"{}\" not checked: stopped at an earlier violation",
                            property.name
                        ));
                        continue;
                    }
                    // The property's place among those the graph is built for.
                    let fair_index = fair_properties
                        .iter()
                        .position(|p| std::ptr::eq(*p, property));
                    let outcome = match fair_index {
                        // Both checks explore again in memory.
                        _ if search.spilling => liveness::Outcome::Unknown(
                            "not checked under a memory budget: the liveness checks explore in memory".into(),
                        ),
                        None => liveness::check(self.model, starts, property, symmetry, &limits),
                        // Random walks (and swarm workers) are for spaces too
                        // large to hold; this check holds the whole graph.
                        Some(_) if walking => liveness::Outcome::Unknown(
                            "not checked by random walks: under fairness the check builds the whole reachable graph (use BFS or DFS)".into(),
                        ),
                        Some(j) => graph
                            .get_or_insert_with(|| {
                                fair::Graph::build(self.model, starts, &fair_properties, &limits)
                            })
                            .check(self.model, starts, j, property),
                    };
                    match outcome {
                        liveness::Outcome::Holds if exhaustive => {}
                        liveness::Outcome::Holds => undecided.push(format!(
                            "\"{}\" holds on the paths followed, but the exploration was incomplete",
                            property.name
                        )),
                        liveness::Outcome::Violated { trace, detail } => violations.push(Finding {
                            property: property.name.clone(),
                            kind: FindingKind::liveness(property.expectation),
                            detail: Some(detail),
                            trace_len: trace.len(),
                            trace: Some(trace),
                        }),
                        liveness::Outcome::Unknown(reason) => {
                            undecided.push(format!("\"{}\": {reason}", property.name))
                        }
                    }
                }
            }
        }
        Report {
            strategy: self.strategy.name().to_string(),
            symmetry: search.symmetry,
            unique_states: search.unique.load(Ordering::Relaxed),
            total_states: search.total.load(Ordering::Relaxed) + starts.len() as u64,
            max_depth: search.depth_seen.load(Ordering::Relaxed),
            elapsed: started.elapsed(),
            complete: exhaustive,
            unexplored,
            violations,
            examples,
            undecided,
            assumed: assumed(self.model),
            fingerprint_sample: Vec::new(),
            spill: None,
        }
    }

    /// The report when computing the start states panicked (an `on_start`
    /// handler, say): nothing was explored, and the panic is the finding.
    fn init_failure(&self, message: String, started: Instant) -> Report {
        Report {
            strategy: self.strategy.name().to_string(),
            symmetry: false,
            unique_states: 0,
            total_states: 0,
            max_depth: 0,
            elapsed: started.elapsed(),
            complete: false,
            unexplored: vec!["the initial states could not be computed".into()],
            violations: vec![Finding {
                property: "handler panicked".into(),
                kind: FindingKind::Panic,
                detail: Some(format!("computing the initial states: {message}")),
                trace_len: 0,
                trace: None,
            }],
            examples: Vec::new(),
            undecided: Vec::new(),
            assumed: assumed(self.model),
            fingerprint_sample: Vec::new(),
            spill: None,
        }
    }

    fn finding(
        &self,
        search: &Search<'_, M>,
        starts: &[M::State],
        property: &str,
        kind: FindingKind,
        hit: &Hit,
    ) -> Finding {
        let chain = hit
            .chain
            .clone()
            .unwrap_or_else(|| search.visited.chain_to(hit.fp));
        let trace = trace::trace_from_chain(self.model, starts, &chain, search.symmetry);
        Finding {
            property: property.to_string(),
            kind,
            detail: trace
                .is_none()
                .then(|| "the trace could not be rebuilt by replay".to_string()),
            trace_len: trace.as_ref().map_or(hit.depth, Trace::len),
            trace,
        }
    }

    fn step_error_finding(
        &self,
        search: &Search<'_, M>,
        starts: &[M::State],
        hit: &Hit,
    ) -> Finding {
        let chain = hit
            .chain
            .clone()
            .unwrap_or_else(|| search.visited.chain_to(hit.fp));
        let mut trace = trace::trace_from_chain(self.model, starts, &chain, search.symmetry);
        let (action, error) = hit.error.clone().unwrap_or_else(|| {
            (
                String::new(),
                StepError::Panic {
                    message: "unknown".into(),
                },
            )
        });
        if let Some(trace) = trace.as_mut() {
            trace.steps.push(TraceStep {
                description: format!("{action} → {error}"),
                action: action.clone(),
                chart: None,
            });
            // The encoded path includes the failing step, so a replay shows it.
            if let Some(index) = trace::failing_index(self.model, starts, trace.init, &trace.path) {
                trace.path.push(index);
            }
        }
        let (property, kind) = match error {
            StepError::Panic { .. } => ("handler panicked", FindingKind::Panic),
            StepError::Nondeterministic { .. } => {
                ("nondeterministic handler", FindingKind::Nondeterminism)
            }
        };
        Finding {
            property: property.to_string(),
            kind,
            detail: Some(format!("{action}: {error}")),
            trace_len: trace.as_ref().map_or(hit.depth + 1, Trace::len),
            trace,
        }
    }
}
