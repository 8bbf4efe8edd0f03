//! One process of a cluster: some of its nodes, their transport, their
//! durable files and the process's HTTP endpoint.
//!
//! A process hosts any subset of the cluster's nodes: all of them (tests and
//! small deployments) or one (real deployments). Messages between nodes of
//! the same process skip the sockets but not the queues or the fault layer.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use prophet::model::{Node, NodeId, System, Workload};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};

use crate::RuntimeError;
use crate::config::ClusterConfig;
use crate::durable::DurableStore;
use crate::executor::{DecisionLog, InputLog, NodeEvent, NodeSnapshot, NodeTask, NodeTransport};
use crate::faults::FaultTable;
use crate::http::{self, AllowedHosts, Credentials, HttpState, SnapshotFn};
use crate::journal::Journal;
use crate::metrics::Registry;
use crate::transport::{QueuePolicy, Transport, TransportConfig};

/// How long a node may take to answer a snapshot request.
pub const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(2);

/// Knobs a caller may set beyond the cluster file.
#[derive(Clone, Default)]
pub struct ProcessOptions {
    /// Keep durable state in memory only (no files): for benchmarks.
    pub no_disk: bool,
    /// Where decisions are logged besides the metrics.
    pub decisions: Option<Arc<dyn DecisionLog>>,
    /// Where every handled input is logged (see [`InputLog`]).
    pub inputs: Option<Arc<dyn InputLog>>,
}

/// A running process.
pub struct Process<N: Node> {
    /// Its counters.
    pub metrics: Arc<Registry>,
    /// Its fault rules.
    pub faults: Arc<FaultTable>,
    /// Where its HTTP endpoint listens, if it has one.
    pub http_addr: Option<SocketAddr>,
    inboxes: BTreeMap<u32, mpsc::Sender<NodeEvent<N>>>,
    nodes: JoinSet<(u32, Result<(), RuntimeError>)>,
    background: Vec<JoinHandle<()>>,
    transport: Arc<NodeTransport<N>>,
}

async fn bind(what: String, addr: &str) -> Result<TcpListener, RuntimeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| RuntimeError::Bind {
            what,
            addr: addr.to_string(),
            source,
        })
}

/// Raises this process's soft open-file limit to its hard limit (once per
/// process), so that peers, HTTP clients and durable files do not run out
/// of descriptors at the common default of 1,024. Returns `(before, after)`.
pub fn raise_open_file_limit() -> std::io::Result<(u64, u64)> {
    static RAISED: std::sync::OnceLock<Result<(u64, u64), i32>> = std::sync::OnceLock::new();
    let raised = RAISED.get_or_init(|| {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `getrlimit`/`setrlimit` read or write only the struct
        // passed, which lives on this stack frame.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
                return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
            }
            let before = limit.rlim_cur;
            if limit.rlim_cur < limit.rlim_max {
                limit.rlim_cur = limit.rlim_max;
                if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                    return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
                }
            }
            Ok((before, limit.rlim_cur))
        }
    });
    raised.map_err(std::io::Error::from_raw_os_error)
}

async fn snapshots_of<N: Node>(
    inboxes: &BTreeMap<u32, mpsc::Sender<NodeEvent<N>>>,
) -> Vec<NodeSnapshot> {
    let mut out = Vec::new();
    for inbox in inboxes.values() {
        let (tx, rx) = oneshot::channel();
        if inbox.send(NodeEvent::Snapshot(tx)).await.is_ok()
            && let Ok(Ok(snapshot)) = tokio::time::timeout(SNAPSHOT_TIMEOUT, rx).await
        {
            out.push(snapshot);
        }
    }
    out
}

