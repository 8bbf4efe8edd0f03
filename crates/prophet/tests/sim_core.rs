//! The simulator's core model: reproducibility, latency, partitions,
//! crashes, bandwidth, service time, starting from a snapshot.

use std::time::Duration;

use prophet::model::{Aggregate, Ctx, Node, NodeId, Objective, System};
use prophet::sim::{
    Fault, LatencyDist, LinkModel, NetworkModel, Partition, RunReport, Simulator, StopReason,
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
    net.partitions.push(Partition {
        from: Duration::from_secs(1),
        until: Some(Duration::from_secs(2)),
        sides: vec![vec![NodeId(1)]],
    });
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
