//! The `prophet` command line as a library: a user's crate gets the whole
//! CLI (`list`, `check`, `sim`, `run`, `node`, with every flag, JSON,
//! progress, replay, scenario files and plots) for its own protocols with a
//! one-line `main`:
//!
//! ```no_run
//! # use prophet::registry::{Description, Params, Protocol};
//! # use prophet::prelude::*;
//! # #[derive(Clone)] struct Idle;
//! # impl Node for Idle {
//! #     type State = u8; type Msg = u8; type Timer = (); type Durable = ();
//! #     fn init(&self, _: NodeId, _: Option<()>) -> u8 { 0 }
//! #     fn on_message(&self, _: &mut u8, _: &mut Ctx<'_, Self>, _: NodeId, _: u8) {}
//! #     fn durable(&self, _: &u8) {}
//! # }
//! # struct MyProtocol;
//! # impl Protocol for MyProtocol {
//! #     type Node = Idle;
//! #     fn describe(&self) -> Description { Description::new("mine", "mine") }
//! #     fn build(&self, _: &Params) -> System<Idle> { System::new("mine", vec![Idle]) }
//! # }
//! fn main() -> std::process::ExitCode {
//!     prophet_cli::main(prophet_cli::builtin().with(prophet_cli::protocol(MyProtocol)))
//! }
//! ```
//!
//! `prophet run` starts its node processes by running the same binary
//! (`prophet node`), so a user's binary is also their node binary, and what
//! their Docker image carries.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use prophet::registry::{Entry, Protocol, Registry};

mod check_cmd;
mod crash_schedule;
mod decision_log;
mod duration;
mod evaluate_cmd;
mod list_cmd;
mod model_out;
mod node_cmd;
mod out;
mod run_cmd;
mod run_dashboard;
mod secret_cmd;
mod sim_cmd;
mod sim_plot;
mod size;
mod supervisor;
mod swarm_cmd;
mod view_cmd;

/// Exit status when every property holds.
pub const EXIT_OK: u8 = 0;
/// Exit status when a property is violated.
pub const EXIT_VIOLATION: u8 = 1;
/// Exit status on bad usage (unknown system, bad parameter or value).
pub const EXIT_USAGE: u8 = 2;
/// Exit status when a check could not finish for a reason outside the
/// model (its spill store failed: a full disk, say).
pub const EXIT_FAILED: u8 = 3;

/// Prophet: write a distributed protocol once with choices, invariants and
/// objectives; model-check it, simulate it and run it from the same code.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List the registered systems: parameters, variants, choices, objectives.
    List(list_cmd::ListArgs),
    /// Model-check a system: explore its states and check its properties.
    ///
    /// Exit status: 0 when every property holds, 1 when one is violated,
    /// 2 on bad usage.
    Check(check_cmd::CheckArgs),
    /// Simulate a system or a scenario file in virtual time and measure its
    /// objectives per choice policy.
    ///
    /// Exit status: 0 when every constraint held, 1 when one was violated,
    /// 2 on bad usage.
    Sim(sim_cmd::SimArgs),
    /// Estimate offline, from a decision log, how other policies would have
    /// done on its decisions (inverse propensity scoring, doubly robust).
    ///
    /// Exit status: 0 when every estimate was made, 2 on bad usage or a log
    /// that cannot answer.
    Evaluate(evaluate_cmd::EvaluateArgs),
    /// Run nodes of a cluster (from a cluster file) in this process.
    Node(node_cmd::NodeArgs),
    /// Start a local cluster of node processes on loopback and watch it.
    Run(run_cmd::RunArgs),
    /// Print a fresh random cluster secret (hex).
    ClusterSecret(secret_cmd::SecretArgs),
    /// Print the bearer token of the HTTP control plane's observer or
    /// operator tier, derived from a cluster file's secret.
    HttpToken(secret_cmd::TokenArgs),
    /// Serve the dashboard over files the CLI wrote: check and simulation
    /// reports, decision logs, performance models.
    View(view_cmd::ViewArgs),
    /// Swarm exploration: merge the reports of `check --swarm N` workers.
    ///
    /// Exit status: 0 when no worker found a violation, 1 when one did, 2
    /// on bad usage.
    Swarm(swarm_cmd::SwarmArgs),
}

/// A registry entry for a protocol written as nodes, that every mode of the
/// command line can use: checked and simulated by `prophet`, run live by
/// `prophet-runtime`.
pub fn protocol<P: Protocol>(protocol: P) -> Entry {
    prophet_runtime::live::entry(protocol)
}

/// The reference protocols: two-phase commit, Paxos, RandTree, the
/// replicated key-value store and Chord. Add your own with [`Registry::with`].
pub fn builtin() -> Registry {
    use prophet_systems::{chord, kv, paxos, randtree, two_phase};
    Registry::new()
        .with(Entry::model(two_phase::TwoPhaseProtocol))
        .with(protocol(paxos::Paxos))
        .with(protocol(randtree::RandTreeProtocol))
        .with(protocol(kv::Kv))
        .with(protocol(chord::ChordProtocol))
}

/// The name this program was started as (`prophet`, or a user's binary).
fn program_name() -> String {
    std::env::args()
        .next()
        .and_then(|p| {
            std::path::Path::new(&p)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "prophet".into())
}

/// The command that replays an encoded trace with the checker:
/// `prophet check SYSTEM -p k=v … --replay TRACE`.
fn replay_command(system: &str, params: &prophet::registry::Params, encoded: &str) -> String {
    replay_command_with(system, &params.to_map(), encoded)
}

/// [`replay_command`] with the parameters as a map.
fn replay_command_with(
    system: &str,
    params: &std::collections::BTreeMap<String, String>,
    encoded: &str,
) -> String {
    let pairs: String = params.iter().map(|(k, v)| format!(" -p {k}={v}")).collect();
    format!(
        "{} check {system}{pairs} --replay {encoded}",
        program_name()
    )
}

/// Runs the command line on the process's arguments with the systems of
/// `registry`, and returns the exit status (0 when every property held, 1
/// when one was violated, 2 on bad usage).
pub fn main(registry: Registry) -> ExitCode {
    main_from(registry, std::env::args_os())
}

/// [`main`] with the arguments given (the first is the program name).
pub fn main_from<I, T>(registry: Registry, args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let command = <Cli as clap::CommandFactory>::command().bin_name(program_name());
    let cli = match command
        .try_get_matches_from(args)
        .and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m))
    {
        Ok(cli) => cli,
        Err(error) => {
            let code = if error.use_stderr() {
                EXIT_USAGE
            } else {
                EXIT_OK
            };
            let _ = error.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
        Command::List(args) => list_cmd::run(&registry, &args),
        Command::Check(args) => check_cmd::run(&registry, &args),
        Command::Sim(args) => sim_cmd::run(&registry, &args),
        Command::Evaluate(args) => evaluate_cmd::run(&args),
        Command::Node(args) => node_cmd::run(&registry, &args),
        Command::Run(args) => run_cmd::run(&registry, &args),
        Command::ClusterSecret(args) => secret_cmd::run(&args),
        Command::HttpToken(args) => secret_cmd::token(&args),
        Command::Swarm(args) => swarm_cmd::run(&args),
        Command::View(args) => view_cmd::run(&args),
    }
}
