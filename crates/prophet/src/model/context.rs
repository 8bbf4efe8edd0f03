//! The handler context: the only way protocol code touches the world.
//!
//! A [`Ctx`] collects a handler's effects (messages, timers, metrics) into an
//! [`Effects`] buffer that the executor applies after the handler returns, and
//! resolves `choose` through whatever [`Chooser`] the executor plugs in: the
//! explorer branches on every candidate, the simulator asks a policy, the live
//! runtime asks the resolver. Handlers never see which.

use std::hash::{Hash, Hasher};
use std::time::Duration;

use crate::model::node::{Node, NodeId};

/// One `choose` as a chooser sees it: who chooses, under which stable name,
/// among which candidates (by their stable keys, in the handler's order),
/// and in which context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChoiceRequest<'a> {
    /// The node choosing.
    pub node: NodeId,
    /// The choice's stable name.
    pub name: &'static str,
    /// One stable key per candidate ([`candidate_key`]): what a policy
    /// learns about "replica 7" stays with replica 7 when the list changes
    /// order or length.
    pub keys: &'a [u64],
    /// What the decision is about, when the protocol says (the key a read
    /// is for, say).
    pub context: Option<u64>,
}

impl ChoiceRequest<'_> {
    /// Number of candidates (at least 1).
    pub fn candidates(&self) -> usize {
        self.keys.len()
    }
}

/// Resolves `choose` calls. Each executor supplies its own.
pub trait Chooser {
    /// Picks one of the request's candidates, returning an index below
    /// `request.candidates()`.
    fn choose(&mut self, request: &ChoiceRequest<'_>) -> usize;
}

/// Always picks the first candidate: the programmer's default.
#[derive(Clone, Copy, Debug, Default)]
pub struct FirstChoice;

impl Chooser for FirstChoice {
    fn choose(&mut self, _request: &ChoiceRequest<'_>) -> usize {
        0
    }
}

/// The stable key of a candidate: FNV-1a over its `Hash` bytes, the same in
/// every process and every run (unlike `std`'s randomly seeded hasher).
pub fn candidate_key<T: Hash + ?Sized>(candidate: &T) -> u64 {
    let mut hasher = Fnv1a(0xcbf2_9ce4_8422_2325);
    candidate.hash(&mut hasher);
    hasher.finish()
}

struct Fnv1a(u64);

impl Hasher for Fnv1a {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// How a decision is attributed: the context it is made in, and the handle
/// its outcome will be reported under ([`Ctx::outcome`]).
///
/// A handle is data the protocol keeps anyway (a request's sequence
/// number), so attributing outcomes adds nothing to the node state and
/// changes no state count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Attribution {
    /// Passed to the chooser ([`ChoiceRequest::context`]).
    pub context: Option<u64>,
    /// The outcome handle.
    pub handle: Option<u64>,
}

impl Attribution {
    /// An outcome will be reported under `handle`.
    pub fn handle(handle: u64) -> Self {
        Attribution {
            context: None,
            handle: Some(handle),
        }
    }

    /// The decision is made in `context`.
    pub fn context(mut self, context: u64) -> Self {
        self.context = Some(context);
        self
    }
}

/// A timer request made by a handler.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TimerOp<T> {
    /// Arm (or re-arm) `timer` to fire after `after`.
    Set {
        /// Which timer.
        timer: T,
        /// Delay in the executor's time (ignored by the explorer, where a
        /// pending timer may fire at any point).
        after: Duration,
    },
    /// Disarm `timer` if pending.
    Cancel(T),
}

/// A metric event made by a handler.
#[derive(Clone, Debug, PartialEq)]
pub enum MetricOp {
    /// A sample of a metric (`value` in the metric's own unit).
    Record {
        /// Metric name, stable across runs.
        metric: &'static str,
        /// The sample.
        value: f64,
    },
    /// The start of a span: the executor timestamps it.
    Begin {
        /// Metric the span's duration is recorded to.
        metric: &'static str,
        /// Key that matches the `End`.
        key: u64,
    },
    /// The end of a span: the executor records now − begin into `metric`,
    /// in seconds (of virtual time in the simulator, real time live).
    End {
        /// Metric the span's duration is recorded to.
        metric: &'static str,
        /// Key that matches the `Begin`.
        key: u64,
    },
    /// The outcome of the open decision of `choice` made under `handle`
    /// (see [`Ctx::outcome`]); `credit: false` closes it without one.
    Outcome {
        /// The handle given when deciding.
        handle: u64,
        /// The choice credited.
        choice: &'static str,
        /// Whether the decision has an outcome (false: it steered nothing).
        credit: bool,
    },
    /// A named sample of the outcomes reported under `handle` in the same
    /// handler (besides the latency every executor measures).
    OutcomeSample {
        /// The handle.
        handle: u64,
        /// The sample's name, e.g. `timeout`.
        metric: &'static str,
        /// Its value.
        value: f64,
    },
}

