//! `prophet`: check, simulate and run the systems written on Prophet.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod check_cmd;
mod duration;
mod list_cmd;
mod node_cmd;
mod run_cmd;
mod secret_cmd;
mod sim_cmd;
mod sim_plot;

/// Exit status when every property holds.
pub const EXIT_OK: u8 = 0;
/// Exit status when a property is violated.
pub const EXIT_VIOLATION: u8 = 1;
/// Exit status on bad usage (unknown system, bad parameter or value).
pub const EXIT_USAGE: u8 = 2;

/// Prophet: write a distributed protocol once with choices, invariants and
/// objectives; model-check it, simulate it and run it from the same code.
#[derive(Parser, Debug)]
#[command(name = "prophet", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List the built-in systems and their parameters.
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
    /// Run nodes of a cluster (from a cluster file) in this process.
    Node(node_cmd::NodeArgs),
    /// Start a local cluster of node processes on loopback and watch it.
    Run(run_cmd::RunArgs),
    /// Print a fresh random cluster secret (hex).
    ClusterSecret(secret_cmd::SecretArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::List(args) => list_cmd::run(&args),
        Command::Check(args) => check_cmd::run(&args),
        Command::Sim(args) => sim_cmd::run(&args),
        Command::Node(args) => node_cmd::run(&args),
        Command::Run(args) => run_cmd::run(&args),
        Command::ClusterSecret(args) => secret_cmd::run(&args),
    }
}
