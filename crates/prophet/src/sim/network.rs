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
    /// Pareto: `scale_ms / U^(1/shape)` for `U` uniform on (0, 1], so never
    /// below `scale_ms`; a `shape` near 1 gives a very heavy tail (the mean
    /// is infinite at `shape` ≤ 1).
    Pareto {
        /// The minimum (`x_m`).
        scale_ms: f64,
        /// The tail index (`α` > 0).
        shape: f64,
    },
    /// Measured delays, sampled by inverse transform of their empirical CDF
    /// (every measured value equally likely): `samples_ms` written inline,
    /// or the lines of `file`, which the caller reads and hands over with
    /// [`LatencyDist::load_samples`] (this crate does no I/O).
    Empirical {
        /// The samples, sorted once loaded from a file.
        #[serde(default)]
        samples_ms: Vec<f64>,
        /// A file of measured delays, one per line with its unit (`12.5ms`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file: Option<String>,
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
            LatencyDist::Pareto { scale_ms, shape }
                if !(scale_ms.is_finite()
                    && *scale_ms > 0.0
                    && shape.is_finite()
                    && *shape > 0.0) =>
            {
                Err(format!(
                    "pareto needs scale_ms > 0 and shape > 0, got {scale_ms} and {shape}"
                ))
            }
            LatencyDist::Empirical {
                samples_ms,
                file: Some(file),
            } if samples_ms.is_empty() => Err(format!("empirical file {file} holds no delay")),
            LatencyDist::Empirical { samples_ms, .. }
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
            LatencyDist::Pareto { scale_ms, shape } => {
                // Inverse CDF: F(x) = 1 - (x_m / x)^α, with 1 - U in (0, 1].
                let u: f64 = rng.random();
                scale_ms / (1.0 - u).powf(1.0 / shape)
            }
            // The inverse of the empirical CDF at a uniform U is the sample
            // of rank ⌈U·n⌉: a uniformly drawn index.
            LatencyDist::Empirical { samples_ms, .. } => {
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
            LatencyDist::Pareto { scale_ms, shape } if *shape > 1.0 => {
                shape * scale_ms / (shape - 1.0)
            }
            LatencyDist::Pareto { .. } => f64::INFINITY,
            LatencyDist::Empirical { samples_ms, .. } => {
                samples_ms.iter().sum::<f64>() / samples_ms.len().max(1) as f64
            }
        }
    }

    /// The file an empirical distribution is read from, if any.
    pub fn samples_file(&self) -> Option<&str> {
        match self {
            LatencyDist::Empirical { file, .. } => file.as_deref(),
            _ => None,
        }
    }

    /// Fills an empirical distribution read from a file with `text`'s
    /// delays: one per line with its unit (`12.5ms`, `0.8s`, `900us`);
    /// blank lines and lines starting with `#` are skipped. At most
    /// [`EMPIRICAL_SAMPLES_MAX`] values. The error names the file and line.
    pub fn load_samples(&mut self, text: &str) -> Result<(), String> {
        let LatencyDist::Empirical {
            samples_ms,
            file: Some(file),
        } = self
        else {
            return Ok(());
        };
        let mut samples = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |why: &str| format!("{file}: line {}: `{line}` {why}", i + 1);
            if line.ends_with(|c: char| c.is_ascii_digit() || c == '.') {
                return Err(bad(
                    "has no unit: write each delay with one (12.5ms, 0.8s, 900us)",
                ));
            }
            let d = crate::sim::scenario::parse_duration(line)
                .map_err(|e| format!("{file}: line {}: {e}", i + 1))?;
            if samples.len() >= EMPIRICAL_SAMPLES_MAX {
                return Err(bad(&format!(
                    "is past the limit of {EMPIRICAL_SAMPLES_MAX} delays per file"
                )));
            }
            samples.push(d.as_secs_f64() * 1e3);
        }
        if samples.is_empty() {
            return Err(format!(
                "{file}: holds no delay (expected one per line with its unit, e.g. 12.5ms)"
            ));
        }
        samples.sort_by(f64::total_cmp);
        *samples_ms = samples;
        Ok(())
    }
}

/// Most delays one empirical file may hold.
pub const EMPIRICAL_SAMPLES_MAX: usize = 10_000_000;

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

