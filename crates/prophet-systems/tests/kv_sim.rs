//! The KV store under the simulator: the stuck-replica experiment.

use std::time::Duration;

use prophet::model::NodeId;
use prophet::sim::{LatencyDist, Load, PolicySpec, RunReport, Simulator, Slowdown, Target};
use prophet_systems::kv;

fn stuck_replica(policy: PolicySpec, seed: u64) -> RunReport {
    stuck_replica_hedged(policy, PolicySpec::First, seed)
}

fn stuck_replica_hedged(policy: PolicySpec, hedge: PolicySpec, seed: u64) -> RunReport {
    let config = kv::Config::new(11, 10);
    let system = kv::system_with(&config);
    let workload = kv::workload(&config);
    let mut network = kv::network(&config);
    network.slowdowns.push(Slowdown {
        extra_latency: Duration::from_secs(2),
        ..Slowdown::window(
            Duration::from_secs(10),
            Duration::from_secs(40),
            Target::Node(NodeId(3)),
        )
    });
    Simulator::new(&system)
        .network(network)
        .workload(
            &workload,
            Load::Open {
                rate_per_sec: 1000.0,
            },
        )
        .policy(kv::READ_REPLICA, policy)
        .policy(kv::HEDGE, hedge)
        .policy(kv::HEDGE_REPLICA, PolicySpec::Random)
        .horizon(Duration::from_secs(60))
        .run(seed)
        .expect("runs")
}

/// Margins: over one 60 s run (≈54 000 reads, 30 s of them with replica 3
/// answering 2 s late), random selection sends ≈1/11 of those reads to the
/// stuck replica: ≈4.7% of all reads exceed 1 s (measured 95.3% within 1 s).
/// Peak-EWMA notices within a few requests (measured 99.98%). The test
/// demands at most 97% for random and at least 99.5% for Peak-EWMA, and a
/// p99.9 above 1.5 s for random and below 0.5 s for Peak-EWMA.
#[test]
fn stuck_replica_hurts_random_more_than_peak_ewma() {
    let random = stuck_replica(PolicySpec::Random, 1);
    let ewma = stuck_replica(PolicySpec::PeakEwma, 1);
    let random_reads = random.metrics.get(kv::READ_LATENCY).expect("reads");
    let ewma_reads = ewma.metrics.get(kv::READ_LATENCY).expect("reads");
    assert!(random_reads.count() > 50_000 && ewma_reads.count() > 50_000);
    let (r, e) = (
        random_reads.fraction_at_most(1.0),
        ewma_reads.fraction_at_most(1.0),
    );
    assert!(r <= 0.97, "random: {r} of reads within 1 s");
    assert!(e >= 0.995, "peak-ewma: {e} of reads within 1 s");
    assert!(random_reads.quantile(0.999) > 1.5);
    assert!(ewma_reads.quantile(0.999) < 0.5);
    // The declared objective `reads_within_1s` is that fraction, counted
    // exactly: every read sample is kept here, so count them by hand.
    for (report, reads) in [(&random, random_reads), (&ewma, ewma_reads)] {
        assert_eq!(reads.samples().len() as u64, reads.count());
        let within = reads.samples().iter().filter(|s| s.1 <= 1.0).count();
        let exact = within as f64 / reads.count() as f64;
        assert_eq!(report.objective("reads_within_1s"), Some(exact));
    }
    let seeds = prophet::sim::SeedsReport::from_runs(&[random.clone(), ewma.clone()]);
    let estimate = seeds.objectives["reads_within_1s"];
    assert_eq!(estimate.n, 2);
    assert!(estimate.ci95 > 0.0 && estimate.min <= 0.97 && estimate.max >= 0.995);
}

#[test]
fn hedged_reads_rescue_random_selection() {
    // The second choice: with kv.hedge = fixed:2 (a backup read after
    // 50 ms to a random replica), a read stuck on the slow replica is
    // answered by the backup ≈50 ms later, unless the backup pick is the
    // stuck primary itself (1 in 11: no backup is sent). Expected: ≈4.5% of
    // reads go to the stuck replica, 1/11 of those wait, so ≈99.6% within
    // 1 s (measured 99.59%, against 95.3% without hedging); the test
    // demands 99.3%.
    let hedged = stuck_replica_hedged(PolicySpec::Random, PolicySpec::Fixed(2), 1);
    let reads = hedged.metrics.get(kv::READ_LATENCY).expect("reads");
    let within = reads.fraction_at_most(1.0);
    assert!(within >= 0.993, "{within}");
    assert!(hedged.summaries[kv::HEDGES].count > 1_000);
}

