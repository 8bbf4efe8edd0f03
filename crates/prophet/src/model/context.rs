//! The handler context: the only way protocol code touches the world.
//!
//! A [`Ctx`] collects a handler's effects (messages, timers, metrics) into an
//! [`Effects`] buffer that the executor applies after the handler returns, and
//! resolves `choose` through whatever [`Chooser`] the executor plugs in: the
//! explorer branches on every candidate, the simulator asks a policy, the live
//! runtime asks the resolver. Handlers never see which.

use std::time::Duration;

use crate::model::node::{Node, NodeId};

/// Resolves `choose` calls. Each executor supplies its own.
pub trait Chooser {
    /// Picks one of `candidates` (at least 1) options for the choice named
    /// `name` at `node`, returning an index below `candidates`.
    fn choose(&mut self, node: NodeId, name: &'static str, candidates: usize) -> usize;
}

/// Always picks the first candidate: the programmer's default.
#[derive(Clone, Copy, Debug, Default)]
pub struct FirstChoice;

impl Chooser for FirstChoice {
    fn choose(&mut self, _node: NodeId, _name: &'static str, _candidates: usize) -> usize {
        0
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
}

/// A choice a handler made, for decision logs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Decision {
    /// The stable name given to `choose`.
    pub name: &'static str,
    /// Index of the chosen candidate.
    pub chosen: usize,
    /// How many candidates there were.
    pub candidates: usize,
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
}

impl<N: Node + ?Sized> Default for Effects<N> {
    fn default() -> Self {
        Effects {
            sends: Vec::new(),
            timers: Vec::new(),
            metrics: Vec::new(),
            decisions: Vec::new(),
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
    /// `name` must be stable: decisions, predictions and outcomes are logged
    /// and learned under it. The explorer tries every candidate; other
    /// executors ask their policy or resolver.
    ///
    /// # Panics
    /// If `candidates` is empty: a choice needs at least one option.
    pub fn choose<T: Clone>(&mut self, name: &'static str, candidates: &[T]) -> T {
        let index = self.choose_index(name, candidates.len());
        candidates[index].clone()
    }

    /// Like [`Ctx::choose`] but over the indices `0..candidates`.
    ///
    /// # Panics
    /// If `candidates` is 0.
    pub fn choose_index(&mut self, name: &'static str, candidates: usize) -> usize {
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
        let chosen = self.chooser.choose(self.id, name, candidates);
        assert!(
            chosen < candidates,
            "chooser returned {chosen} for choice \"{name}\" with {candidates} candidates"
        );
        self.effects.decisions.push(Decision {
            name,
            chosen,
            candidates,
        });
        chosen
    }
}