/// How a slowdown's strength varies inside its window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub enum Shape {
    /// Full strength for the whole window.
    #[default]
    Steady,
    /// On for the first `duty` of every `period` counted from the window's
    /// start, off for the rest (an alternating replica).
    Periodic {
        /// Length of one on-and-off cycle (> 0).
        period: Duration,
        /// Fraction of the period that is on, in (0, 1).
        duty: f64,
    },
    /// Full strength at the window's start, fading linearly to none at its
    /// end (a cold cache warming up).
    Ramp,
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
    /// How the strength varies inside the window.
    #[serde(default)]
    pub shape: Shape,
    /// When set, the window is instead this long from each restart of the
    /// target node (still only between `from` and `until`).
    #[serde(default)]
    pub after_restart: Option<Duration>,
    /// Message kinds affected (the variant name `Debug` prints, e.g.
    /// `Read`); empty: all messages. A handler of a kind not listed, or of a
    /// timer, runs at normal speed.
    #[serde(default)]
    pub kinds: Vec<String>,
}

impl Slowdown {
    /// A steady slowdown of `target` from `from` until `until` that changes
    /// nothing yet (set the effects on the result).
    pub fn window(from: Duration, until: Duration, target: Target) -> Self {
        Slowdown {
            from,
            until,
            target,
            extra_latency: Duration::ZERO,
            latency_factor: 1.0,
            service_factor: 1.0,
            shape: Shape::Steady,
            after_restart: None,
            kinds: Vec::new(),
        }
    }

    /// Checks the shape's parameters.
    pub fn validate(&self) -> Result<(), String> {
        if let Shape::Periodic { period, duty } = self.shape {
            if period.is_zero() {
                return Err("period must be > 0".into());
            }
            if !(duty > 0.0 && duty < 1.0) {
                return Err(format!("duty = {duty} must be in (0, 1)"));
            }
        }
        if self.after_restart.is_some() && !matches!(self.target, Target::Node(_)) {
            return Err("after_restart needs a node target (the node that restarts)".into());
        }
        for (name, f) in [
            ("latency_factor", self.latency_factor),
            ("service_factor", self.service_factor),
        ] {
            if !(f.is_finite() && f > 0.0) {
                return Err(format!("{name} = {f} must be > 0"));
            }
        }
        Ok(())
    }

    /// Whether a message or handler of `kind` (`None`: a timer or start) is affected.
    fn applies_to(&self, kind: Option<&str>) -> bool {
        self.kinds.is_empty() || kind.is_some_and(|k| self.kinds.iter().any(|x| x == k))
    }

    /// The strength at `t` (1 = full, 0 exclusive = none) and the end of the
    /// stretch it holds in, or `None` when inactive; `restarted` is the
    /// target's last restart.
    pub fn strength(&self, t: Duration, restarted: Option<Duration>) -> Option<(f64, Duration)> {
        if t < self.from || t >= self.until {
            return None;
        }
        let (start, end) = match self.after_restart {
            None => (self.from, self.until),
            Some(lasts) => {
                let r = restarted?;
                if t < r || t >= r + lasts {
                    return None;
                }
                (r, (r + lasts).min(self.until))
            }
        };
        match self.shape {
            Shape::Steady => Some((1.0, end)),
            Shape::Periodic { period, duty } => {
                let into = Duration::from_nanos(
                    ((t - start).as_nanos() % period.as_nanos().max(1)) as u64,
                );
                let on = period.mul_f64(duty);
                (into < on).then(|| (1.0, (t - into + on).min(end)))
            }
            Shape::Ramp => {
                let span = (end - start).as_secs_f64();
                let w = 1.0 - (t - start).as_secs_f64() / span.max(1e-12);
                (w > 0.0).then_some((w, end))
            }
        }
    }
}

/// A factor `f` at strength `w`: `f` at full strength, 1 at none.
fn scaled(f: f64, w: f64) -> f64 {
    1.0 + (f - 1.0) * w
}

/// Nodes split into sides that cannot talk to each other, from `from` until
/// `until` (healed then; `None`: never heals). Nodes in no listed side form
/// one more side together, unless `listed_only`: then only links between
/// two listed sides are cut (two groups cut off from each other while both
/// still reach everyone else).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Partition {
    /// Start (inclusive).
    pub from: Duration,
    /// Heal time (exclusive).
    pub until: Option<Duration>,
    /// The sides.
    pub sides: Vec<Vec<NodeId>>,
    /// Only links between two listed sides are cut.
    #[serde(default)]
    pub listed_only: bool,
    /// Probability a message across the cut is lost (1: a full cut, and
    /// messages in flight across it when it starts are lost too).
    #[serde(default = "certain")]
    pub loss: f64,
}

