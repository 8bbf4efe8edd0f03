//! What a run shows an observer as it happens: each decision (with what its
//! policy said of it), each outcome paired with a decision, and each message
//! a node receives, with the send time and the sender's piggybacked service
//! time and queue length (what a live node reads from a frame's header).
//!
//! Everything here is something the observing node itself saw: nothing of
//! the network model, of other nodes' memory, or of the future. Decision
//! logs and the online performance model are fed from this stream alone,
//! so what they learn in simulation is what they could learn live.
//!
//! Observing never changes a run: explaining a decision draws nothing from
//! the run's generator, so the same seed makes the same decisions with an
//! observer as without one.

use std::time::Duration;

use crate::choice::{DecisionRecord, Outcome};
use crate::model::NodeId;

/// One thing a node saw.
#[derive(Debug)]
pub enum Observation<'a> {
    /// A decision, as it was made.
    Decision(&'a DecisionRecord),
    /// The outcome of an earlier decision of `outcome.node`.
    Outcome {
        /// The run's seed.
        seed: u64,
        /// The outcome.
        outcome: &'a Outcome,
    },
    /// A message arrived at `node`.
    Message(MessageSeen),
}

/// A message's arrival, as its receiver sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageSeen {
    /// The run's seed.
    pub seed: u64,
    /// The receiver.
    pub node: NodeId,
    /// The sender.
    pub from: NodeId,
    /// When it arrived (before any wait in the receiver's queue).
    pub at: Duration,
    /// How long after it left its sender (the envelope's send time).
    pub delay: Duration,
    /// The service time of the sender's handler that sent it (saturating
    /// at [`SERVICE_NS_MAX`]).
    pub service: Duration,
    /// Inputs waiting at the sender when it was sent (saturating).
    pub queue: u32,
}

/// The longest service time a message's header carries (about 4.3 s);
/// longer ones are reported as this.
pub const SERVICE_NS_MAX: u64 = u32::MAX as u64;

/// Where a run's observations go.
pub type Observer<'a> = &'a (dyn Fn(&Observation<'_>) + Sync);
