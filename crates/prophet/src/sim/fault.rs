//! Faults and load: what the simulator injects besides the protocol's own
//! events. Declarations only; the event loop schedules them.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::NodeId;
use crate::sim::network::LatencyDist;

/// A fault on a schedule or from the seed.
///
/// A crash has the explorer's semantics: the node's state is replaced by
/// `init(id, Some(durable))` (volatile state lost, durable state kept), its
/// timers are cleared, messages that reach it while down are dropped; a
/// restart runs `on_start`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Fault {
    /// `node` crashes at `at` and, if `restart_after` is set, restarts that much later.
    Crash {
        /// The node.
        node: NodeId,
        /// When.
        at: Duration,
        /// Down time; `None`: stays down.
        restart_after: Option<Duration>,
    },
    /// Random churn from `from` until `until`: crashes arrive as a Poisson
    /// process of `rate_per_sec` over the running nodes of `nodes`, each
    /// crashed node restarting after a `down_for` sample.
    Churn {
        /// Nodes that may crash.
        nodes: Vec<NodeId>,
        /// Crashes per second.
        rate_per_sec: f64,
        /// Down time of each crash.
        down_for: LatencyDist,
        /// Start.
        from: Duration,
        /// End.
        until: Duration,
    },
}

/// How requests arrive (through the system's [`Workload`](crate::model::Workload)).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub enum Load {
    /// No external requests: the protocol drives itself from `on_start`.
    #[default]
    None,
    /// Open loop: Poisson arrivals at `rate_per_sec` over all clients
    /// (round-robin), whether or not earlier requests were answered.
    Open {
        /// Mean arrivals per second.
        rate_per_sec: f64,
    },
    /// Closed loop: each client keeps `outstanding` requests in flight and
    /// issues the next one `think` after an answer.
    Closed {
        /// Requests in flight per client.
        outstanding: u32,
        /// Think time between an answer and the next request.
        think: LatencyDist,
    },
}
