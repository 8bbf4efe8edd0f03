//! Scenario files: a documented TOML format naming a system, its
//! parameters, the network and node model, load, faults, horizon, seeds and
//! policies, so that a simulation is a file anyone can rerun.
//!
//! This module parses text (reading the file is the caller's job) into a
//! [`Scenario`] and converts its parts into the simulator's types. Every
//! field is documented in the guide chapter "Simulating a system". Errors
//! name the line and the field: syntax, unknown fields, wrong types, bad
//! durations, distributions and policy names come from the TOML parser with
//! its position; node ids out of range are reported with the section.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

mod objectives;
pub use objectives::{ConstraintSpec, ObjectiveSpec};

use crate::choice::PolicySpec;
use crate::model::NodeId;
use crate::sim::fault::{Fault, Load, Phase, Stream};
use crate::sim::network::{
    LatencyDist, LinkModel, NetworkModel, Partition, Shape, Slowdown, Target,
};

/// Why a scenario was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScenarioError {
    /// The file is not valid TOML or does not fit the format; the message
    /// names the line, column and field.
    #[error("{file}: {message}")]
    Parse {
        /// The file's name.
        file: String,
        /// The parser's message, with position.
        message: String,
    },
    /// A value is well-formed but not acceptable.
    #[error("{file}: line {line}: `{field}`: {message}")]
    Invalid {
        /// The file's name.
        file: String,
        /// 1-based line of the field.
        line: usize,
        /// The field.
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// Most seeds one scenario or command runs.
pub const SEEDS_MAX: u64 = 10_000;

/// Parses `500ms`, `30s`, `1.5s`, `2m`, `1h` (a bare number is seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.starts_with('-') {
        return Err(format!(
            "`{text}` is negative: a duration is 0 or more (examples: 500ms, 30s, 2m, 1h)"
        ));
    }
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (examples: 500ms, 30s, 2m, 1h)"))?;
    let seconds = match unit.trim() {
        "us" => value / 1e6,
        "ms" => value / 1e3,
        "" | "s" => value,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}` (use us, ms, s, m or h)"
            ));
        }
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("`{text}` is out of range"))
}

/// A duration written as text (`"250ms"`, `"2s"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Span(pub Duration);

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse_duration(&text).map(Span).map_err(de::Error::custom)
    }
}

/// A policy name, checked while parsing.
#[derive(Clone, Debug)]
pub struct PolicyName(pub PolicySpec);

impl<'de> Deserialize<'de> for PolicyName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        PolicySpec::parse(&text)
            .map(PolicyName)
            .map_err(de::Error::custom)
    }
}

/// A set of nodes: a list of ids, one id, or a range `"a..b"` (b
/// excluded), with its byte span in the file (for errors).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeSet(pub Vec<NodeId>, pub Option<std::ops::Range<usize>>);

impl<'de> Deserialize<'de> for NodeSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            List(Vec<u32>),
            One(u32),
            Range(String),
        }
        let spanned = toml::Spanned::<Raw>::deserialize(d)?;
        let span = Some(spanned.span());
        match spanned.into_inner() {
            Raw::List(ids) => Ok(NodeSet(ids.into_iter().map(NodeId).collect(), span)),
            Raw::One(id) => Ok(NodeSet(vec![NodeId(id)], span)),
            Raw::Range(text) => {
                let bad =
                    || de::Error::custom(format!("`{text}` is not a node range like \"0..11\""));
                let (a, b) = text.split_once("..").ok_or_else(bad)?;
                let (a, b): (u32, u32) = (
                    a.trim().parse().map_err(|_| bad())?,
                    b.trim().parse().map_err(|_| bad())?,
                );
                if a >= b {
                    return Err(bad());
                }
                Ok(NodeSet((a..b).map(NodeId).collect(), span))
            }
        }
    }
}

/// Seeds to run: `first`, `first + 1`, … (`count` of them).
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seeds {
    /// The first seed.
    #[serde(default)]
    pub first: u64,
    /// How many.
    #[serde(default = "one")]
    pub count: u64,
}

fn one() -> u64 {
    1
}

