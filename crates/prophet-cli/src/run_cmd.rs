//! `prophet run`: start a local cluster of K processes on loopback, drive the
//! system's workload, print its properties and objectives as it runs, and
//! shut everything down on Ctrl-C, after `--duration`, or once `--until`
//! holds.
//!
//! The children are this same binary running `prophet node`; they stop when
//! their standard input closes, so they never outlive this command. The
//! supervisor (`supervisor.rs`) owns them: it kills them on the `--crash`
//! schedule and restarts them (`--restart`); this module gathers the
//! cluster's state and reports.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use prophet::registry::{Entry, Params, PropertyStatus, Purpose, Registry};
use prophet_runtime::ClusterConfig;
use prophet_runtime::auth::{Secret, unhex};
use prophet_runtime::http::{Credentials, Tier, request};
use prophet_runtime::metrics::{Samples, aggregate};

use crate::crash_schedule::{CrashSpec, plan};
use crate::duration::parse_duration;
use crate::supervisor::{OUTAGES_MAX, Supervisor, WATCH_PERIOD};
use crate::{EXIT_OK, EXIT_USAGE, EXIT_VIOLATION};

/// Arguments of `prophet run`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    prophet run kv --nodes 4 --rate 50\n  \
    prophet run paxos --nodes 3 --until 'value chosen' --duration 30s\n  \
    prophet run kv --duration 10s --crash 'node=1,at=3s,down=2s'   # kill replica 1 at 3s, back at 5s\n  \
    prophet run kv --duration 30s --restart                        # restart any process that dies\n\n\
A crash kills the whole process hosting the node (with --nodes below the node count a\n\
process hosts several nodes; all go down). The reports count crashes and restarts and\n\
say what the `always` properties were at the first complete report after each restart.\n\n\
Exit status: 0 when the run ended with every `always` property holding (and --until\n\
reached, if given; and holding after every restart), 1 otherwise (also when a process\n\
died without --restart), 2 on bad usage.")]
pub struct RunArgs {
    /// The system to run (`prophet list`).
    system: String,
    /// Number of node processes (default: one per node). Nodes are spread
    /// over them round-robin.
    #[arg(long)]
    nodes: Option<usize>,
    /// A parameter of the system as key=value; repeat for several.
    #[arg(long = "param", short = 'p', value_name = "KEY=VALUE")]
    params: Vec<String>,
    /// Requests per second of the workload (systems with clients).
    #[arg(long, default_value_t = 20.0)]
    rate: f64,
    /// How choices are resolved: a policy name for every choice (first,
    /// random, round-robin, epsilon-greedy, ucb1, thompson, p2c, peak-ewma,
    /// c3, or fixed:I for candidate number I), or CHOICE=POLICY for one
    /// declared choice. Repeat for several; default: first.
    #[arg(long = "policy", value_name = "[CHOICE=]POLICY")]
    policies: Vec<String>,
    /// Seed of the random policies.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write every node's decisions and outcomes to
    /// DIR/data/decisions-<node>-<start ms>.jsonl (decision logs, the input
    /// of `prophet evaluate`); the recent ones are served at `/decisions`
    /// either way.
    #[arg(long)]
    log_decisions: bool,
    /// When the run ends, write every node's online performance model
    /// (what `GET /model` serves: per candidate of each choice, its
    /// outcomes' cost, latency and losses) to FILE as JSON.
    #[arg(long, value_name = "FILE")]
    model_out: Option<PathBuf>,
    /// Total requests (0: until stopped).
    #[arg(long, default_value_t = 0)]
    requests: u64,
    /// Stop after this long (e.g. 30s); default: until Ctrl-C.
    #[arg(long, value_parser = parse_duration, allow_hyphen_values = true)]
    duration: Option<Duration>,
    /// Stop as soon as this holds: a property name (`decided`), or
    /// `METRIC>=COUNT` over the samples nodes recorded (`kv.request_latency>=100`).
    #[arg(long)]
    until: Option<String>,
    /// Time between reports.
    #[arg(long, value_parser = parse_duration, default_value = "1s", allow_hyphen_values = true)]
    interval: Duration,
    /// Directory for the cluster file, secret, logs and durable state
    /// (default: a new directory under the system's temp dir).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Print one JSON object per report instead of text.
    #[arg(long)]
    json: bool,
    /// Restart a node process that exits or is killed unexpectedly (after
    /// 0.5s, with the same cluster file, ids and data directory), instead of
    /// stopping the run. Gives up on a process that dies within 1s of
    /// starting 5 times in a row.
    #[arg(long)]
    restart: bool,
    /// Serve the dashboard of the whole cluster (nodes up, down and
    /// restarting, links, faults, objectives, decisions) on ADDR (default:
    /// loopback, a free port) and print its link, which carries the
    /// observer's token. Inject faults from it after signing in with the
    /// operator's (`prophet http-token --config DIR/cluster.toml --tier
    /// operator`).
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:0")]
    dashboard: Option<std::net::SocketAddr>,
    /// Kill the process hosting node I at time T (SIGKILL) and start it
    /// again D later (without `down`: it stays down). Repeat for several,
    /// e.g. --crash node=1,at=5s,down=3s.
    #[arg(long = "crash", value_name = "node=I,at=T[,down=D]", value_parser = CrashSpec::parse)]
    crashes: Vec<CrashSpec>,
}

