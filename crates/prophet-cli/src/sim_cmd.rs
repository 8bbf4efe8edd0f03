//! `prophet sim`: simulate a registered system or a scenario file, per policy.

use crate::out::outln;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use prophet::registry::{DEFAULT_HORIZON, Purpose, Registry, SimCounterexample, SimRequest};
use prophet::sim::scenario::Scenario;
use prophet::sim::{Limits, PolicySpec, RunReport, SeedsReport, StopReason};
use prophet::steer::SteerConfig;

use crate::duration::parse_duration;
use crate::{EXIT_OK, EXIT_USAGE};

/// Arguments of `prophet sim`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    prophet sim kv\n  \
    prophet sim kv --policy kv.read_replica=random,p2c,peak-ewma --seeds 3\n  \
    prophet sim scenarios/linkerd-stuck-replica.toml --json\n  \
    prophet sim scenarios/wide-area.toml --plot plots/\n  \
    prophet sim scenarios/alternating-replica.toml --policy kv.read_replica=c3,prophet:fast,prophet\n\n\
Policies: first, fixed:<i>, random, round-robin, affinity, epsilon-greedy[:<eps>], ucb1, thompson,\n\
p2c, peak-ewma, c3, prophet (the resolver: predicts each candidate by simulating forward under\n\
the node's learned model), prophet:fast (the resolver without deliberation). A comma-separated\n\
list for one choice compares them.\n\n\
Exit status: 0 when every invariant and constraint held, 1 when one was\n\
violated, 2 on bad usage or a run that could not complete.")]
pub struct SimArgs {
    /// A registered system (see `prophet list`) or a scenario file (`.toml`)
    /// that names one.
    target: String,
    /// A parameter of the system as key=value; repeat for several.
    #[arg(long = "param", short = 'p', value_name = "KEY=VALUE")]
    params: Vec<String>,
    /// The policy of a choice, e.g. kv.read_replica=peak-ewma; a list
    /// (`=random,p2c`) runs once per policy. Repeat for several choices.
    #[arg(long = "policy", value_name = "CHOICE=POLICY[,POLICY…]")]
    policies: Vec<String>,
    /// The policy of choices named nowhere (default: first).
    #[arg(long, value_name = "POLICY")]
    default_policy: Option<String>,
    /// The first seed.
    #[arg(long)]
    seed: Option<u64>,
    /// How many seeds (S, S+1, …); objectives get 95% confidence intervals.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    seeds: Option<u64>,
    /// Simulated time per run (e.g. 60s, 5m).
    #[arg(long, value_parser = parse_duration, allow_hyphen_values = true)]
    horizon: Option<Duration>,
    /// Stop each run after this many events.
    #[arg(long, value_name = "N")]
    max_events: Option<u64>,
    /// Stop each run after this much wall-clock time.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, allow_hyphen_values = true)]
    wall_budget: Option<Duration>,
    /// Check the system's invariants every N events and at the end of each
    /// run (0: never); a run stops at the first violation.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    check_every: u64,
    /// Steer every run: nodes send checkpoints of their state to the nodes
    /// they talk to, and a delivery of a kind the system declares
    /// filterable is discarded as lost when, over the receiver's view, its
    /// step breaks an invariant or a bounded search of the events that
    /// follow from it predicts one (see the guide's "Steering").
    #[arg(long)]
    steer: bool,
    /// With --steer: the depth, in events, of the consequence search after
    /// each reviewed delivery (0: judge the delivery alone).
    #[arg(long, value_name = "EVENTS", default_value_t = prophet::steer::DEFAULT_LOOKAHEAD, requires = "steer")]
    steer_lookahead: usize,
    /// With --steer: the states one consequence search may visit.
    #[arg(long, value_name = "N", default_value_t = prophet::steer::DEFAULT_LOOKAHEAD_STATES, requires = "steer")]
    steer_states: u64,
    /// With --steer: the bytes per second per node checkpoints may use
    /// beyond 5% of the node's own traffic (a token bucket; a checkpoint it
    /// cannot pay for waits), or `none` for no limit.
    #[arg(long, value_name = "BYTES_PER_S|none", default_value = "512", value_parser = parse_budget, requires = "steer")]
    steer_budget: Budget,
    /// Print the result as JSON: the last line of output is one JSON object.
    #[arg(long)]
    json: bool,
    /// Write SVG plots (latency CDF per policy, objective over time) here.
    #[arg(long, value_name = "DIR")]
    plot: Option<PathBuf>,
    /// Write every decision (candidates, each one's probability and
    /// predicted cost, the pick) and its outcome to FILE as JSON lines, the
    /// input of `prophet evaluate`. Logs one policy per choice: with a
    /// comparison, name the policy with --policy CHOICE=POLICY.
    #[arg(long, value_name = "FILE")]
    decisions: Option<PathBuf>,
    /// Write each node's online performance model at the end of each run
    /// to FILE (JSON): per peer, the delay, service time and queue length
    /// it measured (quantiles with 95% intervals, age, shifts detected);
    /// per candidate of each choice, its outcomes' cost, latency and
    /// losses. Built from what each node itself observed. One policy per
    /// choice, as with --decisions.
    #[arg(long, value_name = "FILE")]
    model_out: Option<PathBuf>,
}

/// One row of the comparison: a label and the policies it sets.
struct Variant {
    label: String,
    policies: BTreeMap<String, PolicySpec>,
    runs: Vec<RunReport>,
}

pub fn run(registry: &Registry, args: &SimArgs) -> ExitCode {
    match simulate(registry, args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn load_scenario(target: &str) -> Result<Option<Scenario>, String> {
    let path = Path::new(target);
    if !(target.ends_with(".toml") || path.is_file()) {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {target}: {e}"))?;
    let mut scenario = Scenario::parse(target, &text).map_err(|e| e.to_string())?;
    // Empirical distributions' files, relative to the scenario's directory.
    let dir = path.parent().unwrap_or(Path::new(""));
    for file in scenario.empirical_files() {
        let full = dir.join(&file);
        let samples = std::fs::read_to_string(&full).map_err(|e| {
            format!(
                "{target}: cannot read the empirical latency file {}: {e}",
                full.display()
            )
        })?;
        scenario
            .load_empirical(&file, &samples)
            .map_err(|e| e.to_string())?;
    }
    Ok(Some(scenario))
}

fn simulate(registry: &Registry, args: &SimArgs) -> Result<ExitCode, String> {
    let scenario = load_scenario(&args.target)?;
    let system = scenario
        .as_ref()
        .map_or(args.target.as_str(), |s| s.system.as_str());
    let entry = registry.find(system).map_err(|e| match scenario {
        None => format!("{e}; nor is `{system}` a scenario file (no such file)"),
        Some(_) => e.to_string(),
    })?;
    entry.supports(Purpose::Sim).map_err(|e| e.to_string())?;
    let description = entry.description();
    // Parameters: the scenario's, then the command line's (which win).
    let mut pairs: BTreeMap<String, String> = BTreeMap::new();
    for pair in scenario
        .iter()
        .flat_map(Scenario::param_pairs)
        .chain(args.params.iter().cloned())
    {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("parameter `{pair}` is not of the form key=value"))?;
        pairs.insert(k.trim().to_string(), v.trim().to_string());
    }
    let pairs: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let params = entry
        .params(Purpose::Sim, &pairs)
        .map_err(|e| e.to_string())?;

    let mut base: BTreeMap<String, PolicySpec> = description
        .default_policies
        .iter()
        .map(|(c, p)| {
            PolicySpec::parse(p)
                .map(|spec| (c.to_string(), spec))
                .map_err(|e| format!("{}: default policy of {c}: {e}", description.name))
        })
        .collect::<Result<_, _>>()?;
    let mut compare: Option<(String, Vec<PolicySpec>)> = None;
    if let Some(s) = &scenario {
        base.extend(s.policy_map());
        if let Some(c) = &s.compare {
            compare = Some((
                c.choice.clone(),
                c.policies.iter().map(|p| p.0.clone()).collect(),
            ));
        }
    }
    for given in &args.policies {
        let (choice, names) = given
            .split_once('=')
            .ok_or_else(|| format!("--policy `{given}` is not of the form choice=policy"))?;
        let specs = names
            .split(',')
            .map(|n| PolicySpec::parse(n).map_err(|e| format!("--policy {choice}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        let choice = choice.trim().to_string();
        if specs.len() > 1 {
            compare = Some((choice, specs));
        } else {
            if compare.as_ref().is_some_and(|(c, _)| *c == choice) {
                compare = None;
            }
            base.insert(choice, specs.into_iter().next().expect("split gives one"));
        }
    }
    let named = base
        .keys()
        .map(String::as_str)
        .chain(compare.as_ref().map(|(c, _)| c.as_str()));
    description
        .check_choices(named)
        .map_err(|e| e.to_string())?;
    let default_policy = match (
        &args.default_policy,
        scenario.as_ref().and_then(|s| s.default_policy.clone()),
    ) {
        (Some(name), _) => Some(PolicySpec::parse(name).map_err(|e| e.to_string())?),
        (None, from_file) => from_file.map(|p| p.0),
    };
    let mut variants: Vec<Variant> = match compare {
        None => vec![Variant {
            label: label_of(&base),
            policies: base,
            runs: Vec::new(),
        }],
        Some((choice, specs)) => specs
            .into_iter()
            .map(|spec| {
                let mut policies = base.clone();
                policies.insert(choice.clone(), spec.clone());
                Variant {
                    label: format!("{choice}={}", spec.name()),
                    policies,
                    runs: Vec::new(),
                }
            })
            .collect(),
    };

    let first_seed = args
        .seed
        .or_else(|| scenario.as_ref().map(|s| s.seed_list()[0]))
        .unwrap_or(0);
    let count = args
        .seeds
        .or_else(|| scenario.as_ref().map(|s| s.seed_list().len() as u64))
        .unwrap_or(1);
    let seeds: Vec<u64> = (first_seed..first_seed.saturating_add(count)).collect();
    let defaults = Limits::default();
    let limits = Limits {
        horizon: args
            .horizon
            .or_else(|| scenario.as_ref().and_then(|s| s.horizon.map(|h| h.0)))
            .unwrap_or(DEFAULT_HORIZON),
        max_events: args
            .max_events
            .or_else(|| scenario.as_ref().and_then(|s| s.max_events))
            .unwrap_or(defaults.max_events),
        wall_budget: args
            .wall_budget
            .or_else(|| scenario.as_ref().and_then(|s| s.wall_budget.map(|w| w.0))),
    };

    let observed = [
        ("--decisions", &args.decisions),
        ("--model-out", &args.model_out),
    ];
    if let (Some((flag, Some(file))), [_, _, ..]) = (
        observed.iter().find(|(_, file)| file.is_some()),
        &variants[..],
    ) {
        return Err(format!(
            "{flag} {} observes the runs of one policy per choice, and this compares {} ({}); name one with --policy CHOICE=POLICY",
            file.display(),
            variants.len(),
            variants
                .iter()
                .map(|v| v.label.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let log = args
        .decisions
        .as_deref()
        .map(crate::decision_log::LogWriter::create)
        .transpose()?;
    let models = args
        .model_out
        .as_deref()
        .map(crate::model_out::ModelWriter::create)
        .transpose()?;
    let observe = |o: &prophet::sim::Observation<'_>| {
        if let Some(log) = &log {
            log.observe(o);
        }
        if let Some(models) = &models {
            models.observe(o);
        }
    };
    let total = (variants.len() * seeds.len()) as u64;
    let bar = if args.json {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "[{elapsed_precise}] {bar:30} {pos}/{len} runs {prefix} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    };
    if !args.json {
        outln!(
            "simulating {} ({}) for {:?} × {} seed(s) from {first_seed}",
            entry.name(),
            params,
            limits.horizon,
            seeds.len()
        );
        if scenario.is_none() {
            outln!("workload: {}", description.workload);
        }
    }
    let run_progress = |p: &prophet::sim::RunProgress| {
        bar.set_message(format!(
            "seed {}: {:.1}s of {:.0}s simulated, {} events",
            p.seed,
            p.sim_time.as_secs_f64(),
            p.horizon.as_secs_f64(),
            p.events
        ));
    };
    for variant in &mut variants {
        bar.set_message(variant.label.clone());
        bar.set_prefix(variant.label.clone());
        let mut progress = |_: &RunReport| bar.inc(1);
        let mut request = SimRequest {
            scenario: scenario.as_ref(),
            policies: variant.policies.clone(),
            default_policy: default_policy.clone(),
            limits,
            seeds: seeds.clone(),
            check_every: (args.check_every > 0).then_some(args.check_every),
            progress: &mut progress,
            run_progress: Some(&run_progress),
            observer: (log.is_some() || models.is_some())
                .then_some(&observe as prophet::sim::Observer<'_>),
            steer: steer_config(args),
        };
        variant.runs = entry.simulate(&params, &mut request)?;
    }
    bar.finish_and_clear();
    let logged = match log {
        Some(log) => Some(log.finish()?),
        None => None,
    };
    let modelled = match models {
        Some(models) => Some(models.finish()?),
        None => None,
    };

    let summaries: Vec<SeedsReport> = variants
        .iter()
        .map(|v| SeedsReport::from_runs(&v.runs))
        .collect();
    let violations: Vec<(String, &RunReport)> = variants
        .iter()
        .flat_map(|v| v.runs.iter().map(move |r| (v.label.clone(), r)))
        .filter(|(_, r)| r.violation.is_some())
        .collect();
    // The first violations (those printed) as checker traces: each seed is
    // rerun with its steps recorded.
    let counterexamples: Vec<Result<SimCounterexample, String>> = violations
        .iter()
        .take(VIOLATIONS_SHOWN)
        .map(|(label, run)| {
            let variant = variants.iter().find(|v| v.label == *label);
            let mut unused = |_: &RunReport| {};
            let request = SimRequest {
                scenario: scenario.as_ref(),
                policies: variant.map(|v| v.policies.clone()).unwrap_or_default(),
                default_policy: default_policy.clone(),
                limits,
                seeds: vec![run.seed],
                check_every: (args.check_every > 0).then_some(args.check_every),
                progress: &mut unused,
                run_progress: None,
                observer: None,
                steer: steer_config(args),
            };
            entry.sim_counterexample(&params, &request, run.seed)
        })
        .collect();
    let replay_command =
        |cx: &SimCounterexample| crate::replay_command(entry.name(), &params, &cx.trace.encoded());
    let violated = !violations.is_empty()
        || summaries.iter().any(|s| {
            s.constraints_satisfied
                .values()
                .any(|&ok| ok < s.seeds.len())
        });
    if let Some(dir) = &args.plot {
        let series: Vec<(String, Vec<&RunReport>)> = variants
            .iter()
            .map(|v| (v.label.clone(), v.runs.iter().collect()))
            .collect();
        let written = crate::sim_plot::write_plots(dir, &series)?;
        if !args.json {
            for file in written {
                outln!("wrote {}", file.display());
            }
        }
    }
    if args.json {
        let mut value = serde_json::json!({
            "system": entry.name(),
            "scenario": scenario.as_ref().map(|_| args.target.clone()),
            "params": params.to_map(),
            "seeds": seeds,
            "horizon_secs": limits.horizon.as_secs_f64(),
            "results": variants.iter().zip(&summaries).map(|(v, s)| serde_json::json!({
                "label": v.label,
                "policies": v.policies.iter().map(|(k, p)| (k.clone(), p.name())).collect::<BTreeMap<_, _>>(),
                "objectives": s.objectives,
                "constraints_satisfied": s.constraints_satisfied,
                "events": s.events,
                "sim_secs": s.sim_secs,
                "wall_secs": s.wall_secs,
                "cdf": crate::sim_plot::distributions(&v.runs.iter().collect::<Vec<_>>()),
                "runs": v.runs.iter().map(|r| {
                    let mut run = serde_json::json!({
                        "seed": r.seed, "stop": r.stop, "events": r.events,
                        "trace_hash": format!("{:016x}", r.trace_hash),
                        "violation": r.violation,
                        "objectives": r.objectives, "constraints": r.constraints,
                        "cache_lookups": r.cache_lookups, "cache_hits": r.cache_hits,
                        "zone_bytes": r.zone_bytes, "cross_zone_bytes": r.cross_zone_bytes,
                    });
                    if let Some(steering) = &r.steering {
                        run["steering"] = serde_json::json!(steering);
                    }
                    let shown = violations
                        .iter()
                        .take(VIOLATIONS_SHOWN)
                        .position(|(label, shown)| *label == v.label && shown.seed == r.seed);
                    if let Some(i) = shown {
                        run["counterexample"] = match &counterexamples[i] {
                            Ok(cx) => serde_json::json!({
                                "property": cx.property, "at_ns": cx.at_ns,
                                "events": cx.events, "trace": cx.trace,
                                "kept_in_flight": cx.kept_in_flight,
                                "replay": replay_command(cx),
                            }),
                            Err(why) => serde_json::json!({ "error": why }),
                        };
                    }
                    run
                }).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        });
        if let (Some(w), Some(file)) = (&logged, &args.decisions) {
            value["decisions"] = serde_json::json!({
                "file": file.display().to_string(), "lines": w.lines,
                "truncated": w.truncated, "choices": w.choices,
            });
        }
        if let (Some(nodes), Some(file)) = (modelled, &args.model_out) {
            value["model_out"] = serde_json::json!({
                "file": file.display().to_string(), "models": nodes,
            });
        }
        outln!("{value}");
    } else {
        print_table(&variants, &summaries);
        if args.steer {
            print_steering(&variants);
        }
        if let (Some(w), Some(file)) = (&logged, &args.decisions) {
            print_decisions(file, w);
        }
        if let (Some(nodes), Some(file)) = (modelled, &args.model_out) {
            outln!(
                "performance models of {nodes} node(s) (per seed) in {}",
                file.display()
            );
        }
        if violations.len() > VIOLATIONS_SHOWN {
            outln!(
                "{} runs violated an invariant; the first five:",
                violations.len()
            );
        }
        for ((label, run), cx) in violations.iter().zip(&counterexamples) {
            if let Some(v) = &run.violation {
                outln!(
                    "VIOLATION of invariant \"{}\" with {label}, seed {}, at t={:?} (event {}); rerun with --seed {} --seeds 1",
                    v.property,
                    run.seed,
                    v.at,
                    v.events,
                    run.seed
                );
            }
            match cx {
                Ok(cx) if cx.trace.len() <= TRACE_STEPS_PRINTED => outln!(
                    "counterexample ({} steps, ending where \"{}\" fails):\n{}",
                    cx.trace.len(),
                    cx.property,
                    cx.trace
                ),
                Ok(cx) => outln!(
                    "counterexample: {} steps, ending where \"{}\" fails (--json has them all)",
                    cx.trace.len(),
                    cx.property
                ),
                Err(why) => outln!("no checker trace: {why}"),
            }
            if let Ok(cx) = cx {
                outln!("replay with: {}", replay_command(cx));
            }
        }
    }
    Ok(ExitCode::from(if violated { 1 } else { EXIT_OK }))
}

/// The per-choice summary of a written decision log.
fn print_decisions(file: &Path, w: &crate::decision_log::Written) {
    outln!(
        "decision log: {} lines in {}{}",
        w.lines,
        file.display(),
        if w.truncated {
            format!(
                " (TRUNCATED at {} lines: later decisions are not in it)",
                crate::decision_log::LOG_LINES_MAX
            )
        } else {
            String::new()
        }
    );
    outln!(
        "  {:<28} {:>10} {:>10} {:>12} {:>10} {:>14} {:>9}  {}",
        "choice",
        "decisions",
        "outcomes",
        "mean cost",
        "predicted",
        "error median",
        "coverage",
        "error median, first → last tenth"
    );
    let opt = |x: Option<f64>, f: &dyn Fn(f64) -> String| x.map_or("-".to_string(), f);
    for (name, c) in &w.choices {
        let trend = match (
            c.prediction_error_by_tenth.first(),
            c.prediction_error_by_tenth.last(),
        ) {
            (Some(first), Some(last)) => format!("{first:.6} → {last:.6}"),
            _ => "-".to_string(),
        };
        outln!(
            "  {:<28} {:>10} {:>10} {:>12} {:>10} {:>14} {:>9}  {}",
            name,
            c.decisions,
            c.outcomes,
            opt(c.mean_cost, &|x| format!("{x:.6}")),
            c.predicted,
            opt(c.prediction_error_median, &|x| format!("{x:.6}")),
            opt(c.prediction_coverage, &|x| format!("{:.1}%", x * 100.0)),
            trend,
        );
    }
}

/// Violations printed (and traced) at most.
const VIOLATIONS_SHOWN: usize = 5;
/// Longest counterexample printed step by step (longer ones: in --json).
const TRACE_STEPS_PRINTED: usize = 60;

fn label_of(policies: &BTreeMap<String, PolicySpec>) -> String {
    if policies.is_empty() {
        return "first (all choices)".into();
    }
    policies
        .iter()
        .map(|(c, p)| format!("{c}={}", p.name()))
        .collect::<Vec<_>>()
        .join(" ")
}

fn print_table(variants: &[Variant], summaries: &[SeedsReport]) {
    let names: Vec<String> = variants
        .first()
        .and_then(|v| v.runs.first())
        .map(|r| {
            r.objectives
                .iter()
                .map(|o| format!("{} ({:?})", o.name, o.direction).to_lowercase())
                .collect()
        })
        .unwrap_or_default();
    let keys: Vec<String> = variants
        .first()
        .and_then(|v| v.runs.first())
        .map(|r| r.objectives.iter().map(|o| o.name.clone()).collect())
        .unwrap_or_default();
    let width = variants
        .iter()
        .map(|v| v.label.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let mut head = format!("{:width$}", "policy");
    for n in &names {
        head.push_str(&format!("  {n:>26}"));
    }
    outln!("{head}  {:>12}  {:>10}", "events", "sim s/wall s");
    for (v, s) in variants.iter().zip(summaries) {
        let mut row = format!("{:width$}", v.label);
        for k in &keys {
            let cell = match s.objectives.get(k) {
                Some(e) if e.n > 1 => format!("{} ± {}", fmt(e.mean), fmt(e.ci95)),
                Some(e) => fmt(e.mean),
                None => "-".into(),
            };
            row.push_str(&format!("  {cell:>26}"));
        }
        let speed = s.sim_secs / s.wall_secs.max(1e-9);
        outln!("{row}  {:>12}  {:>10.1}", s.events, speed);
        for run in &v.runs {
            let why = match run.stop {
                StopReason::EventLimit => "its event limit (--max-events)",
                StopReason::WallBudget => "its wall-clock budget (--wall-budget)",
                _ => continue,
            };
            outln!(
                "    CUT SHORT: seed {} stopped at t={:.3}s of the horizon, after {} events, at {why}: its figures cover only that much",
                run.seed,
                run.sim_time.as_secs_f64(),
                run.events
            );
        }
        print_cache_and_zones(&v.runs);
        for (name, ok) in &s.constraints_satisfied {
            outln!(
                "    constraint {name}: held in {ok} of {} runs",
                s.seeds.len()
            );
        }
    }
    outln!(
        "(objective values in the metric's unit, seconds for latencies; ± is a 95% confidence interval over seeds)"
    );
}

/// The cache hit ratio and cross-zone bytes of a variant's runs, when the
/// scenario has caches or zones.
fn print_cache_and_zones(runs: &[RunReport]) {
    let lookups: u64 = runs.iter().map(|r| r.cache_lookups).sum();
    if lookups > 0 {
        let hits: u64 = runs.iter().map(|r| r.cache_hits).sum();
        outln!(
            "    caches: {hits} hits in {lookups} lookups ({:.1}%)",
            100.0 * hits as f64 / lookups as f64
        );
    }
    if runs.iter().any(|r| !r.zone_bytes.is_empty()) {
        let crossed: u64 = runs.iter().map(|r| r.cross_zone_bytes).sum();
        let total: u64 = runs.iter().flat_map(|r| r.zone_bytes.values()).sum();
        outln!(
            "    zones: {crossed} of {total} bytes between zones ({:.1}%), over {} run(s)",
            100.0 * crossed as f64 / total.max(1) as f64,
            runs.len()
        );
    }
}

fn fmt(x: f64) -> String {
    if x == 0.0 {
        "0".into()
    } else if x.abs() >= 1000.0 {
        format!("{x:.0}")
    } else if x.abs() >= 1.0 {
        format!("{x:.3}")
    } else {
        format!("{x:.5}")
    }
}

/// A checkpoint budget on the command line: bytes per second, or `none`.
#[derive(Clone, Copy, Debug)]
struct Budget(Option<f64>);

fn parse_budget(text: &str) -> Result<Budget, String> {
    if text == "none" {
        return Ok(Budget(None));
    }
    match text.parse::<f64>() {
        Ok(b) if b.is_finite() && b >= 0.0 => Ok(Budget(Some(b))),
        _ => Err(format!(
            "`{text}` is not a budget: bytes per second (a number ≥ 0) or `none`"
        )),
    }
}

/// The steering the command line asks for, if any.
fn steer_config(args: &SimArgs) -> Option<SteerConfig> {
    args.steer.then(|| SteerConfig {
        lookahead: args.steer_lookahead,
        lookahead_states: args.steer_states,
        budget: args
            .steer_budget
            .0
            .map(|bytes_per_sec| prophet::steer::Budget {
                bytes_per_sec,
                ..prophet::steer::Budget::default()
            }),
        ..SteerConfig::default()
    })
}

/// One line per policy variant: what steering did over its runs.
fn print_steering(variants: &[Variant]) {
    for v in variants {
        let steered: Vec<_> = v.runs.iter().filter_map(|r| r.steering.as_ref()).collect();
        let sum = |f: fn(&prophet::sim::steer::SteeringReport) -> u64| -> u64 {
            steered.iter().map(|s| f(s)).sum()
        };
        outln!(
            "steering ({}): {} deliveries reviewed, {} discarded ({} predicted by {} consequence searches over {} states); {} checkpoints sent ({} bytes), {} received",
            v.label,
            sum(|s| s.reviewed),
            sum(|s| s.discarded),
            sum(|s| s.predicted),
            sum(|s| s.searches),
            sum(|s| s.search_states),
            sum(|s| s.checkpoints_sent),
            sum(|s| s.checkpoint_bytes),
            sum(|s| s.checkpoints_received),
        );
        if let Some((seed, action)) = v
            .runs
            .iter()
            .find_map(|r| Some((r.seed, r.steering.as_ref()?.actions.first()?)))
        {
            outln!(
                "  first action: seed {seed}, t={:?}: {} (\"{}\" predicted to fail; oldest checkpoint used {:?} old)",
                action.at,
                action.trace.join("; "),
                action.property,
                action.oldest_checkpoint,
            );
        }
    }
}
