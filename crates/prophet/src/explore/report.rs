//! What an exploration found: counts, bounds hit, violations and examples,
//! each with a trace that can be printed, serialised and replayed.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::ChartStep;

/// Why a finding was recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// An `always` property failed in a reachable state.
    Always,
    /// A `sometimes` property: an example (or, in `violations`, none exists).
    Sometimes,
    /// An `eventually` property failed on an execution (a path that ends or
    /// loops without reaching it).
    Eventually,
    /// A leads-to property failed: after a state where its trigger holds,
    /// an execution never reaches its condition.
    LeadsTo,
    /// An always-eventually property failed: an execution that, from some
    /// point on, never reaches its condition.
    AlwaysEventually,
    /// A handler panicked.
    Panic,
    /// A handler gave different results on the same inputs.
    Nondeterminism,
}

/// One step of a trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceStep {
    /// What happened, e.g. "n1 handles Prepare(3) from n0 → n1 state …; sends …".
    pub description: String,
    /// The action, as the model prints it.
    pub action: String,
    /// The step structured for a message-sequence chart (models made of
    /// nodes; absent in traces of other models and of older reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart: Option<ChartStep>,
}

/// A path through the state space from one of the start states.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trace {
    /// Which start state (index into the model's initial states or the
    /// states given to `start_from`).
    pub init: usize,
    /// Index of the successor taken at each step, in the order the model
    /// generates successors: the encoded path `replay` takes.
    pub path: Vec<usize>,
    /// The steps, in order.
    pub steps: Vec<TraceStep>,
    /// The initial state.
    pub first_state: String,
    /// The state the trace ends in.
    pub last_state: String,
    /// For a lasso (an `eventually` counterexample that loops): the step
    /// index where the loop starts; the last state steps back to it.
    pub loop_start: Option<usize>,
    /// Each node's slot in the initial state, a chart's lanes (models made
    /// of nodes; empty otherwise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<String>,
}

impl Trace {
    /// The path as text: `init:i.j.k`, the start state's index and the
    /// successor taken at each step. [`Trace::decode`] parses it back and
    /// [`Explorer::replay`](crate::explore::Explorer::replay) rebuilds the
    /// trace (`prophet check --replay` does both).
    pub fn encoded(&self) -> String {
        let steps: Vec<String> = self.path.iter().map(|i| i.to_string()).collect();
        format!("{}:{}", self.init, steps.join("."))
    }

    /// Number of steps.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Whether the trace has no steps (the initial state itself).
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Parses `init:i.j.k` back into (init, path).
    pub fn decode(encoded: &str) -> Result<(usize, Vec<usize>), String> {
        let (init, rest) = encoded
            .split_once(':')
            .ok_or_else(|| format!("path `{encoded}` should look like `0:3.1.2`"))?;
        let init = init
            .trim()
            .parse()
            .map_err(|_| format!("bad start index `{init}` in path"))?;
        let path = if rest.trim().is_empty() {
            Vec::new()
        } else {
            rest.split('.')
                .map(|s| {
                    s.trim()
                        .parse()
                        .map_err(|_| format!("bad step index `{s}` in path"))
                })
                .collect::<Result<_, _>>()?
        };
        Ok((init, path))
    }
}

impl fmt::Display for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "  initial: {}", self.first_state)?;
        for (i, step) in self.steps.iter().enumerate() {
            let marker = if self.loop_start == Some(i) {
                " (loop starts here)"
            } else {
                ""
            };
            writeln!(f, "  {:>3}. {}{}", i + 1, step.description, marker)?;
        }
        writeln!(f, "  final: {}", self.last_state)?;
        if let Some(start) = self.loop_start {
            writeln!(
                f,
                "  … and the last state steps back to the state before step {}",
                start + 1
            )?;
        }
        write!(f, "  path: {}", self.encoded())
    }
}

/// A property violation or example, with its trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The property's name (or `handler panicked` / `nondeterministic handler`).
    pub property: String,
    /// What kind of finding it is.
    pub kind: FindingKind,
    /// More detail (the panic message, why a liveness path is bad).
    pub detail: Option<String>,
    /// Number of steps in the trace.
    pub trace_len: usize,
    /// The trace; `None` only for a `sometimes` property with no example.
    pub trace: Option<Trace>,
}

