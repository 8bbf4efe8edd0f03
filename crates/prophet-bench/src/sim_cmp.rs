//! `prophet-bench sim --json`: the simulator's figures, one JSON object per
//! line per measurement.
//!
//! - `pingpong`: Prophet's simulator against turmoil on the same workload
//!   (N hosts in pairs, a client pings its server R times over UDP-like
//!   messages with 1 ms latency), messages per wall second and the ratio,
//!   measured in the same run.
//! - `concurrent`: every host keeps `window` requests outstanding to its
//!   peers (turmoil's good case), N = 10 and 100 against turmoil and 1,000
//!   Prophet alone: the Prophet/turmoil speed ratio (median of paired
//!   rounds, alternating which goes first),
//!   Prophet's ns per delivered message (median) against the 65 ns goal, and
//!   a heap push + pop + handler call per message measured in the same
//!   rounds ([`sim_concurrent::heap_baseline`]).
//! - `events`: events per second on a message-heavy workload (tokens
//!   hopping between 100 nodes).
//! - `kv-stuck-replica`: the Linkerd scenario per policy: fraction of reads
//!   within 1 s, p99.9, and simulated seconds per wall second; and
//!   `kv-overload-speed`: the same scenario with every read on one replica
//!   (its queue grows all run), simulated seconds per wall second against
//!   the balanced (random) run's.
//! - `randtree-churn`: RandTree (degree 4) with 100, 1,000 and 10,000 nodes
//!   under churn (nodes/50 crashes/s, i.e. each node about once per 50 s,
//!   each down 1 s; 2/s at 100 nodes), on one core: simulated seconds per
//!   wall second (median of runs) and bytes per node, the peak of live heap
//!   bytes from building the system to the end of the run (the system, the
//!   simulation's state, its queue and metrics) over the node count,
//!   counted by the bench's allocator ([`crate::alloc_count`]).

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use prophet::model::{Ctx, Node, NodeId, System};
use prophet::registry::{Entry, Purpose, SimRequest};
use prophet::sim::scenario::Scenario;
use prophet::sim::{LatencyDist, Limits, NetworkModel, PolicySpec, Simulator};
use prophet_systems::kv;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The Linkerd scenario file, as shipped.
const STUCK_REPLICA: &str = include_str!("../../../scenarios/linkerd-stuck-replica.toml");

/// The parts of `prophet-bench sim`, in the order they run.
pub const PARTS: &[&str] = &["pingpong", "concurrent", "events", "randtree", "kv"];

/// Which parts to run and how often.
pub struct SimBench {
    /// Parts to run (every part when empty).
    pub only: Vec<String>,
    /// Rounds of the concurrent workload (RandTree runs at most 3 per size).
    pub rounds: usize,
    /// RandTree sizes.
    pub randtree_nodes: Vec<usize>,
}

