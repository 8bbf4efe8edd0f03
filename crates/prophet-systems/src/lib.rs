//! Prophet's reference protocols, used by the tests, the benchmarks and the
//! `prophet` command line.
//!
//! Each protocol is written once against [`prophet::model`] and described
//! once, next to its code, for [`prophet::registry`]: parameters with a
//! default per purpose, variants with seeded bugs, choices, workload and
//! simulator defaults. This crate holds protocols only: the command line
//! (`prophet_cli::builtin`) registers them.

#![warn(missing_docs)]

pub mod chord;
pub mod kv;
pub mod paxos;
pub mod randtree;
pub mod two_phase;

/// Churn in simulation for the overlays whose node 0 founds the structure
/// (RandTree's root, Chord's creator): 0.5 crashes per second among the
/// other nodes, each down for 1 s, until `until`.
pub fn churn_after_the_founder(nodes: usize, until: std::time::Duration) -> prophet::sim::Fault {
    prophet::sim::Fault::Churn {
        nodes: (1..nodes).map(prophet::model::NodeId::from).collect(),
        rate_per_sec: 0.5,
        down_for: prophet::sim::LatencyDist::Constant { ms: 1000.0 },
        from: std::time::Duration::ZERO,
        until,
    }
}