/// The kind of `[load]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LoadKind {
    /// No external requests.
    None,
    /// Poisson arrivals at `rate_per_sec`.
    Open,
    /// Each client keeps `outstanding` requests in flight, `think` apart.
    Closed,
}

/// `[load]`: how requests arrive. (A flat table rather than a tagged enum
/// so that parse errors keep the exact line of the field.)
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadSpec {
    /// `none`, `open` or `closed`.
    pub kind: LoadKind,
    /// Open loop: mean arrivals per second.
    #[serde(default)]
    pub rate_per_sec: Option<f64>,
    /// Closed loop: requests in flight per client (default 1).
    #[serde(default)]
    pub outstanding: Option<u32>,
    /// Closed loop: think time (default 0).
    #[serde(default)]
    pub think: Option<LatencyDist>,
    /// Open loop: how the rate of the load over all clients changes
    /// (`rate_per_sec` holds until the first phase).
    #[serde(default)]
    pub phases: Vec<PhaseSpec>,
    /// Open loop: more load from the clients of one group each.
    #[serde(default)]
    pub groups: Vec<GroupLoadSpec>,
}

/// `[[load.phases]]`: from `from` on, `rate_per_sec` (ramping to
/// `ramp_to_per_sec` by the next phase's `from`, if given).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseSpec {
    /// Start.
    pub from: Span,
    /// Arrivals per second from `from`.
    pub rate_per_sec: f64,
    /// Rate reached at the next phase's start (a ramp).
    #[serde(default)]
    pub ramp_to_per_sec: Option<f64>,
}

/// `[[load.groups]]`: load issued by the clients of a `[[network.groups]]` group.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupLoadSpec {
    /// The group.
    pub group: String,
    /// Arrivals per second from 0 (default 0).
    #[serde(default)]
    pub rate_per_sec: Option<f64>,
    /// Changes of that rate.
    #[serde(default)]
    pub phases: Vec<PhaseSpec>,
}

/// `[[network.groups]]`: a named group of nodes.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    /// The group's name.
    pub name: String,
    /// Its nodes.
    pub nodes: NodeSet,
}

/// `[[network.group_links]]`: the link model between two groups (both directions).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupLinkSpec {
    /// The two groups (may be the same group, for links inside it).
    pub between: [String; 2],
    /// One-way latency (default: 1 ms constant).
    #[serde(default = "default_latency")]
    pub latency: LatencyDist,
    /// Bytes per second (absent: unlimited).
    #[serde(default)]
    pub bandwidth_bytes_per_sec: Option<f64>,
    /// Loss probability.
    #[serde(default)]
    pub loss: f64,
    /// Duplication probability.
    #[serde(default)]
    pub duplicate: f64,
    /// Reordering probability.
    #[serde(default)]
    pub reorder: f64,
}

/// `[[network.links]]`: the model of the directed links from `from` to `to`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// Senders.
    pub from: NodeSet,
    /// Receivers.
    pub to: NodeSet,
    /// Also the reverse direction.
    #[serde(default)]
    pub both_ways: bool,
    /// One-way latency (default: 1 ms constant).
    #[serde(default = "default_latency")]
    pub latency: LatencyDist,
    /// Bytes per second (absent: unlimited).
    #[serde(default)]
    pub bandwidth_bytes_per_sec: Option<f64>,
    /// Loss probability.
    #[serde(default)]
    pub loss: f64,
    /// Duplication probability.
    #[serde(default)]
    pub duplicate: f64,
    /// Reordering probability.
    #[serde(default)]
    pub reorder: f64,
}

/// `[[network.service]]`: handler service time at some nodes.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// The nodes.
    pub nodes: NodeSet,
    /// Time per handler.
    pub time: LatencyDist,
    /// Only handlers of messages of these kinds (e.g. `["Read"]`); absent:
    /// every handler without a more specific entry.
    #[serde(default)]
    pub kinds: Vec<String>,
}

fn default_latency() -> LatencyDist {
    LinkModel::default().latency
}

