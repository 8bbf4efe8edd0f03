//! `prophet list`: the registered systems, their parameters (with the
//! default of each mode), variants, choices and objectives.

use crate::out::outln;
use std::process::ExitCode;

use prophet::registry::{Entry, ParamKind, ParamSpec, Purpose, Registry};

/// Arguments of `prophet list`.
#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

/// The modes an entry serves.
fn modes(entry: &Entry) -> Vec<&'static str> {
    Purpose::ALL
        .into_iter()
        .filter(|p| entry.supports(*p).is_ok())
        .map(Purpose::name)
        .collect()
}

fn defaults_text(p: &ParamSpec) -> String {
    if p.one_default() {
        format!("default {}", p.defaults[0])
    } else {
        Purpose::ALL
            .into_iter()
            .map(|m| format!("{} {}", m.name(), p.default_for(m)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn param_json(p: &ParamSpec) -> serde_json::Value {
    let mut value = serde_json::json!({
        "name": p.name,
        "help": p.help,
        "default": p.defaults[0],
        "defaults": Purpose::ALL.into_iter().map(|m| (m.name(), p.default_for(m))).collect::<std::collections::BTreeMap<_, _>>(),
    });
    match p.kind {
        ParamKind::Int { min, max } => {
            value["min"] = min.into();
            value["max"] = max.into();
        }
        ParamKind::Choice(names) => value["choices"] = names.into(),
    }
    value
}

fn objective_names(entry: &Entry) -> Vec<String> {
    entry
        .params(Purpose::Sim, &[])
        .map(|p| entry.objectives(&p))
        .unwrap_or_default()
        .into_iter()
        .map(|o| {
            format!(
                "{} ({:?} {} of {})",
                o.name, o.direction, o.aggregate, o.metric
            )
            .to_lowercase()
        })
        .collect()
}

pub fn run(registry: &Registry, args: &ListArgs) -> ExitCode {
    if args.json {
        let systems: Vec<serde_json::Value> = registry
            .entries()
            .iter()
            .map(|entry| {
                let d = entry.description();
                serde_json::json!({
                    "name": d.name,
                    "about": d.about,
                    "modes": modes(entry),
                    "params": entry.param_specs().iter().map(param_json).collect::<Vec<_>>(),
                    "variants": d.variants.iter().map(|v| serde_json::json!({"name": v.name, "help": v.help})).collect::<Vec<_>>(),
                    "choices": d.choices.iter().map(|c| serde_json::json!({"name": c.name, "help": c.help, "candidates": c.candidates})).collect::<Vec<_>>(),
                    "objectives": objective_names(entry),
                    "workload": d.workload,
                })
            })
            .collect();
        outln!("{}", serde_json::json!({ "systems": systems }));
        return ExitCode::SUCCESS;
    }
    for entry in registry.entries() {
        let d = entry.description();
        outln!("{:<18} {}", d.name, d.about);
        outln!("    modes: {}", modes(entry).join(", "));
        for p in entry.param_specs() {
            outln!(
                "    {:<14} {} ({}; {})",
                format!("{}=", p.name),
                p.help,
                defaults_text(p),
                p.kind
            );
        }
        let width = d.variants.iter().map(|v| v.name.len()).max().unwrap_or(0);
        for v in &d.variants {
            outln!("    variant {:<width$} {}", v.name, v.help);
        }
        for c in &d.choices {
            outln!(
                "    choice {:<22} {} (candidates: {})",
                c.name,
                c.help,
                c.candidates
            );
        }
        for o in objective_names(entry) {
            outln!("    objective {o}");
        }
        if entry.has_nodes() {
            outln!("    workload: {}", d.workload);
        }
    }
    ExitCode::SUCCESS
}
