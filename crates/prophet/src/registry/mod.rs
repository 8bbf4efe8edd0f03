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
mod params;
mod simulate;

use std::any::Any;
use std::fmt;
use std::sync::Arc;

pub use check::{CheckOptions, CheckOutcome, check_model};
pub use params::{ParamKind, ParamSpec, Params, Purpose};
pub use simulate::{DEFAULT_HORIZON, SimDefaults, SimRequest, simulate_system};

use crate::model::{GlobalState, InFlight, Model, Node, NodeSlot, Objective, System, Workload};
use crate::sim::{Limits, RunReport};
use params::names_or_none;

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

/// A seeded bug (or the correct implementation), selected by the `variant`
/// parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VariantSpec {
    /// The value of `variant`, e.g. `ignore-accepted`.
    pub name: &'static str,
    /// What it does differently.
    pub help: &'static str,
}

/// A choice the protocol's handlers make (`ctx.choose(name, …)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChoiceSpec {
    /// The stable name passed to `choose`.
    pub name: &'static str,
    /// What is being decided.
    pub help: &'static str,
    /// What the candidates are (e.g. "the replicas").
    pub candidates: &'static str,
}

/// Everything tools need to know about a protocol besides its code.
#[derive(Clone, Debug)]
pub struct Description {
    /// The name tools use, e.g. `paxos`.
    pub name: &'static str,
    /// One line saying what it is.
    pub about: &'static str,
    /// Its parameters (without `variant`, which [`Description::variants`] declares).
    pub params: Vec<ParamSpec>,
    /// Its variants; the first is the default. None: no `variant` parameter.
    pub variants: Vec<VariantSpec>,
    /// The choices its handlers make.
    pub choices: Vec<ChoiceSpec>,
    /// What drives it in simulation and live runs when nothing else says.
    pub workload: &'static str,
    /// Simulator policies used unless overridden: (choice, policy).
    pub default_policies: Vec<(&'static str, &'static str)>,
}

impl Description {
    /// A description with a name and a line of help, and nothing else yet.
    pub fn new(name: &'static str, about: &'static str) -> Self {
        Description {
            name,
            about,
            params: Vec::new(),
            variants: Vec::new(),
            choices: Vec::new(),
            workload: "none: the nodes act on their own from boot",
            default_policies: Vec::new(),
        }
    }

    /// Adds a parameter.
    pub fn param(mut self, spec: ParamSpec) -> Self {
        self.params.push(spec);
        self
    }

    /// Adds a variant (the first added is the default).
    pub fn variant(mut self, name: &'static str, help: &'static str) -> Self {
        self.variants.push(VariantSpec { name, help });
        self
    }

    /// Declares a choice.
    pub fn choice(
        mut self,
        name: &'static str,
        help: &'static str,
        candidates: &'static str,
    ) -> Self {
        self.choices.push(ChoiceSpec {
            name,
            help,
            candidates,
        });
        self
    }

    /// Says what drives the system.
    pub fn workload(mut self, workload: &'static str) -> Self {
        self.workload = workload;
        self
    }

    /// Sets the simulator's default policy for a declared choice.
    pub fn default_policy(mut self, choice: &'static str, policy: &'static str) -> Self {
        self.default_policies.push((choice, policy));
        self
    }

    /// Every parameter, `variant` included (as the last one).
    pub fn all_params(&self) -> Vec<ParamSpec> {
        let mut specs = self.params.clone();
        if let Some(first) = self.variants.first() {
            let names: Vec<&'static str> = self.variants.iter().map(|v| v.name).collect();
            // Leaked once per description: parameter specs hold 'static
            // name lists, and a description lives as long as the program.
            let names: &'static [&'static str] = Box::leak(names.into_boxed_slice());
            specs.push(ParamSpec::choice(
                "variant",
                "the implementation: correct, or a seeded bug (see `prophet list`)",
                names,
                first.name,
            ));
        }
        specs
    }

    /// The declared choice names.
    pub fn choice_names(&self) -> Vec<&'static str> {
        self.choices.iter().map(|c| c.name).collect()
    }

    /// Refuses any name in `names` that is not a declared choice.
    pub fn check_choices<'a>(
        &self,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), RegistryError> {
        for name in names {
            if !self.choices.iter().any(|c| c.name == name) {
                return Err(RegistryError::UnknownChoice {
                    system: self.name.to_string(),
                    name: name.to_string(),
                    valid: names_or_none(self.choices.iter().map(|c| c.name)),
                });
            }
        }
        Ok(())
    }
}

