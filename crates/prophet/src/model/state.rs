//! The global state of a node system and the events and steps that move
//! it: what invariants are evaluated on, what the explorer stores, and what
//! any executor can start from.

use std::fmt::{self, Debug};

use derive_where::derive_where;
use serde::{Deserialize, Serialize};

use crate::model::network::{Envelope, InFlight};
use crate::model::node::{Node, NodeId};

/// One node's part of the global state.
#[derive_where(Clone, PartialEq, Eq, Hash)]
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct NodeSlot<N: Node> {
    /// The node's state. For a crashed node: the state `init` rebuilds from
    /// its durable part, which is what it restarts with.
    pub state: N::State,
    /// Pending timers, sorted and without duplicates.
    pub timers: Vec<N::Timer>,
    /// Whether the node is running.
    pub up: bool,
}

impl<N: Node> Debug for NodeSlot<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.up {
            write!(f, "DOWN ")?;
        }
        write!(f, "{:?}", self.state)?;
        if !self.timers.is_empty() {
            write!(f, " timers={:?}", self.timers)?;
        }
        Ok(())
    }
}

/// The global state of a node system: what invariants are evaluated on and
/// what executors can start from.
#[derive_where(Clone, PartialEq, Eq, Hash)]
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct GlobalState<N: Node> {
    /// Per-node slots, indexed by [`NodeId`].
    pub nodes: Vec<NodeSlot<N>>,
    /// Messages in flight.
    pub network: InFlight<N::Msg>,
    /// Crashes injected so far (bounded by the system's fault budget).
    pub crashes: u32,
}

impl<N: Node> Debug for GlobalState<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("GlobalState");
        for (i, slot) in self.nodes.iter().enumerate() {
            s.field(&format!("n{i}"), slot);
        }
        s.field("in_flight", &self.network.iter().collect::<Vec<_>>())
            .finish()
    }
}

impl<N: Node> GlobalState<N> {
    /// The state of node `id`.
    pub fn node(&self, id: NodeId) -> &N::State {
        &self.nodes[id.index()].state
    }

    /// Whether node `id` is running.
    pub fn is_up(&self, id: NodeId) -> bool {
        self.nodes[id.index()].up
    }

    /// Every node's id and state.
    pub fn states(&self) -> impl Iterator<Item = (NodeId, &N::State)> {
        self.nodes
            .iter()
            .enumerate()
            .map(|(i, s)| (NodeId::from(i), &s.state))
    }

    /// Every message in flight with its multiplicity.
    pub fn in_flight(&self) -> impl Iterator<Item = (Envelope<N::Msg>, u32)> + '_ {
        self.network.iter()
    }
}

/// An event the explorer can schedule.
#[derive_where(Clone, PartialEq, Eq, Hash)]
pub enum Event<N: Node> {
    /// `dst` handles `msg` from `src`.
    Deliver(Envelope<N::Msg>),
    /// The network loses `msg` (lossy systems only).
    Lose(Envelope<N::Msg>),
    /// `node`'s pending `timer` fires.
    Timer(NodeId, N::Timer),
    /// `node` crashes: volatile state and timers are lost, durable state kept.
    Crash(NodeId),
    /// A crashed `node` restarts from its durable state.
    Restart(NodeId),
}

impl<N: Node> Debug for Event<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Deliver(e) => write!(f, "{} handles {:?} from {}", e.dst, e.msg, e.src),
            Event::Lose(e) => write!(f, "network loses {:?} from {} to {}", e.msg, e.src, e.dst),
            Event::Timer(n, t) => write!(f, "{n} handles timer {t:?}"),
            Event::Crash(n) => write!(f, "{n} crashes"),
            Event::Restart(n) => write!(f, "{n} restarts"),
        }
    }
}

/// An explorer step: an event plus the outcome of every `choose` the handler
/// made, in call order (indices into the candidate lists).
#[derive_where(Clone, PartialEq, Eq, Hash)]
pub struct Step<N: Node> {
    /// What happened.
    pub event: Event<N>,
    /// Outcome of each `choose`, in call order.
    pub choices: Vec<usize>,
}

impl<N: Node> Debug for Step<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.event)?;
        if !self.choices.is_empty() {
            write!(f, " with choices {:?}", self.choices)?;
        }
        Ok(())
    }
}
