//! `prophet list`: the built-in systems and their parameters.

use std::process::ExitCode;

use prophet_systems::catalog::{ParamKind, catalog};

/// Arguments of `prophet list`.
#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &ListArgs) -> ExitCode {
    if args.json {
        let systems: Vec<serde_json::Value> = catalog()
            .iter()
            .map(|entry| {
                let params: Vec<serde_json::Value> = entry
                    .params
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
                    .collect();
                serde_json::json!({ "name": entry.name, "about": entry.about, "params": params })
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
    }
    ExitCode::SUCCESS
}