use prophet_runtime::ports::free_port;

/// The nodes each process hosts: node `i` in process `i % processes`.
fn spread(nodes: usize, processes: usize) -> Vec<Vec<u32>> {
    let mut ids = vec![Vec::new(); processes];
    for id in 0..nodes {
        ids[id % processes].push(id as u32);
    }
    ids
}

/// Writes the cluster file and secret for processes hosting `ids`; returns
/// the cluster file and each process's HTTP address.
fn write_cluster(
    dir: &Path,
    args: &RunArgs,
    ids: &[Vec<u32>],
) -> Result<(PathBuf, Vec<String>), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let secret_path = dir.join("cluster.secret");
    let secret_error = |e: std::io::Error| format!("{}: {e}", secret_path.display());
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    // Owner-only from the first byte (the nodes refuse a secret file others
    // may read); `mode` applies only to a new file, so an old one is fixed
    // before the secret goes in.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut secret_file = options.open(&secret_path).map_err(secret_error)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        secret_file
            .set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(secret_error)?;
    }
    std::io::Write::write_all(&mut secret_file, Secret::generate_hex().as_bytes())
        .map_err(secret_error)?;
    let mut text = format!(
        "cluster = \"run-{}\"\nsystem = \"{}\"\nsecret_file = \"cluster.secret\"\ndata_dir = \"data\"\n\n[params]\n",
        std::process::id(),
        args.system
    );
    for pair in &args.params {
        if let Some((k, v)) = pair.split_once('=') {
            text.push_str(&format!(
                "{} = \"{}\"\n",
                k.trim(),
                v.trim().replace('"', "")
            ));
        }
    }
    let (default_policy, per_choice) = split_policies(&args.policies);
    text.push_str(&format!(
        "\n[workload]\nrate = {:?}\nrequests = {}\n\n[choose]\npolicy = \"{}\"\nseed = {}\nlog = {}\n\n[choose.choices]\n",
        args.rate,
        args.requests,
        default_policy.replace('"', ""),
        args.seed,
        args.log_decisions
    ));
    for (choice, policy) in per_choice {
        text.push_str(&format!(
            "\"{}\" = \"{}\"\n",
            choice.replace('"', ""),
            policy.replace('"', "")
        ));
    }
    text.push('\n');
    let mut http = Vec::new();
    for _ in ids {
        http.push(format!("127.0.0.1:{}", free_port()?));
    }
    let nodes: usize = ids.iter().map(Vec::len).sum();
    for id in 0..nodes as u32 {
        let p = ids
            .iter()
            .position(|hosted| hosted.contains(&id))
            .expect("every node is hosted");
        let http_line = if ids[p][0] == id {
            format!("http = \"{}\"\n", http[p])
        } else {
            String::new()
        };
        text.push_str(&format!(
            "[[nodes]]\nid = {id}\naddr = \"127.0.0.1:{}\"\n{http_line}\n",
            free_port()?
        ));
    }
    let path = dir.join("cluster.toml");
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((path, http))
}

