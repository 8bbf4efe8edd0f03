//! The simulator's network and node-performance model.
//!
//! Owns what a message costs in time: per-link (or per-pair-of-groups)
//! latency distributions, bandwidth, loss, duplication and reordering, node
//! service times (per message kind if asked), and how the slowdowns and
//! partitions of [`crate::sim::condition`] combine for a message at an
//! instant. It samples; it never schedules (the event loop in
//! [`crate::sim`] does that).

use std::collections::BTreeMap;
use std::time::Duration;

use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::model::NodeId;
use crate::sim::condition::scaled;
pub use crate::sim::condition::{Partition, Shape, Slowdown, Target, message_kind};
pub use crate::sim::dist::{EMPIRICAL_SAMPLES_MAX, LatencyDist};

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
    /// Service time of handlers of messages of some kinds at a node (e.g.
    /// slow reads, fast writes), before `service`: (node, kinds, time).
    pub kind_service: Vec<(NodeId, Vec<String>, LatencyDist)>,
    /// Time-bounded slowdowns.
    pub slowdowns: Vec<Slowdown>,
    /// Scheduled partitions.
    pub partitions: Vec<Partition>,
    /// Caches that make some handlers faster ([`crate::sim::cache`]).
    pub caches: Vec<crate::sim::cache::CacheModel>,
    /// Zones whose traffic is counted ([`crate::sim::zone`]).
    pub zones: Vec<crate::sim::zone::Zone>,
}

/// A [`NetworkModel`] resolved for `n` nodes: O(1) link lookup.
#[derive(Clone, Debug)]
pub(crate) struct ResolvedNetwork {
    n: usize,
    models: Vec<LinkModel>,
    /// `n × n` indices into `models` (`src * n + dst`); empty when every
    /// link is the default one (at 10,000 nodes the matrix alone is 400 MB).
    index: Vec<u32>,
    /// Per model, its latency in ns when that is a constant: what
    /// [`LatencyDist::sample_ns`] returns for it, without the call.
    constant_ns: Vec<Option<u64>>,
    service: Vec<LatencyDist>,
    kind_service: Vec<(NodeId, Vec<String>, LatencyDist)>,
    pub(crate) slowdowns: Vec<Slowdown>,
    pub(crate) partitions: Vec<Partition>,
    /// Each node's last restart (for `after_restart` slowdowns).
    restarted: Vec<Option<Duration>>,
    /// Whether some slowdown or service time depends on a message's kind
    /// (then the engine names every message's kind).
    pub(crate) by_kind: bool,
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
        for (id, _, d) in &self.kind_service {
            node(*id)?;
            d.validate()
                .map_err(|e| format!("service time of {id}: {e}"))?;
        }
        for s in &self.slowdowns {
            s.validate()?;
            match s.target {
                Target::Node(a) => node(a)?,
                Target::Link(a, b) => {
                    node(a)?;
                    node(b)?;
                }
            }
        }
        for p in &self.partitions {
            if !(0.0..=1.0).contains(&p.loss) || p.loss == 0.0 {
                return Err(format!(
                    "partition loss = {} must be a probability in (0, 1]",
                    p.loss
                ));
            }
            for &id in p.sides.iter().flatten() {
                node(id)?;
            }
        }
        crate::sim::cache::validate_all(&self.caches, n)?;
        crate::sim::zone::validate(&self.zones, n)?;
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
        let constant_ns = (models.iter())
            .map(|m| match m.latency {
                LatencyDist::Constant { ms } => Some((ms.max(0.0) * 1e6) as u64),
                _ => None,
            })
            .collect();
        ResolvedNetwork {
            n,
            models,
            index,
            constant_ns,
            service,
            kind_service: self.kind_service.clone(),
            slowdowns: self.slowdowns.clone(),
            partitions: self.partitions.clone(),
            restarted: vec![None; n],
            by_kind: !self.kind_service.is_empty()
                || self.slowdowns.iter().any(|s| !s.kinds.is_empty()),
        }
    }
}

impl ResolvedNetwork {
    #[inline]
    pub(crate) fn link(&self, src: NodeId, dst: NodeId) -> &LinkModel {
        &self.models[self.model_of(src, dst)]
    }

