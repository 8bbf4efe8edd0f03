//! The built-in systems the runtime can run, by catalog name.
//!
//! `catalog::Entry` (in `prophet-systems`) knows how to *check* a system; this
//! table adds what the runtime needs: how to build the system with concrete
//! node types and start a process of it, its workload, and how to evaluate
//! its properties on states gathered from live nodes. Every catalog name must
//! have an entry here (a test checks it). A system not (yet) in the catalog
//! declares its parameters here.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use prophet::model::{GlobalState, InFlight, Model, Node, NodeSlot, Objective, System, Workload};
use prophet_systems::catalog::{self, ParamKind, ParamSpec, Params};
use prophet_systems::{kv, paxos, randtree};

use crate::RuntimeError;
use crate::config::ClusterConfig;
use crate::process::{Process, ProcessOptions};

/// A future a hook returns.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// The outcome of one property on a live snapshot.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PropertyStatus {
    /// The property's name.
    pub name: String,
    /// `always`, `sometimes` or `eventually`.
    pub expectation: &'static str,
    /// Whether it holds on the snapshot.
    pub holds: bool,
}

/// Runs nodes `ids` of a cluster until the shutdown future completes or a node fails.
pub type RunFn = fn(
    ClusterConfig,
    Vec<u32>,
    ProcessOptions,
    BoxFuture<()>,
) -> BoxFuture<Result<(), RuntimeError>>;

/// Evaluates a system's properties on the postcard-encoded states of every node.
pub type InspectFn = fn(&Params, &[Vec<u8>]) -> Result<Vec<PropertyStatus>, String>;

/// A system the runtime can run.
pub struct LiveHook {
    /// The catalog name.
    pub name: &'static str,
    /// Its own parameters when live sizes differ from the checker's (KV
    /// runs 3 replicas live, 2 when checked); `None`: the catalog's.
    pub params: Option<&'static [ParamSpec]>,
    /// How many nodes the system has with these parameters.
    pub node_count: fn(&Params) -> usize,
    /// Runs nodes `ids` of the cluster until `shutdown` completes or a node fails.
    pub run: RunFn,
    /// Evaluates the properties on postcard-encoded states of every node (by id).
    pub inspect: InspectFn,
    /// The declared objectives.
    pub objectives: fn(&Params) -> Vec<Objective>,
    /// The names of the declared properties.
    pub property_names: fn(&Params) -> Vec<String>,
}

impl LiveHook {
    /// The parameter specs: this hook's own, or the catalog's.
    pub fn param_specs(&self) -> &'static [ParamSpec] {
        self.params
            .unwrap_or_else(|| catalog::find(self.name).map_or(&[], |e| e.params))
    }

    /// Parses `key=value` pairs against [`LiveHook::param_specs`].
    pub fn parse_params(&self, pairs: &[String]) -> Result<Params, RuntimeError> {
        Params::parse(self.name, self.param_specs(), pairs)
            .map_err(|e| RuntimeError::System(format!("params: {e}")))
    }
}

/// How a built-in system is built from its parameters.
pub trait LiveSystem: 'static {
    /// Its node type.
    type N: Node;
    /// The system with these parameters.
    fn build(params: &Params) -> System<Self::N>;
    /// Its request generator, if external requests drive it.
    fn workload(_params: &Params) -> Option<Arc<dyn Workload<Self::N>>> {
        None
    }
}

/// Runs nodes `ids` of a system until `shutdown` or a node error.
pub async fn run_until<N: Node>(
    system: Arc<System<N>>,
    workload: Option<Arc<dyn Workload<N>>>,
    config: ClusterConfig,
    ids: Vec<u32>,
    options: ProcessOptions,
    shutdown: BoxFuture<()>,
) -> Result<(), RuntimeError> {
    let mut process = Process::start(system, &config, &ids, options).await?;
    if let Some(workload) = workload {
        process.drive(workload, config.workload.rate, config.workload.requests);
    }
    tracing::info!(cluster = %config.cluster, system = %config.system, nodes = ?ids, http = ?process.http_addr, "process started");
    tokio::select! {
        () = shutdown => {
            tracing::info!("shutting down");
            process.stop().await
        }
        exit = process.next_exit() => match exit {
            Some((_, Err(error))) => Err(error),
            _ => process.stop().await,
        },
    }
}

fn run_hook<S: LiveSystem>(
    config: ClusterConfig,
    ids: Vec<u32>,
    options: ProcessOptions,
    shutdown: BoxFuture<()>,
) -> BoxFuture<Result<(), RuntimeError>> {
    Box::pin(async move {
        let hook = find(&config.system)?;
        let params = hook.parse_params(&config.params)?;
        let system = Arc::new(S::build(&params));
        let workload = S::workload(&params);
        run_until(system, workload, config, ids, options, shutdown).await
    })
}

