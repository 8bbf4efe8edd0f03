//! How each built-in system is simulated: its default workload, load,
//! network and policies, keyed by the names of [`crate::catalog`].
//!
//! A [`SimRequest`] carries what the user asked (parameters, an optional
//! scenario file, policies, bounds, seeds); the entry builds the system,
//! lays the scenario over its defaults and runs every seed. Systems that are
//! plain models (no nodes, no time) say so instead of simulating.

use std::collections::BTreeMap;
use std::time::Duration;

use prophet::model::{Node, NodeId, System, Workload};
use prophet::sim::scenario::Scenario;
use prophet::sim::{
    Fault, LatencyDist, Limits, Load, NetworkModel, PolicySpec, RunReport, Simulator,
};

use crate::catalog::{ParamKind, ParamSpec, Params};
use crate::kv;

/// What to simulate and how.
pub struct SimRequest<'a> {
    /// Validated parameters of the system.
    pub params: &'a Params,
    /// A scenario laid over the system's defaults.
    pub scenario: Option<&'a Scenario>,
    /// Policy per choice (over the entry's defaults and the scenario's).
    pub policies: BTreeMap<String, PolicySpec>,
    /// Policy for choices named nowhere (default: `first`).
    pub default_policy: Option<PolicySpec>,
    /// Bounds of each run.
    pub limits: Limits,
    /// Seeds to run.
    pub seeds: Vec<u64>,
    /// Check the `always` properties every this many events (and at the end).
    pub check_every: Option<u64>,
    /// Called after each run.
    pub progress: &'a mut dyn FnMut(&RunReport),
    /// Called during each run (every `prophet::sim::PROGRESS_EVENTS` events).
    pub run_progress: Option<&'a (dyn Fn(&prophet::sim::RunProgress) + Sync)>,
}

/// How to simulate one built-in system.
pub struct SimEntry {
    /// The catalog name.
    pub name: &'static str,
    /// Its own parameters when simulation sizes differ from the checker's;
    /// `None`: the catalog's.
    pub params: Option<&'static [ParamSpec]>,
    /// What drives the system when no scenario says otherwise.
    pub default_workload: &'static str,
    /// Policies used unless overridden: (choice, policy).
    pub default_policies: &'static [(&'static str, &'static str)],
    /// The names of every choice the system's handlers make: a policy
    /// given for any other name is a typo, refused rather than ignored.
    pub choices: &'static [&'static str],
    /// Whether it can be simulated at all (plain models cannot).
    pub simulable: bool,
    /// Runs the simulation; `Err` explains why it cannot run.
    pub simulate: fn(&mut SimRequest<'_>) -> Result<Vec<RunReport>, String>,
}

/// Every simulable system (and the plain models, which explain why not).
pub fn sim_catalog() -> &'static [SimEntry] {
    SIM_ENTRIES
}

