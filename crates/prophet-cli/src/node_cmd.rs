//! `prophet node`: run one or more nodes of a cluster in this process.

use std::path::PathBuf;
use std::process::ExitCode;

use prophet::registry::Registry;
use prophet_runtime::{ClusterConfig, ProcessOptions, live};

use crate::{EXIT_OK, EXIT_USAGE, EXIT_VIOLATION};

/// Arguments of `prophet node`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    prophet node --config cluster.toml --id 0\n  \
    prophet node --config cluster.toml --id 0 --id 1 --id 2\n\n\
Logs go to standard error (RUST_LOG=debug for more). Stops cleanly on Ctrl-C or SIGTERM.\n\
Exit status: 0 after a clean stop, 1 when a node failed, 2 on a bad cluster file or id.")]
pub struct NodeArgs {
    /// The cluster file (see docs/src/running.md).
    #[arg(long)]
    config: PathBuf,
    /// A node this process runs; repeat to run several in one process.
    #[arg(long = "id", required_unless_present = "id_from_hostname")]
    ids: Vec<u32>,
    /// Take the node id from the host name's trailing `-N` (StatefulSet pod
    /// `prophet-3` runs node 3).
    #[arg(long, conflicts_with = "ids")]
    id_from_hostname: bool,
    /// Also stop when standard input closes (`prophet run` uses this so its
    /// children never outlive it).
    #[arg(long, hide = true)]
    exit_on_stdin_close: bool,
}

/// Sends tracing output to standard error, filtered by `RUST_LOG` (default `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Completes on Ctrl-C, SIGTERM, or (if asked) the end of standard input.
pub async fn shutdown_signal(on_stdin_close: bool) {
    let terminate = async {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            match signal(SignalKind::terminate()) {
                Ok(mut term) => {
                    term.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        }
        #[cfg(not(unix))]
        std::future::pending::<()>().await
    };
    let stdin_closed = async {
        if on_stdin_close {
            use tokio::io::AsyncReadExt;
            let mut stdin = tokio::io::stdin();
            let mut buf = [0u8; 64];
            while matches!(stdin.read(&mut buf).await, Ok(n) if n > 0) {}
        } else {
            std::future::pending::<()>().await
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
        () = stdin_closed => {}
    }
}

/// The node id in a host name like `prophet-3`.
fn id_from_hostname() -> Result<u32, String> {
    let name = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|s| s.trim().to_string())
        .ok_or("--id-from-hostname: no HOSTNAME and no /etc/hostname")?;
    name.rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("--id-from-hostname: host name `{name}` does not end in -<number>"))
}

pub fn run(registry: &Registry, args: &NodeArgs) -> ExitCode {
    init_tracing();
    let ids = if args.id_from_hostname {
        match id_from_hostname() {
            Ok(id) => vec![id],
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::from(EXIT_USAGE);
            }
        }
    } else {
        args.ids.clone()
    };
    let config = match ClusterConfig::load(&args.config) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let checked = live::prepare(registry, &config).and_then(|(entry, params)| {
        config.check_ids(&ids)?;
        Ok((entry, params))
    });
    let (entry, params) = match checked {
        Ok(prepared) => prepared,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(EXIT_VIOLATION);
        }
    };
    let stdin = args.exit_on_stdin_close;
    let result = runtime.block_on(async move {
        live::run(
            entry,
            params,
            config,
            ids,
            ProcessOptions::default(),
            Box::pin(shutdown_signal(stdin)),
        )
        .await
    });
    match &result {
        Ok(()) => runtime.shutdown_timeout(std::time::Duration::from_secs(2)),
        // A failed node has nothing to finish, and the stdin reader of
        // --exit-on-stdin-close would hold a timed shutdown for its whole
        // 2s: exit now, so a supervisor sees a failing start as one.
        Err(_) => runtime.shutdown_background(),
    }
    match result {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(EXIT_VIOLATION)
        }
    }
}
