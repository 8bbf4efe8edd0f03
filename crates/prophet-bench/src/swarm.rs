//! Swarm exploration: how the probability of finding each seeded bug grows
//! with the number of workers. Every worker runs `--walks` random walks of
//! its own seed and walk length (`prophet::explore::swarm`); a swarm finds
//! the bug when any worker does. Per bug and swarm size, `--trials` swarms
//! with different swarm seeds give the fraction that found it, with a 95%
//! Wilson interval. In process, on the registry's reference systems.

use std::time::Instant;

use prophet::explore::DEFAULT_WALK_LEN;
use prophet::explore::swarm::SwarmWorker;
use prophet::registry::{CheckOptions, CheckOutcome, Purpose, Registry};
use prophet_systems::{kv, paxos, randtree};
use serde_json::json;

/// The benchmark's knobs.
pub struct SwarmBench {
    /// Swarms per bug and size.
    pub trials: u32,
    /// Walks per worker.
    pub walks: u64,
    /// Swarm sizes.
    pub sizes: Vec<u32>,
}

/// The seeded bugs: system and variant.
const BUGS: [(&str, &str); 5] = [
    ("paxos", "ignore-accepted"),
    ("paxos", "forgetful-acceptor"),
    ("kv", "volatile-store"),
    ("kv", "volatile-client-counter"),
    ("randtree", "forgetful-rejoin"),
];

fn registry() -> Registry {
    Registry::new()
        .with(prophet_runtime::live::entry(paxos::Paxos))
        .with(prophet_runtime::live::entry(kv::Kv))
        .with(prophet_runtime::live::entry(randtree::RandTreeProtocol))
}

/// Whether worker `index` of a swarm of `size` with `seed` finds the bug.
fn worker_finds(
    registry: &Registry,
    system: &str,
    variant: &str,
    worker: SwarmWorker,
) -> Result<bool, String> {
    let entry = registry.find(system).map_err(|e| e.to_string())?;
    let params = entry
        .params(Purpose::Check, &[format!("variant={variant}")])
        .map_err(|e| e.to_string())?;
    let options = CheckOptions {
        strategy: worker.strategy(),
        max_depth: Some(worker.walk_len),
        walks: Some(worker.walks),
        threads: Some(1),
        ..CheckOptions::default()
    };
    match entry.check(&params, &options)? {
        CheckOutcome::Report(report) => Ok(!report.violations.is_empty()),
        CheckOutcome::Replay { .. } => Err("unexpected replay".into()),
    }
}

/// A 95% Wilson score interval for `k` successes in `n` trials.
fn wilson(k: u32, n: u32) -> (f64, f64) {
    let (k, n, z) = (f64::from(k), f64::from(n), 1.96);
    let p = k / n;
    let centre = (p + z * z / (2.0 * n)) / (1.0 + z * z / n);
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / (1.0 + z * z / n);
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

pub fn run(bench: &SwarmBench) -> Result<(), String> {
    let registry = registry();
    let largest = bench.sizes.iter().copied().max().unwrap_or(1);
    for (system, variant) in BUGS {
        let started = Instant::now();
        // found[trial][index]: whether worker `index` of swarm `trial` finds
        // it; a swarm of size s is its first s workers (the plans of the
        // first s indices do not depend on the swarm's size).
        let mut found = Vec::new();
        for trial in 0..bench.trials {
            let mut row = Vec::new();
            for index in 0..largest {
                let worker = SwarmWorker::plan(
                    index,
                    largest,
                    u64::from(trial),
                    DEFAULT_WALK_LEN,
                    bench.walks,
                )?;
                row.push(worker_finds(&registry, system, variant, worker)?);
            }
            found.push(row);
        }
        for &size in &bench.sizes {
            let hits = found
                .iter()
                .filter(|row| row[..size as usize].iter().any(|&f| f))
                .count() as u32;
            let (low, high) = wilson(hits, bench.trials);
            println!(
                "{}",
                json!({
                    "bench": "swarm", "system": system, "variant": variant,
                    "workers": size, "walks_per_worker": bench.walks,
                    "trials": bench.trials, "found": hits,
                    "p_found": f64::from(hits) / f64::from(bench.trials),
                    "p_found_95": [low, high],
                })
            );
        }
        eprintln!(
            "{system} {variant}: {:.1}s",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