/// The simulation entry for `name`.
pub fn find_sim(name: &str) -> Result<&'static SimEntry, String> {
    SIM_ENTRIES.iter().find(|e| e.name == name).ok_or_else(|| {
        format!(
            "unknown system `{name}`; the simulable systems are: {}",
            SIM_ENTRIES
                .iter()
                .filter(|e| e.simulable)
                .map(|e| e.name)
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

impl SimEntry {
    /// The parameter specs: this table's, or the catalog's.
    pub fn param_specs(&self) -> &'static [ParamSpec] {
        self.params.unwrap_or_else(|| {
            crate::catalog::find(self.name)
                .map(|e| e.params)
                .unwrap_or(&[])
        })
    }

    /// Parses `key=value` pairs for this system.
    pub fn parse_params(&self, pairs: &[String]) -> Result<Params, String> {
        Params::parse(self.name, self.param_specs(), pairs).map_err(|e| e.to_string())
    }

    /// The default policies as specs.
    pub fn default_policy_map(&self) -> BTreeMap<String, PolicySpec> {
        self.default_policies
            .iter()
            .map(|(c, p)| {
                (
                    c.to_string(),
                    PolicySpec::parse(p).expect("built-in default policies are valid"),
                )
            })
            .collect()
    }
}

static SIM_ENTRIES: &[SimEntry] = &[
    SimEntry {
        name: "kv",
        params: Some(KV_PARAMS),
        default_workload: "open loop, 1000 requests/s, 10% writes over 100 keys; 1 ms log-normal links, 2 ms replica service",
        default_policies: &[("kv.read_replica", "random")],
        choices: &[kv::READ_REPLICA, kv::HEDGE, kv::HEDGE_REPLICA],
        simulable: true,
        simulate: simulate_kv,
    },
    SimEntry {
        name: "paxos",
        params: None,
        default_workload: "each client proposes once at boot; up to 20 ballot rounds; 5 ms log-normal links",
        default_policies: &[],
        choices: &["paxos.quorum", "paxos.retry_timeout"],
        simulable: true,
        simulate: simulate_paxos,
    },
    SimEntry {
        name: "randtree",
        params: None,
        default_workload: "every node joins at boot, then churn: 0.5 crashes/s among non-root nodes, each down 1 s; 10 ms log-normal links",
        default_policies: &[("randtree.forward_join", "random")],
        choices: &["randtree.forward_join"],
        simulable: true,
        simulate: simulate_randtree,
    },
    SimEntry {
        name: "two-phase-commit",
        params: None,
        default_workload: "none: a plain model cannot be simulated",
        default_policies: &[],
        choices: &[],
        simulable: false,
        simulate: |_| Err(PLAIN_MODEL.to_string()),
    },
];

/// Why `two-phase-commit` is not simulated.
pub const PLAIN_MODEL: &str = "two-phase-commit is not simulable: it is a plain Model (a transition \
     system without nodes, messages or time), so there is nothing to put in virtual time; \
     check it with `prophet check two-phase-commit`";

const KV_PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "replicas",
        kind: ParamKind::Int { min: 1, max: 256 },
        default: "11",
        help: "number of replicas",
    },
    ParamSpec {
        name: "clients",
        kind: ParamKind::Int { min: 1, max: 256 },
        default: "10",
        help: "number of clients (each balances on its own)",
    },
    ParamSpec {
        name: "keys",
        kind: ParamKind::Int {
            min: 1,
            max: 1_000_000,
        },
        default: "100",
        help: "distinct keys the workload uses",
    },
    ParamSpec {
        name: "write_percent",
        kind: ParamKind::Int { min: 0, max: 100 },
        default: "10",
        help: "share of requests that are writes",
    },
    ParamSpec {
        name: "boot_requests",
        kind: ParamKind::Int { min: 0, max: 8 },
        default: "0",
        help: "requests each client issues to itself at start (for checking)",
    },
    crate::catalog::KV_VARIANT,
];

/// The KV store's configuration from parameters.
pub fn kv_config(params: &Params) -> (kv::Config, kv::KvWorkload) {
    let mut config = kv::Config::new(params.int("replicas"), params.int("clients"));
    config.boot_requests = params.int("boot_requests") as u32;
    config.variant = kv::Variant::parse(params.text("variant")).unwrap_or(kv::Variant::Correct);
    let mut workload = kv::workload(&config);
    workload.keys = params.int("keys") as u64;
    workload.write_percent = params.int("write_percent") as u64;
    (config, workload)
}

/// The KV store's default network: 1 ms log-normal links, 2 ms log-normal
/// replica service time, instant clients.
pub fn kv_network(config: &kv::Config) -> NetworkModel {
    let mut net = NetworkModel::uniform(LatencyDist::LogNormal {
        median_ms: 1.0,
        sigma: 0.5,
    });
    for r in 0..config.replicas {
        net.service.insert(
            NodeId::from(r),
            LatencyDist::LogNormal {
                median_ms: 2.0,
                sigma: 0.5,
            },
        );
    }
    net
}

fn simulate_kv(req: &mut SimRequest<'_>) -> Result<Vec<RunReport>, String> {
    let (config, workload) = kv_config(req.params);
    let system = kv::system_with(&config);
    let defaults = Defaults {
        network: kv_network(&config),
        load: Load::Open {
            rate_per_sec: 1000.0,
        },
        faults: Vec::new(),
    };
    simulate_system(&system, Some(&workload), defaults, req)
}

/// Ballot rounds a simulated Paxos proposer may try (the explorer uses 1).
pub const PAXOS_SIM_ROUNDS: u8 = 20;

fn simulate_paxos(req: &mut SimRequest<'_>) -> Result<Vec<RunReport>, String> {
    let p = req.params;
    let variant = crate::paxos::Variant::from_name(p.text("variant"))
        .ok_or_else(|| format!("unknown variant {}", p.text("variant")))?;
    let system = crate::paxos::system_with_rounds(
        p.int("clients"),
        p.int("acceptors"),
        variant,
        PAXOS_SIM_ROUNDS,
    );
    let defaults = Defaults {
        network: NetworkModel::uniform(LatencyDist::LogNormal {
            median_ms: 5.0,
            sigma: 0.5,
        }),
        load: Load::None,
        faults: Vec::new(),
    };
    simulate_system::<crate::paxos::PaxosNode>(&system, None, defaults, req)
}