impl<N: Node> Process<N> {
    /// Starts the nodes `local` of the cluster described by `config`.
    pub async fn start(
        system: Arc<System<N>>,
        config: &ClusterConfig,
        local: &[u32],
        options: ProcessOptions,
    ) -> Result<Process<N>, RuntimeError> {
        config.check_node_count(system.nodes().len())?;
        config.check_ids(local)?;
        match raise_open_file_limit() {
            Ok((before, after)) if before != after => {
                tracing::info!(before, after, "open-file limit raised");
            }
            Ok((_, after)) => tracing::debug!(limit = after, "open-file limit"),
            Err(error) => tracing::warn!(%error, "cannot read or raise the open-file limit"),
        }
        let metrics = Arc::new(Registry::default());
        let journal = if config.choose.log && !options.no_disk {
            let started_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis());
            Journal::to_files(&config.data_dir, started_ms).map_err(|source| RuntimeError::Io {
                what: format!("the decision log in {}", config.data_dir.display()),
                source,
            })?
        } else {
            Journal::in_memory()
        };
        let models = Arc::new(crate::models::Models::new(local));
        let seed = local.first().copied().map_or(0, u64::from) ^ 0xfa17;
        let faults = Arc::new(FaultTable::new(config.faults.clone(), seed));
        let mut inboxes = BTreeMap::new();
        let mut receivers = BTreeMap::new();
        for &id in local {
            let (tx, rx) = mpsc::channel(config.limits.inbox);
            inboxes.insert(id, tx);
            receivers.insert(id, rx);
        }
        let policy = if system.semantics().lossy {
            QueuePolicy::DropOldest
        } else {
            QueuePolicy::Spill
        };
        let transport = Transport::new(
            TransportConfig {
                cluster: config.cluster.clone(),
                secret: config.secret.clone(),
                addrs: config.nodes.iter().map(|n| n.addr.clone()).collect(),
                max_frame_bytes: config.limits.max_frame_bytes,
                send_queue: config.limits.send_queue,
                policy,
                prelogin_connections: config.limits.prelogin_connections,
                prelogin_per_source: config.limits.prelogin_per_source,
                spool_dir: (!options.no_disk).then(|| config.data_dir.join("spool")),
                spool_bytes: config.limits.spool_bytes,
                encrypt: config.transport.encrypt,
            },
            inboxes
                .iter()
                .map(|(k, v)| (*k, v.clone()))
                .collect::<HashMap<_, _>>(),
            Arc::clone(&faults),
            Arc::clone(&metrics),
        );
        // Bind everything before starting a node, so a busy port is an error
        // at start and not a node that runs deaf.
        let mut background = Vec::new();
        let mut listeners = Vec::new();
        for &id in local {
            let entry = &config.nodes[id as usize];
            let addr = entry.listen.as_deref().unwrap_or(&entry.addr);
            listeners.push(bind(format!("nodes[{id}].listen"), addr).await?);
        }
        let mut http_addr = None;
        if let Some((id, addr)) = local
            .iter()
            .find_map(|&id| config.nodes[id as usize].http.as_deref().map(|a| (id, a)))
        {
            let listener = bind(format!("nodes[{id}].http"), addr).await?;
            http_addr = listener.local_addr().ok();
            let for_http = inboxes.clone();
            let snapshots: SnapshotFn = Arc::new(move || {
                let inboxes = for_http.clone();
                Box::pin(async move { snapshots_of(&inboxes).await })
            });
            let state = Arc::new(HttpState {
                journal: Arc::clone(&journal),
                models: Arc::clone(&models),
                metrics: Arc::clone(&metrics),
                faults: Arc::clone(&faults),
                snapshots,
                cluster_nodes: config.nodes.len(),
                local: local.to_vec(),
                credentials: Credentials::derive(&config.secret, &config.cluster),
                hosts: AllowedHosts::new(config.host_names()),
                progress: Default::default(),
            });
            background.push(tokio::spawn(http::serve(listener, state)));
        }
        for listener in listeners {
            background.push(tokio::spawn(Arc::clone(&transport).serve(listener)));
        }
        transport.connect_all();
        let mut nodes = JoinSet::new();
        for &id in local {
            let store = if options.no_disk {
                None
            } else {
                Some(DurableStore::open(
                    &config.data_dir,
                    crate::durable::Identity::new(&config.cluster, id, system.name()),
                )?)
            };
            let task = NodeTask {
                system: Arc::clone(&system),
                id: NodeId(id),
                transport: Arc::clone(&transport),
                inbox: receivers
                    .remove(&id)
                    .ok_or(RuntimeError::Internal("inbox"))?,
                inbox_tx: inboxes[&id].clone(),
                store,
                chooser: config.choose.build(
                    NodeId(id),
                    Some(Arc::clone(&journal)),
                    Some(Arc::clone(&models)),
                ),
                decisions: options.decisions.clone(),
                inputs: options.inputs.clone(),
                metrics: Arc::clone(&metrics),
            };
            nodes.spawn(async move { (id, task.run().await) });
        }
        Ok(Process {
            metrics,
            faults,
            http_addr,
            inboxes,
            nodes,
            background,
            transport,
        })
    }

    /// Feeds requests from `workload` to the local client nodes: request
    /// `seq` arrives at `clients[seq % clients.len()]` at `rate` per second
    /// (cluster-wide; each process skips the requests of clients it does not
    /// host), at most `requests` in total (0: no limit). Every request whose
    /// time has come is sent at each wake-up (see [`crate::workload`]), so
    /// high rates are offered in full.
    pub fn drive(&mut self, workload: Arc<dyn Workload<N>>, rate: f64, requests: u64) {
        self.background.push(tokio::spawn(crate::workload::offer(
            workload,
            self.inboxes.clone(),
            Arc::clone(&self.metrics),
            rate,
            requests,
        )));
    }

    /// The current state of every local node that answers.
    pub async fn snapshots(&self) -> Vec<NodeSnapshot> {
        snapshots_of(&self.inboxes).await
    }

    /// Waits until a node stops by itself (an error, normally) and returns it.
    pub async fn next_exit(&mut self) -> Option<(u32, Result<(), RuntimeError>)> {
        match self.nodes.join_next().await? {
            Ok(exit) => Some(exit),
            Err(join) => Some((
                u32::MAX,
                Err(RuntimeError::Internal(if join.is_panic() {
                    "node task panicked"
                } else {
                    "node task cancelled"
                })),
            )),
        }
    }

    /// Stops every node after the events already in its inbox, and the
    /// process's listeners. Returns the first node error, if any.
    pub async fn stop(mut self) -> Result<(), RuntimeError> {
        for inbox in self.inboxes.values() {
            let _ = inbox.send(NodeEvent::Stop).await;
        }
        let mut first = Ok(());
        while let Some(exit) = self.next_exit().await {
            if let (_, Err(error)) = exit
                && first.is_ok()
            {
                first = Err(error);
            }
        }
        self.transport.shutdown();
        // Wait for the listeners to be gone, so the ports are free on return.
        for task in self.background.drain(..) {
            task.abort();
            let _ = task.await;
        }
        first
    }
}

impl<N: Node> Drop for Process<N> {
    fn drop(&mut self) {
        self.transport.shutdown();
        for task in &self.background {
            task.abort();
        }
        self.nodes.abort_all();
    }
}
