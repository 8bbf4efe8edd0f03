//! How a `choose` is resolved when an executor does not branch on it: the
//! choice policies the simulator and the live runtime share.
//!
//! The explorer branches on every candidate and needs none of this; the
//! simulator resolves each choice with a [`Policy`] from a [`PolicyTable`];
//! the live runtime uses the same table until the resolver exists. This
//! module knows the model (node ids) and nothing of any executor: the
//! simulator and the runtime import it, never the other way round.

pub mod evaluate;
pub mod fast_path;
pub mod feedback;
pub mod log;
pub mod policy;
pub mod veto;

pub use fast_path::{Advice, Advised, FastPath};
pub use feedback::{FeedbackTracker, OPEN_DECISIONS_MAX};
pub use log::{
    ChoiceSummary, DecisionRecord, Explanation, LineRef, LogLine, LogSummary, OutcomeRecord,
    Prediction,
};
pub use policy::{
    COST, ChoiceView, LATENCY, LOST, Outcome, Policy, PolicySpec, PolicyTable, UnknownPolicy,
};
pub use veto::{Checked, Veto, VetoScratch};
