//! `prophet run` under crashes: real node processes on loopback, killed
//! with SIGKILL by the `--crash` schedule or from outside, and restarted by
//! the run's supervisor. Bounded: every run has a `--duration` of a few
//! seconds, and a watchdog kills a run that outlives its bound.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Longest any run here may take (they ask for 5s, or stop at 1-2s).
const RUN_BOUND: Duration = Duration::from_secs(60);

fn prophet() -> Command {
    Command::new(env!("CARGO_BIN_EXE_prophet"))
}

/// A fresh run directory for `name`.
fn run_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("prophet-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// What a finished run printed.
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl Run {
    fn reports(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| serde_json::from_str(l).expect("valid JSON"))
            .collect()
    }

    fn last_report(&self) -> serde_json::Value {
        self.reports().pop().expect("a JSON report")
    }

    fn context(&self) -> String {
        format!("stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr)
    }
}

/// Runs `prophet run` with `args`; if `kill` is `Some(p)`, kills process
/// `p` of the cluster with SIGKILL (its pid from the `--json` reports) once
/// a report shows every node's state after 1s of running. Returns what the
/// run printed and the pid killed.
fn run(args: &[&str], dir: &Path, kill: Option<usize>) -> (Run, Option<u64>) {
    let started = Instant::now();
    let mut child = prophet()
        .arg("run")
        .args(args)
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("prophet runs");
    let done = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let (done, pid) = (done.clone(), child.id());
        std::thread::spawn(move || {
            while started.elapsed() < RUN_BOUND {
                if done.load(Ordering::Relaxed) {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            sigkill(u64::from(pid));
            true
        })
    };
    let mut stderr_pipe = child.stderr.take().expect("stderr");
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr_pipe.read_to_string(&mut text);
        text
    });
    let mut stdout = String::new();
    let mut killed = None;
    for line in BufReader::new(child.stdout.take().expect("stdout")).lines() {
        let line = line.expect("stdout is text");
        if let Some(process) = kill
            && killed.is_none()
            && let Ok(report) = serde_json::from_str::<serde_json::Value>(&line)
            && report["elapsed_s"].as_f64().is_some_and(|t| t >= 1.0)
            && report["properties"].is_array()
        {
            let pid = report["supervision"]["pids"][process]
                .as_u64()
                .expect("a pid for every process that is up");
            sigkill(pid);
            killed = Some(pid);
        }
        stdout.push_str(&line);
        stdout.push('\n');
    }
    let status = child.wait().expect("wait");
    done.store(true, Ordering::Relaxed);
    let run = Run {
        status,
        stdout,
        stderr: stderr.join().expect("stderr read"),
        took: started.elapsed(),
    };
    assert!(
        !watchdog.join().expect("watchdog"),
        "the run outlived {RUN_BOUND:?} and was killed\n{}",
        run.context()
    );
    (run, killed)
}

fn sigkill(pid: u64) {
    let status = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -KILL {pid}");
}

/// Every `always` property held at the first complete report after `outage`'s restart.
fn held_after_restart(outage: &serde_json::Value) -> bool {
    let always = outage["after_restart"]["always"]
        .as_array()
        .expect("a complete report after the restart");
    !always.is_empty() && always.iter().all(|p| p["holds"] == true)
}