/// A protocol written as nodes: checked, simulated and run live.
pub trait Protocol: Send + Sync + 'static {
    /// Its node type.
    type Node: Node;
    /// Its description.
    fn describe(&self) -> Description;
    /// The system for `params` (which know their [`Purpose`]). Parameters
    /// are already validated against the description.
    fn build(&self, params: &Params) -> System<Self::Node>;
    /// The generator of external requests, if requests drive the system.
    fn workload(&self, _params: &Params) -> Option<Arc<dyn Workload<Self::Node>>> {
        None
    }
    /// The simulator's network, load and faults when no scenario says
    /// otherwise (`limits` gives the horizon, for faults that span it).
    fn sim_defaults(&self, _params: &Params, _limits: &Limits) -> SimDefaults {
        SimDefaults::default()
    }
}

/// A protocol written as a plain [`Model`] (a transition system without
/// nodes, messages or time): checked only.
pub trait ModelProtocol: Send + Sync + 'static {
    /// Its model type.
    type Model: Model;
    /// Its description.
    fn describe(&self) -> Description;
    /// The model for `params`.
    fn build(&self, params: &Params) -> Self::Model;
}

/// Builds `protocol`'s system for `params` with the description's choices
/// declared on it, so that every executor refuses an undeclared `choose`.
/// Executors above `prophet` build through this too.
pub fn build_system<P: Protocol>(
    protocol: &P,
    description: &Description,
    params: &Params,
) -> System<P::Node> {
    protocol
        .build(params)
        .declare_choices(description.choice_names())
}

/// The outcome of one property on a snapshot of live node states.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PropertyStatus {
    /// The property's name.
    pub name: String,
    /// `always`, `sometimes` or `eventually`.
    pub expectation: &'static str,
    /// Whether it holds on the snapshot.
    pub holds: bool,
}

