//! The simulator's network and node-performance model.
//!
//! Owns what a message costs in time: per-link (or per-pair-of-groups)
//! latency distributions, bandwidth, loss, duplication and reordering, node
//! service times, slowdowns that hold between two instants, and partitions
//! that start and heal on a schedule. It samples; it never schedules (the
//! event loop in [`crate::sim`] does that).

use std::collections::BTreeMap;
use std::time::Duration;

use rand::{Rng, RngCore};
use rand_distr::{Distribution, LogNormal, Normal};
use serde::{Deserialize, Serialize};

use crate::model::NodeId;

/// A distribution of delays, in milliseconds. Samples are never negative.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "dist", rename_all = "kebab-case", deny_unknown_fields)]
pub enum LatencyDist {
    /// Always `ms`.
    Constant {
        /// The delay.
        ms: f64,
    },
    /// Uniform on `[min_ms, max_ms]`.
    Uniform {
        /// Lower end.
        min_ms: f64,
        /// Upper end.
        max_ms: f64,
    },
    /// Normal with the given mean and standard deviation, cut at 0.
    Normal {
        /// Mean.
        mean_ms: f64,
        /// Standard deviation.
        sd_ms: f64,
    },
    /// Log-normal with the given median; `sigma` is the standard deviation of
    /// the logarithm (0.5 gives a moderately long tail).
    LogNormal {
        /// Median (`exp(mu)`).
        median_ms: f64,
        /// Shape.
        sigma: f64,
    },
    /// One of the given samples, uniformly (e.g. measured round trips / 2).
    Empirical {
        /// The samples.
        samples_ms: Vec<f64>,
    },
}

impl Default for LatencyDist {
    fn default() -> Self {
        LatencyDist::Constant { ms: 0.0 }
    }
}

impl LatencyDist {
    /// A constant delay.
    pub fn constant(d: Duration) -> Self {
        LatencyDist::Constant {
            ms: d.as_secs_f64() * 1e3,
        }
    }

    /// Checks the parameters; the error says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        let ok = |x: f64| x.is_finite() && x >= 0.0;
        match self {
            LatencyDist::Constant { ms } if !ok(*ms) => Err(format!("ms = {ms} must be ≥ 0")),
            LatencyDist::Uniform { min_ms, max_ms } if !(ok(*min_ms) && min_ms <= max_ms) => Err(
                format!("need 0 ≤ min_ms ≤ max_ms, got {min_ms} and {max_ms}"),
            ),
            LatencyDist::Normal { mean_ms, sd_ms } if !(ok(*mean_ms) && ok(*sd_ms)) => Err(
                format!("mean_ms and sd_ms must be ≥ 0, got {mean_ms} and {sd_ms}"),
            ),
            LatencyDist::LogNormal { median_ms, sigma }
                if !(ok(*sigma) && median_ms.is_finite() && *median_ms > 0.0) =>
            {
                Err(format!(
                    "need median_ms > 0 and sigma ≥ 0, got {median_ms} and {sigma}"
                ))
            }
            LatencyDist::Empirical { samples_ms }
                if samples_ms.is_empty() || !samples_ms.iter().all(|&s| ok(s)) =>
            {
                Err("samples_ms must be a non-empty list of delays ≥ 0".to_string())
            }
            _ => Ok(()),
        }
    }

    /// Whether every sample is 0 (lets the simulator skip sampling).
    pub fn is_zero(&self) -> bool {
        matches!(self, LatencyDist::Constant { ms } if *ms == 0.0)
    }

    /// One sample, in nanoseconds.
    pub fn sample_ns(&self, rng: &mut dyn RngCore) -> u64 {
        let ms = match self {
            LatencyDist::Constant { ms } => *ms,
            LatencyDist::Uniform { min_ms, max_ms } => {
                if max_ms > min_ms {
                    rng.random_range(*min_ms..=*max_ms)
                } else {
                    *min_ms
                }
            }
            LatencyDist::Normal { mean_ms, sd_ms } => Normal::new(*mean_ms, *sd_ms)
                .map(|d| d.sample(rng))
                .unwrap_or(*mean_ms),
            LatencyDist::LogNormal { median_ms, sigma } => LogNormal::new(median_ms.ln(), *sigma)
                .map(|d| d.sample(rng))
                .unwrap_or(*median_ms),
            LatencyDist::Empirical { samples_ms } => {
                samples_ms[rng.random_range(0..samples_ms.len())]
            }
        };
        (ms.max(0.0) * 1e6) as u64
    }

    /// The distribution's mean in milliseconds (for the normal, of the
    /// uncut distribution).
    pub fn mean_ms(&self) -> f64 {
        match self {
            LatencyDist::Constant { ms } => *ms,
            LatencyDist::Uniform { min_ms, max_ms } => (min_ms + max_ms) / 2.0,
            LatencyDist::Normal { mean_ms, .. } => *mean_ms,
            LatencyDist::LogNormal { median_ms, sigma } => median_ms * (sigma * sigma / 2.0).exp(),
            LatencyDist::Empirical { samples_ms } => {
                samples_ms.iter().sum::<f64>() / samples_ms.len().max(1) as f64
            }
        }
    }
}

