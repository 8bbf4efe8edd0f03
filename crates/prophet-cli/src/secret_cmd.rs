//! `prophet cluster-secret`: print a fresh cluster secret.

use crate::out::outln;
use std::process::ExitCode;

/// Arguments of `prophet cluster-secret`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  (umask 077 && prophet cluster-secret > cluster.secret)\n\nNodes refuse a secret file others may read (chmod 600; 0640 is accepted)."
)]
pub struct SecretArgs {}

pub fn run(_args: &SecretArgs) -> ExitCode {
    outln!("{}", prophet_runtime::auth::Secret::generate_hex());
    ExitCode::from(crate::EXIT_OK)
}

/// Arguments of `prophet http-token`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    TOKEN=$(prophet http-token --config cluster.toml)\n  \
    curl -H \"Authorization: Bearer $TOKEN\" localhost:9000/state\n  \
    curl -H \"Authorization: Bearer $(prophet http-token --config cluster.toml --tier operator)\" \\\n       \
    -H 'Content-Type: application/json' -d '[]' localhost:9000/faults\n\n\
The token is derived from the cluster secret and changes with it; anyone who can\n\
read the secret can derive it. /health, /ready and /metrics need no token.")]
pub struct TokenArgs {
    /// The cluster file (its secret and cluster id make the token).
    #[arg(long)]
    config: std::path::PathBuf,
    /// Which tier: `observer` (read states, samples, fault rules) or
    /// `operator` (also change fault rules).
    #[arg(long, default_value = "observer", value_parser = ["observer", "operator"])]
    tier: String,
}

pub fn token(args: &TokenArgs) -> ExitCode {
    use prophet_runtime::http::{Credentials, Tier};
    let config = match prophet_runtime::ClusterConfig::load(&args.config) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(crate::EXIT_USAGE);
        }
    };
    let tier = if args.tier == "operator" {
        Tier::Operator
    } else {
        Tier::Observer
    };
    let credentials = Credentials::derive(&config.secret, &config.cluster);
    outln!("{}", credentials.token(tier).unwrap_or_default());
    ExitCode::from(crate::EXIT_OK)
}
