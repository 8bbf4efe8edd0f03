//! `prophet cluster-secret`: print a fresh cluster secret.

use std::process::ExitCode;

/// Arguments of `prophet cluster-secret`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  (umask 077 && prophet cluster-secret > cluster.secret)\n\nNodes refuse a secret file others may read (chmod 600; 0640 is accepted)."
)]
pub struct SecretArgs {}

pub fn run(_args: &SecretArgs) -> ExitCode {
    println!("{}", prophet_runtime::auth::Secret::generate_hex());
    ExitCode::from(crate::EXIT_OK)
}