/// The outcome of an exploration.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    /// `bfs`, `dfs` or `walk`.
    pub strategy: String,
    /// Whether symmetry reduction was applied: asked for, and the model
    /// declares interchangeable parts (a `representative`).
    #[serde(default)]
    pub symmetry: bool,
    /// Distinct states reached. With symmetry reduction: distinct
    /// representatives, at least one per symmetry class reached but not
    /// necessarily only one (see the guide's chapter on checking).
    pub unique_states: u64,
    /// States generated, counting revisits.
    pub total_states: u64,
    /// Depth, in steps from a start state (which is at depth 0), of the
    /// deepest new state found. BFS: the largest distance from the start
    /// states (TLC's depth, which counts states, is one more). DFS: the
    /// deepest search path, usually more than the distance.
    pub max_depth: usize,
    /// Wall time.
    #[serde(rename = "elapsed_s", with = "secs")]
    pub elapsed: Duration,
    /// Whether every reachable state (within the model's own boundary) was
    /// explored. When `false`, `unexplored` says what was cut.
    pub complete: bool,
    /// Why exploration stopped early and how much was left, when it did.
    pub unexplored: Vec<String>,
    /// Violations, at most one per property.
    pub violations: Vec<Finding>,
    /// Examples for `sometimes` properties.
    pub examples: Vec<Finding>,
    /// Properties neither confirmed nor refuted, with the reason.
    pub undecided: Vec<String>,
    /// The fairness the liveness checks assumed (`weak:deliver`, …), and
    /// `stuttering` when executions may stop where no fair action is
    /// enabled (TLA+'s semantics).
    #[serde(default)]
    pub assumed: Vec<String>,
    /// Random walks asked to sample ([`Explorer::fingerprint_sample`](crate::explore::Explorer::fingerprint_sample)):
    /// the fingerprints visited that are multiples of
    /// [`SAMPLE_EVERY`](crate::explore::swarm::SAMPLE_EVERY), sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fingerprint_sample: Vec<u64>,
    /// A search under a memory budget ([`Explorer::spill`](crate::explore::Explorer::spill)):
    /// what it held in memory and moved through its store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spill: Option<crate::explore::SpillReport>,
}

mod secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Ok(Duration::try_from_secs_f64(secs).unwrap_or_default())
    }
}

impl Report {
    /// Whether no property was violated.
    pub fn ok(&self) -> bool {
        self.violations.is_empty()
    }

    /// The violation of `property`, if any.
    pub fn violation(&self, property: &str) -> Option<&Finding> {
        self.violations.iter().find(|f| f.property == property)
    }

    /// The example for `property`, if any.
    pub fn example(&self, property: &str) -> Option<&Finding> {
        self.examples.iter().find(|f| f.property == property)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: {} unique states, {} total, max depth {}, {:.2}s, {}",
            self.strategy,
            self.unique_states,
            self.total_states,
            self.max_depth,
            self.elapsed.as_secs_f64(),
            if self.complete {
                "complete"
            } else {
                "INCOMPLETE"
            }
        )?;
        for reason in &self.unexplored {
            writeln!(f, "  not explored: {reason}")?;
        }
        if !self.assumed.is_empty() {
            writeln!(f, "  liveness assumes: {}", self.assumed.join(", "))?;
        }
        for finding in &self.violations {
            write!(
                f,
                "VIOLATION of {} \"{}\"",
                finding.kind_label(),
                finding.property
            )?;
            if let Some(detail) = &finding.detail {
                write!(f, ": {detail}")?;
            }
            writeln!(f)?;
            if let Some(trace) = &finding.trace {
                writeln!(f, "  counterexample ({} steps):", trace.len())?;
                writeln!(f, "{trace}")?;
            }
        }
        for finding in &self.examples {
            writeln!(
                f,
                "example for \"{}\" ({} steps)",
                finding.property, finding.trace_len
            )?;
        }
        for undecided in &self.undecided {
            writeln!(f, "undecided: {undecided}")?;
        }
        if self.violations.is_empty() {
            write!(f, "no violations")?;
        } else {
            write!(f, "{} violation(s)", self.violations.len())?;
        }
        Ok(())
    }
}

impl FindingKind {
    /// The kind of a failed liveness property with `expectation`.
    pub(crate) fn liveness(expectation: crate::model::Expectation) -> Self {
        match expectation {
            crate::model::Expectation::LeadsTo => FindingKind::LeadsTo,
            crate::model::Expectation::AlwaysEventually => FindingKind::AlwaysEventually,
            _ => FindingKind::Eventually,
        }
    }
}

impl Finding {
    fn kind_label(&self) -> &'static str {
        match self.kind {
            FindingKind::Always => "invariant",
            FindingKind::Sometimes => "reachability property",
            FindingKind::Eventually | FindingKind::LeadsTo | FindingKind::AlwaysEventually => {
                "liveness property"
            }
            FindingKind::Panic => "handler safety",
            FindingKind::Nondeterminism => "handler determinism",
        }
    }
}