/// What a (directed) link does to the messages on it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkModel {
    /// One-way propagation delay (default: 1 ms constant).
    #[serde(default = "one_ms")]
    pub latency: LatencyDist,
    /// Bytes per second; `None` for unlimited. With a limit, a message takes
    /// `size / bandwidth` to transmit (its postcard-encoded size) and waits
    /// for the messages before it on the same link.
    #[serde(default)]
    pub bandwidth_bytes_per_sec: Option<f64>,
    /// Probability a message is lost.
    #[serde(default)]
    pub loss: f64,
    /// Probability a message is delivered twice (the copy with its own delay).
    #[serde(default)]
    pub duplicate: f64,
    /// Probability a message may overtake earlier ones on its link; the
    /// others arrive in send order (per-link FIFO).
    #[serde(default)]
    pub reorder: f64,
}

fn one_ms() -> LatencyDist {
    LatencyDist::Constant { ms: 1.0 }
}

impl Default for LinkModel {
    fn default() -> Self {
        LinkModel {
            latency: one_ms(),
            bandwidth_bytes_per_sec: None,
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
        }
    }
}

impl LinkModel {
    /// A reliable link with the given latency and no bandwidth limit.
    pub fn with_latency(latency: LatencyDist) -> Self {
        LinkModel {
            latency,
            ..LinkModel::default()
        }
    }

    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), String> {
        self.latency.validate()?;
        for (name, p) in [
            ("loss", self.loss),
            ("duplicate", self.duplicate),
            ("reorder", self.reorder),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("{name} = {p} must be a probability in [0, 1]"));
            }
        }
        if let Some(b) = self.bandwidth_bytes_per_sec
            && !(b.is_finite() && b > 0.0)
        {
            return Err(format!("bandwidth_bytes_per_sec = {b} must be > 0"));
        }
        Ok(())
    }
}

/// What a slowdown applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Target {
    /// Every message arriving at the node, and the node's handlers.
    Node(NodeId),
    /// Both directions of the link between two nodes.
    Link(NodeId, NodeId),
}

/// A condition that holds from `from` until `until`: a node or link slows down.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Slowdown {
    /// Start (inclusive).
    pub from: Duration,
    /// End (exclusive).
    pub until: Duration,
    /// Node or link.
    pub target: Target,
    /// Added to every affected message's delay (a stuck replica that answers
    /// after 2 s: `Node(r)` with 2 s here).
    pub extra_latency: Duration,
    /// Multiplies sampled link latency (1 = unchanged).
    pub latency_factor: f64,
    /// Multiplies the node's handler service time (1 = unchanged).
    pub service_factor: f64,
}

/// Nodes split into sides that cannot talk to each other, from `from` until
/// `until` (healed then; `None`: never heals). Nodes in no listed side form
/// one more side together.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Partition {
    /// Start (inclusive).
    pub from: Duration,
    /// Heal time (exclusive).
    pub until: Option<Duration>,
    /// The sides.
    pub sides: Vec<Vec<NodeId>>,
}

impl Partition {
    fn side(&self, node: NodeId) -> usize {
        self.sides
            .iter()
            .position(|side| side.contains(&node))
            .unwrap_or(self.sides.len())
    }

