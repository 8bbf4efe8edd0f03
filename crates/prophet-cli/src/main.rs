//! `prophet`: check, simulate and run the reference protocols. A user's
//! own binary is the same line with its protocols added to the registry.

fn main() -> std::process::ExitCode {
    prophet_cli::main(prophet_cli::builtin())
}
