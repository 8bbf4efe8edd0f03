//! `prophet-bench explore`: Prophet's explorer against stateright 0.31 on
//! two-phase commit. Every measurement runs in a child process of its own so
//! that its peak resident memory (`VmHWM`) is its alone.

use std::process::Command;
use std::time::Instant;

use prophet::explore::{Explorer, Strategy};
use prophet_systems::two_phase::TwoPhase;
use serde_json::{Value, json};
use stateright::{Checker, Model};

use crate::sr_two_phase::{Idiomatic, Packed};

/// One measurement's parameters, as passed to the child process.
#[derive(Clone, Copy, Debug)]
pub struct Case {
    /// `prophet`, `stateright` (same packed model) or `stateright-idiomatic`.
    pub tool: &'static str,
    /// `bfs` or `dfs`.
    pub strategy: &'static str,
    /// Resource managers.
    pub rms: usize,
}

/// The comparison's cases: BFS and DFS at 8 RMs, DFS at 10.
pub fn cases(quick: bool) -> Vec<(&'static str, usize)> {
    if quick {
        vec![("bfs", 5), ("dfs", 5)]
    } else {
        vec![("bfs", 8), ("dfs", 8), ("dfs", 10)]
    }
}

/// Runs one case in this process and returns its measurement.
pub fn run_case(case: Case, threads: usize) -> Result<Value, String> {
    let start = Instant::now();
    let (unique, total) = match case.tool {
        "prophet" => {
            let strategy = match case.strategy {
                "bfs" => Strategy::Bfs,
                _ => Strategy::Dfs,
            };
            let report = Explorer::new(&TwoPhase::new(case.rms))
                .strategy(strategy)
                .threads(threads)
                .run();
            if !report.complete || !report.violations.is_empty() {
                return Err(format!("prophet run did not pass: {report:?}"));
            }
            (report.unique_states, report.total_states)
        }
        "stateright" => run_stateright(Packed(TwoPhase::new(case.rms)), case.strategy, threads),
        "stateright-idiomatic" => {
            run_stateright(Idiomatic { rms: case.rms }, case.strategy, threads)
        }
        other => return Err(format!("unknown tool {other}")),
    };
    let elapsed = start.elapsed().as_secs_f64();
    Ok(json!({
        "comparison": "explore",
        "model": "two-phase-commit",
        "tool": case.tool,
        "strategy": case.strategy,
        "rms": case.rms,
        "threads": threads,
        "unique_states": unique,
        "total_states": total,
        "elapsed_s": elapsed,
        "unique_states_per_s": unique as f64 / elapsed.max(1e-9),
        "peak_rss_bytes": peak_rss_bytes(),
    }))
}

fn run_stateright<M>(model: M, strategy: &str, threads: usize) -> (u64, u64)
where
    M: Model + Send + Sync + 'static,
    M::State: Clone + std::fmt::Debug + std::hash::Hash + Send + Sync + PartialEq,
    M::Action: Clone + std::fmt::Debug + PartialEq + Send + Sync,
{
    let builder = model.checker().threads(threads);
    fn counts<M: Model>(checker: impl Checker<M>) -> (u64, u64) {
        (
            checker.unique_state_count() as u64,
            checker.state_count() as u64,
        )
    }
    match strategy {
        "bfs" => counts(builder.spawn_bfs().join()),
        _ => counts(builder.spawn_dfs().join()),
    }
}

/// Peak resident set size of this process, from `/proc/self/status`.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Runs `case` in a child process of this binary and parses its JSON line.
pub fn measure_in_child(case: Case, threads: usize) -> Result<Value, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find own binary: {e}"))?;
    let output = Command::new(exe)
        .args([
            "explore-case",
            "--tool",
            case.tool,
            "--strategy",
            case.strategy,
            "--rms",
            &case.rms.to_string(),
            "--threads",
            &threads.to_string(),
        ])
        .output();
    child_json(output, &format!("{case:?}"))
}

/// The JSON line a measuring child process printed last, or why there is none.
pub fn child_json(
    output: std::io::Result<std::process::Output>,
    what: &str,
) -> Result<Value, String> {
    let output = output.map_err(|e| format!("cannot run child: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{what} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text.lines().last().ok_or("child printed nothing")?;
    serde_json::from_str(line).map_err(|e| format!("child output is not JSON ({e}): {line}"))
}

/// The comparison's ratio line for one case.
pub fn ratio(prophet: &Value, baseline: &Value) -> Value {
    let f = |v: &Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    json!({
        "comparison": "explore",
        "model": "two-phase-commit",
        "strategy": prophet["strategy"],
        "rms": prophet["rms"],
        "baseline": baseline["tool"],
        "same_unique_states": prophet["unique_states"] == baseline["unique_states"],
        "speed_ratio": f(prophet, "unique_states_per_s") / f(baseline, "unique_states_per_s"),
        "memory_ratio": f(prophet, "peak_rss_bytes") / f(baseline, "peak_rss_bytes"),
        "goal": "speed_ratio >= 2, memory_ratio <= 0.5",
    })
}
