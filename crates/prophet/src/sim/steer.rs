//! The seam through which execution steering acts in a simulated run,
//! without the simulator knowing how it decides (steering sits above `sim`
//! and `explore`, in [`crate::steer`]).
//!
//! A [`Steering`] makes one [`Steerer`] per run. The run tells it what each
//! node did (after every handler: the node's slot and what it sent), and
//! sends the **checkpoints** it asks for as real messages: a checkpoint is
//! the sender's [`NodeSlot`] and a copy of the messages the same handler
//! sent the checkpoint's receiver (which follow it on the link: the
//! receiver learns they are in flight), postcard-encoded for its size,
//! crossing the link under the same partitions, loss, bandwidth queue and
//! latency as the protocol's own messages, and counted in `bytes_sent`. A
//! node learns of another only through the checkpoints it received and
//! the messages delivered to it (no peeking).
//!
//! Before the effects of a delivery the steerer [`Steerer::reviews`] are
//! committed, the run shows it the node's state before and after, and the
//! steerer may [`Verdict::Discard`] them: the node keeps its old state, its
//! sends and timers are dropped, and the message counts as lost (as the
//! network could have lost it).

use std::time::Duration;

use serde::Serialize;

use crate::model::{Node, NodeId, NodeSlot};

/// Makes a run's steerer.
pub trait Steering<N: Node>: Sync {
    /// The steerer of the run with seed `seed`.
    fn start(&self, seed: u64) -> Box<dyn Steerer<N> + '_>;
}

/// What a steerer decides about one reviewed delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Let the handler's effects stand.
    Commit,
    /// Discard them, as if the message had been lost.
    Discard,
}

/// A delivery whose handler ran and whose effects wait for a verdict.
pub struct Review<'r, N: Node> {
    /// The receiver.
    pub node: NodeId,
    /// Simulated time.
    pub now: Duration,
    /// The sender.
    pub from: NodeId,
    /// The message.
    pub msg: &'r N::Msg,
    /// The receiver's slot before the handler (its pending timers sorted).
    pub before: &'r NodeSlot<N>,
    /// The receiver's state after it.
    pub after: &'r N::State,
    /// What the handler sent.
    pub sends: &'r [(NodeId, N::Msg)],
}

/// Steers the nodes of one run.
pub trait Steerer<N: Node> {
    /// Whether a delivery of `msg` is reviewed before its effects commit.
    fn reviews(&self, msg: &N::Msg) -> bool;
    /// `msg` from `from` is about to be handled by `node` (every delivery
    /// to a running node, reviewed or not, before its handler runs).
    fn arriving(&mut self, node: NodeId, from: NodeId, msg: &N::Msg);
    /// The verdict on one reviewed delivery.
    fn review(&mut self, review: &Review<'_, N>) -> Verdict;
    /// Node `node` ran a handler at `now`, sent `sends`, and is now
    /// `slot`: push into `checkpoint_to` the nodes it sends a checkpoint
    /// to (each carries the messages of `sends` to its receiver).
    fn after_handler(
        &mut self,
        node: NodeId,
        slot: &NodeSlot<N>,
        now: Duration,
        sends: &[(NodeId, N::Msg)],
        checkpoint_to: &mut Vec<NodeId>,
    );
    /// Node `node` received `from`'s checkpoint, taken at `sent`, which
    /// announces `ahead`: the messages the same handler sent `node`, on
    /// their way behind it.
    fn checkpoint(
        &mut self,
        node: NodeId,
        from: NodeId,
        slot: NodeSlot<N>,
        ahead: Vec<N::Msg>,
        sent: Duration,
        now: Duration,
    );
    /// Node `node` crashed: what it had received is gone.
    fn crashed(&mut self, node: NodeId);
    /// What the steerer did in the run, at its end (the run fills in the
    /// checkpoint counts).
    fn report(&mut self) -> SteeringReport;
}

/// One steering action, with the prediction that justified it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SteeringAction {
    /// The node whose delivery was discarded.
    pub node: NodeId,
    /// When.
    pub at: Duration,
    /// The message's sender.
    pub from: NodeId,
    /// The message, as `Debug` prints it.
    pub msg: String,
    /// The invariant the delivery was predicted to break.
    pub property: String,
    /// The predicted trace, from the node's assembled view: its steps,
    /// the judged delivery first.
    pub trace: Vec<String>,
    /// How many events after the judged delivery the violation was
    /// predicted (0: the delivery itself breaks the invariant; more: found
    /// by the consequence search).
    pub depth: usize,
    /// The age of the oldest checkpoint the prediction used (0: none used).
    pub oldest_checkpoint: Duration,
}

/// What steering did in one run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SteeringReport {
    /// Deliveries reviewed.
    pub reviewed: u64,
    /// Deliveries whose effects were discarded.
    pub discarded: u64,
    /// Of those, the ones the consequence search predicted (a violation
    /// some events later rather than at the step itself).
    pub predicted: u64,
    /// Consequence searches run, and the states they visited.
    pub searches: u64,
    /// States the consequence searches visited.
    pub search_states: u64,
    /// Checkpoints sent, and their postcard bytes.
    pub checkpoints_sent: u64,
    /// Bytes of the checkpoints sent.
    pub checkpoint_bytes: u64,
    /// Checkpoints that arrived at a running node.
    pub checkpoints_received: u64,
    /// Checkpoints put off because the node's budget could not pay for
    /// them then.
    pub checkpoints_deferred: u64,
    /// Bytes of the protocol's own messages in the run (what the
    /// checkpoints' bytes are measured against).
    pub protocol_bytes: u64,
    /// The first actions, in order ([`ACTIONS_KEPT`] at most).
    pub actions: Vec<SteeringAction>,
}

/// Actions a report keeps (the counts go on).
pub const ACTIONS_KEPT: usize = 100;
