//! The programming model: what a protocol is made of.
//!
//! Two layers. [`Model`] is the small core every explorer works on (initial
//! states, actions, next state, properties); plain models implement it
//! directly. [`Node`] is the layer protocols are written in: deterministic
//! state machines that send messages, set timers, record metrics and
//! [`choose`](Ctx::choose); a [`System`] bundles nodes with network semantics,
//! faults, properties and objectives, and is itself a [`Model`].
//!
//! Nothing here does I/O or knows about time or threads.

mod branch;
mod chart;
mod context;
mod core;
mod execute;
mod fairness;
mod network;
mod node;
mod objective;
mod rename;
mod state;
mod symmetry;
mod system;
mod workload;

pub use branch::ScriptChooser;
pub use chart::{ChartKind, ChartSend, ChartStep};
pub use context::{
    Attribution, ChoiceRequest, Chooser, Ctx, Decision, Effects, FirstChoice, MetricOp, TimerOp,
    candidate_key,
};
pub use core::{Expectation, Model, Property, StepError};
pub use execute::{EffectError, EffectSink, Input, apply_effects, execute};
pub use fairness::{ActionLabel, Fairness, FairnessKind};
pub use network::{Delivery, Envelope, InFlight, NetworkSemantics, message_kind};
pub use node::{Data, Node, NodeId};
pub use objective::{AGGREGATE_SCALE, Aggregate, Constraint, Direction, Objective};
pub use rename::Rename;
pub use state::{Event, GlobalState, NodeSlot, Step};
pub use system::{DeterminismCheck, EVENT_CLASSES, System};
pub use workload::{Workload, mix_seq};
