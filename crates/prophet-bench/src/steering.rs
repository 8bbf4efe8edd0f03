//! `prophet-bench steering`: every seeded-bug variant of the reference
//! systems under the simulator's churn, unsteered and steered, over paired
//! seeds, checked after every event: violations per simulated hour and the
//! fraction steering avoided; on the correct variants, steering's actions
//! per 1,000 delivered messages (false alarms); what checkpoints cost
//! against the protocol's own bytes; the consequence search's CPU per node;
//! and the objectives, so that liveness kept can be read off.
//!
//! A variant whose system declares no filterable message kind cannot be
//! steered at all (nothing may be discarded): its row says so rather than
//! leave it out, without simulating it. For Chord, whose messages are
//! declared, the immediate check also runs under a sweep of checkpoint
//! budgets: the fraction avoided against the bytes it may spend.

use std::time::Instant;

use prophet::registry::{Entry, Purpose, SimRequest};
use prophet::sim::{Limits, RunReport};
use prophet::steer::SteerConfig;
use prophet_systems::{chord, kv, paxos, randtree};
use serde_json::json;

/// What to run.
pub struct SteeringBench {
    /// Paired seeds per variant and arm.
    pub seeds: usize,
    /// Only these systems (empty: all).
    pub only: Vec<String>,
}

/// (system, variant, parameters beyond the simulator's defaults).
const CASES: &[(&str, &str, &[&str])] = &[
    ("chord", "correct", &["nodes=8"]),
    ("chord", "unchecked-notify", &["nodes=8"]),
    ("chord", "forgetful-rejoin", &["nodes=8"]),
    ("randtree", "correct", &[]),
    ("randtree", "forgetful-rejoin", &[]),
    ("paxos", "correct", &[]),
    ("paxos", "forgetful-acceptor", &[]),
    ("kv", "correct", &[]),
    ("kv", "volatile-store", &[]),
];

/// Fixed checkpoint budgets swept, bytes per second per node (beyond 5% of
/// the node's own traffic).
const BUDGETS: &[f64] = &[50.0, 100.0, 250.0, 500.0, 1000.0];

/// The arms: no steering, the immediate check only, the immediate check
/// with the default consequence search (both under the default budget),
/// and the immediate check without a budget and under each of [`BUDGETS`].
fn arms() -> Vec<(String, Option<SteerConfig>)> {
    let immediate = SteerConfig {
        lookahead: 0,
        ..SteerConfig::default()
    };
    let mut arms = vec![
        ("unsteered".to_string(), None),
        ("immediate".to_string(), Some(immediate)),
        ("lookahead".to_string(), Some(SteerConfig::default())),
        (
            "immediate, no budget".to_string(),
            Some(SteerConfig {
                budget: None,
                ..immediate
            }),
        ),
    ];
    for &bytes_per_sec in BUDGETS {
        let budget = prophet::steer::Budget {
            bytes_per_sec,
            ..prophet::steer::Budget::default()
        };
        arms.push((
            format!("immediate, budget {bytes_per_sec} B/s"),
            Some(SteerConfig {
                budget: Some(budget),
                ..immediate
            }),
        ));
    }
    arms
}

fn entry(system: &str) -> Option<Entry> {
    Some(match system {
        "chord" => Entry::nodes(chord::ChordProtocol),
        "randtree" => Entry::nodes(randtree::RandTreeProtocol),
        "paxos" => Entry::nodes(paxos::Paxos),
        "kv" => Entry::nodes(kv::Kv),
        _ => return None,
    })
}

/// Simulated seconds a run lasted (to its violation, or its end).
fn lasted(run: &RunReport) -> f64 {
    run.violation
        .as_ref()
        .map_or(run.sim_time, |v| v.at)
        .as_secs_f64()
}

