//! `prophet view FILE…`: serve the dashboard over files the CLI wrote (check
//! and simulation reports, decision logs, performance models), on loopback,
//! with a fresh token in the printed link.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use prophet_runtime::auth::{Secret, unhex};
use prophet_runtime::dashboard::{Artifact, Dashboard};
use prophet_runtime::http::{AllowedHosts, Credentials, Tier};
use prophet_runtime::metrics::Registry;

use crate::duration::parse_duration;
use crate::out::outln;
use crate::{EXIT_OK, EXIT_USAGE, EXIT_VIOLATION};

/// Arguments of `prophet view`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    prophet check paxos -p variant=ignore-accepted --json > cx.json; prophet view cx.json\n  \
    prophet sim kv --policy kv.read_replica=c3,p2c --json > sim.json; prophet view sim.json\n  \
    prophet sim kv --policy kv.read_replica=prophet --decisions d.jsonl; prophet view d.jsonl\n\n\
It prints a link to open in a browser; the link's fragment carries a token made for\n\
this server (a fragment never reaches a server or its logs), which the page trades for\n\
an HttpOnly cookie. Pages: counterexamples as message-sequence charts stepped forward\n\
and back with each step's state diff, simulated objectives and latency distributions\n\
per policy, decisions with their predictions, steering actions.\n\n\
Exit status: 0 when stopped (Ctrl-C or --duration), 2 on a file it cannot read.")]
pub struct ViewArgs {
    /// Files written by `prophet check --json`, `prophet sim --json`,
    /// `--decisions` or `--model-out`.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Address to listen on (default: loopback, a free port). Only
    /// loopback unless you name another address.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Stop after this long (default: until Ctrl-C).
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
}

/// A fresh observer credential for a server of this process alone: the
/// token of a random secret.
pub fn fresh_credentials() -> (Credentials, String) {
    let secret = unhex(&Secret::generate_hex())
        .and_then(Secret::new)
        .expect("a generated secret is valid hex of the right length");
    let credentials = Credentials::derive(&secret, "prophet-view");
    let token = credentials
        .token(Tier::Observer)
        .unwrap_or_default()
        .to_string();
    (credentials, token)
}

pub fn run(args: &ViewArgs) -> ExitCode {
    let mut artifacts = Vec::new();
    for file in &args.files {
        match Artifact::load(file) {
            Ok(artifact) => artifacts.push(artifact),
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::from(EXIT_USAGE);
            }
        }
    }
    let (credentials, token) = fresh_credentials();
    let names: Vec<String> = args.files.iter().map(|f| f.display().to_string()).collect();
    let mut dashboard = Dashboard::new(
        names.join(", "),
        credentials,
        AllowedHosts::default(),
        Arc::new(Registry::default()),
    );
    dashboard.artifacts = artifacts;
    serve(dashboard, args.listen, &token, args.duration)
}

/// Serves `dashboard` on `listen`, printing its link with `token`, until
/// Ctrl-C or `duration`.
fn serve(
    dashboard: Dashboard,
    listen: SocketAddr,
    token: &str,
    duration: Option<Duration>,
) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(EXIT_VIOLATION);
        }
    };
    runtime.block_on(async {
        let listener = match tokio::net::TcpListener::bind(listen).await {
            Ok(l) => l,
            Err(error) => {
                eprintln!("error: cannot listen on {listen}: {error}");
                return ExitCode::from(EXIT_USAGE);
            }
        };
        let Ok(addr) = listener.local_addr() else {
            eprintln!("error: no local address");
            return ExitCode::from(EXIT_VIOLATION);
        };
        outln!("dashboard: http://{addr}/ui/#token={token}");
        let metrics = Arc::clone(&dashboard.metrics);
        let app = prophet_runtime::dashboard::router(Arc::new(dashboard));
        let server = tokio::spawn(prophet_runtime::http::serve_app(listener, app, metrics));
        match duration {
            Some(d) => tokio::time::sleep(d).await,
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        server.abort();
        ExitCode::from(EXIT_OK)
    })
}
