//! The one handler path: every executor (explorer, simulator, live
//! runtime) runs a node's handler through [`execute`] and applies its
//! sends and timers through [`apply_effects`], so a node behaves
//! identically everywhere, down to what counts as a broken step.

use std::fmt::{self, Debug};

use derive_where::derive_where;

use crate::model::context::{Chooser, Ctx, Effects, TimerOp};
use crate::model::node::{Node, NodeId};
use crate::model::system::System;

/// The input a handler runs on. Serialisable, so that an executor can log
/// the inputs it ran and another can replay them.
#[derive_where(Clone)]
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(bound = "")]
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

/// What an executor does with a handler's sends and timers: the explorer
/// puts messages in flight and keeps timers pending; the simulator
/// schedules them in virtual time; the live runtime stages frames and arms
/// real timers.
pub trait EffectSink<N: Node> {
    /// `from` sends `msg` to `to` (an existing node: checked before).
    fn send(&mut self, to: NodeId, msg: N::Msg);
    /// Arms or disarms one of the node's timers.
    fn timer(&mut self, op: TimerOp<N::Timer>);
}

/// Why a handler's effects were refused. Every executor treats it as the
/// handler failing (as a panic would): the checker reports it with a trace,
/// the simulator stops the run, a live node stops.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EffectError {
    /// A send to a node id outside the system.
    #[error("{from} sent {msg} to {to}, but the system has {count} nodes")]
    NoSuchNode {
        /// The sender.
        from: NodeId,
        /// The destination given.
        to: NodeId,
        /// `Debug` of the message.
        msg: String,
        /// How many nodes the system has.
        count: usize,
    },
}

/// Hands the timers, then the sends, of one handler of node `from` in a
/// system of `count` nodes to `sink`, each in call order, checking each
/// send's destination. A refused send fails the whole step: every executor
/// discards what the sink took of it (the checker's successor, the
/// simulator's run, the live node's burst), so the check costs no second
/// pass over the sends. The buffers are drained; metrics and decisions
/// stay for the executor.
pub fn apply_effects<N: Node>(
    from: NodeId,
    count: usize,
    effects: &mut Effects<N>,
    sink: &mut impl EffectSink<N>,
) -> Result<(), EffectError> {
    // Most handlers set no timer: skip building a drain for nothing (this
    // runs once per message on the live runtime's hot path).
    if !effects.timers.is_empty() {
        for op in effects.timers.drain(..) {
            sink.timer(op);
        }
    }
    for (to, msg) in effects.sends.drain(..) {
        if to.index() >= count {
            return Err(EffectError::NoSuchNode {
                from,
                to,
                msg: format!("{msg:?}"),
                count,
            });
        }
        sink.send(to, msg);
    }
    Ok(())
}
