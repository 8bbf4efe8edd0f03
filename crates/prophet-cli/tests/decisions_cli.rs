//! Decision logs end to end: `prophet sim --decisions` writes one,
//! `prophet evaluate` estimates other policies from it, and the estimates
//! agree with simulating those policies.

use std::path::PathBuf;
use std::process::Command;

fn prophet(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_prophet"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .output()
        .expect("the binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn last_json(stdout: &str) -> serde_json::Value {
    let line = stdout.lines().last().expect("some output");
    serde_json::from_str(line).expect("the last line is JSON")
}

/// A fresh directory of this test's own under the target directory.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// 11 replicas at three network distances from the 4 clients, with short
/// service times, at 20 requests/s: a policy that sends every read to one
/// replica keeps it under 1% busy, so decisions barely change the queues
/// they meet (the condition under which an offline estimate can agree with
/// simulating the policy).
const LOW_LOAD: &str = r#"
system = "kv"
horizon = "120s"
[params]
replicas = 11
clients = 4
write_percent = 10
[load]
kind = "open"
rate_per_sec = 20
[network.default]
latency = { dist = "log-normal", median_ms = 1.0, sigma = 0.5 }
[[network.groups]]
name = "near"
nodes = [0, 1, 2, 3]
[[network.groups]]
name = "mid"
nodes = [4, 5, 6, 7]
[[network.groups]]
name = "far"
nodes = [8, 9, 10]
[[network.groups]]
name = "clients"
nodes = [11, 12, 13, 14]
[[network.group_links]]
between = ["clients", "mid"]
latency = { dist = "log-normal", median_ms = 3.0, sigma = 0.5 }
[[network.group_links]]
between = ["clients", "far"]
latency = { dist = "log-normal", median_ms = 6.0, sigma = 0.5 }
[[network.service]]
nodes = "0..11"
time = { dist = "log-normal", median_ms = 0.2, sigma = 0.5 }
"#;

#[test]
fn offline_estimates_agree_with_simulating_the_policy() {
    let dir = scratch("offline-estimates");
    let scenario = dir.join("low-load.toml");
    std::fs::write(&scenario, LOW_LOAD).unwrap();
    let scenario = scenario.to_str().unwrap();
    let log = dir.join("random.jsonl");
    let log = log.to_str().unwrap();
    let (code, out, err) = prophet(&[
        "sim",
        scenario,
        "--seed",
        "1",
        "--policy",
        "kv.read_replica=random",
        "--decisions",
        log,
        "--json",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let written = &last_json(&out)["decisions"];
    let lines = written["lines"].as_u64().unwrap();
    let logged = &written["choices"]["kv.read_replica"];
    // About 54 reads/s for 60 s, each a decision and (nearly all) an outcome.
    assert!(
        (2000..2400).contains(&logged["decisions"].as_u64().unwrap()),
        "{logged}"
    );
    assert_eq!(written["truncated"], false);
    assert_eq!(
        lines,
        std::fs::read_to_string(log).unwrap().lines().count() as u64
    );

    for policy in ["fixed:0", "fixed:5", "fixed:9", "round-robin"] {
        let (code, out, err) = prophet(&[
            "evaluate",
            "--decisions",
            log,
            "--policy",
            policy,
            "--choice",
            "kv.read_replica",
            "--json",
        ]);
        assert_eq!(code, 0, "{out}{err}");
        let estimate = &last_json(&out)["estimates"][0];
        // The policy's own run (another seed), logged the same way.
        let own = dir.join(format!("{policy}.jsonl"));
        let (code, out, err) = prophet(&[
            "sim",
            scenario,
            "--seed",
            "2",
            "--policy",
            &format!("kv.read_replica={policy}"),
            "--decisions",
            own.to_str().unwrap(),
            "--json",
        ]);
        assert_eq!(code, 0, "{out}{err}");
        let actual = last_json(&out)["decisions"]["choices"]["kv.read_replica"]["mean_cost"]
            .as_f64()
            .unwrap();
        eprintln!("{policy}: simulated {actual}, estimated {estimate}");
        for method in ["ips", "dr"] {
            let (lo, hi) = (
                estimate[method]["lo"].as_f64().unwrap(),
                estimate[method]["hi"].as_f64().unwrap(),
            );
            assert!(
                lo <= actual && actual <= hi,
                "{policy}: simulated mean read cost {actual} outside the {method} interval [{lo}, {hi}]"
            );
        }
    }
    // The replicas differ: the fast and slow fixed policies' estimates are apart.
    let mean_of = |policy: &str| {
        let (_, out, _) = prophet(&[
            "evaluate",
            "--decisions",
            log,
            "--policy",
            policy,
            "--choice",
            "kv.read_replica",
            "--json",
        ]);
        last_json(&out)["estimates"][0]["dr"]["mean"]
            .as_f64()
            .unwrap()
    };
    assert!(mean_of("fixed:9") > mean_of("fixed:0") + 0.003);
}

#[test]
fn a_log_that_cannot_support_a_policy_is_refused_with_the_reason() {
    let dir = scratch("unsupported");
    let log = dir.join("c3.jsonl");
    let log = log.to_str().unwrap();
    let (code, out, err) = prophet(&[
        "sim",
        "kv",
        "--horizon",
        "3s",
        "--policy",
        "kv.read_replica=c3",
        "--decisions",
        log,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("decision log: "), "{out}");
    assert!(out.contains("kv.read_replica"), "{out}");
    // c3 gives probability 0 to every replica but the best: random is out of reach.
    let (code, _, err) = prophet(&[
        "evaluate",
        "--decisions",
        log,
        "--policy",
        "random",
        "--choice",
        "kv.read_replica",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("the logging policy `c3` gave candidate"),
        "{err}"
    );
    assert!(err.contains("probability 0"), "{err}");
    // The hedge was decided by `first`: the same for any policy that may hedge.
    let (code, _, err) = prophet(&["evaluate", "--decisions", log, "--policy", "random"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("choice `kv.hedge`") && err.contains("`first`"),
        "{err}"
    );
    let (code, _, err) = prophet(&[
        "evaluate",
        "--decisions",
        log,
        "--policy",
        "random",
        "--choice",
        "kv.nothing",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no decision of choice `kv.nothing`; it has: kv.hedge, kv.read_replica"),
        "{err}"
    );
    let garbled = dir.join("garbled.jsonl");
    std::fs::write(&garbled, "{\"type\":\"outcome\"}\n").unwrap();
    let (code, _, err) = prophet(&[
        "evaluate",
        "--decisions",
        garbled.to_str().unwrap(),
        "--policy",
        "random",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("line 1: not a decision-log record"), "{err}");
    let (code, _, err) = prophet(&[
        "sim",
        "kv",
        "--horizon",
        "1s",
        "--policy",
        "kv.read_replica=random,c3",
        "--decisions",
        log,
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("logs the runs of one policy per choice"),
        "{err}"
    );
}

#[test]
fn logging_decisions_does_not_change_the_run() {
    let dir = scratch("unchanged");
    let log = dir.join("t.jsonl");
    for policy in ["thompson", "peak-ewma", "epsilon-greedy"] {
        let args = [
            "sim",
            "kv",
            "--horizon",
            "4s",
            "--seed",
            "3",
            "--json",
            "--policy",
        ];
        let choice = format!("kv.read_replica={policy}");
        let (_, plain, _) = prophet(&[&args[..], &[&choice]].concat());
        let (_, logged, _) =
            prophet(&[&args[..], &[&choice, "--decisions", log.to_str().unwrap()]].concat());
        let hash = |out: &str| last_json(out)["results"][0]["runs"][0]["trace_hash"].clone();
        assert_eq!(hash(&plain), hash(&logged), "{policy}");
        let text = std::fs::read_to_string(&log).unwrap();
        let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first["type"], "decision");
        assert_eq!(
            first["policy"],
            policy.replace("epsilon-greedy", "epsilon-greedy:0.1")
        );
    }
}
