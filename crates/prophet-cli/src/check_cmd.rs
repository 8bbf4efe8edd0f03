//! `prophet check`: model-check a registered system.

use crate::out::outln;
use std::process::ExitCode;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use prophet::explore::spill::SpillStore;
use prophet::explore::swarm::SwarmWorker;
use prophet::explore::{
    DEFAULT_WALK_LEN, DEFAULT_WALKS, MIN_BUDGET_BYTES, Progress, Report, Strategy, Trace,
    collision_probability,
};
use prophet::model::Fairness;
use prophet::registry::{CheckOptions, CheckOutcome, Params, Purpose, Registry};
use prophet_runtime::spill::DiskStore;

use crate::duration::parse_duration;
use crate::{EXIT_FAILED, EXIT_OK, EXIT_USAGE, EXIT_VIOLATION};

/// Arguments of `prophet check`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    prophet check paxos\n  \
    prophet check paxos --param variant=ignore-accepted\n  \
    prophet check two-phase-commit --param rms=5 --dfs --symmetry\n  \
    prophet check randtree --walk --seed 7 --walks 500 --max-depth 40 --json\n  \
    prophet check two-phase-commit --param rms=9 --max-memory 256MiB --spill-dir /var/tmp\n\n\
Exit status: 0 when every property holds, 1 when one is violated, 2 on bad usage,\n\
3 when the check could not finish (its spill directory failed).")]
pub struct CheckArgs {
    /// The system to check (see `prophet list`).
    system: String,
    /// A parameter of the system as key=value; repeat for several.
    #[arg(long = "param", short = 'p', value_name = "KEY=VALUE")]
    params: Vec<String>,
    /// Breadth-first search (the default): shortest counterexamples.
    #[arg(long, conflicts_with_all = ["dfs", "walk"])]
    bfs: bool,
    /// Depth-first search.
    #[arg(long, conflicts_with = "walk")]
    dfs: bool,
    /// Random walks instead of exhaustive search (never complete).
    #[arg(long)]
    walk: bool,
    /// Seed of the random walks (or of the swarm); the same seed gives the
    /// same run. Default 0.
    #[arg(long)]
    seed: Option<u64>,
    /// Number of random walks (per worker, in a swarm).
    #[arg(long)]
    walks: Option<u64>,
    /// Run as one worker of a swarm of N diversified random-walk searches
    /// (each worker its own seed and walk length, from the swarm's seed and
    /// its index); `prophet swarm merge` combines the workers' `--json`
    /// outputs. The index comes from --swarm-index or, in a Kubernetes
    /// Indexed Job, from JOB_COMPLETION_INDEX. A worker exits 0 once its
    /// report is printed, violation or not: the merge gives the verdict.
    #[arg(long, value_name = "N", conflicts_with_all = ["bfs", "dfs", "walk", "replay"],
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    swarm: Option<u32>,
    /// This worker's index in the swarm, 0 to N-1 (default: the environment's
    /// JOB_COMPLETION_INDEX).
    #[arg(long, value_name = "I", requires = "swarm")]
    swarm_index: Option<u32>,
    /// Do not expand states this many steps from a start state (depth 0);
    /// TLC counts states, one more. For walks: the walk length.
    #[arg(long, value_name = "N")]
    max_depth: Option<usize>,
    /// Stop after about this many distinct states.
    #[arg(long, value_name = "N")]
    max_states: Option<u64>,
    /// Stop after this much time (e.g. 30s, 5m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, allow_hyphen_values = true)]
    time_limit: Option<Duration>,
    /// Merge states that differ only by a permutation of interchangeable
    /// nodes (when the system declares them); sound, not always one state
    /// per class (see the guide's chapter on checking).
    #[arg(long)]
    symmetry: bool,
    /// Worker threads for BFS and DFS (default: every core).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1024))]
    threads: Option<u64>,
    /// Keep exploring after the first violation.
    #[arg(long)]
    keep_going: bool,
    /// Replay an encoded path (as printed with a counterexample, e.g. 0:3.1.2) and print its trace.
    #[arg(long, value_name = "PATH")]
    replay: Option<String>,
    /// Assume fairness for a class of events when checking liveness:
    /// `weak:CLASS` (an event that stays enabled happens) or `strong:CLASS`
    /// (an event enabled infinitely often happens infinitely often), per
    /// instance (each message, each node's timer). Classes: deliver, lose,
    /// timer, crash, restart. Repeat for several.
    #[arg(long = "fair", value_name = "KIND:CLASS", value_parser = Fairness::parse)]
    fair: Vec<Fairness>,
    /// Bound BFS's memory (e.g. 1GiB, 512MiB; at least 1MiB): the visited
    /// set and the frontier go to files in --spill-dir, sorted and merged
    /// level by level, and only buffers within the budget stay in memory.
    /// Same counts and counterexamples as in memory; liveness properties
    /// are left undecided.
    #[arg(long, value_name = "SIZE", value_parser = crate::size::parse_size,
          conflicts_with_all = ["dfs", "walk", "swarm", "replay"])]
    max_memory: Option<u64>,
    /// Where --max-memory keeps its files: a new directory is made inside
    /// (default: the system's temporary directory) and removed at the end.
    #[arg(long, value_name = "DIR", requires = "max_memory")]
    spill_dir: Option<std::path::PathBuf>,
    /// Print the result as JSON: the last line of output is one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(registry: &Registry, args: &CheckArgs) -> ExitCode {
    let entry = match registry.find(&args.system) {
        Ok(entry) => entry,
        Err(error) => return usage(&error.to_string()),
    };
    let params = match entry.params(Purpose::Check, &args.params) {
        Ok(params) => params,
        Err(error) => return usage(&error.to_string()),
    };
    let replay = match args.replay.as_deref().map(Trace::decode).transpose() {
        Ok(replay) => replay,
        Err(error) => return usage(&error),
    };
    if (args.seed.is_some() || args.walks.is_some()) && !args.walk && args.swarm.is_none() {
        return usage("--seed and --walks apply to random walks: add --walk or --swarm N");
    }
    let worker = match args.swarm.map(|size| swarm_worker(args, size)).transpose() {
        Ok(worker) => worker,
        Err(error) => return usage(&error),
    };
    let strategy = if let Some(worker) = &worker {
        worker.strategy()
    } else if args.dfs {
        Strategy::Dfs
    } else if args.walk {
        Strategy::Walk {
            seed: args.seed.unwrap_or(0),
        }
    } else {
        Strategy::Bfs
    };
    if args.max_memory.is_some_and(|b| b < MIN_BUDGET_BYTES) {
        return usage(&format!(
            "--max-memory must be at least {} MiB",
            MIN_BUDGET_BYTES >> 20
        ));
    }
    let store = match args.max_memory.map(|_| spill_store(args)).transpose() {
        Ok(store) => store,
        Err(error) => return failed(&error),
    };
    quiet_handler_panics();
    let bar = progress_bar(args.json || replay.is_some());
    let on_progress = |p: &Progress| {
        let rate = p.unique_states as f64 / p.elapsed.as_secs_f64().max(1e-9);
        bar.set_message(format!(
            "{} unique states, {} total, {:.0} states/s, depth {}",
            p.unique_states, p.total_states, rate, p.depth
        ));
    };
    let options = CheckOptions {
        strategy,
        max_depth: worker.map(|w| w.walk_len).or(args.max_depth),
        max_states: args.max_states,
        time_limit: args.time_limit,
        symmetry: args.symmetry,
        threads: args.threads.map(|t| t as usize),
        keep_going: args.keep_going,
        walks: worker.map(|w| w.walks).or(args.walks),
        replay: replay.as_ref().map(|(init, path)| (*init, path.as_slice())),
        progress: Some(&on_progress),
        fairness: &args.fair,
        fingerprint_sample: worker.is_some(),
        spill: store
            .as_ref()
            .zip(args.max_memory)
            .map(|(store, budget)| (store as &dyn SpillStore, budget)),
    };
    if !args.json && replay.is_none() {
        outln!(
            "checking {} ({}) with {}",
            entry.name(),
            params,
            strategy.name()
        );
        if let (Some(store), Some(budget)) = (&store, args.max_memory) {
            outln!(
                "memory budget {}, spilling to {}",
                bytes_text(budget),
                store.dir().display()
            );
        }
        if let Some(w) = &worker {
            outln!(
                "swarm worker {} of {} (swarm seed {}): {} walks of {} steps, seed {}",
                w.index,
                w.size,
                w.swarm_seed,
                w.walks,
                w.walk_len,
                w.seed
            );
        }
    }
    let outcome = entry.check(&params, &options);
    bar.finish_and_clear();
    match outcome {
        Err(error) => usage(&error),
        Ok(CheckOutcome::Replay { trace, violated }) => {
            if args.json {
                let value = serde_json::json!({
                    "system": entry.name(), "params": params.to_map(), "replay": trace,
                    "violated": violated,
                });
                outln!("{value}");
            } else {
                outln!(
                    "replay of {} on {} ({}):\n{trace}",
                    trace.encoded(),
                    entry.name(),
                    params
                );
                for property in &violated {
                    outln!("the last state violates invariant \"{property}\"");
                }
            }
            ExitCode::from(EXIT_OK)
        }
        Ok(CheckOutcome::Report(report)) => {
            if args.symmetry && !report.symmetry {
                eprintln!(
                    "note: `{}` declares no interchangeable nodes; --symmetry had no effect",
                    entry.name()
                );
            }
            if args.json {
                let mut value = report_json(entry.name(), &params, &report);
                if let Some(w) = &worker {
                    value["swarm"] = serde_json::to_value(w).unwrap_or_default();
                }
                outln!("{value}");
            } else {
                outln!("{report}");
                if let Some(spill) = &report.spill {
                    outln!(
                        "memory budget {}: buffers held at most {}; the store held at most {} ({} written, {} read, {} sorted runs)",
                        bytes_text(spill.budget_bytes),
                        bytes_text(spill.buffered_bytes_max),
                        bytes_text(spill.stored_bytes_max),
                        bytes_text(spill.written_bytes),
                        bytes_text(spill.read_bytes),
                        spill.candidate_runs
                    );
                    outln!(
                        "fingerprint collision probability for {} states: at most {:.1e}",
                        report.unique_states,
                        collision_probability(report.unique_states)
                    );
                }
                for trace in report.violations.iter().filter_map(|f| f.trace.as_ref()) {
                    outln!(
                        "replay with: {}",
                        crate::replay_command(entry.name(), &params, &trace.encoded())
                    );
                }
            }
            // A swarm worker's finding is the merge's verdict, not a failed worker.
            let found = !report.ok() && worker.is_none();
            let broken = report.spill.as_ref().is_some_and(|spill| {
                spill.failure.is_some()
                    || report
                        .unexplored
                        .iter()
                        .any(|u| u.contains("Model::encode_state"))
            });
            if broken {
                eprintln!(
                    "error: the check could not finish: {}",
                    report.unexplored.join("; ")
                );
                return ExitCode::from(EXIT_FAILED);
            }
            ExitCode::from(if found { EXIT_VIOLATION } else { EXIT_OK })
        }
    }
}