macro_rules! link_of {
    ($spec:expr) => {
        LinkModel {
            latency: $spec.latency.clone(),
            bandwidth_bytes_per_sec: $spec.bandwidth_bytes_per_sec,
            loss: $spec.loss,
            duplicate: $spec.duplicate,
            reorder: $spec.reorder,
        }
    };
}

/// `[network]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    /// Links without a more specific model.
    #[serde(default)]
    pub default: Option<LinkModel>,
    /// Named groups.
    #[serde(default)]
    pub groups: Vec<GroupSpec>,
    /// Links between groups.
    #[serde(default)]
    pub group_links: Vec<GroupLinkSpec>,
    /// Per-link models.
    #[serde(default)]
    pub links: Vec<LinkSpec>,
    /// Service times.
    #[serde(default)]
    pub service: Vec<ServiceSpec>,
}

/// `[[slowdowns]]`: a node or a link slows down between two instants.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlowdownSpec {
    /// Affected nodes (messages arriving at them, and their handlers).
    #[serde(default)]
    pub nodes: Option<NodeSet>,
    /// Or an affected link `[a, b]` (both directions).
    #[serde(default)]
    pub link: Option<[u32; 2]>,
    /// Start (default 0 with `after_restart`).
    #[serde(default)]
    pub from: Option<Span>,
    /// End (default: never, with `after_restart`).
    #[serde(default)]
    pub until: Option<Span>,
    /// Repeat: on for `duty` of every `period` from `from`.
    #[serde(default)]
    pub period: Option<Span>,
    /// Fraction of each period that is slow, in (0, 1).
    #[serde(default)]
    pub duty: Option<f64>,
    /// Fade linearly from full strength to none over the window.
    #[serde(default)]
    pub ramp: bool,
    /// Instead of a fixed window: this long from each restart of the nodes.
    #[serde(default)]
    pub after_restart: Option<Span>,
    /// Only messages (and their handlers) of these kinds.
    #[serde(default)]
    pub kinds: Vec<String>,
    /// Added delay.
    #[serde(default)]
    pub extra_latency: Option<Span>,
    /// Latency multiplier.
    #[serde(default = "unit")]
    pub latency_factor: f64,
    /// Service-time multiplier.
    #[serde(default = "unit")]
    pub service_factor: f64,
}

fn unit() -> f64 {
    1.0
}

/// `[[partitions]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionSpec {
    /// Start.
    pub from: Span,
    /// Heal time (absent: never heals).
    #[serde(default)]
    pub until: Option<Span>,
    /// The sides; nodes not listed form one more side.
    #[serde(default)]
    pub sides: Vec<NodeSet>,
    /// Or two `[[network.groups]]` cut off from each other only.
    #[serde(default)]
    pub between: Option<[String; 2]>,
    /// Probability a message across the cut is lost (default 1: a full cut).
    #[serde(default)]
    pub loss: Option<f64>,
}

/// The kind of a `[[faults]]` entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// `nodes` crash `at`, restarting `restart_after` later if given.
    Crash,
    /// Random crashes among `nodes` at `rate_per_sec`, each down for a `down_for` sample.
    Churn,
}

/// `[[faults]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// `crash` or `churn`.
    pub kind: FaultKind,
    /// The nodes concerned.
    pub nodes: NodeSet,
    /// Crash: when.
    #[serde(default)]
    pub at: Option<Span>,
    /// Crash: restart this much later (absent: stay down).
    #[serde(default)]
    pub restart_after: Option<Span>,
    /// Churn: crashes per second.
    #[serde(default)]
    pub rate_per_sec: Option<f64>,
    /// Churn: down time of each crash.
    #[serde(default)]
    pub down_for: Option<LatencyDist>,
    /// Churn: start (default 0).
    #[serde(default)]
    pub from: Option<Span>,
    /// Churn: end (default: the horizon).
    #[serde(default)]
    pub until: Option<Span>,
}

/// `[compare]`: run the scenario once per policy of one choice.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompareSpec {
    /// The choice whose policy varies.
    pub choice: String,
    /// The policies to compare.
    pub policies: Vec<PolicyName>,
}