/// What each executor can do with an entry, type-erased.
trait Executable: Send + Sync {
    fn check(&self, params: &Params, options: &CheckOptions<'_>) -> Result<CheckOutcome, String>;
    fn simulate(&self, params: &Params, req: &mut SimRequest<'_>)
    -> Result<Vec<RunReport>, String>;
    fn node_count(&self, params: &Params) -> Option<usize>;
    fn inspect(&self, params: &Params, states: &[Vec<u8>]) -> Result<Vec<PropertyStatus>, String>;
    fn objectives(&self, params: &Params) -> Vec<Objective>;
    fn property_names(&self, params: &Params) -> Vec<String>;
}

struct NodeProtocol<P: Protocol> {
    protocol: Arc<P>,
    description: Description,
}

impl<P: Protocol> Executable for NodeProtocol<P> {
    fn check(&self, params: &Params, options: &CheckOptions<'_>) -> Result<CheckOutcome, String> {
        check_model(
            &build_system(&*self.protocol, &self.description, params),
            options,
        )
    }

    fn simulate(
        &self,
        params: &Params,
        req: &mut SimRequest<'_>,
    ) -> Result<Vec<RunReport>, String> {
        let system = build_system(&*self.protocol, &self.description, params);
        let workload = self.protocol.workload(params);
        let defaults = self.protocol.sim_defaults(params, &req.limits);
        simulate_system(&system, workload.as_deref(), defaults, req)
    }

    fn node_count(&self, params: &Params) -> Option<usize> {
        Some(self.protocol.build(params).nodes().len())
    }

    fn inspect(&self, params: &Params, states: &[Vec<u8>]) -> Result<Vec<PropertyStatus>, String> {
        inspect_states(&self.protocol.build(params), states)
    }

    fn objectives(&self, params: &Params) -> Vec<Objective> {
        self.protocol.build(params).objectives().to_vec()
    }

    fn property_names(&self, params: &Params) -> Vec<String> {
        Model::properties(&self.protocol.build(params))
            .into_iter()
            .map(|p| p.name)
            .collect()
    }
}

/// Evaluates `system`'s properties on postcard-encoded node states (by id).
/// Messages in flight are not observable from outside: properties see an
/// empty network. Whether the states held at one instant is the caller's
/// business (`prophet run` gathers them by double collect).
pub fn inspect_states<N: Node>(
    system: &System<N>,
    states: &[Vec<u8>],
) -> Result<Vec<PropertyStatus>, String> {
    if states.len() != system.nodes().len() {
        return Err(format!(
            "{} states for {} nodes",
            states.len(),
            system.nodes().len()
        ));
    }
    let mut nodes = Vec::with_capacity(states.len());
    for (i, bytes) in states.iter().enumerate() {
        let state: N::State =
            postcard::from_bytes(bytes).map_err(|e| format!("state of node {i}: {e}"))?;
        nodes.push(NodeSlot {
            state,
            timers: Vec::new(),
            up: true,
        });
    }
    let global = GlobalState::<N> {
        nodes,
        network: InFlight::new(system.semantics().delivery),
        crashes: 0,
    };
    Ok(system
        .properties()
        .iter()
        .map(|p| PropertyStatus {
            name: p.name.clone(),
            expectation: p.expectation.as_str(),
            holds: p.holds(system, &global),
        })
        .collect())
}

struct PlainModel<M: ModelProtocol>(M);

/// Why a plain model is neither simulated nor run.
const PLAIN_MODEL: &str = "it is a plain Model (a transition system without nodes, messages \
     or time), so there is nothing to put in virtual time or on a network; check it with \
     `prophet check`";

impl<M: ModelProtocol> Executable for PlainModel<M> {
    fn check(&self, params: &Params, options: &CheckOptions<'_>) -> Result<CheckOutcome, String> {
        check_model(&self.0.build(params), options)
    }

    fn simulate(&self, _: &Params, _: &mut SimRequest<'_>) -> Result<Vec<RunReport>, String> {
        Err(PLAIN_MODEL.to_string())
    }

    fn node_count(&self, _: &Params) -> Option<usize> {
        None
    }

    fn inspect(&self, _: &Params, _: &[Vec<u8>]) -> Result<Vec<PropertyStatus>, String> {
        Err(PLAIN_MODEL.to_string())
    }

    fn objectives(&self, _: &Params) -> Vec<Objective> {
        Vec::new()
    }

    fn property_names(&self, params: &Params) -> Vec<String> {
        self.0
            .build(params)
            .properties()
            .into_iter()
            .map(|p| p.name)
            .collect()
    }
}

/// One registered system: its description, what the executors in
/// `prophet` do with it, and extensions attached by executors above
/// `prophet` (the live runtime's runner).
#[derive(Clone)]
pub struct Entry {
    description: Arc<Description>,
    specs: Arc<[ParamSpec]>,
    executable: Arc<dyn Executable>,
    nodes: bool,
    extension: Option<Arc<dyn Any + Send + Sync>>,
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("name", &self.description.name)
            .field("nodes", &self.nodes)
            .field("extension", &self.extension.is_some())
            .finish()
    }
}

impl Entry {
    /// An entry for a protocol written as nodes.
    pub fn nodes<P: Protocol>(protocol: P) -> Self {
        Entry::shared(Arc::new(protocol))
    }

    /// [`Entry::nodes`] for a protocol an extension shares too.
    pub fn shared<P: Protocol>(protocol: Arc<P>) -> Self {
        let description = protocol.describe();
        for (choice, policy) in &description.default_policies {
            assert!(
                description.choices.iter().any(|c| c.name == *choice),
                "{}: default policy for undeclared choice `{choice}`",
                description.name
            );
            assert!(
                crate::choice::PolicySpec::parse(policy).is_ok(),
                "{}: default policy `{policy}` does not parse",
                description.name
            );
        }
        Entry {
            specs: description.all_params().into(),
            executable: Arc::new(NodeProtocol {
                protocol,
                description: description.clone(),
            }),
            description: Arc::new(description),
            nodes: true,
            extension: None,
        }
    }