/// This process's worker of a swarm of `size`.
fn swarm_worker(args: &CheckArgs, size: u32) -> Result<SwarmWorker, String> {
    let index = match args.swarm_index {
        Some(index) => index,
        None => {
            let text = std::env::var("JOB_COMPLETION_INDEX").map_err(|_| {
                "--swarm needs the worker's index: --swarm-index I, or JOB_COMPLETION_INDEX (set by a Kubernetes Indexed Job)".to_string()
            })?;
            text.trim().parse().map_err(|_| {
                format!("JOB_COMPLETION_INDEX `{text}` is not a worker index (0, 1, 2, ...)")
            })?
        }
    };
    SwarmWorker::plan(
        index,
        size,
        args.seed.unwrap_or(0),
        args.max_depth.unwrap_or(DEFAULT_WALK_LEN),
        args.walks.unwrap_or(DEFAULT_WALKS),
    )
}

fn report_json(system: &str, params: &Params, report: &Report) -> serde_json::Value {
    let mut value = serde_json::to_value(report)
        .unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }));
    value["system"] = system.into();
    value["params"] = serde_json::to_value(params.to_map()).unwrap_or_default();
    value["fingerprint_collision_probability"] = collision_probability(report.unique_states).into();
    value
}

/// The spill directory for --max-memory, made inside --spill-dir.
fn spill_store(args: &CheckArgs) -> Result<DiskStore, String> {
    let parent = args.spill_dir.clone().unwrap_or_else(std::env::temp_dir);
    if !parent.is_dir() {
        return Err(format!(
            "--spill-dir {} is not a directory",
            parent.display()
        ));
    }
    DiskStore::new_in(&parent).map_err(|e| e.to_string())
}

/// `1.5 GiB`, `12.0 MiB`, `640 B`.
fn bytes_text(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn failed(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(EXIT_FAILED)
}

fn usage(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(EXIT_USAGE)
}

fn progress_bar(hidden: bool) -> ProgressBar {
    if hidden {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Handler panics are caught and reported as findings with a trace; print
/// one line where they happen instead of the default multi-line message.
fn quiet_handler_panics() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") {
            // The reader went away (`prophet check … | head`): stop as a
            // program killed by SIGPIPE would, without a panic message.
            std::process::exit(141);
        }
        eprintln!("panic{location}: {message}");
    }));
}