/// A scenario file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// The built-in system (as `prophet list` names it).
    pub system: String,
    /// One line on what the scenario shows.
    #[serde(default)]
    pub description: Option<String>,
    /// The system's parameters.
    #[serde(default)]
    pub params: BTreeMap<String, toml::Value>,
    /// Simulated time per run (default 60s).
    #[serde(default)]
    pub horizon: Option<Span>,
    /// Seeds.
    #[serde(default)]
    pub seeds: Option<Seeds>,
    /// Event bound per run.
    #[serde(default)]
    pub max_events: Option<u64>,
    /// Wall-clock budget per run.
    #[serde(default)]
    pub wall_budget: Option<Span>,
    /// Policy per choice name.
    #[serde(default)]
    pub policies: BTreeMap<String, PolicyName>,
    /// Policy for choices not named.
    #[serde(default)]
    pub default_policy: Option<PolicyName>,
    /// Policies to compare.
    #[serde(default)]
    pub compare: Option<CompareSpec>,
    /// Load.
    #[serde(default)]
    pub load: Option<LoadSpec>,
    /// Network and node model.
    #[serde(default)]
    pub network: Option<NetworkSpec>,
    /// Slowdowns.
    #[serde(default)]
    pub slowdowns: Vec<SlowdownSpec>,
    /// Partitions.
    #[serde(default)]
    pub partitions: Vec<PartitionSpec>,
    /// Faults.
    #[serde(default)]
    pub faults: Vec<FaultSpec>,
    /// Caches: faster service for recently handled keys (`crate::sim::cache`).
    #[serde(default)]
    pub caches: Vec<crate::sim::cache::CacheSpec>,
    /// Zones whose traffic is counted (`crate::sim::zone`).
    #[serde(default)]
    pub zones: Vec<crate::sim::zone::ZoneSpec>,
    /// Objectives besides the system's.
    #[serde(default)]
    pub objectives: Vec<ObjectiveSpec>,
    /// Constraints besides the system's.
    #[serde(default)]
    pub constraints: Vec<ConstraintSpec>,
    #[serde(skip)]
    source: Source,
}

#[derive(Clone, Debug, Default)]
struct Source {
    file: String,
    text: String,
}

