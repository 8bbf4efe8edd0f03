//! `prophet swarm merge`: combines the JSON reports of a swarm's workers
//! (`prophet check SYSTEM --swarm N --json`, one per worker) into one
//! verdict (`prophet::explore::swarm`).

use std::path::PathBuf;
use std::process::ExitCode;

use prophet::explore::swarm::{SAMPLE_EVERY, SwarmSummary, WorkerReport, merge};

use crate::out::outln;
use crate::{EXIT_OK, EXIT_USAGE, EXIT_VIOLATION};

/// Arguments of `prophet swarm`.
#[derive(clap::Args, Debug)]
pub struct SwarmArgs {
    #[command(subcommand)]
    command: SwarmCommand,
}

#[derive(clap::Subcommand, Debug)]
enum SwarmCommand {
    /// Merge workers' reports: violations with the shortest trace each,
    /// states visited, and an estimate of the distinct states covered.
    #[command(after_help = "Examples:\n  \
        for i in 0 1 2 3; do\n    \
          prophet check paxos -p variant=ignore-accepted --swarm 4 --swarm-index $i --json > w$i.json\n  \
        done\n  \
        prophet swarm merge w*.json\n  \
        kubectl logs -l job-name=prophet-swarm --tail=1 --prefix=false > all.json && prophet swarm merge all.json\n\n\
Each file holds one or more workers' JSON reports, one per line (lines not\n\
starting with `{` are ignored; one that does and is not a report is an error). The distinct-state estimate is the union of the workers'\n\
fingerprint samples (every fingerprint divisible by 64) times 64: the swarm's\n\
coverage, as a fraction of --reachable when the reachable count is known.\n\n\
Exit status: 0 when no worker found a violation, 1 when one did, 2 on bad\n\
usage or reports that do not belong to one swarm.")]
    Merge(MergeArgs),
}

#[derive(clap::Args, Debug)]
struct MergeArgs {
    /// Files with the workers' `--json` output.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// The number of reachable states, when known (an exhaustive run's
    /// `unique_states`): the coverage is reported against it.
    #[arg(long, value_name = "N")]
    reachable: Option<u64>,
    /// Print the result as JSON: the last line of output is one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &SwarmArgs) -> ExitCode {
    match &args.command {
        SwarmCommand::Merge(merge_args) => run_merge(merge_args),
    }
}

fn run_merge(args: &MergeArgs) -> ExitCode {
    let mut reports = Vec::new();
    for path in &args.files {
        match read_reports(path) {
            Ok(found) => reports.extend(found),
            Err(error) => return usage(&error),
        }
    }
    let summary = match merge(reports, args.reachable) {
        Ok(summary) => summary,
        Err(error) => return usage(&error),
    };
    if !summary.missing.is_empty() {
        eprintln!(
            "warning: no report from worker(s) {} of {}",
            list(&summary.missing),
            summary.size
        );
    }
    if args.json {
        match serde_json::to_string(&summary) {
            Ok(line) => outln!("{line}"),
            Err(error) => return usage(&error.to_string()),
        }
    } else {
        print_summary(&summary);
    }
    ExitCode::from(if summary.ok() {
        EXIT_OK
    } else {
        EXIT_VIOLATION
    })
}

/// Every worker report in `path`: the lines that parse as one.
fn read_reports(path: &PathBuf) -> Result<Vec<WorkerReport>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut reports = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if !line.starts_with('{') {
            continue;
        }
        // A line that looks like a report and is not one (a log cut short)
        // could hide a violation: refuse it rather than skip it.
        let report = serde_json::from_str::<WorkerReport>(line).map_err(|error| {
            format!(
                "{}:{}: not a swarm worker's report: {error}",
                path.display(),
                number + 1
            )
        })?;
        reports.push(report);
    }
    if reports.is_empty() {
        return Err(format!(
            "{}: no JSON report (run the workers with --swarm N --json)",
            path.display()
        ));
    }
    Ok(reports)
}

fn print_summary(s: &SwarmSummary) {
    let params: Vec<String> = s.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    outln!(
        "swarm of {} on {} ({}), seed {}: {} report(s)",
        s.size,
        s.system,
        params.join(", "),
        s.swarm_seed,
        s.workers.len()
    );
    outln!(
        "states: {} generated, {} visited (summed over workers), about {} distinct (from a 1/{SAMPLE_EVERY} fingerprint sample)",
        s.total_states,
        s.visited_states,
        s.distinct_estimate
    );
    let growth: Vec<String> = s.growth.iter().map(u64::to_string).collect();
    outln!("distinct estimate after each worker: {}", growth.join(" "));
    if let (Some(reachable), Some(coverage)) = (s.reachable, s.coverage) {
        outln!("coverage: {coverage:.3} of {reachable} reachable states (an estimate)");
    }
    for v in &s.violations {
        outln!(
            "VIOLATION of \"{}\" ({} steps, worker {}); found by {} of {} workers: {}",
            v.finding.property,
            v.finding.trace_len,
            v.worker,
            v.found_by.len(),
            s.workers.len(),
            list(&v.found_by)
        );
        if let Some(trace) = &v.finding.trace {
            outln!("{trace}");
            outln!(
                "replay with: {}",
                crate::replay_command_with(&s.system, &s.params, &trace.encoded())
            );
        }
    }
    if s.ok() {
        outln!("no violations (a swarm samples the space; it never exhausts it)");
    } else {
        outln!("{} violation(s)", s.violations.len());
    }
}

fn list(indices: &[u32]) -> String {
    indices
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn usage(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(EXIT_USAGE)
}
