//! Faults and load: what the simulator injects besides the protocol's own
//! events. Declarations only; the event loop schedules them.

use std::time::Duration;

use rand::{Rng, RngCore};
use rand_distr::{Distribution, Exp};
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
    /// Open loop whose rate changes: Poisson arrivals per stream, each
    /// stream's rate following its phases (steps, ramps, spikes), handed
    /// round-robin to the stream's clients.
    Phased {
        /// The streams, independent of each other.
        streams: Vec<Stream>,
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

/// One stream of open-loop arrivals.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stream {
    /// Its clients (`None`: all the workload's clients); each must be one
    /// of the workload's clients.
    pub clients: Option<Vec<NodeId>>,
    /// The rate schedule, by increasing `from`; no arrivals before the
    /// first phase.
    pub phases: Vec<Phase>,
}

/// A stretch of a stream's schedule, from its `from` to the next phase's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Phase {
    /// Start.
    pub from: Duration,
    /// Mean arrivals per second at the start (≥ 0).
    pub rate_per_sec: f64,
    /// If set, the rate goes linearly from `rate_per_sec` to this by the
    /// next phase's start (the last phase cannot ramp).
    pub ramp_to_per_sec: Option<f64>,
}

/// Most candidate arrivals [`Stream::next_arrival`] draws for one arrival
/// (a ramp thins candidates drawn at its highest rate).
const CANDIDATES_MAX: u32 = 1_000_000;

impl Stream {
    /// Checks rates and the order of the phases.
    pub fn validate(&self) -> Result<(), String> {
        for (i, p) in self.phases.iter().enumerate() {
            for r in std::iter::once(p.rate_per_sec).chain(p.ramp_to_per_sec) {
                if !(r.is_finite() && r >= 0.0) {
                    return Err(format!("phase {i}: rate {r} must be ≥ 0"));
                }
            }
            if let Some(next) = self.phases.get(i + 1) {
                if next.from <= p.from {
                    return Err(format!(
                        "phase {} starts at {:?}, not after phase {i} ({:?}): give phases in order",
                        i + 1,
                        next.from,
                        p.from
                    ));
                }
            } else if p.ramp_to_per_sec.is_some() {
                return Err(format!(
                    "phase {i} ramps but is the last: a ramp ends where the next phase starts"
                ));
            }
        }
        Ok(())
    }

    /// The rate (per second) at `t` seconds.
    pub fn rate_at(&self, t: f64) -> f64 {
        let Some(i) = self.phases.iter().rposition(|p| p.from.as_secs_f64() <= t) else {
            return 0.0;
        };
        let p = &self.phases[i];
        match (p.ramp_to_per_sec, self.phases.get(i + 1)) {
            (Some(to), Some(next)) => {
                let (a, b) = (p.from.as_secs_f64(), next.from.as_secs_f64());
                p.rate_per_sec + (to - p.rate_per_sec) * (t - a) / (b - a)
            }
            _ => p.rate_per_sec,
        }
    }

    /// The first arrival after `now_ns` (ns), or `None` if none comes.
    /// Exact for steps (the process is memoryless, so a gap that crosses a
    /// phase boundary is redrawn from it) and by thinning for ramps.
    pub fn next_arrival(&self, now_ns: u64, rng: &mut dyn RngCore) -> Option<u64> {
        let mut t = now_ns as f64 / 1e9;
        for _ in 0..CANDIDATES_MAX {
            let Some(i) = self.phases.iter().rposition(|p| p.from.as_secs_f64() <= t) else {
                t = self.phases.first()?.from.as_secs_f64();
                continue;
            };
            let p = &self.phases[i];
            let end = self
                .phases
                .get(i + 1)
                .map_or(f64::INFINITY, |n| n.from.as_secs_f64());
            let top = p.rate_per_sec.max(p.ramp_to_per_sec.unwrap_or(0.0));
            if top <= 0.0 {
                if end.is_infinite() {
                    return None;
                }
                t = end;
                continue;
            }
            let gap = Exp::new(top).map_or(f64::INFINITY, |d| d.sample(rng));
            if t + gap >= end {
                t = end;
                continue;
            }
            t += gap;
            if p.ramp_to_per_sec.is_some() && rng.random::<f64>() * top >= self.rate_at(t) {
                continue;
            }
            return Some((t * 1e9).min(u64::MAX as f64 / 2.0) as u64);
        }
        None
    }
}
