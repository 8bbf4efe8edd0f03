//! The built-in systems the runtime can run, by catalog name.
//!
//! `catalog::Entry` (in `prophet-systems`) knows how to *check* a system; this
//! table adds what the runtime needs: how to build the system with concrete
//! node types and start a process of it, and how to evaluate its properties
//! on states gathered from live nodes. Every catalog name must have an entry
//! here (a test checks it).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use prophet::model::{GlobalState, InFlight, Model, Node, NodeSlot, System};
use prophet_systems::catalog::{self, Params};

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
    /// How many nodes the system has with these parameters.
    pub node_count: fn(&Params) -> usize,
    /// Runs nodes `ids` of the cluster until `shutdown` completes or a node fails.
    pub run: RunFn,
    /// Evaluates the properties on postcard-encoded states of every node (by id).
    pub inspect: InspectFn,
    /// The declared objectives: (name, metric, aggregate).
    pub objectives: fn(&Params) -> Vec<prophet::model::Objective>,
}

/// How a built-in system is built from its parameters.
pub trait LiveSystem: 'static {
    /// Its node type.
    type N: Node;
    /// The system with these parameters.
    fn build(params: &Params) -> System<Self::N>;
}

/// Runs nodes `ids` of a system until `shutdown` or a node error.
pub async fn run_until<N: Node>(
    system: Arc<System<N>>,
    config: ClusterConfig,
    ids: Vec<u32>,
    options: ProcessOptions,
    shutdown: BoxFuture<()>,
) -> Result<(), RuntimeError> {
    let mut process = Process::start(system, &config, &ids, options).await?;
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
        let params = parse_params(&config.system, &config.params)?;
        let system = Arc::new(S::build(&params));
        run_until(system, config, ids, options, shutdown).await
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
    // evaluated on the node states with an empty network.
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

fn hook<S: LiveSystem>(name: &'static str) -> LiveHook {
    LiveHook {
        name,
        node_count: |p| S::build(p).nodes().len(),
        run: run_hook::<S>,
        inspect: inspect_hook::<S>,
        objectives: |p| S::build(p).objectives().to_vec(),
    }
}

/// Parses `key=value` pairs against the catalog entry of `system`.
pub fn parse_params(system: &str, pairs: &[String]) -> Result<Params, RuntimeError> {
    let entry = catalog::find(system).map_err(|e| RuntimeError::System(e.to_string()))?;
    entry
        .params(pairs)
        .map_err(|e| RuntimeError::System(format!("params: {e}")))
}

/// Every system the runtime can run.
pub fn hooks() -> Vec<LiveHook> {
    Vec::new()
}

/// The hook for catalog name `name`.
pub fn find(name: &str) -> Result<LiveHook, RuntimeError> {
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

#[allow(dead_code)]
fn _assert_hook_is_constructible<S: LiveSystem>() -> LiveHook {
    hook::<S>("")
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_catalog_system_can_run_live() {
        let hooks = super::hooks();
        for entry in prophet_systems::catalog::catalog() {
            assert!(
                hooks.iter().any(|h| h.name == entry.name),
                "catalog system `{}` has no live hook in prophet-runtime/src/systems.rs",
                entry.name
            );
        }
    }
}
