//! What a protocol tells the registry: its description (parameters,
//! variants, choices, workload) and how to build it ([`Protocol`] for node
//! systems, [`ModelProtocol`] for plain models).

use std::sync::Arc;

use crate::model::{Model, Node, System, Workload};
use crate::registry::params::names_or_none;
use crate::registry::{ParamSpec, Params, RegistryError, SimDefaults};
use crate::sim::Limits;

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
    /// Message kinds steering may discard, each with why the protocol
    /// already tolerates losing one: (kind, why).
    pub filterable: Vec<(&'static str, &'static str)>,
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
            filterable: Vec::new(),
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

    /// Declares that steering may discard a delivery of message kind
    /// `kind` (an enum variant's name), as if the network had lost it:
    /// `why` says how the protocol already recovers from that loss (the
    /// message is sent again, or its sender retries).
    pub fn filterable(mut self, kind: &'static str, why: &'static str) -> Self {
        self.filterable.push((kind, why));
        self
    }

    /// The message kinds declared filterable.
    pub fn filterable_kinds(&self) -> Vec<&'static str> {
        self.filterable.iter().map(|f| f.0).collect()
    }

    /// Every parameter, `variant` included (as the last one). Called once
    /// per registered entry ([`Entry::params`](crate::registry::Entry)
    /// keeps the result), which bounds the leak below.
    pub(crate) fn all_params(&self) -> Vec<ParamSpec> {
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
    /// The system for `params` (which know their [`Purpose`](crate::registry::Purpose)). Parameters
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
