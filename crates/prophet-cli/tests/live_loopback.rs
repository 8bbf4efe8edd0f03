//! `prophet run` end to end: real node processes of the `prophet` binary on
//! loopback, driven by the system's workload. Bounded: every run has
//! `--until` and a `--duration` cap, and the command stops its children.

use std::process::Command;

fn prophet() -> Command {
    Command::new(env!("CARGO_BIN_EXE_prophet"))
}

/// Runs `command`, asserts it succeeded, and returns its stdout and stderr.
fn succeeds(command: &mut Command) -> (String, String) {
    let output = command.output().expect("prophet runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    (stdout, stderr)
}

fn last_report(stdout: &str) -> serde_json::Value {
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .expect("a JSON report");
    serde_json::from_str(line).expect("valid JSON")
}

#[test]
fn kv_on_four_processes_serves_every_read_and_write() {
    let dir = std::env::temp_dir().join(format!("prophet-cli-kv-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (stdout, _) = succeeds(
        prophet()
            .args([
                "run",
                "kv",
                "--nodes",
                "4",
                "-p",
                "replicas=3",
                "-p",
                "clients=1",
            ])
            .args([
                "--rate",
                "50",
                "--requests",
                "60",
                "--until",
                "kv.request_latency>=60",
            ])
            .args([
                "--policy",
                "round-robin",
                "--duration",
                "60s",
                "--interval",
                "200ms",
                "--json",
                "--dir",
            ])
            .arg(&dir),
    );
    let report = last_report(&stdout);
    let samples = &report["samples"];
    assert_eq!(
        samples["kv.request_latency"], 60,
        "every request answered: {report}"
    );
    let reads = samples["kv.read_latency"].as_u64().unwrap_or(0);
    let writes = samples["kv.write_latency"].as_u64().unwrap_or(0);
    assert_eq!(reads + writes, 60, "{report}");
    assert!(reads > 0 && writes > 0, "both kinds served: {report}");
    for p in report["properties"].as_array().expect("properties") {
        assert_eq!(p["holds"], true, "{p}");
    }
    // Round-robin read replicas: reads went to every one of the 3 replicas.
    let choices = report["choices"].as_object().expect("choices");
    let replicas_read = choices
        .keys()
        .filter(|k| k.starts_with("kv.read_replica="))
        .count();
    assert_eq!(replicas_read, 3, "{choices:?}");
    // Each process wrote a log with its start and its clean stop.
    for p in 0..4 {
        let log = std::fs::read_to_string(dir.join(format!("process-{p}.log"))).expect("log");
        assert!(log.contains("process started"), "{log}");
        assert!(
            log.contains("shutting down"),
            "process {p} stopped cleanly:\n{log}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_cluster_files_are_refused_with_the_field_named() {
    let dir = std::env::temp_dir().join(format!("prophet-cli-badcfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("cluster.toml");
    std::fs::write(
        &path,
        "cluster = \"x\"\nsystem = \"kv\"\nsecret = \"00112233445566778899aabbccddeeff\"\n\
         [[nodes]]\nid = 0\naddr = \"127.0.0.1:1\"\n[[nodes]]\nid = 0\naddr = \"127.0.0.1:2\"\n",
    )
    .expect("write");
    let output = prophet()
        .args(["node", "--config"])
        .arg(&path)
        .args(["--id", "0"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("nodes[1].id"), "{stderr}");
    let output = prophet()
        .args(["run", "kv", "--nodes", "9"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--nodes must be from 1 to 4"));
    let _ = std::fs::remove_dir_all(&dir);
}

fn paxos_decides(processes: &str, clients: &str) {
    let dir = std::env::temp_dir().join(format!(
        "prophet-cli-paxos-{processes}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let (stdout, stderr) = succeeds(
        prophet()
            .args([
                "run",
                "paxos",
                "--nodes",
                processes,
                "-p",
                clients,
                "-p",
                "acceptors=3",
            ])
            .args([
                "--until",
                "value chosen",
                "--duration",
                "60s",
                "--interval",
                "100ms",
                "--json",
                "--dir",
            ])
            .arg(&dir),
    );
    assert!(stderr.contains("`value chosen` reached"), "{stderr}");
    let report = last_report(&stdout);
    let properties = report["properties"].as_array().expect("properties");
    let holds = |name: &str| {
        properties
            .iter()
            .any(|p| p["name"] == name && p["holds"] == true)
    };
    assert!(
        holds("agreement") && holds("validity") && holds("value chosen"),
        "{report}"
    );
    // Once a value is chosen the cluster goes quiet: a double collect finds
    // every node unchanged, so the verdict is on states of one instant.
    assert_eq!(report["consistent_cut"], true, "{report}");
    // Every acceptor's durable file is on disk, checksummed, and decodes.
    let clients: u32 = clients
        .trim_start_matches("clients=")
        .parse()
        .expect("count");
    // A value is chosen once a majority accepted it, and `--until` stops the
    // cluster right then: the third acceptor may not have been reached yet
    // (its peers may still be in their first dial backoff), so a majority
    // of promises is what the protocol guarantees here.
    let config = prophet_runtime::ClusterConfig::load(&dir.join("cluster.toml")).expect("config");
    let mut promised = Vec::new();
    for acceptor in 2 * clients..2 * clients + 3 {
        // Opened as the acceptor itself: the file must name it as its owner.
        let identity = prophet_runtime::durable::Identity::new(&config.cluster, acceptor, "paxos");
        let mut store =
            prophet_runtime::durable::DurableStore::open(&config.data_dir, identity).expect("open");
        let durable: Option<prophet_systems::paxos::Durable> = store.load().expect("valid file");
        let state = durable.flatten().expect("an acceptor's durable state");
        if state.promised.is_some() {
            promised.push(acceptor);
        }
    }
    assert!(
        promised.len() >= 2,
        "a majority of the 3 acceptors promised: only {promised:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn paxos_decides_one_value_on_five_processes() {
    // 1 client, 1 proposer, 3 acceptors: one node per process.
    paxos_decides("5", "clients=1");
}

#[test]
fn paxos_with_two_competing_clients_decides_one_value_on_three_processes() {
    // 2 clients, 2 proposers, 3 acceptors spread over 3 processes.
    paxos_decides("3", "clients=2");
}

#[test]
fn an_unknown_until_condition_is_refused_before_any_process_starts() {
    let output = prophet()
        .args(["run", "paxos", "--until", "decided"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("agreement, validity, value chosen"),
        "{stderr}"
    );
    assert!(!String::from_utf8_lossy(&output.stdout).contains("started"));
}

#[test]
fn a_node_refuses_to_start_on_a_corrupt_durable_file() {
    let dir = std::env::temp_dir().join(format!("prophet-cli-corrupt-{}", std::process::id()));
    let data = dir.join("data");
    std::fs::create_dir_all(&data).expect("dir");
    let path = dir.join("cluster.toml");
    std::fs::write(
        &path,
        "cluster = \"x\"\nsystem = \"paxos\"\nsecret = \"00112233445566778899aabbccddeeff\"\n\
         data_dir = \"data\"\n\
         [[nodes]]\nid = 0\naddr = \"127.0.0.1:1\"\n[[nodes]]\nid = 1\naddr = \"127.0.0.1:2\"\n\
         [[nodes]]\nid = 2\naddr = \"127.0.0.1:3\"\n[[nodes]]\nid = 3\naddr = \"127.0.0.1:4\"\n\
         [[nodes]]\nid = 4\naddr = \"127.0.0.1:5\"\n\
         [params]\nclients = 1\nacceptors = 3\n",
    )
    .expect("write");
    // An acceptor's promise file, torn: never to be used as if empty.
    std::fs::write(data.join("node-2.durable"), b"PRDS\x01garbage").expect("write");
    let mut child = prophet()
        .args(["node", "--config"])
        .arg(&path)
        .args(["--id", "2"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runs");
    // Bounded wait: the node must stop by itself.
    let mut status = None;
    for _ in 0..100 {
        if let Some(s) = child.try_wait().expect("wait") {
            status = Some(s);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let Some(status) = status else {
        let _ = child.kill();
        panic!("the node kept running on a corrupt durable file");
    };
    let output = child.wait_with_output().expect("output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!status.success(), "{text}");
    assert!(text.contains("node-2.durable"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_live_client_logs_its_decisions_for_offline_evaluation() {
    let dir = std::env::temp_dir().join(format!("prophet-cli-kv-log-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (stdout, _) = succeeds(
        prophet()
            .args([
                "run",
                "kv",
                "--nodes",
                "2",
                "-p",
                "replicas=3",
                "-p",
                "clients=1",
            ])
            .args([
                "--rate",
                "50",
                "--requests",
                "60",
                "--until",
                "kv.request_latency>=60",
            ])
            .args(["--policy", "kv.read_replica=random", "--log-decisions"])
            .arg("--model-out")
            .arg(dir.join("model.json"))
            .args([
                "--duration",
                "60s",
                "--interval",
                "200ms",
                "--json",
                "--dir",
            ])
            .arg(&dir),
    );
    let report = last_report(&stdout);
    let reads = report["samples"]["kv.read_latency"].as_u64().unwrap_or(0);
    assert!(reads > 0, "{report}");
    // Node 3 is the client: its log holds a decision per read, each with
    // the random policy's propensity, and every read's outcome.
    let data = dir.join("data");
    let file = std::fs::read_dir(&data)
        .expect("data dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("decisions-3-"))
        })
        .expect("the client's decision log");
    let text = std::fs::read_to_string(&file).expect("readable");
    let lines = prophet::choice::log::parse_log(&text).expect("a decision log");
    let mut decisions = 0;
    let mut outcomes = 0;
    for line in &lines {
        match line {
            prophet::choice::LogLine::Decision(d) if d.choice == "kv.read_replica" => {
                decisions += 1;
                assert_eq!(d.propensity, Some(1.0 / 3.0), "{d:?}");
                assert_eq!(d.seed, None);
            }
            prophet::choice::LogLine::Outcome(o) if o.choice == "kv.read_replica" => {
                outcomes += 1;
                assert!(o.cost > 0.0 && o.cost < 5.0, "{o:?}");
            }
            _ => {}
        }
    }
    assert_eq!((decisions, outcomes), (reads, reads), "{report}");
    // The client's performance model saw every outcome, per replica.
    let models: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("model.json")).expect("the models were written"),
    )
    .expect("JSON");
    let client = models["nodes"]
        .as_array()
        .and_then(|nodes| nodes.iter().find(|n| n["node"] == 3))
        .expect("the client's model");
    let seen: Vec<(u64, f64)> = client["candidates"]
        .as_array()
        .expect("candidates")
        .iter()
        .filter(|c| c["choice"] == "kv.read_replica")
        .map(|c| {
            (
                c["latency"]["count"].as_u64().unwrap_or(0),
                c["latency"]["p50"]["value"].as_f64().unwrap_or(-1.0),
            )
        })
        .collect();
    assert_eq!(seen.len(), 3, "one per replica: {client}");
    assert_eq!(seen.iter().map(|c| c.0).sum::<u64>(), outcomes, "{client}");
    assert!(seen.iter().all(|c| c.1 > 0.0 && c.1 < 5.0), "{client}");
    let (out, _) = succeeds(
        prophet()
            .args(["evaluate", "--decisions"])
            .arg(&file)
            .args([
                "--policy",
                "fixed:0",
                "--choice",
                "kv.read_replica",
                "--json",
            ]),
    );
    let estimate = &last_report(&out)["estimates"][0];
    assert_eq!(estimate["decisions"].as_u64(), Some(reads), "{estimate}");
    assert!(
        estimate["dr"]["mean"].as_f64().is_some_and(|m| m > 0.0),
        "{estimate}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
