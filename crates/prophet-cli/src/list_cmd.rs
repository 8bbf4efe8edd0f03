//! `prophet list`: the built-in systems and their parameters.

use std::process::ExitCode;

use prophet_systems::catalog::{ParamKind, ParamSpec, catalog};
use prophet_systems::sim_catalog::find_sim;

/// Arguments of `prophet list`.
#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

/// The parameters `sim` and `run` take for `name`, when they differ from
/// the checker's (larger sizes, workload knobs); `None` when the mode does
/// not apply.
fn mode_params(name: &str) -> (Option<&'static [ParamSpec]>, Option<&'static [ParamSpec]>) {
    let sim = find_sim(name)
        .ok()
        .filter(|e| e.simulable)
        .map(|e| e.param_specs());
    let live = prophet_runtime::systems::find(name)
        .ok()
        .map(|h| h.param_specs());
    (sim, live)
}

fn params_json(params: &[ParamSpec]) -> Vec<serde_json::Value> {
    params
        .iter()
        .map(|p| {
            let mut value = serde_json::json!({
                "name": p.name, "default": p.default, "help": p.help,
            });
            match p.kind {
                ParamKind::Int { min, max } => {
                    value["min"] = min.into();
                    value["max"] = max.into();
                }
                ParamKind::Choice(names) => value["choices"] = names.into(),
            }
            value
        })
        .collect()
}

pub fn run(args: &ListArgs) -> ExitCode {
    if args.json {
        let systems: Vec<serde_json::Value> = catalog()
            .iter()
            .map(|entry| {
                let (sim, live) = mode_params(entry.name);
                serde_json::json!({
                    "name": entry.name,
                    "about": entry.about,
                    "params": params_json(entry.params),
                    "sim_params": sim.map(params_json),
                    "run_params": live.map(params_json),
                })
            })
            .collect();
        println!("{}", serde_json::json!({ "systems": systems }));
        return ExitCode::SUCCESS;
    }
    for entry in catalog() {
        println!("{:<18} {}", entry.name, entry.about);
        for p in entry.params {
            println!(
                "    {:<14} {} (default {}; {})",
                format!("{}=", p.name),
                p.help,
                p.default,
                p.kind
            );
        }
        let (sim, live) = mode_params(entry.name);
        for (mode, params) in [("sim", sim), ("run", live)] {
            match params {
                None => println!("    ({mode}: not available for this system)"),
                Some(params) if params_differ(params, entry.params) => println!(
                    "    ({mode} takes: {})",
                    params
                        .iter()
                        .map(|p| format!("{}={}", p.name, p.default))
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
                Some(_) => {}
            }
        }
    }
    ExitCode::SUCCESS
}

fn params_differ(a: &[ParamSpec], b: &[ParamSpec]) -> bool {
    a.len() != b.len()
        || a.iter()
            .zip(b)
            .any(|(x, y)| x.name != y.name || x.default != y.default)
}
