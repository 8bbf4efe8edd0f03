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
        err.contains("observes the runs of one policy per choice"),
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

/// The read-replica candidates of one client in a `--model-out` file: (lost
/// share, latency p50, latency shifts detected) each.
fn replica_candidates(models: &serde_json::Value, client: u64) -> Vec<(f64, f64, u64)> {
    let nodes = models["runs"][0]["nodes"].as_array().expect("nodes");
    let node = nodes
        .iter()
        .find(|n| n["node"] == client)
        .expect("the client was modelled");
    node["candidates"]
        .as_array()
        .expect("candidates")
        .iter()
        .filter(|c| c["choice"] == "kv.read_replica")
        .map(|c| {
            (
                c["lost"]["rate"].as_f64().expect("lost share"),
                c["latency"]["p50"]["value"].as_f64().expect("p50"),
                c["latency"]["changes"].as_u64().expect("changes"),
            )
        })
        .collect()
}

fn models_of(dir: &std::path::Path, name: &str, args: &[&str]) -> serde_json::Value {
    let file = dir.join(name);
    let file = file.to_str().unwrap();
    let mut all = args.to_vec();
    all.extend([
        "--seeds",
        "1",
        "--policy",
        "kv.read_replica=random",
        "--json",
    ]);
    all.extend(["--model-out", file]);
    let (code, stdout, stderr) = prophet(&all);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        last_json(&stdout)["model_out"]["models"],
        21,
        "every node modelled"
    );
    serde_json::from_str(&std::fs::read_to_string(file).expect("written")).expect("JSON")
}

#[test]
fn each_nodes_model_notices_a_replica_that_alternates_between_fast_and_slow() {
    let dir = scratch("model-alternating");
    // Replica 3: +250 ms for 2 s of every 4 s from 2 s on (19 shifts by 40 s,
    // ending slow).
    let models = models_of(
        &dir,
        "m.json",
        &["sim", "scenarios/alternating-replica.toml"],
    );
    let candidates = replica_candidates(&models, 11);
    assert_eq!(candidates.len(), 11, "one per replica");
    let slow: Vec<_> = candidates.iter().filter(|c| c.1 >= 0.25).collect();
    assert_eq!(
        slow.len(),
        1,
        "one replica is slow at the end: {candidates:?}"
    );
    let shifts = slow[0].2;
    assert!(
        (15..=19).contains(&shifts),
        "the alternation seen: {shifts} shifts"
    );
    for c in candidates.iter().filter(|c| c.1 < 0.25) {
        assert!(c.1 < 0.01, "a fast replica's median: {c:?}");
        assert!(c.2 * 3 < shifts, "a steady replica is mostly steady: {c:?}");
    }
}

#[test]
fn each_nodes_model_counts_losses_during_a_partition_and_forgets_them_once_it_heals() {
    let dir = scratch("model-partition");
    let scenario = ["sim", "scenarios/partial-partition.toml"];
    // Clients 14-20 cannot reach replicas 8-10 from 10 s to 25 s.
    let during = models_of(
        &dir,
        "during.json",
        &[&scenario[..], &["--horizon", "20s"]].concat(),
    );
    for client in 11..=20u64 {
        let lossy: Vec<f64> = replica_candidates(&during, client)
            .into_iter()
            .map(|c| c.0)
            .filter(|&rate| rate > 0.0)
            .collect();
        if client < 14 {
            assert!(
                lossy.is_empty(),
                "client {client} is not cut off: {lossy:?}"
            );
        } else {
            assert_eq!(
                lossy.len(),
                3,
                "client {client} lost replicas 8-10: {lossy:?}"
            );
            assert!(lossy.iter().all(|&r| r > 0.3), "client {client}: {lossy:?}");
        }
    }
    let after = models_of(&dir, "after.json", &scenario);
    for client in 14..=20u64 {
        for c in replica_candidates(&after, client) {
            assert!(
                c.0 <= 0.05,
                "client {client} still counts losses after the heal: {c:?}"
            );
        }
    }
}