fn certain() -> f64 {
    1.0
}

impl Partition {
    /// A full cut between `sides` (and the nodes in none) from `from`.
    pub fn new(from: Duration, until: Option<Duration>, sides: Vec<Vec<NodeId>>) -> Self {
        Partition {
            from,
            until,
            sides,
            listed_only: false,
            loss: 1.0,
        }
    }

    fn side(&self, node: NodeId) -> Option<usize> {
        match self.sides.iter().position(|side| side.contains(&node)) {
            Some(i) => Some(i),
            None if self.listed_only => None,
            None => Some(self.sides.len()),
        }
    }

    /// Whether the partition stands between `a` and `b` at time `t`
    /// (fully or lossily).
    pub fn separates(&self, a: NodeId, b: NodeId, t: Duration) -> bool {
        t >= self.from
            && self.until.is_none_or(|u| t < u)
            && match (self.side(a), self.side(b)) {
                (Some(x), Some(y)) => x != y,
                _ => false,
            }
    }

    /// Whether the partition fully cuts `a` from `b` at time `t`.
    pub fn blocks(&self, a: NodeId, b: NodeId, t: Duration) -> bool {
        self.loss >= 1.0 && self.separates(a, b, t)
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
}

/// A [`NetworkModel`] resolved for `n` nodes: O(1) link lookup.
#[derive(Clone, Debug)]
pub(crate) struct ResolvedNetwork {
    n: usize,
    models: Vec<LinkModel>,
    /// `n × n` indices into `models` (`src * n + dst`).
    index: Vec<u32>,
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
        Ok(())
    }

    pub(crate) fn resolve(&self, n: usize) -> ResolvedNetwork {
        let mut models = vec![self.default_link.clone()];
        let mut index = vec![0u32; n * n];
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
    pub(crate) fn link(&self, src: NodeId, dst: NodeId) -> &LinkModel {
        &self.models[self.index[src.index() * self.n + dst.index()] as usize]
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

    /// The chance that lossy partitions drop a message `a → b` sent at `t`.
    pub(crate) fn partition_loss(&self, a: NodeId, b: NodeId, t: Duration) -> f64 {
        let kept: f64 = self
            .partitions
            .iter()
            .filter(|p| p.loss < 1.0 && p.separates(a, b, t))
            .map(|p| 1.0 - p.loss)
            .product();
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
        let mut factor = 1.0;
        for s in &self.slowdowns {
            if s.target != Target::Node(node) || !s.applies_to(kind) {
                continue;
            }
            if let Some((w, _)) = s.strength(t, self.restarted[node.index()]) {
                factor *= scaled(s.service_factor, w);
            }
        }
        (dist.sample_ns(rng) as f64 * factor) as u64
    }
}

/// A message's kind: its enum variant's name as `Debug` prints it (`Read`
/// for `KvMsg::Read { .. }`), or the type's name for a struct. Only the
/// name is formatted: the writer stops at its end.
pub fn message_kind<M: std::fmt::Debug>(msg: &M) -> String {
    struct Name(String);
    impl std::fmt::Write for Name {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            for c in s.chars() {
                if c.is_alphanumeric() || c == '_' {
                    self.0.push(c);
                } else {
                    return Err(std::fmt::Error);
                }
            }
            Ok(())
        }
    }
    let mut name = Name(String::new());
    // Stopping at the first character after the name is the writer's error.
    let _ = std::fmt::write(&mut name, format_args!("{msg:?}"));
    name.0
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
                file: None,
            },
            LatencyDist::Pareto {
                scale_ms: 2.0,
                shape: 3.0,
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
    fn pareto_and_empirical_quantiles_match_their_cdfs() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let n = 40_000;
        // Pareto(x_m = 2, α = 1.5): P(X > x) = (2 / x)^1.5, so the median is
        // 2 · 2^(1/1.5) ≈ 3.175 and the 99th percentile 2 · 100^(1/1.5) ≈ 43.09.
        let pareto = LatencyDist::Pareto {
            scale_ms: 2.0,
            shape: 1.5,
        };
        let mut xs: Vec<f64> = (0..n)
            .map(|_| pareto.sample_ns(&mut rng) as f64 / 1e6)
            .collect();
        xs.sort_by(f64::total_cmp);
        assert!(xs[0] >= 2.0);
        // Quantile margins: ±2% at the median, ±8% at p99 (its standard
        // error over 40 000 samples is about 3%).
        let (p50, p99) = (xs[n / 2], xs[n * 99 / 100]);
        assert!((p50 / 3.175 - 1.0).abs() < 0.02, "p50 {p50}");
        assert!((p99 / 43.09 - 1.0).abs() < 0.08, "p99 {p99}");
        // Measured delays from a file: each value equally likely.
        let mut dist = LatencyDist::Empirical {
            samples_ms: Vec::new(),
            file: Some("measured.txt".into()),
        };
        dist.load_samples("# read latencies\n4ms\n\n1ms\n0.002s\n3000us\n")
            .expect("loads");
        assert_eq!(
            dist,
            LatencyDist::Empirical {
                samples_ms: vec![1.0, 2.0, 3.0, 4.0],
                file: Some("measured.txt".into()),
            }
        );
        let mut counts = [0u32; 4];
        for _ in 0..n {
            counts[(dist.sample_ns(&mut rng) / 1_000_000) as usize - 1] += 1;
        }
        // Each a quarter: sd ≈ 87 of 10 000; margin 400.
        assert!(
            counts.iter().all(|&c| c.abs_diff(10_000) < 400),
            "{counts:?}"
        );
    }

