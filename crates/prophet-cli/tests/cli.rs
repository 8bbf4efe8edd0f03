//! The `prophet` binary as a user runs it: exit statuses, messages, JSON.

mod common;

use std::process::Command;

use common::{last_json, prophet, stderr, stdout};

#[test]
fn unknown_system_is_bad_usage_and_names_the_valid_ones() {
    let output = prophet(&["check", "raft"]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(message.contains("unknown system `raft`"), "{message}");
    assert!(
        message.contains("two-phase-commit, paxos, randtree"),
        "{message}"
    );
}

#[test]
fn bad_parameters_are_bad_usage_with_the_valid_choices() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["check", "paxos", "--param", "nodes=3"],
            "its parameters are: acceptors, clients",
        ),
        (
            &["check", "paxos", "--param", "variant=sloppy"],
            "expected one of correct",
        ),
        (
            &["check", "two-phase-commit", "--param", "rms=many"],
            "expected an integer from 1 to",
        ),
        (
            &["check", "two-phase-commit", "--param", "rms"],
            "not of the form key=value",
        ),
        (
            &["check", "two-phase-commit", "--time-limit", "soon"],
            "not a duration",
        ),
        (
            &["check", "two-phase-commit", "--replay", "x"],
            "should look like",
        ),
    ];
    for (args, expected) in cases {
        let output = prophet(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&output).contains(expected),
            "{args:?}: {}",
            stderr(&output)
        );
    }
}

#[test]
fn list_shows_every_system_with_its_parameters() {
    let output = prophet(&["list", "--json"]);
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
        ["two-phase-commit", "paxos", "randtree", "kv", "chord"]
    );
    // One parameter list per system, with the default of each mode.
    let systems = value["systems"].as_array().expect("array");
    let kv = systems.iter().find(|s| s["name"] == "kv").expect("kv");
    let replicas = kv["params"]
        .as_array()
        .expect("params")
        .iter()
        .find(|p| p["name"] == "replicas")
        .expect("replicas");
    assert_eq!(replicas["defaults"]["check"], "2");
    assert_eq!(replicas["defaults"]["sim"], "11");
    assert_eq!(replicas["defaults"]["run"], "3");
    assert_eq!(replicas["max"], 256);
    let choices: Vec<&str> = kv["choices"]
        .as_array()
        .expect("choices")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(choices, ["kv.read_replica", "kv.hedge", "kv.hedge_replica"]);
    assert_eq!(kv["modes"], serde_json::json!(["check", "sim", "run"]));
    let two_phase = &systems[0];
    assert_eq!(two_phase["modes"], serde_json::json!(["check"]));
    let text = stdout(&prophet(&["list"]));
    assert!(text.contains("rms="), "{text}");
}

