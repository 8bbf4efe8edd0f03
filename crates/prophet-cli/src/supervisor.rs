//! The node processes of `prophet run`: this module starts them, watches
//! them, carries out the crash schedule, restarts a process that died (with
//! `--restart`), and keeps the record of every outage for the reports. It
//! owns the child processes and their logs, and nothing else: it never reads
//! a node's state (run_cmd gathers that and hands it the verdicts).
//!
//! A restarted process is the same command as the first: the same cluster
//! file, so the same node ids, addresses and data directory, and its nodes
//! recover their durable state from `<dir>/data/node-<id>.durable`.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::crash_schedule::{PlannedCrash, list};

/// How often the processes are checked and the schedule carried out: the
/// precision of `--crash` times and of noticing a death.
pub const WATCH_PERIOD: Duration = Duration::from_millis(50);
/// Wait between an unexpected exit and the restart (`--restart`): long
/// enough for the kernel to release the process's sockets, short enough
/// that the cluster barely notices.
pub const RESTART_DELAY: Duration = Duration::from_millis(500);
/// A process that dies this soon after it started had a short life.
pub const LIFE_SHORT: Duration = Duration::from_secs(1);
/// Short lives in a row after which `--restart` gives up on a process: it
/// is failing at start (a corrupt durable file, a port taken), and
/// restarting it again would only hide that.
pub const LIVES_SHORT_MAX: u32 = 5;
/// Outages kept for the reports; later ones are still counted.
pub const OUTAGES_MAX: usize = 64;
/// How long `stop` waits for the processes to stop cleanly before killing them.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a process went down.
#[derive(Clone, Debug)]
pub enum Cause {
    /// Killed by `--crash`.
    Scheduled(String),
    /// Exited or killed by someone else (the exit status, as printed).
    Unexpected(String),
}

/// What the `always` properties said at the first complete report after a restart.
#[derive(Clone, Debug)]
pub struct AfterRestart {
    /// When that report was made.
    pub at: Duration,
    /// Whether its states held at one instant.
    pub consistent: bool,
    /// Each `always` property: (name, holds).
    pub always: Vec<(String, bool)>,
}

impl AfterRestart {
    /// Whether every `always` property held.
    pub fn held(&self) -> bool {
        self.always.iter().all(|(_, holds)| *holds)
    }
}

/// One time a process went down.
#[derive(Clone, Debug)]
pub struct Outage {
    /// The process.
    pub process: usize,
    /// The nodes it hosts (all went down).
    pub nodes: Vec<u32>,
    /// Why.
    pub cause: Cause,
    /// When it went down.
    pub down_at: Duration,
    /// When it was started again.
    pub up_at: Option<Duration>,
    /// The properties at the first complete report after the restart.
    pub after: Option<AfterRestart>,
}

/// Why the supervisor stopped the run.
#[derive(Debug)]
pub enum Failure {
    /// A process died and `--restart` was not given.
    Exited {
        process: usize,
        status: String,
        log: PathBuf,
    },
    /// A process died [`LIVES_SHORT_MAX`] times in a row soon after starting.
    GaveUp { process: usize, log: PathBuf },
    /// A process could not be started.
    Spawn(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Exited {
                process,
                status,
                log,
            } => write!(
                f,
                "process {process} exited with {status}; see {} (--restart restarts it)",
                log.display()
            ),
            Failure::GaveUp { process, log } => write!(
                f,
                "process {process} died {LIVES_SHORT_MAX} times in a row within {LIFE_SHORT:?} of starting; giving up on it (see {})",
                log.display()
            ),
            Failure::Spawn(error) => f.write_str(error),
        }
    }
}

/// One node process and its life.
struct Process {
    ids: Vec<u32>,
    log: PathBuf,
    /// `None` while down.
    child: Option<Child>,
    /// When the current life began.
    started_at: Duration,
    /// When a down process is to be started again (`None`: it stays down).
    restart_at: Option<Duration>,
    /// Short lives in a row.
    lives_short: u32,
    /// Its current outage in `Supervisor::outages`, if recorded.
    outage: Option<usize>,
}