/// One report: properties on the gathered states and objectives on the samples.
struct Report {
    properties: Option<Vec<PropertyStatus>>,
    /// Whether the properties were evaluated on a global state that held at
    /// one instant (see [`consistent_states`]).
    consistent: bool,
    objectives: Vec<(String, String, Option<f64>)>,
    /// Each declared constraint's value now, by name.
    constraints: Vec<(String, Option<f64>)>,
    samples: BTreeMap<String, u64>,
    /// Decisions by `choice=index`, over every node.
    choices: BTreeMap<String, u64>,
}

/// Each node's (handlers run so far, postcard state), by id.
type States = BTreeMap<u32, (u64, Vec<u8>)>;

/// Double collects tried per report before settling for an inconsistent cut.
const CUT_ATTEMPTS: usize = 8;

/// Reads every node's state once, process by process.
async fn collect_states(http: &[String], token: &str) -> States {
    let mut states = States::new();
    for addr in http {
        if let Ok((200, body)) = request(addr, "GET", "/state", "", Some(token)).await
            && let Ok(json) = serde_json::from_str::<serde_json::Value>(&body)
        {
            for node in json["nodes"].as_array().into_iter().flatten() {
                if let (Some(id), Some(handled), Some(state)) = (
                    node["id"].as_u64(),
                    node["handled"].as_u64(),
                    node["state"].as_str().and_then(unhex),
                ) {
                    states.insert(id as u32, (handled, state));
                }
            }
        }
    }
    states
}

/// Node states that all held at one instant, by double collect: read every
/// node, read every node again, and if no node ran a handler between its
/// two reads (same handler count), then at the instant the first round
/// ended every node was in the state read (its only changes are handlers).
/// Up to `attempts` double collects; after that the last round is returned
/// with `false` (states read at different times: a property may then raise
/// a false alarm). Messages in flight at that instant are not seen.
async fn consistent_states<F, Fut>(nodes: usize, attempts: usize, mut collect: F) -> (States, bool)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = States>,
{
    let mut last = collect().await;
    for _ in 0..attempts {
        let again = collect().await;
        let still = last.len() == nodes
            && again.len() == nodes
            && last
                .iter()
                .zip(&again)
                .all(|((a, (ha, _)), (b, (hb, _)))| a == b && ha == hb);
        if still {
            return (last, true);
        }
        last = again;
    }
    (last, false)
}

/// `--policy` values as (the default for every choice, per choice).
fn split_policies(given: &[String]) -> (&str, Vec<(&str, &str)>) {
    let mut default = "first";
    let mut per_choice = Vec::new();
    for policy in given {
        match policy.split_once('=') {
            Some((choice, policy)) => per_choice.push((choice.trim(), policy.trim())),
            None => default = policy.trim(),
        }
    }
    (default, per_choice)
}

/// Every node's performance model, read from `/model`, into `file`.
async fn write_models(http: &[String], token: &str, file: &Path) -> Result<(), String> {
    let mut nodes = Vec::new();
    for addr in http {
        match request(addr, "GET", "/model", "", Some(token)).await {
            Ok((200, body)) => {
                let json: serde_json::Value = serde_json::from_str(&body)
                    .map_err(|e| format!("{addr}/model is not JSON: {e}"))?;
                nodes.extend(json["nodes"].as_array().into_iter().flatten().cloned());
            }
            Ok((status, _)) => return Err(format!("{addr}/model answered {status}")),
            Err(e) => return Err(format!("reading {addr}/model: {e}")),
        }
    }
    let text = serde_json::to_string_pretty(&serde_json::json!({ "nodes": nodes }))
        .map_err(|e| format!("encoding the models: {e}"))?;
    std::fs::write(file, text).map_err(|e| format!("writing {}: {e}", file.display()))
}