impl Scenario {
    /// Parses a scenario; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Scenario, ScenarioError> {
        let mut scenario: Scenario = toml::from_str(text).map_err(|e| ScenarioError::Parse {
            file: file.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        scenario.source = Source {
            file: file.to_string(),
            text: text.to_string(),
        };
        if let Some(seeds) = scenario.seeds
            && !(1..=SEEDS_MAX).contains(&seeds.count)
        {
            return Err(scenario.invalid(
                "seeds.count",
                format!(
                    "{} runs no seed at all or too many: give 1 to {SEEDS_MAX}",
                    seeds.count
                ),
            ));
        }
        Ok(scenario)
    }

    /// An error about `field`, located at its first occurrence in the file.
    pub fn invalid(&self, field: &str, message: impl fmt::Display) -> ScenarioError {
        let key = field.rsplit('.').next().unwrap_or(field);
        let line = self
            .source
            .text
            .lines()
            .position(|l| {
                let l = l.trim_start();
                l.starts_with(key)
                    || l.starts_with(&format!("[{key}"))
                    || l.starts_with(&format!("[[{key}"))
            })
            .map_or(0, |i| i + 1);
        ScenarioError::Invalid {
            file: self.source.file.clone(),
            line,
            field: field.to_string(),
            message: message.to_string(),
        }
    }

    /// An error about `field` at byte span `span` of the file (located by
    /// name when the span is unknown).
    pub fn invalid_at(
        &self,
        field: &str,
        span: Option<std::ops::Range<usize>>,
        message: impl fmt::Display,
    ) -> ScenarioError {
        match span {
            Some(span) => ScenarioError::Invalid {
                file: self.source.file.clone(),
                line: self.source.text[..span.start.min(self.source.text.len())]
                    .matches('\n')
                    .count()
                    + 1,
                field: field.to_string(),
                message: message.to_string(),
            },
            None => self.invalid(field, message),
        }
    }

    /// The parameters as `key=value` pairs.
    pub fn param_pairs(&self) -> Vec<String> {
        self.params
            .iter()
            .map(|(k, v)| match v {
                toml::Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect()
    }

    /// The horizon (default 60 s).
    pub fn horizon(&self) -> Duration {
        self.horizon.map_or(Duration::from_secs(60), |s| s.0)
    }

    /// The seeds to run.
    pub fn seed_list(&self) -> Vec<u64> {
        let s = self.seeds.unwrap_or(Seeds { first: 0, count: 1 });
        (s.first..s.first.saturating_add(s.count.max(1))).collect()
    }

    /// The load, if the file gives one.
    pub fn load(&self) -> Result<Option<Load>, ScenarioError> {
        let Some(l) = &self.load else {
            return Ok(None);
        };
        let phased = !l.phases.is_empty() || !l.groups.is_empty();
        if phased && l.kind != LoadKind::Open {
            return Err(self.invalid(
                "load.phases",
                "phases and groups schedule an open load: set kind = \"open\"",
            ));
        }
        Ok(Some(match l.kind {
            LoadKind::None => Load::None,
            LoadKind::Open if phased => {
                let mut streams = Vec::new();
                if l.rate_per_sec.is_some() || !l.phases.is_empty() {
                    streams.push(Stream {
                        clients: None,
                        phases: self.phases("load", l.rate_per_sec, &l.phases)?,
                    });
                }
                for g in &l.groups {
                    streams.push(Stream {
                        clients: Some(self.group_nodes("load.groups.group", &g.group)?),
                        phases: self.phases("load.groups", g.rate_per_sec, &g.phases)?,
                    });
                }
                Load::Phased { streams }
            }
            LoadKind::Open => match l.rate_per_sec {
                Some(r) if r.is_finite() && r > 0.0 => Load::Open { rate_per_sec: r },
                Some(r) => {
                    return Err(self.invalid("load.rate_per_sec", format!("{r} must be > 0")));
                }
                None => return Err(self.invalid("load", "an open load needs `rate_per_sec`")),
            },
            LoadKind::Closed => {
                let think = l.think.clone().unwrap_or_default();
                think
                    .validate()
                    .map_err(|e| self.invalid("load.think", e))?;
                Load::Closed {
                    outstanding: l.outstanding.unwrap_or(1),
                    think,
                }
            }
        }))
    }

    /// A stream's schedule: `base` from 0 (absent: 0), then `specs`.
    fn phases(
        &self,
        field: &str,
        base: Option<f64>,
        specs: &[PhaseSpec],
    ) -> Result<Vec<Phase>, ScenarioError> {
        let mut out = Vec::new();
        let from_base = specs.first().is_none_or(|p| !p.from.0.is_zero());
        if from_base {
            out.push(Phase {
                from: Duration::ZERO,
                rate_per_sec: base.unwrap_or(0.0),
                ramp_to_per_sec: None,
            });
        }
        out.extend(specs.iter().map(|p| Phase {
            from: p.from.0,
            rate_per_sec: p.rate_per_sec,
            ramp_to_per_sec: p.ramp_to_per_sec,
        }));
        for (i, p) in out.iter().enumerate() {
            for r in std::iter::once(p.rate_per_sec).chain(p.ramp_to_per_sec) {
                if !(r.is_finite() && r >= 0.0) {
                    let which = if i == 0 && from_base {
                        format!("{field}.rate_per_sec")
                    } else {
                        format!("{field}.phases.rate_per_sec")
                    };
                    return Err(self.invalid(
                        &which,
                        format!("{r} is not a rate: give arrivals per second ≥ 0"),
                    ));
                }
            }
        }
        Stream {
            clients: None,
            phases: out.clone(),
        }
        .validate()
        .map_err(|e| self.invalid(&format!("{field}.phases"), e))?;
        Ok(out)
    }

    /// The nodes of the `[[network.groups]]` group `name`.
    fn group_nodes(&self, field: &str, name: &str) -> Result<Vec<NodeId>, ScenarioError> {
        let groups = self.network.as_ref().map_or(&[][..], |n| &n.groups[..]);
        match groups.iter().find(|g| g.name == name) {
            Some(g) => Ok(g.nodes.0.clone()),
            None => {
                let known: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
                Err(self.invalid(
                    field,
                    if known.is_empty() {
                        format!("no group named `{name}`: declare it in [[network.groups]]")
                    } else {
                        format!(
                            "no group named `{name}` (the groups are: {})",
                            known.join(", ")
                        )
                    },
                ))
            }
        }
    }

    /// Every latency distribution of the file.
    fn dists_mut(&mut self) -> Vec<&mut LatencyDist> {
        let mut out = Vec::new();
        if let Some(net) = &mut self.network {
            if let Some(link) = &mut net.default {
                out.push(&mut link.latency);
            }
            out.extend(net.group_links.iter_mut().map(|l| &mut l.latency));
            out.extend(net.links.iter_mut().map(|l| &mut l.latency));
            out.extend(net.service.iter_mut().map(|s| &mut s.time));
        }
        if let Some(think) = self.load.as_mut().and_then(|l| l.think.as_mut()) {
            out.push(think);
        }
        out.extend(self.faults.iter_mut().filter_map(|f| f.down_for.as_mut()));
        out
    }

    /// The files that `dist = "empirical"` distributions name, each once,
    /// as written (relative to the scenario file's directory): the caller
    /// reads them and hands each to [`Scenario::load_empirical`].
    pub fn empirical_files(&mut self) -> Vec<String> {
        let mut files: Vec<String> = self
            .dists_mut()
            .into_iter()
            .filter_map(|d| d.samples_file().map(str::to_string))
            .collect();
        files.sort();
        files.dedup();
        files
    }

    /// Fills the empirical distributions that name `file` with `text`'s
    /// delays (one per line, with a unit).
    pub fn load_empirical(&mut self, file: &str, text: &str) -> Result<(), ScenarioError> {
        let mut result = Ok(());
        for d in self.dists_mut() {
            if d.samples_file() != Some(file) {
                continue;
            }
            if let LatencyDist::Empirical { samples_ms, .. } = d
                && !samples_ms.is_empty()
            {
                result = Err("give `samples_ms` or `file`, not both".to_string());
                break;
            }
            if let Err(e) = d.load_samples(text) {
                result = Err(e);
                break;
            }
        }
        result.map_err(|e| self.invalid("file", e))
    }

    /// Applies the file's network section, slowdowns and partitions to
    /// `base` (the system's default model), checked against `nodes` nodes.
    pub fn network_model(
        &self,
        base: NetworkModel,
        nodes: usize,
    ) -> Result<NetworkModel, ScenarioError> {
        let mut model = base;
        let check = |field: &str, set: &NodeSet| -> Result<(), ScenarioError> {
            match set.0.iter().find(|id| id.index() >= nodes) {
                Some(bad) => Err(self.invalid_at(
                    field,
                    set.1.clone(),
                    format!(
                        "node {} does not exist (the system has {nodes} nodes: 0..{nodes})",
                        bad.0
                    ),
                )),
                None => Ok(()),
            }
        };
        if let Some(net) = &self.network {
            if let Some(link) = &net.default {
                link.validate()
                    .map_err(|e| self.invalid("network.default", e))?;
                model.default_link = link.clone();
            }
            for g in &net.groups {
                check("network.groups.nodes", &g.nodes)?;
                for &id in &g.nodes.0 {
                    model.groups.insert(id, g.name.clone());
                }
            }
            for gl in &net.group_links {
                for name in &gl.between {
                    if !net.groups.iter().any(|g| &g.name == name) {
                        return Err(
                            self.invalid("network.group_links", format!("no group named `{name}`"))
                        );
                    }
                }
                let link = link_of!(gl);
                link.validate()
                    .map_err(|e| self.invalid("network.group_links", e))?;
                model
                    .group_links
                    .insert((gl.between[0].clone(), gl.between[1].clone()), link);
            }
            for l in &net.links {
                check("network.links.from", &l.from)?;
                check("network.links.to", &l.to)?;
                let link = link_of!(l);
                link.validate()
                    .map_err(|e| self.invalid("network.links", e))?;
                for &a in &l.from.0 {
                    for &b in &l.to.0 {
                        model.links.insert((a, b), link.clone());
                        if l.both_ways {
                            model.links.insert((b, a), link.clone());
                        }
                    }
                }
            }
            for s in &net.service {
                check("network.service.nodes", &s.nodes)?;
                s.time
                    .validate()
                    .map_err(|e| self.invalid("network.service", e))?;
                for &id in &s.nodes.0 {
                    if s.kinds.is_empty() {
                        model.service.insert(id, s.time.clone());
                    } else {
                        model
                            .kind_service
                            .push((id, s.kinds.clone(), s.time.clone()));
                    }
                }
            }
        }
        for s in &self.slowdowns {
            let targets: Vec<Target> = match (&s.nodes, s.link) {
                (Some(set), None) => {
                    check("slowdowns.nodes", set)?;
                    set.0.iter().map(|&n| Target::Node(n)).collect()
                }
                (None, Some([a, b])) => {
                    check("slowdowns.link", &NodeSet(vec![NodeId(a), NodeId(b)], None))?;
                    vec![Target::Link(NodeId(a), NodeId(b))]
                }
                _ => return Err(self.invalid("slowdowns", "give exactly one of `nodes` or `link`")),
            };
            let (from, until) = match (s.after_restart, s.from, s.until) {
                (None, Some(from), Some(until)) => (from.0, until.0),
                (None, _, _) => {
                    return Err(
                        self.invalid("slowdowns", "give `from` and `until` (or `after_restart`)")
                    );
                }
                (Some(_), from, until) => (
                    from.map_or(Duration::ZERO, |f| f.0),
                    until.map_or(Duration::MAX, |u| u.0),
                ),
            };
            if until <= from {
                return Err(self.invalid("slowdowns", "`until` must be after `from`"));
            }
            if let Some(d) = s.after_restart {
                if s.link.is_some() {
                    return Err(self.invalid(
                        "slowdowns.after_restart",
                        "follows a node's restarts: give `nodes`, not `link`",
                    ));
                }
                if d.0.is_zero() {
                    return Err(self.invalid(
                        "slowdowns.after_restart",
                        "0s lasts no time: give a duration > 0 (e.g. \"5s\")",
                    ));
                }
            }
            let shape = match (s.period, s.duty, s.ramp) {
                (None, None, false) => Shape::Steady,
                (None, None, true) => Shape::Ramp,
                (Some(_), Some(_), true) => {
                    return Err(self.invalid(
                        "slowdowns.ramp",
                        "a slowdown is periodic (`period`, `duty`) or a ramp, not both",
                    ));
                }
                (Some(period), Some(duty), false) => {
                    if period.0.is_zero() {
                        return Err(self.invalid(
                            "slowdowns.period",
                            "0s is not a period: give a duration > 0 (e.g. \"4s\")",
                        ));
                    }
                    if !(duty > 0.0 && duty < 1.0) {
                        return Err(self.invalid(
                            "slowdowns.duty",
                            format!("{duty} is outside (0, 1): give the fraction of each period that is slow (0.5: half)"),
                        ));
                    }
                    Shape::Periodic {
                        period: period.0,
                        duty,
                    }
                }
                (Some(_), None, _) => {
                    return Err(self.invalid(
                        "slowdowns.period",
                        "a periodic slowdown also needs `duty`, in (0, 1)",
                    ));
                }
                (None, Some(_), _) => {
                    return Err(self.invalid(
                        "slowdowns.duty",
                        "a periodic slowdown also needs `period` (> 0)",
                    ));
                }
            };
            for (field, factor) in [
                ("slowdowns.latency_factor", s.latency_factor),
                ("slowdowns.service_factor", s.service_factor),
            ] {
                if !(factor.is_finite() && factor > 0.0) {
                    return Err(self.invalid(
                        field,
                        format!("{factor} is not a multiplier: give a number > 0 (1 leaves times as they are, 2 doubles them)"),
                    ));
                }
            }
            for target in targets {
                model.slowdowns.push(Slowdown {
                    from,
                    until,
                    target,
                    extra_latency: s.extra_latency.map_or(Duration::ZERO, |d| d.0),
                    latency_factor: s.latency_factor,
                    service_factor: s.service_factor,
                    shape,
                    after_restart: s.after_restart.map(|d| d.0),
                    kinds: s.kinds.clone(),
                });
            }
        }
        for p in &self.partitions {
            let loss = p.loss.unwrap_or(1.0);
            if !(loss > 0.0 && loss <= 1.0) {
                return Err(self.invalid(
                    "partitions.loss",
                    format!(
                        "{loss} is not a probability in (0, 1]: 1 cuts every message, 0.3 loses 30%"
                    ),
                ));
            }
            let (sides, listed_only) = match (&p.between, p.sides.is_empty()) {
                (Some([a, b]), true) => (
                    vec![
                        self.group_nodes("partitions.between", a)?,
                        self.group_nodes("partitions.between", b)?,
                    ],
                    true,
                ),
                (None, false) => {
                    for side in &p.sides {
                        check("partitions.sides", side)?;
                    }
                    (p.sides.iter().map(|s| s.0.clone()).collect(), false)
                }
                _ => {
                    return Err(self.invalid(
                        "partitions",
                        "give exactly one of `sides` (lists of nodes) or `between` (two groups)",
                    ));
                }
            };
            if let Some(until) = p.until
                && until.0 <= p.from.0
            {
                return Err(self.invalid("partitions.until", "`until` must be after `from`"));
            }
            model.partitions.push(Partition {
                from: p.from.0,
                until: p.until.map(|u| u.0),
                sides,
                listed_only,
                loss,
            });
        }
        for c in &self.caches {
            model.caches.push(c.to_model(self, nodes)?);
        }
        if !self.zones.is_empty() {
            model.zones = crate::sim::zone::zones_of(&self.zones, self, nodes)?;
        }
        model
            .validate(nodes)
            .map_err(|e| self.invalid("network", e))?;
        Ok(model)
    }

    /// The faults, checked against `nodes` nodes.
    pub fn fault_list(&self, nodes: usize) -> Result<Vec<Fault>, ScenarioError> {
        let mut out = Vec::new();
        for f in &self.faults {
            if let Some(bad) = f.nodes.0.iter().find(|id| id.index() >= nodes) {
                return Err(self.invalid_at(
                    "faults.nodes",
                    f.nodes.1.clone(),
                    format!(
                        "node {} does not exist (the system has {nodes} nodes: 0..{nodes})",
                        bad.0
                    ),
                ));
            }
            match f.kind {
                FaultKind::Crash => {
                    let at =
                        f.at.ok_or_else(|| self.invalid("faults", "a crash needs `at`"))?;
                    out.extend(f.nodes.0.iter().map(|&node| Fault::Crash {
                        node,
                        at: at.0,
                        restart_after: f.restart_after.map(|d| d.0),
                    }));
                }
                FaultKind::Churn => {
                    let rate = f
                        .rate_per_sec
                        .ok_or_else(|| self.invalid("faults", "churn needs `rate_per_sec`"))?;
                    if !(rate.is_finite() && rate >= 0.0) {
                        return Err(self.invalid("rate_per_sec", "must be ≥ 0"));
                    }
                    let down_for = f
                        .down_for
                        .clone()
                        .ok_or_else(|| self.invalid("faults", "churn needs `down_for`"))?;
                    down_for
                        .validate()
                        .map_err(|e| self.invalid("down_for", e))?;
                    out.push(Fault::Churn {
                        nodes: f.nodes.0.clone(),
                        rate_per_sec: rate,
                        down_for,
                        from: f.from.map_or(Duration::ZERO, |d| d.0),
                        until: f.until.map_or(self.horizon(), |d| d.0),
                    });
                }
            }
        }
        Ok(out)
    }

    /// The policies per choice.
    pub fn policy_map(&self) -> BTreeMap<String, PolicySpec> {
        self.policies
            .iter()
            .map(|(k, v)| (k.clone(), v.0.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests;
