//! The resolver (`prophet`) on the KV store's replica choice, in the
//! simulator: it finds a stuck replica from what the client saw, it never
//! peeks at the simulator's true model, and a seed reproduces its run.

use std::sync::Mutex;
use std::time::Duration;

use prophet::model::NodeId;
use prophet::resolve::{Resolver, ResolverConfig};
use prophet::sim::{
    Load, NetworkModel, Observation, PolicySpec, RunReport, SimError, Simulator, Slowdown, Target,
};
use prophet_systems::kv;

/// Decisions as (time, node, picked key).
type DecisionLog = Mutex<Vec<(f64, u32, u64)>>;

const PROPHET: PolicySpec = PolicySpec::Prophet { deliberate: true };

/// A network whose replica 3 answers `extra` late from `from` on.
fn slowed(config: &kv::Config, from: Duration, extra: Duration) -> NetworkModel {
    let mut network = kv::network(config);
    network.slowdowns.push(Slowdown {
        extra_latency: extra,
        ..Slowdown::window(from, Duration::from_secs(3_600), Target::Node(NodeId(3)))
    });
    network
}

/// One run of 7 replicas and 5 clients at `rate` reads and writes per
/// second, the replica choice resolved by `policy`; every decision is
/// handed to `decisions` as (time, node, picked key).
fn run(
    network: NetworkModel,
    policy: PolicySpec,
    rate: f64,
    horizon: Duration,
    seed: u64,
    decisions: Option<&DecisionLog>,
) -> RunReport {
    let config = kv::Config::new(7, 5);
    let system = kv::system_with(&config);
    let workload = kv::workload(&config);
    let resolver = Resolver::new(&system, Some(&workload), ResolverConfig::default());
    let observer = |seen: &Observation<'_>| {
        if let (Some(log), Observation::Decision(d)) = (decisions, seen)
            && d.choice == kv::READ_REPLICA
        {
            log.lock()
                .expect("decision log")
                .push((d.t, d.node, d.candidates[d.pick]));
        }
    };
    let mut sim = Simulator::new(&system)
        .network(network)
        .workload(&workload, Load::Open { rate_per_sec: rate })
        .policy(kv::READ_REPLICA, policy)
        .deliberate(&resolver)
        .horizon(horizon);
    if decisions.is_some() {
        sim = sim.observe(&observer);
    }
    sim.run(seed).expect("runs")
}

/// Margins: 20 s at 400 requests/s (≈7,200 reads), replica 3 answering
/// 2 s late from 5 s on. Random selection sends 1/7 of the reads after
/// 5 s there (9.5% of all reads over 1 s, measured); the resolver learns
/// it from its own outcomes, and a read outstanding there counts as at
/// least as slow as it has waited, so only the reads in flight when the
/// slowdown began, and a few before the first came back, are late: the
/// test demands 99.5% of reads within 1 s (measured 99.9%).
#[test]
fn the_resolver_leaves_a_stuck_replica_from_what_its_client_saw() {
    let config = kv::Config::new(7, 5);
    let network = slowed(&config, Duration::from_secs(5), Duration::from_secs(2));
    let horizon = Duration::from_secs(20);
    let prophet = run(network.clone(), PROPHET, 400.0, horizon, 1, None);
    let random = run(network, PolicySpec::Random, 400.0, horizon, 1, None);
    let within = |r: &RunReport| {
        let reads = r.metrics.get(kv::READ_LATENCY).expect("reads");
        assert!(reads.count() > 6_000, "{} reads", reads.count());
        reads.fraction_at_most(1.0)
    };
    let (p, r) = (within(&prophet), within(&random));
    eprintln!("within 1 s: prophet {p}, random {r}");
    assert!(p >= 0.995, "prophet: {p} of reads within 1 s");
    assert!(r <= 0.95, "random: {r} of reads within 1 s");
}

/// No peeking: two true networks that differ only from 4 s on (replica 3
/// turns slow) give every client identical observations up to 4 s, so
/// the resolver's decisions up to 4 s are identical; after, they differ
/// (it does react to what it sees). A resolver that read the simulator's
/// network model, where the slowdown is written from the start, would
/// decide differently before 4 s.
#[test]
fn the_resolver_decides_the_same_until_what_it_observes_differs() {
    let config = kv::Config::new(7, 5);
    let t = Duration::from_secs(4);
    let horizon = Duration::from_secs(7);
    let (plain, slow) = (Mutex::new(Vec::new()), Mutex::new(Vec::new()));
    run(
        kv::network(&config),
        PROPHET,
        300.0,
        horizon,
        3,
        Some(&plain),
    );
    run(
        slowed(&config, t, Duration::from_millis(300)),
        PROPHET,
        300.0,
        horizon,
        3,
        Some(&slow),
    );
    let (plain, slow) = (
        plain.into_inner().expect("log"),
        slow.into_inner().expect("log"),
    );
    let before = |log: &[(f64, u32, u64)]| -> Vec<(f64, u32, u64)> {
        log.iter()
            .copied()
            .filter(|d| d.0 < t.as_secs_f64())
            .collect()
    };
    let (a, b) = (before(&plain), before(&slow));
    eprintln!("{} decisions before, {} in all", a.len(), plain.len());
    assert!(a.len() > 500, "{} decisions before {t:?}", a.len());
    assert_eq!(a, b, "decisions before the networks differ");
    assert_ne!(plain, slow, "the slowdown changes later decisions");
}

#[test]
fn a_seed_reproduces_a_run_with_deliberation_and_deliberation_changes_it() {
    let config = kv::Config::new(7, 5);
    let horizon = Duration::from_secs(3);
    let network = || slowed(&config, Duration::from_secs(1), Duration::from_millis(200));
    let first = run(network(), PROPHET, 300.0, horizon, 7, None);
    let again = run(network(), PROPHET, 300.0, horizon, 7, None);
    let fast = run(
        network(),
        PolicySpec::Prophet { deliberate: false },
        300.0,
        horizon,
        7,
        None,
    );
    assert_eq!(first.trace_hash, again.trace_hash);
    assert_ne!(first.trace_hash, fast.trace_hash);
}

#[test]
fn prophet_without_a_deliberation_is_refused_with_the_way_out() {
    let config = kv::Config::new(3, 1);
    let system = kv::system_with(&config);
    let error = Simulator::new(&system)
        .policy(kv::READ_REPLICA, PROPHET)
        .run(1)
        .expect_err("refused");
    let SimError::Config(message) = error else {
        panic!("a configuration error, got {error:?}");
    };
    assert!(message.contains("prophet:fast"), "{message}");
}
