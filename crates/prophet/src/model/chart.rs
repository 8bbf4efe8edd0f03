//! A step of a trace as a message-sequence chart draws it: which node acted,
//! on what, what it sent, and its state before and after. Traces carry these
//! beside their one-line descriptions, so a viewer (the dashboard's
//! counterexample page) draws lanes and arrows without parsing text.

use serde::{Deserialize, Serialize};

/// What kind of event a charted step is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChartKind {
    /// A message delivered to and handled by `node`.
    Deliver,
    /// A message delivered to `node` while it was down (dropped).
    Discarded,
    /// The network lost a message to `node`.
    Lose,
    /// A timer of `node` fired.
    Timer,
    /// `node` crashed.
    Crash,
    /// `node` restarted.
    Restart,
}

/// One message a charted step sent.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChartSend {
    /// The receiver.
    pub to: u32,
    /// The message, as `Debug` prints it.
    pub message: String,
}

/// One step of a trace, structured for drawing.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChartStep {
    /// What happened.
    pub kind: ChartKind,
    /// The node the step happened at (the receiver of a message).
    pub node: u32,
    /// The sender of a delivered, discarded or lost message.
    pub from: Option<u32>,
    /// The message or timer, as `Debug` prints it (empty for a crash or a
    /// restart).
    pub label: String,
    /// What the handler sent, in order.
    pub sends: Vec<ChartSend>,
    /// The outcome of each `choose` the handler made.
    pub choices: Vec<usize>,
    /// The node's slot before the step.
    pub before: String,
    /// The node's slot after the step.
    pub after: String,
}