/// RandTree's default churn: 0.5 crashes per second among the non-root
/// nodes, each down for 1 s, over the whole horizon.
pub fn randtree_churn(nodes: usize, horizon: Duration) -> Fault {
    Fault::Churn {
        nodes: (1..nodes).map(NodeId::from).collect(),
        rate_per_sec: 0.5,
        down_for: LatencyDist::Constant { ms: 1000.0 },
        from: Duration::ZERO,
        until: horizon,
    }
}

fn simulate_randtree(req: &mut SimRequest<'_>) -> Result<Vec<RunReport>, String> {
    let p = req.params;
    let variant = crate::randtree::Variant::from_name(p.text("variant"))
        .ok_or_else(|| format!("unknown variant {}", p.text("variant")))?;
    let nodes = p.int("nodes");
    let system = crate::randtree::system(nodes, p.int("max_children"), variant);
    // A scenario that lists its own faults replaces the default churn.
    let churn = match req.scenario {
        Some(s) if !s.faults.is_empty() => Vec::new(),
        _ => vec![randtree_churn(nodes, req.limits.horizon)],
    };
    let defaults = Defaults {
        network: NetworkModel::uniform(LatencyDist::LogNormal {
            median_ms: 10.0,
            sigma: 0.5,
        }),
        load: Load::None,
        faults: churn,
    };
    simulate_system::<crate::randtree::RandTree>(&system, None, defaults, req)
}

/// A system's defaults, which a scenario overrides.
pub struct Defaults {
    /// Network and node model.
    pub network: NetworkModel,
    /// Load.
    pub load: Load,
    /// Faults.
    pub faults: Vec<Fault>,
}

/// Lays `req`'s scenario over `defaults` and runs every seed of `system`.
pub fn simulate_system<N: Node>(
    system: &System<N>,
    workload: Option<&dyn Workload<N>>,
    defaults: Defaults,
    req: &mut SimRequest<'_>,
) -> Result<Vec<RunReport>, String> {
    let n = system.nodes().len();
    let (network, load, faults) = match req.scenario {
        Some(s) => (
            s.network_model(defaults.network, n)
                .map_err(|e| e.to_string())?,
            s.load()
                .map_err(|e| e.to_string())?
                .unwrap_or(defaults.load),
            {
                let mut f = defaults.faults;
                f.extend(s.fault_list(n).map_err(|e| e.to_string())?);
                f
            },
        ),
        None => (defaults.network, defaults.load, defaults.faults),
    };
    let mut sim = Simulator::new(system).network(network).limits(req.limits);
    if let Some(w) = workload {
        sim = sim.workload(w, load);
    }
    for f in faults {
        sim = sim.fault(f);
    }
    for (choice, spec) in &req.policies {
        sim = sim.policy(choice.clone(), spec.clone());
    }
    if let Some(d) = &req.default_policy {
        sim = sim.default_policy(d.clone());
    }
    if let Some(every) = req.check_every {
        sim = sim.check_invariants(every);
    }
    if let Some(progress) = req.run_progress {
        sim = sim.on_progress(progress);
    }
    sim.run_seeds(req.seeds.iter().copied(), &mut *req.progress)
        .map_err(|e| e.to_string())
}

/// The default horizon of `prophet sim`.
pub const DEFAULT_HORIZON: Duration = Duration::from_secs(60);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalog_system_has_a_sim_entry() {
        for entry in crate::catalog::catalog() {
            assert!(
                find_sim(entry.name).is_ok(),
                "`{}` has no entry in sim_catalog",
                entry.name
            );
        }
    }

    #[test]
    fn default_policies_name_declared_choices() {
        for entry in sim_catalog() {
            for (choice, _) in entry.default_policies {
                assert!(entry.choices.contains(choice), "{}: {choice}", entry.name);
            }
        }
    }

    #[test]
    fn default_policies_parse() {
        for entry in sim_catalog() {
            let _ = entry.default_policy_map();
            assert!(entry.parse_params(&[]).is_ok(), "{}", entry.name);
        }
    }
}
