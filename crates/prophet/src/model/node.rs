//! The node layer: deterministic state machines that exchange messages.
//!
//! A [`Node`] is written once and run unchanged by every executor: the
//! explorer, the simulator and the live runtime. Handlers are pure functions
//! of (state, event, choice outcomes); everything they do to the outside
//! world goes through the [`Ctx`](crate::model::Ctx) they are given.

use std::fmt::{self, Debug};
use std::hash::Hash;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::model::context::Ctx;

/// Identity of a node within a system: an index `0..n`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct NodeId(pub u32);

impl NodeId {
    /// The id as an index into per-node vectors.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl From<usize> for NodeId {
    fn from(index: usize) -> Self {
        NodeId(u32::try_from(index).expect("node index fits in u32"))
    }
}

impl Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

/// What every piece of node data must be: comparable and hashable for the
/// explorer, serialisable for the wire and for snapshots.
pub trait Data:
    Clone + Eq + Hash + Debug + Send + Sync + Serialize + DeserializeOwned + 'static
{
}
impl<T> Data for T where
    T: Clone + Eq + Hash + Debug + Send + Sync + Serialize + DeserializeOwned + 'static
{
}

/// A deterministic node state machine.
///
/// `self` is the node's *configuration* (its role, its peers, its parameters):
/// it never changes during a run. Everything that changes lives in
/// [`Node::State`]. The part of the state that must survive a crash is
/// [`Node::Durable`]: executors keep it across a crash and hand it back to
/// [`Node::init`] on restart; the live runtime syncs it to disk before any
/// message sent after the change leaves the node.
///
/// Handlers must be deterministic: no clocks, no randomness, no iteration over
/// `HashMap`s, no global state. Every decision that is not determined by the
/// inputs is a [`Ctx::choose`]. The explorer checks this by running handlers
/// twice and reports a handler that differs.
pub trait Node: Send + Sync + 'static {
    /// The node's state (volatile and durable parts together).
    type State: Data;
    /// Messages between nodes. `Ord` gives the explorer a canonical order for
    /// messages in flight.
    type Msg: Data + Ord;
    /// Timer names. Setting a timer that is already pending resets it.
    type Timer: Data + Ord;
    /// The part of the state that survives a crash; `()` for none.
    type Durable: Data;

    /// The state at boot: `recovered` is `None` on the first start and the
    /// durable state kept from before the crash on a restart.
    fn init(&self, id: NodeId, recovered: Option<Self::Durable>) -> Self::State;

    /// Runs once after `init`, on the first start and on every restart.
    fn on_start(&self, _state: &mut Self::State, _ctx: &mut Ctx<'_, Self>) {}

    /// Handles a message from `from`.
    fn on_message(
        &self,
        state: &mut Self::State,
        ctx: &mut Ctx<'_, Self>,
        from: NodeId,
        msg: Self::Msg,
    );

    /// Handles a timer that fired.
    fn on_timer(&self, _state: &mut Self::State, _ctx: &mut Ctx<'_, Self>, _timer: Self::Timer) {}

    /// Extracts the durable part of `state`.
    fn durable(&self, state: &Self::State) -> Self::Durable;

    /// The key `msg` asks this node about, for a performance model in which
    /// a node answers keys it handled recently faster (the simulator's
    /// `[[caches]]`). A description of the message, like its size: no
    /// executor changes what a handler does because of it. Default: none.
    fn cache_key(&self, _msg: &Self::Msg) -> Option<u64> {
        None
    }
}
