//! `prophet-bench`: side-by-side comparisons of Prophet with peer projects.
//! Each comparison prints one JSON object per measurement and one per ratio.
//!
//! ```text
//! cargo run --release -p prophet-bench -- explore --json
//! cargo run --release -p prophet-bench -- sim --json
//! cargo run --release -p prophet-bench -- transport --json
//! cargo run --release -p prophet-bench -- resolver --json
//! cargo run --release -p prophet-bench -- steering --json
//! cargo run --release -p prophet-bench -- spill --rms 10 --max-memory 1073741824
//! ```

mod alloc_count;
mod explore_cmp;
mod resolver;
mod sim_cmp;
mod sim_concurrent;
mod spill;
mod sr_two_phase;
mod steering;
mod swarm;
mod transport;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[global_allocator]
static ALLOC: alloc_count::Counting = alloc_count::Counting;

#[derive(Parser)]
#[command(about = "Side-by-side comparisons of Prophet with peer projects")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Explorer vs stateright 0.31 on two-phase commit (BFS/DFS with 8 RMs,
    /// DFS with 10), each run in its own process for a clean peak-memory figure.
    Explore {
        /// Print only JSON lines (one per measurement, one per ratio).
        #[arg(long)]
        json: bool,
        /// Small sizes (5 RMs), for a smoke test.
        #[arg(long)]
        quick: bool,
        /// Worker threads for both checkers (default: every core).
        #[arg(long)]
        threads: Option<usize>,
        /// Also measure stateright on its own idiomatic model (Vec + BTreeSet state).
        #[arg(long)]
        idiomatic: bool,
        /// Runs per tool for cases under 10 RMs, alternating tools; the
        /// fastest run of each is kept (the 10-RM case runs once), and each
        /// ratio line also gives every pair's ratio and their median.
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        /// Only these cases, as `strategy-rms` (e.g. `--only dfs-8`);
        /// repeatable. Default: all of them.
        #[arg(long)]
        only: Vec<String>,
    },
    /// Simulator figures: ping-pong and the concurrent workload vs
    /// turmoil, events/s, RandTree under churn at 100 to 10,000 nodes and
    /// the 11-replica stuck-replica scenario per policy (JSON lines).
    Sim {
        /// Print only JSON lines (the only output format).
        #[arg(long)]
        json: bool,
        /// Run only these parts (comma-separated; default: all).
        #[arg(long, value_delimiter = ',', value_parser = clap::builder::PossibleValuesParser::new(sim_cmp::PARTS))]
        only: Vec<String>,
        /// Paired rounds of the concurrent workload, and runs per RandTree size.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
        rounds: u32,
        /// RandTree sizes (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "100,1000,10000")]
        randtree_nodes: Vec<usize>,
    },
    /// Live transport: two runtime nodes on loopback against a plain tokio
    /// TCP echo with the same framing (pipelined messages/s, round-trip
    /// p50/p99). `PROPHET_BENCH_RUNTIME=current` uses one thread.
    Transport {
        /// Print only JSON lines (the only output format).
        #[arg(long)]
        json: bool,
        /// Messages in the throughput run.
        #[arg(long, default_value_t = 1_000_000)]
        messages: u64,
        /// Measure one side only, for profiling (no ratio is printed).
        #[arg(long, value_parser = ["tokio-echo", "prophet"])]
        only: Option<String>,
        /// Rounds, each measuring both sides (alternating which goes first);
        /// the throughput and p99 ratios are medians of the rounds' ratios,
        /// the per-side figures pool every round.
        #[arg(long, default_value_t = 9, value_parser = clap::value_parser!(u32).range(1..=100))]
        rounds: u32,
        /// Run Prophet's side with encrypted node ports (`[transport]
        /// encrypt = true`); the echo stays plain, so the ratios price the
        /// encryption too.
        #[arg(long)]
        encrypt: bool,
        /// Compare Prophet with a dashboard viewer connected (an event
        /// stream of node 0's view) against Prophet without one (goal: the
        /// median throughput ratio at least 0.97).
        #[arg(long, conflicts_with = "only")]
        viewer: bool,
    },
    /// Replica selection on every shipped KV scenario: each built-in policy
    /// against the best in hindsight over paired seeds (p99 and p99.9
    /// ratios with 95% intervals; the bar a resolver must clear).
    Resolver {
        /// Print only JSON lines (the only output format).
        #[arg(long)]
        json: bool,
        /// Paired seeds per scenario and policy.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(2..=1000))]
        seeds: u32,
        /// Only these scenarios (file stems, comma-separated).
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
    },
    /// Execution steering: every seeded-bug variant (and each correct one)
    /// under churn, unsteered, with the immediate check and with the
    /// consequence search, over paired seeds checked after every event:
    /// violations per simulated hour, the fraction avoided, false alarms,
    /// checkpoint bytes and CPU.
    Steering {
        /// Print only JSON lines (the only output format).
        #[arg(long)]
        json: bool,
        /// Paired seeds per variant and arm.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
        seeds: u32,
        /// Only these systems (comma-separated: chord, randtree, paxos, kv).
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
    },
    /// Swarm exploration: the probability that a swarm of 1 to 32 workers
    /// finds each seeded bug, over trials with different swarm seeds.
    Swarm {
        /// Print only JSON lines (the only output format).
        #[arg(long)]
        json: bool,
        /// Swarms per bug and size.
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        trials: u32,
        /// Random walks per worker.
        #[arg(long, default_value_t = 10)]
        walks: u64,
        /// Swarm sizes.
        #[arg(long, value_delimiter = ',', default_value = "1,2,4,8,16,32")]
        sizes: Vec<u32>,
    },
    /// BFS under a memory budget (the visited set and frontier on disk)
    /// against BFS in memory on two-phase commit: the slowdown, both peak
    /// memories, the counts, and the fingerprint-collision probability.
    Spill {
        /// Print only JSON lines (the only output format).
        #[arg(long)]
        json: bool,
        /// Resource managers (10: 61,515,776 states).
        #[arg(long, default_value_t = 10)]
        rms: usize,
        /// The budget in bytes.
        #[arg(long, default_value_t = 1 << 30)]
        max_memory: u64,
        /// Stop after this many distinct states (with --spill-only, a run
        /// beyond what memory holds: `--rms 12 --max-states 1000000000`).
        #[arg(long)]
        max_states: Option<u64>,
        /// Directory for the spilled side's files.
        #[arg(long, default_value_os_t = std::env::temp_dir())]
        dir: std::path::PathBuf,
        /// Measure only the spilled side.
        #[arg(long)]
        spill_only: bool,
        /// Worker threads (default: every core).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// One side of `spill` (runs in a child process).
    #[command(hide = true)]
    SpillCase {
        #[arg(long)]
        rms: usize,
        #[arg(long)]
        max_memory: Option<u64>,
        #[arg(long)]
        max_states: Option<u64>,
        #[arg(long)]
        dir: std::path::PathBuf,
        #[arg(long)]
        threads: usize,
    },
    /// One measurement (used by `explore`; runs in a child process).
    #[command(hide = true)]
    ExploreCase {
        #[arg(long)]
        tool: String,
        #[arg(long)]
        strategy: String,
        #[arg(long)]
        rms: usize,
        #[arg(long)]
        threads: usize,
    },
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Explore {
            json,
            quick,
            threads,
            idiomatic,
            repeat,
            only,
        } => explore(
            json,
            quick,
            threads.unwrap_or_else(cores),
            idiomatic,
            repeat,
            &only,
        ),
        Cmd::Sim {
            json: _,
            only,
            rounds,
            randtree_nodes,
        } => sim_cmp::run(&sim_cmp::SimBench {
            only,
            rounds: rounds as usize,
            randtree_nodes,
        }),
        Cmd::Transport {
            json: _,
            messages,
            only,
            rounds,
            encrypt,
            viewer,
        } => {
            let bench = transport::TransportBench {
                messages,
                only,
                rounds,
                encrypt,
                viewer,
                ..Default::default()
            };
            transport::run(&bench).map(|lines| {
                for line in lines {
                    println!("{line}");
                }
            })
        }
        Cmd::Resolver {
            json: _,
            seeds,
            only,
        } => resolver::run(&resolver::ResolverBench {
            seeds: seeds as usize,
            only,
        }),
        Cmd::Steering {
            json: _,
            seeds,
            only,
        } => steering::run(&steering::SteeringBench {
            seeds: seeds as usize,
            only,
        }),
        Cmd::Swarm {
            json: _,
            trials,
            walks,
            sizes,
        } => swarm::run(&swarm::SwarmBench {
            trials,
            walks,
            sizes,
        }),
        Cmd::Spill {
            json: _,
            rms,
            max_memory,
            max_states,
            dir,
            spill_only,
            threads,
        } => spill::run(&spill::SpillBench {
            rms,
            max_memory,
            max_states,
            dir,
            spill_only,
            threads: threads.unwrap_or_else(cores),
        }),
        Cmd::SpillCase {
            rms,
            max_memory,
            max_states,
            dir,
            threads,
        } => spill::run_case(rms, max_memory, max_states, &dir, threads).map(|v| println!("{v}")),
        Cmd::ExploreCase {
            tool,
            strategy,
            rms,
            threads,
        } => {
            let tool = match tool.as_str() {
                "prophet" => "prophet",
                "stateright" => "stateright",
                "stateright-idiomatic" => "stateright-idiomatic",
                other => {
                    eprintln!("unknown tool {other}");
                    return ExitCode::from(2);
                }
            };
            let strategy = if strategy == "bfs" { "bfs" } else { "dfs" };
            explore_cmp::run_case(
                explore_cmp::Case {
                    tool,
                    strategy,
                    rms,
                },
                threads,
            )
            .map(|v| println!("{v}"))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn explore(
    json: bool,
    quick: bool,
    threads: usize,
    idiomatic: bool,
    repeat: usize,
    only: &[String],
) -> Result<(), String> {
    use explore_cmp::{Case, measure_in_child, ratio};
    for (strategy, rms) in explore_cmp::cases(quick) {
        if !only.is_empty() && !only.iter().any(|c| *c == format!("{strategy}-{rms}")) {
            continue;
        }
        let mut tools = vec!["stateright", "prophet"];
        if idiomatic && !(strategy == "dfs" && rms >= 10) {
            tools.insert(0, "stateright-idiomatic");
        }
        let runs = if rms >= 10 { 1 } else { repeat.max(1) };
        let mut best: Vec<Option<serde_json::Value>> = vec![None; tools.len()];
        // Every run's states/s per tool, in run order: run `i` of each tool
        // forms a pair, measured back to back.
        let mut speeds: Vec<Vec<f64>> = vec![Vec::new(); tools.len()];
        for _ in 0..runs {
            for ((slot, &tool), speeds) in best.iter_mut().zip(&tools).zip(&mut speeds) {
                let case = Case {
                    tool,
                    strategy,
                    rms,
                };
                let value = measure_in_child(case, threads)?;
                speeds.push(value["unique_states_per_s"].as_f64().unwrap_or(f64::NAN));
                let faster = slot
                    .as_ref()
                    .is_none_or(|b| value["elapsed_s"].as_f64() < b["elapsed_s"].as_f64());
                if faster {
                    *slot = Some(value);
                }
            }
        }
        let mut results = Vec::new();
        for (mut value, tool) in best.into_iter().flatten().zip(tools) {
            value["runs"] = runs.into();
            if json {
                println!("{value}");
            } else {
                println!(
                    "{tool:>22} {strategy} rms={rms}: {} unique states in {:.2}s = {:.0} states/s, peak RSS {:.0} MiB",
                    value["unique_states"],
                    value["elapsed_s"].as_f64().unwrap_or(0.0),
                    value["unique_states_per_s"].as_f64().unwrap_or(0.0),
                    value["peak_rss_bytes"].as_f64().unwrap_or(0.0) / 1048576.0
                );
            }
            results.push(value);
        }
        let prophet = results.last().ok_or("no measurement")?;
        let prophet_speeds = speeds.last().ok_or("no measurement")?;
        for (baseline, baseline_speeds) in results[..results.len() - 1].iter().zip(&speeds) {
            let mut r = ratio(prophet, baseline);
            let pairs = paired_ratios(prophet_speeds, baseline_speeds);
            r["median_paired_speed_ratio"] = median(&pairs).into();
            r["paired_speed_ratios"] = pairs.into();
            if json {
                println!("{r}");
            } else {
                println!(
                    "{:>22} vs {}: speed x{:.2} (median of {runs} pairs x{:.2}), memory x{:.2}, same counts: {}",
                    "prophet",
                    baseline["tool"],
                    r["speed_ratio"].as_f64().unwrap_or(f64::NAN),
                    r["median_paired_speed_ratio"].as_f64().unwrap_or(f64::NAN),
                    r["memory_ratio"].as_f64().unwrap_or(f64::NAN),
                    r["same_unique_states"]
                );
            }
        }
    }
    Ok(())
}

/// Prophet's states/s over the baseline's, run by run (each pair ran back to
/// back, so a pair shares the machine's load of the moment).
fn paired_ratios(prophet: &[f64], baseline: &[f64]) -> Vec<f64> {
    prophet.iter().zip(baseline).map(|(p, b)| p / b).collect()
}

/// The median of `values` (the mean of the middle two for an even count;
/// NaN when empty).
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}