pub fn run(bench: &SteeringBench) -> Result<(), String> {
    let seeds: Vec<u64> = (1..=bench.seeds as u64).collect();
    for &(system, variant, extra) in CASES {
        if !bench.only.is_empty() && !bench.only.iter().any(|s| s == system) {
            continue;
        }
        let entry = entry(system).ok_or_else(|| format!("no system {system}"))?;
        let filterable = entry.description().filterable_kinds();
        let mut pairs = vec![format!("variant={variant}")];
        pairs.extend(extra.iter().map(|p| p.to_string()));
        let params = entry
            .params(Purpose::Sim, &pairs)
            .map_err(|e| e.to_string())?;
        let nodes = entry.node_count(&params).unwrap_or(1);
        let mut unsteered_rate = None;
        if filterable.is_empty() {
            println!(
                "{}",
                json!({"bench": "steering", "measure": "variant", "system": system,
                       "variant": variant, "steerable": false,
                       "why": "the system declares no message kind steering may filter"})
            );
            continue;
        }
        for (arm, steer) in arms() {
            let mut progress = |_: &RunReport| {};
            let mut request = SimRequest {
                scenario: None,
                policies: Default::default(),
                default_policy: None,
                limits: Limits::default(),
                seeds: seeds.clone(),
                check_every: Some(1),
                progress: &mut progress,
                run_progress: None,
                observer: None,
                steer,
            };
            let started = Instant::now();
            let runs = entry.simulate(&params, &mut request)?;
            let wall = started.elapsed().as_secs_f64();
            let sim_s: f64 = runs.iter().map(lasted).sum();
            let violated = runs.iter().filter(|r| r.violation.is_some()).count();
            let per_hour = violated as f64 / (sim_s / 3600.0).max(1e-12);
            if steer.is_none() {
                unsteered_rate = Some(per_hour);
            }
            let avoided = match (steer, unsteered_rate) {
                (Some(_), Some(before)) if before > 0.0 => Some(1.0 - per_hour / before),
                _ => None,
            };
            let sum = |f: fn(&prophet::sim::steer::SteeringReport) -> u64| -> u64 {
                runs.iter().filter_map(|r| r.steering.as_ref()).map(f).sum()
            };
            let delivered: u64 = runs.iter().map(|r| r.messages_delivered).sum();
            let depths: Vec<usize> = runs
                .iter()
                .filter_map(|r| r.steering.as_ref())
                .flat_map(|s| s.actions.iter().map(|a| a.depth))
                .collect();
            let objectives: serde_json::Map<String, serde_json::Value> = runs
                .first()
                .map(|r| {
                    r.objectives
                        .iter()
                        .map(|o| o.name.clone())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
                .into_iter()
                .map(|name| {
                    let values: Vec<f64> = runs.iter().filter_map(|r| r.objective(&name)).collect();
                    let mean = values.iter().sum::<f64>() / values.len().max(1) as f64;
                    (name, json!({"mean": mean, "runs": values.len()}))
                })
                .collect();
            let node_s = sim_s * nodes as f64;
            println!(
                "{}",
                json!({"bench": "steering", "measure": "variant", "system": system,
                       "variant": variant, "arm": arm, "steerable": true,
                       "filterable": filterable, "seeds": seeds.len(), "nodes": nodes,
                       "violated_seeds": violated, "sim_s": sim_s,
                       "violations_per_sim_hour": per_hour, "avoided": avoided,
                       "reviewed": sum(|s| s.reviewed), "discarded": sum(|s| s.discarded),
                       "predicted": sum(|s| s.predicted), "searches": sum(|s| s.searches),
                       "search_states": sum(|s| s.search_states),
                       "actions_per_1000_delivered": 1000.0 * sum(|s| s.discarded) as f64 / delivered.max(1) as f64,
                       "mean_depth": (!depths.is_empty()).then(|| depths.iter().sum::<usize>() as f64 / depths.len() as f64),
                       "checkpoint_bytes_per_node_s": sum(|s| s.checkpoint_bytes) as f64 / node_s.max(1e-12),
                       "protocol_bytes_per_node_s": sum(|s| s.protocol_bytes) as f64 / node_s.max(1e-12),
                       "checkpoints_deferred": sum(|s| s.checkpoints_deferred),
                       "budget_bytes_per_s": steer.and_then(|c| c.budget).map(|b| b.bytes_per_sec),
                       "checkpoint_share_of_protocol_bytes": (steer.is_some()).then(|| sum(|s| s.checkpoint_bytes) as f64 / sum(|s| s.protocol_bytes).max(1) as f64),
                       "wall_s": wall,
                       "wall_share_of_a_core_per_node": wall / node_s.max(1e-12),
                       "objectives": objectives})
            );
        }
    }
    Ok(())
}