    /// An entry for a plain model (checked only).
    pub fn model<M: ModelProtocol>(protocol: M) -> Self {
        let description = protocol.describe();
        Entry {
            specs: description.all_params().into(),
            description: Arc::new(description),
            executable: Arc::new(PlainModel(protocol)),
            nodes: false,
            extension: None,
        }
    }

    /// Attaches an executor's extension (replacing any earlier one).
    pub fn with_extension(mut self, extension: Arc<dyn Any + Send + Sync>) -> Self {
        self.extension = Some(extension);
        self
    }

    /// The extension of type `T`, if one is attached.
    pub fn extension<T: Any>(&self) -> Option<&T> {
        self.extension.as_deref()?.downcast_ref()
    }

    /// The description.
    pub fn description(&self) -> &Description {
        &self.description
    }

    /// The system's name.
    pub fn name(&self) -> &'static str {
        self.description.name
    }

    /// Every parameter, `variant` included.
    pub fn param_specs(&self) -> &[ParamSpec] {
        &self.specs
    }

    /// Whether the system is made of nodes (and so can be simulated and run).
    pub fn has_nodes(&self) -> bool {
        self.nodes
    }

    /// Parses and validates `key=value` pairs for `purpose`.
    pub fn params(&self, purpose: Purpose, pairs: &[String]) -> Result<Params, RegistryError> {
        Params::parse(self.name(), &self.specs, purpose, pairs)
    }

    /// Refuses a mode the entry cannot serve.
    pub fn supports(&self, purpose: Purpose) -> Result<(), RegistryError> {
        if purpose == Purpose::Check || self.nodes {
            return Ok(());
        }
        Err(RegistryError::Unsupported {
            system: self.name().to_string(),
            mode: purpose.name(),
            why: PLAIN_MODEL.to_string(),
        })
    }

    /// Explores the system as `options` say.
    pub fn check(
        &self,
        params: &Params,
        options: &CheckOptions<'_>,
    ) -> Result<CheckOutcome, String> {
        self.executable.check(params, options)
    }

    /// Simulates the system as `req` says; the description's choices are
    /// the only names a policy may be given for.
    pub fn simulate(
        &self,
        params: &Params,
        req: &mut SimRequest<'_>,
    ) -> Result<Vec<RunReport>, String> {
        self.supports(Purpose::Sim).map_err(|e| e.to_string())?;
        self.description
            .check_choices(req.policies.keys().map(String::as_str))
            .map_err(|e| e.to_string())?;
        self.executable.simulate(params, req)
    }

    /// How many nodes the system has with `params` (`None`: a plain model).
    pub fn node_count(&self, params: &Params) -> Option<usize> {
        self.executable.node_count(params)
    }

    /// Evaluates the properties on postcard-encoded node states (by id).
    pub fn inspect(
        &self,
        params: &Params,
        states: &[Vec<u8>],
    ) -> Result<Vec<PropertyStatus>, String> {
        self.executable.inspect(params, states)
    }

    /// The declared objectives with `params`.
    pub fn objectives(&self, params: &Params) -> Vec<Objective> {
        self.executable.objectives(params)
    }

    /// The names of the declared properties with `params`.
    pub fn property_names(&self, params: &Params) -> Vec<String> {
        self.executable.property_names(params)
    }
}

/// The systems a tool knows, by name.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    entries: Vec<Entry>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry::default()
    }

    /// Adds `entry`.
    ///
    /// # Panics
    /// If a system of the same name is registered already: two protocols
    /// under one name is a programming error, found at start-up.
    pub fn with(mut self, entry: Entry) -> Self {
        assert!(
            self.entries.iter().all(|e| e.name() != entry.name()),
            "two systems are registered as `{}`",
            entry.name()
        );
        self.entries.push(entry);
        self
    }

    /// Every entry, in registration order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The entry named `name`.
    pub fn find(&self, name: &str) -> Result<&Entry, RegistryError> {
        self.entries
            .iter()
            .find(|e| e.name() == name)
            .ok_or_else(|| RegistryError::UnknownSystem {
                name: name.to_string(),
                valid: names_or_none(self.entries.iter().map(Entry::name)),
            })
    }
}