/// A choice a handler made, for decision logs and outcome attribution.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Decision {
    /// The stable name given to `choose`.
    pub name: &'static str,
    /// Index of the chosen candidate.
    pub chosen: usize,
    /// How many candidates there were.
    pub candidates: usize,
    /// The chosen candidate's stable key.
    pub key: u64,
    /// The context and outcome handle the protocol gave.
    pub attribution: Attribution,
}

/// Everything one handler execution asked for, in order.
#[derive(Clone, Debug)]
pub struct Effects<N: Node + ?Sized> {
    /// Messages to send: (destination, message).
    pub sends: Vec<(NodeId, N::Msg)>,
    /// Timer requests in call order.
    pub timers: Vec<TimerOp<N::Timer>>,
    /// Metric events in call order.
    pub metrics: Vec<MetricOp>,
    /// Choices made, in call order.
    pub decisions: Vec<Decision>,
    /// Scratch space for candidate keys (reused between handlers).
    keys: Vec<u64>,
}

impl<N: Node + ?Sized> Default for Effects<N> {
    fn default() -> Self {
        Effects {
            sends: Vec::new(),
            timers: Vec::new(),
            metrics: Vec::new(),
            decisions: Vec::new(),
            keys: Vec::new(),
        }
    }
}

impl<N: Node + ?Sized> Effects<N> {
    /// Empties the buffer for reuse.
    pub fn clear(&mut self) {
        self.sends.clear();
        self.timers.clear();
        self.metrics.clear();
        self.decisions.clear();
    }
}

/// The context a handler runs in.
pub struct Ctx<'a, N: Node + ?Sized> {
    id: NodeId,
    node_count: usize,
    effects: &'a mut Effects<N>,
    chooser: &'a mut dyn Chooser,
    declared: Option<&'a [&'static str]>,
}