/// Runs the selected measurements, printing one JSON object per line.
pub fn run(bench: &SimBench) -> Result<(), String> {
    crate::alloc_count::enable();
    let wanted = |part: &str| bench.only.is_empty() || bench.only.iter().any(|p| p == part);
    if wanted("pingpong") {
        for (hosts, round_trips) in [(2usize, 50_000u64), (10, 20_000), (50, 4_000)] {
            pingpong(hosts, round_trips)?;
        }
    }
    if wanted("concurrent") {
        // turmoil 0.7 managed about 60,000 messages/s at 100 hosts and did
        // not finish 1,000 hosts in 5 minutes: that size runs Prophet only.
        for (hosts, messages, peer) in [
            (10usize, 400_000u64, true),
            (100, 200_000, true),
            (1000, 400_000, false),
        ] {
            concurrent(hosts, 8, messages, bench.rounds, peer)?;
        }
    }
    if wanted("events") {
        events()?;
    }
    if wanted("randtree") {
        for &nodes in &bench.randtree_nodes {
            randtree_churn(nodes, bench.rounds.min(3))?;
        }
    }
    if wanted("kv") {
        kv_stuck_replica()?;
    }
    Ok(())
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// The concurrent workload at one size: `rounds` paired runs (Prophet
/// alone without `with_turmoil`).
fn concurrent(
    hosts: usize,
    window: u64,
    messages: u64,
    rounds: usize,
    with_turmoil: bool,
) -> Result<(), String> {
    use crate::sim_concurrent as c;
    let requests = c::requests_per_host(hosts, messages);
    let (mut ratios, mut prophet_ns, mut baseline_ns) = (Vec::new(), Vec::new(), Vec::new());
    let (mut prophet_rates, mut turmoil_rates) = (Vec::new(), Vec::new());
    let mut delivered = 0;
    for round in 0..rounds.max(1) {
        let (p, t) = if !with_turmoil {
            (c::prophet(hosts, window, requests)?, None)
        } else if round % 2 == 0 {
            let p = c::prophet(hosts, window, requests)?;
            (p, Some(c::turmoil(hosts, window, requests)?))
        } else {
            let t = c::turmoil(hosts, window, requests)?;
            (c::prophet(hosts, window, requests)?, Some(t))
        };
        delivered = p.0;
        let p_rate = p.0 as f64 / p.1;
        prophet_rates.push(p_rate);
        if let Some(t) = t {
            let t_rate = t.0 as f64 / t.1;
            turmoil_rates.push(t_rate);
            ratios.push(p_rate / t_rate);
        }
        prophet_ns.push(p.1 * 1e9 / p.0 as f64);
        baseline_ns.push(c::heap_baseline(hosts * window as usize, p.0));
    }
    let ns = median(prophet_ns);
    let base = median(baseline_ns);
    println!(
        "{}",
        json!({"bench": "sim", "measure": "concurrent", "hosts": hosts, "window": window,
               "messages": delivered, "rounds": rounds,
               "prophet_messages_per_sec": median(prophet_rates),
               "turmoil_messages_per_sec": with_turmoil.then(|| median(turmoil_rates)),
               "prophet_over_turmoil": with_turmoil.then(|| median(ratios)), "ratio_goal": 10.0,
               "prophet_ns_per_message": ns, "ns_goal": 65.0,
               "baseline_heap_push_pop_call_ns": base,
               "prophet_over_baseline": ns / base})
    );
    Ok(())
}

#[derive(Clone)]
struct PingPong {
    round_trips: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct Done(u64);

impl Node for PingPong {
    type State = Done;
    type Msg = u64;
    type Timer = ();
    type Durable = ();

    fn init(&self, _: NodeId, _: Option<()>) -> Done {
        Done(0)
    }
    fn on_start(&self, _: &mut Done, ctx: &mut Ctx<'_, Self>) {
        if ctx.id().0 % 2 == 0 {
            ctx.send(NodeId(ctx.id().0 + 1), 0);
        }
    }
    fn on_message(&self, s: &mut Done, ctx: &mut Ctx<'_, Self>, from: NodeId, k: u64) {
        if ctx.id().0 % 2 == 1 {
            ctx.send(from, k);
        } else {
            s.0 += 1;
            if s.0 < self.round_trips {
                ctx.send(from, s.0);
            }
        }
    }
    fn durable(&self, _: &Done) {}
}

fn pingpong(hosts: usize, round_trips: u64) -> Result<(), String> {
    let pairs = hosts / 2;
    let system = System::new("pingpong", vec![PingPong { round_trips }; pairs * 2]);
    let started = Instant::now();
    let report = Simulator::new(&system)
        .network(NetworkModel::uniform(LatencyDist::Constant { ms: 1.0 }))
        .limits(Limits {
            horizon: Duration::from_secs(1_000_000),
            ..Limits::default()
        })
        .run(1)
        .map_err(|e| e.to_string())?;
    let prophet_wall = started.elapsed().as_secs_f64();
    let prophet_messages = report.messages_delivered;
    let prophet_rate = prophet_messages as f64 / prophet_wall;
    println!(
        "{}",
        json!({"bench": "sim", "measure": "pingpong", "engine": "prophet", "hosts": hosts,
               "messages": prophet_messages, "wall_s": prophet_wall, "messages_per_sec": prophet_rate})
    );

    let (turmoil_messages, turmoil_wall) = turmoil_pingpong(pairs, round_trips)?;
    let turmoil_rate = turmoil_messages as f64 / turmoil_wall;
    println!(
        "{}",
        json!({"bench": "sim", "measure": "pingpong", "engine": "turmoil", "hosts": hosts,
               "messages": turmoil_messages, "wall_s": turmoil_wall, "messages_per_sec": turmoil_rate})
    );
    println!(
        "{}",
        json!({"bench": "sim", "measure": "pingpong-ratio", "hosts": hosts,
               "prophet_over_turmoil": prophet_rate / turmoil_rate, "goal": 10.0})
    );
    Ok(())
}

/// The same ping-pong on turmoil: UDP echo servers, clients that wait for
/// each answer before the next ping; 1 ms latency.
fn turmoil_pingpong(pairs: usize, round_trips: u64) -> Result<(u64, f64), String> {
    const PORT: u16 = 9000;
    let mut sim = turmoil::Builder::new()
        .simulation_duration(Duration::from_secs(1_000_000))
        .tick_duration(Duration::from_millis(1))
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(1))
        .build();
    for i in 0..pairs {
        sim.host(format!("server{i}"), || async {
            let socket =
                turmoil::net::UdpSocket::bind((IpAddr::V4(Ipv4Addr::UNSPECIFIED), PORT)).await?;
            let mut buf = [0u8; 16];
            loop {
                let (n, from) = socket.recv_from(&mut buf).await?;
                socket.send_to(&buf[..n], from).await?;
            }
        });
    }
    for i in 0..pairs {
        sim.client(format!("client{i}"), async move {
            let socket =
                turmoil::net::UdpSocket::bind((IpAddr::V4(Ipv4Addr::UNSPECIFIED), PORT)).await?;
            let server = (turmoil::lookup(format!("server{i}")), PORT);
            let mut buf = [0u8; 16];
            for k in 0..round_trips {
                socket.send_to(&k.to_le_bytes(), server).await?;
                socket.recv_from(&mut buf).await?;
            }
            Ok(())
        });
    }
    let started = Instant::now();
    sim.run().map_err(|e| format!("turmoil: {e}"))?;
    let wall = started.elapsed().as_secs_f64();
    Ok((2 * round_trips * pairs as u64, wall))
}

#[derive(Clone)]
struct Tokens;

impl Node for Tokens {
    type State = u64;
    type Msg = u64;
    type Timer = ();
    type Durable = ();

    fn init(&self, _: NodeId, _: Option<()>) -> u64 {
        0
    }
    fn on_start(&self, _: &mut u64, ctx: &mut Ctx<'_, Self>) {
        let n = ctx.node_count() as u64;
        for t in 0..10 {
            ctx.send(
                NodeId::from(((u64::from(ctx.id().0) * 7 + t + 1) % n) as usize),
                t,
            );
        }
    }
    fn on_message(&self, hops: &mut u64, ctx: &mut Ctx<'_, Self>, _: NodeId, token: u64) {
        *hops += 1;
        let n = ctx.node_count() as u64;
        let next = prophet::model::mix_seq(token ^ *hops ^ u64::from(ctx.id().0)) % n;
        ctx.send(NodeId::from(next as usize), token);
    }
    fn durable(&self, _: &u64) {}
}

fn events() -> Result<(), String> {
    let system = System::new("tokens", vec![Tokens; 100]);
    let report = Simulator::new(&system)
        .network(NetworkModel::uniform(LatencyDist::LogNormal {
            median_ms: 1.0,
            sigma: 0.5,
        }))
        .horizon(Duration::from_secs(5))
        .run(1)
        .map_err(|e| e.to_string())?;
    let wall = report.wall.as_secs_f64();
    println!(
        "{}",
        json!({"bench": "sim", "measure": "events", "workload": "1000 tokens hopping among 100 nodes, log-normal 1 ms links",
               "events": report.events, "wall_s": wall, "events_per_sec": report.events as f64 / wall,
               "sim_s_per_wall_s": report.sim_time.as_secs_f64() / wall})
    );
    Ok(())
}

fn randtree_churn(nodes: usize, runs: usize) -> Result<(), String> {
    let horizon = Duration::from_secs(600);
    let rate_per_sec = nodes as f64 / 50.0;
    let (mut speeds, mut walls) = (Vec::new(), Vec::new());
    let mut first = None;
    for _ in 0..runs.max(1) {
        let base = crate::alloc_count::reset_peak();
        let system = prophet_systems::randtree::system(
            nodes,
            4,
            prophet_systems::randtree::Variant::Correct,
        );
        let report = Simulator::new(&system)
            .network(NetworkModel::uniform(LatencyDist::LogNormal {
                median_ms: 10.0,
                sigma: 0.5,
            }))
            .fault(prophet::sim::Fault::Churn {
                nodes: (1..nodes).map(NodeId::from).collect(),
                rate_per_sec,
                down_for: LatencyDist::Constant { ms: 1000.0 },
                from: Duration::ZERO,
                until: horizon,
            })
            .policy("randtree.forward_join", PolicySpec::Random)
            .horizon(horizon)
            .run(1)
            .map_err(|e| e.to_string())?;
        let peak_bytes = crate::alloc_count::peak().saturating_sub(base);
        drop(system);
        let wall = report.wall.as_secs_f64();
        speeds.push(report.sim_time.as_secs_f64() / wall);
        walls.push(wall);
        first.get_or_insert((report, peak_bytes));
    }
    let (report, peak_bytes) = first.ok_or("no run")?;
    println!(
        "{}",
        json!({"bench": "sim", "measure": "randtree-churn", "nodes": nodes, "runs": runs,
               "churn_crashes_per_sec": rate_per_sec, "down_s": 1.0,
               "sim_s": report.sim_time.as_secs_f64(),
               "events": report.events, "crashes": report.crashes, "wall_s": median(walls),
               "sim_s_per_wall_s": median(speeds),
               "peak_heap_bytes": peak_bytes, "bytes_per_node": peak_bytes as f64 / nodes as f64,
               "join_latency_p99_s": report.objectives.first().and_then(|o| o.value)})
    );
    Ok(())
}

fn kv_stuck_replica() -> Result<(), String> {
    let scenario =
        Scenario::parse("linkerd-stuck-replica.toml", STUCK_REPLICA).map_err(|e| e.to_string())?;
    let entry = Entry::nodes(kv::Kv);
    if scenario.system != entry.name() {
        return Err(format!(
            "the stuck-replica scenario names `{}`",
            scenario.system
        ));
    }
    let params = entry
        .params(Purpose::Sim, &scenario.param_pairs())
        .map_err(|e| e.to_string())?;
    let mut balanced_speed = None;
    // `fixed:0` sends every read to replica 0, at twice its capacity: its
    // queue grows all run (the overload case), against the balanced runs.
    for policy in ["random", "round-robin", "p2c", "peak-ewma", "c3", "fixed:0"] {
        let mut policies = std::collections::BTreeMap::new();
        policies.insert(
            kv::READ_REPLICA.to_string(),
            PolicySpec::parse(policy).map_err(|e| e.to_string())?,
        );
        let mut progress = |_: &prophet::sim::RunReport| {};
        let mut request = SimRequest {
            scenario: Some(&scenario),
            policies,
            default_policy: None,
            limits: Limits {
                horizon: scenario.horizon(),
                ..Limits::default()
            },
            seeds: vec![1],
            check_every: None,
            progress: &mut progress,
            run_progress: None,
            observer: None,
            steer: None,
        };
        let runs = entry.simulate(&params, &mut request)?;
        let run = runs.first().ok_or("no run")?;
        let reads = run
            .metrics
            .get(kv::READ_LATENCY)
            .ok_or("no read latencies")?;
        let speed = run.sim_time.as_secs_f64() / run.wall.as_secs_f64();
        println!(
            "{}",
            json!({"bench": "sim", "measure": "kv-stuck-replica", "policy": policy,
                   "reads": reads.count(), "within_1s": reads.fraction_at_most(1.0),
                   "p999_s": reads.quantile(0.999), "p99_s": reads.quantile(0.99),
                   "events": run.events, "scheduled": run.scheduled,
                   "wall_s": run.wall.as_secs_f64(), "sim_s_per_wall_s": speed})
        );
        if policy == "random" {
            balanced_speed = Some(speed);
        } else if let Some(balanced) = balanced_speed.filter(|_| policy == "fixed:0") {
            println!(
                "{}",
                json!({"bench": "sim", "measure": "kv-overload-speed",
                       "overloaded_sim_s_per_wall_s": speed,
                       "balanced_sim_s_per_wall_s": balanced,
                       "ratio": speed / balanced,
                       "scheduled_per_delivered": run.scheduled as f64 / run.messages_delivered.max(1) as f64})
            );
        }
    }
    Ok(())
}
