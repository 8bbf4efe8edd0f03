//! The example crate's own binary, as its user runs it: the whole Prophet
//! command line for the built-ins and this crate's protocol. Bounded: the
//! live run stops at `--until` or after `--duration`.

use std::process::{Command, Output};

fn ring(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ring-election"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("ring-election runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn last_json(output: &Output) -> serde_json::Value {
    let stdout = text(&output.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON line in {stdout}\n{}", text(&output.stderr)));
    serde_json::from_str(line).expect("valid JSON")
}

#[test]
fn list_shows_the_builtins_and_the_example() {
    let output = ring(&["list", "--json"]);
    assert_eq!(output.status.code(), Some(0));
    let value = last_json(&output);
    let names: Vec<&str> = value["systems"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "two-phase-commit",
            "paxos",
            "randtree",
            "kv",
            "chord",
            "ring-election"
        ]
    );
    let ring_entry = &value["systems"][5];
    assert_eq!(ring_entry["choices"][0]["name"], "ring.start_delay");
    assert_eq!(
        ring_entry["modes"],
        serde_json::json!(["check", "sim", "run"])
    );
}

#[test]
fn check_passes_with_exact_counts_and_finds_the_seeded_bug() {
    let output = ring(&["check", "ring-election", "--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let report = last_json(&output);
    assert_eq!(report["params"]["nodes"], "4");
    assert_eq!(report["unique_states"], 613);
    assert_eq!(report["complete"], true);

    let output = ring(&[
        "check",
        "ring-election",
        "-p",
        "variant=forward-all",
        "--json",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let report = last_json(&output);
    let violation = &report["violations"][0];
    assert_eq!(violation["property"], "the leader has the largest uid");
    // Shortest: node 2's uid goes once round the ring of 4 (1 + 4 steps).
    assert_eq!(violation["trace_len"], 5);
    assert_eq!(violation["trace"]["init"], 0);
    assert_eq!(
        violation["trace"]["path"],
        serde_json::json!([2, 0, 0, 0, 0])
    );
    let path = "0:2.0.0.0.0";
    let replay = ring(&[
        "check",
        "ring-election",
        "-p",
        "variant=forward-all",
        "--replay",
        path,
    ]);
    assert_eq!(replay.status.code(), Some(0));
    assert!(
        text(&replay.stdout).contains("n2 state State { started: true, leader: true"),
        "{}",
        text(&replay.stdout)
    );
}

#[test]
fn a_scenario_file_names_the_example_and_compares_start_delays() {
    let output = ring(&["sim", "scenarios/wide-ring.toml", "--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let value = last_json(&output);
    assert_eq!(value["system"], "ring-election");
    let mean = |label: &str| {
        value["results"]
            .as_array()
            .expect("results")
            .iter()
            .find(|r| r["label"] == label)
            .and_then(|r| r["objectives"]["time to elect"]["mean"].as_f64())
            .unwrap_or_else(|| panic!("no {label} in {value}"))
    };
    // Same seeds, same link delays: waiting 50 ms instead of 1 ms before
    // the winning candidacy adds exactly 49 ms to every election.
    let first = mean("ring.start_delay=first");
    let late = mean("ring.start_delay=fixed:2");
    assert!(((late - first) - 0.049).abs() < 1e-6, "{first} vs {late}");
    assert!(
        (0.3..2.0).contains(&first),
        "two trips round 12 links of ~20 ms: {first}"
    );
}

#[test]
fn a_misspelt_choice_is_refused_in_sim_and_run() {
    for args in [
        &["sim", "ring-election", "--policy", "ring.start_dely=random"][..],
        &["run", "ring-election", "--policy", "ring.start_dely=random"][..],
    ] {
        let output = ring(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = text(&output.stderr);
        assert!(
            stderr.contains("no choice named `ring.start_dely`; its choices are: ring.start_delay"),
            "{stderr}"
        );
    }
}

#[test]
fn runs_live_on_loopback_until_every_node_knows_the_leader() {
    let dir = std::env::temp_dir().join(format!("ring-election-run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let output = Command::new(env!("CARGO_BIN_EXE_ring-election"))
        .args(["run", "ring-election", "--nodes", "3", "-p", "nodes=5"])
        .args(["--until", "leader known everywhere", "--duration", "60s"])
        .args(["--interval", "200ms", "--json", "--dir"])
        .arg(&dir)
        .output()
        .expect("ring-election runs");
    assert!(
        output.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    let report = last_json(&output);
    for p in report["properties"].as_array().expect("properties") {
        assert_eq!(p["holds"], true, "{p}");
    }
    assert_eq!(report["samples"]["ring.election"], 5, "{report}");
    let _ = std::fs::remove_dir_all(&dir);
}
