//! `prophet evaluate`: how other policies would have done on a decision
//! log's decisions, estimated offline (`prophet::choice::evaluate`).

use std::path::PathBuf;
use std::process::ExitCode;

use prophet::choice::evaluate::{ChoiceEvaluation, Interval, evaluate};
use prophet::choice::log::parse_log;
use prophet::sim::PolicySpec;

use crate::out::outln;
use crate::{EXIT_OK, EXIT_USAGE};

/// Arguments of `prophet evaluate`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    prophet sim kv --policy kv.read_replica=random --decisions kv.jsonl\n  \
    prophet evaluate --decisions kv.jsonl --policy fixed:3,c3 --choice kv.read_replica\n\n\
Each estimate is the evaluated policy's mean cost per decision (the outcome's\n\
`cost` sample, else its latency in seconds), with a 95% interval: IPS (inverse\n\
propensity scoring), SNIPS (self-normalised) and DR (doubly robust). The log\n\
must give every candidate the evaluated policy may pick a positive probability\n\
(log with random, epsilon-greedy or thompson); a log that does not is refused.\n\
The estimates hold the environment fixed: they agree with simulating the\n\
policy where decisions barely change queues (low utilisation).\n\n\
Exit status: 0 when every estimate was made, 2 on bad usage or a log that\n\
cannot answer.")]
pub struct EvaluateArgs {
    /// A decision log (JSON lines), as `prophet sim --decisions` writes it.
    #[arg(long, value_name = "FILE")]
    decisions: PathBuf,
    /// The policies to evaluate, comma-separated (see `prophet sim --help`).
    #[arg(long, value_name = "POLICY[,POLICY…]")]
    policy: String,
    /// Only this choice (default: every choice in the log).
    #[arg(long, value_name = "NAME")]
    choice: Option<String>,
    /// Print the result as JSON: the last line of output is one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &EvaluateArgs) -> ExitCode {
    match evaluate_all(args) {
        Ok(rows) => {
            print(args, &rows);
            ExitCode::from(EXIT_OK)
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn evaluate_all(args: &EvaluateArgs) -> Result<Vec<ChoiceEvaluation>, String> {
    let policies = args
        .policy
        .split(',')
        .map(|p| PolicySpec::parse(p).map_err(|e| format!("--policy: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let file = args.decisions.display();
    let text = std::fs::read_to_string(&args.decisions)
        .map_err(|e| format!("cannot read the decision log {file}: {e}"))?;
    let lines = parse_log(&text).map_err(|e| format!("{file}: {e}"))?;
    if lines.is_empty() {
        return Err(format!("{file}: the decision log is empty"));
    }
    let mut rows = Vec::new();
    for policy in &policies {
        rows.extend(
            evaluate(&lines, policy, args.choice.as_deref()).map_err(|e| format!("{file}: {e}"))?,
        );
    }
    Ok(rows)
}

fn print(args: &EvaluateArgs, rows: &[ChoiceEvaluation]) {
    if args.json {
        let value = serde_json::json!({
            "decisions": args.decisions.display().to_string(),
            "estimates": rows,
        });
        outln!("{value}");
        return;
    }
    let interval = |i: &Interval| format!("{:.6} [{:.6}, {:.6}]", i.mean, i.lo, i.hi);
    outln!(
        "{:<24} {:<18} {:>9} {:>32} {:>32} {:>10} {:>32} {:>9}",
        "choice",
        "policy",
        "decisions",
        "logged mean cost",
        "IPS",
        "SNIPS",
        "DR",
        "eff. n"
    );
    for r in rows {
        outln!(
            "{:<24} {:<18} {:>9} {:>32} {:>32} {:>10.6} {:>32} {:>9.0}",
            r.choice,
            r.policy,
            r.decisions,
            interval(&r.logged),
            interval(&r.ips),
            r.snips,
            interval(&r.dr),
            r.effective_decisions
        );
    }
    let open: usize = rows.iter().map(|r| r.without_outcome).sum();
    if open > 0 {
        outln!("({open} decisions had no logged outcome and were left out)");
    }
    outln!(
        "(mean cost per decision: the outcome's cost, else its latency in seconds; [..] is a 95% interval)"
    );
}