    /// Whether the partition separates `a` and `b` at time `t`.
    pub fn blocks(&self, a: NodeId, b: NodeId, t: Duration) -> bool {
        t >= self.from && self.until.is_none_or(|u| t < u) && self.side(a) != self.side(b)
    }
}

/// The whole performance model of a simulated deployment.
#[derive(Clone, Debug, Default)]
pub struct NetworkModel {
    /// Links with no more specific model.
    pub default_link: LinkModel,
    /// Per-pair-of-groups links: `(group a, group b)` → model (both directions).
    pub group_links: BTreeMap<(String, String), LinkModel>,
    /// Node → group name.
    pub groups: BTreeMap<NodeId, String>,
    /// Per-link models (directed), the most specific.
    pub links: BTreeMap<(NodeId, NodeId), LinkModel>,
    /// Service time of a handler per node (default: none, handlers are instant).
    pub service: BTreeMap<NodeId, LatencyDist>,
    /// Service time for nodes without their own.
    pub default_service: LatencyDist,
    /// Time-bounded slowdowns.
    pub slowdowns: Vec<Slowdown>,
    /// Scheduled partitions.
    pub partitions: Vec<Partition>,
}

/// A [`NetworkModel`] resolved for `n` nodes: O(1) link lookup.
#[derive(Clone, Debug)]
pub(crate) struct ResolvedNetwork {
    n: usize,
    models: Vec<LinkModel>,
    /// `n × n` indices into `models` (`src * n + dst`); empty when every
    /// link is the default one (at 10,000 nodes the matrix alone is 400 MB).
    index: Vec<u32>,
    service: Vec<LatencyDist>,
    pub(crate) slowdowns: Vec<Slowdown>,
    pub(crate) partitions: Vec<Partition>,
}

impl NetworkModel {
    /// The same latency on every link.
    pub fn uniform(latency: LatencyDist) -> Self {
        NetworkModel {
            default_link: LinkModel::with_latency(latency),
            ..NetworkModel::default()
        }
    }

    /// Checks every distribution and probability and that node ids are below `n`.
    pub fn validate(&self, n: usize) -> Result<(), String> {
        let node = |id: NodeId| {
            if id.index() < n {
                Ok(())
            } else {
                Err(format!(
                    "node {id} does not exist (the system has {n} nodes)"
                ))
            }
        };
        self.default_link.validate()?;
        for ((a, b), link) in &self.group_links {
            link.validate()
                .map_err(|e| format!("link between groups {a} and {b}: {e}"))?;
        }
        for ((a, b), link) in &self.links {
            node(*a)?;
            node(*b)?;
            link.validate().map_err(|e| format!("link {a}→{b}: {e}"))?;
        }
        for (&id, s) in &self.service {
            node(id)?;
            s.validate()
                .map_err(|e| format!("service time of {id}: {e}"))?;
        }
        self.default_service.validate()?;
        for s in &self.slowdowns {
            match s.target {
                Target::Node(a) => node(a)?,
                Target::Link(a, b) => {
                    node(a)?;
                    node(b)?;
                }
            }
        }
        for p in &self.partitions {
            for &id in p.sides.iter().flatten() {
                node(id)?;
            }
        }
        Ok(())
    }

    pub(crate) fn resolve(&self, n: usize) -> ResolvedNetwork {
        let mut models = vec![self.default_link.clone()];
        let uniform = self.group_links.is_empty() && self.links.is_empty();
        let mut index = if uniform {
            Vec::new()
        } else {
            vec![0u32; n * n]
        };
        let mut group_ids: BTreeMap<(String, String), u32> = BTreeMap::new();
        for ((a, b), link) in &self.group_links {
            models.push(link.clone());
            let i = (models.len() - 1) as u32;
            group_ids.insert((a.clone(), b.clone()), i);
            group_ids.entry((b.clone(), a.clone())).or_insert(i);
        }
        if !group_ids.is_empty() {
            for src in 0..n {
                for dst in 0..n {
                    let (Some(ga), Some(gb)) = (
                        self.groups.get(&NodeId::from(src)),
                        self.groups.get(&NodeId::from(dst)),
                    ) else {
                        continue;
                    };
                    if let Some(&i) = group_ids.get(&(ga.clone(), gb.clone())) {
                        index[src * n + dst] = i;
                    }
                }
            }
        }
        for (&(a, b), link) in &self.links {
            models.push(link.clone());
            index[a.index() * n + b.index()] = (models.len() - 1) as u32;
        }
        let service = (0..n)
            .map(|i| {
                self.service
                    .get(&NodeId::from(i))
                    .cloned()
                    .unwrap_or_else(|| self.default_service.clone())
            })
            .collect();
        ResolvedNetwork {
            n,
            models,
            index,
            service,
            slowdowns: self.slowdowns.clone(),
            partitions: self.partitions.clone(),
        }
    }
}