#[test]
fn closed_loop_clients_issue_back_to_back_requests() {
    // 4 clients, one request in flight each, no think time, for 10 s: each
    // client's request spans tile its timeline, so their durations add up
    // to just under 4 × 10 s (the last request of each may be unfinished,
    // and requests last a few ms).
    let config = kv::Config::new(3, 4);
    let system = kv::system_with(&config);
    let workload = kv::workload(&config);
    let report = Simulator::new(&system)
        .network(kv::network(&config))
        .workload(
            &workload,
            Load::Closed {
                outstanding: 1,
                think: LatencyDist::Constant { ms: 0.0 },
            },
        )
        .policy(kv::READ_REPLICA, PolicySpec::RoundRobin)
        .horizon(Duration::from_secs(10))
        .run(2)
        .expect("runs");
    let requests = report.summaries[kv::REQUEST_LATENCY];
    assert!(
        requests.sum > 39.9 && requests.sum <= 40.0,
        "{}",
        requests.sum
    );
    assert!(requests.count > 1_000, "{}", requests.count);
    assert_eq!(report.summaries.get(kv::TIMEOUTS), None);
}

/// Replica 0 crashes at 2 s and restarts at `horizon`'s end or 3 s, under
/// an open load with 50% writes (≈200 writes over 100 keys before the crash).
fn crash_replica_0(
    variant: kv::Variant,
    horizon: Duration,
) -> (
    prophet::sim::RunReport,
    prophet::model::GlobalState<kv::KvNode>,
    kv::Config,
) {
    let mut config = kv::Config::new(3, 2);
    config.variant = variant;
    let system = kv::system_with(&config);
    let mut workload = kv::workload(&config);
    workload.write_percent = 50;
    let (report, state) = Simulator::new(&system)
        .network(kv::network(&config))
        .workload(
            &workload,
            Load::Open {
                rate_per_sec: 200.0,
            },
        )
        .policy(kv::READ_REPLICA, PolicySpec::Random)
        .fault(prophet::sim::Fault::Crash {
            node: NodeId(0),
            at: Duration::from_secs(2),
            restart_after: Some(Duration::from_secs(1)),
        })
        .horizon(horizon)
        .run_to_state(3)
        .expect("runs");
    (report, state, config)
}

fn store_len(state: &prophet::model::GlobalState<kv::KvNode>, id: u32) -> usize {
    match state.node(NodeId(id)) {
        kv::KvState::Replica(r) => r.store.len(),
        kv::KvState::Client(_) => panic!("n{id} is a client"),
    }
}

#[test]
fn a_crashed_replica_keeps_durable_writes_and_loses_volatile_ones() {
    // While down (at 2.5 s) the correct replica holds the keys written
    // before the crash (≈86 of 100 after ≈200 random writes; at least 70
    // demanded); the volatile-store variant holds none.
    let (report, state, _) = crash_replica_0(kv::Variant::Correct, Duration::from_millis(2_500));
    assert_eq!(report.crashes, 1);
    assert!(!state.is_up(NodeId(0)));
    assert!(store_len(&state, 0) >= 70, "{}", store_len(&state, 0));
    let (_, state, _) = crash_replica_0(kv::Variant::VolatileStore, Duration::from_millis(2_500));
    assert_eq!(store_len(&state, 0), 0);
}

#[test]
fn acknowledged_writes_stay_on_a_majority_across_a_restart() {
    let (report, state, config) = crash_replica_0(kv::Variant::Correct, Duration::from_secs(5));
    assert_eq!((report.crashes, report.restarts), (1, 1));
    let mut checked = 0;
    for c in config.client_ids() {
        let kv::KvState::Client(client) = state.node(c) else {
            panic!("clients follow the replicas")
        };
        for (key, v) in &client.acked {
            let holders = (0..3)
                .filter(|&r| match state.node(NodeId(r)) {
                    kv::KvState::Replica(rep) => rep.store.get(key).is_some_and(|x| x >= v),
                    kv::KvState::Client(_) => false,
                })
                .count();
            assert!(holders >= 2, "key {key}");
            checked += 1;
        }
    }
    assert!(checked >= 100, "{checked}");
}

