//! The one handler path: every executor (explorer, simulator, live
//! runtime) runs a node's handler through [`execute`], so a node behaves
//! identically everywhere.

use std::fmt::{self, Debug};

use derive_where::derive_where;

use crate::model::context::{Chooser, Ctx, Effects};
use crate::model::node::{Node, NodeId};
use crate::model::system::System;

/// The input a handler runs on.
#[derive_where(Clone)]
pub enum Input<N: Node> {
    /// Boot (first start or restart).
    Start,
    /// A message from a node.
    Message(NodeId, N::Msg),
    /// A timer that fired.
    Timer(N::Timer),
}

impl<N: Node> Debug for Input<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Input::Start => write!(f, "start"),
            Input::Message(from, msg) => write!(f, "{msg:?} from {from}"),
            Input::Timer(t) => write!(f, "timer {t:?}"),
        }
    }
}

/// Runs one handler of node `id` of `system` on `state`, collecting its
/// effects into `effects` and resolving choices through `chooser` (a
/// `choose` whose name the system does not declare panics). Every executor
/// calls this, so a node behaves identically everywhere.
pub fn execute<N: Node>(
    system: &System<N>,
    id: NodeId,
    state: &mut N::State,
    input: Input<N>,
    effects: &mut Effects<N>,
    chooser: &mut dyn Chooser,
) {
    let node = &system.nodes()[id.index()];
    let mut ctx = Ctx::new(
        id,
        system.nodes().len(),
        effects,
        chooser,
        system.declared_choices(),
    );
    match input {
        Input::Start => node.on_start(state, &mut ctx),
        Input::Message(from, msg) => node.on_message(state, &mut ctx, from, msg),
        Input::Timer(timer) => node.on_timer(state, &mut ctx, timer),
    }
}
