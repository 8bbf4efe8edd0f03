//! The registry: one description per protocol, and one [`Registry`] of
//! them that every tool looks systems up in.
//!
//! A protocol is described once, next to its code: its name and one line of
//! help, its parameters (type, range, a default per [`Purpose`]), its seeded
//! bug variants, the choices its handlers make, what drives it (its
//! workload) and its simulator defaults, and how to build the system from
//! validated parameters. The explorer, the simulator and the live runtime
//! all build it through that one description, so a parameter's range, an
//! unknown name and a misspelt choice are the same error in every mode.
//!
//! This module does no I/O. Executors above `prophet` (the live runtime)
//! attach what they need to an [`Entry`] as an extension, since they cannot
//! be named from here.
//!
//! ```
//! use prophet::prelude::*;
//! use prophet::registry::{Description, Params, ParamSpec, Protocol, Registry, Entry, Purpose};
//! # use serde::{Deserialize, Serialize};
//! # #[derive(Clone)] struct Idle;
//! # impl Node for Idle {
//! #     type State = u8; type Msg = u8; type Timer = (); type Durable = ();
//! #     fn init(&self, _: NodeId, _: Option<()>) -> u8 { 0 }
//! #     fn on_message(&self, _: &mut u8, _: &mut Ctx<'_, Self>, _: NodeId, _: u8) {}
//! #     fn durable(&self, _: &u8) {}
//! # }
//! struct Idles;
//!
//! impl Protocol for Idles {
//!     type Node = Idle;
//!     fn describe(&self) -> Description {
//!         Description::new("idles", "nodes that do nothing")
//!             .param(ParamSpec::int("nodes", "how many", 1, 64, "3").per_purpose("2", "8", "3"))
//!     }
//!     fn build(&self, params: &Params) -> System<Idle> {
//!         System::new("idles", vec![Idle; params.int("nodes")])
//!     }
//! }
//!
//! let registry = Registry::new().with(Entry::nodes(Idles));
//! let entry = registry.find("idles").unwrap();
//! let params = entry.params(Purpose::Check, &[]).unwrap();
//! assert_eq!(entry.node_count(&params), Some(2));
//! assert_eq!(
//!     registry.find("idle").unwrap_err().to_string(),
//!     "unknown system `idle`; the systems are: idles"
//! );
//! ```

mod check;
mod counterexample;
mod describe;
mod entry;
mod params;
mod simulate;

pub use check::{CheckOptions, CheckOutcome, check_model};
pub use counterexample::{
    SimCounterexample, TRACE_STEPS_MAX, checker_path, counterexample, sim_counterexample,
};
pub use describe::{ChoiceSpec, Description, ModelProtocol, Protocol, VariantSpec, build_system};
pub use entry::{Entry, PropertyStatus, Registry, inspect_states};
pub use params::{ParamKind, ParamSpec, Params, Purpose};
pub use simulate::{DEFAULT_HORIZON, SimDefaults, SimRequest, simulate_system};

/// Why a system, a parameter or a choice name was refused. Every mode
/// reports these the same way (the command line: exit status 2).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// No registered system has that name.
    #[error("unknown system `{name}`; the systems are: {valid}")]
    UnknownSystem {
        /// The name given.
        name: String,
        /// The valid names, comma-separated.
        valid: String,
    },
    /// A parameter was not of the form `key=value`.
    #[error("parameter `{0}` is not of the form key=value")]
    Malformed(String),
    /// The system has no such parameter.
    #[error("system `{system}` has no parameter `{name}`; its parameters are: {valid}")]
    UnknownParam {
        /// The system.
        system: String,
        /// The key given.
        name: String,
        /// The valid keys, comma-separated.
        valid: String,
    },
    /// The value is not acceptable.
    #[error("parameter `{name}` = `{value}` is invalid: expected {expected}")]
    BadValue {
        /// The key.
        name: String,
        /// The value given.
        value: String,
        /// What is accepted.
        expected: String,
    },
    /// The same key was given twice.
    #[error("parameter `{0}` is given more than once")]
    Duplicate(String),
    /// A policy or cluster file names a choice the system does not declare.
    #[error("`{system}` makes no choice named `{name}`; its choices are: {valid}")]
    UnknownChoice {
        /// The system.
        system: String,
        /// The name given.
        name: String,
        /// The declared choices, comma-separated.
        valid: String,
    },
    /// The system cannot be used this way (a plain model has no nodes to
    /// simulate or run).
    #[error("{system} cannot be used with `prophet {mode}`: {why}")]
    Unsupported {
        /// The system.
        system: String,
        /// The mode (`sim`, `run`).
        mode: &'static str,
        /// Why not.
        why: String,
    },
}