/// The local cluster's processes.
pub struct Supervisor {
    config: PathBuf,
    processes: Vec<Process>,
    schedule: Vec<PlannedCrash>,
    /// The first crash of `schedule` not yet carried out.
    schedule_next: usize,
    restart: bool,
    outages: Vec<Outage>,
    outages_omitted: u64,
    crashes: u64,
    restarts: u64,
}

impl Supervisor {
    /// Starts one process per entry of `ids` (the node ids it hosts), logging
    /// to `<dir>/process-<p>.log`. On failure the ones started are stopped.
    pub fn start(
        config: &Path,
        dir: &Path,
        ids: &[Vec<u32>],
        schedule: Vec<PlannedCrash>,
        restart: bool,
    ) -> Result<Supervisor, Failure> {
        debug_assert!(schedule.windows(2).all(|w| w[0].spec.at <= w[1].spec.at));
        let mut supervisor = Supervisor {
            config: config.to_path_buf(),
            processes: Vec::with_capacity(ids.len()),
            schedule,
            schedule_next: 0,
            restart,
            outages: Vec::new(),
            outages_omitted: 0,
            crashes: 0,
            restarts: 0,
        };
        for (p, ids) in ids.iter().enumerate() {
            assert!(!ids.is_empty(), "process {p} hosts no node");
            let log = dir.join(format!("process-{p}.log"));
            match spawn(config, ids, &log, None) {
                Ok(child) => supervisor.processes.push(Process {
                    ids: ids.clone(),
                    log,
                    child: Some(child),
                    started_at: Duration::ZERO,
                    restart_at: None,
                    lives_short: 0,
                    outage: None,
                }),
                Err(error) => {
                    supervisor.stop();
                    return Err(Failure::Spawn(error));
                }
            }
        }
        Ok(supervisor)
    }

    /// Says on standard error what each scheduled crash will take down.
    pub fn announce_schedule(&self) {
        for crash in &self.schedule {
            let others: Vec<u32> = self.processes[crash.process]
                .ids
                .iter()
                .copied()
                .filter(|&id| id != crash.spec.node)
                .collect();
            let also = match others.as_slice() {
                [] => String::new(),
                [one] => format!(" (which also hosts node {one})"),
                more => format!(" (which also hosts nodes {})", list(more)),
            };
            eprintln!(
                "crash schedule: --crash {} kills process {}{also} at {:?} with SIGKILL, {}",
                crash.spec,
                crash.process,
                crash.spec.at,
                match crash.spec.down {
                    Some(down) => format!("and starts it again {down:?} later"),
                    None => "and leaves it down".into(),
                }
            );
        }
    }

    /// Notices processes that died, carries out the crashes due and the
    /// restarts due at `now` (time since the run started).
    pub fn step(&mut self, now: Duration) -> Result<(), Failure> {
        for p in 0..self.processes.len() {
            self.watch(p, now)?;
        }
        while let Some(crash) = self.schedule.get(self.schedule_next).cloned() {
            if crash.spec.at > now {
                break;
            }
            self.schedule_next += 1;
            self.kill(&crash, now);
        }
        for p in 0..self.processes.len() {
            let process = &self.processes[p];
            if process.child.is_none() && process.restart_at.is_some_and(|at| at <= now) {
                self.revive(p, now)?;
            }
        }
        Ok(())
    }

    /// Records process `p`'s exit, if it exited, and decides its restart.
    fn watch(&mut self, p: usize, now: Duration) -> Result<(), Failure> {
        let process = &mut self.processes[p];
        let Some(child) = process.child.as_mut() else {
            return Ok(());
        };
        let status = match child.try_wait() {
            Ok(Some(status)) => status.to_string(),
            Ok(None) => return Ok(()),
            Err(error) => format!("an unknown status ({error})"),
        };
        process.child = None;
        if now.saturating_sub(process.started_at) < LIFE_SHORT {
            process.lives_short += 1;
        } else {
            process.lives_short = 0;
        }
        let (lives_short, log, ids) =
            (process.lives_short, process.log.clone(), list(&process.ids));
        self.went_down(p, Cause::Unexpected(status.clone()), now);
        if !self.restart {
            return Err(Failure::Exited {
                process: p,
                status,
                log,
            });
        }
        if lives_short >= LIVES_SHORT_MAX {
            return Err(Failure::GaveUp { process: p, log });
        }
        self.processes[p].restart_at = Some(now + RESTART_DELAY);
        eprintln!(
            "[{:>6.1}s] process {p} (nodes {ids}) exited with {status}; restarting it in {RESTART_DELAY:?} (--restart; see {})",
            now.as_secs_f64(),
            log.display()
        );
        Ok(())
    }