async fn gather(
    entry: &Entry,
    params: &Params,
    http: &[String],
    token: &str,
    nodes: usize,
    elapsed_s: f64,
) -> Report {
    // States first, then metrics: a node records a handler's samples before
    // it answers the next state request, so the samples read afterwards
    // cover at least what the states show (a report never shows a property
    // reached with its samples missing).
    let (states, consistent) =
        consistent_states(nodes, CUT_ATTEMPTS, || collect_states(http, token)).await;
    let mut merged: BTreeMap<String, Samples> = BTreeMap::new();
    let mut choices: BTreeMap<String, u64> = BTreeMap::new();
    for addr in http {
        if let Ok((200, body)) = request(addr, "GET", "/metrics", "", None).await {
            for line in body
                .lines()
                .filter(|l| l.starts_with("prophet_choices_total{"))
            {
                let label = |key: &str| {
                    line.split(&format!("{key}=\""))
                        .nth(1)
                        .and_then(|r| r.split('"').next())
                };
                if let (Some(choice), Some(chosen), Some(count)) = (
                    label("choice"),
                    label("chosen"),
                    line.rsplit(' ').next().and_then(|c| c.parse::<u64>().ok()),
                ) {
                    *choices.entry(format!("{choice}={chosen}")).or_default() += count;
                }
            }
        }
        if let Ok((200, body)) = request(addr, "GET", "/recorded", "", Some(token)).await
            && let Ok(json) = serde_json::from_str::<serde_json::Value>(&body)
        {
            for (metric, value) in json.as_object().into_iter().flatten() {
                let m = merged.entry(metric.clone()).or_default();
                m.count += value["count"].as_u64().unwrap_or(0);
                m.sum += value["sum"].as_f64().unwrap_or(0.0);
                m.window.extend(
                    value["window"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|v| v.as_f64()),
                );
            }
        }
    }
    let properties = (states.len() == nodes).then(|| {
        let ordered: Vec<Vec<u8>> = states.into_values().map(|(_, state)| state).collect();
        entry.inspect(params, &ordered).ok()
    });
    let objectives = entry
        .objectives(params)
        .into_iter()
        .map(|o| {
            let value = merged
                .get(&o.metric)
                .and_then(|s| aggregate(s, o.aggregate, elapsed_s));
            (o.name, o.metric, value)
        })
        .collect();
    let constraints = entry
        .constraints(params)
        .into_iter()
        .map(|c| {
            let value = merged
                .get(&c.metric)
                .and_then(|s| aggregate(s, c.aggregate, elapsed_s));
            (c.name, value)
        })
        .collect();
    Report {
        properties: properties.flatten(),
        consistent,
        objectives,
        constraints,
        samples: merged.into_iter().map(|(k, s)| (k, s.count)).collect(),
        choices,
    }
}

