//! The simulator's shaped conditions: periodic and ramped slowdowns, ones
//! that follow a restart, partitions between groups, per-kind service
//! times and slowdowns, and load whose rate changes.

use std::time::Duration;

use prophet::model::{Ctx, Node, NodeId, System, Workload};
use prophet::sim::{
    Fault, LatencyDist, Load, NetworkModel, Partition, Phase, RunReport, Shape, Simulator,
    Slowdown, Stream, Target,
};
use serde::{Deserialize, Serialize};

/// Node 0 sends every other node a `Ping` on odd 10 ms ticks and a `Probe`
/// on even ones; each is answered, and each round trip is a span (`ping`,
/// `probe`). Odd and even ticks never overlap at a node, so a slow kind
/// never queues the other behind it. Requests from a workload are counted
/// in the metric `arrival`.
#[derive(Clone)]
struct Prober;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum Msg {
    Ping(u64),
    Probe(u64),
    Pong(u64),
    ProbeAck(u64),
    Request(u64),
}

impl Node for Prober {
    type State = u64;
    type Msg = Msg;
    type Timer = ();
    type Durable = ();

    fn init(&self, _: NodeId, _: Option<()>) -> u64 {
        0
    }
    fn on_start(&self, _: &mut u64, ctx: &mut Ctx<'_, Self>) {
        if ctx.id() == NodeId(0) {
            ctx.set_timer((), Duration::from_millis(10));
        }
    }
    fn on_timer(&self, tick: &mut u64, ctx: &mut Ctx<'_, Self>, _: ()) {
        *tick += 1;
        let k = *tick;
        for peer in 1..ctx.node_count() {
            let key = k * 100 + peer as u64;
            if k % 2 == 1 {
                ctx.begin_span("ping", key);
                ctx.send(NodeId::from(peer), Msg::Ping(key));
            } else {
                ctx.begin_span("probe", key);
                ctx.send(NodeId::from(peer), Msg::Probe(key));
            }
        }
        ctx.set_timer((), Duration::from_millis(10));
    }
    fn on_message(&self, _: &mut u64, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Ping(k) => ctx.send(from, Msg::Pong(k)),
            Msg::Probe(k) => ctx.send(from, Msg::ProbeAck(k)),
            Msg::Pong(k) => ctx.end_span("ping", k),
            Msg::ProbeAck(k) => ctx.end_span("probe", k),
            Msg::Request(_) => ctx.record("arrival", 1.0),
        }
    }
    fn durable(&self, _: &u64) {}
}

fn prober(nodes: usize) -> System<Prober> {
    System::new("prober", vec![Prober; nodes])
}

/// 1 ms constant links.
fn net() -> NetworkModel {
    NetworkModel::uniform(LatencyDist::Constant { ms: 1.0 })
}

fn run(system: &System<Prober>, net: NetworkModel, horizon_ms: u64) -> RunReport {
    Simulator::new(system)
        .network(net)
        .horizon(Duration::from_millis(horizon_ms))
        .run(1)
        .expect("runs")
}