    /// Carries out one scheduled crash.
    fn kill(&mut self, crash: &PlannedCrash, now: Duration) {
        let p = crash.process;
        let process = &mut self.processes[p];
        let Some(mut child) = process.child.take() else {
            eprintln!(
                "[{:>6.1}s] --crash {}: process {p} is already down; nothing to kill",
                now.as_secs_f64(),
                crash.spec
            );
            return;
        };
        // SIGKILL on Unix: no clean shutdown, as in a power cut.
        let _ = child.kill();
        let _ = child.wait();
        process.restart_at = crash.spec.down.map(|down| now + down);
        process.lives_short = 0;
        eprintln!(
            "[{:>6.1}s] --crash {}: killed process {p} (nodes {}) with SIGKILL; {}",
            now.as_secs_f64(),
            crash.spec,
            list(&process.ids),
            match process.restart_at {
                Some(at) => format!("restart at {:.1}s", at.as_secs_f64()),
                None => "it stays down".into(),
            }
        );
        self.went_down(p, Cause::Scheduled(crash.spec.to_string()), now);
    }

    fn went_down(&mut self, p: usize, cause: Cause, now: Duration) {
        self.crashes += 1;
        self.processes[p].outage = if self.outages.len() < OUTAGES_MAX {
            self.outages.push(Outage {
                process: p,
                nodes: self.processes[p].ids.clone(),
                cause,
                down_at: now,
                up_at: None,
                after: None,
            });
            Some(self.outages.len() - 1)
        } else {
            self.outages_omitted += 1;
            None
        };
    }

    /// Starts process `p` again, with the command it was first started with.
    fn revive(&mut self, p: usize, now: Duration) -> Result<(), Failure> {
        let process = &mut self.processes[p];
        debug_assert!(process.child.is_none());
        let note = format!(
            "--- prophet run: process {p} restarted at {:.1}s ---",
            now.as_secs_f64()
        );
        let child =
            spawn(&self.config, &process.ids, &process.log, Some(&note)).map_err(Failure::Spawn)?;
        eprintln!(
            "[{:>6.1}s] restarted process {p} (nodes {}), pid {}",
            now.as_secs_f64(),
            list(&process.ids),
            child.id()
        );
        process.child = Some(child);
        process.started_at = now;
        process.restart_at = None;
        self.restarts += 1;
        if let Some(outage) = process.outage.take() {
            self.outages[outage].up_at = Some(now);
        }
        Ok(())
    }

    /// Records, for every restart not yet followed by a complete report,
    /// what `always` (each `always` property's name and whether it held)
    /// said at the report made at `at`.
    pub fn observe(&mut self, at: Duration, consistent: bool, always: &[(String, bool)]) {
        for outage in &mut self.outages {
            if outage.up_at.is_some_and(|up| up <= at) && outage.after.is_none() {
                outage.after = Some(AfterRestart {
                    at,
                    consistent,
                    always: always.to_vec(),
                });
            }
        }
    }

    /// Processes down now.
    pub fn down(&self) -> Vec<usize> {
        (0..self.processes.len())
            .filter(|&p| self.processes[p].child.is_none())
            .collect()
    }

    /// Crashes so far: scheduled kills and unexpected exits.
    pub fn crashes(&self) -> u64 {
        self.crashes
    }

    /// Restarts so far.
    pub fn restarts(&self) -> u64 {
        self.restarts
    }

    /// The outages recorded (the first [`OUTAGES_MAX`]).
    pub fn outages(&self) -> &[Outage] {
        &self.outages
    }