#[test]
fn two_phase_commit_passes_with_tlc_counts_in_json() {
    let output = prophet(&["check", "two-phase-commit", "--param", "rms=3", "--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report = last_json(&output);
    assert_eq!(report["system"], "two-phase-commit");
    assert_eq!(report["params"]["rms"], "3");
    assert_eq!(report["strategy"], "bfs");
    assert_eq!(report["unique_states"], 288);
    assert_eq!(report["complete"], true);
    assert_eq!(report["violations"].as_array().map(Vec::len), Some(0));
    for key in ["total_states", "max_depth", "elapsed_s", "examples"] {
        assert!(report.get(key).is_some(), "missing {key}");
    }
}

#[test]
fn dfs_and_symmetry_flags_reach_the_explorer() {
    let report = last_json(&prophet(&[
        "check",
        "two-phase-commit",
        "--param",
        "rms=5",
        "--dfs",
        "--json",
    ]));
    assert_eq!(report["strategy"], "dfs");
    assert_eq!(report["unique_states"], 8832);
    let reduced = last_json(&prophet(&[
        "check",
        "two-phase-commit",
        "--param",
        "rms=5",
        "--symmetry",
        "--json",
    ]));
    assert!(reduced["unique_states"].as_u64().expect("count") < 8832);
    assert_eq!(reduced["symmetry"], true);
    let unsupported = prophet(&[
        "check",
        "paxos",
        "--param",
        "clients=1",
        "--symmetry",
        "--json",
    ]);
    assert_eq!(last_json(&unsupported)["symmetry"], false);
    assert!(
        stderr(&unsupported).contains("--symmetry had no effect"),
        "{}",
        stderr(&unsupported)
    );
    let bounded = last_json(&prophet(&[
        "check",
        "two-phase-commit",
        "--max-depth",
        "3",
        "--json",
    ]));
    assert_eq!(bounded["complete"], false);
    assert!(!bounded["unexplored"].as_array().expect("list").is_empty());
}

#[test]
fn a_buggy_paxos_exits_1_with_a_replayable_counterexample() {
    let output = prophet(&[
        "check",
        "paxos",
        "--param",
        "variant=ignore-accepted",
        "--json",
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let report = last_json(&output);
    let violation = &report["violations"][0];
    assert_eq!(violation["property"], "agreement");
    assert_eq!(violation["kind"], "always");
    let trace = &violation["trace"];
    assert_eq!(
        violation["trace_len"],
        trace["steps"].as_array().map(Vec::len).unwrap_or(0)
    );
    let path = format!(
        "{}:{}",
        trace["init"],
        trace["path"]
            .as_array()
            .expect("path")
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(".")
    );
    let replay = prophet(&[
        "check",
        "paxos",
        "--param",
        "variant=ignore-accepted",
        "--replay",
        &path,
        "--json",
    ]);
    assert_eq!(replay.status.code(), Some(0));
    assert_eq!(last_json(&replay)["replay"]["steps"], trace["steps"]);

    let text = stdout(&prophet(&[
        "check",
        "paxos",
        "--param",
        "variant=ignore-accepted",
    ]));
    assert!(
        text.contains("VIOLATION of invariant \"agreement\""),
        "{text}"
    );
    // The library prints the path; the command line, how to replay it.
    assert!(text.contains("  path: 0:"), "{text}");
    assert!(
        text.contains(
            "replay with: prophet check paxos -p acceptors=3 -p clients=2 -p rounds=1 -p variant=ignore-accepted --replay 0:"
        ),
        "{text}"
    );
}

#[test]
fn random_walks_are_reproducible_from_the_command_line() {
    let run = |seed: &str| {
        let r = last_json(&prophet(&[
            "check", "randtree", "--walk", "--seed", seed, "--walks", "50", "--json",
        ]));
        (
            r["unique_states"].clone(),
            r["total_states"].clone(),
            r["strategy"].clone(),
        )
    };
    let (a, b) = (run("3"), run("3"));
    assert_eq!(a, b);
    assert_eq!(a.2, "walk");
}

/// `prophet list | grep -q kv` closes the pipe after the first match: the
/// report commands then stop quietly with status 0 (a `pipefail` script
/// must not fail) instead of panicking with "failed printing to stdout".
#[test]
fn a_reader_that_closes_the_pipe_early_is_not_an_error() {
    for args in [
        &["list"][..],
        &["check", "two-phase-commit", "-p", "rms=3"][..],
    ] {
        let (reader, writer) = std::io::pipe().expect("a pipe");
        // Every write after this meets a closed pipe (EPIPE), so the test
        // does not depend on who runs first.
        drop(reader);
        let output = Command::new(env!("CARGO_BIN_EXE_prophet"))
            .args(args)
            .stdout(writer)
            .output()
            .expect("prophet runs");
        assert_eq!(
            output.status.code(),
            Some(0),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(!stderr(&output).contains("panicked"), "{}", stderr(&output));
    }
}

#[test]
fn fairness_reaches_the_checker_and_bad_fairness_is_bad_usage() {
    let output = prophet(&[
        "check",
        "paxos",
        "--param",
        "acceptors=2",
        "--max-depth",
        "3",
        "--fair",
        "weak:deliver",
        "--fair",
        "strong:timer",
        "--json",
    ]);
    let value = last_json(&output);
    assert_eq!(
        value["assumed"],
        serde_json::json!(["weak:deliver", "strong:timer"]),
        "{}",
        stderr(&output)
    );
    let cases: &[(&[&str], &str)] = &[
        (
            &["check", "paxos", "--fair", "fair:deliver"],
            "is not `weak` or `strong`",
        ),
        (
            &["check", "paxos", "--fair", "weak:gossip"],
            "a node system's event classes are deliver, lose, timer, crash, restart",
        ),
        (
            &["check", "two-phase-commit", "--fair", "weak:deliver"],
            "a plain model declares its fairness in code",
        ),
    ];
    for (args, expected) in cases {
        let output = prophet(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let message = stderr(&output);
        assert!(message.contains(expected), "{args:?}: {message}");
    }
}

fn swarm_worker(dir: &std::path::Path, index: u32, extra: &[&str]) -> std::path::PathBuf {
    let index_text = index.to_string();
    let mut args = vec![
        "check",
        "paxos",
        "-p",
        "variant=ignore-accepted",
        "--swarm",
        "4",
        "--swarm-index",
        &index_text,
        "--walks",
        "30",
        "--json",
    ];
    args.extend_from_slice(extra);
    let output = prophet(&args);
    // A worker's finding is the merge's verdict: the worker itself exits 0.
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let path = dir.join(format!("worker-{index}.json"));
    std::fs::write(&path, &output.stdout).expect("write the report");
    path
}

#[test]
fn a_swarm_finds_a_seeded_bug_and_its_merged_trace_replays() {
    let dir = std::env::temp_dir().join(format!("prophet-swarm-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let files: Vec<String> = (0..4)
        .map(|i| swarm_worker(&dir, i, &[]).display().to_string())
        .collect();
    // A worker is reproducible from its index and the swarm's seed.
    let again = swarm_worker(&dir, 2, &[]);
    let first: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&files[2]).expect("read").trim())
            .expect("json");
    let second: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&again).expect("read").trim()).expect("json");
    assert_eq!(first["violations"], second["violations"]);
    assert_eq!(first["fingerprint_sample"], second["fingerprint_sample"]);
    // Worker 2's rung of the walk-length ladder: twice the base 200 steps.
    assert_eq!(first["swarm"]["walk_len"], 400);

    let mut args = vec!["swarm", "merge", "--json"];
    args.extend(files.iter().map(String::as_str));
    let output = prophet(&args);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let summary = last_json(&output);
    assert_eq!(summary["workers"], serde_json::json!([0, 1, 2, 3]));
    assert_eq!(summary["violations"][0]["property"], "agreement");
    let trace: prophet::explore::Trace =
        serde_json::from_value(summary["violations"][0]["trace"].clone()).expect("a trace");
    let replay = prophet(&[
        "check",
        "paxos",
        "-p",
        "variant=ignore-accepted",
        "--replay",
        &trace.encoded(),
        "--json",
    ]);
    assert_eq!(
        last_json(&replay)["violated"],
        serde_json::json!(["agreement"])
    );

    // Text output names the replay command; a missing worker is a warning.
    let output = prophet(&["swarm", "merge", &files[0], &files[1]]);
    assert!(
        stdout(&output).contains("replay with: "),
        "{}",
        stdout(&output)
    );
    assert!(
        stderr(&output).contains("no report from worker(s) 2, 3 of 4"),
        "{}",
        stderr(&output)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_swarm_input_is_bad_usage() {
    let dir = std::env::temp_dir().join(format!("prophet-swarm-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let not_json = dir.join("log.txt");
    std::fs::write(&not_json, "starting\nno report here\n").expect("write");
    let cut = dir.join("cut.json");
    std::fs::write(&cut, "{\"system\":\"paxos\",\"swarm\":{\"ind\n").expect("write");
    let cut = cut.display().to_string();
    let other = dir.join("other.json");
    let output = prophet(&[
        "check",
        "paxos",
        "-p",
        "variant=ignore-accepted",
        "--swarm",
        "2",
        "--swarm-index",
        "0",
        "--walks",
        "2",
        "--json",
    ]);
    std::fs::write(&other, &output.stdout).expect("write");
    let buggy = swarm_worker(&dir, 0, &[]);
    let not_json = not_json.display().to_string();
    let other = other.display().to_string();
    let buggy = buggy.display().to_string();
    let cases: &[(&[&str], &str)] = &[
        (&["check", "paxos", "--swarm", "4"], "JOB_COMPLETION_INDEX"),
        (
            &["check", "paxos", "--swarm", "4", "--swarm-index", "4"],
            "not below the swarm size 4",
        ),
        (
            &["check", "paxos", "--seed", "3"],
            "add --walk or --swarm N",
        ),
        (&["swarm", "merge", &not_json], "no JSON report"),
        (
            &["swarm", "merge", &other, &buggy],
            "belongs to a swarm of 4",
        ),
        (
            &["swarm", "merge", &buggy, &buggy],
            "two reports from worker 0",
        ),
        (
            &["swarm", "merge", &buggy, &cut],
            "not a swarm worker's report",
        ),
    ];
    for (args, expected) in cases {
        let output = prophet(args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stdout(&output)
        );
        assert!(
            stderr(&output).contains(expected),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    let bad_env = Command::new(env!("CARGO_BIN_EXE_prophet"))
        .args(["check", "paxos", "--swarm", "4"])
        .env("JOB_COMPLETION_INDEX", "three")
        .output()
        .expect("runs");
    assert_eq!(bad_env.status.code(), Some(2));
    assert!(
        stderr(&bad_env).contains("`three` is not a worker index"),
        "{}",
        stderr(&bad_env)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
