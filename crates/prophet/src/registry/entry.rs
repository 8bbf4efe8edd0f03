//! Registered systems: an [`Entry`] erases a protocol's types behind what
//! each executor in `prophet` does with it (check, simulate, inspect live
//! states), and a [`Registry`] finds entries by name.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use crate::model::{
    Constraint, EVENT_CLASSES, GlobalState, InFlight, Model, Node, NodeSlot, Objective, System,
};
use crate::registry::params::names_or_none;
use crate::registry::{
    CheckOptions, CheckOutcome, Description, ModelProtocol, ParamSpec, Params, Protocol, Purpose,
    RegistryError, SimCounterexample, SimRequest, build_system, check_model, sim_counterexample,
    simulate_system,
};
use crate::sim::RunReport;

/// The outcome of one property on a snapshot of live node states.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PropertyStatus {
    /// The property's name.
    pub name: String,
    /// `always`, `sometimes`, `eventually`, `leads_to` or `always_eventually`.
    pub expectation: &'static str,
    /// Whether it holds on the snapshot.
    pub holds: bool,
}

/// What each executor can do with an entry, type-erased.
trait Executable: Send + Sync {
    fn check(&self, params: &Params, options: &CheckOptions<'_>) -> Result<CheckOutcome, String>;
    fn simulate(&self, params: &Params, req: &mut SimRequest<'_>)
    -> Result<Vec<RunReport>, String>;
    fn sim_counterexample(
        &self,
        params: &Params,
        req: &SimRequest<'_>,
        seed: u64,
    ) -> Result<SimCounterexample, String>;
    fn node_count(&self, params: &Params) -> Option<usize>;
    fn inspect(&self, params: &Params, states: &[Vec<u8>]) -> Result<Vec<PropertyStatus>, String>;
    fn objectives(&self, params: &Params) -> Vec<Objective>;
    fn constraints(&self, params: &Params) -> Vec<Constraint>;
    fn property_names(&self, params: &Params) -> Vec<String>;
}

struct NodeProtocol<P: Protocol> {
    protocol: Arc<P>,
    description: Description,
}

impl<P: Protocol> Executable for NodeProtocol<P> {
    fn check(&self, params: &Params, options: &CheckOptions<'_>) -> Result<CheckOutcome, String> {
        let mut system = build_system(&*self.protocol, &self.description, params);
        for fairness in options.fairness {
            if !EVENT_CLASSES.contains(&fairness.class.as_str()) {
                return Err(format!(
                    "fairness `{fairness}`: a node system's event classes are {}",
                    EVENT_CLASSES.join(", ")
                ));
            }
            system = system.fair(fairness.clone());
        }
        check_model(&system, options)
    }

    fn simulate(
        &self,
        params: &Params,
        req: &mut SimRequest<'_>,
    ) -> Result<Vec<RunReport>, String> {
        let system = build_system(&*self.protocol, &self.description, params);
        let workload = self.protocol.workload(params);
        let defaults = self.protocol.sim_defaults(params, &req.limits);
        simulate_system(
            &system,
            workload.as_deref(),
            defaults,
            &self.description.filterable_kinds(),
            req,
        )
    }

    fn sim_counterexample(
        &self,
        params: &Params,
        req: &SimRequest<'_>,
        seed: u64,
    ) -> Result<SimCounterexample, String> {
        let system = build_system(&*self.protocol, &self.description, params);
        let workload = self.protocol.workload(params);
        let defaults = self.protocol.sim_defaults(params, &req.limits);
        sim_counterexample(
            &system,
            workload.as_deref(),
            defaults,
            &self.description.filterable_kinds(),
            req,
            seed,
        )
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

    fn constraints(&self, params: &Params) -> Vec<Constraint> {
        self.protocol.build(params).constraints().to_vec()
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
        if let Some(fairness) = options.fairness.first() {
            return Err(format!(
                "fairness `{fairness}`: a plain model declares its fairness in code (Model::fairness)"
            ));
        }
        check_model(&self.0.build(params), options)
    }

    fn simulate(&self, _: &Params, _: &mut SimRequest<'_>) -> Result<Vec<RunReport>, String> {
        Err(PLAIN_MODEL.to_string())
    }

    fn sim_counterexample(
        &self,
        _: &Params,
        _: &SimRequest<'_>,
        _: u64,
    ) -> Result<SimCounterexample, String> {
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

    fn constraints(&self, _: &Params) -> Vec<Constraint> {
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

    /// Reruns `seed` of the simulation `req` describes and returns its
    /// first invariant violation as a checker trace (see
    /// [`sim_counterexample`]); `req.seeds` and its progress are not used.
    pub fn sim_counterexample(
        &self,
        params: &Params,
        req: &SimRequest<'_>,
        seed: u64,
    ) -> Result<SimCounterexample, String> {
        self.supports(Purpose::Sim).map_err(|e| e.to_string())?;
        self.executable.sim_counterexample(params, req, seed)
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

    /// The declared constraints (the objectives' goals) with `params`.
    pub fn constraints(&self, params: &Params) -> Vec<Constraint> {
        self.executable.constraints(params)
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