    /// Outages not recorded because [`OUTAGES_MAX`] were.
    pub fn outages_omitted(&self) -> u64 {
        self.outages_omitted
    }

    /// The supervision part of a `--json` report.
    pub fn to_json(&self) -> serde_json::Value {
        let pids: Vec<Option<u32>> = self
            .processes
            .iter()
            .map(|p| p.child.as_ref().map(Child::id))
            .collect();
        let outages: Vec<serde_json::Value> = self
            .outages
            .iter()
            .map(|o| {
                let (cause, detail) = match &o.cause {
                    Cause::Scheduled(spec) => ("scheduled", spec),
                    Cause::Unexpected(status) => ("unexpected", status),
                };
                serde_json::json!({
                    "process": o.process,
                    "nodes": o.nodes,
                    "cause": cause,
                    "detail": detail,
                    "down_at_s": o.down_at.as_secs_f64(),
                    "up_at_s": o.up_at.map(|t| t.as_secs_f64()),
                    "after_restart": o.after.as_ref().map(|a| serde_json::json!({
                        "at_s": a.at.as_secs_f64(),
                        "consistent_cut": a.consistent,
                        "always": a.always.iter().map(|(name, holds)| serde_json::json!({"name": name, "holds": holds})).collect::<Vec<_>>(),
                    })),
                })
            })
            .collect();
        serde_json::json!({
            "pids": pids,
            "crashes": self.crashes,
            "restarts": self.restarts,
            "outages": outages,
            "outages_omitted": self.outages_omitted,
        })
    }

    /// Closes the processes' standard input (they stop cleanly), waits a
    /// bounded time, then kills the ones still running.
    pub fn stop(&mut self) {
        for child in self.processes.iter_mut().filter_map(|p| p.child.as_mut()) {
            drop(child.stdin.take());
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        for child in self.processes.iter_mut().filter_map(|p| p.child.as_mut()) {
            loop {
                match child.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() >= deadline => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        }
    }
}

impl Outage {
    /// One line for the final summary.
    pub fn describe(&self) -> String {
        let mut line = format!("process {} (nodes {}) ", self.process, list(&self.nodes));
        match &self.cause {
            Cause::Scheduled(spec) => line.push_str(&format!("killed by --crash {spec}")),
            Cause::Unexpected(status) => line.push_str(&format!("exited with {status}")),
        }
        line.push_str(&format!(" at {:.1}s", self.down_at.as_secs_f64()));
        match self.up_at {
            None => line.push_str("; not restarted"),
            Some(up) => {
                line.push_str(&format!("; restarted at {:.1}s", up.as_secs_f64()));
                match &self.after {
                    None => line.push_str("; no complete report after it"),
                    Some(after) => {
                        line.push_str(&format!(
                            "; first complete report after it ({:.1}s{}):",
                            after.at.as_secs_f64(),
                            if after.consistent {
                                ""
                            } else {
                                ", states read at different times"
                            }
                        ));
                        for (name, holds) in &after.always {
                            line.push_str(&format!(
                                " {name}={}",
                                if *holds { "yes" } else { "NO" }
                            ));
                        }
                    }
                }
            }
        }
        line
    }
}

/// Starts `prophet node` for `ids` with its standard error to `log`: a
/// new log the first time, appended to (after `note`) on a restart, so
/// the life that crashed stays readable.
fn spawn(config: &Path, ids: &[u32], log: &Path, note: Option<&str>) -> Result<Child, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let mut log_file = match note {
        None => std::fs::File::create(log),
        Some(_) => OpenOptions::new().create(true).append(true).open(log),
    }
    .map_err(|e| format!("{}: {e}", log.display()))?;
    if let Some(note) = note {
        writeln!(log_file, "{note}").map_err(|e| format!("{}: {e}", log.display()))?;
    }
    let mut command = Command::new(exe);
    command
        .arg("node")
        .arg("--config")
        .arg(config)
        .arg("--exit-on-stdin-close");
    for id in ids {
        command.arg("--id").arg(id.to_string());
    }
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log_file))
        .spawn()
        .map_err(|e| format!("cannot start a node process: {e}"))
}