    #[inline]
    fn model_of(&self, src: NodeId, dst: NodeId) -> usize {
        if self.index.is_empty() {
            return 0;
        }
        self.index[src.index() * self.n + dst.index()] as usize
    }

    /// One sample of the link's latency, in nanoseconds (a constant
    /// latency draws nothing, as [`LatencyDist::sample_ns`] does not).
    #[inline]
    pub(crate) fn sample_latency_ns(
        &self,
        src: NodeId,
        dst: NodeId,
        rng: &mut dyn rand::RngCore,
    ) -> u64 {
        let model = self.model_of(src, dst);
        match self.constant_ns[model] {
            Some(ns) => ns,
            None => self.models[model].latency.sample_ns(rng),
        }
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

    /// Whether a full cut separates `a` and `b` at `t`.
    #[inline]
    pub(crate) fn blocked(&self, a: NodeId, b: NodeId, t: Duration) -> bool {
        !self.partitions.is_empty() && self.partitions.iter().any(|p| p.blocks(a, b, t))
    }

    /// The chance that the partitions in force at `t` drop a message
    /// `a → b`: exactly 1 behind a full cut, else what the lossy cuts that
    /// separate `a` and `b` drop together.
    pub(crate) fn partition_loss(&self, a: NodeId, b: NodeId, t: Duration) -> f64 {
        let mut kept = 1.0;
        for p in self.partitions.iter().filter(|p| p.separates(a, b, t)) {
            if p.loss >= 1.0 {
                return 1.0;
            }
            kept *= 1.0 - p.loss;
        }
        1.0 - kept
    }

    /// Records that `node` restarted at `t` (starts its `after_restart` slowdowns).
    pub(crate) fn restarted(&mut self, node: NodeId, t: Duration) {
        self.restarted[node.index()] = Some(t);
    }

    /// Extra delay (ns), latency factor, and the end (ns; 0: none) of the
    /// slowdowns that hold for a message `src → dst` of `kind` sent at `t`:
    /// a message sent after that end must not wait behind this one.
    pub(crate) fn slowdown(
        &self,
        src: NodeId,
        dst: NodeId,
        t: Duration,
        kind: Option<&str>,
    ) -> (u64, f64, u64) {
        let mut extra = 0u64;
        let mut factor = 1.0;
        let mut end = 0u64;
        for s in &self.slowdowns {
            let hit = match s.target {
                Target::Node(n) => n == dst,
                Target::Link(a, b) => (a == src && b == dst) || (a == dst && b == src),
            };
            if !hit || !s.applies_to(kind) {
                continue;
            }
            let restarted = match s.target {
                Target::Node(n) => self.restarted[n.index()],
                Target::Link(..) => None,
            };
            if let Some((w, until)) = s.strength(t, restarted) {
                extra += (s.extra_latency.as_nanos() as f64 * w) as u64;
                factor *= scaled(s.latency_factor, w);
                end = end.max(u64::try_from(until.as_nanos()).unwrap_or(u64::MAX));
            }
        }
        (extra, factor, end)
    }

    /// A handler's service time (ns) at `node` at `t`, for an input of
    /// `kind` (`None`: a timer or start).
    pub(crate) fn service_ns(
        &self,
        node: NodeId,
        t: Duration,
        kind: Option<&str>,
        rng: &mut dyn RngCore,
    ) -> u64 {
        let dist = kind
            .and_then(|k| {
                self.kind_service
                    .iter()
                    .find(|(n, kinds, _)| *n == node && kinds.iter().any(|x| x == k))
            })
            .map_or(&self.service[node.index()], |(_, _, d)| d);
        if dist.is_zero() {
            return 0;
        }
        (dist.sample_ns(rng) as f64 * self.service_factor(node, t, kind)) as u64
    }

    /// The product of the `service_factor`s of the slowdowns on `node` at
    /// `t` that apply to an input of `kind`, each scaled by its strength.
    pub(crate) fn service_factor(&self, node: NodeId, t: Duration, kind: Option<&str>) -> f64 {
        let mut factor = 1.0;
        for s in &self.slowdowns {
            if s.target != Target::Node(node) || !s.applies_to(kind) {
                continue;
            }
            if let Some((w, _)) = s.strength(t, self.restarted[node.index()]) {
                factor *= scaled(s.service_factor, w);
            }
        }
        factor
    }
}
