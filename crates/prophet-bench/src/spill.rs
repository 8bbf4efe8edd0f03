//! `prophet-bench spill`: breadth-first search under a memory budget
//! against the same search in memory, on two-phase commit. Each side runs
//! in a child process of its own, so that its peak resident memory
//! (`VmHWM`) is its alone; the ratio line gives the slowdown the budget
//! costs and whether the counts agree.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use prophet::explore::{Explorer, collision_probability};
use prophet_runtime::spill::DiskStore;
use prophet_systems::two_phase::TwoPhase;
use serde_json::{Value, json};

/// What to measure.
pub struct SpillBench {
    /// Resource managers.
    pub rms: usize,
    /// The budget, in bytes.
    pub max_memory: u64,
    /// Stop after this many distinct states (a run larger than any full
    /// space this machine can hold in memory).
    pub max_states: Option<u64>,
    /// Where the spilled side keeps its files.
    pub dir: PathBuf,
    /// Skip the in-memory side (it would not fit).
    pub spill_only: bool,
    /// Worker threads.
    pub threads: usize,
}

/// One side, in this process: `budget` `None` runs in memory.
pub fn run_case(
    rms: usize,
    budget: Option<u64>,
    max_states: Option<u64>,
    dir: &Path,
    threads: usize,
) -> Result<Value, String> {
    let model = TwoPhase::new(rms);
    let store = match budget {
        Some(_) => Some(DiskStore::new_in(dir).map_err(|e| e.to_string())?),
        None => None,
    };
    let start = Instant::now();
    let mut explorer = Explorer::new(&model).threads(threads);
    if let Some(states) = max_states {
        explorer = explorer.max_states(states);
    }
    if let (Some(store), Some(budget)) = (&store, budget) {
        explorer = explorer.spill(store, budget);
    }
    let report = explorer.run();
    let elapsed = start.elapsed().as_secs_f64();
    if !report.violations.is_empty() || (max_states.is_none() && !report.complete) {
        return Err(format!("the run did not pass: {report}"));
    }
    Ok(json!({
        "comparison": "spill",
        "model": "two-phase-commit",
        "rms": rms,
        "mode": if budget.is_some() { "spill" } else { "memory" },
        "max_memory_bytes": budget,
        "max_states": max_states,
        "threads": threads,
        "unique_states": report.unique_states,
        "total_states": report.total_states,
        "max_depth": report.max_depth,
        "complete": report.complete,
        "elapsed_s": elapsed,
        "unique_states_per_s": report.unique_states as f64 / elapsed.max(1e-9),
        "peak_rss_bytes": crate::explore_cmp::peak_rss_bytes(),
        "spill": report.spill,
        "fingerprint_collision_probability": collision_probability(report.unique_states),
    }))
}

fn child(bench: &SpillBench, spill: bool) -> Result<Value, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find own binary: {e}"))?;
    let mut command = Command::new(exe);
    command.args([
        "spill-case",
        "--rms",
        &bench.rms.to_string(),
        "--threads",
        &bench.threads.to_string(),
        "--dir",
        &bench.dir.display().to_string(),
    ]);
    if spill {
        command.args(["--max-memory", &bench.max_memory.to_string()]);
    }
    if let Some(states) = bench.max_states {
        command.args(["--max-states", &states.to_string()]);
    }
    crate::explore_cmp::child_json(command.output(), "spill case")
}

/// Both sides (or the spilled one) and the ratio line, as JSON lines.
pub fn run(bench: &SpillBench) -> Result<(), String> {
    let spilled = child(bench, true)?;
    println!("{spilled}");
    if bench.spill_only {
        return Ok(());
    }
    let memory = child(bench, false)?;
    println!("{memory}");
    let f = |v: &Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    let ratio = json!({
        "comparison": "spill",
        "model": "two-phase-commit",
        "rms": bench.rms,
        "max_memory_bytes": bench.max_memory,
        "same_unique_states": spilled["unique_states"] == memory["unique_states"],
        "same_total_states": spilled["total_states"] == memory["total_states"],
        "slowdown": f(&spilled, "elapsed_s") / f(&memory, "elapsed_s"),
        "memory_ratio": f(&spilled, "peak_rss_bytes") / f(&memory, "peak_rss_bytes"),
        "spill_peak_rss_within_budget": f(&spilled, "peak_rss_bytes") <= bench.max_memory as f64,
    });
    println!("{ratio}");
    Ok(())
}