    #[test]
    fn a_bad_empirical_file_names_its_line() {
        let mut dist = LatencyDist::Empirical {
            samples_ms: Vec::new(),
            file: Some("m.txt".into()),
        };
        let e = dist.load_samples("1ms\n2.5\n").unwrap_err();
        assert!(e.contains("m.txt: line 2: `2.5` has no unit"), "{e}");
        let e = dist.load_samples("1ms\nfast\n").unwrap_err();
        assert!(e.contains("m.txt: line 2: `fast`"), "{e}");
        let e = dist.load_samples("# nothing\n\n").unwrap_err();
        assert!(e.contains("m.txt: holds no delay"), "{e}");
        assert!(dist.validate().unwrap_err().contains("m.txt"));
    }

    #[test]
    fn shapes_hold_in_their_windows() {
        let s = |shape| Slowdown {
            shape,
            ..Slowdown::window(
                Duration::from_secs(2),
                Duration::from_secs(10),
                Target::Node(NodeId(0)),
            )
        };
        let at = |ms| Duration::from_millis(ms);
        let periodic = s(Shape::Periodic {
            period: Duration::from_secs(4),
            duty: 0.5,
        });
        assert_eq!(periodic.strength(at(1_999), None), None);
        assert_eq!(periodic.strength(at(2_000), None), Some((1.0, at(4_000))));
        assert_eq!(periodic.strength(at(3_999), None), Some((1.0, at(4_000))));
        assert_eq!(periodic.strength(at(4_000), None), None);
        assert_eq!(periodic.strength(at(6_500), None), Some((1.0, at(8_000))));
        // The last on-stretch ends with the window.
        assert_eq!(periodic.strength(at(9_000), None), None);
        assert_eq!(periodic.strength(at(10_000), None), None);
        let ramp = s(Shape::Ramp);
        assert_eq!(ramp.strength(at(2_000), None), Some((1.0, at(10_000))));
        assert_eq!(ramp.strength(at(6_000), None), Some((0.5, at(10_000))));
        let after = Slowdown {
            after_restart: Some(at(1_000)),
            ..s(Shape::Steady)
        };
        assert_eq!(after.strength(at(5_000), None), None);
        assert_eq!(
            after.strength(at(5_500), Some(at(5_000))),
            Some((1.0, at(6_000)))
        );
        assert_eq!(after.strength(at(6_000), Some(at(5_000))), None);
        let bad = s(Shape::Periodic {
            period: Duration::ZERO,
            duty: 0.5,
        });
        assert!(bad.validate().unwrap_err().contains("period"));
    }

    #[test]
    fn partitions_block_across_sides_until_healed() {
        let p = Partition::new(
            Duration::from_secs(1),
            Some(Duration::from_secs(2)),
            vec![vec![NodeId(0)]],
        );
        let t = Duration::from_millis(1500);
        assert!(p.blocks(NodeId(0), NodeId(1), t));
        assert!(!p.blocks(NodeId(1), NodeId(2), t));
        assert!(!p.blocks(NodeId(0), NodeId(1), Duration::from_secs(2)));
        assert!(!p.blocks(NodeId(0), NodeId(1), Duration::from_millis(999)));
    }
}