impl ResolvedNetwork {
    pub(crate) fn link(&self, src: NodeId, dst: NodeId) -> &LinkModel {
        if self.index.is_empty() {
            return &self.models[0];
        }
        &self.models[self.index[src.index() * self.n + dst.index()] as usize]
    }

    /// Whether every link's latency is a constant.
    pub(crate) fn all_latencies_constant(&self) -> bool {
        self.models
            .iter()
            .all(|m| matches!(m.latency, LatencyDist::Constant { .. }))
    }

    /// Whether any link limits bandwidth (then message sizes are needed).
    pub(crate) fn any_bandwidth(&self) -> bool {
        self.models
            .iter()
            .any(|m| m.bandwidth_bytes_per_sec.is_some())
    }

    pub(crate) fn blocked(&self, a: NodeId, b: NodeId, t: Duration) -> bool {
        self.partitions.iter().any(|p| p.blocks(a, b, t))
    }

    /// Extra delay (ns) and latency factor for a message `src → dst` at `t`.
    pub(crate) fn slowdown(&self, src: NodeId, dst: NodeId, t: Duration) -> (u64, f64) {
        let mut extra = 0u64;
        let mut factor = 1.0;
        for s in &self.slowdowns {
            if t < s.from || t >= s.until {
                continue;
            }
            let hit = match s.target {
                Target::Node(n) => n == dst,
                Target::Link(a, b) => (a == src && b == dst) || (a == dst && b == src),
            };
            if hit {
                extra += s.extra_latency.as_nanos() as u64;
                factor *= s.latency_factor;
            }
        }
        (extra, factor)
    }

    /// A handler's service time (ns) at `node` at `t`.
    pub(crate) fn service_ns(&self, node: NodeId, t: Duration, rng: &mut dyn RngCore) -> u64 {
        let dist = &self.service[node.index()];
        if dist.is_zero() {
            return 0;
        }
        let mut factor = 1.0;
        for s in &self.slowdowns {
            if s.target == Target::Node(node) && t >= s.from && t < s.until {
                factor *= s.service_factor;
            }
        }
        (dist.sample_ns(rng) as f64 * factor) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn sample_means_match_the_distributions() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for dist in [
            LatencyDist::Uniform {
                min_ms: 2.0,
                max_ms: 6.0,
            },
            LatencyDist::Normal {
                mean_ms: 10.0,
                sd_ms: 2.0,
            },
            LatencyDist::LogNormal {
                median_ms: 5.0,
                sigma: 0.5,
            },
            LatencyDist::Empirical {
                samples_ms: vec![1.0, 2.0, 9.0],
            },
        ] {
            let n = 20_000;
            let mean: f64 = (0..n)
                .map(|_| dist.sample_ns(&mut rng) as f64 / 1e6)
                .sum::<f64>()
                / n as f64;
            // 20 000 samples: the standard error is under 0.5% of these means; allow 3%.
            let expected = dist.mean_ms();
            assert!(
                (mean - expected).abs() < 0.03 * expected,
                "{dist:?}: mean {mean} vs {expected}"
            );
        }
    }

    #[test]
    fn partitions_block_across_sides_until_healed() {
        let p = Partition {
            from: Duration::from_secs(1),
            until: Some(Duration::from_secs(2)),
            sides: vec![vec![NodeId(0)]],
        };
        let t = Duration::from_millis(1500);
        assert!(p.blocks(NodeId(0), NodeId(1), t));
        assert!(!p.blocks(NodeId(1), NodeId(2), t));
        assert!(!p.blocks(NodeId(0), NodeId(1), Duration::from_secs(2)));
        assert!(!p.blocks(NodeId(0), NodeId(1), Duration::from_millis(999)));
    }
}