impl<'a, N: Node + ?Sized> Ctx<'a, N> {
    /// A context for node `id` of a system of `node_count` nodes whose
    /// declared choices are `declared` (`None`: not declared, any name
    /// goes). Executors build these; protocol code only uses them.
    pub fn new(
        id: NodeId,
        node_count: usize,
        effects: &'a mut Effects<N>,
        chooser: &'a mut dyn Chooser,
        declared: Option<&'a [&'static str]>,
    ) -> Self {
        Ctx {
            id,
            node_count,
            effects,
            chooser,
            declared,
        }
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// How many nodes the system has (ids are `0..node_count`).
    pub fn node_count(&self) -> usize {
        self.node_count
    }

    /// Sends `msg` to `to`. Delivery follows the system's network semantics.
    pub fn send(&mut self, to: NodeId, msg: N::Msg) {
        self.effects.sends.push((to, msg));
    }

    /// Arms `timer` to fire after `after`, replacing a pending one.
    pub fn set_timer(&mut self, timer: N::Timer, after: Duration) {
        self.effects.timers.push(TimerOp::Set { timer, after });
    }

    /// Disarms `timer` if it is pending.
    pub fn cancel_timer(&mut self, timer: N::Timer) {
        self.effects.timers.push(TimerOp::Cancel(timer));
    }

    /// Records a sample of `metric` (objectives aggregate these).
    pub fn record(&mut self, metric: &'static str, value: f64) {
        self.effects
            .metrics
            .push(MetricOp::Record { metric, value });
    }

    /// Starts a timed span (e.g. a request) identified by `key`; the executor
    /// records its duration, in seconds, into `metric` when
    /// [`Ctx::end_span`] is called.
    /// Nodes never read clocks themselves, which keeps them deterministic.
    pub fn begin_span(&mut self, metric: &'static str, key: u64) {
        self.effects.metrics.push(MetricOp::Begin { metric, key });
    }

    /// Ends the span started with the same `metric` and `key`.
    pub fn end_span(&mut self, metric: &'static str, key: u64) {
        self.effects.metrics.push(MetricOp::End { metric, key });
    }

    /// Resolves the choice `name` to one of `candidates`.
    ///
    /// `name` must be stable and declared by the system: decisions,
    /// predictions and outcomes are logged and learned under it. Each
    /// candidate is known to choosers by its stable key
    /// ([`candidate_key`] of its `Hash`). The explorer tries every
    /// candidate; other executors ask their policy or resolver.
    ///
    /// # Panics
    /// If `candidates` is empty, or `name` is not a declared choice.
    pub fn choose<T: Clone + Hash>(&mut self, name: &'static str, candidates: &[T]) -> T {
        self.choose_with(name, candidates, Attribution::default())
    }

    /// [`Ctx::choose`] with a context for the chooser and a handle under
    /// which the decision's outcome will be reported ([`Ctx::outcome`]).
    pub fn choose_with<T: Clone + Hash>(
        &mut self,
        name: &'static str,
        candidates: &[T],
        attribution: Attribution,
    ) -> T {
        let mut keys = std::mem::take(&mut self.effects.keys);
        keys.clear();
        keys.extend(candidates.iter().map(candidate_key));
        let index = self.decide(name, &keys, attribution);
        self.effects.keys = keys;
        candidates[index].clone()
    }

    /// Like [`Ctx::choose`] but over the indices `0..candidates` (each
    /// index is its own key).
    ///
    /// # Panics
    /// If `candidates` is 0.
    pub fn choose_index(&mut self, name: &'static str, candidates: usize) -> usize {
        let mut keys = std::mem::take(&mut self.effects.keys);
        keys.clear();
        keys.extend((0..candidates as u64).map(|i| candidate_key(&i)));
        let index = self.decide(name, &keys, Attribution::default());
        self.effects.keys = keys;
        index
    }

    /// Reports the outcome of the open decisions of `choices` made under
    /// `handle` (by [`Ctx::choose_with`]) at this node: executors measure
    /// the latency since each decision and add `samples` (named values,
    /// e.g. `("timeout", 1.0)`). One outcome may credit several decisions
    /// (a read's replica and its hedge delay); a choice with no open
    /// decision under `handle` is ignored, as a late duplicate would be.
    pub fn outcome(
        &mut self,
        handle: u64,
        choices: &[&'static str],
        samples: &[(&'static str, f64)],
    ) {
        for &(metric, value) in samples {
            self.effects.metrics.push(MetricOp::OutcomeSample {
                handle,
                metric,
                value,
            });
        }
        for &choice in choices {
            self.effects.metrics.push(MetricOp::Outcome {
                handle,
                choice,
                credit: true,
            });
        }
    }

    /// Closes the open decisions of `choices` under `handle` without an
    /// outcome (what they chose was not used), so no learner waits for one.
    pub fn no_outcome(&mut self, handle: u64, choices: &[&'static str]) {
        for &choice in choices {
            self.effects.metrics.push(MetricOp::Outcome {
                handle,
                choice,
                credit: false,
            });
        }
    }

    fn decide(&mut self, name: &'static str, keys: &[u64], attribution: Attribution) -> usize {
        let candidates = keys.len();
        assert!(
            candidates > 0,
            "choose(\"{name}\") called with no candidates"
        );
        // An undeclared name is a bug in the protocol (a typo, or a choice
        // its description forgot): every executor reports the panic, the
        // checker and the simulator with a trace, the live node by stopping.
        if let Some(declared) = self.declared {
            assert!(
                declared.contains(&name),
                "choose(\"{name}\") names a choice the system does not declare; its choices are: {}",
                if declared.is_empty() {
                    "(none)".to_string()
                } else {
                    declared.join(", ")
                }
            );
        }
        let chosen = self.chooser.choose(&ChoiceRequest {
            node: self.id,
            name,
            keys,
            context: attribution.context,
        });
        assert!(
            chosen < candidates,
            "chooser returned {chosen} for choice \"{name}\" with {candidates} candidates"
        );
        self.effects.decisions.push(Decision {
            name,
            chosen,
            candidates,
            key: keys[chosen],
            attribution,
        });
        chosen
    }
}