#[test]
fn a_kv_replica_killed_by_the_schedule_restarts_with_its_writes() {
    let dir = run_dir("crash-kv");
    let (run, _) = run(
        &[
            "kv",
            "-p",
            "write_percent=50",
            "--crash",
            "node=1,at=1500ms,down=1s",
            "--duration",
            "5s",
            "--interval",
            "250ms",
            "--json",
        ],
        &dir,
        None,
    );
    assert!(run.status.success(), "{}", run.context());
    let report = run.last_report();
    assert!(
        report["elapsed_s"].as_f64().expect("elapsed") >= 5.0,
        "ran its --duration: {report}"
    );
    let supervision = &report["supervision"];
    assert_eq!(supervision["crashes"], 1, "{supervision}");
    assert_eq!(supervision["restarts"], 1, "{supervision}");
    let outage = &supervision["outages"][0];
    assert_eq!(outage["cause"], "scheduled", "{outage}");
    assert_eq!(outage["process"], 1, "{outage}");
    let (down, up) = (
        outage["down_at_s"].as_f64().expect("down"),
        outage["up_at_s"].as_f64().expect("restarted"),
    );
    assert!((1.5..2.5).contains(&down), "killed at 1.5s: {outage}");
    assert!(up - down >= 1.0, "down for 1s: {outage}");
    assert!(held_after_restart(outage), "{outage}");
    for p in report["properties"].as_array().expect("properties") {
        assert_eq!(p["holds"], true, "{p}");
    }
    // The restarted process is the same node on the same data: it read its
    // durable file back.
    let log = std::fs::read_to_string(dir.join("process-1.log")).expect("log");
    assert!(log.contains("process 1 restarted at"), "{log}");
    assert!(log.contains("recovered durable state node=1"), "{log}");
    assert!(
        run.stderr.contains("crashes: 1, restarts: 1"),
        "{}",
        run.context()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The check that makes the previous test mean something: with replicas
/// that keep writes in memory only, the same crash loses acknowledged
/// writes, and the report after the restart says so (2 replicas: a write
/// is acknowledged only once both hold it, so replica 1 forgetting it is a
/// violation).
#[test]
fn a_volatile_kv_replica_restarted_by_the_schedule_loses_acknowledged_writes() {
    let dir = run_dir("crash-kv-volatile");
    let (run, _) = run(
        &[
            "kv",
            "-p",
            "variant=volatile-store",
            "-p",
            "replicas=2",
            "-p",
            "write_percent=50",
            "--crash",
            "node=1,at=1500ms,down=1s",
            "--duration",
            "4s",
            "--interval",
            "250ms",
        ],
        &dir,
        None,
    );
    assert_eq!(run.status.code(), Some(1), "{}", run.context());
    let last = run.stdout.lines().last().expect("a text report");
    assert!(
        last.contains("acknowledged writes survive=NO") && last.ends_with("crashes=1 restarts=1"),
        "{}",
        run.context()
    );
    assert!(
        run.stderr
            .contains("crashes: 1, restarts: 1; always-properties did NOT hold after a restart"),
        "{}",
        run.context()
    );
    assert!(
        run.stderr.contains("acknowledged writes survive=NO"),
        "the summary names the property: {}",
        run.context()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_process_killed_from_outside_is_restarted_under_restart() {
    let dir = run_dir("crash-external-restart");
    let (run, killed) = run(
        &[
            "kv",
            "--restart",
            "--duration",
            "5s",
            "--interval",
            "250ms",
            "--json",
        ],
        &dir,
        Some(2),
    );
    let killed = killed.expect("a process was killed");
    assert!(run.status.success(), "{}", run.context());
    let report = run.last_report();
    assert!(
        report["elapsed_s"].as_f64().expect("elapsed") >= 5.0,
        "{report}"
    );
    let supervision = &report["supervision"];
    assert_eq!(supervision["crashes"], 1, "{supervision}");
    assert_eq!(supervision["restarts"], 1, "{supervision}");
    let outage = &supervision["outages"][0];
    assert_eq!(outage["cause"], "unexpected", "{outage}");
    assert!(
        outage["detail"]
            .as_str()
            .is_some_and(|d| d.contains("SIGKILL")),
        "{outage}"
    );
    assert!(held_after_restart(outage), "{outage}");
    let pid = supervision["pids"][2].as_u64().expect("process 2 is up");
    assert_ne!(pid, killed, "a new process");
    assert!(
        run.stderr
            .contains(&format!("restarted process 2 (nodes 2), pid {pid}")),
        "{}",
        run.context()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_process_killed_from_outside_stops_the_run_without_restart() {
    let dir = run_dir("crash-external-stop");
    let (run, killed) = run(
        &["kv", "--duration", "30s", "--interval", "250ms", "--json"],
        &dir,
        Some(2),
    );
    assert!(killed.is_some(), "{}", run.context());
    assert_eq!(run.status.code(), Some(1), "{}", run.context());
    assert!(
        run.took < Duration::from_secs(20),
        "stopped at the death, not at --duration: {:?}",
        run.took
    );
    assert!(
        run.stderr
            .contains("error: process 2 exited with signal: 9")
            && run.stderr.contains("(--restart restarts it)"),
        "{}",
        run.context()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--restart` is bounded: a process that cannot start (here a replica
/// whose durable file is torn) is restarted until it has died 5 times in a
/// row within 1s of starting, then the run gives up on it.
#[test]
fn a_process_failing_at_start_is_given_up_on_after_five_short_lives() {
    let dir = run_dir("crash-give-up");
    std::fs::create_dir_all(dir.join("data")).expect("dir");
    std::fs::write(dir.join("data").join("node-1.durable"), b"PRPHDUR1torn").expect("write");
    let (run, _) = run(
        &[
            "kv",
            "--restart",
            "--duration",
            "30s",
            "--interval",
            "250ms",
        ],
        &dir,
        None,
    );
    assert_eq!(run.status.code(), Some(1), "{}", run.context());
    assert!(
        run.took < Duration::from_secs(20),
        "gave up, not ran to --duration: {:?}",
        run.took
    );
    assert!(
        run.stderr.contains(
            "error: process 1 died 5 times in a row within 1s of starting; giving up on it"
        ),
        "{}",
        run.context()
    );
    assert!(
        run.stderr.contains("crashes: 5, restarts: 4"),
        "{}",
        run.context()
    );
    let log = std::fs::read_to_string(dir.join("process-1.log")).expect("log");
    assert_eq!(
        log.matches("restarted at").count(),
        4,
        "every life is in the log: {log}"
    );
    assert!(log.contains("node-1.durable"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn crash_schedules_that_cannot_happen_are_refused_before_any_process_starts() {
    let refused = |args: &[&str], words: &str| {
        let output = prophet().arg("run").args(args).output().expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(words), "{words}: {stderr}");
        assert!(!stderr.contains("started"), "{stderr}");
    };
    refused(&["kv", "--crash", "node=1"], "field `at` is missing");
    refused(
        &["kv", "--crash", "node=1,at=0s"],
        "field `at`: must be more than zero",
    );
    refused(
        &["kv", "--crash", "node=1,at=-1s"],
        "field `at`: `-1s` is negative",
    );
    refused(
        &["kv", "--crash", "node=9,at=1s"],
        "field `node`: node 9 does not exist (the system has 4 nodes: 0..4)",
    );
    refused(
        &["kv", "--crash", "node=1,at=6s", "--duration", "5s"],
        "field `at`: 6s is not before --duration 5s",
    );
    // Nodes 1 and 3 share process 1 of 2.
    refused(
        &[
            "kv",
            "--nodes",
            "2",
            "--crash",
            "node=1,at=1s,down=2s",
            "--crash",
            "node=3,at=2s",
        ],
        "both take down process 1 (nodes 1, 3)",
    );
}

/// The reference store's client killed and restarted live: with its write
/// counter durable (the `correct` variant) every value it writes after the
/// restart is above what it wrote before, so no acknowledged write is
/// hidden by an older one; the `volatile-client-counter` variant (the bug
/// found live) starts again from 0, and the first report after the restart
/// says so.
fn crash_the_kv_client(variant: &str) -> Run {
    let dir = run_dir(&format!("crash-kv-client-{variant}"));
    // replicas=3, clients=1: the client is node 3, alone in process 3.
    let (run, _) = run(
        &[
            "kv",
            "-p",
            &format!("variant={variant}"),
            "-p",
            "write_percent=100",
            "--rate",
            "40",
            "--crash",
            "node=3,at=1500ms,down=500ms",
            "--duration",
            "4s",
            "--interval",
            "250ms",
            "--json",
        ],
        &dir,
        None,
    );
    let _ = std::fs::remove_dir_all(&dir);
    run
}

#[test]
fn a_restarted_kv_client_hides_no_acknowledged_write() {
    let run = crash_the_kv_client("correct");
    assert!(run.status.success(), "{}", run.context());
    let outage = &run.last_report()["supervision"]["outages"][0];
    assert_eq!(outage["process"], 3, "{outage}");
    assert!(held_after_restart(outage), "{outage}");
    // Writes were acknowledged after the restart too.
    let samples = &run.last_report()["samples"]["kv.write_latency"];
    assert!(
        samples.as_u64().is_some_and(|n| n > 20),
        "{}",
        run.context()
    );
}

#[test]
fn a_restarted_kv_client_without_a_durable_counter_writes_under_its_old_values() {
    let run = crash_the_kv_client("volatile-client-counter");
    assert_eq!(run.status.code(), Some(1), "{}", run.context());
    let outage = &run.last_report()["supervision"]["outages"][0];
    let always = outage["after_restart"]["always"]
        .as_array()
        .expect("a report after the restart");
    let behind = always
        .iter()
        .find(|p| p["name"] == "no value is ahead of its writer's counter")
        .expect("the property is reported");
    assert_eq!(behind["holds"], false, "{outage}");
}
