//! `ring-election`: the whole Prophet command line (`list`, `check`, `sim`,
//! `run`, `node`) for the built-in protocols and this crate's own.

fn main() -> std::process::ExitCode {
    prophet_cli::main(prophet_cli::builtin().with(prophet_cli::protocol(ring_election::Ring)))
}