fn inspect_hook<S: LiveSystem>(
    params: &Params,
    states: &[Vec<u8>],
) -> Result<Vec<PropertyStatus>, String> {
    let system = S::build(params);
    if states.len() != system.nodes().len() {
        return Err(format!(
            "{} states for {} nodes",
            states.len(),
            system.nodes().len()
        ));
    }
    let mut nodes = Vec::new();
    for (i, bytes) in states.iter().enumerate() {
        let state: <S::N as Node>::State =
            postcard::from_bytes(bytes).map_err(|e| format!("state of node {i}: {e}"))?;
        nodes.push(NodeSlot {
            state,
            timers: Vec::new(),
            up: true,
        });
    }
    // Messages in flight are not observable from outside: properties are
    // evaluated on the gathered states with an empty network. Whether the
    // states held at one instant is the caller's business (`prophet run`
    // gathers them by double collect and says when it could not).
    let global = GlobalState::<S::N> {
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
            holds: p.holds(&system, &global),
        })
        .collect())
}

fn hook<S: LiveSystem>(name: &'static str, params: Option<&'static [ParamSpec]>) -> LiveHook {
    LiveHook {
        name,
        params,
        node_count: |p| S::build(p).nodes().len(),
        run: run_hook::<S>,
        inspect: inspect_hook::<S>,
        objectives: |p| S::build(p).objectives().to_vec(),
        property_names: |p| {
            prophet::model::Model::properties(&S::build(p))
                .into_iter()
                .map(|prop| prop.name)
                .collect()
        },
    }
}

/// The replicated key-value store, driven by its workload.
struct KvLive;

const KV_PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "replicas",
        kind: ParamKind::Int { min: 1, max: 9 },
        default: "3",
        help: "number of replicas",
    },
    ParamSpec {
        name: "clients",
        kind: ParamKind::Int { min: 1, max: 8 },
        default: "1",
        help: "number of clients",
    },
    catalog::KV_VARIANT,
];

fn kv_config(params: &Params) -> kv::Config {
    let mut config = kv::Config::new(params.int("replicas"), params.int("clients"));
    config.variant = kv::Variant::parse(params.text("variant")).unwrap_or(kv::Variant::Correct);
    config.boot_requests = 0;
    config
}

impl LiveSystem for KvLive {
    type N = kv::KvNode;
    fn build(params: &Params) -> System<kv::KvNode> {
        kv::system_with(&kv_config(params))
    }
    fn workload(params: &Params) -> Option<Arc<dyn Workload<kv::KvNode>>> {
        Some(Arc::new(kv::workload(&kv_config(params))))
    }
}

/// Ballot rounds a live proposer may use: far more than the checker's bound,
/// so restarts and contention do not stop progress in practice.
pub const PAXOS_LIVE_ROUNDS: u8 = 200;

/// Single-decree Paxos; clients propose on start.
struct PaxosLive;

impl LiveSystem for PaxosLive {
    type N = paxos::PaxosNode;
    fn build(params: &Params) -> System<paxos::PaxosNode> {
        let variant =
            paxos::Variant::from_name(params.text("variant")).unwrap_or(paxos::Variant::Correct);
        paxos::system_with_rounds(
            params.int("clients"),
            params.int("acceptors"),
            variant,
            PAXOS_LIVE_ROUNDS,
        )
    }
}

/// RandTree: nodes join the overlay on start.
struct RandTreeLive;

impl LiveSystem for RandTreeLive {
    type N = randtree::RandTree;
    fn build(params: &Params) -> System<randtree::RandTree> {
        let variant = randtree::Variant::from_name(params.text("variant"))
            .unwrap_or(randtree::Variant::Correct);
        randtree::system(params.int("nodes"), params.int("max_children"), variant)
    }
}

/// Catalog systems that cannot run live, and why.
pub const NOT_LIVE: &[(&str, &str)] = &[(
    "two-phase-commit",
    "a plain transition-system model (no nodes), written for checking only",
)];

/// Every system the runtime can run.
pub fn hooks() -> Vec<LiveHook> {
    vec![
        hook::<PaxosLive>("paxos", None),
        hook::<RandTreeLive>("randtree", None),
        hook::<KvLive>("kv", Some(KV_PARAMS)),
    ]
}

/// The hook for catalog name `name`.
pub fn find(name: &str) -> Result<LiveHook, RuntimeError> {
    if let Some((_, why)) = NOT_LIVE.iter().find(|(n, _)| *n == name) {
        return Err(RuntimeError::System(format!(
            "system `{name}` cannot run live: {why}"
        )));
    }
    hooks().into_iter().find(|h| h.name == name).ok_or_else(|| {
        RuntimeError::System(format!(
            "system `{name}` cannot run live; live systems: {}",
            hooks()
                .iter()
                .map(|h| h.name)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_catalog_system_can_run_live() {
        let hooks = super::hooks();
        for entry in prophet_systems::catalog::catalog() {
            assert!(
                hooks.iter().any(|h| h.name == entry.name)
                    || super::NOT_LIVE.iter().any(|(n, _)| *n == entry.name),
                "catalog system `{}` has no live hook in prophet-runtime/src/systems.rs",
                entry.name
            );
        }
        for hook in &hooks {
            let params = hook.parse_params(&[]).expect("defaults are valid");
            assert!((hook.node_count)(&params) > 0, "{}", hook.name);
        }
    }
}
