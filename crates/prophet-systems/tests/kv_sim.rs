//! The KV store under the simulator: the stuck-replica experiment.

use std::time::Duration;

use prophet::model::NodeId;
use prophet::sim::{
    LatencyDist, Load, NetworkModel, PolicySpec, RunReport, Simulator, Slowdown, Target,
};
use prophet_systems::kv;

fn stuck_replica(policy: PolicySpec, seed: u64) -> RunReport {
    let config = kv::Config::new(11, 10);
    let system = kv::system_with(&config);
    let workload = kv::workload(&config);
    let mut network = NetworkModel::uniform(LatencyDist::LogNormal {
        median_ms: 1.0,
        sigma: 0.5,
    });
    for r in 0..11 {
        network.service.insert(
            NodeId(r),
            LatencyDist::LogNormal {
                median_ms: 2.0,
                sigma: 0.5,
            },
        );
    }
    network.slowdowns.push(Slowdown {
        from: Duration::from_secs(10),
        until: Duration::from_secs(40),
        target: Target::Node(NodeId(3)),
        extra_latency: Duration::from_secs(2),
        latency_factor: 1.0,
        service_factor: 1.0,
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
}
