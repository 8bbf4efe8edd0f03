//! `prophet sim` end to end: JSON output, policy comparison, errors.

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

#[test]
fn sim_kv_compares_policies_and_prints_json() {
    let args = [
        "sim",
        "kv",
        "--horizon",
        "2s",
        "--seeds",
        "2",
        "--policy",
        "kv.read_replica=random,peak-ewma",
        "--json",
    ];
    let (code, out, err) = prophet(&args);
    assert_eq!(code, 0, "{err}");
    let v = last_json(&out);
    assert_eq!(v["system"], "kv");
    assert_eq!(v["seeds"], serde_json::json!([0, 1]));
    let results = v["results"].as_array().expect("results");
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["label"], "kv.read_replica=random");
    assert_eq!(results[1]["policies"]["kv.read_replica"], "peak-ewma");
    let p99 = &results[0]["objectives"]["read_latency_p99"];
    assert_eq!(p99["n"], 2);
    assert!(p99["mean"].as_f64().expect("a number") > 0.0);
    // A fraction under a threshold is an objective like the others.
    let within = &results[0]["objectives"]["reads_within_1s"];
    assert_eq!(within["n"], 2);
    assert!(within["mean"].as_f64().expect("a number") > 0.99);
    // Same seed, same run: the two invocations agree on the trace hashes.
    let (_, again, _) = prophet(&args);
    let hashes = |v: &serde_json::Value| -> Vec<String> {
        v["results"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|r| r["runs"].as_array().into_iter().flatten())
            .map(|run| run["trace_hash"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(hashes(&last_json(&again)), hashes(&v));
    assert_eq!(hashes(&v).len(), 4);
}

#[test]
fn unknown_policy_and_system_are_usage_errors() {
    let (code, _, err) = prophet(&["sim", "kv", "--policy", "kv.read_replica=fastest"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("unknown policy `fastest`") && err.contains("peak-ewma"),
        "{err}"
    );
    // A misspelled choice would otherwise run with the default policy.
    let (code, _, err) = prophet(&["sim", "kv", "--policy", "kv.read_replika=random,p2c"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no choice named `kv.read_replika`")
            && err.contains("kv.read_replica, kv.hedge, kv.hedge_replica"),
        "{err}"
    );
    let (code, _, err) = prophet(&["sim", "no-such-system"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown system `no-such-system`"), "{err}");
    let (code, _, err) = prophet(&["sim", "two-phase-commit"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("cannot be used with `prophet sim`: it is a plain Model"),
        "{err}"
    );
}

#[test]
fn a_bad_scenario_file_names_line_and_field() {
    let dir = std::env::temp_dir().join(format!("prophet-sim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("bad.toml");
    std::fs::write(
        &file,
        "system = \"kv\"\n\n[load]\nkind = \"open\"\nrate_per_sec = \"fast\"\n",
    )
    .expect("write");
    let (code, _, err) = prophet(&["sim", file.to_str().expect("utf-8 path")]);
    assert_eq!(code, 2);
    assert!(
        err.contains("line 5") && err.contains("rate_per_sec"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn every_node_system_simulates_with_its_default_workload() {
    for system in ["paxos", "randtree", "chord"] {
        let (code, out, err) =
            prophet(&["sim", system, "--horizon", "5s", "--seeds", "2", "--json"]);
        assert_eq!(code, 0, "{system}: {err}");
        let v = last_json(&out);
        let objectives = v["results"][0]["objectives"]
            .as_object()
            .expect("objectives");
        assert!(!objectives.is_empty(), "{system}: no objective measured");
    }
}

/// Every file in scenarios/ parses and runs to 16 s of its horizon (past
/// the start of each shipped fault, partition and spike), and a seed
/// reproduces a run exactly.
#[test]
fn shipped_scenarios_parse_and_run_briefly() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scenarios");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .expect("scenarios/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".toml"))
        .map(|name| format!("scenarios/{name}"))
        .collect();
    files.sort();
    assert!(files.len() >= 8, "{files:?}");
    for file in &files {
        let args = ["sim", file, "--horizon", "16s", "--seeds", "1", "--json"];
        let (code, out, err) = prophet(&args);
        assert_eq!(code, 0, "{file}: {err}");
        let v = last_json(&out);
        assert!(
            v["results"].as_array().expect("results").len() >= 5,
            "{file}"
        );
        if file.ends_with("load-spike.toml") {
            // Everything but the wall-clock figures.
            let runs = |v: &serde_json::Value| -> Vec<serde_json::Value> {
                v["results"]
                    .as_array()
                    .expect("results")
                    .iter()
                    .map(|r| r["runs"].clone())
                    .collect()
            };
            let (_, again, _) = prophet(&args);
            assert_eq!(runs(&last_json(&again)), runs(&v), "{file}");
        }
    }
}

#[test]
fn check_kv_finds_the_volatile_store_and_client_counter_bugs() {
    let (code, out, _) = prophet(&["check", "kv", "--json"]);
    assert_eq!(code, 0);
    assert_eq!(last_json(&out)["unique_states"], 795_388);
    let (code, out, _) = prophet(&["check", "kv", "--param", "variant=volatile-store", "--json"]);
    assert_eq!(code, 1);
    assert_eq!(
        last_json(&out)["violations"][0]["property"],
        "acknowledged writes survive"
    );
    let (code, out, _) = prophet(&[
        "check",
        "kv",
        "--param",
        "variant=volatile-client-counter",
        "--json",
    ]);
    assert_eq!(code, 1);
    let finding = &last_json(&out)["violations"][0];
    assert_eq!(
        finding["property"],
        "no value is ahead of its writer's counter"
    );
    assert_eq!(finding["trace_len"], 2);
}

#[test]
fn sim_reports_an_invariant_violation_with_its_seed() {
    let dir = std::env::temp_dir().join(format!("prophet-sim-cli-v-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("crash.toml");
    std::fs::write(
        &file,
        "system = \"kv\"\nhorizon = \"3s\"\n[params]\nreplicas = 1\nclients = 2\nvariant = \"volatile-store\"\n\
         [load]\nkind = \"open\"\nrate_per_sec = 100\n\
         [[faults]]\nkind = \"crash\"\nnodes = [0]\nat = \"1s\"\nrestart_after = \"100ms\"\n",
    )
    .expect("write");
    let (code, out, err) = prophet(&["sim", file.to_str().expect("utf-8 path")]);
    assert_eq!(code, 1, "{err}");
    assert!(
        out.contains("VIOLATION of invariant \"acknowledged writes survive\"")
            && out.contains("seed 0"),
        "{out}"
    );
    // Driven by a workload: its requests are no checker steps, and it says so.
    assert!(
        out.contains("no checker trace: the run is driven by a workload"),
        "{out}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// A violation found by `prophet sim` comes with the checker's trace, and
/// `prophet check --replay` (the command it prints) ends in a state that
/// breaks the same invariant.
#[test]
fn a_simulated_violation_prints_a_trace_the_checker_replays() {
    let args = [
        "sim",
        "paxos",
        "--param",
        "variant=ignore-accepted",
        "--seeds",
        "20",
    ];
    let (code, text, err) = prophet(&args);
    assert_eq!(code, 1, "{err}");
    assert!(
        text.contains("counterexample (") && text.contains("replay with: prophet check paxos"),
        "{text}"
    );
    let (_, out, _) = prophet(&[&args[..], &["--json"]].concat());
    let v = last_json(&out);
    let run = v["results"][0]["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .find(|r| !r["violation"].is_null())
        .expect("a violating run");
    let cx = &run["counterexample"];
    let property = cx["property"].as_str().expect("a property");
    assert_eq!(run["violation"]["property"], property);
    let replay = cx["replay"].as_str().expect("the replay command");
    let words: Vec<&str> = replay.split(' ').skip(1).collect();
    assert_eq!(words[..2], ["check", "paxos"]);
    let (code, out, err) = prophet(&[&words[..], &["--json"]].concat());
    assert_eq!(code, 0, "{err}");
    let replayed = last_json(&out);
    assert_eq!(replayed["replay"]["steps"], cx["trace"]["steps"]);
    assert_eq!(replayed["violated"], serde_json::json!([property]));
}

#[test]
fn the_kv_timeout_is_a_parameter_of_the_command_line_and_the_scenario() {
    let (code, _, err) = prophet(&["sim", "kv", "-p", "timeout_ms=0"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("timeout_ms") && err.contains("1 to 3600000"),
        "{err}"
    );
    let dir = std::env::temp_dir().join(format!("prophet-sim-timeout-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("timeout.toml");
    std::fs::write(
        &file,
        "system = \"kv\"\nhorizon = \"1s\"\n[params]\ntimeout_ms = 1000\n",
    )
    .expect("write");
    let (code, out, err) = prophet(&["sim", file.to_str().expect("utf-8 path"), "--json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(last_json(&out)["params"]["timeout_ms"], "1000");
    std::fs::remove_dir_all(&dir).ok();
}

/// Plots that show tails: a CDF, a tail plot (1 − F on a log axis) and the
/// p99 over time on a log axis, each series the median over seeds with a
/// band, and twelve series in twelve colours.
#[test]
fn plot_writes_cdf_tail_and_over_time_with_bands_and_twelve_colours() {
    let dir = std::env::temp_dir().join(format!("prophet-sim-plot-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dir_text = dir.to_string_lossy().into_owned();
    let policies = "kv.read_replica=random,round-robin,p2c,peak-ewma,c3,ucb1,epsilon-greedy,\
                    thompson,first,fixed:1,fixed:2,fixed:3";
    let (code, out, err) = prophet(&[
        "sim",
        "kv",
        "--horizon",
        "2s",
        "--seeds",
        "2",
        "--policy",
        policies,
        "--plot",
        &dir_text,
    ]);
    assert_eq!(code, 0, "{err}");
    let read = |name: &str| {
        std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}\n{out}"))
    };
    let (cdf, tail, over_time) = (
        read("cdf-kv-read-latency.svg"),
        read("tail-kv-read-latency.svg"),
        read("over-time-kv-read-latency.svg"),
    );
    // The declared fraction under a threshold gets its own plot.
    let within = read("within-reads-within-1s.svg");
    assert!(
        within.contains("fraction of kv.read_latency ≤ 1"),
        "{}",
        &within[..300]
    );
    assert!(within.contains("kv.read_replica=fixed:3"));
    assert!(
        tail.contains("fraction &gt; x (log scale)") || tail.contains("fraction > x (log scale)")
    );
    assert!(over_time.contains("kv.read_latency (log scale)"));
    for svg in [&cdf, &tail, &over_time] {
        assert!(
            svg.contains("median of 2 seeds"),
            "{}",
            &svg[..svg.len().min(300)]
        );
        assert!(svg.contains("<polygon"), "a band between the seeds");
        assert!(
            svg.contains("kv.read_replica=fixed:3"),
            "the twelfth series is labelled"
        );
    }
    let colours: std::collections::BTreeSet<&str> = tail
        .match_indices("stroke=\"#")
        .map(|(at, _)| &tail[at + 9..at + 15])
        .filter(|c| *c != "000000" && *c != "FFFFFF")
        .collect();
    assert!(
        colours.len() >= 12,
        "{} distinct colours: {colours:?}",
        colours.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Input the simulator used to accept (exit 0, or a misleading message) is
/// refused with exit 2 and words that name the field and its valid range.
#[test]
fn bad_input_is_refused_naming_the_field_and_the_range() {
    let dir = std::env::temp_dir().join(format!("prophet-sim-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let scenario = |name: &str, tail: &str| {
        let file = dir.join(name);
        std::fs::write(&file, format!("system = \"kv\"\nhorizon = \"1s\"\n{tail}")).expect("write");
        file.to_string_lossy().into_owned()
    };
    std::fs::write(dir.join("m.txt"), "# measured\n1ms\n2,5ms\n").expect("write");
    let slow = |field: &str| {
        format!("[[slowdowns]]\nnodes = [0]\nfrom = \"0s\"\nuntil = \"1s\"\n{field}\n")
    };
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![scenario("service.toml", &slow("service_factor = -4"))],
            "`slowdowns.service_factor`: -4 is not a multiplier: give a number > 0",
        ),
        (
            vec![scenario("latency.toml", &slow("latency_factor = -1"))],
            "`slowdowns.latency_factor`: -1 is not a multiplier",
        ),
        (
            vec![scenario("duty.toml", &slow("period = \"2s\"\nduty = 0"))],
            "`slowdowns.duty`: 0 is outside (0, 1): give the fraction of each period that is slow",
        ),
        (
            vec![scenario(
                "pareto.toml",
                "[network.default]\nlatency = { dist = \"pareto\", scale_ms = 1, shape = -1 }\n",
            )],
            "pareto needs scale_ms > 0 and shape > 0, got 1 and -1",
        ),
        (
            vec![scenario(
                "group.toml",
                "[[partitions]]\nfrom = \"0s\"\nbetween = [\"eu\", \"us\"]\n",
            )],
            "`partitions.between`: no group named `eu`: declare it in [[network.groups]]",
        ),
        (
            vec![scenario(
                "empirical.toml",
                "[[network.service]]\nnodes = [0]\ntime = { dist = \"empirical\", file = \"m.txt\" }\n",
            )],
            "m.txt: line 3: unknown unit `,5ms` in `2,5ms`",
        ),
        (
            vec![scenario(
                "nofile.toml",
                "[[network.service]]\nnodes = [0]\ntime = { dist = \"empirical\", file = \"none.txt\" }\n",
            )],
            "cannot read the empirical latency file",
        ),
        (
            vec![scenario("seeds.toml", "seeds = { first = 1, count = 0 }\n")],
            "`seeds.count`: 0 runs no seed at all or too many: give 1 to 10000",
        ),
        (
            vec!["kv".into(), "--horizon".into(), "-5s".into()],
            "`-5s` is negative: a duration is 0 or more",
        ),
        (
            vec!["nosuch/scenario".into()],
            "unknown system `nosuch/scenario`; the systems are: two-phase-commit, paxos, randtree, kv, chord; nor is `nosuch/scenario` a scenario file",
        ),
        (
            vec![
                "kv".into(),
                "--horizon".into(),
                "1s".into(),
                "-p".into(),
                "replicas=11".into(),
                "--policy".into(),
                "kv.read_replica=fixed:20".into(),
            ],
            "policy fixed:20 names candidate 20 of choice `kv.read_replica`, which has 11 candidates (fixed:0 to fixed:10)",
        ),
    ];
    for (args, expected) in cases {
        let mut all = vec!["sim"];
        all.extend(args.iter().map(String::as_str));
        let (code, _, err) = prophet(&all);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}:\n{err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// A run stopped by its event limit says so in the text table, per run.
#[test]
fn a_cut_short_run_says_so_in_the_table() {
    let (code, out, err) = prophet(&[
        "sim",
        "kv",
        "--horizon",
        "10s",
        "--seeds",
        "2",
        "--max-events",
        "2000",
    ]);
    assert_eq!(code, 0, "{err}");
    for seed in 0..2 {
        assert!(
            out.contains(&format!("CUT SHORT: seed {seed} stopped at t=")),
            "{out}"
        );
    }
    assert!(
        out.contains("after 2000 events, at its event limit (--max-events)"),
        "{out}"
    );
}

#[test]
fn zoned_cache_reports_hits_and_cross_zone_bytes_per_run() {
    let args = [
        "sim",
        "scenarios/zoned-cache.toml",
        "--horizon",
        "2s",
        "--seeds",
        "1",
        "--json",
    ];
    let (code, out, err) = prophet(&args);
    assert_eq!(code, 0, "{err}");
    let v = last_json(&out);
    for result in v["results"].as_array().expect("results") {
        let run = &result["runs"][0];
        let lookups = run["cache_lookups"].as_u64().expect("lookups");
        let hits = run["cache_hits"].as_u64().expect("hits");
        assert!(lookups > 1000 && hits > 0 && hits < lookups, "{run}");
        let pairs = run["zone_bytes"].as_object().expect("pairs");
        assert_eq!(pairs.len(), 9, "{run}");
        let crossed: u64 = pairs
            .iter()
            .filter(|(k, _)| k.split_once("->").is_some_and(|(a, b)| a != b))
            .map(|(_, b)| b.as_u64().expect("bytes"))
            .sum();
        assert_eq!(run["cross_zone_bytes"].as_u64(), Some(crossed));
        let names: Vec<&str> = run["objectives"]
            .as_array()
            .expect("objectives")
            .iter()
            .filter_map(|o| o["name"].as_str())
            .collect();
        assert!(names.contains(&"cross_zone_bytes_per_sec"), "{names:?}");
    }
    // Same seed, same JSON (wall time aside).
    let (_, again, _) = prophet(&args);
    let strip = |mut v: serde_json::Value| {
        for r in v["results"].as_array_mut().expect("results") {
            r["wall_secs"] = serde_json::Value::Null;
        }
        v
    };
    assert_eq!(strip(last_json(&out)), strip(last_json(&again)));
}
