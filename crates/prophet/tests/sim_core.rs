//! The simulator's core model: reproducibility, latency, partitions,
//! crashes, bandwidth, service time, starting from a snapshot.

use std::time::Duration;

use prophet::model::{Aggregate, Ctx, Node, NodeId, Objective, System};
use prophet::sim::{
    Fault, LatencyDist, LinkModel, NetworkModel, Partition, RunReport, Simulator, Slowdown,
    StopReason, Target,
};
use serde::{Deserialize, Serialize};

/// Node 0 pings every other node every `period`; the others answer; each
/// round trip is a span `rtt`. Every node counts the messages it handled,
/// in volatile state and in durable state.
#[derive(Clone)]
struct Pinger {
    period: Duration,
    payload: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct Counts {
    sent: u64,
    volatile: u64,
    durable: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum Msg {
    Ping(u64, Vec<u8>),
    Pong(u64),
}

impl Node for Pinger {
    type State = Counts;
    type Msg = Msg;
    type Timer = ();
    type Durable = u64;

    fn init(&self, _: NodeId, recovered: Option<u64>) -> Counts {
        Counts {
            sent: 0,
            volatile: 0,
            durable: recovered.unwrap_or(0),
        }
    }

    fn on_start(&self, _: &mut Counts, ctx: &mut Ctx<'_, Self>) {
        if ctx.id() == NodeId(0) {
            ctx.set_timer((), self.period);
        }
    }

    fn on_timer(&self, s: &mut Counts, ctx: &mut Ctx<'_, Self>, _: ()) {
        for peer in 1..ctx.node_count() {
            s.sent += 1;
            ctx.begin_span("rtt", s.sent);
            ctx.send(NodeId::from(peer), Msg::Ping(s.sent, vec![7; self.payload]));
        }
        ctx.set_timer((), self.period);
    }

    fn on_message(&self, s: &mut Counts, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        s.volatile += 1;
        s.durable += 1;
        match msg {
            Msg::Ping(k, _) => ctx.send(from, Msg::Pong(k)),
            Msg::Pong(k) => ctx.end_span("rtt", k),
        }
    }

    fn durable(&self, s: &Counts) -> u64 {
        s.durable
    }
}

fn pinger(nodes: usize, period_ms: u64, payload: usize) -> System<Pinger> {
    let node = Pinger {
        period: Duration::from_millis(period_ms),
        payload,
    };
    System::new("pinger", vec![node; nodes]).objective(Objective::minimize(
        "rtt_mean",
        "rtt",
        Aggregate::Mean,
    ))
}

fn lognormal() -> NetworkModel {
    NetworkModel::uniform(LatencyDist::LogNormal {
        median_ms: 3.0,
        sigma: 0.6,
    })
}

fn run(sim: &Simulator<'_, Pinger>, seed: u64) -> RunReport {
    sim.run(seed).expect("simulation runs")
}

#[test]
fn a_seed_reproduces_the_run_and_other_seeds_differ() {
    let system = pinger(4, 5, 0);
    let sim = Simulator::new(&system)
        .network(lognormal())
        .horizon(Duration::from_secs(5));
    let a = run(&sim, 11);
    let b = run(&sim, 11);
    let c = run(&sim, 12);
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_eq!(a.events, b.events);
    assert_eq!(a.summaries["rtt"], b.summaries["rtt"]);
    assert_ne!(a.trace_hash, c.trace_hash);
    assert_eq!(a.stop, StopReason::Horizon);
}

#[test]
fn mean_round_trip_matches_the_link_distribution() {
    // Log-normal one-way delay, median 3 ms, sigma 0.6: mean 3·e^0.18 =
    // 3.5916 ms, so a round trip averages 7.183 ms. Over 5 000 round trips
    // (standard error ≈ 0.07 ms) the measured mean must be within 3%.
    let system = pinger(2, 10, 0);
    let report = run(
        &Simulator::new(&system)
            .network(lognormal())
            .horizon(Duration::from_millis(50_005)),
        3,
    );
    let rtt = report.summaries["rtt"];
    // 5 000 pings; the last few may still be in flight at the horizon.
    assert!((4_990..=5_000).contains(&rtt.count), "{}", rtt.count);
    let expected = 2.0 * 3.0 * (0.6f64 * 0.6 / 2.0).exp() / 1e3;
    assert!(
        (rtt.mean - expected).abs() < 0.03 * expected,
        "mean {} vs {expected}",
        rtt.mean
    );
    assert_eq!(report.objective("rtt_mean"), Some(rtt.mean));
}

#[test]
fn a_partition_blocks_delivery_until_it_heals() {
    // Pings every 10 ms on a 1 ms link; node 1 is cut off from 1 s to 2 s.
    let system = pinger(2, 10, 0);
    let mut net = NetworkModel::uniform(LatencyDist::Constant { ms: 1.0 });
    net.partitions.push(Partition::new(
        Duration::from_secs(1),
        Some(Duration::from_secs(2)),
        vec![vec![NodeId(1)]],
    ));
    let sim = Simulator::new(&system)
        .network(net)
        .horizon(Duration::from_millis(3_005));
    let (report, state) = sim.run_to_state(1).expect("runs");
    let rtt = report.metrics.get("rtt").expect("round trips");
    // Pings at 10, 20, …, 3000 ms: 300 sent. Those sent in [1000, 2000)
    // ms, and the one sent at 999… none (pings are on 10 ms marks): 100
    // pings are blocked; the ping at 990 ms returns at 992 ms.
    assert_eq!(state.node(NodeId(0)).sent, 300);
    assert_eq!(state.node(NodeId(1)).volatile, 200);
    assert_eq!(rtt.count(), 200);
    assert_eq!(report.messages_dropped, 100);
    // Delivery resumes right after healing: a round trip was measured at 2.002 s.
    assert!(rtt.samples().iter().any(|&(t, _)| (t - 2.002).abs() < 1e-4));
}

#[test]
fn a_crash_loses_volatile_state_and_keeps_durable_state() {
    // Node 1 handles a ping every 10 ms (1 ms link), crashes at 1.0005 s
    // and restarts at 1.5005 s. Pings sent at 10..=990 ms arrive before the
    // crash (99), those sent at 1000..=1490 ms arrive while it is down and
    // are dropped (50), 1500..=3000 arrive after the restart (151).
    let system = pinger(2, 10, 0);
    let sim = Simulator::new(&system)
        .network(NetworkModel::uniform(LatencyDist::Constant { ms: 1.0 }))
        .fault(Fault::Crash {
            node: NodeId(1),
            at: Duration::from_micros(1_000_500),
            restart_after: Some(Duration::from_millis(500)),
        })
        .horizon(Duration::from_millis(3_005));
    let (report, state) = sim.run_to_state(1).expect("runs");
    let n1 = state.node(NodeId(1));
    assert_eq!(n1.volatile, 151, "volatile count restarts from 0");
    assert_eq!(n1.durable, 250, "durable count survives");
    assert_eq!(report.crashes, 1);
    assert_eq!(report.restarts, 1);
    assert_eq!(report.messages_dropped, 50);
}

#[test]
fn bandwidth_delays_grow_with_message_size() {
    // 10 kB/s link, 0 latency: a ping with a 1 000-byte payload takes about
    // 0.1 s to transmit; a 10-byte one about 1 ms. Pings every 500 ms do
    // not queue behind each other.
    let mean_rtt = |payload: usize| {
        let system = pinger(2, 500, payload);
        let net = NetworkModel {
            default_link: LinkModel {
                latency: LatencyDist::Constant { ms: 0.0 },
                bandwidth_bytes_per_sec: Some(10_000.0),
                ..LinkModel::default()
            },
            ..NetworkModel::default()
        };
        let sim = Simulator::new(&system)
            .network(net)
            .horizon(Duration::from_secs(10));
        run(&sim, 1).summaries["rtt"].mean
    };
    let small = mean_rtt(10);
    let big = mean_rtt(1_000);
    // Ping of 1 000 bytes + framing (≈1 005 B) ≈ 100.5 ms, pong ≈ 0.3 ms.
    assert!((big - 0.1008).abs() < 0.002, "{big}");
    assert!(small < 0.0025, "{small}");
}

#[test]
fn a_busy_node_queues_messages() {
    // Node 0 pings 4 peers at once every 100 ms; each peer takes 10 ms per
    // handler; node 0 takes 5 ms per handler, so the 4 pongs (arriving
    // together) are handled one after the other. A handler's effects
    // (sends, timers) take place when it finishes, so rounds start every
    // 105 ms: 100, 205, …, 1045 ms (10 rounds before 1.1 s).
    let system = pinger(5, 100, 0);
    let mut net = NetworkModel::uniform(LatencyDist::Constant { ms: 1.0 });
    net.default_service = LatencyDist::Constant { ms: 10.0 };
    net.service
        .insert(NodeId(0), LatencyDist::Constant { ms: 5.0 });
    let report = run(
        &Simulator::new(&system)
            .network(net)
            .horizon(Duration::from_millis(1_100)),
        1,
    );
    let rtt = report.summaries["rtt"];
    assert_eq!(rtt.count, 40);
    // Spans end when node 0 finishes handling each pong: 5 + 1 + 10 + 1 =
    // 17 ms to arrival, then 5, 10, 15, 20 ms of handling: 22, 27, 32, 37.
    assert!((rtt.mean - 0.0295).abs() < 1e-4, "{}", rtt.mean);
    assert!((rtt.max - 0.037).abs() < 1e-4, "{}", rtt.max);
}

#[test]
fn a_run_can_start_from_a_snapshot_with_pending_timers() {
    // A snapshot where node 0 has sent 41 pings and its timer is due at
    // 3 ms; nothing is in flight. Over 1 s it sends 100 more.
    let system = pinger(2, 10, 0);
    let mut state = system.boot_state();
    state.nodes[0].state.sent = 41;
    let (report, end) = Simulator::new(&system)
        .start_from(state, vec![(NodeId(0), (), Duration::from_millis(3))])
        .horizon(Duration::from_millis(1_000))
        .run_to_state(1)
        .expect("runs");
    assert_eq!(end.node(NodeId(0)).sent, 141);
    assert_eq!(report.summaries["rtt"].count, 100);
}

#[test]
fn event_bound_stops_the_run() {
    let system = pinger(2, 1, 0);
    let report = run(
        &Simulator::new(&system).limits(prophet::sim::Limits {
            horizon: Duration::from_secs(100),
            max_events: 1_000,
            wall_budget: None,
        }),
        1,
    );
    assert_eq!(report.events, 1_000);
    assert_eq!(report.stop, StopReason::EventLimit);
}

#[test]
fn loss_and_duplication_follow_their_probabilities() {
    // 10 000 pings and their pongs on links losing 10% and duplicating 20%
    // of messages. Pings: ≈9 000 delivered + ≈1 800 copies. The share lost
    // must be within 1.5 points of 10% (standard error 0.2 points).
    let system = pinger(2, 1, 0);
    let net = NetworkModel {
        default_link: LinkModel {
            loss: 0.1,
            duplicate: 0.2,
            ..LinkModel::default()
        },
        ..NetworkModel::default()
    };
    let (report, state) = Simulator::new(&system)
        .network(net)
        .horizon(Duration::from_millis(10_000))
        .run_to_state(9)
        .expect("runs");
    let pings = state.node(NodeId(0)).sent;
    assert_eq!(pings, 10_000);
    let handled_by_1 = state.node(NodeId(1)).volatile as f64;
    let expected = pings as f64 * 0.9 * 1.2;
    assert!(
        (handled_by_1 - expected).abs() < 0.02 * expected,
        "{handled_by_1} vs {expected}"
    );
    let lost_share = report.messages_dropped as f64 / report.messages_sent as f64;
    assert!((lost_share - 0.1).abs() < 0.015, "{lost_share}");
}

#[test]
fn churn_crashes_and_restarts_nodes_reproducibly() {
    // Churn at 2 crashes/s among nodes 1..4 for 10 s, each down 200 ms:
    // about 20 crashes (Poisson; the test accepts 10..=30), every one
    // restarted before the horizon, and the same seed gives the same run.
    let system = pinger(4, 10, 0);
    let sim = Simulator::new(&system)
        .fault(Fault::Churn {
            nodes: vec![NodeId(1), NodeId(2), NodeId(3)],
            rate_per_sec: 2.0,
            down_for: LatencyDist::Constant { ms: 200.0 },
            from: Duration::ZERO,
            until: Duration::from_secs(10),
        })
        .horizon(Duration::from_secs(11));
    let (a, state) = sim.run_to_state(4).expect("runs");
    assert!((10..=30).contains(&a.crashes), "{}", a.crashes);
    assert_eq!(a.crashes, a.restarts);
    assert!(state.nodes.iter().all(|slot| slot.up));
    assert_eq!(sim.run(4).expect("runs").trace_hash, a.trace_hash);
}

/// Node 0 sends 10 messages of ~1 000 bytes to node 1 at once; node 1
/// acknowledges each with a tiny message; each round trip is a span.
#[derive(Clone)]
struct Burst;

impl Node for Burst {
    type State = ();
    type Msg = (u64, Vec<u8>);
    type Timer = ();
    type Durable = ();

    fn init(&self, _: NodeId, _: Option<()>) {}
    fn on_start(&self, _: &mut (), ctx: &mut Ctx<'_, Self>) {
        if ctx.id() == NodeId(0) {
            for k in 0..10 {
                ctx.begin_span("rtt", k);
                ctx.send(NodeId(1), (k, vec![0; 997]));
            }
        }
    }
    fn on_message(
        &self,
        _: &mut (),
        ctx: &mut Ctx<'_, Self>,
        from: NodeId,
        (k, _): (u64, Vec<u8>),
    ) {
        if ctx.id() == NodeId(1) {
            ctx.send(from, (k, Vec::new()));
        } else {
            ctx.end_span("rtt", k);
        }
    }
    fn durable(&self, _: &()) {}
}

#[test]
fn a_saturated_link_queues_messages() {
    // 10 kB/s, no propagation delay: each 1 000-byte message (997 bytes of
    // payload + 1 for the key + 2 for the length prefix) takes 100 ms on
    // the wire and waits for the ones before it, so message k arrives at
    // (k + 1) × 100 ms; the 2-byte acks take 0.2 ms.
    let system = System::new("burst", vec![Burst, Burst]);
    let net = NetworkModel {
        default_link: LinkModel {
            latency: LatencyDist::Constant { ms: 0.0 },
            bandwidth_bytes_per_sec: Some(10_000.0),
            ..LinkModel::default()
        },
        ..NetworkModel::default()
    };
    let report = Simulator::new(&system).network(net).run(1).expect("runs");
    let rtt = report.summaries["rtt"];
    assert_eq!(rtt.count, 10);
    assert!((rtt.mean - 0.5502).abs() < 1e-3, "{}", rtt.mean);
    assert!((rtt.max - 1.0002).abs() < 2e-3, "{}", rtt.max);
    assert_eq!(report.stop, StopReason::Quiescent);
}

#[test]
fn constraints_on_executor_derived_bytes_are_reported() {
    // 100 pings/s and their pongs, 3–4 postcard bytes each (variant, varint
    // key, empty payload length; pongs 2–3): ≈ 670 bytes/s. A 1 000 B/s
    // budget holds, a 100 B/s budget does not.
    use prophet::model::Constraint;
    let node = Pinger {
        period: Duration::from_millis(10),
        payload: 0,
    };
    let system = System::new("pinger", vec![node.clone(), node])
        .constraint(Constraint::at_most(
            "budget",
            "bytes_sent",
            Aggregate::Rate,
            1_000.0,
        ))
        .constraint(Constraint::at_most(
            "tight",
            "bytes_sent",
            Aggregate::Rate,
            100.0,
        ));
    let report = run_any(&system);
    let rate = report.summaries["bytes_sent"].rate;
    assert!((600.0..700.0).contains(&rate), "{rate}");
    assert!(report.constraints[0].satisfied);
    assert!(!report.constraints[1].satisfied);
}

fn run_any(system: &System<Pinger>) -> RunReport {
    Simulator::new(system)
        .horizon(Duration::from_secs(10))
        .run(1)
        .expect("runs")
}

#[test]
fn a_link_slows_down_on_schedule_and_recovers() {
    // Pings every 10 ms on a 1 ms link (2 ms round trips); from 1 s to 2 s
    // the link adds 5 ms each way.
    let system = pinger(2, 10, 0);
    let mut net = NetworkModel::uniform(LatencyDist::Constant { ms: 1.0 });
    net.slowdowns.push(Slowdown {
        extra_latency: Duration::from_millis(5),
        ..Slowdown::window(
            Duration::from_secs(1),
            Duration::from_secs(2),
            Target::Link(NodeId(0), NodeId(1)),
        )
    });
    let sim = Simulator::new(&system)
        .network(net)
        .horizon(Duration::from_millis(3_005));
    let (report, _) = sim.run_to_state(1).expect("runs");
    let rtt = report.metrics.get("rtt").expect("round trips");
    let in_window = |lo: f32, hi: f32| -> Vec<f64> {
        rtt.samples()
            .iter()
            .filter(|&&(t, _)| t > lo && t < hi)
            .map(|&(_, v)| f64::from(v))
            .collect()
    };
    let (before, during, after) = (
        in_window(0.0, 0.99),
        in_window(1.05, 1.95),
        in_window(2.05, 3.1),
    );
    assert!(!before.is_empty() && !during.is_empty() && !after.is_empty());
    assert!(
        before.iter().all(|v| (v - 0.002).abs() < 1e-6),
        "{before:?}"
    );
    assert!(
        during.iter().all(|v| (v - 0.012).abs() < 1e-6),
        "{during:?}"
    );
    assert!(
        after.iter().all(|v| (v - 0.002).abs() < 1e-6),
        "recovered: {after:?}"
    );
}

/// Picks one of three options every 10 ms and counts the picks.
struct Picker;

impl Node for Picker {
    type State = [u32; 3];
    type Msg = ();
    type Timer = ();
    type Durable = ();

    fn init(&self, _: NodeId, _: Option<()>) -> [u32; 3] {
        [0; 3]
    }
    fn on_start(&self, _: &mut [u32; 3], ctx: &mut Ctx<'_, Self>) {
        ctx.set_timer((), Duration::from_millis(10));
    }
    fn on_timer(&self, picks: &mut [u32; 3], ctx: &mut Ctx<'_, Self>, _: ()) {
        picks[ctx.choose_index("pick", 3)] += 1;
        ctx.set_timer((), Duration::from_millis(10));
    }
    fn on_message(&self, _: &mut [u32; 3], _: &mut Ctx<'_, Self>, _: NodeId, _: ()) {}
    fn durable(&self, _: &[u32; 3]) {}
}

#[test]
fn a_user_heuristic_resolves_its_choice() {
    let system = System::new("picker", vec![Picker]);
    let last = prophet::sim::PolicySpec::Heuristic(
        "always-last",
        std::sync::Arc::new(|_view, arms, _rng| arms.len() - 1),
    );
    let sim = Simulator::new(&system)
        .policy("pick", last)
        .horizon(Duration::from_millis(1_005));
    let (_, state) = sim.run_to_state(1).expect("runs");
    assert_eq!(*state.node(NodeId(0)), [0, 0, 100]);
    // The programmer's default, for contrast: the first candidate.
    let (_, state) = Simulator::new(&system)
        .horizon(Duration::from_millis(1_005))
        .run_to_state(1)
        .expect("runs");
    assert_eq!(*state.node(NodeId(0)), [100, 0, 0]);
}
