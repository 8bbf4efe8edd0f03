//! `prophet cluster-secret`: print a fresh cluster secret.

use std::process::ExitCode;

/// Arguments of `prophet cluster-secret`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  prophet cluster-secret > cluster.secret && chmod 600 cluster.secret"
)]
pub struct SecretArgs {}

pub fn run(_args: &SecretArgs) -> ExitCode {
    println!("{}", prophet_runtime::auth::Secret::generate_hex());
    ExitCode::from(crate::EXIT_OK)
}
