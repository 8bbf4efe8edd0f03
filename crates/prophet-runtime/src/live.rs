//! Running any registered system live.
//!
//! The registry (`prophet::registry`) cannot name this crate, so the live
//! runner of a node protocol is attached to its entry as an extension by
//! [`entry`], where the protocol's node type is still known. Everything else
//! the runtime needs of a system (parameters, node count, properties on
//! gathered states, objectives, declared choices) comes from the entry.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use prophet::model::{Node, System, Workload};
use prophet::registry::{Entry, Params, Protocol, Purpose, Registry, build_system};

use crate::RuntimeError;
use crate::config::ClusterConfig;
use crate::process::{Process, ProcessOptions};

/// A future a runner returns.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

type RunFn = dyn Fn(
        Params,
        ClusterConfig,
        Vec<u32>,
        ProcessOptions,
        BoxFuture<()>,
    ) -> BoxFuture<Result<(), RuntimeError>>
    + Send
    + Sync;

/// The live runner of one protocol: builds its system for the live purpose
/// and runs nodes of it. Attached to a registry entry by [`entry`].
pub struct LiveRunner {
    run: Box<RunFn>,
}

/// A registry entry for `protocol` that the live runtime can run, as well as
/// check and simulate: what a user registers (through `prophet_cli`).
pub fn entry<P: Protocol>(protocol: P) -> Entry {
    let protocol = Arc::new(protocol);
    let base = Entry::shared(protocol.clone());
    let description = base.description().clone();
    let runner = LiveRunner {
        run: Box::new(move |params, config, ids, options, shutdown| {
            let system = Arc::new(build_system(&*protocol, &description, &params));
            let workload = protocol.workload(&params);
            Box::pin(run_until(system, workload, config, ids, options, shutdown))
        }),
    };
    base.with_extension(Arc::new(runner))
}

/// The entry for the system `config` names, its validated live parameters
/// and its runner; refuses a plain model, a system registered without a
/// runner, a wrong node count, and a `[choose]` section that names a choice
/// the system does not declare.
pub fn prepare<'r>(
    registry: &'r Registry,
    config: &ClusterConfig,
) -> Result<(&'r Entry, Params), RuntimeError> {
    let entry = registry
        .find(&config.system)
        .map_err(|e| RuntimeError::System(e.to_string()))?;
    entry
        .supports(Purpose::Live)
        .map_err(|e| RuntimeError::System(e.to_string()))?;
    runner(entry)?;
    let params = entry
        .params(Purpose::Live, &config.params)
        .map_err(|e| RuntimeError::System(format!("params: {e}")))?;
    if let Some(count) = entry.node_count(&params) {
        config.check_node_count(count)?;
    }
    entry
        .description()
        .check_choices(config.choose.choices.keys().map(String::as_str))
        .map_err(|e| RuntimeError::System(format!("[choose]: {e}")))?;
    Ok((entry, params))
}

fn runner(entry: &Entry) -> Result<&LiveRunner, RuntimeError> {
    entry.extension::<LiveRunner>().ok_or_else(|| {
        RuntimeError::System(format!(
            "system `{}` was registered without the live runtime's runner; register it with \
             `prophet_cli::protocol` (or `prophet_runtime::live::entry`)",
            entry.name()
        ))
    })
}

/// Runs nodes `ids` of the cluster `config` describes until `shutdown`
/// completes or a node fails. `params` come from [`prepare`].
pub fn run(
    entry: &Entry,
    params: Params,
    config: ClusterConfig,
    ids: Vec<u32>,
    options: ProcessOptions,
    shutdown: BoxFuture<()>,
) -> BoxFuture<Result<(), RuntimeError>> {
    match runner(entry) {
        Ok(runner) => (runner.run)(params, config, ids, options, shutdown),
        Err(error) => Box::pin(async move { Err(error) }),
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