/// Prints `report`; runs without crashes print what they always printed
/// (plus the `supervision` object in `--json`).
fn print_report(report: &Report, elapsed: Duration, json: bool, supervisor: &Supervisor) {
    if json {
        let value = serde_json::json!({
            "elapsed_s": elapsed.as_secs_f64(),
            "properties": report.properties,
            "consistent_cut": report.consistent,
            "objectives": report.objectives.iter().map(|(name, metric, value)| serde_json::json!({"name": name, "metric": metric, "value": value})).collect::<Vec<_>>(),
            "samples": report.samples,
            "choices": report.choices,
            "supervision": supervisor.to_json(),
        });
        println!("{value}");
        return;
    }
    let mut line = format!("[{:>6.1}s]", elapsed.as_secs_f64());
    match &report.properties {
        Some(properties) => {
            for p in properties {
                line.push_str(&format!(
                    " {}={}",
                    p.name,
                    if p.holds { "yes" } else { "NO" }
                ));
            }
            if !report.consistent {
                line.push_str(" (states read at different times)");
            }
        }
        None => match supervisor.down().as_slice() {
            [] => line.push_str(" (waiting for every node's state)"),
            down => line.push_str(&format!(
                " (waiting for every node's state; process {} down)",
                down.iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        },
    }
    for (name, _, value) in &report.objectives {
        match value {
            Some(v) => line.push_str(&format!(" | {name}={}", significant(*v))),
            None => line.push_str(&format!(" | {name}=-")),
        }
    }
    if supervisor.crashes() > 0 {
        line.push_str(&format!(
            " | crashes={} restarts={}",
            supervisor.crashes(),
            supervisor.restarts()
        ));
    }
    println!("{line}");
}

/// Each `always` property of `properties`: (name, holds).
fn always(properties: &[PropertyStatus]) -> Vec<(String, bool)> {
    properties
        .iter()
        .filter(|p| p.expectation == "always")
        .map(|p| (p.name.clone(), p.holds))
        .collect()
}

/// How the reporting loop ended.
struct Outcome {
    last: Option<Report>,
    /// The last report with every node's state: (when, `always` held, consistent cut).
    last_complete: Option<(Duration, bool, bool)>,
    until_reached: bool,
    /// A process died (without `--restart`) or could not be restarted.
    failed: bool,
}

pub fn run(registry: &Registry, args: &RunArgs) -> ExitCode {
    let prepared = registry.find(&args.system).and_then(|entry| {
        entry.supports(Purpose::Live)?;
        let params = entry.params(Purpose::Live, &args.params)?;
        let (_, per_choice) = split_policies(&args.policies);
        entry
            .description()
            .check_choices(per_choice.iter().map(|(c, _)| *c))?;
        Ok((entry, params))
    });
    let (entry, params) = match prepared {
        Ok(p) => p,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    for policy in &args.policies {
        let name = policy.split_once('=').map_or(policy.as_str(), |(_, p)| p);
        if let Err(error) = prophet_runtime::choice::parse_live_policy(name.trim()) {
            eprintln!("error: --policy {policy}: {error}");
            return ExitCode::from(EXIT_USAGE);
        }
    }
    if let Some(until) = &args.until
        && !until.contains(">=")
    {
        let names = entry.property_names(&params);
        if !names.iter().any(|n| n == until) {
            eprintln!(
                "error: --until `{until}` is neither a property of `{}` ({}) nor of the form METRIC>=COUNT",
                args.system,
                names.join(", ")
            );
            return ExitCode::from(EXIT_USAGE);
        }
    }
    let Some(nodes) = entry.node_count(&params) else {
        eprintln!("error: `{}` has no nodes to run", args.system);
        return ExitCode::from(EXIT_USAGE);
    };
    let processes = args.nodes.unwrap_or(nodes);
    if processes == 0 || processes > nodes {
        eprintln!(
            "error: --nodes must be from 1 to {nodes} (the number of nodes of `{}` with these parameters)",
            args.system
        );
        return ExitCode::from(EXIT_USAGE);
    }
    let ids = spread(nodes, processes);
    let schedule = match plan(&args.crashes, &ids, args.duration) {
        Ok(schedule) => schedule,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let dir = args.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("prophet-run-{}", std::process::id()))
    });
    let (config, http) = match write_cluster(&dir, args, &ids) {
        Ok(x) => x,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(EXIT_VIOLATION);
        }
    };
    // The reports read states and samples: the observer's token, derived
    // from the secret just written.
    let credentials = match ClusterConfig::load(&config) {
        Ok(c) => Credentials::derive(&c.secret, &c.cluster),
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(EXIT_VIOLATION);
        }
    };
    let token = credentials
        .token(Tier::Observer)
        .unwrap_or_default()
        .to_string();
    let mut supervisor = match Supervisor::start(&config, &dir, &ids, schedule, args.restart) {
        Ok(supervisor) => supervisor,
        Err(failure) => {
            eprintln!("error: {failure}");
            return ExitCode::from(EXIT_VIOLATION);
        }
    };
    eprintln!(
        "started {} processes for {} nodes of `{}`; cluster file, logs and data in {}",
        processes,
        nodes,
        args.system,
        dir.display()
    );
    supervisor.announce_schedule();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(error) => {
            eprintln!("error: {error}");
            supervisor.stop();
            return ExitCode::from(EXIT_VIOLATION);
        }
    };
    let started = Instant::now();
    let board = args.dashboard.map(|listen| {
        let faults_to = crate::run_dashboard::Forward {
            http: http.clone(),
            token: credentials
                .token(Tier::Operator)
                .unwrap_or_default()
                .to_string(),
        };
        (listen, crate::run_dashboard::RunBoard::new(), faults_to)
    });
    let outcome = runtime.block_on(async {
        if let Some((listen, latest, forward)) = &board {
            let served = crate::run_dashboard::serve(
                *listen,
                &args.system,
                credentials.clone(),
                latest.clone(),
                forward.clone(),
            )
            .await;
            match served {
                Ok(addr) => {
                    println!("dashboard: http://{addr}/ui/#token={token}");
                    eprintln!(
                        "dashboard: sign in as operator (to inject faults) with `prophet \
                         http-token --config {} --tier operator`",
                        config.display()
                    );
                }
                Err(error) => eprintln!("error: dashboard: {error}"),
            }
        }
        let mut ticker = tokio::time::interval(args.interval);
        let mut watch = tokio::time::interval(WATCH_PERIOD);
        watch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // One Ctrl-C listener for the whole run: one made per loop turn
        // could miss a signal that arrives between two turns.
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        let mut outcome = Outcome {
            last: None,
            last_complete: None,
            until_reached: false,
            failed: false,
        };
        loop {
            // Ctrl-C first: the terminal sends it to the children too, and
            // their exits must not be taken for crashes (nor restarted).
            let watched = tokio::select! {
                biased;
                _ = &mut ctrl_c => { eprintln!("interrupted; stopping the cluster"); break; }
                _ = watch.tick() => true,
                _ = ticker.tick() => false,
            };
            // Also just before a report, so it never counts a dead process as up.
            if let Err(failure) = supervisor.step(started.elapsed()) {
                eprintln!("error: {failure}");
                outcome.failed = true;
                break;
            }
            if watched {
                continue;
            }
            let report = gather(
                entry,
                &params,
                &http,
                &token,
                nodes,
                started.elapsed().as_secs_f64(),
            )
            .await;
            let elapsed = started.elapsed();
            if let Some(properties) = &report.properties {
                let always = always(properties);
                supervisor.observe(elapsed, report.consistent, &always);
                let held = always.iter().all(|(_, holds)| *holds);
                outcome.last_complete = Some((elapsed, held, report.consistent));
            }
            print_report(&report, elapsed, args.json, &supervisor);
            if let Some((_, latest, _)) = &board {
                let view = crate::run_dashboard::cluster_view(&crate::run_dashboard::Gathered {
                    http: &http,
                    token: &token,
                    ids: &ids,
                    down: &supervisor.down(),
                    restarting: args.restart,
                    objectives: &entry.objectives(&params),
                    constraints: &entry.constraints(&params),
                    properties: report.properties.as_deref(),
                    objective_values: &report.objectives,
                    constraint_values: &report.constraints,
                    supervision: supervisor.to_json(),
                    elapsed_s: elapsed.as_secs_f64(),
                })
                .await;
                latest.publish(view);
            }
            let reached = args
                .until
                .as_ref()
                .is_some_and(|until| reached(until, &report));
            outcome.last = Some(report);
            if reached {
                outcome.until_reached = true;
                break;
            }
            if args.duration.is_some_and(|d| started.elapsed() >= d) {
                break;
            }
        }
        if let Some(file) = &args.model_out
            && let Err(why) = write_models(&http, &token, file).await
        {
            eprintln!("error: {why}");
            outcome.failed = true;
        }
        outcome
    });
    supervisor.stop();
    let Outcome {
        last,
        last_complete,
        until_reached,
        failed,
    } = outcome;
    let last_properties = last.as_ref().and_then(|r| r.properties.as_deref());
    // A run with crashes may end while a process is down or restarting; its
    // verdict is then that of the last report with every node's state, said as such.
    let (always_hold, consistent, on_earlier) = match (last_properties, last_complete) {
        (None, Some((at, held, consistent))) if supervisor.crashes() > 0 => {
            (held, consistent, Some(at))
        }
        _ => (
            last_properties.is_some_and(|ps| always(ps).iter().all(|(_, holds)| *holds)),
            last.as_ref().is_some_and(|r| r.consistent),
            None,
        ),
    };
    let held_after_restarts = supervisor
        .outages()
        .iter()
        .all(|o| o.after.as_ref().is_none_or(|a| a.held()));
    let ok =
        !failed && always_hold && held_after_restarts && (args.until.is_none() || until_reached);
    eprintln!(
        "cluster stopped: always-properties {}{}{}",
        match (always_hold, consistent) {
            (true, _) => "held",
            (false, true) => "did NOT hold (on a consistent cut)",
            (false, false) => {
                "did NOT hold (or no complete snapshot; states read at different \
                 times, so possibly a false alarm)"
            }
        },
        match on_earlier {
            Some(at) => format!(
                " on the last report with every node's state ({:.1}s; a process was down after it)",
                at.as_secs_f64()
            ),
            None => String::new(),
        },
        match &args.until {
            Some(u) if until_reached => format!("; `{u}` reached"),
            Some(u) => format!("; `{u}` NOT reached"),
            None => String::new(),
        }
    );
    if supervisor.crashes() > 0 {
        eprintln!(
            "crashes: {}, restarts: {}{}",
            supervisor.crashes(),
            supervisor.restarts(),
            if held_after_restarts {
                ""
            } else {
                "; always-properties did NOT hold after a restart"
            }
        );
        for outage in supervisor.outages() {
            eprintln!("  {}", outage.describe());
        }
        let omitted = supervisor.outages_omitted();
        if omitted > 0 {
            eprintln!("  ({omitted} more not recorded; the first {OUTAGES_MAX} are)");
        }
    }
    ExitCode::from(if ok { EXIT_OK } else { EXIT_VIOLATION })
}