#[test]
fn invariant_checks_catch_the_volatile_store_under_simulation() {
    // One replica (quorum 1) that crashes at 1 s: the volatile store loses
    // every acknowledged write, the correct one none. Invariants are checked
    // every 100 events and at the end.
    let run = |variant| {
        let mut config = kv::Config::new(1, 2);
        config.variant = variant;
        let system = kv::system_with(&config);
        let workload = kv::workload(&config);
        Simulator::new(&system)
            .network(kv::network(&config))
            .workload(
                &workload,
                Load::Open {
                    rate_per_sec: 100.0,
                },
            )
            .fault(prophet::sim::Fault::Crash {
                node: NodeId(0),
                at: Duration::from_secs(1),
                restart_after: Some(Duration::from_millis(100)),
            })
            .check_invariants(100)
            .horizon(Duration::from_secs(3))
            .run(5)
            .expect("runs")
    };
    let correct = run(kv::Variant::Correct);
    assert_eq!(correct.violation, None);
    assert_eq!(correct.stop, prophet::sim::StopReason::Horizon);
    let buggy = run(kv::Variant::VolatileStore);
    let violation = buggy.violation.expect("the lost write is caught");
    assert_eq!(violation.property, "acknowledged writes survive");
    assert_eq!(buggy.stop, prophet::sim::StopReason::Violation);
    // Caught by the first check after the crash: within 100 events of it.
    assert!(violation.at >= Duration::from_secs(1), "{:?}", violation.at);
    assert!(
        violation.at < Duration::from_millis(1_600),
        "{:?}",
        violation.at
    );
}

/// Every read on one replica at twice its capacity (1,000 reads/s, 2 ms
/// service): its queue grows for the whole run. Each input that finds the
/// replica busy waits in the replica's own queue and is taken from it once,
/// so the scheduler's work per delivered message stays constant however long
/// the queue (re-scheduling every waiting input at each completion made it
/// grow with the queue: 12.3 M events for 10 simulated seconds, now 66 k).
#[test]
fn an_overloaded_replica_costs_the_scheduler_a_constant_per_message() {
    let config = kv::Config::new(11, 10);
    let system = kv::system_with(&config);
    let workload = kv::workload(&config);
    let network = kv::network(&config);
    let run = |horizon_s: u64| {
        Simulator::new(&system)
            .network(network.clone())
            .workload(
                &workload,
                Load::Open {
                    rate_per_sec: 1000.0,
                },
            )
            .policy(kv::READ_REPLICA, PolicySpec::Fixed(0))
            .horizon(Duration::from_secs(horizon_s))
            .run(1)
            .expect("runs")
    };
    let (short, long) = (run(5), run(20));
    for report in [&short, &long] {
        let per_message = report.scheduled as f64 / report.messages_delivered as f64;
        assert!(
            per_message < 2.5,
            "{} scheduler operations for {} delivered messages ({per_message:.2} each)",
            report.scheduled,
            report.messages_delivered
        );
    }
    // Four times the run, with a queue four times as long at its end: about
    // four times the scheduler's work, not sixteen.
    let growth = long.scheduled as f64 / short.scheduled as f64;
    assert!(
        (3.5..4.5).contains(&growth),
        "scheduler work grew {growth:.2}x"
    );
    // The replica really is overloaded: reads wait seconds by the end.
    let p99 = long
        .objectives
        .iter()
        .find(|o| o.name == "read_latency_p99")
        .and_then(|o| o.value)
        .expect("p99");
    assert!(p99 > 4.0, "read p99 {p99}");
}