/// `(send time in ms, round trip in ms)` of every span of `metric`: a
/// sample is recorded when the round trip ends.
fn trips(report: &RunReport, metric: &str) -> Vec<(i64, f64)> {
    report
        .metrics
        .get(metric)
        .map(|s| {
            s.samples()
                .iter()
                .map(|&(t, v)| {
                    let (t, v) = (f64::from(t) * 1e3, f64::from(v) * 1e3);
                    ((t - v).round() as i64, v)
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_periodic_slowdown_is_slow_exactly_in_its_on_windows() {
    // Node 1 is +5 ms for the first 0.5 s of every 1 s from 1 s to 5 s:
    // pings sent in [1, 1.5), [2, 2.5), [3, 3.5), [4, 4.5) take 7 ms, all
    // others 2 ms.
    let mut n = net();
    n.slowdowns.push(Slowdown {
        extra_latency: Duration::from_millis(5),
        shape: Shape::Periodic {
            period: Duration::from_secs(1),
            duty: 0.5,
        },
        ..Slowdown::window(
            Duration::from_secs(1),
            Duration::from_secs(5),
            Target::Node(NodeId(1)),
        )
    });
    let report = run(&prober(2), n, 6_000);
    let trips = trips(&report, "ping");
    assert!(trips.len() > 250, "{}", trips.len());
    let mut slow = 0;
    for (sent, rtt) in trips {
        let on = (1_000..5_000).contains(&sent) && sent % 1_000 < 500;
        let expected = if on { 7.0 } else { 2.0 };
        slow += usize::from(on);
        assert!(
            (rtt - expected).abs() < 1e-3,
            "ping sent at {sent} ms took {rtt} ms"
        );
    }
    // Odd ticks only: 25 pings in each of the four half-second windows.
    assert_eq!(slow, 100);
}

#[test]
fn messages_sent_after_a_slowdown_do_not_queue_behind_it() {
    // +2 s at node 1 from 1 s to 1.5 s; per-link FIFO used to hold every
    // ping sent in [1.5 s, 3.5 s) behind the last slow one.
    let mut n = net();
    n.slowdowns.push(Slowdown {
        extra_latency: Duration::from_secs(2),
        ..Slowdown::window(
            Duration::from_secs(1),
            Duration::from_millis(1_500),
            Target::Node(NodeId(1)),
        )
    });
    let report = run(&prober(2), n, 5_000);
    let trips = trips(&report, "ping");
    let after: Vec<_> = trips.iter().filter(|(sent, _)| *sent >= 1_500).collect();
    assert!(after.len() > 150, "{}", after.len());
    for (sent, rtt) in after {
        assert!(
            (rtt - 2.0).abs() < 1e-3,
            "ping sent at {sent} ms took {rtt} ms"
        );
    }
    let during = trips
        .iter()
        .filter(|(sent, _)| (1_000..1_500).contains(sent))
        .count();
    assert_eq!(during, 25);
}

#[test]
fn a_ramp_after_each_restart_fades_out() {
    // Node 1 crashes at 1 s and restarts at 1.5 s, cold: for 1 s after the
    // restart a message to it takes 10 ms more, fading linearly to 0.
    let mut n = net();
    n.slowdowns.push(Slowdown {
        extra_latency: Duration::from_millis(10),
        shape: Shape::Ramp,
        after_restart: Some(Duration::from_secs(1)),
        ..Slowdown::window(Duration::ZERO, Duration::MAX, Target::Node(NodeId(1)))
    });
    let system = prober(2);
    let report = Simulator::new(&system)
        .network(n)
        .fault(Fault::Crash {
            node: NodeId(1),
            at: Duration::from_secs(1),
            restart_after: Some(Duration::from_millis(500)),
        })
        .horizon(Duration::from_secs(4))
        .run(1)
        .expect("runs");
    let trips = trips(&report, "ping");
    assert!(!trips.iter().any(|(s, _)| (991..1_500).contains(s)));
    for (sent, rtt) in trips {
        let expected = if (1_500..2_500).contains(&sent) {
            2.0 + 10.0 * (1.0 - (sent - 1_500) as f64 / 1_000.0)
        } else {
            2.0
        };
        assert!(
            (rtt - expected).abs() < 1e-3,
            "ping sent at {sent} ms took {rtt} ms, expected {expected}"
        );
    }
}

#[test]
fn a_cut_between_two_groups_drops_only_their_messages_and_heals() {
    // Node 0 pings 1, 2 and 3; from 1 s to 2 s the group {0} is cut from
    // {1, 2}; node 3, in no group, still hears node 0.
    let mut n = net();
    n.partitions.push(Partition {
        listed_only: true,
        ..Partition::new(
            Duration::from_secs(1),
            Some(Duration::from_secs(2)),
            vec![vec![NodeId(0)], vec![NodeId(1), NodeId(2)]],
        )
    });
    let report = run(&prober(4), n, 3_005);
    let trips = trips(&report, "ping");
    // Every answered ping took 2 ms, before, during and after the cut.
    assert!(trips.iter().all(|(_, rtt)| (rtt - 2.0).abs() < 1e-3));
    // 150 pings per peer (odd ticks to 3 s); peers 1 and 2 lose the 50 sent
    // during the cut, peer 3 none.
    let in_cut = trips
        .iter()
        .filter(|(s, _)| (1_000..2_000).contains(s))
        .count();
    assert_eq!(in_cut, 50, "only peer 3 answers during the cut");
    assert_eq!(trips.len(), 150 * 3 - 2 * 50);
    // 100 pings and 100 probes to peers 1 and 2 (even ticks).
    assert_eq!(report.messages_dropped, 200);
}

#[test]
fn a_lossy_cut_loses_about_its_share() {
    // Loss 0.5 between {0} and {1} from 0 to 10 s: about half of the 500
    // pings are lost (binomial sd ≈ 11; margin ± 50), none after.
    let mut n = net();
    n.partitions.push(Partition {
        listed_only: true,
        loss: 0.5,
        ..Partition::new(
            Duration::ZERO,
            Some(Duration::from_secs(10)),
            vec![vec![NodeId(0)], vec![NodeId(1)]],
        )
    });
    let report = run(&prober(2), n, 12_005);
    let trips = trips(&report, "ping");
    let during = trips.iter().filter(|(s, _)| *s < 10_000).count();
    let after = trips.iter().filter(|(s, _)| *s >= 10_000).count();
    // Pings and answers both cross the cut: each trip survives with 0.25.
    assert!((75..=175).contains(&during), "{during} of 500");
    assert_eq!(after, 100);
}

#[test]
fn per_kind_service_and_slowdowns_leave_other_kinds_alone() {
    // Node 1 takes 5 ms for a Ping and nothing for anything else; from 0 s
    // a slowdown adds 3 ms to Pings only. Probes keep their 2 ms.
    let mut n = net();
    n.kind_service.push((
        NodeId(1),
        vec!["Ping".into()],
        LatencyDist::Constant { ms: 5.0 },
    ));
    n.slowdowns.push(Slowdown {
        extra_latency: Duration::from_millis(3),
        kinds: vec!["Ping".into()],
        ..Slowdown::window(Duration::ZERO, Duration::MAX, Target::Node(NodeId(1)))
    });
    let report = run(&prober(2), n, 2_000);
    let pings = trips(&report, "ping");
    let probes = trips(&report, "probe");
    assert!(pings.len() > 90 && probes.len() > 90);
    assert!(pings.iter().all(|(_, rtt)| (rtt - 10.0).abs() < 1e-3));
    assert!(probes.iter().all(|(_, rtt)| (rtt - 2.0).abs() < 1e-3));
}

#[test]
fn message_kinds_are_variant_names() {
    assert_eq!(prophet::sim::message_kind(&Msg::Ping(3)), "Ping");
    assert_eq!(prophet::sim::message_kind(&Some(1)), "Some");
    assert_eq!(prophet::sim::message_kind(&7u8), "7");
}

/// Hands requests to nodes 0 and 1.
struct Requests;

impl Workload<Prober> for Requests {
    fn clients(&self) -> Vec<NodeId> {
        vec![NodeId(0), NodeId(1)]
    }
    fn request(&self, _: NodeId, seq: u64) -> Msg {
        Msg::Request(seq)
    }
    fn span_metric(&self) -> &'static str {
        "none"
    }
}

/// Arrivals in `[lo, hi)` seconds.
fn arrivals(report: &RunReport, lo: f32, hi: f32) -> usize {
    report.metrics.get("arrival").map_or(0, |s| {
        s.samples()
            .iter()
            .filter(|&&(t, _)| t >= lo && t < hi)
            .count()
    })
}

#[test]
fn a_phased_load_follows_its_steps_ramps_and_groups() {
    // All clients: 1000/s for 10 s, a 5000/s spike for 2 s, 1000/s again,
    // then a ramp from 0 to 2000/s over 10 s (mean 1000/s). Node 1 alone:
    // 500/s throughout.
    let system = prober(2);
    let load = Load::Phased {
        streams: vec![
            Stream {
                clients: None,
                phases: vec![
                    Phase {
                        from: Duration::ZERO,
                        rate_per_sec: 1000.0,
                        ramp_to_per_sec: None,
                    },
                    Phase {
                        from: Duration::from_secs(10),
                        rate_per_sec: 5000.0,
                        ramp_to_per_sec: None,
                    },
                    Phase {
                        from: Duration::from_secs(12),
                        rate_per_sec: 1000.0,
                        ramp_to_per_sec: None,
                    },
                    Phase {
                        from: Duration::from_secs(20),
                        rate_per_sec: 0.0,
                        ramp_to_per_sec: Some(2000.0),
                    },
                    Phase {
                        from: Duration::from_secs(30),
                        rate_per_sec: 0.0,
                        ramp_to_per_sec: None,
                    },
                ],
            },
            Stream {
                clients: Some(vec![NodeId(1)]),
                phases: vec![Phase {
                    from: Duration::ZERO,
                    rate_per_sec: 500.0,
                    ramp_to_per_sec: None,
                }],
            },
        ],
    };
    let run = |seed| {
        Simulator::new(&system)
            .network(net())
            .workload(&Requests, load.clone())
            .horizon(Duration::from_secs(32))
            .run(seed)
            .expect("runs")
    };
    let report = run(3);
    // Expected counts (all clients + node 1's 500/s); a Poisson count of
    // mean m has sd √m, so the margins below are 4–5 sd.
    for (lo, hi, mean, margin) in [
        (0.0, 10.0, 15_000.0, 600.0),
        (10.0, 12.0, 11_000.0, 450.0),
        (12.0, 20.0, 12_000.0, 500.0),
        // The ramp: ∫ 0..5 s of 200 t dt = 2500, then 7500 in its second
        // half, plus node 1's 2500 in each.
        (20.0, 25.0, 5_000.0, 350.0),
        (25.0, 30.0, 10_000.0, 450.0),
        (30.0, 32.0, 1_000.0, 150.0),
    ] {
        let n = arrivals(&report, lo, hi) as f64;
        assert!(
            (n - mean).abs() < margin,
            "[{lo}, {hi}) s: {n} arrivals, expected {mean} ± {margin}"
        );
    }
    // The same seed gives the same run.
    assert_eq!(run(3).trace_hash, report.trace_hash);
}

#[test]
fn a_load_stream_of_a_non_client_is_refused() {
    let system = prober(3);
    let load = Load::Phased {
        streams: vec![Stream {
            clients: Some(vec![NodeId(2)]),
            phases: vec![Phase {
                from: Duration::ZERO,
                rate_per_sec: 10.0,
                ramp_to_per_sec: None,
            }],
        }],
    };
    let e = Simulator::new(&system)
        .workload(&Requests, load)
        .run(1)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("node n2 is not one of the workload's clients"),
        "{e}"
    );
}