/// Whether the `--until` condition holds on `report`.
fn reached(until: &str, report: &Report) -> bool {
    if let Some((metric, count)) = until.split_once(">=")
        && let Ok(count) = count.trim().parse::<u64>()
    {
        return report
            .samples
            .get(metric.trim())
            .is_some_and(|&n| n >= count);
    }
    report
        .properties
        .as_ref()
        .is_some_and(|ps| ps.iter().any(|p| p.name == until && p.holds))
}

/// `v` with four significant digits: latencies are in seconds, so a 2.6 ms
/// read prints as 0.002600, not 0.003.
fn significant(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let decimals = (3 - v.abs().log10().floor() as i32).clamp(0, 9) as usize;
    format!("{v:.decimals$}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn objectives_print_with_four_significant_digits() {
        assert_eq!(super::significant(0.0026), "0.002600");
        assert_eq!(super::significant(19.975), "19.98");
        assert_eq!(super::significant(1234.5), "1234");
        assert_eq!(super::significant(0.0), "0");
    }

    use super::{States, consistent_states};

    /// States of `nodes` nodes whose handler counts come from `counts`.
    fn states(counts: &[u64]) -> States {
        counts
            .iter()
            .enumerate()
            .map(|(id, &handled)| (id as u32, (handled, vec![handled as u8])))
            .collect()
    }

    #[tokio::test]
    async fn a_quiet_cluster_gives_a_consistent_cut_from_one_double_collect() {
        let mut calls = 0;
        let (cut, consistent) = consistent_states(3, 8, || {
            calls += 1;
            async { states(&[4, 7, 9]) }
        })
        .await;
        assert!(consistent);
        assert_eq!(cut, states(&[4, 7, 9]));
        assert_eq!(calls, 2, "read twice, once more to confirm");
    }

    #[tokio::test]
    async fn a_node_that_ran_a_handler_between_reads_is_read_again() {
        // Node 1 moves between the first two rounds, then the cluster is quiet.
        let rounds = [[4, 7, 9], [4, 8, 9], [4, 8, 9]];
        let mut call = 0;
        let (cut, consistent) = consistent_states(3, 8, || {
            let round = states(&rounds[call.min(2)]);
            call += 1;
            async move { round }
        })
        .await;
        assert!(consistent);
        assert_eq!(cut, states(&[4, 8, 9]));
        assert_eq!(call, 3);
    }

    #[tokio::test]
    async fn a_busy_or_incomplete_cluster_is_reported_as_not_consistent() {
        let mut n = 0;
        let (cut, consistent) = consistent_states(2, 4, || {
            n += 1;
            let round = states(&[n, n]);
            async move { round }
        })
        .await;
        assert!(!consistent, "every round differs");
        assert_eq!(cut, states(&[5, 5]), "the last round is returned");
        // A node missing from every read: never consistent either.
        let (_, consistent) = consistent_states(3, 4, || async { states(&[1, 1]) }).await;
        assert!(!consistent);
    }
}