/// Mean read and write latency (s) of a 3-replica store at 200 req/s, half
/// writes, when every `Read` (`kinds`) or every message (`None`) to a
/// replica takes 20 ms more from the start.
fn read_and_write_means(slow: Option<Option<Vec<String>>>) -> (f64, f64) {
    let config = kv::Config::new(3, 4);
    let system = kv::system_with(&config);
    let mut workload = kv::workload(&config);
    workload.write_percent = 50;
    let mut network = kv::network(&config);
    if let Some(kinds) = slow {
        for r in 0..3 {
            network.slowdowns.push(Slowdown {
                extra_latency: Duration::from_millis(20),
                kinds: kinds.clone().unwrap_or_default(),
                ..Slowdown::window(Duration::ZERO, Duration::MAX, Target::Node(NodeId(r)))
            });
        }
    }
    let report = Simulator::new(&system)
        .network(network)
        .workload(
            &workload,
            Load::Open {
                rate_per_sec: 200.0,
            },
        )
        .horizon(Duration::from_secs(20))
        .run(4)
        .expect("runs");
    let mean = |m| report.summaries[m].mean;
    (mean(kv::READ_LATENCY), mean(kv::WRITE_LATENCY))
}

/// Margins: about 2 000 writes per run, mean ≈ 6 ms with a spread of a few
/// ms, so the mean's standard error is under 0.1 ms; the test allows 10%
/// (0.6 ms) for writes when only reads slow down, and wants at least 15 of
/// the 20 ms added where they do.
#[test]
fn a_slowdown_of_reads_leaves_writes_alone() {
    let (read, write) = read_and_write_means(None);
    let (read_slow, write_same) = read_and_write_means(Some(Some(vec!["Read".into()])));
    let (_, write_slow) = read_and_write_means(Some(None));
    assert!(read_slow - read > 0.015, "reads {read} → {read_slow}");
    assert!(
        (write_same - write).abs() < 0.1 * write,
        "writes {write} → {write_same} with only reads slowed"
    );
    assert!(write_slow - write > 0.015, "writes {write} → {write_slow}");
}

/// Replica 3 of 11 crashes at 10 s and restarts at 15 s; every client
/// balances reads with UCB1 and gives up on a request after 1 s. Returns,
/// of the reads issued during the outage, the fraction that timed out.
fn outage_timeout_fraction(seed: u64) -> f64 {
    let mut config = kv::Config::new(11, 10);
    config.timeout = Duration::from_secs(1);
    let system = kv::system_with(&config);
    let workload = kv::workload(&config);
    let report = Simulator::new(&system)
        .network(kv::network(&config))
        .workload(
            &workload,
            Load::Open {
                rate_per_sec: 1000.0,
            },
        )
        .policy(kv::READ_REPLICA, PolicySpec::Ucb1)
        .fault(prophet::sim::Fault::Crash {
            node: NodeId(3),
            at: Duration::from_secs(10),
            restart_after: Some(Duration::from_secs(5)),
        })
        .horizon(Duration::from_secs(20))
        .run(seed)
        .expect("runs");
    // A read's span ends when it is answered or times out (after 1 s):
    // issued at `end − duration`.
    let reads = report.metrics.get(kv::READ_LATENCY).expect("reads");
    assert_eq!(
        reads.samples().len() as u64,
        reads.count(),
        "every sample kept"
    );
    let during: Vec<f32> = reads
        .samples()
        .iter()
        .filter(|(end, secs)| (10.0..15.0).contains(&(end - secs)))
        .map(|&(_, secs)| secs)
        .collect();
    assert!(during.len() > 4_000, "{} reads in the outage", during.len());
    let timed_out = during.iter().filter(|&&secs| secs >= 0.999).count();
    timed_out as f64 / during.len() as f64
}

/// A timed-out read is an outcome of its replica decision. Before, a read
/// sent to the crashed replica never reported one, so UCB1 kept the
/// replica's pre-crash mean (a few ms) while its exploration bonus grew, and
/// sent it almost every read: 93.0% of the reads issued during the outage
/// timed out (seed 1; the issue saw 88% with another setup). Each timeout
/// now costs the replica 1 s, and UCB1 leaves it once the first timeouts
/// come back, 1 s into the 5 s outage: 20.1% timed out with that alone,
/// about the first second's worth. UCB1 also counts the decisions still
/// waiting for an outcome as pulls, so it stops piling reads on the
/// silent replica before then: 1.7% (1.7–1.9% over seeds 1–3; random
/// selection: 8.8–9.3%). The test demands at most 5%.
#[test]
fn ucb1_leaves_a_crashed_replica_once_its_reads_time_out() {
    let fraction = outage_timeout_fraction(1);
    assert!(
        fraction <= 0.05,
        "{fraction} of the outage's reads timed out"
    );
}
